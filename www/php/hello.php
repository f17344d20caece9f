<?php
// The smallest dynamic page: if this greets you, the server ran php-cgi.
header('Content-Type: text/plain; charset=utf-8');
echo "Hello from PHP\n";

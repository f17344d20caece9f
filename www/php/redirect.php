<?php
// A Location header: PHP adds "Status: 302 Found" by itself, so the server
// answers with a redirect to the client (not a local redirect).
header('Location: /index.html');
header('Content-Type: text/plain; charset=utf-8');
echo "see /index.html\n";

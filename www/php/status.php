<?php
// A script that picks its own status and adds a header: the server must pass
// php-cgi's "Status: 201 Created" on as the status line.
http_response_code(201);
header('X-Course: reactor');
header('Content-Type: text/plain; charset=utf-8');
echo "created\n";

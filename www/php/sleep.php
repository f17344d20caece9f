<?php
// Takes a while on purpose: ?s=N sleeps N whole seconds (0 to 5), so tests can
// watch a slow script against the time limit and other clients.
$seconds = max(0, min(5, intval($_GET['s'] ?? '1')));
sleep($seconds);
header('Content-Type: text/plain; charset=utf-8');
echo "slept $seconds\n";

"""What a server does for everyone else while one client is slow: a PHP
script that sleeps, a reader that takes its time, thousands of connections
that say nothing. Threads (v04-v12) give each its own thread; the event loop
of v13 serves the last two from one thread but stalls on the first, its
limitation, which v14's worker pool removes."""

import resource
import socket
import threading
import time

import pytest

from http_util import request, server_args
from util import Deadline, children_of, symptom_absent, wait_until

SLEEPING_PHP = "<?php sleep(2); echo 'slept';\n"


def php_is_running(server):
    return any(st["comm"].startswith("php") for st in children_of(server.pid))


@pytest.mark.needs("cgi")
@pytest.mark.limitation("php_blocks_loop")
def test_a_sleeping_php_script_does_not_delay_a_static_file(
        start_server, stage, tmp_path):
    args = server_args(stage, tmp_path)
    root = tmp_path / "root"
    (root / "sleep.php").write_text(SLEEPING_PHP)
    server = start_server(*args)

    slow = {}
    thread = threading.Thread(target=lambda: slow.update(
        resp=request(server, "GET", "/sleep.php", timeout=8)))
    thread.start()
    try:
        assert wait_until(lambda: php_is_running(server), timeout=3), \
            "php-cgi never started for /sleep.php"
        started = time.monotonic()
        resp = request(server, "GET", "/hello.txt", timeout=8)
        elapsed = time.monotonic() - started
        assert resp.status == 200, resp.describe()
        symptom_absent(elapsed < 0.5, (
            f"/hello.txt took {elapsed:.2f} s while a PHP script slept: "
            "one slow script held up every other client"))
    finally:
        thread.join(timeout=8)
    assert slow["resp"].status == 200 and slow["resp"].body == b"slept", \
        slow["resp"].describe()


@pytest.mark.needs("static")
def test_a_slow_reader_does_not_stall_other_clients(
        start_server, stage, tmp_path):
    args = server_args(stage, tmp_path)
    (tmp_path / "root" / "big.bin").write_bytes(b"x" * (1 << 20))
    server = start_server(*args)

    slow = socket.socket()
    # A small receive window: the server's writes fill it at once and the
    # rest of the megabyte has to wait for us.
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.settimeout(5)
    slow.connect((server.addr, server.port))
    with slow:
        slow.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        got = slow.recv(1)
        for _ in range(10):
            started = time.monotonic()
            resp = request(server, "GET", "/hello.txt", timeout=5)
            elapsed = time.monotonic() - started
            assert resp.status == 200, resp.describe()
            assert elapsed < 0.5, (
                f"/hello.txt took {elapsed:.2f} s behind a slow reader")
            got += slow.recv(1)  # the slow reader is still being served
        assert got == b"HTTP/1.1 200 OK"[:len(got)], got  # 11 bytes read


@pytest.mark.needs("eventloop")
def test_2000_idle_connections_do_not_stop_a_new_request(
        start_server, stage, tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    server = start_server(*server_args(stage, tmp_path))
    idle = []
    deadline = Deadline(6)
    try:
        for _ in range(2000):
            sock = socket.create_connection((server.addr, server.port),
                                            timeout=deadline.left() or 0.1)
            idle.append(sock)
        # Half of them start a request and stop in the middle.
        for sock in idle[::2]:
            sock.sendall(b"GET /hello.txt HTTP/1.1\r\n")
        started = time.monotonic()
        resp = request(server, "GET", "/hello.txt", timeout=3)
        elapsed = time.monotonic() - started
        assert resp.status == 200, resp.describe()
        assert elapsed < 1.0, (
            f"a request behind 2000 idle connections took {elapsed:.2f} s")
    finally:
        for sock in idle:
            sock.close()

"""FastCGI connections kept open (v15): BEGIN_REQUEST asks php-fpm to keep
the connection after the request (FCGI_KEEP_CONN, FastCGI section 5.1),
and each event loop reuses its idle connections for its next requests. A
connection php-fpm closed while it was idle (a restart, a worker recycled
by pm.max_requests) must never cost a user a 502.

The requests of each test go over one client connection, so that one
event loop, and so one pool of idle connections, serves them all. Every
test but the last runs a real php-fpm (see test_fastcgi.py).
"""

import os
import signal
import socket
import threading

import pytest

from http_util import build_request, read_response
from test_fastcgi import (  # noqa: F401  (fixtures)
    LingeringApp,
    docroot,
    fcgi_server,
    short_dir,
    start_fpm,
    write_conf,
)
from util import socket_count, wait_until

pytestmark = pytest.mark.needs("fastcgi_keepalive")

ONE_WORKER = "pm = static\npm.max_children = 1"


def get(sock, target):
    sock.sendall(build_request("GET", target))
    return read_response(sock)


def assert_answered(resp, n):
    assert resp.status == 200 and resp.text() == f"n={n}\n", (
        f"request {n}:\n{resp.describe()}")


def fpm_connections(fpm):
    """The inodes of php-fpm's ends of the connections to its unix socket.
    /proc/net/unix names an accepted socket by the path of its listener;
    St 03 is connected (the listener itself is 01)."""
    inodes = set()
    with open("/proc/net/unix") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[7:] == [fpm.listen] and fields[5] == "03":
                inodes.add(fields[6])
    return inodes


def children_of(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def test_sequential_requests_share_one_connection_to_php_fpm(
        start_fpm, fcgi_server):
    fpm = start_fpm(pm=ONE_WORKER)
    server = fcgi_server(fpm.pass_value)
    seen = []
    with server.connect() as sock:
        for n in range(1, 6):
            assert_answered(get(sock, f"/get.php?n={n}"), n)
            seen.append(fpm_connections(fpm))
    assert all(len(s) == 1 for s in seen) and len(set().union(*seen)) == 1, (
        f"php-fpm's connections after each of five requests, by inode: "
        f"{seen}; one connection kept open and reused was expected")


def test_php_fpm_restarted_between_two_requests_is_not_a_502(
        start_fpm, fcgi_server):
    fpm = start_fpm()
    server = fcgi_server(fpm.pass_value)
    with server.connect() as sock:
        assert_answered(get(sock, "/get.php?n=1"), 1)
        kept = socket_count(server.pid)  # the client's, the idle one...
        fpm.stop()
        # php-fpm's close is noticed at once, long before the idle
        # connection would expire (0.5 s).
        assert wait_until(lambda: socket_count(server.pid) == kept - 1,
                          timeout=0.3), (
            f"the server still has {socket_count(server.pid)} sockets open "
            f"after php-fpm closed its idle connection (had {kept})")
        start_fpm()
        assert_answered(get(sock, "/get.php?n=2"), 2)


def test_a_worker_recycled_after_each_request_is_never_a_502(
        start_fpm, fcgi_server):
    # pm.max_requests = 1: the worker closes the connection right after
    # END_REQUEST and exits; the next request, pipelined, starts at once.
    fpm = start_fpm(pm=ONE_WORKER + "\npm.max_requests = 1")
    server = fcgi_server(fpm.pass_value)
    with server.connect() as sock:
        sock.sendall(b"".join(build_request("GET", f"/get.php?n={n}")
                              for n in range(1, 7)))
        for n in range(1, 7):
            assert_answered(read_response(sock), n)


PAUSE_PHP = """<?php
usleep(150000);
header('Content-Type: text/plain');
echo 'n=', $_GET['n'], "\\n";
"""


def test_one_loop_keeps_the_connection_of_every_script_slot(
        start_fpm, start_server, docroot, tmp_path):
    # One loop (io_threads = 0) and three slots: three requests at once take
    # three connections, and all three are kept for the next three, none
    # closed for want of room in the pool.
    (docroot / "pause.php").write_text(PAUSE_PHP)
    fpm = start_fpm(pm="pm = static\npm.max_children = 3")
    conf = write_conf(tmp_path / "server.conf", docroot, fpm.pass_value)
    conf.write_text(conf.read_text() + "io_threads = 0\nworker_threads = 3\n")
    server = start_server("-c", conf)

    def three_at_once(first):
        clients = [server.connect() for _ in range(3)]
        for n, sock in enumerate(clients, first):
            sock.sendall(build_request("GET", f"/pause.php?n={n}"))
        for n, sock in enumerate(clients, first):
            assert_answered(read_response(sock), n)
            sock.close()
        return fpm_connections(fpm)

    first, second = three_at_once(1), three_at_once(4)
    assert len(first) == 3 and second == first, (
        f"php-fpm's connections after three requests at once, by inode: "
        f"{first}, and after three more: {second}; the same three were "
        f"expected")


MARK_PHP = ("<?php\nfile_put_contents($_GET['file'], 'x', FILE_APPEND);\n"
            "sleep(5);\n")


def start_marking(sock, method, runs):
    """Sends a request for mark.php, which appends to runs and then
    sleeps, and waits until php-fpm runs it."""
    sock.sendall(build_request(method, f"/mark.php?file={runs}",
                               body=b"once" if method == "POST" else b""))
    assert wait_until(runs.exists, timeout=3), "mark.php did not start"


def test_php_fpm_stopped_mid_request_on_a_reused_connection_is_a_502(
        start_fpm, fcgi_server, docroot, short_dir):
    (docroot / "mark.php").write_text(MARK_PHP)
    fpm = start_fpm(pm=ONE_WORKER)
    server = fcgi_server(fpm.pass_value)
    with server.connect() as sock:
        assert_answered(get(sock, "/get.php?n=1"), 1)  # pools a connection
        start_marking(sock, "GET", short_dir / "runs")
        fpm.stop()
        resp = read_response(sock)
        assert resp.status == 502, (
            f"php-fpm stopped while the script ran:\n{resp.describe()}")
        start_fpm()
        assert_answered(get(sock, "/get.php?n=2"), 2)


def test_a_post_whose_worker_dies_is_a_502_and_runs_once(
        start_fpm, fcgi_server, docroot, short_dir):
    runs = short_dir / "runs"
    (docroot / "mark.php").write_text(MARK_PHP)
    fpm = start_fpm(pm=ONE_WORKER)
    server = fcgi_server(fpm.pass_value)
    with server.connect() as sock:
        assert_answered(get(sock, "/get.php?n=1"), 1)  # pools a connection
        start_marking(sock, "POST", runs)
        worker, = children_of(fpm.proc.pid)
        os.kill(worker, signal.SIGKILL)
        resp = read_response(sock)
        assert resp.status == 502, (
            f"php-fpm's worker died while the script ran:\n{resp.describe()}")
        # php-fpm has started a new worker.
        assert_answered(get(sock, "/get.php?n=2"), 2)
    assert runs.read_text() == "x", (
        "the POST ran a second time after the worker running it died")


class ClosingApp(LingeringApp):
    """Answers the first request of each connection and keeps it open, as
    php-fpm does with FCGI_KEEP_CONN; when a second request comes on it,
    closes it, as a php-fpm that was just closing an idle connection
    would. .accepted counts the connections."""

    def __init__(self, path):
        self.accepted = 0
        super().__init__(path)

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            self.kept.append(conn)
            threading.Thread(target=self._answer_once, args=(conn,),
                             daemon=True).start()

    def _answer_once(self, conn):
        try:
            self._read_request(conn)
            conn.sendall(self.record(6, self.REPLY) + self.record(6) +
                         self.record(3, bytes(8)))
            conn.settimeout(5)
            conn.recv(1, socket.MSG_PEEK)  # the next request is coming
            conn.close()
        except (OSError, AssertionError):
            pass


def test_a_get_on_a_reused_connection_found_closed_is_sent_again(
        fcgi_server, short_dir):
    app = ClosingApp(short_dir / "closing.sock")
    try:
        server = fcgi_server(app.pass_value)
        with server.connect() as sock:
            for n in (1, 2):
                resp = get(sock, "/who.php")
                assert resp.status == 200 and resp.body == b"lingering", (
                    f"request {n}:\n{resp.describe()}")
        assert app.accepted == 2, (
            f"{app.accepted} connections for two requests: the second "
            f"should reuse the first's, find it closed, and open one more")
    finally:
        app.stop()

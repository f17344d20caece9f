"""Faults around the server: a peer or a child that dies, hangs or resets
in the middle of a request. The request in flight gets the status a user
would expect (502, 504), or is simply dropped if its client is gone; the
server keeps serving everyone else and leaves no process or descriptor
behind.

- php-fpm killed mid-request (v11+): kill -9 the worker running a script,
  or the whole pool; 502, then static files, then PHP again once php-fpm
  is back.
- A CGI script that never exits (v08+): a PHP busy loop, a PHP sleep, a
  shell script that ignores SIGTERM; 504 at the time limit (-T 1), and the
  child is killed and reaped: no zombie, no leftover process.
- A client resetting (SO_LINGER 0, then close) during a 50 MiB sendfile
  (v07+), a few times over: the server survives and the file's descriptor
  is closed each time."""

import os
import resource
import signal
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from http_util import check_common, request
from test_fastcgi import (  # noqa: F401  (fixtures, used by name)
    docroot,
    fcgi_server,
    short_dir,
    start_fpm,
)
from util import Deadline, children_of, proc_stat, shorten, wait_until

MiB = 1 << 20

# Writes the pid of the php-fpm worker (or php-cgi) running it, then takes
# longer than any test waits.
PID_SLEEP_PHP = """<?php
file_put_contents(__DIR__ . '/running.pid', getmypid());
sleep(8);
echo 'late';
"""


def assert_static_still_served(server, after):
    resp = request(server, "GET", "/hello.txt")
    assert resp.status == 200 and resp.body == b"hello\n", (
        f"after {after}, static files are no longer served:\n{resp}")


def in_thread(fn):
    """Runs fn() in a thread; returns (thread, result dict: 'value' or
    'error')."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001  (reported by the test)
            result["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def outcome(thread, result, timeout):
    thread.join(timeout)
    assert not thread.is_alive(), f"no response within {timeout} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


def running_pid(docroot, timeout=3):
    """The pid the sleeping script wrote, once it has."""
    path = docroot / "running.pid"
    assert wait_until(lambda: path.exists() and path.read_text(), timeout), (
        f"the script never started (no {path.name} after {timeout} s)")
    return int(path.read_text())


# --- php-fpm killed mid-request ---------------------------------------------


def start_sleeping_php(fcgi_server, start_fpm, docroot):
    """php-fpm, a server passing .php to it, and a request in a thread to a
    script that writes its worker's pid and sleeps: (fpm, server, thread,
    result), once the script is running, with its pid as result['pid']."""
    fpm = start_fpm()
    server = fcgi_server(fpm.pass_value)
    (docroot / "pid.php").write_text(PID_SLEEP_PHP)
    thread, result = in_thread(
        lambda: request(server, "GET", "/pid.php", timeout=8))
    result["pid"] = running_pid(docroot)
    return fpm, server, thread, result


@pytest.mark.needs("fastcgi")
def test_php_fpm_worker_killed_mid_request_is_502_and_php_comes_back(
        fcgi_server, start_fpm, docroot):
    fpm, server, thread, result = start_sleeping_php(fcgi_server, start_fpm,
                                                     docroot)
    worker = result["pid"]
    os.kill(worker, signal.SIGKILL)
    killed = time.monotonic()
    resp = outcome(thread, result, 8)
    took = time.monotonic() - killed
    assert resp.status == 502, (
        f"the php-fpm worker (pid {worker}) running the script was killed; "
        f"expected 502, got:\n{resp.describe()}")
    assert took < 2, f"the 502 came {took:.1f} s after the worker died"
    assert b"late" not in resp.body, resp.describe()
    check_common(resp)
    assert_static_still_served(server, "a killed php-fpm worker")
    # php-fpm's master starts a new worker; the others answer meanwhile.
    resp = request(server, "GET", "/get.php?again=1")
    assert resp.status == 200 and resp.text() == "again=1\n", (
        f"PHP after a worker was killed:\n{resp}")


@pytest.mark.needs("fastcgi")
def test_php_fpm_pool_killed_is_502_until_a_new_one_listens(
        fcgi_server, start_fpm, docroot):
    fpm, server, thread, result = start_sleeping_php(fcgi_server, start_fpm,
                                                     docroot)
    os.killpg(fpm.proc.pid, signal.SIGKILL)  # the master and every worker
    resp = outcome(thread, result, 8)
    assert resp.status == 502, (
        f"php-fpm was killed mid-request; expected 502, got:\n"
        f"{resp.describe()}")
    check_common(resp)
    fpm.proc.wait(3)

    resp = request(server, "GET", "/get.php?gone=1")
    assert resp.status == 502, f"no php-fpm listening:\n{resp.describe()}"
    assert_static_still_served(server, "php-fpm was killed")

    start_fpm()  # a new instance, on the same socket path
    resp = request(server, "GET", "/get.php?back=1")
    assert resp.status == 200 and resp.text() == "back=1\n", (
        f"php-fpm is back, PHP is not:\n{resp}")


# --- CGI scripts that never exit --------------------------------------------

NEVER_EXITING = {
    "spin.php": "<?php\nfile_put_contents(__DIR__ . '/running.pid', "
                "getmypid());\nwhile (true) {}\n",
    "sleep.php": "<?php\nfile_put_contents(__DIR__ . '/running.pid', "
                 "getmypid());\nsleep(30);\n",
    # Deaf to SIGTERM, and busy: only SIGKILL ends it.
    "cgi-bin/stubborn.sh": "#!/bin/sh\ntrap '' TERM INT HUP\n"
                           "echo $$ > \"$(dirname \"$0\")/../running.pid\"\n"
                           "while :; do :; done\n",
}


def describe_children(kids):
    return ", ".join(f"{k['pid']} {k['comm']} ({k['state']})" for k in kids)


@pytest.mark.needs("cgi")
@pytest.mark.parametrize("script", list(NEVER_EXITING))
def test_a_script_that_never_exits_is_504_and_reaped(
        start_server, docroot, script):
    path = docroot / script
    path.write_text(NEVER_EXITING[script])
    path.chmod(0o755)
    server = start_server("-r", docroot, "-T", 1)
    before = children_of(server.pid)
    started = time.monotonic()
    resp = request(server, "GET", f"/{script}", timeout=6)
    took = time.monotonic() - started
    assert resp.status == 504, (
        f"/{script} never exits; with -T 1 expected 504, got:\n"
        f"{resp.describe()}")
    assert took < 3, f"the 504 for /{script} came after {took:.1f} s (-T 1)"
    check_common(resp)
    pid = running_pid(docroot, timeout=1)
    gone = wait_until(lambda: proc_stat(pid) is None, timeout=3)
    st = proc_stat(pid) or {"comm": "?", "state": "gone"}
    assert gone, (
        f"the script's process {pid} is still there ({st['comm']}, state "
        f"{st['state']}{', a zombie never reaped' * (st['state'] == 'Z')}"
        ") 3 s after the 504")
    wait_until(lambda: len(children_of(server.pid)) <= len(before), 3)
    kids = children_of(server.pid)
    assert len(kids) <= len(before), (
        f"after the 504 the server has children: {describe_children(kids)} "
        f"(before the request: {describe_children(before) or 'none'})")
    assert_static_still_served(server, f"a 504 for /{script}")


# --- a client resetting during a large sendfile -----------------------------

BIG = 50 * MiB
LINGER_ZERO = struct.pack("ii", 1, 0)  # close() then sends RST, not FIN


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def descriptors(pid):
    """What each of pid's descriptors names."""
    names = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            names.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass  # closed while we looked
    return names


@pytest.mark.needs("static")
@pytest.mark.parametrize("read_before_reset", [0, 64 * 1024, MiB, 8 * MiB])
def test_a_client_resetting_during_a_50_MiB_sendfile_leaves_no_trace(
        start_server, stage, docroot, read_before_reset):
    big = docroot / "big.bin"
    big.write_bytes(b"\x5a" * BIG)
    # v15's file cache keeps a large file open, once per event loop that
    # served it (two by default), with the inotify descriptor that watches
    # it: held on purpose and shared by the answers, not one per answer.
    kept_open = 2 if stage.has("reactor") else 0
    cache_kept = {str(big), "anon_inode:inotify"}

    def others():
        return [n for n in descriptors(server.pid) if n not in cache_kept]

    server = start_server("-r", docroot)
    assert_static_still_served(server, "starting")
    idle_fds = len(others())
    for n in range(1, 5):
        deadline = Deadline(2)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.settimeout(2)
        sock.connect((server.addr, server.port))
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        got = bytearray(sock.recv(65536))
        while len(got) < read_before_reset and not deadline.expired():
            chunk = sock.recv(1 << 20)
            assert chunk, f"round {n}: the server closed after " \
                          f"{len(got)} bytes of {BIG}"
            got += chunk
        assert got.startswith(b"HTTP/1.1 200 "), (
            f"round {n}: GET /big.bin got {shorten(got)}")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ZERO)
        sock.close()
        started = time.monotonic()
        assert_static_still_served(
            server, f"round {n}: a reset after {len(got)} bytes")
        took = time.monotonic() - started
        assert took < 1, (
            f"round {n}: /hello.txt took {took:.2f} s after a client "
            "reset during sendfile")
    assert wait_until(
        lambda: len(others()) <= idle_fds
        and descriptors(server.pid).count(str(big)) <= kept_open, 3), (
        f"{len(others()) - idle_fds} more descriptors open after 4 resets "
        f"than before, and {descriptors(server.pid).count(str(big))} of "
        f"big.bin (the cache may keep {kept_open}): "
        + ", ".join(sorted(descriptors(server.pid))))


# --- out of descriptors -----------------------------------------------------


def cpu_seconds(pid):
    """User plus system time of every thread of pid so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.needs("keepalive")
def test_running_out_of_descriptors_neither_spins_nor_stops_the_server(
        start_server, docroot):
    """RLIMIT_NOFILE lowered under a running server, and more clients than
    it can hold: accept fails with EMFILE. A level-triggered loop that only
    logs would be woken for the same pending connection for ever; the
    server must wait (thread stages pause, the loops close a spare
    descriptor to accept and drop the connection) and serve again once
    descriptors are free."""
    server = start_server("-r", docroot)
    assert_static_still_served(server, "starting")
    limit = fd_count(server.pid) + 4
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (limit, hard))
    hogs = []
    try:
        for _ in range(12):
            sock = server.connect(timeout=2)
            sock.sendall(b"GET /hello.txt HTTP/1.1\r\n")  # and no more
            hogs.append(sock)
        assert wait_until(lambda: fd_count(server.pid) >= limit - 1, 3), (
            f"the server never used its {limit} descriptors: "
            f"{fd_count(server.pid)} open")
        before = cpu_seconds(server.pid)
        time.sleep(1.0)  # a measuring interval, not a wait for the server
        used = cpu_seconds(server.pid) - before
        assert used < 0.3, (
            f"out of descriptors with clients waiting, the server used "
            f"{used:.2f} s of CPU in 1 s: it spins on accept")
        assert wait_until(
            lambda: "Too many open files" in server.stderr_text(), 2), (
            "accept must have failed with EMFILE, and the log says "
            f"nothing of it:\n{server.stderr_text()[-1000:]}")
    finally:
        for sock in hogs:
            sock.close()
    # Each loop closes the hogs' connections as their FINs arrive, in its
    # own time: until then a new client may still be dropped, or answered
    # 500 for want of a descriptor for the file. Soon after, it is served.
    last = []

    def served():
        try:
            last[:] = [request(server, "GET", "/hello.txt", timeout=2)]
        except (AssertionError, OSError) as e:  # dropped: no descriptor yet
            last[:] = [e]
            return False
        return last[0].status == 200 and last[0].body == b"hello\n"

    assert wait_until(served, 3), (
        f"descriptors are free again, the server does not serve:\n{last[0]}")

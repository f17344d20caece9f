"""Idle connections (every stage that serves clients at once; v01 serves
one at a time and is left out): a few hundred clients that connect and
then go quiet (an echo client sends nothing, an HTTP client starts a
request head and never finishes it) must not cost the server a thread or a
process each. A fork-per-client server (v02-v03) holds a child process per
connection, a thread-per-client server (v04-v12) a thread with its own
stack; their manifests declare it (process_per_client, thread_per_client).
From v13 on, one event loop or a fixed few of them hold every connection,
and the count of threads stays what it was.

While the idle connections stay open, the server still serves a new
client."""

import os
import resource

import pytest

from util import (Deadline, children_of, probe, server_args, symptom_absent,
                  thread_count, wait_until)

pytestmark = pytest.mark.needs("concurrent")

IDLE = 300
# Threads with 300 idle connections, measured: v13 1 (the loop), v14 5 (the
# loop and 4 workers), v15 4 (acceptor, 2 I/O loops, the log's thread). The
# bound leaves room for more loops and workers, not for a thread per client.
MAX_THREADS = 32
MAX_CHILDREN = 32
BATCH = 50  # connections opened before waiting for the server to accept
# What each idle client sends before it goes quiet: an echo client nothing;
# an HTTP client the start of a request head that it never finishes (v15's
# listener hands a connection over only once bytes have come, or a second
# later: TCP_DEFER_ACCEPT).
QUIET_AFTER = {"echo": b"",
               "http": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"}


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * need), hard))


def sockets(pid):
    """How many sockets process pid has open."""
    count = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    count += 1
            except OSError:
                pass
    except OSError:
        pass
    return count


def forked(pid):
    """How many children the main thread of process pid has forked (from
    /proc/PID/task/PID/children: cheaper than a scan of /proc, and good
    enough to poll)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return len(f.read().split())
    except OSError:
        return 0


def accepted(server):
    """A lower bound on the connections the server has accepted: the
    sockets it holds past the listener (v04 on), or the children it forked
    for them (v02-v03, whose parent closes each connection after the
    fork)."""
    return sockets(server.pid) - 1 + forked(server.pid)


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def mib(kib):
    return f"{kib / 1024:.0f} MiB"


def open_idle(server, n, first_bytes):
    """n connections, each past the handshake and then quiet after
    first_bytes; waits until the server has accepted them all."""
    socks = []
    deadline = Deadline(5)
    try:
        for i in range(n):
            if i % BATCH == 0:
                # Keep the listen queue short: a full one drops SYNs, and
                # the kernel resends them only after a second.
                wait_until(lambda: accepted(server) >= i,
                           timeout=max(deadline.left(), 0.1), interval=0.01)
            sock = server.connect(timeout=max(deadline.left(), 0.1))
            socks.append(sock)
            sock.sendall(first_bytes)
        done = wait_until(lambda: accepted(server) >= n,
                          timeout=max(deadline.left(), 0.5), interval=0.05)
        assert done, (f"the server accepted {accepted(server)} of {n} idle "
                      "connections within 5 s")
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


@pytest.fixture
def idle(start_server, stage, tmp_path):
    """(server, sockets): a server holding IDLE idle connections."""
    raise_fd_limit(IDLE + 200)
    server = start_server(*server_args(stage, tmp_path))
    socks = open_idle(server, IDLE, QUIET_AFTER[stage.protocol])
    yield server, socks
    for sock in socks:
        sock.close()


@pytest.mark.limitation("thread_per_client")
def test_idle_connections_do_not_each_get_a_thread(idle):
    server, socks = idle
    threads = thread_count(server.pid)
    if threads >= MAX_THREADS:
        # The last threads may still be starting: count them all.
        wait_until(lambda: thread_count(server.pid) >= IDLE, timeout=1)
        threads = thread_count(server.pid)
    symptom_absent(threads < MAX_THREADS, (
        f"{threads} threads in server pid {server.pid} for {IDLE} idle "
        f"connections (a thread per client); VmSize "
        f"{mib(status_kib(server.pid, 'VmSize'))}, VmRSS "
        f"{mib(status_kib(server.pid, 'VmRSS'))}"))


@pytest.mark.limitation("process_per_client")
def test_idle_connections_do_not_each_get_a_process(idle):
    server, socks = idle
    kids = children_of(server.pid)
    if len(kids) >= MAX_CHILDREN:
        # The last children may still be forking: count them all.
        wait_until(lambda: len(children_of(server.pid)) >= IDLE, timeout=1)
        kids = children_of(server.pid)
    count = len(kids)
    vmsize = max((status_kib(k["pid"], "VmSize") for k in kids), default=0)
    vmrss = sum(status_kib(k["pid"], "VmRSS") for k in kids)
    symptom_absent(count < MAX_CHILDREN, (
        f"{count} child processes of server pid {server.pid} for {IDLE} "
        f"idle connections (a process per client); VmSize {mib(vmsize)} "
        f"each, VmRSS {mib(vmrss)} summed over them (shared pages counted "
        "in each)"))


def test_a_new_client_is_served_while_the_idle_connections_stay(idle,
                                                                stage):
    server, socks = idle
    probe(server, stage.protocol)

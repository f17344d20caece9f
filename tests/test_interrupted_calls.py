"""Interrupted system calls (robust_io, v03 on). A signal whose handler
runs while a process is blocked in read, write or accept ends that call
early: with EINTR when nothing moved yet, or with a short count. v02 reaps
its children with a SIGCHLD handler installed without SA_RESTART, and each
forked child inherits it: the child's read or write then fails with EINTR
and it drops its client mid-conversation. v03's wrappers call again.

A storm of SIGCHLD reaches every process of the server's group (the parent
blocked in accept, the child blocked in read or write). SIGCHLD is what a
fork-per-client server gets whenever a child exits, and is ignored by the
others. A retried call is silent: the server says nothing on stderr."""

import os
import signal
import socket
import threading
import time

import pytest

from util import (Deadline, all_pids, echo_expected, echo_roundtrip,
                  first_difference, proc_stat, recv_exactly, recv_until_eof,
                  tcp_wmem_max, wait_until)

pytestmark = pytest.mark.needs("echo", "robust_io")

STORM_SECONDS = 0.2  # a signal about every millisecond for this long
# The number /proc/PID/syscall shows for a thread blocked in write(2).
WRITE_SYSCALL = {"x86_64": "1", "aarch64": "64"}[os.uname().machine]


def signal_storm(server):
    """Sends SIGCHLD to every process of the server's group, again and
    again, for STORM_SECONDS."""
    storm = Deadline(STORM_SECONDS)
    while not storm.expired():
        os.killpg(server.pid, signal.SIGCHLD)
        time.sleep(0.001)


def assert_nothing_on_stderr(server):
    err = server.stderr_text()
    assert not err, (
        f"the server reported an error under the signals: a call it should "
        f"have retried\n{server.describe()}")


def test_a_client_blocked_in_read_survives_a_signal_storm(server):
    with server.connect() as sock:
        sock.sendall(b"before\n")
        assert recv_exactly(sock, 7) == b"BEFORE\n"
        # The server now waits for this client's next bytes.
        signal_storm(server)
        try:
            sock.sendall(b"after\n")
            got = recv_exactly(sock, 6)
        except (AssertionError, OSError) as e:
            pytest.fail(f"after the signals, the line sent got no echo: {e}\n"
                        f"{server.describe()}", pytrace=False)
        assert got == b"AFTER\n", f"got {got!r}"
    assert echo_roundtrip(server, b"next\n") == b"NEXT\n"
    assert_nothing_on_stderr(server)


def blocked_writing(server):
    """True when a thread of the server's group sleeps inside write(2): the
    client does not read, and the socket's send buffer is full."""
    for pid in all_pids():
        st = proc_stat(pid)
        if st is None or st["pgrp"] != server.pid:
            continue
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                    if f.read().split(" ", 1)[0] == WRITE_SYSCALL:
                        return True
            except OSError:
                pass
    return False


def test_a_client_blocked_in_write_gets_every_byte_despite_a_signal_storm(
        server):
    # More than the server's send buffer may grow to: while this client
    # does not read, the server's write blocks.
    payload = os.urandom(tcp_wmem_max() + (1 << 20))
    deadline = Deadline(8)
    with server.connect() as sock:
        sender = threading.Thread(target=send_then_half_close,
                                  args=(sock, payload), daemon=True)
        sender.start()
        assert wait_until(lambda: blocked_writing(server), deadline.left()), (
            f"the server never blocked writing to a client that does not "
            f"read\n{server.describe()}")
        signal_storm(server)
        try:
            got = recv_until_eof(sock, timeout=deadline.left())
        except AssertionError as e:
            pytest.fail(f"after the signals: {e}\n{server.describe()}",
                        pytrace=False)
        sender.join(deadline.left())
    want = echo_expected(payload)
    assert got == want, (
        f"after the signals: {first_difference(got, want)}\n"
        f"{server.describe()}")
    assert_nothing_on_stderr(server)


def send_then_half_close(sock, payload):
    try:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the server dropped the client: the comparison says so

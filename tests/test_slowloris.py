"""Slowloris (v15): clients that send a request head one byte a second, to
hold connections open for ever. They must not stop anyone else being
served, and the server closes them when the head's deadline passes: the
keep-alive timeout (-k), counted from the head's first byte, which
trickling bytes do not extend, with 408 Request Timeout before the close.
A head that is slow but complete in time is still answered."""

import resource
import selectors
import socket
import threading
import time

import pytest

from http_util import (
    build_request,
    read_response,
    read_until_close,
    request,
    send_all,
    server_args,
)
from util import Deadline, socket_count, wait_until

pytestmark = pytest.mark.needs("reactor")

TRICKLERS = 200
# Never finished: at a byte a second this head would take a minute.
SLOW_HEAD = (b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"User-Agent: slowloris\r\nAccept: */*\r\n")


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * need), hard))


class Trickle:
    """n connections, each sending the next byte of SLOW_HEAD once a second
    from a thread. .sent is how many bytes each has sent; .closed_at[i] is
    when the server closed connection i (seconds after the first byte),
    .got[i] what it sent before closing."""

    def __init__(self, server, n):
        raise_fd_limit(2 * n + 100)
        self.socks = []
        deadline = Deadline(5)
        for _ in range(n):
            sock = socket.create_connection((server.addr, server.port),
                                            timeout=deadline.left() or 0.1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socks.append(sock)
        self.sent = 0
        self.closed_at, self.got = {}, {i: b"" for i in range(n)}
        self.t0 = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.t0 = time.monotonic()
        self._send_next()
        self.thread.start()
        return self

    def now(self):
        return time.monotonic() - self.t0

    def open_count(self):
        return len(self.socks) - len(self.closed_at)

    def _closed(self, i, sel):
        self.closed_at[i] = self.now()
        sel.unregister(self.socks[i])

    def _send_next(self):
        byte = SLOW_HEAD[self.sent:self.sent + 1]
        for i, sock in enumerate(self.socks):
            if i in self.closed_at:
                continue
            try:
                sock.send(byte)
            except OSError:
                pass  # the server has closed it: the reader sees the end
        self.sent += 1

    def _run(self):
        with selectors.DefaultSelector() as sel:
            for i, sock in enumerate(self.socks):
                sock.setblocking(False)
                sel.register(sock, selectors.EVENT_READ, i)
            while not self.stopping.is_set() and self.open_count():
                next_tick = self.sent  # byte k goes at t0 + k seconds
                if self.sent >= len(SLOW_HEAD):
                    break
                wait = next_tick - self.now()
                if wait <= 0:
                    self._send_next()
                    continue
                for key, _ in sel.select(min(wait, 0.1)):
                    i = key.data
                    try:
                        chunk = self.socks[i].recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError:
                        chunk = b""
                    if chunk:
                        self.got[i] += chunk
                    else:
                        self._closed(i, sel)

    def stop(self):
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(2)
        for sock in self.socks:
            sock.close()


@pytest.fixture
def trickle():
    made = []

    def make(server, n=TRICKLERS):
        t = Trickle(server, n)
        made.append(t)
        return t.start()

    yield make
    for t in made:
        t.stop()


def timed_get(server):
    started = time.monotonic()
    resp = request(server, "GET", "/hello.txt", timeout=3)
    return resp, time.monotonic() - started


def test_200_trickling_connections_do_not_stop_a_normal_client(
        start_server, stage, tmp_path, trickle):
    server = start_server(*server_args(stage, tmp_path))
    slow = trickle(server)
    for k in (1, 2, 3):
        assert wait_until(lambda: slow.sent > k, timeout=3), (
            f"the trickle is stuck at {slow.sent} bytes")
        resp, took = timed_get(server)
        assert resp.status == 200 and resp.body == b"hello\n", resp.describe()
        assert took < 1.0, (
            f"GET /hello.txt took {took:.2f} s while {TRICKLERS} connections "
            f"trickled their heads ({slow.sent} bytes each so far)")


def test_trickling_connections_are_closed_at_the_head_deadline(
        start_server, stage, tmp_path, trickle):
    server = start_server("-k", 2, *server_args(stage, tmp_path))
    slow = trickle(server)
    assert wait_until(lambda: slow.sent >= 2 or slow.open_count() == 0,
                      timeout=2), f"the trickle is stuck at {slow.sent} bytes"
    resp, took = timed_get(server)
    assert resp.status == 200 and took < 1.0, (
        f"while {TRICKLERS} connections trickled: GET took {took:.2f} s:\n"
        f"{resp.describe()}")
    wait_until(lambda: slow.open_count() == 0, timeout=4.5 - slow.now())
    assert slow.open_count() == 0, (
        f"with -k 2, {slow.open_count()} of {TRICKLERS} connections sending "
        f"a byte a second were still open {slow.now():.1f} s after their "
        f"first byte ({slow.sent} bytes sent each): trickling must not "
        "extend the deadline")
    times = sorted(slow.closed_at.values())
    assert times[-1] < 4.0, (
        f"with -k 2 the last trickling connection was closed only after "
        f"{times[-1]:.1f} s")
    assert times[0] >= 1.0, (
        f"with -k 2 a connection was closed {times[0]:.2f} s after its "
        "first byte, before its deadline")
    for i, got in slow.got.items():
        assert got.startswith(b"HTTP/1.1 408 "), (
            f"connection {i} got {got[:200]!r} before the close; a head "
            "that never came gets 408 Request Timeout")
    resp, _ = timed_get(server)
    assert resp.status == 200, f"after the trickle:\n{resp.describe()}"


def send_slowly(sock, data, pieces, gap):
    """Sends data in pieces, gap seconds apart, checking in each gap that
    the server neither answers nor closes before the head is complete."""
    step = -(-len(data) // pieces)
    for at in range(0, len(data), step):
        assert send_all(sock, data[at:at + step]), (
            f"server closed after {at} of {len(data)} bytes")
        if at + step < len(data):
            closed, got = read_until_close(sock, gap)
            assert not closed and got == b"", (
                f"{'closed' if closed else 'answered'} after {at + step} of "
                f"{len(data)} bytes of a head: {got[:200]!r}")


def test_a_slow_head_finished_within_the_deadline_is_answered(
        start_server, stage, tmp_path):
    server = start_server("-k", 2, *server_args(stage, tmp_path))
    deadline = Deadline(8)
    with server.connect(timeout=8) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Two requests on one connection, each head taking 1.2 s: together
        # longer than -k 2, but each head has its own deadline.
        for n in (1, 2):
            send_slowly(sock, build_request("GET", "/hello.txt"), 3, 0.6)
            resp = read_response(sock, deadline=deadline)
            assert resp.status == 200 and resp.body == b"hello\n", (
                f"request {n}, its head sent over 1.2 s with -k 2:\n"
                f"{resp.describe()}")


def open_sockets(server):
    """Connections the server holds: its socket descriptors but the
    listening one."""
    return socket_count(server.pid) - 1


def test_a_client_that_stops_reading_a_closing_answer_is_dropped(
        start_server, stage, tmp_path):
    """Connection: close, a large file, and a client that never reads: the
    server's answer stalls, and the keep-alive timeout still ends it, as it
    ends any connection where nothing moves."""
    args = server_args(stage, tmp_path)
    (tmp_path / "root" / "big.bin").write_bytes(b"x" * (32 << 20))
    server = start_server("-k", "1", *args)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.addr, server.port))
    sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n"
                 b"Connection: close\r\n\r\n")
    try:
        assert wait_until(lambda: open_sockets(server) >= 1, 2), \
            "the server never held the connection"
        assert wait_until(lambda: open_sockets(server) == 0, 5), (
            "a connection whose answer has not moved for the keep-alive "
            "timeout (1 s) is still open after 5 s")
    finally:
        sock.close()

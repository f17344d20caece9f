"""A half-close is not a hang-up (every HTTP stage): a client that sends its
request and then shutdown(SHUT_WR) has said "no more requests", not "stop
answering". TCP keeps the other direction open (RFC 9293, section 3.6), and
RFC 9112 section 9.6 closes a connection only after the response is sent, so
the client gets every byte of every response it asked for, then the
server's close.

The client keeps its receive window small and reads nothing until the
server is stalled on it, so each response is still being written when the
server sees the FIN. Each case half-closes at two moments: right behind the
request, and once the server is waiting for the window to open."""

import os
import socket
from pathlib import Path

import pytest

from http_util import Deadline, build_request, read_response
from util import first_difference, recv_until_eof, wait_until

MiB = 1 << 20
BIG_SIZE = 4 * MiB
# Every 16-byte line of big.bin names its own offset: a block lost, repeated
# or misplaced anywhere is found, and a failure message stays readable.
BIG_CONTENT = b"".join(b"%015d\n" % offset
                       for offset in range(0, BIG_SIZE, 16))
SMALL_WINDOW = 4096  # bytes of SO_RCVBUF (the kernel doubles it)
# The kernel sizes a socket's send buffer by its segments: with loopback's
# 64 KiB segments the server's grows to megabytes and takes a whole
# response. Small segments keep it near 100 KB, so most of a response waits
# in the server itself.
SMALL_SEGMENT = 1024  # bytes of TCP_MAXSEG, announced in our SYN
# In /proc/net/tcp: the server's end is open while ESTABLISHED (1) or, after
# our FIN, CLOSE_WAIT (8); its timer 4 probes a zero window.
OPEN_STATES = {1, 8}
ZERO_WINDOW_PROBE_TIMER = 4
HELLO = b"hello\n"
INDEX = b"<!doctype html><title>t</title>\n" + b"<p>padding</p>\n" * 16384
CAT_SCRIPT = (
    "#!/bin/sh\n"
    "printf 'Content-Type: application/octet-stream\\r\\n\\r\\n'\n"
    "exec cat\n"
)

HALF_CLOSE_MOMENTS = ["fin_with_request", "fin_while_server_waits"]


@pytest.fixture(params=HALF_CLOSE_MOMENTS)
def moment(request):
    """When the client half-closes: right after its request, or once the
    server is stalled on our shut window with the response unfinished."""
    return request.param


@pytest.fixture
def docroot(tmp_path):
    """hello.txt, index.html (INDEX, 240 KiB), big.bin (BIG_CONTENT,
    4 MiB), and cgi-bin/cat.sh, which answers with its request body."""
    root = tmp_path / "root"
    (root / "cgi-bin").mkdir(parents=True)
    (root / "hello.txt").write_bytes(HELLO)
    (root / "index.html").write_bytes(INDEX)
    (root / "big.bin").write_bytes(BIG_CONTENT)
    script = root / "cgi-bin" / "cat.sh"
    script.write_text(CAT_SCRIPT)
    script.chmod(0o755)
    return root


@pytest.fixture
def server(start_server, stage, docroot):
    """v06 has no document root; every later stage serves docroot."""
    if not stage.has("static"):
        return start_server()
    return start_server("-r", str(docroot))


def small_window_socket(server):
    """A connected socket that takes the server's bytes a few KiB at a
    time. Both options go before connect(): the window scale and the
    segment size are agreed in the handshake."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_WINDOW)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, SMALL_SEGMENT)
    sock.settimeout(5)
    sock.connect((server.addr, server.port))
    return sock


def server_end(server, sock):
    """(state, timer) of the server's end of sock, from the "st" and "tr"
    columns of /proc/net/tcp; None once that end is gone."""
    client_port = sock.getsockname()[1]
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        local, remote, state, timer = cols[1], cols[2], cols[3], cols[5]
        if (int(local.split(":")[1], 16) == server.port
                and int(remote.split(":")[1], 16) == client_port):
            return int(state, 16), int(timer.split(":")[0], 16)
    return None


def wait_until_server_stalls(server, sock, deadline):
    """Waits until the server has bytes to send and our window is shut:
    its kernel then probes the zero window. By then the server has filled
    its send buffer, and the rest of the response waits in the server.
    A server that closes its end first is not waited for: what it did
    send is read and judged."""
    def stalled_or_closed():
        end = server_end(server, sock)
        return (end is None or end[0] not in OPEN_STATES
                or end[1] == ZERO_WINDOW_PROBE_TIMER)

    assert wait_until(stalled_or_closed, timeout=deadline.left()), (
        "the server never stalled on our shut window")


def exchange_half_closed(server, data, count, moment, deadline):
    """Sends data (count requests), half-closes at the moment asked, reads
    until the server closes. Returns the count responses and whatever came
    after them. Everything is read before any parsing, so a short response
    fails with how many of its bytes did arrive."""
    with small_window_socket(server) as sock:
        sock.sendall(data)
        if moment == "fin_with_request":
            sock.shutdown(socket.SHUT_WR)
        wait_until_server_stalls(server, sock, deadline)
        if moment == "fin_while_server_waits":
            sock.shutdown(socket.SHUT_WR)
        got = recv_until_eof(sock, timeout=deadline.left())
        # The socket is at EOF now: read_response only parses what came,
        # or says how much of a response is missing.
        responses = []
        for _ in range(count):
            resp = read_response(sock, buffered=got, timeout=1)
            responses.append(resp)
            got = resp.extra
        return responses, got


def assert_body(resp, want, what):
    assert resp.status == 200, f"{what}:\n{resp.describe(0)}"
    assert resp.body == want, (
        f"{what}: {first_difference(resp.body, want)}\n{resp.describe(0)}")


@pytest.mark.needs("http", "static")
def test_a_half_closed_get_of_the_index_gets_its_whole_response(
        server, moment):
    data = build_request("GET", "/")
    responses, after = exchange_half_closed(server, data, 1, moment,
                                            Deadline(8))
    assert_body(responses[0], INDEX, "GET /")
    assert after == b"", f"bytes after the response: {after[:200]!r}"


@pytest.mark.needs("http", "static")
def test_a_half_closed_get_of_a_4_mib_file_gets_every_byte(
        server, moment):
    data = build_request("GET", "/big.bin")
    responses, after = exchange_half_closed(server, data, 1, moment,
                                            Deadline(8))
    assert_body(responses[0], BIG_CONTENT, "GET /big.bin")
    assert after == b"", f"bytes after the response: {after[:200]!r}"


@pytest.mark.needs("http")
def test_a_half_closed_post_to_echo_gets_its_body_back(server, moment):
    body = os.urandom(MiB // 2)
    data = build_request("POST", "/echo", body=body,
                         headers=[("Content-Type", "application/x-test")])
    responses, after = exchange_half_closed(server, data, 1, moment,
                                            Deadline(8))
    assert_body(responses[0], body, "POST /echo")
    assert after == b"", f"bytes after the response: {after[:200]!r}"


@pytest.mark.needs("http", "cgi")
def test_a_half_closed_request_to_a_script_gets_its_whole_output(
        server, moment):
    body = os.urandom(MiB // 4)
    data = build_request("POST", "/cgi-bin/cat.sh", body=body)
    responses, after = exchange_half_closed(server, data, 1, moment,
                                            Deadline(8))
    assert_body(responses[0], body, "POST /cgi-bin/cat.sh")
    assert after == b"", f"bytes after the response: {after[:200]!r}"


@pytest.mark.needs("http", "static", "keepalive")
def test_pipelined_requests_then_a_half_close_get_both_responses(
        server, moment):
    # The second request waits in the server's input while the first
    # response is being written: the FIN must not make the server forget it.
    data = build_request("GET", "/big.bin") + build_request("GET",
                                                            "/hello.txt")
    responses, after = exchange_half_closed(server, data, 2, moment,
                                            Deadline(8))
    assert_body(responses[0], BIG_CONTENT,
                "GET /big.bin, the first of two")
    assert_body(responses[1], HELLO, "GET /hello.txt, the second of two")
    assert after == b"", f"bytes after two responses: {after[:200]!r}"

"""Partial writes on the event-loop stages (v13+). A non-blocking socket
takes what fits in its send buffer and says how much; the rest waits for
EPOLLOUT, and the server must go on from exactly the byte where the socket
stopped. Here a reader with a small window and Ethernet-sized segments
drains a body larger than any TCP send buffer may grow, a few KiB at a
time, so the server meets a short write or EAGAIN dozens of times in one
response. Two paths: a file (sendfile, which moves the file offset itself)
and a script's output (held in the server's memory, its offset kept by the
server's own code)."""

import os
import socket

import pytest

from http_util import parse_head, server_args
from util import Deadline, first_difference, tcp_wmem_max

pytestmark = pytest.mark.needs("eventloop", "cgi")

READ_WINDOW = 4096  # the reader's SO_RCVBUF (the kernel doubles it)
READ_PIECE = 4096  # bytes the reader takes per recv()
# The reader's maximum segment size, as on Ethernet. The server's kernel
# sizes the send buffer from the segment size it must use (tcp(7),
# tcp_wmem): loopback's 64 KiB segments would let one write take megabytes,
# 1460-byte ones keep the buffer near 250 KiB, so a response of megabytes
# leaves in a few dozen short writes, with EAGAIN between most of them.
SEGMENT = 1460

SCRIPT = """#!/bin/sh
printf 'Content-Type: application/octet-stream\\r\\n\\r\\n'
exec cat {path}
"""


@pytest.fixture
def big_server(start_server, stage, tmp_path):
    """A server whose root holds big.bin, random bytes past the largest
    send buffer (net.ipv4.tcp_wmem), so no single write can take them
    whatever the kernel decides, and cgi-bin/big.sh, which prints them.
    Returns (server, the bytes)."""
    args = server_args(stage, tmp_path)
    root = tmp_path / "root"
    data = os.urandom(tcp_wmem_max() + (1 << 20))
    (root / "big.bin").write_bytes(data)
    (root / "cgi-bin").mkdir()
    script = root / "cgi-bin" / "big.sh"
    script.write_text(SCRIPT.format(path=root / "big.bin"))
    script.chmod(0o755)
    return start_server(*args), data


def drain_slowly(sock, deadline):
    """Reads one response READ_PIECE bytes at a time until its body is
    whole, the server closes, or the deadline passes. Returns (status,
    Content-Length, body so far, why it stopped early or None)."""
    got = bytearray()
    status = length = None
    while length is None or len(got) < length:
        sock.settimeout(max(deadline.left(), 0.01))
        try:
            piece = sock.recv(READ_PIECE)
        except socket.timeout:
            return status, length, bytes(got), "no more bytes came in time"
        except ConnectionResetError:
            return status, length, bytes(got), "the server reset"
        if not piece:
            return status, length, bytes(got), "the server closed"
        got += piece
        if length is None and b"\r\n\r\n" in got:
            end = got.index(b"\r\n\r\n") + 4
            _, status, _, headers = parse_head(bytes(got[:end]))
            length = int(dict((n.lower(), v) for n, v in headers)
                         .get("content-length", "-1"))
            del got[:end]
    return status, length, bytes(got), None


@pytest.mark.parametrize("target", ["/big.bin", "/cgi-bin/big.sh"],
                         ids=["file", "script"])
def test_a_slow_reader_gets_a_body_larger_than_any_send_buffer_byte_exact(
        big_server, target):
    server, data = big_server
    sock = socket.socket()
    # Both before connect: the handshake announces the window and the MSS.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, READ_WINDOW)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, SEGMENT)
    with sock:
        sock.settimeout(5)
        sock.connect((server.addr, server.port))
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        status, length, body, stopped = drain_slowly(sock, Deadline(7))
    assert status == 200, f"{target}: status {status}, then: {stopped}"
    assert length == len(data), \
        f"{target}: Content-Length {length}, the body is {len(data)}"
    assert stopped is None and body == data, (
        f"{target}: {stopped or 'the body differs'} after {len(body)} of "
        f"{length} body bytes; {first_difference(body, data)}")

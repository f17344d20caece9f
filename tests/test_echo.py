"""The echo protocol (v01-v05): every byte comes back, ASCII a-z as A-Z;
the server closes once the client has half-closed and all is written, and
no client, however rude, takes the server down."""

import os
import select
import socket
import struct
import subprocess
import threading
import time

import pytest

from util import (Deadline, describe_status, echo_expected, echo_roundtrip,
                  first_difference, recv_exactly, recv_until_eof, shorten,
                  symptom_absent, tcp_socket, tcp_wmem_max, unsent_bytes,
                  wait_until)

pytestmark = pytest.mark.needs("echo")


def test_a_line_comes_back_upper_cased_before_the_client_closes(server):
    line = b"hello, world 123\n"
    with server.connect() as sock:
        sock.sendall(line)
        got = recv_exactly(sock, len(line))
    assert got == b"HELLO, WORLD 123\n", f"sent {line!r}, got {got!r}"


def test_all_256_byte_values_only_a_to_z_change(server):
    data = bytes(range(256)) * 4
    got = echo_roundtrip(server, data)
    want = echo_expected(data)
    assert got == want, first_difference(got, want)


def test_a_4_mib_payload_comes_back_whole_and_in_order(server):
    payload = os.urandom(4 << 20)
    deadline = Deadline(8)
    sent_error = []

    with server.connect() as sock:
        # Send in one thread while this one reads: a client that sends
        # everything before reading would deadlock once both directions'
        # socket buffers fill, whatever the server does.
        def send():
            try:
                sock.sendall(payload)
                sock.shutdown(socket.SHUT_WR)
            except OSError as e:
                sent_error.append(e)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        got = recv_until_eof(sock, timeout=deadline.left())
        sender.join(deadline.left())
    assert not sent_error, f"sending failed: {sent_error[0]!r}"
    want = echo_expected(payload)
    assert got == want, first_difference(got, want)


def test_half_close_delivers_everything_then_eof(server):
    data = b"first part\n" + b"x" * 100_000 + b"\nlast part"
    with server.connect() as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        got = recv_until_eof(sock)
        # EOF stays EOF: the server closed, it did not just pause.
        sock.settimeout(1)
        assert sock.recv(1) == b""
    want = echo_expected(data)
    assert got == want, first_difference(got, want)


def test_a_client_that_resets_does_not_take_the_server_down(server):
    for _ in range(5):
        sock = server.connect()
        sock.sendall(b"about to reset " * 20_000)
        # SO_LINGER {on, 0 s}: close() sends RST instead of FIN, while the
        # server may be in the middle of writing the echo.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        sock.close()
    got = echo_roundtrip(server, b"still there?\n")
    assert got == b"STILL THERE?\n", f"a later client got {shorten(got)}"


def test_a_client_that_sends_a_lot_and_leaves_without_reading_is_harmless(
        server):
    for _ in range(3):
        sock = server.connect()
        # Send until the server, unable to write its echo back to a client
        # that never reads, stops reading too and our send blocks; then go.
        sock.settimeout(0.2)
        chunk = b"nobody reads this " * 4096
        deadline = Deadline(1.5)
        try:
            while not deadline.expired():
                sock.send(chunk)
        except (socket.timeout, BlockingIOError):
            pass
        sock.close()  # unread data: the kernel sends RST
    got = echo_roundtrip(server, b"still there?\n")
    assert got == b"STILL THERE?\n", f"a later client got {shorten(got)}"


def leave_while_the_server_writes(server):
    """Makes the server's next write fail with EPIPE, which also raises
    SIGPIPE: send more than the server can echo to a client that does not
    read, so it blocks in write(); half-close, so its socket is in
    CLOSE_WAIT; then reset. A reset in CLOSE_WAIT is EPIPE (in ESTABLISHED
    it would be ECONNRESET, and no signal). Returns what the server's socket
    went through, for the failure message."""
    sock = socket.socket()
    with sock:
        # A small receive buffer so the server fills our window quickly.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(2)
        sock.connect((server.addr, server.port))
        me = sock.getsockname()[1]
        big = b"nobody reads this\n" * 3641  # about 64 KiB
        small = big[:8192]
        deadline = Deadline(3)
        # The server's send buffer takes at least half its maximum before
        # write() blocks: send that much without watching.
        prefill = tcp_wmem_max() // 2
        while prefill > 0 and not deadline.expired():
            sock.sendall(big * 4)
            prefill -= len(big) * 4
        seen = [None]
        while not deadline.expired():
            # Small steps once bytes wait unread: the server's receive
            # window may have room for only a few of them.
            last = seen[-1]
            sock.sendall(small if last and last[2] > 0 else big)
            wait_until(lambda: unsent_bytes(sock) == 0, timeout=0.5,
                       interval=0.001)
            state = tcp_socket(server.port, me)
            seen.append(state)
            # Our chunk arrived and stays unread, and the server's send
            # queue did not grow: its send buffer (which grows as segments
            # arrive, to a few MiB) is full and the server blocked in write.
            if (unsent_bytes(sock) == 0 and state and last and last[2] > 0
                    and state[1] == last[1] and state[2] > last[2]):
                break
        sock.shutdown(socket.SHUT_WR)
        wait_until(lambda: (tcp_socket(server.port, me) or ("",))[0]
                   == "CLOSE_WAIT", timeout=1)
        seen.append(tcp_socket(server.port, me))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    return seen[-2:]


def test_a_write_that_fails_with_epipe_does_not_kill_the_server(server):
    states = leave_while_the_server_writes(server)
    gone = wait_until(lambda: server.proc.poll() is not None, timeout=0.3)
    assert not gone, (
        f"server {describe_status(server.proc.returncode)} after a client "
        f"left while it was writing (SIGPIPE not ignored?); its socket "
        f"(state, send queue, receive queue): {states}")
    got = echo_roundtrip(server, b"still there?\n")
    assert got == b"STILL THERE?\n", f"a later client got {shorten(got)}"


def test_fifty_clients_one_after_another_are_all_served(server):
    for i in range(50):
        data = f"client number {i}\n".encode()
        got = echo_roundtrip(server, data)
        assert got == data.upper(), f"client {i} sent {data!r}, got {got!r}"


@pytest.mark.limitation("concurrent_clients")
def test_a_second_client_is_served_while_the_first_stays_connected(server):
    with server.connect() as a:
        a.sendall(b"first\n")
        got_a = recv_exactly(a, 6)
        assert got_a == b"FIRST\n", f"client A got {got_a!r}"
        # A stays connected and idle; B must not wait for it to leave.
        with server.connect(timeout=2) as b:
            b.sendall(b"second\n")
            answered, _, _ = select.select([b], [], [], 2)
            symptom_absent(answered, "client B heard nothing for 2 s while "
                           "A stayed connected: one client at a time")
            got_b = recv_exactly(b, 7, timeout=2)
            assert got_b == b"SECOND\n", f"client B got {got_b!r}"


@pytest.mark.needs("client")
def test_client_program_sends_stdin_lines_and_prints_the_replies(stage,
                                                                 server):
    assert stage.client is not None, f"no client built in {stage.build}"
    try:
        done = subprocess.run(
            [str(stage.client), "-b", server.addr, "-p", str(server.port)],
            input=b"hello\nworld\n", capture_output=True, timeout=5,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"client did not finish within 5 s; stdout {e.stdout!r}",
                    pytrace=False)
    assert (done.returncode, done.stdout) == (0, b"HELLO\nWORLD\n"), (
        f"exit {done.returncode}, stdout {done.stdout!r}, "
        f"stderr {done.stderr!r}"
    )

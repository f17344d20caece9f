"""Under systemd (v15): a Type=notify service tells systemd when it is
ready, reloading and stopping (sd_notify(3)), and a socket-activated one
serves on the socket systemd passed it (sd_listen_fds(3)).

No systemd here: each test plays its part. It binds the datagram socket
NOTIFY_SOCKET names and reads what the server sends there; or it listens
itself and hands the socket over as fd 3 with LISTEN_FDS and LISTEN_PID,
as systemd does after a .socket unit's connection arrives."""

import os
import signal
import socket
import struct
import tempfile
import time
from pathlib import Path

import pytest

from util import Deadline, Peer, probe, server_args

pytestmark = pytest.mark.needs("systemd")

MESSAGE_TIMEOUT = 5.0


class NotifySocket:
    """systemd's end of sd_notify(3): a datagram socket that also learns
    each sender's pid (SO_PASSCRED), since systemd takes messages from the
    service's main process only (NotifyAccess=main)."""

    def __init__(self, address, name):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)
        self.name = name  # what NOTIFY_SOCKET says

    def env(self):
        return {**os.environ, "NOTIFY_SOCKET": self.name}

    def receive(self, expecting, timeout=MESSAGE_TIMEOUT):
        """(the datagram's lines as a dict, the sender's pid); expecting
        says what should come, for the failure message."""
        deadline = Deadline(timeout)
        self.sock.settimeout(deadline.left())
        try:
            data, ancillary, _, _ = self.sock.recvmsg(
                4096, socket.CMSG_SPACE(struct.calcsize("3i")))
        except TimeoutError:
            raise AssertionError(
                f"no {expecting} on NOTIFY_SOCKET within {timeout} s"
            ) from None
        pid = None
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", value)[0]
        fields = dict(line.split("=", 1)
                      for line in data.decode().splitlines())
        return fields, pid


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request):
    """A NOTIFY_SOCKET of either kind systemd uses: a path (its own is
    /run/systemd/notify) or, written with '@', an abstract name."""
    if request.param == "path":
        # Not under tmp_path: a socket's path has at most 107 bytes.
        with tempfile.TemporaryDirectory(prefix="notify") as d:
            path = str(Path(d) / "notify")
            ns = NotifySocket(path, path)
            yield ns
            ns.sock.close()
    else:
        name = f"course-notify-{os.getpid()}-{time.monotonic_ns()}"
        ns = NotifySocket("\0" + name, "@" + name)
        yield ns
        ns.sock.close()


def test_ready_1_comes_from_the_server_once_it_accepts(
        start_server, stage, tmp_path, notify_socket):
    srv = start_server(*server_args(stage, tmp_path),
                       env=notify_socket.env())
    fields, pid = notify_socket.receive("READY=1")
    assert fields == {"READY": "1"}, f"first message: {fields}"
    assert pid == srv.pid, (
        f"READY=1 came from pid {pid}, not the server's {srv.pid}: "
        "systemd would ignore it")
    probe(srv, stage.protocol)


def test_sighup_is_a_reload_between_reloading_1_and_ready_1(
        start_server, stage, tmp_path, notify_socket):
    srv = start_server(*server_args(stage, tmp_path),
                       env=notify_socket.env())
    assert notify_socket.receive("READY=1")[0] == {"READY": "1"}
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    srv.proc.send_signal(signal.SIGHUP)
    fields, _ = notify_socket.receive("RELOADING=1 after SIGHUP")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert fields.keys() == {"RELOADING", "MONOTONIC_USEC"}, (
        f"after SIGHUP: {fields}, not RELOADING=1 with MONOTONIC_USEC")
    assert fields["RELOADING"] == "1", fields
    # systemd ignores RELOADING=1 without the time it began.
    assert before <= int(fields["MONOTONIC_USEC"]) <= after, (
        f"MONOTONIC_USEC={fields['MONOTONIC_USEC']} is not between "
        f"{before} and {after}, when the reload began")
    fields, _ = notify_socket.receive(
        "READY=1 to end the reload (systemctl reload would wait for it)")
    assert fields == {"READY": "1"}, f"after RELOADING=1: {fields}"
    probe(srv, stage.protocol)


def test_sigterm_says_stopping_1_and_the_server_exits_0(
        start_server, stage, tmp_path, notify_socket):
    srv = start_server(*server_args(stage, tmp_path),
                       env=notify_socket.env())
    assert notify_socket.receive("READY=1")[0] == {"READY": "1"}
    srv.proc.send_signal(signal.SIGTERM)
    fields, _ = notify_socket.receive("STOPPING=1 after SIGTERM")
    assert fields == {"STOPPING": "1"}, f"after SIGTERM: {fields}"
    assert srv.wait() == 0, srv.describe()


# --- socket activation -------------------------------------------------------

# What systemd does between fork and exec: the socket to fd 3, then
# LISTEN_FDS and LISTEN_PID ("self": this process's own pid, which exec
# keeps), then the server.
HAND_OVER = """
import os, sys
fd, pid = int(sys.argv[1]), sys.argv[2]
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid()) if pid == "self" else pid
os.execv(sys.argv[3], sys.argv[3:])
"""


def hand_over(sock, pid="self"):
    """start_server's wrapper and pass_fds to give the server sock."""
    return {"wrapper": ["/usr/bin/python3", "-c", HAND_OVER,
                        str(sock.fileno()), pid],
            "pass_fds": [sock.fileno()]}


def listening_sockets(pid):
    """The inodes of the listening TCP sockets pid holds."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A":
                listening.add(f"socket:[{cols[9]}]")
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target in listening:
            held.add(target)
    return held


def test_a_passed_listening_socket_is_served_and_nothing_else_bound(
        start_server, stage, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        srv = start_server(*server_args(stage, tmp_path), **hand_over(sock))
        assert srv.port == port, (
            f"ready line says port {srv.port}, the socket passed as fd 3 "
            f"listens on {port}")
        ours = f"socket:[{os.fstat(sock.fileno()).st_ino}]"
        assert listening_sockets(srv.pid) == {ours}, (
            f"the server listens on {listening_sockets(srv.pid)}, "
            f"not only on the socket passed, {ours}")
    # The test's copy is closed: only the server's fd 3 can answer now.
    probe(Peer("127.0.0.1", port), stage.protocol)


def test_sockets_passed_for_another_pid_are_left_alone(
        start_server, stage, tmp_path):
    # LISTEN_PID names the test (the server's parent): variables meant for
    # a parent that a child inherited, which sd_listen_fds(3) ignores.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        srv = start_server(*server_args(stage, tmp_path),
                           **hand_over(sock, pid=str(os.getpid())))
        assert srv.port != port, (
            f"the server serves on fd 3 (port {port}) though LISTEN_PID is "
            f"{os.getpid()}, not its pid {srv.pid}")
        probe(srv, stage.protocol)


def test_a_passed_socket_that_does_not_listen_stops_the_start_with_exit_1(
        start_server, stage, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, but listen() never called
        srv = start_server(*server_args(stage, tmp_path), ready=False,
                           **hand_over(sock))
        status = srv.wait()
    assert status == 1, srv.describe()
    assert srv.stderr_text() == (
        "server: LISTEN_FDS: fd 3 is not a listening TCP socket\n"), (
        srv.describe())

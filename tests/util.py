"""Helpers shared by the suite: deadlines, whole-stream socket I/O, the echo
protocol's expected output, and /proc readers for processes and threads.

Everything that waits takes a deadline; nothing sleeps to wait for a server
(polling a condition with short pauses in between is fine).
"""

import array
import fcntl
import os
import signal
import socket
import subprocess
import termios
import time
from pathlib import Path

DEFAULT_TIMEOUT = 5.0

# The echo protocol: ASCII a-z become A-Z, every other byte is unchanged.
UPCASE = bytes(
    b - 32 if ord("a") <= b <= ord("z") else b for b in range(256)
)


def echo_expected(data):
    """What an echo server must send back for data."""
    return bytes(data).translate(UPCASE)


# --- deadlines and polling ---------------------------------------------------


class Deadline:
    """A point in time; every blocking call gets what is left of it."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self):
        return max(self.end - time.monotonic(), 0.0)

    def expired(self):
        return time.monotonic() >= self.end


def wait_until(condition, timeout=DEFAULT_TIMEOUT, interval=0.02):
    """Polls condition() until it returns a true value, which is returned;
    returns the last (false) value when timeout seconds have passed."""
    deadline = Deadline(timeout)
    while True:
        value = condition()
        if value or deadline.expired():
            return value
        time.sleep(min(interval, deadline.left()))


# --- limitations -------------------------------------------------------------


class LimitationSymptom(AssertionError):
    """What a limitation test raises when, and only when, it sees the
    symptom its limitation names. On a stage that declares the limitation
    this is the one expected failure; anything else (the server died, a
    sanitizer spoke, a wrong answer) fails the test there too."""


def symptom_absent(ok, symptom):
    """Raises LimitationSymptom(symptom) unless ok."""
    if not ok:
        raise LimitationSymptom(symptom)


# --- sockets -----------------------------------------------------------------


def recv_exactly(sock, n, timeout=DEFAULT_TIMEOUT):
    """Reads until n bytes have come. Returns them, or raises AssertionError
    saying what did come if the peer closes, resets or the time runs out."""
    deadline = Deadline(timeout)
    got = bytearray()
    while len(got) < n:
        if deadline.expired():
            raise AssertionError(
                f"timed out after {timeout} s with {len(got)} of {n} bytes: "
                f"{shorten(got)}"
            )
        sock.settimeout(max(deadline.left(), 0.01))
        try:
            chunk = sock.recv(min(n - len(got), 1 << 20))
        except socket.timeout:
            continue
        except ConnectionResetError:
            raise AssertionError(
                f"connection reset after {len(got)} of {n} bytes: "
                f"{shorten(got)}"
            )
        if not chunk:
            raise AssertionError(
                f"server closed after {len(got)} of {n} bytes: {shorten(got)}"
            )
        got += chunk
    return bytes(got)


def recv_until_eof(sock, timeout=DEFAULT_TIMEOUT):
    """Reads until the peer closes. Returns everything, or raises
    AssertionError saying what came if it does not close in time."""
    deadline = Deadline(timeout)
    got = bytearray()
    while True:
        if deadline.expired():
            raise AssertionError(
                f"no EOF within {timeout} s; received {len(got)} bytes: "
                f"{shorten(got)}"
            )
        sock.settimeout(max(deadline.left(), 0.01))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            raise AssertionError(
                f"connection reset instead of a close after {len(got)} bytes: "
                f"{shorten(got)}"
            )
        if not chunk:
            return bytes(got)
        got += chunk


def echo_roundtrip(server, data, timeout=DEFAULT_TIMEOUT):
    """One echo session: connect, send data, half-close, read to EOF.
    Returns what came back."""
    deadline = Deadline(timeout)
    with server.connect(timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return recv_until_eof(sock, timeout=deadline.left())


def http_probe(server, timeout=DEFAULT_TIMEOUT):
    """One HTTP/1.0 GET /, read until the server closes; returns the whole
    response."""
    with server.connect(timeout=timeout) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return recv_until_eof(sock, timeout)


# What the probe's GET / must get: the index.html server_args writes, or,
# from a stage that serves no files (v06), its one fixed page.
PROBE_PAGE = b"<!doctype html><title>t</title>ok\n"
PROBE_FIXED_PAGE = b"<h1>Hello from v06</h1>"


def server_args(stage, tmp_path):
    """Arguments any stage needs to start and answer a probe: for stages
    that serve files, an absolute document root (tmp_path/docroot) with an
    index.html, so it stays valid after a daemon's chdir("/")."""
    if "static" not in stage.features:
        return []
    root = (tmp_path / "docroot").resolve()
    root.mkdir(exist_ok=True)
    (root / "index.html").write_text(PROBE_PAGE.decode())
    return ["-r", str(root)]


def probe(server, protocol, timeout=DEFAULT_TIMEOUT):
    """Asserts that the server answers one request of its protocol."""
    if protocol == "echo":
        data = b"probe: still serving?\n"
        got = echo_roundtrip(server, data, timeout)
        assert got == echo_expected(data), f"echo probe got {shorten(got)}"
    else:
        got = http_probe(server, timeout)
        status_line = got.split(b"\r\n", 1)[0]
        body = got.partition(b"\r\n\r\n")[2]
        assert status_line == b"HTTP/1.1 200 OK" and (
            body == PROBE_PAGE or PROBE_FIXED_PAGE in body), (
            f"HTTP probe GET /: want 200 with server_args' index.html (or, "
            f"without files, v06's fixed page), got "
            f"{shorten(got, 400)}")


def first_difference(got, want):
    """A sentence locating the first byte where got and want differ."""
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return (
                f"first difference at offset {i}: got 0x{g:02x}, "
                f"want 0x{w:02x} (got {len(got)} bytes, want {len(want)})"
            )
    if len(got) != len(want):
        return f"got {len(got)} bytes, want {len(want)} (one is a prefix)"
    return "identical"


def shorten(data, limit=200):
    """data for a failure message: at most limit bytes, then a count."""
    data = bytes(data)
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}... ({len(data) - limit} more bytes)"


class Peer:
    """A bare address with a connect() like Server's, for helpers above."""

    def __init__(self, addr, port):
        self.addr, self.port = addr, port

    def connect(self, timeout=DEFAULT_TIMEOUT):
        return socket.create_connection((self.addr, self.port), timeout)


# --- processes under /proc ---------------------------------------------------


def proc_stat(pid):
    """/proc/PID/stat as a dict (pid, comm, state, ppid, pgrp, session), or
    None if there is no such process. comm may hold spaces and parentheses,
    so the fields after it are found from the last ')'."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    head, _, tail = text.rpartition(")")
    fields = tail.split()
    return {
        "pid": int(head.split(" (", 1)[0]),
        "comm": head.split(" (", 1)[1],
        "state": fields[0],
        "ppid": int(fields[1]),
        "pgrp": int(fields[2]),
        "session": int(fields[3]),
    }


def all_pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def children_of(pid):
    """stat dicts of the processes whose parent is pid (zombies included)."""
    kids = []
    for p in all_pids():
        st = proc_stat(p)
        if st is not None and st["ppid"] == pid:
            kids.append(st)
    return kids


def zombies_of(pid):
    return [st for st in children_of(pid) if st["state"] == "Z"]


def thread_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        return 0


def socket_count(pid):
    """How many sockets process pid holds (its listeners included)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # closed while we looked
    return count


def is_gone(pid):
    """True once pid has exited (no such process, or a zombie not yet
    reaped by its parent)."""
    st = proc_stat(pid)
    return st is None or st["state"] in ("Z", "X")


def wait_gone(pid, timeout=DEFAULT_TIMEOUT):
    return wait_until(lambda: is_gone(pid), timeout)


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV",
              "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
              "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK",
              "0A": "LISTEN", "0B": "CLOSING"}


def tcp_socket(local_port, remote_port):
    """The IPv4 TCP socket local_port <-> remote_port as /proc/net/tcp shows
    it, from the kernel's side: (state name, send queue, receive queue) in
    bytes, or None if there is none. (The file lists every socket, TIME_WAIT
    included: a few ms to read.)"""
    text = Path("/proc/net/tcp").read_text()
    needle = f":{local_port:04X} "
    at = text.find(needle)
    while at >= 0:
        end = text.find("\n", at)
        cols = text[text.rfind("\n", 0, at) + 1:end].split()
        if int(cols[2].split(":")[1], 16) == remote_port:
            tx, rx = (int(q, 16) for q in cols[4].split(":"))
            return TCP_STATES.get(cols[3], cols[3]), tx, rx
        at = text.find(needle, end)
    return None


def tcp_wmem_max():
    """The most a TCP send buffer may grow to (net.ipv4.tcp_wmem)."""
    return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])


def unsent_bytes(sock):
    """Bytes in sock's send queue the peer has not acknowledged yet."""
    buf = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
    return buf[0]


def listening_pids(port):
    """Pids of the processes holding a TCP socket that listens on 127.0.0.1
    or 0.0.0.0 at port (from /proc/net/tcp and each process's fds)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        local, state, inode = cols[1], cols[3], cols[9]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            inodes.add(f"socket:[{inode}]")
    pids = set()
    for p in all_pids():
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{p}/fd/{fd}") in inodes:
                    pids.add(p)
                    break
            except OSError:
                continue
    return pids


def stop_process_group(proc, timeout):
    """SIGTERM to proc, up to timeout seconds for it to exit, then SIGKILL
    for whatever of its process group remains (a daemon's workers)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def describe_status(returncode):
    """'exit status 1' or 'killed by SIGSEGV' for a Popen returncode."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit status {returncode}"


def run_program(argv, timeout=DEFAULT_TIMEOUT, env=None, cwd=None, input=None):
    """Runs argv to completion with captured text output. Raises
    AssertionError with what it printed if it outlives timeout (then it is
    killed)."""
    try:
        return subprocess.run(
            [str(a) for a in argv],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=env,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if e.stdout else ""
        err = e.stderr.decode(errors="replace") if e.stderr else ""
        raise AssertionError(
            f"{' '.join(map(str, argv))} did not exit within {timeout} s\n"
            f"stdout: {out!r}\nstderr: {err!r}"
        ) from None


# --- what a process holds, from /proc (leak checks) --------------------------


def fd_count(pid):
    """How many descriptors process pid has open (0 once it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return 0


def fd_targets(pid):
    """What each open descriptor of pid points to ("3 -> socket:[123]"),
    for failure messages."""
    found = []
    try:
        names = sorted(os.listdir(f"/proc/{pid}/fd"), key=int)
    except FileNotFoundError:
        return found
    for name in names:
        try:
            found.append(f"{name} -> {os.readlink(f'/proc/{pid}/fd/{name}')}")
        except OSError:
            pass
    return found


def rss_bytes(pid):
    """The resident set of process pid (all its threads), in bytes, from
    VmRSS in /proc/PID/status; 0 once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0  # a zombie has no VmRSS line


def pids_with_environment(needle):
    """Pids of the processes whose environment holds the bytes needle: a
    CGI script and whatever it started inherit its meta-variables
    (SCRIPT_FILENAME names the document root), wherever they were
    reparented to."""
    found = []
    for p in all_pids():
        try:
            if needle in Path(f"/proc/{p}/environ").read_bytes():
                found.append(p)
        except OSError:
            continue
    return found

"""A chaos mix: many kinds of clients at once against one running server,
for a bounded number of seconds, with every response that completes
checked byte for byte. tests/test_chaos.py runs it for a few seconds on
every HTTP stage; scripts/soak runs it for minutes against a Release v15:

    /usr/bin/python3 tests/chaos.py --stage v15_cpp_reactor \
        --build build-release/v15_cpp_reactor --seconds 60

Who is in the mix (a stage gets only what its manifest's features allow):

- keep-alive clients (keepalive) and Connection: close clients: GET and
  HEAD of files, POST /echo, quick CGI and PHP scripts;
- pipelined bursts, several requests in one send (keepalive);
- slow readers of a 4 MiB file, with a 4 KiB receive buffer;
- heads trickled a byte at a time;
- resets (SO_LINGER 0, then close) in the middle of the 4 MiB file, and
  while a CGI script or a PHP script (php-cgi, or php-fpm on fastcgi
  stages) runs;
- half-closers: a request, shutdown(SHUT_WR), and the whole response must
  still come (counted apart, as "half-close");
- a pauser: SIGSTOP, then while the server is stopped, past its idle
  timeout, clients send on idle keep-alive connections, new clients
  connect and script clients reset; then SIGCONT. The idle timer, the
  sockets and the scripts' pipes are all ready in the same epoll batch;
- SIGHUP with the logs renamed first, as logrotate does (logging).

What is judged: a response that completes must be the expected one, byte
for byte. One that does not complete is a failure, unless the client gave
up (a reset, the end of the run), SIGTERM was sent, or a pause overlapped
it on a stage with an idle timeout (the server then saw a client silent for
longer than the timeout and may close it, as any server would); even then,
the bytes that did come must be a prefix of the expected ones.

Only 127.0.0.1; every loop is bounded in count and in time. Standard
library only, so the soak needs nothing but Debian's python3.
"""

import argparse
import os
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_util import NoResponse, parse_head  # noqa: E402
from util import (  # noqa: E402
    Deadline,
    children_of,
    describe_status,
    fd_count,
    fd_targets,
    pids_with_environment,
    rss_bytes,
    thread_count,
    wait_until,
)

KiB, MiB = 1 << 10, 1 << 20
ADDR = "127.0.0.1"
BIG_SIZE = 4 * MiB  # the slow readers' and the resetters' file
SCRIPT_SECONDS = 0.4  # how long slow.sh and slow.php work
IDLE_TIMEOUT = 1  # -k: the keep-alive timeout the pauser outlasts
EXCHANGE_TIMEOUT = 5.0  # longest any response may take (a pause included)
GRACE = 2.0  # seconds past the run's end for the exchanges under way
STALL_SECONDS = 0.5  # no byte for this long: the answer has stalled
IDLE_CONNECTIONS = 16  # keep-alive connections idle across each pause
SCRIPTS_PER_PAUSE = 4  # slow scripts reset in each pause
QUIET_SECONDS = 0.5  # the server's counts must hold still this long
AFTER_PAUSE = 0.5  # seconds after SIGCONT that still count as the pause
MAX_SHOWN = 20  # failure messages kept; the rest are only counted
MAX_ROTATIONS = 50  # log renames per run; past that, SIGHUP alone
EXIT_DEADLINE = 3.0  # from SIGTERM to exit: shutdown_timeout (1 s) + slack


# --- the site every mix is served from ---------------------------------------

QUICK_CGI = b"cgi hello\n"
QUICK_PHP = b"php hello\n"
SLOW_CGI = b"slow cgi done\n"
SLOW_PHP = b"slow php done\n"


@dataclass
class Site:
    """A document root (root) with files of every size, quick and slow
    scripts; the slow ones create started/TOKEN when they begin, TOKEN
    being their query string, so a client knows its script runs."""

    root: Path
    started: Path
    files: dict  # name under root: its bytes

    def started_token(self, token):
        return (self.started / token).exists()


def make_site(workdir):
    """Writes the site under workdir and returns it."""
    root, started = workdir / "root", workdir / "started"
    (root / "cgi-bin").mkdir(parents=True)
    started.mkdir()
    rng = random.Random(1)
    files = {
        "index.html": b"<!doctype html><title>chaos</title>ok\n",
        "hello.txt": b"hello\n",
        "empty.txt": b"",
        "page.html": bytes(b"abcdefghijklmnopqrstuvwxyz\n"[i % 27]
                           for i in range(12345)),
        # Larger than a socket buffer: written in many pieces.
        "data.bin": rng.randbytes(300 * KiB),
        "big.bin": rng.randbytes(BIG_SIZE),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    scripts = {
        "cgi-bin/hello.sh": "#!/bin/sh\n"
                            "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
                            "printf 'cgi hello\\n'\n",
        "cgi-bin/slow.sh": "#!/bin/sh\n"
                           "token=$(printf %s \"$QUERY_STRING\" |"
                           " tr -cd 0-9a-f)\n"
                           f": > '{started}'/\"$token\"\n"
                           f"sleep {SCRIPT_SECONDS}\n"
                           "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
                           "printf 'slow cgi done\\n'\n",
        "hello.php": "<?php header('Content-Type: text/plain');\n"
                     "echo \"php hello\\n\";\n",
        "slow.php": "<?php\n"
                    "$token = preg_replace('/[^0-9a-f]/', '', "
                    "$_SERVER['QUERY_STRING']);\n"
                    f"touch('{started}/' . $token);\n"
                    f"usleep({int(SCRIPT_SECONDS * 1e6)});\n"
                    "header('Content-Type: text/plain');\n"
                    "echo \"slow php done\\n\";\n",
    }
    for name, text in scripts.items():
        (root / name).write_text(text)
        if name.startswith("cgi-bin/"):
            (root / name).chmod(0o755)
    return Site(root, started, files)


def server_args(features, site, workdir, fastcgi_pass=None):
    """The server's arguments for the mix: the site as its root, an idle
    timeout of IDLE_TIMEOUT seconds, and from v10 a configuration file with
    php-fpm's address (fastcgi), logs in workdir/logs (logging) and a short
    wait for requests in flight at SIGTERM (reactor). Returns (args, the
    logs directory or None)."""
    args, logs = [], None
    if "static" in features:
        args += ["-r", str(site.root)]
    if "keepalive" in features:
        args += ["-k", str(IDLE_TIMEOUT)]
    if "config" not in features:
        return args, logs
    lines = ["# the chaos mix's configuration"]
    if "fastcgi" in features and fastcgi_pass:
        lines += [f"fastcgi_pass = {fastcgi_pass}", "fastcgi_timeout = 5"]
    if "logging" in features:
        logs = workdir / "logs"
        logs.mkdir(exist_ok=True)
        # Both end in .log: the suite scans *.log files for sanitizer
        # reports (the error log is the server's fd 2), renamed ones too.
        lines += [f"access_log = {logs / 'access.log'}",
                  f"error_log = {logs / 'error.log'}"]
    if "reactor" in features:
        lines.append("shutdown_timeout = 1")
    conf = workdir / "chaos.conf"
    conf.write_text("\n".join(lines) + "\n")
    return ["-c", str(conf), *args], logs


# --- the server under the mix, and what the mix counts -----------------------


@dataclass
class Target:
    """The running server: its process (signals go through the Popen, so
    never to a pid that has been reused), port, features, site and logs."""

    proc: subprocess.Popen
    port: int
    features: frozenset
    site: Site
    logs: Path | None = None

    def has(self, *features):
        return all(f in self.features for f in features)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)  # does nothing once it has been reaped

    @property
    def scripts_stall_the_loop(self):
        """v13: one loop thread runs the scripts too, so while one works
        every client waits; two slow scripts in a row would make the loop
        late past the idle timeout. The mix runs one at a time there."""
        return self.has("eventloop") and not self.has("threadpool")


class Tally:
    """What the mix saw, counted from every client thread: .done (checked
    responses by kind), .allowed (responses that did not complete for an
    allowed reason), .failed (by kind) and the first MAX_SHOWN messages."""

    def __init__(self):
        self.lock = threading.Lock()
        self.done, self.allowed, self.failed = Counter(), Counter(), Counter()
        self.messages = []

    def total(self):
        """How many responses were checked and right so far."""
        with self.lock:
            return sum(self.done.values())

    def ok(self, kind):
        with self.lock:
            self.done[kind] += 1

    def allow(self, why):
        with self.lock:
            self.allowed[why] += 1

    def fail(self, kind, message):
        with self.lock:
            self.failed[kind] += 1
            if len(self.messages) < MAX_SHOWN:
                self.messages.append(f"[{kind}] {message}")

    def failures(self, *kinds, excluding=()):
        """How many failures of these kinds (default: all), less excluded."""
        with self.lock:
            return sum(n for k, n in self.failed.items()
                       if (not kinds or k in kinds) and k not in excluding)

    def summary(self):
        with self.lock:
            lines = [f"responses checked: {sum(self.done.values())} "
                     f"({_counts(self.done)})",
                     f"did not complete, allowed: "
                     f"{sum(self.allowed.values())} ({_counts(self.allowed)})",
                     f"failures: {sum(self.failed.values())} "
                     f"({_counts(self.failed)})"]
            lines += [f"  {m}" for m in self.messages]
        return "\n".join(lines)


def _counts(counter):
    return ", ".join(f"{k} {n}" for k, n in sorted(counter.items())) or "-"


class Run:
    """One mix's shared state: the target, the tally, the end time, the
    pauses so far, and whether SIGTERM has been sent."""

    def __init__(self, target, seconds, tally, pause_rest=0.5):
        self.target, self.tally = target, tally
        self.end = time.monotonic() + seconds
        self.pause_rest = pause_rest  # seconds unpaused after each pause
        self.lock = threading.Lock()
        self.pauses = []  # [start, end]; end None while the server is stopped
        self.stopping = False  # SIGTERM sent: refusals and cuts are expected
        self.death_told = False
        self.rotations = 0

    def left(self):
        return max(self.end - time.monotonic(), 0.0)

    def more(self):
        """True while clients should start another exchange."""
        if not self.target.alive():
            self._tell_death()
            return False
        return time.monotonic() < self.end

    def _tell_death(self):
        with self.lock:
            if self.stopping or self.death_told:
                return
            self.death_told = True
        self.tally.fail("server", "the server died during the run "
                        f"({describe_status(self.target.proc.poll())})")

    def exchange_deadline(self):
        """A deadline for one exchange: EXCHANGE_TIMEOUT, but never past
        the end of the run plus GRACE, so that the mix stops in time."""
        end = min(time.monotonic() + EXCHANGE_TIMEOUT, self.end + GRACE)
        return Deadline(max(end - time.monotonic(), 0.05))

    @contextmanager
    def paused(self):
        """SIGSTOP now, SIGCONT when the block ends, whatever happens."""
        pause = [time.monotonic(), None]
        with self.lock:
            self.pauses.append(pause)
        self.target.signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.target.signal(signal.SIGCONT)
            pause[1] = time.monotonic()

    def paused_since(self, since):
        """True if the server was stopped at some time after since, or had
        been moments before it: its first timer check after SIGCONT may
        close a connection whose client sent just after SIGCONT."""
        with self.lock:
            return any(end is None or end + AFTER_PAUSE >= since
                       for _, end in self.pauses)


# --- one client connection -------------------------------------------------


@dataclass
class Reply:
    """One response as far as it came: .complete, or .why it is not."""

    status: int | None = None
    headers: dict = field(default_factory=dict)  # lower-case name: value
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False
    why: str | None = None
    received: int = 0  # bytes of this response received, head included
    abandoned: bool = False  # the client stopped reading (the run ended)
    last_byte_at: float = 0.0  # time.monotonic() of the last bytes received
    longest_wait: float = 0.0  # longest time the client left between reads

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def closes(self):
        return "close" in (self.header("Connection") or "").lower()

    def describe(self):
        if self.status is None:
            return f"{self.why} before a status line ({self.received} bytes)"
        state = "complete" if self.complete else f"incomplete: {self.why}"
        return (f"status {self.status}, {len(self.body)} body bytes "
                f"of {self.header('Content-Length')}, {state}")


class Conn:
    """A client socket: send() bytes, read replies one after another (bytes
    past one reply stay for the next), reset() or close()."""

    def __init__(self, run, rcvbuf=None):
        self.run = run
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf:  # before connect: the window is agreed on then
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                     rcvbuf)
            self.sock.settimeout(EXCHANGE_TIMEOUT)
            self.sock.connect((ADDR, run.target.port))
        except OSError:
            self.sock.close()
            raise
        self.buf = bytearray()  # received, not yet part of a reply

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """False if the server closed or reset before taking it all."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def close(self):
        self.sock.close()

    def reset(self):
        """Closes with a reset (RST) instead of a FIN: SO_LINGER 0."""
        try:
            linger_off_now = struct.pack("ii", 1, 0)  # l_onoff 1, l_linger 0
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 linger_off_now)
        except OSError:
            pass
        self.sock.close()

    def read_reply(self, deadline, head_request=False, pace=None, limit=None):
        """Reads one response. pace=(chunk, seconds): read it chunk bytes
        at a time with a pause between (a slow reader, who gives up when
        the run ends). limit: stop once that many body bytes have come
        (the caller resets the connection next)."""
        reply = Reply()
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 64 * KiB:
                reply.why = "a response head past 64 KiB"
                return reply
            if not self._fill(reply, deadline):
                return reply
        end = self.buf.index(b"\r\n\r\n") + 4
        head, self.buf = bytes(self.buf[:end]), self.buf[end:]
        try:
            _, reply.status, _, headers = parse_head(head)
        except NoResponse as e:
            reply.why = str(e)
            return reply
        reply.headers = {n.lower(): v for n, v in headers}
        if head_request or reply.status < 200 or reply.status in (204, 304):
            reply.complete = True
            return reply
        length = reply.header("Content-Length")
        if length is None or not length.isdigit():
            reply.why = f"Content-Length {length!r}"
            return reply
        return self._read_body(reply, int(length), deadline, pace, limit)

    def _read_body(self, reply, length, deadline, pace, limit):
        while True:
            take = min(length - len(reply.body), len(self.buf))
            reply.body += self.buf[:take]
            del self.buf[:take]
            if len(reply.body) == length:
                reply.complete = True
                return reply
            if limit is not None and len(reply.body) >= limit:
                reply.why = f"the client stopped at {limit} bytes"
                return reply
            if pace is not None:
                if time.monotonic() >= self.run.end:
                    reply.why, reply.abandoned = "the run ended", True
                    return reply
                time.sleep(pace[1])
            if not self._fill(reply, deadline, pace[0] if pace else 256 * KiB):
                return reply

    def _fill(self, reply, deadline, size=64 * KiB):
        """Receives once into self.buf; False (and reply.why) if nothing
        more will come."""
        if deadline.expired():
            self._out_of_time(reply, deadline)
            return False
        if reply.last_byte_at:
            reply.longest_wait = max(reply.longest_wait,
                                     time.monotonic() - reply.last_byte_at)
        self.sock.settimeout(max(deadline.left(), 0.01))
        try:
            chunk = self.sock.recv(size)
        except socket.timeout:
            self._out_of_time(reply, deadline)
            return False
        except OSError as e:
            reply.why = f"the server reset the connection ({e.strerror})"
            return False
        if not chunk:
            reply.why = "the server closed the connection"
            return False
        self.buf += chunk
        reply.received += len(chunk)
        reply.last_byte_at = time.monotonic()
        return True

    def _out_of_time(self, reply, deadline):
        """The exchange's deadline passed. If bytes were still arriving as
        the run's grace ran out, the answer was on its way (a big file on a
        loaded machine): the client gave up, as a slow reader does at the
        end. An answer that had stalled is the server's failure."""
        still_coming = time.monotonic() - reply.last_byte_at < STALL_SECONDS
        if still_coming and time.monotonic() >= self.run.end + GRACE - 0.05:
            reply.why, reply.abandoned = "the run ended", True
        else:
            reply.why = f"no response within {deadline.seconds:.1f} s"


# --- requests and what they must get ----------------------------------------


@dataclass
class Expect:
    """What a request must get: status and body (for HEAD: the body's
    length in Content-Length and no body), with Content-Type if given."""

    request: str  # its request line, for failure messages
    status: int = 200
    body: bytes = b""
    head: bool = False
    content_type: str | None = None

    @classmethod
    def answer_to(cls, data, **what):
        """What the request in data must get."""
        return cls(data.split(b"\r\n", 1)[0].decode("latin-1"), **what)

    def mismatch(self, reply):
        """What is wrong with a complete reply, or None."""
        if reply.status != self.status:
            return f"status {reply.status}, want {self.status}"
        if self.head:
            length = reply.header("Content-Length")
            if length != str(len(self.body)):
                return f"HEAD Content-Length {length}, want {len(self.body)}"
            return None
        if bytes(reply.body) != self.body:
            return "body " + _difference(reply.body, self.body)
        if self.content_type and reply.header("Content-Type") != \
                self.content_type:
            return (f"Content-Type {reply.header('Content-Type')!r}, "
                    f"want {self.content_type!r}")
        return None

    def wrong_prefix(self, reply):
        """For a reply cut short: what is wrong with the bytes that came."""
        if reply.status is None or reply.status != self.status or self.head:
            return None
        if not self.body.startswith(bytes(reply.body)):
            return "the bytes that came " + _difference(
                reply.body, self.body[:len(reply.body)])
        return None


def _difference(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return (f"differ at byte {i} of {len(want)} "
                    f"(got 0x{g:02x}, want 0x{w:02x})")
    return f"has {len(got)} bytes, want {len(want)}"


def request_bytes(method, target, headers=(), body=b"", close=False):
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{n}: {v}" for n, v in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Requests:
    """Picks requests the stage can answer, each with what it must get.
    v06 has no files: it answers every GET with one fixed page, so its
    expected bodies are what it answered to the same bytes before the mix
    began."""

    FILES = ["index.html", "hello.txt", "empty.txt", "page.html", "data.bin"]
    PAGES = ["/", "/a?b=c", "/chaos/%41"]

    def __init__(self, target):
        self.target = target
        self.pages = {}
        if not target.has("static"):
            for path in self.PAGES:
                for close in (False, True):
                    data = request_bytes("GET", path, close=close)
                    self.pages[data] = _answer_alone(target, data)

    def pick(self, rng, close=False, bodies=True):
        """(request bytes, Expect) for one request of the mix; with
        bodies=False, never a POST."""
        t = self.target
        roll = rng.random()
        if roll < 0.15 and bodies:
            body = rng.randbytes(rng.choice((1, 100, 5000, 70 * KiB)))
            kind = rng.choice(("application/octet-stream", "text/plain"))
            data = request_bytes("POST", "/echo", [("Content-Type", kind)],
                                 body, close)
            return data, Expect.answer_to(data, body=body, content_type=kind)
        if not t.has("static"):
            data = request_bytes("GET", rng.choice(self.PAGES), close=close)
            return data, Expect.answer_to(data, body=self.pages[data])
        if roll < 0.22 and t.has("cgi"):
            data = request_bytes("GET", "/cgi-bin/hello.sh", close=close)
            return data, Expect.answer_to(data, body=QUICK_CGI)
        if roll < 0.29 and t.has("cgi"):
            data = request_bytes("GET", "/hello.php", close=close)
            return data, Expect.answer_to(data, body=QUICK_PHP)
        name = rng.choice(self.FILES)
        head = roll > 0.92
        data = request_bytes("HEAD" if head else "GET", "/" + name,
                             close=close)
        return data, Expect.answer_to(data, body=t.site.files[name], head=head)

    def slow_script(self, rng, token):
        """(request bytes, Expect) for slow.sh or slow.php; token (hex)
        names the file the script creates when it starts."""
        if rng.random() < 0.5:
            data = request_bytes("GET", f"/cgi-bin/slow.sh?{token}")
            return data, Expect.answer_to(data, body=SLOW_CGI)
        data = request_bytes("GET", f"/slow.php?{token}")
        return data, Expect.answer_to(data, body=SLOW_PHP)

    def big_file(self, close=False):
        """(request bytes, Expect) for the 4 MiB file."""
        data = request_bytes("GET", "/big.bin", close=close)
        return data, Expect.answer_to(
            data, body=self.target.site.files["big.bin"])


def _answer_alone(target, data):
    """The body the server answers to data on a connection of its own."""
    with socket.create_connection((ADDR, target.port), EXCHANGE_TIMEOUT) as s:
        s.sendall(data)
        got = bytearray()
        while chunk := s.recv(64 * KiB):
            got += chunk
            head_end = got.find(b"\r\n\r\n")
            if head_end >= 0:
                _, _, _, headers = parse_head(bytes(got[:head_end + 4]))
                length = int(dict((n.lower(), v) for n, v in headers)
                             ["content-length"])
                if len(got) >= head_end + 4 + length:
                    return bytes(got[head_end + 4:head_end + 4 + length])
    raise AssertionError(f"no whole answer to {data!r}: {bytes(got)!r}")


def check(run, kind, reply, want, since, may_be_cut=None):
    """Judges one reply to a request sent at time since and counts it
    under kind. True if it is complete and right. may_be_cut (by default:
    a pause overlapped the exchange, on a stage with an idle timeout)
    allows a reply cut short, as long as what came is right."""
    if may_be_cut is None:
        # A reader the loaded machine held up past the idle timeout left
        # the server nothing to send for that long: it may close.
        held_up = reply.longest_wait > IDLE_TIMEOUT - 0.1
        may_be_cut = (run.target.has("keepalive")
                      and (run.paused_since(since) or held_up))
    if reply.complete:
        return _check_complete(run, kind, reply, want, may_be_cut)
    _check_cut_short(run, kind, reply, want, may_be_cut)
    return False


def _check_complete(run, kind, reply, want, may_be_cut):
    tally = run.tally
    wrong = want.mismatch(reply)
    if wrong is None:
        tally.ok(kind)
        return True
    if reply.status == 408 and may_be_cut:
        # A head that straddled a pause, or that a held-up client took
        # longer than the timeout to send.
        tally.allow("408 past the idle timeout")
    elif reply.status == 503 and run.stopping:
        tally.allow("503 while stopping")  # v15: no new work at SIGTERM
    else:
        tally.fail(kind, f"{want.request}: {wrong} ({reply.describe()})")
    return False


def _check_cut_short(run, kind, reply, want, may_be_cut):
    tally = run.tally
    wrong = want.wrong_prefix(reply)
    if wrong:
        tally.fail(kind, f"{want.request}: {wrong} ({reply.describe()})")
    elif reply.abandoned:
        tally.allow("a slow reader left at the end")
    elif run.stopping:
        tally.allow("cut by SIGTERM")
    elif may_be_cut:
        tally.allow("cut after a pause past the idle timeout")
    else:
        tally.fail(kind, f"{want.request}: {reply.describe()}")


# --- the clients -------------------------------------------------------------
#
# Each role is one episode (a connection or two, a handful of requests);
# a worker thread repeats it until the run ends. Pauses inside an episode
# are a client's own pace (a trickle, a slow read, the moment to reset),
# never a wait for the server.


def keepalive_client(run, requests, rng):
    """Up to 30 requests, one after another, on one connection."""
    with Conn(run) as conn:
        for _ in range(rng.randint(1, 30)):
            if not run.more():
                return
            data, want = requests.pick(rng)
            since = time.monotonic()
            conn.send(data)
            reply = conn.read_reply(run.exchange_deadline(), want.head)
            if not check(run, "keep-alive", reply, want, since) or \
                    reply.closes:
                return


def close_client(run, requests, rng):
    """One request with Connection: close on a connection of its own."""
    data, want = requests.pick(rng, close=True)
    since = time.monotonic()
    with Conn(run) as conn:
        conn.send(data)
        reply = conn.read_reply(run.exchange_deadline(), want.head)
        check(run, "close", reply, want, since)


def pipeliner(run, requests, rng):
    """2 to 8 requests in one send, the answers read in order."""
    picks = [requests.pick(rng) for _ in range(rng.randint(2, 8))]
    since = time.monotonic()
    with Conn(run) as conn:
        conn.send(b"".join(data for data, _ in picks))
        for _, want in picks:
            reply = conn.read_reply(run.exchange_deadline(), want.head)
            if not check(run, "pipelined", reply, want, since) or \
                    reply.closes:
                return


def slow_reader(run, requests, rng):
    """The 4 MiB file through a 4 KiB receive buffer, 4 KiB at a time."""
    data, want = requests.big_file(close=rng.random() < 0.5)
    since = time.monotonic()
    with Conn(run, rcvbuf=4 * KiB) as conn:
        conn.send(data)
        reply = conn.read_reply(run.exchange_deadline(),
                                pace=(4 * KiB, rng.uniform(0, 0.001)))
        # The idle timer runs between the server's writes, and a full send
        # buffer of megabytes drains slowly through a 4 KiB window on a
        # loaded machine: past the idle timeout the server may close.
        slow = time.monotonic() - since > IDLE_TIMEOUT
        check(run, "slow reader", reply, want, since,
              may_be_cut=True if slow and run.target.has("keepalive")
              else None)


def trickler(run, requests, rng):
    """A request head sent one byte at a time, 2 ms apart (well inside the
    idle timeout: this is a slow client, not slowloris)."""
    data, want = requests.pick(rng, close=True, bodies=False)
    since = time.monotonic()
    with Conn(run) as conn:
        for i in range(len(data)):
            if not conn.send(data[i:i + 1]):
                break
            time.sleep(0.002)
        # A loaded machine can hold this client up past the idle timeout
        # (it runs niced): then the server's 408 is the right answer.
        late = time.monotonic() - since > IDLE_TIMEOUT - 0.1
        reply = conn.read_reply(run.exchange_deadline(), want.head)
        check(run, "trickle", reply, want, since,
              may_be_cut=True if late else None)


def big_resetter(run, requests, rng):
    """Reads part of the 4 MiB file, checks it, then resets."""
    data, want = requests.big_file()
    since = time.monotonic()
    conn = Conn(run)
    try:
        conn.send(data)
        reply = conn.read_reply(run.exchange_deadline(),
                                limit=rng.randint(1, 2 * MiB))
        if reply.complete or reply.status != 200 or want.wrong_prefix(reply):
            check(run, "reset mid-file", reply, want, since)  # judge it
        else:
            run.tally.allow("reset by the client")
    finally:
        conn.reset()


def script_resetter(run, requests, rng):
    """Starts a slow CGI or PHP script and resets before, around or after
    the moment it answers; then lets it end before starting the next (and
    where scripts stall the loop, lets the loop serve others a while)."""
    data, _ = requests.slow_script(rng, rng.randbytes(8).hex())
    conn = Conn(run)
    try:
        conn.send(data)
        time.sleep(rng.uniform(0.05, SCRIPT_SECONDS * 1.5))
    finally:
        conn.reset()
    run.tally.allow("reset while a script ran")
    gap = SCRIPT_SECONDS * (2 if run.target.scripts_stall_the_loop else 0.5)
    time.sleep(min(gap, run.left()))


def half_closer(run, requests, rng):
    """One request (two, pipelined, with keep-alive; or a slow script,
    where scripts do not stall the loop; or a download), then
    shutdown(SHUT_WR): the whole response must still come."""
    t = run.target
    if t.has("static") and rng.random() < 0.2:
        half_closing_download(run, requests)
        return
    count = 2 if t.has("keepalive") and rng.random() < 0.5 else 1
    picks = [requests.pick(rng) for _ in range(count)]
    if t.has("cgi") and not t.scripts_stall_the_loop and rng.random() < 0.2:
        picks = [requests.slow_script(rng, rng.randbytes(8).hex())]
    since = time.monotonic()
    with Conn(run) as conn:
        conn.send(b"".join(data for data, _ in picks))
        conn.sock.shutdown(socket.SHUT_WR)
        for _, want in picks:
            reply = conn.read_reply(run.exchange_deadline(), want.head)
            if not check(run, "half-close", reply, want, since):
                return


def half_closing_download(run, requests):
    """The 4 MiB file through a 4 KiB receive buffer, with shutdown(SHUT_WR)
    right after the request: the answer is far larger than the socket
    buffers, so the server is still writing it, held up by our window,
    when it sees the FIN. Read as fast as the window lets it."""
    data, want = requests.big_file()
    since = time.monotonic()
    with Conn(run, rcvbuf=4 * KiB) as conn:
        conn.send(data)
        conn.sock.shutdown(socket.SHUT_WR)
        reply = conn.read_reply(run.exchange_deadline())
        check(run, "half-close", reply, want, since)


# --- signals ---------------------------------------------------------------


def pause_length(target):
    """How long the pauser keeps the server stopped: past the idle timeout
    where there is one; else past the scripts' end; else a moment."""
    if target.has("keepalive"):
        return IDLE_TIMEOUT + 0.3
    return SCRIPT_SECONDS + 0.2 if target.has("cgi") else 0.3


def pauser(run, requests, rng):
    """One pause: idle keep-alive connections and running scripts first;
    then SIGSTOP; the script clients reset at once (their scripts go on and
    answer while the server is stopped); past the idle timeout, requests
    on the idle connections and on new ones; SIGCONT. At that moment the
    idle timer, the resets, the scripts' answers and the new requests are
    all waiting in the same epoll batch. Then every answer is read."""
    stop_for = pause_length(run.target)
    if run.left() < stop_for + 1.0:  # no room for another pause
        time.sleep(min(0.1, run.left()))
        return
    conns = []  # every connection of this episode, closed at its end
    try:
        # The scripts start while the idle connections are made.
        scripts, tokens = request_slow_scripts(run, requests, rng, conns)
        idle = open_idle_connections(run, requests, rng, conns)
        # On a loaded machine the scripts may start late: the pause goes
        # ahead without them rather than miss the run.
        wait_for_scripts(run, tokens, min(2.0, run.left() - stop_for - 0.1))
        # Preparations that took too long skip the pause, unless it is the
        # run's first: where a script stalls the loop, a loaded machine can
        # keep the idle connections waiting for most of a short run. That
        # pause may outlast the run; the clients still under way count it.
        if run.left() < stop_for and run.pauses:
            return
        with run.paused():
            stopped_at = time.monotonic()
            for conn in scripts:
                conn.reset()
            time.sleep(max(stopped_at + stop_for - 0.1 - time.monotonic(), 0))
            sent = send_during_pause(run, requests, rng, idle, conns)
        read_after_pause(run, sent)
    finally:
        for conn in conns:
            conn.close()
    time.sleep(min(run.pause_rest, run.left()))  # the mix, unpaused


def open_idle_connections(run, requests, rng, conns):
    """IDLE_CONNECTIONS keep-alive connections, each after one request
    ([] on stages without keep-alive)."""
    idle = []
    if not run.target.has("keepalive"):
        return idle
    for _ in range(IDLE_CONNECTIONS):
        conn = Conn(run)
        conns.append(conn)
        data, want = requests.pick(rng)
        since = time.monotonic()
        conn.send(data)
        reply = conn.read_reply(run.exchange_deadline(), want.head)
        if check(run, "pause", reply, want, since) and not reply.closes:
            idle.append(conn)
    return idle


def request_slow_scripts(run, requests, rng, conns):
    """SCRIPTS_PER_PAUSE requests for slow scripts, CGI or PHP by chance
    (one where scripts stall the loop; none without CGI). Returns their
    connections and the tokens their scripts will create."""
    if not run.target.has("cgi"):
        return [], []
    count = 1 if run.target.scripts_stall_the_loop else SCRIPTS_PER_PAUSE
    started, tokens = [], []
    for _ in range(count):
        tokens.append(rng.randbytes(8).hex())
        data, _ = requests.slow_script(rng, tokens[-1])
        conn = Conn(run)
        conns.append(conn)
        started.append(conn)
        conn.send(data)
    return started, tokens


def wait_for_scripts(run, tokens, timeout):
    """Until every script has started (its token is there), timeout s at
    most."""
    site = run.target.site
    if not wait_until(lambda: all(map(site.started_token, tokens)),
                      timeout=max(timeout, 0)):
        run.tally.allow("a script had not started when the pause began")


def send_during_pause(run, requests, rng, idle, conns):
    """Requests on the idle connections (reused) and on 4 new ones.
    Returns [(conn, want, reused)]."""
    sent = []
    for conn in idle:
        data, want = requests.pick(rng)
        if conn.send(data):
            sent.append((conn, want, True))
    for _ in range(4):
        conn = Conn(run)  # the kernel accepts while the server is stopped
        conns.append(conn)
        data, want = requests.pick(rng, close=True)
        conn.send(data)
        sent.append((conn, want, False))
    return sent


def read_after_pause(run, sent):
    """Reads each answer. The server was silent past the idle timeout, so
    an idle connection may be closed instead of answered; a new one must be
    answered."""
    deadline = run.exchange_deadline()
    # New connections first: their answers must come, and an idle one that
    # is never answered must not use up their time.
    for conn, want, reused in sorted(sent, key=lambda s: s[2]):
        reply = conn.read_reply(deadline, want.head)
        may_be_cut = reused and run.target.has("keepalive")
        check(run, "pause", reply, want, time.monotonic(), may_be_cut)


def hupper(run, requests, rng):
    """Renames the logs (as logrotate does) and sends SIGHUP, every quarter
    of a second: the server must reopen them and go on serving."""
    logs = run.target.logs
    if run.rotations < MAX_ROTATIONS:
        run.rotations += 1
        for name in ("access", "error"):
            path = logs / f"{name}.log"
            if path.exists():
                path.rename(logs / f"{name}.{run.rotations}.log")
    run.target.signal(signal.SIGHUP)
    time.sleep(min(0.25, run.left()))


# --- the mix ---------------------------------------------------------------

# The mix is a background load: on a machine with two cores it takes both,
# and a test running beside it (CTest runs two stages at once; one of them
# may be starting a browser) would wait for the CPU. So its threads, and
# the server's, run at a lower priority: alone on the machine, as in
# scripts/soak, that changes nothing.
NICENESS = 10


def yield_cpu(tid):
    """Lowers the priority of thread tid (Linux: niceness is per thread,
    and threads and processes it starts later inherit it)."""
    try:
        os.setpriority(os.PRIO_PROCESS, tid, NICENESS)
    except OSError:  # gone already
        pass


def yield_cpu_of_process(pid):
    for tid in os.listdir(f"/proc/{pid}/task"):
        yield_cpu(int(tid))



def roles_for(target, pauses=True):
    """[(role, how many threads)]: only what the stage can do."""
    roles = [(close_client, 2), (trickler, 1), (half_closer, 2)]
    if target.has("static"):  # files to read slowly, and to reset in
        roles += [(slow_reader, 2), (big_resetter, 1)]
    if target.has("keepalive"):
        roles += [(keepalive_client, 3), (pipeliner, 1)]
    if target.has("cgi"):
        roles.append((script_resetter,
                      1 if target.scripts_stall_the_loop else 2))
    if pauses:
        roles.append((pauser, 1))
        if target.logs is not None:  # logging stages, logs set by the mix
            roles.append((hupper, 1))
    return roles


class Mix:
    """The mix on threads: start(), then join(); .tally holds the counts.
    With pauses=False there is no SIGSTOP and no SIGHUP (a warm-up, or the
    clients in flight at SIGTERM); pause_rest is the time between pauses."""

    def __init__(self, target, seconds, seed=0, pauses=True, tally=None,
                 pause_rest=0.5):
        self.target = target
        self.tally = tally or Tally()
        self.requests = Requests(target)
        self.run = Run(target, seconds, self.tally, pause_rest)
        self.threads = []
        for i, (role, count) in enumerate(roles_for(target, pauses)):
            for j in range(count):
                rng = random.Random(seed * 1000 + i * 10 + j)
                self.threads.append(threading.Thread(
                    target=self._worker, args=(role, rng), daemon=True,
                    name=f"chaos-{role.__name__}-{j}"))

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def _worker(self, role, rng):
        yield_cpu(threading.get_native_id())
        while self.run.more():
            try:
                role(self.run, self.requests, rng)
            except Exception as e:  # a refused connect, or a bug in a role
                if not self.target.alive():
                    return  # run.more() tells of a death, once
                if self.run.stopping and isinstance(e, OSError):
                    self.tally.allow("refused or cut by SIGTERM")
                    return
                self.tally.fail(role.__name__, f"{type(e).__name__}: {e}")

    def sigterm(self):
        """Tells the clients SIGTERM is coming: refusals and cuts are
        expected from now on; then sends it."""
        self.run.stopping = True
        self.target.signal(signal.SIGTERM)

    def join(self, timeout=None):
        """Waits for every client thread (by default until the run's end
        plus GRACE and a second); True if they all ended."""
        deadline = Deadline(timeout if timeout is not None
                            else self.run.left() + GRACE + 1.0)
        for thread in self.threads:
            thread.join(deadline.left())
        return not any(t.is_alive() for t in self.threads)

    def run_for_its_time(self):
        self.start()
        return self.join()


# --- what the server holds ---------------------------------------------------


@dataclass
class Usage:
    """What the server process holds at one moment."""

    fds: int
    threads: int
    children: int  # live child processes
    zombies: int  # children that exited and were not reaped
    scripts: int  # processes running one of the site's scripts, anywhere
    rss: int  # resident memory, bytes

    def __str__(self):
        return (f"fds {self.fds}, threads {self.threads}, children "
                f"{self.children}, zombies {self.zombies}, scripts "
                f"{self.scripts}, RSS {self.rss / MiB:.1f} MiB")


def usage_of(pid, site):
    kids = children_of(pid)
    return Usage(
        fds=fd_count(pid),
        threads=thread_count(pid),
        children=sum(1 for k in kids if k["state"] != "Z"),
        zombies=sum(1 for k in kids if k["state"] == "Z"),
        scripts=len(pids_with_environment(str(site.root).encode())),
        rss=rss_bytes(pid),
    )


@dataclass
class Bounds:
    """How far above a baseline the server may stay once the clients are
    gone. test_chaos.py says why each is what it is."""

    fds: int
    threads: int
    rss: int

    def excess(self, now, base):
        """What is over the bounds, as sentences; [] if nothing."""
        over = []
        if now.fds > base.fds + self.fds:
            over.append(f"{now.fds - base.fds} more descriptors")
        if now.threads > base.threads + self.threads:
            over.append(f"{now.threads - base.threads} more threads")
        if now.children > base.children:
            over.append(f"{now.children - base.children} more children")
        if now.zombies:
            over.append(f"{now.zombies} zombie children")
        if now.scripts:
            over.append(f"{now.scripts} script processes still running")
        if now.rss > base.rss + self.rss:
            over.append(f"{(now.rss - base.rss) / MiB:.1f} MiB more resident "
                        "memory")
        return over


def quiet_usage(pid, site, timeout=2.0):
    """The usage once the server is quiet: no script running, no zombie,
    and the same descriptor and thread counts for QUIET_SECONDS (a
    FastCGI connection, say, stays open until php-fpm's script ends).
    Returns (usage, None), or (the last usage, why it is not quiet) after
    timeout seconds."""
    samples = []  # (time, usage)

    def steady():
        now = time.monotonic()
        samples.append((now, usage_of(pid, site)))
        last = samples[-1][1]
        if last.scripts or last.zombies:
            return False
        window = [u for t, u in samples if t >= now - QUIET_SECONDS]
        return (samples[0][0] <= now - QUIET_SECONDS and
                all((u.fds, u.threads) == (last.fds, last.threads)
                    for u in window))

    if wait_until(steady, timeout=timeout, interval=0.05):
        return samples[-1][1], None
    last = samples[-1][1]
    if last.zombies or last.scripts:
        return last, (f"{last.zombies} zombie children and {last.scripts} "
                      f"script processes after {timeout} s")
    return last, (f"its descriptors and threads still changed after "
                  f"{timeout} s")


def settle(pid, site, base, bounds, timeout=2.0):
    """Waits until the server is back within bounds of base. Returns
    (usage, what is still over: [] once settled)."""
    last = [None]

    def back():
        last[0] = usage_of(pid, site)
        return not bounds.excess(last[0], base)

    wait_until(back, timeout=timeout, interval=0.05)
    return last[0], bounds.excess(last[0], base)


# --- the soak: python3 tests/chaos.py --stage ... --seconds N ---------------


def stage_features(stage_dir):
    with open(Path(stage_dir) / "manifest.toml", "rb") as f:
        return frozenset(tomllib.load(f)["features"])


def start_server(binary, args, workdir, env=None):
    """Starts the server on an ephemeral port; returns (proc, port)."""
    argv = [str(binary), "-b", ADDR, "-p", "0", *args]
    err = open(workdir / "server.stderr", "wb")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=err,
                            process_group=0, env=env)
    err.close()
    line = b""
    deadline = Deadline(5.0)
    with selectors.DefaultSelector() as sel:  # the ready line, or EOF
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in line and sel.select(deadline.left()):
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    first = line.split(b"\n", 1)[0].decode(errors="replace")
    if not first.startswith(f"listening on {ADDR}:"):
        proc.kill()
        proc.wait()
        raise SystemExit(f"soak: the server did not start: {first!r}\n"
                         f"{(workdir / 'server.stderr').read_text()}")
    return proc, int(first.rsplit(":", 1)[1])


def soak(stage_dir, build_dir, seconds, bounds):
    """The mix for seconds against the stage's server; prints what it
    measured. Returns the exit status: 0, or 1 if the server died, a
    response was wrong, it leaked, or it did not exit 0 on SIGTERM."""
    features = stage_features(stage_dir)
    if "http" not in features:
        raise SystemExit(f"soak: {stage_dir} is not an HTTP stage")
    with tempfile.TemporaryDirectory(prefix="soak-", dir="/tmp") as tmp:
        workdir = Path(tmp)
        fpm = start_php_fpm(workdir) if "fastcgi" in features else None
        try:
            return _soak(features, build_dir, workdir, seconds, bounds, fpm)
        finally:
            if fpm is not None:
                fpm.stop()


def start_php_fpm(workdir):
    """php-fpm as the suite's FastCGI tests start it (test_fastcgi.py)."""
    from test_fastcgi import PhpFpm
    return PhpFpm(workdir, str(workdir / "php-fpm.sock"))


def _soak(features, build_dir, workdir, seconds, bounds, fpm):
    site = make_site(workdir)
    args, logs = server_args(features, site, workdir,
                             fpm.pass_value if fpm else None)
    proc, port = start_server(Path(build_dir) / "server", args, workdir)
    target = Target(proc, port, features, site, logs)
    tally = Tally()
    try:
        problems = _soak_run(target, tally, seconds, bounds)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    print(tally.summary())
    if tally.failures():
        problems.append(f"{tally.failures()} failed checks")
    _show_server_output(workdir, logs)
    for problem in problems:
        print(f"soak: FAILED: {problem}")
    if not problems:
        print("soak: ok")
    return 1 if problems else 0


def _soak_run(target, tally, seconds, bounds):
    """Warm-up, baseline, the mix, the usage after it, SIGTERM with
    requests in flight. Returns the problems seen, as sentences."""
    pid, site = target.proc.pid, target.site
    Mix(target, min(5.0, seconds / 10), seed=1, pauses=False,
        tally=tally).run_for_its_time()
    if not target.alive():
        return [f"the server died in the warm-up: "
                f"{describe_status(target.proc.poll())}"]
    base, restless = quiet_usage(pid, site)
    print(f"soak: before (after a warm-up): {base}", flush=True)
    if restless:
        return [f"after the warm-up, the server never settled: {restless}"]
    # A pause every few seconds: most of the time the mix runs as is.
    mix = Mix(target, seconds, seed=2, tally=tally, pause_rest=3.0)
    if not mix.run_for_its_time():
        return ["client threads still running past the end"]
    if not target.alive():
        return [f"the server died: {describe_status(target.proc.poll())}"]
    after, problems = settle(pid, site, base, bounds)
    print(f"soak: after {seconds:g} s of the mix: {after}")
    if problems and after.fds > base.fds:
        print("\n".join(fd_targets(pid)))
    in_flight = sigterm_in_flight(target, tally)
    try:
        status = target.proc.wait(EXIT_DEADLINE)
    except subprocess.TimeoutExpired:
        status = None
    in_flight.join()
    if status != 0:
        problems.append(f"after SIGTERM with requests in flight: "
                        f"{describe_status(status)}")
    return problems


def _show_server_output(workdir, logs):
    """The end of the server's stderr, and of its error log if it has
    one (v12+ points fd 2 there: a crash report lands in it)."""
    paths = [workdir / "server.stderr"]
    if logs is not None:
        paths += sorted(logs.glob("error*.log"))
    for path in paths:
        text = path.read_text(errors="replace").strip()
        if text:
            print(f"soak: {path.name}:\n{text[-4000:]}")


def sigterm_in_flight(target, tally):
    """Starts a short mix (no pauses) and sends SIGTERM once its first
    responses are in, so that others are in flight. Returns the mix: join
    it once the server has exited."""
    before = tally.total()
    mix = Mix(target, 1.0, seed=3, pauses=False, tally=tally).start()
    wait_until(lambda: tally.total() > before, timeout=0.3)
    mix.sigterm()
    return mix


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Runs the chaos mix against a stage's server for a "
        "while and reports what it saw (scripts/soak builds and calls it).")
    parser.add_argument("--stage", required=True, help="stage directory")
    parser.add_argument("--build", required=True,
                        help="directory with the stage's built server")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rss-slack-mib", type=float, default=8.0,
                        help="resident memory the server may keep past its "
                        "warm-up baseline")
    opts = parser.parse_args(argv)
    bounds = Bounds(fds=0, threads=0, rss=int(opts.rss_slack_mib * MiB))
    return soak(opts.stage, opts.build, opts.seconds, bounds)


if __name__ == "__main__":
    sys.exit(main())

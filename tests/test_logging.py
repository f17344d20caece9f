"""Logging (v12+): the access log in the combined format, the error log, and
SIGHUP reopening both by name.

Configuration keys (the v10 file format; relative paths from the file's
directory): `access_log = PATH` (unset: no access log), `error_log = PATH`
(unset: errors stay on stderr), `log_level = error|warn|info` (default
error). A bad level or a log that cannot be opened stops the server with
`server: FILE:LINE: ...` or `server: log PATH: reason` and exit 2.

- The access log has one line per response, errors and every request of a
  keep-alive connection included:
  `127.0.0.1 - - [23/Nov/2026:15:30:00 +0000] "GET /p?q HTTP/1.1" 200 1234
  "referer" "user-agent"` ("-" for a missing header; the bytes are the body
  bytes sent, 0 for HEAD; "-" as the request when the request line could not
  be parsed). Client text has `"`, `\\` and every byte outside printable
  ASCII written as \\xHH, so no line can be broken or forged. Each line is
  one write with O_APPEND: concurrent clients leave only whole lines.
- The error log, once the server has started, has lines
  `2026/11/23 15:30:00 [error] message`; fd 2 points at it, so CGI scripts'
  stderr lands there too (the access log they never inherit). Errors before
  startup completes stay on stderr as `server: message`.
- SIGHUP reopens both files by name, as logrotate expects: after a rename,
  earlier lines stay in the renamed file and later ones go to a new file at
  the configured path; no line is lost or doubled. A daemon, which runs in
  "/", reopens the same paths it opened at startup.

goaccess, a real reader of combined logs, checks that what we write is
what the format's consumers parse. The logs are read as bytes and waited
for with deadlines: a server may write a line just after its response."""

import datetime
import json
import os
import re
import signal
import socket
import textwrap
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from http_util import (
    Deadline,
    build_request,
    exchange,
    read_response,
    request,
    send_all,
)
from util import (
    children_of,
    describe_status,
    run_program,
    tcp_socket,
    wait_gone,
    wait_until,
)

pytestmark = pytest.mark.needs("logging")

PAGE_SIZE = 12345
HELLO = b"hello\n"
MAX_BODY = 1024  # max_body_size = 1k in every configuration here

# A quoted field of the combined format: printable ASCII except `"` and
# `\`, or a \xHH escape.
FIELD = rb'(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\x[0-9A-Fa-f]{2})*'
COMBINED = re.compile(
    rb'(?P<addr>[0-9a-fA-F.:]+) - - '
    rb'\[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    rb'"(?P<request>' + FIELD + rb')" (?P<status>\d{3}) (?P<bytes>\d+) '
    rb'"(?P<referer>' + FIELD + rb')" "(?P<agent>' + FIELD + rb')"')
ERROR_LINE = re.compile(
    rb'(?P<time>\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) '
    rb'\[(?P<level>error|warn|info)\] (?P<message>\S.*)')
ESCAPE = re.compile(rb'\\x([0-9A-Fa-f]{2})')

GOACCESS = "/usr/bin/goaccess"


# --- the logs ---------------------------------------------------------------


def unescape(field):
    """The bytes a client sent, from a logged field's \\xHH escapes."""
    return ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), field)


@dataclass
class Entry:
    """One access log line, parsed."""

    line: bytes
    addr: str
    time: datetime.datetime
    request: bytes  # unescaped; b"-" for an unparseable request line
    raw_request: bytes  # as logged
    status: int
    bytes: int
    referer: bytes  # unescaped
    agent: bytes  # unescaped

    @classmethod
    def parse(cls, line):
        m = COMBINED.fullmatch(line)
        assert m, f"not a combined log line (or a bad escape): {line!r}"
        when = datetime.datetime.strptime(m["time"].decode(),
                                          "%d/%b/%Y:%H:%M:%S %z")
        return cls(line, m["addr"].decode(), when, unescape(m["request"]),
                   m["request"], int(m["status"]), int(m["bytes"]),
                   unescape(m["referer"]), unescape(m["agent"]))

    @property
    def target(self):
        """The request target, or None for "-"."""
        parts = self.request.split(b" ")
        return parts[1] if len(parts) == 3 else None


class LogFile:
    """A log file read as bytes: whole lines only (a line counts once its
    newline has been written)."""

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self):
        return str(self.path)

    def data(self):
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    def lines(self):
        data = self.data()
        return data[:data.rfind(b"\n") + 1].splitlines()

    def show(self, limit=3000):
        data = self.data()
        if not self.path.exists():
            return f"{self.path}: (does not exist)"
        if not data:
            return f"{self.path}: (empty)"
        text = data.decode("latin-1")
        if len(text) > limit:
            text = f"... ({len(text) - limit} bytes before)\n" + text[-limit:]
        return f"{self.path}:\n{text}"

    def wait_lines(self, n, timeout=5.0):
        """Waits until at least n whole lines are there; returns the lines.
        Fails, showing the file, if fewer than n come in time."""
        lines = wait_until(lambda: len(self.lines()) >= n and self.lines(),
                           timeout) or self.lines()
        assert len(lines) >= n, (
            f"expected {n} lines within {timeout} s, found {len(lines)}\n"
            f"{self.show()}")
        return lines

    def wait_exactly(self, n, timeout=5.0):
        """wait_lines(n), then exactly n lines and the file ends with a
        newline (no partial line)."""
        lines = self.wait_lines(n, timeout)
        data = self.data()
        assert len(lines) == n, (
            f"expected exactly {n} lines, found {len(lines)}\n{self.show()}")
        assert data.endswith(b"\n"), (
            f"a partial line at the end: {data[-200:]!r}")
        return lines

    def wait_for(self, needle, timeout=5.0):
        """Waits for a whole line containing needle (bytes); returns it."""
        def find():
            return next((ln for ln in self.lines() if needle in ln), None)
        line = wait_until(find, timeout)
        assert line is not None, (
            f"no line with {needle!r} within {timeout} s\n{self.show()}")
        return line

    def entries(self, n, timeout=5.0):
        return [Entry.parse(ln) for ln in self.wait_exactly(n, timeout)]


def check_time(entry):
    """The access log time is now, give or take two minutes."""
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((entry.time - now).total_seconds()) < 120, (
        f"the logged time is not now ({now:%d/%b/%Y:%H:%M:%S %z}): "
        f"{entry.line!r}")


def error_lines(log):
    """The error log's lines parsed: [(line, match)]; fails on a line not
    in the `YYYY/MM/DD HH:MM:SS [level] message` format."""
    parsed = []
    for line in log.lines():
        m = ERROR_LINE.fullmatch(line)
        assert m, (f"error log line not in the format "
                   f"'YYYY/MM/DD HH:MM:SS [level] message': {line!r}\n"
                   f"{log.show()}")
        parsed.append((line, m))
    return parsed


# --- files and servers ------------------------------------------------------

CGI_SCRIPTS = {
    "ok.sh": "#!/bin/sh\n"
             "printf 'Content-Type: text/plain\\r\\n\\r\\ncgi ok\\n'\n",
    "garbage.sh": "#!/bin/sh\necho 'this is not a CGI header block'\n",
    # Writes its query string to stderr, then a good response.
    "stderr.sh": "#!/bin/sh\n"
                 "echo \"from the script: $QUERY_STRING\" >&2\n"
                 "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
                 "echo 'wrote stderr'\n",
    # Waits, without output, until the file "go" appears beside it.
    "wait.sh": "#!/bin/sh\n"
               "while [ ! -e go ]; do sleep 0.01; done\n"
               "printf 'Content-Type: text/plain\\r\\n\\r\\nwaited\\n'\n",
    # Lists what each of its open descriptors points at.
    "fds.sh": "#!/bin/sh\n"
              "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
              "for f in /proc/$$/fd/*; do\n"
              "  echo \"${f##*/} $(readlink $f)\"\n"
              "done\n",
}


@pytest.fixture
def site(tmp_path):
    """A document root: index.html, hello.txt, page.html (PAGE_SIZE bytes),
    empty.txt, noindex/ (a directory without index: 403), t.php and
    cgi-bin/ with CGI_SCRIPTS."""
    root = tmp_path / "site"
    (root / "noindex").mkdir(parents=True)
    (root / "cgi-bin").mkdir()
    (root / "index.html").write_bytes(b"<!doctype html><title>i</title>\n")
    (root / "hello.txt").write_bytes(HELLO)
    (root / "page.html").write_bytes(bytes(
        b"abcdefghijklmnopqrstuvwxyz\n"[i % 27] for i in range(PAGE_SIZE)))
    (root / "empty.txt").write_bytes(b"")
    (root / "noindex" / "file.txt").write_bytes(b"x\n")
    (root / "t.php").write_text("<?php echo 'php ran';\n")
    for name, text in CGI_SCRIPTS.items():
        script = root / "cgi-bin" / name
        script.write_text(text)
        script.chmod(0o755)
    return root


def write_conf(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@dataclass
class Logged:
    """A server started from a configuration with logs in etc/logs."""

    server: object
    conf: Path
    access: LogFile
    error: LogFile

    def show(self):
        return f"{self.access.show()}\n{self.error.show()}"


@pytest.fixture
def logged(start_server, tmp_path, site):
    """logged(*extra_lines, access=True, error=True, args=()): starts the
    server with `-c etc/server.conf -r site`, the file naming
    access_log = logs/access.log and error_log = logs/error.log (relative,
    so from etc/, while the server runs in another directory) and
    max_body_size = 1k, plus extra_lines. Returns a Logged."""
    etc = tmp_path / "etc"
    (etc / "logs").mkdir(parents=True, exist_ok=True)
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    def start(*extra, access=True, error=True, args=()):
        lines = ["# logging test configuration", "max_body_size = 1k"]
        if access:
            lines.append("access_log = logs/access.log")
        if error:
            lines.append("error_log = logs/error.log")
        conf = write_conf(etc / "server.conf",
                          "\n".join(lines + list(extra)) + "\n")
        server = start_server("-c", conf, "-r", site, *args, cwd=cwd)
        return Logged(server, conf, LogFile(etc / "logs" / "access.log"),
                      LogFile(etc / "logs" / "error.log"))

    return start


def get(server, target, headers=(), **kw):
    return request(server, "GET", target, headers=headers, **kw)


def describe_run(result):
    return (f"command: {' '.join(map(str, result.args))}\n"
            f"{describe_status(result.returncode)}\n"
            f"stdout: {result.stdout!r}\nstderr: {result.stderr!r}")


# --- one line per response, with its status and bytes -----------------------

def _req(method, target, body=b"", version="HTTP/1.1", headers=()):
    return build_request(method, target, list(headers) +
                         [("Connection", "close")], body, version)


# (id, the request's bytes, the line's request field: the request line as
# sent or "-", the status)
CASES = [
    ("get-file", _req("GET", "/page.html"), b"GET /page.html HTTP/1.1", 200),
    ("get-with-query", _req("GET", "/hello.txt?a=1&b=two"),
     b"GET /hello.txt?a=1&b=two HTTP/1.1", 200),
    ("get-index", _req("GET", "/"), b"GET / HTTP/1.1", 200),
    ("get-empty-file", _req("GET", "/empty.txt"),
     b"GET /empty.txt HTTP/1.1", 200),
    ("http-1.0", _req("GET", "/hello.txt", version="HTTP/1.0"),
     b"GET /hello.txt HTTP/1.0", 200),
    ("head", _req("HEAD", "/page.html"), b"HEAD /page.html HTTP/1.1", 200),
    ("post-echo", _req("POST", "/echo", body=b"e" * 300,
                       headers=[("Content-Type", "text/plain")]),
     b"POST /echo HTTP/1.1", 200),
    ("not-found", _req("GET", "/missing.html"),
     b"GET /missing.html HTTP/1.1", 404),
    ("forbidden-directory", _req("GET", "/noindex/"),
     b"GET /noindex/ HTTP/1.1", 403),
    ("too-large-body", _req("POST", "/echo", body=b"b" * (2 * MAX_BODY)),
     b"POST /echo HTTP/1.1", 413),
    ("unknown-method", _req("BREW", "/pot"), b"BREW /pot HTTP/1.1", 501),
    ("unparseable-request-line", b"NONSENSE\r\n\r\n", b"-", 400),
    ("two-spaces-in-request-line", b"GET  /hello.txt HTTP/1.1\r\n\r\n",
     b"-", 400),
    ("cgi", _req("GET", "/cgi-bin/ok.sh?x=1"),
     b"GET /cgi-bin/ok.sh?x=1 HTTP/1.1", 200),
    ("cgi-bad-output", _req("GET", "/cgi-bin/garbage.sh"),
     b"GET /cgi-bin/garbage.sh HTTP/1.1", 502),
]


@pytest.mark.parametrize("data,logged_request,status", [
    pytest.param(d, r, s, id=i) for i, d, r, s in CASES])
def test_each_response_is_one_line_with_its_status_and_body_bytes(
        logged, data, logged_request, status):
    srv = logged()
    resp = exchange(srv.server, data)
    assert resp.status == status, (
        f"precondition: expected {status} for {data[:80]!r}:\n{resp}")
    head = data.startswith(b"HEAD ")
    want_bytes = 0 if head else len(resp.body)
    if data.startswith(b"GET /page.html "):
        assert want_bytes == PAGE_SIZE, resp.describe(80)

    [entry] = srv.access.entries(1)
    assert entry.addr == "127.0.0.1", f"client address: {entry.line!r}"
    check_time(entry)
    assert entry.request == logged_request, (
        f"request field: want {logged_request!r}, line {entry.line!r}")
    assert entry.status == resp.status, (
        f"status field: the response was {resp.status}, line {entry.line!r}")
    assert entry.bytes == want_bytes, (
        f"bytes field: {want_bytes} body bytes were sent "
        f"({'HEAD' if head else 'Content-Length ' + str(len(resp.body))}), "
        f"line {entry.line!r}")
    assert entry.referer == b"-" and entry.agent == b"-", (
        f"no Referer or User-Agent was sent: want \"-\" \"-\", "
        f"line {entry.line!r}")


def test_referer_and_user_agent_are_logged_as_sent(logged):
    srv = logged()
    resp = get(srv.server, "/hello.txt", headers=[
        ("Referer", "http://example.com/from?page=1"),
        ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) test/1.0")])
    assert resp.status == 200, resp.describe()
    [entry] = srv.access.entries(1)
    assert entry.referer == b"http://example.com/from?page=1", entry.line
    assert entry.agent == b"Mozilla/5.0 (X11; Linux x86_64) test/1.0", (
        entry.line)
    assert entry.line.endswith(
        b' 200 6 "http://example.com/from?page=1" '
        b'"Mozilla/5.0 (X11; Linux x86_64) test/1.0"'), entry.line


def test_every_request_on_a_keepalive_connection_is_logged_in_order(logged):
    srv = logged()
    targets = ["/hello.txt?n=1", "/missing?n=2", "/page.html?n=3",
               "/hello.txt?n=4", "/hello.txt?n=5"]
    deadline = Deadline(5)
    statuses = []
    with srv.server.connect(timeout=5) as sock:
        # Two one at a time, then three pipelined in one send.
        for target in targets[:2]:
            assert send_all(sock, build_request("GET", target))
            statuses.append(read_response(sock, deadline=deadline).status)
        assert send_all(sock, b"".join(
            build_request("GET", t) for t in targets[2:]))
        buffered = b""
        for _ in targets[2:]:
            resp = read_response(sock, deadline=deadline, buffered=buffered)
            statuses.append(resp.status)
            buffered = resp.extra
    assert statuses == [200, 404, 200, 200, 200], statuses
    entries = srv.access.entries(5)
    got = [(e.target, e.status) for e in entries]
    want = [(t.encode(), s) for t, s in zip(targets, statuses)]
    assert got == want, f"5 requests on one connection:\n{srv.access.show()}"


def test_an_existing_access_log_is_appended_to_not_truncated(logged,
                                                             tmp_path):
    old = b'10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" ' \
          b'200 1 "-" "-"\n'
    (tmp_path / "etc" / "logs").mkdir(parents=True, exist_ok=True)
    (tmp_path / "etc" / "logs" / "access.log").write_bytes(old)
    srv = logged()
    assert get(srv.server, "/hello.txt").status == 200
    lines = srv.access.wait_exactly(2)
    assert lines[0] + b"\n" == old, (
        f"the earlier line is gone:\n{srv.access.show()}")
    assert Entry.parse(lines[1]).target == b"/hello.txt"


def test_without_access_log_requests_write_nothing_to_stdout_or_stderr(
        start_server, site):
    server = start_server("-r", site)
    for target in ("/hello.txt", "/missing"):
        get(server, target)
    ready = server.stdout_bytes()
    assert ready.count(b"\n") == 1, f"stdout after the ready line: {ready!r}"
    assert server.stderr_text() == "", (
        f"stderr without logs configured: {server.stderr_text()!r}")


# --- escaping: no line can be broken or forged ------------------------------


def test_quotes_and_backslashes_in_user_agent_and_referer_are_escaped(
        logged):
    srv = logged()
    # A User-Agent trying to end the field and forge a status.
    agent = b'evil" 200 99999 "http://forged/" "x\\y\tz\xc3\xa9'
    referer = b'http://a/"quoted"\\'
    data = (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: " + agent +
            b"\r\nReferer: " + referer + b"\r\nConnection: close\r\n\r\n")
    resp = exchange(srv.server, data)
    assert resp.status == 200, resp.describe()
    [line] = srv.access.wait_exactly(1)
    entry = Entry.parse(line)  # a raw " would not match the field pattern
    assert entry.status == 200 and entry.bytes == len(HELLO), line
    assert entry.agent == agent, (
        f"User-Agent {agent!r} logged as {entry.agent!r}: {line!r}")
    assert entry.referer == referer, (
        f"Referer {referer!r} logged as {entry.referer!r}: {line!r}")
    for raw, escaped in ((b'"', b"\\x22"), (b"\\", b"\\x5c"),
                         (b"\t", b"\\x09"), (b"\xc3", b"\\xc3")):
        assert escaped in line.lower(), (
            f"{raw!r} should appear as {escaped!r}: {line!r}")


def test_quote_and_backslash_in_the_target_are_escaped(logged):
    srv = logged()
    target = b'/no"such\\file?q="1"'
    resp = exchange(srv.server, b"GET " + target +
                    b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    [line] = srv.access.wait_exactly(1)
    entry = Entry.parse(line)
    assert entry.request == b"GET " + target + b" HTTP/1.1", (
        f"target {target!r}: {line!r}")
    assert entry.status == resp.status, f"response {resp.status}: {line!r}"
    assert b'\\x22' in line.lower() and b'\\x5c' in line.lower(), line


def test_bytes_above_ascii_in_the_target_are_never_logged_raw(logged):
    srv = logged()
    target = b"/caf\xc3\xa9.txt?q=\xff"
    resp = exchange(srv.server, b"GET " + target +
                    b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    [line] = srv.access.wait_exactly(1)
    assert all(0x20 <= b < 0x7f for b in line), (
        f"a raw byte outside printable ASCII in the log: {line!r}")
    entry = Entry.parse(line)
    assert resp.status == entry.status == 404, (
        f"response {resp.status}: {line!r}")
    # Logged escaped, and the same bytes once unescaped.
    assert entry.request == b"GET " + target + b" HTTP/1.1", (
        f"target {target!r} logged as {entry.raw_request!r}")


# --- a real consumer: goaccess ----------------------------------------------


def test_goaccess_parses_every_line_and_counts_every_request(
        logged, tmp_path):
    srv = logged()
    sent = []  # (status, body bytes)
    jobs = (
        [("GET", "/hello.txt", b"")] * 5
        + [("GET", "/page.html?x=1", b""), ("HEAD", "/page.html", b""),
           ("GET", "/missing", b""), ("GET", "/noindex/", b""),
           ("POST", "/echo", b"p" * 100), ("POST", "/echo", b"p" * 3000),
           ("GET", "/cgi-bin/ok.sh", b""), ("BREW", "/pot", b"")])
    for method, target, body in jobs:
        resp = request(srv.server, method, target, body=body, headers=[
            ("User-Agent", 'Mozilla/5.0 "quoted" \\ agent'),
            ("Referer", "http://example.com/")])
        sent.append((resp.status, 0 if method == "HEAD" else len(resp.body)))
    for raw in (b"NONSENSE\r\n\r\n",
                b'GET /a"b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'):
        resp = exchange(srv.server, raw)
        sent.append((resp.status, len(resp.body)))
    n = len(sent)
    srv.access.wait_exactly(n)

    out = tmp_path / "report.json"
    invalid = tmp_path / "invalid.txt"
    result = run_program(
        [GOACCESS, srv.access.path, "--log-format=COMBINED",
         "--no-global-config", "-o", out, f"--invalid-requests={invalid}"],
        timeout=8)
    assert result.returncode == 0 and out.exists(), (
        f"goaccess failed:\n{describe_run(result)}")
    report = json.loads(out.read_text())
    general = report["general"]
    bad = invalid.read_text(errors="replace") if invalid.exists() else ""
    shown = (f"goaccess general: {general}\nlines goaccess refused:\n"
             f"{bad or '(none)'}\n{srv.access.show()}")
    assert general["failed_requests"] == 0, shown
    assert general["total_requests"] == n, f"{n} requests made\n{shown}"
    assert general["valid_requests"] == n, f"{n} requests made\n{shown}"
    assert general["bandwidth"] == sum(b for _, b in sent), (
        f"body bytes sent {sum(b for _, b in sent)}\n{shown}")
    hits = {}
    for group in report["status_codes"]["data"]:
        for item in group["items"]:
            hits[int(item["data"].split()[0])] = item["hits"]["count"]
    want = {}
    for status, _ in sent:
        want[status] = want.get(status, 0) + 1
    assert hits == want, (
        f"goaccess's hits per status {hits}, responses {want}\n{shown}")


# --- concurrency: whole lines only ------------------------------------------


def test_20_concurrent_clients_x_10_requests_leave_200_whole_lines(logged):
    srv = logged()
    clients, per_client = 20, 10
    start = threading.Barrier(clients)
    errors, done = [], []

    def client(c):
        # A long User-Agent makes each line a few KiB, so a line written
        # in pieces would interleave with another client's.
        agent = f"client-{c:02d}-" + chr(ord("a") + c) * 2500
        try:
            start.wait(5)
            deadline = Deadline(8)
            with srv.server.connect(timeout=8) as sock:
                for r in range(per_client):
                    last = r == per_client - 1
                    headers = [("User-Agent", agent)]
                    if last:
                        headers.append(("Connection", "close"))
                    target = f"/hello.txt?client={c}&request={r}"
                    if not send_all(sock, build_request("GET", target,
                                                        headers)):
                        raise AssertionError(f"{target}: server closed")
                    resp = read_response(sock, deadline=deadline)
                    if resp.status != 200:
                        raise AssertionError(f"{target}: {resp}")
                    done.append((c, r))
        except Exception as e:  # reported by the main thread
            errors.append(f"client {c}: {e!r}")

    threads = [threading.Thread(target=client, args=(c,))
               for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(9)
    assert not errors, "\n".join(errors[:5])
    assert len(done) == clients * per_client, f"{len(done)} responses"

    lines = srv.access.wait_exactly(clients * per_client)
    seen = {}
    for line in lines:
        m = COMBINED.fullmatch(line)
        assert m, (f"a broken or interleaved line ({len(line)} bytes): "
                   f"{line[:150]!r}...{line[-150:]!r}")
        entry = Entry.parse(line)
        q = re.fullmatch(rb"GET /hello\.txt\?client=(\d+)&request=(\d+) "
                         rb"HTTP/1\.1", entry.request)
        assert q, f"unexpected request in {line[:200]!r}"
        c = int(q.group(1))
        assert entry.agent == (f"client-{c:02d}-".encode() +
                               bytes([ord("a") + c]) * 2500), (
            f"client {c}'s line has another User-Agent: {line[:200]!r}")
        key = (c, int(q.group(2)))
        seen[key] = seen.get(key, 0) + 1
    twice = [k for k, v in seen.items() if v > 1]
    missing = sorted(set(done) - set(seen))
    assert not twice and not missing, (
        f"logged twice: {twice[:10]}; never logged: {missing[:10]}")


# --- the error log ----------------------------------------------------------


def test_a_runtime_error_is_a_timestamped_error_line_in_the_error_log(
        logged):
    srv = logged(args=("-x", "/nonexistent/php-cgi"))
    before = srv.server.stderr_text()
    resp = get(srv.server, "/t.php")
    assert resp.status == 502, f"php-cgi missing:\n{resp}"
    resp = get(srv.server, "/cgi-bin/garbage.sh")
    assert resp.status == 502, f"a script writing garbage:\n{resp}"

    srv.error.wait_for(b"garbage.sh")
    srv.error.wait_for(b"t.php")
    parsed = error_lines(srv.error)
    for needle in (b"t.php", b"garbage.sh"):
        [(line, m)] = [(ln, m) for ln, m in parsed if needle in ln]
        assert m["level"] == b"error", f"level of {line!r}"
        when = time.mktime(time.strptime(m["time"].decode(),
                                         "%Y/%m/%d %H:%M:%S"))
        assert abs(when - time.time()) < 120, (
            f"the time is not now (local time): {line!r}")
    after = srv.server.stderr_text()
    assert after == before, (
        f"with error_log set, runtime errors went to stderr too: "
        f"{after[len(before):]!r}")
    # The access log still has both requests.
    assert [e.status for e in srv.access.entries(2)] == [502, 502]


def test_without_error_log_runtime_errors_stay_on_stderr(logged):
    srv = logged(error=False)
    resp = get(srv.server, "/cgi-bin/garbage.sh")
    assert resp.status == 502, resp.describe()
    found = wait_until(lambda: "garbage.sh" in srv.server.stderr_text(), 5)
    assert found, (f"no error naming garbage.sh on stderr: "
                   f"{srv.server.stderr_text()!r}")
    assert not srv.error.path.exists(), f"{srv.error} was created"


def test_cgi_stderr_lands_in_the_error_log(logged):
    srv = logged()
    marker = uuid.uuid4().hex
    resp = get(srv.server, f"/cgi-bin/stderr.sh?{marker}")
    assert resp.status == 200 and resp.body == b"wrote stderr\n", (
        resp.describe())
    srv.error.wait_for(f"from the script: {marker}".encode())
    assert marker not in srv.server.stderr_text(), (
        f"the script's stderr went to the server's original stderr:\n"
        f"{srv.server.stderr_text()!r}")


@pytest.mark.needs("keepalive")
def test_a_request_pipelined_while_a_script_runs_leaves_its_line_intact(
        logged, site):
    """While a script runs, the next request arrives on the same
    connection, with a head large enough that the server's input buffer
    must grow. The script's answer and its log line still describe the
    first request: its method, target and User-Agent were read from the
    input before it grew."""
    srv = logged()
    second = build_request("GET", "/hello.txt",
                           headers=[("User-Agent", "second"),
                                    ("X-Pad", "p" * 6000)])
    with srv.server.connect(timeout=5) as sock:
        send_all(sock, build_request(
            "GET", "/cgi-bin/wait.sh?first",
            headers=[("User-Agent", "agent-of-the-first")]))
        assert wait_until(lambda: any(
            st["comm"] == "wait.sh" for st in children_of(srv.server.pid)),
            timeout=3), "the script never started"
        send_all(sock, second)
        # A server that reads on while a script runs takes the second
        # request now; one that does not (a thread, a loop blocked in the
        # script) leaves it in the kernel: then the wait simply ends.
        client_port = sock.getsockname()[1]
        wait_until(lambda: tcp_socket(srv.server.port, client_port)[2] == 0,
                   timeout=1)
        (site / "cgi-bin" / "go").touch()
        deadline = Deadline(5)
        first = read_response(sock, deadline=deadline)
        then = read_response(sock, deadline=deadline, buffered=first.extra)
    assert first.status == 200 and first.body == b"waited\n", first.describe()
    assert then.status == 200 and then.body == HELLO, then.describe()
    entries = srv.access.entries(2)
    assert entries[0].request == b"GET /cgi-bin/wait.sh?first HTTP/1.1", (
        f"the script's line names another request: {entries[0].line!r}")
    assert entries[0].agent == b"agent-of-the-first", entries[0].line


def test_a_configuration_error_goes_to_stderr_not_to_the_error_log(
        run_server, tmp_path, site):
    (tmp_path / "logs").mkdir()
    conf = write_conf(tmp_path / "server.conf", f"""
        error_log = logs/error.log
        root = {site}
        colour = blue
        """)
    result = run_server(["-b", "127.0.0.1", "-p", "0", "-c", str(conf)],
                        timeout=3)
    why = describe_run(result)
    assert result.returncode == 2, why
    assert result.stderr.startswith(f"server: {conf}:3: "), why
    log = LogFile(tmp_path / "logs" / "error.log")
    assert log.data() == b"", (
        f"an error before startup belongs on stderr only\n{log.show()}")


# --- log_level --------------------------------------------------------------


def rename_and_reopen(srv, old_path, info):
    """Renames the access log to old_path, sends SIGHUP and waits for the
    reopen: the "logs reopened" info line when info is True, otherwise a
    line in a new access log at the original path (making requests until
    one comes)."""
    os.rename(srv.access.path, old_path)
    os.kill(srv.server.pid, signal.SIGHUP)
    if info:
        srv.error.wait_for(b"logs reopened")
        return

    def reopened():
        if srv.server.proc.poll() is not None:
            return True
        get(srv.server, "/hello.txt?after-sighup")
        return srv.access.lines()

    assert wait_until(reopened, 5, interval=0.05), (
        f"no line in a new {srv.access} within 5 s of SIGHUP")
    assert srv.server.proc.poll() is None, (
        f"SIGHUP ended the server\n{srv.server.describe()}")


def test_log_level_info_logs_the_reopen_on_sighup(logged, tmp_path):
    srv = logged("log_level = info")
    assert get(srv.server, "/hello.txt").status == 200
    srv.access.wait_exactly(1)
    rename_and_reopen(srv, tmp_path / "access.log.1", info=True)
    infos = [(ln, m) for ln, m in error_lines(srv.error)
             if b"logs reopened" in ln]
    assert infos and infos[0][1]["level"] == b"info", (
        f"'logs reopened' should be an [info] line\n{srv.error.show()}")


@pytest.mark.parametrize("level", [None, "error", "warn"],
                         ids=["default", "error", "warn"])
def test_below_info_level_the_reopen_is_not_logged(logged, tmp_path, level):
    srv = logged(*([f"log_level = {level}"] if level else []))
    rename_and_reopen(srv, tmp_path / "access.log.1", info=False)
    # An error after the reopen: once its line is there, an info line
    # about the reopen would be too.
    assert get(srv.server, "/cgi-bin/garbage.sh").status == 502
    srv.error.wait_for(b"garbage.sh")
    levels = {m["level"] for _, m in error_lines(srv.error)}
    allowed = {b"error", b"warn"} if level == "warn" else {b"error"}
    assert levels <= allowed, (
        f"log_level = {level or '(default) error'}: levels {levels}\n"
        f"{srv.error.show()}")


# --- SIGHUP: reopen by name, no line lost -----------------------------------


def test_sighup_after_rename_sends_new_lines_to_a_new_file(logged,
                                                           tmp_path):
    srv = logged("log_level = info")
    rotated = tmp_path / "etc" / "logs" / "access.log.1"
    for i in range(3):
        assert get(srv.server, f"/hello.txt?before-rename={i}").status == 200
    srv.access.wait_exactly(3)
    os.rename(srv.access.path, rotated)
    old = LogFile(rotated)
    # Until the signal the server still writes to the file it has open.
    for i in range(2):
        assert get(srv.server, f"/hello.txt?renamed={i}").status == 200
    old.wait_exactly(5)
    assert not srv.access.path.exists(), (
        f"{srv.access} came back before SIGHUP")

    os.kill(srv.server.pid, signal.SIGHUP)
    srv.error.wait_for(b"logs reopened")
    for i in range(4):
        assert get(srv.server, f"/hello.txt?after={i}").status == 200
    new_targets = [e.target for e in srv.access.entries(4)]
    assert new_targets == [f"/hello.txt?after={i}".encode()
                           for i in range(4)], srv.show()
    old_targets = [Entry.parse(ln).target for ln in old.wait_exactly(5)]
    assert old_targets == (
        [f"/hello.txt?before-rename={i}".encode() for i in range(3)]
        + [f"/hello.txt?renamed={i}".encode() for i in range(2)]), (
        f"the rotated file changed after SIGHUP\n{old.show()}")


def test_sighup_under_load_loses_and_doubles_no_line(logged, tmp_path):
    srv = logged("log_level = info")
    rotated = LogFile(tmp_path / "etc" / "logs" / "access.log.1")
    stop = threading.Event()
    reopened = threading.Event()
    lock = threading.Lock()
    made = []  # (target, started after the reopen was confirmed)
    errors = []

    def client(c):
        try:
            for r in range(10_000):
                if stop.is_set():
                    return
                after = reopened.is_set()
                target = f"/hello.txt?c={c}&r={r}"
                resp = get(srv.server, target, timeout=5)
                if resp.status != 200:
                    raise AssertionError(f"{target}: {resp}")
                with lock:
                    made.append((target.encode(), after))
        except Exception as e:  # reported by the main thread
            errors.append(f"client {c}: {e!r}")

    threads = [threading.Thread(target=client, args=(c,)) for c in range(4)]
    for t in threads:
        t.start()
    try:
        assert wait_until(lambda: len(made) >= 40 or errors, 5), (
            f"only {len(made)} requests in 5 s")
        os.rename(srv.access.path, rotated.path)
        n = len(made)
        assert wait_until(lambda: len(made) >= n + 40 or errors, 5)
        os.kill(srv.server.pid, signal.SIGHUP)
        srv.error.wait_for(b"logs reopened")
        reopened.set()
        n = len(made)
        assert wait_until(lambda: len(made) >= n + 40 or errors, 5)
    finally:
        stop.set()
        for t in threads:
            t.join(6)
    assert not errors, "\n".join(errors[:5])

    total = len(made)
    wait_until(lambda: len(rotated.lines()) + len(srv.access.lines())
               >= total, 3)
    old = [Entry.parse(ln).target for ln in rotated.lines()]
    new = [Entry.parse(ln).target for ln in srv.access.lines()]
    logged_targets = old + new
    doubled = sorted(t for t, k in Counter(logged_targets).items() if k > 1)
    lost = sorted({t for t, _ in made} - set(logged_targets))
    assert not doubled and not lost and len(logged_targets) == total, (
        f"{total} responses, {len(old)} lines in the rotated file + "
        f"{len(new)} in the new one; never logged: {lost[:5]}; "
        f"logged twice: {doubled[:5]}")
    in_old = set(old)
    late_in_old = [t for t, after in made if after and t in in_old]
    assert not late_in_old, (
        f"requests made after the reopen went to the rotated file: "
        f"{late_in_old[:5]}")
    assert new, "no line in the new file"


def test_sighup_reopens_the_error_log_and_cgi_stderr_follows(logged,
                                                            tmp_path):
    srv = logged("log_level = info")
    assert get(srv.server, "/cgi-bin/garbage.sh").status == 502
    srv.error.wait_for(b"garbage.sh")
    rotated = LogFile(tmp_path / "etc" / "logs" / "error.log.1")
    os.rename(srv.error.path, rotated.path)
    os.kill(srv.server.pid, signal.SIGHUP)
    assert wait_until(lambda: b"logs reopened" in srv.error.data() or
                      b"logs reopened" in rotated.data(), 5), (
        f"no 'logs reopened' after SIGHUP\n{rotated.show()}\n"
        f"{srv.error.show()}")

    marker = uuid.uuid4().hex
    resp = get(srv.server, f"/cgi-bin/stderr.sh?{marker}")
    assert resp.status == 200, resp.describe()
    srv.error.wait_for(marker.encode())
    assert marker.encode() not in rotated.data(), (
        f"CGI stderr still goes to the rotated file (fd 2 not re-pointed)"
        f"\n{rotated.show()}")
    assert get(srv.server, "/cgi-bin/garbage.sh").status == 502
    assert wait_until(
        lambda: srv.error.data().count(b"garbage.sh") == 1, 5), (
        f"the second garbage.sh error should be in the new error log only\n"
        f"{srv.error.show()}")
    assert rotated.data().count(b"garbage.sh") == 1, rotated.show()


def test_cgi_scripts_inherit_no_access_log_descriptor_before_or_after_sighup(
        logged):
    # A script holding the access log open could write lines no request
    # made, and would keep a rotated file alive; only fd 2, the error log,
    # is meant for scripts.
    srv = logged("log_level = info")
    access = str(srv.access.path)

    def leaked(when):
        resp = get(srv.server, "/cgi-bin/fds.sh")
        assert resp.status == 200, resp.describe()
        fds = resp.text().splitlines()
        return [f"{when}: fd {line}" for line in fds if access in line]

    found = leaked("before SIGHUP")
    os.kill(srv.server.pid, signal.SIGHUP)
    srv.error.wait_for(b"logs reopened")
    found += leaked("after SIGHUP")
    assert not found, (
        f"a CGI script inherited the access log: {found} (close-on-exec "
        f"lost, as dup2 clears FD_CLOEXEC on the descriptor it replaces?)")


def test_a_daemon_with_a_relative_config_path_logs_and_reopens_there(
        stage, tmp_path, site):
    # -c etc/server.conf from tmp_path: logs/... are etc/logs/..., even
    # after the daemon has changed directory to "/".
    etc = tmp_path / "etc"
    (etc / "logs").mkdir(parents=True)
    write_conf(etc / "server.conf", f"""
        root = {site}
        access_log = logs/access.log
        error_log = logs/error.log
        log_level = info
        pidfile = {tmp_path / "server.pid"}
        """)
    access = LogFile(etc / "logs" / "access.log")
    error = LogFile(etc / "logs" / "error.log")
    argv = [str(stage.server), "-b", "127.0.0.1", "-p", "0", "-d",
            "-c", "etc/server.conf"]
    result = run_program(argv, timeout=5, cwd=tmp_path)
    pidfile = tmp_path / "server.pid"
    pid = None
    try:
        assert result.returncode == 0, (
            f"the daemon did not start:\n{describe_run(result)}")
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", result.stdout)
        assert m, f"no ready line:\n{describe_run(result)}"
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        assert text.isdigit(), f"pidfile holds {text!r}"
        pid = int(text)

        class At:
            def connect(self, timeout):
                return socket.create_connection(
                    ("127.0.0.1", int(m.group(1))), timeout)

        server = At()
        assert get(server, "/hello.txt").status == 200
        access.wait_exactly(1)
        os.rename(access.path, etc / "logs" / "access.log.1")
        os.kill(pid, signal.SIGHUP)
        made = []

        def reopened():  # a request until one is logged in a new file
            made.append(get(server, f"/hello.txt?after={len(made)}"))
            return access.lines()

        assert wait_until(reopened, 3, interval=0.05), (
            f"no line in a new {access} within 3 s of SIGHUP: the daemon "
            f"runs in '/', where a path taken relative to the working "
            f"directory would be wrong")

        assert get(server, "/cgi-bin/garbage.sh").status == 502
        error.wait_for(b"garbage.sh", timeout=3)
    finally:
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if not wait_gone(pid, 5):
                os.kill(pid, signal.SIGKILL)


def test_sighup_without_logs_configured_does_not_end_the_server(
        start_server, site):
    server = start_server("-r", site)
    os.kill(server.pid, signal.SIGHUP)
    for i in range(3):
        try:
            resp = get(server, "/hello.txt")
        except (AssertionError, OSError) as e:
            raise AssertionError(
                f"after SIGHUP: {e!r}\n{server.describe()}") from None
        assert resp.status == 200, resp.describe()
    assert server.proc.poll() is None, server.describe()


# --- configuration mistakes -------------------------------------------------


@pytest.mark.parametrize("check", [False, True], ids=["start", "check-t"])
def test_an_unknown_log_level_is_exit_2_with_file_and_line(
        run_server, tmp_path, site, check):
    conf = write_conf(tmp_path / "server.conf", f"""
        # logging
        root = {site}
        log_level = loud
        """)
    args = ["-b", "127.0.0.1", "-p", "0", "-c", str(conf)]
    result = run_server((["-t"] if check else []) + args, timeout=3)
    why = describe_run(result)
    assert result.returncode == 2, f"expected exit 2:\n{why}"
    assert result.stderr.count("\n") == 1, f"expected one line:\n{why}"
    assert result.stderr == (
        f"server: {conf}:3: log_level is error, warn or info\n"), why


def start_with_log(run_server, tmp_path, site, key, path):
    """Runs the server with `key = path` in its file, expecting it to exit:
    returns the CompletedProcess and its description."""
    conf = write_conf(tmp_path / "server.conf", f"""
        root = {site}
        {key} = {path}
        """)
    result = run_server(["-b", "127.0.0.1", "-p", "0", "-c", str(conf)],
                        timeout=3)
    return result, describe_run(result)


@pytest.mark.parametrize("key", ["access_log", "error_log"])
def test_a_log_in_a_missing_directory_is_exit_2_naming_the_path(
        run_server, tmp_path, site, key):
    path = "/nonexistent/dir/a.log"
    result, why = start_with_log(run_server, tmp_path, site, key, path)
    assert result.returncode == 2, f"expected exit 2:\n{why}"
    assert result.stderr.count("\n") == 1, f"expected one line:\n{why}"
    assert result.stderr.startswith("server: ") and path in result.stderr, (
        f"the message should name {path}:\n{why}")
    assert "listening on" not in result.stdout, why


# open(2) of a FIFO for writing waits until a process opens it for reading:
# a log naming a FIFO nobody reads must be an error at once, not a server
# that hangs, deaf to SIGTERM.
@pytest.mark.parametrize("key", ["access_log", "error_log"])
def test_a_fifo_that_no_process_reads_is_exit_2_at_once_not_a_hang(
        run_server, tmp_path, site, key):
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    result, why = start_with_log(run_server, tmp_path, site, key, fifo)
    assert result.returncode == 2, f"expected exit 2:\n{why}"
    assert result.stderr == (
        f"server: log {fifo}: a FIFO that no process reads\n"), why


def test_a_fifo_with_a_reader_gets_the_access_lines(start_server, tmp_path,
                                                    site):
    fifo = tmp_path / "access.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        conf = write_conf(tmp_path / "server.conf", f"""
            root = {site}
            access_log = {fifo}
            """)
        server = start_server("-c", conf)
        assert get(server, "/hello.txt?through-a-fifo").status == 200
        received = b""

        def line_came():
            nonlocal received
            try:
                received += os.read(reader, 65536)
            except BlockingIOError:
                pass
            return received.endswith(b"\n")

        assert wait_until(line_came, 5, interval=0.02), (
            f"no access line through the FIFO within 5 s: {received!r}")
        assert Entry.parse(received.rstrip(b"\n")).target == (
            b"/hello.txt?through-a-fifo"), received
    finally:
        os.close(reader)


def test_sighup_when_the_log_became_a_fifo_nobody_reads_keeps_serving(
        logged, tmp_path):
    srv = logged()
    assert get(srv.server, "/hello.txt?before").status == 200
    srv.access.wait_exactly(1)
    rotated = LogFile(tmp_path / "access.log.1")
    os.rename(srv.access.path, rotated.path)
    os.mkfifo(srv.access.path)
    os.kill(srv.server.pid, signal.SIGHUP)
    srv.error.wait_for(
        f"reopen {srv.access.path}: a FIFO that no process reads".encode())
    assert get(srv.server, "/hello.txt?after", timeout=3).status == 200
    # A reopen that fails keeps the old file.
    targets = [Entry.parse(ln).target for ln in rotated.wait_exactly(2)]
    assert targets == [b"/hello.txt?before", b"/hello.txt?after"], (
        rotated.show())
    assert srv.server.stop() == 0, srv.server.describe()


def test_relative_log_paths_are_taken_from_the_files_directory(logged,
                                                               tmp_path):
    srv = logged()  # logs/… in etc/server.conf; the server runs in cwd/
    assert get(srv.server, "/hello.txt").status == 200
    assert srv.access.wait_exactly(1)
    assert not (tmp_path / "cwd" / "logs").exists(), (
        "logs/ was taken from the working directory")

"""HTTP over raw sockets for the shared suite: build a request byte for byte,
send it, read one response by its Content-Length, all against deadlines.

Raw sockets rather than http.client or curl wherever the test is about what
the server does with exact bytes: both clients normalise paths, add headers
and refuse to send malformed requests, which is precisely what the parser
and the path checks must be tested with.
"""

import email.utils
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field

from util import Deadline

DEFAULT_TIMEOUT = 5.0
MAX_HEAD = 64 * 1024  # a response head larger than this is a server bug

# IMF-fixdate, RFC 9110 section 5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT".
IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} GMT"
)

# RFC 9110 section 15: the reason phrase of every status a stage's own code
# sends (a script's Status: gets the server's phrase, not the script's).
REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content",
    301: "Moved Permanently", 302: "Found", 303: "See Other",
    304: "Not Modified", 307: "Temporary Redirect", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
    410: "Gone", 413: "Content Too Large", 414: "URI Too Long",
    416: "Range Not Satisfiable", 422: "Unprocessable Content",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list  # [(name, value)] in the order received
    body: bytes
    head: bytes  # the raw status line and headers, for failure messages
    closed: bool = False  # the server closed right after this response
    extra: bytes = field(default=b"", repr=False)  # bytes past the body

    def header(self, name, default=None):
        """The first value of header name (any case), or default."""
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def header_names(self):
        return {n.lower() for n, _ in self.headers}

    @property
    def media_type(self):
        """Content-Type before any parameters, lower case ("text/html")."""
        value = self.header("Content-Type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip().lower()

    def text(self):
        return self.body.decode("utf-8", "replace")

    def describe(self, body_bytes=400):
        """The response as a failure message shows it."""
        shown = self.body[:body_bytes]
        more = len(self.body) - len(shown)
        tail = f"... ({more} more bytes)" if more else ""
        return (
            self.head.decode("latin-1").rstrip("\r\n")
            + "\n\n"
            + shown.decode("utf-8", "replace")
            + tail
        )

    def __str__(self):
        return self.describe()


class NoResponse(AssertionError):
    """The server sent no complete response in time; says what did come."""

    def __init__(self, why, got):
        shown = got[:600].decode("latin-1")
        super().__init__(f"{why}; received {len(got)} bytes: {shown!r}")
        self.why, self.got = why, got

    @property
    def closed_unanswered(self):
        """The server closed or reset the connection before any byte of a
        response (rather than stalling, or cutting one short)."""
        return not self.got and not self.why.startswith("timed out")


def build_request(
    method="GET",
    target="/",
    headers=(),
    body=b"",
    version="HTTP/1.1",
    host="127.0.0.1",
    content_length=True,
):
    """Bytes of one request. Host is added unless host is None or headers
    name one; Content-Length is added for a non-empty body unless headers
    name one or content_length is False."""
    if isinstance(body, str):
        body = body.encode()
    headers = list(headers)
    names = {n.lower() for n, _ in headers}
    if host is not None and "host" not in names:
        headers.insert(0, ("Host", host))
    if body and content_length and "content-length" not in names:
        headers.append(("Content-Length", str(len(body))))
    lines = [f"{method} {target} {version}"]
    lines += [f"{n}: {v}" for n, v in headers]
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1") + body


def padded(start, size, fill):
    """start followed by as many fill bytes as make size bytes in all."""
    return start + fill * (size - len(start))


# Heads one byte past the 8 KiB limits that never end: no LF after the
# request line, no empty line after the headers. That byte is all a server
# needs to answer 414 or 431; it must not wait for more, nor mistake its
# full input buffer for a client that left.
REQUEST_LINE_PAST_LIMIT = padded(b"GET /", 8193, b"a")
HEAD_PAST_LIMIT = padded(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ", 8193, b"b")


def send_all(sock, data):
    """Sends data; False if the server closed or reset before taking all
    of it (it may have answered early, so read its response anyway)."""
    try:
        sock.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def _recv(sock, deadline, got):
    if deadline.expired():
        raise NoResponse("timed out waiting for the response", bytes(got))
    sock.settimeout(max(deadline.left(), 0.01))
    try:
        return sock.recv(65536)
    except socket.timeout:
        raise NoResponse("timed out waiting for the response", bytes(got))
    except ConnectionResetError:
        raise NoResponse("connection reset by the server", bytes(got))


def parse_head(head):
    """(version, status, reason, headers) from a response head."""
    lines = head.decode("latin-1").split("\r\n")
    m = re.fullmatch(r"(HTTP/\d\.\d) (\d{3}) (.*)", lines[0])
    if m is None:
        raise NoResponse("malformed status line", head)
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise NoResponse(f"malformed header line {line!r}", head)
        headers.append((name, value.strip(" \t")))
    return m.group(1), int(m.group(2)), m.group(3), headers


def read_response(sock, head_request=False, timeout=DEFAULT_TIMEOUT,
                  deadline=None, buffered=b""):
    """Reads one response from sock: the head up to its empty line, then
    Content-Length bytes of body (none for HEAD, 1xx, 204, 304), or, with no
    Content-Length, everything until the server closes. Returns a Response;
    bytes read past its end are in .extra. Raises NoResponse on timeout,
    reset or a close before the response is complete."""
    deadline = deadline or Deadline(timeout)
    got = bytearray(buffered)
    while b"\r\n\r\n" not in got:
        if len(got) > MAX_HEAD:
            raise NoResponse("response head too long", bytes(got))
        chunk = _recv(sock, deadline, got)
        if not chunk:
            raise NoResponse("server closed before the head ended", bytes(got))
        got += chunk
    end = got.index(b"\r\n\r\n") + 4
    head, rest = bytes(got[:end]), bytes(got[end:])
    version, status, reason, headers = parse_head(head)
    resp = Response(version, status, reason, headers, b"", head)

    no_body = head_request or status < 200 or status in (204, 304)
    length = resp.header("Content-Length")
    body = bytearray(rest)
    if no_body:
        resp.extra = bytes(body)
        return resp
    if length is None:
        while True:
            chunk = _recv(sock, deadline, got + body)
            if not chunk:
                break
            body += chunk
        resp.body, resp.closed = bytes(body), True
        return resp
    if not length.isdigit():
        raise NoResponse(f"bad Content-Length {length!r}", head)
    n = int(length)
    while len(body) < n:
        chunk = _recv(sock, deadline, head + body)
        if not chunk:
            raise NoResponse(
                f"server closed after {len(body)} of {n} body bytes",
                head + bytes(body[:200]),
            )
        body += chunk
    resp.body, resp.extra = bytes(body[:n]), bytes(body[n:])
    return resp


def read_until_close(sock, timeout=2.0):
    """Reads whatever else comes until the server closes (EOF or reset).
    Returns (closed, data): closed is False if the connection was still
    open after timeout seconds."""
    deadline = Deadline(timeout)
    data = bytearray()
    while not deadline.expired():
        sock.settimeout(max(deadline.left(), 0.01))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            return True, bytes(data)
        if not chunk:
            return True, bytes(data)
        data += chunk
    return False, bytes(data)


def exchange(server, data, timeout=DEFAULT_TIMEOUT, check_close=True):
    """Connects, sends data (bytes of one request, or more), reads one
    response. With check_close, also notes whether the server then closed
    the connection (resp.closed) and keeps what else it sent (resp.extra).
    A server closes right after its response, so the wait is short: half a
    second when the response announced "Connection: close", a tenth
    otherwise (long enough to catch an unannounced close, short enough
    that a stage keeping connections alive does not pay for it in every
    test)."""
    if isinstance(data, str):
        data = data.encode("latin-1")
    head_request = data.lstrip(b"\r\n").startswith(b"HEAD ")
    deadline = Deadline(timeout)
    with server.connect(timeout=timeout) as sock:
        send_all(sock, data)
        resp = read_response(sock, head_request=head_request,
                             deadline=deadline)
        if check_close and not resp.closed:
            # Bytes after the response (a body sent in answer to HEAD, say)
            # land in resp.extra for the test to judge.
            announced = "close" in resp.header("Connection", "").lower()
            resp.closed, more = read_until_close(
                sock, min(0.5 if announced else 0.1, deadline.left()))
            resp.extra += more
        return resp


def request(server, method="GET", target="/", headers=(), body=b"",
            version="HTTP/1.1", timeout=DEFAULT_TIMEOUT, close=True,
            **kwargs):
    """exchange() of one request built by build_request(). With close (the
    default) it asks for "Connection: close", as a one-shot client should,
    so that stages with keep-alive close at once too."""
    headers = list(headers)
    if close and "connection" not in {n.lower() for n, _ in headers}:
        headers.append(("Connection", "close"))
    data = build_request(method, target, headers, body, version, **kwargs)
    return exchange(server, data, timeout=timeout)


def check_date(value):
    """Asserts value is an IMF-fixdate; returns it as a Unix time."""
    assert value is not None, "no date header"
    assert IMF_FIXDATE.fullmatch(value), f"not an IMF-fixdate: {value!r}"
    return email.utils.parsedate_to_datetime(value).timestamp()


def check_common(resp, head_request=False):
    """What every response carries: the status line, Date,
    Server, Content-Length, Content-Type with a body, Connection: close when
    the server closed."""
    msg = f"in response:\n{resp.describe()}"
    assert resp.version == "HTTP/1.1", f"status line version: {msg}"
    assert resp.reason.strip() and resp.reason.lower() != "unknown", (
        f"no reason phrase: {msg}")
    want = REASONS.get(resp.status)
    assert want is None or resp.reason == want, (
        f"reason phrase {resp.reason!r}, RFC 9110 says {want!r}: {msg}")
    assert resp.header("Server"), f"no Server header: {msg}"
    date = check_date(resp.header("Date"))
    assert abs(date - time.time()) < 300, f"Date is not now: {msg}"
    length = resp.header("Content-Length")
    assert length is not None and length.isdigit(), f"Content-Length: {msg}"
    assert len(resp.header_all("Content-Length")) == 1, msg
    if not head_request:
        assert int(length) == len(resp.body), f"Content-Length vs body: {msg}"
    if int(length) > 0:
        assert resp.header("Content-Type"), f"a body, no Content-Type: {msg}"
    assert resp.extra == b"", (
        f"{len(resp.extra)} bytes after the response "
        f"({'a body for HEAD' if head_request else 'past Content-Length'}): "
        f"{resp.extra[:200]!r}\n{msg}")
    if resp.closed:
        conn = (resp.header("Connection") or "").lower()
        assert "close" in conn, f"closed without Connection: close: {msg}"


def server_args(stage, tmp_path):
    """Arguments that start any HTTP stage: a document root (an index.html
    and hello.txt in tmp_path/root) for the stages that serve files, none
    for v06, which has no -r."""
    if "static" not in stage.features:
        return []
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    (root / "index.html").write_text("<!doctype html><title>t</title>ok\n")
    (root / "hello.txt").write_text("hello\n")
    return ["-r", str(root)]


def run_curl(*args, timeout=8.0):
    """curl with the given arguments; the CompletedProcess (bytes)."""
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", str(timeout),
         *args],
        capture_output=True, timeout=timeout + 2,
    )

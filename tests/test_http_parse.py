"""The HTTP parser and the response every HTTP stage sends:
bounded request lines and header sections, the syntax it accepts and
refuses, the headers every response carries. Plus v06's fixed page, which
v07 replaces with static files: those tests pick their expectation by the
stage's features instead of being skipped.

Requests go over raw sockets: curl and http.client would not send most of
these bytes."""

import socket
import time

import pytest

from http_util import (
    HEAD_PAST_LIMIT,
    REQUEST_LINE_PAST_LIMIT,
    Deadline,
    build_request,
    check_common,
    exchange,
    padded,
    read_response,
    request,
    send_all,
    server_args,
)

pytestmark = pytest.mark.needs("http")


@pytest.fixture
def server(start_server, stage, tmp_path):
    return start_server(*server_args(stage, tmp_path))


# (id, raw request, expected status). "/" is the fixed page on v06 and the
# root's index.html from v07, 200 either way.
SYNTAX_CASES = [
    ("crlf", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    ("bare-lf-line-endings", b"GET / HTTP/1.1\nHost: x\n\n", 200),
    ("lowercase-host-name", b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", 200),
    ("mixed-case-host-name", b"GET / HTTP/1.1\r\nhOsT: x\r\n\r\n", 200),
    ("http10-without-host", b"GET / HTTP/1.0\r\n\r\n", 200),
    ("ows-around-value", b"GET / HTTP/1.1\r\nHost:   x \t\r\n\r\n", 200),
    ("obs-fold-space",
     b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
    ("obs-fold-tab",
     b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", 400),
    # Chunked alone is read by v15 and 501 before (tests/test_chunked.py);
    # a coding no stage decodes is 501 everywhere.
    ("transfer-encoding-gzip-chunked",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked"
     b"\r\n\r\n0\r\n\r\n", 501),
    ("transfer-encoding-on-get",
     b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ("unknown-method-FOO", b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    ("unknown-method-BREW", b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    ("no-version-http09", b"GET /\r\n\r\n", 400),
    ("two-spaces-after-method", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("two-spaces-before-version",
     b"GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("space-inside-target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("control-char-in-target",
     b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("control-char-in-header-value",
     b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400),
    ("bare-cr-in-header-value",
     b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rX-B: b\r\n\r\n", 400),
    ("garbage-line", b"hello world\r\n\r\n", 400),
    ("binary-garbage", b"\x01\x02\x03 \xff\xfe \x00\r\n\r\n", 400),
    ("lowercase-version", b"GET / http/1.1\r\nHost: x\r\n\r\n", 400),
    ("version-without-minor", b"GET / HTTP/1\r\nHost: x\r\n\r\n", 400),
    ("header-without-colon",
     b"GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400),
    ("space-before-colon",
     b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad : y\r\n\r\n", 400),
    ("empty-header-name", b"GET / HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n", 400),
    ("http11-without-host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("http11-two-hosts",
     b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("host-with-a-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("host-with-a-slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    ("host-ipv6-with-port",
     b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200),
    ("http2-version", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("http3-version", b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    ("content-length-not-a-number",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    ("content-length-negative",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    ("content-length-plus-sign",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400),
    ("two-different-content-lengths",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
     b"Content-Length: 4\r\n\r\nabcd", 400),
    ("content-length-list",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd",
     400),
]


@pytest.mark.parametrize(
    "data,expected",
    [pytest.param(d, e, id=i) for i, d, e in SYNTAX_CASES],
)
def test_request_syntax_gets_the_status_the_contract_names(
        server, data, expected):
    resp = exchange(server, data)
    assert resp.status == expected, (
        f"sent {data!r}\nexpected {expected}, got:\n{resp.describe()}")
    check_common(resp)


def test_request_line_over_8_KiB_is_414(server):
    data = build_request("GET", "/?" + "a" * 9000)
    resp = exchange(server, data)
    assert resp.status == 414, resp.describe()
    check_common(resp)


UNFINISHED_HEADS = [
    pytest.param(REQUEST_LINE_PAST_LIMIT, 414, id="request-line-8193-no-lf"),
    pytest.param(HEAD_PAST_LIMIT, 431, id="head-8193-unfinished"),
]


@pytest.mark.parametrize("data,expected", UNFINISHED_HEADS)
def test_an_unfinished_head_one_byte_past_8_KiB_is_answered(
        server, data, expected):
    resp = exchange(server, data)
    assert resp.status == expected, resp.describe()
    check_common(resp)


def test_request_line_just_under_8_KiB_is_accepted(server):
    data = build_request("GET", "/?" + "a" * 8000)
    resp = exchange(server, data)
    assert resp.status == 200, resp.describe()


def head_of(size):
    """A complete HTTP/1.0 GET / head of exactly size bytes, its last CRLF
    included: an X-Pad header fills it."""
    return padded(b"GET / HTTP/1.0\r\nX-Pad: ", size - 4, b"p") + b"\r\n\r\n"


def request_line_of(size):
    """A head whose request line is size bytes, its CRLF excluded."""
    return padded(b"GET /?", size - 9, b"a") + b" HTTP/1.0\r\n\r\n"


# The limits are exact. A request line counts without its CRLF, a head with
# every CRLF up to the empty line's: so an 8192-byte request line is within
# its own limit but its head is not.
@pytest.mark.parametrize("data,expected", [
    pytest.param(head_of(8192), 200, id="head-8192"),
    pytest.param(head_of(8193), 431, id="head-8193"),
    pytest.param(request_line_of(8192), 431, id="request-line-8192"),
    pytest.param(request_line_of(8193), 414, id="request-line-8193"),
])
def test_the_8_KiB_limits_are_exact(server, data, expected):
    resp = exchange(server, data, check_close=False)
    line = data.index(b"\r\n")
    assert resp.status == expected, (
        f"sent a head of {len(data)} bytes, a request line of {line}; "
        f"expected {expected}, got:\n{resp.describe()}")
    check_common(resp)


def test_header_section_over_8_KiB_is_431(server):
    data = build_request("GET", "/", headers=[("X-Big", "b" * 9000)])
    resp = exchange(server, data)
    assert resp.status == 431, resp.describe()
    check_common(resp)


def test_many_small_headers_adding_up_past_8_KiB_is_431(server):
    headers = [(f"X-H{i}", "v" * 200) for i in range(45)]  # ~9.5 KiB
    resp = exchange(server, build_request("GET", "/", headers=headers))
    assert resp.status == 431, resp.describe()


def test_header_section_just_under_8_KiB_is_accepted(server):
    data = build_request("GET", "/", headers=[("X-Big", "b" * 7000)])
    resp = exchange(server, data)
    assert resp.status == 200, resp.describe()


def test_100_headers_are_accepted(server):
    headers = [(f"X-H{i}", "v") for i in range(99)]  # and Host: 100
    resp = exchange(server, build_request("GET", "/", headers=headers))
    assert resp.status == 200, resp.describe()


def test_101_headers_are_431(server):
    headers = [(f"X-H{i}", "v") for i in range(100)]  # and Host: 101
    resp = exchange(server, build_request("GET", "/", headers=headers))
    assert resp.status == 431, resp.describe()
    check_common(resp)


def test_body_over_1_MiB_is_413_before_the_body_is_sent(server):
    # Only the head goes out: a server that waited for the 100 MB body, or
    # read it, would time out here instead of answering.
    head = build_request("POST", "/echo",
                         headers=[("Content-Length", "100000000"),
                                  ("Content-Type", "text/plain")])
    started = time.monotonic()
    with server.connect(timeout=5) as sock:
        send_all(sock, head)
        resp = read_response(sock, timeout=3)
    assert resp.status == 413, resp.describe()
    assert time.monotonic() - started < 3
    check_common(resp)


def test_a_body_of_exactly_1_MiB_is_within_the_limit(server):
    # The limit is exact: this body is read, and the answer is the one to
    # POST / (no script or echo there), not 413.
    data = build_request("POST", "/", body=b"x" * (1 << 20),
                         headers=[("Content-Type", "text/plain")])
    resp = exchange(server, data, check_close=False)
    assert resp.status == 405, resp.describe()


def test_a_request_sent_one_byte_at_a_time_is_parsed(server):
    data = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n\r\n"
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            sock.sendall(data[i:i + 1])
        resp = read_response(sock, deadline=deadline)
    assert resp.status == 200, resp.describe()


def test_empty_lines_before_the_request_line_are_ignored(server):
    resp = exchange(server, b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 200, resp.describe()


def test_server_keeps_serving_after_clients_leave_mid_request(server):
    # One client half-sends and closes, one resets, one connects and says
    # nothing: none of them may take the server down or wedge it.
    with server.connect(timeout=5) as sock:
        sock.sendall(b"GET / HT")
    with server.connect(timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        b"\x01\x00\x00\x00\x00\x00\x00\x00")
    silent = server.connect(timeout=5)
    try:
        resp = request(server, "GET", "/")
        assert resp.status == 200, resp.describe()
    finally:
        silent.close()
    resp = request(server, "GET", "/")
    assert resp.status == 200, resp.describe()


# Requests across the statuses a stage can answer; every one of them must
# carry the contract's headers. "Connection: close" makes even a keep-alive
# stage close, so every response here must say so.
COMMON_CASES = [
    ("200-get", b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("400", b"GET  / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("405", b"DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("501", b"FOO / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("505", b"GET / HTTP/2.0\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("414", build_request("GET", "/" + "a" * 9000,
                          headers=[("Connection", "close")])),
    ("431", build_request("GET", "/", headers=[("Connection", "close"),
                                                ("X-Big", "b" * 9000)])),
]


@pytest.mark.parametrize(
    "data", [pytest.param(d, id=i) for i, d in COMMON_CASES])
def test_every_response_has_date_server_length_type_and_connection_close(
        server, data):
    resp = exchange(server, data)
    assert resp.closed, f"server kept the connection open after:\n{resp}"
    check_common(resp)


def test_head_response_has_the_contract_headers_and_no_body(server):
    resp = exchange(server, b"HEAD / HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
    assert resp.status == 200, resp.describe()
    check_common(resp, head_request=True)
    assert resp.extra == b"", f"HEAD answered with a body: {resp.extra!r}"
    assert int(resp.header("Content-Length")) > 0, resp.describe()


@pytest.mark.parametrize("data,expected", [
    pytest.param(b"HEAD / HTTP/1.1\r\n\r\n", 400, id="400-no-host"),
    pytest.param(b"HEAD / HTTP/1.1\r\nHost: x\r\nX-Bad : y\r\n\r\n", 400,
                 id="400-bad-header"),
    pytest.param(b"HEAD /echo HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 100000000\r\n\r\n", 413, id="413"),
    pytest.param(build_request("HEAD", "/", headers=[("X-Big", "b" * 9000)]),
                 431, id="431"),
])
def test_head_error_responses_have_no_body_either(server, data, expected):
    # RFC 9112 section 6.3: a response to HEAD ends with its header section,
    # whatever its status. Once connections are kept alive, a body here
    # would be read as the start of the next response.
    resp = exchange(server, data)
    assert resp.status == expected, resp.describe()
    assert resp.extra == b"", (
        f"HEAD got a {expected} with {len(resp.extra)} body bytes:\n"
        f"{resp.head.decode('latin-1')}{resp.extra[:200].decode('latin-1')}")
    check_common(resp, head_request=True)


def test_server_closes_after_a_response_it_does_not_keep_alive(
        server, stage):
    # Before v09 every response closes; from v09 an HTTP/1.0 request without
    # "Connection: keep-alive" still does.
    version = "HTTP/1.0" if "keepalive" in stage.features else "HTTP/1.1"
    resp = request(server, "GET", "/", version=version, close=False)
    assert resp.status == 200, resp.describe()
    assert resp.closed, f"connection still open after:\n{resp}"
    assert resp.header("Connection", "").lower() == "close", resp.describe()


# --- v06's fixed page; from v07 files are served instead ------------------


def test_get_answers_the_fixed_page_or_from_v07_the_file(server, stage):
    resp = request(server, "GET", "/hello.txt?q=1&r=2",
                   headers=[("X-Probe", "probe-value-42")])
    assert resp.status == 200, resp.describe()
    check_common(resp)
    if "static" in stage.features:
        assert resp.body == b"hello\n", resp.describe()
        return
    assert resp.media_type == "text/html", resp.describe()
    assert "<h1>Hello from v06</h1>" in resp.text(), resp.describe()


def test_http10_gets_what_http11_gets(server):
    resp = exchange(server, b"GET /hello.txt HTTP/1.0\r\n\r\n")
    assert resp.status == 200, resp.describe()
    want = request(server, "GET", "/hello.txt")
    assert resp.body == want.body, f"{resp.describe()}\n---\n{want}"


def test_markup_in_the_request_never_comes_back(server, stage):
    script = "<script>alert(1)</script>"
    svg = "<svg/onload=alert(2)>"
    resp = request(server, "GET", "/nope/" + svg,
                   headers=[("X-Attack", script)])
    body = resp.text()
    assert script not in body and svg not in body, (
        f"markup from the request came back:\n{resp}")
    want = 404 if "static" in stage.features else 200
    assert resp.status == want, resp.describe()


def test_head_has_the_headers_of_get_and_no_body(server):
    get = request(server, "GET", "/hello.txt")
    head = request(server, "HEAD", "/hello.txt")
    assert get.status == head.status == 200, f"{get}\n---\n{head}"
    check_common(head, head_request=True)
    assert head.extra == b"", f"HEAD answered with a body: {head.extra!r}"
    assert head.header_names() == get.header_names(), f"{get}\n---\n{head}"
    assert head.header("Content-Type") == get.header("Content-Type")
    assert head.header("Content-Length") == get.header("Content-Length")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_methods_other_than_get_and_head_get_405_with_allow(server, method):
    body = b"abc" if method != "DELETE" else b""
    resp = request(server, method, "/hello.txt", body=body,
                   headers=[("Content-Type", "text/plain")] if body else [])
    assert resp.status == 405, resp.describe()
    allow = resp.header("Allow")
    assert allow is not None, f"405 without Allow:\n{resp}"
    allowed = {m.strip() for m in allow.split(",")}
    assert "GET" in allowed and method not in allowed, resp.describe()
    check_common(resp)


def test_methods_are_case_sensitive_so_lowercase_get_is_refused(server):
    # RFC 9110 section 9.1: "get" is not GET but an unknown method: 501.
    resp = exchange(server, b"get / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 501, resp.describe()

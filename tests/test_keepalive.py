"""Persistent connections (v09+): HTTP/1.1 stays open
unless the request's Connection header lists "close", HTTP/1.0 only with
"Connection: keep-alive"; pipelined requests are answered in order; an idle
connection is closed after the keep-alive timeout (-k); the 1000th response
on one connection says "Connection: close". After a request the server could
not read whole (a parse error, 413) it answers and closes; after an ordinary
error (404, 405) the connection stays open and in step.

Raw sockets throughout: the point is which bytes come back on one
connection, and in which order."""

import os
import socket
import time

import pytest

from http_util import (
    Deadline,
    build_request,
    check_common,
    read_response,
    read_until_close,
    send_all,
)

pytestmark = pytest.mark.needs("keepalive")

NFILES = 20
MAX_REQUESTS = 1000  # requests on one connection before the server closes


def file_body(i):
    # Distinct content and a distinct length per file, so a response
    # answered out of order, or read at the wrong offset, cannot pass.
    return f"file {i:02d} ".encode() + b"x" * i + b"\n"


@pytest.fixture
def docroot(tmp_path):
    """index.html, hello.txt, f00.txt..f19.txt (file_body(i)), noindex/."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_bytes(b"<!doctype html><title>ka</title>\n")
    (root / "hello.txt").write_bytes(b"hello\n")
    for i in range(NFILES):
        (root / f"f{i:02d}.txt").write_bytes(file_body(i))
    (root / "noindex").mkdir()
    return root


@pytest.fixture
def server(start_server, docroot):
    return start_server("-r", str(docroot))


def get(target, version="HTTP/1.1", headers=(), method="GET"):
    return build_request(method, target, headers=headers, version=version)


def read_responses(sock, n, deadline, head=(), buffered=b""):
    """Reads n responses in a row from sock; head holds the indices of the
    ones that answer HEAD. Returns (responses, bytes read past the last)."""
    resps = []
    for i in range(n):
        try:
            resp = read_response(sock, head_request=i in head,
                                 deadline=deadline, buffered=buffered)
        except AssertionError as e:
            shown = "\n---\n".join(r.describe(80) for r in resps[-3:])
            raise AssertionError(
                f"response {i + 1} of {n}: {e}\n"
                f"last responses before it:\n{shown or '(none)'}") from None
        buffered, resp.extra = resp.extra, b""
        resps.append(resp)
    return resps, buffered


def connection_tokens(resp):
    """The Connection header's tokens, lower case."""
    return {t.strip().lower()
            for v in resp.header_all("Connection") for t in v.split(",")}


def assert_kept_open(resp):
    assert "close" not in connection_tokens(resp), (
        f"Connection: close on a connection that should stay open:\n{resp}")


def assert_still_open(sock, deadline, what):
    """A second request on sock gets a 200: the connection was kept."""
    sent = send_all(sock, get("/hello.txt"))
    assert sent, f"server closed the connection after {what}"
    try:
        resp = read_response(sock, deadline=deadline)
    except AssertionError as e:
        raise AssertionError(f"no answer to a request after {what}: {e}")
    assert resp.status == 200 and resp.body == b"hello\n", (
        f"after {what}, GET /hello.txt got:\n{resp}")
    assert resp.extra == b"", f"bytes past the response: {resp.extra!r}"
    return resp


def assert_closed_after(sock, resp, what, timeout=2.0):
    """The response says Connection: close and the server then closes,
    sending nothing more."""
    assert "close" in connection_tokens(resp), (
        f"{what}: no Connection: close in:\n{resp}")
    closed, more = read_until_close(sock, timeout)
    more = resp.extra + more
    assert closed, (
        f"{what}: connection still open {timeout} s after:\n{resp}")
    assert more == b"", (
        f"{what}: {len(more)} bytes after the closing response: "
        f"{more[:300]!r}\n(the response was:\n{resp})")


# --- many requests, pipelining ----------------------------------------------


def test_100_requests_one_after_another_on_one_connection(server):
    deadline = Deadline(8)
    with server.connect(timeout=8) as sock:
        for n in range(100):
            i = n % NFILES
            assert send_all(sock, get(f"/f{i:02d}.txt")), (
                f"server closed the connection before request {n + 1}")
            resp = read_response(sock, deadline=deadline)
            assert resp.status == 200, f"request {n + 1}:\n{resp}"
            assert resp.body == file_body(i), f"request {n + 1}:\n{resp}"
            assert resp.extra == b"", (
                f"request {n + 1}: bytes past Content-Length: "
                f"{resp.extra[:200]!r}")
            assert_kept_open(resp)
            check_common(resp)


def test_responses_on_a_kept_connection_do_not_wait_for_delayed_acks(
        server):
    # A response can leave in two writes, head then body. On a connection
    # that stays open nothing pushes the body out: Nagle's algorithm holds
    # it until the head is acknowledged, and the client delays that
    # acknowledgement (40 ms on Linux) hoping to send it with data. Measured
    # on v09 without TCP_NODELAY: 45 ms per request, so 40 requests take
    # 1.8 s; with it 0.25 ms, 10 ms for the 40. The 0.9 s deadline leaves
    # a sanitized build under load ninety times that.
    deadline = Deadline(0.9)
    with server.connect(timeout=8) as sock:
        for n in range(40):
            assert send_all(sock, get("/hello.txt")), (
                f"server closed the connection before request {n + 1}")
            resp = read_response(sock, deadline=Deadline(8))
            assert resp.status == 200 and resp.body == b"hello\n", (
                f"request {n + 1}:\n{resp}")
    assert not deadline.expired(), (
        f"40 requests on one connection took over {deadline.seconds} s: "
        "each response waits for the client's delayed ACK (Nagle's "
        "algorithm is on: no TCP_NODELAY)")


def test_20_pipelined_requests_in_one_send_are_answered_in_order(server):
    deadline = Deadline(8)
    data = b"".join(get(f"/f{i:02d}.txt") for i in range(NFILES))
    with server.connect(timeout=8) as sock:
        assert send_all(sock, data)
        resps, extra = read_responses(sock, NFILES, deadline)
        assert extra == b"", f"bytes after the 20 responses: {extra[:200]!r}"
        assert_still_open(sock, deadline, "20 pipelined requests")
    for i, resp in enumerate(resps):
        assert resp.status == 200, f"response {i + 1}:\n{resp}"
        assert resp.body == file_body(i), (
            f"response {i + 1} should be f{i:02d}.txt "
            f"({file_body(i)!r}), got:\n{resp}")
        assert_kept_open(resp)


def test_pipelined_large_and_small_responses_arrive_whole_and_in_order(
        server, docroot):
    bigs = [os.urandom(300_000 + i) for i in range(3)]
    for i, data in enumerate(bigs):
        (docroot / f"big{i}.bin").write_bytes(data)
    targets = ["/big0.bin", "/hello.txt", "/big1.bin", "/f05.txt",
               "/big2.bin", "/hello.txt"]
    expected = [bigs[0], b"hello\n", bigs[1], file_body(5), bigs[2],
                b"hello\n"]
    deadline = Deadline(8)
    with server.connect(timeout=8) as sock:
        assert send_all(sock, b"".join(get(t) for t in targets))
        resps, extra = read_responses(sock, len(targets), deadline)
    assert extra == b"", f"bytes after the responses: {extra[:200]!r}"
    for t, want, resp in zip(targets, expected, resps):
        assert resp.status == 200, f"{t}:\n{resp.describe(80)}"
        assert resp.body == want, (
            f"{t}: {len(resp.body)} body bytes, expected {len(want)}; "
            f"response:\n{resp.describe(80)}")


def test_request_sent_one_byte_at_a_time_is_answered(server):
    deadline = Deadline(8)
    data = get("/f07.txt", headers=[("User-Agent", "slow-typist")])
    with server.connect(timeout=8) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            assert send_all(sock, data[i:i + 1]), (
                f"server closed after {i} of {len(data)} bytes "
                f"({data[:i]!r})")
        resp = read_response(sock, deadline=deadline)
        assert resp.status == 200 and resp.body == file_body(7), (
            resp.describe())
        assert resp.extra == b"", f"bytes past the response: {resp.extra!r}"
        assert_kept_open(resp)
        assert_still_open(sock, deadline, "a request sent byte by byte")


def test_requests_followed_by_a_half_close_are_all_answered_then_closed(
        server):
    # The client sends three requests and shuts down its side: the server
    # still owes three answers, then closes too.
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        assert send_all(sock, b"".join(get(f"/f{i:02d}.txt")
                                       for i in range(3)))
        sock.shutdown(socket.SHUT_WR)
        resps, extra = read_responses(sock, 3, deadline)
        closed, more = read_until_close(sock, 2)
    for i, resp in enumerate(resps):
        assert resp.status == 200 and resp.body == file_body(i), (
            f"response {i + 1}:\n{resp}")
    assert closed, "server kept the half-closed connection open"
    assert extra + more == b"", f"bytes after 3 responses: {extra + more!r}"


# --- HTTP/1.0 and HTTP/1.1, the Connection header ---------------------------


def test_http10_without_keepalive_is_closed_after_the_response(server):
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        assert send_all(sock, get("/hello.txt", version="HTTP/1.0"))
        resp = read_response(sock, deadline=deadline)
        assert resp.status == 200 and resp.body == b"hello\n", resp.describe()
        assert_closed_after(sock, resp, "HTTP/1.0 without keep-alive")


@pytest.mark.parametrize("value", [
    "keep-alive", "Keep-Alive", "KEEP-ALIVE", "foo, keep-alive",
    "keep-alive , bar", "foo,Keep-Alive",
])
def test_http10_with_keepalive_gets_keepalive_and_serves_a_second_request(
        server, value):
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        assert send_all(sock, get("/f03.txt", version="HTTP/1.0",
                                  headers=[("Connection", value)]))
        resp = read_response(sock, deadline=deadline)
        assert resp.status == 200 and resp.body == file_body(3), (
            resp.describe())
        assert "keep-alive" in connection_tokens(resp), (
            f"HTTP/1.0 with Connection: {value}: the response must say "
            f"Connection: keep-alive:\n{resp}")
        assert_kept_open(resp)
        check_common(resp)
        # The second request is HTTP/1.0 again and asks again.
        assert send_all(sock, get("/f04.txt", version="HTTP/1.0",
                                  headers=[("Connection", "keep-alive")]))
        second = read_response(sock, deadline=deadline)
        assert second.status == 200 and second.body == file_body(4), (
            f"second request on a kept HTTP/1.0 connection:\n{second}")


@pytest.mark.parametrize("value", [
    "keep-alive, close", "keep-alives", "closed",
])
def test_http10_keepalive_needs_the_exact_token_and_no_close(server, value):
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        assert send_all(sock, get("/hello.txt", version="HTTP/1.0",
                                  headers=[("Connection", value)]))
        resp = read_response(sock, deadline=deadline)
        assert resp.status == 200, resp.describe()
        assert_closed_after(sock, resp, f"HTTP/1.0 with Connection: {value}")


def test_http11_without_connection_header_stays_open(server):
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        assert send_all(sock, get("/f01.txt"))
        resp = read_response(sock, deadline=deadline)
        assert resp.status == 200 and resp.body == file_body(1), (
            resp.describe())
        assert_kept_open(resp)
        assert_still_open(sock, deadline, "an HTTP/1.1 request")


def test_http11_connection_close_gets_connection_close_and_eof(server):
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        assert send_all(sock, get("/hello.txt",
                                  headers=[("Connection", "close")]))
        resp = read_response(sock, deadline=deadline)
        assert resp.status == 200 and resp.body == b"hello\n", resp.describe()
        check_common(resp)
        assert_closed_after(sock, resp, "Connection: close")


@pytest.mark.parametrize("headers", [
    [("Connection", "Close")],
    [("Connection", "CLOSE")],
    [("Connection", "foo, Close")],
    [("Connection", "close, foo")],
    [("Connection", "foo,close")],
    [("Connection", "  foo ,  close  ")],
    [("Connection", "keep-alive, close")],
    [("connection", "close")],
    [("Connection", "foo"), ("Connection", "close")],
], ids=lambda h: " / ".join(f"{n}: {v}" for n, v in h))
def test_close_anywhere_in_the_connection_token_list_closes(server, headers):
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        assert send_all(sock, get("/hello.txt", headers=headers))
        resp = read_response(sock, deadline=deadline)
        assert resp.status == 200, resp.describe()
        assert_closed_after(sock, resp, f"request headers {headers}")


@pytest.mark.parametrize("value", [
    "keep-alive", "closed", "enclose", "close-ish", "foo, bar",
])
def test_http11_connection_without_the_close_token_stays_open(server, value):
    # "close" is a token, not a substring: "closed" does not say it.
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        assert send_all(sock, get("/hello.txt",
                                  headers=[("Connection", value)]))
        resp = read_response(sock, deadline=deadline)
        assert resp.status == 200, resp.describe()
        assert_kept_open(resp)
        assert_still_open(sock, deadline, f"Connection: {value}")


# --- the idle timeout --------------------------------------------------------


@pytest.mark.parametrize("when", ["after-a-response", "before-any-request"])
def test_idle_connection_is_closed_after_the_keepalive_timeout(
        start_server, docroot, when):
    server = start_server("-r", str(docroot), "-k", "1")
    with server.connect(timeout=5) as sock:
        if when == "after-a-response":
            assert send_all(sock, get("/hello.txt"))
            resp = read_response(sock, timeout=5)
            assert resp.status == 200, resp.describe()
            assert_kept_open(resp)
        start = time.monotonic()
        closed, more = read_until_close(sock, 4)
        elapsed = time.monotonic() - start
    assert closed, "with -k 1 an idle connection was still open after 4 s"
    assert more == b"", f"the server sent {more[:200]!r} on an idle connection"
    assert 0.5 <= elapsed <= 3, (
        f"with -k 1 the idle connection was closed after {elapsed:.2f} s")


def test_keepalive_timeout_counts_idle_time_not_connection_age(
        start_server, docroot):
    # Six requests 0.3 s apart keep a -k 1 connection busy for about 1.8 s;
    # none of the gaps reaches the timeout, so all are answered. (The pauses
    # are the client being idle on purpose, not a wait for the server.)
    server = start_server("-r", str(docroot), "-k", "1")
    deadline = Deadline(8)
    with server.connect(timeout=8) as sock:
        for n in range(6):
            if n:
                time.sleep(0.3)
            assert send_all(sock, get(f"/f{n:02d}.txt")), (
                f"server closed before request {n + 1}")
            resp = read_response(sock, deadline=deadline)
            assert resp.status == 200 and resp.body == file_body(n), (
                f"request {n + 1}:\n{resp}")


def test_a_slow_but_steady_download_outlives_the_keepalive_timeout(
        start_server, docroot):
    # The timeout is for a client that does nothing; one that keeps reading
    # a response for twice -k is busy, and gets every byte. A tiny window
    # and Ethernet-sized segments keep the server's send buffer small, so
    # the server still has over a MiB of the 3 MiB file to send after 1 s.
    # (The pauses are the client reading slowly on purpose, each far below
    # 1 s.)
    data = os.urandom(3 << 20)
    (docroot / "big.bin").write_bytes(data)
    server = start_server("-r", str(docroot), "-k", "1")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1460)
    with sock:
        sock.settimeout(5)
        sock.connect((server.addr, server.port))
        assert send_all(sock, get("/big.bin"))
        body = read_body_at_pace(sock, len(data), seconds=2.0)
    assert body == data, (
        f"with -k 1 a download paced over 2 s got {len(body)} of "
        f"{len(data)} bytes{'' if len(body) < len(data) else ', altered'}")


def read_body_at_pace(sock, length, seconds):
    """Reads one response whose body is length bytes, spreading the reads
    evenly over seconds; returns the body bytes that came before the
    server closed (or the whole body)."""
    start = time.monotonic()
    deadline = Deadline(seconds + 5)
    got = bytearray()
    while True:
        head_end = got.find(b"\r\n\r\n")
        if head_end >= 0 and len(got) - head_end - 4 >= length:
            return bytes(got[head_end + 4:])
        ahead = start + seconds * len(got) / length - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        sock.settimeout(max(deadline.left(), 0.01))
        try:
            piece = sock.recv(64 * 1024)
        except (socket.timeout, ConnectionResetError):
            piece = b""
        if not piece:
            return bytes(got[head_end + 4:]) if head_end >= 0 else b""
        got += piece


# --- errors: which keep the connection, which end it -----------------------


@pytest.mark.parametrize("data,status", [
    pytest.param(get("/no-such-file.txt"), 404, id="404-missing-file"),
    pytest.param(get("/noindex/"), 403, id="403-directory-without-index"),
    pytest.param(get("/", method="DELETE"), 405, id="405-delete"),
    pytest.param(build_request("POST", "/hello.txt", body=b"abc"), 405,
                 id="405-post-with-body"),
])
def test_ordinary_error_keeps_the_connection_open_and_in_step(
        server, data, status):
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        assert send_all(sock, data)
        resp = read_response(sock, deadline=deadline)
        assert resp.status == status, resp.describe()
        assert resp.extra == b"", f"bytes past the error: {resp.extra!r}"
        assert_kept_open(resp)
        check_common(resp)
        assert_still_open(sock, deadline, f"a {status}")


def test_pipelined_404_then_200_are_answered_in_step(server):
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        assert send_all(sock, get("/missing") + get("/f09.txt"))
        (first, second), extra = read_responses(sock, 2, deadline)
    assert first.status == 404, first.describe()
    assert second.status == 200 and second.body == file_body(9), (
        f"after a 404:\n{second}")
    assert extra == b"", f"bytes after the two responses: {extra!r}"


@pytest.mark.parametrize("together", [True, False],
                         ids=["one-send", "body-sent-later"])
def test_post_echo_body_is_not_read_as_the_next_request(server, together):
    # The body looks like a request: a server that ignored Content-Length
    # would answer it.
    body = b"GET /f13.txt HTTP/1.1\r\nHost: x\r\n\r\n"
    head = build_request("POST", "/echo", body=body,
                         headers=[("Content-Type", "text/plain")])
    head, sent_body = head[:-len(body)], head[-len(body):]
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        if together:
            assert send_all(sock, head + sent_body + get("/hello.txt"))
        else:
            assert send_all(sock, head)
            assert send_all(sock, sent_body)
            assert send_all(sock, get("/hello.txt"))
        (echo, after), extra = read_responses(sock, 2, deadline)
        closed, more = read_until_close(sock, 0.2)
    assert echo.status == 200 and echo.body == body, echo.describe()
    assert_kept_open(echo)
    assert after.status == 200 and after.body == b"hello\n", (
        f"the request after POST /echo got:\n{after}")
    assert extra + more == b"", (
        f"a third response (the body answered as a request?): "
        f"{(extra + more)[:300]!r}")
    assert not closed, "server closed the connection after two requests"


def test_head_then_get_pipelined_the_head_response_has_no_body(server):
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        assert send_all(sock, get("/f11.txt", method="HEAD")
                        + get("/f12.txt") + get("/missing", method="HEAD")
                        + get("/f14.txt"))
        resps, extra = read_responses(sock, 4, deadline, head={0, 2})
    head, after, head404, last = resps
    assert head.status == 200, head.describe()
    assert head.header("Content-Length") == str(len(file_body(11))), (
        head.describe())
    assert after.status == 200 and after.body == file_body(12), (
        f"the GET after a HEAD got (a HEAD body read as its start?):\n{after}")
    assert head404.status == 404, head404.describe()
    assert last.status == 200 and last.body == file_body(14), (
        f"the GET after a HEAD that got 404:\n{last}")
    assert extra == b"", f"bytes after the responses: {extra[:200]!r}"


# A request the server cannot read whole, followed by a good one in the
# same send. The server answers the error, says Connection: close and
# closes: it cannot know where the next request starts, so it must never
# answer it.
PARSE_ERRORS = [
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad : y\r\n\r\n", 400,
                 id="400-space-before-colon"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400,
                 id="400-header-without-colon"),
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="400-no-host"),
    pytest.param(get("/", headers=[("X-Big", "b" * 9000)]), 431,
                 id="431-header-too-big"),
    pytest.param(get("/" + "a" * 9000), 414, id="414-uri-too-long"),
    pytest.param(b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 501,
                 id="501-unknown-method"),
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
                 id="501-transfer-encoding"),
    pytest.param(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505,
                 id="505-version"),
]


@pytest.mark.parametrize("data,status", PARSE_ERRORS)
def test_parse_error_is_answered_then_closed_never_the_next_request(
        server, data, status):
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        send_all(sock, data + get("/hello.txt"))
        resp = read_response(sock, deadline=deadline)
        assert resp.status == status, resp.describe()
        check_common(resp)
        assert_closed_after(sock, resp, f"a {status}")


def test_413_without_the_body_is_answered_then_closed(server):
    # 100 MB announced, nothing sent: the server refuses before reading and
    # cannot skip a body it will never read, so it closes.
    data = (b"POST /echo HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 100000000\r\n\r\n")
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        assert send_all(sock, data)
        resp = read_response(sock, deadline=deadline)
        assert resp.status == 413, resp.describe()
        check_common(resp)
        assert_closed_after(sock, resp, "a 413")


# --- the per-connection request limit ---------------------------------------


def test_the_1000th_response_on_a_connection_says_close(server):
    # Pipelined in batches of 100 so that a thousand round trips stay fast.
    deadline = Deadline(9)
    batch = 100
    served = 0
    with server.connect(timeout=9) as sock:
        while served < MAX_REQUESTS:
            assert send_all(sock, b"".join(
                get(f"/f{(served + k) % NFILES:02d}.txt")
                for k in range(batch))), (
                f"server closed after {served} responses")
            resps, extra = read_responses(sock, batch, deadline)
            for k, resp in enumerate(resps):
                n = served + k + 1
                assert resp.status == 200, f"response {n}:\n{resp}"
                assert resp.body == file_body((n - 1) % NFILES), (
                    f"response {n}:\n{resp}")
                if n < MAX_REQUESTS:
                    assert "close" not in connection_tokens(resp), (
                        f"response {n} of {MAX_REQUESTS} already says "
                        f"close:\n{resp}")
            served += batch
            if served < MAX_REQUESTS:
                assert extra == b"", f"bytes after response {served}"
        last = resps[-1]
        last.extra = extra
        assert_closed_after(sock, last, f"response {MAX_REQUESTS}")

"""Expect: 100-continue (RFC 9110 section 10.1.1), on every HTTP stage.

A client that sends "Expect: 100-continue" with a body holds the body back
until the server answers: "HTTP/1.1 100 Continue" when the server will read
it, or the final status at once when it will not (413, 404, 405). Any other
expectation is 417, and an HTTP/1.0 request's Expect is ignored. A stage
that ignores the header leaves curl waiting a second before every upload.

Each test sends the head alone and gives the server WAIT seconds to speak
before the body goes: a stage that stays silent fails there, however long
the machine takes otherwise."""

import pytest

from http_util import (
    NoResponse,
    build_request,
    read_response,
    read_until_close,
    run_curl,
    send_all,
    server_args,
)
from util import Deadline

pytestmark = pytest.mark.needs("http")

WAIT = 3.0  # seconds for an answer that must not wait for the body
BODY = b"hello"


@pytest.fixture
def server(start_server, stage, tmp_path):
    return start_server(*server_args(stage, tmp_path))


# The route that reads a body, on every HTTP stage.
READING_ROUTE = ("POST", "/echo")


def head(method, target, length=len(BODY), expect="100-continue",
         version="HTTP/1.1", headers=()):
    """A request head with Content-Length and Expect, without its body."""
    return build_request(method, target, [
        ("Content-Length", str(length)), ("Expect", expect), *headers,
    ], version=version, host="127.0.0.1" if version == "HTTP/1.1" else None)


def first_answer(sock, what):
    """The first response to a head whose body has not been sent."""
    try:
        return read_response(sock, timeout=WAIT)
    except NoResponse as e:
        raise AssertionError(
            f"{what}: nothing within {WAIT} s while the client held its "
            f"body back (Expect: 100-continue): {e}") from None


def expect_continue_then_answer(sock, method, target, buffered=b""):
    """Sends a head with Expect, wants 100 Continue before the body, sends
    the body, returns the final response."""
    sock.sendall(head(method, target))
    interim = first_answer(sock, f"{method} {target}")
    assert interim.status == 100 and interim.reason == "Continue", (
        f"{method} {target} with Expect: 100-continue: want "
        f"'HTTP/1.1 100 Continue' before the body, got:\n{interim}")
    sock.sendall(BODY)
    return read_response(sock, buffered=interim.extra)


def test_100_continue_comes_before_the_body_then_the_answer(server):
    method, target = READING_ROUTE
    with server.connect() as sock:
        resp = expect_continue_then_answer(sock, method, target)
    assert resp.status == 200, f"after the body:\n{resp}"
    assert resp.body == BODY, f"/echo after a 100:\n{resp}"


def refused_at_once(server, data, status, what):
    """Sends a head whose body is held back; the final status must come
    first and at once, and the connection then closes."""
    with server.connect() as sock:
        sock.sendall(data)
        resp = first_answer(sock, what)
        assert resp.status == status, (
            f"{what}: want {status} at once, without the body, got:\n{resp}")
        closed, more = read_until_close(sock, WAIT)
        assert closed and more == resp.extra == b"" and "close" in (
            resp.header("Connection", "").lower()), (
            f"{what}: after {status} with the body unread, want Connection: "
            f"close and the close, nothing else (where would the next "
            f"request start?); closed: {closed}, then came "
            f"{resp.extra + more!r:.300}\n{resp}")


@pytest.mark.parametrize("case", ["413", "405", "417"])
def test_a_refusal_comes_at_once_without_the_body(server, case):
    method, target = READING_ROUTE
    data, status = {
        "413": (head(method, target, length=10**9), 413),
        "405": (head("DELETE", "/echo"), 405),
        "417": (head(method, target, expect="something-else"), 417),
    }[case]
    refused_at_once(server, data, status, data.split(b"\r\n")[0].decode())


@pytest.mark.needs("static")
def test_a_missing_file_is_404_at_once(server):
    refused_at_once(server, head("GET", "/missing.txt"), 404,
                    "GET /missing.txt with a body held back")


@pytest.mark.needs("cgi")
def test_a_script_gets_100_and_a_missing_script_404_at_once(
        start_server, tmp_path):
    root = tmp_path / "root"
    (root / "cgi-bin").mkdir(parents=True)
    script = root / "cgi-bin" / "cat.sh"
    script.write_text("#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\n"
                      'head -c "$CONTENT_LENGTH"\n')
    script.chmod(0o755)
    server = start_server("-r", str(root))
    with server.connect() as sock:
        resp = expect_continue_then_answer(sock, "POST", "/cgi-bin/cat.sh")
    assert resp.status == 200 and resp.body == BODY, f"the script:\n{resp}"
    refused_at_once(server, head("POST", "/missing.php"), 404,
                    "POST /missing.php with a body held back")


def test_no_100_without_a_body_or_for_http10(server):
    """No 100 for HTTP/1.0 (it ignores Expect, 417 values included) nor
    for an empty body: the first response is the final one."""
    method, target = READING_ROUTE
    cases = [
        head(method, target, version="HTTP/1.0") + BODY,
        head(method, target, version="HTTP/1.0", expect="other") + BODY,
        head(method, target, length=0, headers=[("Connection", "close")]),
    ]
    for data in cases:
        with server.connect() as sock:
            sock.sendall(data)
            resp = read_response(sock, timeout=WAIT)
        assert resp.status == 200, (
            f"{data[:80]!r}: want the final 200 first, got:\n{resp}")


@pytest.mark.needs("keepalive")
def test_the_connection_goes_on_after_a_100(server):
    """After a 100 and its answer, the next request on the connection gets
    its own 100; one pipelined behind a body sent without waiting is served
    too."""
    method, target = READING_ROUTE
    deadline = Deadline(WAIT * 2)
    with server.connect() as sock:
        for i in range(2):
            resp = expect_continue_then_answer(sock, method, target)
            assert resp.status == 200, f"request {i + 1}:\n{resp}"
        send_all(sock, head(method, target) + BODY
                 + build_request("GET", "/", [("Connection", "close")]))
        answers = []
        extra = resp.extra
        while len(answers) < 2:
            resp = read_response(sock, deadline=deadline, buffered=extra)
            extra = resp.extra
            if resp.status != 100:
                answers.append(resp.status)
    assert answers == [200, 200], f"pipelined after a 100: {answers}"


@pytest.mark.needs("static")
def test_curl_uploads_1_mb_without_waiting_for_its_timeout(server, tmp_path):
    """curl waits for the 100 up to --expect100-timeout (5 s here) and says
    so; it must get the 100 instead, and /echo the whole body back."""
    data = bytes(range(256)) * 4062 + b"end"  # 1,039,875 bytes
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    result = run_curl(
        "-v", "--expect100-timeout", "5", "-H", "Expect: 100-continue",
        "-H", "Content-Type: application/octet-stream",
        "--data-binary", f"@{path}",
        f"http://127.0.0.1:{server.port}/echo")
    log = result.stderr.decode(errors="replace")
    assert result.returncode == 0, f"curl failed:\n{log[-2000:]}"
    assert "< HTTP/1.1 100 Continue" in log, (
        f"curl got no 100 Continue (it waited for it, then sent the body "
        f"anyway):\n{log[-2000:]}")
    assert "Done waiting for 100-continue" not in log, log[-2000:]
    assert result.stdout == data, (
        f"/echo returned {len(result.stdout)} bytes, want {len(data)}")

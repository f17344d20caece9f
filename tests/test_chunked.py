"""Chunked request bodies (RFC 9112 section 7.1), which v15 decodes and the
C stages refuse with 501 (their limitation chunked_body).

A chunked body is framed by its own bytes: hex sizes, optional extensions,
CRLF after each chunk's data, a chunk of size 0, then trailer fields and an
empty line. Where the body ends must be read exactly as a proxy in front
would read it, or the rest of the body is taken for a request of its own
(request smuggling): every error here is answered once and the connection
closed, and the request sent after it in the same write is never answered.

The choices the RFC leaves open: a coding other than chunked (gzip, or
chunked not last) is 501, as nginx answers; chunked twice (in one field or
two) is 400, since a sender must not apply it twice (RFC 9112 section 6.1);
Transfer-Encoding with Content-Length is 400, and so is Transfer-Encoding
on HTTP/1.0, as nginx answers both; coding names are case-insensitive and
the white space around them is not part of the field (RFC 9110 section
5.5). Sizes take at most 16 hex digits (64 bits, so none can wrap)."""

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from http_util import (
    Deadline,
    NoResponse,
    build_request,
    check_common,
    exchange,
    read_response,
    send_all,
    server_args,
)
from test_fastcgi import PhpFpm
from util import symptom_absent

pytestmark = pytest.mark.needs("http")
chunked = pytest.mark.needs("chunked_requests")

MAX_BODY = 100  # max_body_size of the limits tests


def head(method="POST", target="/echo", codings="chunked", headers=(),
         version="HTTP/1.1", close=True):
    """A request head with Transfer-Encoding, without its body."""
    headers = [("Transfer-Encoding", codings),
               ("Content-Type", "application/octet-stream"), *headers]
    if close:
        headers.append(("Connection", "close"))
    return build_request(method, target, headers, version=version,
                         host="x" if version == "HTTP/1.1" else None)


def encode(*chunks, trailers=b""):
    """The chunked coding of chunks (bytes each), then trailers."""
    coded = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return coded + b"0\r\n" + trailers + b"\r\n"


# The route that reads a body, on every HTTP stage.
READING_ROUTE = ("POST", "/echo")


@pytest.fixture
def server(start_server, stage, tmp_path):
    return start_server(*server_args(stage, tmp_path))


# --- the limitation the C stages keep ------------------------------------


@pytest.mark.limitation("chunked_body")
def test_a_chunked_request_body_is_read(start_server, stage, tmp_path):
    server = start_server(*server_args(stage, tmp_path))
    method, target = READING_ROUTE
    resp = exchange(server, head(method, target) + encode(b"hel", b"lo"))
    symptom_absent(resp.status != 501, "Transfer-Encoding: chunked refused "
                   f"with 501:\n{resp.describe()}")
    assert resp.status == 200, resp.describe()
    assert resp.body == b"hello", resp.describe()


# --- decoding ------------------------------------------------------------


@chunked
def test_chunks_with_extensions_and_trailers_are_echoed_decoded(server):
    body = (b"1a;name=value\r\n" + b"a" * 26 + b"\r\n"
            b"5 ; quoted=\"a;b\" ;flag\r\nhello\r\n"
            b"A\r\n0123456789\r\n"
            b"0;last\r\nX-Checksum: 1234\r\nX-Other: two\r\n\r\n")
    resp = exchange(server, head() + body)
    assert resp.status == 200, resp.describe()
    assert resp.body == b"a" * 26 + b"hello0123456789", (
        f"the decoded body differs:\n{resp.describe()}")
    assert resp.header("X-Checksum") is None, resp.describe()
    check_common(resp)


@chunked
@pytest.mark.parametrize("host", [
    "127.0.0.1", pytest.param("[::1]", marks=pytest.mark.needs("ipv6"))])
def test_curl_uploading_from_a_pipe_gets_its_input_back(
        start_server, stage, tmp_path, host):
    # `curl -T - URL < file`: a PUT of stdin, a body of unknown length, so
    # curl sends it in chunks. /echo takes PUT as it takes POST.
    bind = host.strip("[]")
    server = start_server(*server_args(stage, tmp_path), "-b", bind)
    data = os.urandom(200 * 1024)
    done = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "8", "-g",
         "-T", "-", "--fail", f"http://{host}:{server.port}/echo"],
        input=data, capture_output=True, timeout=10)
    assert done.returncode == 0, f"curl: {done.stderr!r}"
    assert done.stdout == data, (
        f"{len(done.stdout)} bytes back for {len(data)}: sha256 "
        f"{hashlib.sha256(done.stdout).hexdigest()[:16]} vs "
        f"{hashlib.sha256(data).hexdigest()[:16]}")


@chunked
def test_a_request_after_a_chunked_body_in_the_same_write_is_answered(
        server):
    # The chunk's data holds what looks like the end of the body and a
    # request: it is data, and the real second request comes after it.
    inner = b"0\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
    second = build_request("POST", "/echo", [
        ("Content-Type", "text/plain"), ("Connection", "close"),
    ], body=b"second")
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        send_all(sock, head(close=False) + encode(inner) + second)
        first = read_response(sock, deadline=deadline)
        assert first.status == 200 and first.body == inner, first.describe()
        after = read_response(sock, deadline=deadline, buffered=first.extra)
    assert after.status == 200 and after.body == b"second", (
        f"the request after the chunked body:\n{after.describe()}")


@chunked
def test_expect_100_continue_then_chunks(server):
    # The client holds its chunks back until the 100; the decoder must not
    # care that one was sent.
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        send_all(sock, head(headers=[("Expect", "100-continue")]))
        try:
            interim = read_response(sock, deadline=deadline)
        except (NoResponse, TimeoutError) as e:
            raise AssertionError("no 100 Continue to a chunked head with "
                                 f"Expect: 100-continue ({e})") from None
        assert interim.status == 100, interim.describe()
        send_all(sock, encode(b"after ", b"the 100"))
        resp = read_response(sock, deadline=deadline, buffered=interim.extra)
    assert resp.status == 200 and resp.body == b"after the 100", (
        resp.describe())


# --- limits and refusals -------------------------------------------------


@pytest.fixture
def small_server(start_server, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    conf = tmp_path / "server.conf"
    conf.write_text(f"root = {root}\nmax_body_size = {MAX_BODY}\n")
    return start_server("-c", conf)


@chunked
def test_a_body_of_max_body_size_in_many_small_chunks_is_taken(small_server):
    # 50 chunks of 2 bytes: the coding is 10 times the limit, the body not.
    pieces = [b"%02d" % i for i in range(MAX_BODY // 2)]
    body = b"".join(b"2;ext=padding\r\n%s\r\n" % p for p in pieces)
    resp = exchange(small_server, head() + body + b"0\r\n\r\n")
    assert resp.status == 200 and resp.body == b"".join(pieces), (
        resp.describe())


@chunked
def test_413_as_soon_as_the_chunks_pass_max_body_size(small_server):
    # The second size line takes the total past the limit: the answer
    # must not wait for its data, which never comes.
    deadline = Deadline(5)
    with small_server.connect(timeout=5) as sock:
        send_all(sock, head() + b"3c\r\n" + b"a" * 60 + b"\r\n3c\r\n")
        try:
            resp = read_response(sock, deadline=deadline)
        except (NoResponse, TimeoutError) as e:
            raise AssertionError(
                "no answer to a chunk that takes the body past "
                f"max_body_size = {MAX_BODY}: the server waits for its "
                f"data instead of refusing it ({e})") from None
        assert resp.status == 413, resp.describe()
        check_common(resp)
        assert "close" in resp.header("Connection", ""), resp.describe()


CHUNK_ERRORS = [
    # (id, body after the head, or a whole request, status)
    ("size-not-hex", b"zz\r\nabc\r\n0\r\n\r\n", 400),
    ("size-0x", b"0x3\r\nabc\r\n0\r\n\r\n", 400),
    ("size-negative", b"-1\r\na\r\n0\r\n\r\n", 400),
    ("size-17-digits-wraps-to-1", b"10000000000000001\r\na\r\n0\r\n\r\n", 400),
    ("size-empty", b"\r\nabc\r\n0\r\n\r\n", 400),
    ("size-then-space", b"3 \r\nabc\r\n0\r\n\r\n", 400),
    ("no-crlf-after-data", b"3\r\nabcX\r\n0\r\n\r\n", 400),
    ("bare-cr-after-data", b"3\r\nabc\r0\r\n\r\n", 400),
    ("bare-cr-in-extension", b"3;a\rb\r\nabc\r\n0\r\n\r\n", 400),
    ("folded-trailer", b"0\r\nX-A: 1\r\n folded\r\n\r\n", 400),
    ("te-then-cl", head(headers=[("Content-Length", "3")])
     + encode(b"abc"), 400),
    ("cl-then-te", build_request("POST", "/echo", [
        ("Content-Length", "3"), ("Transfer-Encoding", "chunked"),
    ]) + b"3\r\nabc\r\n0\r\n\r\n", 400),
    ("http10", head(version="HTTP/1.0") + encode(b"abc"), 400),
    ("chunked-twice-in-one-field", head(codings="chunked, chunked")
     + encode(b"abc"), 400),
    ("chunked-in-two-fields", head(headers=[("Transfer-Encoding",
                                             "chunked")])
     + encode(b"abc"), 400),
    ("gzip-chunked", head(codings="gzip, chunked") + encode(b"abc"), 501),
    ("chunked-gzip", head(codings="chunked, gzip") + encode(b"abc"), 501),
    ("xchunked", head(codings="xchunked") + encode(b"abc"), 501),
]


@chunked
@pytest.mark.parametrize("data,status", [
    pytest.param(d if d.startswith(b"POST") else head() + d, s, id=i)
    for i, d, s in CHUNK_ERRORS
])
def test_a_bad_chunked_request_is_answered_then_closed(server, data, status):
    # What follows must never be answered: after a framing error nobody
    # knows where it starts.
    resp = exchange(server, data + build_request("GET", "/hello.txt"))
    assert resp.status == status, (
        f"sent {data!r}\nexpected {status}, got:\n{resp.describe()}")
    check_common(resp)
    assert resp.closed, f"still open after a {status}:\n{resp.describe()}"


@chunked
def test_odd_white_space_and_case_around_chunked_are_the_same_coding(server):
    data = head(codings=" \tChunKed ,\t") + encode(b"abc")
    resp = exchange(server, data)
    assert resp.status == 200 and resp.body == b"abc", resp.describe()


# --- scripts get the decoded body ----------------------------------------


BODY_SH = ("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
           "echo \"CONTENT_LENGTH=$CONTENT_LENGTH\"\n"
           "echo \"TE=${HTTP_TRANSFER_ENCODING-}\"\ncat\n")
BODY_PHP = """<?php
header('Content-Type: text/plain');
echo 'CONTENT_LENGTH=', $_SERVER['CONTENT_LENGTH'] ?? '', "\\n";
echo 'TE=', $_SERVER['HTTP_TRANSFER_ENCODING'] ?? '', "\\n";
echo file_get_contents('php://input');
"""
SCRIPT_BODY = [b"first chunk, ", b"x" * 3000, b", last"]


def check_script_answer(resp):
    """body.sh and body.php print what they saw: the meta-variables, then
    the body from their stdin."""
    assert resp.status == 200, resp.describe()
    length, te, body = resp.body.split(b"\n", 2)
    want = sum(map(len, SCRIPT_BODY))
    assert (length, te) == (b"CONTENT_LENGTH=%d" % want, b"TE="), (
        f"the script saw {length!r} and HTTP_TRANSFER_ENCODING {te!r} for a "
        f"decoded body of {want} bytes")
    assert body == b"".join(SCRIPT_BODY), (
        f"the script read {len(body)} bytes: {body[:60]!r}...")


@pytest.fixture
def script_root(tmp_path):
    root = tmp_path / "root"
    (root / "cgi-bin").mkdir(parents=True)
    (root / "body.php").write_text(BODY_PHP)
    script = root / "cgi-bin" / "body.sh"
    script.write_text(BODY_SH)
    script.chmod(0o755)
    return root


@chunked
@pytest.mark.needs("cgi")
@pytest.mark.parametrize("target", ["/cgi-bin/body.sh", "/body.php"])
def test_a_script_reads_the_decoded_body_and_its_length(
        start_server, script_root, target):
    server = start_server("-r", script_root)
    resp = exchange(server, head(target=target) + encode(*SCRIPT_BODY))
    check_script_answer(resp)


@chunked
@pytest.mark.needs("fastcgi")
def test_php_fpm_reads_the_decoded_body_and_its_length(
        start_server, script_root, tmp_path):
    work = Path(tempfile.mkdtemp(prefix="fcgi-", dir="/tmp"))
    try:
        fpm = PhpFpm(work, str(work / "php-fpm.sock"))
        try:
            conf = tmp_path / "server.conf"
            conf.write_text(f"root = {script_root}\n"
                            f"fastcgi_pass = {fpm.pass_value}\n")
            server = start_server("-c", conf)
            resp = exchange(server,
                            head(target="/body.php") + encode(*SCRIPT_BODY))
        finally:
            fpm.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    check_script_answer(resp)

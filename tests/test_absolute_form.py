"""Absolute-form targets (GET http://host:port/path, RFC 9112 section
3.2.2): the authority is checked exactly like Host, by the same rules
(a name, an IPv4 address or a bracketed IPv6 one, never empty, a port of
digits, no userinfo), and takes Host's place where the server uses the
host: a CGI script's SERVER_NAME and HTTP_HOST."""

import pytest

from http_util import exchange, server_args

pytestmark = pytest.mark.needs("http")

# Authorities nginx answers 400 as Host or as a target's authority, or
# that RFC 3986 section 3.2.2 rules out.
BAD_AUTHORITIES = [
    "localhost:80x", "localhost:80:80", "localhost::80", "foo@localhost",
    "[::1", "[zz]", "::1", "[::1]x", ":80",
]
GOOD_AUTHORITIES = ["localhost", "127.0.0.1:8080", "[::1]", "[::1]:8080"]


@pytest.fixture
def server(start_server, stage, tmp_path):
    return start_server(*server_args(stage, tmp_path))


def status(server, target, host="x"):
    host_line = f"Host: {host}\r\n" if host is not None else ""
    return exchange(server, f"GET {target} HTTP/1.1\r\n{host_line}"
                            "Connection: close\r\n\r\n").status


def test_a_bad_authority_is_400_in_the_target_and_in_host(server):
    wrong = []
    for authority in BAD_AUTHORITIES:
        got = status(server, f"http://{authority}/")
        if got != 400:
            wrong.append(f"GET http://{authority}/ -> {got}")
        got = status(server, "/", host=authority)
        if got != 400:
            wrong.append(f"Host: {authority} -> {got}")
    for target in ["http:///", "ftp://localhost/", "http:/x"]:
        got = status(server, target)
        if got != 400:
            wrong.append(f"GET {target} -> {got}")
    assert not wrong, "not refused with 400:\n" + "\n".join(wrong)


def test_a_good_authority_is_served(server, stage):
    path = "/hello.txt" if "static" in stage.features else "/"
    wrong = []
    for authority in GOOD_AUTHORITIES + [f"127.0.0.1:{server.port}"]:
        for target in [f"http://{authority}{path}?q",
                       f"HTTP://{authority.upper()}{path}"]:
            resp = exchange(server, f"GET {target} HTTP/1.1\r\nHost: x\r\n"
                                    "Connection: close\r\n\r\n")
            if resp.status != 200 or (path != "/" and resp.body != b"hello\n"):
                wrong.append(f"GET {target} -> {resp.status} {resp.body[:40]}")
        if status(server, "/", host=authority) != 200:
            wrong.append(f"Host: {authority} refused")
    assert not wrong, "not served:\n" + "\n".join(wrong)
    # The authority does not replace Host's presence (RFC 9112 section 3.2).
    assert status(server, "http://localhost/", host=None) == 400


@pytest.mark.needs("cgi")
def test_the_authority_takes_hosts_place_for_a_script(start_server, tmp_path):
    script = tmp_path / "root" / "cgi-bin" / "env.sh"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'"
                      "\necho \"$SERVER_NAME $HTTP_HOST\"\n")
    script.chmod(0o755)
    server = start_server("-r", str(tmp_path / "root"))
    resp = exchange(server, b"GET http://[::1]:8080/cgi-bin/env.sh HTTP/1.1\r\n"
                            b"Host: other.example\r\nConnection: close\r\n\r\n")
    assert resp.status == 200, resp.describe()
    assert resp.body == b"[::1] [::1]:8080\n", resp.describe()

"""No request reads a byte from outside the document root (static
files): "..", its percent-encoded and double-encoded spellings, backslashes,
NUL, absolute-form targets, and symlinks inside the root that point out.

The requests go over raw sockets, byte for byte: curl and http.client would
normalise "/../" away before the server ever saw it. No answer carries the
secret planted beside the root or /etc/passwd, and each has its one status:
400 for a ".." segment once percent-decoded (even one that would stay
inside the root), a NUL, or a target that does not start with "/"; 403 for
a symlink that leads out; 404 for a name that decodes to nothing there
(a backslash, "%252e" or an overlong UTF-8 dot is a plain character, not a
separator or a dot)."""

import os
import uuid

import pytest

from http_util import build_request, exchange

pytestmark = pytest.mark.needs("static")

PASSWD_MARK = "root:x:0:0"

# Raw request targets, sent exactly as written, and the status each gets.
TARGETS = [
    ("/../secret.txt", 400),
    ("/../../../../../../../../etc/passwd", 400),
    ("/%2e%2e/secret.txt", 400),
    ("/%2E%2E/secret.txt", 400),
    ("/.%2e/secret.txt", 400),
    ("/%2e./secret.txt", 400),
    ("/..%2fsecret.txt", 400),
    ("/%2e%2e%2fsecret.txt", 400),
    ("/%2e%2e%2f%2e%2e%2fetc/passwd", 400),
    ("/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
     400),
    ("/%252e%252e/secret.txt", 404),
    ("/%252e%252e%252fsecret.txt", 404),
    ("/%c0%ae%c0%ae/secret.txt", 404),
    ("/....//secret.txt", 404),
    ("/sub/../../secret.txt", 400),
    ("/sub/%2e%2e/%2e%2e/secret.txt", 400),
    ("/sub/..%2f..%2fsecret.txt", 400),
    ("/./../secret.txt", 400),
    ("/..", 400),
    ("/%2e%2e", 400),
    ("/..\\secret.txt", 404),
    ("/%5c..%5csecret.txt", 404),
    ("/sub/..%5c..%5csecret.txt", 404),
    ("/secret.txt%00.html", 400),
    ("/..%00/secret.txt", 400),
    ("/%00", 400),
    ("/..;/secret.txt", 404),
    ("../secret.txt", 400),
    ("secret.txt", 400),
    ("http://127.0.0.1/../secret.txt", 400),
    ("http://127.0.0.1/%2e%2e/secret.txt", 400),
    ("//etc/passwd", 404),
    ("/%2fetc%2fpasswd", 404),
    ("/link/secret.txt", 403),
    ("/link/", 403),
    ("/link/root/../secret.txt", 400),
    ("/leak.txt", 403),
    ("/passwd-link", 403),
    ("/rel-link.txt", 403),
    ("/sub/up-link.txt", 403),
]


@pytest.fixture
def secret_root(tmp_path):
    """tmp_path/secret.txt and tmp_path/index.html hold a unique token,
    outside the root tmp_path/root, which holds:
      index.html, hello.txt, sub/page.txt,
      link -> tmp_path            (a directory symlink out of the root)
      leak.txt -> tmp_path/secret.txt   (absolute symlink out)
      rel-link.txt -> ../secret.txt     (relative symlink out)
      sub/up-link.txt -> ../../secret.txt
      passwd-link -> /etc/passwd"""
    token = "SECRET-" + uuid.uuid4().hex
    (tmp_path / "secret.txt").write_text(token + "\n")
    (tmp_path / "index.html").write_text(f"<p>{token}</p>\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_text("<p>inside</p>\n")
    (root / "hello.txt").write_text("hello\n")
    (root / "sub").mkdir()
    (root / "sub" / "page.txt").write_text("page\n")
    os.symlink(tmp_path, root / "link")
    os.symlink(tmp_path / "secret.txt", root / "leak.txt")
    os.symlink("../secret.txt", root / "rel-link.txt")
    os.symlink("../../secret.txt", root / "sub" / "up-link.txt")
    os.symlink("/etc/passwd", root / "passwd-link")
    return root, token


@pytest.fixture
def server(start_server, secret_root):
    root, _ = secret_root
    return start_server("-r", str(root))


def assert_refused(resp, target, token, status):
    body = resp.body.decode("latin-1")
    head = resp.head.decode("latin-1")
    assert token not in body and token not in head, (
        f"{target!r} leaked the secret outside the root:\n{resp}")
    assert PASSWD_MARK not in body, f"{target!r} leaked /etc/passwd:\n{resp}"
    assert resp.status == status, (
        f"{target!r}: expected {status}, got:\n{resp}")


@pytest.mark.parametrize("target, status", TARGETS)
def test_request_cannot_read_outside_the_root(server, secret_root, target,
                                              status):
    _, token = secret_root
    resp = exchange(server, build_request("GET", target), check_close=False)
    assert_refused(resp, target, token, status)


@pytest.mark.parametrize("target, status", [("/../secret.txt", 400),
                                            ("/leak.txt", 403),
                                            ("/%2e%2e%2fsecret.txt", 400)])
def test_head_cannot_probe_outside_the_root(server, secret_root, target,
                                            status):
    _, token = secret_root
    resp = exchange(server, build_request("HEAD", target), check_close=False)
    assert_refused(resp, target, token, status)


def test_files_inside_the_root_are_still_served(server):
    # The refusals above are not because the root serves nothing.
    for target, body in [("/hello.txt", b"hello\n"),
                         ("/sub/page.txt", b"page\n")]:
        resp = exchange(server, build_request("GET", target))
        assert resp.status == 200 and resp.body == body, f"{target}:\n{resp}"


def test_a_dot_dot_segment_is_refused_even_when_it_stays_inside(server):
    # The path decoder refuses every ".." segment before the file system
    # sees the path: one defence that holds without the kernel's own.
    for target in ("/sub/../hello.txt", "/sub/%2e%2e/hello.txt"):
        resp = exchange(server, build_request("GET", target),
                        check_close=False)
        assert resp.status == 400, f"{target}:\n{resp}"


# "%2f" is decoded to "/" before the path is split into segments: it is a
# separator like any other, and the checks that keep a path beneath the root
# see the decoded path, so it reaches nothing a plain "/" does not.
def test_an_encoded_slash_is_a_separator_that_stays_inside(
        server, secret_root):
    _, token = secret_root
    for target in ("/sub%2fpage.txt", "/sub%2Fpage.txt"):
        resp = exchange(server, build_request("GET", target))
        assert resp.status == 200 and resp.body == b"page\n", (
            f"{target} names sub/page.txt:\n{resp}")
    target = "/sub%2f..%2f..%2fsecret.txt"
    resp = exchange(server, build_request("GET", target), check_close=False)
    assert_refused(resp, target, token, 400)


@pytest.fixture
def cgi_secret_root(tmp_path, secret_root):
    """secret_root, plus scripts outside it that would print the token and
    leave a marker file if they ever ran: tmp_path/evil.sh, evil.php; and
    inside: cgi-bin/ with symlinks out (cgi-bin/out -> tmp_path,
    cgi-bin/evil-link.sh -> ../../evil.sh), leak.php -> ../evil.php."""
    root, token = secret_root
    marker = tmp_path / "ran-outside-the-root"
    sh = tmp_path / "evil.sh"
    sh.write_text("#!/bin/sh\n"
                  f"touch '{marker}'\n"
                  "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
                  f"echo {token}\n")
    sh.chmod(0o755)
    (tmp_path / "evil.php").write_text(
        f"<?php touch('{marker}'); echo '{token}';\n")
    (root / "cgi-bin").mkdir()
    os.symlink(tmp_path, root / "cgi-bin" / "out")
    os.symlink("../../evil.sh", root / "cgi-bin" / "evil-link.sh")
    os.symlink("../evil.php", root / "leak.php")
    return root, token, marker


CGI_TARGETS = [
    ("/cgi-bin/../../evil.sh", 400),
    ("/cgi-bin/%2e%2e/%2e%2e/evil.sh", 400),
    ("/cgi-bin/..%2f..%2fevil.sh", 400),
    ("/cgi-bin/out/evil.sh", 403),
    ("/cgi-bin/evil-link.sh", 403),
    ("/cgi-bin/%2e%2e%2f%2e%2e%2fevil.sh/x", 400),
    ("/../evil.php", 400),
    ("/%2e%2e/evil.php", 400),
    ("/link/evil.php", 403),
    ("/leak.php", 403),
    ("/sub/..%2f..%2fevil.php", 400),
]


@pytest.mark.needs("cgi")
def test_an_encoded_slash_after_cgi_bin_runs_the_script_inside(
        start_server, cgi_secret_root):
    root, _, _ = cgi_secret_root
    script = root / "cgi-bin" / "name.sh"
    script.write_text("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n"
                      "\\r\\n'\necho \"$SCRIPT_NAME\"\n")
    script.chmod(0o755)
    server = start_server("-r", str(root))
    resp = exchange(server, build_request("GET", "/cgi-bin%2fname.sh"))
    assert resp.status == 200 and resp.body == b"/cgi-bin/name.sh\n", (
        f"/cgi-bin%2fname.sh is /cgi-bin/name.sh:\n{resp}")


@pytest.mark.needs("cgi")
@pytest.mark.parametrize("target, status", CGI_TARGETS)
def test_cgi_request_cannot_run_a_script_outside_the_root(
        start_server, cgi_secret_root, target, status):
    root, token, marker = cgi_secret_root
    server = start_server("-r", str(root))
    resp = exchange(server, build_request("GET", target), check_close=False)
    assert not marker.exists(), f"{target!r} ran a script outside the root"
    assert_refused(resp, target, token, status)

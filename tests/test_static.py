"""Static files (v07+): GET and HEAD under a document root built in tmp_path,
MIME types, Last-Modified, index.html, 403/404, large files byte-exact
through curl and http.client, and POST /echo."""

import email.utils
import hashlib
import http.client
import os
import shutil

import pytest

from http_util import (
    Deadline,
    build_request,
    check_common,
    check_date,
    exchange,
    read_response,
    request,
    run_curl,
    send_all,
)

pytestmark = pytest.mark.needs("static")

BIG_SIZE = 3 * 1024 * 1024
MTIME = 981173106  # Sat, 03 Feb 2001 04:05:06 GMT

# extension -> media types a correct server may send (before any ";").
MIME = {
    "html": {"text/html"},
    "css": {"text/css"},
    "js": {"text/javascript"},
    "json": {"application/json"},
    "txt": {"text/plain"},
    "svg": {"image/svg+xml"},
    "png": {"image/png"},
    "jpg": {"image/jpeg"},
    "jpeg": {"image/jpeg"},
    "gif": {"image/gif"},
    "ico": {"image/x-icon", "image/vnd.microsoft.icon"},
    "webp": {"image/webp"},
    "wasm": {"application/wasm"},
    "pdf": {"application/pdf"},
    "bin": {"application/octet-stream"},
    "xyz": {"application/octet-stream"},
}


@pytest.fixture
def docroot(tmp_path):
    """A document root:
    index.html, hello.txt, empty.txt, a b.txt,
    type.<ext> for every MIME case, noext, old.txt (mtime MTIME),
    sub/index.html, sub/page.html, noindex/file.txt."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_bytes(b"<!doctype html><title>root</title>\n")
    (root / "hello.txt").write_bytes(b"hello\n")
    (root / "empty.txt").write_bytes(b"")
    (root / "a b.txt").write_bytes(b"file with a space\n")
    for ext in MIME:
        (root / f"type.{ext}").write_bytes(f"content of type.{ext}\n".encode())
    (root / "noext").write_bytes(b"no extension\n")
    old = root / "old.txt"
    old.write_bytes(b"old\n")
    os.utime(old, (MTIME, MTIME))
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_bytes(b"<p>sub index</p>\n")
    (root / "sub" / "page.html").write_bytes(b"<p>sub page</p>\n")
    (root / "noindex").mkdir()
    (root / "noindex" / "file.txt").write_bytes(b"in noindex\n")
    return root


@pytest.fixture
def big_file(docroot):
    """docroot/big.bin: 3 MiB of random bytes; returns its content."""
    data = os.urandom(BIG_SIZE)
    (docroot / "big.bin").write_bytes(data)
    return data


@pytest.fixture
def server(start_server, docroot):
    return start_server("-r", str(docroot))


def test_get_serves_the_file_with_exact_length_and_type(server):
    resp = request(server, "GET", "/hello.txt")
    assert resp.status == 200, resp.describe()
    assert resp.body == b"hello\n", resp.describe()
    assert resp.header("Content-Length") == "6", resp.describe()
    assert resp.media_type == "text/plain", resp.describe()
    check_common(resp)


@pytest.mark.parametrize("ext", sorted(MIME))
def test_content_type_follows_the_extension(server, ext):
    resp = request(server, "GET", f"/type.{ext}")
    assert resp.status == 200, resp.describe()
    assert resp.media_type in MIME[ext], (
        f"type.{ext}: expected one of {sorted(MIME[ext])}, got:\n{resp}")
    assert resp.body == f"content of type.{ext}\n".encode()


def test_extension_match_ignores_case(server, docroot):
    (docroot / "UPPER.HTML").write_bytes(b"<p>upper</p>\n")
    resp = request(server, "GET", "/UPPER.HTML")
    assert resp.status == 200, resp.describe()
    assert resp.media_type == "text/html", resp.describe()


def test_file_without_extension_is_octet_stream(server):
    resp = request(server, "GET", "/noext")
    assert resp.status == 200, resp.describe()
    assert resp.media_type == "application/octet-stream", resp.describe()


def test_last_modified_is_the_files_mtime_as_imf_fixdate(server):
    resp = request(server, "GET", "/old.txt")
    assert resp.status == 200, resp.describe()
    value = resp.header("Last-Modified")
    assert value == "Sat, 03 Feb 2001 04:05:06 GMT", resp.describe()
    assert check_date(value) == MTIME


def test_last_modified_follows_a_fresh_file(server, docroot):
    st = os.stat(docroot / "hello.txt")
    resp = request(server, "GET", "/hello.txt")
    got = check_date(resp.header("Last-Modified"))
    assert got == int(st.st_mtime), (
        f"mtime {email.utils.formatdate(st.st_mtime, usegmt=True)}:\n{resp}")


def test_empty_file_is_200_with_content_length_0(server):
    resp = request(server, "GET", "/empty.txt")
    assert resp.status == 200, resp.describe()
    assert resp.header("Content-Length") == "0", resp.describe()
    assert resp.body == b""


def test_head_has_the_headers_of_get_and_no_body(server, big_file):
    get = request(server, "GET", "/big.bin")
    head = request(server, "HEAD", "/big.bin")
    assert get.status == head.status == 200, f"{get}\n---\n{head}"
    assert head.extra == b"", f"HEAD sent body bytes: {head.extra[:80]!r}"
    assert head.header("Content-Length") == str(BIG_SIZE), head.describe()
    for name in ("Content-Type", "Content-Length", "Last-Modified",
                 "Connection"):
        assert head.header(name) == get.header(name), (
            f"{name} differs:\n{get.describe(0)}\n---\n{head.describe(0)}")
    assert head.header_names() == get.header_names()
    check_common(head, head_request=True)


@pytest.mark.parametrize("target,expected", [
    ("/no-such-file.txt", 404), ("/noindex/", 403), ("/sub", None),
])
def test_head_of_an_error_or_redirect_has_no_body(server, target, expected):
    resp = request(server, "HEAD", target)
    if expected is not None:
        assert resp.status == expected, resp.describe()
    assert resp.extra == b"", (
        f"HEAD {target} got {len(resp.extra)} body bytes:\n"
        f"{resp.head.decode('latin-1')}{resp.extra[:200].decode('latin-1')}")
    check_common(resp, head_request=True)


def test_directory_with_slash_serves_its_index_html(server):
    resp = request(server, "GET", "/sub/")
    assert resp.status == 200, resp.describe()
    assert resp.body == b"<p>sub index</p>\n", resp.describe()
    assert resp.media_type == "text/html", resp.describe()


def test_root_serves_its_index_html(server):
    resp = request(server, "GET", "/")
    assert resp.status == 200, resp.describe()
    assert resp.body == b"<!doctype html><title>root</title>\n"


@pytest.mark.parametrize("target,location", [
    ("/sub", "/sub/"),
    ("/sub?q=1", "/sub/?q=1"),  # the query goes along, as nginx keeps it
])
def test_directory_without_slash_redirects_to_it_with_a_slash(
        server, target, location):
    # As nginx does: 301 to "/sub/", so that the index page's relative
    # links resolve inside the directory.
    resp = request(server, "GET", target)
    assert resp.status == 301, resp.describe()
    assert resp.header("Location") == location, (
        f"GET {target}: want Location: {location}\n{resp}")


def test_file_in_a_subdirectory_is_served(server):
    resp = request(server, "GET", "/sub/page.html")
    assert resp.status == 200, resp.describe()
    assert resp.body == b"<p>sub page</p>\n"


def test_directory_without_index_html_is_403_not_a_listing(server):
    resp = request(server, "GET", "/noindex/")
    assert resp.status == 403, resp.describe()
    assert "file.txt" not in resp.text(), f"a listing:\n{resp}"
    check_common(resp)


def test_missing_file_is_404(server):
    resp = request(server, "GET", "/no-such-file.txt")
    assert resp.status == 404, resp.describe()
    check_common(resp)


def test_a_name_longer_than_255_bytes_is_404(server):
    # No file system holds such a name (the kernel says ENAMETOOLONG): it
    # names no file, which is not a server error.
    resp = request(server, "GET", "/" + "n" * 256)
    assert resp.status == 404, resp.describe()


def make_nested_directories(root, names, index):
    """root/names[0]/names[1]/... with index.html in the innermost, built
    one level at a time: the whole path is longer than one call takes."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        out = os.open("index.html", os.O_WRONLY | os.O_CREAT, 0o644,
                      dir_fd=fd)
        os.write(out, index)
        os.close(out)
    finally:
        os.close(fd)


def test_a_directory_with_a_path_near_4_KiB_serves_its_index_html(server,
                                                                  docroot):
    # "/ddd.../d/" is 4086 bytes, and 4096 with "index.html" after it: a
    # 4 KiB buffer that has to hold that name too has no room for its NUL.
    names = ["d" * 255] * 15 + ["d" * 244]
    target = "/" + "/".join(names) + "/"
    assert len(target) == 4086
    make_nested_directories(docroot, names, b"deep\n")
    try:
        resp = request(server, "GET", target)
    finally:
        # Paths this long trip up whatever walks the test's directory.
        shutil.rmtree(docroot / names[0])
    assert resp.status == 200, resp.describe()
    assert resp.body == b"deep\n", resp.describe()


@pytest.mark.parametrize("target", ["/hello.txt/more", "/hello.txt/"])
def test_path_through_a_file_is_404(server, target):
    # A file has no names below it, not even the empty one after a slash
    # (what nginx answers too): a relative link on such a page would
    # otherwise resolve under the file.
    resp = request(server, "GET", target)
    assert resp.status == 404, resp.describe()


def test_percent_encoded_path_is_decoded(server):
    resp = request(server, "GET", "/a%20b.txt")
    assert resp.status == 200, resp.describe()
    assert resp.body == b"file with a space\n", resp.describe()
    resp = request(server, "GET", "/%68%65%6C%6c%6f.txt")  # hello.txt
    assert resp.status == 200, resp.describe()
    assert resp.body == b"hello\n", resp.describe()


def test_plus_in_a_path_is_a_plus_not_a_space(server, docroot):
    # Only query strings of HTML forms use "+" for a space.
    (docroot / "a+b.txt").write_bytes(b"plus\n")
    resp = request(server, "GET", "/a+b.txt")
    assert resp.status == 200 and resp.body == b"plus\n", resp.describe()
    resp = request(server, "GET", "/a%2Bb.txt")
    assert resp.status == 200 and resp.body == b"plus\n", resp.describe()


def test_bad_percent_escape_is_400(server):
    resp = request(server, "GET", "/hello%2.txt")
    assert resp.status == 400, resp.describe()
    resp = request(server, "GET", "/hello%zz.txt")
    assert resp.status == 400, resp.describe()


def test_query_string_does_not_change_the_file(server):
    resp = request(server, "GET", "/hello.txt?x=1&y=/../etc/passwd")
    assert resp.status == 200, resp.describe()
    assert resp.body == b"hello\n", resp.describe()


def test_dot_and_empty_segments_name_the_same_file(server):
    # "/./hello.txt" and "//hello.txt" name hello.txt: a "." segment and an
    # empty one are dropped (a ".." segment is refused: test_traversal).
    for target in ("/./hello.txt", "//hello.txt"):
        resp = request(server, "GET", target)
        assert resp.status == 200 and resp.body == b"hello\n", (
            f"{target}:\n{resp}")


def test_3_MiB_file_comes_back_byte_exact_over_a_raw_socket(server,
                                                           big_file):
    expected = big_file
    resp = request(server, "GET", "/big.bin", timeout=8)
    assert resp.status == 200, resp.describe(0)
    assert resp.header("Content-Length") == str(BIG_SIZE)
    assert len(resp.body) == BIG_SIZE
    assert hashlib.sha256(resp.body).hexdigest() == \
        hashlib.sha256(expected).hexdigest(), "3 MiB body differs"


def test_3_MiB_file_comes_back_byte_exact_through_curl(server, big_file,
                                                       tmp_path):
    out = tmp_path / "curl.out"
    url = f"http://{server.addr}:{server.port}/big.bin"
    done = run_curl("--fail", "-o", str(out), "-w", "%{http_code}", url)
    assert done.returncode == 0, (done.returncode, done.stderr, done.stdout)
    assert done.stdout == b"200"
    assert out.read_bytes() == big_file, \
        "curl's copy of big.bin differs"


def test_3_MiB_file_comes_back_byte_exact_through_http_client(server,
                                                              big_file):
    conn = http.client.HTTPConnection(server.addr, server.port, timeout=8)
    try:
        conn.request("GET", "/big.bin")
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, r.getheaders())
        assert r.getheader("Content-Length") == str(BIG_SIZE)
    finally:
        conn.close()
    assert body == big_file, \
        f"http.client got {len(body)} bytes, not big.bin"


def test_curl_head_request_shows_the_headers(server):
    url = f"http://{server.addr}:{server.port}/hello.txt"
    done = run_curl("--head", url)
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    assert text.startswith("HTTP/1.1 200"), text
    assert "content-length: 6" in text.lower(), text


# --- POST /echo ----------------------------------------------------------


def test_post_echo_returns_the_body_and_its_content_type(server):
    body = b'{"hello": "world", "n": [1, 2, 3]}'
    resp = request(server, "POST", "/echo", body=body,
                   headers=[("Content-Type", "application/json")])
    assert resp.status == 200, resp.describe()
    assert resp.body == body, resp.describe()
    assert resp.header("Content-Type") == "application/json", resp.describe()
    check_common(resp)


def test_post_echo_returns_binary_bytes_unchanged_via_http_client(server):
    body = bytes(range(256)) * 64 + b"\x00\r\n\r\nend"
    conn = http.client.HTTPConnection(server.addr, server.port, timeout=5)
    try:
        conn.request("POST", "/echo", body=body,
                     headers={"Content-Type": "application/x-test; q=1"})
        r = conn.getresponse()
        got = r.read()
        assert r.status == 200, (r.status, r.getheaders(), got[:200])
        assert r.getheader("Content-Type") == "application/x-test; q=1"
    finally:
        conn.close()
    assert got == body, f"echoed {len(got)} bytes, sent {len(body)}"


def test_post_echo_with_an_empty_body_is_200_and_empty(server):
    resp = request(server, "POST", "/echo",
                   headers=[("Content-Length", "0"),
                            ("Content-Type", "text/plain")])
    assert resp.status == 200, resp.describe()
    assert resp.body == b"" and resp.header("Content-Length") == "0"


def test_post_echo_of_exactly_1_MiB_is_200(server):
    body = os.urandom(1024 * 1024)
    resp = request(server, "POST", "/echo", body=body, timeout=8,
                   headers=[("Content-Type", "application/octet-stream")])
    assert resp.status == 200, resp.describe(0)
    assert resp.body == body, f"echoed {len(resp.body)} bytes, not 1 MiB"


def test_post_echo_over_1_MiB_is_413(server):
    body = b"x" * (1024 * 1024 + 1)
    data = build_request("POST", "/echo", body=body,
                         headers=[("Content-Type", "text/plain")])
    with server.connect(timeout=5) as sock:
        send_all(sock, data)  # the server may answer before taking it all
        resp = read_response(sock, deadline=Deadline(5))
    assert resp.status == 413, resp.describe()
    check_common(resp)


def test_post_echo_with_a_body_split_across_writes(server):
    body = b"part one, " + b"part two"
    data = build_request("POST", "/echo", body=body,
                         headers=[("Content-Type", "text/plain")])
    cut = len(data) - len(body) + 4  # the head and 4 bytes of the body
    with server.connect(timeout=5) as sock:
        sock.sendall(data[:cut])
        sock.sendall(data[cut:])
        resp = read_response(sock, deadline=Deadline(5))
    assert resp.status == 200, resp.describe()
    assert resp.body == body


@pytest.mark.parametrize("target", ["/hello.txt", "/", "/nonexistent"])
def test_post_anywhere_but_echo_is_405_with_allow(server, target):
    resp = request(server, "POST", target, body=b"a=1",
                   headers=[("Content-Type",
                             "application/x-www-form-urlencoded")])
    assert resp.status == 405, resp.describe()
    assert resp.header("Allow") == "GET, HEAD", resp.describe()


def test_get_echo_is_not_the_echo_handler(server):
    # /echo answers POST; GET looks for a file called echo: there is none.
    resp = request(server, "GET", "/echo")
    assert resp.status == 404, resp.describe()


def test_many_clients_fetch_at_once(server, docroot):
    # Threads serve clients concurrently: 20 requests opened together all
    # get the file.
    socks = [server.connect(timeout=5) for _ in range(20)]
    try:
        for s in socks:
            send_all(s, build_request("GET", "/hello.txt"))
        deadline = Deadline(8)
        for s in socks:
            resp = read_response(s, deadline=deadline)
            assert resp.status == 200 and resp.body == b"hello\n", \
                resp.describe()
    finally:
        for s in socks:
            s.close()
    assert exchange(server, build_request("GET", "/hello.txt")).status == 200

"""Range requests on static files (v15, RFC 9110 section 14): files say
`Accept-Ranges: bytes`; one range `bytes=a-b`, `bytes=a-` or `bytes=-n`
gets 206 with `Content-Range: bytes a-b/size` and exactly those bytes; a
range that starts past the end gets 416 with `Content-Range: bytes */size`;
several ranges, a malformed header or an `If-Range` that no longer matches
get the whole file with 200 (section 14.2 lets a server ignore Range).
HEAD with a Range has the 206 headers and no body.

Two files: a small one the server may keep in memory and a large one it
sends from the file (sendfile at an offset), so both paths are tested.
curl's -r and -C - are the real peers a user would try."""

import email.utils
import os
import re

import pytest

from http_util import (
    Deadline,
    build_request,
    check_common,
    read_response,
    request,
    run_curl,
    send_all,
)

pytestmark = pytest.mark.needs("reactor")

SMALL_SIZE = 1000
BIG_SIZE = 3 * 1024 * 1024
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def pattern(n):
    """n bytes where every offset is visible: the range [a, b] of it can
    only be matched by exactly that range."""
    return bytes((i * 7 + i // 256) % 251 for i in range(n))


@pytest.fixture
def files(tmp_path):
    """{name: content}: small.bin (1000 bytes), big.bin (3 MiB of random
    bytes), page.html, in tmp_path/root."""
    root = tmp_path / "root"
    root.mkdir()
    content = {
        "small.bin": pattern(SMALL_SIZE),
        "big.bin": os.urandom(BIG_SIZE),
        "page.html": b"<!doctype html><title>ranges</title><p>page</p>\n",
    }
    for name, data in content.items():
        (root / name).write_bytes(data)
    return content


@pytest.fixture
def server(start_server, files, tmp_path):
    return start_server("-r", str(tmp_path / "root"))


def get_range(server, target, spec, method="GET", headers=()):
    return request(server, method, target,
                   headers=[("Range", spec), *headers], timeout=8)


def assert_partial(resp, data, first, last, head_request=False):
    """resp is a 206 for bytes first..last (inclusive) of data."""
    size = len(data)
    msg = (f"Range bytes {first}-{last} of a {size}-byte file; "
           f"response:\n{resp.describe(80)}")
    assert resp.status == 206, msg
    assert resp.header("Content-Range") == f"bytes {first}-{last}/{size}", msg
    assert resp.header("Content-Length") == str(last - first + 1), msg
    if not head_request:
        want = data[first:last + 1]
        assert resp.body == want, (
            f"wrong bytes for {first}-{last}: got {len(resp.body)} bytes "
            f"starting {resp.body[:16]!r}, want {len(want)} starting "
            f"{want[:16]!r}\n{msg}")
    check_common(resp, head_request=head_request)


def assert_whole(resp, data, why):
    msg = f"{why}: expected 200 with the whole file; response:\n" \
          f"{resp.describe(80)}"
    assert resp.status == 200, msg
    assert resp.header("Content-Range") is None, msg
    assert resp.body == data, msg
    check_common(resp)


# --- Accept-Ranges ---------------------------------------------------------


@pytest.mark.parametrize("name", ["small.bin", "big.bin", "page.html"])
def test_files_advertise_accept_ranges_bytes(server, files, name):
    resp = request(server, "GET", f"/{name}", timeout=8)
    assert resp.status == 200, resp.describe(80)
    assert resp.header("Accept-Ranges") == "bytes", (
        f"GET /{name} should say Accept-Ranges: bytes:\n{resp.describe(80)}")
    assert resp.body == files[name]


# --- one satisfiable range: 206 --------------------------------------------


@pytest.mark.parametrize("name", ["small.bin", "big.bin"])
@pytest.mark.parametrize("first,last", [
    (0, 99), (100, 199), (0, 0), (1, 1), (SMALL_SIZE - 1, SMALL_SIZE - 1),
    (250, 749), (0, SMALL_SIZE - 1),
], ids=lambda v: str(v))
def test_a_closed_range_gets_206_with_exactly_those_bytes(
        server, files, name, first, last):
    data = files[name]
    resp = get_range(server, f"/{name}", f"bytes={first}-{last}")
    assert_partial(resp, data, first, last)


def test_a_range_deep_inside_a_large_file_is_byte_exact(server, files):
    data = files["big.bin"]
    first, last = 1_000_003, 2_500_000
    resp = get_range(server, "/big.bin", f"bytes={first}-{last}")
    assert_partial(resp, data, first, last)


@pytest.mark.parametrize("name", ["small.bin", "big.bin"])
@pytest.mark.parametrize("first", [0, 1, 500, -1], ids=lambda v: str(v))
def test_an_open_range_gets_the_rest_of_the_file(server, files, name, first):
    data = files[name]
    first = first if first >= 0 else len(data) - 1  # -1: the last byte
    resp = get_range(server, f"/{name}", f"bytes={first}-")
    assert_partial(resp, data, first, len(data) - 1)


@pytest.mark.parametrize("name", ["small.bin", "big.bin"])
@pytest.mark.parametrize("n", [1, 100, SMALL_SIZE - 1], ids=lambda v: str(v))
def test_a_suffix_range_gets_the_last_n_bytes(server, files, name, n):
    data = files[name]
    resp = get_range(server, f"/{name}", f"bytes=-{n}")
    assert_partial(resp, data, len(data) - n, len(data) - 1)


@pytest.mark.parametrize("spec,first,last", [
    # RFC 9110 14.1.2: a last-pos at or past the end means "to the end";
    # a suffix longer than the file means the whole file.
    ("bytes=900-5000", 900, SMALL_SIZE - 1),
    ("bytes=0-999999999", 0, SMALL_SIZE - 1),
    ("bytes=-5000", 0, SMALL_SIZE - 1),
])
def test_a_range_past_the_end_is_cut_to_the_file(server, files, spec, first,
                                                 last):
    resp = get_range(server, "/small.bin", spec)
    assert_partial(resp, files["small.bin"], first, last)


def test_partial_content_keeps_the_files_content_type(server, files):
    resp = get_range(server, "/page.html", "bytes=0-14")
    assert_partial(resp, files["page.html"], 0, 14)
    assert resp.media_type == "text/html", resp.describe()


def test_head_with_a_range_has_the_206_headers_and_no_body(server, files):
    resp = get_range(server, "/big.bin", "bytes=100-199", method="HEAD")
    assert resp.extra == b"", (
        f"HEAD with a Range sent {len(resp.extra)} body bytes: "
        f"{resp.extra[:80]!r}")
    assert_partial(resp, files["big.bin"], 100, 199, head_request=True)


# --- unsatisfiable: 416 ----------------------------------------------------


@pytest.mark.parametrize("spec", [
    f"bytes={SMALL_SIZE}-", f"bytes={SMALL_SIZE}-{SMALL_SIZE + 10}",
    "bytes=5000-6000", "bytes=999999999-",
])
def test_a_range_starting_past_the_end_is_416_with_the_size(server, spec):
    resp = get_range(server, "/small.bin", spec)
    msg = f"Range {spec} of a {SMALL_SIZE}-byte file:\n{resp.describe(80)}"
    assert resp.status == 416, msg
    assert resp.header("Content-Range") == f"bytes */{SMALL_SIZE}", msg
    check_common(resp)


# --- ignored: the whole file with 200 ---------------------------------------


@pytest.mark.parametrize("spec", [
    "bytes=0-9,20-29", "bytes=0-0,-1", "bytes=500-599, 0-99",
])
def test_several_ranges_get_the_whole_file(server, files, spec):
    resp = get_range(server, "/small.bin", spec)
    assert_whole(resp, files["small.bin"], f"Range {spec}")


@pytest.mark.parametrize("spec", [
    "bytes=abc", "bytes=", "bytes=-", "bytes 0-99", "lines=0-99",
    "bytes=1-2-3", "bytes=0x10-0x20",
])
def test_a_malformed_or_foreign_range_gets_the_whole_file(server, files,
                                                          spec):
    resp = get_range(server, "/small.bin", spec)
    assert_whole(resp, files["small.bin"], f"Range {spec!r}")


def test_range_on_a_missing_file_is_404(server):
    resp = get_range(server, "/nonexistent.bin", "bytes=0-9")
    assert resp.status == 404, resp.describe()
    assert resp.header("Content-Range") is None, resp.describe()


# --- If-Range ----------------------------------------------------------------


def test_if_range_with_the_current_etag_gets_the_range(server, files):
    etag = request(server, "HEAD", "/small.bin").header("ETag")
    assert etag, "HEAD /small.bin has no ETag to send back in If-Range"
    resp = get_range(server, "/small.bin", "bytes=10-19",
                     headers=[("If-Range", etag)])
    assert_partial(resp, files["small.bin"], 10, 19)


@pytest.mark.parametrize("tag", [
    '"not-the-etag"',
    "Sat, 03 Feb 2001 04:05:06 GMT",  # a date the file was not modified at
], ids=["another-etag", "an-old-date"])
def test_if_range_with_another_validator_gets_the_whole_file(server, files,
                                                             tag):
    # The client's partial copy is of another version: the range would
    # splice two versions together, so the whole file comes instead.
    resp = get_range(server, "/small.bin", "bytes=10-19",
                     headers=[("If-Range", tag)])
    assert_whole(resp, files["small.bin"], f"If-Range {tag}")


def test_if_range_date_must_be_last_modified_exactly(server, files):
    # RFC 9110 section 13.1.5: a date validator matches only when it equals
    # Last-Modified; a later one is not the version the client holds.
    modified = request(server, "HEAD", "/small.bin").header("Last-Modified")
    assert modified, "HEAD /small.bin has no Last-Modified"
    later = email.utils.formatdate(
        email.utils.parsedate_to_datetime(modified).timestamp() + 1,
        usegmt=True)
    resp = get_range(server, "/small.bin", "bytes=10-19",
                     headers=[("If-Range", later)])
    assert_whole(resp, files["small.bin"],
                 f"If-Range {later}, a second after Last-Modified")
    resp = get_range(server, "/small.bin", "bytes=10-19",
                     headers=[("If-Range", modified)])
    assert_partial(resp, files["small.bin"], 10, 19)


def test_if_range_with_the_etag_of_an_earlier_version_gets_it_all(
        server, files, tmp_path):
    path = tmp_path / "root" / "small.bin"
    old = request(server, "HEAD", "/small.bin").header("ETag")
    assert old, "HEAD /small.bin has no ETag"
    new = b"version two\n" * 100
    path.write_bytes(new)
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + 10))
    resp = get_range(server, "/small.bin", "bytes=0-9",
                     headers=[("If-Range", old)])
    assert_whole(resp, new, f"If-Range {old} after the file changed")


# --- on one connection -----------------------------------------------------


def test_pipelined_ranges_and_a_whole_file_stay_in_step(server, files):
    big, small = files["big.bin"], files["small.bin"]
    asks = [
        ("/big.bin", "bytes=2000000-2000999", big[2000000:2001000], 206),
        ("/small.bin", "bytes=-10", small[-10:], 206),
        ("/big.bin", None, big, 200),
        ("/big.bin", "bytes=3-5", big[3:6], 206),
        ("/small.bin", f"bytes={SMALL_SIZE}-", None, 416),
        ("/small.bin", "bytes=0-1", small[:2], 206),
    ]
    data = b"".join(
        build_request("GET", t, headers=[("Range", r)] if r else [])
        for t, r, _, _ in asks)
    deadline = Deadline(8)
    buffered = b""
    with server.connect(timeout=8) as sock:
        assert send_all(sock, data), "server closed while taking requests"
        for i, (target, spec, want, status) in enumerate(asks):
            resp = read_response(sock, deadline=deadline, buffered=buffered)
            buffered, resp.extra = resp.extra, b""
            msg = (f"response {i + 1} (GET {target}, Range {spec}):\n"
                   f"{resp.describe(80)}")
            assert resp.status == status, msg
            if want is not None:
                assert resp.body == want, (
                    f"{len(resp.body)} body bytes, want {len(want)}: {msg}")
    assert buffered == b"", f"bytes after the last response: {buffered[:80]!r}"


# --- curl -----------------------------------------------------------------


@pytest.mark.parametrize("name,spec,first,last", [
    ("small.bin", "0-99", 0, 99),
    ("big.bin", "1048576-2097151", 1048576, 2097151),
    ("big.bin", "-500", BIG_SIZE - 500, BIG_SIZE - 1),
])
def test_curl_r_downloads_exactly_the_range(server, files, tmp_path, name,
                                            spec, first, last):
    out = tmp_path / "part"
    url = f"http://{server.addr}:{server.port}/{name}"
    done = run_curl("-r", spec, "-o", str(out), "-w", "%{http_code}", url)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout == b"206", f"curl -r {spec}: status {done.stdout!r}"
    got, want = out.read_bytes(), files[name][first:last + 1]
    assert got == want, (
        f"curl -r {spec} saved {len(got)} bytes, want {len(want)} "
        f"(bytes {first}-{last} of {name})")


def test_curl_resumes_a_cut_download_with_c_dash(server, files, tmp_path):
    # A download that broke off after 1 MiB: curl -C - asks for the rest
    # (Range: bytes=1048576-) and appends it.
    out = tmp_path / "big.bin"
    data = files["big.bin"]
    out.write_bytes(data[:1048576])
    url = f"http://{server.addr}:{server.port}/big.bin"
    done = run_curl("-C", "-", "-o", str(out), "-w", "%{http_code}", url)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout == b"206", f"curl -C -: status {done.stdout!r}"
    got = out.read_bytes()
    assert got == data, (
        f"resumed file has {len(got)} bytes, want {len(data)}; "
        f"{'equal' if got[:len(data)] == data[:len(got)] else 'differs'}"
        " over the common part")

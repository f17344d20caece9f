"""Conditional GET (v15, RFC 9110 section 13): files carry an ETag (a quoted
string) and Last-Modified; `If-None-Match` with the file's ETag, `*`, a list
holding it, or its weak form gets 304 with no body, any other ETag the file;
`If-Modified-Since` at or after Last-Modified gets 304, before it the file;
when both are sent, If-None-Match decides (13.2.2). The server keeps small
files in memory and larger ones open, so a file rewritten on disk, or
replaced by another, must be served fresh at once: the cache revalidates
on every request.

The rewrites happen on one keep-alive connection, so that the same event
loop (and so the same cache) answers before and after the change. curl's
-z and --etag-compare are the real peers."""

import email.utils
import os
import re

import pytest

from http_util import (
    Deadline,
    build_request,
    check_common,
    check_date,
    read_response,
    request,
    run_curl,
    send_all,
)

pytestmark = pytest.mark.needs("reactor")

MTIME = 981173106  # Sat, 03 Feb 2001 04:05:06 GMT
MTIME_DATE = "Sat, 03 Feb 2001 04:05:06 GMT"
# RFC 9110 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
ETAG = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')
BIG_SIZE = 512 * 1024


def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


@pytest.fixture
def root(tmp_path):
    """tmp_path/root: page.html (mtime MTIME), hello.txt, big.bin (512 KiB,
    past any small-file cache)."""
    root = tmp_path / "root"
    root.mkdir()
    page = root / "page.html"
    page.write_bytes(b"<!doctype html><title>c</title><p>page</p>\n")
    os.utime(page, (MTIME, MTIME))
    (root / "hello.txt").write_bytes(b"hello\n")
    (root / "big.bin").write_bytes(os.urandom(BIG_SIZE))
    return root


@pytest.fixture
def server(start_server, root):
    return start_server("-r", str(root))


def etag_of(server, target="/page.html"):
    resp = request(server, "GET", target)
    assert resp.status == 200, resp.describe()
    etag = resp.header("ETag")
    assert etag is not None, f"GET {target} has no ETag:\n{resp.describe()}"
    return etag


def assert_not_modified(resp, what, etag=None):
    """A 304: no body bytes at all, a Date, and the ETag a 200 would carry
    (RFC 9110 15.4.5)."""
    msg = f"{what}: expected 304 Not Modified; response:\n{resp.describe()}"
    assert resp.status == 304, msg
    assert resp.extra == b"", (
        f"{what}: {len(resp.extra)} bytes after a 304 (it has no body): "
        f"{resp.extra[:200]!r}")
    check_date(resp.header("Date"))
    if etag is not None:
        assert resp.header("ETag") == etag, (
            f"{what}: the 304 should carry ETag {etag}:\n{resp.describe()}")


def assert_full(resp, body, what):
    msg = f"{what}: expected 200 with the file; response:\n{resp.describe()}"
    assert resp.status == 200, msg
    assert resp.body == body, msg
    check_common(resp)


# --- validators ------------------------------------------------------------


@pytest.mark.parametrize("target", ["/page.html", "/hello.txt", "/big.bin"])
def test_files_carry_a_quoted_etag_and_last_modified(server, target):
    resp = request(server, "GET", target)
    assert resp.status == 200, resp.describe(80)
    etag = resp.header("ETag")
    assert etag is not None and ETAG.fullmatch(etag), (
        f"ETag should be a quoted string (RFC 9110 8.8.3), got {etag!r}:\n"
        f"{resp.describe(80)}")
    check_date(resp.header("Last-Modified"))


def test_etag_is_the_same_on_every_request_and_for_head(server):
    tags = {request(server, "GET", "/page.html").header("ETag")
            for _ in range(5)}
    tags.add(request(server, "HEAD", "/page.html").header("ETag"))
    assert len(tags) == 1 and None not in tags, (
        f"one unchanged file, several ETags: {sorted(map(str, tags))}")


def test_different_files_have_different_etags(server):
    a, b = etag_of(server, "/page.html"), etag_of(server, "/hello.txt")
    assert a != b, f"page.html and hello.txt share the ETag {a}"


# --- If-None-Match ----------------------------------------------------------


def test_if_none_match_with_the_etag_is_304_without_a_body(server):
    etag = etag_of(server)
    resp = request(server, "GET", "/page.html",
                   headers=[("If-None-Match", etag)])
    assert_not_modified(resp, f"If-None-Match: {etag}", etag)
    assert resp.header("Last-Modified") == MTIME_DATE, resp.describe()


def test_if_none_match_on_a_large_file_is_304(server):
    etag = etag_of(server, "/big.bin")
    resp = request(server, "GET", "/big.bin",
                   headers=[("If-None-Match", etag)])
    assert_not_modified(resp, f"big.bin, If-None-Match: {etag}", etag)


def test_head_with_if_none_match_is_304(server):
    etag = etag_of(server)
    resp = request(server, "HEAD", "/page.html",
                   headers=[("If-None-Match", etag)])
    assert_not_modified(resp, f"HEAD, If-None-Match: {etag}", etag)


@pytest.mark.parametrize("form", ["star", "list", "weak", "weak-in-list"])
def test_if_none_match_star_list_and_weak_forms_are_304(server, form):
    etag = etag_of(server)
    strong = etag[2:] if etag.startswith("W/") else etag
    value = {
        "star": "*",
        "list": f'"nope-1", {etag}, "nope-2"',
        "weak": f"W/{strong}",  # If-None-Match compares weakly (13.1.2)
        "weak-in-list": f'"nope", W/{strong}',
    }[form]
    resp = request(server, "GET", "/page.html",
                   headers=[("If-None-Match", value)])
    assert_not_modified(resp, f"If-None-Match: {value}")


@pytest.mark.parametrize("value", ['"not-the-etag"', '"a", "b"', 'W/"zzz"'])
def test_if_none_match_with_another_etag_gets_the_file(server, root, value):
    resp = request(server, "GET", "/page.html",
                   headers=[("If-None-Match", value)])
    assert_full(resp, (root / "page.html").read_bytes(),
                f"If-None-Match: {value}")


# --- If-Modified-Since ------------------------------------------------------


@pytest.mark.parametrize("when", [0, 1, 3600, 86400 * 365],
                         ids=["equal", "1s-after", "1h-after", "1y-after"])
def test_if_modified_since_at_or_after_last_modified_is_304(server, when):
    value = http_date(MTIME + when)
    resp = request(server, "GET", "/page.html",
                   headers=[("If-Modified-Since", value)])
    assert_not_modified(resp, f"Last-Modified {MTIME_DATE}, "
                              f"If-Modified-Since: {value}")


@pytest.mark.parametrize("when", [1, 86400], ids=["1s-before", "1d-before"])
def test_if_modified_since_before_last_modified_gets_the_file(server, root,
                                                              when):
    value = http_date(MTIME - when)
    resp = request(server, "GET", "/page.html",
                   headers=[("If-Modified-Since", value)])
    assert_full(resp, (root / "page.html").read_bytes(),
                f"Last-Modified {MTIME_DATE}, If-Modified-Since: {value}")


@pytest.mark.parametrize("value", ["yesterday", "Sat, 03 Feb 2001", ""])
def test_an_unreadable_if_modified_since_is_ignored(server, root, value):
    # RFC 9110 13.1.3: not a valid HTTP-date, so the recipient MUST ignore it.
    resp = request(server, "GET", "/page.html",
                   headers=[("If-Modified-Since", value)])
    assert_full(resp, (root / "page.html").read_bytes(),
                f"If-Modified-Since: {value!r}")


def test_the_last_modified_it_sent_gets_304_when_sent_back(server, root):
    # What a browser does: store Last-Modified, send it back.
    first = request(server, "GET", "/hello.txt")
    lm = first.header("Last-Modified")
    assert lm, f"no Last-Modified:\n{first.describe()}"
    resp = request(server, "GET", "/hello.txt",
                   headers=[("If-Modified-Since", lm)])
    assert_not_modified(resp, f"If-Modified-Since: {lm} (its own value)")


# --- both: If-None-Match decides --------------------------------------------


def test_a_non_matching_if_none_match_wins_over_if_modified_since(server,
                                                                  root):
    resp = request(server, "GET", "/page.html",
                   headers=[("If-None-Match", '"not-the-etag"'),
                            ("If-Modified-Since", MTIME_DATE)])
    assert_full(resp, (root / "page.html").read_bytes(),
                "If-None-Match another ETag, If-Modified-Since its date")


def test_a_matching_if_none_match_wins_over_an_old_if_modified_since(server):
    etag = etag_of(server)
    resp = request(server, "GET", "/page.html",
                   headers=[("If-None-Match", etag),
                            ("If-Modified-Since", http_date(MTIME - 86400))])
    assert_not_modified(resp, "If-None-Match its ETag, If-Modified-Since "
                              "a day before its date")


# --- the cache revalidates --------------------------------------------------


def rewrite(path, data, mtime, replace=False):
    """Writes data into path, or with replace into a new file renamed over
    it (a new inode: a descriptor kept open still reads the old one)."""
    target = path.with_name(path.name + ".new") if replace else path
    target.write_bytes(data)
    os.utime(target, (mtime, mtime))
    if replace:
        os.replace(target, path)


def get_on(sock, target, deadline, headers=()):
    assert send_all(sock, build_request("GET", target, headers=headers)), (
        f"server closed the keep-alive connection before GET {target}")
    resp = read_response(sock, deadline=deadline)
    assert resp.extra == b"", f"bytes past the response: {resp.extra[:80]!r}"
    return resp


@pytest.mark.parametrize("name", ["page.html", "big.bin"])
@pytest.mark.parametrize("change",
                         ["longer", "shorter", "same-size", "replaced"])
def test_a_file_changed_on_disk_is_served_fresh_at_once(server, root, change,
                                                        name):
    path = root / name
    old = path.read_bytes()
    new = {
        "longer": old + b"<p>a second paragraph, added later</p>\n",
        "shorter": b"<p>short</p>\n",
        "same-size": old[::-1],
        "replaced": old[::-1],
    }[change]
    assert new != old
    deadline = Deadline(8)
    with server.connect(timeout=8) as sock:
        for _ in range(3):  # warm whatever the server caches
            before = get_on(sock, f"/{name}", deadline)
            assert before.status == 200 and before.body == old, (
                before.describe())
        rewrite(path, new, MTIME + 3600, replace=change == "replaced")
        after = get_on(sock, f"/{name}", deadline)
        assert after.status == 200, after.describe()
        assert after.body == new, (
            f"after the file was rewritten ({change}), the server sent the "
            f"old content:\n{after.describe()}")
        assert after.header("Last-Modified") == http_date(MTIME + 3600), (
            f"Last-Modified should follow the new mtime:\n{after.describe()}")
        assert after.header("ETag") != before.header("ETag"), (
            f"the ETag stayed {before.header('ETag')} though the file "
            "changed")
        # The old validator no longer matches: the new file comes back.
        stale = get_on(sock, f"/{name}", deadline,
                       headers=[("If-None-Match", before.header("ETag"))])
        assert stale.status == 200 and stale.body == new, (
            f"If-None-Match with the old ETag after a change:\n"
            f"{stale.describe()}")
        fresh = get_on(sock, f"/{name}", deadline,
                       headers=[("If-None-Match", after.header("ETag"))])
        assert fresh.status == 304, (
            f"If-None-Match with the new ETag:\n{fresh.describe()}")


def test_a_file_removed_after_being_served_is_404(server, root):
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        for _ in range(3):
            resp = get_on(sock, "/hello.txt", deadline)
            assert resp.status == 200, resp.describe()
        (root / "hello.txt").unlink()
        resp = get_on(sock, "/hello.txt", deadline)
        assert resp.status == 404, (
            f"hello.txt was deleted, yet GET /hello.txt got:\n"
            f"{resp.describe()}")


# --- curl -----------------------------------------------------------------


def test_curl_z_gets_304_for_an_unchanged_file(server, tmp_path):
    url = f"http://{server.addr}:{server.port}/page.html"
    out = tmp_path / "out"
    done = run_curl("-z", MTIME_DATE, "-o", str(out), "-w", "%{http_code}",
                    url)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout == b"304", f"curl -z: status {done.stdout!r}"


def test_curl_etag_compare_gets_304_then_200_after_a_change(server, root,
                                                            tmp_path):
    url = f"http://{server.addr}:{server.port}/page.html"
    tags, out = tmp_path / "etag", tmp_path / "out"
    done = run_curl("--etag-save", str(tags), "-o", str(out),
                    "-w", "%{http_code}", url)
    assert done.returncode == 0 and done.stdout == b"200", (
        done.returncode, done.stdout, done.stderr)
    assert tags.read_text().strip(), "curl saved no ETag"
    done = run_curl("--etag-compare", str(tags), "-o", str(out),
                    "-w", "%{http_code}", url)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout == b"304", (
        f"curl --etag-compare {tags.read_text().strip()}: "
        f"status {done.stdout!r}")
    rewrite(root / "page.html", b"<p>new</p>\n", MTIME + 60)
    done = run_curl("--etag-compare", str(tags), "-o", str(out),
                    "-w", "%{http_code}", url)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout == b"200" and out.read_bytes() == b"<p>new</p>\n", (
        f"after a change, curl --etag-compare got {done.stdout!r} and "
        f"{out.read_bytes()[:80]!r}")

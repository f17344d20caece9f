"""Heap allocations per request (v15), counted: a keep-alive request
answered from the file cache allocates nothing, whatever its path's length
or its file's size (a large file's descriptor is kept open, and shared),
and a new connection allocates at most four times (its TcpConnection, its
place in the loop's set, its HttpSession and, when an I/O loop takes it
over, the functor that hands it there).

The counter is tests/alloc_counter.c, built here into a shared library and
loaded into the server with LD_PRELOAD: it counts every malloc, calloc,
realloc and aligned allocation (operator new calls malloc) in a file this
test reads between two batches of requests. Each request waits for its
answer, and the server allocates for a request before it answers, so the
difference between two reads is what the batch cost.

Under a sanitizer (the asan and tsan passes of scripts/test) the
sanitizer's runtime is the allocator: it must come first among the
libraries, its operator new does not go through malloc, and its own
bookkeeping allocates. A count there would measure the sanitizer. So
there the test sends the same requests and checks every answer, which is
what those passes look at (a use after free in the reused exchange or a
race in the reused queue would be reported there); the counts are checked
by the default pass.
"""

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from http_util import build_request, read_response, read_until_close, send_all

pytestmark = pytest.mark.needs("reactor")

COUNTER_SOURCE = Path(__file__).resolve().parent / "alloc_counter.c"
HITS = 200  # keep-alive requests counted per path
CONNECTIONS = 50  # new connections counted
# First the spares, the caches and the heaps grow to their size: a loop's
# timer heap keeps up to 64 cancelled entries before it drops them.
WARM_UP = 20
WARM_UP_CONNECTIONS = 100
MAX_PER_CONNECTION = 4
# Now and then a vector that keeps its memory (a loop's ready list, its
# queue of functors) still grows once: a few in all, never one more per
# connection, which would add CONNECTIONS.
GROWTH = 5
SHORT_PATH = "/hello.txt"  # fits std::string's own storage (15 bytes)
LONG_PATH = "/sixteen-chars.x"  # does not: each copy of it allocated
LARGE_PATH = "/large.bin"  # too large to keep in memory: sent by sendfile
BODIES = {SHORT_PATH: b"hello, world!",  # 13 bytes
          LONG_PATH: b"hello, world!",
          LARGE_PATH: bytes(range(256)) * 1024}  # 256 KiB


def sanitized_binary(path):
    """Whether the server is linked with a sanitizer's runtime."""
    data = Path(path).read_bytes()
    return any(f"lib{s}san.so".encode() in data for s in ("a", "t", "ub"))


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    for path, body in BODIES.items():
        (root / path.lstrip("/")).write_bytes(body)
    return root


class Counter:
    """The count alloc_counter.so keeps in a file; None: not counting."""

    def __init__(self, path):
        self.path = path

    def read(self):
        if self.path is None:
            return None
        return struct.unpack("=Q", self.path.read_bytes()[:8])[0]


@pytest.fixture
def counted_server(stage, start_server, root, tmp_path):
    """The server with the counter preloaded, or without it on a sanitized
    build; returns (server, Counter)."""
    if sanitized_binary(stage.server):
        return start_server("-r", root), Counter(None)
    compiler = shutil.which("cc")
    assert compiler, "no C compiler (cc) to build the allocation counter"
    library = tmp_path / "alloc_counter.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", library,
                    COUNTER_SOURCE], check=True, timeout=30)
    count_file = tmp_path / "allocations"
    env = dict(os.environ, LD_PRELOAD=str(library),
               ALLOC_COUNTER_FILE=str(count_file))
    server = start_server("-r", root, env=env)
    return server, Counter(count_file)


def get(sock, path, close=False):
    headers = [("Connection", "close")] if close else []
    send_all(sock, build_request("GET", path, headers))
    resp = read_response(sock)
    assert resp.status == 200, f"GET {path}: {resp.status}"
    assert resp.body == BODIES[path], f"GET {path}: {resp.body[:40]!r}"


def allocations_of(counter, work):
    """Runs work(); returns the allocations the server made meanwhile."""
    before = counter.read()
    work()
    after = counter.read()
    return None if before is None else after - before


@pytest.mark.parametrize("path", [SHORT_PATH, LONG_PATH, LARGE_PATH])
def test_a_cached_keep_alive_hit_allocates_nothing(counted_server, path):
    server, counter = counted_server
    sock = server.connect()
    for _ in range(WARM_UP):  # the first one puts the file in the cache
        get(sock, path)
    count = allocations_of(
        counter, lambda: [get(sock, path) for _ in range(HITS)])
    sock.close()
    if count is not None:
        assert count == 0, (
            f"{count} allocations in {HITS} keep-alive requests for {path}, "
            "answered from the cache: none expected")


def new_connections(server, n):
    for _ in range(n):
        sock = server.connect()
        get(sock, SHORT_PATH, close=True)
        read_until_close(sock)
        sock.close()


def test_a_new_connection_allocates_at_most_four_times(counted_server):
    server, counter = counted_server
    new_connections(server, WARM_UP_CONNECTIONS)
    count = allocations_of(counter,
                           lambda: new_connections(server, CONNECTIONS))
    if count is not None:
        assert count <= MAX_PER_CONNECTION * CONNECTIONS + GROWTH, (
            f"{count / CONNECTIONS:.2f} allocations per new connection "
            f"({count} for {CONNECTIONS}): at most {MAX_PER_CONNECTION} "
            "expected")

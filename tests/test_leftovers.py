"""Leave nothing behind, and stay quiet: after many clients have come and
gone, the server holds what it held when idle before them, and it said
nothing about them.

Each test sends one load twice through one server: a warm-up round, then,
from the idle state that leaves (the baseline), a measured round of the
same shape. After the measured round, once idle again:

- nothing on the server's stderr, nor in its error log (v12+), for a load
  of clients that were all served normally: no line per client (accept
  interrupted by the SIGCHLD of an exiting child on the fork stages, a
  script that exited);
- no zombie children, and no children at all where a child serves one
  client (v02, v03) or runs one script (CGI, v08+);
- no more threads than at the baseline (a thread per client exits);
- no more descriptors than at the baseline;
- virtual memory (VmSize) within a bound of the baseline: a thread never
  detached keeps its stack mapped, 8 MiB per client;
- resident memory (VmRSS) within a bound of the baseline tight enough
  that a few hundred bytes kept per connection (a timer left in an event
  loop's queue after its connection closed) show over one round.

Echo stages: 400 clients a round, eight at a time. HTTP stages: 800
connections a round, eight at a time; every other one asks three requests
of a keep-alive connection (v09+), the rest one; one in twenty starts with a
CGI script from /cgi-bin/, four a round with a PHP script (php-cgi, or
php-fpm on the FastCGI stages, v11+). Under a sanitizer a round is half
as long. This file checks what a connection may leave behind; test_abuse
checks what 100,000 requests on 200 connections may (a few bytes each)."""

import re
import threading
from pathlib import Path

import pytest

from test_abuse import measurable_env
from test_fastcgi import short_dir, start_fpm  # noqa: F401  (fixtures)
from util import (Deadline, children_of, echo_expected, echo_roundtrip,
                  fd_count, fd_targets, recv_until_eof, rss_bytes, shorten,
                  thread_count, wait_until, zombies_of)

KiB, MiB = 1 << 10, 1 << 20
PARALLEL = 8  # clients at once: children exit while the server accepts
ECHO_CLIENTS = 400  # a round
HTTP_CONNECTIONS = 800  # a round
SANITIZED_SHARE = 2  # under a sanitizer a round is half as long
CGI_EVERY = 20  # one connection in twenty starts with a /cgi-bin/ script
PHP_EVERY = 200  # four a round with PHP (php-cgi takes 20 ms or more)
ROUND_TIMEOUT = 4.0  # seconds for one round
IDLE_TIMEOUT = 2.0  # seconds for the server to be idle again after a round

# VmSize: the stack of the thread that exited last may still be mapped
# (glibc unmaps a stack from the next thread that exits; under ASan two
# stacks were seen), so up to 16 MiB moved between two equal rounds. A
# thread per client never detached is 8 MiB per client: gigabytes here.
VM_BOUND = 64 * MiB

# VmRSS growth over the measured round, by build and by whether a thread
# is made per client (v04-v12). Measured on every stage with
# leftover_env(), rounds of 800 connections (400 under a sanitizer):
# - default: at most 28 KiB with no thread per client. One timer kept per
#   closed connection (v15) grew it by 320 KiB: 400 bytes a connection.
#   With a thread per client, up to 156 KiB: the stack of the thread that
#   exited last is still mapped, with the pages it touched.
# - ASan: at most 116 KiB with no thread per client; 512 KiB for that
#   timer. With a thread per client up to 548 KiB: ASan keeps records of
#   the threads it saw. A leak there is for the default build to find.
# - TSan (v14, v15): 520 to 690 KiB, its shadow of memory touched again;
#   2 MiB for that timer.
RSS_BOUNDS = {  # (sanitizer, a thread per client): bound
    (None, False): 128 * KiB,
    (None, True): 384 * KiB,
    ("asan", False): 256 * KiB,
    ("asan", True): 2 * MiB,
    ("tsan", False): 1280 * KiB,
}

STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


# --- the load ----------------------------------------------------------------


def in_parallel(count, work, timeout):
    """Runs work(i) for i in range(count) from PARALLEL threads; returns
    the first problem reported (work returns a string), or None."""
    deadline = Deadline(timeout)
    todo = iter(range(count))
    lock = threading.Lock()
    problems = []

    def worker():
        while not deadline.expired():
            with lock:
                i = next(todo, None)
                if i is None or problems:
                    return
            try:
                problem = work(i, deadline)
            except (AssertionError, OSError) as e:
                problem = f"client {i}: {e!r}"
            if problem:
                with lock:
                    problems.append(problem)

    threads = [threading.Thread(target=worker) for _ in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(deadline.left() + 1)
    if problems:
        return problems[0]
    left = next(todo, None)
    if left is not None:
        return f"clients {left}..{count - 1} not run within {timeout} s"
    return None


def echo_client(server, i, deadline):
    data = f"client {i}: hello\n".encode()
    got = echo_roundtrip(server, data, timeout=deadline.left())
    if got != echo_expected(data):
        return f"client {i} sent {data!r}, got {shorten(got)}"
    return None


def targets_of(stage, i):
    """The paths connection i asks for, in order."""
    targets = ["/hello.txt"]
    if stage.has("cgi") and i % CGI_EVERY == 0:
        targets = ["/cgi-bin/hello.sh"]
    if stage.has("cgi") and i % PHP_EVERY == 0:
        targets = ["/hello.php"]
    if stage.has("keepalive") and i % 2:
        targets += ["/index.html", "/hello.txt"]
    return targets


def http_request(target, last):
    close = "Connection: close\r\n" if last else ""
    return f"GET {target} HTTP/1.1\r\nHost: x\r\n{close}\r\n".encode()


def http_connection(server, targets, deadline):
    """Asks for targets on one connection, pipelined, the last with
    Connection: close; every answer must be a 200."""
    last = len(targets) - 1
    with server.connect(timeout=deadline.left()) as sock:
        sock.sendall(b"".join(http_request(t, k == last)
                              for k, t in enumerate(targets)))
        got = recv_until_eof(sock, timeout=deadline.left())
    statuses = STATUS_LINE.findall(got)
    if statuses != [b"200"] * len(targets):
        return f"asked for {targets}, got {statuses}: {shorten(got)}"
    return None


# --- what the server holds ---------------------------------------------------


def vm_bytes(pid):
    """The virtual memory of process pid (VmSize), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * KiB
    raise AssertionError(f"no VmSize in /proc/{pid}/status")


def describe(procs, shown=5):
    """The first few of procs, and how many there are."""
    text = ", ".join(f"pid {p['pid']} ({p['comm']}, state {p['state']})"
                     for p in procs[:shown])
    return f"{len(procs)}: {text}" + (", ..." if len(procs) > shown else "")


class Holdings:
    """What the server holds when idle: threads, descriptors, memory."""

    def __init__(self, pid):
        self.threads = thread_count(pid)
        self.fds = fd_count(pid)
        self.rss = rss_bytes(pid)
        self.vm = vm_bytes(pid)


def wait_idle(server, threads=None, fds=None):
    """Waits until the server has no children and, where given, at most
    threads threads and fds descriptors; returns what it holds then."""
    pid = server.pid

    def idle():
        return (not children_of(pid)
                and (threads is None or thread_count(pid) <= threads)
                and (fds is None or fd_count(pid) <= fds))

    wait_until(idle, timeout=IDLE_TIMEOUT)
    return Holdings(pid)


def sanitizer_of(pid):
    """"asan", "tsan" or None: the sanitizer process pid runs under."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return next((name for name in ("asan", "tsan")
                 if f"/lib{name}" in maps), None)


def rss_bound(pid, stage):
    """How far VmRSS may grow over the measured round (see RSS_BOUNDS)."""
    return RSS_BOUNDS[sanitizer_of(pid), stage.has("threads")]


def check_left_behind(server, stage, what, before):
    """The checks after the measured round, each with its own message."""
    pid = server.pid
    zombies = zombies_of(pid)
    assert not zombies, (
        f"after {what}, zombie children of the server (never reaped): "
        f"{describe(zombies)}")
    kids = children_of(pid)
    assert not kids, (
        f"after {what}, the server still has children {IDLE_TIMEOUT} s "
        f"later: {describe(kids)}")
    after = Holdings(pid)
    assert after.threads <= before.threads, (
        f"after {what}, the server runs {after.threads} threads; it ran "
        f"{before.threads} before them")
    assert after.fds <= before.fds, (
        f"after {what}, the server has {after.fds} descriptors open; it "
        f"had {before.fds} before them:\n" + "\n".join(fd_targets(pid)))
    vm_growth = after.vm - before.vm
    assert vm_growth < VM_BOUND, (
        f"after {what}, the server's virtual memory (VmSize) grew by "
        f"{vm_growth / MiB:.1f} MiB, past {VM_BOUND // MiB} MiB: "
        "something per client stays mapped (a thread's stack?)")
    rss_growth, bound = after.rss - before.rss, rss_bound(pid, stage)
    assert rss_growth < bound, (
        f"after {what}, the server's resident memory (VmRSS) grew by "
        f"{rss_growth / KiB:.0f} KiB, past {bound // KiB} KiB: something "
        "kept per connection is never freed")


def check_quiet(server, what, error_log=None):
    err = server.stderr_text()
    assert not err, (
        f"the server wrote to stderr during {what}, all of them served "
        f"normally:\n{err[:2000]}")
    if error_log is not None:
        text = error_log.read_text(errors="replace")
        assert not text, (
            f"the server wrote to its error log during {what}, all of "
            f"them served normally:\n{text[:2000]}")


def leftover_env():
    """The environment for a server whose memory the test measures: ASan's
    quarantine off (see measurable_env), and two of glibc's caches that
    keep memory by timing, not by load, turned off. A thread gets a new
    malloc arena, 64 MiB of address space, when the others are busy (up to
    eight per core), and a thread that exits leaves its stack in a cache of
    up to 40 MiB with the pages it touched still resident: how many of
    either a round leaves depends on which threads ran at once, so VmSize
    jumped by 64 MiB (v06) and VmRSS by 100 KiB (v08) between two equal
    rounds. With one arena and no stack cache they stay flat."""
    return {**measurable_env(), "GLIBC_TUNABLES":
            "glibc.malloc.arena_max=1:glibc.malloc.top_pad=0:"
            "glibc.malloc.trim_threshold=0:glibc.pthread.stack_cache_size=0"}


def run_rounds(server, stage, count, work):
    """The warm-up round, the baseline, the measured round; returns the
    baseline and the round's size."""
    # Idle, a thread-per-client or forking server runs the threads it
    # started with (one; two under TSan, its own). An event loop's threads
    # all come up at startup, some maybe just after the ready line: its
    # idle count is the one after warming up.
    idle_threads = None if stage.has("eventloop") else thread_count(server.pid)
    if sanitizer_of(server.pid):
        count //= SANITIZED_SHARE
    problem = in_parallel(count, work, ROUND_TIMEOUT)
    assert problem is None, f"warming up: {problem}"
    before = wait_idle(server, idle_threads)
    problem = in_parallel(count, work, ROUND_TIMEOUT)
    assert problem is None, f"measured round: {problem}"
    wait_idle(server, before.threads, before.fds)
    return before, count


# --- echo --------------------------------------------------------------------


@pytest.mark.needs("echo")
def test_echo_clients_leave_nothing_behind_and_nothing_is_said(
        start_server, stage):
    server = start_server(env=leftover_env())
    before, count = run_rounds(
        server, stage, ECHO_CLIENTS,
        lambda i, deadline: echo_client(server, i, deadline))
    what = f"{count} echo clients, {PARALLEL} at a time"
    check_quiet(server, what)
    check_left_behind(server, stage, what, before)


# --- HTTP --------------------------------------------------------------------

CGI_SCRIPT = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhi\\n'\n"
PHP_SCRIPT = "<?php header('Content-Type: text/plain'); echo \"hi\\n\";\n"


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    (root / "cgi-bin").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>t</title>ok\n")
    (root / "hello.txt").write_text("hello\n")
    (root / "hello.php").write_text(PHP_SCRIPT)
    script = root / "cgi-bin" / "hello.sh"
    script.write_text(CGI_SCRIPT)
    script.chmod(0o755)
    return root


def http_server_args(stage, root, tmp_path, fpm):
    """The arguments for the stage: a configuration file from v10 on (the
    FastCGI stages send .php to fpm, the logging stages write errors to
    tmp_path/error.log), -r before, nothing for v06."""
    if not stage.has("static"):
        return []
    if not stage.has("config"):
        return ["-r", root]
    lines = [f"root = {root}"]
    if stage.has("fastcgi"):
        lines.append(f"fastcgi_pass = {fpm.pass_value}")
    if stage.has("logging"):
        lines.append(f"error_log = {tmp_path / 'error.log'}")
    conf = tmp_path / "server.conf"
    conf.write_text("".join(line + "\n" for line in lines))
    return ["-c", conf]


@pytest.mark.needs("http")
def test_http_requests_leave_nothing_behind_and_nothing_is_said(
        start_server, stage, root, tmp_path, request):
    # start_fpm (test_fastcgi's) stops php-fpm after the test.
    fpm = (request.getfixturevalue("start_fpm")()
           if stage.has("fastcgi") else None)
    server = start_server(*http_server_args(stage, root, tmp_path, fpm),
                          env=leftover_env())
    before, count = run_rounds(
        server, stage, HTTP_CONNECTIONS,
        lambda i, deadline: http_connection(
            server, targets_of(stage, i), deadline))
    what = f"{count} HTTP connections, {PARALLEL} at a time"
    error_log = tmp_path / "error.log" if stage.has("logging") else None
    check_quiet(server, what, error_log)
    check_left_behind(server, stage, what, before)

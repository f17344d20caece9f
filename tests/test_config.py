"""The configuration file (v10+): `key = value`
lines, `#` comments, blank lines; -c reads it, flags override it whatever
their order, -t checks it (file plus flags) and prints `configuration ok`
or the error. A mistake stops the server with one line on stderr,
`server: FILE:LINE: what is wrong`, and exit 2. Relative paths in the file
are taken from the file's directory.

Only v10's keys appear here (listen, root, index, keepalive_timeout,
keepalive_requests, max_body_size, cgi_timeout, php_cgi, daemon, pidfile),
so that these files also prove the format carries forward unchanged to
every later stage.

The start_server fixture always passes `-b 127.0.0.1 -p 0`, which override
`listen`; the tests of `listen` itself run the server with exactly their own
arguments (DirectServer)."""

import os
import re
import selectors
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from http_util import (
    HEAD_PAST_LIMIT,
    REQUEST_LINE_PAST_LIMIT,
    Deadline,
    build_request,
    check_common,
    exchange,
    read_response,
    read_until_close,
    request,
    send_all,
)
from util import describe_status, is_gone, wait_gone

pytestmark = pytest.mark.needs("config")

READY = re.compile(r"listening on (\S+):(\d+)")
ROOT_INDEX = b"<p>index.html</p>\n"
ROOT_HOME = b"<p>home.html</p>\n"


# --- files ----------------------------------------------------------------


def write_conf(path, text):
    """Writes a configuration file (text dedented) and returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def make_root(path, tag=""):
    """A document root: index.html, home.html, hello.txt (its content ends
    with tag, to tell two roots apart), sub/ with both index files, t.php,
    cgi-bin/."""
    root = Path(path)
    (root / "sub").mkdir(parents=True, exist_ok=True)
    (root / "cgi-bin").mkdir(exist_ok=True)
    (root / "index.html").write_bytes(ROOT_INDEX)
    (root / "home.html").write_bytes(ROOT_HOME)
    (root / "hello.txt").write_bytes(f"hello{tag}\n".encode())
    (root / "sub" / "index.html").write_bytes(b"<p>sub index.html</p>\n")
    (root / "sub" / "home.html").write_bytes(b"<p>sub home.html</p>\n")
    (root / "t.php").write_text("<?php echo 'real php';\n")
    return root


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def held_port():
    """A port something else is listening on: a server that bound the
    configuration's listen port instead of the one its flags name would
    fail with "Address already in use"."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture
def root(tmp_path):
    return make_root(tmp_path / "root")


@pytest.fixture
def good_conf(tmp_path, root, held_port):
    """A configuration using every v10 key, with small limits the tests
    can observe. Its listen port is held by another socket, so every
    server started from it by the fixture (-b 127.0.0.1 -p 0) shows that
    flags before -c beat the file."""
    (tmp_path / "etc" / "run").mkdir(parents=True)
    return write_conf(tmp_path / "etc" / "server.conf", f"""
        # A configuration for the keep-alive and body limits tests.
        listen = 127.0.0.1:{held_port}
        root = {root}
        index = home.html

        keepalive_timeout = 1
        keepalive_requests = 3
        max_body_size = 2k
        cgi_timeout = 1
        php_cgi = /usr/bin/php-cgi
        daemon = off
        pidfile = run/server.pid
        """)


# --- running the server ---------------------------------------------------


def check_config(run_server, *args):
    """`server -t ARGS`: the CompletedProcess (text)."""
    return run_server(["-t", *map(str, args)], timeout=5)


def describe_run(result):
    return (f"command: {' '.join(map(str, result.args))}\n"
            f"{describe_status(result.returncode)}\n"
            f"stdout: {result.stdout!r}\nstderr: {result.stderr!r}")


def assert_config_ok(result):
    assert result.returncode == 0 and result.stdout == "configuration ok\n", (
        f"expected exit 0 and exactly 'configuration ok' on stdout:\n"
        f"{describe_run(result)}")


def assert_config_error(result, prefix, needle=None):
    """Exit 2 and one line on stderr starting with prefix (such as
    "server: FILE:LINE: ") and, if given, naming needle."""
    why = describe_run(result)
    assert result.returncode == 2, f"expected exit status 2:\n{why}"
    assert "configuration ok" not in result.stdout, why
    err = result.stderr
    assert err.endswith("\n") and err.count("\n") == 1, (
        f"expected exactly one line on stderr:\n{why}")
    assert err.startswith(prefix), f"expected {prefix!r}...:\n{why}"
    if needle is not None:
        assert needle in err, f"the message should name {needle!r}:\n{why}"


class DirectServer:
    """The stage's server run with exactly the given arguments (no -b/-p
    added), for the tests about `listen` itself."""

    def __init__(self, stage, tmp_path, args, n):
        if not stage.server.exists():
            pytest.fail(f"{stage.server} is not built", pytrace=False)
        self.argv = [str(stage.server), *map(str, args)]
        self.stderr_path = tmp_path / f"direct{n}.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=err, process_group=0)
        self.stdout = bytearray()

    def describe(self):
        return (f"command: {' '.join(self.argv)}\n"
                f"status: {describe_status(self.proc.poll())}\n"
                f"stdout: {bytes(self.stdout)!r}\n"
                f"stderr: {self.stderr_path.read_text(errors='replace')!r}")

    def ready_line(self, timeout=5.0):
        """The first line of stdout, read against a deadline."""
        fd = self.proc.stdout.fileno()
        deadline = Deadline(timeout)
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self.stdout:
                if deadline.expired():
                    raise AssertionError(
                        f"no ready line within {timeout} s\n"
                        f"{self.describe()}")
                if not sel.select(deadline.left()):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(5)
                    raise AssertionError(
                        f"the server exited before it was ready\n"
                        f"{self.describe()}")
                self.stdout += chunk
        return bytes(self.stdout).split(b"\n", 1)[0].decode("latin-1")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.stdout.close()


@pytest.fixture
def direct(stage, tmp_path):
    """direct(*args): a DirectServer, stopped after the test."""
    servers = []

    def start(*args):
        srv = DirectServer(stage, tmp_path, args, len(servers))
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def get(server_or_port, target, headers=(), timeout=5):
    """One GET on its own connection (Connection: close)."""
    if isinstance(server_or_port, int):
        port = server_or_port

        class At:
            def connect(self, timeout):
                return socket.create_connection(("127.0.0.1", port), timeout)

        server_or_port = At()
    return request(server_or_port, "GET", target, headers=headers,
                   timeout=timeout)


def idle_close_time(server):
    """Seconds from a kept-alive response to the server's close."""
    with server.connect(timeout=5) as sock:
        assert send_all(sock, build_request("GET", "/hello.txt"))
        resp = read_response(sock, timeout=5)
        assert resp.status == 200, resp.describe()
        start = time.monotonic()
        closed, more = read_until_close(sock, 5)
        elapsed = time.monotonic() - start
    assert closed, f"idle connection still open after 5 s; response:\n{resp}"
    assert more == b"", f"server sent {more[:200]!r} on an idle connection"
    return elapsed


# --- -t: a good configuration -------------------------------------------


@pytest.mark.parametrize("order", ["t-first", "t-last"])
def test_check_of_a_good_file_prints_configuration_ok(
        run_server, good_conf, order):
    args = (["-t", "-c", good_conf] if order == "t-first"
            else ["-c", good_conf, "-t"])
    result = run_server([str(a) for a in args], timeout=5)
    assert_config_ok(result)


def test_check_of_the_shipped_server_conf_is_ok(run_server, stage):
    conf = stage.dir / "server.conf"
    assert conf.is_file(), f"{stage.name} ships no server.conf"
    assert_config_ok(check_config(run_server, "-c", conf))


def test_check_without_a_file_checks_the_flags(run_server, root):
    assert_config_ok(check_config(run_server, "-r", root))


@pytest.mark.parametrize("value", ["on", "off", "yes", "no", "true", "false"])
def test_check_accepts_every_spelling_of_daemon(run_server, tmp_path, root,
                                                 value):
    conf = write_conf(tmp_path / "server.conf", f"""
        root = {root}
        daemon = {value}
        """)
    assert_config_ok(check_config(run_server, "-c", conf))


@pytest.mark.parametrize("value", ["512", "2k", "1m", "1g"])
def test_check_accepts_max_body_size_with_and_without_suffix(
        run_server, tmp_path, root, value):
    conf = write_conf(tmp_path / "server.conf", f"""
        root = {root}
        max_body_size = {value}
        """)
    assert_config_ok(check_config(run_server, "-c", conf))


def test_comments_blank_lines_and_spacing_are_ignored(
        run_server, start_server, tmp_path, root):
    conf = write_conf(tmp_path / "server.conf", (
        "# a whole-line comment\n"
        "\n"
        "   \n"
        "\t# an indented comment\n"
        "   # another\n"
        f"root={root}\n"
        "  index   =   home.html   # a comment after the value\n"
        "max_body_size\t=\t2k\t# tabs around\n"
        "\n"
        "keepalive_requests = 3 #\n"
        "# the last line is a comment without a newline"))
    assert_config_ok(check_config(run_server, "-c", conf))
    server = start_server("-c", conf)
    resp = get(server, "/")
    assert resp.status == 200 and resp.body == ROOT_HOME, (
        f"index = home.html (with a trailing comment) not honoured:\n{resp}")
    resp = request(server, "POST", "/echo", body=b"x" * 3000)
    assert resp.status == 413, (
        f"max_body_size = 2k (tab separated) not honoured:\n{resp}")


# --- the keys at work ---------------------------------------------------


def test_root_and_index_from_the_file_are_served(start_server, good_conf):
    server = start_server("-c", good_conf)
    resp = get(server, "/hello.txt")
    assert resp.status == 200 and resp.body == b"hello\n", resp.describe()
    resp = get(server, "/")
    assert resp.status == 200 and resp.body == ROOT_HOME, (
        f"index = home.html: / should serve home.html:\n{resp}")
    resp = get(server, "/sub/")
    assert resp.status == 200 and resp.body == b"<p>sub home.html</p>\n", (
        f"index = home.html: /sub/ should serve sub/home.html:\n{resp}")
    check_common(resp)


@pytest.mark.parametrize("size,status", [
    (1000, 200), (2048, 200), (2049, 413), (3000, 413),
])
def test_max_body_size_2k_admits_2048_bytes_and_refuses_more(
        start_server, good_conf, size, status):
    server = start_server("-c", good_conf)
    body = bytes(i % 251 for i in range(size))
    resp = request(server, "POST", "/echo", body=body,
                   headers=[("Content-Type", "application/octet-stream")])
    assert resp.status == status, (
        f"POST /echo of {size} bytes with max_body_size = 2k:\n{resp}")
    if status == 200:
        assert resp.body == body, (
            f"echoed {len(resp.body)} bytes of {size}:\n{resp.describe(80)}")
    check_common(resp)


# The head's limits do not move with the body's: max_body_size = 0 still
# leaves the server room to see the byte past 8 KiB. From the smallest
# size the file allows to the largest.
@pytest.mark.parametrize("size", ["0", "1", "2k", "1m", "1g"])
@pytest.mark.parametrize("data,status", [
    pytest.param(REQUEST_LINE_PAST_LIMIT, 414, id="request-line-8193-no-lf"),
    pytest.param(HEAD_PAST_LIMIT, 431, id="head-8193-unfinished"),
])
def test_head_limits_hold_whatever_max_body_size_says(
        start_server, tmp_path, root, size, data, status):
    conf = write_conf(tmp_path / "server.conf", f"""
        root = {root}
        max_body_size = {size}
        """)
    server = start_server("-c", conf)
    resp = exchange(server, data)
    assert resp.status == status, f"max_body_size = {size}:\n{resp}"
    check_common(resp)


def test_keepalive_timeout_from_the_file_closes_an_idle_connection(
        start_server, good_conf):
    server = start_server("-c", good_conf)
    elapsed = idle_close_time(server)
    assert 0.5 <= elapsed <= 3, (
        f"keepalive_timeout = 1: idle connection closed after {elapsed:.2f} s")


def test_keepalive_requests_3_closes_after_the_third_response(
        start_server, good_conf):
    server = start_server("-c", good_conf)
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        for n in (1, 2, 3):
            assert send_all(sock, build_request("GET", "/hello.txt")), (
                f"server closed before request {n}")
            resp = read_response(sock, deadline=deadline)
            assert resp.status == 200, f"response {n}:\n{resp}"
            says_close = "close" in resp.header("Connection", "").lower()
            if n < 3:
                assert not says_close, (
                    f"keepalive_requests = 3: response {n} already says "
                    f"close:\n{resp}")
        assert says_close, (
            f"keepalive_requests = 3: the third response should say "
            f"Connection: close:\n{resp}")
        closed, more = read_until_close(sock, 2)
    assert closed, "connection still open after the third response"
    assert resp.extra + more == b"", f"bytes after it: {resp.extra + more!r}"


def test_cgi_timeout_from_the_file_gives_504(start_server, good_conf, root):
    script = root / "cgi-bin" / "slow.sh"
    script.write_text("#!/bin/sh\nexec sleep 20\n")
    script.chmod(0o755)
    server = start_server("-c", good_conf)
    started = time.monotonic()
    resp = get(server, "/cgi-bin/slow.sh", timeout=6)
    elapsed = time.monotonic() - started
    assert resp.status == 504, f"cgi_timeout = 1, a script sleeping:\n{resp}"
    assert 0.8 <= elapsed < 4, f"504 after {elapsed:.1f} s, cgi_timeout = 1"


def test_pidfile_from_the_file_holds_the_pid(start_server, good_conf):
    pidfile = good_conf.parent / "run" / "server.pid"
    server = start_server("-c", good_conf)
    text = pidfile.read_text() if pidfile.exists() else None
    assert text is not None and text.strip() == str(server.pid), (
        f"pidfile = run/server.pid: expected {pidfile} holding "
        f"{server.pid}, found {text!r}")


def test_listen_from_the_file_is_where_the_server_listens(
        direct, tmp_path, root):
    port = free_port()
    conf = write_conf(tmp_path / "server.conf", f"""
        listen = 127.0.0.1:{port}
        root = {root}
        """)
    srv = direct("-c", conf)
    line = srv.ready_line()
    assert line == f"listening on 127.0.0.1:{port}", (
        f"listen = 127.0.0.1:{port}, ready line {line!r}\n{srv.describe()}")
    resp = get(port, "/hello.txt")
    assert resp.status == 200 and resp.body == b"hello\n", resp.describe()


# --- relative paths: from the file's directory --------------------------


def test_relative_paths_are_taken_from_the_files_directory(
        start_server, run_server, tmp_path):
    etc = tmp_path / "etc"
    make_root(etc / "site", tag=" from etc/site")
    (etc / "run").mkdir(parents=True)
    fake = etc / "bin" / "fake-php"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n"
                    "printf 'Content-Type: text/plain\\r\\n\\r\\n"
                    "fake php-cgi ran\\n'\n")
    fake.chmod(0o755)
    conf = write_conf(etc / "server.conf", """
        root = site
        pidfile = run/server.pid
        php_cgi = bin/fake-php
        """)
    # A decoy in the working directory: what a cwd-relative reader would
    # serve instead.
    elsewhere = tmp_path / "elsewhere"
    make_root(elsewhere / "site", tag=" from the working directory")
    (elsewhere / "run").mkdir()
    (elsewhere / "bin").mkdir()

    assert_config_ok(run_server(["-t", "-c", str(conf)], cwd=elsewhere))
    server = start_server("-c", conf, cwd=elsewhere)
    resp = get(server, "/hello.txt")
    assert resp.status == 200 and resp.body == b"hello from etc/site\n", (
        f"root = site should be {etc / 'site'}:\n{resp}")
    pidfile = etc / "run" / "server.pid"
    assert pidfile.exists() and pidfile.read_text().strip() == str(
        server.pid), (f"pidfile = run/server.pid should be {pidfile}; "
                      f"in the working directory: "
                      f"{list((elsewhere / 'run').iterdir())}")
    resp = get(server, "/t.php")
    assert resp.status == 200 and resp.body == b"fake php-cgi ran\n", (
        f"php_cgi = bin/fake-php should run {fake}:\n{resp}")


def test_relative_config_file_path_works_from_the_working_directory(
        start_server, tmp_path):
    etc = tmp_path / "etc"
    make_root(etc / "site", tag=" via a relative -c")
    write_conf(etc / "server.conf", "root = site\n")
    server = start_server("-c", "etc/server.conf", cwd=tmp_path)
    resp = get(server, "/hello.txt")
    assert resp.status == 200 and resp.body == b"hello via a relative -c\n", (
        resp.describe())


# --- flags override the file, whatever their order ----------------------


@pytest.mark.parametrize("order", ["flag-first", "flag-last"])
def test_r_flag_beats_root_in_the_file(start_server, good_conf, tmp_path,
                                       order):
    other = make_root(tmp_path / "other", tag=" from -r")
    flag = ["-r", str(other)]
    conf = ["-c", str(good_conf)]
    server = start_server(*(flag + conf if order == "flag-first"
                            else conf + flag))
    resp = get(server, "/hello.txt")
    assert resp.status == 200 and resp.body == b"hello from -r\n", (
        f"-r {other} should win over root in the file:\n{resp}")


@pytest.mark.parametrize("order", ["flag-first", "flag-last"])
def test_k_flag_beats_keepalive_timeout_in_the_file(
        start_server, tmp_path, root, order):
    conf = write_conf(tmp_path / "server.conf", f"""
        root = {root}
        keepalive_timeout = 30
        """)
    flag, cfile = ["-k", "1"], ["-c", str(conf)]
    server = start_server(*(flag + cfile if order == "flag-first"
                            else cfile + flag))
    elapsed = idle_close_time(server)
    assert 0.5 <= elapsed <= 3, (
        f"-k 1 over keepalive_timeout = 30: closed after {elapsed:.2f} s")


@pytest.mark.parametrize("order", ["flag-first", "flag-last"])
def test_p_flag_beats_the_port_of_listen(direct, good_conf, order):
    # The file's port is held by another socket: the server can start only
    # on the port -p names.
    port = free_port()
    flag, cfile = ["-p", str(port)], ["-c", str(good_conf)]
    srv = direct(*(flag + cfile if order == "flag-first" else cfile + flag))
    line = srv.ready_line()
    assert line == f"listening on 127.0.0.1:{port}", (
        f"-p {port} should win over listen in the file; ready line "
        f"{line!r}\n{srv.describe()}")
    resp = get(port, "/hello.txt")
    assert resp.status == 200, resp.describe()


# --- mistakes: FILE:LINE, exit 2 ----------------------------------------

# (id, the bad line, what the message must name or None). The bad line
# comes after comments, blank lines and good keys, at BAD_LINE.
BAD_LINES = [
    ("unknown-key", "colour = blue", "colour"),
    ("unknown-key-near-a-real-one", "keepalive = 5", "keepalive"),
    ("missing-equals", "index home.html", None),
    ("no-key", "= 5", None),
    ("timeout-not-a-number", "keepalive_timeout = abc", None),
    ("timeout-negative", "keepalive_timeout = -1", None),
    ("timeout-fraction", "keepalive_timeout = 1.5", None),
    ("timeout-huge", "keepalive_timeout = 99999999999999999999", None),
    ("requests-trailing-junk", "keepalive_requests = 10x", None),
    ("cgi-timeout-not-a-number", "cgi_timeout = soon", None),
    ("body-size-bad-suffix", "max_body_size = 2q", None),
    ("body-size-suffix-only", "max_body_size = k", None),
    ("body-size-negative", "max_body_size = -2k", None),
    ("port-out-of-range", "listen = 127.0.0.1:70000", None),
    ("port-negative", "listen = 127.0.0.1:-1", None),
    ("port-not-a-number", "listen = 127.0.0.1:http", None),
    # strtoll alone takes a sign and leading spaces: digits only.
    ("port-with-a-sign", "listen = 127.0.0.1:+80", None),
    ("port-after-a-space", "listen = 127.0.0.1: 80", None),
    ("timeout-with-a-sign", "keepalive_timeout = +5", None),
    ("body-size-with-a-sign", "max_body_size = +2k", None),
    # A NUL byte is not "line too long", nor the end of the value.
    ("nul-byte", "index = index.html\0.bak", "NUL"),
    ("listen-without-port", "listen = 127.0.0.1", None),
    ("listen-empty-port", "listen = 127.0.0.1:", None),
    ("listen-bad-address", "listen = 999.0.0.1:8080", None),
    ("daemon-not-a-boolean", "daemon = maybe", None),
    ("empty-value", "index =", None),
]
GOOD_BEFORE = [
    "# a configuration with one mistake",
    "",
    "index = index.html",
    "   # an indented comment",
    "",
]
BAD_LINE = len(GOOD_BEFORE) + 1


def conf_with_bad_line(tmp_path, root, bad):
    return write_conf(tmp_path / "bad.conf", "\n".join(
        GOOD_BEFORE + [bad, f"root = {root}", "keepalive_requests = 10", ""]))


@pytest.mark.parametrize("bad,needle", [
    pytest.param(b, n, id=i) for i, b, n in BAD_LINES])
def test_check_reports_a_bad_line_as_file_line_and_exits_2(
        run_server, tmp_path, root, bad, needle):
    conf = conf_with_bad_line(tmp_path, root, bad)
    result = check_config(run_server, "-c", conf)
    assert_config_error(result, f"server: {conf}:{BAD_LINE}: ", needle)


@pytest.mark.parametrize("bad,needle", [
    pytest.param(b, n, id=i) for i, b, n in BAD_LINES])
def test_server_refuses_to_start_on_a_bad_line_with_file_line(
        run_server, tmp_path, root, bad, needle):
    conf = conf_with_bad_line(tmp_path, root, bad)
    result = run_server(["-b", "127.0.0.1", "-p", "0", "-c", str(conf)],
                        timeout=3)
    assert_config_error(result, f"server: {conf}:{BAD_LINE}: ", needle)


@pytest.mark.parametrize("value", ["/etc/passwd", "/nonexistent-course-dir",
                                   "no-such-dir"])
def test_check_refuses_a_root_that_is_not_a_directory(run_server, tmp_path,
                                                      value):
    conf = write_conf(tmp_path / "server.conf", "\n".join(
        GOOD_BEFORE + [f"root = {value}", ""]))
    result = check_config(run_server, "-c", conf)
    assert_config_error(result, f"server: {conf}:{BAD_LINE}: ", value)


@pytest.mark.parametrize("value", ["/etc/passwd", "/nonexistent-course-dir"])
def test_check_refuses_a_root_flag_that_is_not_a_directory(
        run_server, good_conf, value):
    result = check_config(run_server, "-c", good_conf, "-r", value)
    assert_config_error(result, "server: ", value)


@pytest.mark.parametrize("with_t", [True, False], ids=["with-t", "without-t"])
def test_missing_config_file_is_exit_2_naming_the_file(run_server, tmp_path,
                                                       with_t):
    missing = tmp_path / "nonexistent" / "server.conf"
    args = ["-b", "127.0.0.1", "-p", "0", "-c", str(missing)]
    result = run_server((["-t"] if with_t else []) + args, timeout=3)
    assert_config_error(result, "server: ", str(missing))


def test_check_reports_the_first_bad_line(run_server, tmp_path, root):
    conf = write_conf(tmp_path / "bad.conf", f"""
        root = {root}
        keepalive_timeout = 5
        # two mistakes below; the first one is reported
        max_body_size = lots
        colour = blue
        """)
    assert_config_error(check_config(run_server, "-c", conf),
                        f"server: {conf}:4: ")


# --- daemon = on ---------------------------------------------------------


def test_daemon_on_in_the_file_runs_in_the_background(stage, tmp_path, root):
    pidfile = tmp_path / "daemon.pid"
    conf = write_conf(tmp_path / "server.conf", f"""
        root = {root}
        daemon = on
        pidfile = {pidfile}
        """)
    argv = [str(stage.server), "-b", "127.0.0.1", "-p", "0", "-c", str(conf)]
    out, err = tmp_path / "launcher.stdout", tmp_path / "launcher.stderr"
    # Files, not pipes: the daemon must not keep the launcher's stdout.
    with open(out, "wb") as o, open(err, "wb") as e:
        launcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=o, stderr=e)
    pid = None
    try:
        try:
            launcher.wait(5)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()
        shown = (f"command: {' '.join(argv)}\n"
                 f"{describe_status(launcher.returncode)}\n"
                 f"stdout: {out.read_text()!r}\nstderr: {err.read_text()!r}")
        assert launcher.returncode == 0, (
            f"daemon = on: the launcher should exit 0 once the daemon is "
            f"ready:\n{shown}")
        m = READY.fullmatch(out.read_text().rstrip("\n"))
        assert m, f"no ready line from the launcher:\n{shown}"
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        assert text.isdigit(), f"pidfile {pidfile} holds {text!r}\n{shown}"
        pid = int(text)
        assert pid != launcher.pid, f"the daemon is the launcher\n{shown}"
        resp = get(int(m.group(2)), "/hello.txt")
        assert resp.status == 200 and resp.body == b"hello\n", resp.describe()
        os.kill(pid, signal.SIGTERM)
        assert wait_gone(pid, 5), f"daemon {pid} still runs after SIGTERM"
        assert not pidfile.exists(), "SIGTERM left the pidfile behind"
    finally:
        if pid is not None and not is_gone(pid):
            os.kill(pid, signal.SIGKILL)

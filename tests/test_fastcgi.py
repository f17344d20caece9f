"""FastCGI (v11+): with `fastcgi_pass = HOST:PORT | unix:PATH`
in the configuration, .php goes to php-fpm instead of php-cgi; php-fpm down
is 502, too slow is 504, FastCGI stderr goes to the server's error output.

Every test starts a real php-fpm (Debian's php-fpm8.2) in the foreground
with a pool configuration of its own, listening on a unix socket in a short
temporary directory (a socket path has at most 107 bytes, and pytest's
tmp_path can be longer), or on a free TCP port. The server is started with
-c and a configuration file the test writes. No mocks.

What reaches the server as FCGI_STDERR: PHP's error_log() when the
error_log ini setting is unset (php-fpm -n: no php.ini), which the worker
sends on the request's connection. Writing to php://stderr does not: it is
the worker's own fd 2, which catch_workers_output copies into php-fpm's log.
"""

import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from http_util import (
    build_request,
    check_common,
    read_response,
    request,
)
from util import (Deadline, describe_status, recv_exactly,
                  stop_process_group, wait_until)

# test_cgi's PHP tests, collected here too and run with this file's `server`
# (php-fpm behind it) and `cgi_root`: whether PHP runs as CGI or FastCGI,
# the same requests must get the same answers.
from test_cgi import PHP_SCRIPTS as CGI_PHP_SCRIPTS
from test_cgi import (  # noqa: F401  (imported to be collected here)
    test_php_head_request_has_the_headers_and_no_body,
    test_php_in_a_subdirectory_gets_script_name_and_path_info,
    test_php_is_not_run_from_a_file_named_before_a_php_path_segment,
    test_php_location_header_is_a_302_client_redirect,
    test_php_reads_a_1_MiB_raw_body_intact,
    test_php_sees_a_urlencoded_post_form,
    test_php_sees_get_parameters,
    test_php_status_code_and_headers_come_through,
)

pytestmark = pytest.mark.needs("fastcgi")

PHP_FPM = "/usr/sbin/php-fpm8.2"
FPM_READY_TIMEOUT = 5.0
FPM_STOP_TIMEOUT = 3.0

# test_cgi's scripts (get.php, post.php, input.php, status.php,
# redirect.php, sub/info.php) and a few of our own.
PHP_SCRIPTS = {
    **CGI_PHP_SCRIPTS,
    "big.php": """<?php
header('Content-Type: application/octet-stream');
readfile(__DIR__ . '/big.bin');
""",
    "server.php": """<?php
header('Content-Type: text/plain');
foreach (['SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'REQUEST_METHOD',
          'SERVER_PROTOCOL', 'REMOTE_ADDR', 'HTTP_X_LONG'] as $k)
    echo $k, '=', $_SERVER[$k] ?? '', "\\n";
""",
    "stderr.php": """<?php
error_log('fastcgi-first ' . $_GET['tag'] . "\\nfastcgi-second " . $_GET['tag']);
file_put_contents('php://stderr', 'worker-stderr ' . $_GET['tag'] . "\\n");
header('Content-Type: text/plain');
echo 'logged';
""",
    "slow.php": """<?php
sleep(3);
echo 'late';
""",
    "who.php": """<?php
header('Content-Type: text/plain');
echo PHP_SAPI;
""",
}

BIG_SIZE = 200 * 1024


# --- php-fpm ----------------------------------------------------------------


class PhpFpm:
    """A php-fpm master in the foreground, with its own pool configuration.
    .listen is what its pool listens on (a socket path or 127.0.0.1:PORT),
    .pass_value what fastcgi_pass names it with; stop() ends it. pm takes
    the place of the pool's pm lines."""

    def __init__(self, workdir, listen,
                 pm="pm = static\npm.max_children = 4"):
        self.workdir = workdir
        self.listen = listen
        self.log = workdir / "php-fpm.log"
        self.conf = workdir / f"php-fpm-{uuid.uuid4().hex[:8]}.conf"
        # pm = static: the workers are started once and stay, which is the
        # point of FastCGI. catch_workers_output: what a worker writes on
        # its own stdout/stderr lands in php-fpm's log, not in the void.
        self.conf.write_text(textwrap.dedent(f"""\
            [global]
            error_log = {self.log}
            daemonize = no

            [course]
            listen = {listen}
            {textwrap.indent(pm, "            ").lstrip()}
            catch_workers_output = yes
            decorate_workers_output = no
            """))
        argv = [PHP_FPM, "--nodaemonize", "-n", "-y", str(self.conf)]
        if os.geteuid() == 0:
            argv.insert(1, "--allow-to-run-as-root")
        self.argv = argv
        self.stderr_path = workdir / "php-fpm.stderr"
        with open(self.stderr_path, "wb") as err:
            # Its own process group, so its workers go with it at the end.
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                process_group=0)
        self.wait_ready()

    @property
    def pass_value(self):
        return self.listen if ":" in self.listen else f"unix:{self.listen}"

    def connect(self):
        if ":" in self.listen:
            host, port = self.listen.rsplit(":", 1)
            return socket.create_connection((host, int(port)), timeout=1)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(1)
        try:
            s.connect(self.listen)
        except OSError:
            s.close()
            raise
        return s

    def accepting(self):
        try:
            self.connect().close()
            return True
        except OSError:
            return False

    def wait_ready(self):
        deadline = Deadline(FPM_READY_TIMEOUT)
        while not self.accepting():
            if self.proc.poll() is not None or deadline.expired():
                self.stop()
                pytest.fail(f"php-fpm did not start listening on "
                            f"{self.listen}\n{self.describe()}", pytrace=False)
            time.sleep(0.01)

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def describe(self):
        return (f"command: {' '.join(self.argv)}\n"
                f"status: {describe_status(self.proc.poll())}\n"
                f"stderr: {self.stderr_path.read_text(errors='replace')!r}\n"
                f"log:\n{self.log_text()[-2000:]}")

    def stop(self):
        """SIGTERM (php-fpm's immediate stop: it kills its workers), then
        SIGKILL for whatever of its process group remains."""
        stop_process_group(self.proc, FPM_STOP_TIMEOUT)


@pytest.fixture
def short_dir():
    """A directory with a short path, for unix sockets."""
    path = Path(tempfile.mkdtemp(prefix="fcgi-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_fpm(short_dir):
    """Factory: start_fpm(listen=None, **options) starts php-fpm listening
    on listen (default: a unix socket in short_dir) and waits until it
    accepts; options go to PhpFpm. Every php-fpm is stopped after the
    test."""
    started = []
    if not os.access(PHP_FPM, os.X_OK):
        pytest.fail(f"{PHP_FPM} is missing (apt-get install php-fpm)",
                    pytrace=False)

    def start(listen=None, **options):
        fpm = PhpFpm(short_dir, listen or str(short_dir / "php-fpm.sock"),
                     **options)
        started.append(fpm)
        return fpm

    yield start
    for fpm in started:
        fpm.stop()


@pytest.fixture
def fpm(start_fpm):
    return start_fpm()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the document root and the server ---------------------------------------


@pytest.fixture
def docroot(tmp_path):
    root = tmp_path / "root"
    (root / "cgi-bin").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "hello.txt").write_text("hello\n")
    (root / "big.bin").write_bytes(os.urandom(BIG_SIZE))
    for name, text in PHP_SCRIPTS.items():
        (root / name).write_text(text)
    script = root / "cgi-bin" / "env.sh"
    script.write_text("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'"
                      "\necho \"GATEWAY_INTERFACE=$GATEWAY_INTERFACE\"\n")
    script.chmod(0o755)
    return root


@pytest.fixture
def cgi_root(docroot):
    return docroot


def write_conf(path, root, fastcgi_pass, timeout=5):
    path.write_text(textwrap.dedent(f"""\
        # v10's keys, and the two v11 adds
        root = {root}
        fastcgi_pass = {fastcgi_pass}
        fastcgi_timeout = {timeout}
        """))
    return path


def line_of(conf, key):
    """The number of the line of conf that sets key."""
    lines = conf.read_text().splitlines()
    return next(i for i, x in enumerate(lines, 1) if x.startswith(key + " "))


@pytest.fixture
def fcgi_server(start_server, docroot, tmp_path):
    """Factory: fcgi_server(fastcgi_pass, timeout=5) starts the stage's
    server with a configuration that sends .php to fastcgi_pass."""

    def start(fastcgi_pass, timeout=5):
        conf = write_conf(tmp_path / "server.conf", docroot, fastcgi_pass,
                          timeout)
        return start_server("-c", conf)

    return start


@pytest.fixture
def server(fcgi_server, fpm):
    return fcgi_server(fpm.pass_value)


def assert_static_still_served(server):
    resp = request(server, "GET", "/hello.txt")
    assert resp.status == 200 and resp.body == b"hello\n", (
        f"static files stopped being served:\n{resp}")


# --- requests through php-fpm ------------------------------------------------


def test_php_runs_in_php_fpm_not_php_cgi(server):
    resp = request(server, "GET", "/who.php")
    assert resp.status == 200, resp.describe()
    assert resp.body == b"fpm-fcgi", (
        f"PHP_SAPI should be fpm-fcgi (php-fpm), got {resp.body!r}")
    check_common(resp)


def test_200_KiB_response_comes_back_byte_exact(server, docroot):
    want = (docroot / "big.bin").read_bytes()
    resp = request(server, "GET", "/big.php", timeout=8)
    assert resp.status == 200, resp.describe()
    assert len(resp.body) == len(want), (
        f"got {len(resp.body)} bytes, want {len(want)}")
    if resp.body != want:
        at = next(i for i, (a, b) in enumerate(zip(resp.body, want)) if a != b)
        pytest.fail(f"the body differs from big.bin at byte {at}")
    check_common(resp)


def test_long_values_use_four_byte_lengths(server):
    # A name-value length of 128 or more is sent in four bytes with the
    # high bit set (FastCGI section 3.4); 127 still fits in one.
    for size in (127, 128, 300, 6000):
        value = ("v" * size)
        resp = request(server, "GET", "/server.php/extra?q=1",
                       headers=[("X-Long", value)])
        assert resp.status == 200, resp.describe()
        lines = resp.text().splitlines()
        assert f"HTTP_X_LONG={value}" in lines, (
            f"a {size}-byte header did not reach $_SERVER intact:\n"
            f"{resp.describe(300)}")
        for want in ("SCRIPT_NAME=/server.php", "PATH_INFO=/extra",
                     "QUERY_STRING=q=1", "REQUEST_METHOD=GET",
                     "SERVER_PROTOCOL=HTTP/1.1", "REMOTE_ADDR=127.0.0.1"):
            assert want in lines, f"{want!r} missing:\n{resp.describe(300)}"


def test_keep_alive_across_fastcgi_requests(server):
    # The client's HTTP connection stays open across .php requests, whether
    # each has a FastCGI connection of its own or, from v15, reuses one
    # (test_fastcgi_keepalive.py).
    with server.connect() as sock:
        for n in (1, 2):
            sock.sendall(build_request("GET", f"/get.php?n={n}"))
            resp = read_response(sock)
            assert resp.status == 200 and resp.text() == f"n={n}\n", (
                f"request {n} on one connection:\n{resp}")
            assert "close" not in resp.header("Connection", "").lower(), (
                f"the server closed after request {n}:\n{resp}")


def test_cgi_bin_still_runs_as_cgi(server):
    resp = request(server, "GET", "/cgi-bin/env.sh")
    assert resp.status == 200, resp.describe()
    assert resp.text() == "GATEWAY_INTERFACE=CGI/1.1\n", resp.describe()


def test_fastcgi_stderr_reaches_the_server_stderr_line_by_line(server, fpm):
    tag = uuid.uuid4().hex
    resp = request(server, "GET", f"/stderr.php?tag={tag}")
    assert resp.status == 200 and resp.body == b"logged", resp.describe()

    def logged():
        lines = server.stderr_text().splitlines()
        first = [x for x in lines if f"fastcgi-first {tag}" in x]
        second = [x for x in lines if f"fastcgi-second {tag}" in x]
        return (first, second) if first and second else None

    found = wait_until(logged, timeout=3)
    assert found, (f"error_log()'s two lines (tag {tag}) are not on the "
                   f"server's stderr:\n{server.stderr_text()[-2000:]}")
    # "server: fastcgi ..." until v12, where runtime lines get a time and a
    # level: "2026/11/23 15:30:00 [error] fastcgi ...".
    log_line = re.compile(r"(server: |\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] )fastcgi ")
    for line in found[0] + found[1]:
        assert log_line.match(line), (
            f"each line of FastCGI stderr should be one log line of its "
            f"own: {line!r}")
    # php://stderr is the worker's own fd 2: php-fpm's log, not ours.
    assert wait_until(lambda: f"worker-stderr {tag}" in fpm.log_text(),
                      timeout=3), (
        f"catch_workers_output did not put php://stderr into php-fpm's "
        f"log:\n{fpm.log_text()[-2000:]}")


def test_tcp_fastcgi_pass_works(start_fpm, fcgi_server):
    fpm = start_fpm(f"127.0.0.1:{free_port()}")
    server = fcgi_server(fpm.pass_value)
    resp = request(server, "GET", "/get.php?via=tcp")
    assert resp.status == 200 and resp.text() == "via=tcp\n", resp.describe()
    check_common(resp)


def test_relative_unix_path_is_taken_from_the_config_directory(
        start_server, fpm, docroot, short_dir):
    conf = write_conf(short_dir / "server.conf", docroot,
                      f"unix:{Path(fpm.listen).name}")
    server = start_server("-c", conf)
    resp = request(server, "GET", "/get.php?rel=1")
    assert resp.status == 200 and resp.text() == "rel=1\n", resp.describe()


# --- php-fpm away, php-fpm slow ------------------------------------------


def test_missing_socket_is_502_and_static_files_are_still_served(
        fcgi_server, short_dir):
    server = fcgi_server(f"unix:{short_dir / 'nobody.sock'}")
    resp = request(server, "GET", "/get.php")
    assert resp.status == 502, resp.describe()
    check_common(resp)
    # Log lines may be written a moment after the response (v15 logs from
    # a background thread): wait for them, with a deadline.
    assert wait_until(lambda: "nobody.sock" in server.stderr_text(), 3), (
        f"no log line names the socket:\n{server.stderr_text()}")
    assert_static_still_served(server)


def test_php_fpm_stopped_is_502_and_the_server_carries_on(server, fpm):
    resp = request(server, "GET", "/get.php?before=1")
    assert resp.status == 200, resp.describe()
    fpm.stop()
    resp = request(server, "GET", "/get.php?after=1")
    assert resp.status == 502, (
        f"php-fpm is stopped, expected 502:\n{resp}")
    check_common(resp)
    assert_static_still_served(server)


def test_nobody_on_the_tcp_port_is_502(fcgi_server):
    server = fcgi_server(f"127.0.0.1:{free_port()}")
    resp = request(server, "GET", "/get.php")
    assert resp.status == 502, resp.describe()
    assert wait_until(
        lambda: "refused" in server.stderr_text().lower(), 3), (
        f"the log should say the connection was refused:\n"
        f"{server.stderr_text()}")
    assert_static_still_served(server)


def test_script_slower_than_fastcgi_timeout_is_504(fcgi_server, fpm):
    server = fcgi_server(fpm.pass_value, timeout=1)
    started = time.monotonic()
    resp = request(server, "GET", "/slow.php", timeout=6)
    elapsed = time.monotonic() - started
    assert resp.status == 504, resp.describe()
    assert 0.8 <= elapsed < 2.5, (
        f"504 after {elapsed:.1f} s with fastcgi_timeout = 1")
    assert b"late" not in resp.body, resp.describe()
    check_common(resp)
    assert wait_until(lambda: "1 s" in server.stderr_text(), 3), (
        f"no log line about the time limit:\n{server.stderr_text()}")
    # The server still serves, and php-fpm's other workers still answer.
    assert_static_still_served(server)
    resp = request(server, "GET", "/get.php?after=504")
    assert resp.status == 200 and resp.text() == "after=504\n", \
        resp.describe()


class LingeringApp:
    """A FastCGI application of our own, on a unix socket: it answers every
    request with STDOUT and END_REQUEST, then keeps the connection open, as
    the specification allows (the exchange ends at END_REQUEST, 5.5). php-fpm
    closes unless asked not to (FCGI_KEEP_CONN, which only v15 sets), so
    only a fake shows whether v11-v14 wait for a close instead.
    .pass_value names it for fastcgi_pass; stop() ends it."""

    REPLY = b"Content-Type: text/plain\r\n\r\nlingering"

    def __init__(self, path):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(path))
        self.listener.listen()
        self.kept = []  # connections answered and left open
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def pass_value(self):
        return f"unix:{self.path}"

    @staticmethod
    def record(kind, content=b""):
        header = struct.pack(">BBHHBx", 1, kind, 1, len(content), 0)
        return header + content

    @staticmethod
    def _read_request(conn):
        """Reads records until the empty STDIN record that ends a request."""
        while True:
            header = recv_exactly(conn, 8)
            _, kind, _, length, padding = struct.unpack(">BBHHBx", header)
            recv_exactly(conn, length + padding)
            if kind == 5 and length == 0:  # FCGI_STDIN, end of stream
                return

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # stop() closed the listener
                return
            self.kept.append(conn)
            try:
                self._read_request(conn)
                # STDOUT, its empty end, END_REQUEST: appStatus 0,
                # protocolStatus REQUEST_COMPLETE. Then nothing, no close.
                conn.sendall(self.record(6, self.REPLY) + self.record(6) +
                             self.record(3, bytes(8)))
            except (OSError, AssertionError):
                pass

    def stop(self):
        self.listener.close()
        for conn in self.kept:
            conn.close()


def test_the_reply_ends_at_end_request_even_if_the_connection_stays_open(
        fcgi_server, short_dir):
    app = LingeringApp(short_dir / "lingering.sock")
    try:
        server = fcgi_server(app.pass_value, timeout=3)
        started = time.monotonic()
        resp = request(server, "GET", "/who.php", timeout=6)
        took = time.monotonic() - started
        assert resp.status == 200 and resp.body == b"lingering", (
            f"the application sent END_REQUEST and kept the connection "
            f"open:\n{resp.describe()}")
        check_common(resp)
        assert took < 1.5, (
            f"the answer came {took:.1f} s after the request "
            "(fastcgi_timeout = 3): the server waited for a close")
    finally:
        app.stop()


# --- the configuration ---------------------------------------------------


def test_check_accepts_a_fastcgi_configuration(run_server, docroot, tmp_path):
    for value in ("unix:/run/php/php8.2-fpm.sock", "127.0.0.1:9000",
                  "unix:relative.sock"):
        conf = write_conf(tmp_path / "good.conf", docroot, value)
        result = run_server(["-t", "-c", str(conf)])
        assert result.returncode == 0 and \
            result.stdout == "configuration ok\n", (
                f"fastcgi_pass = {value}: exit "
                f"{result.returncode}, stdout {result.stdout!r}, "
                f"stderr {result.stderr!r}")


@pytest.mark.parametrize("value", [
    "nonsense", "unix:", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536",
    "localhost:9000", "/run/php.sock", "unix:/" + "x" * 120,
])
def test_check_rejects_a_bad_fastcgi_pass(run_server, docroot, tmp_path,
                                          value):
    conf = write_conf(tmp_path / "bad.conf", docroot, value)
    result = run_server(["-t", "-c", str(conf)])
    why = (f"fastcgi_pass = {value}: exit {result.returncode}, "
           f"stdout {result.stdout!r}, stderr {result.stderr!r}")
    assert result.returncode == 2, why
    prefix = f"server: {conf}:{line_of(conf, 'fastcgi_pass')}: "
    assert result.stderr.startswith(prefix), why
    assert result.stderr.count("\n") == 1, why
    assert "fastcgi_pass" in result.stderr, why


def test_check_rejects_a_bad_fastcgi_timeout(run_server, docroot, tmp_path):
    conf = write_conf(tmp_path / "bad.conf", docroot, "127.0.0.1:9000",
                      timeout=0)
    result = run_server(["-t", "-c", str(conf)])
    prefix = f"server: {conf}:{line_of(conf, 'fastcgi_timeout')}: "
    assert result.returncode == 2 and result.stderr.startswith(prefix), (
            f"exit {result.returncode}, stderr {result.stderr!r}")

"""CGI/1.1 (v08+): .php through php-cgi, executables under /cgi-bin/ run
directly. Every script is written here into a document root in tmp_path, so
nothing depends on www/. Covers the RFC 3875 meta-variables, request bodies
on stdin, Status and Location, 403/404 for scripts that cannot run, 502 for
bad output, 504 and a killed child past the time limit (-T), and that no
byte of a request ever reaches a shell."""

import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path

import pytest

from http_util import check_common, exchange, request
from util import wait_until

pytestmark = pytest.mark.needs("cgi")

PHP_CGI = "/usr/bin/php-cgi"

PHP_SCRIPTS = {
    "get.php": """<?php
header('Content-Type: text/plain');
ksort($_GET);
foreach ($_GET as $k => $v) echo "$k=$v\\n";
""",
    "post.php": """<?php
header('Content-Type: text/plain');
echo 'method=', $_SERVER['REQUEST_METHOD'], "\\n";
ksort($_POST);
foreach ($_POST as $k => $v) echo "$k=$v\\n";
""",
    "input.php": """<?php
header('Content-Type: text/plain');
$d = file_get_contents('php://input');
echo strlen($d), ' ', hash('sha256', $d);
""",
    "status.php": """<?php
http_response_code(201);
header('X-Test: yes');
header('Content-Type: text/plain');
echo 'created';
""",
    "redirect.php": """<?php
header('Location: /x');
""",
    "sub/info.php": """<?php
header('Content-Type: text/plain');
echo 'SCRIPT_NAME=', $_SERVER['SCRIPT_NAME'], "\\n";
echo 'PATH_INFO=', $_SERVER['PATH_INFO'] ?? '', "\\n";
""",
}

CRLF_END = "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n"

SH_SCRIPTS = {
    "env.sh": "#!/bin/sh\n" + CRLF_END + "env\n",
    "cat.sh": "#!/bin/sh\n"
              "printf 'Content-Type: application/octet-stream\\r\\n\\r\\n'\n"
              "cat\n",
    "garbage.sh": "#!/bin/sh\necho 'this is not a CGI header block'\n",
    "nothing.sh": "#!/bin/sh\nexit 0\n",
    "status404.sh": "#!/bin/sh\n"
                    "printf 'Status: 404 Not Found\\r\\n"
                    "Content-Type: text/plain\\r\\n\\r\\nnot here\\n'\n",
    "away.sh": "#!/bin/sh\n"
               "printf 'Location: http://example.com/elsewhere\\r\\n\\r\\n'\n",
    "local.sh": "#!/bin/sh\nprintf 'Location: /hello.txt\\r\\n\\r\\n'\n",
    "lf-only.sh": "#!/bin/sh\n"
                  "printf 'Content-Type: text/plain\\nX-Lf: 1\\n\\nlf body'\n",
    "status100.sh": "#!/bin/sh\nprintf 'Status: 100\\r\\n\\r\\n'\n",
    "status199.sh": "#!/bin/sh\nprintf 'Status: 199\\r\\n\\r\\n'\n",
}


@pytest.fixture
def cgi_root(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "cgi-bin").mkdir()
    (root / "hello.txt").write_text("hello\n")
    (root / "index.html").write_text("<p>index</p>\n")
    for name, text in PHP_SCRIPTS.items():
        (root / name).write_text(text)
    for name, text in SH_SCRIPTS.items():
        path = root / "cgi-bin" / name
        path.write_text(text)
        path.chmod(0o755)
    noexec = root / "cgi-bin" / "noexec.sh"
    noexec.write_text("#!/bin/sh\n" + CRLF_END + "echo ran\n")
    noexec.chmod(0o644)
    return root


@pytest.fixture
def server(start_server, cgi_root):
    return start_server("-r", str(cgi_root))


def cgi_env(resp):
    """The NAME=value lines env.sh printed, as a dict."""
    assert resp.status == 200, resp.describe()
    env = {}
    for line in resp.text().splitlines():
        name, sep, value = line.partition("=")
        if sep:
            env[name] = value
    return env


# --- PHP through php-cgi -------------------------------------------------


def test_php_sees_get_parameters(server):
    resp = request(server, "GET", "/get.php?name=World&n=42&esc=a%20b%26c")
    assert resp.status == 200, resp.describe()
    assert resp.text() == "esc=a b&c\nn=42\nname=World\n", resp.describe()
    assert resp.media_type == "text/plain", resp.describe()
    check_common(resp)


def test_php_sees_a_urlencoded_post_form(server):
    resp = request(server, "POST", "/post.php",
                   body=b"a=1&b=hello+world&c=%3Cx%3E",
                   headers=[("Content-Type",
                             "application/x-www-form-urlencoded")])
    assert resp.status == 200, resp.describe()
    assert resp.text() == "method=POST\na=1\nb=hello world\nc=<x>\n", \
        resp.describe()


def test_php_reads_a_1_MiB_raw_body_intact(server):
    body = os.urandom(1024 * 1024)
    resp = request(server, "POST", "/input.php", body=body, timeout=8,
                   headers=[("Content-Type", "application/octet-stream")])
    assert resp.status == 200, resp.describe()
    expected = f"{len(body)} {hashlib.sha256(body).hexdigest()}"
    assert resp.text() == expected, resp.describe()


def test_php_status_code_and_headers_come_through(server):
    resp = request(server, "GET", "/status.php")
    assert resp.status == 201, resp.describe()
    assert resp.header("X-Test") == "yes", resp.describe()
    assert resp.body == b"created", resp.describe()
    check_common(resp)


def test_php_location_header_is_a_302_client_redirect(server):
    resp = request(server, "GET", "/redirect.php")
    assert resp.status == 302, resp.describe()
    assert resp.header("Location") == "/x", resp.describe()
    check_common(resp)


def test_php_head_request_has_the_headers_and_no_body(server):
    resp = request(server, "HEAD", "/status.php")
    assert resp.status == 201, resp.describe()
    assert resp.header("X-Test") == "yes", resp.describe()
    assert resp.extra == b"", f"HEAD answered with a body: {resp.extra!r}"
    check_common(resp, head_request=True)


def test_php_in_a_subdirectory_gets_script_name_and_path_info(server):
    resp = request(server, "GET", "/sub/info.php/extra/path")
    assert resp.status == 200, resp.describe()
    assert "SCRIPT_NAME=/sub/info.php\n" in resp.text(), resp.describe()
    assert "PATH_INFO=/extra/path\n" in resp.text(), resp.describe()


def test_php_is_not_run_from_a_file_named_before_a_php_path_segment(
        server, cgi_root):
    # The cgi.fix_pathinfo trap: "/image.jpg/x.php" must not hand
    # image.jpg (say, an upload holding PHP) to php-cgi.
    (cgi_root / "image.jpg").write_text("<?php echo 'PW' . 'NED';\n")
    resp = request(server, "GET", "/image.jpg/x.php")
    assert resp.status == 404, resp.describe()
    assert b"PWNED" not in resp.body, f"image.jpg ran as PHP:\n{resp}"


@pytest.mark.parametrize("target,expected", [
    ("/missing.php", 404),
    ("/cgi-bin/missing.sh", 404),
    ("/cgi-bin/noexec.sh", 403),
    ("/cgi-bin/garbage.sh", 502),
])
def test_head_of_a_script_error_has_no_body(server, target, expected):
    resp = request(server, "HEAD", target)
    assert resp.status == expected, resp.describe()
    assert resp.extra == b"", (
        f"HEAD {target} got {len(resp.extra)} body bytes:\n"
        f"{resp.head.decode('latin-1')}{resp.extra[:200].decode('latin-1')}")
    check_common(resp, head_request=True)


def test_missing_php_script_is_404(server):
    resp = request(server, "GET", "/missing.php")
    assert resp.status == 404, resp.describe()
    check_common(resp)


def test_php_cgi_path_can_be_given_with_x(start_server, cgi_root, tmp_path):
    # A wrapper that leaves a mark proves the server ran the -x program and
    # not the php-cgi it would find on PATH.
    mark = tmp_path / "wrapper-ran"
    wrapper = tmp_path / "php-wrapper"
    wrapper.write_text(f"#!/bin/sh\ntouch '{mark}'\nexec {PHP_CGI} \"$@\"\n")
    wrapper.chmod(0o755)
    server = start_server("-r", str(cgi_root), "-x", str(wrapper))
    resp = request(server, "GET", "/get.php?via=x")
    assert resp.status == 200, resp.describe()
    assert resp.text() == "via=x\n", resp.describe()
    assert mark.exists(), "the -x program did not run"


# --- /cgi-bin/ executables -----------------------------------------------


def test_cgi_bin_script_gets_the_rfc_3875_variables(server, cgi_root):
    resp = request(server, "GET", "/cgi-bin/env.sh/extra/path?a=1&b=two",
                   headers=[("X-Custom", "v"), ("User-Agent", "course-test")])
    env = cgi_env(resp)
    shown = resp.describe(2000)
    expected = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": "a=1&b=two",
        "SCRIPT_NAME": "/cgi-bin/env.sh",
        "PATH_INFO": "/extra/path",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_X_CUSTOM": "v",
        "HTTP_USER_AGENT": "course-test",
        "HTTP_HOST": "127.0.0.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(server.port),
    }
    for name, value in expected.items():
        assert env.get(name) == value, f"{name}={env.get(name)!r}:\n{shown}"
    assert os.path.samefile(env["SCRIPT_FILENAME"],
                            cgi_root / "cgi-bin" / "env.sh"), shown
    assert not env.get("CONTENT_LENGTH"), f"GET with a length:\n{shown}"


def test_cgi_bin_script_gets_content_length_and_type_for_a_post(server):
    resp = request(server, "POST", "/cgi-bin/env.sh", body=b"abc",
                   headers=[("Content-Type", "text/plain; charset=utf-8")])
    env = cgi_env(resp)
    shown = resp.describe(2000)
    assert env.get("REQUEST_METHOD") == "POST", shown
    assert env.get("CONTENT_LENGTH") == "3", shown
    assert env.get("CONTENT_TYPE") == "text/plain; charset=utf-8", shown
    assert env.get("PATH_INFO", "") == "", shown
    # Length and type have their own variables, not HTTP_* copies.
    assert "HTTP_CONTENT_LENGTH" not in env, shown


def test_cgi_bin_script_sees_http10_as_the_protocol(server):
    resp = exchange(server, b"GET /cgi-bin/env.sh HTTP/1.0\r\n\r\n")
    assert cgi_env(resp).get("SERVER_PROTOCOL") == "HTTP/1.0", resp.describe()


def test_repeated_request_header_becomes_one_variable(server):
    # RFC 3875 section 4.1.18: the server MUST rewrite header fields with
    # the same name as a single value with the same meaning ("a, b"); two
    # HTTP_X_MULTI entries in the environment leave the script one of them.
    resp = exchange(server, b"GET /cgi-bin/env.sh HTTP/1.1\r\nHost: x\r\n"
                            b"X-Multi: a\r\nX-Multi: b\r\n\r\n")
    lines = [line for line in resp.text().splitlines()
             if line.startswith("HTTP_X_MULTI=")]
    joined = [line.replace(" ", "") for line in lines]
    assert joined == ["HTTP_X_MULTI=a,b"], (
        f"X-Multi: a and X-Multi: b reached the script as {lines}:\n"
        f"{resp.describe(2000)}")


def test_proxy_header_does_not_become_http_proxy(server):
    # "httpoxy": HTTP_PROXY is the variable many HTTP libraries use as their
    # proxy, so a client's "Proxy:" header must not set it.
    resp = request(server, "GET", "/cgi-bin/env.sh",
                   headers=[("Proxy", "http://attacker.example:8080")])
    env = cgi_env(resp)
    assert "HTTP_PROXY" not in env, resp.describe(2000)


def test_query_with_shell_metacharacters_is_passed_literally(server):
    tag = uuid.uuid4().hex
    pwned = [Path(f"/tmp/pwned_{tag}_1"), Path(f"/tmp/pwned_{tag}_2")]
    query = (f"a=$(touch${{IFS}}{pwned[0]});b=`touch${{IFS}}{pwned[1]}`"
             ";c=|&d=>x<&e='\"\\")
    resp = request(server, "GET", "/cgi-bin/env.sh?" + query)
    env = cgi_env(resp)
    try:
        assert not any(p.exists() for p in pwned), \
            "a shell ran a command from the query string"
    finally:
        for p in pwned:
            p.unlink(missing_ok=True)
    assert env.get("QUERY_STRING") == query, resp.describe(2000)


def test_request_body_reaches_the_script_on_stdin(server):
    # 256 KiB each way: more than a pipe holds, so a server that wrote the
    # whole body before reading the output would deadlock with cat.
    body = os.urandom(256 * 1024)
    resp = request(server, "POST", "/cgi-bin/cat.sh", body=body, timeout=8,
                   headers=[("Content-Type", "application/octet-stream")])
    assert resp.status == 200, resp.describe(0)
    assert resp.body == body, f"got {len(resp.body)} bytes back, sent 256 KiB"


def test_cgi_status_header_sets_the_response_status(server):
    resp = request(server, "GET", "/cgi-bin/status404.sh")
    assert resp.status == 404, resp.describe()
    assert resp.body == b"not here\n", resp.describe()
    assert "Status" not in {n for n, _ in resp.headers}, resp.describe()


def test_cgi_absolute_location_is_a_302_client_redirect(server):
    resp = request(server, "GET", "/cgi-bin/away.sh")
    assert resp.status == 302, resp.describe()
    assert resp.header("Location") == "http://example.com/elsewhere"
    check_common(resp)


def test_cgi_local_location_is_served_by_the_server(server):
    # RFC 3875 section 6.2.2: a local path with no Status is a local
    # redirect; the server answers with that resource itself.
    resp = request(server, "GET", "/cgi-bin/local.sh")
    assert resp.status == 200, resp.describe()
    assert resp.body == b"hello\n", resp.describe()


def test_a_local_redirect_serves_the_file_as_it_is_now(server, cgi_root):
    # v15 answers a local redirect from its file cache, as any file: a
    # file changed since it was cached is read again, not served stale.
    # Four times, so that the file is cached on every loop (io_threads).
    for _ in range(4):
        resp = request(server, "GET", "/cgi-bin/local.sh")
        assert resp.body == b"hello\n", resp.describe()
    (cgi_root / "hello.txt").write_text("hello again\n")
    for _ in range(4):
        resp = request(server, "GET", "/cgi-bin/local.sh")
        assert resp.status == 200, resp.describe()
        assert resp.body == b"hello again\n", \
            f"a changed file was served stale: {resp.describe()}"


# --- a script's source is never served as a file ---------------------------

SECRET_INDEX = """<?php
$password = 'index-pw-' . 'secret';
header('Content-Type: text/plain');
echo 'index.php ran for ', $_SERVER['SCRIPT_NAME'];
"""


@pytest.fixture
def php_index_server(start_server, cgi_root, tmp_path):
    """A server whose index is index.php, in the root and in sub/; its
    source holds a password that only a leak would show."""
    (cgi_root / "index.php").write_text(SECRET_INDEX)
    (cgi_root / "sub" / "index.php").write_text(SECRET_INDEX)
    (cgi_root / "cgi-bin" / "to-root.sh").write_text(
        "#!/bin/sh\nprintf 'Location: /\\r\\n\\r\\n'\n")
    (cgi_root / "cgi-bin" / "to-root.sh").chmod(0o755)
    conf = tmp_path / "server.conf"
    conf.write_text(f"root = {cgi_root}\nindex = index.php\n")
    return start_server("-c", conf)


def assert_no_source(resp):
    assert b"<?php" not in resp.body and b"index-pw" not in resp.body, (
        f"index.php's source was served:\n{resp}")


@pytest.mark.needs("config")
@pytest.mark.parametrize("directory,script_name", [
    ("/", "/index.php"), ("/sub/", "/sub/index.php")])
def test_an_index_that_names_a_script_runs_it(
        php_index_server, directory, script_name):
    resp = request(php_index_server, "GET", directory)
    assert_no_source(resp)
    assert resp.status == 200, resp.describe()
    assert resp.text() == f"index.php ran for {script_name}", resp.describe()
    check_common(resp)


def make_deep_directory(root, length):
    """Nested directories under root whose path from it is length bytes
    long (past what one path may hold, so built one level at a time).
    Returns that path."""
    names, left = [], length
    while left > 0:
        name = "d" * min(200, left)
        if left - len(name) == 1:  # no room for a one-byte "/" + name
            name = name[:-2]
        names.append(name)
        left -= len(name) + 1
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        index = os.open("index.php", os.O_WRONLY | os.O_CREAT, 0o644,
                        dir_fd=fd)
        os.write(index, SECRET_INDEX.encode())
        os.close(index)
    finally:
        os.close(fd)
    path = "/".join(names)
    assert len(path) == length
    return path


@pytest.mark.needs("config")
def test_a_directory_too_deep_to_name_its_script_index_is_refused(
        php_index_server, cgi_root):
    # The directory's path is short enough to open, but with "/index.php"
    # after it too long for the server's paths: it must refuse, not fall
    # back to sending the file.
    deep = make_deep_directory(cgi_root, 4090)
    try:
        resp = request(php_index_server, "GET", f"/{deep}/")
    finally:
        # Paths this long trip up whatever walks the test's directory.
        shutil.rmtree(cgi_root / deep.split("/")[0])
    assert_no_source(resp)
    assert resp.status == 403, resp.describe()
    check_common(resp)


@pytest.mark.needs("config")
def test_a_local_redirect_to_a_directory_never_serves_its_script_index(
        php_index_server):
    # A local redirect that names a script goes back to the client as a
    # redirect, the directory's index included; the client's request for
    # it then runs the script.
    resp = request(php_index_server, "GET", "/cgi-bin/to-root.sh")
    assert_no_source(resp)
    assert resp.status == 302, resp.describe()
    assert resp.header("Location") == "/", resp.describe()
    check_common(resp)


def test_cgi_header_block_with_bare_lf_is_accepted(server):
    resp = request(server, "GET", "/cgi-bin/lf-only.sh")
    assert resp.status == 200, resp.describe()
    assert resp.header("X-Lf") == "1" and resp.body == b"lf body", \
        resp.describe()


def test_non_executable_file_in_cgi_bin_is_403_and_does_not_run(server):
    resp = request(server, "GET", "/cgi-bin/noexec.sh")
    assert resp.status == 403, resp.describe()
    assert b"ran" not in resp.body and b"#!/bin/sh" not in resp.body, \
        f"the script ran or its source leaked:\n{resp}"
    check_common(resp)


# v15 remembers a script it has found, until inotify reports a change: a
# request goes to each event loop before and after the change.
REQUESTS_ACROSS_LOOPS = 4


def a_script_that_ran(server, cgi_root, name):
    """A CGI script that prints "ran", run until each event loop has found
    it; returns its path and the GET of it."""
    script = cgi_root / "cgi-bin" / name
    script.write_text("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n"
                      "\\r\\nran\\n'\n")
    script.chmod(0o755)
    for _ in range(REQUESTS_ACROSS_LOOPS):
        resp = request(server, "GET", f"/cgi-bin/{name}")
        assert resp.status == 200 and resp.body == b"ran\n", resp.describe()
    return script, lambda: request(server, "GET", f"/cgi-bin/{name}")


def test_a_script_made_non_executable_after_it_ran_is_403(server, cgi_root):
    script, get = a_script_that_ran(server, cgi_root, "soon_noexec.sh")
    script.chmod(0o644)
    for _ in range(REQUESTS_ACROSS_LOOPS):
        resp = get()
        assert resp.status == 403, (
            f"the script lost its execute permission:\n{resp.describe()}")


def test_a_script_removed_after_it_ran_is_404(server, cgi_root):
    script, get = a_script_that_ran(server, cgi_root, "soon_gone.sh")
    script.unlink()
    for _ in range(REQUESTS_ACROSS_LOOPS):
        resp = get()
        assert resp.status == 404, (
            f"the script was removed:\n{resp.describe()}")


def test_put_to_a_script_is_405_allowing_get_head_post(server):
    # Every script stage answers the same: a script takes POST too, so an
    # Allow without it would send a client away from a method that works.
    resp = request(server, "PUT", "/cgi-bin/env.sh", body=b"x")
    assert resp.status == 405, resp.describe()
    assert resp.header_all("Allow") == ["GET, HEAD, POST"], (
        f"PUT to a script: want one Allow: GET, HEAD, POST\n{resp}")
    assert b"REQUEST_METHOD" not in resp.body, f"the script ran:\n{resp}"


def test_missing_cgi_bin_script_is_404(server):
    resp = request(server, "GET", "/cgi-bin/missing.sh")
    assert resp.status == 404, resp.describe()


def test_script_printing_garbage_is_502(server):
    resp = request(server, "GET", "/cgi-bin/garbage.sh")
    assert resp.status == 502, resp.describe()
    assert b"this is not a CGI" not in resp.body, resp.describe()
    check_common(resp)


@pytest.mark.parametrize("script", ["status100.sh", "status199.sh"])
def test_script_choosing_an_interim_1xx_status_is_502(server, script):
    # A 1xx status is not a final answer: the client would wait for another.
    resp = request(server, "GET", "/cgi-bin/" + script)
    assert resp.status == 502, resp.describe()


def test_script_exiting_without_output_is_502(server):
    resp = request(server, "GET", "/cgi-bin/nothing.sh")
    assert resp.status == 502, resp.describe()
    check_common(resp)


def test_server_keeps_serving_after_bad_scripts(server):
    for target in ("/cgi-bin/garbage.sh", "/cgi-bin/nothing.sh",
                   "/cgi-bin/noexec.sh"):
        request(server, "GET", target)
    resp = request(server, "GET", "/hello.txt")
    assert resp.status == 200 and resp.body == b"hello\n", resp.describe()


# --- the time limit --------------------------------------------------------


def proc_alive(pid):
    """True while pid runs; a zombie (state Z) is dead, only unreaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def procs_with(marker):
    """Pids of live processes whose command line contains marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if marker.encode() in cmdline and proc_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_script_past_the_time_limit_is_504_and_killed(start_server, cgi_root,
                                                      tmp_path):
    # The script's file name is unique, so any process still running it is
    # ours; it also leaves its pid and its sleeping child's pid behind.
    name = f"slow_{uuid.uuid4().hex}.sh"
    pids = tmp_path / "pids"
    script = cgi_root / "cgi-bin" / name
    script.write_text("#!/bin/sh\n"
                      f"echo $$ > '{pids}.sh'\n"
                      "sleep 30 &\n"
                      f"echo $! > '{pids}.sleep'\n"
                      "wait\n")
    script.chmod(0o755)
    server = start_server("-r", str(cgi_root), "-T", "1")

    started = time.monotonic()
    resp = request(server, "GET", f"/cgi-bin/{name}", timeout=6)
    elapsed = time.monotonic() - started
    assert resp.status == 504, resp.describe()
    assert 0.8 <= elapsed < 4, f"504 after {elapsed:.1f} s with -T 1"
    check_common(resp)

    sh_pid = int(Path(f"{pids}.sh").read_text())
    sleep_pid = int(Path(f"{pids}.sleep").read_text())
    wait_until(lambda: not (proc_alive(sh_pid) or proc_alive(sleep_pid)
                            or procs_with(name)), timeout=3)
    assert not proc_alive(sh_pid), f"the script (pid {sh_pid}) still runs"
    assert not proc_alive(sleep_pid), \
        f"the script's child sleep (pid {sleep_pid}) still runs"
    assert procs_with(name) == [], f"processes running {name} remain"

    resp = request(server, "GET", "/hello.txt")
    assert resp.status == 200 and resp.body == b"hello\n", \
        f"server stopped serving after a 504:\n{resp}"


def test_php_past_the_time_limit_is_504(start_server, cgi_root):
    (cgi_root / "slow.php").write_text("<?php sleep(20); echo 'late';\n")
    server = start_server("-r", str(cgi_root), "-T", "1")
    started = time.monotonic()
    resp = request(server, "GET", "/slow.php", timeout=6)
    assert resp.status == 504, resp.describe()
    assert time.monotonic() - started < 4
    assert b"late" not in resp.body

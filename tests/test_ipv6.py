"""IPv6 (v15): -b ::1 and listen = [::1]:PORT serve on the IPv6 loopback,
the ready line writes the address in brackets, the access log and a CGI
script's REMOTE_ADDR carry the IPv6 peer, -b :: takes IPv4 clients as well
(dual-stack), and a malformed address stops the server with exit status 2.
Every connection goes to ::1 or 127.0.0.1."""

import select
import signal
import subprocess

import pytest

from http_util import exchange, run_curl
from util import Deadline, run_program, wait_until

pytestmark = pytest.mark.needs("ipv6")

ADDR_SCRIPT = ("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
               "echo \"$REMOTE_ADDR\"\n")


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    (root / "cgi-bin").mkdir(parents=True)
    (root / "hello.txt").write_text("hello\n")
    script = root / "cgi-bin" / "addr.sh"
    script.write_text(ADDR_SCRIPT)
    script.chmod(0o755)
    return root


def remote_addr(server):
    resp = exchange(server, b"GET /cgi-bin/addr.sh HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
    assert resp.status == 200, resp.describe()
    return resp.body.decode().strip()


def test_a_server_on_the_ipv6_loopback(start_server, root, tmp_path):
    conf = tmp_path / "server.conf"
    log = tmp_path / "access.log"
    conf.write_text(f"root = {root}\naccess_log = {log}\n")
    server = start_server("-c", conf, "-b", "::1")
    assert server.addr == "::1", "the ready line does not say [::1]:PORT"

    got = run_curl("-g", f"http://[::1]:{server.port}/hello.txt")
    assert got.returncode == 0 and got.stdout == b"hello\n", got
    assert remote_addr(server) == "::1"
    assert wait_until(lambda: log.exists() and b"GET /hello.txt" in
                      log.read_bytes()), "no access log line for the GET"
    line = next(x for x in log.read_bytes().splitlines()
                if b"GET /hello.txt" in x)
    assert line.startswith(b"::1 - - ["), line


def test_the_any_address_takes_ipv4_and_ipv6_clients(start_server, root):
    server = start_server("-r", root, "-b", "::")
    for addr in ["127.0.0.1", "::1"]:
        server.addr = addr
        try:
            got = remote_addr(server)
        except ConnectionRefusedError:
            pytest.fail(f"-b :: refused a client from {addr}")
        # An IPv4 client of the dual-stack socket is 127.0.0.1 to a
        # script, not ::ffff:127.0.0.1.
        assert got == addr


def test_listen_takes_a_bracketed_ipv6_address(stage, root, tmp_path):
    conf = tmp_path / "server.conf"
    conf.write_text(f"listen = [::1]:0\nroot = {root}\n")
    proc = subprocess.Popen([str(stage.server), "-c", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = Deadline(5)
        ready, _, _ = select.select([proc.stdout], [], [], deadline.left())
        line = proc.stdout.readline().decode() if ready else ""
        assert line.startswith("listening on [::1]:"), (
            f"ready line {line!r}, stderr {proc.stderr.read1()!r}"
            if proc.poll() is not None else f"ready line {line!r}")
        port = int(line.rsplit(":", 1)[1])
        got = run_curl("-g", f"http://[::1]:{port}/hello.txt")
        assert got.returncode == 0 and got.stdout == b"hello\n", got
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("addr", ["[::1", "::1::x"])
def test_a_malformed_address_exits_2(stage, addr):
    result = run_program([stage.server, "-b", addr, "-p", "0"])
    assert result.returncode == 2, result
    assert f"bad IPv4 or IPv6 address '{addr}'" in result.stderr, result.stderr

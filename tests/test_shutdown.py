"""Graceful shutdown (v15): at SIGTERM the server stops accepting, closes
its idle keep-alive connections at once, lets the requests in flight finish
(a PHP script that sleeps, here) and exits 0 when they are done, or after
`shutdown_timeout` seconds, taking the scripts still running with it."""

import signal
import socket
import threading
import time

import pytest

from http_util import (
    Deadline,
    build_request,
    read_response,
    read_until_close,
    request,
    send_all,
    server_args,
)
from util import (
    children_of,
    describe_status,
    socket_count,
    wait_gone,
    wait_until,
)

pytestmark = pytest.mark.needs("reactor", "cgi")


def sleeping_php(seconds):
    return f"<?php sleep({seconds}); echo 'slept {seconds}';\n"


def php_children(server):
    return [st for st in children_of(server.pid)
            if st["comm"].startswith("php")]


def start_with_scripts(start_server, stage, tmp_path, conf=None):
    """A server whose root has sleep1.php, sleep2.php and sleep5.php; conf
    (text) becomes its configuration file."""
    args = server_args(stage, tmp_path)
    for n in (1, 2, 5):
        (tmp_path / "root" / f"sleep{n}.php").write_text(sleeping_php(n))
    if conf is not None:
        path = tmp_path / "server.conf"
        path.write_text(conf)
        args = ["-c", str(path), *args]
    return start_server(*args)


class InFlight:
    """One request running in a thread: .resp (a Response) or .error (what
    went wrong), .done_at (time.monotonic() when it ended)."""

    def __init__(self, server, target, timeout=8):
        self.resp = self.error = self.done_at = None
        self.thread = threading.Thread(target=self._run,
                                       args=(server, target, timeout))
        self.thread.start()

    def _run(self, server, target, timeout):
        try:
            self.resp = request(server, "GET", target, timeout=timeout)
        except (AssertionError, OSError) as e:
            self.error = e
        self.done_at = time.monotonic()

    def join(self, timeout=8):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the request thread never ended"

    def describe(self):
        if self.resp is not None:
            return self.resp.describe()
        return f"no response: {self.error}"


def start_script(server, target, timeout=8):
    """Starts GET target and waits until its php-cgi runs."""
    flight = InFlight(server, target, timeout)
    assert wait_until(lambda: php_children(server), timeout=3), (
        f"php-cgi never started for {target}")
    return flight


def still_accepts(server):
    """True if a new client still gets an answer. A refused connect, or a
    connection that gets nothing back, a reset or a close within 0.3 s,
    means the listener is shut."""
    try:
        sock = socket.create_connection((server.addr, server.port), 0.3)
    except OSError:
        return False
    with sock:
        if not send_all(sock, build_request("GET", "/hello.txt")):
            return False
        try:
            read_response(sock, timeout=0.3)
        except AssertionError:
            return False
        return True


def test_a_request_in_flight_at_sigterm_gets_its_whole_answer(
        start_server, stage, tmp_path):
    server = start_with_scripts(start_server, stage, tmp_path)
    flight = start_script(server, "/sleep1.php")
    server.proc.send_signal(signal.SIGTERM)
    termed = time.monotonic()
    assert wait_until(lambda: not still_accepts(server), timeout=0.8), (
        "0.8 s after SIGTERM the server still answered a new connection")
    assert flight.done_at is None, (
        "the server went on accepting until its last request was answered")
    flight.join()
    assert flight.resp is not None and flight.resp.status == 200, (
        f"the request in flight at SIGTERM: {flight.describe()}")
    assert flight.resp.body == b"slept 1", flight.describe()
    status = server.wait(timeout=3)
    exited = time.monotonic()
    assert status == 0, (
        f"after SIGTERM: {describe_status(status)}\n{server.describe()}")
    assert exited - flight.done_at < 1.5, (
        f"the server exited {exited - flight.done_at:.1f} s after its last "
        f"response ({exited - termed:.1f} s after SIGTERM)")


def test_idle_keepalive_connections_are_closed_at_sigterm(
        start_server, stage, tmp_path):
    server = start_with_scripts(start_server, stage, tmp_path)
    deadline = Deadline(8)
    idle = []
    try:
        for _ in range(5):
            sock = server.connect(timeout=5)
            idle.append(sock)
            assert send_all(sock, build_request("GET", "/hello.txt"))
            resp = read_response(sock, deadline=deadline)
            assert resp.status == 200, resp.describe()
        # A script sleeps for 2 s, so the server cannot just exit: the idle
        # connections must be closed while it waits for the script.
        flight = start_script(server, "/sleep2.php")
        server.proc.send_signal(signal.SIGTERM)
        termed = time.monotonic()
        for i, sock in enumerate(idle):
            closed, data = read_until_close(
                sock, timeout=max(termed + 1.0 - time.monotonic(), 0.01))
            assert closed, (
                f"idle keep-alive connection {i + 1} of {len(idle)} was still "
                f"open 1 s after SIGTERM (received {data[:80]!r})")
        flight.join()
        assert flight.resp is not None and flight.resp.status == 200, (
            f"the script in flight at SIGTERM: {flight.describe()}")
        assert flight.resp.body == b"slept 2", flight.describe()
        status = server.wait(timeout=3)
        assert status == 0, (
            f"after SIGTERM: {describe_status(status)}\n{server.describe()}")
    finally:
        for sock in idle:
            sock.close()


def test_shutdown_timeout_ends_the_wait_for_a_slow_script(
        start_server, stage, tmp_path):
    server = start_with_scripts(start_server, stage, tmp_path,
                                conf="shutdown_timeout = 1\n")
    flight = start_script(server, "/sleep5.php", timeout=5)
    scripts = [st["pid"] for st in php_children(server)]
    server.proc.send_signal(signal.SIGTERM)
    termed = time.monotonic()
    try:
        status = server.wait(timeout=4)
    except AssertionError:
        raise AssertionError(
            "shutdown_timeout = 1, yet the server still ran 4 s after "
            f"SIGTERM, waiting for a 5 s script\n{server.describe()}"
        ) from None
    took = time.monotonic() - termed
    assert status == 0, (
        f"after SIGTERM: {describe_status(status)}\n{server.describe()}")
    assert took < 2.5, (
        f"shutdown_timeout = 1, yet the server took {took:.1f} s to exit")
    for pid in scripts:
        assert wait_gone(pid, timeout=1), (
            f"the script's process {pid} outlived the server")
    flight.join()
    # Its client is told by the close alone, as nginx's
    # worker_shutdown_timeout does: no byte of an answer that never came.
    assert getattr(flight.error, "closed_unanswered", False), (
        f"the client of the abandoned script: {flight.describe()}")


@pytest.mark.needs("threadpool")
def test_scripts_still_waiting_at_shutdown_timeout_get_503(
        start_server, stage, tmp_path):
    # One slot, held by a 5 s script: the two behind it still wait when the
    # stop's second runs out. They get 503, a clear answer a client (or a
    # load balancer) may retry elsewhere; the running one is abandoned.
    server = start_with_scripts(start_server, stage, tmp_path,
                                conf="worker_threads = 1\n"
                                "shutdown_timeout = 1\n")
    running = start_script(server, "/sleep5.php", timeout=5)
    waiting = [InFlight(server, "/sleep1.php", timeout=5) for _ in range(2)]
    assert wait_until(lambda: socket_count(server.pid) == 4, timeout=3), (
        f"the server holds {socket_count(server.pid) - 1} of 3 clients")
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait(timeout=4) == 0, server.describe()
    for flight in [running, *waiting]:
        flight.join()
    statuses = [f.resp.status if f.resp else f.describe() for f in waiting]
    assert statuses == [503, 503], (
        f"the scripts still waiting for the slot at the deadline got "
        f"{statuses}")
    assert getattr(running.error, "closed_unanswered", False), (
        f"the client of the abandoned script: {running.describe()}")


def _slow_reader(server, target, keep_alive=True):
    """A connection that asks for target with a tiny receive buffer and
    reads nothing yet, so the server's answer stalls in its output."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect((server.addr, server.port))
    headers = () if keep_alive else (("Connection", "close"),)
    send_all(sock, build_request("GET", target, headers=headers))
    return sock


def test_an_answer_in_flight_at_sigterm_ends_the_wait_once_it_is_out(
        start_server, stage, tmp_path):
    server = start_with_scripts(start_server, stage, tmp_path,
                                conf="shutdown_timeout = 8\n")
    (tmp_path / "root" / "big.bin").write_bytes(b"x" * (8 << 20))
    sock = _slow_reader(server, "/big.bin")
    assert wait_until(lambda: len(sock.recv(1, socket.MSG_PEEK)) == 1, 3), \
        "the answer did not start"
    server.proc.send_signal(signal.SIGTERM)
    resp = read_response(sock, timeout=6)
    read_at = time.monotonic()
    assert resp.status == 200 and len(resp.body) == 8 << 20, resp.describe()
    status = server.wait(timeout=3)
    waited = time.monotonic() - read_at
    assert status == 0, f"exit status {describe_status(status)}"
    assert waited < 1.5, (
        f"the server exited {waited:.1f} s after its last answer was out; "
        "it should not wait for shutdown_timeout (8 s) once nothing is in "
        "flight")
    sock.close()

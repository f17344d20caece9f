"""Reload (v15): SIGHUP reads the configuration file again, as
`nginx -s reload` does. The new settings apply to the connections accepted
after it; a request in flight finishes under the settings its connection
was accepted with; a file that does not check changes nothing, and the
error log says why; a new listen address is bound, and the old one closed.

When is a reload over? When the server says so to systemd: READY=1 after
RELOADING=1 on NOTIFY_SOCKET (what `systemctl reload` waits for), sent once
the new settings are in place. Each test plays systemd's part for that."""

import contextlib
import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from http_util import (
    build_request,
    read_response,
    request,
    send_all,
    server_args,
)
from test_config import direct, free_port, write_conf  # noqa: F401  (fixture)
from test_systemd import NotifySocket
from util import Deadline, probe, thread_count, wait_until

pytestmark = pytest.mark.needs("reload")

LOAD_SECONDS = 1.5  # clients at work while the reloads come
RELOADS_UNDER_LOAD = 6


@pytest.fixture
def notify():
    """systemd's notification socket, to hear when a reload is over."""
    # Not under tmp_path: a socket's path has at most 107 bytes.
    with tempfile.TemporaryDirectory(prefix="notify") as d:
        path = str(Path(d) / "notify")
        ns = NotifySocket(path, path)
        yield ns
        ns.sock.close()


def wait_ready(notify):
    fields, _ = notify.receive("READY=1 once the server accepts")
    assert fields == {"READY": "1"}, f"first message: {fields}"


def reload(pid, notify):
    """SIGHUP, then waits for the reload's RELOADING=1 and READY=1."""
    os.kill(pid, signal.SIGHUP)
    fields, _ = notify.receive("RELOADING=1 after SIGHUP")
    assert fields.get("RELOADING") == "1", f"after SIGHUP: {fields}"
    fields, _ = notify.receive("READY=1 to end the reload")
    assert fields == {"READY": "1"}, f"after RELOADING=1: {fields}"


def echo(port_or_server, body, close=True):
    """POST /echo on a new connection; the Response."""
    target = port_or_server
    if isinstance(port_or_server, int):
        target = Peer(port_or_server)
    return request(target, "POST", "/echo", body=body, close=close)


class Peer:
    """Just enough of a Server for http_util: where to connect."""

    def __init__(self, port):
        self.port = port

    def connect(self, timeout):
        return socket.create_connection(("127.0.0.1", self.port), timeout)


def start(start_server, stage, tmp_path, notify, conf, *args):
    srv = start_server(*server_args(stage, tmp_path), "-c", conf, *args,
                       env=notify.env())
    wait_ready(notify)
    return srv


# --- new settings for new connections ------------------------------------


def test_a_new_max_body_size_applies_to_new_connections_only(
        start_server, stage, tmp_path, notify):
    conf = write_conf(tmp_path / "server.conf", "max_body_size = 64k\n")
    srv = start(start_server, stage, tmp_path, notify, conf)
    body = bytes(range(256)) * 160  # 40 KiB: past the new limit's buffer
    assert echo(srv, body).status == 200

    # In flight: the head is in and some of the body, the rest comes after
    # the reload. Its connection keeps room for the whole body.
    in_flight = srv.connect()
    send_all(in_flight, build_request("POST", "/echo", body=body)[:2000])
    write_conf(conf, "max_body_size = 100\n")
    reload(srv.pid, notify)

    resp = echo(srv, body)
    assert resp.status == 413, (
        f"after the reload to max_body_size = 100, a new connection's "
        f"40 KiB body got {resp.describe()}")
    send_all(in_flight, build_request("POST", "/echo", body=body)[2000:])
    resp = read_response(in_flight)
    in_flight.close()
    assert resp.status == 200 and resp.body == body, (
        f"the request in flight at the reload: {resp.describe()}")


def test_a_keep_alive_connection_keeps_its_settings_across_a_reload(
        start_server, stage, tmp_path, notify):
    conf = write_conf(tmp_path / "server.conf", "keepalive_requests = 100\n")
    srv = start(start_server, stage, tmp_path, notify, conf)
    old = srv.connect()
    send_all(old, build_request("GET", "/hello.txt"))
    assert read_response(old).status == 200

    write_conf(conf, "keepalive_requests = 1\n")
    reload(srv.pid, notify)

    resp = request(srv, "GET", "/hello.txt", close=False)
    assert resp.status == 200 and resp.header("Connection") == "close", (
        f"keepalive_requests = 1 after the reload: a new connection's "
        f"first answer should close it: {resp.describe()}")
    send_all(old, build_request("GET", "/hello.txt"))
    resp = read_response(old)
    old.close()
    assert resp.status == 200 and resp.header("Connection") != "close", (
        f"a connection accepted before the reload keeps its 100 requests: "
        f"{resp.describe()}")


def test_the_flags_still_beat_the_file_after_a_reload(
        start_server, stage, tmp_path, notify):
    # start_server gives -b 127.0.0.1 -p 0: the port is the flag's, not
    # the file's, before the reload and after it.
    file_port = free_port()
    conf = write_conf(tmp_path / "server.conf", "max_body_size = 1k\n")
    srv = start(start_server, stage, tmp_path, notify, conf)
    write_conf(conf, f"listen = 127.0.0.1:{file_port}\n")
    reload(srv.pid, notify)

    probe(srv, stage.protocol)
    with pytest.raises(ConnectionRefusedError):
        Peer(file_port).connect(5).close()


# --- a file that does not check --------------------------------------------


def test_a_file_that_does_not_check_keeps_the_old_settings(
        start_server, stage, tmp_path, notify):
    error_log = tmp_path / "error.log"
    conf = write_conf(tmp_path / "server.conf", f"""
        max_body_size = 100
        error_log = {error_log}
        """)
    srv = start(start_server, stage, tmp_path, notify, conf)

    # The first line alone would raise the limit: all or nothing.
    write_conf(conf, f"""
        max_body_size = 1m
        keepalive_timeout = forever
        error_log = {error_log}
        """)
    reload(srv.pid, notify)

    resp = echo(srv, b"x" * 600)
    assert resp.status == 413, (
        f"a file with a bad line changed max_body_size: {resp.describe()}")
    probe(srv, stage.protocol)
    where = f"{conf.resolve()}:2:"
    assert wait_until(lambda: where in error_log.read_text(), 2.0), (
        f"no line naming {where} in the error log after the reload:\n"
        f"{error_log.read_text()}")


def test_a_setting_that_needs_a_restart_keeps_its_value_and_says_so(
        start_server, stage, tmp_path, notify):
    error_log = tmp_path / "error.log"
    conf = write_conf(tmp_path / "server.conf", f"""
        io_threads = 2
        log_level = warn
        error_log = {error_log}
        """)
    srv = start(start_server, stage, tmp_path, notify, conf)
    threads = thread_count(srv.pid)
    conf.write_text(conf.read_text().replace("io_threads = 2",
                                             "io_threads = 5"))
    reload(srv.pid, notify)

    assert thread_count(srv.pid) == threads, (
        f"io_threads changed by a reload: {threads} threads before, "
        f"{thread_count(srv.pid)} after")
    probe(srv, stage.protocol)
    warning = "io_threads changes only with a restart"
    assert wait_until(lambda: warning in error_log.read_text(), 2.0), (
        f"no {warning!r} in the error log:\n{error_log.read_text()}")


# --- listen ------------------------------------------------------------------


def start_listening_on(run, stage, tmp_path, notify, monkeypatch, port,
                       more=""):
    """A server started by run (the direct fixture) whose file says
    listen = 127.0.0.1:port, with no -p to beat it, once ready; returns it
    and its configuration file."""
    server_args(stage, tmp_path)  # writes root/hello.txt
    conf = write_conf(tmp_path / "server.conf", f"""
        listen = 127.0.0.1:{port}
        root = {tmp_path / "root"}
        {more}
        """)
    monkeypatch.setenv("NOTIFY_SOCKET", notify.name)
    srv = run("-c", conf)
    assert srv.ready_line() == f"listening on 127.0.0.1:{port}", (
        srv.describe())
    wait_ready(notify)
    return srv, conf


@contextlib.contextmanager
def listen_moved_to_a_taken_port(conf, old_port):
    """Rewrites conf's listen port to one that another socket holds while
    the block runs; yields that port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        conf.write_text(
            conf.read_text().replace(str(old_port), str(taken_port)))
        yield taken_port


def test_a_changed_listen_port_is_bound_and_the_old_one_closed(
        direct, stage, tmp_path, notify, monkeypatch):  # noqa: F811
    old_port, new_port = free_port(), free_port()
    srv, conf = start_listening_on(direct, stage, tmp_path, notify,
                                   monkeypatch, old_port)
    open_before = Peer(old_port).connect(5)
    send_all(open_before, build_request("GET", "/hello.txt"))
    assert read_response(open_before).status == 200

    conf.write_text(conf.read_text().replace(str(old_port), str(new_port)))
    reload(srv.proc.pid, notify)

    resp = request(Peer(new_port), "GET", "/hello.txt")
    assert resp.status == 200 and resp.body == b"hello\n", resp.describe()
    with pytest.raises(ConnectionRefusedError):
        Peer(old_port).connect(5).close()
    send_all(open_before, build_request("GET", "/hello.txt"))
    resp = read_response(open_before)
    open_before.close()
    assert resp.status == 200, (
        f"a connection of the old listener, after the reload: "
        f"{resp.describe()}")
    assert "Sanitizer" not in srv.stderr_path.read_text(), srv.describe()


def test_a_listen_port_that_cannot_be_bound_keeps_the_old_one(
        direct, stage, tmp_path, notify, monkeypatch):  # noqa: F811
    old_port = free_port()
    error_log = tmp_path / "error.log"
    srv, conf = start_listening_on(direct, stage, tmp_path, notify,
                                   monkeypatch, old_port,
                                   f"error_log = {error_log}")
    with listen_moved_to_a_taken_port(conf, old_port) as taken_port:
        reload(srv.proc.pid, notify)

        resp = request(Peer(old_port), "GET", "/hello.txt")
        assert resp.status == 200, (
            f"the old port after a reload to a taken one: {resp.describe()}")
    why = f"bind 127.0.0.1:{taken_port}"
    assert wait_until(lambda: why in error_log.read_text(), 2.0), (
        f"no {why!r} in the error log:\n{error_log.read_text()}")
    assert "Sanitizer" not in error_log.read_text(), srv.describe()


# --- under load --------------------------------------------------------------


class Client(threading.Thread):
    """Requests until told to stop: on one keep-alive connection after
    another, or each on its own connection. Every answer is checked."""

    def __init__(self, srv, keep_alive, stop):
        super().__init__(daemon=True)
        self.srv, self.keep_alive, self.stop = srv, keep_alive, stop
        self.done, self.failures = 0, []

    def run(self):
        while not self.stop.is_set() and len(self.failures) < 5:
            try:
                if self.keep_alive:
                    self.session()
                else:
                    self.one(close=True)
            except Exception as e:  # noqa: BLE001  (each failure is counted)
                self.failures.append(repr(e))

    def one(self, close):
        body = os.urandom(512)
        resp = echo(self.srv, body, close=close)
        self.check(resp, body)

    def session(self):
        with self.srv.connect() as sock:
            for _ in range(20):
                body = os.urandom(512)
                send_all(sock, build_request("POST", "/echo", body=body))
                resp = read_response(sock)
                self.check(resp, body)
                if resp.header("Connection") == "close":
                    return

    def check(self, resp, body):
        self.done += 1
        if resp.status != 200 or resp.body != body:
            self.failures.append(f"{resp.status}: {resp.describe()[:300]}")


def test_reloads_under_load_fail_no_request(
        start_server, stage, tmp_path, notify):
    settings = ["max_body_size = 1m\nkeepalive_requests = 1000\n",
                "max_body_size = 2k\nkeepalive_requests = 7\n"]
    conf = write_conf(tmp_path / "server.conf", settings[0])
    srv = start(start_server, stage, tmp_path, notify, conf)
    stop = threading.Event()
    clients = [Client(srv, keep_alive, stop)
               for keep_alive in (True, True, False, False)]
    for c in clients:
        c.start()
    deadline = Deadline(LOAD_SECONDS)
    for i in range(RELOADS_UNDER_LOAD):
        write_conf(conf, settings[(i + 1) % 2])
        reload(srv.pid, notify)
        # Paces the reloads; the clients are what waits on the server.
        time.sleep(min(LOAD_SECONDS / RELOADS_UNDER_LOAD, deadline.left()))
    stop.set()
    for c in clients:
        c.join(5)
    failures = [f for c in clients for f in c.failures]
    done = sum(c.done for c in clients)
    assert not failures, (
        f"{len(failures)} failed of {done} requests during "
        f"{RELOADS_UNDER_LOAD} reloads; first: {failures[0]}")
    assert done > 100, f"only {done} requests in {LOAD_SECONDS} s"


def test_a_reload_while_stopping_listens_on_nothing_new(
        direct, stage, tmp_path, notify, monkeypatch):  # noqa: F811
    old_port, new_port = free_port(), free_port()
    srv, conf = start_listening_on(direct, stage, tmp_path, notify,
                                   monkeypatch, old_port)
    # A body on its way keeps the stop waiting for it; 100 Continue says
    # the server has the head.
    body = b"b" * 100
    busy = Peer(old_port).connect(5)
    request_bytes = build_request("POST", "/echo", body=body,
                                  headers=[("Expect", "100-continue")])
    send_all(busy, request_bytes[:-len(body)])
    assert read_response(busy).status == 100
    os.kill(srv.proc.pid, signal.SIGTERM)
    fields, _ = notify.receive("STOPPING=1 after SIGTERM")
    assert fields == {"STOPPING": "1"}, fields

    conf.write_text(conf.read_text().replace(str(old_port), str(new_port)))
    reload(srv.proc.pid, notify)
    with pytest.raises(ConnectionRefusedError):
        Peer(new_port).connect(5).close()
    send_all(busy, body)
    resp = read_response(busy)
    busy.close()
    assert resp.status == 200 and resp.body == body, resp.describe()
    assert srv.proc.wait(5) == 0, srv.describe()

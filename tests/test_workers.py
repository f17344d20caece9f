"""Several processes, one port (v15): `workers = N` (-w N) runs N worker
processes under a master, each with its own listening socket on the port
(SO_REUSEPORT) and its own loops. SIGTERM to the master stops them all;
a worker that dies on its own is replaced. SIGHUP is a reload as nginx
does it: the master reads the file, starts a new generation of workers
with it and stops the old one. A second server started with workers on
the same port serves beside the first, which then drains and exits at
SIGTERM: the rolling restart, with no failed request."""

import os
import signal
import socket
import threading

import pytest

from http_util import (NoResponse, build_request, read_response, request,
                       send_all)
from test_config import direct, free_port, write_conf  # noqa: F401 (fixture)
from test_reload import (  # noqa: F401  (notify: a fixture)
    Peer,
    listen_moved_to_a_taken_port,
    notify,
    start_listening_on,
    wait_ready,
)
from util import Deadline, children_of, is_gone, server_args, wait_until

pytestmark = pytest.mark.needs("workers", "cgi")

PHASE_SECONDS = 0.6  # of load before the upgrade, and again after it
# Prints the pid of the process that ran it: the worker that took the
# connection (a script is its server's child).
PID_SCRIPT = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s\\n' $PPID\n"


def start_with_workers(start_server, stage, tmp_path, *args, env=None):
    root_args = server_args(stage, tmp_path)
    cgi_bin = tmp_path / "docroot" / "cgi-bin"
    cgi_bin.mkdir(exist_ok=True)
    script = cgi_bin / "pid.sh"
    script.write_text(PID_SCRIPT)
    script.chmod(0o755)
    return start_server(*root_args, *args, env=env)


def live_children(srv):
    return {st["pid"] for st in children_of(srv.pid) if st["state"] != "Z"}


def workers_of(srv, count):
    """The pids of the master's count workers, once it has that many."""
    found = wait_until(lambda: len(live_children(srv)) == count)
    assert found, (f"master pid {srv.pid} has children "
                   f"{children_of(srv.pid)}, not {count} workers")
    return live_children(srv)


def serving_pid(srv):
    """GET /cgi-bin/pid.sh on a new connection: the worker that served."""
    resp = request(srv, "GET", "/cgi-bin/pid.sh")
    assert resp.status == 200, resp.describe()
    return int(resp.body)


def test_three_workers_share_the_port_and_stop_together(
        start_server, stage, tmp_path):
    srv = start_with_workers(start_server, stage, tmp_path, "-w", "3")
    workers = workers_of(srv, 3)
    served = {serving_pid(srv) for _ in range(30)}
    assert served <= workers, (
        f"answers from pids {served}, the workers are {workers}")
    assert len(served) > 1, (
        f"30 connections all served by pid {served}: the kernel spreads "
        f"them over the workers' sockets, unless one socket listens alone")

    os.kill(srv.pid, signal.SIGTERM)
    assert srv.wait() == 0, srv.describe()
    left = [pid for pid in workers if not is_gone(pid)]
    assert not left, f"workers {left} outlived their master"


def test_a_worker_killed_is_replaced_and_the_port_keeps_serving(
        start_server, stage, tmp_path):
    srv = start_with_workers(start_server, stage, tmp_path, "-w", "2")
    workers = workers_of(srv, 2)
    killed = min(workers)
    os.kill(killed, signal.SIGKILL)

    def replaced_by_another():
        # One reading of the children for both conditions: read twice, a
        # killed worker still dying counted in the first (two children) and
        # gone from the second before its successor was forked.
        kids = live_children(srv)
        return len(kids) == 2 and killed not in kids

    replaced = wait_until(replaced_by_another)
    now = live_children(srv)
    assert replaced, (
        f"after SIGKILL to worker {killed}, the master's children are {now}")
    served = {serving_pid(srv) for _ in range(20)}
    assert served <= now, f"answers from {served}, the workers are {now}"
    said = f"worker pid {killed} was killed by signal 9: starting another"
    assert said in srv.stderr_text(), srv.describe()


def test_a_server_without_workers_still_cannot_take_a_workers_port(
        start_server, stage, tmp_path, run_server):
    srv = start_with_workers(start_server, stage, tmp_path, "-w", "2")
    done = run_server([*server_args(stage, tmp_path), "-b", "127.0.0.1",
                       "-p", str(srv.port)])
    assert done.returncode == 1 and done.stderr == (
        f"server: bind 127.0.0.1:{srv.port}: Address already in use\n"), (
        f"exit {done.returncode}, stderr {done.stderr!r}")


class Load:
    """Client threads sending GET target until stop(): half on one
    keep-alive connection each, half on a new connection per request.
    .failures lists what went wrong, .served counts the answers."""

    def __init__(self, port, clients=4, limit=None, target="/index.html"):
        self.port = port
        self.target = target
        self.limit = limit  # requests in all, or None: until stop()
        self.stopping = threading.Event()
        self.failures = []
        self.served = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(i % 2,))
                        for i in range(clients)]
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join()

    def reached_limit(self):
        with self.lock:
            done = self.served + len(self.failures)
        return self.limit is not None and done >= self.limit

    def _connect(self):
        return socket.create_connection(("127.0.0.1", self.port), 5)

    def _client(self, keep_alive):
        sock = None
        while not self.stopping.is_set() and not self.reached_limit():
            reused = sock is not None
            try:
                sock = sock or self._connect()
                resp = self._get(sock, keep_alive)
            except (NoResponse, OSError) as e:
                if sock is not None:
                    sock.close()
                sock = None
                # A keep-alive connection the server closed as idle, before
                # it answered: a client sends the request again on a new
                # one (RFC 9112 section 9.3.1), as browsers and curl do.
                unanswered = (isinstance(e, OSError)
                              or e.closed_unanswered)
                if reused and unanswered:
                    continue
                self._fail(f"{'keep-alive' if keep_alive else 'close'}: "
                           f"{type(e).__name__}: {e}")
                continue
            if resp.status != 200:
                self._fail(f"status {resp.status}: {resp.describe()}")
            with self.lock:
                self.served += 1
            if not keep_alive or resp.header("Connection") == "close":
                sock.close()
                sock = None
        if sock is not None:
            sock.close()

    def _get(self, sock, keep_alive):
        headers = () if keep_alive else (("Connection", "close"),)
        send_all(sock, build_request("GET", self.target, headers=headers))
        return read_response(sock)

    def _fail(self, what):
        with self.lock:
            self.failures.append(what)


def run_load_for(load, seconds):
    """Lets the clients work for seconds (a load, not a wait for the
    server: the answers are polled all along)."""
    phase = Deadline(seconds)
    wait_until(lambda: phase.expired() and load.served > 0,
               timeout=seconds + 2)


def test_a_rolling_restart_under_load_fails_no_request(
        start_server, stage, tmp_path):
    old = start_with_workers(start_server, stage, tmp_path, "-w", "2")
    load = Load(old.port)
    try:
        run_load_for(load, PHASE_SECONDS)
        new = start_with_workers(start_server, stage, tmp_path, "-w", "2",
                                 "-p", old.port)
        os.kill(old.pid, signal.SIGTERM)
        assert old.wait() == 0, old.describe()
        before = load.served
        run_load_for(load, PHASE_SECONDS)
    finally:
        load.stop()
    assert not load.failures, (
        f"{len(load.failures)} of {load.served + len(load.failures)} "
        f"requests failed across the restart: {load.failures[:5]}")
    assert load.served > before, (
        f"no request served after the old server exited ({before} before)")
    assert request(new, "GET", "/index.html").status == 200


def test_a_stopping_server_answers_the_clients_its_listener_queued(
        start_server, stage, tmp_path):
    # The trap of a shared port: a listener's close resets the connections
    # still in its accept queue. Here the queue is full when the stop
    # begins: the server is frozen (SIGSTOP), told to stop, then the clients
    # connect (the kernel queues them), and then it runs again, with the
    # stop first in line.
    srv = start_server(*server_args(stage, tmp_path))
    os.kill(srv.pid, signal.SIGSTOP)
    try:
        os.kill(srv.pid, signal.SIGTERM)
        clients = [srv.connect() for _ in range(20)]
        for sock in clients:
            send_all(sock, build_request("GET", "/index.html"))
    finally:
        os.kill(srv.pid, signal.SIGCONT)
    answers = []
    for sock in clients:
        with sock:
            try:
                answers.append(read_response(sock).status)
            except NoResponse as e:
                answers.append(str(e))
    assert answers == [200] * len(clients), (
        f"clients queued when the stop began got {answers}")
    assert srv.wait() == 0, srv.describe()


# --- reload: a new generation of workers ------------------------------------


def start_reloadable(start_server, stage, tmp_path, notify, conf):
    srv = start_with_workers(start_server, stage, tmp_path, "-c", conf,
                             env=notify.env())
    wait_ready(notify)
    return srv


def reload_by_master(srv, notify):
    """SIGHUP to the master; RELOADING=1 then READY=1 must come from it
    (systemd takes them from the main process only)."""
    os.kill(srv.pid, signal.SIGHUP)
    for expected in ("RELOADING", "READY"):
        fields, pid = notify.receive(f"{expected}=1 after SIGHUP")
        assert fields.get(expected) == "1" and pid == srv.pid, (
            f"waiting for {expected}=1 from the master {srv.pid}, got "
            f"{fields} from pid {pid}")
        if expected == "RELOADING":
            assert "MONOTONIC_USEC" in fields, fields


def two_roots(tmp_path):
    roots = []
    for name in ("old", "new"):
        root = tmp_path / name
        root.mkdir()
        (root / "which.txt").write_text(name)
        roots.append(root)
    return roots


def test_a_reload_with_workers_starts_new_ones_with_every_new_setting(
        start_server, stage, tmp_path, notify):
    old_root, new_root = two_roots(tmp_path)
    conf = write_conf(tmp_path / "server.conf",
                      f"root = {old_root}\nworkers = 2\n")
    # No -r: the file's root is the one that counts.
    srv = start_server("-c", conf, env=notify.env())
    wait_ready(notify)
    old = workers_of(srv, 2)
    assert request(srv, "GET", "/which.txt").body == b"old"

    write_conf(conf, f"root = {new_root}\nworkers = 3\n")
    reload_by_master(srv, notify)
    # An old worker may take a connection in the instant before its
    # SIGTERM reaches it; once all have, only the new root is served.
    assert wait_until(lambda: all(is_gone(pid) for pid in old)), (
        f"old workers {[p for p in old if not is_gone(p)]} still run")
    new = workers_of(srv, 3)
    assert not new & old, f"workers {new & old} outlived the reload"
    bodies = {request(srv, "GET", "/which.txt").body for _ in range(10)}
    assert bodies == {b"new"}, f"after the reload to {new_root}: {bodies}"
    assert "changes only with a restart" not in srv.stderr_text(), (
        srv.describe())


def reload_under_load(srv, notify, conf, load, before, new_confs, after):
    """Lets load serve `before` requests, reloads srv with each text of
    new_confs in turn, then lets it serve `after` more, and stops it: none
    may fail. Returns how many were served when the last reload was over."""
    try:
        assert wait_until(lambda: load.served >= before), (
            f"{load.served} served before the reload")
        for text in new_confs:
            write_conf(conf, text)
            reload_by_master(srv, notify)
        at_ready = load.served
        load.limit = min(load.limit, at_ready + after)
        assert wait_until(load.reached_limit), (
            f"{load.served} served of {load.limit}")
    finally:
        load.stop()
    assert not load.failures, (
        f"{len(load.failures)} of {load.served + len(load.failures)} "
        f"{load.target} requests failed across the reload: "
        f"{load.failures[:5]}")
    return at_ready


def test_a_reload_with_workers_under_load_fails_no_request(
        start_server, stage, tmp_path, notify):
    conf = write_conf(tmp_path / "server.conf", "workers = 2\n")
    srv = start_reloadable(start_server, stage, tmp_path, notify, conf)
    old = workers_of(srv, 2)
    # A file big enough to be on its way at any moment: an old worker that
    # did not let its answers finish would show.
    (tmp_path / "docroot" / "big.bin").write_bytes(b"x" * (1 << 20))
    load = Load(srv.port, clients=4, limit=2000, target="/big.bin")
    at_ready = reload_under_load(
        srv, notify, conf, load, 100,
        [f"workers = 2\nkeepalive_requests = {n}\n" for n in (5, 1000)],
        150)
    assert load.served > at_ready, (
        f"no request served after the reload ({at_ready} before)")
    assert not workers_of(srv, 2) & old


def test_a_reload_with_workers_under_a_script_load_fails_no_request(
        start_server, stage, tmp_path, notify):
    # One script slot per worker: scripts wait for it, and an old worker
    # told to stop must still run the ones it has taken, not answer 503.
    conf = write_conf(tmp_path / "server.conf",
                      "workers = 2\nworker_threads = 1\n")
    srv = start_reloadable(start_server, stage, tmp_path, notify, conf)
    load = Load(srv.port, clients=4, limit=1000, target="/cgi-bin/pid.sh")
    reload_under_load(
        srv, notify, conf, load, 20,
        ["workers = 2\nworker_threads = 1\nkeepalive_requests = 5\n"], 40)


def test_a_file_that_does_not_check_keeps_the_old_workers(
        start_server, stage, tmp_path, notify):
    conf = write_conf(tmp_path / "server.conf", "workers = 2\n")
    srv = start_reloadable(start_server, stage, tmp_path, notify, conf)
    before = workers_of(srv, 2)
    write_conf(conf, "workers = 3\nno_such_key = 1\n")
    reload_by_master(srv, notify)
    why = (f"reload: {conf.resolve()}:2: unknown key 'no_such_key': the old "
           f"settings stay")
    assert why in srv.stderr_text(), srv.describe()
    assert live_children(srv) == before
    assert {serving_pid(srv) for _ in range(10)} <= before


def test_a_reload_with_workers_moves_them_to_a_new_listen_port(
        direct, stage, tmp_path, notify, monkeypatch):  # noqa: F811
    old_port, new_port = free_port(), free_port()
    srv, conf = start_listening_on(direct, stage, tmp_path, notify,
                                   monkeypatch, old_port, "workers = 2")
    conf.write_text(conf.read_text().replace(str(old_port), str(new_port)))
    os.kill(srv.proc.pid, signal.SIGHUP)
    for expected in ("RELOADING", "READY"):
        fields, _ = notify.receive(f"{expected}=1 after SIGHUP")
        assert fields.get(expected) == "1", fields
    resp = request(Peer(new_port), "GET", "/hello.txt")
    assert resp.status == 200, resp.describe()

    def old_port_refuses():
        try:
            Peer(old_port).connect(5).close()
        except ConnectionRefusedError:
            return True
        return False

    assert wait_until(old_port_refuses), (
        f"port {old_port} still accepts after the reload to {new_port}")


def test_a_listen_port_that_cannot_be_bound_keeps_the_old_workers(
        direct, stage, tmp_path, notify, monkeypatch):  # noqa: F811
    old_port = free_port()
    srv, conf = start_listening_on(direct, stage, tmp_path, notify,
                                   monkeypatch, old_port, "workers = 2")
    before = {st["pid"] for st in children_of(srv.proc.pid)}
    with listen_moved_to_a_taken_port(conf, old_port) as taken_port:
        os.kill(srv.proc.pid, signal.SIGHUP)
        for expected in ("RELOADING", "READY"):
            fields, _ = notify.receive(f"{expected}=1 after SIGHUP")
            assert fields.get(expected) == "1", fields
    why = (f"reload: bind 127.0.0.1:{taken_port}: Address already in use: "
           f"the old workers stay")
    assert why in srv.stderr_path.read_text(), srv.describe()
    after = {st["pid"] for st in children_of(srv.proc.pid)}
    assert after == before, f"workers {before} became {after}"
    resp = request(Peer(old_port), "GET", "/hello.txt")
    assert resp.status == 200, resp.describe()


def test_ctrl_c_stops_master_and_workers_after_a_reload_with_status_0(
        start_server, stage, tmp_path, notify):
    conf = write_conf(tmp_path / "server.conf", "workers = 2\n")
    srv = start_reloadable(start_server, stage, tmp_path, notify, conf)
    reload_by_master(srv, notify)
    workers = workers_of(srv, 2)
    os.killpg(srv.pid, signal.SIGINT)  # the master and its workers at once
    assert srv.wait() == 0, srv.describe()
    left = [pid for pid in workers if not is_gone(pid)]
    assert not left, f"workers {left} outlived their master"


def test_startup_warnings_are_said_once_not_by_each_worker(
        start_server, stage, tmp_path):
    (tmp_path / "docroot").mkdir()
    (tmp_path / "docroot" / "status").write_text("hidden\n")
    srv = start_with_workers(start_server, stage, tmp_path, "-w", "3")
    workers_of(srv, 3)
    warning = "the document root's status is not served"
    assert srv.stderr_text().count(warning) == 1, srv.describe()


def test_a_new_worker_that_cannot_start_leaves_the_old_ones_serving(
        start_server, stage, tmp_path, notify):
    conf = write_conf(tmp_path / "server.conf", "workers = 2\n")
    srv = start_reloadable(start_server, stage, tmp_path, notify, conf)
    before = workers_of(srv, 2)
    # The file checks; each new worker then fails to open its error log.
    write_conf(conf, f"workers = 2\nerror_log = {tmp_path}/none/error.log\n")
    reload_by_master(srv, notify)
    said = "reload: a new worker exited before it served: the old workers stay"
    assert said in srv.stderr_text(), srv.describe()
    assert wait_until(lambda: live_children(srv) == before), (
        f"children {live_children(srv)}, the old workers were {before}")
    assert {serving_pid(srv) for _ in range(10)} <= before

"""v15 behind HAProxy (deploy/haproxy/haproxy.cfg, run as committed, only
its ports changed): three servers, a few clients through HAProxy, one
server killed mid-load and every server restarted in turn. The clients
must see no failed request: HAProxy's retries cover the killed server's
requests, and /healthz's 503 during `shutdown_drain` takes a stopping
server out before it closes. Then each server's /status must count the
requests HAProxy sent it."""

import http.client
import os
import re
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from http_util import request, server_args
from test_config import free_port
from test_status import parse_status
from util import Deadline, describe_status, stop_process_group, wait_until

pytestmark = pytest.mark.needs("status")

HAPROXY = "/usr/sbin/haproxy"
CONFIG = Path(__file__).resolve().parent.parent / "deploy/haproxy/haproxy.cfg"
CLIENTS = 4


def haproxy_config(port, backend_ports):
    """The committed configuration with the bind and server ports replaced:
    the file that is tested is the file that is shipped."""
    text = CONFIG.read_text()
    text, binds = re.subn(r"(\n\s*bind 127\.0\.0\.1:)\d+", rf"\g<1>{port}",
                          text)
    servers = iter(backend_ports)
    text, n = re.subn(r"(\n\s*server \S+ 127\.0\.0\.1:)\d+",
                      lambda m: f"{m.group(1)}{next(servers)}", text)
    assert binds == 1 and n == len(backend_ports), (
        f"{CONFIG} no longer has one bind and {len(backend_ports)} servers")
    return text


class HAProxy:
    """haproxy in the foreground (-db) on 127.0.0.1:port."""

    def __init__(self, workdir, port, backend_ports):
        self.port = port
        cfg = workdir / "haproxy.cfg"
        cfg.write_text(haproxy_config(port, backend_ports))
        self.stderr_path = workdir / "haproxy.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [HAPROXY, "-f", str(cfg), "-db"], stdin=subprocess.DEVNULL,
                stdout=err, stderr=err, process_group=0)

    def describe(self):
        return (f"haproxy: {describe_status(self.proc.poll())}\n"
                f"{self.stderr_path.read_text(errors='replace')[-3000:]}")

    def stop(self):
        stop_process_group(self.proc, 3)


class Load:
    """CLIENTS threads, each with its own keep-alive connection to
    HAProxy, asking for /hello.txt until stopped. .sent counts requests,
    .failures lists what went wrong (a status other than 200, or no
    answer)."""

    def __init__(self, port):
        self.port = port
        self.sent = 0
        self.failures = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client)
                        for _ in range(CLIENTS)]
        for t in self.threads:
            t.start()

    def _client(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.stopping.is_set():
            failure = None
            try:
                conn.request("GET", "/hello.txt")
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200 or body != b"hello\n":
                    failure = f"{resp.status} {body[:80]!r}"
            except (OSError, http.client.HTTPException) as e:
                failure = f"no answer: {e!r}"
                conn.close()
            with self.lock:
                self.sent += 1
                if failure:
                    self.failures.append(failure)
        conn.close()

    def count(self):
        with self.lock:
            return self.sent

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(5)
        assert not any(t.is_alive() for t in self.threads), \
            "a client thread never ended"


def status_of(server):
    return parse_status(request(server, "GET", "/status").body.decode())


def client_requests(server):
    """The answers server sent but to health checks (its /status reads
    included: each counts once it is sent)."""
    total = status_of(server)["Total"]
    return total["requests"] - total["health_checks"]


def checked(server, n):
    """Whether HAProxy has checked server n times (the first good check of
    a restarted server puts it back in rotation: rise 1)."""
    return status_of(server)["Total"]["health_checks"] >= n


def test_haproxy_loses_no_request_across_a_kill_and_rolling_restarts(
        start_server, stage, tmp_path):
    if not os.access(HAPROXY, os.X_OK):
        pytest.fail(f"{HAPROXY} is missing: apt-get install haproxy "
                    "(scripts/lib/ensure-deps lists it)", pytrace=False)
    conf = tmp_path / "server.conf"
    conf.write_text("shutdown_drain = 1\n")
    args = ["-c", conf, *server_args(stage, tmp_path)]
    backends = [start_server(*args) for _ in range(3)]
    ports = [b.port for b in backends]
    workdir = tmp_path / "haproxy"
    workdir.mkdir()
    proxy = HAProxy(workdir, free_port(), ports)
    load = None
    deadline = Deadline(9)
    try:
        assert wait_until(lambda: all(checked(b, 2) for b in backends), 3), (
            f"HAProxy never checked all three servers\n{proxy.describe()}")
        load = Load(proxy.port)

        def load_moves(n=50):
            start = load.count()
            assert wait_until(lambda: load.count() >= start + n, 2), (
                f"the load stalled\n{proxy.describe()}")

        def restart(i):
            backends[i] = start_server(*args, "-p", ports[i])
            assert wait_until(lambda: checked(backends[i], 2), 2), (
                f"HAProxy never checked restarted server {i}\n"
                f"{proxy.describe()}")
            load_moves()

        load_moves()
        # A crash: its requests in flight, its idle connections and the
        # connects to it until a check fails are HAProxy's to retry.
        backends[0].proc.send_signal(signal.SIGKILL)
        backends[0].wait(timeout=2)
        load_moves()
        restart(0)
        def taken_out(server):
            """Whether HAProxy sends server no client while the load goes
            on through the others (20 requests)."""
            first = client_requests(server)
            load_moves(20)
            return client_requests(server) == first + 1  # +1: that read

        # A rolling restart: each stops gracefully. During its drain (1 s)
        # it serves on but fails its checks, and HAProxy must take it out
        # then, before the listener closes: a stop that needs HAProxy's
        # retries is not a clean one.
        for i in range(3):
            backends[i].proc.send_signal(signal.SIGTERM)
            assert wait_until(lambda: taken_out(backends[i]), 0.8), (
                f"HAProxy still sent clients to server {i} 0.8 s into its "
                f"drain\n{proxy.describe()}")
            assert backends[i].wait(timeout=4) == 0
            restart(i)
        load.stop()
        assert not load.failures, (
            f"{len(load.failures)} of {load.sent} requests failed at the "
            f"client: {load.failures[:5]}\n{proxy.describe()}")

        # Each answer a server sent is counted: K requests through HAProxy
        # are K more requests on the servers' /status, beside the checks
        # and our own /status reads.
        before = [status_of(b)["Total"] for b in backends]
        k = 60
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=3)
        for _ in range(k):
            conn.request("GET", "/hello.txt")
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read() == b"hello\n"
        conn.close()
        after = [status_of(b)["Total"] for b in backends]
        served = sum((a["requests"] - a["health_checks"]) -
                     (b["requests"] - b["health_checks"]) - 1
                     for a, b in zip(after, before))
        assert served == k, (
            f"{k} requests through HAProxy, yet the servers' /status count "
            f"{served}: before {before}, after {after}")
        assert all(a["requests"] > b["requests"] + 1
                   for a, b in zip(after, before)), (
            f"a server got none of the {k} requests: {before} {after}")
        assert not deadline.expired(), "the test took longer than 9 s"
    finally:
        if load is not None:
            load.stop()
        proxy.stop()
        # Every drain begins at once, and stop()'s SIGTERM, a second one,
        # ends it: no second of drain each, one after another.
        for backend in backends:
            if backend.proc.poll() is None:
                backend.proc.send_signal(signal.SIGTERM)
        for backend in backends:
            backend.stop()

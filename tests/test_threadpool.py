"""The worker pool of v14: scripts run on workers while the loop goes on
serving; more scripts than workers wait in the queue and all complete; a
stop while scripts run or wait ends the server cleanly."""

import signal
import threading
import time

import pytest

from http_util import request, server_args
from util import children_of, wait_gone, wait_until

SLEEP_PHP = "<?php sleep(1); echo 'slept';\n"


def php_children(server):
    return [st for st in children_of(server.pid)
            if st["comm"].startswith("php")]


def start_with_workers(start_server, stage, tmp_path, workers):
    args = server_args(stage, tmp_path)
    (tmp_path / "root" / "sleep.php").write_text(SLEEP_PHP)
    conf = tmp_path / "server.conf"
    conf.write_text(f"worker_threads = {workers}\n")
    return start_server("-c", str(conf), *args)


@pytest.mark.needs("threadpool")
def test_more_scripts_than_workers_queue_and_all_complete(
        start_server, stage, tmp_path):
    server = start_with_workers(start_server, stage, tmp_path, 2)
    results = [None] * 6

    def fetch(i):
        results[i] = request(server, "GET", f"/sleep.php?n={i}", timeout=9)

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    assert wait_until(lambda: len(php_children(server)) == 2, timeout=3), \
        "two workers should each be running a script"
    started = time.monotonic()
    resp = request(server, "GET", "/hello.txt", timeout=3)
    assert resp.status == 200, resp.describe()
    assert time.monotonic() - started < 0.5, \
        "a static file waited for busy workers"
    assert len(php_children(server)) <= 2, \
        "more scripts ran at once than there are workers"
    for t in threads:
        t.join(timeout=9)
    for i, resp in enumerate(results):
        assert resp is not None and resp.status == 200, \
            f"queued script {i}: {resp.describe() if resp else 'no answer'}"
        assert resp.body == b"slept", resp.describe()


@pytest.mark.needs("threadpool")
def test_stop_while_scripts_run_and_wait_ends_cleanly(
        start_server, stage, tmp_path):
    server = start_with_workers(start_server, stage, tmp_path, 1)
    clients = [threading.Thread(
        target=lambda: _ignore_errors(request, server, "GET", "/sleep.php",
                                      timeout=6))
        for _ in range(4)]
    for t in clients:
        t.start()
    assert wait_until(lambda: php_children(server), timeout=3), \
        "no script started"
    scripts = [st["pid"] for st in php_children(server)]
    server.proc.send_signal(signal.SIGTERM)
    status = server.wait(timeout=5)
    assert status == 0, f"exit status {status} after SIGTERM with work queued"
    for pid in scripts:
        assert wait_gone(pid, timeout=3), f"script {pid} outlived the server"
    for t in clients:
        t.join(timeout=6)


def _ignore_errors(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - any failure to read an answer
        pass  # the server stopped: no answer is the expected outcome

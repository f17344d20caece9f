"""The worker pool of v14: scripts run on workers while the loop goes on
serving; more scripts than workers wait in the queue and all complete; a
full queue answers 503 (v15, where its length is a setting); a stop while
scripts run or wait ends the server cleanly."""

import signal
import threading
import time

import pytest

from http_util import NoResponse, request, server_args
from util import (
    children_of,
    socket_count,
    symptom_absent,
    wait_gone,
    wait_until,
)

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


def in_threads(count, fetch):
    """Calls fetch(i) for i below count, each on a thread of its own, at
    once; returns the results, filled in as they come (None until then),
    and the threads, started."""
    results = [None] * count

    def run(i):
        results[i] = fetch(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    return results, threads


@pytest.mark.needs("threadpool")
def test_more_scripts_than_workers_queue_and_all_complete(
        start_server, stage, tmp_path):
    server = start_with_workers(start_server, stage, tmp_path, 2)
    results, threads = in_threads(6, lambda i: request(
        server, "GET", f"/sleep.php?n={i}", timeout=9))
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


# Holds its slot until the test creates the gate file (8 s at most, so a
# failed test leaves no script behind). PHP caches no stat of a missing file.
GATE_PHP = """<?php
$end = microtime(true) + 8;
while (!file_exists('{gate}') && microtime(true) < $end)
    usleep(10000);
echo 'through';
"""


@pytest.mark.needs("threadpool", "reactor", "config")
def test_past_the_queue_limit_scripts_get_503_at_once_and_the_rest_complete(
        start_server, stage, tmp_path):
    """One slot and room for two to wait: of five held scripts, one runs,
    two wait, and two get 503 while the first still holds its slot; once
    it lets go, the three run in turn and answer 200. v14 sheds load too,
    but past a fixed 1024 jobs, too many for a test to hold; v15's limit is
    max_queued_scripts."""
    args = server_args(stage, tmp_path)
    gate = tmp_path / "gate"
    (tmp_path / "root" / "held.php").write_text(GATE_PHP.format(gate=gate))
    conf = tmp_path / "server.conf"
    conf.write_text("worker_threads = 1\nmax_queued_scripts = 2\n")
    server = start_server("-c", str(conf), *args)
    results, clients = in_threads(5, lambda i: request(
        server, "GET", f"/held.php?n={i}", timeout=9))

    def refused():
        return [r for r in results if r is not None and r.status == 503]

    try:
        assert wait_until(lambda: len(refused()) == 2, timeout=5), (
            f"want two 503s while the first script holds its slot, got "
            f"{[r.describe() if r else 'waiting' for r in results]}")
        assert len(php_children(server)) == 1, \
            "more scripts ran at once than worker_threads"
        waiting = [i for i, r in enumerate(results) if r is None]
        assert len(waiting) == 3, (
            f"want one running and two queued scripts still unanswered, got "
            f"{[r.describe() if r else 'waiting' for r in results]}")
    finally:
        gate.touch()
        for t in clients:
            t.join(timeout=9)
    for i in waiting:
        resp = results[i]
        assert resp is not None and resp.status == 200 \
            and resp.body == b"through", \
            f"script {i}: {resp.describe() if resp else 'no answer'}"
    assert len(refused()) == 2, "a script that waited got 503 after all"


def answer_or_close(server):
    """The response to GET /sleep.php, None if the server closed the
    connection without a byte of one, or the exception that said
    otherwise (a stall, an answer cut short)."""
    try:
        return request(server, "GET", "/sleep.php", timeout=8)
    except NoResponse as e:
        return None if e.closed_unanswered else e
    except OSError as e:
        return e


@pytest.mark.needs("threadpool")
@pytest.mark.limitation("abrupt_stop")
def test_stop_while_scripts_run_and_wait_ends_cleanly(
        start_server, stage, tmp_path):
    """One worker, four clients of a script that sleeps 1 s, SIGTERM: the
    running script finishes and its client gets the answer, and the three
    queued ones get theirs as the slot frees, well within shutdown_timeout
    (10 s); no script outlives the server."""
    server = start_with_workers(start_server, stage, tmp_path, 1)
    results, clients = in_threads(4, lambda i: answer_or_close(server))
    assert wait_until(lambda: php_children(server), timeout=3), \
        "no script started"
    assert wait_until(lambda: socket_count(server.pid) == 5, timeout=3), \
        f"the server holds {socket_count(server.pid) - 1} of 4 clients"
    scripts = [st["pid"] for st in php_children(server)]
    server.proc.send_signal(signal.SIGTERM)
    status = server.wait(timeout=7)
    assert status == 0, f"exit status {status} after SIGTERM with work queued"
    for pid in scripts:
        assert wait_gone(pid, timeout=3), f"script {pid} outlived the server"
    for t in clients:
        t.join(timeout=7)
    for i, got in enumerate(results):
        assert not isinstance(got, Exception), f"client {i}: {got}"
    symptom_absent(any(results), "the stop closed every client's "
                   "connection unanswered, the running script's too")
    answers = [(r.status, r.body) if r else "a close" for r in results]
    assert answers == [(200, b"slept")] * 4, (
        f"want every client's script run and answered, the queued ones "
        f"after the running one, got "
        f"{[r.describe() if r else 'a close' for r in results]}")

"""Signals every stage shares: SIGHUP never ends a server
(ignored until v12 gives it a meaning: reopen the logs); a script starts with
the signal defaults it expects; and a stopping server leaves no script
behind, after a grace no longer than the script's own time limit."""

import os
import signal

import pytest

from http_util import build_request, read_until_close, request
from util import (all_pids, describe_status, probe, proc_stat, server_args,
                  wait_until)


def test_sighup_does_not_end_the_server(start_server, stage, tmp_path):
    server = start_server(*server_args(stage, tmp_path))
    # A signal whose default action is fatal is decided inside kill():
    # no thread of the server runs its own code again, so a server that
    # SIGHUP ends cannot answer the probe.
    os.kill(server.pid, signal.SIGHUP)
    probe(server, stage.protocol)
    assert server.proc.poll() is None, (
        f"SIGHUP ended the server\n{server.describe()}")


SIGNALS_SH = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
exec grep -E '^Sig(Blk|Ign):' /proc/self/status
"""


@pytest.mark.needs("cgi")
def test_a_script_starts_with_no_signal_blocked_or_ignored(
        start_server, stage, tmp_path):
    args = server_args(stage, tmp_path)
    script = tmp_path / "docroot" / "cgi-bin" / "signals.sh"
    script.parent.mkdir()
    script.write_text(SIGNALS_SH)
    script.chmod(0o755)
    server = start_server(*args)
    resp = request(server, "GET", "/cgi-bin/signals.sh")
    assert resp.status == 200, resp.describe()
    masks = dict(line.split(":\t") for line in resp.text().splitlines())
    # The server blocks its stop signals and ignores SIGPIPE and SIGHUP;
    # a signal ignored or blocked stays so across execve (execve(2)).
    assert int(masks["SigBlk"], 16) == 0, resp.describe()
    for sig in (signal.SIGHUP, signal.SIGPIPE):
        assert not int(masks["SigIgn"], 16) & (1 << (sig - 1)), (
            f"the script starts with {sig.name} ignored\n{resp.describe()}")


# Writes its pid, then runs until it is killed: a child at a time.
ENDLESS_SH = """#!/bin/sh
echo $$ > running.pid
while :; do sleep 0.1; done
"""


def live_processes_in_group(pgid):
    """The processes of group pgid that still run. A zombie has ended: the
    script's children are orphans once it dies, and reaping them falls to
    whoever adopts orphans (PID 1 or a subreaper), not to the server."""
    return [st for st in map(proc_stat, all_pids())
            if st is not None and st["pgrp"] == pgid
            and st["state"] not in ("Z", "X")]


@pytest.mark.needs("cgi")
def test_a_stop_ends_a_running_script_and_leaves_no_process(
        start_server, stage, tmp_path):
    args = server_args(stage, tmp_path)
    bin_dir = tmp_path / "docroot" / "cgi-bin"
    bin_dir.mkdir()
    (bin_dir / "loop.sh").write_text(ENDLESS_SH)
    (bin_dir / "loop.sh").chmod(0o755)
    server = start_server(*args, "-T", 1)
    sock = server.connect(timeout=6)
    pid_file = bin_dir / "running.pid"
    script = None
    try:
        sock.sendall(build_request("GET", "/cgi-bin/loop.sh"))
        assert wait_until(lambda: pid_file.exists() and pid_file.read_text(),
                          timeout=3), "the script never started"
        script = int(pid_file.read_text())
        server.proc.send_signal(signal.SIGTERM)
        # The grace is the script's own time limit (-T 1): then its process
        # group is killed and reaped, and the server exits.
        status = server.wait(timeout=3)
        assert status == 0, (
            f"after SIGTERM: {describe_status(status)}\n{server.describe()}")
        # SIGKILL reaches the whole group at once; each process takes a
        # moment to die.
        assert wait_until(lambda: not live_processes_in_group(script), 1), (
            "the script's process group outlived the server: "
            f"{live_processes_in_group(script)}")
        # Its client got the time limit's 504, or the close of a stopping
        # server; it is never left waiting.
        closed, data = read_until_close(sock, timeout=1)
        assert closed, f"the connection stayed open (received {data!r})"
        assert data == b"" or data.startswith(b"HTTP/1.1 504 "), data
    finally:
        sock.close()
        if script is not None and live_processes_in_group(script):
            os.killpg(script, signal.SIGKILL)

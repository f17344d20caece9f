"""Signals every stage shares (COURSE.md): SIGHUP never ends a server
(ignored until v12 gives it a meaning: reopen the logs), and a script starts
with the signal defaults it expects."""

import os
import signal

import pytest

from http_util import request
from util import probe, server_args


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


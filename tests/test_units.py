"""The systemd units in deploy/systemd/: they parse, and what they assume
of their server holds. systemd itself does not run here: systemd-analyze
verify reads a unit as systemd would load it, and the v05 test does what
systemd does with a Type=forking unit (systemd.service(5)).

Each unit names the server where its install steps put it; the tests put
the stage's build there instead, and a temporary directory for /run."""

import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from util import is_gone, listening_pids, run_program, wait_gone

UNITS = Path(__file__).resolve().parent.parent / "deploy" / "systemd"
V05_UNIT = "echo-v05.service"
V15_UNITS = ["http-v15.service", "http-v15.socket"]
INSTALLED = {"echo-v05.service": "/usr/local/bin/echo-v05",
             "http-v15.service": "/usr/local/bin/http-v15"}
LAUNCH_TIMEOUT = 5.0
READY = re.compile(r"listening on 127\.0\.0\.1:(\d+)\n")


def unit_text(name, server):
    """The unit as the tests use it: the installed server's path replaced
    by the stage's build."""
    text = (UNITS / name).read_text()
    return text.replace(INSTALLED[name], str(server)) if name in INSTALLED \
        else text


def setting(text, key):
    """The value of key in a unit (the last one, as systemd takes it)."""
    found = re.findall(rf"^{key}=(.*)$", text, re.M)
    assert found, f"no {key}= in the unit"
    return found[-1]


def verify(tmp_path, names, server):
    """systemd-analyze verify on the units; what it printed, if anything.
    Unknown keys and bad values are only warnings to systemd (it ignores
    the line), so a unit that parses cleanly prints nothing."""
    for name in names:
        (tmp_path / name).write_text(unit_text(name, server))
    result = run_program(["systemd-analyze", "verify",
                          *(tmp_path / n for n in names)])
    return result.returncode, (result.stdout + result.stderr).strip()


@pytest.mark.needs("daemon", "echo")
def test_the_v05_unit_parses(stage, tmp_path):
    status, said = verify(tmp_path, [V05_UNIT], stage.server)
    assert (status, said) == (0, ""), f"systemd-analyze verify: {said}"


@pytest.mark.needs("systemd")
def test_the_v15_units_parse(stage, tmp_path):
    status, said = verify(tmp_path, V15_UNITS, stage.server)
    assert (status, said) == (0, ""), f"systemd-analyze verify: {said}"


@pytest.mark.needs("daemon", "echo")
def test_the_v05_units_command_leaves_its_pid_in_pidfile_when_it_exits(
        stage, tmp_path):
    # Type=forking: systemd runs ExecStart, takes its exit 0 for "started",
    # and at once reads PIDFile= to know which process is the service. So
    # the command's -P must name that file, and the pid be there already.
    text = unit_text(V05_UNIT, stage.server)
    assert setting(text, "Type") == "forking"
    run = tmp_path / "run"  # /run, where RuntimeDirectory= is made
    (run / setting(text, "RuntimeDirectory")).mkdir(parents=True)
    argv = shlex.split(
        setting(text, "ExecStart").replace("/run/", f"{run}/"))
    argv[argv.index("-p") + 1] = "0"  # a free port, not the unit's
    pidfile = Path(setting(text, "PIDFile").replace("/run/", f"{run}/"))
    out, err = tmp_path / "launcher.stdout", tmp_path / "launcher.stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        launcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=o, stderr=e)
    try:
        launcher.wait(LAUNCH_TIMEOUT)
        late = ""
    except subprocess.TimeoutExpired:
        launcher.kill()
        launcher.wait()
        late = (f"ExecStart did not exit within {LAUNCH_TIMEOUT} s: systemd "
                "would still be waiting for the start\n")
    said = (f"{late}command: {shlex.join(argv)}\nexit {launcher.returncode}\n"
            f"stdout: {out.read_text()!r}\nstderr: {err.read_text()!r}")
    m = READY.fullmatch(out.read_text())
    port = int(m.group(1)) if m else None
    daemons = listening_pids(port) if port else set()
    try:
        assert launcher.returncode == 0, said
        text = pidfile.read_text() if pidfile.exists() else ""
        assert text.strip().isdigit(), (
            f"PIDFile= {pidfile} holds {text!r} (or is missing) when "
            f"ExecStart has exited: systemd would not know the daemon\n{said}")
        pid = int(text)
        assert daemons == {pid}, (
            f"PIDFile= says {pid}, but port {port} is held by "
            f"{sorted(daemons) or 'nobody'}\n{said}")
    finally:
        for pid in daemons:
            if not is_gone(pid):
                os.kill(pid, signal.SIGKILL)
                wait_gone(pid, timeout=2)

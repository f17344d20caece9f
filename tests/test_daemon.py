"""Running as a daemon (v05+): -d detaches and reports readiness to the
launcher, -P keeps a locked pidfile, SIGTERM ends the server cleanly.

A daemon is not our child, so it is checked through /proc and the pidfile,
and every test kills the daemons it leaves behind."""

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from util import (Peer, exe_of, is_gone, listening_pids, probe,
                  proc_stat, server_args, wait_gone, wait_until)

pytestmark = pytest.mark.needs("daemon")

LAUNCH_TIMEOUT = 5.0
READY = re.compile(r"listening on 127\.0\.0\.1:(\d+)\n")


def read_pid(pidfile):
    try:
        text = Path(pidfile).read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


class Launch:
    """One run of `server -d`: the launcher's status and output."""

    def __init__(self, argv, returncode, stdout, stderr, launcher_pid):
        self.argv, self.returncode = argv, returncode
        self.stdout, self.stderr = stdout, stderr
        self.launcher_pid = launcher_pid

    def describe(self):
        return (f"command: {' '.join(self.argv)}\nexit {self.returncode}\n"
                f"stdout: {self.stdout!r}\nstderr: {self.stderr!r}")


class Daemons:
    """Launches daemons of the stage under test and kills, at teardown,
    whichever are still running (found through their pidfiles and ports)."""

    def __init__(self, stage, tmp_path):
        self.stage, self.tmp_path = stage, tmp_path
        self.pidfiles, self.ports, self.count = [], [], 0
        self.extra = server_args(stage, tmp_path)  # absolute paths

    def launch(self, pidfile, port=0, daemonize=True):
        self.count += 1
        pidfile = Path(pidfile).resolve()
        self.pidfiles.append(pidfile)
        argv = [str(self.stage.server), "-b", "127.0.0.1", "-p", str(port),
                *(["-d"] if daemonize else []), "-P", str(pidfile),
                *self.extra]
        out = self.tmp_path / f"launcher{self.count}.stdout"
        err = self.tmp_path / f"launcher{self.count}.stderr"
        # Files, not pipes: a daemon that kept the launcher's stdout would
        # hold a pipe open and hang a reader; the fd checks catch that.
        with open(out, "wb") as o, open(err, "wb") as e:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=o, stderr=e)
        try:
            proc.wait(LAUNCH_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        launch = Launch(argv, proc.returncode,
                        out.read_text(errors="replace"),
                        err.read_text(errors="replace"), proc.pid)
        m = READY.fullmatch(launch.stdout)
        if m:
            self.ports.append(int(m.group(1)))
        return launch

    def ours(self, pid):
        exe = exe_of(pid) or ""
        return exe.startswith(str(self.stage.server.resolve()))

    def kill_leftovers(self):
        pids = {read_pid(p) for p in self.pidfiles} - {None}
        for port in self.ports:
            pids |= listening_pids(port)
        for pid in pids:
            if not is_gone(pid) and self.ours(pid):
                os.kill(pid, signal.SIGKILL)
                wait_gone(pid, 2)


@pytest.fixture
def daemons(stage, tmp_path):
    d = Daemons(stage, tmp_path)
    yield d
    d.kill_leftovers()


class Running:
    """A daemon that started: the launcher's result, its pid and port."""

    def __init__(self, launch, pidfile, pid, port):
        self.launch, self.pidfile, self.pid, self.port = (
            launch, pidfile, pid, port)


@pytest.fixture
def running(daemons, tmp_path):
    pidfile = tmp_path / "server.pid"
    launch = daemons.launch(pidfile)
    if launch.returncode != 0:
        pytest.fail(f"the launcher did not exit 0 within {LAUNCH_TIMEOUT} s"
                    f"\n{launch.describe()}", pytrace=False)
    m = READY.fullmatch(launch.stdout)
    if m is None:
        pytest.fail("the launcher's stdout is not exactly the ready line"
                    f"\n{launch.describe()}", pytrace=False)
    pid = wait_until(lambda: read_pid(pidfile), timeout=2)
    if pid is None:
        pytest.fail(f"no pid in {pidfile} after the launcher exited: "
                    f"{pidfile.read_text() if pidfile.exists() else 'no file'}"
                    f"\n{launch.describe()}", pytrace=False)
    return Running(launch, pidfile, pid, int(m.group(1)))


def test_launcher_exits_0_after_printing_exactly_the_ready_line(running):
    assert running.launch.returncode == 0, running.launch.describe()
    assert running.launch.stdout == (
        f"listening on 127.0.0.1:{running.port}\n"), running.launch.describe()


def test_pidfile_holds_the_pid_of_the_listening_daemon(running):
    listeners = listening_pids(running.port)
    assert running.pid in listeners, (
        f"pidfile says {running.pid}, but port {running.port} is held by "
        f"{sorted(listeners) or 'nobody'}")
    assert not is_gone(running.pid)


def test_daemon_has_its_own_session_and_is_not_the_launchers_child(running):
    st = proc_stat(running.pid)
    assert st is not None, f"daemon pid {running.pid} is gone"
    assert st["session"] != os.getsid(0), (
        f"daemon pid {running.pid} is still in our session {st['session']}")
    assert st["ppid"] != running.launch.launcher_pid, (
        f"daemon's parent is the launcher (pid {st['ppid']})")


def test_daemon_runs_in_root_directory_with_stdio_on_dev_null(running):
    cwd = os.readlink(f"/proc/{running.pid}/cwd")
    assert cwd == "/", f"daemon's working directory is {cwd!r}"
    for fd in (0, 1, 2):
        target = os.readlink(f"/proc/{running.pid}/fd/{fd}")
        assert target == "/dev/null", f"daemon's fd {fd} is {target!r}"


def launch_running(daemons, pidfile):
    """Launches a daemon that must start; returns its pid."""
    launch = daemons.launch(pidfile)
    assert launch.returncode == 0, launch.describe()
    pid = wait_until(lambda: listening_pids(daemons.ports[-1]), timeout=2)
    assert len(pid) == 1, f"port {daemons.ports[-1]} held by {pid}"
    return pid.pop()


def test_the_daemon_sets_umask_022_whatever_the_launchers(daemons, tmp_path):
    # Files the daemon creates get the same modes whoever started it.
    old = os.umask(0o077)
    try:
        pid = launch_running(daemons, tmp_path / "server.pid")
    finally:
        os.umask(old)
    status = Path(f"/proc/{pid}/status").read_text()
    umask = re.search(r"^Umask:\s*(\d+)$", status, re.M).group(1)
    assert umask == "0022", f"daemon pid {pid} has umask {umask}"


def test_a_longer_stale_pidfile_ends_up_holding_just_the_pid(daemons,
                                                             tmp_path):
    pidfile = tmp_path / "server.pid"
    pidfile.write_text("123456789012345\n")  # left by a crashed server
    want = f"{launch_running(daemons, pidfile)}\n"
    assert wait_until(lambda: pidfile.read_text() == want, timeout=2), (
        f"pidfile holds {pidfile.read_text()!r}, not {want!r}")


def test_daemon_answers_requests(stage, running):
    probe(Peer("127.0.0.1", running.port), stage.protocol)


def test_a_second_instance_on_the_same_pidfile_refuses_with_exit_1(
        daemons, running):
    second = daemons.launch(running.pidfile)
    assert second.returncode == 1, second.describe()
    assert str(running.pidfile) in second.stderr, (
        f"the message does not name the pidfile {running.pidfile}\n"
        f"{second.describe()}")
    bad = [line for line in second.stderr.splitlines()
           if not line.startswith("server: ")]
    assert not bad, f"stderr lines without 'server: ': {bad!r}"
    assert not is_gone(running.pid), "the first daemon is gone"
    assert read_pid(running.pidfile) == running.pid, (
        f"pidfile now says {read_pid(running.pidfile)}, "
        f"not the first daemon's {running.pid}")


def test_sigterm_ends_the_daemon_and_removes_the_pidfile(running):
    os.kill(running.pid, signal.SIGTERM)
    assert wait_gone(running.pid, timeout=5), (
        f"daemon pid {running.pid} still running 5 s after SIGTERM "
        f"(state {proc_stat(running.pid)['state']})")
    assert not running.pidfile.exists(), (
        f"{running.pidfile} left behind: {running.pidfile.read_text()!r}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_in_the_foreground_the_pidfile_has_the_pid_and_a_signal_exits_0(
        start_server, stage, tmp_path, sig):
    pidfile = tmp_path / "fg.pid"
    srv = start_server("-P", str(pidfile), *server_args(stage, tmp_path))
    pid = wait_until(lambda: read_pid(pidfile), timeout=2)
    assert pid == srv.pid, f"pidfile holds {pid}, the server is {srv.pid}"
    probe(srv, stage.protocol)
    srv.proc.send_signal(sig)
    status = srv.wait(timeout=5)
    assert status == 0, (f"after {sig.name} the server ended with status "
                         f"{status}\n{srv.stderr_text()}")
    assert not pidfile.exists(), f"{pidfile} left behind after {sig.name}"


def test_a_daemon_that_cannot_bind_makes_the_launcher_exit_1(
        daemons, tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        pidfile = tmp_path / "nobind.pid"
        launch = daemons.launch(pidfile, port=port)
        assert launch.returncode == 1, launch.describe()
        assert launch.stderr == (
            f"server: bind 127.0.0.1:{port}: Address already in use\n"
            "server: the daemon did not start\n"), launch.describe()
        assert launch.stdout == "", launch.describe()
    pid = read_pid(pidfile)
    if pid is not None:
        assert wait_gone(pid, timeout=2), (
            f"the daemon that could not bind (pid {pid}) is still running")

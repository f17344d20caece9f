"""The shared suite's harness: which stage is under test, which tests apply
to it, and how a test starts that stage's server.

    /usr/bin/python3 -m pytest tests --stage=v03_wrap [--build=build/v03_wrap]

--stage names a stage directory (a path, or a name such as v03 under the
repository root); its manifest.toml says what the stage can do:

- @pytest.mark.needs("echo", "fork"): the test is deselected unless the stage
  has every one of these features; unmarked tests run on every stage.
- @pytest.mark.limitation("concurrent_clients"): if the manifest's
  [limitations] table names it, the test must fail there (strict xfail, with
  the manifest's reason), and fail by raising util.LimitationSymptom: the
  test raises it exactly when it sees the limitation's symptom, and any
  other failure (the server died, a sanitizer report) is a real one. A
  limitation that no selected test carries stops the session, so
  manifests cannot claim what nobody checks.

Fixtures: stage, start_server, server, run_server (see each below).
"""

import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import util  # noqa: E402  (the tests directory is not a package)

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent

FEATURES = {
    "echo", "client", "concurrent", "fork", "robust_io", "threads", "daemon",
    "http", "static", "cgi", "keepalive", "config", "fastcgi", "logging",
    "eventloop", "threadpool", "reactor", "chunked_requests", "ipv6",
    "systemd", "reload", "status", "workers", "fastcgi_keepalive",
}
PROTOCOLS = {"echo", "http"}
READY_TIMEOUT = 5.0  # seconds for the ready line
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
TEST_TIME_LIMIT = 10  # seconds; no test takes longer
SANITIZER_REPORTS = (
    "ERROR: AddressSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
    "ERROR: LeakSanitizer",
)
# The address as -b gave it; an IPv6 one in brackets (ipv6 stages).
READY_LINE = re.compile(rb"listening on (127\.0\.0\.1|\[[0-9a-f:]+\]):(\d+)")
LOG_SCAN_LIMIT = 8 << 20  # bytes: larger *.log files are not scanned


def sanitizer_report_start(text):
    """Where the first sanitizer report in text begins (its line), or None."""
    found = [i for i in (text.find(m) for m in SANITIZER_REPORTS) if i >= 0]
    if not found:
        return None
    return text.rfind("\n", 0, min(found)) + 1


def sanitizer_reports_in_logs(directory):
    """[(path, report)] for each *.log file under directory that holds a
    sanitizer report. A server with an error log (v12+) points fd 2 at it,
    and the sanitizers write their reports to fd 2."""
    found = []
    for path in sorted(directory.rglob("*.log")):
        try:
            if not path.is_file() or path.stat().st_size > LOG_SCAN_LIMIT:
                continue
            text = path.read_text(errors="replace")
        except OSError:
            continue
        start = sanitizer_report_start(text)
        if start is not None:
            found.append((path, text[start:start + 8000]))
    return found


# --- the stage under test ----------------------------------------------------


@dataclass
class Stage:
    name: str
    dir: Path
    title: str
    protocol: str
    features: set
    changes: list
    limitations: dict
    build: Path
    server: Path
    client: Path | None

    def has(self, *features):
        return all(f in self.features for f in features)


STAGE_KEY = pytest.StashKey[Stage]()


def pytest_addoption(parser):
    group = parser.getgroup("stage", "the course stage under test")
    group.addoption(
        "--stage", metavar="DIR",
        help="stage directory with manifest.toml, or a name such as v03 "
        "(default: the newest stage)",
    )
    group.addoption(
        "--build", metavar="DIR",
        help="where the stage's server and client were built "
        "(default: <repo>/build/<stage name>)",
    )


def stage_dirs():
    return sorted(
        p for p in REPO.glob("v[0-9][0-9]_*")
        if p.is_dir() and (p / "manifest.toml").exists()
    )


def find_stage_dir(arg):
    if arg is None:
        dirs = stage_dirs()
        if not dirs:
            raise pytest.UsageError(f"no stage directory under {REPO}")
        return dirs[-1]
    path = Path(arg)
    if path.is_dir():
        return path.resolve()
    matches = [d for d in stage_dirs()
               if d.name == arg or d.name.startswith(arg + "_")]
    if len(matches) == 1:
        return matches[0]
    raise pytest.UsageError(f"--stage {arg}: no such stage directory")


def load_stage(config):
    sdir = find_stage_dir(config.getoption("--stage"))
    manifest = sdir / "manifest.toml"
    try:
        with open(manifest, "rb") as f:
            m = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise pytest.UsageError(f"{manifest}: {e}")

    def bad(what):
        raise pytest.UsageError(f"{manifest}: {what}")

    for key in ("stage", "title", "protocol", "features", "changes"):
        if key not in m:
            bad(f"missing key {key!r}")
    if m["stage"] != sdir.name:
        bad(f"stage = {m['stage']!r} but the directory is {sdir.name!r}")
    if m["protocol"] not in PROTOCOLS:
        bad(f"protocol {m['protocol']!r} is not one of {sorted(PROTOCOLS)}")
    unknown = set(m["features"]) - FEATURES
    if unknown:
        bad(f"unknown features {sorted(unknown)}; known: {sorted(FEATURES)}")
    limitations = m.get("limitations", {})
    if not isinstance(limitations, dict):
        bad("[limitations] must be a table of name = reason")
    replaces = m.get("replaces", {})
    if not isinstance(replaces, dict) or not all(
            isinstance(why, str) and why for why in replaces.values()):
        bad("[replaces] must be a table of feature = reason")
    # A feature the stage before had and this one gives up, with the reason
    # (its replacement); scripts/diff-stages --check holds features
    # cumulative otherwise.
    if set(replaces) - FEATURES:
        bad(f"[replaces] names unknown features "
            f"{sorted(set(replaces) - FEATURES)}")
    if set(replaces) & set(m["features"]):
        bad(f"[replaces] names {sorted(set(replaces) & set(m['features']))}, "
            "which features still lists")

    build = config.getoption("--build")
    build = Path(build).resolve() if build else REPO / "build" / sdir.name
    client = build / "client"
    return Stage(
        name=sdir.name,
        dir=sdir,
        title=m["title"],
        protocol=m["protocol"],
        features=set(m["features"]),
        changes=list(m["changes"]),
        limitations=dict(limitations),
        build=build,
        server=build / "server",
        client=client if client.exists() else None,
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs(*features): run only on stages whose manifest has every "
        "feature (deselected elsewhere)",
    )
    config.addinivalue_line(
        "markers",
        "limitation(name): must fail (strict xfail) on stages whose manifest "
        "lists this name under [limitations]",
    )
    config.stash[STAGE_KEY] = load_stage(config)
    config.pluginmanager.register(TimeLimit(), "stage-time-limit")



def pytest_report_header(config):
    s = config.stash[STAGE_KEY]
    return [
        f"stage: {s.name} ({s.title}), protocol {s.protocol}",
        f"features: {', '.join(sorted(s.features))}",
        f"server: {s.server}",
    ]


# --- which tests run, and which must fail ------------------------------------


def _whole_suite(config):
    """True when this run collected every test file (no -k, -m, or a
    narrower path), so an unexercised limitation means a dishonest
    manifest rather than a narrowed run."""
    if config.getoption("keyword") or config.getoption("markexpr"):
        return False
    for arg in config.args:
        if "::" in arg:
            return False
        p = (config.invocation_params.dir / arg).resolve()
        if p != TESTS_DIR and p not in TESTS_DIR.parents:
            return False
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    stage = config.stash[STAGE_KEY]
    selected, deselected, carried = [], [], set()
    for item in items:
        needed = set()
        for mark in item.iter_markers("needs"):
            needed.update(mark.args)
        unknown = needed - FEATURES
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: needs unknown features {sorted(unknown)}"
            )
        if not needed <= stage.features:
            deselected.append(item)
            continue
        selected.append(item)
        for mark in item.iter_markers("limitation"):
            for name in mark.args:
                carried.add(name)
                if name in stage.limitations:
                    # Only the symptom itself is the expected failure: a
                    # crash or a sanitizer report fails the test there too.
                    item.add_marker(pytest.mark.xfail(
                        strict=True, raises=util.LimitationSymptom,
                        reason=f"limitation {name}: {stage.limitations[name]}",
                    ))
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
    unexercised = set(stage.limitations) - carried
    if unexercised and _whole_suite(config):
        raise pytest.UsageError(
            f"{stage.dir / 'manifest.toml'} lists limitations "
            f"{sorted(unexercised)}, but no test that runs on {stage.name} "
            "carries @pytest.mark.limitation with that name"
        )


@pytest.fixture(scope="session")
def stage(request):
    """The stage under test: .name .dir .title .protocol .features .changes
    .limitations .build .server .client (None if not built) and .has(*f)."""
    return request.config.stash[STAGE_KEY]


# --- a time limit on every test ----------------------------------------------


class TimeLimitExceeded(Exception):
    pass


class TimeLimit:
    """A plugin: SIGALRM interrupts a test body that runs past the limit,
    wherever it is blocked. Setup and teardown have their own deadlines (the
    ready line, stopping the server)."""

    @staticmethod
    def _alarm(signum, frame):
        raise TimeLimitExceeded(f"the test ran past {TEST_TIME_LIMIT} s")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        old = signal.signal(signal.SIGALRM, self._alarm)
        signal.setitimer(signal.ITIMER_REAL, TEST_TIME_LIMIT)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


# --- the server under test ---------------------------------------------------


class ServerError(AssertionError):
    pass


@dataclass(repr=False)
class Server:
    """A running stage server. .proc (Popen), .addr, .port, .pid,
    .stderr_path; connect(), stderr_text(), stop(), wait()."""

    proc: subprocess.Popen
    argv: list
    stderr_path: Path
    addr: str = "127.0.0.1"
    port: int | None = None
    stopped: bool = False  # the test ended it (stop/wait): no complaint
    reported: set = field(default_factory=set)  # problems already told
    _stdout: bytearray = field(default_factory=bytearray)

    @property
    def pid(self):
        return self.proc.pid

    def __repr__(self):
        return f"<Server pid {self.pid} on {self.addr}:{self.port}>"

    def connect(self, timeout=util.DEFAULT_TIMEOUT):
        """A socket connected to the server, with timeout set on it."""
        return util.Peer(self.addr, self.port).connect(timeout)

    def stderr_text(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stdout_bytes(self):
        return bytes(self._stdout)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig, waits up to timeout, then SIGKILL. Returns the
        returncode. The process group goes too, so no forked child of the
        server outlives the test."""
        self.stopped = True
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return self.proc.returncode

    def wait(self, timeout=STOP_TIMEOUT):
        """Waits for the server to exit by itself (after a signal the test
        sent, say); returns the returncode. Raises AssertionError if it is
        still running after timeout."""
        self.stopped = True
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"server pid {self.pid} still running after {timeout} s\n"
                f"{self.describe()}"
            ) from None

    def describe(self):
        err = self.stderr_text()
        shown = err if len(err) <= 4000 else "..." + err[-4000:]
        report = sanitizer_report_start(err)
        if report is not None and len(err) > 4000:
            # A sanitizer's report matters most from its first line (what
            # went wrong and where), not from its tail.
            shown = err[report:report + 8000]
        return (
            f"command: {' '.join(self.argv)}\n"
            f"status: {util.describe_status(self.proc.poll())}\n"
            f"stderr:\n{shown if shown else '(empty)'}"
        )

    def problems(self):
        """What went wrong that the test itself did not look at: the server
        died on its own, or a sanitizer reported something."""
        found = []
        if not self.stopped and self.proc.poll() is not None:
            found.append(
                f"the server died on its own "
                f"({util.describe_status(self.proc.returncode)})"
            )
        err = self.stderr_text()
        for marker in SANITIZER_REPORTS:
            if marker in err:
                found.append(f"a sanitizer report ({marker!r}) on stderr")
        return found

    # The ready line ----------------------------------------------------------

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Reads stdout until the ready line and sets .port from it. Fails
        with the server's stderr if it exits or stays silent."""
        fd = self.proc.stdout.fileno()
        deadline = util.Deadline(timeout)
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._stdout:
                if deadline.expired():
                    self.fail_start(f"no ready line within {timeout} s")
                if not sel.select(deadline.left()):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(STOP_TIMEOUT)
                    self.fail_start("the server exited before it was ready")
                self._stdout += chunk
        line = bytes(self._stdout).split(b"\n", 1)[0]
        m = READY_LINE.fullmatch(line)
        if m is None:
            self.fail_start(
                f"first line of stdout is {line!r}, "
                "not 'listening on 127.0.0.1:PORT'"
            )
        self.addr = m.group(1).decode().strip("[]")
        self.port = int(m.group(2))
        # Keep draining stdout so a chatty server never blocks on the pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        try:
            while chunk := os.read(self.proc.stdout.fileno(), 4096):
                self._stdout += chunk
        except (OSError, ValueError):
            pass

    def fail_start(self, why):
        self.stop(signal.SIGKILL)
        self.reported.update(self.problems())
        pytest.fail(f"server did not start: {why}\n{self.describe()}",
                    pytrace=False)


SERVERS_KEY = pytest.StashKey[list]()


@pytest.fixture
def start_server(stage, request, tmp_path):
    """Factory: start_server(*args, env=None, cwd=None, ready=True,
    wrapper=(), pass_fds=()) runs `server -b 127.0.0.1 -p 0 *args` (later
    flags win), waits for the ready line and returns a Server. With
    ready=False it returns at once (call .wait_ready() or .wait()
    yourself). wrapper: a command line put before the server's, one that
    ends by exec'ing it (so that the pid stays the server's); pass_fds:
    descriptors it inherits. After the test, every server is
    stopped; the test fails if one died on its own or a sanitizer spoke
    (on its stderr, or in a *.log file under tmp_path: an error log)."""
    servers = request.node.stash.setdefault(SERVERS_KEY, [])
    counter = iter(range(1000))

    def start(*args, env=None, cwd=None, ready=True, wrapper=(),
              pass_fds=()):
        if not stage.server.exists():
            pytest.fail(f"{stage.server} is not built (cmake --build build)",
                        pytrace=False)
        argv = [*map(str, wrapper), str(stage.server), "-b", "127.0.0.1",
                "-p", "0", *map(str, args)]
        stderr_path = tmp_path / f"server{next(counter)}.stderr"
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=err, env=env, cwd=cwd, process_group=0,
                pass_fds=pass_fds,
            )
        srv = Server(proc=proc, argv=argv, stderr_path=stderr_path)
        servers.append(srv)
        if ready:
            srv.wait_ready()
        return srv

    yield start

    complaints = []
    for srv in servers:
        problems = srv.problems()  # before stop(): it sets .stopped
        srv.stop()
        problems += [p for p in srv.problems() if p not in problems]
        new = [p for p in problems if p not in srv.reported]
        if new:
            srv.reported.update(new)
            complaints.append("; ".join(new) + "\n" + srv.describe())
    if servers:
        for path, report in sanitizer_reports_in_logs(tmp_path):
            complaints.append(f"a sanitizer report in {path}:\n{report}")
    if complaints:
        pytest.fail("\n\n".join(complaints), pytrace=False)


@pytest.fixture
def server(start_server):
    """The stage's server with no extra arguments, ready."""
    return start_server()


@pytest.hookimpl(trylast=True)
def pytest_runtest_call(item):
    """Runs after the test body passed: a server that died on its own or
    reported a sanitizer error fails the test itself (not only its
    teardown). Servers still running are stopped and checked at teardown."""
    for srv in item.stash.get(SERVERS_KEY, []):
        problems = [p for p in srv.problems() if p not in srv.reported]
        if problems:
            srv.stop()
            srv.reported.update(problems)
            pytest.fail("; ".join(problems) + "\n" + srv.describe(),
                        pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test shows each of its servers: how it ended if it did,
    what went wrong with it, its stderr. What is told here is not told again
    at teardown."""
    outcome = yield
    report = outcome.get_result()
    if call.when != "call":
        return
    if report.skipped and hasattr(report, "wasxfail"):
        fail_symptom_with_problems(item, report)
    if report.failed:
        for i, srv in enumerate(item.stash.get(SERVERS_KEY, [])):
            problems = srv.problems()
            srv.reported.update(problems)
            report.sections.append((
                f"server {i} (pid {srv.pid})",
                "".join(f"{p}\n" for p in problems) + srv.describe(),
            ))


def fail_symptom_with_problems(item, report):
    """A limitation test that saw its symptom is an expected failure only
    if its servers are sound: one that died on its own or drew a sanitizer
    report turns it into a real failure."""
    problems = [p for srv in item.stash.get(SERVERS_KEY, [])
                for p in srv.problems() if p not in srv.reported]
    if problems:
        report.outcome = "failed"
        report.longrepr = (f"{report.wasxfail}: the symptom came, and also "
                           + "; ".join(problems))
        del report.wasxfail


@pytest.fixture
def run_server(stage):
    """run_server(args, timeout=5, env=None, cwd=None): runs the stage's
    server with exactly these arguments to completion; returns the
    CompletedProcess (text). For flags that make it exit."""

    def run(args, timeout=util.DEFAULT_TIMEOUT, env=None, cwd=None):
        if not stage.server.exists():
            pytest.fail(f"{stage.server} is not built", pytrace=False)
        return util.run_program([stage.server, *args], timeout=timeout,
                                env=env, cwd=cwd)

    return run

"""servers.py: the servers the benchmark measures, and how it watches them.

Each course stage runs from build/<stage>/server; nginx, lighttpd and h2o
from Debian run with configurations written here, set up alike (one worker,
no access log, sendfile where the server has it, high keep-alive limits),
in the foreground, as root, with their pid and log files in a temporary
directory. Every server is pinned to core 0 with taskset; the load
generators run on core 1.

A server's cost is read from /proc for its whole process tree (nginx's
master and worker, v02's forked children), so every kind of server is
measured the same way.
"""

import ctypes
import os
import re
import signal
import socket
import subprocess
import textwrap
import time
import tomllib
from pathlib import Path

SERVER_CORE = "0"
PHP_FPM = "/usr/sbin/php-fpm8.2"
READY_TIMEOUT = 10.0  # seconds for a server to start listening
STOP_TIMEOUT = 5.0  # seconds for a server to exit after SIGTERM
READY_LINE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
IDLE_TIMEOUT = 300  # keep-alive seconds: idle connections outlive a measurement
MAX_KEEPALIVE_REQUESTS = 1000000

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

# Every process this module starts, so that stop_all() can end them whatever
# way the benchmark ends.
_running = []

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """In the child before exec: if the benchmark itself is killed (even
    with SIGKILL, which leaves it no time to clean up), the kernel kills the
    server too. Kept across exec, as neither taskset nor a server is
    set-user-ID."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# --- /proc -------------------------------------------------------------------


def _stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (which may hold
    spaces and parentheses), so fields[0] is the state, fields[1] the ppid."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return text[text.rindex(")") + 2:].split()


def process_tree(root):
    """root and every live descendant of it."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(_stat_fields(entry)[1])
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(root):
    """CPU time (user + system) used so far by root's process tree: each
    process's own time, which covers all its threads, plus the time of the
    children it has already reaped (cutime, cstime)."""
    ticks = 0
    for pid in process_tree(root):
        try:
            f = _stat_fields(pid)
        except OSError:
            continue
        # utime, stime, cutime, cstime are fields 14-17 of proc(5).
        ticks += sum(int(x) for x in f[11:15])
    return ticks / CLOCK_TICKS


def rss_kib(root):
    """Resident memory (VmRSS) of root's process tree, in KiB."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE_KIB
        except OSError:
            continue
    return total


def wait_for_children_gone(root, timeout=3.0):
    """Waits until root has no child processes left (v02's per-client
    processes exit and are reaped after their client leaves)."""
    deadline = time.monotonic() + timeout
    while len(process_tree(root)) > 1 and time.monotonic() < deadline:
        time.sleep(0.01)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now, for the
    peers, which cannot report an ephemeral port as the stages do."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


# --- processes ---------------------------------------------------------------


class Process:
    """A started program: output to files in workdir, its own process group
    (so that whatever it forks goes with it), pinned with taskset."""

    def __init__(self, name, argv, workdir, core=SERVER_CORE, cwd=None,
                 env=None):
        self.name = name
        self.argv = ["taskset", "-c", core, *map(str, argv)]
        self.out_path = Path(workdir) / f"{name}.out"
        self.err_path = Path(workdir) / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            # taskset execs the program, so the pid is the server's own.
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                cwd=cwd, env=env and {**os.environ, **env}, process_group=0,
                preexec_fn=_die_with_parent)
        _running.append(self)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def output(self):
        return self.out_path.read_text(errors="replace")

    def errors(self, limit=600):
        text = self.err_path.read_text(errors="replace").strip()
        return text[-limit:]

    def stop(self):
        """SIGTERM to the group, then SIGKILL to whatever is left of it."""
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()
        if self in _running:
            _running.remove(self)


def stop_all():
    for proc in list(reversed(_running)):
        proc.stop()


class StartError(Exception):
    pass


def _wait(condition, proc, what, timeout=READY_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if not proc.alive():
            raise StartError(f"{proc.name} exited before {what}: "
                             f"{proc.errors() or 'no message'}")
        if time.monotonic() > deadline:
            proc.stop()
            raise StartError(f"{proc.name}: no {what} within {timeout} s")
        time.sleep(0.01)


# --- the course's stages -----------------------------------------------------


class Stage:
    """One vNN_* directory: what its manifest says it can do, and how to
    start its server for a scenario."""

    def __init__(self, root, directory, build=None):
        self.dir = Path(directory)
        self.name = self.dir.name  # v07_static
        self.short = self.name.split("_")[0]  # v07
        with open(self.dir / "manifest.toml", "rb") as f:
            manifest = tomllib.load(f)
        self.protocol = manifest.get("protocol", "http")
        self.features = set(manifest.get("features", []))
        build = Path(build) if build else Path(root) / "build"
        self.binary = build / self.name / "server"
        self.kind = "stage"

    def has(self, feature):
        return feature in self.features

    @property
    def serves_files(self):
        return self.has("static")

    @property
    def keeps_alive(self):
        return self.has("keepalive")

    @property
    def thread_per_connection(self):
        # Every stage before the event loop (v13) gives each connection a
        # thread or a process; the later ones keep "eventloop" in their
        # features (they are cumulative).
        return not self.has("eventloop")

    def start(self, workdir, docroot=None, fastcgi_socket=None,
              access_log=None, env=None):
        """Starts the server on an ephemeral port; returns a Running.
        access_log: a file to log requests to (stages with logging), or
        None for no access log, as the peers run. env: variables added to
        the server's environment (LD_PRELOAD for the allocation counter)."""
        argv = [self.binary, "-b", "127.0.0.1", "-p", "0"]
        if self.protocol == "http":
            argv += self._http_args(workdir, docroot, fastcgi_socket,
                                    access_log)
        proc = Process(self.short, argv, workdir, env=env)
        port = _wait(lambda: _ready_port(proc), proc, "ready line")
        return Running(self.short, proc, int(port))

    def _http_args(self, workdir, docroot, fastcgi_socket, access_log):
        if self.has("config"):
            lines = [f"keepalive_timeout = {IDLE_TIMEOUT}",
                     f"keepalive_requests = {MAX_KEEPALIVE_REQUESTS}"]
            if fastcgi_socket and self.has("fastcgi"):
                lines.append(f"fastcgi_pass = unix:{fastcgi_socket}")
            if self.has("logging"):
                lines += [f"access_log = {access_log or 'off'}",
                          "log_level = error"]
            if self.has("reactor"):
                # One thread serving, as each peer runs one worker: the
                # accepting loop serves its connections itself.
                lines.append("io_threads = 0")
            conf = Path(workdir) / f"{self.short}.conf"
            conf.write_text("\n".join(lines) + "\n")
            args = ["-c", conf]
        elif self.keeps_alive:
            args = ["-k", IDLE_TIMEOUT]
        else:
            args = []
        if self.serves_files and docroot:
            args += ["-r", docroot]
        return args


def _ready_port(proc):
    match = READY_LINE.search(proc.output())
    return match and match.group(1)


def find_stages(root, build=None):
    """Every stage directory with a manifest, in order; their servers are
    looked for in build (default: root/build)."""
    stages = []
    for d in sorted(Path(root).glob("v[0-9][0-9]_*")):
        if (d / "manifest.toml").is_file():
            stages.append(Stage(root, d, build))
    return stages


class Running:
    """A server that is listening: its name, process and port."""

    def __init__(self, name, proc, port):
        self.name = name
        self.proc = proc
        self.port = port

    @property
    def pid(self):
        return self.proc.pid

    def cpu_seconds(self):
        return cpu_seconds(self.pid)

    def rss_kib(self):
        return rss_kib(self.pid)

    def alive(self):
        return self.proc.alive()

    def stop(self):
        self.proc.stop()


# --- the peers: nginx, lighttpd, h2o -----------------------------------------


class Peer:
    """A production server from Debian, configured like the stages run."""

    kind = "peer"
    serves_files = True
    keeps_alive = True
    thread_per_connection = False
    binary = None

    def has(self, feature):
        return feature in ("http", "static", "keepalive", "fastcgi")

    def installed(self):
        return os.access(self.binary, os.X_OK)

    def start(self, workdir, docroot=None, fastcgi_socket=None):
        workdir = Path(workdir) / self.name
        workdir.mkdir(exist_ok=True)
        port = free_port()
        conf = workdir / self.conf_name
        conf.write_text(self.config(workdir, port, docroot, fastcgi_socket))
        proc = Process(self.name, self.argv(workdir, conf), workdir)
        _wait(lambda: accepts(port), proc, f"listening on port {port}")
        return Running(self.name, proc, port)


class Nginx(Peer):
    name = short = "nginx"
    binary = "/usr/sbin/nginx"
    conf_name = "nginx.conf"

    def argv(self, workdir, conf):
        return [self.binary, "-p", workdir, "-c", conf,
                "-e", workdir / "error.log"]

    def config(self, workdir, port, docroot, fastcgi_socket):
        # user root: as root, nginx would run its worker as nobody, which
        # could not open php-fpm's socket. One worker, as the stages have
        # one thread for connections (v13+). open_file_cache: lighttpd and
        # h2o keep recently opened files by default, nginx only when told.
        php = ""
        if fastcgi_socket:
            php = f"""
                location ~ \\.php$ {{
                    include /etc/nginx/fastcgi_params;
                    fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
                    fastcgi_pass unix:{fastcgi_socket};
                }}"""
        return textwrap.dedent(f"""\
            user root;
            daemon off;
            worker_processes 1;
            worker_rlimit_nofile 30000;
            pid {workdir}/nginx.pid;
            error_log {workdir}/error.log error;
            events {{ worker_connections 20000; }}
            http {{
                include /etc/nginx/mime.types;
                default_type application/octet-stream;
                access_log off;
                sendfile on;
                open_file_cache max=1000 inactive=60s;
                keepalive_timeout {IDLE_TIMEOUT}s;
                keepalive_requests {MAX_KEEPALIVE_REQUESTS};
                client_body_temp_path {workdir}/body;
                proxy_temp_path {workdir}/proxy;
                fastcgi_temp_path {workdir}/fastcgi;
                server {{
                    listen 127.0.0.1:{port};
                    root {docroot};{php}
                }}
            }}
            """)


class Lighttpd(Peer):
    name = short = "lighttpd"
    binary = "/usr/sbin/lighttpd"
    conf_name = "lighttpd.conf"

    def argv(self, workdir, conf):
        return [self.binary, "-D", "-f", conf]

    def config(self, workdir, port, docroot, fastcgi_socket):
        # max-worker 0: one process. lighttpd allows at most max-fds/2
        # connections, so max-fds is raised past twice 10,000 (as root it
        # raises its own limit). No mod_accesslog loaded: no access log.
        php = ""
        if fastcgi_socket:
            php = (f'fastcgi.server = ( ".php" => (( "socket" => '
                   f'"{fastcgi_socket}", "check-local" => "enable" )) )\n')
        return textwrap.dedent(f"""\
            server.document-root = "{docroot}"
            server.bind = "127.0.0.1"
            server.port = {port}
            server.pid-file = "{workdir}/lighttpd.pid"
            server.errorlog = "{workdir}/error.log"
            server.max-worker = 0
            server.max-fds = 30000
            server.max-connections = 12000
            server.network-backend = "sendfile"
            server.max-keep-alive-requests = {MAX_KEEPALIVE_REQUESTS}
            server.max-keep-alive-idle = {IDLE_TIMEOUT}
            server.max-read-idle = {IDLE_TIMEOUT}
            server.modules = ( "mod_fastcgi" )
            mimetype.assign = ( ".txt" => "text/plain",
                                ".html" => "text/html",
                                ".bin" => "application/octet-stream" )
            """) + php


class H2o(Peer):
    name = short = "h2o"
    binary = "/usr/bin/h2o"
    conf_name = "h2o.conf"

    def argv(self, workdir, conf):
        return [self.binary, "-c", conf]

    def config(self, workdir, port, docroot, fastcgi_socket):
        # num-threads 1: one event loop. h2o 2.2 reads files into its
        # buffers (it has no sendfile). user root: as root it would switch
        # to nobody otherwise.
        php = ""
        if fastcgi_socket:
            php = textwrap.indent(textwrap.dedent(f"""\
                file.custom-handler:
                  extension: .php
                  fastcgi.connect:
                    type: unix
                    port: {fastcgi_socket}
                """), " " * 8)
        return textwrap.dedent(f"""\
            user: root
            pid-file: {workdir}/h2o.pid
            error-log: {workdir}/error.log
            num-threads: 1
            max-connections: 20000
            http1-request-timeout: {IDLE_TIMEOUT}
            listen:
              host: 127.0.0.1
              port: {port}
            hosts:
              default:
                paths:
                  /:
                    file.dir: {docroot}
            """) + php


PEERS = [Nginx(), Lighttpd(), H2o()]


# --- php-fpm -----------------------------------------------------------------


class PhpFpm:
    """php-fpm in the foreground (-F), allowed to run as root (-R), with a
    pool of its own on a unix socket in workdir, pinned with the server: on
    this machine the server side is core 0, the load is core 1."""

    def __init__(self, workdir, children=4):
        workdir = Path(workdir)
        self.socket = workdir / "php-fpm.sock"
        conf = workdir / "php-fpm.conf"
        conf.write_text(textwrap.dedent(f"""\
            [global]
            error_log = {workdir}/php-fpm.log
            daemonize = no
            [bench]
            listen = {self.socket}
            pm = static
            pm.max_children = {children}
            """))
        argv = [PHP_FPM, "-F", "-n", "-y", conf]
        if os.geteuid() == 0:
            argv.insert(1, "-R")
        self.proc = Process("php-fpm", argv, workdir)
        _wait(self._accepting, self.proc, f"listening on {self.socket}")

    def _accepting(self):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(0.5)
                s.connect(str(self.socket))
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.stop()

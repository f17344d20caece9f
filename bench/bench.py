"""bench.py: the benchmark driver that bench/run starts (with Debian's
/usr/bin/python3, standard library only).

It runs every scenario against every stage that can take it and against
nginx, lighttpd and h2o, in interleaved rounds (round 1: each server once,
round 2: each server again, in a rotated order...), so that the machine's
drift over minutes falls on every server alike. Each figure is then the
median of the rounds with its min-max spread, and each server's figure is
also given as a ratio to the best peer *in the same round*.

Figures per run:
  CPU µs/req  the server's user+system CPU time during the run (its process
              tree, from /proc) divided by the requests answered. It leads
              the table: one wrk thread saturates at some 100k requests/s
              here, past which requests/s stops ranking servers, while CPU
              per request still does and moves least with the noise.
  with wrk's  the same with wrk's own user+system time added: on loopback
              part of sending a server's bytes runs in the client's
              process, and how much depends on the TCP state, so the sum is
              what compares the work each server causes.
  req/s       what wrk measured; p99 latency and errors alongside.
Memory per idle connection is measured on a fresh server process each time.
The cost of the access log is the newest stage's 13-byte keep-alive case
run with access_log off and on in the same rounds: CPU per request, and
the ratio of on to off within each round. The newest stage's heap
allocations per request are counted in each scenario, once, with
tests/alloc_counter.c preloaded: allocator work does not show in one
figure of CPU, so this keeps it from creeping back unseen.

Results go to bench/results/latest.json; report.py turns them into tables,
charts (docs/img/*.svg) and the generated part of docs/performance.md.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import loads
import report
import servers

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"


@dataclass
class Scenario:
    key: str
    title: str
    path: str
    connections: int
    close: bool = False
    needs: str = "static"  # what a server must have to take the scenario

    def applies(self, server):
        if self.needs == "fastcgi":
            return server.has("fastcgi")
        # v06 serves no files: every GET gets its request-inspector page,
        # which still tells what a thread per connection costs.
        return server.has("http") and (server.serves_files or self.key in
                                        ("small", "close"))


SCENARIOS = [
    Scenario("small", "keep-alive, 13-byte file, 50 connections",
             "/small.txt", 50),
    Scenario("4k", "keep-alive, 4 KiB file, 200 connections", "/4k.bin", 200),
    Scenario("1m", "keep-alive, 1 MiB file, 10 connections", "/1m.bin", 10),
    Scenario("close", "a new connection per request (Connection: close), "
             "13-byte file, 50 connections", "/small.txt", 50, close=True),
    Scenario("php", "PHP page through php-fpm (4 static workers), "
             "20 connections", "/hello.php", 20, needs="fastcgi"),
]
ECHO_CLIENTS = [1, 10, 100]
ALLOC_WARM_UP_SECONDS = 1
IDLE_COUNTS = [1000, 10000]

# --quick runs the first stage of each idea that changes performance, and
# the newest stage, so it still shows the story in about two minutes.
QUICK_ECHO = {"v01", "v02", "v04"}
QUICK_HTTP = {"v09", "v13"}

MODES = {
    #         rounds, wrk s, echo s, memory measurements, idle deadline s
    "quick": dict(rounds=3, seconds=1, echo_seconds=0.5, idle_runs=1,
                  idle_deadline=20),
    "full": dict(rounds=5, seconds=4, echo_seconds=2, idle_runs=3,
                 idle_deadline=40),
}


# --- planning ----------------------------------------------------------------


def choose_servers(args):
    stages = [s for s in servers.find_stages(ROOT, args.build)]
    echo = [s for s in stages if s.protocol == "echo"]
    http = [s for s in stages if s.protocol == "http"]
    if args.stages:
        wanted = set(args.stages.split(","))
        echo = [s for s in echo if s.short in wanted or s.name in wanted]
        http = [s for s in http if s.short in wanted or s.name in wanted]
    elif args.quick:
        newest = http[-1].short if http else None
        echo = [s for s in echo if s.short in QUICK_ECHO]
        http = [s for s in http if s.short in QUICK_HTTP | {newest}]
    missing = [s.name for s in echo + http if not s.binary.exists()]
    if missing:
        sys.exit(f"bench: not built: {', '.join(missing)} "
                 f"(cmake --preset default && cmake --build build)")
    peers = [] if args.no_peers else [p for p in servers.PEERS if p.installed()]
    return echo, http, peers


def logging_stage(http):
    """The newest stage in the plan with an access log: the one whose
    logging cost is measured."""
    with_log = [s for s in http if s.has("logging") and s.serves_files]
    return with_log[-1] if with_log else None


def raise_fd_limit():
    """10,000 idle connections need more than 10,000 descriptors in the
    server and in the client; both inherit this process's limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):  # not root: as far as the hard limit goes
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def make_docroot(path):
    """The files every server serves: the same bytes from the same place."""
    path.mkdir()
    (path / "small.txt").write_bytes(b"Hello, world\n")  # 13 bytes
    (path / "4k.bin").write_bytes(bytes(range(256)) * 16)
    (path / "1m.bin").write_bytes(bytes(range(256)) * 4096)
    (path / "hello.php").write_bytes((ROOT / "www/php/hello.php").read_bytes())
    return path


# --- progress ----------------------------------------------------------------


class Progress:
    """Prints one line per measurement: how far, how long, what came out."""

    def __init__(self, steps):
        self.total = sum(seconds for seconds in steps)
        self.done = 0.0
        self.count = len(steps)
        self.index = 0
        self.start = time.monotonic()

    def step(self, estimate, text):
        self.index += 1
        self.done += estimate
        elapsed = time.monotonic() - self.start
        left = elapsed / self.done * (self.total - self.done) if self.done else 0
        print(f"[{self.index:3}/{self.count}  {_clock(elapsed)} elapsed, "
              f"~{_clock(left)} left] {text}", flush=True)


def _clock(seconds):
    return f"{int(seconds) // 60}:{int(seconds) % 60:02}"


# --- the kinds of measurement -------------------------------------------------


def start(server, workdir, docroot, fpm, problems, **options):
    try:
        return server.start(workdir, docroot=docroot,
                            fastcgi_socket=fpm.socket if fpm else None,
                            **options)
    except servers.StartError as e:
        problems.append(str(e))
        print(f"  ! {e}", flush=True)
        return None


def measure_http(plan, mode, workdir, docroot, fpm, progress, problems):
    """rounds x servers x scenarios of wrk; returns runs[scenario][server]
    as a list with one entry (a dict, or None if it failed) per round."""
    runs = {sc.key: {s.short: [] for s in plan if sc.applies(s)}
            for sc in SCENARIOS}
    for r in range(mode["rounds"]):
        order = plan[r % len(plan):] + plan[:r % len(plan)]
        for server in order:
            scenarios = [sc for sc in SCENARIOS if sc.applies(server)]
            running = start(server, workdir, docroot, fpm, problems)
            for sc in scenarios:
                result = None
                if running and running.alive():
                    try:
                        result = loads.run_wrk(running, sc.path,
                                               sc.connections,
                                               mode["seconds"], sc.close)
                    except loads.LoadError as e:
                        problems.append(f"round {r + 1}, {server.short}, "
                                        f"{sc.key}: {e}")
                runs[sc.key][server.short].append(result)
                progress.step(mode["seconds"] + 0.3,
                              f"round {r + 1}/{mode['rounds']} "
                              f"{server.short:8} {sc.key:6} "
                              + describe_http(result))
            if running:
                running.stop()
    return runs


def measure_logging(stage, mode, workdir, docroot, progress, problems):
    """The access log's cost: rounds of the 13-byte keep-alive case on
    stage with access_log off and on, in swapped order each round. Returns
    runs["off"] and runs["on"], one entry per round; each "on" entry also
    has cpu_ratio, its CPU per request over the "off" run of its round,
    and lines, what the log held once the server had stopped."""
    sc = SCENARIOS[0]
    log = Path(workdir) / "access.log"
    runs = {"off": [], "on": []}
    for r in range(mode["rounds"]):
        for setting in ("off", "on") if r % 2 == 0 else ("on", "off"):
            log.unlink(missing_ok=True)
            running = start(stage, workdir, docroot, None, problems,
                            access_log=log if setting == "on" else None)
            result = None
            if running and running.alive():
                try:
                    result = loads.run_wrk(running, sc.path, sc.connections,
                                           mode["seconds"])
                except loads.LoadError as e:
                    problems.append(f"round {r + 1}, {stage.short}, "
                                    f"access_log {setting}: {e}")
            if running:
                running.stop()  # the log is complete only after the stop
            if result and setting == "on":
                result["lines"] = count_lines(log)
                if result["lines"] < result["requests"]:
                    problems.append(
                        f"round {r + 1}, {stage.short}: {result['lines']:,} "
                        f"access log lines for {result['requests']:,} "
                        f"requests answered")
            runs[setting].append(result)
            progress.step(mode["seconds"] + 0.3,
                          f"round {r + 1}/{mode['rounds']} {stage.short:8} "
                          f"access_log {setting:3} " + describe_http(result))
        off, on = runs["off"][-1], runs["on"][-1]
        if off and on and off["cpu_us"] and on["cpu_us"]:
            on["cpu_ratio"] = on["cpu_us"] / off["cpu_us"]
    log.unlink(missing_ok=True)
    return runs


def build_alloc_counter(workdir):
    """tests/alloc_counter.c as a library to preload: it counts every
    malloc, calloc, realloc and aligned allocation of the process into a
    file another process reads while it runs."""
    library = Path(workdir) / "alloc_counter.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", library,
                    ROOT / "tests" / "alloc_counter.c"], check=True)
    return library


def read_count(path):
    return struct.unpack("=Q", path.read_bytes()[:8])[0]


def measure_allocations(stage, mode, workdir, docroot, fpm, progress,
                        problems):
    """Heap allocations per request of stage in each of its scenarios:
    one warm-up run of ALLOC_WARM_UP_SECONDS (files cached, connections
    to php-fpm open), then the count over one run of the usual length.
    Returns {scenario: result}, each result wrk's figures plus
    allocations_per_request."""
    library = build_alloc_counter(workdir)
    count_file = Path(workdir) / "allocations"
    env = {"LD_PRELOAD": str(library), "ALLOC_COUNTER_FILE": str(count_file)}
    results = {}
    for sc in [sc for sc in SCENARIOS if sc.applies(stage)]:
        count_file.unlink(missing_ok=True)
        running = start(stage, workdir, docroot, fpm, problems, env=env)
        result = None
        if running and running.alive():
            try:
                loads.run_wrk(running, sc.path, sc.connections,
                              ALLOC_WARM_UP_SECONDS, sc.close)
                before = read_count(count_file)
                result = loads.run_wrk(running, sc.path, sc.connections,
                                       mode["seconds"], sc.close)
                result["allocations_per_request"] = (
                    read_count(count_file) - before) / result["requests"]
            except loads.LoadError as e:
                problems.append(f"{stage.short}, {sc.key}, allocations "
                                f"counted: {e}")
        if running:
            running.stop()
        results[sc.key] = result
        progress.step(ALLOC_WARM_UP_SECONDS + mode["seconds"] + 0.3,
                      f"allocations {stage.short:8} {sc.key:6} " + (
                          f"{result['allocations_per_request']:.2f} per "
                          f"request" if result else "failed"))
    return results


def count_lines(path):
    count = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def describe_http(result):
    if result is None:
        return "failed"
    text = f"{result['rps']:>9,.0f} req/s"
    if result["cpu_us"] is not None:
        text += f"  {result['cpu_us']:7.1f} µs CPU/req"
    if result["errors"]:
        text += f"  {result['errors']} errors"
    return text


def measure_echo(plan, mode, workdir, binary, progress, problems):
    runs = {str(c): {s.short: [] for s in plan} for c in ECHO_CLIENTS}
    for r in range(mode["rounds"]):
        order = plan[r % len(plan):] + plan[:r % len(plan)]
        for stage in order:
            running = start(stage, workdir, None, None, problems)
            for clients in ECHO_CLIENTS:
                result = None
                if running and running.alive():
                    try:
                        result = loads.run_echo(running, binary, clients,
                                                mode["echo_seconds"])
                    except loads.LoadError as e:
                        problems.append(f"round {r + 1}, {stage.short}, "
                                        f"{clients} clients: {e}")
                runs[str(clients)][stage.short].append(result)
                text = "failed" if result is None else (
                    f"{result['rps']:>8,.0f} round trips/s  "
                    f"longest wait {result['longest_wait_us'] / 1000:6.1f} ms")
                progress.step(mode["echo_seconds"] + 0.2,
                              f"round {r + 1}/{mode['rounds']} "
                              f"{stage.short:8} echo, {clients:3} clients  "
                              + text)
            if running:
                running.stop()
    return runs


def idle_plan(server, count):
    """Whether server takes the idle-connection measurement at count, and
    if not, why (printed and kept in the results)."""
    if not server.keeps_alive:
        return "closes each connection after one response: none stays idle"
    return None


def measure_memory(plan, mode, workdir, docroot, progress, problems):
    runs = {str(n): {} for n in IDLE_COUNTS}
    notes = {str(n): {} for n in IDLE_COUNTS}
    for count in IDLE_COUNTS:
        for server in plan:
            why_not = idle_plan(server, count)
            if why_not:
                notes[str(count)][server.short] = why_not
                continue
            if server.thread_per_connection and count >= 10000:
                print(f"  {server.short} gives each connection a thread: "
                      f"{count:,} threads. The client stops after "
                      f"{mode['idle_deadline']} s or when the server stops "
                      f"answering, and the figure is then per connection "
                      f"held.", flush=True)
            results = []
            for _ in range(mode["idle_runs"]):
                result = None
                running = start(server, workdir, docroot, None, problems)
                if running:
                    try:
                        result = loads.run_idle(running, count,
                                                mode["idle_deadline"])
                    except loads.LoadError as e:
                        problems.append(f"{server.short}, {count} idle: {e}")
                    running.stop()
                results.append(result)
                progress.step(3 + count / 2000, f"{server.short:8} {count:>6,} "
                              f"idle connections  " + describe_idle(result))
                if result and result["held"] < count:
                    note = (f"held {result['held']:,} of {count:,}"
                            f" ({result['stopped'] or 'some failed'});"
                            f" figure per connection held")
                    if not result["server_alive"]:
                        note += "; the server died"
                    notes[str(count)][server.short] = note
                    problems.append(f"{server.short}, {count} idle: {note}")
                    break  # capped: repeating would only take as long again
            runs[str(count)][server.short] = results
    return runs, notes


def describe_idle(result):
    if result is None:
        return "failed"
    text = (f"held {result['held']:,}: RSS {result['rss_before_kib']:,} → "
            f"{result['rss_after_kib']:,} KiB")
    if result["kib_per_conn"] is not None:
        text += f" = {result['kib_per_conn']:.2f} KiB/connection"
    if result["stopped"]:
        text += f" (stopped: {result['stopped']})"
    return text


# --- figures -------------------------------------------------------------------


def add_ratios(runs, peers, higher_is_better, key, ratio_key):
    """For each round, each server's figure over the best peer's figure in
    that same round (1.0 = the best peer)."""
    peer_names = [p.short for p in peers]
    rounds = max((len(v) for v in runs.values()), default=0)
    for r in range(rounds):
        values = [runs[p][r][key] for p in peer_names
                  if p in runs and r < len(runs[p]) and runs[p][r]
                  and runs[p][r].get(key)]
        if not values:
            continue
        best = max(values) if higher_is_better else min(values)
        for server_runs in runs.values():
            if r < len(server_runs) and server_runs[r] and \
                    server_runs[r].get(key) is not None:
                server_runs[r][ratio_key] = server_runs[r][key] / best


def summarize(runs_by_server, keys):
    """median, min and max of each key over the runs that succeeded."""
    out = {}
    for name, runs in runs_by_server.items():
        ok = [r for r in runs if r]
        entry = {"runs": runs, "ok": len(ok), "asked": len(runs)}
        for key in keys:
            values = [r[key] for r in ok if r.get(key) is not None]
            if values:
                entry[key] = {"median": statistics.median(values),
                              "min": min(values), "max": max(values)}
        out[name] = entry
    return out


# --- main ----------------------------------------------------------------------


def versions():
    """The peers' and tools' versions, as "nginx 1.22.1"."""
    def version(name, argv, pattern):
        try:
            done = subprocess.run(argv, capture_output=True, text=True,
                                  timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            return None
        m = re.search(pattern, done.stdout + done.stderr)
        return m and f"{name} {m.group(1)}"
    return {"nginx": version("nginx", ["nginx", "-v"], r"nginx/([\d.]+)"),
            "lighttpd": version("lighttpd", ["lighttpd", "-v"],
                                r"lighttpd/([\d.]+)"),
            "h2o": version("h2o", ["h2o", "-v"], r"h2o version ([\d.]+)"),
            "wrk": version("wrk", ["wrk", "-v"], r"wrk (?:debian/)?([\d.]+)"),
            "php-fpm": version("PHP", [servers.PHP_FPM, "-v"],
                               r"PHP ([\d.]+)")}


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu": model,
            "kernel": platform.release(),
            "memory_gib": round(os.sysconf("SC_PHYS_PAGES")
                                * os.sysconf("SC_PAGE_SIZE") / 2**30)}


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True,
                              timeout=5).stdout.strip() or None
    except OSError:
        return None


def parse_args():
    ap = argparse.ArgumentParser(prog="bench/run", description=(
        "Load benchmarks of the course's stages against nginx, lighttpd and "
        "h2o, on 127.0.0.1 only."))
    ap.add_argument("--quick", action="store_true",
                    help="fewer stages, 3 rounds of 1 s (about two minutes)")
    ap.add_argument("--stages", help="only these stages, e.g. v07,v13,v14")
    ap.add_argument("--rounds", type=int, help="rounds of every measurement")
    ap.add_argument("--seconds", type=int, help="seconds of each wrk run")
    ap.add_argument("--no-peers", action="store_true",
                    help="leave out nginx, lighttpd and h2o")
    ap.add_argument("--skip", default="",
                    help="leave out parts: echo,http,memory,logging,alloc "
                    "(comma-separated)")
    ap.add_argument("--build", type=Path, default=ROOT / "build",
                    help="where the stages are built (default: build/)")
    ap.add_argument("--no-docs", action="store_true",
                    help="write the JSON only, not the charts and docs")
    ap.add_argument("--output", type=Path, default=RESULTS)
    return ap.parse_args()


def main():
    args = parse_args()
    mode = dict(MODES["quick" if args.quick else "full"])
    if args.rounds:
        mode["rounds"] = args.rounds
    if args.seconds:
        mode["seconds"] = args.seconds
    skip = set(filter(None, args.skip.split(",")))
    echo, http, peers = choose_servers(args)
    logged = None if "logging" in skip else logging_stage(http)
    counted = None if "alloc" in skip or not http else http[-1]
    if "echo" in skip:
        echo = []
    if "http" in skip and "memory" in skip:
        http, peers = [], []
    everyone = http + peers
    missing_peers = [p.name for p in servers.PEERS if not p.installed()]
    if missing_peers and not args.no_peers:
        print(f"bench: not installed, left out: {', '.join(missing_peers)}")

    raise_fd_limit()
    # Ctrl-C or a kill: unwind through the finally below, which stops every
    # server this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))

    steps = []
    if echo:
        steps += [mode["echo_seconds"] + 0.2] * (
            len(echo) * len(ECHO_CLIENTS) * mode["rounds"])
    if "http" not in skip:
        for s in everyone:
            n = sum(sc.applies(s) for sc in SCENARIOS)
            steps += [mode["seconds"] + 0.3] * (n * mode["rounds"])
    if "memory" not in skip:
        for count in IDLE_COUNTS:
            steps += [3 + count / 2000] * (mode["idle_runs"] * sum(
                1 for s in everyone if not idle_plan(s, count)))
    if logged:
        steps += [mode["seconds"] + 0.3] * (2 * mode["rounds"])
    if counted:
        steps += [ALLOC_WARM_UP_SECONDS + mode["seconds"] + 0.3] * sum(
            sc.applies(counted) for sc in SCENARIOS)
    print(f"bench: {'quick' if args.quick else 'full'} mode, "
          f"{mode['rounds']} rounds; echo: "
          f"{' '.join(s.short for s in echo) or '-'}; http: "
          f"{' '.join(s.short for s in everyone) or '-'}; access log: "
          f"{logged.short if logged else '-'}; allocations: "
          f"{counted.short if counted else '-'}; server on core "
          f"{servers.SERVER_CORE}, load on core {loads.LOAD_CORE}", flush=True)
    progress = Progress(steps)
    problems = []
    started = datetime.datetime.now(datetime.timezone.utc)
    data = {"generated": started.strftime("%Y-%m-%d %H:%M UTC"),
            "mode": "quick" if args.quick else "full",
            "settings": mode, "commit": git_commit(), "machine": machine(),
            "versions": versions(),
            "servers": {"echo": [s.short for s in echo],
                        "http": [s.short for s in http],
                        "peers": [p.short for p in peers]},
            "scenarios": {sc.key: {"title": sc.title, "path": sc.path,
                                   "connections": sc.connections,
                                   "close": sc.close} for sc in SCENARIOS}}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        tmp = Path(tmp)
        fpm = None
        try:
            docroot = make_docroot(tmp / "www")
            if echo:
                binary = loads.echo_load_binary(ROOT / "build")
                runs = measure_echo(echo, mode, tmp, binary, progress,
                                    problems)
                data["echo"] = {c: summarize(r, ["rps", "cpu_us", "p99_us",
                                                 "longest_wait_us"])
                                for c, r in runs.items()}
            php_stages = (everyone if "http" not in skip else []) + (
                [counted] if counted else [])
            if any(s.has("fastcgi") for s in php_stages):
                fpm = servers.PhpFpm(tmp)
            if everyone and "http" not in skip:
                runs = measure_http(everyone, mode, tmp, docroot, fpm,
                                    progress, problems)
                for sc_runs in runs.values():
                    add_ratios(sc_runs, peers, True, "rps", "rps_ratio")
                    add_ratios(sc_runs, peers, False, "cpu_us", "cpu_ratio")
                    add_ratios(sc_runs, peers, False, "with_client_cpu_us",
                               "with_client_cpu_ratio")
                data["http"] = {k: summarize(r, ["cpu_us", "cpu_ratio",
                                                 "with_client_cpu_us",
                                                 "with_client_cpu_ratio", "rps",
                                                 "rps_ratio", "p99_ms",
                                                 "errors"])
                                for k, r in runs.items()}
            if everyone and "memory" not in skip:
                runs, notes = measure_memory(everyone, mode, tmp, docroot,
                                             progress, problems)
                for count_runs in runs.values():
                    add_ratios(count_runs, peers, False, "kib_per_conn",
                               "kib_ratio")
                data["memory"] = {c: summarize(r, ["kib_per_conn",
                                                   "kib_ratio"])
                                  for c, r in runs.items()}
                data["memory_notes"] = notes
            if logged:
                runs = measure_logging(logged, mode, tmp, docroot, progress,
                                       problems)
                data["logging"] = {
                    "stage": logged.short, "scenario": SCENARIOS[0].key,
                    "runs": summarize(runs, ["cpu_us", "cpu_ratio", "rps",
                                             "p99_ms", "errors", "lines"])}
            if counted:
                data["allocations"] = {
                    "stage": counted.short,
                    "runs": measure_allocations(counted, mode, tmp, docroot,
                                                fpm, progress, problems)}
        finally:
            if fpm:
                fpm.stop()
            servers.stop_all()
    data["problems"] = problems
    data["seconds"] = round(time.monotonic() - progress.start)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=1) + "\n")
    print()
    print(report.text_tables(data))
    print(f"results: {args.output}")
    if not args.no_docs:
        for path in report.write_docs(data, ROOT):
            print(f"updated: {path.relative_to(ROOT)}")
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print(f"  - {p}")
    print(f"took {_clock(data['seconds'])}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        servers.stop_all()
        sys.exit(130)

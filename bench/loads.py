"""loads.py: the load generators, each run on core 1 against 127.0.0.1 and
bounded in time: wrk for HTTP, echo_load (ours, in C) for the echo stages,
idle_conns.py (ours) for memory per idle connection.

Each function measures one run against a running server and returns a dict
of figures; the server's CPU time is read from /proc just before and just
after the load, so what it spent starting up is not counted.
"""

import re
import resource
import selectors
import subprocess
import sys
import time
from pathlib import Path

from servers import wait_for_children_gone

LOAD_CORE = "1"
HERE = Path(__file__).resolve().parent
GRACE = 20  # seconds a load generator may overrun its duration before it is killed


class LoadError(Exception):
    pass


def _run(argv, timeout):
    argv = [str(a) for a in argv]
    try:
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LoadError(f"{Path(argv[3]).name} did not finish in {timeout} s")
    if done.returncode != 0:
        raise LoadError(f"{' '.join(map(str, argv))}: exit {done.returncode}: "
                        f"{done.stderr.strip()[-300:]}")
    return done.stdout


# --- wrk ---------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * _UNITS[unit]


def parse_wrk(out):
    """The figures of wrk's report (wrk 4.1 with --latency)."""
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+\w+) read", out)
    if not m:
        raise LoadError(f"no summary in wrk's output: {out[-300:]!r}")
    result = {"requests": int(m.group(1)),
              "seconds": _ms(m.group(2) + m.group(3)) / 1000}
    result["rps"] = result["requests"] / result["seconds"]
    for pct in ("50", "99"):
        p = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        result[f"p{pct}_ms"] = _ms(p.group(1)) if p else None
    errors = 0
    s = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", out)
    if s:
        errors += sum(int(x) for x in s.groups())
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if n:
        errors += int(n.group(1))
    result["errors"] = errors
    return result


def children_cpu_seconds():
    """User and system time of this process's children that have exited
    and been waited for: a load generator's, once _run has returned."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(server, path, connections, seconds, close=False):
    """One wrk run: one thread (the load core), `connections` connections,
    `seconds` long. Returns wrk's figures plus CPU time per request in
    microseconds: the server's (cpu_us), and the server's with wrk's
    (with_client_cpu_us). On loopback the kernel sends a server's bytes
    partly in the server's system calls and partly while handling the
    client's acknowledgements, in the client's: how the work splits
    depends on the TCP state, so only the sum compares servers fully."""
    argv = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}",
            f"-d{seconds}s", "--timeout", "5s", "--latency"]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(f"http://127.0.0.1:{server.port}{path}")
    cpu_before = server.cpu_seconds()
    client_before = children_cpu_seconds()
    out = _run(argv, seconds + GRACE)
    cpu = server.cpu_seconds() - cpu_before
    client = children_cpu_seconds() - client_before
    result = parse_wrk(out)
    answered = result["requests"]
    result["cpu_s"] = cpu
    result["client_cpu_s"] = client
    result["cpu_us"] = cpu * 1e6 / answered if answered else None
    result["with_client_cpu_us"] = ((cpu + client) * 1e6 / answered
                                    if answered else None)
    if not server.alive():
        raise LoadError(f"{server.name} died under load: "
                        f"{server.proc.errors()}")
    return result


# --- echo --------------------------------------------------------------------


def echo_load_binary(build_dir):
    return Path(build_dir) / "bench" / "echo_load"


def run_echo(server, binary, clients, seconds):
    """One echo_load run: `clients` clients in sessions of 10 round trips
    of 64 bytes, 1 ms apart. CPU time is read after the clients' server
    processes (v02, v03) have exited and been reaped."""
    argv = ["taskset", "-c", LOAD_CORE, binary, "-p", server.port,
            "-c", clients, "-d", seconds]
    cpu_before = server.cpu_seconds()
    out = _run(argv, seconds + GRACE)
    wait_for_children_gone(server.pid)
    cpu = server.cpu_seconds() - cpu_before
    result = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", out)}
    if "round_trips" not in result:
        raise LoadError(f"echo_load said: {out.strip()!r}")
    trips = result["round_trips"]
    result["rps"] = trips / result["elapsed"]
    result["cpu_s"] = cpu
    result["cpu_us"] = cpu * 1e6 / trips if trips else None
    if not server.alive():
        raise LoadError(f"{server.name} died under load: "
                        f"{server.proc.errors()}")
    return result


# --- idle connections --------------------------------------------------------


def run_idle(server, count, deadline):
    """Opens `count` idle keep-alive connections (idle_conns.py) and returns
    the server's resident memory per connection, in KiB, with what the
    client held. A fresh server should be passed: allocators keep what they
    have grown, so a second measurement on the same process reads less."""
    # One request first, so that what the first request allocates once
    # (buffers, a thread stack, the file's page cache mappings) is in the
    # baseline rather than spread over the connections.
    warm = _run(["taskset", "-c", LOAD_CORE, sys.executable,
                 HERE / "idle_conns.py", server.port, 1, "--hold", 0], 30)
    if not warm.startswith("held 1 "):
        raise LoadError(f"warm-up connection: {warm.strip()}")
    time.sleep(0.2)  # let the server finish closing it
    before = server.rss_kib()
    argv = ["taskset", "-c", LOAD_CORE, sys.executable,
            HERE / "idle_conns.py", server.port, count,
            "--deadline", deadline, "--hold", deadline + 60]
    client = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        line = _read_line(client, deadline + GRACE)
        m = re.match(r"held (\d+) of (\d+) failed (\d+) seconds ([\d.]+)"
                     r"(?: stopped: (.*))?", line)
        if not m:
            raise LoadError(f"idle_conns said: {line.strip()!r}")
        held = int(m.group(1))
        time.sleep(0.2)  # the last responses are on their way out
        after = server.rss_kib()
    finally:
        client.stdin.close()
        try:
            client.wait(GRACE)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
    return {"held": held, "asked": count, "failed": int(m.group(3)),
            "seconds": float(m.group(4)), "stopped": m.group(5),
            "rss_before_kib": before, "rss_after_kib": after,
            "kib_per_conn": (after - before) / held if held else None,
            "server_alive": server.alive()}


def _read_line(proc, timeout):
    """The first line proc prints, waiting at most timeout seconds."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        proc.kill()
        raise LoadError(f"idle_conns printed nothing in {timeout} s")
    return proc.stdout.readline()

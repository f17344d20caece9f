#!/usr/bin/python3
"""System calls and heap allocations per request of one HTTP server, the
v15 chapter's figures ("Where the time goes"):

    /usr/bin/python3 bench/syscalls.py build/v15_cpp_reactor/server
    /usr/bin/python3 bench/syscalls.py SERVER --close --seconds 5
    /usr/bin/python3 bench/syscalls.py SERVER --target 1m    # a 1 MiB file
    /usr/bin/python3 bench/syscalls.py SERVER --target php   # via php-fpm

Counted without strace, which stops the server at every system call and
so changes how many requests each epoll_wait finds ready: `perf stat`
counts the syscalls:sys_enter_* tracepoints of the server's process while
wrk loads it with one of bench/run's scenarios (by default 50 connections
and a 13-byte file, keep-alive or Connection: close; a 1 MiB file on 10;
a PHP page through php-fpm, with 4 static workers, on 20), and
tests/alloc_counter.c, preloaded, counts its allocations. Set
up as bench/run does: the server pinned to core 0 with `io_threads = 0`
(one loop accepts and serves), wrk to core 1. Needs perf (Debian's
linux-perf) and the right to trace (root, or kernel.perf_event_paranoid
at -1), wrk and a C compiler. Each figure is per request wrk counted.
"""

import argparse
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import servers

ROOT = Path(__file__).resolve().parent.parent
COUNTER_SOURCE = ROOT / "tests" / "alloc_counter.c"
SERVER_CORE, LOAD_CORE = "0", "1"
WARM_UP_SECONDS = 1
# As bench/run's scenarios: the path wrk asks for, and its connections.
TARGETS = {"small": ("/small.txt", 50), "1m": ("/1m.bin", 10),
           "php": ("/hello.php", 20)}


def build_counter(directory):
    library = directory / "alloc_counter.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", library,
                    COUNTER_SOURCE], check=True)
    return library


def start_server(server, directory, library, fastcgi_socket):
    config = directory / "server.conf"
    config.write_text(f"root = {directory / 'root'}\nio_threads = 0\n"
                      "access_log = off\nkeepalive_requests = 1000\n"
                      + (f"fastcgi_pass = unix:{fastcgi_socket}\n"
                         if fastcgi_socket else ""))
    (directory / "root").mkdir()
    (directory / "root" / "small.txt").write_bytes(b"Hello, world\n")
    (directory / "root" / "1m.bin").write_bytes(bytes(range(256)) * 4096)
    (directory / "root" / "hello.php").write_bytes(
        (ROOT / "www" / "php" / "hello.php").read_bytes())
    count_file = directory / "allocations"
    env = {"LD_PRELOAD": str(library), "ALLOC_COUNTER_FILE": str(count_file)}
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CORE, server, "-b", "127.0.0.1", "-p", "0",
         "-c", config], env=env, stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline().rsplit(":", 1)[1])
    return proc, port, count_file


def wrk(port, seconds, close, target):
    path, connections = TARGETS[target]
    argv = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}",
            f"-d{seconds}s"]
    if close:
        argv += ["-H", "Connection: close"]
    out = subprocess.run(argv + [f"http://127.0.0.1:{port}{path}"],
                         check=True, capture_output=True, text=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"wrk saw {errors.group(1)} errors:\n{out}")
    return int(re.search(r"(\d+) requests in", out).group(1))


def allocations(count_file):
    return struct.unpack("=Q", count_file.read_bytes()[:8])[0]


def measure(pid, port, count_file, seconds, close, target):
    """Runs wrk under perf stat; returns (requests, allocations, {syscall:
    count}). perf starts first and stops after wrk, so that every request
    wrk counted falls inside its window."""
    perf = subprocess.Popen(
        ["perf", "stat", "-x,", "-e", "syscalls:sys_enter_*", "-p", str(pid)],
        stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # perf attaches to every tracepoint first
    before = allocations(count_file)
    requests = wrk(port, seconds, close, target)
    allocated = allocations(count_file) - before
    perf.send_signal(signal.SIGINT)
    calls = {}
    for line in perf.communicate()[1].splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0].isdigit() and int(fields[0]) > 0:
            calls[fields[2].removeprefix("syscalls:sys_enter_")] = int(
                fields[0])
    return requests, allocated, calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("server", help="the server binary (v15's, or any stage "
                    "that takes -b, -p and a config with root, io_threads)")
    ap.add_argument("--seconds", type=int, default=3, help="of wrk's run")
    ap.add_argument("--close", action="store_true",
                    help="a new connection per request (Connection: close)")
    ap.add_argument("--target", choices=TARGETS, default="small",
                    help="what wrk asks for: the 13-byte file (50 "
                    "connections), the 1 MiB file (10) or a PHP page through "
                    "php-fpm (20)")
    args = ap.parse_args()
    for tool in ("perf", "wrk", "taskset", "cc"):
        if shutil.which(tool) is None:
            sys.exit(f"syscalls.py needs {tool}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        library = build_counter(directory)
        fpm = servers.PhpFpm(directory) if args.target == "php" else None
        proc, port, count_file = start_server(
            Path(args.server).resolve(), directory, library,
            fpm and fpm.socket)
        try:
            wrk(port, WARM_UP_SECONDS, args.close, args.target)
            requests, allocated, calls = measure(
                proc.pid, port, count_file, args.seconds, args.close,
                args.target)
        finally:
            proc.terminate()
            proc.wait()
            if fpm:
                fpm.stop()
    what = "Connection: close" if args.close else "keep-alive"
    path, connections = TARGETS[args.target]
    print(f"{requests} requests for {path} ({what}, {connections} "
          f"connections, {args.seconds} s); per request:")
    print(f"  {sum(calls.values()) / requests:8.3f}  system calls in all")
    for name, n in sorted(calls.items(), key=lambda c: -c[1]):
        print(f"  {n / requests:8.3f}  {name}")
    print(f"  {allocated / requests:8.3f}  allocations")


if __name__ == "__main__":
    main()

"""v15 under valgrind: serves a few requests, stops on SIGTERM, and has
freed everything and made no memory error on the way.

usage: valgrind_shutdown.py SERVER DOCROOT

Starts `valgrind --leak-check=full --error-exitcode=99 SERVER -p 0 -r
DOCROOT`, asks for a static file, POST /echo and a PHP page (php-cgi, which
valgrind does not follow into: it checks our process, not PHP), sends
SIGTERM and expects exit status 0: valgrind turns a memory error or a
definite or possible leak into 99 and prints its report, shown here. CTest
runs it for a build without a sanitizer (valgrind cannot run ASan or TSan
code), as the test v15_cpp_reactor_valgrind, within the suite's 10 s.

Valgrind 3.19 (Debian 12) does not know openat2 (syscall 437): it answers
ENOSYS, so every file and script under the root is refused (500 for a file,
403 for a script) and those requests check only the error path. When
valgrind says so on stderr, those answers are what is expected; a valgrind
that knows openat2 gets the 200s.
"""

import http.client
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time

DEADLINE = 9.0  # seconds for the whole run: the suite's limit is 10
READY = re.compile(rb"listening on 127\.0\.0\.1:(\d+)\n")


def wait_ready(proc, deadline):
    """The port from the server's ready line on stdout."""
    out = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in out:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise RuntimeError("no ready line in time")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("the server exited before it was ready")
            out += chunk
    m = READY.match(out)
    if m is None:
        raise RuntimeError(f"first line of stdout is {out!r}")
    return int(m.group(1))


def fetch(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# (method, path, body, headers), then the status and a part of the body
# expected, or when valgrind lacks openat2.
REQUESTS = [
    (("GET", "/index.html"), (200, b"<html"), (500, b"")),
    (("POST", "/echo", b"hello valgrind", {"Content-Type": "text/plain"}),
     (200, b"hello valgrind"), (200, b"hello valgrind")),
    (("GET", "/php/hello.php"), (200, b"Hello from PHP"), (403, b"")),
    (("GET", "/no-such-file"), (404, b""), (500, b"")),
]


def check(port, valgrind_stderr):
    """Sends REQUESTS; returns what did not come back as expected."""
    answers = [fetch(port, *args) for args, _, _ in REQUESTS]
    valgrind_stderr.seek(0)
    no_openat2 = (b"unhandled amd64-linux syscall: 437"
                  in valgrind_stderr.read())
    wrong = []
    for (args, usual, without), (got, body) in zip(REQUESTS, answers):
        status, part = without if no_openat2 else usual
        if got != status or part not in body:
            wrong.append(f"{args[0]} {args[1]}: {got} (expected {status}), "
                         f"body {body[:80]!r}")
    return wrong


def main(server, docroot):
    started = time.monotonic()
    deadline = started + DEADLINE
    argv = ["valgrind", "--leak-check=full", "--error-exitcode=99",
            server, "-b", "127.0.0.1", "-p", "0", "-r", docroot]
    stderr = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=stderr)
    except FileNotFoundError as e:
        print(f"{e.filename}: not found (apt-get install valgrind)")
        return 1
    problems = []
    try:
        problems += check(wait_ready(proc, deadline), stderr)
    except (RuntimeError, OSError, http.client.HTTPException) as e:
        problems.append(f"{type(e).__name__}: {e}")
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=max(deadline - time.monotonic(), 0.5))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        problems.append(f"still running {DEADLINE} s after the start")
    stderr.seek(0)
    err = stderr.read()
    if proc.returncode == 99:
        problems.append("valgrind found memory errors or leaks (status 99)")
    elif proc.returncode != 0:
        problems.append(f"exit status {proc.returncode} after SIGTERM")
    report = err.decode(errors="replace")
    elapsed = time.monotonic() - started
    if problems:
        print(f"command: {' '.join(argv)}")
        print("\n".join(problems))
        print(f"valgrind's report:\n{report}")
        return 1
    m = re.search(r"in use at exit: .*", report)
    print(f"valgrind: no errors, no leaks "
          f"({m.group(0) if m else 'heap summary not found'}; "
          f"{elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))

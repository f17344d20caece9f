"""idle_conns.py: opens N keep-alive connections to an HTTP server on
127.0.0.1, sends one request on each, reads the whole response, and keeps
them open, idle, until its standard input closes (or --hold seconds pass).

The benchmark reads the server's resident memory before and after, so the
difference divided by N is what one idle connection costs the server.

Connections are opened a batch at a time (a listen backlog is often 128),
and the whole run has a deadline: a server that stops answering, such as a
thread-per-connection server that cannot start another thread, ends the run
early and the client reports how many it holds. It prints one line:
"held H of N failed F seconds S [stopped: WHY]".

Usage: idle_conns.py PORT N [--path /small.txt] [--deadline 60] [--hold 120]
"""

import argparse
import resource
import select
import selectors
import socket
import sys
import time

BATCH = 100  # connections in flight at once
BATCH_TIMEOUT = 10.0  # seconds for one batch to be answered


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def response_complete(data):
    """True once data holds a whole response with a Content-Length body;
    raises ValueError if the server means to close the connection."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = data[:end].decode("latin-1").lower()
    if "connection: close" in head:
        raise ValueError("the server closes after one response")
    length = 0
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip() == "content-length":
            length = int(value)
    return len(data) >= end + 4 + length


def open_batch(port, count, request, held):
    """Opens count connections, sends request on each and waits for the
    answers. Answered sockets go to held; returns the number that failed."""
    sel = selectors.DefaultSelector()
    pending = {}
    failed = 0
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_WRITE)
        pending[s] = b""
    deadline = time.monotonic() + BATCH_TIMEOUT
    while pending and time.monotonic() < deadline:
        for key, events in sel.select(timeout=0.1):
            s = key.fileobj
            try:
                if events & selectors.EVENT_WRITE:
                    s.send(request)  # small: fits a fresh socket's buffer
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed by the server")
                pending[s] += chunk
                if not response_complete(pending[s]):
                    continue
                held.append(s)
            except (OSError, ValueError):
                failed += 1
                s.close()
            sel.unregister(s)
            del pending[s]
    for s in pending:  # no answer in time
        failed += 1
        sel.unregister(s)
        s.close()
    sel.close()
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("--path", default="/small.txt")
    ap.add_argument("--deadline", type=float, default=60.0)
    ap.add_argument("--hold", type=float, default=120.0)
    args = ap.parse_args()
    raise_fd_limit()

    request = (f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
               .encode())
    held, failed, why = [], 0, ""
    start = time.monotonic()
    while len(held) < args.count:
        if time.monotonic() - start > args.deadline:
            why = f"deadline of {args.deadline:g} s"
            break
        n = min(BATCH, args.count - len(held))
        batch_failed = open_batch(args.port, n, request, held)
        failed += batch_failed
        if batch_failed == n:
            why = "a whole batch failed"
            break
    took = time.monotonic() - start
    line = f"held {len(held)} of {args.count} failed {failed} seconds {took:.2f}"
    print(line + (f" stopped: {why}" if why else ""), flush=True)

    # Idle until the benchmark has read the server's memory and closes our
    # stdin. select(), not epoll: stdin may be /dev/null, which epoll refuses.
    select.select([sys.stdin], [], [], args.hold)
    for s in held:
        s.close()


if __name__ == "__main__":
    main()

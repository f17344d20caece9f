"""The server's own paths (v15, docs/contract.md): /healthz answers 200
while the server serves and 503 from the start of a graceful stop, which
`shutdown_drain` seconds of serving on make a load balancer see before the
listener closes; /status counts connections and requests, as nginx's
stub_status does, per I/O loop and in total."""

import re
import signal

import pytest

from http_util import (
    Deadline,
    build_request,
    read_response,
    request,
    send_all,
    server_args,
)
from test_shutdown import still_accepts
from util import describe_status, wait_until

pytestmark = pytest.mark.needs("status")

LOOP_LINE = re.compile(
    r"(Total|Loop \d+): active (-?\d+) accepts (\d+) handled (\d+) "
    r"requests (\d+) reading (-?\d+) writing (-?\d+) waiting (-?\d+) "
    r"health_checks (\d+)")
FIELDS = ("active", "accepts", "handled", "requests", "reading", "writing",
          "waiting", "health_checks")


def parse_status(text):
    """{"Total": {...}, "Loop 0": {...}, ...} and the stub_status head as
    "head": {active, accepts, handled, requests, reading, writing, waiting}.
    Fails on a page that is not in the documented form."""
    m = re.match(r"Active connections: (\d+)\n"
                 r"server accepts handled requests\n"
                 r" (\d+) (\d+) (\d+)\n"
                 r"Reading: (\d+) Writing: (\d+) Waiting: (\d+)\n", text)
    assert m, f"not a stub_status head:\n{text}"
    a, acc, han, req, rd, wr, wt = map(int, m.groups())
    page = {"head": dict(active=a, accepts=acc, handled=han, requests=req,
                         reading=rd, writing=wr, waiting=wt)}
    for line in text[m.end():].splitlines():
        lm = LOOP_LINE.fullmatch(line)
        assert lm, f"not a counts line: {line!r} in\n{text}"
        page[lm.group(1)] = dict(zip(FIELDS, map(int, lm.groups()[1:])))
    return page


def check_adds_up(page, text):
    """Active = Reading + Writing + Waiting, the loops sum to the total,
    and the total is the head."""
    total = page["Total"]
    loops = [v for k, v in page.items() if k.startswith("Loop")]
    assert loops, f"no per-loop line:\n{text}"
    for name in FIELDS:
        assert sum(loop[name] for loop in loops) == total[name], (
            f"the loops' {name} do not sum to the total:\n{text}")
    for name, value in page["head"].items():
        assert total[name] == value, f"Total's {name} is not the head's:\n{text}"
    head = page["head"]
    assert head["active"] == head["reading"] + head["writing"] + \
        head["waiting"], f"Active is not Reading + Writing + Waiting:\n{text}"


def read_status(sock, deadline):
    """GET /status on an open keep-alive connection: (page, text)."""
    assert send_all(sock, build_request("GET", "/status"))
    resp = read_response(sock, deadline=deadline)
    assert resp.status == 200, resp.describe()
    assert resp.header("Content-Type") == "text/plain", resp.describe()
    text = resp.body.decode()
    page = parse_status(text)
    check_adds_up(page, text)
    return page, text


def test_healthz_says_200_while_serving_and_503_once_a_stop_began(
        start_server, stage, tmp_path):
    conf = tmp_path / "server.conf"
    conf.write_text("shutdown_drain = 1\n")
    server = start_server("-c", conf, *server_args(stage, tmp_path))
    resp = request(server, "GET", "/healthz")
    assert (resp.status, resp.body) == (200, b"ok\n"), resp.describe()
    server.proc.send_signal(signal.SIGTERM)
    # Each check on a new connection, as a load balancer's are.
    resp = wait_until(lambda: (r := request(server, "GET", "/healthz"))
                      .status == 503 and r, timeout=0.5)
    assert resp, "0.5 s after SIGTERM /healthz still did not answer 503"
    assert resp.body == b"stopping\n", resp.describe()
    # The drain serves everything else as before: a client the balancer
    # sent just before it saw the 503 still gets its answer.
    served = request(server, "GET", "/hello.txt")
    assert served.status == 200, f"during the drain: {served.describe()}"
    assert wait_until(lambda: not still_accepts(server), timeout=2.5), (
        "shutdown_drain = 1, yet the listener was open 2.5 s after SIGTERM")
    status = server.wait(timeout=3)
    assert status == 0, f"after SIGTERM: {describe_status(status)}"


def test_status_counts_add_up(start_server, stage, tmp_path):
    server = start_server(*server_args(stage, tmp_path))
    deadline = Deadline(8)
    conns = []
    asker = server.connect(timeout=5)  # /status reads, on one connection
    try:
        first, _ = read_status(asker, deadline)
        # K requests on M keep-alive connections, answered and left idle,
        # and one more connection with half a request head.
        m, k = 3, 10
        conns = [server.connect(timeout=5) for _ in range(m)]
        for i in range(k):
            sock = conns[i % m]
            assert send_all(sock, build_request("GET", "/hello.txt"))
            resp = read_response(sock, deadline=deadline)
            assert resp.status == 200, resp.describe()
        partial = server.connect(timeout=5)
        conns.append(partial)
        assert send_all(partial, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")

        reads = [0]  # /status reads since the first: each is a request

        def settled():
            page, text = read_status(asker, deadline)
            reads[0] += 1
            head = page["head"]
            # The asker is writing: /status counts its own connection so.
            return (head["reading"] == 1 and head["waiting"] == m and
                    head["writing"] == 1) and (page, text)

        got = wait_until(settled, timeout=3)
        assert got, "the connections never showed as 1 reading, " \
            f"{m} waiting and the asker writing"
        page, text = got
        head, before = page["head"], first["head"]
        assert head["active"] == m + 2, text
        assert head["accepts"] - before["accepts"] == m + 1, text
        assert head["handled"] - before["handled"] == m + 1, text
        # An answer counts once it is sent: the first read and the polls
        # before the last, not the last itself.
        assert head["requests"] - before["requests"] == k + reads[0], text
    finally:
        asker.close()
        for sock in conns:
            sock.close()


def test_status_and_healthz_are_get_or_head_only(start_server, stage,
                                                 tmp_path):
    server = start_server(*server_args(stage, tmp_path))
    for target in ("/status", "/healthz"):
        resp = request(server, "POST", target, body=b"x")
        assert resp.status == 405, resp.describe()
        assert resp.header("Allow") == "GET, HEAD", resp.describe()
        head = request(server, "HEAD", target)
        assert head.status == 200 and head.body == b"", head.describe()


def test_a_root_file_named_like_an_own_path_is_reported(start_server, stage,
                                                        tmp_path):
    args = server_args(stage, tmp_path)
    (tmp_path / "root" / "status").write_text("a file\n")
    server = start_server(*args)
    resp = request(server, "GET", "/status")
    assert resp.body.startswith(b"Active connections:"), resp.describe()
    assert wait_until(lambda: "/status is the server's own"
                      in server.stderr_text(), timeout=2), (
        "a file named status in the root was hidden without a word:\n"
        f"{server.describe()}")

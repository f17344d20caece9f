"""The loops of v15's multi-reactor: `io_threads = N` (0..256) in the
configuration file runs N event loops for connections beside the
acceptor's (0: the acceptor's loop serves them too). Whatever N, many
keep-alive clients at once get every answer right; the threads show in
/proc/PID/task; a count out of range stops the server with FILE:LINE."""

import threading

import pytest

from http_util import (
    Deadline,
    build_request,
    read_response,
    send_all,
    server_args,
)
from util import describe_status, thread_count, wait_until

pytestmark = pytest.mark.needs("reactor", "config")

CLIENTS = 50
REQUESTS = 20
NFILES = 20


def file_body(i):
    # A distinct length per file: an answer to the wrong request, or a
    # body cut at the wrong place, cannot pass.
    return f"file {i:02d} ".encode() + b"x" * (i * 37) + b"\n"


def start_with_io_threads(start_server, stage, tmp_path, n):
    args = server_args(stage, tmp_path)
    for i in range(NFILES):
        (tmp_path / "root" / f"f{i:02d}.txt").write_bytes(file_body(i))
    conf = tmp_path / "server.conf"
    conf.write_text(f"# {n} event loops for connections\nio_threads = {n}\n")
    return start_server("-c", str(conf), *args)


def keepalive_client(server, c, deadline, errors):
    """REQUESTS requests one after another on one connection; what went
    wrong goes to errors."""
    try:
        with server.connect(timeout=deadline.left() or 0.1) as sock:
            for r in range(REQUESTS):
                i = (c + r) % NFILES
                if not send_all(sock, build_request("GET", f"/f{i:02d}.txt")):
                    errors.append(f"client {c}: closed before request {r + 1}")
                    return
                resp = read_response(sock, deadline=deadline)
                if resp.status != 200 or resp.body != file_body(i) \
                        or resp.extra:
                    errors.append(
                        f"client {c}, request {r + 1} (f{i:02d}.txt): "
                        f"{len(resp.extra)} extra bytes; "
                        f"{resp.describe(60)}")
                    return
    except (AssertionError, OSError) as e:
        errors.append(f"client {c}: {e}")


@pytest.mark.parametrize("n", [0, 3])
def test_50_keepalive_clients_at_once_all_get_right_answers(
        start_server, stage, tmp_path, n):
    server = start_with_io_threads(start_server, stage, tmp_path, n)
    deadline = Deadline(8)
    errors = []
    clients = [threading.Thread(target=keepalive_client,
                                args=(server, c, deadline, errors))
               for c in range(CLIENTS)]
    for t in clients:
        t.start()
    for t in clients:
        t.join(deadline.left() + 0.5)
    hung = sum(t.is_alive() for t in clients)
    assert not hung and not errors, (
        f"io_threads = {n}: {len(errors)} of {CLIENTS} clients failed, "
        f"{hung} still waiting; first failures:\n" + "\n".join(errors[:5]))


def test_io_threads_3_runs_at_least_4_threads(start_server, stage, tmp_path):
    server = start_with_io_threads(start_server, stage, tmp_path, 3)
    assert wait_until(lambda: thread_count(server.pid) >= 4, timeout=2), (
        f"io_threads = 3, yet /proc/{server.pid}/task lists "
        f"{thread_count(server.pid)} threads (want 3 loops + the acceptor)")


@pytest.mark.parametrize("value", ["300", "257", "-1", "many"])
@pytest.mark.parametrize("check", [False, True], ids=["start", "check"])
def test_io_threads_out_of_range_is_a_config_error_with_file_line(
        run_server, stage, tmp_path, value, check):
    root = tmp_path / "root"
    root.mkdir()
    conf = tmp_path / "server.conf"
    conf.write_text(f"root = {root}\nio_threads = {value}\n")
    args = ["-b", "127.0.0.1", "-p", "0", "-c", str(conf)]
    result = run_server((["-t"] if check else []) + args, timeout=3)
    shown = (f"{describe_status(result.returncode)}\n"
             f"stdout: {result.stdout!r}\nstderr: {result.stderr!r}")
    assert result.returncode == 2, (
        f"io_threads = {value}: expected exit status 2:\n{shown}")
    assert f"{conf}:2:" in result.stderr, (
        f"io_threads = {value}: the error should name {conf}:2:\n{shown}")
    assert "listening on" not in result.stdout, shown

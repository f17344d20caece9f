"""What the concurrency model leaves behind, read from /proc: a forking
server reaps every child (no zombies); a threaded server serves from threads
of one process and forks nothing."""

import pytest

from util import (children_of, echo_roundtrip, listening_pids, probe,
                  recv_exactly, server_args, thread_count, wait_until,
                  zombies_of)

PARTIAL_REQUEST = b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n"  # no blank line


def describe(procs):
    return ", ".join(f"pid {p['pid']} ({p['comm']}, state {p['state']})"
                     for p in procs) or "none"


@pytest.mark.needs("fork")
def test_no_zombie_children_after_thirty_clients(server):
    for i in range(30):
        data = f"client {i}\n".encode()
        got = echo_roundtrip(server, data)
        assert got == data.upper(), f"client {i} got {got!r}"
    # Each child has closed its connection (we saw EOF) and is exiting; the
    # server must reap it. Poll: reaping follows SIGCHLD, not our EOF.
    left = wait_until(lambda: not zombies_of(server.pid), timeout=5)
    assert left, (f"zombie children of server pid {server.pid} after 5 s: "
                  f"{describe(zombies_of(server.pid))}")


def begin_session(server, protocol, i):
    """A connection the server is busy with and that stays open: an echo
    line already answered, or an HTTP request whose head is not finished."""
    sock = server.connect()
    if protocol == "echo":
        line = f"client {i}\n".encode()
        sock.sendall(line)
        got = recv_exactly(sock, len(line))
        assert got == line.upper(), f"client {i} got {got!r}"
    else:
        sock.sendall(PARTIAL_REQUEST)
    return sock


@pytest.mark.needs("fork")
def test_the_port_refuses_connections_once_the_server_is_killed(
        server, stage):
    # The child serving this client must not keep the listening socket:
    # the port would go on accepting connections that nobody answers.
    with begin_session(server, stage.protocol, 0):
        server.proc.kill()
        server.wait()
        try:
            server.connect(timeout=1).close()
        except ConnectionRefusedError:
            return
        pytest.fail(f"port {server.port} still accepts connections after "
                    f"the server died; listening: pids "
                    f"{sorted(listening_pids(server.port))}")


@pytest.mark.needs("threads")
def test_concurrent_clients_are_served_by_threads_not_child_processes(
        start_server, stage, tmp_path):
    server = start_server(*server_args(stage, tmp_path))
    clients = []
    try:
        for i in range(5):
            clients.append(begin_session(server, stage.protocol, i))
        threads = wait_until(lambda: thread_count(server.pid) > 1, timeout=2)
        assert threads, (f"server pid {server.pid} has "
                         f"{thread_count(server.pid)} thread(s) while 5 "
                         "clients are connected")
        assert not children_of(server.pid), (
            f"server pid {server.pid} has child processes while serving: "
            f"{describe(children_of(server.pid))}"
        )
    finally:
        for sock in clients:
            sock.close()
    probe(server, stage.protocol)
    assert not children_of(server.pid), (
        f"server pid {server.pid} has child processes after serving: "
        f"{describe(children_of(server.pid))}"
    )

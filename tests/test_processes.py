"""What the concurrency model leaves behind, read from /proc: a forking
server reaps every child (no zombies); a threaded server serves from threads
of one process and forks nothing."""

import pytest

from util import (children_of, echo_roundtrip, recv_exactly, thread_count,
                  wait_until, zombies_of)


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


@pytest.mark.needs("threads")
def test_concurrent_clients_are_served_by_threads_not_child_processes(server):
    clients = []
    try:
        for i in range(5):
            sock = server.connect()
            clients.append(sock)
            line = f"client {i}\n".encode()
            sock.sendall(line)
            got = recv_exactly(sock, len(line))
            assert got == line.upper(), f"client {i} got {got!r}"
        # All five are connected and have been answered: each is being
        # served right now.
        assert not children_of(server.pid), (
            f"server pid {server.pid} has child processes while serving: "
            f"{describe(children_of(server.pid))}"
        )
        threads = wait_until(lambda: thread_count(server.pid) > 1, timeout=2)
        assert threads, (f"server pid {server.pid} has "
                         f"{thread_count(server.pid)} thread(s) while 5 "
                         "clients are connected")
    finally:
        for sock in clients:
            sock.close()
    got = echo_roundtrip(server, b"after\n")
    assert got == b"AFTER\n", f"a later client got {got!r}"
    assert not children_of(server.pid), (
        f"server pid {server.pid} has child processes after serving: "
        f"{describe(children_of(server.pid))}"
    )

"""The limitation v06-v08 keep on purpose: one response per connection. Two
requests on one HTTP/1.1 connection fail there (strict expected failure,
from each manifest's [limitations]) and pass from v09, which keeps the
connection open."""

import pytest

from http_util import (
    Deadline,
    NoResponse,
    build_request,
    read_response,
    send_all,
    server_args,
)
from util import symptom_absent

pytestmark = [pytest.mark.needs("http"), pytest.mark.limitation("keepalive")]


def second_response(sock, deadline):
    """The response to a second request on sock, or None if the server had
    closed the connection (a reset, or an end with no byte of an answer)."""
    if not send_all(sock, build_request("GET", "/")):
        return None
    try:
        return read_response(sock, deadline=deadline)
    except NoResponse as e:
        if not e.closed_unanswered:
            raise
        return None


def test_two_requests_on_one_http11_connection_both_get_200(
        start_server, stage, tmp_path):
    server = start_server(*server_args(stage, tmp_path))
    deadline = Deadline(5)
    with server.connect(timeout=5) as sock:
        send_all(sock, build_request("GET", "/"))
        first = read_response(sock, deadline=deadline)
        assert first.status == 200, first.describe()
        assert first.extra == b"", f"bytes past the body: {first.extra!r}"
        second = second_response(sock, deadline)
    symptom_absent(second is not None, "the server closed the connection "
                   f"after one response:\n{first}")
    assert second.status == 200, second.describe()

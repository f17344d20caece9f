"""The command line every stage shares: -h,
usage errors with exit 2, runtime failures with exit 1, and every error one
line on stderr that starts with "server: "."""

from util import server_args


def error_lines(stderr):
    """The lines before the usage text: the error messages themselves."""
    lines = []
    for line in stderr.splitlines():
        if line.lower().startswith("usage"):
            break
        lines.append(line)
    return lines


def assert_error_lines_start_with_server(stderr):
    bad = [line for line in error_lines(stderr)
           if not line.startswith("server: ")]
    assert not bad, f"error lines not starting with 'server: ': {bad!r}"


def describe(done):
    return (f"exit {done.returncode}\nstdout: {done.stdout!r}\n"
            f"stderr: {done.stderr!r}")


USAGE = "usage: server [-b ADDR] [-p PORT] "  # then the stage's own flags


def test_dash_h_prints_usage_to_stdout_and_exits_0(run_server):
    done = run_server(["-h"])
    assert done.returncode == 0, describe(done)
    assert done.stdout.startswith(USAGE), describe(done)


def check_usage_error(done, error):
    """Exit 2, nothing on stdout, the one error line, then the usage."""
    assert done.returncode == 2, describe(done)
    assert done.stdout == "", describe(done)
    assert done.stderr.startswith(f"server: {error}\n{USAGE}"), (
        f"want 'server: {error}', then the usage\n{describe(done)}")
    assert_error_lines_start_with_server(done.stderr)


def test_an_unknown_flag_is_a_usage_error_with_exit_2(run_server):
    check_usage_error(run_server(["-Z"]),
                      "unknown option or missing value: -Z")


def check_bad_port(run_server, value):
    check_usage_error(run_server(["-p", value]), f"bad port '{value}'")


def test_a_port_above_65535_is_a_usage_error_naming_it(run_server):
    check_bad_port(run_server, "70000")


def test_a_port_that_is_not_a_number_is_a_usage_error_naming_it(run_server):
    check_bad_port(run_server, "abc")


def test_a_port_in_use_fails_with_exit_1_and_says_why(
        start_server, run_server, stage, tmp_path):
    args = server_args(stage, tmp_path)  # a document root where one is needed
    server = start_server(*args)
    done = run_server(["-b", "127.0.0.1", "-p", str(server.port), *args])
    assert done.returncode == 1, describe(done)
    assert done.stderr == (f"server: bind 127.0.0.1:{server.port}: "
                           "Address already in use\n"), describe(done)
    assert done.stdout == "", describe(done)

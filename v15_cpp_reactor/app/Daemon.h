/// Daemon: running in the background (-d) and the pidfile (-P), as v05-v14
/// do it: the launcher waits until the daemon says it is listening.
#pragma once

#include <string>

namespace Daemon
{

/// Detaches from the terminal. Only the daemon returns true, with stdout and
/// stderr writing into a pipe to the launcher: whatever startup prints (the
/// ready line, or why it failed) reaches the user's terminal. The launcher
/// never returns: when the pipe closes it exits 0 if the ready line came
/// through, 1 if not. Returns false with err if a step fails (the caller
/// prints it and exits 1, which the launcher sees too).
bool daemonize(std::string &err);

/// Startup is over: stdout and stderr go to /dev/null (stdin already does),
/// which closes the pipe and lets the launcher exit. Call it after printing
/// the ready line and before Log::start().
bool ready(std::string &err);

/// Creates and locks the pidfile, or fails if another process holds it
/// ("pidfile PATH: locked by pid N: is another server running?"). The lock
/// lasts as long as this process (and its daemon) lives; any exit() of the
/// process that wrote its pid removes the file.
bool lockPidfile(const std::string &path, std::string &err);

/// Writes our pid into the locked pidfile; call it after daemonize().
bool writePid(std::string &err);

} // namespace Daemon

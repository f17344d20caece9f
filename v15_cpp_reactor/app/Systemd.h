/// Systemd: what a service does for systemd, with libc alone. It says how
/// it is (sd_notify(3): ready, reloading, stopping), and it takes the
/// listening socket systemd opened for it (sd_listen_fds(3)). Started any
/// other way, neither variable is set and both do nothing.
#pragma once

#include <string>

#include "base/Fd.h"

namespace Systemd
{

/// READY=1: startup is over, the socket accepts (Type=notify waits for it).
/// Also the end of a reload. Any thread.
void ready();
/// RELOADING=1 with the time it began: a reload is under way.
void reloading();
/// STOPPING=1: a stop has begun, whoever asked for it.
void stopping();

/// The listening socket systemd passed as fd 3, non-blocking and
/// close-on-exec; the caller owns it. addr gets the address it is bound to,
/// for the ready line. An invalid Fd and an empty err when no socket was
/// passed to this process (bind as usual); an invalid Fd and err when one
/// was but the server cannot serve on it. Clears LISTEN_PID and LISTEN_FDS
/// either way. Call it before any thread starts (it changes the
/// environment).
Fd passedListener(std::string &addr, std::string &err);

} // namespace Systemd

/// Socket: the few socket calls the server makes, with their errors turned
/// into messages: a listening socket for the Acceptor, options for an
/// accepted one.
#pragma once

#include <netinet/in.h>

#include <string>

#include "base/Fd.h"

namespace Socket
{

/// A non-blocking socket listening on addr:port. On failure: an invalid
/// Fd and "bind 127.0.0.1:8080: Address already in use" in err.
Fd listenOn(const std::string &addr, int port, std::string &err);
/// The port a socket is bound to (the kernel's pick after port 0).
int localPort(int fd);
/// Sends small writes at once: a response's head must not wait for an ACK
/// (Nagle's algorithm against delayed ACKs costs 40 ms a round).
void setNoDelay(int fd);

} // namespace Socket

/// Socket: the few socket calls the server makes, with their errors turned
/// into messages: a listening socket for the Acceptor, options for an
/// accepted one.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "base/Fd.h"

namespace Socket
{

/// addr, an IPv4 address ("127.0.0.1") or an IPv6 one without brackets
/// ("::1", "::"), and port as a socket address. False if addr is neither.
bool parseAddress(const std::string &addr, int port, sockaddr_storage &sa,
                  socklen_t &len);
/// addr:port as the ready line and messages write it: "127.0.0.1:8080",
/// and for IPv6 with brackets, "[::1]:8080" (RFC 3986 3.2.2).
std::string hostPort(const std::string &addr, int port);
/// A non-blocking socket listening on addr:port. On "::" it takes IPv4
/// connections as well (dual-stack). On failure: an invalid Fd and
/// "bind 127.0.0.1:8080: Address already in use" in err. reusePort: the
/// port may be bound again, by any socket that also sets it (SO_REUSEPORT:
/// several processes, or an old and a new server, one port).
Fd listenOn(const std::string &addr, int port, std::string &err,
            bool reusePort = false);
/// The port a socket is bound to (the kernel's pick after port 0).
int localPort(int fd);
/// The address in sa as text: "127.0.0.1", "::1". An IPv4 peer of a
/// dual-stack socket arrives as "::ffff:127.0.0.1" and is written as the
/// IPv4 address it is.
std::string addressText(const sockaddr_storage &sa);
/// Sends small writes at once: a response's head must not wait for an ACK
/// (Nagle's algorithm against delayed ACKs costs 40 ms a round).
void setNoDelay(int fd);

} // namespace Socket

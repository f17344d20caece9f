// Socket: listening and per-connection options.
#include "net/Socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "base/Failure.h"

namespace
{
// The kernel caps this at net.core.somaxconn. A burst of thousands of
// connects past a short queue loses SYNs, which clients resend only after
// a second.
constexpr int kListenBacklog = 4096;
} // namespace

namespace Socket
{

bool parseAddress(const std::string &addr, int port, sockaddr_storage &sa,
                  socklen_t &len)
{
    sa = sockaddr_storage{};
    auto *in = reinterpret_cast<sockaddr_in *>(&sa);
    auto *in6 = reinterpret_cast<sockaddr_in6 *>(&sa);
    if (inet_pton(AF_INET, addr.c_str(), &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(static_cast<uint16_t>(port));
        len = sizeof *in;
        return true;
    }
    if (inet_pton(AF_INET6, addr.c_str(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(static_cast<uint16_t>(port));
        len = sizeof *in6;
        return true;
    }
    return false;
}

std::string hostPort(const std::string &addr, int port)
{
    bool ipv6 = addr.find(':') != std::string::npos;
    return (ipv6 ? "[" + addr + "]" : addr) + ":" + std::to_string(port);
}

Fd listenOn(const std::string &addr, int port, std::string &err, bool reusePort)
{
    sockaddr_storage sa;
    socklen_t len;
    if (!parseAddress(addr, port, sa, len)) {
        err = "bad IPv4 or IPv6 address '" + addr + "'";
        return Fd();
    }
    Fd fd(socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        err = failure("socket");
        return Fd();
    }
    // A restarted server may bind while old connections sit in TIME_WAIT.
    int on = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    // Every socket bound to the port with SO_REUSEPORT, by the same user,
    // gets its own accept queue, and the kernel spreads new connections
    // over them by a hash of the addresses (socket(7)). Only on request: a
    // second server started by mistake on a busy port must still fail with
    // "Address already in use".
    if (reusePort)
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    // "::" takes IPv4 clients too, as ::ffff:a.b.c.d (ipv6(7)): said here,
    // not left to the net.ipv6.bindv6only sysctl.
    int off = 0;
    if (sa.ss_family == AF_INET6)
        setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    if (bind(fd.get(), reinterpret_cast<struct sockaddr *>(&sa), len) < 0) {
        err = failure("bind " + hostPort(addr, port));
        return Fd();
    }
    // The kernel hands us a connection only once its first bytes are in
    // (tcp(7)): one wake-up and one read per connection instead of two.
    // A client that sends nothing is handed over anyway after a second.
    // Not on a shared port: until its bytes come, the connection is a
    // request of this socket's, not yet in its accept queue, and if the
    // socket closes meanwhile (an old server's stop) the kernel drops it and
    // resets the client's first write, a loss that no accept can prevent.
    int deferSeconds = 1;
    if (!reusePort)
        setsockopt(fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &deferSeconds,
                   sizeof deferSeconds);
    if (listen(fd.get(), kListenBacklog) < 0) {
        err = failure("listen " + hostPort(addr, port));
        return Fd();
    }
    return fd;
}

int localPort(int fd)
{
    sockaddr_storage sa = {};
    socklen_t len = sizeof sa;
    if (getsockname(fd, reinterpret_cast<struct sockaddr *>(&sa), &len) < 0)
        return -1;
    if (sa.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<sockaddr_in6 *>(&sa)->sin6_port);
    return ntohs(reinterpret_cast<sockaddr_in *>(&sa)->sin_port);
}

std::string addressText(const sockaddr_storage &sa)
{
    char text[INET6_ADDRSTRLEN] = "";
    if (sa.ss_family == AF_INET6) {
        const in6_addr &a =
            reinterpret_cast<const sockaddr_in6 &>(sa).sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a))
            inet_ntop(AF_INET, &a.s6_addr[12], text, sizeof text);
        else
            inet_ntop(AF_INET6, &a, text, sizeof text);
    } else {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in &>(sa).sin_addr,
                  text, sizeof text);
    }
    return text;
}

void setNoDelay(int fd)
{
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

} // namespace Socket

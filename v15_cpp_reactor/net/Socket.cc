// Socket: listening and per-connection options.
#include "net/Socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace
{
// The kernel caps this at net.core.somaxconn. A burst of thousands of
// connects past a short queue loses SYNs, which clients resend only after
// a second.
constexpr int kListenBacklog = 4096;

std::string failure(const char *call, const std::string &addr, int port)
{
    return std::string(call) + " " + addr + ":" + std::to_string(port) + ": " +
           strerror(errno);
}
} // namespace

namespace Socket
{

Fd listenOn(const std::string &addr, int port, std::string &err)
{
    struct sockaddr_in sa = {};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1) {
        err = "bad IPv4 address '" + addr + "'";
        return Fd();
    }
    Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        err = std::string("socket: ") + strerror(errno);
        return Fd();
    }
    // A restarted server may bind while old connections sit in TIME_WAIT.
    int on = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd.get(), reinterpret_cast<struct sockaddr *>(&sa), sizeof sa) <
        0) {
        err = failure("bind", addr, port);
        return Fd();
    }
    // The kernel hands us a connection only once its first bytes are in
    // (tcp(7)): one wake-up and one read per connection instead of two.
    // A client that sends nothing is handed over anyway after a second.
    int deferSeconds = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &deferSeconds,
               sizeof deferSeconds);
    if (listen(fd.get(), kListenBacklog) < 0) {
        err = failure("listen", addr, port);
        return Fd();
    }
    return fd;
}

int localPort(int fd)
{
    struct sockaddr_in sa = {};
    socklen_t len = sizeof sa;
    if (getsockname(fd, reinterpret_cast<struct sockaddr *>(&sa), &len) < 0)
        return -1;
    return ntohs(sa.sin_port);
}

void setNoDelay(int fd)
{
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

} // namespace Socket

/// Systemd: the two protocols of sd_notify(3) and sd_listen_fds(3), which
/// are small enough to speak without libsystemd: a datagram of
/// "NAME=value" lines to a socket named in NOTIFY_SOCKET, and descriptors
/// from 3 on, named by LISTEN_FDS, for the process LISTEN_PID names.
#include "app/Systemd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "base/Logger.h"
#include "base/Number.h"
#include "net/Socket.h"

namespace
{

constexpr int kFirstPassedFd = 3; // SD_LISTEN_FDS_START: after stdio

/// NOTIFY_SOCKET as an address: a path, or after '@' an abstract name
/// (unix(7)), which starts with a NUL byte and is exactly as long as given.
bool notifyAddress(const char *name, sockaddr_un &addr, socklen_t &len)
{
    size_t n = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || n >= sizeof addr.sun_path)
        return false;
    addr = {};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, name, n);
    if (name[0] == '@')
        addr.sun_path[0] = '\0';
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
    return true;
}

/// One datagram to the service manager. A fresh socket each time: a few a
/// lifetime, from any thread, and nothing shared. A failure is logged, not
/// fatal: the server serves whether or not systemd hears of it.
void notify(const std::string &state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (name == nullptr)
        return; // not started by systemd, or not as Type=notify
    sockaddr_un addr;
    socklen_t len;
    if (!notifyAddress(name, addr, len)) {
        Log::warn("NOTIFY_SOCKET '%s': not a path or an @name", name);
        return;
    }
    Fd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd || sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                      reinterpret_cast<sockaddr *>(&addr), len) < 0)
        Log::warn("NOTIFY_SOCKET %s: %s", name, strerror(errno));
}

/// Whether fd is what the Acceptor needs: a TCP socket that listens. A
/// systemd .socket unit can pass datagram or unix sockets too.
bool isListeningTcp(int fd, std::string &err)
{
    int type = 0, domain = 0, listening = 0;
    socklen_t len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) {
        err = std::string("LISTEN_FDS: fd 3: ") + strerror(errno);
        return false;
    }
    if (type != SOCK_STREAM || (domain != AF_INET && domain != AF_INET6) ||
        !listening) {
        err = "LISTEN_FDS: fd 3 is not a listening TCP socket";
        return false;
    }
    return true;
}

} // namespace

namespace Systemd
{

void ready()
{
    notify("READY=1");
}

void reloading()
{
    // systemd takes RELOADING=1 only with the time, in microseconds of
    // CLOCK_MONOTONIC, so that it can tell this reload from an older one.
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long usec = now.tv_sec * 1000000LL + now.tv_nsec / 1000;
    notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void stopping()
{
    notify("STOPPING=1");
}

Fd passedListener(std::string &addr, std::string &err)
{
    const char *pidText = getenv("LISTEN_PID");
    const char *fdsText = getenv("LISTEN_FDS");
    long long pid = 0, fds = 0;
    // LISTEN_PID guards against a variable inherited from a parent that
    // systemd started: the sockets are meant for one process only.
    bool forUs = pidText != nullptr && fdsText != nullptr &&
                 parseNumber(pidText, 1, INT_MAX, pid) && pid == getpid() &&
                 parseNumber(fdsText, 0, INT_MAX, fds) && fds > 0;
    // Not for the programs we start (sd_listen_fds(3) does the same).
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (!forUs)
        return Fd();
    if (fds != 1) {
        err = "LISTEN_FDS=" + std::to_string(fds) +
              ": the server serves on one socket";
        return Fd();
    }
    if (!isListeningTcp(kFirstPassedFd, err))
        return Fd();
    Fd fd(kFirstPassedFd);
    // systemd hands it over blocking and inheritable; the loop needs it
    // non-blocking, and no script should inherit it.
    int flags = fcntl(fd.get(), F_GETFL);
    if (flags < 0 || fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd.get(), F_SETFD, FD_CLOEXEC) < 0) {
        err = std::string("LISTEN_FDS: fd 3: ") + strerror(errno);
        return Fd();
    }
    sockaddr_storage sa = {};
    socklen_t len = sizeof sa;
    getsockname(fd.get(), reinterpret_cast<sockaddr *>(&sa), &len);
    addr = Socket::addressText(sa);
    return fd;
}

} // namespace Systemd

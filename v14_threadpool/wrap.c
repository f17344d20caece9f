/* wrap.c: the wrappers of wrap.h. The classic versions exit on every error,
 * including a client's reset, which ends the whole server; here only the
 * startup wrappers exit. log_error lives in log.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wrap.h"

void die(const char *fmt, ...)
{
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_error("%s", msg);
    exit(1);
}

static const char *addr_text(const struct sockaddr_in *addr)
{
    static char text[INET_ADDRSTRLEN + 8];
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr->sin_addr, ip, sizeof ip);
    snprintf(text, sizeof text, "%s:%d", ip, ntohs(addr->sin_port));
    return text;
}

int Socket(void)
{
    /* Close-on-exec: a CGI child started by any thread would otherwise
     * inherit this descriptor, and every other connection's. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    return fd;
}

/* Without SO_REUSEADDR a restarted server cannot bind for a minute or so
 * while its old connections sit in TIME_WAIT. */
void Setsockopt_reuseaddr(int fd)
{
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        die("setsockopt SO_REUSEADDR: %s", strerror(errno));
}

void Bind(int fd, const struct sockaddr_in *addr)
{
    if (bind(fd, (const struct sockaddr *)addr, sizeof *addr) < 0)
        die("bind %s: %s", addr_text(addr), strerror(errno));
}

void Listen(int fd, int backlog)
{
    if (listen(fd, backlog) < 0)
        die("listen: %s", strerror(errno));
}

void Connect(int fd, const struct sockaddr_in *addr)
{
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0)
        die("connect %s: %s", addr_text(addr), strerror(errno));
}

/* accept(2), RETURN VALUE: Linux reports errors of a connection that is already
 * gone (ECONNABORTED, EPROTO, the network errors below) from accept itself;
 * the listener is fine, so take the next connection. */
static int retry_accept_error(int err)
{
    switch (err) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETDOWN:
    case ENETUNREACH:
        return 1;
    default:
        return 0;
    }
}

int accept_retry(int listenfd, struct sockaddr_in *peer)
{
    for (;;) {
        socklen_t len = sizeof *peer;
        /* Non-blocking from birth: the event loop must never wait on it. */
        int fd = accept4(listenfd, (struct sockaddr *)peer, &len,
                         SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0 || !retry_accept_error(errno))
            return fd;
    }
}

ssize_t read_retry(int fd, void *buf, size_t n)
{
    ssize_t r;
    do
        r = read(fd, buf, n);
    while (r < 0 && errno == EINTR);
    return r;
}

ssize_t readn(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read_retry(fd, (char *)buf + got, n - got);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

ssize_t writen(int fd, const void *buf, size_t n)
{
    size_t sent = 0;
    while (sent < n) {
        ssize_t w = write(fd, (const char *)buf + sent, n - sent);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        sent += (size_t)w;
    }
    return (ssize_t)sent;
}

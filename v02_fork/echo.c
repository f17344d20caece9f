/* echo.c: the echo protocol. Read whatever has arrived, turn ASCII a-z into
 * A-Z, write it all back; stop when the client half-closes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "echo.h"

/* One read's worth. Any size works: a TCP stream has no message units. */
#define ECHO_CHUNK 16384

/* toupper() follows the locale; the protocol wants ASCII a-z only, and every
 * other byte (NUL, >= 0x80) unchanged. */
static void upcase_ascii(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] >= 'a' && p[i] <= 'z')
            p[i] = (char)(p[i] - 'a' + 'A');
}

/* write() may accept fewer bytes than asked (a short count) when the socket
 * buffer fills: loop until all of it is gone. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void serve_echo(int fd)
{
    char buf[ECHO_CHUNK];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return; /* the client half-closed, and all it sent is echoed */
        if (n < 0) {
            fprintf(stderr, "server: read: %s\n", strerror(errno));
            return;
        }
        upcase_ascii(buf, (size_t)n);
        if (write_all(fd, buf, (size_t)n) < 0) {
            fprintf(stderr, "server: write: %s\n", strerror(errno));
            return;
        }
    }
}

/* echo.c: the echo protocol. Read whatever has arrived, turn ASCII a-z into
 * A-Z, write it all back; stop when the client half-closes. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "echo.h"
#include "wrap.h"

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

void serve_echo(int fd)
{
    char buf[ECHO_CHUNK];
    for (;;) {
        ssize_t n = read_retry(fd, buf, sizeof buf);
        if (n == 0)
            return; /* the client half-closed, and all it sent is echoed */
        if (n < 0) {
            log_error("read: %s", strerror(errno));
            return;
        }
        upcase_ascii(buf, (size_t)n);
        if (writen(fd, buf, (size_t)n) < 0) {
            log_error("write: %s", strerror(errno));
            return;
        }
    }
}

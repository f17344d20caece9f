/* client.c: the echo client. Sends each line of stdin to the server and
 * prints the reply, which has the same length as what was sent. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wrap.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: client [-b ADDR] [-p PORT] [-h]\n");
}

static int connect_to(const char *host, int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        log_error("bad IPv4 address '%s'", host);
        exit(2);
    }
    int fd = Socket();
    Connect(fd, &addr);
    return fd;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 8080;
    int opt;
    while ((opt = getopt(argc, argv, "b:p:h")) != -1) {
        switch (opt) {
        case 'b':
            host = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }

    int fd = connect_to(host, port);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (writen(fd, line, (size_t)len) < 0)
            die("write: %s", strerror(errno));
        /* The reply overwrites the line: we no longer need what we sent. */
        ssize_t got = readn(fd, line, (size_t)len);
        if (got < 0)
            die("read: %s", strerror(errno));
        if (got != len)
            die("the server closed the connection");
        fwrite(line, 1, (size_t)len, stdout);
        fflush(stdout);
    }
    free(line);
    close(fd);
    return 0;
}

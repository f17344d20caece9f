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

static void usage(FILE *out)
{
    fprintf(out, "usage: client [-b ADDR] [-p PORT] [-h]\n");
}

static void die(const char *what)
{
    fprintf(stderr, "client: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* write() may take fewer bytes than asked: loop until all are sent. */
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

/* read() returns what has arrived, which may be part of the reply: loop until
 * n bytes are in. Returns 0, or -1 on error or if the server closed first. */
static int read_exact(int fd, char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int connect_to(const char *host, int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "client: bad IPv4 address '%s'\n", host);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("connect");
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
        if (write_all(fd, line, (size_t)len) < 0)
            die("write");
        /* The reply overwrites the line: we no longer need what we sent. */
        if (read_exact(fd, line, (size_t)len) < 0) {
            fprintf(stderr, "client: the server closed the connection\n");
            return 1;
        }
        fwrite(line, 1, (size_t)len, stdout);
        fflush(stdout);
    }
    free(line);
    close(fd);
    return 0;
}

/* server.c: an echo server with a process per client.
 * The parent accepts and forks; the child serves that one client and exits.
 * A SIGCHLD handler reaps finished children so none is left a zombie. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "echo.h"

#define LISTEN_BACKLOG 128 /* connections the kernel queues before accept */

static void usage(FILE *out)
{
    fprintf(out, "usage: server [-b ADDR] [-p PORT] [-h]\n");
}

static void usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "server: %s '%s'\n", what, arg);
    usage(stderr);
    exit(2);
}

static int parse_port(const char *s)
{
    char *end;
    errno = 0;
    long port = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || port < 0 || port > 65535)
        usage_error("bad port", s);
    return (int)port;
}

/* Fills cfg from the command line; exits 0 after -h, 2 on a usage error. */
static void parse_args(int argc, char **argv, struct config *cfg)
{
    struct in_addr unused;
    int opt;
    opterr = 0; /* we print our own one-line message, not getopt's */
    while ((opt = getopt(argc, argv, "b:p:h")) != -1) {
        switch (opt) {
        case 'b':
            if (inet_pton(AF_INET, optarg, &unused) != 1)
                usage_error("bad IPv4 address", optarg);
            cfg->addr = optarg;
            break;
        case 'p':
            cfg->port = parse_port(optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "server: unknown option or missing value: -%c\n",
                    optopt);
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument", argv[optind]);
}

static void die(const char *what, const struct config *cfg)
{
    fprintf(stderr, "server: %s %s:%d: %s\n", what, cfg->addr, cfg->port,
            strerror(errno));
    exit(1);
}

/* Returns a socket listening on cfg's address, after printing the ready line
 * with the port actually bound (the kernel picks one for -p 0). */
static int open_listener(const struct config *cfg)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)cfg->port)};
    inet_pton(AF_INET, cfg->addr, &addr.sin_addr);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket", cfg);
    /* Without SO_REUSEADDR a restarted server cannot bind for a minute or so
     * while its old connections sit in TIME_WAIT. */
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        die("setsockopt", cfg);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("bind", cfg);
    if (listen(fd, LISTEN_BACKLOG) < 0)
        die("listen", cfg);

    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        die("getsockname", cfg);
    printf("listening on %s:%d\n", cfg->addr, ntohs(addr.sin_port));
    fflush(stdout); /* stdout is a pipe under a test: flush, or it waits */
    return fd;
}

/* Reaps every child that has finished. Signals do not queue: one SIGCHLD may
 * stand for several exits, so loop until waitpid finds no more. waitpid may
 * change errno, which the interrupted code could be about to read. */
static void reap_children(int sig)
{
    (void)sig;
    int saved_errno = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    errno = saved_errno;
}

/* No SA_RESTART: accept() returns EINTR when a child exits, and the loop says
 * so explicitly instead of relying on the kernel to restart it. */
static void install_reaper(void)
{
    struct sigaction sa = {.sa_handler = reap_children};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGCHLD, &sa, NULL) < 0) {
        fprintf(stderr, "server: sigaction SIGCHLD: %s\n", strerror(errno));
        exit(1);
    }
}

/* The child serves one client and exits; the parent only drops its copy of
 * the connection. Each process closes the descriptor it does not use: a
 * forgotten parent copy keeps the connection open after the child is done. */
static void fork_client(int listenfd, int connfd)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "server: fork: %s\n", strerror(errno));
    } else if (pid == 0) {
        close(listenfd);
        serve_echo(connfd);
        close(connfd);
        _exit(0);
    }
    close(connfd);
}

int main(int argc, char **argv)
{
    struct config cfg = CONFIG_DEFAULTS;
    parse_args(argc, argv, &cfg);

    /* A client that leaves without reading its reply turns our next write
     * into SIGPIPE, whose default action kills the whole server. Ignored, the
     * write fails with EPIPE and only that connection ends. */
    signal(SIGPIPE, SIG_IGN);
    /* SIGHUP's default action ends the process too, and a terminal that
     * closes or an operator's kill -HUP is no reason to stop serving: ignored
     * (v12 gives it a meaning: reopen the logs). */
    signal(SIGHUP, SIG_IGN);
    install_reaper();

    int listenfd = open_listener(&cfg);
    for (;;) {
        int connfd = accept(listenfd, NULL, NULL);
        if (connfd < 0) {
            if (errno != EINTR) /* EINTR: a child exited, nothing is wrong */
                fprintf(stderr, "server: accept: %s\n", strerror(errno));
            continue;
        }
        fork_client(listenfd, connfd);
    }
}

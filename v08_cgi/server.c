/* server.c: an HTTP server for static files and CGI scripts, a thread per
 * connection; it can run as a daemon. The main thread accepts; each client
 * gets a detached thread that reads one request, answers it and closes. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cgi.h"
#include "config.h"
#include "daemon.h"
#include "static.h"
#include "conn.h"
#include "wrap.h"

#define LISTEN_BACKLOG 128 /* connections the kernel queues before accept */

static void usage(FILE *out)
{
    fprintf(out, "usage: server [-b ADDR] [-p PORT] [-d] [-P PIDFILE] "
                 "[-r DOCROOT] [-x PHP_CGI] [-T SECONDS] [-h]\n");
}

static void usage_error(const char *what, const char *arg)
{
    log_error("%s '%s'", what, arg);
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

static int parse_seconds(const char *s)
{
    char *end;
    errno = 0;
    long seconds = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || seconds < 1 ||
        seconds > 86400)
        usage_error("bad number of seconds", s);
    return (int)seconds;
}

/* Fills cfg from the command line; exits 0 after -h, 2 on a usage error. */
static void parse_args(int argc, char **argv, struct config *cfg)
{
    struct in_addr unused;
    int opt;
    opterr = 0; /* we print our own one-line message, not getopt's */
    while ((opt = getopt(argc, argv, "b:p:dP:r:x:T:h")) != -1) {
        switch (opt) {
        case 'b':
            if (inet_pton(AF_INET, optarg, &unused) != 1)
                usage_error("bad IPv4 address", optarg);
            cfg->addr = optarg;
            break;
        case 'p':
            cfg->port = parse_port(optarg);
            break;
        case 'd':
            cfg->daemonize = true;
            break;
        case 'P':
            cfg->pidfile = optarg;
            break;
        case 'r':
            cfg->root = optarg;
            break;
        case 'x':
            cfg->php_cgi = optarg;
            break;
        case 'T':
            cfg->cgi_timeout = parse_seconds(optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            log_error("unknown option or missing value: -%c", optopt);
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument", argv[optind]);
}

/* Returns a socket listening on cfg's address, after printing the ready line
 * with the port actually bound (the kernel picks one for -p 0), which goes
 * into cfg for CGI's SERVER_PORT. */
static int open_listener(struct config *cfg)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)cfg->port)};
    inet_pton(AF_INET, cfg->addr, &addr.sin_addr);

    int fd = Socket();
    Setsockopt_reuseaddr(fd);
    Bind(fd, &addr);
    Listen(fd, LISTEN_BACKLOG);

    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        die("getsockname: %s", strerror(errno));
    cfg->port = ntohs(addr.sin_port);
    printf("listening on %s:%d\n", cfg->addr, cfg->port);
    fflush(stdout); /* stdout is a pipe under a test: flush, or it waits */
    return fd;
}

static void *client_thread(void *arg)
{
    struct client *client = arg;
    conn_serve(client);
    free(client);
    return NULL;
}

/* Starts a detached thread for the client: nobody joins it, so the system
 * takes its resources back as soon as it returns. */
static void spawn_client(int connfd, const struct sockaddr_in *peer,
                         const struct config *cfg)
{
    struct client *client = malloc(sizeof *client);
    if (client == NULL) {
        log_error("no memory for a client");
        close(connfd);
        return;
    }
    client->fd = connfd;
    client->peer = *peer;
    client->cfg = cfg;
    pthread_t tid;
    int err = pthread_create(&tid, NULL, client_thread, client);
    if (err != 0) { /* pthread calls return the error, not errno */
        log_error("pthread_create: %s", strerror(err));
        close(connfd);
        free(client);
        return;
    }
    pthread_detach(tid);
}

/* Out of descriptors (EMFILE, ENFILE) or memory, accept fails at once each
 * time it is called: log, and give connections a moment to close rather
 * than spin. */
static void pause_after_accept_error(void)
{
    log_error("accept: %s", strerror(errno));
    struct timespec pause = {.tv_nsec = 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
}

static volatile sig_atomic_t stop_requested;

static void request_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* SIGTERM and SIGINT stay blocked everywhere (client threads inherit the
 * mask) except inside ppoll in the accept loop. Returns the mask ppoll uses. */
static sigset_t block_stop_signals(void)
{
    struct sigaction sa = {.sa_handler = request_stop};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
        die("sigaction: %s", strerror(errno));

    sigset_t stop, unblocked;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, &unblocked);
    return unblocked;
}

/* Waits for a connection or a stop signal. ppoll unblocks the signals and
 * sleeps in one atomic step: testing the flag and then calling accept() would
 * let a signal land in between and leave us blocked in accept for good.
 * Returns 1 when a connection is waiting, 0 when interrupted. */
static int wait_for_client(int listenfd, const sigset_t *unblocked)
{
    struct pollfd pfd = {.fd = listenfd, .events = POLLIN};
    if (ppoll(&pfd, 1, NULL, unblocked) < 0) {
        if (errno != EINTR)
            log_error("ppoll: %s", strerror(errno));
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    /* Static, not on main's stack: each client's thread reads it through
     * its pointer, and threads still serving when main returns run on
     * while exit() does its work, after main's frame is gone and its
     * memory reused (the chaos test saw 404s and 413s at SIGTERM). */
    static struct config cfg = CONFIG_DEFAULTS;
    parse_args(argc, argv, &cfg);

    /* A client that leaves without reading its reply turns our next write
     * into SIGPIPE, whose default action kills the whole server. Ignored, the
     * write fails with EPIPE and only that connection ends. */
    signal(SIGPIPE, SIG_IGN);
    /* SIGHUP's default action ends the process too, and a terminal that
     * closes or an operator's kill -HUP is no reason to stop serving: ignored
     * (v12 gives it a meaning: reopen the logs). */
    signal(SIGHUP, SIG_IGN);
    /* Buffers past 128 KiB (a script's output) are mapped and unmapped, so
     * that the memory they free goes back to the system at once. Left to
     * itself, glibc raises this threshold as big buffers are freed, up to
     * 32 MiB, and keeps the memory freed below it for its own reuse. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    sigset_t unblocked = block_stop_signals();

    /* Opened before daemonize changes directory, so a relative -r works. */
    char err[512];
    if ((cfg.root_fd = static_open_root(cfg.root, err, sizeof err)) < 0) {
        log_error("%s", err);
        return 2;
    }
    /* Scripts are started by absolute path: a daemon's directory is "/". */
    if ((cfg.root = realpath(cfg.root, NULL)) == NULL) {
        log_error("document root: %s", strerror(errno));
        return 2;
    }
    const char *php_name = cfg.php_cgi;
    if ((cfg.php_cgi = cgi_find_program(php_name)) == NULL)
        log_error("php-cgi %s not found: .php requests will get 502", php_name);
    if (cfg.pidfile != NULL)
        pidfile_lock(cfg.pidfile);
    if (cfg.daemonize)
        daemonize();
    if (cfg.pidfile != NULL)
        pidfile_write();
    int listenfd = open_listener(&cfg);
    /* Non-blocking: if the waiting connection goes away between ppoll and
     * accept, accept says EAGAIN instead of blocking with the stop signals
     * blocked. */
    if (fcntl(listenfd, F_SETFL, O_NONBLOCK) < 0)
        die("fcntl: %s", strerror(errno));
    if (cfg.daemonize)
        daemon_ready();

    while (!stop_requested) {
        if (!wait_for_client(listenfd, &unblocked))
            continue;
        struct sockaddr_in peer;
        int connfd = accept_retry(listenfd, &peer);
        if (connfd < 0) {
            if (errno != EAGAIN) /* EAGAIN: it left between ppoll and here */
                pause_after_accept_error();
            continue;
        }
        spawn_client(connfd, &peer, &cfg);
    }
    /* Each script runs in a process group of its own, which our exit would
     * leave running: new clients are refused, and the scripts that run are
     * waited for, at most cgi_timeout, before the process ends. */
    close(listenfd);
    cgi_stop_scripts();
    return 0; /* exit() removes the pidfile (daemon.c) */
}

/* echo_load.c: the load client for the echo stages (v01-v05). CONNS clients
 * at once, each in a loop: connect, ROUNDS round trips of SIZE bytes (send
 * lowercase, expect the same bytes uppercased) with a think time of THINK_US
 * between a reply and the next message, half-close, wait for the server's
 * close, and start again. One thread, non-blocking sockets, epoll.
 * Stops by itself after SECONDS and prints one line of key=value results.
 *
 * Why sessions rather than connections held open: a real echo client comes
 * and goes, so the cost of a fork (v02, v03) or a thread (v04, v05) per
 * client is part of what is measured; and a one-client-at-a-time server
 * (v01) shows what it does to everyone else: "longest_wait_us". The think
 * time (1 ms unless -t says otherwise) stands for a client that does
 * something with each answer: while it thinks, v01 can serve nobody else. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS   10000
#define MAX_SIZE    65536
#define MAX_SAMPLES (8u << 20) /* latencies kept for percentiles: 32 MiB */

enum state { CONNECTING, SENDING, RECEIVING, THINKING, CLOSING };

struct conn {
    int fd;
    enum state state;
    int rounds_done;
    size_t sent, got;
    double started; /* this round trip's start (the connect, for the first) */
    double wake;    /* THINKING: when to send the next message */
};

static struct sockaddr_in server;
static int epfd, rounds_per_session = 10;
static double think = 0.001; /* seconds between a reply and the next send */
static size_t size = 64;
static char request[MAX_SIZE], expected[MAX_SIZE];

static unsigned long long round_trips, sessions, errors, bad_replies;
static float *samples;
static unsigned nsamples;
static double longest_wait;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void watch(struct conn *c, int op, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0) {
        perror("echo_load: epoll_ctl");
        exit(1);
    }
}

/* Opens a new session on c: a non-blocking connect that epoll reports. */
static void start_session(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        perror("echo_load: socket");
        exit(1);
    }
    int one = 1; /* a 64-byte write must not wait for the previous ACK */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = CONNECTING;
    c->rounds_done = 0;
    c->sent = c->got = 0;
    c->started = now();
    int r = connect(c->fd, (struct sockaddr *)&server, sizeof server);
    if (r < 0 && errno != EINPROGRESS) {
        errors++;
        close(c->fd);
        c->fd = -1; /* retried on the next tick of the main loop */
        return;
    }
    watch(c, EPOLL_CTL_ADD, EPOLLOUT);
}

static void end_session(struct conn *c, int failed)
{
    if (failed)
        errors++;
    else
        sessions++;
    close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
}

static void record(double seconds)
{
    if (nsamples < MAX_SAMPLES)
        samples[nsamples++] = (float)(seconds * 1e6);
    if (seconds > longest_wait)
        longest_wait = seconds;
}

/* Moves c along as far as its socket allows. */
static void step(struct conn *c)
{
    for (;;) {
        switch (c->state) {
        case CONNECTING: {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                end_session(c, 1);
                return;
            }
            c->state = SENDING;
            break;
        }
        case SENDING: {
            ssize_t n = write(c->fd, request + c->sent, size - c->sent);
            if (n < 0 && errno == EAGAIN) {
                watch(c, EPOLL_CTL_MOD, EPOLLOUT);
                return;
            }
            if (n < 0) {
                end_session(c, 1);
                return;
            }
            c->sent += (size_t)n;
            if (c->sent == size) {
                c->state = RECEIVING;
                watch(c, EPOLL_CTL_MOD, EPOLLIN);
            }
            break;
        }
        case RECEIVING: {
            char reply[MAX_SIZE];
            ssize_t n = read(c->fd, reply, size - c->got);
            if (n < 0 && errno == EAGAIN)
                return;
            if (n <= 0) {
                end_session(c, 1);
                return;
            }
            if (memcmp(reply, expected + c->got, (size_t)n) != 0)
                bad_replies++;
            c->got += (size_t)n;
            if (c->got < size)
                break;
            double t = now();
            record(t - c->started);
            round_trips++;
            c->sent = c->got = 0;
            if (++c->rounds_done < rounds_per_session) {
                c->state = THINKING;
                c->wake = t + think;
                return; /* the main loop wakes it */
            } else {
                shutdown(c->fd, SHUT_WR);
                c->state = CLOSING;
            }
            break;
        }
        case THINKING:
            c->state = SENDING;
            c->started = now();
            break;
        case CLOSING: {
            char extra[256];
            ssize_t n = read(c->fd, extra, sizeof extra);
            if (n < 0 && errno == EAGAIN)
                return;
            if (n > 0) {
                bad_replies++; /* more bytes than were sent */
                continue;
            }
            end_session(c, n < 0);
            return;
        }
        }
    }
}

static int by_value(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double percentile(double p)
{
    if (nsamples == 0)
        return 0;
    return samples[(unsigned)(p * (nsamples - 1))];
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0, nconns = 1;
    double seconds = 1;
    int opt;
    while ((opt = getopt(argc, argv, "b:p:c:d:n:s:t:")) != -1) {
        switch (opt) {
        case 'b': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'n': rounds_per_session = atoi(optarg); break;
        case 's': size = (size_t)atol(optarg); break;
        case 't': think = atof(optarg) / 1e6; break;
        default:
            fprintf(stderr, "usage: echo_load [-b ADDR] -p PORT [-c CONNS] "
                            "[-d SECONDS] [-n ROUNDS] [-s SIZE] "
                            "[-t THINK_US]\n");
            return 2;
        }
    }
    if (port <= 0 || nconns < 1 || nconns > MAX_CONNS || seconds <= 0 ||
        seconds > 600 || rounds_per_session < 1 || size < 1 ||
        size > MAX_SIZE || think < 0 || think > 1) {
        fprintf(stderr, "echo_load: bad arguments\n");
        return 2;
    }
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1) {
        fprintf(stderr, "echo_load: bad IPv4 address '%s'\n", host);
        return 2;
    }
    for (size_t i = 0; i < size; i++) {
        request[i] = (char)('a' + i % 26);
        expected[i] = (char)('A' + i % 26);
    }
    samples = malloc(MAX_SAMPLES * sizeof *samples);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    epfd = epoll_create1(0);
    if (samples == NULL || conns == NULL || epfd < 0) {
        perror("echo_load: setup");
        return 1;
    }

    double start = now(), deadline = start + seconds;
    for (int i = 0; i < nconns; i++)
        start_session(&conns[i]);
    struct epoll_event events[256];
    double t;
    while ((t = now()) < deadline) {
        double next = deadline;
        for (int i = 0; i < nconns; i++) {
            struct conn *c = &conns[i];
            if (c->fd < 0)
                start_session(c);
            else if (c->state == THINKING && c->wake <= t)
                step(c);
            if (c->fd >= 0 && c->state == THINKING && c->wake < next)
                next = c->wake;
        }
        /* epoll_pwait2: a timeout in nanoseconds, for a think time of
         * about a millisecond that epoll_wait would round up. */
        double wait = next - now();
        if (wait < 0)
            wait = 0;
        struct timespec timeout = {
            .tv_sec = (time_t)wait,
            .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9)};
        int n = epoll_pwait2(epfd, events, 256, &timeout, NULL);
        if (n < 0 && errno != EINTR) {
            perror("echo_load: epoll_pwait2");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->state != THINKING)
                step(c);
        }
    }
    double elapsed = now() - start;

    /* Round trips still unanswered at the end waited at least this long:
     * under v01, the clients queued behind the one being served. */
    int waiting = 0;
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if (c->fd >= 0 && c->state != CLOSING && c->state != THINKING) {
            waiting++;
            if (t - c->started > longest_wait)
                longest_wait = t - c->started;
        }
    }
    qsort(samples, nsamples, sizeof *samples, by_value);
    printf("round_trips=%llu sessions=%llu errors=%llu bad_replies=%llu "
           "elapsed=%.3f p50_us=%.1f p99_us=%.1f longest_wait_us=%.0f "
           "waiting_at_end=%d\n",
           round_trips, sessions, errors, bad_replies, elapsed,
           percentile(0.50), percentile(0.99), longest_wait * 1e6, waiting);
    return 0;
}

/* conn.c: one connection as a state machine in the event loop. Nothing here
 * blocks: a read takes what has arrived, a write or sendfile sends what the
 * socket takes, and EAGAIN means "wait for the loop to say it is ready".
 *
 *   READING --whole request--> WRITING --all sent--> READING (keep-alive)
 *      \--a script--> WORKING --/        \--close----> LINGERING --> freed
 *
 * WORKING: a worker thread owns the connection. The loop neither watches
 * its socket nor runs its timer until the worker posts it back, so no two
 * threads ever touch one connection.
 *
 * http.c, static.c and cgi.c are the same files as in the thread stages. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "http.h"
#include "cgi.h"
#include "log.h"

#define READ_CHUNK 16384
#define LINGER_MS 1000 /* how long a closing connection may still send */
#define LINGER_BYTES 65536 /* and how much of it we read and drop */

enum conn_state { READING, WORKING, WRITING, LINGERING, CLOSED };

struct conn {
    struct watch watch;
    struct timer timer; /* idle deadline, or the end of lingering */
    struct loop *loop;
    struct pool *pool;
    const struct config *cfg;
    enum conn_state state;
    struct buf in; /* requests read, not yet answered */
    struct buf out; /* the response's head and bytes body */
    size_t out_sent; /* how much of out the socket has taken */
    struct request req; /* the request being answered */
    struct response resp; /* its answer; a file part goes by sendfile */
    off_t file_sent; /* how much of resp's file has gone */
    size_t request_length; /* bytes of in the request takes */
    size_t lingered; /* bytes read and dropped while lingering */
    int served; /* requests answered on this connection */
    bool continued; /* this request's Expect: 100-continue is answered */
    bool body_unread; /* answered without the body its client held back */
    bool keep; /* stay open after this response */
};

static void conn_free(struct loop *loop, struct conn *c)
{
    loop_timer_stop(loop, &c->timer);
    loop_unwatch(loop, &c->watch);
    close(c->watch.fd);
    buf_free(&c->in);
    buf_free(&c->out);
    http_response_free(&c->resp);
    free(c);
}

static void on_timeout(struct loop *loop, void *data)
{
    conn_free(loop, data); /* idle too long, or done lingering */
}

/* Closing a socket whose receive queue holds data sends a reset that can
 * destroy our last response before the client reads it. So: send our FIN,
 * then read and drop what still comes, for a moment, before closing. */
static void start_lingering(struct loop *loop, struct conn *c)
{
    shutdown(c->watch.fd, SHUT_WR);
    c->state = LINGERING;
    loop_rewatch(loop, &c->watch, EPOLLIN);
    loop_timer_start(loop, &c->timer, LINGER_MS);
}

static void linger(struct conn *c)
{
    char sink[4096];
    ssize_t n = read(c->watch.fd, sink, sizeof sink);
    if (n > 0)
        c->lingered += (size_t)n;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
        c->lingered > LINGER_BYTES)
        c->state = CLOSED;
}

/* Whether the connection stays open after this response (as in v09). */
static bool keep_open(const struct conn *c, int status)
{
    return status == 0 && !c->body_unread && http_keep_alive(&c->req) &&
           c->served + 1 < c->cfg->keepalive_requests;
}

/* Formats c->resp into out (head, and a bytes body) and turns to
 * WRITING. status is 0 for an answered request, else the parser's error. */
static void prepare_output(struct conn *c, int status)
{
    c->resp.head_only = http_method_is(&c->req, "HEAD");
    c->keep = keep_open(c, status);
    if (!c->keep)
        c->resp.connection = "close";
    else if (c->req.minor_version == 0)
        c->resp.connection = "keep-alive";
    c->out.len = 0;
    c->out_sent = 0;
    c->file_sent = 0;
    http_format_head(&c->resp, &c->out);
    if (!c->resp.head_only)
        buf_append(&c->out, c->resp.body.data, c->resp.body.len);
    c->state = WRITING;
}

/* Answers the request, or the error status the parser found. */
static void start_response(struct conn *c, int status)
{
    http_response_init(&c->resp);
    if (status == 0)
        http_handle(c->cfg, &c->req, &c->resp);
    else
        http_error(&c->resp, status);
    prepare_output(c, status);
}

static void drive(struct loop *loop, struct conn *c);

/* Back on the loop's thread: the worker has filled c->resp. */
static void worker_done(struct loop *loop, void *data)
{
    struct conn *c = data;
    prepare_output(c, 0);
    if (loop_watch(loop, &c->watch, EPOLLIN) < 0)
        c->state = CLOSED;
    else
        drive(loop, c);
    if (c->state == CLOSED)
        conn_free(loop, c);
}

/* On a worker thread: the script may take seconds. */
static void run_on_worker(void *data)
{
    struct conn *c = data;
    http_handle(c->cfg, &c->req, &c->resp);
    loop_post(c->loop, worker_done, c);
}

/* Gives the connection to a worker, or answers 503 when the queue is full
 * (shedding load beats a queue that grows without bound). */
static void hand_off(struct conn *c)
{
    http_response_init(&c->resp);
    loop_unwatch(c->loop, &c->watch);
    loop_timer_stop(c->loop, &c->timer);
    c->state = WORKING;
    if (pool_submit(c->pool, run_on_worker, c) == 0)
        return;
    http_error(&c->resp, 503);
    prepare_output(c, 0);
    if (loop_watch(c->loop, &c->watch, EPOLLIN) < 0)
        c->state = CLOSED;
}

/* The go-ahead to a client that holds its body back. The socket takes these
 * few bytes unless the client has stopped reading our answers: then it goes.
 */
static void send_continue(struct conn *c)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (write(c->watch.fd, line, sizeof line - 1) != (ssize_t)(sizeof line - 1))
        c->state = CLOSED;
}

/* Looks for a whole request in the input: leaves the state READING when
 * more bytes are needed, otherwise starts the response. */
static void answer_next_request(struct conn *c)
{
    long head = http_parse_request(c->in.data, c->in.len, &c->req);
    if (head == HTTP_AGAIN)
        return;
    if (head == HTTP_ERROR) {
        start_response(c, c->req.status);
        return;
    }
    /* Refused before reading it: the body never enters memory. */
    if (c->req.content_length > c->cfg->max_body) {
        start_response(c, 413);
        return;
    }
    /* A client that sent Expect: 100-continue holds its body back until we
     * answer (RFC 9110 section 10.1.1): 100 Continue, once, if the route
     * reads the body; else the final answer at once, without the body, and
     * the connection closes after it. */
    if (c->req.expects_continue && !c->continued) {
        c->continued = true;
        c->body_unread = !http_reads_body(c->cfg, &c->req);
        if (!c->body_unread)
            send_continue(c);
    }
    size_t body = c->body_unread ? 0 : (size_t)c->req.content_length;
    size_t total = (size_t)head + body;
    if (c->state == CLOSED || c->in.len < total)
        return; /* the body is still on its way */
    c->req.body = (struct slice){c->in.data + head, body};
    c->request_length = total;
    if (cgi_wants(c->cfg, &c->req))
        hand_off(c);
    else
        start_response(c, 0);
}

/* The response is out: log it, then either wait for the next request (it
 * may already be in the buffer: pipelining) or close. */
static void finish_response(struct loop *loop, struct conn *c)
{
    long long body = c->resp.head_only      ? 0
                     : c->resp.file_fd >= 0 ? (long long)c->resp.file_size
                                            : (long long)c->resp.body.len;
    log_access(&c->req, &c->resp, body);
    http_response_free(&c->resp);
    buf_free(&c->out); /* an idle connection holds no output buffer */
    if (!c->keep) {
        start_lingering(loop, c);
        return;
    }
    buf_consume(&c->in, c->request_length);
    c->continued = false;
    if (c->in.len == 0)
        buf_free(&c->in); /* nor an input buffer, unless it is pipelining */
    c->served++;
    c->state = READING;
    loop_rewatch(loop, &c->watch, EPOLLIN);
    loop_timer_start(loop, &c->timer, c->cfg->keepalive_timeout * 1000LL);
}

/* Sends what the socket takes. Returns 1 when all is sent, 0 when the
 * socket is full (EAGAIN: wait for EPOLLOUT), -1 when the connection failed. */
static int send_some(struct conn *c)
{
    while (c->out_sent < c->out.len) {
        ssize_t n = write(c->watch.fd, c->out.data + c->out_sent,
                          c->out.len - c->out_sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_sent += (size_t)n;
    }
    if (c->resp.head_only || c->resp.file_fd < 0)
        return 1;
    /* sendfile on a non-blocking socket sends what fits and says how much;
     * file_sent is the offset it resumes from. */
    while (c->file_sent < c->resp.file_size) {
        ssize_t n = sendfile(c->watch.fd, c->resp.file_fd, &c->file_sent,
                             (size_t)(c->resp.file_size - c->file_sent));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        if (n == 0)
            return -1; /* the file shrank while we sent it */
    }
    return 1;
}

/* Reads what has arrived. The buffer's cap is the largest request (head
 * plus body) we accept, and the parser refuses a longer head first. */
static void read_input(struct loop *loop, struct conn *c)
{
    size_t room = c->in.max - c->in.len;
    if (room > READ_CHUNK)
        room = READ_CHUNK;
    if (room == 0 || buf_reserve(&c->in, room) < 0) {
        c->state = CLOSED;
        return;
    }
    ssize_t n = read(c->watch.fd, c->in.data + c->in.len, room);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    /* End of file: the client sends nothing more, and every whole request
     * it sent has been answered. It may still be reading (a half-close),
     * but nothing is owed to it now. Or an error. Either way, close. */
    if (n <= 0) {
        c->state = CLOSED;
        return;
    }
    c->in.len += (size_t)n;
    loop_timer_start(loop, &c->timer, c->cfg->keepalive_timeout * 1000LL);
}

/* Answers requests as long as the socket takes the answers at once, so a
 * batch of pipelined requests costs one wake-up. A loop, not recursion:
 * a buffer can hold thousands of small requests. */
static void drive(struct loop *loop, struct conn *c)
{
    for (;;) {
        if (c->state == READING)
            answer_next_request(c);
        if (c->state != WRITING)
            return; /* READING: the rest of a request is still to come */
        int sent = send_some(c);
        if (sent < 0) {
            c->state = CLOSED;
            return;
        }
        if (sent == 0) { /* full: EPOLLOUT says when to go on */
            loop_rewatch(loop, &c->watch, EPOLLOUT);
            loop_timer_start(loop, &c->timer,
                             c->cfg->keepalive_timeout * 1000LL);
            return;
        }
        finish_response(loop, c);
    }
}

static void on_event(struct loop *loop, uint32_t events, void *data)
{
    struct conn *c = data;
    if (c->state == READING && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        read_input(loop, c);
    else if (c->state == LINGERING)
        linger(c);
    if (c->state == READING || c->state == WRITING)
        drive(loop, c);
    if (c->state == CLOSED)
        conn_free(loop, c);
}

void conn_open(struct loop *loop, struct pool *pool, int fd,
               const struct sockaddr_in *peer, const struct config *cfg)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        log_error("no memory for a connection");
        close(fd);
        return;
    }
    c->loop = loop;
    c->pool = pool;
    c->cfg = cfg;
    c->state = READING;
    /* A file's response leaves in two writes, head then sendfile. Nagle's
     * algorithm holds the second until the first is acknowledged, and the
     * client delays that acknowledgement (by up to 40 ms) hoping to
     * piggyback it: every response would wait. TCP_NODELAY sends each
     * write at once. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->watch = (struct watch){.fd = fd, .fn = on_event, .data = c};
    /* Room for the largest request we take, and one byte more: the parser
     * tells a head past its limit (414, 431) by that byte, which must fit
     * even when no body may follow. */
    buf_init(&c->in, MAX_HEAD_BYTES + 1 + (size_t)cfg->max_body);
    http_response_init(&c->resp);
    buf_init(&c->out, c->resp.body.max + MAX_HEAD_BYTES * 2);
    inet_ntop(AF_INET, &peer->sin_addr, c->req.remote_addr,
              sizeof c->req.remote_addr);
    loop_timer_init(&c->timer, on_timeout, c);
    if (loop_watch(loop, &c->watch, EPOLLIN) < 0) {
        log_error("epoll_ctl: %s", strerror(errno));
        conn_free(loop, c);
        return;
    }
    loop_timer_start(loop, &c->timer, cfg->keepalive_timeout * 1000LL);
}

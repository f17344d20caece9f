/* conn.c: one connection's bytes. Read into a bounded buffer until the parser
 * sees a whole request, read its body, send the response, close. The parser
 * never sees the socket, and this file never looks inside a request. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "conn.h"
#include "http.h"
#include "wrap.h"

#define READ_CHUNK 16384
#define IO_TIMEOUT_SECONDS 30 /* a silent client must not hold a thread */
#define LINGER_BYTES 65536 /* read at most this much after answering */
#define CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* A blocked read or write gives up after the timeout (EAGAIN), so a client
 * that never sends, or never reads, cannot keep its thread forever. */
static void set_io_timeouts(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Reads what has arrived, at most up to the buffer's cap. Returns the count,
 * 0 when the client closed, -1 on error or timeout. */
static ssize_t read_more(int fd, struct buf *in)
{
    size_t room = in->max - in->len;
    if (room > READ_CHUNK)
        room = READ_CHUNK;
    if (buf_reserve(in, room) < 0)
        return -1;
    ssize_t n = read_retry(fd, in->data + in->len, room);
    if (n > 0)
        in->len += (size_t)n;
    return n;
}

/* Reads one whole request (head and body) into in. Returns 0 when req is
 * ready, 1 when req->status holds an error to answer, 2 when req is to be
 * answered without its body (see below), -1 when the client left or failed
 * and there is nobody to answer. */
static int read_request(int fd, struct buf *in, struct request *req,
                        const struct config *cfg)
{
    long head;
    while ((head = http_parse_request(in->data, in->len, req)) == HTTP_AGAIN)
        if (read_more(fd, in) <= 0)
            return -1;
    if (head == HTTP_ERROR)
        return 1;
    /* Refused before reading it: the body never enters memory. */
    if (req->content_length > cfg->max_body) {
        req->status = 413;
        return 1;
    }
    /* A client that sent Expect: 100-continue holds its body back until we
     * answer (RFC 9110 section 10.1.1): 100 Continue if the route reads the
     * body, else the final answer at once, and the body is never read. */
    if (req->expects_continue) {
        if (!http_reads_body(cfg, req))
            return 2;
        if (writen(fd, CONTINUE, strlen(CONTINUE)) < 0)
            return -1;
    }
    size_t total = (size_t)head + (size_t)req->content_length;
    while (in->len < total)
        if (read_more(fd, in) <= 0)
            return -1;
    /* Parse again: the buffer may have moved while the body came in, and the
     * request's slices must point into where it is now. */
    http_parse_request(in->data, in->len, req);
    req->body = (struct slice){in->data + head, (size_t)req->content_length};
    return 0;
}

/* sendfile copies from the page cache to the socket inside the kernel, with
 * no read() into our memory: a large file is streamed, never held. Like
 * write, it may send less than asked. */
static int send_file(int fd, int file_fd, off_t size)
{
    off_t offset = 0;
    while (offset < size) {
        ssize_t n = sendfile(fd, file_fd, &offset, (size_t)(size - offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) /* 0: the file shrank while we sent it */
            return -1;
    }
    return 0;
}

static int send_body(int fd, const struct response *resp)
{
    if (resp->head_only)
        return 0;
    if (resp->file_fd >= 0)
        return send_file(fd, resp->file_fd, resp->file_size);
    return writen(fd, resp->body.data, resp->body.len) < 0 ? -1 : 0;
}

static int send_response(int fd, const struct response *resp)
{
    struct buf head;
    buf_init(&head, MAX_HEAD_BYTES * 2);
    int ok = http_format_head(resp, &head) == 0 &&
             writen(fd, head.data, head.len) >= 0 && send_body(fd, resp) == 0;
    buf_free(&head);
    return ok ? 0 : -1;
}

/* Closing a socket whose receive queue still holds data makes the kernel
 * send a reset, which can destroy our response before the client reads it
 * (say, a 413 sent without reading the body). So: send our FIN, read what
 * the client still sends until it closes too, then close. */
static void close_gracefully(int fd)
{
    char sink[4096];
    size_t drained = 0;
    ssize_t n;
    shutdown(fd, SHUT_WR);
    set_io_timeouts(fd, 1);
    while (drained < LINGER_BYTES &&
           (n = read_retry(fd, sink, sizeof sink)) > 0)
        drained += (size_t)n;
    close(fd);
}

void conn_serve(struct client *client)
{
    const struct config *cfg = client->cfg;
    struct buf in;
    struct request req;
    struct response resp;
    /* Room for the largest request we take, and one byte more: the parser
     * tells a head past its limit (414, 431) by that byte, which must fit
     * even when no body may follow. */
    buf_init(&in, MAX_HEAD_BYTES + 1 + (size_t)cfg->max_body);
    http_response_init(&resp);
    set_io_timeouts(client->fd, IO_TIMEOUT_SECONDS);
    inet_ntop(AF_INET, &client->peer.sin_addr, req.remote_addr,
              sizeof req.remote_addr);

    int got = read_request(client->fd, &in, &req, cfg);
    if (got >= 0) {
        if (got == 1)
            http_error(&resp, req.status);
        else
            http_handle(cfg, &req, &resp);
        /* HEAD gets the headers GET would get, errors included: no body. */
        resp.head_only = http_method_is(&req, "HEAD");
        if (send_response(client->fd, &resp) < 0)
            log_error("send to %s: %s", req.remote_addr, strerror(errno));
    }
    close_gracefully(client->fd);
    http_response_free(&resp);
    buf_free(&in);
}

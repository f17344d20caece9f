/* http.h: HTTP/1.x requests and responses as data. The parser works over a
 * byte range and never touches a socket; conn.c moves the bytes. */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "config.h"

#define HTTP_AGAIN (-1) /* the head is incomplete: read more and call again */
#define HTTP_ERROR (-2) /* the request is bad: req->status says how */

#define MAX_REQUEST_LINE 8192 /* 414 past this (RFC 9112 section 3) */
#define MAX_HEAD_BYTES 8192 /* 431 past this, request line included */
#define MAX_HEADERS 100 /* 431 past this many header lines */

/* A token inside the request buffer: pointer and length, no copy, no NUL. */
struct slice {
    const char *p;
    size_t len;
};

struct header {
    struct slice name;
    struct slice value; /* without the optional white space around it */
};

struct request {
    struct slice method;
    struct slice target; /* as sent, still percent-encoded */
    struct slice path; /* target up to '?' */
    struct slice query; /* after '?', empty if none */
    struct slice host; /* an absolute-form target's authority, else Host */
    int minor_version; /* HTTP/1.0 or HTTP/1.1 */
    struct header headers[MAX_HEADERS];
    size_t nheaders;
    long long content_length; /* 0 without a Content-Length header */
    bool expects_continue; /* HTTP/1.1 "Expect: 100-continue" and a body:
                              the client waits for our word to send it */
    struct slice body; /* set by conn.c once the body is in */
    char remote_addr[16]; /* the client's IPv4 address, set by conn.c */
    int status; /* with HTTP_ERROR: 400, 414, 417, 431, 501, 505 */
};

/* A response is data: a handler fills it, conn.c sends it. */
struct response {
    int status;
    const char *content_type; /* NULL when there is no body */
    struct buf headers; /* extra header lines, each ending in CRLF */
    struct buf body;
    int file_fd; /* or a file sent with sendfile, closed with resp; -1 */
    off_t file_size; /* its length */
    bool head_only; /* HEAD: GET's headers, no body (conn.c) */
};

/* Parses the request head at the start of buf[0..len). Returns the length
 * of the head (a body of req->content_length bytes follows it), HTTP_AGAIN
 * or HTTP_ERROR. The slices in req point into buf. */
long http_parse_request(const char *buf, size_t len, struct request *req);

/* The value of the first header called name (any case), or NULL. */
const struct slice *http_find_header(const struct request *req,
                                     const char *name);
/* Whether the request's method is name. Methods are case-sensitive. */
bool http_method_is(const struct request *req, const char *name);
/* Whether s equals text, ignoring ASCII case. */
bool slice_equals(struct slice s, const char *text);

void http_response_init(struct response *resp);
void http_response_free(struct response *resp);
/* Makes out an empty buffer for a script's output: a body's cap, drawn
 * from the budget that all scripts' output held at once shares. */
void http_script_output_init(struct buf *out);
/* Adds one header line ("Name: value") to resp. */
void http_add_header(struct response *resp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Makes resp a small HTML page for an error status. */
void http_error(struct response *resp, int status);
/* Whether the route that answers req reads its body. One that does not
 * answers a client that holds its body back (Expect: 100-continue) at once,
 * without waiting for it. */
bool http_reads_body(const struct config *cfg, const struct request *req);
/* Fills resp with the answer to req. */
void http_handle(const struct config *cfg, const struct request *req,
                 struct response *resp);
/* Formats t as an HTTP date (Date, Last-Modified). */
void http_format_date(time_t t, char *out, size_t size);
/* Writes the status line and headers of resp into out. */
int http_format_head(const struct response *resp, struct buf *out);

#endif

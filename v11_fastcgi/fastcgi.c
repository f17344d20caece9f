/* fastcgi.c: a FastCGI/1.0 client (the FastCGI Specification, Open Market,
 * 1996). A request travels as records on one connection: BEGIN_REQUEST, the
 * CGI meta-variables as PARAMS, the body as STDIN; the reply is STDOUT and
 * STDERR records and one END_REQUEST. STDOUT carries a CGI response, so
 * cgi.c builds the variables before and reads the response after. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "cgi.h"
#include "fastcgi.h"
#include "wrap.h"

/* Section 8 of the specification: the values on the wire. */
#define FCGI_VERSION_1 1
#define FCGI_BEGIN_REQUEST 1
#define FCGI_END_REQUEST 3
#define FCGI_PARAMS 4
#define FCGI_STDIN 5
#define FCGI_STDOUT 6
#define FCGI_STDERR 7
#define FCGI_RESPONDER 1 /* the role: answer one HTTP request */

#define FCGI_HEADER_LEN 8 /* every record starts with one (3.3) */
#define FCGI_MAX_CONTENT 65535 /* contentLength has two bytes */
/* Our only request on the connection; 0 is for management records (3.3). */
#define REQUEST_ID 1

#define MAX_PARAMS_BYTES (256 * 1024) /* the variables of one request */
#define MAX_STDERR_BYTES (64 * 1024) /* logged per request; more is dropped */

const char *fcgi_parse_address(const char *pass, struct sockaddr_storage *addr,
                               socklen_t *len)
{
    memset(addr, 0, sizeof *addr);
    if (strncmp(pass, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)addr;
        size_t n = strlen(pass + 5);
        if (n == 0 || n >= sizeof un->sun_path)
            return "fastcgi_pass: the socket path after unix: must have "
                   "1 to 107 bytes";
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, pass + 5, n + 1);
        *len = sizeof *un;
        return NULL;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)addr;
    const char *colon = strrchr(pass, ':');
    char host[INET_ADDRSTRLEN] = "";
    long long port = 0;
    if (colon != NULL && (size_t)(colon - pass) < sizeof host)
        memcpy(host, pass, (size_t)(colon - pass));
    if (colon == NULL || inet_pton(AF_INET, host, &in->sin_addr) != 1 ||
        config_number(colon + 1, 1, 65535, &port) < 0)
        return "fastcgi_pass wants HOST:PORT (an IPv4 address and a port), "
               "such as 127.0.0.1:9000, or unix:PATH";
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    *len = sizeof *in;
    return NULL;
}

/* One record: the header, the content, then padding up to a multiple of 8
 * bytes. Padding is optional; the specification recommends it so that
 * records stay aligned in the receiver's buffers (3.3). */
static int add_record(struct buf *b, int type, const char *content, size_t len)
{
    static const char zeros[8];
    size_t padding = (8 - len % 8) % 8;
    unsigned char header[FCGI_HEADER_LEN] = {
        FCGI_VERSION_1,
        (unsigned char)type,
        0,
        REQUEST_ID,
        (unsigned char)(len >> 8),
        (unsigned char)len,
        (unsigned char)padding,
        0,
    };
    if (buf_append(b, header, sizeof header) < 0 ||
        buf_append(b, content, len) < 0 || buf_append(b, zeros, padding) < 0)
        return -1;
    return 0;
}

/* A stream (PARAMS, STDIN): its bytes in records of at most 65535 bytes,
 * then an empty record, which is how the receiver learns the stream ended
 * (3.3, "stream records"). */
static int add_stream(struct buf *b, int type, const char *p, size_t len)
{
    for (size_t n; len > 0; p += n, len -= n) {
        n = len < FCGI_MAX_CONTENT ? len : FCGI_MAX_CONTENT;
        if (add_record(b, type, p, n) < 0)
            return -1;
    }
    return add_record(b, type, "", 0);
}

/* A name-value pair's length (3.4): one byte below 128, else four bytes,
 * big-endian, with the high bit set to say so. */
static int add_length(struct buf *b, size_t n)
{
    unsigned char bytes[4] = {(unsigned char)(0x80 | n >> 24),
                              (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                              (unsigned char)n};
    return n < 128 ? buf_append(b, bytes + 3, 1) : buf_append(b, bytes, 4);
}

/* "NAME=value" as a pair: both lengths, then the name and the value, with
 * no '=' and no NUL. */
static int add_pair(struct buf *b, const char *var)
{
    size_t name_len = strcspn(var, "=");
    const char *value = var[name_len] == '=' ? var + name_len + 1 : "";
    size_t value_len = strlen(value);
    if (add_length(b, name_len) < 0 || add_length(b, value_len) < 0 ||
        buf_append(b, var, name_len) < 0 || buf_append(b, value, value_len) < 0)
        return -1;
    return 0;
}

int fcgi_encode_request(struct buf *b, char *const env[], struct slice body)
{
    /* roleB1, roleB0, flags, five reserved bytes. flags is 0, without
     * FCGI_KEEP_CONN: the application is to close the connection when the
     * request ends (3.5). One connection per request costs a connect, but no
     * connection is shared between our threads. */
    const char begin[8] = {0, FCGI_RESPONDER, 0};
    struct buf params;
    buf_init(&params, MAX_PARAMS_BYTES);
    int ok = 1;
    for (char *const *var = env; *var != NULL && ok; var++)
        ok = add_pair(&params, *var) == 0;
    ok = ok && add_record(b, FCGI_BEGIN_REQUEST, begin, sizeof begin) == 0 &&
         add_stream(b, FCGI_PARAMS, params.data, params.len) == 0 &&
         add_stream(b, FCGI_STDIN, body.p, body.len) == 0;
    buf_free(&params);
    return ok ? 0 : -1;
}

/* A non-blocking connect that has not finished at once ends when the socket
 * turns writable, and SO_ERROR then says how it ended (connect(2),
 * EINPROGRESS). Returns 0 or an errno value; ETIMEDOUT past the deadline. */
static int wait_connected(int fd, long long deadline)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int n;
    do {
        long long left = deadline - cgi_now_ms();
        n = left > 0 ? poll(&pfd, 1, (int)left) : 0;
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n == 0 ? ETIMEDOUT : errno;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    return err;
}

/* Connects to pass by the deadline. Returns the socket, or -1 with the
 * status to answer in *status: 504 past the deadline, 502 otherwise (no
 * socket file, nobody listening, a full listen queue), logged. */
static int connect_to(const char *pass, long long deadline, int *status)
{
    struct sockaddr_storage addr;
    socklen_t len;
    fcgi_parse_address(pass, &addr, &len); /* checked when it was read */
    /* Close-on-exec: a CGI script forked by another thread must not
     * inherit, and so hold open, our connection to php-fpm. */
    int fd =
        socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, len) < 0)
        err = errno == EINPROGRESS ? wait_connected(fd, deadline) : errno;
    if (err == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    *status = err == ETIMEDOUT ? 504 : 502;
    if (*status == 502)
        log_error("fastcgi %s: connect: %s", pass, strerror(err));
    return -1;
}

/* Logs the STDERR stream a line at a time. */
static void log_stderr(const char *pass, const struct buf *err)
{
    const char *p = err->data, *end = err->data + err->len;
    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = lf ? lf : end;
        if (line_end > p)
            log_error("fastcgi %s: %.*s", pass, (int)(line_end - p), p);
        p = line_end + 1;
    }
}

/* What is wrong when END_REQUEST's protocolStatus is not REQUEST_COMPLETE
 * (5.5): CANT_MPX_CONN refuses a second request on one connection,
 * OVERLOADED a request the application has no room for, UNKNOWN_ROLE a role
 * it does not play. */
static const char *protocol_problem(unsigned char status)
{
    static const char *const problems[] = {
        NULL,
        "END_REQUEST says CANT_MPX_CONN",
        "END_REQUEST says OVERLOADED",
        "END_REQUEST says UNKNOWN_ROLE",
    };
    return status < 4 ? problems[status]
                      : "END_REQUEST has an unknown protocolStatus";
}

/* The request is over at END_REQUEST (5.5), even if the application is
 * slow to close the connection or never does: a complete reply must not
 * wait for fastcgi_timeout. */
bool fcgi_reply_complete(const struct buf *reply, size_t *next)
{
    while (reply->len - *next >= FCGI_HEADER_LEN) {
        const unsigned char *h = (const unsigned char *)reply->data + *next;
        size_t record = FCGI_HEADER_LEN + ((size_t)h[4] << 8 | h[5]) + h[6];
        if (reply->len - *next < record)
            return false;
        *next += record;
        if (h[1] == FCGI_END_REQUEST)
            return true;
    }
    return false;
}

/* Every header is checked before its content is touched, and nothing is
 * read past reply->len. */
const char *fcgi_decode_reply(struct buf *reply, struct buf *err)
{
    size_t pos = 0, kept = 0;
    const char *problem = "the connection closed before END_REQUEST";
    while (reply->len - pos >= FCGI_HEADER_LEN) {
        const unsigned char *h = (const unsigned char *)reply->data + pos;
        int type = h[1];
        size_t content = (size_t)h[4] << 8 | h[5], padding = h[6];
        const char *data = reply->data + pos + FCGI_HEADER_LEN;
        if (h[0] != FCGI_VERSION_1 || (h[2] << 8 | h[3]) != REQUEST_ID) {
            problem = "a record that is not FastCGI/1 for our request";
            break;
        }
        if (reply->len - pos - FCGI_HEADER_LEN < content + padding) {
            problem = "the reply ends inside a record";
            break;
        }
        pos += FCGI_HEADER_LEN + content + padding;
        if (type == FCGI_STDOUT) {
            /* kept <= pos: the output moves down, never over unread bytes. */
            memmove(reply->data + kept, data, content);
            kept += content;
        } else if (type == FCGI_STDERR) {
            size_t room = err->max - err->len;
            buf_append(err, data, content < room ? content : room);
        } else if (type == FCGI_END_REQUEST && content == 8) {
            /* appStatus (four bytes, the script's exit status), then
             * protocolStatus. */
            problem = protocol_problem((unsigned char)data[4]);
            break;
        } else {
            problem = "an unexpected or malformed record";
            break;
        }
    }
    reply->len = kept;
    return problem;
}

int fcgi_run(const struct config *cfg, char *const env[], struct slice body,
             struct buf *out)
{
    long long deadline = cgi_now_ms() + cfg->fastcgi_timeout * 1000LL;
    const char *pass = cfg->fastcgi_pass;
    struct buf request, err;
    buf_init(&request, SIZE_MAX);
    buf_init(&err, MAX_STDERR_BYTES);
    int status = 502, fd = -1, to_app = -1;
    if (fcgi_encode_request(&request, env, body) < 0)
        log_error("fastcgi %s: no memory for the request", pass);
    else if ((fd = connect_to(pass, deadline, &status)) >= 0 &&
             (to_app = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        log_error("fastcgi %s: fcntl: %s", pass, strerror(errno));
    /* The request is written while the reply is read, until END_REQUEST
     * (or a close before it): the same loop as a CGI script's pipes. It
     * closes its write end once everything is sent; a duplicate of the
     * socket lets that close leave the connection open for the reply. */
    if (to_app >= 0) {
        struct slice input = {request.data, request.len};
        status =
            cgi_exchange(to_app, fd, input, out, deadline, fcgi_reply_complete);
        if (status == 502)
            log_error("fastcgi %s: reading the reply: %s", pass,
                      out->len == out->max ? "too large"
                      : errno == ENOBUFS ? "the scripts' output budget is spent"
                                         : strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    const char *problem = status == 0 ? fcgi_decode_reply(out, &err) : NULL;
    log_stderr(pass, &err);
    if (problem != NULL) {
        log_error("fastcgi %s: %s", pass, problem);
        status = 502;
    }
    if (status == 504)
        log_error("fastcgi %s: no answer within %d s", pass,
                  cfg->fastcgi_timeout);
    buf_free(&request);
    buf_free(&err);
    return status;
}

/* http.c: what the bytes mean. The request parser, the router, error pages
 * and the response head; nothing here reads or writes a socket, so the same
 * parser serves pipelining (v09) and the event loop (v13) unchanged. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"

#define SERVER_NAME "reactor-course"
#define MAX_RESPONSE_BYTES (64 * 1024 * 1024) /* a generated body's cap */

static const char *const known_methods[] = {
    "GET",     "HEAD",    "POST",  "PUT",   "DELETE",
    "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL,
};

/* The characters of a method or header name: tchar, RFC 9110 section 5.6.2.
 * Spelled out: isalnum() would follow the locale. */
static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *p, const char *end)
{
    if (p == end)
        return false;
    for (; p < end; p++)
        if (!is_tchar((unsigned char)*p))
            return false;
    return true;
}

bool slice_equals(struct slice s, const char *text)
{
    return s.len == strlen(text) && strncasecmp(s.p, text, s.len) == 0;
}

static bool slice_starts_with(struct slice s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && strncasecmp(s.p, prefix, n) == 0;
}

/* Methods are case-sensitive (RFC 9110 section 9.1): "get" is not GET. */
bool http_method_is(const struct request *req, const char *name)
{
    return req->method.len == strlen(name) &&
           memcmp(req->method.p, name, req->method.len) == 0;
}

const struct slice *http_find_header(const struct request *req,
                                     const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (slice_equals(req->headers[i].name, name))
            return &req->headers[i].value;
    return NULL;
}

static long fail(struct request *req, int status)
{
    req->status = status;
    return HTTP_ERROR;
}

/* Finds the line starting at p. Returns its LF, or NULL if the line is not
 * complete yet; *content_end is where the line ends before CR LF or a bare LF
 * (accepted as a line ending, RFC 9112 section 2.2). */
static const char *find_line(const char *p, const char *end,
                             const char **content_end)
{
    /* Not memchr on an empty range: the first call may have no buffer at
     * all (NULL), and memchr's arguments must be valid even for length 0. */
    const char *lf = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    if (lf != NULL)
        *content_end = (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
    return lf;
}

/* The characters of a name or an IPv4 address in a host (reg-name, RFC
 * 3986 section 3.2.2): unreserved, percent-encoded and sub-delims. Spelled
 * out, like is_tchar. */
static bool is_reg_name_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("-._~%!$&'()*+,;=", c) != NULL);
}

/* The text between the brackets of "[::1]": an IPv6 address, as inet_pton
 * reads one. */
static bool is_ipv6_literal(const char *p, const char *end)
{
    char text[INET6_ADDRSTRLEN];
    struct in6_addr addr;
    if (end - p >= (long)sizeof text)
        return false;
    memcpy(text, p, (size_t)(end - p));
    text[end - p] = '\0';
    return inet_pton(AF_INET6, text, &addr) == 1;
}

/* host [":" port], the value of Host and the authority of an absolute-form
 * target alike (RFC 9112 section 3.2, RFC 3986 section 3.2.2): a name, an
 * IPv4 address or a bracketed IPv6 one, never empty, and a port of digits
 * only. No "user@" before the host: an http URI has none (RFC 9110 section
 * 4.2.4). Section 3.2 requires 400 for any other value, such as "a b". */
static bool valid_authority(struct slice value)
{
    const char *p = value.p, *end = value.p + value.len;
    if (p < end && *p == '[') {
        const char *bracket = memchr(p, ']', value.len);
        if (bracket == NULL || !is_ipv6_literal(p + 1, bracket))
            return false;
        p = bracket + 1;
    } else {
        while (p < end && is_reg_name_char((unsigned char)*p))
            p++;
        if (p == value.p)
            return false;
    }
    if (p < end && *p++ != ':')
        return false;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p == end;
}

/* ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), a scheme (RFC 3986
 * section 3.1). */
static bool is_scheme_char(char c, bool first)
{
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return letter || (!first && ((c >= '0' && c <= '9') || c == '+' ||
                                 c == '-' || c == '.'));
}

/* Whether the target starts with a scheme, "name:": then it is in absolute
 * form, not a path. */
static bool has_scheme(struct slice t)
{
    size_t i = 0;
    while (i < t.len && is_scheme_char(t.p[i], i == 0))
        i++;
    return i > 0 && i < t.len && t.p[i] == ':';
}

/* A server must accept the absolute form "http://host/path?query" too (RFC
 * 9112 section 3.2.2), and then use its authority, not Host, as the host.
 * Sets req->host and req->path/query. Returns false for a scheme other than
 * http or https (any case) or an authority Host could not be. */
static bool split_target(struct request *req)
{
    struct slice t = req->target;
    if (has_scheme(t)) {
        size_t n = slice_starts_with(t, "http://")    ? 7
                   : slice_starts_with(t, "https://") ? 8
                                                      : 0;
        if (n == 0)
            return false;
        const char *p = t.p + n, *end = t.p + t.len;
        while (p < end && *p != '/' && *p != '?')
            p++;
        req->host = (struct slice){t.p + n, (size_t)(p - (t.p + n))};
        if (!valid_authority(req->host))
            return false;
        t = (struct slice){p, (size_t)(end - p)};
    }
    const char *q = memchr(t.p, '?', t.len);
    size_t path_len = q ? (size_t)(q - t.p) : t.len;
    req->path =
        path_len > 0 ? (struct slice){t.p, path_len} : (struct slice){"/", 1};
    req->query =
        q ? (struct slice){q + 1, t.len - path_len - 1} : (struct slice){q, 0};
    return true;
}

/* method SP request-target SP HTTP-version (RFC 9112 section 3), one space
 * each. Returns 0 or the status to answer. */
static int parse_request_line(const char *p, const char *end,
                              struct request *req)
{
    const char *sp1 = memchr(p, ' ', (size_t)(end - p));
    if (sp1 == NULL || !is_token(p, sp1))
        return 400;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t)(end - target));
    if (sp2 == NULL || sp2 == target)
        return 400;
    for (const char *c = target; c < sp2; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return 400;
    const char *v = sp2 + 1;
    if (end - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' ||
        v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1')
        return 505;

    req->method = (struct slice){p, (size_t)(sp1 - p)};
    req->target = (struct slice){target, (size_t)(sp2 - target)};
    req->minor_version = v[7] == '0' ? 0 : 1; /* 1.2 and later read as 1.1 */
    if (!split_target(req))
        return 400;
    for (const char *const *m = known_methods; *m != NULL; m++)
        if (http_method_is(req, *m))
            return 0;
    return 501;
}

/* field-name ":" OWS field-value OWS (RFC 9112 section 5). */
static int parse_header_line(const char *p, const char *end,
                             struct request *req)
{
    /* A line starting with white space continues the previous one (obs-fold,
     * section 5.2): refused rather than guessed at. */
    if (*p == ' ' || *p == '\t')
        return 400;
    const char *colon = memchr(p, ':', (size_t)(end - p));
    /* No white space between name and colon (section 5.1): a proxy and a
     * server could disagree about such a header's name. */
    if (colon == NULL || !is_token(p, colon))
        return 400;
    const char *v = colon + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    const char *v_end = end;
    while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
        v_end--;
    for (const char *c = v; c < v_end; c++)
        if ((*c >= 0 && *c < ' ' && *c != '\t') || *c == 0x7f)
            return 400;
    if (req->nheaders == MAX_HEADERS)
        return 431;
    struct header *h = &req->headers[req->nheaders++];
    h->name = (struct slice){p, (size_t)(colon - p)};
    h->value = (struct slice){v, (size_t)(v_end - v)};
    return 0;
}

/* Digits only, and small enough: "+5", "0x10", " 5", "" are all refused. */
static int parse_length(struct slice s, long long *out)
{
    if (s.len == 0 || s.len > 15)
        return -1;
    long long n = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        n = n * 10 + (s.p[i] - '0');
    }
    *out = n;
    return 0;
}

/* How the body is framed, once all headers are in. Returns 0 or a status. */
static int check_framing(struct request *req)
{
    int hosts = 0, lengths = 0;
    bool expects = false;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct header *h = &req->headers[i];
        long long n;
        if (slice_equals(h->name, "Host")) {
            if (!valid_authority(h->value))
                return 400;
            if (req->host.p == NULL) /* no absolute-form target named one */
                req->host = h->value;
            hosts++;
        } else if (slice_equals(h->name, "Transfer-Encoding")) {
            return 501; /* chunked request bodies are not read here */
        } else if (slice_equals(h->name, "Content-Length")) {
            /* Two different lengths are how request smuggling starts
             * (RFC 9112 section 6.3): refuse, do not pick one. */
            if (parse_length(h->value, &n) < 0 ||
                (lengths++ > 0 && n != req->content_length))
                return 400;
            req->content_length = n;
        } else if (slice_equals(h->name, "Expect") && req->minor_version == 1) {
            /* 100-continue is the one expectation there is; an HTTP/1.0
             * request's Expect is ignored (RFC 9110 section 10.1.1). */
            if (!slice_equals(h->value, "100-continue"))
                return 417;
            expects = true;
        }
    }
    /* HTTP/1.1 requires exactly one Host (RFC 9112 section 3.2). */
    if (hosts > 1 || (hosts == 0 && req->minor_version == 1))
        return 400;
    /* Without a body there is nothing to wait for: no 100 is owed. */
    req->expects_continue = expects && req->content_length > 0;
    return 0;
}

long http_parse_request(const char *buf, size_t len, struct request *req)
{
    const char *p = buf, *end = buf + len, *line_end, *lf;
    req->method = (struct slice){NULL, 0};
    req->host = (struct slice){NULL, 0};
    req->nheaders = 0;
    req->content_length = 0;
    req->expects_continue = false;
    req->body = (struct slice){NULL, 0};
    req->status = 0;

    /* Empty lines before the request line are ignored (section 2.2). */
    while (p < end && (*p == '\r' || *p == '\n') && p - buf < MAX_HEAD_BYTES)
        p++;
    lf = find_line(p, end, &line_end);
    if (lf == NULL && end - p > MAX_REQUEST_LINE)
        return fail(req, 414);
    if (lf == NULL)
        return len > MAX_HEAD_BYTES ? fail(req, 431) : HTTP_AGAIN;
    if (line_end - p > MAX_REQUEST_LINE)
        return fail(req, 414);
    int status = parse_request_line(p, line_end, req);
    if (status != 0)
        return fail(req, status);

    for (p = lf + 1;; p = lf + 1) {
        lf = find_line(p, end, &line_end);
        if (lf == NULL)
            return len > MAX_HEAD_BYTES ? fail(req, 431) : HTTP_AGAIN;
        if (lf + 1 - buf > MAX_HEAD_BYTES)
            return fail(req, 431);
        if (line_end == p)
            break; /* the empty line that ends the head */
        if ((status = parse_header_line(p, line_end, req)) != 0)
            return fail(req, status);
    }
    if ((status = check_framing(req)) != 0)
        return fail(req, status);
    return lf + 1 - buf;
}

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {200, "OK"},
    {400, "Bad Request"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {417, "Expectation Failed"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {505, "HTTP Version Not Supported"},
};

static const char *reason_phrase(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    static const char *const classes[] = {"Informational", "Success",
                                          "Redirection", "Client Error",
                                          "Server Error"};
    return status >= 100 && status <= 599 ? classes[status / 100 - 1]
                                          : "Unknown";
}

void http_response_init(struct response *resp)
{
    resp->status = 200;
    resp->content_type = NULL;
    buf_init(&resp->headers, MAX_HEAD_BYTES);
    buf_init(&resp->body, MAX_RESPONSE_BYTES);
    resp->head_only = false;
}

void http_response_free(struct response *resp)
{
    buf_free(&resp->headers);
    buf_free(&resp->body);
}

void http_add_header(struct response *resp, const char *fmt, ...)
{
    struct buf *out = &resp->headers;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    /* +3: the CR LF, and the NUL vsnprintf always writes. */
    if (n < 0 || buf_reserve(out, (size_t)n + 3) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(out->data + out->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    out->len += (size_t)n;
    buf_append(out, "\r\n", 2);
}

static void start_page(struct response *resp, int status, const char *title)
{
    resp->status = status;
    resp->content_type = "text/html; charset=utf-8";
    resp->body.len = 0;
    buf_printf(&resp->body,
               "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
               "<title>%s</title></head>\n<body>\n<h1>%s</h1>\n",
               title, title);
}

void http_error(struct response *resp, int status)
{
    char title[64];
    snprintf(title, sizeof title, "%d %s", status, reason_phrase(status));
    start_page(resp, status, title);
    buf_append_str(&resp->body, "</body></html>\n");
}

/* Every GET and HEAD gets this page: there is nothing else to serve yet. */
static void hello_page(struct response *resp)
{
    start_page(resp, 200, "Hello from v06");
    buf_append_str(&resp->body, "</body></html>\n");
}

/* POST /echo: the body back, with the type it came with. The parser has
 * refused control characters in header values, so the copied type cannot
 * smuggle a line break into our response. */
static void echo_body(const struct request *req, struct response *resp)
{
    const struct slice *type = http_find_header(req, "Content-Type");
    resp->status = 200;
    if (type != NULL)
        http_add_header(resp, "Content-Type: %.*s", (int)type->len, type->p);
    else
        resp->content_type = "application/octet-stream";
    buf_append(&resp->body, req->body.p, req->body.len);
}

/* Only POST /echo reads a body: the page answers without it. */
bool http_reads_body(const struct config *cfg, const struct request *req)
{
    (void)cfg;
    return slice_equals(req->path, "/echo") && http_method_is(req, "POST");
}

void http_handle(const struct config *cfg, const struct request *req,
                 struct response *resp)
{
    (void)cfg;
    bool is_echo = slice_equals(req->path, "/echo");
    if (is_echo && http_method_is(req, "POST")) {
        echo_body(req, resp);
        return;
    }
    if (!http_method_is(req, "GET") && !http_method_is(req, "HEAD")) {
        http_error(resp, 405);
        http_add_header(resp, "Allow: %s", is_echo ? "POST" : "GET, HEAD");
        return;
    }
    hello_page(resp);
}

/* Date: in the IMF-fixdate form of RFC 9110 section 5.6.7. The C locale's
 * day and month names are the English ones HTTP wants. */
static void format_date(char *out, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

int http_format_head(const struct response *resp, struct buf *out)
{
    char date[64];
    format_date(date, sizeof date);
    buf_printf(out, "HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\n",
               resp->status, reason_phrase(resp->status), SERVER_NAME, date);
    if (resp->content_type != NULL)
        buf_printf(out, "Content-Type: %s\r\n", resp->content_type);
    buf_printf(out, "Content-Length: %zu\r\n", resp->body.len);
    buf_append(out, resp->headers.data, resp->headers.len);
    return buf_append_str(out, "Connection: close\r\n\r\n");
}

/* http_test.c: unit tests of the request parser, the keep-alive decision and
 * the buffer. Every proper prefix of a valid request must ask for more; the
 * whole must be consumed exactly; each malformed request must get its
 * status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http.h"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static const char *const valid_requests[] = {
    "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n"
    "User-Agent: test/1.0\r\n\r\n",
    "HEAD /index.html HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.1\nHost: bare-lf\n\n",
    "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
    "Content-Type: text/plain\r\n\r\n",
    "GET / HTTP/1.1\r\nhost:   padded.host \t\r\n"
    "X-Padded:  a value \t\r\nX-Empty:\r\n\r\n",
    "\r\nGET / HTTP/1.0\r\n\r\n",
};

static void test_every_prefix_needs_more(void)
{
    for (size_t i = 0; i < sizeof valid_requests / sizeof *valid_requests;
         i++) {
        const char *text = valid_requests[i];
        size_t len = strlen(text);
        struct request req;
        for (size_t n = 0; n < len; n++) {
            long r = http_parse_request(text, n, &req);
            if (r != HTTP_AGAIN)
                fprintf(stderr, "request %zu, prefix %zu: got %ld\n", i, n, r);
            CHECK(r == HTTP_AGAIN);
        }
        CHECK(http_parse_request(text, len, &req) == (long)len);
    }
}

static void test_fields(void)
{
    const char *text = "POST /p/q?a=1 HTTP/1.1\r\nHOST: h\r\n"
                       "Content-Length: 5\r\nX-Pad:  v  \r\n\r\nhello";
    struct request req;
    long head = http_parse_request(text, strlen(text), &req);
    CHECK(head == (long)strlen(text) - 5);
    CHECK(slice_equals(req.method, "POST"));
    CHECK(slice_equals(req.path, "/p/q"));
    CHECK(slice_equals(req.query, "a=1"));
    CHECK(req.minor_version == 1);
    CHECK(req.content_length == 5);
    CHECK(req.nheaders == 3);
    const struct slice *pad = http_find_header(&req, "x-pad");
    CHECK(pad != NULL && slice_equals(*pad, "v"));
    CHECK(http_find_header(&req, "Missing") == NULL);
}

static int status_of(const char *text)
{
    struct request req;
    long r = http_parse_request(text, strlen(text), &req);
    return r == HTTP_ERROR ? req.status : (int)r;
}

static void test_errors(void)
{
    CHECK(status_of("GET /\r\n\r\n") == 400);
    CHECK(status_of("GET  / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\n\r\n") == 400); /* no Host */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nNoColon\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\n"
                    "Content-Length: 1\r\nContent-Length: 2\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\n"
                    "Content-Length: -1\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n") == 501);
    CHECK(status_of("BREW / HTTP/1.1\r\nHost: h\r\n\r\n") == 501);
    CHECK(status_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTP/1\r\nHost: h\r\n\r\n") == 400);

    static char big[MAX_HEAD_BYTES + 64];
    memset(big, 'a', sizeof big - 1);
    memcpy(big, "GET /", 5);
    CHECK(status_of(big) == 414);

    char many[MAX_HEADERS * 8 + 64];
    int n = sprintf(many, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < MAX_HEADERS; i++)
        n += sprintf(many + n, "X: %d\r\n", i % 10);
    sprintf(many + n, "\r\n");
    CHECK(status_of(many) == 431);
}

/* Whether a GET in HTTP/1.<minor> with these header lines ("Name: value\r\n"
 * each) asks to keep its connection open. */
static bool keeps_alive(int minor, const char *headers)
{
    char text[512];
    snprintf(text, sizeof text, "GET / HTTP/1.%d\r\nHost: h\r\n%s\r\n", minor,
             headers);
    struct request req;
    if (http_parse_request(text, strlen(text), &req) != (long)strlen(text)) {
        fprintf(stderr, "did not parse: %s\n", text);
        failures++;
    }
    return http_keep_alive(&req);
}

static void test_keep_alive(void)
{
    CHECK(keeps_alive(1, ""));
    CHECK(keeps_alive(1, "Connection: keep-alive\r\n"));
    CHECK(!keeps_alive(1, "Connection: close\r\n"));
    CHECK(!keeps_alive(1, "connection: CLOSE\r\n"));
    CHECK(!keeps_alive(1, "Connection: Upgrade ,\t close \r\n"));
    CHECK(!keeps_alive(1, "Connection: keep-alive, close\r\n"));
    CHECK(!keeps_alive(1, "Connection: foo\r\nConnection: close\r\n"));
    CHECK(!keeps_alive(1, "Connection: close\r\nConnection: foo\r\n"));
    CHECK(keeps_alive(1, "Connection: closed, xclose, close-ish\r\n"));
    CHECK(keeps_alive(1, "X-Connection: close\r\n"));

    CHECK(!keeps_alive(0, ""));
    CHECK(!keeps_alive(0, "Connection: close\r\n"));
    CHECK(keeps_alive(0, "Connection: keep-alive\r\n"));
    CHECK(keeps_alive(0, "Connection: Keep-Alive\r\n"));
    CHECK(keeps_alive(0, "Connection: ,foo,  keep-alive ,\r\n"));
    CHECK(keeps_alive(0, "Connection: foo\r\nConnection: keep-alive\r\n"));
    CHECK(keeps_alive(0, "Connection: keep-alive\r\nConnection: foo\r\n"));
    CHECK(!keeps_alive(0, "Connection: keep-alive, close\r\n"));
    CHECK(!keeps_alive(0, "Connection: keep-alives\r\n"));
}

/* The head says what conn.c decided: a Connection header only when set. */
static void test_connection_header(void)
{
    struct response resp;
    struct buf head;
    http_response_init(&resp);
    resp.status = 200;
    buf_init(&head, 4096);
    CHECK(http_format_head(&resp, &head) == 0 && buf_append(&head, "", 1) == 0);
    CHECK(strstr(head.data, "Connection") == NULL);
    CHECK(strcmp(head.data + head.len - 5, "\r\n\r\n") == 0);
    resp.connection = "close";
    head.len = 0;
    CHECK(http_format_head(&resp, &head) == 0 && buf_append(&head, "", 1) == 0);
    CHECK(strstr(head.data, "\r\nConnection: close\r\n\r\n") != NULL);
    resp.connection = "keep-alive";
    head.len = 0;
    CHECK(http_format_head(&resp, &head) == 0 && buf_append(&head, "", 1) == 0);
    CHECK(strstr(head.data, "\r\nConnection: keep-alive\r\n\r\n") != NULL);
    buf_free(&head);
    http_response_free(&resp);
}

static int status_of_target(const char *target)
{
    char text[256];
    snprintf(text, sizeof text, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
    return status_of(text);
}

static int status_of_host(const char *host)
{
    char text[256];
    snprintf(text, sizeof text, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host);
    return status_of(text);
}

/* Host and an absolute-form target's authority are checked alike, and the
 * authority takes Host's place (RFC 9112 section 3.2.2). */
static void test_authority(void)
{
    static const char *const good[] = {
        "localhost", "127.0.0.1:8080", "[::1]", "[::1]:8080", "a.b-c:",
    };
    static const char *const bad[] = {
        "",
        "localhost:80x",
        "localhost:80:80",
        "localhost::80",
        "foo@x",
        "[::1",
        "[zz]",
        "::1",
        "[::1]x",
        ":80",
        "a b",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char target[64];
        snprintf(target, sizeof target, "http://%s/p", good[i]);
        CHECK(status_of_host(good[i]) > 0);
        CHECK(status_of_target(target) > 0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char target[64];
        snprintf(target, sizeof target, "http://%s/p", bad[i]);
        if (status_of_host(bad[i]) != 400 || status_of_target(target) != 400)
            fprintf(stderr, "authority \"%s\" was not refused\n", bad[i]);
        CHECK(status_of_host(bad[i]) == 400);
        CHECK(status_of_target(target) == 400);
    }
    CHECK(status_of_target("ftp://h/p") == 400);
    CHECK(status_of_target("http:/p") == 400);
    CHECK(status_of_target("HTTPS://h") > 0);

    const char *text =
        "GET http://[::1]:8080?q HTTP/1.1\r\nHost: other\r\n\r\n";
    struct request req;
    CHECK(http_parse_request(text, strlen(text), &req) == (long)strlen(text));
    CHECK(slice_equals(req.host, "[::1]:8080"));
    CHECK(slice_equals(req.path, "/") && slice_equals(req.query, "q"));
    text = "GET /p HTTP/1.1\r\nHost: named\r\n\r\n";
    CHECK(http_parse_request(text, strlen(text), &req) == (long)strlen(text));
    CHECK(slice_equals(req.host, "named"));
}

/* Expect: 100-continue (any case) marks a request whose body the client
 * holds back; only with a body, only in HTTP/1.1. Any other expectation is
 * 417; HTTP/1.0 ignores the header. */
static void test_expect(void)
{
    struct request req;
    const char *text = "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                       "Expect: 100-Continue\r\n\r\n";
    CHECK(http_parse_request(text, strlen(text), &req) > 0);
    CHECK(req.expects_continue);
    text = "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
           "Expect: 100-continue\r\n\r\n";
    CHECK(http_parse_request(text, strlen(text), &req) > 0);
    CHECK(!req.expects_continue);
    text = "POST /echo HTTP/1.0\r\nContent-Length: 5\r\n"
           "Expect: 100-continue\r\n\r\n";
    CHECK(http_parse_request(text, strlen(text), &req) > 0);
    CHECK(!req.expects_continue);
    CHECK(status_of("GET / HTTP/1.0\r\nExpect: nothing\r\n\r\n") > 0);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nExpect: nothing\r\n\r\n") ==
          417);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                    "Expect: 100-continue, x\r\n\r\n") == 417);
}

/* The statuses the server's own code answers with, each with the reason
 * phrase RFC 9110 section 15 gives it: a misspelt or outdated phrase
 * ("Request-URI Too Long") passes every check on the status code. */
static void test_reason_phrases(void)
{
    static const char *const lines[] = {
        "200 OK",
        "400 Bad Request",
        "404 Not Found",
        "405 Method Not Allowed",
        "408 Request Timeout",
        "413 Content Too Large",
        "414 URI Too Long",
        "417 Expectation Failed",
        "431 Request Header Fields Too Large",
        "500 Internal Server Error",
        "501 Not Implemented",
        "505 HTTP Version Not Supported",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        struct response resp;
        struct buf head;
        http_response_init(&resp);
        http_error(&resp, atoi(lines[i]));
        buf_init(&head, 4096);
        char want[64];
        int n = snprintf(want, sizeof want, "HTTP/1.1 %s\r\n", lines[i]);
        if (http_format_head(&resp, &head) < 0 || head.len < (size_t)n ||
            memcmp(head.data, want, (size_t)n) != 0) {
            fprintf(stderr, "status %d: the head starts \"%.*s\"\n",
                    resp.status, (int)(head.len < 40 ? head.len : 40),
                    head.data);
            failures++;
        }
        buf_free(&head);
        http_response_free(&resp);
    }
}

static void test_buf(void)
{
    struct buf b;
    buf_init(&b, 8);
    CHECK(buf_append(&b, "12345", 5) == 0);
    CHECK(buf_append(&b, "6789", 4) == -1); /* past the cap: refused whole */
    CHECK(b.len == 5);
    buf_consume(&b, 2);
    CHECK(b.len == 3 && memcmp(b.data, "345", 3) == 0);
    CHECK(buf_printf(&b, "%d", 42) == 0 && b.len == 5);
    buf_free(&b);
}

/* Buffers on one budget hold at most its limit together (errno ENOBUFS
 * past it), and what one frees, another may take. */
static void test_buf_budget(void)
{
    struct buf_budget budget = {.limit = 1 << 20};
    struct buf a, b;
    buf_init(&a, 1 << 20);
    buf_init(&b, 1 << 20);
    a.budget = b.budget = &budget;
    CHECK(buf_reserve(&a, 100) == 0 && atomic_load(&budget.held) == a.cap);
    CHECK(buf_reserve(&a, 700000) == 0 && atomic_load(&budget.held) == a.cap);
    errno = 0;
    CHECK(buf_reserve(&b, 700000) == -1 && errno == ENOBUFS);
    CHECK(b.cap == 0 && atomic_load(&budget.held) == a.cap);
    buf_free(&a);
    CHECK(atomic_load(&budget.held) == 0);
    CHECK(buf_reserve(&b, 700000) == 0 && atomic_load(&budget.held) == b.cap);
    buf_free(&b);
    CHECK(atomic_load(&budget.held) == 0);
}

int main(void)
{
    test_every_prefix_needs_more();
    test_fields();
    test_errors();
    test_authority();
    test_keep_alive();
    test_connection_header();
    test_expect();
    test_reason_phrases();
    test_buf();
    test_buf_budget();
    if (failures == 0)
        printf("http_test: all checks passed\n");
    return failures == 0 ? 0 : 1;
}

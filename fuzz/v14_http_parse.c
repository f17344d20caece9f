/* v14_http_parse: fuzzes http_parse_request, the parser of every C stage
 * from v06, against its promises: what it returns, and that a prefix of the
 * input never contradicts the whole (what pipelining relies on). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http.h"

static void check_inside(struct slice s, const char *buf, long head)
{
    if (s.len > 0)
        CHECK(s.p >= buf && s.p + s.len <= buf + head);
}

/* The answer to one whole input: a head length, HTTP_AGAIN or HTTP_ERROR
 * with one of the statuses the parser documents. */
static void check_answer(const char *buf, size_t len, long n,
                         const struct request *req)
{
    if (n == HTTP_ERROR) {
        int s = req->status;
        CHECK(s == 400 || s == 414 || s == 417 || s == 431 || s == 501 ||
              s == 505);
        return;
    }
    if (n == HTTP_AGAIN) {
        CHECK(len <= MAX_HEAD_BYTES); /* past it, the answer is 431 */
        return;
    }
    CHECK(n > 0 && (size_t)n <= len && n <= MAX_HEAD_BYTES);
    CHECK(req->method.len > 0 && req->nheaders <= MAX_HEADERS);
    CHECK(req->content_length >= 0);
    check_inside(req->method, buf, n);
    check_inside(req->target, buf, n);
    check_inside(req->query, buf, n);
    for (size_t i = 0; i < req->nheaders; i++) {
        check_inside(req->headers[i].name, buf, n);
        check_inside(req->headers[i].value, buf, n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct request whole, part; /* 3 KiB each: not on the stack */
    const char *buf = (const char *)data;
    long n = http_parse_request(buf, size, &whole);
    check_answer(buf, size, n, &whole);

    /* The first bytes alone, in a buffer of exactly their size, so that
     * reading one byte past them is an ASan report. Cut where the first
     * byte says: libFuzzer then tries every cut of an input it likes. */
    size_t cut = size == 0 ? 0 : (size_t)data[0] * size / 255;
    char *prefix = malloc(cut); /* ASan's malloc(0) is a valid pointer */
    if (cut > 0)
        memcpy(prefix, buf, cut);
    long m = http_parse_request(prefix, cut, &part);
    /* "Need more" is the only answer a prefix may give that the whole does
     * not: an error or a complete head is already decided by these bytes. */
    if (m != HTTP_AGAIN) {
        CHECK(m == n);
        CHECK(m != HTTP_ERROR || part.status == whole.status);
    }
    free(prefix);
    return 0;
}

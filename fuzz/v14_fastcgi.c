/* v14_fastcgi: fuzzes fcgi_decode_reply, the FastCGI reply decoder of every C
 * stage from v11, with the input as what php-fpm sent, and checks its STDOUT
 * stream against a second, simpler reading of the records. */
#include <stdint.h>
#include <stdio.h>

/* The record types and the stderr cap are private to fastcgi.c: this file
 * includes fastcgi.c itself to reach them, rather than widen the stage's
 * interface for a test. The library's copy of fastcgi.c is then never
 * linked in. */
#include "check.h"
#include "fastcgi.c"

/* The STDOUT stream of a reply that ends with a complete END_REQUEST, read
 * record by record into out. False for any other reply. */
static bool expected_stdout(const uint8_t *p, size_t size, struct buf *out)
{
    for (size_t pos = 0; size - pos >= 8;) {
        const uint8_t *h = p + pos;
        size_t content = (size_t)(h[4] << 8 | h[5]);
        if (h[0] != 1 || h[2] != 0 || h[3] != 1 ||
            size - pos - 8 < content + h[6])
            return false;
        if (h[1] == FCGI_STDOUT)
            buf_append(out, h + 8, content);
        else if (h[1] == FCGI_END_REQUEST && content == 8)
            return h[8 + 4] == 0; /* protocolStatus: REQUEST_COMPLETE */
        else if (h[1] != FCGI_STDERR)
            return false;
        pos += 8 + content + h[6];
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf reply, err, expected;
    buf_init(&reply, SIZE_MAX);
    buf_init(&err, MAX_STDERR_BYTES);
    buf_init(&expected, SIZE_MAX);
    CHECK(buf_append(&reply, data, size) == 0);

    const char *problem = fcgi_decode_reply(&reply, &err);
    bool complete = expected_stdout(data, size, &expected);
    CHECK(complete == (problem == NULL));
    CHECK(reply.len <= size && err.len <= MAX_STDERR_BYTES);
    if (complete)
        CHECK(reply.len == expected.len &&
              (reply.len == 0 ||
               memcmp(reply.data, expected.data, reply.len) == 0));
    buf_free(&reply);
    buf_free(&err);
    buf_free(&expected);
    return 0;
}

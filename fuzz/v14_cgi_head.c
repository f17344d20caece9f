/* v14_cgi_head: fuzzes how v14 reads what a CGI script printed (the input):
 * parse_cgi_head, the same in every C stage from v08, then finish_response,
 * which acts on Status and Location. */
#include <stdint.h>
#include <stdio.h>

/* Both functions are static, private to cgi.c: this file includes cgi.c
 * itself to reach them, rather than widen the stage's interface for a
 * test. The library's copy of cgi.c is then never linked in. */
#include "check.h"
#include "cgi.c"

/* The headers passed on to the client: whole lines, each ending in CR LF,
 * with no other CR or LF, which would split our response in two. */
static void check_header_lines(const struct buf *h)
{
    CHECK(h->len == 0 || h->data[h->len - 1] == '\n');
    for (size_t i = 0; i < h->len; i++) {
        if (h->data[i] == '\r')
            CHECK(i + 1 < h->len && h->data[i + 1] == '\n');
        if (h->data[i] == '\n')
            CHECK(i > 0 && h->data[i - 1] == '\r');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config cfg = CONFIG_DEFAULTS;
    if (cfg.root_fd < 0) { /* a Location such as /index.html is served */
        char err[256];
        cfg.root_fd = static_open_root(FUZZ_WWW, err, sizeof err);
        CHECK(cfg.root_fd >= 0);
    }
    struct buf out;
    buf_init(&out, SIZE_MAX);
    /* Room first, as cgi_exchange makes before each read: the server never
     * hands parse_cgi_head a buffer without one (NULL, even with length 0,
     * would be C's undefined NULL + 0, which UBSan reports). */
    CHECK(buf_reserve(&out, 1) == 0 && buf_append(&out, data, size) == 0);

    struct response resp;
    struct slice location = {NULL, 0};
    bool has_status = false;
    http_response_init(&resp);
    long head = parse_cgi_head(&out, &resp, &location, &has_status);
    if (head >= 0) {
        CHECK(head > 0 && (size_t)head <= size);
        CHECK(!has_status || (resp.status >= 200 && resp.status <= 599));
        check_header_lines(&resp.headers);
    }
    http_response_free(&resp);

    /* Only output with a header block: otherwise finish_response logs
     * "no valid header block" for every input and answers 502. */
    if (head >= 0) {
        static const char path[] = "/cgi-bin/fuzz.sh";
        struct request req = {.method = {"GET", 3},
                              .path = {path, sizeof path - 1},
                              .target = {path, sizeof path - 1},
                              .minor_version = 1};
        http_response_init(&resp);
        finish_response(&cfg, &req, &out, &resp);
        CHECK(resp.status >= 200 && resp.status <= 599);
        check_header_lines(&resp.headers);
        http_response_free(&resp);
    }
    buf_free(&out);
    return 0;
}

/* fastcgi_test.c: unit tests of the FastCGI records, checked byte by byte
 * against the specification rather than against the encoder: the request's
 * records and their padding, the name-value lengths on either side of 128,
 * the reply's streams cut at every byte, and fastcgi_pass addresses. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "buf.h"
#include "fastcgi.h"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

enum { BEGIN_REQUEST = 1, END_REQUEST = 3, PARAMS = 4, STDIN = 5 };
enum { STDOUT = 6, STDERR = 7 };

/* Appends one record as the specification draws it (3.3): version 1,
 * type, request id 1, content length, padding length, reserved; then the
 * content and padding zero bytes. */
static void put_record(struct buf *b, int type, const char *content, size_t len,
                       size_t padding)
{
    unsigned char h[8] = {1,          (unsigned char)type,    0, 1, len >> 8,
                          len & 0xff, (unsigned char)padding, 0};
    static const char zeros[255];
    buf_append(b, h, sizeof h);
    buf_append(b, content, len);
    buf_append(b, zeros, padding);
}

/* Takes the record at *at in the encoded request, checks its header and
 * that it is padded with zeros to a multiple of 8 bytes, and moves past it.
 * Returns its content length, or -1 if any of that is wrong. */
static long take_record(const struct buf *b, size_t *at, int type,
                        const char **content)
{
    const unsigned char *h = (const unsigned char *)b->data + *at;
    if (b->len - *at < 8 || h[0] != 1 || h[1] != type || h[2] != 0 ||
        h[3] != 1 || h[7] != 0) {
        fprintf(stderr, "record at %zu: not a type %d record\n", *at, type);
        return -1;
    }
    size_t len = (size_t)h[4] << 8 | h[5], padding = h[6];
    if ((len + padding) % 8 != 0 || b->len - *at - 8 < len + padding) {
        fprintf(stderr, "record at %zu: %zu bytes, padding %zu\n", *at, len,
                padding);
        return -1;
    }
    for (size_t i = 0; i < padding; i++)
        if (b->data[*at + 8 + len + i] != 0)
            return -1;
    *content = b->data + *at + 8;
    *at += 8 + len + padding;
    return (long)len;
}

/* Reads a stream of records of one type up to its empty record, checking
 * each; the stream's bytes go to out. Returns 0 or -1. */
static int take_stream(const struct buf *b, size_t *at, int type,
                       struct buf *out)
{
    const char *content;
    long len;
    while ((len = take_record(b, at, type, &content)) > 0)
        buf_append(out, content, (size_t)len);
    return len == 0 ? 0 : -1;
}

static void test_encode_request(void)
{
    /* Names and values of 0, 1, 127, 128 and 300 bytes, and a value that
     * alone fills more than one PARAMS record (65535 bytes at most). */
    static char name127[128], value128[129], value300[301], big[70001];
    memset(name127, 'N', 127);
    memset(value128, 'v', 128);
    memset(value300, 'w', 300);
    char *long_name = malloc(127 + 1 + 128 + 1);
    char *long_value = malloc(2 + 300 + 1);
    char *huge = malloc(2 + 70000 + 1);
    sprintf(long_name, "%s=%s", name127, value128);
    sprintf(long_value, "V=%s", value300);
    memset(big, 'b', 70000);
    sprintf(huge, "H=%s", big);
    char *env[] = {"A=1", "EMPTY=", long_name, long_value, huge, NULL};

    struct buf want;
    buf_init(&want, SIZE_MAX);
    buf_append(&want,
               "\x01\x01"
               "A1",
               4);
    buf_append(&want,
               "\x05\x00"
               "EMPTY",
               7);
    buf_append(&want, "\x7f\x80\x00\x00\x80", 5); /* 127: one byte; 128: four */
    buf_append(&want, name127, 127);
    buf_append(&want, value128, 128);
    buf_append(&want,
               "\x01\x80\x00\x01\x2c"
               "V",
               6); /* 300 = 0x12c */
    buf_append(&want, value300, 300);
    buf_append(&want,
               "\x01\x80\x01\x11\x70"
               "H",
               6); /* 70000 = 0x11170 */
    buf_append(&want, big, 70000);

    struct buf got, params, body_in;
    buf_init(&got, SIZE_MAX);
    buf_init(&params, SIZE_MAX);
    buf_init(&body_in, SIZE_MAX);
    CHECK(fcgi_encode_request(&got, env, (struct slice){"hello", 5}) == 0);

    size_t at = 0;
    const char *begin;
    /* A RESPONDER (role 1), flags 0: no FCGI_KEEP_CONN (5.1). */
    CHECK(take_record(&got, &at, BEGIN_REQUEST, &begin) == 8 &&
          memcmp(begin, "\0\1\0\0\0\0\0\0", 8) == 0);
    CHECK(take_stream(&got, &at, PARAMS, &params) == 0);
    CHECK(params.len == want.len &&
          memcmp(params.data, want.data, want.len) == 0);
    /* "hello": 5 bytes and 3 of padding, then the empty record. */
    CHECK(got.len - at == 16 + 8 &&
          memcmp(got.data + at, "\1\5\0\1\0\5\3\0hello\0\0\0\1\5\0\1\0\0\0\0",
                 24) == 0);
    CHECK(take_stream(&got, &at, STDIN, &body_in) == 0 && at == got.len);
    buf_free(&got);
    buf_free(&params);
    buf_free(&body_in);

    /* No variables and no body: both streams are just their empty record. */
    char *none[] = {NULL};
    buf_init(&got, SIZE_MAX);
    CHECK(fcgi_encode_request(&got, none, (struct slice){"", 0}) == 0);
    CHECK(got.len == 32 &&
          memcmp(got.data + 16, "\1\4\0\1\0\0\0\0\1\5\0\1\0\0\0\0", 16) == 0);
    buf_free(&got);

    /* A body of 65536 bytes takes two STDIN records: 65535 and 1. */
    char *body = calloc(1, 65536);
    buf_init(&got, SIZE_MAX);
    buf_init(&body_in, SIZE_MAX);
    CHECK(fcgi_encode_request(&got, none, (struct slice){body, 65536}) == 0);
    at = 24;
    const char *content;
    CHECK(take_record(&got, &at, STDIN, &content) == 65535);
    CHECK(take_record(&got, &at, STDIN, &content) == 1);
    CHECK(take_record(&got, &at, STDIN, &content) == 0 && at == got.len);
    buf_free(&got);
    buf_free(&body_in);
    buf_free(&want);
    free(body);
    free(long_name);
    free(long_value);
    free(huge);
}

/* A reply: STDOUT in two records (the first padded), STDERR between them,
 * the empty STDOUT record, then END_REQUEST with protocol_status. */
static void build_reply(struct buf *b, unsigned char protocol_status)
{
    char end[8] = {0, 0, 0, 0, (char)protocol_status};
    put_record(b, STDOUT, "Status: 200\r\n", 13, 3);
    put_record(b, STDERR, "a warning\n", 10, 6);
    put_record(b, STDOUT, "\r\nbody", 6, 0);
    put_record(b, STDOUT, "", 0, 0);
    put_record(b, END_REQUEST, end, 8, 0);
}

/* Decodes a copy of text; returns NULL or the problem, output in out. */
static const char *decode(const char *text, size_t len, struct buf *out,
                          struct buf *err)
{
    buf_init(out, SIZE_MAX);
    buf_init(err, 64);
    buf_append(out, text, len);
    return fcgi_decode_reply(out, err);
}

static void test_decode_reply(void)
{
    struct buf reply, out, err;
    buf_init(&reply, SIZE_MAX);
    build_reply(&reply, 0);

    CHECK(decode(reply.data, reply.len, &out, &err) == NULL);
    CHECK(out.len == 19 &&
          memcmp(out.data, "Status: 200\r\n\r\nbody", 19) == 0);
    CHECK(err.len == 10 && memcmp(err.data, "a warning\n", 10) == 0);
    buf_free(&out);
    buf_free(&err);

    /* Every prefix is incomplete, and decoding one is an error; a reply
     * growing a byte at a time is complete exactly at its last byte. */
    size_t next = 0;
    for (size_t n = 0; n <= reply.len; n++) {
        struct buf prefix = {.data = reply.data, .len = n, .max = n};
        size_t from_start = 0;
        bool complete = fcgi_reply_complete(&prefix, &from_start);
        bool growing = fcgi_reply_complete(&prefix, &next);
        if (complete != (n == reply.len) || growing != complete)
            fprintf(stderr, "reply cut at %zu of %zu: complete %d, %d\n", n,
                    reply.len, complete, growing);
        CHECK(complete == (n == reply.len) && growing == complete);
        if (n < reply.len) {
            const char *problem = decode(reply.data, n, &out, &err);
            if (problem == NULL)
                fprintf(stderr, "reply cut at %zu decoded\n", n);
            CHECK(problem != NULL);
            buf_free(&out);
            buf_free(&err);
        }
    }
    buf_free(&reply);
}

/* Decodes one record placed between a good STDOUT record and a good
 * END_REQUEST; returns whether the whole decoded without a problem. */
static bool decodes_with(const unsigned char header[8], size_t content_len)
{
    static const char content[64];
    struct buf reply, out, err;
    buf_init(&reply, SIZE_MAX);
    put_record(&reply, STDOUT, "Status: 200\r\n\r\n", 15, 1);
    buf_append(&reply, header, 8);
    buf_append(&reply, content, content_len);
    put_record(&reply, END_REQUEST, "\0\0\0\0\0\0\0\0", 8, 0);
    bool ok = decode(reply.data, reply.len, &out, &err) == NULL;
    buf_free(&reply);
    buf_free(&out);
    buf_free(&err);
    return ok;
}

static void test_bad_replies(void)
{
    static const unsigned char good[8] = {1, STDOUT, 0, 1, 0, 8, 0, 0};
    static const unsigned char version2[8] = {2, STDOUT, 0, 1, 0, 8, 0, 0};
    static const unsigned char other_id[8] = {1, STDOUT, 0, 2, 0, 8, 0, 0};
    static const unsigned char unknown[8] = {1, 11, 0, 1, 0, 8, 0, 0};
    /* Claims 0x100 bytes of content where 8 follow before END_REQUEST's 16:
     * it would swallow them and run past the end. */
    static const unsigned char oversized[8] = {1, STDOUT, 0, 1, 1, 0, 0, 0};
    CHECK(decodes_with(good, 8));
    CHECK(!decodes_with(version2, 8));
    CHECK(!decodes_with(other_id, 8));
    CHECK(!decodes_with(unknown, 8));
    CHECK(!decodes_with(oversized, 8));

    /* END_REQUEST's protocolStatus other than REQUEST_COMPLETE (5.5). */
    for (unsigned char status = 1; status < 5; status++) {
        struct buf reply, out, err;
        buf_init(&reply, SIZE_MAX);
        build_reply(&reply, status);
        CHECK(decode(reply.data, reply.len, &out, &err) != NULL);
        buf_free(&reply);
        buf_free(&out);
        buf_free(&err);
    }

    /* STDERR is kept up to err's cap, and the rest dropped. */
    struct buf reply, out, err;
    buf_init(&reply, SIZE_MAX);
    static const char noise[100];
    put_record(&reply, STDERR, noise, sizeof noise, 4);
    put_record(&reply, END_REQUEST, "\0\0\0\0\0\0\0\0", 8, 0);
    CHECK(decode(reply.data, reply.len, &out, &err) == NULL && err.len == 64 &&
          out.len == 0);
    buf_free(&reply);
    buf_free(&out);
    buf_free(&err);
}

static bool address_ok(const char *pass, struct sockaddr_storage *addr,
                       socklen_t *len)
{
    return fcgi_parse_address(pass, addr, len) == NULL;
}

static void test_parse_address(void)
{
    struct sockaddr_storage addr;
    socklen_t len;
    const struct sockaddr_in *in = (const struct sockaddr_in *)&addr;
    const struct sockaddr_un *un = (const struct sockaddr_un *)&addr;

    CHECK(address_ok("127.0.0.1:9000", &addr, &len));
    CHECK(in->sin_family == AF_INET && ntohs(in->sin_port) == 9000 &&
          in->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && len == sizeof *in);
    CHECK(address_ok("10.1.2.3:65535", &addr, &len));
    CHECK(ntohs(in->sin_port) == 65535 &&
          in->sin_addr.s_addr == htonl(0x0a010203));
    CHECK(address_ok("unix:/run/php/fpm.sock", &addr, &len));
    CHECK(un->sun_family == AF_UNIX &&
          strcmp(un->sun_path, "/run/php/fpm.sock") == 0 && len == sizeof *un);

    char path[5 + sizeof un->sun_path + 1] = "unix:";
    memset(path + 5, 'p', sizeof un->sun_path - 1); /* 107: room for NUL */
    CHECK(address_ok(path, &addr, &len));
    path[5 + sizeof un->sun_path - 1] = 'p'; /* 108 */
    CHECK(!address_ok(path, &addr, &len));

    static const char *const bad[] = {
        "unix:",          "127.0.0.1",   "127.0.0.1:",      ":9000",
        "localhost:9000", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:+80",
        "127.0.0.1:90x",  "[::1]:9000",  "1.2.3:9000",      "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (address_ok(bad[i], &addr, &len))
            fprintf(stderr, "fastcgi_pass \"%s\" accepted\n", bad[i]);
        CHECK(!address_ok(bad[i], &addr, &len));
    }
}

int main(void)
{
    test_encode_request();
    test_decode_reply();
    test_bad_replies();
    test_parse_address();
    if (failures == 0)
        printf("fastcgi_test: all checks passed\n");
    return failures == 0 ? 0 : 1;
}

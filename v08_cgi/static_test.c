/* static_test.c: unit tests of the static files. The path decoder rule by
 * rule, on its own: the kernel's RESOLVE_BENEATH must never be the only
 * thing between a client and ".."; then GET, HEAD and POST /echo through
 * http_handle, over a document root made for the test. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "http.h"
#include "static.h"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* Says what came back, not only that it was wrong. */
#define CHECK_STR(got, want)                                                   \
    do {                                                                       \
        const char *got_ = (got), *want_ = (want);                             \
        if (got_ == NULL || strcmp(got_, want_) != 0) {                        \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n",          \
                    __FILE__, __LINE__, #got, got_ ? got_ : "(null)", want_);  \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* Says what status came back, not only that it was wrong. */
#define CHECK_STATUS(resp, want)                                               \
    do {                                                                       \
        if ((resp).status != (want)) {                                         \
            fprintf(stderr, "%s:%d: status %d, expected %d\n", __FILE__,       \
                    __LINE__, (resp).status, (want));                          \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static char decoded[MAX_PATH_BYTES], relative[MAX_PATH_BYTES];

static int decode_bytes(const char *path, size_t len)
{
    return static_decode_path((struct slice){path, len}, decoded, relative);
}

static int decode(const char *path)
{
    return decode_bytes(path, strlen(path));
}

/* A path the decoder must take, with what it makes of it. */
static void check_decodes(const char *path, const char *want_decoded,
                          const char *want_relative)
{
    if (decode(path) != 0) {
        fprintf(stderr, "static_decode_path(\"%s\") refused it\n", path);
        failures++;
        return;
    }
    CHECK_STR(decoded, want_decoded);
    CHECK_STR(relative, want_relative);
}

static void check_refused(const char *path)
{
    if (decode(path) == 0) {
        fprintf(stderr, "static_decode_path(\"%s\") took it as \"%s\"\n", path,
                relative);
        failures++;
    }
}

static void test_decoder_normalises(void)
{
    check_decodes("/", "/", ".");
    check_decodes("/hello.txt", "/hello.txt", "hello.txt");
    check_decodes("/a//./b/", "/a//./b/", "a/b");
    check_decodes("//a", "//a", "a");
    check_decodes("/a/.", "/a/.", "a");
    check_decodes("/./", "/./", ".");
    check_decodes("/a%20b", "/a b", "a b");
    check_decodes("/%7Euser/%41", "/~user/A", "~user/A");
    /* Decoded once: "%252e" is the name "%2e", never a dot. */
    check_decodes("/%252e%252e/x", "/%2e%2e/x", "%2e%2e/x");
    /* %2f is a separator, and the same rules apply beneath it. */
    check_decodes("/a%2fb", "/a/b", "a/b");
    /* A backslash is an ordinary byte in a Linux file name. */
    check_decodes("/a%5cb", "/a\\b", "a\\b");
    /* Only a segment of exactly two dots goes up. */
    check_decodes("/...", "/...", "...");
    check_decodes("/..a/b..", "/..a/b..", "..a/b..");
    check_decodes("/.hidden", "/.hidden", ".hidden");
}

static void test_decoder_refuses_dot_dot(void)
{
    check_refused("/..");
    check_refused("/../");
    check_refused("/../etc/passwd");
    check_refused("/a/../b");
    check_refused("/a/..");
    check_refused("/a/b/../../..");
    check_refused("/%2e%2e/x");
    check_refused("/%2E%2e/x");
    check_refused("/%2E%2E");
    check_refused("/.%2e/x");
    check_refused("/%2e./x");
    check_refused("/a/%2e%2e");
    check_refused("/..%2fx");
    check_refused("/a%2f..%2fb");
    check_refused("/.//../x");
}

static void test_decoder_refuses_bad_input(void)
{
    check_refused("");
    check_refused("a/b"); /* not absolute */
    check_refused("*");
    check_refused("/%");
    check_refused("/%4");
    check_refused("/a%4");
    check_refused("/%zz");
    check_refused("/%4g");
    check_refused("/%g4");
    check_refused("/%%41");
    check_refused("/%00");
    check_refused("/a%00.txt");
    CHECK(decode_bytes("/a\0b", 4) < 0); /* a raw NUL */

    /* The longest path that fits, and one byte more. */
    static char path[MAX_PATH_BYTES + 1];
    memset(path, 'a', sizeof path);
    path[0] = '/';
    CHECK(decode_bytes(path, MAX_PATH_BYTES - 1) == 0 &&
          strlen(relative) == MAX_PATH_BYTES - 2);
    CHECK(decode_bytes(path, MAX_PATH_BYTES) < 0);
}

/* The document root of the http_handle tests, made in /tmp. */
static char root[64];

static void make_file(const char *name, const char *content)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs(content, f);
        fclose(f);
    }
}

static void make_dir(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, name);
    CHECK(mkdir(path, 0755) == 0);
}

static void remove_root(void)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", root);
    CHECK(system(command) == 0);
}

/* Parses "METHOD TARGET" into a request with body and has http_handle
 * answer it. The caller frees resp. */
static void handle(const char *line, const char *content_type, const char *body,
                   struct response *resp)
{
    static char text[512];
    snprintf(text, sizeof text, "%s HTTP/1.1\r\nHost: h\r\n%s%s%s\r\n", line,
             content_type ? "Content-Type: " : "",
             content_type ? content_type : "", content_type ? "\r\n" : "");
    struct request req;
    CHECK(http_parse_request(text, strlen(text), &req) == (long)strlen(text));
    req.body = (struct slice){body, strlen(body)};
    strcpy(req.remote_addr, "127.0.0.1");
    struct config cfg = CONFIG_DEFAULTS;
    cfg.root = root;
    char err[256];
    cfg.root_fd = static_open_root(root, err, sizeof err);
    http_response_init(resp);
    http_handle(&cfg, &req, resp);
    close(cfg.root_fd);
}

/* The status http_handle answers line with. */
static int status_of(const char *line)
{
    struct response resp;
    handle(line, NULL, "", &resp);
    int status = resp.status;
    http_response_free(&resp);
    return status;
}

static void check_status(const char *line, int want)
{
    int got = status_of(line);
    if (got != want) {
        fprintf(stderr, "%s: got %d, expected %d\n", line, got, want);
        failures++;
    }
}

/* Whether resp's extra headers hold this whole line. */
static bool has_header(const struct response *resp, const char *line)
{
    char want[512];
    snprintf(want, sizeof want, "%s\r\n", line);
    size_t n = strlen(want);
    for (size_t i = 0; i + n <= resp->headers.len; i++)
        if ((i == 0 || resp->headers.data[i - 1] == '\n') &&
            memcmp(resp->headers.data + i, want, n) == 0)
            return true;
    fprintf(stderr, "no header \"%s\" in:\n%.*s\n", line,
            (int)resp->headers.len, resp->headers.data);
    return false;
}

static void check_type(const char *name, const char *want)
{
    char line[128];
    snprintf(line, sizeof line, "GET /%s", name);
    struct response resp;
    handle(line, NULL, "", &resp);
    const char *got = resp.content_type ? resp.content_type : "(null)";
    if (resp.status != 200 || strcmp(got, want) != 0) {
        fprintf(stderr, "%s: got %d %s, expected 200 %s\n", line, resp.status,
                got, want);
        failures++;
    }
    http_response_free(&resp);
}

static void test_mime_types(void)
{
    static const char *const types[][2] = {
        {"f.html", "text/html; charset=utf-8"},
        {"f.htm", "text/html; charset=utf-8"},
        {"f.css", "text/css; charset=utf-8"},
        {"f.js", "text/javascript; charset=utf-8"},
        {"f.json", "application/json"},
        {"f.txt", "text/plain; charset=utf-8"},
        {"f.svg", "image/svg+xml"},
        {"f.png", "image/png"},
        {"f.jpg", "image/jpeg"},
        {"f.jpeg", "image/jpeg"},
        {"f.gif", "image/gif"},
        {"f.ico", "image/x-icon"},
        {"f.webp", "image/webp"},
        {"f.wasm", "application/wasm"},
        {"f.pdf", "application/pdf"},
        {"UPPER.CSS", "text/css; charset=utf-8"},
        {"Mixed.Png", "image/png"},
        {"README", "application/octet-stream"},
        {"f.exe", "application/octet-stream"},
        {"f.html.gz", "application/octet-stream"},
        {"f.", "application/octet-stream"},
        {"dir.css/inside", "application/octet-stream"},
    };
    make_dir("dir.css");
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        make_file(types[i][0], "x");
        check_type(types[i][0], types[i][1]);
    }
}

static void test_file(void)
{
    make_file("hello.txt", "hello\n");
    char path[128];
    snprintf(path, sizeof path, "%s/hello.txt", root);
    /* RFC 9110's example date: Sun, 06 Nov 1994 08:49:37 GMT. */
    struct timespec times[2] = {{784111777, 0}, {784111777, 0}};
    CHECK(utimensat(AT_FDCWD, path, times, 0) == 0);

    struct response resp;
    handle("GET /hello.txt", NULL, "", &resp);
    CHECK_STATUS(resp, 200);
    CHECK_STR(resp.content_type, "text/plain; charset=utf-8");
    CHECK(resp.file_fd >= 0 && resp.file_size == 6);
    CHECK(has_header(&resp, "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT"));
    struct buf head;
    buf_init(&head, 4096);
    CHECK(http_format_head(&resp, &head) == 0);
    CHECK(buf_append(&head, "", 1) == 0);
    CHECK(strstr(head.data, "\r\nContent-Length: 6\r\n") != NULL);
    buf_free(&head);
    int fd = resp.file_fd;
    http_response_free(&resp);
    CHECK(fcntl(fd, F_GETFD) < 0); /* closed with the response */

    check_status("HEAD /hello.txt", 200);
    check_status("GET /hello.txt?x=1", 200);
    check_status("GET /h%65llo.txt", 200);
    check_status("GET /missing.txt", 404);
    check_status("GET /hello.txt/x", 404);
    check_status("GET /hello.txt/", 404); /* a file is not a directory */
    check_status("GET /../hello.txt", 400);
    check_status("GET /%2e%2e/hello.txt", 400);
    check_status("GET /%zz", 400);
    check_status("POST /hello.txt", 405);
}

static void test_directories(void)
{
    make_dir("site");
    make_file("site/index.html", "<p>site</p>\n");
    make_dir("a b");
    make_dir("empty");

    struct response resp;
    handle("GET /site/", NULL, "", &resp);
    CHECK_STATUS(resp, 200);
    CHECK_STR(resp.content_type, "text/html; charset=utf-8");
    CHECK(resp.file_size == 12);
    http_response_free(&resp);

    handle("GET /site", NULL, "", &resp);
    CHECK_STATUS(resp, 301);
    CHECK(has_header(&resp, "Location: /site/"));
    http_response_free(&resp);
    handle("GET /site?q=1", NULL, "", &resp);
    CHECK_STATUS(resp, 301);
    CHECK(has_header(&resp, "Location: /site/?q=1"));
    http_response_free(&resp);
    /* Never "//site/": a browser would take it for the host "site". */
    handle("GET //site", NULL, "", &resp);
    CHECK_STATUS(resp, 301);
    CHECK(has_header(&resp, "Location: /site/"));
    http_response_free(&resp);
    handle("GET /a%20b", NULL, "", &resp);
    CHECK_STATUS(resp, 301);
    CHECK(has_header(&resp, "Location: /a%20b/"));
    http_response_free(&resp);

    check_status("GET /empty/", 403); /* no index, and no listing */
    check_status("GET /site/./index.html", 200);
}

static void test_not_regular_files(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/fifo", root);
    CHECK(mkfifo(path, 0644) == 0);
    check_status("GET /fifo", 403);
    snprintf(path, sizeof path, "%s/out", root);
    CHECK(symlink("/etc", path) == 0);
    check_status("GET /out/hostname", 403);
}

static void test_echo(void)
{
    struct response resp;
    handle("POST /echo", "text/x-test", "ping", &resp);
    CHECK_STATUS(resp, 200);
    CHECK(resp.body.len == 4 && memcmp(resp.body.data, "ping", 4) == 0);
    CHECK(has_header(&resp, "Content-Type: text/x-test"));
    http_response_free(&resp);

    handle("POST /echo", NULL, "x", &resp);
    CHECK_STR(resp.content_type, "application/octet-stream");
    http_response_free(&resp);

    handle("PUT /echo", NULL, "", &resp);
    CHECK_STATUS(resp, 405);
    CHECK(has_header(&resp, "Allow: POST"));
    http_response_free(&resp);
    handle("DELETE /", NULL, "", &resp);
    CHECK_STATUS(resp, 405);
    CHECK(has_header(&resp, "Allow: GET, HEAD"));
    http_response_free(&resp);
}

int main(void)
{
    test_decoder_normalises();
    test_decoder_refuses_dot_dot();
    test_decoder_refuses_bad_input();

    snprintf(root, sizeof root, "/tmp/static_test.XXXXXX");
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_mime_types();
    test_file();
    test_directories();
    test_not_regular_files();
    test_echo();
    remove_root();

    if (failures == 0)
        printf("static_test: all checks passed\n");
    return failures == 0 ? 0 : 1;
}

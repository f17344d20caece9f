/* cgi_test.c: unit tests of CGI/1.1 through cgi_serve, with small shell
 * scripts in a document root made for the test: the environment a script
 * gets (RFC 3875 section 4.1), and what becomes of the header block it
 * prints (section 6): passed on, acted upon, or refused with 502. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cgi.h"
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

/* Says what status came back, not only that it was wrong. */
#define CHECK_STATUS(resp, want)                                               \
    do {                                                                       \
        if ((resp).status != (want)) {                                         \
            fprintf(stderr, "%s:%d: status %d, expected %d\n", __FILE__,       \
                    __LINE__, (resp).status, (want));                          \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* The document root, made in /tmp, and a php-cgi of our own in it that
 * prints its environment as env.sh does. */
static char root[64];
static char php_cgi[128];
/* The file a directory answers with, as the configuration names it. */
static const char *index_name = "index.html";

static void make_file(const char *name, const char *content, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs(content, f);
        fclose(f);
    }
    CHECK(chmod(path, mode) == 0);
}

/* A /cgi-bin/ script: a shell script whose body prints what it is given. */
static void make_script(const char *name, const char *body)
{
    char path[128], text[512];
    snprintf(path, sizeof path, "cgi-bin/%s", name);
    snprintf(text, sizeof text, "#!/bin/sh\n%s\n", body);
    make_file(path, text, 0755);
}

/* The response cgi_serve gives "METHOD TARGET" with these extra header
 * lines ("Name: value\r\n" each) and body. Returns what cgi_serve did:
 * true if it took the request as a script's. The caller frees resp. */
static bool serve(const char *line, const char *headers, const char *body,
                  struct response *resp)
{
    static char text[1024];
    snprintf(text, sizeof text, "%s\r\n%s\r\n", line, headers);
    struct request req;
    CHECK(http_parse_request(text, strlen(text), &req) == (long)strlen(text));
    req.body = (struct slice){body, strlen(body)};
    strcpy(req.remote_addr, "192.0.2.7");
    struct config cfg = CONFIG_DEFAULTS;
    cfg.port = 8123;
    cfg.root = root;
    char err[256];
    cfg.root_fd = static_open_root(root, err, sizeof err);
    cfg.php_cgi = php_cgi;
    cfg.index = index_name;
    cfg.cgi_timeout = 5; /* a script that hangs fails the test soon */
    http_response_init(resp);
    bool taken = cgi_serve(&cfg, &req, resp);
    close(cfg.root_fd);
    /* The script has been reaped: no child is left, not even a zombie. */
    if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) {
        fprintf(stderr, "%s: a script was left unreaped\n", line);
        failures++;
    }
    return taken;
}

/* The body of resp as a C string, in a static buffer. */
static const char *body_of(const struct response *resp)
{
    static char text[16384];
    snprintf(text, sizeof text, "%.*s", (int)resp->body.len, resp->body.data);
    return text;
}

/* Whether the environment env.sh printed holds this whole line. */
static bool has_var(const char *env, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = env; (p = strstr(p, line)) != NULL; p++)
        if ((p == env || p[-1] == '\n') && p[n] == '\n')
            return true;
    fprintf(stderr, "no %s in the environment:\n%s\n", line, env);
    return false;
}

/* Whether the environment has a variable of this name at all. */
static bool has_name(const char *env, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = env; (p = strstr(p, name)) != NULL; p++)
        if ((p == env || p[-1] == '\n') && p[n] == '=') {
            fprintf(stderr, "%s is in the environment:\n%s\n", name, env);
            return true;
        }
    return false;
}

static void test_environment(void)
{
    char want[256];
    struct response resp;
    CHECK(serve("POST /cgi-bin/env.sh/extra/path?a=1&b=%20 HTTP/1.1",
                "Host: example.com:8080\r\nContent-Type: text/x-test\r\n"
                "Content-Length: 4\r\nX-Custom-Header: one\r\n"
                "User-Agent: t/1\r\nx-custom-header: two\r\n"
                "Proxy: http://evil.example/\r\nX_Under: no\r\n",
                "ping", &resp));
    CHECK_STATUS(resp, 200);
    const char *env = body_of(&resp);
    CHECK(has_var(env, "GATEWAY_INTERFACE=CGI/1.1"));
    CHECK(has_var(env, "SERVER_PROTOCOL=HTTP/1.1"));
    CHECK(has_var(env, "SERVER_NAME=example.com"));
    CHECK(has_var(env, "SERVER_PORT=8123"));
    CHECK(has_var(env, "REQUEST_METHOD=POST"));
    CHECK(has_var(env, "REQUEST_URI=/cgi-bin/env.sh/extra/path?a=1&b=%20"));
    CHECK(has_var(env, "QUERY_STRING=a=1&b=%20"));
    CHECK(has_var(env, "SCRIPT_NAME=/cgi-bin/env.sh"));
    snprintf(want, sizeof want, "SCRIPT_FILENAME=%s/cgi-bin/env.sh", root);
    CHECK(has_var(env, want));
    CHECK(has_var(env, "PATH_INFO=/extra/path"));
    snprintf(want, sizeof want, "DOCUMENT_ROOT=%s", root);
    CHECK(has_var(env, want));
    CHECK(has_var(env, "REMOTE_ADDR=192.0.2.7"));
    CHECK(has_var(env, "REDIRECT_STATUS=200"));
    CHECK(has_var(env, "CONTENT_LENGTH=4"));
    CHECK(has_var(env, "CONTENT_TYPE=text/x-test"));
    CHECK(has_var(env, "HTTP_HOST=example.com:8080"));
    CHECK(has_var(env, "HTTP_USER_AGENT=t/1"));
    /* Repeated headers are joined, in order (section 4.1.18). */
    CHECK(has_var(env, "HTTP_X_CUSTOM_HEADER=one, two"));
    /* httpoxy: a client must not be able to set HTTP_PROXY. */
    CHECK(!has_name(env, "HTTP_PROXY"));
    CHECK(!has_name(env, "HTTP_X_UNDER"));
    CHECK(!has_name(env, "HTTP_CONTENT_TYPE"));
    CHECK(!has_name(env, "HTTP_CONTENT_LENGTH"));
    /* The body reaches the script's stdin: env.sh prints it last. */
    CHECK(resp.body.len >= 5 &&
          memcmp(env + strlen(env) - 5, "\nping", 5) == 0);
    http_response_free(&resp);

    CHECK(serve("GET /cgi-bin/env.sh HTTP/1.0", "", "", &resp));
    env = body_of(&resp);
    CHECK(has_var(env, "SERVER_PROTOCOL=HTTP/1.0"));
    CHECK(has_var(env, "SERVER_NAME=localhost"));
    CHECK(has_var(env, "REQUEST_METHOD=GET"));
    CHECK(has_var(env, "QUERY_STRING="));
    CHECK(has_var(env, "PATH_INFO="));
    CHECK(!has_name(env, "CONTENT_LENGTH"));
    CHECK(!has_name(env, "CONTENT_TYPE"));
    http_response_free(&resp);

    CHECK(serve("GET /cgi-bin/env.sh HTTP/1.1", "Host: [::1]:8080\r\n", "",
                &resp));
    CHECK(has_var(body_of(&resp), "SERVER_NAME=[::1]"));
    http_response_free(&resp);
}

static void test_php_environment(void)
{
    char want[256];
    struct response resp;
    CHECK(serve("GET /dir/page.php/more/info?x=1 HTTP/1.1", "Host: h\r\n", "",
                &resp));
    CHECK_STATUS(resp, 200);
    const char *env = body_of(&resp);
    CHECK(has_var(env, "SCRIPT_NAME=/dir/page.php"));
    snprintf(want, sizeof want, "SCRIPT_FILENAME=%s/dir/page.php", root);
    CHECK(has_var(env, want));
    CHECK(has_var(env, "PATH_INFO=/more/info"));
    CHECK(has_var(env, "QUERY_STRING=x=1"));
    CHECK(has_var(env, "REDIRECT_STATUS=200"));
    http_response_free(&resp);
}

/* The response to GET of a script that prints output (printf's format). */
static void run_printing(const char *output, struct response *resp)
{
    char body[512];
    snprintf(body, sizeof body, "printf '%s'", output);
    make_script("out.sh", body);
    CHECK(serve("GET /cgi-bin/out.sh HTTP/1.1", "Host: h\r\n", "", resp));
}

static void check_output_status(const char *output, int want)
{
    struct response resp;
    run_printing(output, &resp);
    if (resp.status != want) {
        fprintf(stderr, "a script printing \"%s\": got %d, expected %d\n",
                output, resp.status, want);
        failures++;
    }
    http_response_free(&resp);
}

/* Whether resp's extra headers hold this line, or a line of this name. */
static bool has_header(const struct response *resp, const char *text)
{
    char want[256];
    snprintf(want, sizeof want, "%s%s", text,
             text[strlen(text) - 1] == ':' ? "" : "\r\n");
    size_t n = strlen(want);
    for (size_t i = 0; i + n <= resp->headers.len; i++)
        if ((i == 0 || resp->headers.data[i - 1] == '\n') &&
            strncasecmp(resp->headers.data + i, want, n) == 0)
            return true;
    return false;
}

static void test_script_headers(void)
{
    struct response resp;
    run_printing("Status: 404 Not Found\\nContent-Type: text/plain\\n\\nnope",
                 &resp);
    CHECK_STATUS(resp, 404);
    CHECK(strcmp(body_of(&resp), "nope") == 0);
    CHECK(!has_header(&resp, "Status:"));
    http_response_free(&resp);

    run_printing("Content-Type: text/plain\\r\\nX-Script: yes\\r\\n\\r\\nok",
                 &resp);
    CHECK_STATUS(resp, 200);
    CHECK(strcmp(body_of(&resp), "ok") == 0);
    CHECK(has_header(&resp, "Content-Type: text/plain"));
    CHECK(has_header(&resp, "X-Script: yes"));
    http_response_free(&resp);

    /* Framing is the server's: the script's own is dropped. */
    run_printing("Content-Type: text/plain\\nContent-Length: 99\\n"
                 "Connection: keep-alive\\nTransfer-Encoding: chunked\\n\\nok",
                 &resp);
    CHECK_STATUS(resp, 200);
    CHECK(!has_header(&resp, "Content-Length:"));
    CHECK(!has_header(&resp, "Connection:"));
    CHECK(!has_header(&resp, "Transfer-Encoding:"));
    http_response_free(&resp);

    run_printing("Location: https://example.com/x\\n\\n", &resp);
    CHECK_STATUS(resp, 302);
    CHECK(has_header(&resp, "Location: https://example.com/x"));
    http_response_free(&resp);

    run_printing("Status: 301 Moved\\nLocation: /elsewhere\\n\\n", &resp);
    CHECK_STATUS(resp, 301);
    CHECK(has_header(&resp, "Location: /elsewhere"));
    http_response_free(&resp);

    /* A local redirect (section 6.2.2): the server answers with the file. */
    run_printing("Location: /hello.txt\\n\\n", &resp);
    CHECK_STATUS(resp, 200);
    CHECK(resp.file_fd >= 0 && resp.file_size == 6);
    http_response_free(&resp);
    /* ... but never runs a second script: that one goes to the client. */
    run_printing("Location: /cgi-bin/env.sh\\n\\n", &resp);
    CHECK_STATUS(resp, 302);
    CHECK(has_header(&resp, "Location: /cgi-bin/env.sh"));
    http_response_free(&resp);
}

static void test_bad_script_output(void)
{
    check_output_status("Content-Type: text/plain\\nno blank line", 502);
    check_output_status("Content-Type: text/plain\\n", 502);
    check_output_status("not a header\\n\\nbody", 502);
    check_output_status(": no name\\nContent-Type: text/plain\\n\\n", 502);
    check_output_status("X-Only: 1\\n\\nno type, status or location", 502);
    check_output_status("Bad Name: 1\\nContent-Type: text/plain\\n\\n", 502);
    check_output_status("X-Split: a\\rb\\nContent-Type: text/plain\\n\\n", 502);
    check_output_status("Status: 99\\n\\n", 502);
    check_output_status("Status: 100\\n\\n", 502);
    check_output_status("Status: 199\\n\\n", 502);
    check_output_status("Status: 600\\n\\n", 502);
    check_output_status("Status: 1000\\n\\n", 502);
    check_output_status("Status: 2x0\\n\\n", 502);
    check_output_status("Status: 200OK\\n\\n", 502);
    check_output_status("", 502);
    check_output_status("Status: 204\\n\\n", 204);
    check_output_status("Status: 418 Teapot\\n\\n", 418);
}

/* A script may choose its status: the status line names the usual ones. */
static void test_status_lines(void)
{
    static const char *const lines[] = {
        "201 Created",
        "204 No Content",
        "206 Partial Content",
        "302 Found",
        "303 See Other",
        "304 Not Modified",
        "307 Temporary Redirect",
        "401 Unauthorized",
        "409 Conflict",
        "410 Gone",
        "422 Unprocessable Content",
        "429 Too Many Requests",
        "502 Bad Gateway",
        "503 Service Unavailable",
        "504 Gateway Timeout",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        struct response resp;
        struct buf head;
        http_response_init(&resp);
        resp.status = atoi(lines[i]);
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

/* An index that names a script runs it, as nginx's "index index.php"
 * does: static files would serve its source. */
static void test_index_script(void)
{
    index_name = "index.php";
    struct response resp;
    CHECK(serve("GET /dir/?x=1 HTTP/1.1", "Host: h\r\n", "", &resp));
    CHECK_STATUS(resp, 200);
    const char *env = body_of(&resp);
    CHECK(has_var(env, "SCRIPT_NAME=/dir/index.php"));
    CHECK(has_var(env, "PATH_INFO="));
    CHECK(has_var(env, "QUERY_STRING=x=1"));
    http_response_free(&resp);
    CHECK(serve("GET / HTTP/1.1", "Host: h\r\n", "", &resp));
    CHECK(has_var(body_of(&resp), "SCRIPT_NAME=/index.php"));
    http_response_free(&resp);
    index_name = "index.html";
    CHECK(!serve("GET /dir/ HTTP/1.1", "Host: h\r\n", "", &resp));
    http_response_free(&resp);
}

/* Whether process pid is gone: no such process, or a zombie that waits
 * only for its new parent to reap it. */
static bool process_gone(long pid)
{
    char path[64], stat[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *paren = strrchr(stat, ')');
    return paren != NULL && (paren[2] == 'Z' || paren[2] == 'X');
}

/* What a script started and forgot ends with it: its process group gets
 * SIGKILL. */
static void test_background_job_is_killed(void)
{
    make_script("bg.sh", "sleep 30 >/dev/null 2>&1 &\n"
                         "printf 'Content-Type: text/plain\\n\\n%s' $!");
    struct response resp;
    CHECK(serve("GET /cgi-bin/bg.sh HTTP/1.1", "Host: h\r\n", "", &resp));
    long pid = atol(body_of(&resp));
    http_response_free(&resp);
    CHECK(pid > 0);
    /* SIGKILL has been sent; give it up to 2 s to land. */
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 200 && pid > 0 && !process_gone(pid); i++)
        nanosleep(&pause, NULL);
    if (pid > 0 && !process_gone(pid)) {
        fprintf(stderr, "the script's background job %ld still runs\n", pid);
        failures++;
        kill((pid_t)pid, SIGKILL);
    }
}

static void test_which_requests(void)
{
    struct response resp;
    CHECK(!serve("GET /hello.txt HTTP/1.1", "Host: h\r\n", "", &resp));
    http_response_free(&resp);
    CHECK(!serve("GET /x.phpx HTTP/1.1", "Host: h\r\n", "", &resp));
    http_response_free(&resp);
    CHECK(!serve("GET /../cgi-bin/env.sh HTTP/1.1", "Host: h\r\n", "", &resp));
    http_response_free(&resp);

    CHECK(serve("PUT /cgi-bin/env.sh HTTP/1.1", "Host: h\r\n", "", &resp));
    CHECK_STATUS(resp, 405);
    CHECK(has_header(&resp, "Allow: GET, HEAD, POST"));
    http_response_free(&resp);
    CHECK(serve("GET /cgi-bin/missing.sh HTTP/1.1", "Host: h\r\n", "", &resp));
    CHECK_STATUS(resp, 404);
    http_response_free(&resp);
    CHECK(serve("GET /cgi-bin/plain.txt HTTP/1.1", "Host: h\r\n", "", &resp));
    CHECK_STATUS(resp, 403); /* not executable: never its source */
    http_response_free(&resp);
    CHECK(serve("GET /missing.php HTTP/1.1", "Host: h\r\n", "", &resp));
    CHECK_STATUS(resp, 404);
    http_response_free(&resp);
}

int main(void)
{
    /* A script that exits before reading its stdin must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    snprintf(root, sizeof root, "/tmp/cgi_test.XXXXXX");
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    static const char env_sh[] =
        "printf 'Content-Type: text/plain\\n\\n'\nenv\nprintf '\\n'\ncat";
    snprintf(php_cgi, sizeof php_cgi, "%s/php-cgi", root);
    char text[256];
    snprintf(text, sizeof text, "#!/bin/sh\n%s\n", env_sh);
    make_file("php-cgi", text, 0755);
    make_file("hello.txt", "hello\n", 0644);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/cgi-bin", root);
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(dir, sizeof dir, "%s/dir", root);
    CHECK(mkdir(dir, 0755) == 0);
    make_file("dir/page.php", "<?php echo 1;\n", 0644);
    make_file("dir/index.php", "<?php echo 2;\n", 0644);
    make_file("index.php", "<?php echo 3;\n", 0644);
    make_file("cgi-bin/plain.txt", "text\n", 0644);
    make_script("env.sh", env_sh);

    test_environment();
    test_php_environment();
    test_script_headers();
    test_bad_script_output();
    test_status_lines();
    test_index_script();
    test_which_requests();
    test_background_job_is_killed();

    snprintf(text, sizeof text, "rm -rf '%s'", root);
    CHECK(system(text) == 0);
    if (failures == 0)
        printf("cgi_test: all checks passed\n");
    return failures == 0 ? 0 : 1;
}

/* log_test.c: unit tests of the logs, read back from real files: the
 * access log line exactly (fields, "-" for what is missing, escaping of what
 * a client sent), the error log's levels and form, reopening by name after
 * the files were renamed, and log_parse_level. */
#include <errno.h> /* program_invocation_short_name */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "log.h"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static char dir[] = "/tmp/log_test.XXXXXX";

/* The whole file at dir/name, NUL-terminated (static; "" if missing). */
static const char *contents(const char *name)
{
    static char text[64 * 1024];
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    return text;
}

static struct slice sl(const char *s)
{
    return (struct slice){s, strlen(s)};
}

/* A request as the parser leaves it, with the headers given. */
static void make_request(struct request *req, const char *method,
                         const char *target, int minor_version,
                         const char *referer, const char *user_agent)
{
    memset(req, 0, sizeof *req);
    strcpy(req->remote_addr, "10.0.0.7");
    req->method = sl(method);
    req->target = sl(target);
    req->minor_version = minor_version;
    if (referer != NULL)
        req->headers[req->nheaders++] =
            (struct header){sl("referer"), sl(referer)};
    if (user_agent != NULL)
        req->headers[req->nheaders++] =
            (struct header){sl("User-Agent"), sl(user_agent)};
}

/* Logs one request and returns the line it added to the access log,
 * with the time in brackets replaced by "T" once it is checked. */
static const char *log_one(const struct request *req, int status,
                           long long bytes)
{
    static char line[40 * 1024];
    size_t before = strlen(contents("access.log"));
    struct response resp = {.status = status};
    time_t t0 = time(NULL);
    log_access(req, &resp, bytes);
    time_t t1 = time(NULL);
    snprintf(line, sizeof line, "%s", contents("access.log") + before);

    /* TZ is UTC: [03/Dec/2026:16:56:23 +0000], at t0 or t1. */
    char when[2][64];
    struct tm tm;
    strftime(when[0], 64, "[%d/%b/%Y:%H:%M:%S +0000]", gmtime_r(&t0, &tm));
    strftime(when[1], 64, "[%d/%b/%Y:%H:%M:%S +0000]", gmtime_r(&t1, &tm));
    char *open = strchr(line, '['), *close = open ? strchr(open, ']') : NULL;
    if (close == NULL || (strncmp(open, when[0], strlen(when[0])) != 0 &&
                          strncmp(open, when[1], strlen(when[1])) != 0)) {
        fprintf(stderr, "no time %s in the line: \"%.*s\"\n", when[0],
                (int)strcspn(line, "\n"), line);
        failures++;
        return line;
    }
    open[1] = 'T';
    memmove(open + 2, close, strlen(close) + 1);
    return line;
}

static void test_access_line(void)
{
    struct request req;
    make_request(&req, "GET", "/a/b?x=1&y=2", 1, "http://ref.example/",
                 "Mozilla/5.0 (X11)");
    CHECK(strcmp(log_one(&req, 200, 512),
                 "10.0.0.7 - - [T] \"GET /a/b?x=1&y=2 HTTP/1.1\" 200 512 "
                 "\"http://ref.example/\" \"Mozilla/5.0 (X11)\"\n") == 0);

    /* Missing and empty headers are "-"; HEAD sends no body bytes. */
    make_request(&req, "HEAD", "/", 0, "", NULL);
    CHECK(strcmp(log_one(&req, 304, 0),
                 "10.0.0.7 - - [T] \"HEAD / HTTP/1.0\" 304 0 \"-\" \"-\"\n") ==
          0);

    /* A quote, a backslash, control bytes and bytes past ASCII, in every
     * field a client writes: each becomes \xHH, so no field ends early and
     * no second line is forged. */
    make_request(&req, "G\"T", "/q\"x\\y\x01\x7f\xc3\xa9", 1, "a\"b\\c",
                 "ua\r\n10.0.0.8 - - [T] \"GET /forged");
    CHECK(
        strcmp(log_one(&req, 404, 9),
               "10.0.0.7 - - [T] \"G\\x22T /q\\x22x\\x5Cy\\x01\\x7F\\xC3\\xA9 "
               "HTTP/1.1\" 404 9 \"a\\x22b\\x5Cc\" "
               "\"ua\\x0D\\x0A10.0.0.8 - - [T] \\x22GET /forged\"\n") == 0);

    /* A request line too bad to have a method. */
    memset(&req, 0, sizeof req);
    strcpy(req.remote_addr, "10.0.0.9");
    CHECK(strcmp(log_one(&req, 400, 150),
                 "10.0.0.9 - - [T] \"-\" 400 150 \"-\" \"-\"\n") == 0);

    /* A head as long as allowed, every byte escaped: the line is whole. */
    static char target[MAX_HEAD_BYTES + 1];
    memset(target, '"', MAX_HEAD_BYTES);
    make_request(&req, "GET", target, 1, NULL, NULL);
    const char *line = log_one(&req, 414, 0);
    const char *head = "10.0.0.7 - - [T] \"GET \\x22\\x22";
    const char *tail = "\\x22 HTTP/1.1\" 414 0 \"-\" \"-\"\n";
    size_t len = strlen(line);
    CHECK(len == strlen(head) - 8 + 4 * MAX_HEAD_BYTES + strlen(tail) - 4);
    CHECK(strncmp(line, head, strlen(head)) == 0);
    CHECK(len > strlen(tail) && strcmp(line + len - strlen(tail), tail) == 0);
}

/* Error log lines: "2026/12/03 16:56:23 [warn] text". */
static bool is_error_line(const char *line, const char *level_and_text)
{
    int year, month, day, hour, minute, second, n = 0;
    return sscanf(line, "%4d/%2d/%2d %2d:%2d:%2d %n", &year, &month, &day,
                  &hour, &minute, &second, &n) == 6 &&
           n == 20 && strcmp(line + n, level_and_text) == 0;
}

/* fd 2 pointed at a file of dir (NULL: back where it was); the logs write
 * there with write(2), and so do the CHECKs, so they wait until after. */
static void redirect_stderr(const char *name)
{
    static int saved = -1;
    if (saved < 0)
        saved = dup(STDERR_FILENO);
    if (name == NULL) {
        dup2(saved, STDERR_FILENO);
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        dup2(fileno(f), STDERR_FILENO);
        fclose(f);
    }
}

static void test_error_log(void)
{
    /* Before log_start: the contract's "program: message" on stderr. */
    redirect_stderr("early.log");
    log_error("cannot %s", "start");
    log_info("startup messages ignore the level");
    /* After it: a time, a level, and only what log_level lets through. */
    log_start();
    log_info("an info line, below warn");
    log_warn("a %s", "warning");
    log_error("an error");
    redirect_stderr(NULL);

    char want[256];
    snprintf(want, sizeof want,
             "%s: cannot start\n%s: startup messages ignore the level\n",
             program_invocation_short_name, program_invocation_short_name);
    CHECK(strcmp(contents("early.log"), want) == 0);
    char lines[3][256] = {"", "", ""};
    sscanf(contents("error.log"), "%255[^\n]\n%255[^\n]\n%255[^\n]", lines[0],
           lines[1], lines[2]);
    CHECK(is_error_line(lines[0], "[warn] a warning"));
    CHECK(is_error_line(lines[1], "[error] an error"));
    CHECK(lines[2][0] == '\0'); /* the info line is filtered out */
}

/* logrotate renames the files, then SIGHUP: lines go to new files of the
 * old names, found from the directory the server started in. */
static void test_reopen(void)
{
    rename("access.log", "access.log.1");
    rename("error.log", "error.log.1");
    CHECK(chdir("/") == 0); /* as a daemon does */
    log_reopen();
    log_error("after the reopen");
    redirect_stderr(NULL);
    struct request req;
    make_request(&req, "GET", "/after", 1, NULL, NULL);
    log_one(&req, 200, 1);
    CHECK(strstr(contents("access.log"), "/after") != NULL);
    CHECK(strstr(contents("access.log.1"), "/after") == NULL);
    CHECK(strstr(contents("access.log.1"), "/a/b?x=1") != NULL);
    CHECK(strstr(contents("error.log"), "[error] after the reopen\n") != NULL);
    CHECK(strstr(contents("error.log.1"), "after the reopen") == NULL);
}

static void test_parse_level(void)
{
    enum log_level level = LOG_INFO;
    CHECK(log_parse_level("error", &level) == 0 && level == LOG_ERROR);
    CHECK(log_parse_level("warn", &level) == 0 && level == LOG_WARN);
    CHECK(log_parse_level("info", &level) == 0 && level == LOG_INFO);
    static const char *const bad[] = {"debug",   "",    "Error",
                                      "warning", "war", "info "};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(log_parse_level(bad[i], &level) == -1 && level == LOG_INFO);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    if (mkdtemp(dir) == NULL || chdir(dir) != 0) {
        perror(dir);
        return 1;
    }
    struct config cfg = CONFIG_DEFAULTS;
    cfg.access_log = "access.log"; /* relative: see test_reopen */
    cfg.error_log = "error.log";
    cfg.log_level = LOG_WARN;
    char err[256];
    CHECK(log_open(&cfg, err, sizeof err) == 0);
    test_access_line();
    test_error_log();
    test_reopen();
    test_parse_level();

    static const char *const files[] = {
        "access.log", "access.log.1", "error.log", "error.log.1", "early.log"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    if (failures == 0)
        printf("log_test: all checks passed\n");
    return failures == 0 ? 0 : 1;
}

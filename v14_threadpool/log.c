/* log.c: the access and error logs. Each line is formatted in a local
 * buffer and written with one write() to a descriptor opened O_APPEND:
 * every write lands at the end of the file as a whole, so lines from many
 * threads never interleave, and no lock is needed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "log.h"

#define MAX_LOG_LINE 4096

static const char *access_path; /* NULL: no access log */
static const char *error_path; /* NULL: errors stay on stderr */
static int access_fd = -1;
static enum log_level max_level = LOG_ERROR;
static bool started; /* after log_start: timestamps, levels, the file */

static const char *const level_names[] = {"error", "warn", "info"};

int log_parse_level(const char *text, enum log_level *level)
{
    for (int i = 0; i <= LOG_INFO; i++)
        if (strcmp(text, level_names[i]) == 0) {
            *level = (enum log_level)i;
            return 0;
        }
    return -1;
}

/* open(2) of a FIFO for writing waits until some process opens it for
 * reading: a log that names a FIFO nobody reads would hang the server at
 * startup, or at a SIGHUP, deaf to SIGTERM. With O_NONBLOCK that open fails
 * at once with ENXIO instead (fifo(7)). F_SETFL then keeps O_APPEND alone,
 * so that a write waits for a slow reader rather than failing. On a
 * regular file O_NONBLOCK changes nothing. */
static int open_log(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK,
                  0644);
    if (fd >= 0)
        fcntl(fd, F_SETFL, O_APPEND); /* cannot fail on an open descriptor */
    return fd;
}

/* Why open_log failed. ENXIO's own text, "No such device or address",
 * would not say. */
static const char *open_error(int err)
{
    return err == ENXIO ? "a FIFO that no process reads" : strerror(err);
}

/* The path made absolute: a daemon reopens its logs from "/". */
static const char *absolute(const char *path)
{
    char cwd[PATH_MAX], *full;
    if (path == NULL || path[0] == '/' || getcwd(cwd, sizeof cwd) == NULL ||
        asprintf(&full, "%s/%s", cwd, path) < 0)
        return path;
    return full;
}

int log_open(const struct config *cfg, char *err, size_t err_size)
{
    access_path = absolute(cfg->access_log);
    error_path = absolute(cfg->error_log);
    max_level = cfg->log_level;
    const char *paths[] = {access_path, error_path};
    for (int i = 0; i < 2; i++) {
        int fd = paths[i] ? open_log(paths[i]) : -1;
        if (paths[i] != NULL && fd < 0) {
            snprintf(err, err_size, "log %s: %s", paths[i], open_error(errno));
            return -1;
        }
        if (i == 0)
            access_fd = fd;
        else if (fd >= 0)
            close(fd); /* opened for real by log_start */
    }
    return 0;
}

/* dup3 swaps the file behind a descriptor in one step: a thread writing a
 * line at that moment writes it whole to the old file or the new one.
 * flags: O_CLOEXEC, or 0 for fd 2, which CGI scripts are meant to inherit
 * (dup2 would clear close-on-exec on the access log and leak it to them). */
static void replace_fd(int fd, const char *path, int flags)
{
    int new_fd = open_log(path);
    if (new_fd < 0) {
        log_error("reopen %s: %s", path, open_error(errno));
        return;
    }
    if (dup3(new_fd, fd, flags) < 0)
        log_error("reopen %s: %s", path, strerror(errno));
    close(new_fd);
}

void log_start(void)
{
    if (error_path != NULL)
        replace_fd(STDERR_FILENO, error_path, 0);
    started = true;
}

void log_reopen(void)
{
    if (access_path != NULL)
        replace_fd(access_fd, access_path, O_CLOEXEC);
    if (error_path != NULL)
        replace_fd(STDERR_FILENO, error_path, 0);
    log_info("logs reopened");
}

static void write_line(int fd, char *line, size_t len, size_t size)
{
    if (len >= size - 1)
        len = size - 2; /* cut a long line, keep its newline */
    line[len++] = '\n';
    if (write(fd, line, len) < 0)
        return; /* nowhere left to report it */
}

static void log_at(enum log_level level, const char *fmt, va_list ap)
{
    char line[MAX_LOG_LINE];
    int n;
    /* Startup messages always show: log_level filters the running server. */
    if (started && level > max_level)
        return;
    if (started) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        n = (int)strftime(line, sizeof line, "%Y/%m/%d %H:%M:%S ", &tm);
        n += snprintf(line + n, sizeof line - (size_t)n, "[%s] ",
                      level_names[level]);
    } else {
        n = snprintf(line, sizeof line, "%s: ", program_invocation_short_name);
    }
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    write_line(STDERR_FILENO, line, (size_t)n + (size_t)(m > 0 ? m : 0),
               sizeof line);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_at(LOG_ERROR, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_at(LOG_WARN, fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_at(LOG_INFO, fmt, ap);
    va_end(ap);
}

/* An access log line being built; client text escaped can be four times
 * its size, so the line has room for a whole request head that way. */
struct line {
    char text[4 * MAX_HEAD_BYTES + 512];
    size_t len;
};

static void put(struct line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->text + l->len, sizeof l->text - l->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n < sizeof l->text - l->len
                      ? (size_t)n
                      : sizeof l->text - l->len - 1;
}

/* Copies a client's bytes escaped as nginx does: '"', '\\' and bytes outside
 * printable ASCII become \xHH, so a request can neither end the quoted field
 * early nor forge a second line. */
static void put_escaped(struct line *l, struct slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            put(l, "\\x%02X", c);
        else if (l->len + 1 < sizeof l->text)
            l->text[l->len++] = (char)c;
    }
}

static void put_header(struct line *l, const struct request *req,
                       const char *name)
{
    const struct slice *value = http_find_header(req, name);
    put(l, " \"");
    if (value == NULL || value->len == 0)
        put(l, "-");
    else
        put_escaped(l, *value);
    put(l, "\"");
}

/* The combined log format:
 * addr - - [23/Nov/2026:15:30:00 +0000] "GET / HTTP/1.1" 200 512 "ref" "ua" */
void log_access(const struct request *req, const struct response *resp,
                long long body_bytes)
{
    if (access_fd < 0)
        return;
    struct line line = {.len = 0};
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm);
    put(&line, "%s - - [%s] ", req->remote_addr, when);
    if (req->method.p == NULL) { /* the request line itself was bad */
        put(&line, "\"-\" %d %lld \"-\" \"-\"", resp->status, body_bytes);
    } else {
        put(&line, "\"");
        put_escaped(&line, req->method);
        put(&line, " ");
        put_escaped(&line, req->target);
        put(&line, " HTTP/1.%d\" %d %lld", req->minor_version, resp->status,
            body_bytes);
        put_header(&line, req, "Referer");
        put_header(&line, req, "User-Agent");
    }
    write_line(access_fd, line.text, line.len, sizeof line.text);
}

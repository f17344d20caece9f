/* cgi.c: CGI/1.1 (RFC 3875). The script gets the request as environment
 * variables and its body on stdin, and prints a header block, an empty line
 * and the body on stdout. Always execve with an argv we build: never a
 * shell, so nothing in a request is ever interpreted as a command. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgi.h"
#include "fastcgi.h"
#include "static.h"
#include "wrap.h"

#define MAX_ENV_VARS (MAX_HEADERS + 24)
#define CGI_CHUNK 16384

struct env {
    char *vars[MAX_ENV_VARS + 1]; /* NULL-terminated, for execve */
    size_t count;
};

static void env_add(struct env *env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void env_add(struct env *env, const char *fmt, ...)
{
    char *var;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&var, fmt, ap);
    va_end(ap);
    if (n >= 0 && env->count < MAX_ENV_VARS)
        env->vars[env->count++] = var;
    else if (n >= 0)
        free(var);
    env->vars[env->count] = NULL;
}

static void env_free(struct env *env)
{
    for (size_t i = 0; i < env->count; i++)
        free(env->vars[i]);
}

char *cgi_find_program(const char *name)
{
    if (strchr(name, '/') != NULL)
        /* Absolute, so that it still runs after a daemon's chdir("/"). */
        return access(name, X_OK) == 0 ? realpath(name, NULL) : NULL;
    const char *path = getenv("PATH");
    for (const char *dir = path ? path : "/usr/bin:/bin"; *dir != '\0';) {
        size_t len = strcspn(dir, ":");
        char *candidate;
        if (asprintf(&candidate, "%.*s/%s", (int)len, dir, name) < 0)
            return NULL;
        if (access(candidate, X_OK) == 0)
            return candidate;
        free(candidate);
        dir += len + (dir[len] == ':');
    }
    return NULL;
}

/* In the normalised path ("cgi-bin/env.sh/a/b"), the length of the script's
 * part: through the segment after "cgi-bin/", or through the first segment
 * ending in ".php". 0 when no script is named. */
static size_t script_length(const char *relative, bool *php)
{
    *php = false;
    if (strncmp(relative, "cgi-bin/", 8) == 0)
        return 8 + strcspn(relative + 8, "/");
    for (const char *p = relative; (p = strstr(p, ".php")) != NULL; p += 4)
        if (p[4] == '\0' || p[4] == '/') {
            *php = true;
            return (size_t)(p + 4 - relative);
        }
    return 0;
}

/* Appends the index to a directory's normalised path ("." for the root).
 * Returns -1, leaving relative as it was, when the index does not fit. */
static int add_index(char *relative, const char *index)
{
    size_t len = strcmp(relative, ".") == 0 ? 0 : strlen(relative);
    if (len + 1 + strlen(index) >= MAX_PATH_BYTES)
        return -1;
    sprintf(relative + len, "%s%s", len ? "/" : "", index);
    return 0;
}

/* The script a request path names: fills relative with the decoded,
 * normalised path and returns the length of its script part, or 0 when it
 * names none (or is a path static.c will refuse). A directory's path names
 * its index, so that an index naming a script (index = index.php) runs it,
 * as nginx's "index index.php" does: static.c would serve its source. */
static size_t find_script(const char *index, struct slice path, char *relative,
                          bool *php)
{
    char decoded[MAX_PATH_BYTES];
    if (static_decode_path(path, decoded, relative) < 0)
        return 0;
    if (decoded[strlen(decoded) - 1] == '/' && add_index(relative, index) < 0) {
        /* Too deep to name its index: the directory stands for the script,
         * and check_script refuses it (403) where static.c might not. */
        *php = false;
        return strlen(relative);
    }
    return script_length(relative, php);
}

/* 0 when the script can run, else the status to answer: 404 for none, 403
 * for a directory or a file in /cgi-bin/ without execute permission. */
static int check_script(int root_fd, const char *script, bool php)
{
    struct stat st;
    int fd = static_open_beneath(root_fd, script);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 404 : 403;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
             (php || (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)));
    close(fd);
    return ok ? 0 : 403;
}

static bool same_name(struct slice a, struct slice b)
{
    return a.len == b.len && strncasecmp(a.p, b.p, a.len) == 0;
}

/* The values of every header named like headers[i], joined with ", " as
 * RFC 3875 section 4.1.18 asks. Returns false if an earlier header had the
 * name (it made the variable already). */
static bool join_values(const struct request *req, size_t i, struct buf *out)
{
    struct slice name = req->headers[i].name;
    for (size_t j = 0; j < i; j++)
        if (same_name(req->headers[j].name, name))
            return false;
    out->len = 0;
    for (size_t j = i; j < req->nheaders; j++) {
        if (!same_name(req->headers[j].name, name))
            continue;
        if (out->len > 0)
            buf_append_str(out, ", ");
        buf_append(out, req->headers[j].value.p, req->headers[j].value.len);
    }
    return true;
}

/* Request headers become HTTP_* variables (RFC 3875 section 4.1.18).
 * Skipped: the two that have their own variables; Host, whose HTTP_HOST is
 * the host the request names (build_env); names with '_', which would
 * collide with the '-' spelling; and Proxy, which would become HTTP_PROXY,
 * a variable many HTTP libraries obey ("httpoxy"). */
static void add_header_vars(struct env *env, const struct request *req)
{
    struct buf value;
    buf_init(&value, MAX_HEAD_BYTES);
    for (size_t i = 0; i < req->nheaders; i++) {
        struct slice name = req->headers[i].name;
        if (slice_equals(name, "Content-Type") ||
            slice_equals(name, "Content-Length") ||
            slice_equals(name, "Host") || slice_equals(name, "Proxy") ||
            memchr(name.p, '_', name.len) || !join_values(req, i, &value))
            continue;
        char var[256];
        if (name.len >= sizeof var)
            continue;
        for (size_t j = 0; j < name.len; j++)
            var[j] = name.p[j] == '-' ? '_'
                     : (name.p[j] >= 'a' && name.p[j] <= 'z')
                         ? (char)(name.p[j] - 'a' + 'A')
                         : name.p[j];
        env_add(env, "HTTP_%.*s=%.*s", (int)name.len, var, (int)value.len,
                value.data);
    }
    buf_free(&value);
}

/* The host part of an authority: "example.com" of "example.com:8080",
 * "[::1]" of "[::1]:8080". The value is a slice, not a C string. */
static struct slice host_name(struct slice host)
{
    const char *end = host.p + host.len;
    const char *colon = host.len > 0 && host.p[0] == '['
                            ? memchr(host.p, ']', host.len)
                            : host.p;
    colon = colon ? memchr(colon, ':', (size_t)(end - colon)) : NULL;
    return (struct slice){host.p, colon ? (size_t)(colon - host.p) : host.len};
}

static void build_env(struct env *env, const struct config *cfg,
                      const struct request *req, const char *script_name,
                      const char *path_info, const char *filename)
{
    const struct slice *type = http_find_header(req, "Content-Type");
    env->count = 0;
    env_add(env, "GATEWAY_INTERFACE=CGI/1.1");
    env_add(env, "SERVER_SOFTWARE=reactor-course");
    env_add(env, "SERVER_PROTOCOL=HTTP/1.%d", req->minor_version);
    /* The host the request names: an absolute-form target's authority
     * takes Host's place (RFC 9112 section 3.2.2). */
    struct slice name =
        req->host.p ? host_name(req->host) : (struct slice){"localhost", 9};
    env_add(env, "SERVER_NAME=%.*s", (int)name.len, name.p);
    if (req->host.p != NULL)
        env_add(env, "HTTP_HOST=%.*s", (int)req->host.len, req->host.p);
    env_add(env, "SERVER_PORT=%d", cfg->port);
    env_add(env, "REQUEST_METHOD=%.*s", (int)req->method.len, req->method.p);
    env_add(env, "REQUEST_URI=%.*s", (int)req->target.len, req->target.p);
    env_add(env, "QUERY_STRING=%.*s", (int)req->query.len, req->query.p);
    env_add(env, "SCRIPT_NAME=/%s", script_name);
    env_add(env, "SCRIPT_FILENAME=%s", filename);
    env_add(env, "PATH_INFO=%s", path_info);
    env_add(env, "DOCUMENT_ROOT=%s", cfg->root);
    env_add(env, "REMOTE_ADDR=%s", req->remote_addr);
    /* php-cgi refuses to run without this, a guard against being called
     * directly as a CGI program (its cgi.force_redirect setting). */
    env_add(env, "REDIRECT_STATUS=200");
    env_add(env, "PATH=/usr/local/bin:/usr/bin:/bin");
    if (req->content_length > 0)
        env_add(env, "CONTENT_LENGTH=%lld", req->content_length);
    if (type != NULL)
        env_add(env, "CONTENT_TYPE=%.*s", (int)type->len, type->p);
    add_header_vars(env, req);
}

/* Forks and execs argv[0] with stdin and stdout on pipes. Everything the
 * child needs is built before fork: in a threaded program the child may only
 * make async-signal-safe calls (another thread may have held malloc's lock
 * at the moment of the fork). Returns the pid, or -1. */
static pid_t spawn(char *const argv[], char *const envp[], const char *dir,
                   int *to_child, int *from_child)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid > 0) /* both sides: the group exists before we may kill it */
        setpgid(pid, pid);
    if (pid == 0) {
        /* Its own process group, so a timeout can kill what it started. */
        setpgid(0, 0);
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        /* A blocked signal mask and ignored signals survive execve: give the
         * script the defaults it expects. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigaction(SIGPIPE, &dfl, NULL);
        sigaction(SIGHUP, &dfl, NULL);
        if (chdir(dir) == 0)
            execve(argv[0], argv, envp);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        return -1;
    }
    *to_child = in[1];
    *from_child = out[0];
    return pid;
}

long long cgi_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Writes the body to the script's stdin while reading its stdout: a script
 * that prints before it has read all its input would otherwise deadlock
 * with us, both blocked on a full pipe. */
int cgi_exchange(int to_child, int from_child, struct slice body,
                 struct buf *out, long long deadline, cgi_complete_fn *complete)
{
    size_t sent = 0, scanned = 0;
    int status = 0;
    fcntl(to_child, F_SETFL, O_NONBLOCK);
    for (;;) {
        if (to_child >= 0 && sent == body.len) {
            close(to_child); /* the script's stdin reaches end of file */
            to_child = -1;
        }
        struct pollfd fds[2] = {{.fd = from_child, .events = POLLIN},
                                {.fd = to_child, .events = POLLOUT}};
        long long left = deadline - cgi_now_ms();
        int n = left > 0 ? poll(fds, to_child >= 0 ? 2 : 1, (int)left) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            status = n == 0 ? 504 : 502;
            break;
        }
        if (to_child >= 0 && fds[1].revents) {
            ssize_t w = write(to_child, body.p + sent, body.len - sent);
            if (w > 0)
                sent += (size_t)w;
            else if (errno != EAGAIN && errno != EINTR)
                sent = body.len; /* it stopped reading: stop writing */
        }
        if (fds[0].revents) {
            size_t room = out->max - out->len < CGI_CHUNK ? out->max - out->len
                                                          : CGI_CHUNK;
            if (room == 0 || buf_reserve(out, room) < 0) {
                status = 502;
                break;
            }
            ssize_t r = read(from_child, out->data + out->len, room);
            if (r == 0)
                break;
            if (r < 0 && errno != EINTR) {
                status = 502;
                break;
            }
            out->len += r > 0 ? (size_t)r : 0;
            if (complete != NULL && complete(out, &scanned))
                break;
        }
    }
    if (to_child >= 0)
        close(to_child);
    return status;
}

/* "Status: 404 Not Found": three digits, a final status (200-599). */
static int parse_status(struct slice value)
{
    int status = 0;
    if (value.len < 3 || (value.len > 3 && value.p[3] != ' '))
        return -1;
    for (int i = 0; i < 3; i++) {
        if (value.p[i] < '0' || value.p[i] > '9')
            return -1;
        status = status * 10 + (value.p[i] - '0');
    }
    return status >= 200 && status <= 599 ? status : -1;
}

/* A header the script may send on: a name of visible characters without
 * ':', a value without control characters (a CR could split our response). */
static bool valid_header(struct slice name, struct slice value)
{
    for (size_t i = 0; i < name.len; i++)
        if ((unsigned char)name.p[i] <= ' ' || name.p[i] == 0x7f)
            return false;
    for (size_t i = 0; i < value.len; i++)
        if (((unsigned char)value.p[i] < ' ' && value.p[i] != '\t') ||
            value.p[i] == 0x7f)
            return false;
    return true;
}

/* One header line of the script's output, passed on or acted upon. Returns
 * 0, or -1 for a line that is not a header. */
static int take_cgi_header(struct slice name, struct slice value,
                           struct response *resp, struct slice *location,
                           bool *has_status)
{
    if (slice_equals(name, "Status")) {
        if ((resp->status = parse_status(value)) < 0)
            return -1;
        *has_status = true;
    } else if (slice_equals(name, "Location")) {
        *location = value;
    } else if (slice_equals(name, "Content-Length") ||
               slice_equals(name, "Connection") ||
               slice_equals(name, "Transfer-Encoding")) {
        return 0; /* framing is ours to decide */
    }
    if (!slice_equals(name, "Status"))
        http_add_header(resp, "%.*s: %.*s", (int)name.len, name.p,
                        (int)value.len, value.p);
    return 0;
}

/* The header block of RFC 3875 section 6: lines up to an empty line.
 * Returns the block's length, or -1 for output that is not a CGI response. */
static long parse_cgi_head(const struct buf *out, struct response *resp,
                           struct slice *location, bool *has_status)
{
    const char *p = out->data, *end = out->data + out->len, *lf;
    bool has_type = false;
    for (;; p = lf + 1) {
        lf = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        if (lf == NULL)
            return -1;
        const char *line_end = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
        if (line_end == p)
            break;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon == NULL || colon == p)
            return -1;
        const char *v = colon + 1;
        while (v < line_end && (*v == ' ' || *v == '\t'))
            v++;
        struct slice name = {p, (size_t)(colon - p)};
        struct slice value = {v, (size_t)(line_end - v)};
        has_type = has_type || slice_equals(name, "Content-Type");
        if (!valid_header(name, value) ||
            take_cgi_header(name, value, resp, location, has_status) < 0)
            return -1;
    }
    if (!has_type && !*has_status && location->p == NULL)
        return -1;
    return lf + 1 - out->data;
}

/* Turns the script's output into resp. A Location that is a local path with
 * no Status is a local redirect (section 6.2.2): we answer with that file
 * ourselves. Any other Location is a client redirect: 302 unless the script
 * chose a status. */
static void finish_response(const struct config *cfg, const struct request *req,
                            struct buf *out, struct response *resp)
{
    struct slice location = {NULL, 0};
    bool has_status = false;
    long head = parse_cgi_head(out, resp, &location, &has_status);
    if (head < 0) {
        log_error("cgi %.*s: the output has no valid header block",
                  (int)req->path.len, req->path.p);
        http_response_free(resp);
        http_response_init(resp);
        http_error(resp, 502);
        return;
    }
    struct request local = *req;
    const char *query =
        location.p ? memchr(location.p, '?', location.len) : NULL;
    local.path = (struct slice){location.p, query ? (size_t)(query - location.p)
                                                  : location.len};
    char relative[MAX_PATH_BYTES];
    bool php;
    /* A local path that names a script goes back to the client as a
     * redirect: running a second script from the first is a loop waiting
     * to happen, and serving it as a file would show its source. */
    if (location.len > 0 && location.p[0] == '/' && !has_status &&
        find_script(cfg->index, local.path, relative, &php) == 0) {
        http_response_free(resp);
        http_response_init(resp);
        static_serve(cfg, &local, resp);
        return;
    }
    if (location.p != NULL && !has_status)
        resp->status = 302;
    /* The body is the rest of the output: hand the buffer over. */
    buf_free(&resp->body);
    resp->body = *out;
    buf_init(out, out->max);
    buf_consume(&resp->body, (size_t)head);
}

/* The scripts running now, so that a stopping server can wait for them
 * (cgi_stop_scripts); once it stops, no new one starts. */
static pthread_mutex_t scripts_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t scripts_ended = PTHREAD_COND_INITIALIZER;
static int scripts_running;
static bool scripts_stopped;

/* Counts a script about to start; false once the server is stopping. */
static bool script_may_start(void)
{
    pthread_mutex_lock(&scripts_lock);
    bool may = !scripts_stopped;
    if (may)
        scripts_running++;
    pthread_mutex_unlock(&scripts_lock);
    return may;
}

static void script_done(void)
{
    pthread_mutex_lock(&scripts_lock);
    if (--scripts_running == 0)
        pthread_cond_broadcast(&scripts_ended);
    pthread_mutex_unlock(&scripts_lock);
}

void cgi_stop_scripts(void)
{
    pthread_mutex_lock(&scripts_lock);
    scripts_stopped = true;
    while (scripts_running > 0)
        pthread_cond_wait(&scripts_ended, &scripts_lock);
    pthread_mutex_unlock(&scripts_lock);
}

/* Runs the script (through argv[0], php-cgi or the script itself) in its
 * directory and waits for it within the time limit. Returns 0 with its
 * output in out, or the status to answer (502, 504; 503 once the server is
 * stopping). */
static int run_script(const struct config *cfg, const struct request *req,
                      char *const argv[], struct env *env, const char *script,
                      struct buf *out)
{
    if (!script_may_start())
        return 503;
    char dir[2 * MAX_PATH_BYTES];
    snprintf(dir, sizeof dir, "%s", script);
    *strrchr(dir, '/') = '\0';
    int to_child, from_child;
    pid_t pid = spawn(argv, env->vars, dir, &to_child, &from_child);
    if (pid < 0) {
        log_error("cgi %s: %s", script, strerror(errno));
        script_done();
        return 502;
    }
    int status = cgi_exchange(to_child, from_child, req->body, out,
                              cgi_now_ms() + cfg->cgi_timeout * 1000LL, NULL);
    int error = errno; /* why cgi_exchange failed, if it did */
    close(from_child);
    /* Past the time limit, or done talking: its output is all we wanted, so
     * whatever of its process group still runs (a forgotten background job
     * too) is killed, then the script is reaped. */
    kill(-pid, SIGKILL);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
        ;
    script_done();
    if (status == 504)
        log_error("cgi %s: no answer within %d s", script, cfg->cgi_timeout);
    else if (status == 502 && out->len == out->max)
        log_error("cgi %s: more than %zu MiB of output", script,
                  out->max >> 20);
    else if (status == 502 && error == ENOBUFS)
        log_error("cgi %s: the output all scripts hold at once is at its "
                  "budget (%zu MiB)",
                  script, out->budget->limit >> 20);
    else if (out->len == 0 && status == 0) {
        log_error("cgi %s: no output (exit status %d)", script,
                  WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
        status = 502;
    }
    return status;
}

bool cgi_reads_body(const struct config *cfg, const struct request *req)
{
    char script[MAX_PATH_BYTES];
    bool php;
    size_t len = find_script(cfg->index, req->path, script, &php);
    if (len == 0 ||
        !(http_method_is(req, "GET") || http_method_is(req, "HEAD") ||
          http_method_is(req, "POST")))
        return false;
    script[len] = '\0'; /* the script itself, without the path info */
    return check_script(cfg->root_fd, script, php) == 0 &&
           !(php && cfg->php_cgi == NULL);
}

bool cgi_serve(const struct config *cfg, const struct request *req,
               struct response *resp)
{
    char relative[MAX_PATH_BYTES];
    bool php;
    size_t len = find_script(cfg->index, req->path, relative, &php);
    if (len == 0)
        return false;
    if (!http_method_is(req, "GET") && !http_method_is(req, "HEAD") &&
        !http_method_is(req, "POST")) {
        http_error(resp, 405);
        http_add_header(resp, "Allow: GET, HEAD, POST");
        return true;
    }
    char script[MAX_PATH_BYTES];
    memcpy(script, relative, len);
    script[len] = '\0';
    int status = check_script(cfg->root_fd, script, php);
    if (status == 0 && php && cfg->php_cgi == NULL) {
        log_error("cgi /%s: php-cgi was not found", script);
        status = 502;
    }
    if (status != 0) {
        http_error(resp, status);
        return true;
    }

    char filename[2 * MAX_PATH_BYTES];
    snprintf(filename, sizeof filename, "%s/%s", cfg->root, script);
    struct env env;
    build_env(&env, cfg, req, script, relative + len, filename);
    char *argv[] = {php ? (char *)cfg->php_cgi : filename, NULL};
    struct buf out;
    http_script_output_init(&out);
    if (php && cfg->fastcgi_pass != NULL)
        status = fcgi_run(cfg, env.vars, req->body, &out);
    else
        status = run_script(cfg, req, argv, &env, filename, &out);
    if (status != 0)
        http_error(resp, status);
    else
        finish_response(cfg, req, &out, resp);
    buf_free(&out);
    env_free(&env);
    return true;
}

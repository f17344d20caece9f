/* config.c: the configuration file. "key = value" lines, '#' comments,
 * blank lines; each key has a setter that checks its value. Relative paths
 * are taken from the file's directory, so a file can be used from anywhere.
 * The same format, and these keys, carry forward to every later stage. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config.h"
#include "fastcgi.h"

#define MAX_LINE 1024
#define MAX_BODY_LIMIT (1LL << 30)

/* A setter stores value in cfg or returns what is wrong with it. dir is the
 * configuration file's directory, for relative paths. */
typedef const char *(*setter)(struct config *cfg, const char *value,
                              const char *dir);

/* A message that names what is wrong. The file is read once, at startup, by
 * one thread: one static buffer is enough. */
static const char *problem(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static const char *problem(const char *fmt, ...)
{
    static char text[MAX_LINE + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return text;
}

int config_number(const char *text, long long min, long long max,
                  long long *out)
{
    /* Digits only: strtoll alone also takes leading spaces and a sign, and
     * "+80" or " 80" would pass for a port. */
    if (*text == '\0' || text[strspn(text, "0123456789")] != '\0')
        return -1;
    errno = 0;
    long long n = strtoll(text, NULL, 10); /* ERANGE past LLONG_MAX */
    if (errno != 0 || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

/* A copy of path, made relative to dir unless it is absolute. */
static const char *path_from(const char *dir, const char *path)
{
    char *full;
    if (path[0] == '/' || asprintf(&full, "%s/%s", dir, path) < 0)
        return strdup(path);
    return full;
}

static const char *set_listen(struct config *cfg, const char *value,
                              const char *dir)
{
    (void)dir;
    const char *colon = strrchr(value, ':');
    char addr[INET_ADDRSTRLEN];
    struct in_addr unused;
    long long port;
    if (colon == NULL || (size_t)(colon - value) >= sizeof addr)
        return "listen wants ADDR:PORT, such as 127.0.0.1:8080";
    memcpy(addr, value, (size_t)(colon - value));
    addr[colon - value] = '\0';
    if (inet_pton(AF_INET, addr, &unused) != 1)
        return "listen: not an IPv4 address";
    if (config_number(colon + 1, 0, 65535, &port) < 0)
        return "listen: the port must be a number from 0 to 65535";
    cfg->addr = strdup(addr);
    cfg->port = (int)port;
    return NULL;
}

static const char *set_root(struct config *cfg, const char *value,
                            const char *dir)
{
    struct stat st;
    cfg->root = path_from(dir, value);
    if (stat(cfg->root, &st) < 0 || !S_ISDIR(st.st_mode))
        return problem("root %s is not a directory", cfg->root);
    return NULL;
}

static const char *set_index(struct config *cfg, const char *value,
                             const char *dir)
{
    (void)dir;
    if (strchr(value, '/') != NULL || strcmp(value, ".") == 0 ||
        strcmp(value, "..") == 0)
        return "index must be a file name, without '/'";
    cfg->index = strdup(value);
    return NULL;
}

static const char *set_seconds(int *field, const char *value)
{
    long long n;
    if (config_number(value, 1, 86400, &n) < 0)
        return "expected a number of seconds from 1 to 86400";
    *field = (int)n;
    return NULL;
}

static const char *set_keepalive_timeout(struct config *cfg, const char *value,
                                         const char *dir)
{
    (void)dir;
    return set_seconds(&cfg->keepalive_timeout, value);
}

static const char *set_cgi_timeout(struct config *cfg, const char *value,
                                   const char *dir)
{
    (void)dir;
    return set_seconds(&cfg->cgi_timeout, value);
}

static const char *set_fastcgi_timeout(struct config *cfg, const char *value,
                                       const char *dir)
{
    (void)dir;
    return set_seconds(&cfg->fastcgi_timeout, value);
}

static const char *set_keepalive_requests(struct config *cfg, const char *value,
                                          const char *dir)
{
    (void)dir;
    long long n;
    if (config_number(value, 1, 1000000, &n) < 0)
        return "expected a number of requests from 1 to 1000000";
    cfg->keepalive_requests = (int)n;
    return NULL;
}

/* A size in bytes, with an optional k, m or g (1024, as nginx reads them). */
static const char *set_max_body_size(struct config *cfg, const char *value,
                                     const char *dir)
{
    (void)dir;
    char digits[32];
    size_t len = strlen(value);
    if (len >= sizeof digits)
        return "expected a size in bytes, such as 1048576 or 1m";
    memcpy(digits, value, len + 1);
    long long scale = 1, n;
    switch (digits[len - 1]) {
    case 'k':
    case 'K':
        scale = 1LL << 10;
        break;
    case 'm':
    case 'M':
        scale = 1LL << 20;
        break;
    case 'g':
    case 'G':
        scale = 1LL << 30;
        break;
    }
    if (scale > 1)
        digits[len - 1] = '\0';
    if (config_number(digits, 0, MAX_BODY_LIMIT / scale, &n) < 0)
        return "expected a size in bytes up to 1g, such as 1048576 or 1m";
    cfg->max_body = n * scale;
    return NULL;
}

static const char *set_php_cgi(struct config *cfg, const char *value,
                               const char *dir)
{
    /* A bare name is looked up on PATH; a path is taken from here. */
    cfg->php_cgi = strchr(value, '/') ? path_from(dir, value) : strdup(value);
    return NULL;
}

static const char *set_fastcgi_pass(struct config *cfg, const char *value,
                                    const char *dir)
{
    struct sockaddr_storage addr;
    socklen_t len;
    char *pass = strdup(value), *abs_dir;
    /* A relative socket path is taken from here, made absolute: a daemon
     * connects from "/". */
    if (strncmp(value, "unix:", 5) == 0 && value[5] != '/' &&
        value[5] != '\0' && (abs_dir = realpath(dir, NULL)) != NULL &&
        asprintf(&pass, "unix:%s/%s", abs_dir, value + 5) < 0)
        return "no memory";
    cfg->fastcgi_pass = pass;
    return fcgi_parse_address(pass, &addr, &len);
}

static const char *set_daemon(struct config *cfg, const char *value,
                              const char *dir)
{
    (void)dir;
    static const char *const yes[] = {"on", "yes", "true"};
    static const char *const no[] = {"off", "no", "false"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(value, yes[i]) == 0 || strcasecmp(value, no[i]) == 0) {
            cfg->daemonize = strcasecmp(value, yes[i]) == 0;
            return NULL;
        }
    }
    return "daemon is on or off";
}

static const char *set_pidfile(struct config *cfg, const char *value,
                               const char *dir)
{
    cfg->pidfile = path_from(dir, value);
    return NULL;
}

static const char *set_access_log(struct config *cfg, const char *value,
                                  const char *dir)
{
    cfg->access_log = strcmp(value, "off") == 0 ? NULL : path_from(dir, value);
    return NULL;
}

static const char *set_error_log(struct config *cfg, const char *value,
                                 const char *dir)
{
    cfg->error_log = path_from(dir, value);
    return NULL;
}

static const char *set_log_level(struct config *cfg, const char *value,
                                 const char *dir)
{
    (void)dir;
    if (log_parse_level(value, &cfg->log_level) < 0)
        return "log_level is error, warn or info";
    return NULL;
}

static const struct {
    const char *key;
    setter set;
} keys[] = {
    {"listen", set_listen},
    {"root", set_root},
    {"index", set_index},
    {"keepalive_timeout", set_keepalive_timeout},
    {"keepalive_requests", set_keepalive_requests},
    {"max_body_size", set_max_body_size},
    {"cgi_timeout", set_cgi_timeout},
    {"php_cgi", set_php_cgi},
    {"fastcgi_pass", set_fastcgi_pass},
    {"fastcgi_timeout", set_fastcgi_timeout},
    {"daemon", set_daemon},
    {"pidfile", set_pidfile},
    {"access_log", set_access_log},
    {"error_log", set_error_log},
    {"log_level", set_log_level},
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
                       end[-1] == '\r'))
        *--end = '\0';
    return s;
}

/* One line: blank, a comment, or key = value. Returns what is wrong, or
 * NULL. A '#' starts a comment at the start of a line or after a space. */
static const char *apply_line(struct config *cfg, char *line, const char *dir)
{
    for (char *hash = strchr(line, '#'); hash; hash = strchr(hash + 1, '#'))
        if (hash == line || hash[-1] == ' ' || hash[-1] == '\t') {
            *hash = '\0';
            break;
        }
    char *text = trim(line);
    if (*text == '\0')
        return NULL;
    char *eq = strchr(text, '=');
    if (eq == NULL)
        return "expected key = value";
    *eq = '\0';
    char *key = trim(text), *value = trim(eq + 1);
    if (*value == '\0')
        return "the value is missing";
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (strcmp(key, keys[i].key) == 0)
            return keys[i].set(cfg, value, dir);
    return problem("unknown key '%s'", key);
}

/* Reads the next line into line (MAX_LINE bytes), without its '\n'.
 * Returns false at the end of the file. What is wrong with the line goes to
 * *wrong: too long, or a NUL byte, which fgets would keep and every string
 * function would take for the end of the line. */
static bool read_line(FILE *file, char *line, const char **wrong)
{
    size_t len = 0;
    int c;
    while ((c = getc(file)) != EOF && c != '\n') {
        if (c == '\0')
            *wrong = "a NUL byte: this is not a text file";
        else if (len == MAX_LINE - 1)
            *wrong = "line too long";
        if (*wrong != NULL)
            return true;
        line[len++] = (char)c;
    }
    line[len] = '\0';
    return c != EOF || len > 0;
}

int config_load(struct config *cfg, const char *path, char *err,
                size_t err_size)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        strcpy(dir, ".");

    char line[MAX_LINE];
    const char *wrong = NULL;
    int number = 0;
    while (wrong == NULL && read_line(file, line, &wrong)) {
        number++;
        if (wrong == NULL)
            wrong = apply_line(cfg, line, dir);
    }
    /* getc returns EOF on an error as at the end: a directory given as the
     * file reads as empty (EISDIR) unless the error is looked for. */
    int read_error = ferror(file) ? errno : 0;
    fclose(file);
    if (wrong == NULL && read_error == 0)
        return 0;
    if (wrong == NULL)
        snprintf(err, err_size, "%s: %s", path, strerror(read_error));
    else
        snprintf(err, err_size, "%s:%d: %s", path, number, wrong);
    return -1;
}

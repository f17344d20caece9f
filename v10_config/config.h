/* config.h: the server's settings and their defaults. Each stage that adds a
 * setting adds one field here; config.c fills the struct from a
 * configuration file, and the command line overrides it. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct config {
    const char *addr; /* -b: IPv4 address to listen on */
    int port; /* -p: TCP port; 0 lets the kernel pick one */
    bool daemonize; /* -d: run in the background */
    const char *pidfile; /* -P: file holding our pid, locked; NULL for none */
    long long max_body; /* request bodies past this many bytes get 413 */
    const char *root; /* -r: the document root */
    int root_fd; /* the root, opened once at startup */
    const char *php_cgi; /* -x: php-cgi, found on PATH by default */
    int cgi_timeout; /* -T: seconds a CGI script may run (504 after) */
    int keepalive_timeout; /* -k: idle seconds before a connection closes */
    int keepalive_requests; /* requests on one connection before it closes */
    const char *index; /* the file a directory answers with */
    const char *config_file; /* -c: read before the other flags apply */
    bool check_only; /* -t: check the configuration and exit */
};

/* Loopback by default: a course server should not face the network until
 * asked to (-b 0.0.0.0). One default per line, so that a stage adding one
 * adds one line. */
/* clang-format off */
#define CONFIG_DEFAULTS {                                                      \
    .addr = "127.0.0.1",                                                       \
    .port = 8080,                                                              \
    .max_body = 1024 * 1024,                                                   \
    .root = "www",                                                             \
    .root_fd = -1,                                                             \
    .php_cgi = "php-cgi",                                                      \
    .cgi_timeout = 30,                                                         \
    .keepalive_timeout = 15,                                                   \
    .keepalive_requests = 1000,                                                \
    .index = "index.html",                                                     \
}
/* clang-format on */

/* Reads the configuration file at path into cfg. Returns 0, or -1 with
 * "FILE:LINE: what is wrong" in err. */
int config_load(struct config *cfg, const char *path, char *err,
                size_t err_size);

/* Parses a whole decimal number, digits only, within [min, max]. Returns 0
 * or -1. */
int config_number(const char *text, long long min, long long max,
                  long long *out);

#endif

/* config.h: the server's settings and their defaults. Each stage that adds a
 * command-line flag adds one field here; v10 fills the same struct from a
 * configuration file. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>

struct config {
    const char *addr; /* -b: IPv4 address to listen on */
    int port; /* -p: TCP port; 0 lets the kernel pick one */
    bool daemonize; /* -d: run in the background */
    const char *pidfile; /* -P: file holding our pid, locked; NULL for none */
    long long max_body; /* request bodies past this many bytes get 413 */
    const char *root; /* -r: the document root */
    int root_fd; /* the root, opened once at startup */
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
}
/* clang-format on */

#endif

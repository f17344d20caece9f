/* config.h: the server's settings and their defaults. Each stage that adds a
 * command-line flag adds one field here; v10 fills the same struct from a
 * configuration file. */
#ifndef CONFIG_H
#define CONFIG_H

struct config {
    const char *addr; /* -b: IPv4 address to listen on */
    int port; /* -p: TCP port; 0 lets the kernel pick one */
};

/* Loopback by default: a course server should not face the network until
 * asked to (-b 0.0.0.0). One default per line, so that a stage adding one
 * adds one line. */
/* clang-format off */
#define CONFIG_DEFAULTS {                                                      \
    .addr = "127.0.0.1",                                                       \
    .port = 8080,                                                              \
}
/* clang-format on */

#endif

/* wrap.h: error-checking wrappers, in two tiers.
 * Capitalised twins of system calls (Socket, Bind, ...) print why they failed
 * and exit: they belong on startup paths only. Lower-case helpers on a
 * client's path (readn, writen, accept_retry) retry what is worth retrying
 * and otherwise return -1, so one bad client never ends the server. */
#ifndef WRAP_H
#define WRAP_H

#include <netinet/in.h>
#include <sys/types.h>

#include "log.h" /* log_error, which every caller of these wrappers uses */

/* log_error, then exit(1). For startup failures only. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));

int Socket(void);
void Setsockopt_reuseaddr(int fd);
void Bind(int fd, const struct sockaddr_in *addr);
void Listen(int fd, int backlog);
void Connect(int fd, const struct sockaddr_in *addr);

/* accept(), retrying on EINTR and on errors of a connection that died in the
 * listen queue. Returns the new descriptor, or -1 with errno set. */
int accept_retry(int listenfd, struct sockaddr_in *peer);
/* read() restarted on EINTR: returns what has arrived (0 at end of file). */
ssize_t read_retry(int fd, void *buf, size_t n);
/* Reads until n bytes or end of file: returns the count (< n only at EOF). */
ssize_t readn(int fd, void *buf, size_t n);
/* Writes all n bytes, looping on short counts: returns n, or -1. */
ssize_t writen(int fd, const void *buf, size_t n);

#endif

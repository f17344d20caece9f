/* log.h: the access log (combined format) and the error log. Until
 * log_start, log_error prints "server: message" on stderr, the contract's
 * startup form; after it, lines carry a time and a level and go to the
 * error log, which also becomes fd 2, so CGI scripts' stderr lands there. */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

struct config;
struct request;
struct response;

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO };

/* Parses "error", "warn" or "info". Returns 0, or -1 for another word. */
int log_parse_level(const char *text, enum log_level *level);

/* Opens the files cfg names. Returns 0, or -1 with a message in err. */
int log_open(const struct config *cfg, char *err, size_t err_size);
/* Startup is over: fd 2 becomes the error log, lines get times. */
void log_start(void);
/* Reopens both files by name (SIGHUP, after logrotate renamed them). */
void log_reopen(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One access log line for an answered request; body_bytes is what was sent
 * of the body (0 for HEAD). req may hold only part of a bad request. */
void log_access(const struct request *req, const struct response *resp,
                long long body_bytes);

#endif

/* cgi.h: CGI/1.1 (RFC 3875): .php through php-cgi or php-fpm (fastcgi.c),
 * executables under /cgi-bin/ run directly. */
#ifndef CGI_H
#define CGI_H

#include <stdbool.h>

#include "config.h"
#include "http.h"

/* Finds php-cgi: name itself if it contains a slash, else the first
 * executable of that name on PATH. Returns a malloc'd path, or NULL. */
char *cgi_find_program(const char *name);

/* Now on a clock that never jumps, in milliseconds: deadlines are made of
 * it. */
long long cgi_now_ms(void);

/* Says whether out already holds the whole reply, for a peer whose reply
 * ends before it closes (FastCGI's END_REQUEST). *scanned is its own cursor,
 * 0 at the start, so that each call looks only at what came since the last. */
typedef bool cgi_complete_fn(const struct buf *out, size_t *scanned);

/* Writes body to to_child while reading from_child into out, until end of
 * file, until complete (if not NULL) says the reply is whole, or until the
 * deadline (on cgi_now_ms's clock); closes to_child once the body is all
 * sent. Returns 0 at the end of the output, 504 when time ran out, 502 on
 * too much output or an error (errno ENOBUFS: the budget of all scripts'
 * output is spent). CGI's pipes and FastCGI's socket both move their bytes
 * with it. */
int cgi_exchange(int to_child, int from_child, struct slice body,
                 struct buf *out, long long deadline,
                 cgi_complete_fn *complete);

/* Starts no more scripts (a request for one gets 503) and waits until
 * those running have ended: each by itself or at its time limit, when its
 * thread kills its process group and reaps it. A stopping server calls it
 * so that no script outlives it, and its wait is at most cgi_timeout. */
void cgi_stop_scripts(void);

/* Whether req names a script that will run, and so reads the body: the
 * checks cgi_serve makes before it runs one (method, the file, php-cgi), in
 * its order. */
bool cgi_reads_body(const struct config *cfg, const struct request *req);

/* If req names a CGI script, runs it, fills resp and returns true; returns
 * false for a path that is not a script (static files answer it). Blocks
 * the calling thread until the script is done or its time is up. */
bool cgi_serve(const struct config *cfg, const struct request *req,
               struct response *resp);

#endif

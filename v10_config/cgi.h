/* cgi.h: CGI/1.1 (RFC 3875): .php through php-cgi, executables under
 * /cgi-bin/ run directly. */
#ifndef CGI_H
#define CGI_H

#include <stdbool.h>

#include "config.h"
#include "http.h"

/* Finds php-cgi: name itself if it contains a slash, else the first
 * executable of that name on PATH. Returns a malloc'd path, or NULL. */
char *cgi_find_program(const char *name);

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

/* fastcgi.h: a FastCGI/1.0 client, to hand .php requests to php-fpm's pool
 * of resident PHP workers instead of starting php-cgi for each one. */
#ifndef FASTCGI_H
#define FASTCGI_H

#include <sys/socket.h>

#include "config.h"
#include "http.h"

/* Reads "HOST:PORT" (an IPv4 address) or "unix:PATH" into addr and len.
 * Returns NULL, or what is wrong with pass. */
const char *fcgi_parse_address(const char *pass, struct sockaddr_storage *addr,
                               socklen_t *len);

/* Runs one request at cfg->fastcgi_pass as a RESPONDER: env ("NAME=value",
 * NULL-terminated) goes as PARAMS, body as STDIN. Returns 0 with the STDOUT
 * stream (a CGI response) in out, or the status to answer: 502 when the
 * application cannot be reached or its reply is bad, 504 when the whole
 * exchange takes longer than cfg->fastcgi_timeout. STDERR goes to the error
 * log. Blocks the calling thread. */
int fcgi_run(const struct config *cfg, char *const env[], struct slice body,
             struct buf *out);

#endif

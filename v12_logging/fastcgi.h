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

/* The request as records, ready to write: BEGIN_REQUEST (a RESPONDER,
 * without FCGI_KEEP_CONN), env ("NAME=value", NULL-terminated) as the
 * PARAMS stream, body as the STDIN stream. Returns 0, or -1 when b is full. */
int fcgi_encode_request(struct buf *b, char *const env[], struct slice body);

/* True once reply holds a whole END_REQUEST record. *next is where the
 * first record not yet looked at starts (0 at first); it moves past each
 * whole record, so a reply that grows is not read again from the start. */
bool fcgi_reply_complete(const struct buf *reply, size_t *next);

/* Decodes the reply's records in place: the STDOUT stream moves to the
 * front of reply, which becomes the output; STDERR goes to err, up to its
 * cap. Returns NULL when END_REQUEST says the request is complete, else
 * what is wrong. */
const char *fcgi_decode_reply(struct buf *reply, struct buf *err);

/* Runs one request at cfg->fastcgi_pass as a RESPONDER: env ("NAME=value",
 * NULL-terminated) goes as PARAMS, body as STDIN. Returns 0 with the STDOUT
 * stream (a CGI response) in out, or the status to answer: 502 when the
 * application cannot be reached or its reply is bad, 504 when the whole
 * exchange takes longer than cfg->fastcgi_timeout. STDERR goes to the error
 * log. Blocks the calling thread. */
int fcgi_run(const struct config *cfg, char *const env[], struct slice body,
             struct buf *out);

#endif

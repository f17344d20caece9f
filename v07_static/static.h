/* static.h: serving files from the document root. */
#ifndef STATIC_H
#define STATIC_H

#include <stddef.h>

#include "http.h"

/* Opens the document root once, at startup. Returns its descriptor, or -1
 * with a message in err. */
int static_open_root(const char *path, char *err, size_t err_size);

#define MAX_PATH_BYTES 4096

/* Decodes a request path once and makes it relative to the root: "/a/./b"
 * gives decoded "/a/./b" and relative "a/b" ("." for the root). Returns 0,
 * or -1 for a path to answer with 400 (bad escape, NUL, "..", too long). */
int static_decode_path(struct slice path, char *decoded, char *relative);

/* Answers a GET or HEAD of req->path with a file under root_fd: 200 with the
 * file, 301 for a directory named without its slash, or 400/403/404. */
void static_serve(int root_fd, const struct request *req,
                  struct response *resp);

#endif

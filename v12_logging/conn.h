/* conn.h: driving one connection: read a request, have http.c answer it,
 * send the answer. */
#ifndef CONN_H
#define CONN_H

#include <netinet/in.h>

#include "config.h"

/* What a client's thread needs, on the heap: a variable of the accept loop
 * would be overwritten by the next accept before the thread had read it. */
struct client {
    int fd;
    struct sockaddr_in peer;
    const struct config *cfg;
};

/* Serves the client's connection and closes it. Blocks: one thread each. */
void conn_serve(struct client *client);

#endif

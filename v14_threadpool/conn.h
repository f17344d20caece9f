/* conn.h: one connection, a state machine the event loop drives. */
#ifndef CONN_H
#define CONN_H

#include <netinet/in.h>

#include "config.h"
#include "loop.h"
#include "threadpool.h"

/* Takes over fd, a non-blocking accepted socket: from here the loop calls
 * the connection's handlers until it closes and frees itself; requests
 * that run scripts go to pool's workers. */
void conn_open(struct loop *loop, struct pool *pool, int fd,
               const struct sockaddr_in *peer, const struct config *cfg);

#endif

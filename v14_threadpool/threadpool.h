/* threadpool.h: a fixed set of worker threads taking jobs from a bounded
 * queue, for the work that may block (CGI, FastCGI) and so must never run
 * on the event loop's thread. */
#ifndef THREADPOOL_H
#define THREADPOOL_H

#include <stddef.h>

struct pool;

/* Starts nthreads workers sharing a queue of at most capacity jobs.
 * Returns NULL with errno set if a thread could not start. */
struct pool *pool_create(int nthreads, size_t capacity);

/* Queues fn(arg) for a worker. Returns 0, or -1 when the queue is full:
 * the caller sheds the load (503) rather than let the queue grow. */
int pool_submit(struct pool *pool, void (*fn)(void *arg), void *arg);

/* Stops the pool: jobs that are running finish, jobs still queued are
 * dropped, every worker is joined, and the pool is freed. */
void pool_destroy(struct pool *pool);

#endif

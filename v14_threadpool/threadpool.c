/* threadpool.c: workers, a bounded queue, a mutex and a condition
 * variable. A ring buffer holds the jobs; "not_empty" wakes a worker when
 * one arrives or when the pool stops. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "threadpool.h"

struct job {
    void (*fn)(void *arg);
    void *arg;
};

struct pool {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t not_empty;
    struct job *jobs; /* a ring of capacity slots */
    size_t capacity, head, count;
    bool stopping;
    pthread_t *threads;
    int nthreads;
};

/* Takes the next job, waiting while there is none. Returns false once the
 * pool is stopping. */
static bool take_job(struct pool *pool, struct job *job)
{
    pthread_mutex_lock(&pool->lock);
    /* A loop, not an if: a wait can end without a signal (a spurious
     * wake-up), or another worker may have taken the job first. */
    while (pool->count == 0 && !pool->stopping)
        pthread_cond_wait(&pool->not_empty, &pool->lock);
    bool got = pool->count > 0;
    if (got) {
        *job = pool->jobs[pool->head];
        pool->head = (pool->head + 1) % pool->capacity;
        pool->count--;
    }
    pthread_mutex_unlock(&pool->lock);
    return got;
}

static void *worker(void *arg)
{
    struct pool *pool = arg;
    struct job job;
    while (take_job(pool, &job))
        job.fn(job.arg); /* outside the lock: the job may take seconds */
    return NULL;
}

struct pool *pool_create(int nthreads, size_t capacity)
{
    struct pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    pool->jobs = calloc(capacity, sizeof *pool->jobs);
    pool->threads = calloc((size_t)nthreads, sizeof *pool->threads);
    pool->capacity = capacity;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->not_empty, NULL);
    if (pool->jobs == NULL || pool->threads == NULL) {
        pool_destroy(pool);
        errno = ENOMEM;
        return NULL;
    }
    for (; pool->nthreads < nthreads; pool->nthreads++) {
        int err =
            pthread_create(&pool->threads[pool->nthreads], NULL, worker, pool);
        if (err != 0) { /* pthread calls return the error, not errno */
            pool_destroy(pool);
            errno = err;
            return NULL;
        }
    }
    return pool;
}

int pool_submit(struct pool *pool, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&pool->lock);
    bool full = pool->count == pool->capacity;
    if (!full) {
        size_t tail = (pool->head + pool->count) % pool->capacity;
        pool->jobs[tail] = (struct job){fn, arg};
        pool->count++;
        pthread_cond_signal(&pool->not_empty);
    }
    pthread_mutex_unlock(&pool->lock);
    return full ? -1 : 0;
}

void pool_destroy(struct pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pool->count = 0; /* not started: nobody would read their answers */
    pthread_cond_broadcast(&pool->not_empty); /* every worker must see it */
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->not_empty);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool->jobs);
    free(pool);
}

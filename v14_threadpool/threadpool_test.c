/* threadpool_test.c: unit tests of the worker pool: every job submitted
 * runs once, also when the ring wraps around many times; the queue's
 * capacity is a bound (submit past it fails); pool_destroy waits for the
 * jobs that are running, drops those still queued and joins every worker,
 * busy or idle. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "threadpool.h"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

#define NJOBS 500

static int ids[NJOBS]; /* a job's argument points to its number */
static atomic_int runs[NJOBS]; /* how often each job ran */
static atomic_int total;

static void count_run(void *arg)
{
    atomic_fetch_add(&runs[*(int *)arg], 1);
    atomic_fetch_add(&total, 1);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Waits until *n reaches want or 5 s pass; returns whether it did. */
static bool wait_for(atomic_int *n, int want)
{
    long long deadline = now_ms() + 5000;
    while (atomic_load(n) < want && now_ms() < deadline)
        sched_yield();
    return atomic_load(n) >= want;
}

static void *job_arg(int i)
{
    ids[i] = i;
    return &ids[i];
}

static void test_every_job_runs(void)
{
    /* NJOBS through a queue of 8: the ring wraps around many times. */
    struct pool *pool = pool_create(3, 8);
    CHECK(pool != NULL);
    if (pool == NULL)
        return;
    atomic_store(&total, 0);
    for (int i = 0; i < NJOBS; i++)
        while (pool_submit(pool, count_run, job_arg(i)) < 0)
            sched_yield(); /* full: wait for a worker to take one */
    CHECK(wait_for(&total, NJOBS));
    pool_destroy(pool);
    for (int i = 0; i < NJOBS; i++)
        if (atomic_load(&runs[i]) != 1) {
            fprintf(stderr, "job %d ran %d times\n", i, atomic_load(&runs[i]));
            failures++;
            break;
        }
}

/* A job that holds its worker until the gate opens. */
static atomic_int started, finished;
static atomic_bool gate_open;

static void hold_worker(void *arg)
{
    (void)arg;
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&gate_open))
        sched_yield();
    atomic_fetch_add(&finished, 1);
}

static void do_nothing(void *arg)
{
    (void)arg;
}

/* Opens the gate once pool_destroy has dropped the queue. The queue is full
 * while it waits, so pool_submit fails until destroy empties it, which
 * destroy does in the same critical section that marks the pool stopping:
 * the first submit that succeeds is the sign, with no guess at how long
 * destroy takes. (The probe job itself may still run: a worker finishing
 * its job takes what is queued.) After 5 s it opens the gate anyway, so a
 * destroy that forgot to drop the queue fails the checks instead of hanging.
 * The pool is alive throughout: destroy cannot return while the gate is
 * shut, since it joins the held worker. */
static void *open_gate_after_drop(void *arg)
{
    struct pool *pool = arg;
    long long deadline = now_ms() + 5000;
    while (pool_submit(pool, do_nothing, NULL) != 0 && now_ms() < deadline)
        sched_yield();
    atomic_store(&gate_open, true);
    return NULL;
}

static void test_capacity_and_destroy(void)
{
    struct pool *pool = pool_create(1, 4);
    CHECK(pool != NULL);
    if (pool == NULL)
        return;
    atomic_store(&total, 0);
    CHECK(pool_submit(pool, hold_worker, NULL) == 0);
    CHECK(wait_for(&started, 1)); /* the worker took it: the queue is empty */
    for (int i = 0; i < 4; i++)
        CHECK(pool_submit(pool, count_run, job_arg(i)) == 0);
    CHECK(pool_submit(pool, count_run, job_arg(4)) == -1); /* a fifth */

    pthread_t opener;
    CHECK(pthread_create(&opener, NULL, open_gate_after_drop, pool) == 0);
    pool_destroy(pool);
    /* The running job finished before destroy returned; the queued never
     * ran, and never will: their worker is gone. */
    CHECK(atomic_load(&finished) == 1);
    CHECK(atomic_load(&total) == 0);
    pthread_join(opener, NULL);
}

/* Idle workers all wait on the condition variable: each must be woken to
 * be joined, or destroy hangs (ctest's timeout ends it). */
static void test_destroy_idle(void)
{
    struct pool *pool = pool_create(8, 4);
    CHECK(pool != NULL);
    if (pool != NULL)
        pool_destroy(pool);
}

int main(void)
{
    test_every_job_runs();
    test_capacity_and_destroy();
    test_destroy_idle();
    if (failures == 0)
        printf("threadpool_test: all checks passed\n");
    return failures == 0 ? 0 : 1;
}

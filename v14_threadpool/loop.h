/* loop.h: one thread's event loop: epoll for descriptors, a min-heap of
 * timers for deadlines. Level-triggered: a descriptor with data left unread
 * is reported again, so a handler may read once per call and lose nothing. */
#ifndef LOOP_H
#define LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct loop;

/* Called when fd is ready (events: EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR). */
typedef void (*loop_io_fn)(struct loop *loop, uint32_t events, void *data);
/* Called when a timer's deadline has passed. */
typedef void (*loop_timer_fn)(struct loop *loop, void *data);

/* A descriptor the loop watches; owned by whoever registers it. */
struct watch {
    int fd;
    uint32_t events; /* what is watched now */
    loop_io_fn fn;
    void *data;
};

/* A deadline; owned by whoever starts it, and unlinked with loop_timer_stop
 * before its memory goes away. */
struct timer {
    long long deadline_ms; /* CLOCK_MONOTONIC */
    size_t slot; /* its place in the heap, or NO_SLOT */
    loop_timer_fn fn;
    void *data;
};

struct loop *loop_create(void);
void loop_destroy(struct loop *loop);

/* Starts watching w->fd for events. Returns 0, or -1 with errno set. */
int loop_watch(struct loop *loop, struct watch *w, uint32_t events);
/* Changes what w->fd is watched for (only if it differs). */
int loop_rewatch(struct loop *loop, struct watch *w, uint32_t events);
void loop_unwatch(struct loop *loop, struct watch *w);

void loop_timer_init(struct timer *t, loop_timer_fn fn, void *data);
/* (Re)starts t to fire after ms milliseconds. */
void loop_timer_start(struct loop *loop, struct timer *t, long long ms);
void loop_timer_stop(struct loop *loop, struct timer *t);

long long loop_now_ms(void);

/* Runs fn(loop, data) on the loop's thread, soon. The one call other
 * threads may make: it queues the task under a lock and wakes the loop
 * through an eventfd. */
void loop_post(struct loop *loop, loop_timer_fn fn, void *data);

/* Runs until *stop is set. Signals in unblocked are let in only while the
 * loop sleeps in epoll_pwait (the v05 ppoll idea), so a handler that sets a
 * flag is always seen. */
void loop_run(struct loop *loop, volatile sig_atomic_t *stop,
              const sigset_t *unblocked, void (*after_signal)(void));

#endif

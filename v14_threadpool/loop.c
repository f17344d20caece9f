/* loop.c: the event loop of loop.h. epoll tells which descriptors are
 * ready; the earliest timer deadline is epoll_pwait's timeout; the loop
 * calls the handlers, then the timers that are due, and sleeps again. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define MAX_EVENTS 256 /* events taken from the kernel per wake-up */
#define NO_SLOT ((size_t)-1)

/* A task another thread posted for the loop's thread. */
struct task {
    loop_timer_fn fn;
    void *data;
    struct task *next;
};

struct loop {
    int epfd;
    struct timer **heap; /* heap[0] has the earliest deadline */
    size_t ntimers, cap;
    struct watch wake; /* an eventfd: other threads knock here */
    pthread_mutex_t lock; /* guards the task list */
    struct task *tasks; /* oldest first */
    struct task **tasks_end;
};

/* The eventfd is readable: run every posted task, in order. The list is
 * taken whole under the lock and run outside it, so a task may post. */
static void run_posted_tasks(struct loop *loop, uint32_t events, void *data)
{
    (void)events;
    (void)data;
    uint64_t knocks;
    if (read(loop->wake.fd, &knocks, sizeof knocks) < 0 && errno != EAGAIN)
        log_error("eventfd: %s", strerror(errno));
    pthread_mutex_lock(&loop->lock);
    struct task *task = loop->tasks;
    loop->tasks = NULL;
    loop->tasks_end = &loop->tasks;
    pthread_mutex_unlock(&loop->lock);
    while (task != NULL) {
        struct task *next = task->next;
        task->fn(loop, task->data);
        free(task);
        task = next;
    }
}

void loop_post(struct loop *loop, loop_timer_fn fn, void *data)
{
    struct task *task = malloc(sizeof *task);
    if (task == NULL) {
        log_error("no memory to post a task: it is lost");
        return;
    }
    *task = (struct task){fn, data, NULL};
    pthread_mutex_lock(&loop->lock);
    *loop->tasks_end = task;
    loop->tasks_end = &task->next;
    pthread_mutex_unlock(&loop->lock);
    uint64_t one = 1;
    if (write(loop->wake.fd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_error("eventfd: %s", strerror(errno));
}

long long loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

struct loop *loop_create(void)
{
    struct loop *loop = calloc(1, sizeof *loop);
    if (loop == NULL)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    int wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    loop->wake = (struct watch){.fd = wakefd, .fn = run_posted_tasks};
    pthread_mutex_init(&loop->lock, NULL);
    loop->tasks_end = &loop->tasks;
    if (loop->epfd < 0 || wakefd < 0 ||
        loop_watch(loop, &loop->wake, EPOLLIN) < 0) {
        loop_destroy(loop);
        return NULL;
    }
    return loop;
}

void loop_destroy(struct loop *loop)
{
    close(loop->wake.fd);
    pthread_mutex_destroy(&loop->lock);
    close(loop->epfd);
    free(loop->heap);
    free(loop);
}

int loop_watch(struct loop *loop, struct watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    w->events = events;
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, w->fd, &ev);
}

int loop_rewatch(struct loop *loop, struct watch *w, uint32_t events)
{
    if (events == w->events)
        return 0; /* each epoll_ctl is a system call: skip the no-ops */
    struct epoll_event ev = {.events = events, .data.ptr = w};
    w->events = events;
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void loop_unwatch(struct loop *loop, struct watch *w)
{
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

/* The heap: heap[i]'s children are heap[2i+1] and heap[2i+2], and no child
 * is due before its parent. Each timer knows its slot, so stopping or
 * moving one is O(log n) without a search. */
static void place(struct loop *loop, size_t i, struct timer *t)
{
    loop->heap[i] = t;
    t->slot = i;
}

static void sift_up(struct loop *loop, size_t i)
{
    struct timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->deadline_ms <= t->deadline_ms)
            break;
        place(loop, i, loop->heap[parent]);
        i = parent;
    }
    place(loop, i, t);
}

static void sift_down(struct loop *loop, size_t i)
{
    struct timer *t = loop->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->ntimers)
            break;
        if (child + 1 < loop->ntimers &&
            loop->heap[child + 1]->deadline_ms < loop->heap[child]->deadline_ms)
            child++;
        if (t->deadline_ms <= loop->heap[child]->deadline_ms)
            break;
        place(loop, i, loop->heap[child]);
        i = child;
    }
    place(loop, i, t);
}

void loop_timer_init(struct timer *t, loop_timer_fn fn, void *data)
{
    t->slot = NO_SLOT;
    t->fn = fn;
    t->data = data;
}

void loop_timer_stop(struct loop *loop, struct timer *t)
{
    size_t i = t->slot;
    if (i == NO_SLOT)
        return;
    t->slot = NO_SLOT;
    struct timer *last = loop->heap[--loop->ntimers];
    if (i == loop->ntimers)
        return;
    place(loop, i, last);
    sift_up(loop, i);
    sift_down(loop, last->slot);
}

void loop_timer_start(struct loop *loop, struct timer *t, long long ms)
{
    loop_timer_stop(loop, t);
    if (loop->ntimers == loop->cap) {
        size_t cap = loop->cap ? loop->cap * 2 : 64;
        struct timer **heap = realloc(loop->heap, cap * sizeof *heap);
        if (heap == NULL) {
            log_error("no memory for a timer");
            return;
        }
        loop->heap = heap;
        loop->cap = cap;
    }
    t->deadline_ms = loop_now_ms() + ms;
    place(loop, loop->ntimers++, t);
    sift_up(loop, t->slot);
}

/* epoll_pwait's timeout: until the earliest deadline, or forever. */
static int next_timeout(const struct loop *loop)
{
    if (loop->ntimers == 0)
        return -1;
    long long left = loop->heap[0]->deadline_ms - loop_now_ms();
    return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

static void run_due_timers(struct loop *loop)
{
    long long now = loop_now_ms();
    while (loop->ntimers > 0 && loop->heap[0]->deadline_ms <= now) {
        struct timer *t = loop->heap[0];
        loop_timer_stop(loop, t);
        t->fn(loop, t->data); /* may free t's owner: t is not used after */
    }
}

void loop_run(struct loop *loop, volatile sig_atomic_t *stop,
              const sigset_t *unblocked, void (*after_signal)(void))
{
    struct epoll_event events[MAX_EVENTS];
    while (!*stop) {
        int n = epoll_pwait(loop->epfd, events, MAX_EVENTS, next_timeout(loop),
                            unblocked);
        if (n < 0 && errno != EINTR) {
            log_error("epoll_pwait: %s", strerror(errno));
            return;
        }
        if (n < 0) {
            after_signal();
            continue;
        }
        for (int i = 0; i < n; i++) {
            struct watch *w = events[i].data.ptr;
            w->fn(loop, events[i].events, w->data);
        }
        run_due_timers(loop);
    }
}

/* loop_test.c: unit tests of the loop's timers, run by loop_run itself.
 * Deadlines long past are all due at once, so the order they fire in is the
 * heap's order, not the clock's: a stopped timer never fires, a restarted
 * one fires once at its new deadline, and stopping one that has fired is
 * harmless; the timer moved into a stopped one's slot finds its
 * place. One short real delay checks that a timer waits its time.
 * Tasks posted from another thread run on the loop's thread, in order;
 * posted from several threads at once, each runs exactly once. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "loop.h"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

#define NPROBES 100

struct probe {
    struct timer timer;
    int id;
};

static int fired[2 * NPROBES + 8]; /* probe ids, in the order they fired */
static int nfired;
static volatile sig_atomic_t stop;

static void record(struct loop *loop, void *data)
{
    (void)loop;
    const struct probe *p = data;
    if (nfired < (int)(sizeof fired / sizeof *fired))
        fired[nfired++] = p->id;
}

static void record_and_stop(struct loop *loop, void *data)
{
    record(loop, data);
    stop = 1;
}

static void no_signal(void) {}

/* Runs the loop until a timer calling record_and_stop fires. */
static void run(struct loop *loop)
{
    sigset_t mask;
    sigprocmask(SIG_SETMASK, NULL, &mask);
    stop = 0;
    nfired = 0;
    loop_run(loop, &stop, &mask, no_signal);
}

static void start_probe(struct loop *loop, struct probe *p, int id,
                        loop_timer_fn fn, long long ms)
{
    p->id = id;
    loop_timer_init(&p->timer, fn, p);
    loop_timer_start(loop, &p->timer, ms);
}

/* A deadline rank seconds after one long past: due now, in rank order. */
static long long past(int rank)
{
    return -1000000 + 1000LL * rank;
}

static void test_order_stop_restart(struct loop *loop)
{
    static struct probe probes[NPROBES], last, later;
    /* Ranks in a scrambled order (37 and 100 share no factor), so the
     * heap has to sort them. */
    for (int i = 0; i < NPROBES; i++)
        start_probe(loop, &probes[i], i, record, past(1 + (i * 37) % NPROBES));
    for (int i = 0; i < NPROBES; i += 7)
        loop_timer_stop(loop, &probes[i].timer);
    loop_timer_stop(loop, &probes[7].timer); /* twice: harmless */
    loop_timer_start(loop, &probes[50].timer, past(0)); /* now the first */
    loop_timer_start(loop, &probes[51].timer, past(NPROBES + 1)); /* last */
    start_probe(loop, &last, -1, record_and_stop, past(NPROBES + 2));
    start_probe(loop, &later, -2, record, 60000); /* not due */
    run(loop);

    int want[NPROBES + 2], nwant = 0;
    want[nwant++] = 50;
    for (int rank = 1; rank <= NPROBES; rank++)
        for (int i = 0; i < NPROBES; i++)
            if (1 + (i * 37) % NPROBES == rank && i % 7 != 0 && i != 50 &&
                i != 51)
                want[nwant++] = i;
    want[nwant++] = 51;
    want[nwant++] = -1;
    CHECK(nfired == nwant);
    for (int i = 0; i < nfired && i < nwant; i++)
        if (fired[i] != want[i]) {
            fprintf(stderr, "timer %d fired at position %d, where %d was due\n",
                    fired[i], i + 1, want[i]);
            failures++;
            break;
        }

    /* Stopping timers that fired, and the one still waiting, leaves none:
     * the next run fires only the timer it starts. */
    for (int i = 0; i < NPROBES; i++)
        loop_timer_stop(loop, &probes[i].timer);
    loop_timer_stop(loop, &later.timer);
    start_probe(loop, &last, -3, record_and_stop, 0);
    run(loop);
    CHECK(nfired == 1 && fired[0] == -3);
}

/* A callback stops a timer that was due at the same time as its own. */
static struct probe victim;

static void stop_victim(struct loop *loop, void *data)
{
    record(loop, data);
    loop_timer_stop(loop, &victim.timer);
}

static void test_stop_from_a_callback(struct loop *loop)
{
    static struct probe killer, last;
    start_probe(loop, &killer, 1, stop_victim, past(1));
    start_probe(loop, &victim, 2, record, past(2));
    start_probe(loop, &last, 3, record_and_stop, past(3));
    run(loop);
    CHECK(nfired == 2 && fired[0] == 1 && fired[1] == 3);
}

/* Stopping a timer inside the heap moves the last one into its slot, where
 * it may be due before its new parent: then it has to move up. Started in
 * this order, the twelve make a heap whose last timer (30) lands under 50
 * when 60 stops, and 50 would reach the top before 30 if 30 stayed there. */
static void test_stop_moves_the_last_timer_up(struct loop *loop)
{
    static const int ranks[] = {10, 50, 20, 60, 70, 21, 22, 80, 90, 91, 92, 30};
    static const int want[] = {10, 20, 21, 22, 30, 50, 70, 80, 90, 91, 92, 100};
    enum { N = sizeof ranks / sizeof *ranks };
    static struct probe probes[N], last;
    for (int i = 0; i < N; i++)
        start_probe(loop, &probes[i], ranks[i], record, past(ranks[i]));
    loop_timer_stop(loop, &probes[3].timer); /* 60 */
    start_probe(loop, &last, 100, record_and_stop, past(100));
    run(loop);
    CHECK(nfired == N);
    for (int i = 0; i < nfired && i < N; i++)
        if (fired[i] != want[i]) {
            fprintf(stderr, "timer %d fired at position %d, where %d was due\n",
                    fired[i], i + 1, want[i]);
            failures++;
            break;
        }
}

/* Real time: a timer of 30 ms fires no sooner, and one stopped before its
 * 10 ms are up never fires. */
static void test_delay(struct loop *loop)
{
    static struct probe stopped, delayed;
    start_probe(loop, &stopped, 1, record, 10);
    start_probe(loop, &delayed, 2, record_and_stop, 30);
    loop_timer_stop(loop, &stopped.timer);
    long long start = loop_now_ms();
    run(loop);
    long long waited = loop_now_ms() - start;
    if (waited < 30)
        fprintf(stderr, "a 30 ms timer fired after %lld ms\n", waited);
    CHECK(waited >= 30);
    CHECK(nfired == 1 && fired[0] == 2);
}

static pthread_t loop_thread;
static bool off_thread; /* a task ran on another thread */

static void record_on_loop(struct loop *loop, void *data)
{
    off_thread |= !pthread_equal(pthread_self(), loop_thread);
    record(loop, data);
}

/* The last task posts one more: a task may post, and it runs after. */
static void post_last(struct loop *loop, void *data)
{
    static struct probe last = {.id = -1};
    record_on_loop(loop, data);
    loop_post(loop, record_and_stop, &last);
}

static void *post_tasks(void *arg)
{
    struct loop *loop = arg;
    static struct probe tasks[NPROBES];
    for (int i = 0; i < NPROBES; i++) {
        tasks[i].id = i;
        loop_post(loop, i < NPROBES - 1 ? record_on_loop : post_last,
                  &tasks[i]);
    }
    return NULL;
}

static void test_post(struct loop *loop)
{
    pthread_t poster;
    loop_thread = pthread_self();
    if (pthread_create(&poster, NULL, post_tasks, loop) != 0) {
        failures++;
        return;
    }
    run(loop);
    pthread_join(poster, NULL);
    CHECK(nfired == NPROBES + 1 && !off_thread);
    for (int i = 0; i < nfired; i++)
        if (fired[i] != (i < NPROBES ? i : -1)) {
            fprintf(stderr, "task %d ran at position %d\n", fired[i], i);
            failures++;
            break;
        }
}

/* Several threads post at once: every task runs exactly once. A queue
 * whose tail is updated without the lock loses tasks (or runs a freed
 * one): the count shows it even without ThreadSanitizer. */
#define NPOSTERS 4
#define NPOSTS 10000

static struct loop *shared_loop;
static unsigned char runs[NPOSTERS][NPOSTS]; /* times each task ran */
static int nran;

static void count_run(struct loop *loop, void *data)
{
    (void)loop;
    unsigned char *times = data;
    (*times)++;
    if (++nran == NPOSTERS * NPOSTS)
        stop = 1;
}

static void *post_many(void *arg)
{
    unsigned char *times = arg;
    for (int i = 0; i < NPOSTS; i++)
        loop_post(shared_loop, count_run, &times[i]);
    return NULL;
}

static void test_post_from_many_threads(struct loop *loop)
{
    static struct probe give_up; /* ends the run if tasks are lost */
    pthread_t posters[NPOSTERS];
    int started = 0;
    shared_loop = loop;
    start_probe(loop, &give_up, -1, record_and_stop, 5000);
    for (; started < NPOSTERS; started++) {
        unsigned char *times = runs[started];
        if (pthread_create(&posters[started], NULL, post_many, times) != 0)
            break;
    }
    CHECK(started == NPOSTERS);
    run(loop);
    for (int i = 0; i < started; i++)
        pthread_join(posters[i], NULL);
    loop_timer_stop(loop, &give_up.timer);
    int lost = 0, twice = 0;
    for (int t = 0; t < started; t++)
        for (int i = 0; i < NPOSTS; i++) {
            lost += runs[t][i] == 0;
            twice += runs[t][i] > 1;
        }
    if (lost || twice)
        fprintf(stderr,
                "%d threads posted %d tasks each: %d never ran, "
                "%d ran more than once\n",
                started, NPOSTS, lost, twice);
    CHECK(lost == 0 && twice == 0);
}

int main(void)
{
    struct loop *loop = loop_create();
    if (loop == NULL) {
        perror("loop_create");
        return 1;
    }
    test_order_stop_restart(loop);
    test_stop_from_a_callback(loop);
    test_stop_moves_the_last_timer_up(loop);
    test_delay(loop);
    test_post(loop);
    test_post_from_many_threads(loop);
    loop_destroy(loop);
    if (failures == 0)
        printf("loop_test: all checks passed\n");
    return failures == 0 ? 0 : 1;
}

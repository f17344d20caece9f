/* buf.h: a growable byte buffer with a hard cap. Connections read into one
 * and responses are built in one; the cap is what keeps a peer from making
 * the server allocate without bound. */
#ifndef BUF_H
#define BUF_H

#include <stdatomic.h>
#include <stddef.h>

/* Memory that several buffers draw on: together they hold at most limit
 * bytes. One buffer's max bounds one peer; a budget bounds them all. */
struct buf_budget {
    atomic_size_t held; /* bytes allocated by the buffers drawing on it */
    size_t limit;
};

struct buf {
    char *data;
    size_t len; /* bytes in use, from data[0] */
    size_t cap; /* bytes allocated */
    size_t max; /* cap never grows past this */
    struct buf_budget *budget; /* cap is drawn from it; NULL: none */
};

/* An empty buffer with no budget (set b->budget after this to draw on one). */
void buf_init(struct buf *b, size_t max);
/* Frees the memory and gives it back to the budget; b stays on its budget. */
void buf_free(struct buf *b);
/* Makes room for n more bytes after len. Returns 0, or -1 when that would
 * pass max, when the budget is spent (errno ENOBUFS) or memory ran out (the
 * buffer is unchanged). */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (a request that has been answered). */
void buf_consume(struct buf *b, size_t n);

#endif

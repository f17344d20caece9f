/* buf.c: the byte buffer of buf.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MIN_CAP 1024

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->budget = NULL;
}

/* Takes n bytes from budget, if there is one; false (errno ENOBUFS) when
 * that would pass its limit. Threads take from it at once: compare and
 * swap, so that two of them never both take the last bytes. */
static bool budget_take(struct buf_budget *budget, size_t n)
{
    if (budget == NULL)
        return true;
    size_t held = atomic_load(&budget->held);
    do {
        if (n > budget->limit - held) {
            errno = ENOBUFS;
            return false;
        }
    } while (!atomic_compare_exchange_weak(&budget->held, &held, held + n));
    return true;
}

static void budget_give(struct buf_budget *budget, size_t n)
{
    if (budget != NULL)
        atomic_fetch_sub(&budget->held, n);
}

void buf_free(struct buf *b)
{
    free(b->data);
    budget_give(b->budget, b->cap);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int buf_reserve(struct buf *b, size_t n)
{
    if (n > b->max - b->len)
        return -1;
    size_t need = b->len + n;
    if (need <= b->cap)
        return 0;
    /* Doubling keeps appends amortised O(1). */
    size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need)
        cap *= 2;
    if (cap > b->max)
        cap = b->max;
    if (!budget_take(b->budget, cap - b->cap))
        return -1;
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        budget_give(b->budget, cap - b->cap);
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    /* +1: vsnprintf always writes its terminating NUL. */
    if (n < 0 || buf_reserve(b, (size_t)n + 1) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

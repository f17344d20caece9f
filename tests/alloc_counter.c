/* alloc_counter.c: counts a process's heap allocations, for
 * tests/test_allocations.py and the chapter's figures. Built as a shared
 * library and loaded with LD_PRELOAD, it takes malloc's place (and calloc's,
 * realloc's and the aligned ones': operator new calls malloc) and counts
 * each call in a file another process reads while this one runs:
 *
 *   cc -shared -fPIC -O2 -o alloc_counter.so tests/alloc_counter.c
 *   ALLOC_COUNTER_FILE=/tmp/count LD_PRELOAD=./alloc_counter.so server ...
 *
 * The file holds one 64-bit count in native byte order, shared with the
 * process through mmap: reading it costs the server nothing, and a reader
 * takes the difference between two reads as what happened in between.
 * free is not counted: an allocation's cost is paid by the malloc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* glibc's own allocator under its exported names: no dlsym, which would
 * itself allocate on its first call. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

/* Where the count goes: the mapped file, or a private word until it is
 * mapped (and if it cannot be). */
static uint64_t fallback;
static uint64_t *count = &fallback;

__attribute__((constructor)) static void map_count_file(void)
{
    const char *path = getenv("ALLOC_COUNTER_FILE");
    if (path == NULL)
        return;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (ftruncate(fd, sizeof *count) == 0) {
        void *p = mmap(NULL, sizeof *count, PROT_READ | PROT_WRITE, MAP_SHARED,
                       fd, 0);
        if (p != MAP_FAILED)
            count = p;
    }
    close(fd);
}

static void counted(void)
{
    __atomic_fetch_add(count, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t size)
{
    counted();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    counted();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    counted();
    return __libc_realloc(p, size);
}

void *memalign(size_t alignment, size_t size)
{
    counted();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    return memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    void *p = memalign(alignment, size);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

/* check.h: the fuzz targets' one assertion, for C and C++ alike. A broken
 * promise must be a crash, so that libFuzzer keeps the input that broke it;
 * assert() would vanish under NDEBUG. */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "check failed: %s (%s:%d)\n", #cond, __FILE__,     \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif

/* What every fuzz target uses to state an invariant: CHECK(cond) traps
 * (a crash the fuzzer and the replay driver both report) with the file and
 * line of the broken invariant. */
#ifndef WSIP_FUZZ_UTIL_H
#define WSIP_FUZZ_UTIL_H

#include <stdio.h>

__attribute__((noreturn)) static inline void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
    fflush(stderr);
    __builtin_trap();
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)

#endif

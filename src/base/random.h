/* Random bytes for identifiers (branches, tags, nonces' unique part) from a
 * per-thread pool refilled by OpenSSL's CSPRNG: one RAND_bytes call costs
 * about as much for 8 bytes as for 512. Bytes handed out are wiped from the
 * pool. */
#ifndef WSIP_BASE_RANDOM_H
#define WSIP_BASE_RANDOM_H

#include <stddef.h>

/* 0, or -1 when the CSPRNG failed (then out is unchanged). */
int wsip_random_bytes(void *out, size_t n);

#endif

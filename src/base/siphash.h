/* SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit PRF for short
 * inputs. wsip signs its own tokens with it (flow tokens in Record-Route and
 * Via, the hop bound to a branch): they are checked on every forwarded
 * message, where HMAC-SHA256 through OpenSSL 3 cost about 4 us each. */
#ifndef WSIP_BASE_SIPHASH_H
#define WSIP_BASE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct wsip_siphash {
    uint64_t v0, v1, v2, v3;
    uint64_t tail; /* bytes not yet compressed, little-endian */
    size_t len;    /* bytes fed so far */
};

void wsip_siphash_init(struct wsip_siphash *h, const unsigned char key[16]);
void wsip_siphash_update(struct wsip_siphash *h, const void *data, size_t len);
uint64_t wsip_siphash_final(struct wsip_siphash *h);
/* One call: SipHash-2-4 of data under key. */
uint64_t wsip_siphash(const unsigned char key[16], const void *data, size_t len);

#endif

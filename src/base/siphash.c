#include "base/siphash.h"

#include <string.h>

static inline uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void sip_round(struct wsip_siphash *h)
{
    h->v0 += h->v1;
    h->v1 = rotl(h->v1, 13) ^ h->v0;
    h->v0 = rotl(h->v0, 32);
    h->v2 += h->v3;
    h->v3 = rotl(h->v3, 16) ^ h->v2;
    h->v0 += h->v3;
    h->v3 = rotl(h->v3, 21) ^ h->v0;
    h->v2 += h->v1;
    h->v1 = rotl(h->v1, 17) ^ h->v2;
    h->v2 = rotl(h->v2, 32);
}

static inline void compress(struct wsip_siphash *h, uint64_t m)
{
    h->v3 ^= m;
    sip_round(h);
    sip_round(h);
    h->v0 ^= m;
}

void wsip_siphash_init(struct wsip_siphash *h, const unsigned char key[16])
{
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    /* "somepseudorandomlygeneratedbytes", the constants of the paper */
    h->v0 = k0 ^ 0x736f6d6570736575ull;
    h->v1 = k1 ^ 0x646f72616e646f6dull;
    h->v2 = k0 ^ 0x6c7967656e657261ull;
    h->v3 = k1 ^ 0x7465646279746573ull;
    h->tail = 0;
    h->len = 0;
}

void wsip_siphash_update(struct wsip_siphash *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t fill = h->len & 7;
    h->len += len;
    /* complete a word started by an earlier update */
    while (fill && len) {
        h->tail |= (uint64_t)*p++ << (8 * fill);
        len--;
        if (++fill == 8) {
            compress(h, h->tail);
            h->tail = 0;
            fill = 0;
        }
    }
    for (; len >= 8; p += 8, len -= 8)
        compress(h, load_le64(p));
    for (size_t i = 0; i < len; i++)
        h->tail |= (uint64_t)p[i] << (8 * i);
}

uint64_t wsip_siphash_final(struct wsip_siphash *h)
{
    compress(h, h->tail | ((uint64_t)(h->len & 0xff) << 56));
    h->v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(h);
    return h->v0 ^ h->v1 ^ h->v2 ^ h->v3;
}

uint64_t wsip_siphash(const unsigned char key[16], const void *data, size_t len)
{
    struct wsip_siphash h;
    wsip_siphash_init(&h, key);
    wsip_siphash_update(&h, data, len);
    return wsip_siphash_final(&h);
}

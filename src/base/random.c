#include "base/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#define POOL 512

int wsip_random_bytes(void *out, size_t n)
{
    static _Thread_local unsigned char pool[POOL];
    static _Thread_local size_t used = POOL;
    unsigned char *o = out;
    if (n > POOL)
        return RAND_bytes(o, (int)n) == 1 ? 0 : -1;
    while (n) {
        if (used == POOL) {
            if (RAND_bytes(pool, POOL) != 1)
                return -1;
            used = 0;
        }
        size_t take = POOL - used < n ? POOL - used : n;
        memcpy(o, pool + used, take);
        OPENSSL_cleanse(pool + used, take);
        used += take;
        o += take;
        n -= take;
    }
    return 0;
}

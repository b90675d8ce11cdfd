/* UTF-8 validation (RFC 3629) with an ASCII fast path: eight bytes are
 * tested at once against 0x80 in every lane, and only the non-ASCII runs
 * are decoded sequence by sequence, using the table of RFC 3629 sec 4 for
 * the second byte (which is where overlongs, surrogates and code points
 * above U+10FFFF show up). */
#include <string.h>

#include "wsip/ws.h"

#define HIGH_BITS 0x8080808080808080ull

/* Index of the first byte in memory order whose high bit is set in m. */
static inline size_t first_high(uint64_t m)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (size_t)__builtin_clzll(m) >> 3;
#else
    return (size_t)__builtin_ctzll(m) >> 3;
#endif
}

/* Checks the sequence led by the non-ASCII byte p[0], with n >= 1 bytes
 * available. Returns its length, 0 if it is valid so far but cut off, or -1
 * if it is invalid. */
static int seq_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;
    int len;
    if (c < 0xC2) { /* a stray continuation, or a 2-byte overlong lead */
        return -1;
    } else if (c < 0xE0) {
        len = 2;
    } else if (c < 0xF0) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* below U+0800: overlong */
        else if (c == 0xED)
            hi = 0x9F; /* U+D800..U+DFFF: surrogates */
    } else if (c < 0xF5) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* below U+10000: overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return -1;
    }
    if (n < 2)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return -1;
    for (int i = 2; i < len; i++) {
        if ((size_t)i >= n)
            return 0;
        if ((p[i] & 0xC0) != 0x80)
            return -1;
    }
    return len;
}

/* Index of the first non-ASCII byte at or after i, or n: 32 bytes per step
 * while the text is plain ASCII, then 8, then the last few one by one. */
static size_t skip_ascii(const uint8_t *p, size_t i, size_t n)
{
    for (; n - i >= 32; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, p + i, 8);
        memcpy(&b, p + i + 8, 8);
        memcpy(&c, p + i + 16, 8);
        memcpy(&d, p + i + 24, 8);
        if ((a | b | c | d) & HIGH_BITS)
            break;
    }
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & HIGH_BITS)
            return i + first_high(w & HIGH_BITS);
    }
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

int wsip_utf8_prefix(const uint8_t *p, size_t n, size_t *complete)
{
    size_t i = 0;
    while ((i = skip_ascii(p, i, n)) < n) {
        /* a non-ASCII run: decode until the next ASCII byte */
        do {
            int l = seq_len(p + i, n - i);
            if (l < 0)
                return -1;
            if (l == 0) {
                *complete = i;
                return 0;
            }
            i += (size_t)l;
        } while (i < n && p[i] >= 0x80);
    }
    *complete = n;
    return 0;
}

bool wsip_utf8_valid(const uint8_t *p, size_t n)
{
    size_t done;
    return wsip_utf8_prefix(p, n, &done) == 0 && done == n;
}

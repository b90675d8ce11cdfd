/* Bounded string building without printf: the message path formats keys,
 * branches, Via and Record-Route values for every message, and glibc's
 * snprintf costs about 1,000 instructions a call even for "%s". A fmt
 * writes into a fixed buffer, stops at its end and remembers that it did. */
#ifndef WSIP_BASE_FMT_H
#define WSIP_BASE_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wsip/str.h"

struct wsip_fmt {
    char *p;
    size_t cap; /* bytes of p, the NUL included */
    size_t len;
    bool overflow;
};

static inline void wsip_fmt_init(struct wsip_fmt *f, char *buf, size_t cap)
{
    f->p = buf;
    f->cap = cap;
    f->len = 0;
    f->overflow = cap == 0;
    if (cap)
        buf[0] = '\0';
}

static inline void wsip_fmt_mem(struct wsip_fmt *f, const void *s, size_t n)
{
    if (f->overflow)
        return;
    if (n >= f->cap - f->len) {
        f->overflow = true;
        return;
    }
    memcpy(f->p + f->len, s, n);
    f->len += n;
    f->p[f->len] = '\0';
}

static inline void wsip_fmt_cstr(struct wsip_fmt *f, const char *s)
{
    wsip_fmt_mem(f, s, strlen(s));
}

static inline void wsip_fmt_str(struct wsip_fmt *f, struct wsip_str s)
{
    wsip_fmt_mem(f, s.p, s.len);
}

static inline void wsip_fmt_char(struct wsip_fmt *f, char c)
{
    wsip_fmt_mem(f, &c, 1);
}

static inline void wsip_fmt_uint(struct wsip_fmt *f, uint64_t v)
{
    char d[20];
    size_t i = sizeof(d);
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    wsip_fmt_mem(f, d + i, sizeof(d) - i);
}

/* v in lower-case hex, without leading zeros (at least one digit). */
static inline void wsip_fmt_hex(struct wsip_fmt *f, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char d[16];
    size_t i = sizeof(d);
    do {
        d[--i] = digits[v & 15];
        v >>= 4;
    } while (v);
    wsip_fmt_mem(f, d + i, sizeof(d) - i);
}

/* v as exactly 16 lower-case hex digits and a NUL (no fmt: fixed width). */
static inline void wsip_hex64(uint64_t v, char out[17])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = digits[v & 15];
    out[16] = '\0';
}

/* The length written, or -1 when it did not fit (the text is cut). */
static inline int wsip_fmt_done(const struct wsip_fmt *f)
{
    return f->overflow ? -1 : (int)f->len;
}

#endif

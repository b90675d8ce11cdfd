#include "wsip/str.h"

#include <strings.h>

bool wsip_str_eq(struct wsip_str a, struct wsip_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool wsip_str_caseeq(struct wsip_str a, struct wsip_str b)
{
    return a.len == b.len && (a.len == 0 || strncasecmp(a.p, b.p, a.len) == 0);
}

bool wsip_str_caseeq_cstr(struct wsip_str a, const char *b)
{
    return wsip_str_caseeq(a, wsip_str_cstr(b));
}

bool wsip_str_eq_cstr(struct wsip_str a, const char *b)
{
    return wsip_str_eq(a, wsip_str_cstr(b));
}

bool wsip_str_has_prefix_case(struct wsip_str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && strncasecmp(s.p, prefix, n) == 0;
}

int wsip_str_to_u64(struct wsip_str s, uint64_t max, uint64_t *out)
{
    if (s.len == 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.p[i] - '0';
        if (d > 9)
            return -1;
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int wsip_str_to_u32(struct wsip_str s, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (wsip_str_to_u64(s, max, &v) < 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static bool is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct wsip_str wsip_str_trim(struct wsip_str s)
{
    while (s.len && is_lws(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && is_lws(s.p[s.len - 1]))
        s.len--;
    return s;
}

int wsip_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

void wsip_hex_encode(const void *bin, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = bin;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

long wsip_str_unescape(struct wsip_str in, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.p[i];
        if (c == '%') {
            if (i + 2 >= in.len)
                return -1;
            int h = wsip_hex_value(in.p[i + 1]), l = wsip_hex_value(in.p[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (char)(h << 4 | l);
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    if (cap)
        out[o] = '\0';
    return (long)o;
}

size_t wsip_str_copy(struct wsip_str s, char *out, size_t cap)
{
    if (!cap)
        return 0;
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n)
        memcpy(out, s.p, n);
    out[n] = '\0';
    return n;
}

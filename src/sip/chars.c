/* Character classes and small scanners shared by the SIP parsers. */
#include <stdint.h>

#include "sip/sip_int.h"

#define T WSIP_C_TOKEN
#define U WSIP_C_USER
#define P WSIP_C_PASS
#define M WSIP_C_PARAM
#define H WSIP_C_HNV
#define N WSIP_C_HOST
#define W WSIP_C_WORD
#define R WSIP_C_URIC
/* alphanum and "mark" chars are unreserved: allowed in user, password,
 * params and header names/values. */
#define ALNUM (T | U | P | M | H | N | W | R)
#define MARK  (U | P | M | H | W | R)

const unsigned char wsip__cc[256] = {
    ['0' ... '9'] = ALNUM,
    ['a' ... 'z'] = ALNUM,
    ['A' ... 'Z'] = ALNUM,
    ['-'] = MARK | T | N,
    ['_'] = MARK | T | N,
    ['.'] = MARK | T | N,
    ['!'] = MARK | T,
    ['~'] = MARK | T,
    ['*'] = MARK | T,
    ['\''] = MARK | T,
    ['('] = MARK,
    [')'] = MARK,
    ['%'] = T | W | R, /* escapes are checked where they occur */
    ['+'] = T | U | P | M | H | W | R,
    ['`'] = T | W,
    ['&'] = U | P | M | R,
    ['='] = U | P | R,
    ['$'] = U | P | M | H | R,
    [','] = U | P | R,
    [';'] = U | R,
    ['?'] = U | H | W | R,
    ['/'] = U | M | H | W | R,
    [':'] = M | H | W | R,
    ['['] = M | H | W,
    [']'] = M | H | W,
    ['@'] = R,
    ['<'] = W,
    ['>'] = W,
    ['\\'] = W,
    ['"'] = W,
    ['{'] = W,
    ['}'] = W,
};

const char *wsip__skip_quoted(const char *p, const char *end, bool *escapes)
{
    /* p is at the opening quote */
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            if (p + 1 >= end || p[1] == '\r' || p[1] == '\n')
                return NULL;
            if (escapes)
                *escapes = true;
            p++;
            continue;
        }
        if (c == '\r' || c == '\n') {
            /* folding inside a quoted string is LWS */
            const char *q = wsip__skip_lws(p, end);
            if (q == p)
                return NULL;
            p = q - 1;
        }
    }
    return NULL;
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* IPv6 text as RFC 3261 writes it: hex groups, at most one "::", an optional
 * dotted IPv4 tail. RFC 5118 sec 4.10: the RFC 3261 ABNF also allows ":::"
 * before an IPv4 tail, so that is tolerated. */
static bool valid_ipv6(const char *p, const char *end)
{
    int groups = 0, dcolon = 0;
    const char *s = p;
    if (p == end)
        return false;
    while (s < end) {
        if (*s == ':') {
            if (s + 1 < end && s[1] == ':') {
                dcolon++;
                s += 2;
                if (s < end && *s == ':')
                    s++; /* tolerated ":::" */
                continue;
            }
            if (s == p)
                return false; /* leading single colon */
            s++;
            continue;
        }
        const char *g = s;
        while (s < end && is_hex((unsigned char)*s))
            s++;
        if (s < end && *s == '.') {
            /* IPv4 tail: must be last */
            s = g;
            int parts = 0;
            while (s < end) {
                unsigned v = 0, digits = 0;
                while (s < end && *s >= '0' && *s <= '9' && digits < 4) {
                    v = v * 10 + (unsigned)(*s - '0');
                    s++;
                    digits++;
                }
                if (!digits || v > 255)
                    return false;
                parts++;
                if (s < end && *s == '.')
                    s++;
                else
                    break;
            }
            if (parts != 4 || s != end)
                return false;
            groups += 2;
            break;
        }
        if (s == g || s - g > 4)
            return false;
        groups++;
        if (s < end && *s != ':')
            return false;
        if (s + 1 == end && *s == ':')
            return false;
    }
    if (dcolon > 1)
        return false;
    return dcolon ? groups < 8 : groups == 8;
}

static bool valid_ipv4(const char *p, const char *end)
{
    int parts = 0;
    while (p < end) {
        unsigned v = 0, digits = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (++digits > 3)
                return false;
            v = v * 10 + (unsigned)(*p - '0');
            p++;
        }
        if (!digits || v > 255)
            return false;
        parts++;
        if (p < end) {
            if (*p != '.' || parts == 4)
                return false;
            p++;
            if (p == end)
                return false;
        }
    }
    return parts == 4;
}

const char *wsip__parse_host(const char *p, const char *end, enum wsip_host_type *type)
{
    if (p < end && *p == '[') {
        const char *q = p + 1;
        while (q < end && (is_hex((unsigned char)*q) || *q == ':' || *q == '.'))
            q++;
        if (q >= end || *q != ']' || !valid_ipv6(p + 1, q))
            return NULL;
        *type = WSIP_HOST_IPV6;
        return q + 1;
    }
    /* one pass: find the end and whether it is all digits and dots */
    const char *q = p;
    unsigned char nondigit = 0;
    while (q < end && wsip__is((unsigned char)*q, WSIP_C_HOST)) {
        nondigit |= (unsigned char)((unsigned)(*q - '0') > 9 && *q != '.');
        q++;
    }
    if (q == p)
        return NULL;
    /* a name may not start or end with '-' or start with '.' */
    if (*p == '-' || *p == '.' || q[-1] == '-')
        return NULL;
    if (!nondigit) {
        if (!valid_ipv4(p, q))
            return NULL;
        *type = WSIP_HOST_IPV4;
    } else {
        *type = WSIP_HOST_NAME;
    }
    return q;
}

const char *wsip__parse_port(const char *p, const char *end, bool *has_port, uint16_t *port)
{
    *has_port = false;
    *port = 0;
    if (p >= end || *p != ':')
        return p;
    const char *s = ++p;
    uint32_t v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (uint32_t)(*p - '0');
        if (v > 65535)
            return NULL;
        p++;
    }
    if (p == s)
        return NULL;
    *has_port = true;
    *port = (uint16_t)v;
    return p;
}

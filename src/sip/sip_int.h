/* Private to src/sip: character classes, scanning helpers, header table. */
#ifndef WSIP_SIP_INT_H
#define WSIP_SIP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "wsip/sip.h"

#define WSIP_HDRF_LIST   1u /* comma-separated list: one entry per element */
#define WSIP_HDRF_SINGLE 2u /* may appear at most once */

struct wsip_hdr_info {
    const char *name;
    unsigned flags;
};

extern const struct wsip_hdr_info wsip__hdr_info[WSIP_HDR__COUNT];
enum wsip_hdr_id wsip__hdr_lookup(const char *name, size_t len);

/* Character classes (RFC 3261 sec 25.1). */
enum {
    WSIP_C_TOKEN = 1u << 0, /* token */
    WSIP_C_USER = 1u << 1,  /* user: unreserved / user-unreserved (escapes apart) */
    WSIP_C_PASS = 1u << 2,  /* password: unreserved / & = + $ , */
    WSIP_C_PARAM = 1u << 3, /* paramchar: unreserved / [ ] / : & + $ */
    WSIP_C_HNV = 1u << 4,   /* hname/hvalue: unreserved / [ ] / ? : + $ */
    WSIP_C_HOST = 1u << 5,  /* hostname: alphanum / - . (and _ tolerated) */
    WSIP_C_WORD = 1u << 6,  /* word (Call-ID) */
    WSIP_C_URIC = 1u << 7,  /* uric (absoluteURI): reserved / unreserved */
};

extern const unsigned char wsip__cc[256];

static inline bool wsip__is(unsigned char c, unsigned cls)
{
    return (wsip__cc[c] & cls) != 0;
}

/* Compares n bytes of a token against a lower-case literal; valid only when
 * s holds token characters (ASCII), which the caller has checked. */
static inline bool wsip__lower_eq(const char *s, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != lower[i])
            return false;
    return true;
}

/* Case-insensitive compare of a token view with a lower-case literal,
 * without strlen or locale: the hot path for parameter names. */
#define WSIP__TOKEN_IS(view, lit)                                                                  \
    ((view).len == sizeof(lit) - 1 && wsip__lower_eq((view).p, (lit), sizeof(lit) - 1))

/* Skips linear white space: SP, HTAB and line folds (CRLF or LF followed by
 * SP/HTAB). Never runs past end. */
static inline const char *wsip__skip_lws(const char *p, const char *end)
{
    for (;;) {
        if (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        } else if (p + 1 < end && *p == '\n' && (p[1] == ' ' || p[1] == '\t')) {
            p += 2;
        } else if (p + 2 < end && *p == '\r' && p[1] == '\n' && (p[2] == ' ' || p[2] == '\t')) {
            p += 3;
        } else {
            return p;
        }
    }
}

static inline const char *wsip__skip_class(const char *p, const char *end, unsigned cls)
{
    while (p < end && wsip__is((unsigned char)*p, cls))
        p++;
    return p;
}

/* At '"': returns the position after the closing quote, or NULL when the
 * quoted-string is not closed or holds a bare CR/LF. *escapes is set when a
 * backslash escape was seen. */
const char *wsip__skip_quoted(const char *p, const char *end, bool *escapes);

/* host = hostname / IPv4address / IPv6reference. Returns the end of the host
 * or NULL; *type tells which. */
const char *wsip__parse_host(const char *p, const char *end, enum wsip_host_type *type);

/* ":" port after a host, if present. Returns the end or NULL when malformed. */
const char *wsip__parse_port(const char *p, const char *end, bool *has_port, uint16_t *port);

/* Allocates a cache object for a header in the message's arena. */
void *wsip__msg_alloc(struct wsip_msg *m, size_t size);

#endif

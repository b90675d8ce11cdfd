/* Authorization / Proxy-Authorization credentials and WWW-Authenticate /
 * Proxy-Authenticate challenges (RFC 3261 sec 25.1, RFC 7235, RFC 7616,
 * RFC 8760). Lexical only: values are views into the header; what they mean
 * (algorithm, qop, nc) is checked by the digest code that uses them. */
#include "sip/sip_int.h"

#define BAD_SCHEME   "Malformed Authorization header: missing scheme"
#define BAD_NOPARAMS "Malformed Authorization header: Digest without parameters"
#define BAD_SPACE    "Malformed Authorization header: no space after scheme"
#define BAD_NAME     "Malformed Authorization header: empty parameter name"
#define BAD_EQUALS   "Malformed Authorization header: missing '=' after parameter name"
#define BAD_VALUE    "Malformed Authorization header: empty parameter value"
#define BAD_QUOTE    "Malformed Authorization header: unterminated quoted string"
#define BAD_GARBAGE  "Malformed Authorization header: garbage after parameter"
#define BAD_TRAILING "Malformed Authorization header: empty parameter after ','"
#define BAD_DUP      "Malformed Authorization header: duplicate parameter"

static bool name_is(const char *p, size_t len, const char *lower)
{
    size_t n = strlen(lower);
    return len == n && wsip__lower_eq(p, lower, n);
}

/* The field a well-known parameter is stored in, or NULL for others. Names
 * are tokens (ASCII), so the case-folding compare is valid. */
static struct wsip_str *known_slot(struct wsip_auth *a, const char *p, size_t len)
{
    switch (len) {
    case 2: return name_is(p, len, "nc") ? &a->nc : NULL;
    case 3:
        if (name_is(p, len, "uri"))
            return &a->uri;
        return name_is(p, len, "qop") ? &a->qop : NULL;
    case 5:
        if (name_is(p, len, "realm"))
            return &a->realm;
        if (name_is(p, len, "nonce"))
            return &a->nonce;
        return name_is(p, len, "stale") ? &a->stale : NULL;
    case 6:
        if (name_is(p, len, "cnonce"))
            return &a->cnonce;
        if (name_is(p, len, "opaque"))
            return &a->opaque;
        return name_is(p, len, "domain") ? &a->domain : NULL;
    case 7: return name_is(p, len, "charset") ? &a->charset : NULL;
    case 8:
        if (name_is(p, len, "username"))
            return &a->username;
        if (name_is(p, len, "response"))
            return &a->response;
        return name_is(p, len, "userhash") ? &a->userhash : NULL;
    case 9: return name_is(p, len, "algorithm") ? &a->algorithm : NULL;
    default: return NULL;
    }
}

static bool is_token68_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

/* RFC 7235 token68 filling the rest of the value: other schemes ("Basic
 * QWxh...==", "Bearer ...") carry one instead of parameters. */
static bool rest_is_token68(const char *p, const char *end)
{
    const char *s = p;
    while (p < end && is_token68_char((unsigned char)*p))
        p++;
    if (p == s)
        return false;
    while (p < end && *p == '=')
        p++;
    return wsip__skip_lws(p, end) == end;
}

int wsip_auth_parse(struct wsip_auth *a, struct wsip_str value, const char **reason)
{
    const char *why;
    memset(a, 0, sizeof(*a));
    if (value.p == NULL || value.len == 0) {
        why = BAD_SCHEME;
        goto bad;
    }
    const char *p = value.p, *end = value.p + value.len;

    p = wsip__skip_lws(p, end);
    const char *s = p;
    p = wsip__skip_class(p, end, WSIP_C_TOKEN);
    if (p == s) {
        why = BAD_SCHEME;
        goto bad;
    }
    a->scheme = wsip_str_make(s, (size_t)(p - s));
    a->is_digest = name_is(s, a->scheme.len, "digest");

    const char *q = wsip__skip_lws(p, end);
    if (q == end) {
        /* RFC 7235 lets other schemes stand alone; Digest needs parameters */
        if (a->is_digest) {
            why = BAD_NOPARAMS;
            goto bad;
        }
        return 0;
    }
    if (q == p) {
        why = BAD_SPACE;
        goto bad;
    }
    p = q;
    if (!a->is_digest && rest_is_token68(p, end))
        return 0;

    for (;;) {
        s = p;
        p = wsip__skip_class(p, end, WSIP_C_TOKEN);
        if (p == s) {
            why = BAD_NAME;
            goto bad;
        }
        const char *name = s;
        size_t name_len = (size_t)(p - s);

        p = wsip__skip_lws(p, end);
        if (p == end || *p != '=') {
            why = BAD_EQUALS;
            goto bad;
        }
        p = wsip__skip_lws(p + 1, end);

        struct wsip_str val;
        if (p < end && *p == '"') {
            q = wsip__skip_quoted(p, end, &a->quoted_escapes);
            if (q == NULL) {
                why = BAD_QUOTE;
                goto bad;
            }
            /* an empty quoted value keeps a non-NULL pointer: "given, empty" */
            val = wsip_str_make(p + 1, (size_t)(q - 1 - (p + 1)));
            p = q;
        } else {
            s = p;
            p = wsip__skip_class(p, end, WSIP_C_TOKEN);
            if (p == s) {
                why = BAD_VALUE;
                goto bad;
            }
            val = wsip_str_make(s, (size_t)(p - s));
        }

        a->nparams++;
        struct wsip_str *slot = known_slot(a, name, name_len);
        if (slot != NULL) {
            if (slot->p != NULL) {
                why = BAD_DUP;
                goto bad;
            }
            *slot = val;
        }

        p = wsip__skip_lws(p, end);
        if (p == end)
            return 0;
        if (*p != ',') {
            why = BAD_GARBAGE;
            goto bad;
        }
        p = wsip__skip_lws(p + 1, end);
        if (p == end) {
            why = BAD_TRAILING;
            goto bad;
        }
    }

bad:
    if (reason != NULL)
        *reason = why;
    return -1;
}

long wsip_unquote(struct wsip_str quoted_body, char *out, size_t cap)
{
    if (out == NULL || cap == 0)
        return -1;
    size_t n = 0;
    if (quoted_body.len > 0) {
        const char *p = quoted_body.p, *end = p + quoted_body.len;
        while (p < end) {
            char c = *p++;
            if (c == '\\' && p < end) {
                c = *p++;
            } else if (c == '\r' && end - p >= 2 && p[0] == '\n' && (p[1] == ' ' || p[1] == '\t')) {
                /* a line fold: CRLF goes, the whitespace after it stays */
                p++;
                continue;
            } else if (c == '\n' && p < end && (*p == ' ' || *p == '\t')) {
                continue;
            }
            if (n + 1 >= cap)
                return -1;
            out[n++] = c;
        }
    }
    out[n] = '\0';
    return (long)n;
}

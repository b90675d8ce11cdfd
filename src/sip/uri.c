/* SIP, SIPS and tel URIs (RFC 3261 sec 19.1, 25.1; RFC 3966), views only. */
#include <string.h>

#include "sip/sip_int.h"

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Checks [p, end) holds only chars of cls or %HH escapes. */
static bool valid_escaped(const char *p, const char *end, unsigned cls)
{
    for (; p < end; p++) {
        if (*p == '%') {
            if (end - p < 3 || !is_hex(p[1]) || !is_hex(p[2]))
                return false;
            p += 2;
        } else if (!wsip__is((unsigned char)*p, cls)) {
            return false;
        }
    }
    return true;
}

static int bad(const char **reason, const char *why)
{
    if (reason)
        *reason = why;
    return -1;
}

/* URI parameters: every name and value made of paramchars (escapes ok), and
 * the well-known ones noted. */
static int parse_uri_params(struct wsip_uri *u, const char **reason)
{
    struct wsip_str rest = u->params, name, value;
    bool malformed;
    while (wsip_param_next(&rest, &name, &value, &malformed)) {
        if (!valid_escaped(name.p, name.p + name.len, WSIP_C_PARAM) ||
            !valid_escaped(value.p, value.p + value.len, WSIP_C_PARAM))
            return bad(reason, "Malformed URI parameter");
        if (WSIP__TOKEN_IS(name, "transport"))
            u->transport = value;
        else if (WSIP__TOKEN_IS(name, "maddr"))
            u->maddr = value;
        else if (WSIP__TOKEN_IS(name, "user"))
            u->user_param = value;
        else if (WSIP__TOKEN_IS(name, "lr"))
            u->lr = true;
        else if (WSIP__TOKEN_IS(name, "ob"))
            u->ob = true;
        else if (WSIP__TOKEN_IS(name, "gr"))
            u->gr = true;
    }
    if (malformed)
        return bad(reason, "Malformed URI parameter");
    return 0;
}

static int parse_sip(struct wsip_uri *u, const char *p, const char *end, const char **reason)
{
    /* userinfo ends at the first '@': params and headers cannot hold one */
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *ue = colon ? colon : at;
        if (ue == p)
            return bad(reason, "Empty user in URI");
        if (!valid_escaped(p, ue, WSIP_C_USER))
            return bad(reason, "Malformed user in URI");
        u->user = wsip_str_make(p, (size_t)(ue - p));
        if (colon) {
            if (!valid_escaped(colon + 1, at, WSIP_C_PASS))
                return bad(reason, "Malformed password in URI");
            u->password = wsip_str_make(colon + 1, (size_t)(at - colon - 1));
        }
        p = at + 1;
    }
    const char *h = wsip__parse_host(p, end, &u->host_type);
    if (!h)
        return bad(reason, "Malformed host in URI");
    u->host = wsip_str_make(p, (size_t)(h - p));
    p = wsip__parse_port(h, end, &u->has_port, &u->port);
    if (!p)
        return bad(reason, "Malformed port in URI");
    const char *q = memchr(p, '?', (size_t)(end - p));
    const char *pe = q ? q : end;
    if (p < pe && *p != ';')
        return bad(reason, "Malformed URI");
    u->params = wsip_str_make(p, (size_t)(pe - p));
    if (parse_uri_params(u, reason) < 0)
        return -1;
    if (q) {
        /* headers = hname "=" hvalue *( "&" hname "=" hvalue ) */
        const char *s = q + 1;
        if (s == end)
            return bad(reason, "Empty URI headers");
        for (const char *t = s; t < end; t++) {
            if (*t == '%') {
                if (end - t < 3 || !is_hex(t[1]) || !is_hex(t[2]))
                    return bad(reason, "Malformed URI headers");
                t += 2;
            } else if (*t != '=' && *t != '&' && !wsip__is((unsigned char)*t, WSIP_C_HNV)) {
                return bad(reason, "Malformed URI headers");
            }
        }
        u->headers = wsip_str_make(s, (size_t)(end - s));
    }
    return 0;
}

static int parse_tel(struct wsip_uri *u, const char *p, const char *end, const char **reason)
{
    /* RFC 3966: global (+digits) or local number, visual separators, then
     * ;params. Only the shape is checked. */
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *ne = semi ? semi : end;
    if (ne == p)
        return bad(reason, "Empty telephone number");
    for (const char *t = p; t < ne; t++) {
        char c = *t;
        if (!((c >= '0' && c <= '9') || is_hex(c) || c == '+' || c == '-' || c == '.' || c == '(' ||
              c == ')' || c == '*' || c == '#' || c == '%'))
            return bad(reason, "Malformed telephone number");
    }
    u->user = wsip_str_make(p, (size_t)(ne - p));
    u->params = wsip_str_make(ne, (size_t)(end - ne));
    return parse_uri_params(u, reason);
}

int wsip_uri_parse(struct wsip_uri *u, const char *p, size_t len, const char **reason)
{
    memset(u, 0, sizeof(*u));
    const char *end = p + len;
    u->raw = wsip_str_make(p, len);

    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    const char *s = p;
    if (s == end || !((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z'))
        return bad(reason, "Malformed URI scheme");
    while (s < end && ((((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z')) || (*s >= '0' && *s <= '9') ||
                       *s == '+' || *s == '-' || *s == '.'))
        s++;
    if (s == end || *s != ':')
        return bad(reason, "Malformed URI scheme");
    u->scheme_str = wsip_str_make(p, (size_t)(s - p));
    s++;
    if (WSIP__TOKEN_IS(u->scheme_str, "sip")) {
        u->scheme = WSIP_URI_SIP;
        return parse_sip(u, s, end, reason);
    }
    if (WSIP__TOKEN_IS(u->scheme_str, "sips")) {
        u->scheme = WSIP_URI_SIPS;
        return parse_sip(u, s, end, reason);
    }
    if (WSIP__TOKEN_IS(u->scheme_str, "tel")) {
        u->scheme = WSIP_URI_TEL;
        return parse_tel(u, s, end, reason);
    }
    /* absoluteURI = scheme ":" ( hier-part / opaque-part ): uric only */
    u->scheme = WSIP_URI_OTHER;
    if (s == end || !valid_escaped(s, end, WSIP_C_URIC))
        return bad(reason, "Malformed URI");
    return 0;
}

long wsip_uri_user_unescaped(const struct wsip_uri *u, char *out, size_t cap)
{
    return wsip_str_unescape(u->user, out, cap);
}

/* SIP, SIPS and tel URIs (RFC 3261 sec 19.1, 25.1; RFC 3966), views only. */
#include <arpa/inet.h>
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

/* ----------------------------------------------------------- equality */

static int hex_val(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* RFC 3261 sec 19.1.4: an escaped character equals the character itself
 * unless it is one of the reserved set, whose escaped form keeps a meaning
 * of its own. */
static bool is_reserved(unsigned c)
{
    return c && strchr(";/?:@&=+$,", (int)c) != NULL;
}

/* The next character of [*p, end) with %HH decoded; escaped reserved
 * characters come back as 0x100 | c so that they differ from the bare ones.
 * fold: lower-cased (the case-insensitive components). */
static unsigned next_unit(const char **p, const char *end, bool fold)
{
    unsigned c = (unsigned char)**p;
    bool esc = false;
    if (c == '%' && end - *p >= 3 && is_hex((*p)[1]) && is_hex((*p)[2])) {
        c = (unsigned)(hex_val((*p)[1]) * 16 + hex_val((*p)[2]));
        esc = true;
        *p += 3;
    } else {
        (*p)++;
    }
    if (esc && is_reserved(c))
        return 0x100 | c;
    if (fold && c >= 'A' && c <= 'Z')
        c += 32;
    return c;
}

/* Two components equal once unescaped (and folded when fold). */
static bool unit_eq(struct wsip_str a, struct wsip_str b, bool fold)
{
    if (!a.len || !b.len)
        return a.len == b.len;
    const char *pa = a.p, *ea = a.p + a.len, *pb = b.p, *eb = b.p + b.len;
    while (pa < ea && pb < eb)
        if (next_unit(&pa, ea, fold) != next_unit(&pb, eb, fold))
            return false;
    return pa == ea && pb == eb;
}

/* An IPv6 reference ("[...]") as 16 bytes; false when inet_pton does not
 * take it (the grammar lets through a few it refuses). */
static bool ipv6_bytes(struct wsip_str host, unsigned char out[16])
{
    char text[64];
    if (host.len < 2 || host.len - 2 >= sizeof(text))
        return false;
    memcpy(text, host.p + 1, host.len - 2);
    text[host.len - 2] = '\0';
    return inet_pton(AF_INET6, text, out) == 1;
}

static bool host_eq(const struct wsip_uri *a, const struct wsip_uri *b)
{
    unsigned char na[16], nb[16];
    /* "[::1]" and "[0:0::1]" are one address */
    if (a->host_type == WSIP_HOST_IPV6 && b->host_type == WSIP_HOST_IPV6 &&
        ipv6_bytes(a->host, na) && ipv6_bytes(b->host, nb))
        return memcmp(na, nb, sizeof(na)) == 0;
    return a->host_type == b->host_type && unit_eq(a->host, b->host, true);
}

/* The value of the URI parameter called name in params (names compared
 * unescaped and case-insensitively). */
static bool uri_param(struct wsip_str params, struct wsip_str name, struct wsip_str *value)
{
    struct wsip_str rest = params, n, v;
    while (wsip_param_next(&rest, &n, &v, NULL))
        if (unit_eq(n, name, true)) {
            *value = v;
            return true;
        }
    return false;
}

/* Parameters that make URIs differ even when only one of them has it: user,
 * ttl, method and maddr (sec 19.1.4), and transport, as the section's
 * examples treat it ("can resolve to different transports"). */
static bool param_must_match(struct wsip_str name)
{
    static const char *const names[] = {"user", "ttl", "method", "maddr", "transport"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (unit_eq(name, wsip_str_cstr(names[i]), true))
            return true;
    return false;
}

/* Every parameter of a that b has too has an equal value there; one that b
 * lacks is ignored unless it must match. */
static bool params_cover(struct wsip_str a, struct wsip_str b)
{
    struct wsip_str rest = a, n, v, other;
    while (wsip_param_next(&rest, &n, &v, NULL)) {
        if (uri_param(b, n, &other)) {
            if (!unit_eq(v, other, true))
                return false;
        } else if (param_must_match(n)) {
            return false;
        }
    }
    return true;
}

/* The next "hname=hvalue" of a URI's headers, split at '='. */
static bool next_header(struct wsip_str *rest, struct wsip_str *name, struct wsip_str *value)
{
    if (!rest->len)
        return false;
    const char *amp = memchr(rest->p, '&', rest->len);
    size_t len = amp ? (size_t)(amp - rest->p) : rest->len;
    const char *eq = memchr(rest->p, '=', len);
    *name = wsip_str_make(rest->p, eq ? (size_t)(eq - rest->p) : len);
    *value = eq ? wsip_str_make(eq + 1, len - name->len - 1) : wsip_str_make(rest->p + len, 0);
    rest->p += amp ? len + 1 : len;
    rest->len -= amp ? len + 1 : len;
    return true;
}

/* Every header of a is in b with the same value: names case-insensitive,
 * values as written once unescaped (they hold URIs and text whose case the
 * header's own rules would decide; none is folded here). */
static bool headers_cover(struct wsip_str a, struct wsip_str b)
{
    struct wsip_str ra = a, n, v;
    while (next_header(&ra, &n, &v)) {
        bool found = false;
        struct wsip_str rb = b, n2, v2;
        while (!found && next_header(&rb, &n2, &v2))
            found = unit_eq(n, n2, true) && unit_eq(v, v2, false);
        if (!found)
            return false;
    }
    return true;
}

bool wsip_uri_equal(const struct wsip_uri *a, const struct wsip_uri *b)
{
    if (a->scheme != b->scheme)
        return false; /* sip and sips never match */
    if (a->scheme != WSIP_URI_SIP && a->scheme != WSIP_URI_SIPS)
        return unit_eq(a->raw, b->raw, true);
    /* absent and present components differ (an empty password counts as
     * present), the userinfo keeps its case */
    if (!a->user.p != !b->user.p || !a->password.p != !b->password.p ||
        !unit_eq(a->user, b->user, false) || !unit_eq(a->password, b->password, false))
        return false;
    /* a port given equals no port only if both give it: 5060 is not "none" */
    if (a->has_port != b->has_port || (a->has_port && a->port != b->port) || !host_eq(a, b))
        return false;
    return params_cover(a->params, b->params) && params_cover(b->params, a->params) &&
           headers_cover(a->headers, b->headers) && headers_cover(b->headers, a->headers);
}

/* name-addr / addr-spec with header parameters (RFC 3261 sec 20.10, 25.1):
 * From, To, Contact, Route, Record-Route, Path, Reply-To, Refer-To. */
#include <string.h>

#include "sip/sip_int.h"

static int bad(const char **reason, const char *why)
{
    if (reason)
        *reason = why;
    return -1;
}

/* Header params after the address; every one must be well formed. */
static int parse_params(struct wsip_addr *a, const char *p, const char *end, const char **reason)
{
    a->params = wsip_str_make(p, (size_t)(end - p));
    struct wsip_str rest = a->params, name, value;
    bool malformed;
    while (wsip_param_next(&rest, &name, &value, &malformed)) {
        if (WSIP__TOKEN_IS(name, "tag")) {
            if (a->has_tag)
                return bad(reason, "Duplicate tag parameter");
            if (value.len == 0 || value.p[0] == '"')
                return bad(reason, "Malformed tag parameter");
            a->tag = value;
            a->has_tag = true;
        }
    }
    if (malformed)
        return bad(reason, "Malformed header parameter");
    return 0;
}

/* display-name = *(token LWS) / quoted-string, then '<'. Returns the
 * position of '<', or NULL when the value is not a name-addr. */
static const char *scan_display(const char *p, const char *end, bool *bad_quote)
{
    if (p < end && *p == '"') {
        const char *q = wsip__skip_quoted(p, end, NULL);
        if (!q) {
            *bad_quote = true;
            return NULL;
        }
        q = wsip__skip_lws(q, end);
        return (q < end && *q == '<') ? q : NULL;
    }
    const char *q = p;
    while (q < end) {
        if (*q == '<')
            return q;
        const char *t = wsip__skip_class(q, end, WSIP_C_TOKEN);
        if (t == q)
            return NULL;
        q = wsip__skip_lws(t, end);
    }
    return NULL;
}

int wsip_addr_parse(struct wsip_addr *a, struct wsip_str value, const char **reason)
{
    memset(a, 0, sizeof(*a));
    const char *p = value.p, *end = value.p + value.len;

    if (value.len == 1 && *p == '*') {
        a->star = true;
        return 0;
    }
    bool bad_quote = false;
    const char *lt = scan_display(p, end, &bad_quote);
    if (bad_quote)
        return bad(reason, "Unterminated quoted string");
    if (lt) {
        const char *de = lt;
        while (de > p && (de[-1] == ' ' || de[-1] == '\t' || de[-1] == '\r' || de[-1] == '\n'))
            de--;
        a->display = wsip_str_make(p, (size_t)(de - p));
        const char *gt = memchr(lt, '>', (size_t)(end - lt));
        if (!gt)
            return bad(reason, "Missing '>' in address");
        /* no white space inside <> (RFC 4475 sec 3.1.2.16, badaspec) */
        if (wsip_uri_parse(&a->uri, lt + 1, (size_t)(gt - lt - 1), reason) < 0)
            return -1;
        a->angle = true;
        return parse_params(a, gt + 1, end, reason);
    }
    if (memchr(p, '<', (size_t)(end - p)) || memchr(p, '"', (size_t)(end - p)))
        return bad(reason, "Malformed display name");

    /* addr-spec: the URI ends at the first ';' or white space, and cannot
     * carry its own parameters or headers (RFC 3261 sec 20). */
    const char *ue = p;
    while (ue < end && *ue != ';' && *ue != ' ' && *ue != '\t' && *ue != '\r' && *ue != '\n')
        ue++;
    if (memchr(p, '?', (size_t)(ue - p)) || memchr(p, ',', (size_t)(ue - p)))
        return bad(reason, "URI with headers must be enclosed in <>");
    if (wsip_uri_parse(&a->uri, p, (size_t)(ue - p), reason) < 0)
        return -1;
    return parse_params(a, ue, end, reason);
}

/* Small single-value headers: CSeq, Content-Type, Event. */
#include <string.h>

#include "sip/sip_int.h"

static int bad(const char **reason, const char *why)
{
    if (reason)
        *reason = why;
    return -1;
}

int wsip_cseq_parse(struct wsip_cseq *c, struct wsip_str value, const char **reason)
{
    memset(c, 0, sizeof(*c));
    const char *p = value.p, *end = value.p + value.len;
    const char *d = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    /* the sequence number is below 2**31 (RFC 3261 sec 8.1.1.5) */
    if (wsip_str_to_u32(wsip_str_make(d, (size_t)(p - d)), 0x7fffffffu, &c->num) < 0)
        return bad(reason, "Malformed CSeq number");
    const char *m = wsip__skip_lws(p, end);
    if (m == p)
        return bad(reason, "Malformed CSeq");
    p = wsip__skip_class(m, end, WSIP_C_TOKEN);
    if (p == m || p != end)
        return bad(reason, "Malformed CSeq method");
    c->method = wsip_str_make(m, (size_t)(p - m));
    c->method_id = wsip_method_from_str(c->method);
    return 0;
}

int wsip_ctype_parse(struct wsip_ctype *c, struct wsip_str value, const char **reason)
{
    memset(c, 0, sizeof(*c));
    const char *p = value.p, *end = value.p + value.len;
    const char *t = p;
    p = wsip__skip_class(p, end, WSIP_C_TOKEN);
    if (p == t)
        return bad(reason, "Malformed Content-Type");
    c->type = wsip_str_make(t, (size_t)(p - t));
    p = wsip__skip_lws(p, end);
    if (p >= end || *p != '/')
        return bad(reason, "Malformed Content-Type");
    p = wsip__skip_lws(p + 1, end);
    const char *s = p;
    p = wsip__skip_class(p, end, WSIP_C_TOKEN);
    if (p == s)
        return bad(reason, "Malformed Content-Type");
    c->subtype = wsip_str_make(s, (size_t)(p - s));
    c->params = wsip_str_make(p, (size_t)(end - p));
    struct wsip_str rest = c->params, n, v;
    bool malformed;
    while (wsip_param_next(&rest, &n, &v, &malformed))
        ;
    if (malformed)
        return bad(reason, "Malformed Content-Type parameter");
    return 0;
}

int wsip_event_parse(struct wsip_event *e, struct wsip_str value, const char **reason)
{
    memset(e, 0, sizeof(*e));
    const char *p = value.p, *end = value.p + value.len;
    const char *s = p;
    p = wsip__skip_class(p, end, WSIP_C_TOKEN);
    if (p == s)
        return bad(reason, "Malformed Event");
    e->package = wsip_str_make(s, (size_t)(p - s));
    e->params = wsip_str_make(p, (size_t)(end - p));
    struct wsip_str rest = e->params, n, v;
    bool malformed;
    while (wsip_param_next(&rest, &n, &v, &malformed))
        if (wsip_str_caseeq_cstr(n, "id"))
            e->id = v;
    if (malformed)
        return bad(reason, "Malformed Event parameter");
    return 0;
}

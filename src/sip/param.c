/* ";name[=value]" parameter lists shared by URIs, name-addr and Via. */
#include "sip/sip_int.h"

/* Parameter names and unquoted values: token chars plus what URI
 * paramchars and IPv6 references add ([ ] :). */
#define PARAM_CHARS (WSIP_C_TOKEN | WSIP_C_PARAM)

bool wsip_param_next(struct wsip_str *params, struct wsip_str *name, struct wsip_str *value,
                     bool *bad)
{
    if (bad)
        *bad = false;
    if (params->len == 0) /* also an absent list (p == NULL): no NULL + 0 */
        return false;
    const char *p = params->p, *end = params->p + params->len;
    p = wsip__skip_lws(p, end);
    if (p == end)
        goto done;
    if (*p != ';')
        goto malformed;
    p = wsip__skip_lws(p + 1, end);
    const char *n = p;
    p = wsip__skip_class(p, end, PARAM_CHARS);
    if (p == n)
        goto malformed;
    *name = wsip_str_make(n, (size_t)(p - n));
    *value = wsip_str_make(p, 0);
    const char *q = wsip__skip_lws(p, end);
    if (q < end && *q == '=') {
        q = wsip__skip_lws(q + 1, end);
        const char *v = q;
        if (q < end && *q == '"') {
            q = wsip__skip_quoted(q, end, NULL);
            if (!q)
                goto malformed;
        } else {
            q = wsip__skip_class(q, end, PARAM_CHARS);
            if (q == v)
                goto malformed;
        }
        *value = wsip_str_make(v, (size_t)(q - v));
        p = q;
    }
    params->p = p;
    params->len = (size_t)(end - p);
    return true;

malformed:
    if (bad)
        *bad = true;
done:
    params->p = end;
    params->len = 0;
    return false;
}

bool wsip_param_find(struct wsip_str params, const char *name, struct wsip_str *value)
{
    struct wsip_str n, v;
    while (wsip_param_next(&params, &n, &v, NULL)) {
        if (wsip_str_caseeq_cstr(n, name)) {
            if (value)
                *value = v;
            return true;
        }
    }
    return false;
}

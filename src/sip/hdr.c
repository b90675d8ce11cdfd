/* Header lookup by id and by name, and the lazily parsed, cached views. */
#include <string.h>

#include "sip/sip_int.h"

struct wsip_hdr *wsip_msg_hdr(const struct wsip_msg *m, enum wsip_hdr_id id)
{
    if ((unsigned)id >= WSIP_HDR__COUNT || !m->first[id])
        return NULL;
    return &m->hdrs[m->first[id] - 1];
}

struct wsip_hdr *wsip_msg_hdr_next(const struct wsip_msg *m, const struct wsip_hdr *h)
{
    return h->next ? &m->hdrs[h->next - 1] : NULL;
}

struct wsip_hdr *wsip_msg_hdr_by_name(const struct wsip_msg *m, struct wsip_str name)
{
    enum wsip_hdr_id id = wsip_hdr_id_from_name(name);
    struct wsip_hdr *h = wsip_msg_hdr(m, id);
    if (id != WSIP_HDR_OTHER)
        return h;
    for (; h; h = wsip_msg_hdr_next(m, h))
        if (wsip_str_caseeq(h->name, name))
            return h;
    return NULL;
}

unsigned wsip_msg_hdr_count(const struct wsip_msg *m, enum wsip_hdr_id id)
{
    unsigned n = 0;
    for (struct wsip_hdr *h = wsip_msg_hdr(m, id); h; h = wsip_msg_hdr_next(m, h))
        n++;
    return n;
}

struct wsip_str wsip_msg_call_id(const struct wsip_msg *m)
{
    struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_CALL_ID);
    return h ? h->value : WSIP_STR_NULL;
}

int wsip_msg_max_forwards(const struct wsip_msg *m)
{
    struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_MAX_FORWARDS);
    uint32_t v;
    if (!h)
        return -1;
    if (wsip_str_to_u32(h->value, 255, &v) < 0)
        return -2;
    return (int)v;
}

int wsip_msg_expires(const struct wsip_msg *m, uint32_t *out)
{
    struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_EXPIRES);
    uint64_t v;
    if (!h)
        return 1;
    if (h->value.len == 0)
        return -1;
    for (size_t i = 0; i < h->value.len; i++)
        if (h->value.p[i] < '0' || h->value.p[i] > '9')
            return -1;
    /* delta-seconds beyond 2**32-1 are taken as 2**32-1 (RFC 3261 sec 25.1) */
    if (wsip_str_to_u64(h->value, UINT32_MAX, &v) < 0)
        v = UINT32_MAX;
    *out = (uint32_t)v;
    return 0;
}

bool wsip_msg_has_token(const struct wsip_msg *m, enum wsip_hdr_id id, const char *token)
{
    struct wsip_str t = wsip_str_cstr(token);
    for (struct wsip_hdr *h = wsip_msg_hdr(m, id); h; h = wsip_msg_hdr_next(m, h)) {
        /* a token may carry parameters (Accept: a/b;q=1): compare the head */
        struct wsip_str v = h->value;
        const char *semi = memchr(v.p, ';', v.len);
        if (semi)
            v = wsip_str_trim(wsip_str_make(v.p, (size_t)(semi - v.p)));
        if (wsip_str_caseeq(v, t))
            return true;
    }
    return false;
}

/* One function per cached type: parse once, remember the outcome. */
#define CACHED_ACCESSOR(fn, type, parse)                                                           \
    const struct type *fn(struct wsip_msg *m, struct wsip_hdr *h, const char **reason)             \
    {                                                                                              \
        if (!h)                                                                                    \
            return NULL;                                                                           \
        if (h->parse_state == 0) {                                                                 \
            struct type *v = wsip__msg_alloc(m, sizeof(*v));                                       \
            if (!v) {                                                                              \
                if (reason)                                                                        \
                    *reason = "Out of memory";                                                     \
                return NULL;                                                                       \
            }                                                                                      \
            const char *why = NULL;                                                                \
            if (parse(v, h->value, &why) == 0) {                                                   \
                h->parsed = v;                                                                     \
                h->parse_state = 1;                                                                \
            } else {                                                                               \
                h->parse_err = why;                                                                \
                h->parse_state = -1;                                                               \
            }                                                                                      \
        }                                                                                          \
        if (h->parse_state < 0) {                                                                  \
            if (reason)                                                                            \
                *reason = h->parse_err;                                                            \
            return NULL;                                                                           \
        }                                                                                          \
        return h->parsed;                                                                          \
    }

CACHED_ACCESSOR(wsip_hdr_via, wsip_via, wsip_via_parse)
CACHED_ACCESSOR(wsip_hdr_addr, wsip_addr, wsip_addr_parse)
CACHED_ACCESSOR(wsip_hdr_auth, wsip_auth, wsip_auth_parse)
static CACHED_ACCESSOR(hdr_cseq, wsip_cseq, wsip_cseq_parse) static CACHED_ACCESSOR(
    hdr_ctype, wsip_ctype, wsip_ctype_parse) static CACHED_ACCESSOR(hdr_event, wsip_event,
                                                                    wsip_event_parse)

    static struct wsip_hdr *first_or_absent(struct wsip_msg *m, enum wsip_hdr_id id,
                                            const char **reason, const char *absent)
{
    struct wsip_hdr *h = wsip_msg_hdr(m, id);
    if (!h && reason)
        *reason = absent;
    return h;
}

const struct wsip_via *wsip_msg_top_via(struct wsip_msg *m, const char **reason)
{
    return wsip_hdr_via(m, first_or_absent(m, WSIP_HDR_VIA, reason, "Missing Via"), reason);
}

const struct wsip_addr *wsip_msg_from(struct wsip_msg *m, const char **reason)
{
    return wsip_hdr_addr(m, first_or_absent(m, WSIP_HDR_FROM, reason, "Missing From"), reason);
}

const struct wsip_addr *wsip_msg_to(struct wsip_msg *m, const char **reason)
{
    return wsip_hdr_addr(m, first_or_absent(m, WSIP_HDR_TO, reason, "Missing To"), reason);
}

const struct wsip_cseq *wsip_msg_cseq(struct wsip_msg *m, const char **reason)
{
    return hdr_cseq(m, first_or_absent(m, WSIP_HDR_CSEQ, reason, "Missing CSeq"), reason);
}

const struct wsip_ctype *wsip_msg_ctype(struct wsip_msg *m, const char **reason)
{
    return hdr_ctype(m, first_or_absent(m, WSIP_HDR_CONTENT_TYPE, reason, "Missing Content-Type"),
                     reason);
}

const struct wsip_event *wsip_msg_event(struct wsip_msg *m, const char **reason)
{
    return hdr_event(m, first_or_absent(m, WSIP_HDR_EVENT, reason, "Missing Event"), reason);
}

const struct wsip_uri *wsip_msg_ruri(struct wsip_msg *m, const char **reason)
{
    if (!m->is_request) {
        if (reason)
            *reason = "Not a request";
        return NULL;
    }
    if (m->ruri_state == 0) {
        struct wsip_uri *u = wsip__msg_alloc(m, sizeof(*u));
        if (!u) {
            if (reason)
                *reason = "Out of memory";
            return NULL;
        }
        const char *why = NULL;
        if (wsip_uri_parse(u, m->ruri_str.p, m->ruri_str.len, &why) == 0) {
            m->ruri = u;
            m->ruri_state = 1;
        } else {
            m->ruri_err = why;
            m->ruri_state = -1;
        }
    }
    if (m->ruri_state < 0) {
        if (reason)
            *reason = m->ruri_err;
        return NULL;
    }
    return m->ruri;
}

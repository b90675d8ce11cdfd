/* Receive-side checks: what a proxy verifies before it would process a
 * message (RFC 3261 sec 8.2, 16.3), and the application checks of RFC 4475
 * sec 3.3 (416, 420, 483, registrar To). */
#include <string.h>

#include "sip/sip_int.h"

static int reject(struct wsip_msg *m, struct wsip_sip_err *err, unsigned status, const char *reason)
{
    /* never answer a response: drop it */
    err->status = m->is_request ? status : 0;
    err->reason = reason;
    return -1;
}

static bool valid_call_id(struct wsip_str v)
{
    /* callid = word [ "@" word ] */
    if (v.len == 0)
        return false;
    const char *at = memchr(v.p, '@', v.len);
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (v.p + i == at) {
            if (i == 0 || i + 1 == v.len)
                return false;
            continue;
        }
        if (!wsip__is(c, WSIP_C_WORD))
            return false;
    }
    return true;
}

static const enum wsip_hdr_id addr_headers[] = {
    WSIP_HDR_FROM,         WSIP_HDR_TO,   WSIP_HDR_CONTACT,  WSIP_HDR_ROUTE,
    WSIP_HDR_RECORD_ROUTE, WSIP_HDR_PATH, WSIP_HDR_REPLY_TO, WSIP_HDR_SERVICE_ROUTE,
};

static int check_addresses(struct wsip_msg *m, struct wsip_sip_err *err)
{
    static const char *const names[] = {
        "Malformed From header",         "Malformed To header",
        "Malformed Contact header",      "Malformed Route header",
        "Malformed Record-Route header", "Malformed Path header",
        "Malformed Reply-To header",     "Malformed Service-Route header",
    };
    for (size_t i = 0; i < sizeof(addr_headers) / sizeof(addr_headers[0]); i++) {
        enum wsip_hdr_id id = addr_headers[i];
        for (struct wsip_hdr *h = wsip_msg_hdr(m, id); h; h = wsip_msg_hdr_next(m, h)) {
            const struct wsip_addr *a = wsip_hdr_addr(m, h, NULL);
            if (!a)
                return reject(m, err, 400, names[i]);
            if (a->star && (id != WSIP_HDR_CONTACT || wsip_msg_hdr_count(m, id) != 1))
                return reject(m, err, 400, names[i]);
        }
    }
    return 0;
}

static int check_auth(struct wsip_msg *m, struct wsip_sip_err *err)
{
    static const struct {
        enum wsip_hdr_id id;
        const char *reason;
    } auth[] = {
        {WSIP_HDR_AUTHORIZATION, "Malformed Authorization header"},
        {WSIP_HDR_PROXY_AUTHORIZATION, "Malformed Proxy-Authorization header"},
        {WSIP_HDR_WWW_AUTHENTICATE, "Malformed WWW-Authenticate header"},
        {WSIP_HDR_PROXY_AUTHENTICATE, "Malformed Proxy-Authenticate header"},
    };
    for (size_t i = 0; i < sizeof(auth) / sizeof(auth[0]); i++)
        for (struct wsip_hdr *h = wsip_msg_hdr(m, auth[i].id); h; h = wsip_msg_hdr_next(m, h))
            if (!wsip_hdr_auth(m, h, NULL))
                return reject(m, err, 400, auth[i].reason);
    return 0;
}

int wsip_msg_validate(struct wsip_msg *m, struct wsip_sip_err *err)
{
    const char *why = NULL;

    if (!wsip_str_caseeq_cstr(m->version, "SIP/2.0"))
        return reject(m, err, 505, "Version Not Supported");

    static const struct {
        enum wsip_hdr_id id;
        const char *reason;
    } required[] = {
        {WSIP_HDR_TO, "Missing To header"},     {WSIP_HDR_FROM, "Missing From header"},
        {WSIP_HDR_CSEQ, "Missing CSeq header"}, {WSIP_HDR_CALL_ID, "Missing Call-ID header"},
        {WSIP_HDR_VIA, "Missing Via header"},
    };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!m->first[required[i].id])
            return reject(m, err, 400, required[i].reason);

    for (unsigned id = 1; id < WSIP_HDR__COUNT; id++) {
        if ((wsip__hdr_info[id].flags & WSIP_HDRF_SINGLE) && m->first[id] &&
            m->first[id] != m->last[id]) {
            /* the reason names the header; keep it static */
            switch (id) {
            case WSIP_HDR_TO: return reject(m, err, 400, "Duplicate To header");
            case WSIP_HDR_FROM: return reject(m, err, 400, "Duplicate From header");
            case WSIP_HDR_CALL_ID: return reject(m, err, 400, "Duplicate Call-ID header");
            case WSIP_HDR_CSEQ: return reject(m, err, 400, "Duplicate CSeq header");
            case WSIP_HDR_MAX_FORWARDS: return reject(m, err, 400, "Duplicate Max-Forwards header");
            case WSIP_HDR_CONTENT_LENGTH:
                return reject(m, err, 400, "Duplicate Content-Length header");
            case WSIP_HDR_CONTENT_TYPE: return reject(m, err, 400, "Duplicate Content-Type header");
            case WSIP_HDR_EXPIRES: return reject(m, err, 400, "Duplicate Expires header");
            default: break; /* others: harmless for a proxy, the first one wins */
            }
        }
    }

    const struct wsip_cseq *cseq = wsip_msg_cseq(m, &why);
    if (!cseq)
        return reject(m, err, 400, why ? why : "Malformed CSeq header");
    if (m->is_request && !wsip_str_eq(cseq->method, m->method))
        return reject(m, err, 400, "CSeq method does not match the request method");
    if (!m->is_request && cseq->method_id == WSIP_METHOD_ACK)
        return reject(m, err, 0, "Response to ACK");

    if (!valid_call_id(wsip_msg_call_id(m)))
        return reject(m, err, 400, "Malformed Call-ID header");

    if (m->is_request) {
        const struct wsip_uri *u = wsip_msg_ruri(m, &why);
        if (!u)
            return reject(m, err, 400, why ? why : "Malformed Request-URI");
        if (u->headers.len)
            return reject(m, err, 400, "Request-URI must not contain headers");
    }

    for (struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_VIA); h; h = wsip_msg_hdr_next(m, h))
        if (!wsip_hdr_via(m, h, &why))
            return reject(m, err, 400, why ? why : "Malformed Via header");

    if (check_addresses(m, err) < 0)
        return -1;

    if (wsip_msg_max_forwards(m) == -2)
        return reject(m, err, 400, "Malformed Max-Forwards header");
    uint32_t expires;
    if (wsip_msg_expires(m, &expires) < 0)
        return reject(m, err, 400, "Malformed Expires header");
    if (m->first[WSIP_HDR_CONTENT_TYPE] && !wsip_msg_ctype(m, NULL))
        return reject(m, err, 400, "Malformed Content-Type header");
    if (m->first[WSIP_HDR_EVENT] && !wsip_msg_event(m, NULL))
        return reject(m, err, 400, "Malformed Event header");
    if (m->clen_bad)
        return reject(m, err, 400, "Bad Content-Length");
    if (m->has_clen && m->clen > m->body.len)
        return reject(m, err, 400, "Content-Length larger than the body");
    return check_auth(m, err);
}

static bool supported_tag(const char *const *supported, struct wsip_str tag)
{
    for (; supported && *supported; supported++)
        if (wsip_str_caseeq_cstr(tag, *supported))
            return true;
    return false;
}

static bool all_supported(struct wsip_msg *m, enum wsip_hdr_id id, const char *const *supported)
{
    for (struct wsip_hdr *h = wsip_msg_hdr(m, id); h; h = wsip_msg_hdr_next(m, h))
        if (h->value.len && !supported_tag(supported, h->value))
            return false;
    return true;
}

int wsip_msg_check_request(struct wsip_msg *m, enum wsip_role role, const char *const *supported,
                           struct wsip_sip_err *err)
{
    if (!m->is_request)
        return 0;
    const struct wsip_uri *u = wsip_msg_ruri(m, NULL);
    if (!u)
        return reject(m, err, 400, "Malformed Request-URI");
    bool sip = u->scheme == WSIP_URI_SIP || u->scheme == WSIP_URI_SIPS;
    if (!sip && !(role == WSIP_ROLE_PROXY && u->scheme == WSIP_URI_TEL))
        return reject(m, err, 416, "Unsupported URI Scheme");

    if (role == WSIP_ROLE_PROXY) {
        if (wsip_msg_max_forwards(m) == 0)
            return reject(m, err, 483, "Too Many Hops");
        if (!all_supported(m, WSIP_HDR_PROXY_REQUIRE, supported))
            return reject(m, err, 420, "Bad Extension");
        return 0;
    }

    /* A UAS ignores Require on ACK and CANCEL (RFC 3261 sec 8.2.2.3). */
    if (m->method_id != WSIP_METHOD_ACK && m->method_id != WSIP_METHOD_CANCEL &&
        !all_supported(m, WSIP_HDR_REQUIRE, supported))
        return reject(m, err, 420, "Bad Extension");

    if (role == WSIP_ROLE_REGISTRAR && m->method_id == WSIP_METHOD_REGISTER) {
        const struct wsip_addr *to = wsip_msg_to(m, NULL);
        if (!to || (to->uri.scheme != WSIP_URI_SIP && to->uri.scheme != WSIP_URI_SIPS))
            return reject(m, err, 400, "To header must be a SIP or SIPS URI");
    }
    return 0;
}

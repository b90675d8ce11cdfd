/* Via (RFC 3261 sec 20.42, 25.1; RFC 3581 rport; RFC 7118 WS/WSS). */
#include <string.h>

#include "sip/sip_int.h"

static const char *const transport_names[] = {
    [WSIP_TP_UNKNOWN] = "",  [WSIP_TP_UDP] = "UDP", [WSIP_TP_TCP] = "TCP", [WSIP_TP_TLS] = "TLS",
    [WSIP_TP_SCTP] = "SCTP", [WSIP_TP_WS] = "WS",   [WSIP_TP_WSS] = "WSS",
};

enum wsip_transport wsip_transport_from_str(struct wsip_str s)
{
    /* by length first: this runs for every Via */
    switch (s.len) {
    case 2: return wsip__lower_eq(s.p, "ws", 2) ? WSIP_TP_WS : WSIP_TP_UNKNOWN;
    case 3:
        if (wsip__lower_eq(s.p, "udp", 3))
            return WSIP_TP_UDP;
        if (wsip__lower_eq(s.p, "tcp", 3))
            return WSIP_TP_TCP;
        if (wsip__lower_eq(s.p, "tls", 3))
            return WSIP_TP_TLS;
        return wsip__lower_eq(s.p, "wss", 3) ? WSIP_TP_WSS : WSIP_TP_UNKNOWN;
    case 4: return wsip__lower_eq(s.p, "sctp", 4) ? WSIP_TP_SCTP : WSIP_TP_UNKNOWN;
    default: return WSIP_TP_UNKNOWN;
    }
}

const char *wsip_transport_name(enum wsip_transport t)
{
    if ((unsigned)t >= sizeof(transport_names) / sizeof(transport_names[0]))
        return "";
    return transport_names[t];
}

static int bad(const char **reason, const char *why)
{
    if (reason)
        *reason = why;
    return -1;
}

static const char *token(const char *p, const char *end, struct wsip_str *out)
{
    const char *q = wsip__skip_class(p, end, WSIP_C_TOKEN);
    *out = wsip_str_make(p, (size_t)(q - p));
    return q == p ? NULL : q;
}

static const char *slash(const char *p, const char *end)
{
    p = wsip__skip_lws(p, end);
    if (p >= end || *p != '/')
        return NULL;
    return wsip__skip_lws(p + 1, end);
}

/* received = IPv4address / IPv6address; RFC 5118 sec 4.5: accept it with
 * brackets too. */
static bool valid_address(struct wsip_str v)
{
    enum wsip_host_type t;
    if (v.len == 0)
        return false;
    if (v.p[0] == '[') {
        const char *e = wsip__parse_host(v.p, v.p + v.len, &t);
        return e == v.p + v.len && t == WSIP_HOST_IPV6;
    }
    if (memchr(v.p, ':', v.len)) {
        /* bare IPv6: check it as a reference without allocating */
        char tmp[64];
        if (v.len + 2 > sizeof(tmp))
            return false;
        tmp[0] = '[';
        memcpy(tmp + 1, v.p, v.len);
        tmp[v.len + 1] = ']';
        const char *e = wsip__parse_host(tmp, tmp + v.len + 2, &t);
        return e == tmp + v.len + 2 && t == WSIP_HOST_IPV6;
    }
    const char *e = wsip__parse_host(v.p, v.p + v.len, &t);
    return e == v.p + v.len && t == WSIP_HOST_IPV4;
}

static int parse_params(struct wsip_via *v, const char **reason)
{
    struct wsip_str rest = v->params, name, value;
    bool malformed;
    uint32_t n;
    while (wsip_param_next(&rest, &name, &value, &malformed)) {
        if (WSIP__TOKEN_IS(name, "branch")) {
            if (value.len == 0 || value.p[0] == '"')
                return bad(reason, "Malformed Via branch");
            v->branch = value;
        } else if (WSIP__TOKEN_IS(name, "received")) {
            if (!valid_address(value))
                return bad(reason, "Malformed Via received");
            v->received = value;
        } else if (WSIP__TOKEN_IS(name, "rport")) {
            v->has_rport = true;
            if (value.len) {
                if (wsip_str_to_u32(value, 65535, &n) < 0)
                    return bad(reason, "Malformed Via rport");
                v->rport = (uint16_t)n;
            }
        } else if (WSIP__TOKEN_IS(name, "ttl")) {
            if (wsip_str_to_u32(value, 255, &n) < 0)
                return bad(reason, "Malformed Via ttl");
            v->ttl = (int)n;
        } else if (WSIP__TOKEN_IS(name, "maddr")) {
            enum wsip_host_type t;
            if (wsip__parse_host(value.p, value.p + value.len, &t) != value.p + value.len)
                return bad(reason, "Malformed Via maddr");
            v->maddr = value;
        }
    }
    if (malformed)
        return bad(reason, "Malformed Via parameter");
    return 0;
}

int wsip_via_parse(struct wsip_via *v, struct wsip_str value, const char **reason)
{
    memset(v, 0, sizeof(*v));
    v->ttl = -1;
    const char *p = value.p, *end = value.p + value.len;

    /* sent-protocol = protocol-name SLASH protocol-version SLASH transport */
    if (!(p = token(p, end, &v->proto_name)) || !(p = slash(p, end)) ||
        !(p = token(p, end, &v->proto_version)) || !(p = slash(p, end)) ||
        !(p = token(p, end, &v->transport_str)))
        return bad(reason, "Malformed Via protocol");
    v->transport = wsip_transport_from_str(v->transport_str);

    const char *h = wsip__skip_lws(p, end);
    if (h == p)
        return bad(reason, "Malformed Via");
    p = wsip__parse_host(h, end, &v->host_type);
    if (!p)
        return bad(reason, "Malformed Via host");
    v->host = wsip_str_make(h, (size_t)(p - h));
    const char *c = wsip__skip_lws(p, end);
    if (c < end && *c == ':') {
        const char *d = wsip__skip_lws(c + 1, end);
        uint32_t port;
        const char *de = wsip__skip_class(d, end, WSIP_C_HOST);
        if (de == d || wsip_str_to_u32(wsip_str_make(d, (size_t)(de - d)), 65535, &port) < 0)
            return bad(reason, "Malformed Via port");
        v->has_port = true;
        v->port = (uint16_t)port;
        p = de;
    }
    v->params = wsip_str_make(p, (size_t)(end - p));
    return parse_params(v, reason);
}

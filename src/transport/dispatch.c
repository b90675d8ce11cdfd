/* What happens to a received SIP message until the transaction layer (#4)
 * takes over: validation, a stateless 200 to OPTIONS addressed to wsip, a
 * stateless 501 to other requests, responses dropped. Every answer leaves by
 * the way its request came. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "base/fmt.h"
#include "base/random.h"
#include "core/core.h"
#include "transport/transport.h"
#include "txn/txn.h"
#include "wsip/log.h"

#define ALLOW_HDR "Allow: OPTIONS\r\n"
/* with the registrar and proxy */
#define ALLOW_CORE "Allow: OPTIONS, REGISTER, MESSAGE\r\n"
#define SERVER_HDR "Server: wsip/" WSIP_VERSION "\r\n"

/* Where a response to a datagram goes (RFC 3261 sec 18.2.2 with RFC 3581):
 * the source address; the source port too when the Via asks for rport or
 * names no port, else the Via's port. */
void wsip_source_reply_addr(const struct wsip_source *src, const struct wsip_via *via,
                            struct sockaddr_storage *to)
{
    memcpy(to, &src->peer, sizeof(*to));
    if (!via || via->has_rport || !via->has_port)
        return;
    if (to->ss_family == AF_INET)
        ((struct sockaddr_in *)to)->sin_port = htons(via->port);
    else if (to->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)to)->sin6_port = htons(via->port);
}

static int reply(const struct wsip_source *src, struct wsip_msg *req, const struct iovec *iov,
                 int iovcnt)
{
    if (src->kind == WSIP_LISTEN_UDP) {
        struct sockaddr_storage to;
        wsip_source_reply_addr(src, wsip_msg_top_via(req, NULL), &to);
        return wsip_udp_send(src->udp, (const struct sockaddr *)&to, iov, iovcnt);
    }
    return wsip_conn_send(src->conn, iov, iovcnt);
}

int wsip_source_reply(const struct wsip_source *src, const struct iovec *iov, int iovcnt)
{
    if (src->kind == WSIP_LISTEN_UDP)
        return wsip_udp_send(src->udp, (const struct sockaddr *)&src->peer, iov, iovcnt);
    return wsip_conn_send(src->conn, iov, iovcnt);
}

void wsip_random_tag(char *out, size_t cap)
{
    static _Thread_local uint64_t state;
    if (!state && wsip_random_bytes(&state, sizeof(state)) < 0)
        state = wsip_now_ms() ^ (uint64_t)(uintptr_t)&state ^ 0x9e3779b97f4a7c15ull;
    /* xorshift: a To-tag only has to be unique, not secret */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    char hex[17];
    wsip_hex64(state, hex);
    struct wsip_fmt f;
    wsip_fmt_init(&f, out, cap);
    wsip_fmt_cstr(&f, hex);
}

/* Dotted quad, as inet_ntop writes it (which goes through sprintf: about
 * 1,700 instructions for every request). */
static void ipv4_str(const struct in_addr *a, char *out, size_t cap)
{
    const unsigned char *b = (const unsigned char *)&a->s_addr;
    struct wsip_fmt f;
    wsip_fmt_init(&f, out, cap);
    for (int i = 0; i < 4; i++) {
        if (i)
            wsip_fmt_char(&f, '.');
        wsip_fmt_uint(&f, b[i]);
    }
}

/* The top Via as the response carries it: received= when the sent-by host
 * is not the source address (RFC 3261 sec 18.2.1), and rport filled in with
 * the source port when the client asked for it (RFC 3581 sec 4). */
struct wsip_str wsip_source_stamp_via(const struct wsip_source *src, struct wsip_msg *req,
                                      char *buf, size_t cap)
{
    struct wsip_hdr *h = wsip_msg_hdr(req, WSIP_HDR_VIA);
    const struct wsip_via *v = wsip_hdr_via(req, h, NULL);
    if (!v)
        return WSIP_STR_NULL;
    char ip[64];
    const struct sockaddr *sa = (const struct sockaddr *)&src->peer;
    uint16_t p;
    if (sa->sa_family == AF_INET) {
        ipv4_str(&((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip, sizeof(ip));
        p = ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip,
                  sizeof(ip));
        p = ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    } else {
        return WSIP_STR_NULL;
    }
    bool fill_rport = v->has_rport && v->rport == 0;
    struct wsip_str host = v->host;
    if (host.len >= 2 && host.p[0] == '[') {
        host.p++;
        host.len -= 2;
    }
    bool add_received = !v->received.p && (fill_rport || !wsip_str_eq_cstr(host, ip));
    if (!fill_rport && !add_received)
        return WSIP_STR_NULL;
    /* where "rport" ends in the value, to insert "=port" there */
    size_t cut = h->value.len;
    if (fill_rport) {
        struct wsip_str rest = v->params, name, value;
        while (wsip_param_next(&rest, &name, &value, NULL))
            if (wsip_str_caseeq_cstr(name, "rport"))
                cut = (size_t)(name.p + name.len - h->value.p);
    }
    struct wsip_fmt f;
    wsip_fmt_init(&f, buf, cap);
    wsip_fmt_mem(&f, h->value.p, cut);
    if (fill_rport) {
        wsip_fmt_char(&f, '=');
        wsip_fmt_uint(&f, p);
    }
    wsip_fmt_mem(&f, h->value.p + cut, h->value.len - cut);
    if (add_received) {
        wsip_fmt_cstr(&f, ";received=");
        wsip_fmt_cstr(&f, ip);
    }
    int n = wsip_fmt_done(&f);
    if (n < 0)
        return WSIP_STR_NULL;
    return wsip_str_make(buf, (size_t)n);
}

static void send_response(const struct wsip_source *src, struct wsip_msg *req, unsigned status,
                          const char *reason, const char *extra)
{
    char tag[24], via[1024];
    wsip_random_tag(tag, sizeof(tag));
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    struct wsip_str top = wsip_source_stamp_via(src, req, via, sizeof(via));
    if (wsip_response_build_via(&out, req, status, reason, wsip_str_cstr(tag), top,
                                wsip_str_cstr(extra), WSIP_STR_NULL) == 0 &&
        !out.oom) {
        struct iovec iov = {out.p, out.len};
        if (reply(src, req, &iov, 1) == 0)
            wsip_count_response(src->worker, status);
    }
    wsip_sbuf_free(&out);
}

bool wsip_server_is_our_domain(const struct wsip_server *s, struct wsip_str host)
{
    if (host.len >= 2 && host.p[0] == '[') {
        host.p++;
        host.len -= 2;
    }
    for (unsigned i = 0; i < s->opt.ndomains; i++)
        if (wsip_str_caseeq_cstr(host, s->opt.domains[i]))
            return true;
    return false;
}

bool wsip_server_uri_is_us(const struct wsip_server *s, const struct wsip_uri *u)
{
    if (u->scheme != WSIP_URI_SIP && u->scheme != WSIP_URI_SIPS)
        return false;
    struct wsip_str host = u->host;
    if (host.len >= 2 && host.p[0] == '[') {
        host.p++;
        host.len -= 2;
    }
    bool port_ours = !u->has_port;
    for (unsigned i = 0; i < s->opt.nlisten; i++) {
        const struct wsip_listen_spec *l = &s->opt.listen[i];
        if (u->has_port && u->port == l->port)
            port_ours = true;
        if (wsip_str_caseeq_cstr(host, l->host) && (!u->has_port || u->port == l->port))
            return true;
    }
    /* a domain names us only without a user part (else it names a user) */
    return !u->user.len && port_ours && wsip_server_is_our_domain(s, u->host);
}

void wsip_options_reply(struct wsip_server *s, struct wsip_strans *st)
{
    wsip_strans_reply(
        st, 200, NULL,
        wsip_str_cstr(s->core ? ALLOW_CORE "Accept: application/sdp\r\n"
                                           "Supported: path, outbound, gruu\r\n" SERVER_HDR
                              : ALLOW_HDR "Accept: application/sdp\r\n"
                                          "Supported: path, outbound, gruu\r\n" SERVER_HDR),
        WSIP_STR_NULL);
}

static void handle_request(const struct wsip_source *src, struct wsip_strans *st,
                           struct wsip_msg *m);

void wsip_dispatch_msg(const struct wsip_source *src, struct wsip_msg *m)
{
    struct wsip_server *s = src->worker->srv;
    struct wsip_counters *ctr = &src->worker->ctr;
    struct wsip_sip_err err = {0};
    wsip_ctr_inc(&ctr->rx_msgs);
    if (wsip_msg_validate(m, &err) < 0) {
        wsip_ctr_inc(&ctr->rx_bad);
        if (wsip_log_enabled(WSIP_LOG_DEBUG)) {
            char peer[64];
            wsip_addr_str((const struct sockaddr *)&src->peer, peer, sizeof(peer));
            wsip_log(WSIP_LOG_DEBUG, NULL, "peer=%s transport=%s bad message: %s", peer,
                     wsip_listen_kind_name(src->kind), err.reason);
        }
        if (err.status && m->method_id != WSIP_METHOD_ACK && wsip_msg_hdr(m, WSIP_HDR_VIA))
            send_response(src, m, err.status, err.reason, SERVER_HDR);
        return;
    }
    if (!m->is_request) {
        /* to its client transaction; an unmatched response is dropped
         * until the proxy forwards them statelessly (sec 16.7) */
        if (wsip_txn_on_response(src, m) == 0 && s->core)
            wsip_proxy_response_stateless(src, m);
        return;
    }
    wsip_ctr_inc(&ctr->requests[(unsigned)m->method_id < WSIP_CTR_METHODS ? m->method_id : 0]);
    struct wsip_strans *st;
    if (wsip_txn_on_request(src, m, &st) == 1)
        return; /* a retransmission, an ACK, a CANCEL: the layer handled it */
    if (!st) {
        /* an ACK for a 2xx: end to end, along the route set */
        if (s->core && m->method_id == WSIP_METHOD_ACK && wsip_proxy_top_route_is_us(s, m))
            wsip_proxy_route(s->core, src, NULL, m);
        return;
    }
    handle_request(src, st, m);
    wsip_txn_request_done(st);
}

/* A new request with its server transaction: to the proxy, the registrar
 * or an answer of our own. */
static void handle_request(const struct wsip_source *src, struct wsip_strans *st,
                           struct wsip_msg *m)
{
    struct wsip_server *s = src->worker->srv;
    if (s->core && wsip_proxy_top_route_is_us(s, m)) {
        wsip_proxy_route(s->core, src, st, m);
        return;
    }
    const struct wsip_uri *ruri = wsip_msg_ruri(m, NULL);
    if (m->method_id == WSIP_METHOD_REGISTER && s->core && ruri &&
        (ruri->scheme == WSIP_URI_SIP || ruri->scheme == WSIP_URI_SIPS) && !ruri->user.len) {
        if (!wsip_server_is_our_domain(s, ruri->host)) {
            wsip_strans_reply(st, 404, "Not a domain served here", wsip_str_cstr(SERVER_HDR),
                              WSIP_STR_NULL);
            return;
        }
        static const char *const supported[] = {"path", "outbound", "gruu", NULL};
        struct wsip_sip_err e;
        if (wsip_msg_check_request(m, WSIP_ROLE_REGISTRAR, supported, &e) < 0) {
            /* RFC 3261 sec 8.2.2.3: a 420 lists what is not supported */
            struct wsip_sbuf x;
            wsip_sbuf_init(&x);
            if (e.status == 420) {
                const char *sep = "Unsupported: ";
                for (struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_REQUIRE); h;
                     h = wsip_msg_hdr_next(m, h)) {
                    bool known = false;
                    for (const char *const *t = supported; *t; t++)
                        known |= wsip_str_caseeq_cstr(h->value, *t);
                    if (!known && h->value.len) {
                        wsip_sbuf_printf(&x, "%s%.*s", sep, (int)h->value.len, h->value.p);
                        sep = ", ";
                    }
                }
                wsip_sbuf_puts(&x, "\r\n");
            }
            wsip_sbuf_puts(&x, SERVER_HDR);
            wsip_strans_reply(st, e.status, e.reason, wsip_str_make(x.p, x.len), WSIP_STR_NULL);
            wsip_sbuf_free(&x);
            return;
        }
        wsip_registrar_handle(s->core, src, st, m);
        return;
    }
    /* to one of our users, or to another domain (the proxy decides who may
     * send there) */
    if (s->core && m->method_id != WSIP_METHOD_REGISTER && ruri &&
        (ruri->scheme == WSIP_URI_SIP || ruri->scheme == WSIP_URI_SIPS) &&
        (wsip_server_is_our_domain(s, ruri->host) ? ruri->user.len > 0
                                                  : !wsip_server_uri_is_us(s, ruri))) {
        wsip_proxy_handle(s->core, src, st, m);
        return;
    }
    if (m->method_id == WSIP_METHOD_OPTIONS && ruri && wsip_server_uri_is_us(s, ruri)) {
        wsip_options_reply(s, st);
        return;
    }
    wsip_strans_reply(st, 501, NULL,
                      wsip_str_cstr(s->core ? ALLOW_CORE SERVER_HDR : ALLOW_HDR SERVER_HDR),
                      WSIP_STR_NULL);
}

void wsip_dispatch_bytes(const struct wsip_source *src, const char *p, size_t len,
                         enum wsip_framing framing)
{
    struct wsip_server *s = src->worker->srv;
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    int rc = wsip_msg_parse(&m, NULL, p, len, framing, &s->opt.sip, &used, &err);
    if (rc != WSIP_PARSE_OK) {
        wsip_dispatch_bad(src, p, len, &err);
        return;
    }
    if (src->kind == WSIP_LISTEN_UDP && s->nworkers > 1 && wsip_udp_hand_over(src, m)) {
        wsip_msg_unref(m);
        return;
    }
    wsip_dispatch_msg(src, m);
    wsip_msg_unref(m);
}

/* Appends "Name: value" with folds turned into spaces; -1 when the value
 * holds a control character (nothing we would echo). */
static int copy_line(struct wsip_sbuf *out, const char *name, const char *v, const char *e)
{
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    wsip_sbuf_puts(out, name);
    wsip_sbuf_append(out, ": ", 2);
    for (const char *q = v; q < e; q++) {
        unsigned char ch = (unsigned char)*q;
        if (ch == '\r' || ch == '\n') {
            wsip_sbuf_append(out, " ", 1);
            while (q + 1 < e && (q[1] == '\r' || q[1] == '\n' || q[1] == ' ' || q[1] == '\t'))
                q++;
            continue;
        }
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return -1;
        wsip_sbuf_append(out, q, 1);
    }
    wsip_sbuf_append(out, "\r\n", 2);
    return 0;
}

/* An error response for a request whose header values do not even parse:
 * its Via, From, To, Call-ID and CSeq lines are copied as written (RFC 3261
 * sec 8.2.6.2 asks for them, not for them to be well formed), a To-tag is
 * added, and the answer goes back to the source address. */
static int raw_error_response(const char *p, size_t len, unsigned status, const char *reason,
                              struct wsip_sbuf *out)
{
    const char *end = p + len, *line = p + wsip_stream_skip_crlf(p, len);
    if (end - line < 4 || memcmp(line, "SIP/", 4) == 0 || memcmp(line, "ACK ", 4) == 0)
        return -1; /* a response, or an ACK: never answered */
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    if (!nl)
        return -1;
    struct wsip_sbuf vias, hdrs; /* Vias first in the response, in order */
    wsip_sbuf_init(&vias);
    wsip_sbuf_init(&hdrs);
    unsigned seen = 0; /* bits: Via, From, To, Call-ID, CSeq */
    int rc = -1;
    for (line = nl + 1; line < end;) {
        if (*line == '\r' || *line == '\n')
            break; /* end of the headers */
        /* the field runs on over folded lines */
        const char *e = line;
        for (;;) {
            const char *n = memchr(e, '\n', (size_t)(end - e));
            e = n ? n + 1 : end;
            if (e < end && (*e == ' ' || *e == '\t'))
                continue;
            break;
        }
        const char *colon = memchr(line, ':', (size_t)(e - line));
        if (colon) {
            const char *ne = colon;
            while (ne > line && (ne[-1] == ' ' || ne[-1] == '\t'))
                ne--;
            enum wsip_hdr_id id = wsip_hdr_id_from_name(wsip_str_make(line, (size_t)(ne - line)));
            unsigned bit = id == WSIP_HDR_VIA       ? 1u
                           : id == WSIP_HDR_FROM    ? 2u
                           : id == WSIP_HDR_TO      ? 4u
                           : id == WSIP_HDR_CALL_ID ? 8u
                           : id == WSIP_HDR_CSEQ    ? 16u
                                                    : 0u;
            if (bit && (bit == 1u || !(seen & bit))) {
                if (copy_line(bit == 1u ? &vias : &hdrs, wsip_hdr_name(id), colon + 1, e) < 0)
                    goto out;
                if (bit == 4u && !memmem(colon + 1, (size_t)(e - colon - 1), "tag=", 4)) {
                    /* the To line ended with CRLF: put the tag before it */
                    char tag[24];
                    wsip_random_tag(tag, sizeof(tag));
                    hdrs.len -= 2;
                    wsip_sbuf_printf(&hdrs, ";tag=%s\r\n", tag);
                }
                seen |= bit;
            }
        }
        line = e;
    }
    if (seen != 31u)
        goto out;
    wsip_sbuf_printf(out, "SIP/2.0 %u %s\r\n", status, reason ? reason : "Bad Request");
    wsip_sbuf_append(out, vias.p, vias.len);
    wsip_sbuf_append(out, hdrs.p, hdrs.len);
    wsip_sbuf_puts(out, SERVER_HDR "Content-Length: 0\r\n\r\n");
    rc = 0;
out:
    wsip_sbuf_free(&vias);
    wsip_sbuf_free(&hdrs);
    return rc;
}

void wsip_dispatch_bad(const struct wsip_source *src, const char *p, size_t len,
                       const struct wsip_sip_err *err)
{
    struct wsip_server *s = src->worker->srv;
    wsip_ctr_inc(&src->worker->ctr.rx_bad);
    char peer[64];
    wsip_addr_str((const struct sockaddr *)&src->peer, peer, sizeof(peer));
    wsip_log(WSIP_LOG_INFO, NULL, "peer=%s transport=%s refused message: %u %s", peer,
             wsip_listen_kind_name(src->kind), err->status, err->reason ? err->reason : "");
    if (err->status == 0)
        return; /* a broken response: drop */
    /* The framing failed, but the headers may still be readable: parse the
     * same bytes as a datagram, with a large cap, just to address the error
     * response (never to act on the request). */
    struct wsip_sip_limits lim = s->opt.sip;
    lim.max_msg_size = len;
    struct wsip_msg *m;
    struct wsip_sip_err e2;
    size_t used;
    if (wsip_msg_parse(&m, NULL, p, len, WSIP_FRAMING_HEADERS, &lim, &used, &e2) != WSIP_PARSE_OK) {
        /* even the headers do not parse (e.g. an empty Via element): copy
         * the lines a response needs and answer the source address */
        struct wsip_sbuf out;
        wsip_sbuf_init(&out);
        if (raw_error_response(p, len, err->status, err->reason, &out) == 0 && !out.oom) {
            struct iovec iov = {out.p, out.len};
            if (wsip_source_reply(src, &iov, 1) == 0)
                wsip_count_response(src->worker, err->status);
        }
        wsip_sbuf_free(&out);
        return;
    }
    if (m->is_request && m->method_id != WSIP_METHOD_ACK && wsip_msg_hdr(m, WSIP_HDR_VIA) &&
        wsip_msg_hdr(m, WSIP_HDR_CALL_ID) && wsip_msg_hdr(m, WSIP_HDR_CSEQ) &&
        wsip_msg_hdr(m, WSIP_HDR_FROM) && wsip_msg_hdr(m, WSIP_HDR_TO))
        send_response(src, m, err->status, err->reason, SERVER_HDR);
    wsip_msg_unref(m);
}

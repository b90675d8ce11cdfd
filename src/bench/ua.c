/* The SIP user agent of the SIP modes, one per connection: a browser-like
 * identity over WS/WSS (RFC 7118 sec 5: random ".invalid" Via and Contact
 * hosts; RFC 5626 Outbound: +sip.instance and reg-id, as JsSIP registers),
 * a plain IP one over UDP/TCP/TLS; one client transaction at a time with
 * digest answers (RFC 7616: the nonce is reused with a growing nonce-count
 * until the server says stale) and UDP retransmissions (RFC 3261 sec 17.1);
 * answers as the called side, repeated for retransmitted requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench/bench.h"

#define T1_MS          500
#define T2_MS          4000
#define MAX_CHALLENGES 3 /* answered per request, stale ones included */
#define ALLOW_HDR      "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\r\n"

/* ------------------------------------------------------------- context */

int bench_uactx_init(struct bench_uactx *cx, const struct bench_opts *o)
{
    memset(cx, 0, sizeof(*cx));
    cx->o = o;
    bench_rand_seed(&cx->rng);
    wsip_sbuf_init(&cx->tx);
    wsip_sbuf_init(&cx->hdr);
    return 0;
}

void bench_uactx_free(struct bench_uactx *cx)
{
    wsip_sbuf_free(&cx->tx);
    wsip_sbuf_free(&cx->hdr);
}

void bench_user_name(const struct bench_opts *o, unsigned i, char *out, size_t cap)
{
    unsigned users = o->users ? o->users : o->concurrency;
    snprintf(out, cap, "%s%u", o->user_prefix, o->user_start + (users ? i % users : i));
}

/* ------------------------------------------------------------ identity */

static void uuid4(uint64_t *rng, char out[37])
{
    uint64_t a = bench_rand(rng), b = bench_rand(rng);
    snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
             (unsigned long long)(b & 0xffffffffffffull));
}

static void fingerprint(uint64_t *rng, char *out, size_t cap)
{
    size_t o = 0;
    uint64_t r = 0;
    for (unsigned i = 0; i < 32 && o + 4 <= cap; i++) {
        if (i % 8 == 0)
            r = bench_rand(rng);
        o += (size_t)snprintf(out + o, cap - o, "%s%02X", i ? ":" : "", (unsigned)(r & 0xff));
        r >>= 8;
    }
}

void bench_ua_init(struct bench_ua *ua, struct bench_uactx *cx, struct bench_conn *c, uint32_t idx)
{
    /* keep the buffers of an earlier use of this UA */
    struct wsip_sbuf tx = ua->tx, routes = ua->dlg_routes, resp = ua->uas_resp;
    uint32_t peer = ua->peer;
    memset(ua, 0, sizeof(*ua));
    ua->tx = tx;
    ua->dlg_routes = routes;
    ua->uas_resp = resp;
    ua->tx.len = ua->dlg_routes.len = ua->uas_resp.len = 0;
    ua->peer = peer;
    ua->cx = cx;
    ua->c = c;
    ua->idx = idx;
    const struct bench_opts *o = cx->o;
    bench_user_name(o, idx, ua->user, sizeof(ua->user));
    snprintf(ua->aor, sizeof(ua->aor), "sip:%s@%s", ua->user, o->domain);
    enum bench_tp tp = o->url.tp;
    if (bench_tp_is_ws(tp)) {
        char cu[12], uuid[37];
        bench_rand_token(&cx->rng, cu, 8);
        uuid4(&cx->rng, uuid);
        snprintf(ua->contact, sizeof(ua->contact), "sip:%s@%s.invalid;transport=ws", cu, c->token);
        snprintf(ua->contact_params, sizeof(ua->contact_params),
                 ";+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:%s>\"", uuid);
    } else {
        snprintf(ua->contact, sizeof(ua->contact), "sip:%s@%s%s", ua->user, c->local,
                 tp == BENCH_TP_TCP   ? ";transport=tcp"
                 : tp == BENCH_TP_TLS ? ";transport=tls"
                                      : "");
    }
    bench_rand_token(&cx->rng, ua->reg_call_id, 22);
    bench_rand_token(&cx->rng, ua->reg_tag, 10);
    ua->sdp_id = bench_rand(&cx->rng) >> 2;
    ua->sdp_ver = 1;
    bench_rand_token(&cx->rng, ua->ice_ufrag, 4);
    bench_rand_token(&cx->rng, ua->ice_pwd, 24);
    fingerprint(&cx->rng, ua->fingerprint, sizeof(ua->fingerprint));
}

void bench_ua_free(struct bench_ua *ua)
{
    wsip_sbuf_free(&ua->tx);
    wsip_sbuf_free(&ua->dlg_routes);
    wsip_sbuf_free(&ua->uas_resp);
}

/* ------------------------------------------------------------ requests */

void bench_ua_prepare_register(struct bench_ua *ua, unsigned expires)
{
    const struct bench_opts *o = ua->cx->o;
    struct bench_req *r = &ua->req;
    ua->answered = 0;
    r->method = WSIP_METHOD_REGISTER;
    snprintf(r->ruri, sizeof(r->ruri), "sip:%s", o->domain);
    snprintf(r->to, sizeof(r->to), "<%s>", ua->aor);
    snprintf(r->call_id, sizeof(r->call_id), "%s", ua->reg_call_id);
    snprintf(r->from_tag, sizeof(r->from_tag), "%s", ua->reg_tag);
    r->cseq = ++ua->reg_cseq;
    r->routes = NULL;
    if (bench_tp_is_ws(o->url.tp))
        snprintf(r->extra, sizeof(r->extra),
                 "Contact: <%s>%s;expires=%u\r\nExpires: %u\r\n" ALLOW_HDR
                 "Supported: path,gruu,outbound\r\n",
                 ua->contact, ua->contact_params, expires, expires);
    else
        snprintf(r->extra, sizeof(r->extra), "Contact: <%s>;expires=%u\r\nExpires: %u\r\n",
                 ua->contact, expires, expires);
    r->ctype = NULL;
    r->body = NULL;
    r->body_len = 0;
}

void bench_ua_prepare_request(struct bench_ua *ua, enum wsip_method method, const char *to_user)
{
    const struct bench_opts *o = ua->cx->o;
    struct bench_req *r = &ua->req;
    ua->answered = 0;
    r->method = method;
    snprintf(r->ruri, sizeof(r->ruri), "sip:%s@%s", to_user, o->domain);
    snprintf(r->to, sizeof(r->to), "<%s>", r->ruri);
    bench_rand_token(&ua->cx->rng, r->call_id, 22);
    bench_rand_token(&ua->cx->rng, r->from_tag, 10);
    r->cseq = 1;
    r->routes = NULL;
    r->extra[0] = '\0';
    r->ctype = NULL;
    r->body = NULL;
    r->body_len = 0;
}

/* "Authorization: Digest ..." (or Proxy-) for r from the kept challenge,
 * with the next nonce-count. */
static int put_credentials(struct bench_ua *ua, struct bench_digest *d, const struct bench_req *r,
                           struct wsip_sbuf *out)
{
    const char *method = wsip_method_name(r->method);
    char ha2[WSIP_DIGEST_HEX_MAX], resp[WSIP_DIGEST_HEX_MAX], nc[12], cnonce[16];
    if (wsip_digest_ha2(d->alg, wsip_str_cstr(method), wsip_str_cstr(r->ruri), false, WSIP_STR_NULL,
                        ha2) < 0)
        return -1;
    d->nc++;
    snprintf(nc, sizeof(nc), "%08x", d->nc);
    bench_rand_token(&ua->cx->rng, cnonce, 12);
    if (wsip_digest_response(d->alg, wsip_str_cstr(d->ha1), wsip_str_cstr(d->nonce),
                             wsip_str_cstr(nc), wsip_str_cstr(cnonce),
                             d->qop ? wsip_str_cstr("auth") : WSIP_STR_NULL, wsip_str_cstr(ha2),
                             resp) < 0)
        return -1;
    wsip_sbuf_printf(out,
                     "%s: Digest algorithm=%s, username=\"%s\", realm=\"%s\", nonce=\"%s\", "
                     "uri=\"%s\", response=\"%s\"",
                     d->proxy ? "Proxy-Authorization" : "Authorization",
                     wsip_digest_alg_name((enum wsip_digest_alg)d->alg), ua->user, d->realm,
                     d->nonce, r->ruri, resp);
    if (d->opaque[0])
        wsip_sbuf_printf(out, ", opaque=\"%s\"", d->opaque);
    if (d->qop)
        wsip_sbuf_printf(out, ", qop=auth, cnonce=\"%s\", nc=%s", cnonce, nc);
    wsip_sbuf_puts(out, "\r\n");
    return 0;
}

static struct bench_digest *digest_for(struct bench_ua *ua, enum wsip_method m)
{
    return m == WSIP_METHOD_REGISTER ? &ua->auth_reg : &ua->auth_req;
}

/* The whole request into out (emptied first). */
static int build(struct bench_ua *ua, const struct bench_req *r, bool with_auth,
                 struct wsip_sbuf *out)
{
    char branch[64], via[192];
    snprintf(branch, sizeof(branch), "z9hG4bK%s%x", ua->c->token, ++ua->branch_n);
    if (bench_sip_via(ua->c, branch, via, sizeof(via)) >= (int)sizeof(via))
        return -1;
    const char *method = wsip_method_name(r->method);
    out->len = 0;
    out->oom = false;
    wsip_sbuf_printf(out, "%s %s SIP/2.0\r\nVia: %s\r\n", method, r->ruri, via);
    if (r->routes)
        wsip_sbuf_puts(out, r->routes);
    wsip_sbuf_printf(out,
                     "Max-Forwards: 69\r\nTo: %s\r\nFrom: <%s>;tag=%s\r\nCall-ID: %s\r\n"
                     "CSeq: %u %s\r\n",
                     r->to, ua->aor, r->from_tag, r->call_id, r->cseq, method);
    ua->sent_auth = false;
    struct bench_digest *d = digest_for(ua, r->method);
    if (with_auth && d->valid && (!ua->cx->o->no_auth_reuse || ua->answered)) {
        if (put_credentials(ua, d, r, out) < 0)
            return -1;
        ua->sent_auth = true;
    }
    wsip_sbuf_puts(out, r->extra);
    wsip_sbuf_puts(out, "User-Agent: wsip-bench/" WSIP_VERSION "\r\n");
    if (r->ctype)
        wsip_sbuf_printf(out, "Content-Type: %s\r\n", r->ctype);
    wsip_sbuf_printf(out, "Content-Length: %zu\r\n\r\n", r->body_len);
    wsip_sbuf_append(out, r->body, r->body_len);
    return out->oom ? -1 : 0;
}

int bench_ua_send(struct bench_ua *ua, uint64_t now)
{
    ua->pending = true;
    ua->provisional = false;
    ua->t_retx = 0;
    if (build(ua, &ua->req, true, &ua->tx) < 0)
        return -1;
    bool udp = ua->cx->o->url.tp == BENCH_TP_UDP;
    if (udp) {
        ua->retx_ms = T1_MS;
        ua->t_retx = now + (uint64_t)T1_MS * 1000000u;
    }
    int rc = bench_conn_send(ua->c, ua->tx.p, ua->tx.len);
    /* a full UDP socket buffer loses the datagram as the network would:
     * the retransmission timer sends it again */
    if (rc < 0 && udp && ua->c->state == BC_OPEN && !ua->c->handle_closing)
        rc = 0;
    return rc;
}

int bench_ua_send_other(struct bench_ua *ua, const struct bench_req *r)
{
    struct wsip_sbuf *out = &ua->cx->tx;
    if (build(ua, r, false, out) < 0)
        return -1;
    return bench_conn_send(ua->c, out->p, out->len);
}

void bench_ua_tick(struct bench_ua *ua, uint64_t now)
{
    if (!ua->pending || !ua->t_retx || now < ua->t_retx || !ua->tx.len)
        return;
    if (ua->req.method == WSIP_METHOD_INVITE && ua->provisional) {
        ua->t_retx = 0; /* timer A stops with the first 1xx */
        return;
    }
    ua->cx->retransmits++;
    bench_conn_send(ua->c, ua->tx.p, ua->tx.len);
    ua->retx_ms *= 2;
    if (ua->req.method != WSIP_METHOD_INVITE && ua->retx_ms > T2_MS)
        ua->retx_ms = T2_MS;
    ua->t_retx = now + (uint64_t)ua->retx_ms * 1000000u;
}

void bench_ua_done(struct bench_ua *ua)
{
    ua->pending = false;
    ua->t_retx = 0;
}

/* ----------------------------------------------------------- responses */

/* The ACK of a non-2xx final response to our INVITE (RFC 3261 sec
 * 17.1.1.3), built from the INVITE as sent. */
static void ack_non2xx(struct bench_ua *ua, struct wsip_msg *resp)
{
    struct wsip_msg *inv;
    struct wsip_sip_err err;
    size_t used;
    if (wsip_msg_parse(&inv, NULL, ua->tx.p, ua->tx.len, WSIP_FRAMING_DATAGRAM, NULL, &used,
                       &err) != WSIP_PARSE_OK)
        return;
    struct wsip_sbuf *out = &ua->cx->tx;
    out->len = 0;
    out->oom = false;
    if (wsip_request_build_ack(out, inv, resp) == 0 && !out->oom)
        bench_conn_send(ua->c, out->p, out->len);
    wsip_msg_unref(inv);
}

static bool has_token(struct wsip_str list, const char *tok)
{
    size_t n = strlen(tok);
    const char *p = list.p, *e = list.p + list.len;
    while (p && p < e) {
        while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *q = p;
        while (q < e && *q != ',' && *q != ' ' && *q != '\t')
            q++;
        if ((size_t)(q - p) == n && strncasecmp(p, tok, n) == 0)
            return true;
        p = q;
    }
    return false;
}

/* The challenge of resp for the configured algorithm; NULL when none. */
static const struct wsip_auth *pick_challenge(struct wsip_msg *resp, int alg)
{
    enum wsip_hdr_id id =
        resp->status == 407 ? WSIP_HDR_PROXY_AUTHENTICATE : WSIP_HDR_WWW_AUTHENTICATE;
    for (struct wsip_hdr *h = wsip_msg_hdr(resp, id); h; h = wsip_msg_hdr_next(resp, h)) {
        const struct wsip_auth *a = wsip_hdr_auth(resp, h, NULL);
        if (a && a->is_digest && a->nonce.len && wsip_digest_auth_alg(a) == alg)
            return a;
    }
    return NULL;
}

/* Keeps the challenge a for the next requests. */
static int take_challenge(struct bench_ua *ua, struct bench_digest *d, const struct wsip_auth *a,
                          bool proxy)
{
    char realm[sizeof(d->realm)];
    if (wsip_unquote(a->realm, realm, sizeof(realm)) < 0 ||
        wsip_unquote(a->nonce, d->nonce, sizeof(d->nonce)) < 0)
        return -1;
    if (!a->opaque.p)
        d->opaque[0] = '\0';
    else if (wsip_unquote(a->opaque, d->opaque, sizeof(d->opaque)) < 0)
        return -1;
    int alg = wsip_digest_auth_alg(a);
    if (!d->valid || d->alg != alg || strcmp(realm, d->realm) != 0) {
        /* HA1 depends on the realm and algorithm only: computed once */
        snprintf(d->realm, sizeof(d->realm), "%s", realm);
        if (wsip_digest_ha1((enum wsip_digest_alg)alg, wsip_str_cstr(ua->user),
                            wsip_str_cstr(d->realm), wsip_str_cstr(ua->cx->o->password),
                            d->ha1) < 0)
            return -1;
    }
    d->alg = alg;
    d->qop = a->qop.p && has_token(a->qop, "auth");
    d->proxy = proxy;
    d->nc = 0;
    d->valid = true;
    return 0;
}

static bool matches(struct bench_ua *ua, struct wsip_msg *m)
{
    const struct wsip_cseq *cs = wsip_msg_cseq(m, NULL);
    struct wsip_str cid = wsip_msg_call_id(m);
    return ua->pending && cs && cs->num == ua->req.cseq && cs->method_id == ua->req.method &&
           wsip_str_eq_cstr(cid, ua->req.call_id);
}

enum bench_ua_rc bench_ua_response(struct bench_ua *ua, struct wsip_msg *m, uint64_t now)
{
    if (!matches(ua, m))
        return BUA_STRAY;
    bool invite = ua->req.method == WSIP_METHOD_INVITE;
    if (m->status < 200) {
        ua->provisional = true;
        if (invite)
            ua->t_retx = 0;
        return BUA_PROVISIONAL;
    }
    if (invite && m->status >= 300)
        ack_non2xx(ua, m);
    if (m->status != 401 && m->status != 407) {
        if (ua->req.method == WSIP_METHOD_REGISTER)
            ua->reg_cseq = ua->req.cseq;
        bench_ua_done(ua);
        return BUA_FINAL;
    }
    bench_ua_done(ua);
    const struct bench_opts *o = ua->cx->o;
    if (!o->password)
        return BUA_NO_AUTH;
    const struct wsip_auth *a = pick_challenge(m, o->algorithm);
    if (!a)
        return BUA_NO_AUTH;
    bool stale = a->stale.p && wsip_str_caseeq_cstr(a->stale, "true");
    /* credentials made from this request's own challenge and refused: the
     * password is wrong. Refused with a kept nonce: the server may have
     * forgotten it (a restart changes its secret; wsip then challenges
     * without stale=true), so one fresh challenge is worth a try. */
    if ((ua->sent_auth && !stale && ua->answered > 0) || ua->answered >= MAX_CHALLENGES)
        return BUA_AUTH_FAILED;
    struct bench_digest *d = digest_for(ua, ua->req.method);
    if (take_challenge(ua, d, a, m->status == 407) < 0)
        return BUA_NO_AUTH;
    ua->cx->challenges++;
    if (stale)
        ua->cx->stale++;
    ua->answered++;
    ua->req.cseq++; /* a new request of the same dialog (RFC 3261 sec 22.2) */
    if (ua->req.method == WSIP_METHOD_REGISTER)
        ua->reg_cseq = ua->req.cseq;
    bench_ua_send(ua, now);
    return BUA_RESENT;
}

/* ------------------------------------------------------- called side */

static uint64_t request_key(struct wsip_msg *m)
{
    struct wsip_str cid = wsip_msg_call_id(m);
    const struct wsip_cseq *cs = wsip_msg_cseq(m, NULL);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < cid.len; i++)
        h = (h ^ (unsigned char)cid.p[i]) * 0x100000001b3ull;
    h ^= (uint64_t)(cs ? cs->num : 0) * 0x9e3779b97f4a7c15ull;
    return h ^ ((uint64_t)m->method_id << 56);
}

int bench_ua_answer(struct bench_ua *ua, struct wsip_msg *req, unsigned status, const char *extra,
                    const char *ctype, const char *body, size_t body_len)
{
    struct bench_uactx *cx = ua->cx;
    uint64_t key = request_key(req);
    if (key != ua->uas_key) {
        /* a new request: its own To-tag (the 1xx and 2xx of one INVITE share it) */
        ua->uas_key = key;
        bench_rand_token(&cx->rng, ua->uas_tag, 10);
        ua->uas_resp.len = 0;
    }
    cx->hdr.len = 0;
    cx->hdr.oom = false;
    if (extra)
        wsip_sbuf_puts(&cx->hdr, extra);
    if (ctype)
        wsip_sbuf_printf(&cx->hdr, "Content-Type: %s\r\n", ctype);
    wsip_sbuf_puts(&cx->hdr, "User-Agent: wsip-bench/" WSIP_VERSION "\r\n");
    cx->tx.len = 0;
    cx->tx.oom = false;
    if (cx->hdr.oom || wsip_response_build(&cx->tx, req, status, NULL, wsip_str_cstr(ua->uas_tag),
                                           wsip_str_make(cx->hdr.p, cx->hdr.len),
                                           wsip_str_make(body, body_len)) < 0)
        return -1;
    cx->uas_answers++;
    if (status >= 200 && cx->o->url.tp == BENCH_TP_UDP) {
        ua->uas_resp.len = 0;
        wsip_sbuf_append(&ua->uas_resp, cx->tx.p, cx->tx.len);
    }
    return bench_conn_send(ua->c, cx->tx.p, cx->tx.len);
}

bool bench_ua_retransmission(struct bench_ua *ua, struct wsip_msg *req)
{
    if (!ua->uas_resp.len || request_key(req) != ua->uas_key)
        return false;
    ua->cx->uas_retrans++;
    bench_conn_send(ua->c, ua->uas_resp.p, ua->uas_resp.len);
    return true;
}

void bench_hdr_lines(struct wsip_sbuf *out, struct wsip_msg *m, enum wsip_hdr_id id,
                     const char *as_name, bool reverse)
{
    struct wsip_hdr *v[32];
    unsigned n = 0;
    for (struct wsip_hdr *h = wsip_msg_hdr(m, id); h && n < 32; h = wsip_msg_hdr_next(m, h))
        v[n++] = h;
    for (unsigned i = 0; i < n; i++) {
        struct wsip_hdr *h = v[reverse ? n - 1 - i : i];
        wsip_sbuf_printf(out, "%s: %.*s\r\n", as_name, (int)h->value.len, h->value.p);
    }
}

/* ----------------------------------------------------------------- SDP */

/* Over WS/WSS what a browser offers (ICE, DTLS-SRTP, rtcp-mux, Opus first);
 * elsewhere a desk phone's plain RTP audio. No media ever flows. */
size_t bench_ua_sdp(struct bench_ua *ua, bool offer, char *out, size_t cap)
{
    uint32_t port = 16384 + (uint32_t)(ua->sdp_id % 16384) * 2;
    int n;
    ua->sdp_ver++;
    if (bench_tp_is_ws(ua->cx->o->url.tp)) {
        n = snprintf(out, cap,
                     "v=0\r\n"
                     "o=- %llu %u IN IP4 127.0.0.1\r\n"
                     "s=-\r\n"
                     "t=0 0\r\n"
                     "a=group:BUNDLE 0\r\n"
                     "a=msid-semantic: WMS %.8s\r\n"
                     "m=audio %u UDP/TLS/RTP/SAVPF 111 9 0 8 101\r\n"
                     "c=IN IP4 0.0.0.0\r\n"
                     "a=rtcp:9 IN IP4 0.0.0.0\r\n"
                     "a=candidate:%u 1 udp 2122260223 %s.local %u typ host generation 0\r\n"
                     "a=ice-ufrag:%s\r\n"
                     "a=ice-pwd:%s\r\n"
                     "a=ice-options:trickle\r\n"
                     "a=fingerprint:sha-256 %s\r\n"
                     "a=setup:%s\r\n"
                     "a=mid:0\r\n"
                     "a=sendrecv\r\n"
                     "a=rtcp-mux\r\n"
                     "a=rtpmap:111 opus/48000/2\r\n"
                     "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
                     "a=rtpmap:9 G722/8000\r\n"
                     "a=rtpmap:0 PCMU/8000\r\n"
                     "a=rtpmap:8 PCMA/8000\r\n"
                     "a=rtpmap:101 telephone-event/8000\r\n",
                     (unsigned long long)ua->sdp_id, ua->sdp_ver, ua->ice_pwd, port,
                     (unsigned)(ua->sdp_id >> 20), ua->c->token, port, ua->ice_ufrag, ua->ice_pwd,
                     ua->fingerprint, offer ? "actpass" : "active");
    } else {
        n = snprintf(out, cap,
                     "v=0\r\n"
                     "o=%s %llu %u IN IP4 127.0.0.1\r\n"
                     "s=wsip-bench\r\n"
                     "c=IN IP4 127.0.0.1\r\n"
                     "b=AS:84\r\n"
                     "t=0 0\r\n"
                     "m=audio %u RTP/AVP 9 0 8 18 3 101 13\r\n"
                     "a=rtpmap:9 G722/8000\r\n"
                     "a=rtpmap:0 PCMU/8000\r\n"
                     "a=rtpmap:8 PCMA/8000\r\n"
                     "a=rtpmap:18 G729/8000\r\n"
                     "a=fmtp:18 annexb=no\r\n"
                     "a=rtpmap:3 GSM/8000\r\n"
                     "a=rtpmap:101 telephone-event/8000\r\n"
                     "a=fmtp:101 0-16\r\n"
                     "a=rtpmap:13 CN/8000\r\n"
                     "a=ptime:20\r\n"
                     "a=maxptime:150\r\n"
                     "a=rtcp:%u IN IP4 127.0.0.1\r\n"
                     "a=ssrc:%u cname:%s@%s\r\n"
                     "a=sendrecv\r\n",
                     ua->user, (unsigned long long)ua->sdp_id, ua->sdp_ver, port, port + 1,
                     (unsigned)(ua->sdp_id >> 24), ua->ice_pwd, ua->c->local);
    }
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

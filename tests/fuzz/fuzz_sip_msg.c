/* Fuzz target: the SIP message parser in its three framings, every lazy
 * accessor on what it returns, validation, the outgoing builder (with a
 * re-parse of its output) and the response builder.
 *
 * Input: the bytes of one datagram / WebSocket message / TCP stream. When
 * the first byte is >= 0xC0 it is a control byte and not part of the
 * message: bits 0-2 pick a set of (mostly small) parser limits, bits 3-5 add
 * optional builder edits. Every view the parser returns is read in full and
 * checked to lie inside the message, so AddressSanitizer and the checks
 * below catch stray offsets; invariant failures call __builtin_trap(). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsip/buf.h"
#include "wsip/sip.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* replay (standalone.c): which shared-corpus files are seeds for this target */
const char *const wsip_fuzz_seed_exts[] = {".sip", "/archive-lf/", NULL};

#define FUZZ_VIA      "SIP/2.0/WSS fz.invalid;branch=z9hG4bKfuzz0;rport"
#define FUZZ_RR       "<sip:proxy.example.com;transport=ws;lr>"
#define FUZZ_RURI     "sip:bob@192.0.2.4:5060;transport=ws"
#define FUZZ_BODY     "v=0\r\no=- 1 1 IN IP4 192.0.2.4\r\n"
#define FUZZ_TO_TAG   "fz1tag"
#define LOOP_GUARD    4096u
#define STREAM_MSGS   64u
#define SEL_APPEND    1u /* control bits 3-5, shifted down */
#define SEL_RR        2u
#define SEL_RURI_BODY 4u

static volatile unsigned char sink;

/* The bytes a message may point into. */
struct range {
    uintptr_t lo, hi;
};

static struct range range_of(struct wsip_str s)
{
    return (struct range){(uintptr_t)s.p, (uintptr_t)s.p + s.len};
}

/* Reads every byte of a view that must lie inside r. */
static void touch(struct range r, struct wsip_str s)
{
    if (s.len == 0)
        return;
    CHECK(s.p != NULL);
    CHECK((uintptr_t)s.p >= r.lo && s.len <= r.hi - (uintptr_t)s.p);
    unsigned char x = 0;
    for (size_t i = 0; i < s.len; i++)
        x ^= (unsigned char)s.p[i];
    sink = x;
}

static void exercise_params(struct range r, struct wsip_str params)
{
    struct wsip_str p = params, name, value;
    bool bad = false;
    unsigned n = 0;
    touch(r, params);
    for (;;) {
        size_t before = p.len;
        if (!wsip_param_next(&p, &name, &value, &bad))
            break;
        touch(r, name);
        touch(r, value);
        touch(r, p);
        CHECK(p.len < before); /* progress */
        CHECK(++n < LOOP_GUARD);
    }
    if (bad)
        CHECK(p.len == 0);
    struct wsip_str v;
    if (wsip_param_find(params, "tag", &v))
        touch(r, v);
    if (wsip_param_find(params, "branch", &v))
        touch(r, v);
    if (wsip_param_find(params, "lr", NULL))
        sink = 1;
}

/* cap-sized heap buffer so that a write past cap is caught */
static void exercise_unescape(const struct wsip_uri *u, size_t cap)
{
    char *out = malloc(cap);
    if (!out && cap)
        return;
    long n = wsip_uri_user_unescaped(u, out, cap);
    if (n >= 0 && cap > 0) { /* cap 0: an empty user gives 0, no NUL */
        CHECK((size_t)n < cap);
        CHECK(out[n] == '\0');
        CHECK((size_t)n <= u->user.len);
    }
    free(out);
}

static void exercise_uri(struct range r, const struct wsip_uri *u)
{
    touch(r, u->raw);
    touch(r, u->scheme_str);
    touch(r, u->user);
    touch(r, u->password);
    touch(r, u->host);
    touch(r, u->params);
    touch(r, u->headers);
    touch(r, u->transport);
    touch(r, u->maddr);
    touch(r, u->user_param);
    if (u->host_type == WSIP_HOST_IPV6)
        CHECK(u->host.len >= 2 && u->host.p[0] == '[' && u->host.p[u->host.len - 1] == ']');
    exercise_params(r, u->params);
    exercise_unescape(u, 0);
    exercise_unescape(u, 3);
    exercise_unescape(u, u->user.len + 1);
}

static void exercise_addr(struct range r, const struct wsip_addr *a)
{
    touch(r, a->display);
    touch(r, a->params);
    touch(r, a->tag);
    if (!a->star)
        exercise_uri(r, &a->uri);
    exercise_params(r, a->params);
}

static void exercise_via(struct range r, const struct wsip_via *v)
{
    touch(r, v->proto_name);
    touch(r, v->proto_version);
    touch(r, v->transport_str);
    touch(r, v->host);
    touch(r, v->params);
    touch(r, v->branch);
    touch(r, v->received);
    touch(r, v->maddr);
    sink = (unsigned char)wsip_transport_name(v->transport)[0];
    CHECK(v->ttl >= -1);
    exercise_params(r, v->params);
}

static void exercise_unquote(struct wsip_str s, size_t cap)
{
    char *out = malloc(cap);
    if (!out && cap)
        return;
    long n = wsip_unquote(s, out, cap);
    if (n >= 0) {
        CHECK((size_t)n < cap);
        CHECK(out[n] == '\0');
        CHECK((size_t)n <= s.len);
    }
    free(out);
}

static void exercise_auth(struct range r, const struct wsip_auth *a)
{
    const struct wsip_str *f[] = {&a->scheme, &a->username, &a->realm,     &a->nonce,
                                  &a->uri,    &a->response, &a->algorithm, &a->cnonce,
                                  &a->opaque, &a->qop,      &a->nc,        &a->domain,
                                  &a->stale,  &a->userhash, &a->charset};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        touch(r, *f[i]);
        exercise_unquote(*f[i], f[i]->len + 1);
    }
    exercise_unquote(a->username, 2);
}

static bool is_addr_hdr(enum wsip_hdr_id id)
{
    switch (id) {
    case WSIP_HDR_FROM:
    case WSIP_HDR_TO:
    case WSIP_HDR_CONTACT:
    case WSIP_HDR_ROUTE:
    case WSIP_HDR_RECORD_ROUTE:
    case WSIP_HDR_PATH:
    case WSIP_HDR_SERVICE_ROUTE:
    case WSIP_HDR_REPLY_TO:
    case WSIP_HDR_REFER_TO:
    case WSIP_HDR_REFERRED_BY:
    case WSIP_HDR_P_ASSERTED_IDENTITY:
    case WSIP_HDR_P_PREFERRED_IDENTITY: return true;
    default: return false;
    }
}

static bool is_auth_hdr(enum wsip_hdr_id id)
{
    return id == WSIP_HDR_AUTHORIZATION || id == WSIP_HDR_PROXY_AUTHORIZATION ||
           id == WSIP_HDR_WWW_AUTHENTICATE || id == WSIP_HDR_PROXY_AUTHENTICATE;
}

static void exercise_headers(struct wsip_msg *m, struct range r)
{
    for (unsigned i = 0; i < m->nhdrs; i++) {
        struct wsip_hdr *h = &m->hdrs[i];
        const char *reason = NULL;
        touch(r, h->name);
        touch(r, h->value);
        touch(r, h->line);
        CHECK(h->id < WSIP_HDR__COUNT);
        CHECK(h->next == 0 || (h->next > i + 1 && h->next <= m->nhdrs));
        CHECK(wsip_hdr_id_from_name(h->name) == h->id);
        struct wsip_hdr *byname = wsip_msg_hdr_by_name(m, h->name);
        CHECK(byname != NULL && byname->id == h->id);
        if (h->id == WSIP_HDR_VIA) {
            const struct wsip_via *v = wsip_hdr_via(m, h, &reason);
            if (v)
                exercise_via(r, v);
            CHECK(wsip_hdr_via(m, h, NULL) == v); /* cached */
        } else if (is_addr_hdr(h->id)) {
            const struct wsip_addr *a = wsip_hdr_addr(m, h, &reason);
            if (a)
                exercise_addr(r, a);
            CHECK(wsip_hdr_addr(m, h, NULL) == a);
        } else if (is_auth_hdr(h->id)) {
            const struct wsip_auth *a = wsip_hdr_auth(m, h, &reason);
            if (a)
                exercise_auth(r, a);
            CHECK(wsip_hdr_auth(m, h, NULL) == a);
        }
        if (reason)
            sink = (unsigned char)reason[0];
    }

    /* per-id chains agree with the counts */
    for (int id = 0; id < WSIP_HDR__COUNT; id++) {
        unsigned n = 0;
        for (struct wsip_hdr *h = wsip_msg_hdr(m, (enum wsip_hdr_id)id); h;
             h = wsip_msg_hdr_next(m, h)) {
            CHECK(h >= m->hdrs && h < m->hdrs + m->nhdrs);
            CHECK(h->id == (enum wsip_hdr_id)id);
            CHECK(++n <= m->nhdrs);
        }
        CHECK(n == wsip_msg_hdr_count(m, (enum wsip_hdr_id)id));
        sink = (unsigned char)wsip_hdr_name((enum wsip_hdr_id)id)[0];
    }
}

static void exercise_accessors(struct wsip_msg *m, struct range r)
{
    const char *reason = NULL;

    const struct wsip_uri *ruri = wsip_msg_ruri(m, &reason);
    if (ruri) {
        CHECK(m->is_request);
        exercise_uri(r, ruri);
    }
    CHECK(wsip_msg_ruri(m, NULL) == ruri);

    const struct wsip_via *via = wsip_msg_top_via(m, &reason);
    if (via)
        exercise_via(r, via);
    const struct wsip_addr *from = wsip_msg_from(m, &reason);
    if (from)
        exercise_addr(r, from);
    const struct wsip_addr *to = wsip_msg_to(m, &reason);
    if (to)
        exercise_addr(r, to);
    const struct wsip_cseq *cseq = wsip_msg_cseq(m, &reason);
    if (cseq) {
        touch(r, cseq->method);
        CHECK(cseq->num < 0x80000000u);
        CHECK(cseq->method_id == wsip_method_from_str(cseq->method));
    }
    const struct wsip_ctype *ct = wsip_msg_ctype(m, &reason);
    if (ct) {
        touch(r, ct->type);
        touch(r, ct->subtype);
        touch(r, ct->params);
        exercise_params(r, ct->params);
    }
    const struct wsip_event *ev = wsip_msg_event(m, &reason);
    if (ev) {
        touch(r, ev->package);
        touch(r, ev->params);
        touch(r, ev->id);
        exercise_params(r, ev->params);
    }
    touch(r, wsip_msg_call_id(m));
    int mf = wsip_msg_max_forwards(m);
    CHECK(mf >= -2 && mf <= 255);
    uint32_t exp = 0;
    int er = wsip_msg_expires(m, &exp);
    CHECK(er >= -1 && er <= 1);
    sink = (unsigned char)(wsip_msg_has_token(m, WSIP_HDR_SUPPORTED, "outbound") +
                           wsip_msg_has_token(m, WSIP_HDR_REQUIRE, "100rel") +
                           wsip_msg_has_token(m, WSIP_HDR_ALLOW, "INVITE") +
                           wsip_msg_has_token(m, WSIP_HDR_PROXY_REQUIRE, "foo") +
                           wsip_msg_has_token(m, WSIP_HDR_OTHER, "x"));
    if (reason)
        sink = (unsigned char)reason[0];
}

static void check_err(const struct wsip_msg *m, const struct wsip_sip_err *err)
{
    CHECK(err->reason != NULL);
    sink = (unsigned char)err->reason[0];
    if (m->is_request)
        CHECK(err->status >= 400 && err->status <= 699);
    else
        CHECK(err->status == 0);
}

/* Generous limits for parsing what the builders made. */
static const struct wsip_sip_limits big_limits = {1u << 22, 1u << 16, 1u << 16, 4096};

/* Parses builder output as a datagram; returns the message or NULL. */
static struct wsip_msg *reparse(const struct wsip_sbuf *out)
{
    struct wsip_msg *m2 = NULL;
    size_t used = 0;
    struct wsip_sip_err err = {0, NULL};
    int rc = wsip_msg_parse(&m2, NULL, out->p, out->len, WSIP_FRAMING_DATAGRAM, &big_limits, &used,
                            &err);
    if (rc != WSIP_PARSE_OK)
        return NULL;
    CHECK(used <= out->len);
    return m2;
}

/* With no edits the builder gives back the received bytes. */
static void check_identity(struct wsip_msg *m)
{
    struct wsip_builder b;
    wsip_builder_init(&b, m);
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    if (wsip_builder_flatten(&b, &out) == 0 && !out.oom)
        CHECK(out.len == m->raw.len && (out.len == 0 || memcmp(out.p, m->raw.p, out.len) == 0));
    wsip_sbuf_free(&out);
    wsip_builder_free(&b);
}

static void exercise_builder(struct wsip_msg *m, bool valid, unsigned sel)
{
    check_identity(m);

    struct wsip_builder b;
    wsip_builder_init(&b, m);

    int mf_before = wsip_msg_max_forwards(m);
    struct wsip_hdr *top = wsip_msg_hdr(m, WSIP_HDR_VIA);
    if (top)
        wsip_builder_remove_hdr(&b, top);
    int via_rc = wsip_builder_prepend_via(&b, WSIP_STR_LIT(FUZZ_VIA));
    int mf_rc = m->is_request ? wsip_builder_decrement_max_forwards(&b) : -1;
    if (sel & SEL_APPEND)
        wsip_builder_append_hdr(&b, "X-Fuzz", WSIP_STR_LIT("1"));
    if ((sel & SEL_RR) && m->is_request)
        wsip_builder_prepend_hdr(&b, WSIP_HDR_RECORD_ROUTE, WSIP_STR_LIT(FUZZ_RR));
    struct wsip_str body = m->body;
    int ruri_rc = -1;
    if (sel & SEL_RURI_BODY) {
        if (m->is_request)
            ruri_rc = wsip_builder_set_ruri(&b, WSIP_STR_LIT(FUZZ_RURI));
        if (wsip_builder_set_body(&b, WSIP_STR_LIT(FUZZ_BODY)) == 0)
            body = WSIP_STR_LIT(FUZZ_BODY);
    }
    int clen_rc = wsip_builder_ensure_content_length(&b);

    struct iovec iov[64];
    size_t total = 0, small_total = 0;
    int niov = wsip_builder_iov(&b, iov, 64, &total);
    wsip_builder_iov(&b, iov, 2, &small_total); /* may be too small: -1 */
    niov = wsip_builder_iov(&b, iov, 64, &total);

    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    int fl_rc = wsip_builder_flatten(&b, &out);
    if (fl_rc == 0 && !out.oom && niov >= 0) {
        CHECK(total == out.len);
        size_t off = 0;
        for (int i = 0; i < niov; i++) {
            CHECK(iov[i].iov_len <= out.len - off);
            CHECK(iov[i].iov_len == 0 || memcmp(iov[i].iov_base, out.p + off, iov[i].iov_len) == 0);
            off += iov[i].iov_len;
        }
        CHECK(off == out.len);
    }

    if (fl_rc == 0 && !out.oom && valid && via_rc == 0 && clen_rc == 0) {
        /* a message we accepted, edited as a proxy would, must come out whole */
        struct wsip_msg *m2 = reparse(&out);
        CHECK(m2 != NULL);
        struct range r2 = range_of(m2->raw);
        exercise_headers(m2, r2);
        exercise_accessors(m2, r2);
        struct wsip_sip_err err = {0, NULL};
        CHECK(wsip_msg_validate(m2, &err) == 0);
        CHECK(m2->is_request == m->is_request);
        if (m->is_request)
            CHECK(wsip_str_eq(m2->method, m->method));
        else
            CHECK(m2->status == m->status);
        CHECK(wsip_str_eq(wsip_msg_call_id(m2), wsip_msg_call_id(m)));
        CHECK(wsip_str_eq(m2->body, body));
        CHECK(m2->has_clen && m2->clen == body.len);
        struct wsip_hdr *v2 = wsip_msg_hdr(m2, WSIP_HDR_VIA);
        CHECK(v2 && wsip_str_eq_cstr(v2->value, FUZZ_VIA));
        if (m->is_request && mf_rc == 0) {
            int mf2 = wsip_msg_max_forwards(m2);
            CHECK(mf_before == -1 ? mf2 == 70 : mf2 == mf_before - 1);
        }
        if (ruri_rc == 0)
            CHECK(wsip_str_eq_cstr(m2->ruri_str, FUZZ_RURI));
        wsip_msg_unref(m2);
    }
    wsip_sbuf_free(&out);
    wsip_builder_free(&b);
}

/* ---- a pseudo-random edit program: the edits are drawn from a generator
 * seeded with the message bytes, so an input always gets the same edits */

static uint32_t rng_next(uint32_t *st)
{
    uint32_t x = *st;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *st = x ? x : 0x9e3779b9u;
}

static uint32_t hash_bytes(struct wsip_str s)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (unsigned char)s.p[i]) * 16777619u;
    return h ? h : 1;
}

/* ids the program may add lines for, or that the builder adds itself */
static bool inserted_id(enum wsip_hdr_id id)
{
    return id == WSIP_HDR_OTHER || id == WSIP_HDR_ROUTE || id == WSIP_HDR_RECORD_ROUTE ||
           id == WSIP_HDR_CONTENT_LENGTH || id == WSIP_HDR_MAX_FORWARDS || id == WSIP_HDR_VIA;
}

static void exercise_edit_program(struct wsip_msg *m, bool valid)
{
    static const char *const values[] = {"fz", "fz\r\n fold", "<sip:fz.example.com;lr>", "1"};
    static const char *const unsafe[] = {"a\r\nInjected: 1", "a\nb", "a\rb", "a\r\n"};
    static const enum wsip_hdr_id pre_ids[] = {WSIP_HDR_ROUTE, WSIP_HDR_RECORD_ROUTE};
    uint32_t st = hash_bytes(m->raw) ^ (uint32_t)m->raw.len;
    unsigned removed[WSIP_HDR__COUNT] = {0};
    bool touched[WSIP_HDR__COUNT] = {false}; /* replaced: count model off */
    struct wsip_builder b;
    wsip_builder_init(&b, m);
    unsigned nops = 1 + rng_next(&st) % 6;
    for (unsigned i = 0; i < nops; i++) {
        uint32_t r = rng_next(&st);
        struct wsip_hdr *h = m->nhdrs ? &m->hdrs[(r >> 8) % m->nhdrs] : NULL;
        switch (r % 10) {
        case 0:
        case 1:
            if (h && wsip_builder_remove_hdr(&b, h) == 0)
                removed[h->id]++;
            break;
        case 2:
            if (h && h->id != WSIP_HDR_CONTENT_LENGTH &&
                wsip_builder_replace_hdr(&b, h, wsip_str_cstr(values[(r >> 4) % 4])) == 0)
                touched[h->id] = true;
            break;
        case 3:
            if (h) /* would inject a header line: must be refused */
                CHECK(wsip_builder_replace_hdr(&b, h, wsip_str_cstr(unsafe[(r >> 4) % 4])) == -1);
            CHECK(wsip_builder_append_hdr(&b, "X-Fz", wsip_str_cstr(unsafe[(r >> 6) % 4])) == -1);
            CHECK(wsip_builder_append_hdr(&b, "Bad Name", WSIP_STR_LIT("x")) == -1);
            CHECK(wsip_builder_set_ruri(&b, WSIP_STR_LIT("sip:a b")) == -1);
            break;
        case 4: wsip_builder_append_hdr(&b, "X-Fz", wsip_str_cstr(values[(r >> 4) % 4])); break;
        case 5:
            wsip_builder_prepend_hdr(&b, pre_ids[(r >> 4) % 2],
                                     WSIP_STR_LIT("<sip:fz.example.com;lr>"));
            break;
        case 6: wsip_builder_set_ruri(&b, WSIP_STR_LIT("sips:fz@[2001:db8::1]:5061")); break;
        case 7: wsip_builder_set_body(&b, (r >> 4) & 1 ? WSIP_STR_LIT("x") : WSIP_STR_NULL); break;
        case 8: wsip_builder_decrement_max_forwards(&b); break;
        default: wsip_builder_ensure_content_length(&b); break;
        }
    }

    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    struct iovec iov[8];
    size_t total = 0;
    int niov = wsip_builder_iov(&b, iov, 8, &total);
    if (wsip_builder_flatten(&b, &out) == 0 && !out.oom) {
        if (niov >= 0)
            CHECK(total == out.len);
        if (valid) {
            /* whatever was removed or replaced, the result is a message */
            struct wsip_msg *m2 = reparse(&out);
            CHECK(m2 != NULL);
            struct range r2 = range_of(m2->raw);
            exercise_headers(m2, r2);
            exercise_accessors(m2, r2);
            for (int id = 0; id < WSIP_HDR__COUNT; id++)
                if (!inserted_id((enum wsip_hdr_id)id) && !touched[id])
                    CHECK(wsip_msg_hdr_count(m2, (enum wsip_hdr_id)id) ==
                          wsip_msg_hdr_count(m, (enum wsip_hdr_id)id) - removed[id]);
            wsip_msg_unref(m2);
        }
    }
    wsip_sbuf_free(&out);
    wsip_builder_free(&b);
}

static void exercise_response(struct wsip_msg *m, bool valid, size_t size)
{
    static const unsigned statuses[] = {100, 180, 200, 401, 407, 486, 503, 699};
    unsigned st = statuses[size % 8];
    struct wsip_str body = (size & 8) ? WSIP_STR_LIT(FUZZ_BODY) : WSIP_STR_NULL;
    struct wsip_str extra =
        (size & 16) ? WSIP_STR_LIT("Server: fuzz\r\nSupported: path\r\n") : WSIP_STR_NULL;
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    int rc = wsip_response_build(&out, m, st, wsip_status_reason(st), WSIP_STR_LIT(FUZZ_TO_TAG),
                                 extra, body);
    /* ACK gets no response: validation rightly refuses a response to one */
    if (rc == 0 && !out.oom && valid && m->method_id != WSIP_METHOD_ACK) {
        struct wsip_msg *resp = reparse(&out);
        CHECK(resp != NULL);
        struct range r2 = range_of(resp->raw);
        exercise_headers(resp, r2);
        exercise_accessors(resp, r2);
        struct wsip_sip_err err = {0, NULL};
        CHECK(wsip_msg_validate(resp, &err) == 0);
        CHECK(!resp->is_request);
        CHECK(resp->status == st);
        CHECK(wsip_str_eq(wsip_msg_call_id(resp), wsip_msg_call_id(m)));
        CHECK(wsip_str_eq(resp->body, body));
        CHECK(wsip_msg_hdr_count(resp, WSIP_HDR_VIA) == wsip_msg_hdr_count(m, WSIP_HDR_VIA));
        const struct wsip_cseq *c1 = wsip_msg_cseq(m, NULL), *c2 = wsip_msg_cseq(resp, NULL);
        CHECK(c1 && c2 && c1->num == c2->num && wsip_str_eq(c1->method, c2->method));
        const struct wsip_addr *t1 = wsip_msg_to(m, NULL), *t2 = wsip_msg_to(resp, NULL);
        CHECK(t1 && t2);
        if (t1->has_tag)
            CHECK(t2->has_tag && wsip_str_eq(t1->tag, t2->tag));
        else if (st > 100)
            CHECK(t2->has_tag && wsip_str_eq_cstr(t2->tag, FUZZ_TO_TAG));
        wsip_msg_unref(resp);
    }
    wsip_sbuf_free(&out);
}

/* act: the message came whole (not WSIP_FRAMING_HEADERS), so the builder
 * invariants apply when it validates */
static void exercise_msg(struct wsip_msg *m, struct range in, unsigned sel, size_t size, bool act)
{
    struct range r = range_of(m->raw);
    touch(in, m->raw);
    touch(r, m->start_line);
    touch(r, m->version);
    touch(r, m->method);
    touch(r, m->ruri_str);
    touch(r, m->reason);
    touch(r, m->body);
    CHECK(m->hdr_end <= m->raw.len);
    if (m->is_request) {
        CHECK(wsip_method_from_str(m->method) == m->method_id);
        sink = (unsigned char)wsip_method_name(m->method_id)[0];
    } else {
        sink = (unsigned char)wsip_status_reason(m->status)[0];
    }
    if (m->has_clen)
        CHECK(!m->clen_bad);

    CHECK(wsip_msg_ref(m) == m);
    wsip_msg_unref(m);

    exercise_headers(m, r);
    exercise_accessors(m, r);

    struct wsip_sip_err err = {0, NULL};
    bool valid = wsip_msg_validate(m, &err) == 0;
    struct wsip_sip_err err2 = {0, NULL};
    CHECK((wsip_msg_validate(m, &err2) == 0) == valid); /* the caches change nothing */
    if (!valid) {
        check_err(m, &err);
    } else {
        /* what validation promises */
        CHECK(wsip_msg_top_via(m, NULL) != NULL);
        CHECK(wsip_msg_from(m, NULL) != NULL);
        CHECK(wsip_msg_to(m, NULL) != NULL);
        CHECK(wsip_msg_cseq(m, NULL) != NULL);
        CHECK(wsip_msg_call_id(m).len > 0);
        if (m->is_request)
            CHECK(wsip_msg_ruri(m, NULL) != NULL);
    }
    if (valid && m->is_request) {
        static const char *const supported[] = {"path", "outbound", "gruu", NULL};
        static const enum wsip_role roles[] = {WSIP_ROLE_PROXY, WSIP_ROLE_REGISTRAR, WSIP_ROLE_UAS};
        for (size_t i = 0; i < 3; i++) {
            err = (struct wsip_sip_err){0, NULL};
            if (wsip_msg_check_request(m, roles[i], supported, &err) != 0)
                check_err(m, &err);
        }
    }

    exercise_builder(m, valid && act, sel);
    exercise_edit_program(m, valid && act);
    if (m->is_request)
        exercise_response(m, valid && act, size);
}

static void limits_for(unsigned tier, struct wsip_sip_limits *lim)
{
    wsip_sip_limits_default(lim);
    switch (tier) {
    case 1: *lim = (struct wsip_sip_limits){256, 64, 64, 4}; break;
    case 2: *lim = (struct wsip_sip_limits){1024, 128, 128, 16}; break;
    case 3: lim->max_headers = 1; break;
    case 4:
        lim->max_start_line = 20;
        lim->max_header_line = 20;
        break;
    case 5: lim->max_msg_size = 120; break;
    case 6: *lim = (struct wsip_sip_limits){0, 0, 0, 0}; break;
    case 7: *lim = (struct wsip_sip_limits){1u << 20, 1u << 15, 1u << 15, 255}; break;
    default: break;
    }
}

static struct wsip_msg *parse(struct wsip_buf *buf, const char *p, size_t len, enum wsip_framing fr,
                              const struct wsip_sip_limits *lim, size_t *used, int *rcp)
{
    struct wsip_msg *m = NULL;
    struct wsip_sip_err err = {0, NULL};
    *used = 0;
    int rc = wsip_msg_parse(&m, buf, p, len, fr, lim, used, &err);
    *rcp = rc;
    if (rc == WSIP_PARSE_OK) {
        CHECK(m != NULL);
        CHECK(*used > 0 && *used <= len);
        return m;
    }
    if (rc == WSIP_PARSE_AGAIN) {
        CHECK(fr == WSIP_FRAMING_STREAM);
        CHECK(*used == 0 || *used > len); /* what is needed is more than what is there */
        return NULL;
    }
    CHECK(rc == WSIP_PARSE_BAD);
    CHECK(err.reason != NULL);
    sink = (unsigned char)err.reason[0];
    CHECK(err.status == 0 || (err.status >= 400 && err.status <= 599));
    return NULL;
}

/* Parses p[0..len) with its own exact-size copy, for the stream checks. */
static int parse_copy(const char *p, size_t len, const struct wsip_sip_limits *lim, size_t *used)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return -2;
    memcpy(copy, p, len);
    int rc;
    struct wsip_msg *m = parse(NULL, copy, len, WSIP_FRAMING_STREAM, lim, used, &rc);
    if (m)
        wsip_msg_unref(m);
    free(copy);
    return rc;
}

static void run_stream(const char *p, size_t len, const struct wsip_sip_limits *lim, unsigned sel)
{
    struct wsip_buf *buf = wsip_buf_from(p, len);
    if (!buf)
        return;
    struct range in = {(uintptr_t)buf->data, (uintptr_t)buf->data + len};
    size_t off = 0;
    CHECK(wsip_stream_skip_crlf(buf->data, len) <= len);
    for (unsigned i = 0; i < STREAM_MSGS && off < len; i++) {
        size_t used;
        int rc;
        struct wsip_msg *m =
            parse(buf, buf->data + off, len - off, WSIP_FRAMING_STREAM, lim, &used, &rc);
        if (!m)
            break;
        if (i == 0) {
            /* a message is self-delimiting: exactly its bytes parse to the
             * same message, one byte less is incomplete */
            size_t u2;
            CHECK(parse_copy(buf->data, used, lim, &u2) == WSIP_PARSE_OK && u2 == used);
            CHECK(parse_copy(buf->data, used - 1, lim, &u2) == WSIP_PARSE_AGAIN);
            CHECK(u2 == 0 || u2 == used);
        }
        exercise_msg(m, in, sel, len, true);
        wsip_msg_unref(m);
        off += used;
    }
    wsip_buf_unref(buf);
}

/* Two parses of the same bytes (other framing, other copy) found the same
 * start line and header fields at the same offsets. */
static void check_same_headers(const struct wsip_msg *a, const struct wsip_msg *b)
{
    CHECK(a->is_request == b->is_request && a->status == b->status);
    CHECK(a->nhdrs == b->nhdrs && a->hdr_end == b->hdr_end);
    CHECK(a->start_line.len == b->start_line.len);
    for (unsigned i = 0; i < a->nhdrs; i++) {
        const struct wsip_hdr *x = &a->hdrs[i], *y = &b->hdrs[i];
        CHECK(x->id == y->id && x->nth == y->nth && x->count == y->count);
        CHECK(x->name.len == y->name.len && x->value.len == y->value.len);
        CHECK(x->name.p - a->raw.p == y->name.p - b->raw.p);
        CHECK(x->value.len == 0 || x->value.p - a->raw.p == y->value.p - b->raw.p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned ctl = 0;
    if (size > 0 && data[0] >= 0xC0) {
        ctl = data[0] & 0x3Fu;
        data++;
        size--;
    }
    struct wsip_sip_limits lim;
    limits_for(ctl & 7u, &lim);
    unsigned sel = ctl >> 3;
    const char *p = (const char *)data;
    size_t used;
    int rc;

    /* datagram: straight from the caller's bytes, no buffer */
    struct range in = {(uintptr_t)p, (uintptr_t)p + size};
    struct wsip_msg *dg = parse(NULL, p, size, WSIP_FRAMING_DATAGRAM, &lim, &used, &rc);

    /* WebSocket message: in a refcounted buffer the message outlives our
     * reference to */
    struct wsip_msg *ws = NULL;
    struct wsip_buf *buf = wsip_buf_from(p, size);
    struct range bin = in;
    if (buf) {
        ws = parse(buf, buf->data, size, WSIP_FRAMING_WS, &lim, &used, &rc);
        bin = (struct range){(uintptr_t)buf->data, (uintptr_t)buf->data + size};
        wsip_buf_unref(buf);
    }

    /* headers only (to answer a refused message): accepts whatever the
     * others accept, with the same fields */
    struct wsip_msg *ho = parse(NULL, p, size, WSIP_FRAMING_HEADERS, &lim, &used, &rc);

    if (ws) {
        CHECK(dg != NULL); /* Content-Length absent or exact suits a datagram too */
        check_same_headers(dg, ws);
        CHECK(wsip_str_eq(dg->body, ws->body));
    }
    if (dg) {
        CHECK(ho != NULL);
        check_same_headers(dg, ho);
    }

    if (dg) {
        exercise_msg(dg, in, sel, size, true);
        wsip_msg_unref(dg);
    }
    if (ws) {
        exercise_msg(ws, bin, sel, size, true);
        wsip_msg_unref(ws);
    }
    if (ho) {
        exercise_msg(ho, in, sel, size, false);
        wsip_msg_unref(ho);
    }

    run_stream(p, size, &lim, sel);
    return 0;
}

/* Outgoing builder: byte-exact round trips of the flow corpus, RFC 3261 sec
 * 16.6 / RFC 7118 forwarding checked against the RFCs' forwarded messages,
 * list-element removal, Content-Length handling, overlapping edits, and
 * responses (RFC 3261 sec 8.2.6). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wsip/sip.h"

/* ----------------------------------------------------------- helpers */

/* Printable form of bytes for failure messages (CR/LF shown as \r \n).
 * Rotates over a few static buffers so one message can print two. */
static const char *esc(const char *p, size_t len)
{
    static char bufs[4][8192];
    static int next;
    char *o = bufs[next++ & 3];
    size_t k = 0;
    if (!p) {
        p = "";
        len = 0;
    }
    for (size_t i = 0; i < len && k + 5 < sizeof(bufs[0]); i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\r') {
            o[k++] = '\\', o[k++] = 'r';
        } else if (c == '\n') {
            o[k++] = '\\', o[k++] = 'n';
        } else if (c == '\t') {
            o[k++] = '\\', o[k++] = 't';
        } else if (c < 0x20 || c >= 0x7f) {
            k += (size_t)snprintf(o + k, 5, "\\x%02x", c);
        } else {
            o[k++] = (char)c;
        }
    }
    o[k] = '\0';
    return o;
}

#define STR_EQ(got, want)                                                                          \
    do {                                                                                           \
        struct wsip_str g_ = (got), w_ = (want);                                                   \
        ck_assert_msg(wsip_str_eq(g_, w_), "%s:\n  got  [%s]\n  want [%s]", #got,                  \
                      esc(g_.p, g_.len), esc(w_.p, w_.len));                                       \
    } while (0)

#define CSTR(s) wsip_str_cstr(s)

static struct wsip_msg *parse_fr(const char *p, size_t len, enum wsip_framing fr)
{
    struct wsip_sip_limits lim;
    wsip_sip_limits_default(&lim);
    struct wsip_msg *m = NULL;
    size_t consumed = 0;
    struct wsip_sip_err err = {0, NULL};
    int rc = wsip_msg_parse(&m, NULL, p, len, fr, &lim, &consumed, &err);
    ck_assert_msg(rc == WSIP_PARSE_OK && m, "parse rc %d (%u %s) on [%s]", rc, err.status,
                  err.reason ? err.reason : "", esc(p, len));
    return m;
}

static struct wsip_msg *parse(const char *p)
{
    return parse_fr(p, strlen(p), WSIP_FRAMING_DATAGRAM);
}

/* A corpus file and its parsed message (which points into text). */
struct loaded {
    char *text;
    size_t len;
    struct wsip_msg *m;
};

static struct loaded load(const char *rel)
{
    struct loaded l;
    l.text = read_file(corpus_path(rel), &l.len);
    l.m = parse_fr(l.text, l.len, WSIP_FRAMING_DATAGRAM);
    return l;
}

static void unload(struct loaded *l)
{
    wsip_msg_unref(l->m);
    free(l->text);
}

/* Serialises both ways, checks iov and flatten agree, and returns the bytes
 * (malloc'd, NUL-terminated; caller frees). */
static char *out_bytes(struct wsip_builder *b, size_t *len)
{
    struct wsip_sbuf s;
    wsip_sbuf_init(&s);
    ck_assert_int_eq(wsip_builder_flatten(b, &s), 0);
    ck_assert(!s.oom);
    struct iovec iov[64];
    size_t total = 0;
    int n = wsip_builder_iov(b, iov, 64, &total);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq(total, s.len);
    char *cat = malloc(total + 1);
    ck_assert_ptr_nonnull(cat);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_uint_gt(iov[i].iov_len, 0);
        memcpy(cat + k, iov[i].iov_base, iov[i].iov_len);
        k += iov[i].iov_len;
    }
    ck_assert_uint_eq(k, total);
    ck_assert_msg(memcmp(cat, s.p, total) == 0, "iov [%s] != flatten [%s]", esc(cat, total),
                  esc(s.p, s.len));
    free(cat);
    *len = s.len;
    return s.p;
}

static void expect_out(struct wsip_builder *b, const char *want)
{
    size_t len;
    char *got = out_bytes(b, &len);
    STR_EQ(wsip_str_make(got, len), CSTR(want));
    free(got);
}

/* The n-th (0-based) value of a header id. */
static struct wsip_hdr *nth_hdr(struct wsip_msg *m, enum wsip_hdr_id id, unsigned n)
{
    struct wsip_hdr *h = wsip_msg_hdr(m, id);
    for (unsigned i = 0; h && i < n; i++)
        h = wsip_msg_hdr_next(m, h);
    ck_assert_msg(h != NULL, "no value %u of header %s", n, wsip_hdr_name(id));
    return h;
}

/* Every value of every header except those in skip (a 0-terminated id list)
 * is the same, in the same order, in a and b. Unknown headers by name. */
static void same_headers(struct wsip_msg *a, struct wsip_msg *b, const enum wsip_hdr_id *skip)
{
    for (int id = 1; id < WSIP_HDR__COUNT; id++) {
        bool skipped = false;
        for (const enum wsip_hdr_id *s = skip; *s; s++)
            skipped |= (int)*s == id;
        if (skipped)
            continue;
        unsigned na = wsip_msg_hdr_count(a, (enum wsip_hdr_id)id);
        unsigned nb = wsip_msg_hdr_count(b, (enum wsip_hdr_id)id);
        ck_assert_msg(na == nb, "%s: %u values vs %u", wsip_hdr_name((enum wsip_hdr_id)id), na, nb);
        const struct wsip_hdr *ha = wsip_msg_hdr(a, (enum wsip_hdr_id)id);
        const struct wsip_hdr *hb = wsip_msg_hdr(b, (enum wsip_hdr_id)id);
        for (; ha && hb; ha = wsip_msg_hdr_next(a, ha), hb = wsip_msg_hdr_next(b, hb))
            STR_EQ(ha->value, hb->value);
    }
    unsigned oa = 0, ob = 0;
    for (unsigned i = 0; i < a->nhdrs; i++) {
        if (a->hdrs[i].id != WSIP_HDR_OTHER)
            continue;
        oa++;
        struct wsip_hdr *hb = wsip_msg_hdr_by_name(b, a->hdrs[i].name);
        ck_assert_msg(hb != NULL, "header %s missing", esc(a->hdrs[i].name.p, a->hdrs[i].name.len));
        STR_EQ(a->hdrs[i].value, hb->value);
    }
    for (unsigned i = 0; i < b->nhdrs; i++)
        ob += b->hdrs[i].id == WSIP_HDR_OTHER;
    ck_assert_uint_eq(oa, ob);
}

static void parse_via(struct wsip_msg *m, struct wsip_hdr *h, struct wsip_via *out)
{
    const char *why = NULL;
    const struct wsip_via *v = wsip_hdr_via(m, h, &why);
    ck_assert_msg(v != NULL, "Via [%s] does not parse: %s", esc(h->value.p, h->value.len),
                  why ? why : "");
    *out = *v;
}

/* ------------------------------------------------- (a) round trips */

static unsigned roundtrip_dir(const char *dir)
{
    char rel[512];
    unsigned n = 0;
    DIR *d = opendir(corpus_path(dir));
    ck_assert_msg(d != NULL, "cannot list %s", dir);
    for (struct dirent *e; (e = readdir(d));) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".sip") != 0)
            continue;
        /* kept with the RFC's dangling comma; the .fixed copy is tested */
        if (strcmp(e->d_name, "8.2-F6-ACK.sip") == 0)
            continue;
        snprintf(rel, sizeof(rel), "%s/%s", dir, e->d_name);
        struct loaded l = load(rel);
        struct wsip_builder b;
        wsip_builder_init(&b, l.m);
        size_t len;
        char *got = out_bytes(&b, &len);
        ck_assert_msg(len == l.len && memcmp(got, l.text, len) == 0, "%s:\n got  [%s]\n want [%s]",
                      rel, esc(got, len), esc(l.text, l.len));
        /* no edits: one iovec, the receive buffer itself */
        struct iovec iov[2];
        size_t total = 0;
        ck_assert_int_eq(wsip_builder_iov(&b, iov, 2, &total), 1);
        ck_assert_ptr_eq(iov[0].iov_base, l.m->raw.p);
        ck_assert_uint_eq(total, l.len);
        free(got);
        wsip_builder_free(&b);
        unload(&l);
        n++;
    }
    closedir(d);
    return n;
}

START_TEST(roundtrip_flows)
{
    ck_assert_uint_eq(roundtrip_dir("flows/rfc3261"), 16);
    ck_assert_uint_eq(roundtrip_dir("flows/rfc7118"), 13);
}
END_TEST

/* Every value of every valid torture message removed on its own: the
 * result parses and holds exactly the other values, unchanged, in order.
 * This covers odd LWS, folds, compact names and long lists. */
static unsigned remove_each_dir(const char *dir)
{
    char rel[512];
    unsigned n = 0;
    DIR *d = opendir(corpus_path(dir));
    ck_assert_msg(d != NULL, "cannot list %s", dir);
    for (struct dirent *e; (e = readdir(d));) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".sip") != 0)
            continue;
        snprintf(rel, sizeof(rel), "%s/%s", dir, e->d_name);
        struct loaded l = load(rel);
        struct wsip_msg *m = l.m;
        for (unsigned i = 0; i < m->nhdrs; i++) {
            struct wsip_builder b;
            wsip_builder_init(&b, m);
            ck_assert_int_eq(wsip_builder_remove_hdr(&b, &m->hdrs[i]), 0);
            size_t len;
            char *out = out_bytes(&b, &len);
            struct wsip_msg *o = parse_fr(out, len, WSIP_FRAMING_DATAGRAM);
            ck_assert_msg(o->nhdrs + 1 == m->nhdrs, "%s minus value %u: %u values, had %u", rel, i,
                          o->nhdrs, m->nhdrs);
            for (unsigned j = 0, k = 0; j < m->nhdrs; j++) {
                if (j == i)
                    continue;
                ck_assert_int_eq(o->hdrs[k].id, m->hdrs[j].id);
                STR_EQ(o->hdrs[k].value, m->hdrs[j].value);
                k++;
            }
            STR_EQ(o->start_line, m->start_line);
            STR_EQ(o->body, m->body);
            wsip_msg_unref(o);
            free(out);
            wsip_builder_free(&b);
            n++;
        }
        unload(&l);
    }
    closedir(d);
    return n;
}

START_TEST(remove_each_value_torture)
{
    /* header values in the 27 + 11 valid messages, list elements counted
     * one by one (with the list headers of gen_hdr.py): a parser that lost
     * or merged values, or a skipped file, changes them */
    ck_assert_uint_eq(remove_each_dir("rfc4475/valid"), 278);
    ck_assert_uint_eq(remove_each_dir("rfc5118/valid"), 90);
}
END_TEST

/* ------------------------------------------------- (b) forwarding */

/* atlanta.com's proxy forwarding F1 (RFC 3261 sec 24.2): received= on the
 * top Via (sec 18.2.1: sent-by is a name, the packet came from 192.0.2.1),
 * its own Via on top, Max-Forwards - 1, Record-Route (sec 16.6 steps 3, 4,
 * 8). F3 is what the RFC shows leaving the proxy. */
START_TEST(forward_rfc3261_f1_f3)
{
    struct loaded f1 = load("flows/rfc3261/24.2-F1-INVITE.sip");
    struct loaded f3 = load("flows/rfc3261/24.2-F3-INVITE.sip");
    struct wsip_builder b;
    wsip_builder_init(&b, f1.m);

    struct wsip_hdr *via = wsip_msg_hdr(f1.m, WSIP_HDR_VIA);
    char v[256];
    snprintf(v, sizeof(v), "%.*s;received=192.0.2.1", WSIP_STR_ARG(via->value));
    ck_assert_int_eq(wsip_builder_replace_hdr(&b, via, CSTR(v)), 0);
    ck_assert_int_eq(wsip_builder_decrement_max_forwards(&b), 0);
    /* F1 has no Record-Route: it goes above the first header line, and
     * before the new Via because it is added first */
    ck_assert_int_eq(wsip_builder_prepend_hdr(&b, WSIP_HDR_RECORD_ROUTE,
                                              CSTR("<sip:bigbox3.site3.atlanta.com;lr>")),
                     0);
    ck_assert_int_eq(
        wsip_builder_prepend_via(
            &b, CSTR("SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1")),
        0);
    expect_out(&b, "INVITE sip:bob@biloxi.com SIP/2.0\r\n"
                   "Record-Route: <sip:bigbox3.site3.atlanta.com;lr>\r\n"
                   "Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1\r\n"
                   "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.1\r\n"
                   "Max-Forwards: 69\r\n"
                   "To: Bob <sip:bob@biloxi.com>\r\n"
                   "From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
                   "Call-ID: a84b4c76e66710\r\n"
                   "CSeq: 314159 INVITE\r\n"
                   "Contact: <sip:alice@pc33.atlanta.com>\r\n"
                   "Content-Type: application/sdp\r\n"
                   "Content-Length: 0\r\n"
                   "\r\n");

    size_t len;
    char *out = out_bytes(&b, &len);
    struct wsip_msg *o = parse_fr(out, len, WSIP_FRAMING_DATAGRAM);
    STR_EQ(o->start_line, f3.m->start_line);
    /* Via: same list; compared parsed since F3 folds before ;received */
    ck_assert_uint_eq(wsip_msg_hdr_count(o, WSIP_HDR_VIA), 2);
    ck_assert_uint_eq(wsip_msg_hdr_count(f3.m, WSIP_HDR_VIA), 2);
    for (unsigned i = 0; i < 2; i++) {
        struct wsip_via a, c;
        parse_via(o, nth_hdr(o, WSIP_HDR_VIA, i), &a);
        parse_via(f3.m, nth_hdr(f3.m, WSIP_HDR_VIA, i), &c);
        STR_EQ(a.transport_str, c.transport_str);
        STR_EQ(a.host, c.host);
        ck_assert_int_eq(a.has_port, c.has_port);
        STR_EQ(a.branch, c.branch);
        STR_EQ(a.received, c.received);
    }
    ck_assert_int_eq(wsip_msg_max_forwards(o), 69);
    ck_assert_int_eq(wsip_msg_max_forwards(f3.m), 69);
    /* The RFC's proxies do not record-route (F12's ACK goes straight to
     * Bob), so F3 has no Record-Route: ours is the one difference. */
    ck_assert_uint_eq(wsip_msg_hdr_count(f3.m, WSIP_HDR_RECORD_ROUTE), 0);
    ck_assert_uint_eq(wsip_msg_hdr_count(o, WSIP_HDR_RECORD_ROUTE), 1);
    STR_EQ(wsip_msg_hdr(o, WSIP_HDR_RECORD_ROUTE)->value,
           CSTR("<sip:bigbox3.site3.atlanta.com;lr>"));
    static const enum wsip_hdr_id skip[] = {WSIP_HDR_VIA, WSIP_HDR_RECORD_ROUTE, 0};
    same_headers(o, f3.m, skip);
    STR_EQ(o->body, f3.m->body);
    ck_assert_int_eq(o->has_clen, f3.m->has_clen);
    ck_assert_uint_eq(o->clen, f3.m->clen);

    wsip_msg_unref(o);
    free(out);
    wsip_builder_free(&b);
    unload(&f1);
    unload(&f3);
}
END_TEST

/* RFC 7118 sec 8.2: the proxy takes Alice's INVITE from WSS and sends it to
 * Bob over UDP: Route naming itself removed (RFC 3261 sec 16.4), Request-URI
 * from the location service, two Record-Route values (one per transport,
 * RFC 5658 double record-routing), its Via, Max-Forwards - 1. */
START_TEST(forward_rfc7118_f1_f3)
{
    struct loaded f1 = load("flows/rfc7118/8.2-F1-INVITE.sip");
    struct loaded f3 = load("flows/rfc7118/8.2-F3-INVITE.sip");
    struct wsip_builder b;
    wsip_builder_init(&b, f1.m);

    ck_assert_uint_eq(wsip_msg_hdr_count(f1.m, WSIP_HDR_ROUTE), 1);
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, wsip_msg_hdr(f1.m, WSIP_HDR_ROUTE)), 0);
    ck_assert_int_eq(wsip_builder_set_ruri(&b, CSTR("sip:bob@203.0.113.22:5060")), 0);
    ck_assert_int_eq(wsip_builder_decrement_max_forwards(&b), 0);
    ck_assert_int_eq(wsip_builder_prepend_hdr(&b, WSIP_HDR_RECORD_ROUTE,
                                              CSTR("<sip:proxy.example.com;transport=udp;lr>")),
                     0);
    ck_assert_int_eq(
        wsip_builder_prepend_hdr(&b, WSIP_HDR_RECORD_ROUTE,
                                 CSTR("<sip:h7kjh12s@proxy.example.com:443;transport=ws;lr>")),
        0);
    ck_assert_int_eq(
        wsip_builder_prepend_via(&b, CSTR("SIP/2.0/UDP proxy.example.com;branch=z9hG4bKhjhjqw32c")),
        0);

    size_t len;
    char *out = out_bytes(&b, &len);
    struct wsip_msg *o = parse_fr(out, len, WSIP_FRAMING_DATAGRAM);
    STR_EQ(o->start_line, f3.m->start_line);
    STR_EQ(o->ruri_str, CSTR("sip:bob@203.0.113.22:5060"));
    ck_assert_uint_eq(wsip_msg_hdr_count(o, WSIP_HDR_ROUTE), 0);
    ck_assert_uint_eq(wsip_msg_hdr_count(o, WSIP_HDR_RECORD_ROUTE), 2);
    ck_assert_uint_eq(wsip_msg_hdr_count(o, WSIP_HDR_VIA), 2);
    ck_assert_int_eq(wsip_msg_max_forwards(o), 69);
    ck_assert_int_eq(o->has_clen, false);
    /* every header, Via and Record-Route included, value for value */
    static const enum wsip_hdr_id none[] = {0};
    same_headers(o, f3.m, none);
    same_headers(f3.m, o, none);
    STR_EQ(o->body, f3.m->body);
    ck_assert_uint_eq(o->nhdrs, f3.m->nhdrs);

    wsip_msg_unref(o);
    free(out);
    wsip_builder_free(&b);
    unload(&f1);
    unload(&f3);
}
END_TEST

/* The ACK (F6) reaches the proxy with both Record-Route entries as Route:
 * it removes the first (its WS side, sec 16.4) and keeps the other. */
START_TEST(forward_rfc7118_f6_route)
{
    struct loaded f6 = load("flows/rfc7118/8.2-F6-ACK.fixed.sip");
    struct wsip_builder b;
    wsip_builder_init(&b, f6.m);
    struct wsip_hdr *r0 = nth_hdr(f6.m, WSIP_HDR_ROUTE, 0);
    ck_assert_uint_eq(r0->count, 2);
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, r0), 0);
    size_t len;
    char *out = out_bytes(&b, &len);
    const char *want_route = "\r\nRoute: <sip:proxy.example.com;transport=udp;lr>\r\nFrom:";
    ck_assert_msg(strstr(out, want_route) != NULL, "no [%s] in [%s]",
                  esc(want_route, strlen(want_route)), esc(out, len));
    ck_assert_uint_eq(len, f6.len - strlen("<sip:h7kjh12s@proxy.example.com:443;transport=ws;lr>,"
                                           "\r\n  "));
    struct wsip_msg *o = parse_fr(out, len, WSIP_FRAMING_DATAGRAM);
    ck_assert_uint_eq(wsip_msg_hdr_count(o, WSIP_HDR_ROUTE), 1);
    STR_EQ(wsip_msg_hdr(o, WSIP_HDR_ROUTE)->value, nth_hdr(f6.m, WSIP_HDR_ROUTE, 1)->value);
    wsip_msg_unref(o);
    free(out);
    wsip_builder_free(&b);
    unload(&f6);
}
END_TEST

/* ------------------------------------------------- (c) responses */

static struct wsip_msg *build_response(struct wsip_sbuf *s, struct wsip_msg *req, unsigned st,
                                       const char *reason, const char *tag, const char *extra,
                                       const char *body)
{
    wsip_sbuf_init(s);
    int rc = wsip_response_build(s, req, st, reason, CSTR(tag), CSTR(extra), CSTR(body));
    ck_assert_int_eq(rc, 0);
    ck_assert(!s->oom);
    struct wsip_msg *r = parse_fr(s->p, s->len, WSIP_FRAMING_STREAM);
    ck_assert(!r->is_request);
    ck_assert_uint_eq(r->status, st);
    ck_assert_msg(r->has_clen && r->clen == r->body.len, "Content-Length %u (has %d) vs body %zu",
                  r->clen, r->has_clen, r->body.len);
    return r;
}

START_TEST(response_register_200)
{
    struct loaded f1 = load("flows/rfc3261/24.1-F1-REGISTER.sip");
    struct loaded f2 = load("flows/rfc3261/24.1-F2-200-OK.sip");
    struct wsip_sbuf s;
    struct wsip_msg *r = build_response(&s, f1.m, 200, NULL, "2493k59kd", "", "");
    STR_EQ(wsip_str_make(s.p, s.len),
           CSTR("SIP/2.0 200 OK\r\n"
                "Via: SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bKnashds7\r\n"
                "From: Bob <sip:bob@biloxi.com>;tag=456248\r\n"
                "To: Bob <sip:bob@biloxi.com>;tag=2493k59kd\r\n"
                "Call-ID: 843817637684230@998sdasdh09\r\n"
                "CSeq: 1826 REGISTER\r\n"
                "Content-Length: 0\r\n"
                "\r\n"));
    STR_EQ(r->reason, f2.m->reason);
    /* F2's Via also carries received=, which the transport adds on receipt
     * (sec 18.2.1); the rest of it is the request's Via */
    struct wsip_via a, c;
    parse_via(r, wsip_msg_hdr(r, WSIP_HDR_VIA), &a);
    parse_via(f2.m, wsip_msg_hdr(f2.m, WSIP_HDR_VIA), &c);
    STR_EQ(a.host, c.host);
    ck_assert_uint_eq(a.port, c.port);
    STR_EQ(a.branch, c.branch);
    STR_EQ(a.transport_str, c.transport_str);
    ck_assert_uint_eq(wsip_msg_hdr_count(r, WSIP_HDR_VIA), wsip_msg_hdr_count(f2.m, WSIP_HDR_VIA));
    STR_EQ(wsip_msg_hdr(r, WSIP_HDR_FROM)->value, wsip_msg_hdr(f2.m, WSIP_HDR_FROM)->value);
    STR_EQ(wsip_msg_hdr(r, WSIP_HDR_TO)->value, wsip_msg_hdr(f2.m, WSIP_HDR_TO)->value);
    STR_EQ(wsip_msg_call_id(r), wsip_msg_call_id(f2.m));
    STR_EQ(wsip_msg_hdr(r, WSIP_HDR_CSEQ)->value, wsip_msg_hdr(f2.m, WSIP_HDR_CSEQ)->value);
    const struct wsip_addr *to = wsip_msg_to(r, NULL);
    ck_assert_ptr_nonnull(to);
    STR_EQ(to->tag, CSTR("2493k59kd"));
    wsip_msg_unref(r);
    wsip_sbuf_free(&s);
    unload(&f1);
    unload(&f2);
}
END_TEST

static const char ts_req[] = "INVITE sip:bob@biloxi.com SIP/2.0\r\n"
                             "v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1,"
                             " SIP/2.0/TCP b.example.com;branch=z9hG4bK2\r\n"
                             "Via: SIP/2.0/UDP c.example.com;branch=z9hG4bK3\r\n"
                             "f: <sip:alice@example.com>;tag=88\r\n"
                             "t: <sip:bob@biloxi.com>\r\n"
                             "i: ts1@example.com\r\n"
                             "CSeq: 7 INVITE\r\n"
                             "Timestamp: 54.1 0.5\r\n"
                             "Max-Forwards: 70\r\n"
                             "l: 0\r\n"
                             "\r\n";

START_TEST(response_100_trying)
{
    struct wsip_msg *req = parse(ts_req);
    struct wsip_sbuf s;
    /* a tag is given but a 100 never carries one (sec 8.2.6.2) */
    struct wsip_msg *r = build_response(&s, req, 100, NULL, "xyz", "", "");
    STR_EQ(wsip_str_make(s.p, s.len), CSTR("SIP/2.0 100 Trying\r\n"
                                           "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
                                           "Via: SIP/2.0/TCP b.example.com;branch=z9hG4bK2\r\n"
                                           "Via: SIP/2.0/UDP c.example.com;branch=z9hG4bK3\r\n"
                                           "From: <sip:alice@example.com>;tag=88\r\n"
                                           "To: <sip:bob@biloxi.com>\r\n"
                                           "Call-ID: ts1@example.com\r\n"
                                           "CSeq: 7 INVITE\r\n"
                                           "Timestamp: 54.1 0.5\r\n"
                                           "Content-Length: 0\r\n"
                                           "\r\n"));
    const struct wsip_addr *to = wsip_msg_to(r, NULL);
    ck_assert_ptr_nonnull(to);
    ck_assert(!to->has_tag);
    ck_assert_uint_eq(wsip_msg_hdr_count(r, WSIP_HDR_VIA), 3);
    wsip_msg_unref(r);
    wsip_sbuf_free(&s);

    /* Timestamp is for 100 only; 180 gets the tag */
    r = build_response(&s, req, 180, NULL, "xyz", "", "");
    ck_assert_uint_eq(wsip_msg_hdr_count(r, WSIP_HDR_TIMESTAMP), 0);
    STR_EQ(wsip_msg_hdr(r, WSIP_HDR_TO)->value, CSTR("<sip:bob@biloxi.com>;tag=xyz"));
    STR_EQ(r->reason, CSTR("Ringing"));
    wsip_msg_unref(r);
    wsip_sbuf_free(&s);
    wsip_msg_unref(req);
}
END_TEST

START_TEST(response_407_extra_body)
{
    struct loaded f1 = load("flows/rfc3261/24.2-F1-INVITE.sip");
    const char *pa = "Digest realm=\"atlanta.com\", nonce=\"wf84f1ceczx41ae6cbe5aea9c8e88d359\","
                     " qop=\"auth\", algorithm=MD5";
    char extra[512];
    snprintf(extra, sizeof(extra), "Proxy-Authenticate: %s\r\nServer: wsip\r\n", pa);
    struct wsip_sbuf s;
    struct wsip_msg *r = build_response(&s, f1.m, 407, NULL, "ab12", extra, "hello");
    STR_EQ(r->reason, CSTR("Proxy Authentication Required"));
    ck_assert_uint_eq(r->clen, 5);
    STR_EQ(r->body, CSTR("hello"));
    STR_EQ(wsip_msg_hdr(r, WSIP_HDR_PROXY_AUTHENTICATE)->value, CSTR(pa));
    STR_EQ(wsip_msg_hdr(r, WSIP_HDR_SERVER)->value, CSTR("wsip"));
    STR_EQ(wsip_msg_hdr(r, WSIP_HDR_TO)->value, CSTR("Bob <sip:bob@biloxi.com>;tag=ab12"));
    STR_EQ(wsip_msg_hdr(r, WSIP_HDR_VIA)->value, wsip_msg_hdr(f1.m, WSIP_HDR_VIA)->value);
    wsip_msg_unref(r);
    wsip_sbuf_free(&s);

    /* an explicit reason wins; a To with a tag keeps it (and gets no other) */
    struct loaded bye = load("flows/rfc3261/24.2-F13-BYE.sip");
    r = build_response(&s, bye.m, 200, "Fine", "other", "", "");
    STR_EQ(r->reason, CSTR("Fine"));
    STR_EQ(wsip_msg_hdr(r, WSIP_HDR_TO)->value, wsip_msg_hdr(bye.m, WSIP_HDR_TO)->value);
    wsip_msg_unref(r);
    wsip_sbuf_free(&s);
    unload(&bye);
    unload(&f1);
}
END_TEST

START_TEST(response_refused)
{
    struct loaded f1 = load("flows/rfc3261/24.2-F1-INVITE.sip");
    struct loaded ok = load("flows/rfc3261/24.2-F9-200-OK.sip");
    struct wsip_sbuf s;
    wsip_sbuf_init(&s);
    struct wsip_str e = WSIP_STR_NULL;
    ck_assert_int_eq(wsip_response_build(&s, f1.m, 99, NULL, e, e, e), -1);
    ck_assert_int_eq(wsip_response_build(&s, f1.m, 700, NULL, e, e, e), -1);
    ck_assert_int_eq(wsip_response_build(&s, ok.m, 200, NULL, e, e, e), -1);
    ck_assert_int_eq(wsip_response_build(&s, f1.m, 200, "O\r\nX: y", e, e, e), -1);
    ck_assert_int_eq(wsip_response_build(&s, f1.m, 200, NULL, CSTR("a b"), e, e), -1);
    ck_assert_int_eq(wsip_response_build(&s, f1.m, 200, NULL, e, CSTR("X: y"), e), -1);
    ck_assert_uint_eq(s.len, 0);
    /* unknown code: empty reason phrase, still a valid status line */
    ck_assert_int_eq(wsip_response_build(&s, f1.m, 299, NULL, e, e, e), 0);
    ck_assert_msg(strncmp(s.p, "SIP/2.0 299 \r\n", 14) == 0, "got [%s]", esc(s.p, s.len));
    wsip_sbuf_free(&s);
    unload(&f1);
    unload(&ok);
}
END_TEST

START_TEST(status_reasons)
{
    static const struct {
        unsigned st;
        const char *text;
    } t[] = {
        {100, "Trying"},
        {181, "Call Is Being Forwarded"},
        {200, "OK"},
        {204, "No Notification"},
        {302, "Moved Temporarily"},
        {380, "Alternative Service"},
        {408, "Request Timeout"},
        {412, "Conditional Request Failed"},
        {414, "Request-URI Too Long"},
        {417, "Unknown Resource-Priority"},
        {422, "Session Interval Too Small"},
        {423, "Interval Too Brief"},
        {428, "Use Identity Header"},
        {429, "Provide Referrer Identity"},
        {430, "Flow Failed"},
        {433, "Anonymity Disallowed"},
        {439, "First Hop Lacks Outbound Support"},
        {440, "Max-Breadth Exceeded"},
        {469, "Bad Info Package"},
        {470, "Consent Needed"},
        {481, "Call/Transaction Does Not Exist"},
        {483, "Too Many Hops"},
        {489, "Bad Event"},
        {493, "Undecipherable"},
        {494, "Security Agreement Required"},
        {504, "Server Time-out"},
        {505, "Version Not Supported"},
        {513, "Message Too Large"},
        {580, "Precondition Failure"},
        {600, "Busy Everywhere"},
        {604, "Does Not Exist Anywhere"},
        {606, "Not Acceptable"},
        {607, "Unwanted"},
        {608, "Rejected"},
        {0, ""},
        {199, ""},
        {299, ""},
        {999, ""},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        ck_assert_str_eq(wsip_status_reason(t[i].st), t[i].text);
}
END_TEST

/* ------------------------------------------------- (d) edits */

static const char via3_head[] = "OPTIONS sip:x@example.com SIP/2.0\r\n";
static const char *const via3_vals[3] = {
    "SIP/2.0/UDP a.example.com;branch=z9hG4bK1",
    "SIP/2.0/TCP b.example.com:5070;branch=z9hG4bK2",
    "SIP/2.0/WS c.invalid;branch=z9hG4bK3;rport",
};
static const char via3_tail[] = "From: <sip:a@example.com>;tag=1\r\n"
                                "To: <sip:x@example.com>\r\n"
                                "Call-ID: c1\r\n"
                                "CSeq: 1 OPTIONS\r\n"
                                "Max-Forwards: 70\r\n"
                                "Content-Length: 0\r\n"
                                "\r\n";

/* The message with the Via values not in gone, as the builder must make it. */
static void via3_text(char *out, size_t cap, const bool gone[3])
{
    size_t k = (size_t)snprintf(out, cap, "%s", via3_head);
    bool any = false;
    for (int i = 0; i < 3; i++) {
        if (gone[i])
            continue;
        k += (size_t)snprintf(out + k, cap - k, "%s%s", any ? ", " : "Via: ", via3_vals[i]);
        any = true;
    }
    if (any)
        k += (size_t)snprintf(out + k, cap - k, "\r\n");
    snprintf(out + k, cap - k, "%s", via3_tail);
}

START_TEST(remove_via_every_order)
{
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    char msg[1024], want[1024];
    const bool none[3] = {false, false, false};
    via3_text(msg, sizeof(msg), none);
    struct wsip_msg *m = parse(msg);
    ck_assert_uint_eq(wsip_msg_hdr_count(m, WSIP_HDR_VIA), 3);
    for (int p = 0; p < 6; p++) {
        struct wsip_builder b;
        wsip_builder_init(&b, m);
        bool gone[3] = {false, false, false};
        for (int step = 0; step < 3; step++) {
            int v = perms[p][step];
            ck_assert_int_eq(wsip_builder_remove_hdr(&b, nth_hdr(m, WSIP_HDR_VIA, (unsigned)v)), 0);
            gone[v] = true;
            via3_text(want, sizeof(want), gone);
            expect_out(&b, want);
            /* what is left parses back to the remaining values */
            size_t len;
            char *out = out_bytes(&b, &len);
            struct wsip_msg *o = parse_fr(out, len, WSIP_FRAMING_DATAGRAM);
            unsigned left = 0;
            for (int i = 0; i < 3; i++) {
                if (gone[i])
                    continue;
                STR_EQ(nth_hdr(o, WSIP_HDR_VIA, left)->value, CSTR(via3_vals[i]));
                left++;
            }
            ck_assert_uint_eq(wsip_msg_hdr_count(o, WSIP_HDR_VIA), left);
            wsip_msg_unref(o);
            free(out);
        }
        /* removing any of them again is refused and changes nothing */
        for (unsigned v = 0; v < 3; v++)
            ck_assert_int_eq(wsip_builder_remove_hdr(&b, nth_hdr(m, WSIP_HDR_VIA, v)), -1);
        expect_out(&b, want);
        wsip_builder_free(&b);
    }
    wsip_msg_unref(m);
}
END_TEST

static const char folded_req[] = "BYE sip:bob@example.com SIP/2.0\r\n"
                                 "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
                                 "Route: <sip:p1.example.com;lr>,\r\n"
                                 "  <sip:p2.example.com;lr> ,\r\n"
                                 "\t<sip:p3.example.com;lr>\r\n"
                                 "Call-ID: f1\r\n"
                                 "\r\n";

static void folded_case(int remove_mask, const char *want_route)
{
    struct wsip_msg *m = parse(folded_req);
    ck_assert_uint_eq(wsip_msg_hdr_count(m, WSIP_HDR_ROUTE), 3);
    struct wsip_builder b;
    wsip_builder_init(&b, m);
    for (unsigned i = 0; i < 3; i++)
        if (remove_mask & (1 << i))
            ck_assert_int_eq(wsip_builder_remove_hdr(&b, nth_hdr(m, WSIP_HDR_ROUTE, i)), 0);
    char want[512];
    snprintf(want, sizeof(want),
             "BYE sip:bob@example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
             "%s"
             "Call-ID: f1\r\n"
             "\r\n",
             want_route);
    expect_out(&b, want);
    wsip_builder_free(&b);
    wsip_msg_unref(m);
}

START_TEST(remove_from_folded_line)
{
    folded_case(0, "Route: <sip:p1.example.com;lr>,\r\n"
                   "  <sip:p2.example.com;lr> ,\r\n"
                   "\t<sip:p3.example.com;lr>\r\n");
    folded_case(1, "Route: <sip:p2.example.com;lr> ,\r\n"
                   "\t<sip:p3.example.com;lr>\r\n");
    folded_case(2, "Route: <sip:p1.example.com;lr>,\r\n"
                   "  <sip:p3.example.com;lr>\r\n");
    folded_case(4, "Route: <sip:p1.example.com;lr>,\r\n"
                   "  <sip:p2.example.com;lr>\r\n");
    folded_case(3, "Route: <sip:p3.example.com;lr>\r\n");
    folded_case(5, "Route: <sip:p2.example.com;lr>\r\n");
    folded_case(6, "Route: <sip:p1.example.com;lr>\r\n");
    folded_case(7, "");
}
END_TEST

START_TEST(compact_forms)
{
    static const char req[] = "MESSAGE sip:bob@example.com SIP/2.0\r\n"
                              "v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1,"
                              "SIP/2.0/UDP b.example.com;branch=z9hG4bK2\r\n"
                              "f: <sip:a@example.com>;tag=1\r\n"
                              "t: <sip:bob@example.com>\r\n"
                              "i: cf1\r\n"
                              "CSeq: 2 MESSAGE\r\n"
                              "c: text/plain\r\n"
                              "l: 0\r\n"
                              "\r\n";
    struct wsip_msg *m = parse(req);
    ck_assert_uint_eq(wsip_msg_hdr_count(m, WSIP_HDR_VIA), 2);
    struct wsip_builder b;
    wsip_builder_init(&b, m);
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, nth_hdr(m, WSIP_HDR_VIA, 1)), 0);
    ck_assert_int_eq(
        wsip_builder_prepend_via(&b, CSTR("SIP/2.0/WSS p.example.com;branch=z9hG4bKp")), 0);
    ck_assert_int_eq(wsip_builder_set_body(&b, CSTR("hello")), 0);
    expect_out(&b, "MESSAGE sip:bob@example.com SIP/2.0\r\n"
                   "Via: SIP/2.0/WSS p.example.com;branch=z9hG4bKp\r\n"
                   "v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
                   "f: <sip:a@example.com>;tag=1\r\n"
                   "t: <sip:bob@example.com>\r\n"
                   "i: cf1\r\n"
                   "CSeq: 2 MESSAGE\r\n"
                   "c: text/plain\r\n"
                   "l: 5\r\n"
                   "\r\n"
                   "hello");
    size_t len;
    char *out = out_bytes(&b, &len);
    struct wsip_msg *o = parse_fr(out, len, WSIP_FRAMING_STREAM);
    ck_assert(o->has_clen);
    ck_assert_uint_eq(o->clen, 5);
    STR_EQ(o->body, CSTR("hello"));
    wsip_msg_unref(o);
    free(out);

    /* a second set_body replaces the first; removing "l:" is refused now */
    ck_assert_int_eq(wsip_builder_set_body(&b, CSTR("")), 0);
    ck_assert_int_eq(
        wsip_builder_replace_hdr(&b, wsip_msg_hdr(m, WSIP_HDR_CONTENT_LENGTH), CSTR("3")), -1);
    out = out_bytes(&b, &len);
    ck_assert_msg(len >= 8 && memcmp(out + len - 8, "l: 0\r\n\r\n", 8) == 0, "got [%s]",
                  esc(out, len));
    free(out);
    wsip_builder_free(&b);
    wsip_msg_unref(m);
}
END_TEST

START_TEST(set_body_without_clen)
{
    struct loaded f1 = load("flows/rfc7118/8.2-F1-INVITE.sip");
    struct wsip_builder b;
    wsip_builder_init(&b, f1.m);
    const char *sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
    ck_assert_int_eq(wsip_builder_set_body(&b, CSTR(sdp)), 0);
    size_t len;
    char *out = out_bytes(&b, &len);
    char want[1024];
    snprintf(want, sizeof(want), "%.*sContent-Length: %zu\r\n\r\n%s", (int)f1.m->hdr_end, f1.text,
             strlen(sdp), sdp);
    STR_EQ(wsip_str_make(out, len), CSTR(want));
    struct wsip_msg *o = parse_fr(out, len, WSIP_FRAMING_STREAM);
    STR_EQ(o->body, CSTR(sdp));
    wsip_msg_unref(o);
    free(out);
    wsip_builder_free(&b);
    unload(&f1);
}
END_TEST

/* RFC 7118 messages carry no Content-Length (fine on WebSocket); relayed
 * to UDP/TCP they need one (RFC 3261 sec 18.3). */
START_TEST(ensure_clen_rfc7118)
{
    static const char *const files[] = {
        "8.1-F3-REGISTER.sip", "8.1-F4-200-OK.sip", "8.2-F1-INVITE.sip", "8.2-F2-100-Trying.sip",
        "8.2-F3-INVITE.sip",   "8.2-F4-200-OK.sip", "8.2-F5-200-OK.sip", "8.2-F6-ACK.fixed.sip",
        "8.2-F7-ACK.sip",      "8.2-F8-BYE.sip",    "8.2-F9-BYE.sip",    "8.2-F10-200-OK.sip",
        "8.2-F11-200-OK.sip",
    };
    char rel[256], want[4096];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(rel, sizeof(rel), "flows/rfc7118/%s", files[i]);
        struct loaded l = load(rel);
        ck_assert_msg(!l.m->has_clen, "%s has a Content-Length", rel);
        struct wsip_builder b;
        wsip_builder_init(&b, l.m);
        ck_assert_int_eq(wsip_builder_ensure_content_length(&b), 0);
        size_t len;
        char *out = out_bytes(&b, &len);
        snprintf(want, sizeof(want), "%.*sContent-Length: 0\r\n%s", (int)l.m->hdr_end, l.text,
                 l.text + l.m->hdr_end);
        STR_EQ(wsip_str_make(out, len), CSTR(want));
        /* a stream parser needs Content-Length: this now frames */
        struct wsip_msg *o = parse_fr(out, len, WSIP_FRAMING_STREAM);
        ck_assert(o->has_clen);
        ck_assert_uint_eq(o->clen, 0);
        wsip_msg_unref(o);
        free(out);
        wsip_builder_free(&b);
        unload(&l);
    }
    /* with one already there nothing changes */
    struct loaded l = load("flows/rfc3261/24.2-F1-INVITE.sip");
    struct wsip_builder b;
    wsip_builder_init(&b, l.m);
    ck_assert_int_eq(wsip_builder_ensure_content_length(&b), 0);
    expect_out(&b, l.text);
    wsip_builder_free(&b);
    unload(&l);
    /* kept as written, even when not in its shortest form */
    static const char zeros[] = "OPTIONS sip:x@example.com SIP/2.0\r\n"
                                "Content-Length: 003\r\nCall-ID: e2\r\n\r\nabc";
    struct wsip_msg *z = parse(zeros);
    wsip_builder_init(&b, z);
    ck_assert_int_eq(wsip_builder_ensure_content_length(&b), 0);
    expect_out(&b, zeros);
    wsip_builder_free(&b);
    wsip_msg_unref(z);
    /* ... unless it was removed: then one is put back, at the end */
    struct wsip_msg *m = parse("OPTIONS sip:x@example.com SIP/2.0\r\n"
                               "l: 3\r\nCall-ID: e1\r\n\r\nabc");
    wsip_builder_init(&b, m);
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, wsip_msg_hdr(m, WSIP_HDR_CONTENT_LENGTH)), 0);
    ck_assert_int_eq(wsip_builder_ensure_content_length(&b), 0);
    expect_out(&b, "OPTIONS sip:x@example.com SIP/2.0\r\n"
                   "Call-ID: e1\r\nContent-Length: 3\r\n\r\nabc");
    wsip_builder_free(&b);
    wsip_msg_unref(m);
}
END_TEST

START_TEST(max_forwards)
{
    static const char fmt[] = "OPTIONS sip:x@example.com SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
                              "%s"
                              "Call-ID: mf\r\n"
                              "\r\n";
    static const struct {
        const char *in, *out;
        int rc;
    } t[] = {
        {"Max-Forwards: 70\r\n", "Max-Forwards: 69\r\n", 0},
        {"Max-Forwards:   1  \r\n", "Max-Forwards:   0  \r\n", 0},
        {"Max-Forwards: 10\r\n", "Max-Forwards: 9\r\n", 0},
        {"Max-Forwards: 255\r\n", "Max-Forwards: 254\r\n", 0},
        {"Max-Forwards: 0\r\n", "Max-Forwards: 0\r\n", -1},
        {"Max-Forwards: ten\r\n", "Max-Forwards: ten\r\n", -1},
    };
    char in[512], want[512];
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(in, sizeof(in), fmt, t[i].in);
        snprintf(want, sizeof(want), fmt, t[i].out);
        struct wsip_msg *m = parse(in);
        struct wsip_builder b;
        wsip_builder_init(&b, m);
        int rc = wsip_builder_decrement_max_forwards(&b);
        ck_assert_msg(rc == t[i].rc, "[%s]: rc %d want %d", esc(t[i].in, strlen(t[i].in)), rc,
                      t[i].rc);
        expect_out(&b, want);
        /* once per forward: a second call is refused */
        ck_assert_int_eq(wsip_builder_decrement_max_forwards(&b), -1);
        expect_out(&b, want);
        wsip_builder_free(&b);
        wsip_msg_unref(m);
    }
    /* absent: 70 added at the end of the headers (sec 16.6 step 3) */
    snprintf(in, sizeof(in), fmt, "");
    struct wsip_msg *m = parse(in);
    struct wsip_builder b;
    wsip_builder_init(&b, m);
    ck_assert_int_eq(wsip_builder_decrement_max_forwards(&b), 0);
    expect_out(&b, "OPTIONS sip:x@example.com SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
                   "Call-ID: mf\r\n"
                   "Max-Forwards: 70\r\n"
                   "\r\n");
    ck_assert_int_eq(wsip_builder_decrement_max_forwards(&b), -1);
    wsip_builder_free(&b);
    wsip_msg_unref(m);
}
END_TEST

START_TEST(overlapping_edits)
{
    struct loaded f1 = load("flows/rfc7118/8.2-F1-INVITE.sip");
    struct wsip_msg *m = f1.m;
    struct wsip_hdr *route = wsip_msg_hdr(m, WSIP_HDR_ROUTE);
    struct wsip_hdr *sup1 = nth_hdr(m, WSIP_HDR_SUPPORTED, 1);
    struct wsip_hdr *contact = wsip_msg_hdr(m, WSIP_HDR_CONTACT);
    struct wsip_builder b;
    wsip_builder_init(&b, m);
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, route), 0);
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, route), -1);
    ck_assert_int_eq(wsip_builder_replace_hdr(&b, route, CSTR("<sip:x>")), -1);
    ck_assert_int_eq(wsip_builder_replace_hdr(&b, sup1, CSTR("timer")), 0);
    ck_assert_int_eq(wsip_builder_replace_hdr(&b, sup1, CSTR("100rel")), -1);
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, sup1), -1);
    ck_assert_int_eq(wsip_builder_set_ruri(&b, CSTR("sip:bob@192.0.2.9")), 0);
    ck_assert_int_eq(wsip_builder_set_ruri(&b, CSTR("sip:bob@192.0.2.10")), -1);
    /* not a header of this message */
    struct wsip_hdr fake = *contact;
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, &fake), -1);
    /* the refused edits left no trace */
    size_t len;
    char *out = out_bytes(&b, &len);
    char want[2048];
    const char *rl = strstr(f1.text, "Route:"), *cl = strstr(f1.text, "Contact:");
    const char *sl = strstr(f1.text, "Supported:");
    snprintf(want, sizeof(want),
             "INVITE sip:bob@192.0.2.9 SIP/2.0\r\n%.*sSupported: path, timer, gruu\r\n%s",
             (int)(sl - strchr(f1.text, '\n') - 1), strchr(f1.text, '\n') + 1, cl);
    ck_assert_ptr_nonnull(rl);
    STR_EQ(wsip_str_make(out, len), CSTR(want));
    free(out);
    wsip_builder_free(&b);

    /* set_body owns Content-Length: an earlier replace of it conflicts */
    struct loaded f3 = load("flows/rfc3261/24.2-F1-INVITE.sip");
    wsip_builder_init(&b, f3.m);
    struct wsip_hdr *cl3 = wsip_msg_hdr(f3.m, WSIP_HDR_CONTENT_LENGTH);
    ck_assert_int_eq(wsip_builder_replace_hdr(&b, cl3, CSTR("1")), 0);
    ck_assert_int_eq(wsip_builder_set_body(&b, CSTR("x")), -1);
    wsip_builder_free(&b);
    /* a removed Content-Length is appended again by set_body */
    wsip_builder_init(&b, f3.m);
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, cl3), 0);
    ck_assert_int_eq(wsip_builder_set_body(&b, CSTR("x")), 0);
    out = out_bytes(&b, &len);
    ck_assert_msg(len > 22 && memcmp(out + len - 22, "Content-Length: 1\r\n\r\nx", 22) == 0,
                  "got [%s]", esc(out, len));
    ck_assert_msg(strstr(out, "Content-Length: 0") == NULL, "got [%s]", esc(out, len));
    free(out);
    wsip_builder_free(&b);
    unload(&f3);
    unload(&f1);
}
END_TEST

START_TEST(inserts_keep_call_order)
{
    struct loaded f1 = load("flows/rfc3261/24.2-F1-INVITE.sip");
    struct wsip_builder b;
    wsip_builder_init(&b, f1.m);
    ck_assert_int_eq(wsip_builder_prepend_via(&b, CSTR("SIP/2.0/UDP one;branch=z9hG4bK1")), 0);
    ck_assert_int_eq(wsip_builder_append_hdr(&b, "X-A", CSTR("1")), 0);
    ck_assert_int_eq(wsip_builder_prepend_via(&b, CSTR("SIP/2.0/UDP two;branch=z9hG4bK2")), 0);
    ck_assert_int_eq(wsip_builder_append_hdr(&b, "X-B", CSTR("folded\r\n value")), 0);
    /* the original top Via goes; the new ones stay above its place */
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, wsip_msg_hdr(f1.m, WSIP_HDR_VIA)), 0);
    /* header injection and bad names are refused */
    ck_assert_int_eq(wsip_builder_append_hdr(&b, "X-C", CSTR("a\r\nEvil: 1")), -1);
    ck_assert_int_eq(wsip_builder_append_hdr(&b, "X-C", CSTR("a\nb")), -1);
    ck_assert_int_eq(wsip_builder_append_hdr(&b, "X C", CSTR("a")), -1);
    ck_assert_int_eq(wsip_builder_append_hdr(&b, "", CSTR("a")), -1);
    ck_assert_int_eq(wsip_builder_prepend_hdr(&b, WSIP_HDR_OTHER, CSTR("a")), -1);
    ck_assert_int_eq(wsip_builder_set_ruri(&b, CSTR("sip:a b")), -1);
    size_t len;
    char *out = out_bytes(&b, &len);
    const char *mf = strstr(f1.text, "Max-Forwards:");
    char want[2048];
    snprintf(want, sizeof(want),
             "INVITE sip:bob@biloxi.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP one;branch=z9hG4bK1\r\n"
             "Via: SIP/2.0/UDP two;branch=z9hG4bK2\r\n"
             "%.*sX-A: 1\r\nX-B: folded\r\n value\r\n\r\n",
             (int)(f1.text + f1.m->hdr_end - mf), mf);
    STR_EQ(wsip_str_make(out, len), CSTR(want));
    free(out);
    wsip_builder_free(&b);
    unload(&f1);
}
END_TEST

START_TEST(replace_list_element_and_ruri)
{
    struct loaded f1 = load("flows/rfc7118/8.1-F3-REGISTER.sip");
    struct wsip_builder b;
    wsip_builder_init(&b, f1.m);
    ck_assert_int_eq(
        wsip_builder_replace_hdr(&b, nth_hdr(f1.m, WSIP_HDR_SUPPORTED, 1), CSTR("foo")), 0);
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, nth_hdr(f1.m, WSIP_HDR_SUPPORTED, 2)), 0);
    ck_assert_int_eq(wsip_builder_set_ruri(&b, CSTR("sip:registrar.example.com")), 0);
    size_t len;
    char *out = out_bytes(&b, &len);
    struct wsip_msg *o = parse_fr(out, len, WSIP_FRAMING_DATAGRAM);
    ck_assert_msg(strstr(out, "\r\nSupported: path, foo\r\n") != NULL, "got [%s]", esc(out, len));
    STR_EQ(o->ruri_str, CSTR("sip:registrar.example.com"));
    ck_assert_uint_eq(wsip_msg_hdr_count(o, WSIP_HDR_SUPPORTED), 2);
    /* the folded Contact with its params is untouched */
    STR_EQ(wsip_msg_hdr(o, WSIP_HDR_CONTACT)->value, wsip_msg_hdr(f1.m, WSIP_HDR_CONTACT)->value);
    wsip_msg_unref(o);
    free(out);
    wsip_builder_free(&b);

    /* responses have no Request-URI */
    struct loaded r = load("flows/rfc7118/8.1-F4-200-OK.sip");
    wsip_builder_init(&b, r.m);
    ck_assert_int_eq(wsip_builder_set_ruri(&b, CSTR("sip:x@example.com")), -1);
    expect_out(&b, r.text);
    wsip_builder_free(&b);
    unload(&r);
    unload(&f1);
}
END_TEST

/* An empty value still has a place: right after the colon and its SP. */
START_TEST(replace_empty_value)
{
    struct wsip_msg *m = parse("OPTIONS sip:x@example.com SIP/2.0\r\n"
                               "Subject: \r\nAllow:\r\nCall-ID: a\r\n\r\n");
    struct wsip_builder b;
    wsip_builder_init(&b, m);
    ck_assert_int_eq(wsip_builder_replace_hdr(&b, wsip_msg_hdr(m, WSIP_HDR_SUBJECT), CSTR("hi")),
                     0);
    ck_assert_int_eq(
        wsip_builder_replace_hdr(&b, wsip_msg_hdr(m, WSIP_HDR_ALLOW), CSTR("INVITE, ACK")), 0);
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, wsip_msg_hdr(m, WSIP_HDR_SUBJECT)), -1);
    expect_out(&b, "OPTIONS sip:x@example.com SIP/2.0\r\n"
                   "Subject: hi\r\nAllow:INVITE, ACK\r\nCall-ID: a\r\n\r\n");
    wsip_builder_free(&b);
    wsip_builder_init(&b, m);
    ck_assert_int_eq(wsip_builder_remove_hdr(&b, wsip_msg_hdr(m, WSIP_HDR_ALLOW)), 0);
    expect_out(&b, "OPTIONS sip:x@example.com SIP/2.0\r\nSubject: \r\nCall-ID: a\r\n\r\n");
    wsip_builder_free(&b);
    wsip_msg_unref(m);
}
END_TEST

START_TEST(iov_too_small)
{
    struct loaded f1 = load("flows/rfc3261/24.2-F1-INVITE.sip");
    struct wsip_builder b;
    wsip_builder_init(&b, f1.m);
    struct iovec iov[16];
    size_t total = 0;
    ck_assert_int_eq(wsip_builder_iov(&b, iov, 0, &total), -1);
    ck_assert_int_eq(wsip_builder_iov(&b, iov, 1, &total), 1);
    /* raw | Via | raw | MF value | raw | appended | raw */
    ck_assert_int_eq(wsip_builder_prepend_via(&b, CSTR("SIP/2.0/UDP p;branch=z9hG4bKx")), 0);
    ck_assert_int_eq(wsip_builder_decrement_max_forwards(&b), 0);
    ck_assert_int_eq(wsip_builder_append_hdr(&b, "X-A", CSTR("1")), 0);
    ck_assert_int_eq(wsip_builder_iov(&b, iov, 6, &total), -1);
    ck_assert_int_eq(wsip_builder_iov(&b, iov, 7, &total), 7);
    ck_assert_uint_eq(total, f1.len + strlen("Via: SIP/2.0/UDP p;branch=z9hG4bKx\r\nX-A: 1\r\n"));
    wsip_builder_free(&b);
    unload(&f1);
}
END_TEST

START_TEST(builder_holds_reference)
{
    char *copy = strdup(ts_req);
    struct wsip_msg *m = parse(copy);
    struct wsip_builder b;
    wsip_builder_init(&b, m);
    ck_assert_uint_eq(m->refs, 2);
    wsip_msg_unref(m);
    ck_assert_int_eq(wsip_builder_prepend_via(&b, CSTR("SIP/2.0/UDP p;branch=z9hG4bKx")), 0);
    size_t len;
    char *out = out_bytes(&b, &len);
    ck_assert_uint_eq(len, strlen(ts_req) + strlen("Via: SIP/2.0/UDP p;branch=z9hG4bKx\r\n"));
    free(out);
    wsip_builder_free(&b);
    free(copy);
}
END_TEST

START_TEST(sbuf_growth_and_oom)
{
    struct wsip_sbuf s;
    wsip_sbuf_init(&s);
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    wsip_sbuf_printf(&s, "%s|%d", big, 42);
    ck_assert_uint_eq(s.len, 1002);
    ck_assert_str_eq(s.p + 999, "|42");
    wsip_sbuf_puts(&s, "ab");
    wsip_sbuf_append(&s, "cd", 2);
    ck_assert_uint_eq(s.len, 1006);
    ck_assert_str_eq(s.p + 1002, "abcd");
    /* after a failed allocation further appends are ignored */
    s.oom = true;
    wsip_sbuf_puts(&s, "more");
    wsip_sbuf_printf(&s, "%d", 7);
    ck_assert_uint_eq(s.len, 1006);
    wsip_sbuf_free(&s);
    ck_assert_ptr_null(s.p);
    ck_assert_uint_eq(s.len, 0);
}
END_TEST

static Suite *build_suite(void)
{
    Suite *s = suite_create("build");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, roundtrip_flows);
    tcase_add_test(tc, remove_each_value_torture);
    tcase_add_test(tc, forward_rfc3261_f1_f3);
    tcase_add_test(tc, forward_rfc7118_f1_f3);
    tcase_add_test(tc, forward_rfc7118_f6_route);
    tcase_add_test(tc, response_register_200);
    tcase_add_test(tc, response_100_trying);
    tcase_add_test(tc, response_407_extra_body);
    tcase_add_test(tc, response_refused);
    tcase_add_test(tc, status_reasons);
    tcase_add_test(tc, remove_via_every_order);
    tcase_add_test(tc, remove_from_folded_line);
    tcase_add_test(tc, compact_forms);
    tcase_add_test(tc, set_body_without_clen);
    tcase_add_test(tc, ensure_clen_rfc7118);
    tcase_add_test(tc, max_forwards);
    tcase_add_test(tc, overlapping_edits);
    tcase_add_test(tc, inserts_keep_call_order);
    tcase_add_test(tc, replace_list_element_and_ruri);
    tcase_add_test(tc, replace_empty_value);
    tcase_add_test(tc, iov_too_small);
    tcase_add_test(tc, builder_holds_reference);
    tcase_add_test(tc, sbuf_growth_and_oom);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(build_suite());
}

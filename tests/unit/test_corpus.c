/* Conformance: every RFC 4475 / RFC 5118 torture message gets the verdict its
 * EXPECT.tsv gives, the fields those RFC sections talk about come out right,
 * and every flows/ message parses. Reads ../shared/corpus at run time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wsip/sip.h"

/* Outcome of parse (datagram framing) + receive validation. */
struct outcome {
    bool parsed;     /* wsip_msg_parse returned OK */
    bool valid;      /* ... and wsip_msg_validate accepted it */
    unsigned status; /* error status (0 = drop) when not valid */
    const char *why; /* reason phrase when not valid */
    struct wsip_msg *m;
    char *bytes;
};

static struct outcome run(const char *rel)
{
    struct outcome o = {0};
    size_t len, used;
    o.bytes = read_file(corpus_path(rel), &len);
    struct wsip_sip_limits lim;
    wsip_sip_limits_default(&lim);
    struct wsip_sip_err err = {0};
    int rc = wsip_msg_parse(&o.m, NULL, o.bytes, len, WSIP_FRAMING_DATAGRAM, &lim, &used, &err);
    o.parsed = rc == WSIP_PARSE_OK;
    if (o.parsed && wsip_msg_validate(o.m, &err) == 0) {
        o.valid = true;
        return o;
    }
    o.status = err.status;
    o.why = err.reason;
    return o;
}

static void done(struct outcome *o)
{
    wsip_msg_unref(o->m);
    free(o->bytes);
}

/* Our choice where RFC 4475 allows either a 400 or a liberal repair. We
 * repair nothing: every such message is refused, except baddate, whose only
 * defect is in a header (Date) that a proxy does not interpret. */
static bool accepted_when_optional(const char *file)
{
    return strstr(file, "baddate") != NULL;
}

static void check_row(const char *dir, const char *file, const char *verdict)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "%s/%s", dir, file);
    struct outcome o = run(rel);
    const char *got = o.valid ? "accepted" : o.parsed ? "refused after parse" : "refused by parser";

    if (!strncmp(verdict, "parse-ok-but-semantically-invalid", 33)) {
        /* the parser accepts; the receive check flags it with 400 */
        ck_assert_msg(o.parsed, "%s: %s: parser must accept, got %s (%s)", rel, verdict, got,
                      o.why);
        ck_assert_msg(!o.valid && o.status == 400,
                      "%s: %s: expected 400 from validation, got %s %u", rel, verdict, got,
                      o.status);
    } else if (!strncmp(verdict, "parse-ok", 8)) {
        ck_assert_msg(o.valid, "%s: %s: expected accepted, got %s: %u %s", rel, verdict, got,
                      o.status, o.why ? o.why : "");
    } else if (!strcmp(verdict, "reject-400")) {
        ck_assert_msg(!o.valid && o.status == 400, "%s: expected 400, got %s %u", rel, got,
                      o.status);
    } else if (!strcmp(verdict, "reject-505")) {
        ck_assert_msg(!o.valid && o.status == 505, "%s: expected 505, got %s %u", rel, got,
                      o.status);
    } else if (!strcmp(verdict, "reject-501-or-400")) {
        ck_assert_msg(!o.valid && (o.status == 400 || o.status == 501),
                      "%s: expected 501 or 400, got %s %u", rel, got, o.status);
    } else if (!strcmp(verdict, "reject-400-or-repair")) {
        if (accepted_when_optional(file))
            ck_assert_msg(o.valid, "%s: chosen to accept, got %s %u %s", rel, got, o.status, o.why);
        else
            ck_assert_msg(!o.valid && o.status == 400, "%s: chosen to refuse with 400, got %s %u",
                          rel, got, o.status);
    } else if (!strcmp(verdict, "discard")) {
        ck_assert_msg(!o.valid && o.status == 0, "%s: a bad response must be dropped, got %s %u",
                      rel, got, o.status);
    } else if (!strcmp(verdict, "framing-error")) {
        ck_assert_msg(!o.parsed && o.status == 400,
                      "%s: unusable Content-Length must fail framing, got %s %u", rel, got,
                      o.status);
    } else if (!strcmp(verdict, "undefined")) {
        /* no expectation: it must only not crash */
    } else {
        ck_abort_msg("%s: unknown verdict '%s' in EXPECT.tsv", rel, verdict);
    }
    if (!o.valid)
        ck_assert_msg(o.why && *o.why, "%s: a refusal needs a reason phrase", rel);
    done(&o);
}

static void check_expect_file(const char *dir, int verdict_col, int min_rows)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "%s/EXPECT.tsv", dir);
    struct tsv_row *rows;
    int n = tsv_read(corpus_path(rel), &rows);
    ck_assert_int_ge(n, min_rows);
    for (int i = 0; i < n; i++) {
        ck_assert_int_gt(rows[i].n, verdict_col);
        check_row(dir, rows[i].f[0], rows[i].f[verdict_col]);
    }
    tsv_free(rows, n);
}

START_TEST(rfc4475_verdicts)
{
    check_expect_file("rfc4475", 4, 50);
}
END_TEST

START_TEST(rfc5118_verdicts)
{
    check_expect_file("rfc5118", 3, 12);
}
END_TEST

START_TEST(flows_parse)
{
    struct tsv_row *rows;
    int n = tsv_read(corpus_path("flows/EXPECT.tsv"), &rows);
    ck_assert_int_ge(n, 30);
    for (int i = 0; i < n; i++) {
        char rel[256];
        snprintf(rel, sizeof(rel), "flows/%s", rows[i].f[0]);
        struct outcome o = run(rel);
        if (!strcmp(rows[i].f[3], "parse-ok"))
            ck_assert_msg(o.valid, "%s: expected accepted, got %u %s", rel, o.status, o.why);
        else /* the dangling-comma ACK: we are strict */
            ck_assert_msg(!o.valid && o.status == 400, "%s: expected 400 (strict), got %s", rel,
                          o.valid ? "accepted" : "other");
        /* over WS (no Content-Length needed) they frame the same way */
        if (o.valid) {
            struct wsip_msg *ws;
            struct wsip_sip_err err;
            size_t used;
            ck_assert_int_eq(wsip_msg_parse(&ws, NULL, o.m->raw.p, o.m->raw.len, WSIP_FRAMING_WS,
                                            NULL, &used, &err),
                             WSIP_PARSE_OK);
            wsip_msg_unref(ws);
        }
        done(&o);
    }
    tsv_free(rows, n);
}
END_TEST

#define ck_str(view, lit)                                                                          \
    ck_assert_msg(wsip_str_eq((view), wsip_str_cstr(lit)), "expected '%s', got '%.*s'", (lit),     \
                  (int)(view).len, (view).p ? (view).p : "")

START_TEST(esc01_unescaped_user)
{
    struct outcome o = run("rfc4475/valid/esc01.sip");
    ck_assert(o.valid);
    char buf[128];
    const struct wsip_uri *u = wsip_msg_ruri(o.m, NULL);
    ck_assert_ptr_nonnull(u);
    ck_assert_int_ge(wsip_uri_user_unescaped(u, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "sips:user@example.com");
    ck_str(u->host, "example.net");
    const struct wsip_addr *to = wsip_msg_to(o.m, NULL);
    ck_assert_int_ge(wsip_uri_user_unescaped(&to->uri, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "user");
    const struct wsip_addr *from = wsip_msg_from(o.m, NULL);
    ck_assert_int_ge(wsip_uri_user_unescaped(&from->uri, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "I have spaces");
    done(&o);
}
END_TEST

START_TEST(escnull_keeps_nul)
{
    struct outcome o = run("rfc4475/valid/escnull.sip");
    ck_assert(o.valid);
    char buf[64];
    const struct wsip_addr *to = wsip_msg_to(o.m, NULL);
    long n = wsip_uri_user_unescaped(&to->uri, buf, sizeof(buf));
    ck_assert_int_eq(n, 11);
    ck_assert_mem_eq(buf, "null-\0-null", 11);
    done(&o);
}
END_TEST

START_TEST(intmeth_method_and_uri)
{
    struct outcome o = run("rfc4475/valid/intmeth.sip");
    ck_assert(o.valid);
    ck_str(o.m->method, "!interesting-Method0123456789_*+`.%indeed'~");
    ck_assert_int_eq(o.m->method_id, WSIP_METHOD_OTHER);
    const struct wsip_uri *u = wsip_msg_ruri(o.m, NULL);
    ck_str(u->user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    ck_str(u->password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    ck_str(u->host, "example.com");
    const struct wsip_cseq *c = wsip_msg_cseq(o.m, NULL);
    ck_str(c->method, "!interesting-Method0123456789_*+`.%indeed'~");
    const struct wsip_via *v = wsip_msg_top_via(o.m, NULL);
    ck_str(v->branch, "z9hG4bK-.!%66*_+`'~");
    ck_str(wsip_msg_call_id(o.m), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    done(&o);
}
END_TEST

START_TEST(wsinv_folding_and_lws)
{
    struct outcome o = run("rfc4475/valid/wsinv.sip");
    ck_assert(o.valid);
    ck_assert_int_eq(wsip_msg_max_forwards(o.m), 68);
    const struct wsip_cseq *c = wsip_msg_cseq(o.m, NULL);
    ck_assert_uint_eq(c->num, 9);
    ck_str(c->method, "INVITE");
    const struct wsip_addr *to = wsip_msg_to(o.m, NULL);
    ck_str(to->tag, "1918181833n");
    const struct wsip_addr *from = wsip_msg_from(o.m, NULL);
    ck_str(from->tag, "98asjd8");
    ck_str(from->display, "\"J Rosenberg \\\\\\\"\"");
    ck_assert_uint_eq(wsip_msg_hdr_count(o.m, WSIP_HDR_VIA), 3);
    struct wsip_hdr *h = wsip_msg_hdr(o.m, WSIP_HDR_VIA);
    const struct wsip_via *v = wsip_hdr_via(o.m, h, NULL);
    ck_str(v->transport_str, "UDP");
    ck_str(v->host, "192.0.2.2");
    ck_str(v->branch, "390skdjuw");
    h = wsip_msg_hdr_next(o.m, h);
    v = wsip_hdr_via(o.m, h, NULL);
    ck_str(v->transport_str, "TCP");
    ck_str(v->host, "spindle.example.com");
    ck_str(v->branch, "z9hG4bK9ikj8");
    v = wsip_hdr_via(o.m, wsip_msg_hdr_next(o.m, h), NULL);
    ck_str(v->host, "192.168.255.111");
    ck_str(v->branch, "z9hG4bK30239");
    const struct wsip_addr *ct = wsip_hdr_addr(o.m, wsip_msg_hdr(o.m, WSIP_HDR_CONTACT), NULL);
    ck_assert_ptr_nonnull(ct);
    struct wsip_str q;
    ck_assert(wsip_param_find(ct->params, "q", &q));
    ck_str(q, "0.33");
    ck_assert(wsip_param_find(ct->params, "newparam", &q));
    ck_str(q, "newvalue");
    ck_assert_ptr_nonnull(wsip_msg_hdr(o.m, WSIP_HDR_SUBJECT)); /* "s :" compact, empty */
    ck_assert_uint_eq(wsip_msg_hdr(o.m, WSIP_HDR_SUBJECT)->value.len, 0);
    struct wsip_hdr *nf = wsip_msg_hdr_by_name(o.m, wsip_str_cstr("newfangledheader"));
    ck_assert_ptr_nonnull(nf);
    ck_assert_uint_eq(o.m->body.len, 150);
    done(&o);
}
END_TEST

START_TEST(longreq_long_headers)
{
    struct outcome o = run("rfc4475/valid/longreq.sip");
    ck_assert(o.valid);
    const struct wsip_addr *to = wsip_msg_to(o.m, NULL);
    ck_assert_uint_gt(to->display.len, 70);
    ck_assert_uint_eq(to->uri.port, 6000);
    ck_assert(wsip_param_find(to->uri.params, "unknownparam1", NULL));
    ck_assert_uint_ge(wsip_msg_hdr_count(o.m, WSIP_HDR_VIA), 30);
    const struct wsip_via *v = wsip_msg_top_via(o.m, NULL);
    ck_assert_ptr_nonnull(v);
    ck_str(v->host, "sip33.example.com"); /* "Via", "v" and "V" all count */
    ck_assert_uint_eq(v->branch.len, 0);
    ck_assert_uint_gt(o.m->body.len, 0);
    ck_assert_uint_eq(o.m->body.len, o.m->clen);
    done(&o);
}
END_TEST

START_TEST(lwsdisp_display_names)
{
    struct outcome o = run("rfc4475/valid/lwsdisp.sip");
    ck_assert(o.valid);
    const struct wsip_addr *from = wsip_msg_from(o.m, NULL);
    ck_str(from->display, "caller");
    ck_assert(from->angle);
    ck_str(from->uri.user, "caller");
    ck_str(from->tag, "323");
    done(&o);
}
END_TEST

START_TEST(semiuri_user_with_semicolon)
{
    struct outcome o = run("rfc4475/valid/semiuri.sip");
    ck_assert(o.valid);
    const struct wsip_uri *u = wsip_msg_ruri(o.m, NULL);
    ck_str(u->user, "user;par=u%40example.net");
    ck_str(u->host, "example.com");
    ck_assert_uint_eq(u->params.len, 0);
    done(&o);
}
END_TEST

START_TEST(transports_all_vias)
{
    struct outcome o = run("rfc4475/valid/transports.sip");
    ck_assert(o.valid);
    static const char *const names[] = {"UDP", "SCTP", "TLS", "UNKNOWN", "TCP"};
    static const enum wsip_transport ids[] = {WSIP_TP_UDP, WSIP_TP_SCTP, WSIP_TP_TLS,
                                              WSIP_TP_UNKNOWN, WSIP_TP_TCP};
    int i = 0;
    for (struct wsip_hdr *h = wsip_msg_hdr(o.m, WSIP_HDR_VIA); h; h = wsip_msg_hdr_next(o.m, h)) {
        ck_assert_int_lt(i, 5);
        const struct wsip_via *v = wsip_hdr_via(o.m, h, NULL);
        ck_assert_ptr_nonnull(v);
        ck_str(v->transport_str, names[i]);
        ck_assert_int_eq(v->transport, ids[i]);
        i++;
    }
    ck_assert_int_eq(i, 5);
    done(&o);
}
END_TEST

START_TEST(reason_phrases)
{
    struct outcome o = run("rfc4475/valid/unreason.sip");
    ck_assert(o.valid);
    ck_assert_uint_eq(o.m->status, 200);
    ck_assert(wsip_str_has_prefix_case(o.m->reason, "= 2**3 * 5**2 "));
    ck_assert_uint_gt(o.m->reason.len, 40); /* UTF-8 kept whole */
    done(&o);
    o = run("rfc4475/valid/noreason.sip");
    ck_assert(o.valid);
    ck_assert_uint_eq(o.m->status, 100);
    ck_assert_uint_eq(o.m->reason.len, 0);
    done(&o);
}
END_TEST

START_TEST(rfc5118_ipv6_references)
{
    struct outcome o = run("rfc5118/valid/ipv6-good.sip");
    ck_assert(o.valid);
    const struct wsip_uri *u = wsip_msg_ruri(o.m, NULL);
    ck_str(u->host, "[2001:db8::10]");
    ck_assert_int_eq(u->host_type, WSIP_HOST_IPV6);
    ck_assert(!u->has_port);
    const struct wsip_addr *c = wsip_hdr_addr(o.m, wsip_msg_hdr(o.m, WSIP_HDR_CONTACT), NULL);
    ck_str(c->uri.host, "[2001:db8::1]");
    const struct wsip_via *v = wsip_msg_top_via(o.m, NULL);
    ck_assert_int_eq(v->host_type, WSIP_HOST_IPV6);
    done(&o);

    /* 4.3: the "port" inside the brackets is part of the address */
    o = run("rfc5118/valid/port-ambiguous.sip");
    u = wsip_msg_ruri(o.m, NULL);
    ck_str(u->host, "[2001:db8::10:5070]");
    ck_assert(!u->has_port);
    done(&o);
    o = run("rfc5118/valid/port-unambiguous.sip");
    u = wsip_msg_ruri(o.m, NULL);
    ck_str(u->host, "[2001:db8::10]");
    ck_assert(u->has_port);
    ck_assert_uint_eq(u->port, 5070);
    done(&o);

    /* 4.5: received with and without brackets */
    o = run("rfc5118/valid/via-received-param-with-delim.sip");
    v = wsip_msg_top_via(o.m, NULL);
    ck_str(v->received, "[2001:db8::9:255]");
    done(&o);
    o = run("rfc5118/valid/via-received-param-no-delim.sip");
    v = wsip_msg_top_via(o.m, NULL);
    ck_str(v->received, "2001:db8::9:255");
    done(&o);

    /* 4.9: IPv4-mapped, port after the bracket */
    o = run("rfc5118/valid/ipv4-mapped-ipv6.sip");
    ck_assert(o.valid);
    c = wsip_hdr_addr(o.m, wsip_msg_hdr(o.m, WSIP_HDR_CONTACT), NULL);
    ck_str(c->uri.host, "[::ffff:192.0.2.2]");
    done(&o);

    /* 4.10: three colons tolerated, two colons fine */
    o = run("rfc5118/valid/ipv6-bug-abnf-3-colons.sip");
    ck_assert(o.valid);
    ck_str(wsip_msg_ruri(o.m, NULL)->host, "[2001:db8:::192.0.2.1]");
    done(&o);

    /* 4.2: unbracketed IPv6 in a URI is refused with 400 */
    o = run("rfc5118/invalid/ipv6-bad.sip");
    ck_assert(!o.valid);
    ck_assert_uint_eq(o.status, 400);
    done(&o);
}
END_TEST

START_TEST(mult_ip_in_header)
{
    struct outcome o = run("rfc5118/valid/mult-ip-in-header.sip");
    ck_assert(o.valid);
    int n6 = 0, n4 = 0;
    for (struct wsip_hdr *h = wsip_msg_hdr(o.m, WSIP_HDR_VIA); h; h = wsip_msg_hdr_next(o.m, h)) {
        const struct wsip_via *v = wsip_hdr_via(o.m, h, NULL);
        ck_assert_ptr_nonnull(v);
        n6 += v->host_type == WSIP_HOST_IPV6;
        n4 += v->host_type == WSIP_HOST_IPV4;
    }
    ck_assert_int_ge(n6, 1);
    ck_assert_int_ge(n4, 1);
    done(&o);
}
END_TEST

/* RFC 4475 sec 3.3: syntactically valid, answered with an error by the
 * application. The semantic check must say which. */
struct semantic_case {
    const char *file;
    enum wsip_role role;
    unsigned status; /* 0: no objection */
};

START_TEST(semantic_checks)
{
    static const char *const supported[] = {"path", "outbound", "gruu", NULL};
    static const struct semantic_case cases[] = {
        {"rfc4475/valid/unkscm.sip", WSIP_ROLE_PROXY, 416},
        {"rfc4475/valid/novelsc.sip", WSIP_ROLE_PROXY, 416},
        {"rfc4475/valid/unksm2.sip", WSIP_ROLE_PROXY, 0},
        {"rfc4475/valid/unksm2.sip", WSIP_ROLE_REGISTRAR, 400},
        {"rfc4475/valid/bext01.sip", WSIP_ROLE_UAS, 420},
        {"rfc4475/valid/bext01.sip", WSIP_ROLE_PROXY, 420},
        {"rfc4475/valid/zeromf.sip", WSIP_ROLE_PROXY, 483},
        {"rfc4475/valid/zeromf.sip", WSIP_ROLE_UAS, 0},
        {"rfc4475/valid/wsinv.sip", WSIP_ROLE_PROXY, 0},
        {"rfc4475/valid/esc01.sip", WSIP_ROLE_UAS, 0},
        {"rfc4475/valid/cparam01.sip", WSIP_ROLE_REGISTRAR, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct outcome o = run(cases[i].file);
        ck_assert_msg(o.valid, "%s must pass validation", cases[i].file);
        struct wsip_sip_err err = {0};
        int rc = wsip_msg_check_request(o.m, cases[i].role, supported, &err);
        if (cases[i].status == 0)
            ck_assert_msg(rc == 0, "%s role %d: expected no objection, got %u %s", cases[i].file,
                          cases[i].role, err.status, err.reason);
        else
            ck_assert_msg(rc < 0 && err.status == cases[i].status,
                          "%s role %d: expected %u, got rc %d status %u", cases[i].file,
                          cases[i].role, cases[i].status, rc, err.status);
        done(&o);
    }
}
END_TEST

START_TEST(semantic_invalid_reasons)
{
    struct outcome o = run("rfc4475/invalid/insuf.sip");
    ck_assert(o.parsed && !o.valid);
    ck_assert_str_eq(o.why, "Missing To header");
    done(&o);
    o = run("rfc4475/invalid/multi01.sip");
    ck_assert(o.parsed && !o.valid);
    ck_assert_msg(strstr(o.why, "Duplicate") != NULL, "got %s", o.why);
    done(&o);
    o = run("rfc4475/invalid/mismatch01.sip");
    ck_assert_str_eq(o.why, "CSeq method does not match the request method");
    done(&o);
}
END_TEST

START_TEST(cparam_contact_params)
{
    /* cparam01: unknownparam is a contact param (outside <>) ... */
    struct outcome o = run("rfc4475/valid/cparam01.sip");
    ck_assert(o.valid);
    const struct wsip_addr *c = wsip_hdr_addr(o.m, wsip_msg_hdr(o.m, WSIP_HDR_CONTACT), NULL);
    ck_assert(!c->angle);
    ck_assert(wsip_param_find(c->params, "unknownparam", NULL));
    ck_assert(!wsip_param_find(c->uri.params, "unknownparam", NULL));
    done(&o);
    /* ... cparam02: inside <> it belongs to the URI */
    o = run("rfc4475/valid/cparam02.sip");
    ck_assert(o.valid);
    c = wsip_hdr_addr(o.m, wsip_msg_hdr(o.m, WSIP_HDR_CONTACT), NULL);
    ck_assert(c->angle);
    ck_assert(wsip_param_find(c->uri.params, "unknownparam", NULL));
    done(&o);
    /* regescrt: the escaped ?Route= header stays in the contact URI */
    o = run("rfc4475/valid/regescrt.sip");
    ck_assert(o.valid);
    c = wsip_hdr_addr(o.m, wsip_msg_hdr(o.m, WSIP_HDR_CONTACT), NULL);
    ck_assert(wsip_str_has_prefix_case(c->uri.headers, "Route="));
    done(&o);
}
END_TEST

START_TEST(dblreq_and_inv2543_bodies)
{
    /* dblreq: Content-Length 0, trailing octets ignored on a datagram */
    struct outcome o = run("rfc4475/valid/dblreq.sip");
    ck_assert(o.valid);
    ck_assert_uint_eq(o.m->body.len, 0);
    ck_str(o.m->method, "REGISTER");
    done(&o);
    /* inv2543: no Content-Length, the body runs to the end of the datagram */
    o = run("rfc4475/valid/inv2543.sip");
    ck_assert(o.valid);
    ck_assert(!o.m->has_clen);
    ck_assert_uint_eq(o.m->body.len, 105);
    done(&o);
    /* mpart01: binary body kept byte for byte */
    o = run("rfc4475/valid/mpart01.sip");
    ck_assert(o.valid);
    ck_assert_uint_eq(o.m->body.len, o.m->clen);
    done(&o);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("corpus");
    TCase *tc = tcase_create("corpus");
    tcase_add_test(tc, rfc4475_verdicts);
    tcase_add_test(tc, rfc5118_verdicts);
    tcase_add_test(tc, flows_parse);
    tcase_add_test(tc, esc01_unescaped_user);
    tcase_add_test(tc, escnull_keeps_nul);
    tcase_add_test(tc, intmeth_method_and_uri);
    tcase_add_test(tc, wsinv_folding_and_lws);
    tcase_add_test(tc, longreq_long_headers);
    tcase_add_test(tc, lwsdisp_display_names);
    tcase_add_test(tc, semiuri_user_with_semicolon);
    tcase_add_test(tc, transports_all_vias);
    tcase_add_test(tc, reason_phrases);
    tcase_add_test(tc, rfc5118_ipv6_references);
    tcase_add_test(tc, mult_ip_in_header);
    tcase_add_test(tc, semantic_checks);
    tcase_add_test(tc, semantic_invalid_reasons);
    tcase_add_test(tc, cparam_contact_params);
    tcase_add_test(tc, dblreq_and_inv2543_bodies);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}

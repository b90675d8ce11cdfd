/* CANCEL and hop-by-hop ACK built from scratch (RFC 3261 sec 9.1, 17.1.1.3). */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wsip/sip.h"

#define ck_str(view, lit)                                                                          \
    ck_assert_msg(wsip_str_eq((view), wsip_str_cstr(lit)), "expected '%s', got '%.*s'", (lit),     \
                  (int)(view).len, (view).p ? (view).p : "")

static const char INVITE[] = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
                             "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks\r\n"
                             "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKold\r\n"
                             "Max-Forwards: 69\r\n"
                             "Route: <sip:proxy.example.com;transport=ws;lr>\r\n"
                             "Route: <sip:edge.example.com;lr>\r\n"
                             "To: <sip:bob@biloxi.example.com>\r\n"
                             "From: <sip:alice@example.com>;tag=asdyka899\r\n"
                             "Call-ID: asidkj3ss\r\n"
                             "CSeq: 7 INVITE\r\n"
                             "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\r\n"
                             "Content-Type: application/sdp\r\n"
                             "Content-Length: 3\r\n\r\nv=0";

static const char RESP_486[] = "SIP/2.0 486 Busy Here\r\n"
                               "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks\r\n"
                               "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKold\r\n"
                               "To: <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
                               "From: <sip:alice@example.com>;tag=asdyka899\r\n"
                               "Call-ID: asidkj3ss\r\n"
                               "CSeq: 7 INVITE\r\n"
                               "Content-Length: 0\r\n\r\n";

static struct wsip_msg *parse(const char *s)
{
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    ck_assert_int_eq(
        wsip_msg_parse(&m, NULL, s, strlen(s), WSIP_FRAMING_DATAGRAM, NULL, &used, &err),
        WSIP_PARSE_OK);
    return m;
}

/* Parses the built bytes with stream framing: they must be complete. */
static struct wsip_msg *reparse(struct wsip_sbuf *out)
{
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    ck_assert_int_eq(
        wsip_msg_parse(&m, NULL, out->p, out->len, WSIP_FRAMING_STREAM, NULL, &used, &err),
        WSIP_PARSE_OK);
    ck_assert_uint_eq(used, out->len);
    ck_assert_int_eq(wsip_msg_validate(m, &err), 0);
    return m;
}

START_TEST(cancel_matches_request)
{
    struct wsip_msg *inv = parse(INVITE);
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    ck_assert_int_eq(wsip_request_build_cancel(&out, inv,
                                               wsip_str_cstr("Reason: SIP;cause=200;text=\"Call "
                                                             "completed elsewhere\"\r\n")),
                     0);
    struct wsip_msg *c = reparse(&out);
    ck_assert_int_eq(c->method_id, WSIP_METHOD_CANCEL);
    ck_str(c->ruri_str, "sip:bob@biloxi.example.com");
    ck_assert_uint_eq(wsip_msg_hdr_count(c, WSIP_HDR_VIA), 1);
    ck_str(wsip_msg_hdr(c, WSIP_HDR_VIA)->value,
           "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks");
    ck_str(wsip_msg_hdr(c, WSIP_HDR_TO)->value, "<sip:bob@biloxi.example.com>");
    ck_str(wsip_msg_hdr(c, WSIP_HDR_FROM)->value, "<sip:alice@example.com>;tag=asdyka899");
    ck_str(wsip_msg_call_id(c), "asidkj3ss");
    const struct wsip_cseq *cs = wsip_msg_cseq(c, NULL);
    ck_assert_uint_eq(cs->num, 7);
    ck_str(cs->method, "CANCEL");
    ck_assert_uint_eq(wsip_msg_hdr_count(c, WSIP_HDR_ROUTE), 2);
    ck_assert_int_eq(wsip_msg_max_forwards(c), 69);
    ck_assert_ptr_nonnull(wsip_msg_hdr_by_name(c, wsip_str_cstr("Reason")));
    ck_assert_ptr_null(wsip_msg_hdr(c, WSIP_HDR_CONTACT));
    ck_assert_uint_eq(c->body.len, 0);
    wsip_msg_unref(c);
    wsip_sbuf_free(&out);

    /* no CANCEL for an ACK or a CANCEL; extra must be whole lines */
    wsip_sbuf_init(&out);
    ck_assert_int_eq(wsip_request_build_cancel(&out, inv, wsip_str_cstr("Reason: x")), -1);
    ck_assert_uint_eq(out.len, 0);
    wsip_sbuf_free(&out);
    wsip_msg_unref(inv);
}
END_TEST

START_TEST(ack_for_non_2xx)
{
    struct wsip_msg *inv = parse(INVITE), *resp = parse(RESP_486);
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    ck_assert_int_eq(wsip_request_build_ack(&out, inv, resp), 0);
    struct wsip_msg *a = reparse(&out);
    ck_assert_int_eq(a->method_id, WSIP_METHOD_ACK);
    ck_str(a->ruri_str, "sip:bob@biloxi.example.com");
    ck_str(wsip_msg_hdr(a, WSIP_HDR_TO)->value, "<sip:bob@biloxi.example.com>;tag=8321234356");
    ck_assert_uint_eq(wsip_msg_hdr_count(a, WSIP_HDR_VIA), 1);
    ck_str(wsip_msg_top_via(a, NULL)->branch, "z9hG4bK56sdasks");
    const struct wsip_cseq *cs = wsip_msg_cseq(a, NULL);
    ck_assert_uint_eq(cs->num, 7);
    ck_str(cs->method, "ACK");
    ck_assert_uint_eq(wsip_msg_hdr_count(a, WSIP_HDR_ROUTE), 2);
    wsip_msg_unref(a);
    wsip_sbuf_free(&out);

    /* a 2xx is acknowledged end to end, not by the transaction */
    static const char ok[] = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                             "To: <sip:b@h>;tag=1\r\nFrom: <sip:a@h>;tag=2\r\nCall-ID: x\r\n"
                             "CSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n";
    struct wsip_msg *r200 = parse(ok);
    wsip_sbuf_init(&out);
    ck_assert_int_eq(wsip_request_build_ack(&out, inv, r200), -1);
    ck_assert_int_eq(wsip_request_build_ack(&out, resp, resp), -1);
    wsip_sbuf_free(&out);
    wsip_msg_unref(r200);
    wsip_msg_unref(resp);
    wsip_msg_unref(inv);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("build_req");
    TCase *tc = tcase_create("build_req");
    tcase_add_test(tc, cancel_matches_request);
    tcase_add_test(tc, ack_for_non_2xx);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}

/* Message parser: framing per transport, limits, header split, lookups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wsip/sip.h"

#define ck_str(view, lit)                                                                          \
    ck_assert_msg(wsip_str_eq((view), wsip_str_cstr(lit)), "expected '%s', got '%.*s'", (lit),     \
                  (int)(view).len, (view).p ? (view).p : "")

static const char REGISTER_WS[] =
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf;rport\r\n"
    "Max-Forwards: 70\r\n"
    "To: <sip:alice@example.com>\r\n"
    "From: \"Alice\" <sip:alice@example.com>;tag=65bnmj.34asd\r\n"
    "Call-ID: aiuy7k9njasd\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Supported: path, outbound, gruu\r\n"
    "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>;reg-id=1\r\n"
    "  ;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"\r\n"
    "\r\n";

static const char MESSAGE_CL[] = "MESSAGE sip:bob@example.com SIP/2.0\r\n"
                                 "v: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
                                 "f: <sip:alice@example.com>;tag=1\r\n"
                                 "t: <sip:bob@example.com>\r\n"
                                 "i: abc@192.0.2.1\r\n"
                                 "CSeq: 2 MESSAGE\r\n"
                                 "c: text/plain\r\n"
                                 "l: 5\r\n"
                                 "\r\n"
                                 "hello";

static int parse(struct wsip_msg **m, const char *p, size_t len, enum wsip_framing fr,
                 const struct wsip_sip_limits *lim, size_t *used, struct wsip_sip_err *err)
{
    return wsip_msg_parse(m, NULL, p, len, fr, lim, used, err);
}

START_TEST(ws_message_without_content_length)
{
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    ck_assert_int_eq(
        parse(&m, REGISTER_WS, strlen(REGISTER_WS), WSIP_FRAMING_WS, NULL, &used, &err),
        WSIP_PARSE_OK);
    ck_assert_uint_eq(used, strlen(REGISTER_WS));
    ck_assert(m->is_request);
    ck_assert_int_eq(m->method_id, WSIP_METHOD_REGISTER);
    ck_assert(!m->has_clen);
    ck_assert_uint_eq(m->body.len, 0);
    const struct wsip_via *v = wsip_msg_top_via(m, NULL);
    ck_assert_int_eq(v->transport, WSIP_TP_WSS);
    ck_str(v->host, "df7jal23ls0d.invalid");
    ck_assert(v->has_rport);
    ck_assert_uint_eq(v->rport, 0);
    const struct wsip_addr *c = wsip_hdr_addr(m, wsip_msg_hdr(m, WSIP_HDR_CONTACT), NULL);
    ck_assert_ptr_nonnull(c);
    ck_str(c->uri.transport, "ws");
    struct wsip_str inst;
    ck_assert(wsip_param_find(c->params, "+sip.instance", &inst));
    ck_str(inst, "\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"");
    ck_assert(wsip_msg_has_token(m, WSIP_HDR_SUPPORTED, "outbound"));
    ck_assert(wsip_msg_has_token(m, WSIP_HDR_SUPPORTED, "GRUU"));
    ck_assert(!wsip_msg_has_token(m, WSIP_HDR_SUPPORTED, "timer"));
    ck_assert_uint_eq(wsip_msg_hdr_count(m, WSIP_HDR_SUPPORTED), 3);
    struct wsip_sip_err verr;
    ck_assert_int_eq(wsip_msg_validate(m, &verr), 0);
    wsip_msg_unref(m);
}
END_TEST

START_TEST(ws_content_length_must_match)
{
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    /* one byte more than Content-Length says */
    char buf[sizeof(MESSAGE_CL) + 1];
    memcpy(buf, MESSAGE_CL, sizeof(MESSAGE_CL) - 1);
    buf[sizeof(MESSAGE_CL) - 1] = '!';
    ck_assert_int_eq(parse(&m, buf, sizeof(buf), WSIP_FRAMING_WS, NULL, &used, &err),
                     WSIP_PARSE_BAD);
    ck_assert_uint_eq(err.status, 400);
    ck_assert_str_eq(err.reason, "Content-Length does not match the body");
    /* the same bytes as a datagram: trailing octet ignored */
    ck_assert_int_eq(parse(&m, buf, sizeof(buf), WSIP_FRAMING_DATAGRAM, NULL, &used, &err),
                     WSIP_PARSE_OK);
    ck_str(m->body, "hello");
    ck_assert_uint_eq(used, sizeof(MESSAGE_CL) - 1);
    wsip_msg_unref(m);
    /* exact: fine */
    ck_assert_int_eq(parse(&m, MESSAGE_CL, strlen(MESSAGE_CL), WSIP_FRAMING_WS, NULL, &used, &err),
                     WSIP_PARSE_OK);
    wsip_msg_unref(m);
}
END_TEST

START_TEST(datagram_content_length_too_big)
{
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    ck_assert_int_eq(
        parse(&m, MESSAGE_CL, strlen(MESSAGE_CL) - 1, WSIP_FRAMING_DATAGRAM, NULL, &used, &err),
        WSIP_PARSE_BAD);
    ck_assert_uint_eq(err.status, 400);
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(compact_forms)
{
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    ck_assert_int_eq(
        parse(&m, MESSAGE_CL, strlen(MESSAGE_CL), WSIP_FRAMING_STREAM, NULL, &used, &err),
        WSIP_PARSE_OK);
    ck_assert_uint_eq(used, strlen(MESSAGE_CL));
    ck_str(wsip_msg_call_id(m), "abc@192.0.2.1");
    ck_str(wsip_msg_from(m, NULL)->tag, "1");
    ck_assert_ptr_nonnull(wsip_msg_to(m, NULL));
    ck_str(wsip_msg_ctype(m, NULL)->subtype, "plain");
    ck_assert_uint_eq(m->clen, 5);
    ck_assert_int_eq(wsip_msg_top_via(m, NULL)->port, 5060);
    wsip_msg_unref(m);

    /* every compact letter maps to its header */
    static const struct {
        const char *c;
        enum wsip_hdr_id id;
    } map[] = {
        {"i", WSIP_HDR_CALL_ID},
        {"m", WSIP_HDR_CONTACT},
        {"e", WSIP_HDR_CONTENT_ENCODING},
        {"l", WSIP_HDR_CONTENT_LENGTH},
        {"c", WSIP_HDR_CONTENT_TYPE},
        {"f", WSIP_HDR_FROM},
        {"s", WSIP_HDR_SUBJECT},
        {"k", WSIP_HDR_SUPPORTED},
        {"t", WSIP_HDR_TO},
        {"v", WSIP_HDR_VIA},
        {"o", WSIP_HDR_EVENT},
        {"u", WSIP_HDR_ALLOW_EVENTS},
        {"r", WSIP_HDR_REFER_TO},
        {"b", WSIP_HDR_REFERRED_BY},
        {"x", WSIP_HDR_SESSION_EXPIRES},
        {"y", WSIP_HDR_IDENTITY},
        {"V", WSIP_HDR_VIA},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        ck_assert_msg(wsip_hdr_id_from_name(wsip_str_cstr(map[i].c)) == map[i].id,
                      "compact '%s' maps to %d", map[i].c,
                      wsip_hdr_id_from_name(wsip_str_cstr(map[i].c)));
    ck_assert_int_eq(wsip_hdr_id_from_name(wsip_str_cstr("cAlL-iD")), WSIP_HDR_CALL_ID);
    ck_assert_int_eq(wsip_hdr_id_from_name(wsip_str_cstr("WWW-Authenticate")),
                     WSIP_HDR_WWW_AUTHENTICATE);
    ck_assert_int_eq(wsip_hdr_id_from_name(wsip_str_cstr("X-Custom")), WSIP_HDR_OTHER);
    ck_assert_int_eq(wsip_hdr_id_from_name(wsip_str_cstr("q")), WSIP_HDR_OTHER);
    ck_assert_str_eq(wsip_hdr_name(WSIP_HDR_RECORD_ROUTE), "Record-Route");
}
END_TEST

START_TEST(stream_partial_and_pipelined)
{
    /* two messages back to back, after a keepalive CRLFCRLF */
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "\r\n\r\n%s%s", MESSAGE_CL, MESSAGE_CL);
    size_t total = (size_t)n, one = strlen(MESSAGE_CL);
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;

    ck_assert_uint_eq(wsip_stream_skip_crlf(buf, total), 4);
    /* every prefix shorter than the first message asks for more */
    for (size_t cut = 0; cut < 4 + one; cut++) {
        int rc = parse(&m, buf, cut, WSIP_FRAMING_STREAM, NULL, &used, &err);
        ck_assert_msg(rc == WSIP_PARSE_AGAIN, "prefix %zu: rc %d (%s)", cut, rc,
                      err.reason ? err.reason : "");
        ck_assert_ptr_null(m);
    }
    /* once the headers are in, it knows how much it needs */
    size_t hdr_only = 4 + one - 5;
    ck_assert_int_eq(parse(&m, buf, hdr_only, WSIP_FRAMING_STREAM, NULL, &used, &err),
                     WSIP_PARSE_AGAIN);
    ck_assert_uint_eq(used, 4 + one);

    ck_assert_int_eq(parse(&m, buf, total, WSIP_FRAMING_STREAM, NULL, &used, &err), WSIP_PARSE_OK);
    ck_assert_uint_eq(used, 4 + one);
    ck_str(m->body, "hello");
    wsip_msg_unref(m);
    ck_assert_int_eq(parse(&m, buf + used, total - used, WSIP_FRAMING_STREAM, NULL, &used, &err),
                     WSIP_PARSE_OK);
    ck_assert_uint_eq(used, one);
    wsip_msg_unref(m);
}
END_TEST

START_TEST(stream_requires_content_length)
{
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    ck_assert_int_eq(
        parse(&m, REGISTER_WS, strlen(REGISTER_WS), WSIP_FRAMING_STREAM, NULL, &used, &err),
        WSIP_PARSE_BAD);
    ck_assert_uint_eq(err.status, 400);
    ck_assert_str_eq(err.reason, "Missing Content-Length");
}
END_TEST

START_TEST(limits)
{
    struct wsip_sip_limits lim;
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;

    wsip_sip_limits_default(&lim);
    ck_assert_uint_eq(lim.max_msg_size, 65536);
    ck_assert_uint_eq(lim.max_headers, 128);

    lim.max_msg_size = 100;
    ck_assert_int_eq(
        parse(&m, MESSAGE_CL, strlen(MESSAGE_CL), WSIP_FRAMING_DATAGRAM, &lim, &used, &err),
        WSIP_PARSE_BAD);
    ck_assert_uint_eq(err.status, 513);
    /* a stream that never ends its headers is cut off at the limit */
    ck_assert_int_eq(parse(&m, REGISTER_WS, 150, WSIP_FRAMING_STREAM, &lim, &used, &err),
                     WSIP_PARSE_BAD);
    ck_assert_uint_eq(err.status, 513);
    /* ... and a body that would pass it too */
    ck_assert_int_eq(
        parse(&m, MESSAGE_CL, strlen(MESSAGE_CL) - 10, WSIP_FRAMING_STREAM, &lim, &used, &err),
        WSIP_PARSE_BAD);
    ck_assert_uint_eq(err.status, 513);

    wsip_sip_limits_default(&lim);
    lim.max_headers = 5; /* MESSAGE_CL has 8 */
    ck_assert_int_eq(
        parse(&m, MESSAGE_CL, strlen(MESSAGE_CL), WSIP_FRAMING_DATAGRAM, &lim, &used, &err),
        WSIP_PARSE_BAD);
    ck_assert_str_eq(err.reason, "Too many headers");

    wsip_sip_limits_default(&lim);
    lim.max_header_line = 40; /* the Via line is longer */
    ck_assert_int_eq(
        parse(&m, MESSAGE_CL, strlen(MESSAGE_CL), WSIP_FRAMING_DATAGRAM, &lim, &used, &err),
        WSIP_PARSE_BAD);
    ck_assert_str_eq(err.reason, "Header line too long");

    wsip_sip_limits_default(&lim);
    lim.max_start_line = 20;
    ck_assert_int_eq(
        parse(&m, MESSAGE_CL, strlen(MESSAGE_CL), WSIP_FRAMING_DATAGRAM, &lim, &used, &err),
        WSIP_PARSE_BAD);
    ck_assert_uint_eq(err.status, 414);
}
END_TEST

START_TEST(list_headers_split)
{
    static const char msg[] = "BYE sip:bob@192.0.2.4 SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP "
                              "b.example.com;branch=z9hG4bK2\r\n"
                              "Via: SIP/2.0/UDP c.example.com;branch=z9hG4bK3\r\n"
                              "Route: <sip:p1.example.com;lr>,\r\n <sip:p2.example.com;lr>\r\n"
                              "Contact: \"Doe, John\" <sip:john@example.com>\r\n"
                              "To: <sip:bob@example.com>;tag=2\r\n"
                              "From: <sip:alice@example.com>;tag=1\r\n"
                              "Call-ID: x\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n";
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    ck_assert_int_eq(parse(&m, msg, strlen(msg), WSIP_FRAMING_DATAGRAM, NULL, &used, &err),
                     WSIP_PARSE_OK);
    ck_assert_uint_eq(wsip_msg_hdr_count(m, WSIP_HDR_VIA), 3);
    struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_VIA);
    ck_assert_uint_eq(h->nth, 0);
    ck_assert_uint_eq(h->count, 2);
    struct wsip_hdr *h2 = wsip_msg_hdr_next(m, h);
    ck_assert_uint_eq(h2->nth, 1);
    ck_assert(h2->line.p == h->line.p);
    ck_str(wsip_hdr_via(m, h2, NULL)->host, "b.example.com");
    struct wsip_hdr *h3 = wsip_msg_hdr_next(m, h2);
    ck_assert_uint_eq(h3->count, 1);
    ck_str(wsip_hdr_via(m, h3, NULL)->branch, "z9hG4bK3");
    ck_assert_uint_eq(wsip_msg_hdr_count(m, WSIP_HDR_ROUTE), 2);
    const struct wsip_addr *r2 =
        wsip_hdr_addr(m, wsip_msg_hdr_next(m, wsip_msg_hdr(m, WSIP_HDR_ROUTE)), NULL);
    ck_str(r2->uri.host, "p2.example.com");
    ck_assert(r2->uri.lr);
    /* a comma inside quotes does not split */
    ck_assert_uint_eq(wsip_msg_hdr_count(m, WSIP_HDR_CONTACT), 1);
    ck_str(wsip_hdr_addr(m, wsip_msg_hdr(m, WSIP_HDR_CONTACT), NULL)->display, "\"Doe, John\"");
    ck_assert_int_eq(wsip_msg_validate(m, &err), 0);
    wsip_msg_unref(m);
}
END_TEST

START_TEST(responses)
{
    static const char ok[] =
        "SIP/2.0 180 Ringing\r\n"
        "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
        "To: <sip:bob@example.com>;tag=2\r\nFrom: <sip:a@example.com>;tag=1\r\n"
        "Call-ID: x\r\nCSeq: 3 INVITE\r\nContent-Length: 0\r\n\r\n";
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    ck_assert_int_eq(parse(&m, ok, strlen(ok), WSIP_FRAMING_DATAGRAM, NULL, &used, &err),
                     WSIP_PARSE_OK);
    ck_assert(!m->is_request);
    ck_assert_uint_eq(m->status, 180);
    ck_str(m->reason, "Ringing");
    ck_assert_ptr_null(wsip_msg_ruri(m, NULL));
    ck_assert_int_eq(wsip_msg_validate(m, &err), 0);
    wsip_msg_unref(m);

    /* broken responses are dropped: status 0 */
    static const char *const bad[] = {
        "SIP/2.0 1800 Ringing\r\n\r\n",
        "SIP/2.0 099 Low\r\n\r\n",
        "SIP/2.0 18 Short\r\n\r\n",
        "SIP/2.0 200 OK\r\nVia SIP/2.0/UDP x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(
            parse(&m, bad[i], strlen(bad[i]), WSIP_FRAMING_DATAGRAM, NULL, &used, &err),
            WSIP_PARSE_BAD);
        ck_assert_msg(err.status == 0, "case %zu: status %u", i, err.status);
    }
}
END_TEST

START_TEST(malformed_requests)
{
    static const struct {
        const char *msg;
        const char *reason;
    } cases[] = {
        {"INVITE  sip:a@b SIP/2.0\r\n\r\n", "Malformed request line"},
        {"INVITE sip:a@b SIP/2.0 \r\n\r\n", "Malformed request line"},
        {"INVITE sip:a@b\r\n\r\n", "Malformed request line"},
        {"INV@TE sip:a@b SIP/2.0\r\n\r\n", "Malformed request line"},
        {"INVITE sip:a@b SIP/2.0\r\n: novalue\r\n\r\n", "Malformed header name"},
        {"INVITE sip:a@b SIP/2.0\r\nNo colon here\r\n\r\n", "Header without a colon"},
        {"INVITE sip:a@b SIP/2.0\r\n continuation\r\n\r\n", "Continuation line without a header"},
        {"INVITE sip:a@b SIP/2.0\r\nVia: x,,y\r\n\r\n", "Empty element in header list"},
        {"INVITE sip:a@b SIP/2.0\r\nVia: x,\r\n\r\n", "Empty element in header list"},
        {"INVITE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n", "Header section not terminated"},
        {"INVITE sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 1\r\n\r\nx", "Bad Content-Length"},
        {"INVITE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n", "Bad Content-Length"},
        {"INVITE sip:a@b SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n", "Bad Content-Length"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wsip_msg *m;
        struct wsip_sip_err err = {0};
        size_t used;
        int rc =
            parse(&m, cases[i].msg, strlen(cases[i].msg), WSIP_FRAMING_DATAGRAM, NULL, &used, &err);
        ck_assert_msg(rc == WSIP_PARSE_BAD, "case %zu: rc %d", i, rc);
        ck_assert_uint_eq(err.status, 400);
        ck_assert_msg(!strcmp(err.reason, cases[i].reason), "case %zu: '%s' != '%s'", i, err.reason,
                      cases[i].reason);
    }
}
END_TEST

START_TEST(bare_lf_tolerated)
{
    static const char msg[] = "OPTIONS sip:a@example.com SIP/2.0\n"
                              "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\n"
                              "To: <sip:a@example.com>\nFrom: <sip:b@example.com>;tag=1\n"
                              "Call-ID: lf\nCSeq: 1 OPTIONS\n\n";
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    ck_assert_int_eq(parse(&m, msg, strlen(msg), WSIP_FRAMING_DATAGRAM, NULL, &used, &err),
                     WSIP_PARSE_OK);
    ck_str(wsip_msg_call_id(m), "lf");
    ck_assert_int_eq(wsip_msg_validate(m, &err), 0);
    wsip_msg_unref(m);
}
END_TEST

START_TEST(refcounted_buffer)
{
    struct wsip_buf *b = wsip_buf_from(MESSAGE_CL, strlen(MESSAGE_CL));
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    ck_assert_int_eq(
        wsip_msg_parse(&m, b, b->data, b->len, WSIP_FRAMING_DATAGRAM, NULL, &used, &err),
        WSIP_PARSE_OK);
    ck_assert_uint_eq(b->refs, 2);
    ck_assert(m->raw.p == b->data); /* a view, not a copy */
    wsip_msg_ref(m);
    wsip_msg_unref(m);
    ck_assert_uint_eq(b->refs, 2);
    wsip_msg_unref(m);
    ck_assert_uint_eq(b->refs, 1);
    wsip_buf_unref(b);
}
END_TEST

START_TEST(scalar_accessors)
{
    char msg[512];
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    uint32_t e;
    static const struct {
        const char *hdrs;
        int mf, exp_rc;
        uint32_t exp;
    } cases[] = {
        {"Max-Forwards: 0\r\nExpires: 0\r\n", 0, 0, 0},
        {"Max-Forwards: 255\r\nExpires: 4294967295\r\n", 255, 0, 4294967295u},
        {"Max-Forwards: 256\r\nExpires: 99999999999999\r\n", -2, 0, 4294967295u},
        {"Max-Forwards: x\r\nExpires: -1\r\n", -2, -1, 0},
        {"", -1, 1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = snprintf(msg, sizeof(msg), "OPTIONS sip:a@b SIP/2.0\r\n%s\r\n", cases[i].hdrs);
        ck_assert_int_eq(parse(&m, msg, (size_t)n, WSIP_FRAMING_DATAGRAM, NULL, &used, &err),
                         WSIP_PARSE_OK);
        ck_assert_int_eq(wsip_msg_max_forwards(m), cases[i].mf);
        int rc = wsip_msg_expires(m, &e);
        ck_assert_int_eq(rc, cases[i].exp_rc);
        if (rc == 0)
            ck_assert_uint_eq(e, cases[i].exp);
        wsip_msg_unref(m);
    }
}
END_TEST

START_TEST(method_and_transport_names)
{
    ck_assert_int_eq(wsip_method_from_str(wsip_str_cstr("INVITE")), WSIP_METHOD_INVITE);
    ck_assert_int_eq(wsip_method_from_str(wsip_str_cstr("invite")), WSIP_METHOD_OTHER);
    ck_assert_int_eq(wsip_method_from_str(wsip_str_cstr("SUBSCRIBE")), WSIP_METHOD_SUBSCRIBE);
    ck_assert_str_eq(wsip_method_name(WSIP_METHOD_MESSAGE), "MESSAGE");
    ck_assert_int_eq(wsip_transport_from_str(wsip_str_cstr("wss")), WSIP_TP_WSS);
    ck_assert_int_eq(wsip_transport_from_str(wsip_str_cstr("WS")), WSIP_TP_WS);
    ck_assert_int_eq(wsip_transport_from_str(wsip_str_cstr("QUIC")), WSIP_TP_UNKNOWN);
    ck_assert_str_eq(wsip_transport_name(WSIP_TP_TLS), "TLS");
}
END_TEST

START_TEST(clone_owns_its_bytes)
{
    /* a clone outlives the receive buffer: parse from a scratch copy, touch
     * the lazy caches, clone, wipe the scratch bytes, then read the clone */
    char *scratch = strdup(REGISTER_WS);
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    ck_assert_int_eq(parse(&m, scratch, strlen(scratch), WSIP_FRAMING_WS, NULL, &used, &err),
                     WSIP_PARSE_OK);
    ck_assert_ptr_nonnull(wsip_msg_from(m, NULL)); /* cached in m's arena */
    ck_assert_ptr_nonnull(wsip_msg_ruri(m, NULL));
    struct wsip_msg *c = wsip_msg_clone(m);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->nhdrs, m->nhdrs);
    wsip_msg_unref(m);
    memset(scratch, 'x', strlen(scratch));
    free(scratch);

    ck_assert(c->raw.p == c->buf->data);
    ck_assert_uint_eq(c->raw.len, strlen(REGISTER_WS));
    ck_assert_mem_eq(c->raw.p, REGISTER_WS, c->raw.len);
    ck_str(c->method, "REGISTER");
    ck_str(c->ruri_str, "sip:example.com");
    ck_str(c->version, "SIP/2.0");
    ck_str(wsip_msg_call_id(c), "aiuy7k9njasd");
    const struct wsip_addr *from = wsip_msg_from(c, NULL);
    ck_assert_ptr_nonnull(from);
    ck_str(from->tag, "65bnmj.34asd");
    const struct wsip_cseq *cs = wsip_msg_cseq(c, NULL);
    ck_assert_ptr_nonnull(cs);
    ck_assert_uint_eq(cs->num, 1);
    struct wsip_hdr *ct = wsip_msg_hdr(c, WSIP_HDR_CONTACT);
    ck_assert_ptr_nonnull(ct);
    const struct wsip_addr *contact = wsip_hdr_addr(c, ct, NULL);
    ck_assert_ptr_nonnull(contact);
    ck_str(contact->uri.host, "df7jal23ls0d.invalid");
    ck_assert(ct->line.p >= c->raw.p && ct->line.p + ct->line.len <= c->raw.p + c->raw.len);
    ck_assert_uint_eq(c->body.len, 0);
    wsip_msg_unref(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("msg");
    TCase *tc = tcase_create("msg");
    tcase_add_test(tc, ws_message_without_content_length);
    tcase_add_test(tc, clone_owns_its_bytes);
    tcase_add_test(tc, ws_content_length_must_match);
    tcase_add_test(tc, datagram_content_length_too_big);
    tcase_add_test(tc, compact_forms);
    tcase_add_test(tc, stream_partial_and_pipelined);
    tcase_add_test(tc, stream_requires_content_length);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, list_headers_split);
    tcase_add_test(tc, responses);
    tcase_add_test(tc, malformed_requests);
    tcase_add_test(tc, bare_lf_tolerated);
    tcase_add_test(tc, refcounted_buffer);
    tcase_add_test(tc, scalar_accessors);
    tcase_add_test(tc, method_and_transport_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}

/* URI, name-addr, Via, CSeq and parameter parsing on single values. */
#include <string.h>

#include "testutil.h"
#include "wsip/sip.h"

#define ck_str(view, lit)                                                                          \
    ck_assert_msg(wsip_str_eq((view), wsip_str_cstr(lit)), "expected '%s', got '%.*s'", (lit),     \
                  (int)(view).len, (view).p ? (view).p : "")

static int uri(struct wsip_uri *u, const char *s)
{
    const char *why = NULL;
    return wsip_uri_parse(u, s, strlen(s), &why);
}

START_TEST(sip_uri_parts)
{
    struct wsip_uri u;
    ck_assert_int_eq(uri(&u, "sip:alice:secret@atlanta.com:5061;transport=tcp;lr;ob?subject=x&a=b"),
                     0);
    ck_assert_int_eq(u.scheme, WSIP_URI_SIP);
    ck_str(u.user, "alice");
    ck_str(u.password, "secret");
    ck_str(u.host, "atlanta.com");
    ck_assert_int_eq(u.host_type, WSIP_HOST_NAME);
    ck_assert(u.has_port);
    ck_assert_uint_eq(u.port, 5061);
    ck_str(u.params, ";transport=tcp;lr;ob");
    ck_str(u.transport, "tcp");
    ck_assert(u.lr);
    ck_assert(u.ob);
    ck_assert(!u.gr);
    ck_str(u.headers, "subject=x&a=b");

    ck_assert_int_eq(uri(&u, "SIPS:[2001:db8::1]:5061;gr=urn:uuid:f81d4fae"), 0);
    ck_assert_int_eq(u.scheme, WSIP_URI_SIPS);
    ck_assert_uint_eq(u.user.len, 0);
    ck_str(u.host, "[2001:db8::1]");
    ck_assert_int_eq(u.host_type, WSIP_HOST_IPV6);
    ck_assert_uint_eq(u.port, 5061);
    ck_assert(u.gr);

    ck_assert_int_eq(uri(&u, "sip:192.0.2.4"), 0);
    ck_assert_int_eq(u.host_type, WSIP_HOST_IPV4);
    ck_assert(!u.has_port);

    ck_assert_int_eq(uri(&u, "sip:alice@df7jal23ls0d.invalid;transport=ws"), 0);
    ck_str(u.host, "df7jal23ls0d.invalid");
    ck_str(u.transport, "ws");
}
END_TEST

START_TEST(tel_and_other_schemes)
{
    struct wsip_uri u;
    ck_assert_int_eq(uri(&u, "tel:+1-201-555-0123;phone-context=example.com"), 0);
    ck_assert_int_eq(u.scheme, WSIP_URI_TEL);
    ck_str(u.user, "+1-201-555-0123");
    ck_assert(wsip_param_find(u.params, "phone-context", NULL));
    ck_assert_int_eq(uri(&u, "urn:service:sos"), 0);
    ck_assert_int_eq(u.scheme, WSIP_URI_OTHER);
    ck_str(u.scheme_str, "urn");
    ck_assert_int_eq(uri(&u, "nobodyKnowsThisScheme:totallyopaque"), 0);
    ck_assert_int_eq(u.scheme, WSIP_URI_OTHER);
}
END_TEST

START_TEST(bad_uris)
{
    static const char *const bad[] = {
        "",
        "sip:",
        "sip:@example.com",
        "sip:user@",
        "sip:user@host:",
        "sip:user@host:65536",
        "sip:user@host:12x",
        "sip:us%2er@host:1:2",
        "sip:us%zzer@host",
        "sip:user@[2001:db8::1",
        "sip:user@[2001:db8:::1:2:3:4:5:6:7]",
        "sip:user@[::1::2]",
        "sip:user@-host.com",
        "sip:user@host;;lr",
        "sip:user@host;=x",
        "sip:user@host?",
        "sip:user@host extra",
        "sip:user@2001:db8::10",
        "sip:user@1.2.3.256",
        "1sip:user@host",
        "sip user@host",
        "tel:",
        "tel:+1 555",
        "http:",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct wsip_uri u;
        const char *why = NULL;
        ck_assert_msg(wsip_uri_parse(&u, bad[i], strlen(bad[i]), &why) < 0, "accepted '%s'",
                      bad[i]);
        ck_assert_msg(why && *why, "no reason for '%s'", bad[i]);
    }
}
END_TEST

START_TEST(unescape)
{
    struct wsip_uri u;
    char out[32];
    ck_assert_int_eq(uri(&u, "sip:%61lice%20b@h"), 0);
    ck_assert_int_eq(wsip_uri_user_unescaped(&u, out, sizeof(out)), 7);
    ck_assert_str_eq(out, "alice b");
    ck_assert_int_eq(wsip_uri_user_unescaped(&u, out, 4), -1); /* does not fit */
    ck_assert_int_eq(wsip_str_unescape(wsip_str_cstr("%4"), out, sizeof(out)), -1);
    ck_assert_int_eq(wsip_str_unescape(wsip_str_cstr("%"), out, sizeof(out)), -1);
}
END_TEST

START_TEST(params_iteration)
{
    struct wsip_str p = wsip_str_cstr(" ; a = 1 ;b; c=\"x;y\"  ;d=[::1]"), n, v;
    bool bad;
    ck_assert(wsip_param_next(&p, &n, &v, &bad));
    ck_str(n, "a");
    ck_str(v, "1");
    ck_assert(wsip_param_next(&p, &n, &v, &bad));
    ck_str(n, "b");
    ck_assert_uint_eq(v.len, 0);
    ck_assert(wsip_param_next(&p, &n, &v, &bad));
    ck_str(v, "\"x;y\"");
    ck_assert(wsip_param_next(&p, &n, &v, &bad));
    ck_str(v, "[::1]");
    ck_assert(!wsip_param_next(&p, &n, &v, &bad));
    ck_assert(!bad);

    struct wsip_str q = wsip_str_cstr(";a=\"unterminated");
    ck_assert(!wsip_param_next(&q, &n, &v, &bad));
    ck_assert(bad);
    q = wsip_str_cstr(";a;;b");
    ck_assert(wsip_param_next(&q, &n, &v, &bad));
    ck_assert(!wsip_param_next(&q, &n, &v, &bad));
    ck_assert(bad);
    q = wsip_str_cstr("junk;a");
    ck_assert(!wsip_param_next(&q, &n, &v, &bad));
    ck_assert(bad);
}
END_TEST

static int addr(struct wsip_addr *a, const char *s)
{
    const char *why;
    return wsip_addr_parse(a, wsip_str_cstr(s), &why);
}

START_TEST(name_addr)
{
    struct wsip_addr a;
    ck_assert_int_eq(addr(&a, "\"Alice \\\"A\\\"\" <sip:alice@atlanta.com>;tag=1928301774"), 0);
    ck_str(a.display, "\"Alice \\\"A\\\"\"");
    ck_str(a.uri.user, "alice");
    ck_str(a.tag, "1928301774");
    ck_assert(a.angle);

    ck_assert_int_eq(addr(&a, "Bob Smith <sip:bob@biloxi.com;transport=udp>;expires=60"), 0);
    ck_str(a.display, "Bob Smith");
    ck_str(a.uri.transport, "udp");
    ck_assert(!a.has_tag);
    struct wsip_str e;
    ck_assert(wsip_param_find(a.params, "expires", &e));
    ck_str(e, "60");

    /* addr-spec: the parameters belong to the header, not the URI */
    ck_assert_int_eq(addr(&a, "sip:carol@chicago.com;tag=88"), 0);
    ck_assert(!a.angle);
    ck_str(a.uri.host, "chicago.com");
    ck_assert_uint_eq(a.uri.params.len, 0);
    ck_str(a.tag, "88");

    ck_assert_int_eq(addr(&a, "*"), 0);
    ck_assert(a.star);

    ck_assert_int_eq(addr(&a, "<sip:a@b>"), 0);
    ck_assert_uint_eq(a.display.len, 0);
}
END_TEST

START_TEST(bad_name_addr)
{
    static const char *const bad[] = {
        "\"unbalanced <sip:a@b>",
        "<sip:a@b",
        "< sip:a@b>",
        "<sip:a@b >",
        "sip:a@b?x=y",
        "sip:a@b,c",
        "<sip:a@b>;tag=1;tag=2",
        "<sip:a@b>;tag",
        "<sip:a@b>;;x",
        "<sip:a@b> junk",
        "Disp\"lay <sip:a@b>",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct wsip_addr a;
        ck_assert_msg(addr(&a, bad[i]) < 0, "accepted '%s'", bad[i]);
    }
}
END_TEST

START_TEST(via_values)
{
    struct wsip_via v;
    const char *why;
    ck_assert_int_eq(wsip_via_parse(&v,
                                    wsip_str_cstr("SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bK77;"
                                                  "rport=5090;received=198.51.100.7;ttl=16;"
                                                  "maddr=224.2.0.1"),
                                    &why),
                     0);
    ck_assert_int_eq(v.transport, WSIP_TP_UDP);
    ck_str(v.host, "192.0.2.1");
    ck_assert_uint_eq(v.port, 5080);
    ck_str(v.branch, "z9hG4bK77");
    ck_assert(v.has_rport);
    ck_assert_uint_eq(v.rport, 5090);
    ck_str(v.received, "198.51.100.7");
    ck_assert_int_eq(v.ttl, 16);
    ck_str(v.maddr, "224.2.0.1");

    ck_assert_int_eq(
        wsip_via_parse(&v, wsip_str_cstr("SIP/2.0/WS abc.invalid;branch=z9hG4bKx"), &why), 0);
    ck_assert_int_eq(v.transport, WSIP_TP_WS);
    ck_assert_int_eq(v.ttl, -1);
    ck_assert(!v.has_rport);

    static const char *const bad[] = {
        "SIP/2.0/UDP",
        "SIP/2.0 UDP host",
        "SIP/2.0/UDPhost",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP host;ttl=256",
        "SIP/2.0/UDP host;rport=x",
        "SIP/2.0/UDP host;received=example.com",
        "SIP/2.0/UDP host;branch=",
        "SIP/2.0/UDP host junk",
        "SIP/2.0/UDP [::1;branch=x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(wsip_via_parse(&v, wsip_str_cstr(bad[i]), &why) < 0, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(cseq_values)
{
    struct wsip_cseq c;
    const char *why;
    ck_assert_int_eq(wsip_cseq_parse(&c, wsip_str_cstr("2147483647 INVITE"), &why), 0);
    ck_assert_uint_eq(c.num, 2147483647u);
    ck_assert_int_eq(c.method_id, WSIP_METHOD_INVITE);
    ck_assert_int_lt(wsip_cseq_parse(&c, wsip_str_cstr("2147483648 INVITE"), &why), 0);
    ck_assert_int_lt(wsip_cseq_parse(&c, wsip_str_cstr("1INVITE"), &why), 0);
    ck_assert_int_lt(wsip_cseq_parse(&c, wsip_str_cstr("1 INVITE x"), &why), 0);
    ck_assert_int_lt(wsip_cseq_parse(&c, wsip_str_cstr("INVITE"), &why), 0);
}
END_TEST

/* Equal iff wsip_uri_equal says so, both ways round. */
static void check_equal(const char *a, const char *b, bool want)
{
    struct wsip_uri ua, ub;
    ck_assert_msg(uri(&ua, a) == 0, "cannot parse '%s'", a);
    ck_assert_msg(uri(&ub, b) == 0, "cannot parse '%s'", b);
    ck_assert_msg(wsip_uri_equal(&ua, &ub) == want, "'%s' vs '%s': want %s", a, b,
                  want ? "equal" : "different");
    ck_assert_msg(wsip_uri_equal(&ub, &ua) == want, "'%s' vs '%s': want %s", b, a,
                  want ? "equal" : "different");
}

/* The examples of RFC 3261 sec 19.1.4, both lists. */
START_TEST(uri_equal_rfc3261_examples)
{
    check_equal("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp",
                true);
    check_equal("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5", true);
    check_equal("sip:carol@chicago.com", "sip:carol@chicago.com;security=on", true);
    check_equal("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on", true);
    check_equal("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com", true);
    check_equal("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                "sip:alice@atlanta.com?priority=urgent&subject=project%20x", true);

    check_equal("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP",
                false);
    check_equal("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060", false);
    check_equal("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp", false);
    check_equal("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp", false);
    check_equal("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting", false);
    check_equal("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4", false);
}
END_TEST

/* The rules of sec 19.1.4 one by one. */
START_TEST(uri_equal_rules)
{
    /* sip and sips never match; the scheme's case does not matter */
    check_equal("sip:alice@atlanta.com", "sips:alice@atlanta.com", false);
    check_equal("SIPS:alice@atlanta.com", "sips:alice@atlanta.com", true);
    /* no user against a user; a password only on one side; its case */
    check_equal("sip:atlanta.com", "sip:alice@atlanta.com", false);
    check_equal("sip:alice:pw@atlanta.com", "sip:alice@atlanta.com", false);
    check_equal("sip:alice:@atlanta.com", "sip:alice@atlanta.com", false);
    check_equal("sip:alice:PW@atlanta.com", "sip:alice:pw@atlanta.com", false);
    check_equal("sip:alice:p%77@atlanta.com", "sip:alice:pw@atlanta.com", true);
    /* escapes: unreserved ones equal their characters, reserved ones do not */
    check_equal("sip:al%69ce@atlanta.com", "sip:alice@atlanta.com", true);
    check_equal("sip:%41lice@atlanta.com", "sip:alice@atlanta.com", false);
    check_equal("sip:a%3bb@atlanta.com", "sip:a;b@atlanta.com", false);
    check_equal("sip:a%3Bb@atlanta.com", "sip:a%3bb@atlanta.com", true);
    check_equal("sip:+1%2b2@atlanta.com", "sip:+1+2@atlanta.com", false);
    /* ports */
    check_equal("sip:alice@atlanta.com:5070", "sip:alice@atlanta.com:5070", true);
    check_equal("sip:alice@atlanta.com:5070", "sip:alice@atlanta.com:5071", false);
    /* IPv6 references: one address, however written */
    check_equal("sip:alice@[2001:db8::1]:5060", "sip:alice@[2001:DB8:0:0::1]:5060", true);
    check_equal("sip:alice@[2001:db8::1]", "sip:alice@[2001:db8::2]", false);
    /* parameters: any order, values case-insensitive, in both must match;
     * user, ttl, method, maddr, transport must be in both; others need not */
    check_equal("sip:a@h;lr;transport=ws;ob", "sip:a@h;ob;TRANSPORT=WS;lr", true);
    check_equal("sip:a@h;foo=1", "sip:a@h;foo=2", false);
    check_equal("sip:a@h;user=phone", "sip:a@h", false);
    check_equal("sip:a@h;ttl=1", "sip:a@h", false);
    check_equal("sip:a@h;method=INVITE", "sip:a@h", false);
    check_equal("sip:a@h;maddr=239.255.255.1", "sip:a@h", false);
    check_equal("sip:a@h;rinstance=x;ob", "sip:a@h", true);
    check_equal("sip:a@h;%74ransport=tcp", "sip:a@h;transport=tcp", true);
    /* headers: the same set, any order; a value's case counts */
    check_equal("sip:a@h?x=1&y=2", "sip:a@h?y=2&x=1", true);
    check_equal("sip:a@h?X=1", "sip:a@h?x=1", true);
    check_equal("sip:a@h?x=1", "sip:a@h?x=2", false);
    check_equal("sip:a@h?x=a", "sip:a@h?x=A", false);
    check_equal("sip:a@h?x=1&y=2", "sip:a@h?x=1", false);
    /* the host's case never matters, the user's always does */
    check_equal("sip:Alice@ATLANTA.com", "sip:Alice@atlanta.COM", true);
    check_equal("sip:Alice@atlanta.com", "sip:alice@atlanta.com", false);
    /* other schemes: the whole URI, case-insensitively */
    check_equal("tel:+1-201-555-0123", "TEL:+1-201-555-0123", true);
    check_equal("tel:+1-201-555-0123", "sip:+1-201-555-0123@h", false);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("uri");
    TCase *tc = tcase_create("uri");
    tcase_add_test(tc, sip_uri_parts);
    tcase_add_test(tc, tel_and_other_schemes);
    tcase_add_test(tc, bad_uris);
    tcase_add_test(tc, unescape);
    tcase_add_test(tc, params_iteration);
    tcase_add_test(tc, name_addr);
    tcase_add_test(tc, bad_name_addr);
    tcase_add_test(tc, via_values);
    tcase_add_test(tc, cseq_values);
    tcase_add_test(tc, uri_equal_rfc3261_examples);
    tcase_add_test(tc, uri_equal_rules);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}

/* wsip_msg_loop_hash: what changes it (a spiral) and what does not (a loop
 * seen again after more hops, a CANCEL of the same request). */
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "wsip/sip.h"

/* The request every case starts from; each "%s" slot is one field. */
#define BASE                                                                                       \
    "%s %s SIP/2.0\r\n"                                                                            \
    "%s"                                                                                           \
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKorigin\r\n"                                     \
    "Max-Forwards: %s\r\n"                                                                         \
    "%s"                                                                                           \
    "From: <sip:alice@example.com>;tag=%s\r\n"                                                     \
    "To: <sip:bob@example.com>%s\r\n"                                                              \
    "Call-ID: %s\r\n"                                                                              \
    "CSeq: %s %s\r\n"                                                                              \
    "%s"                                                                                           \
    "Content-Length: %zu\r\n\r\n%s"

struct req {
    const char *method, *ruri, *via_above, *mf, *routes, *ftag, *to_tag, *callid, *cseq, *extra,
        *body;
};

static const struct req base = {
    .method = "INVITE",
    .ruri = "sip:bob@example.com",
    .via_above = "",
    .mf = "70",
    .routes = "Route: <sip:p1.example.com;lr>\r\nRoute: <sip:p2.example.com;lr>\r\n",
    .ftag = "f1",
    .to_tag = "",
    .callid = "c1@192.0.2.1",
    .cseq = "7",
    .extra = "Proxy-Require: foo\r\n"
             "Proxy-Authorization: Digest username=\"alice\", realm=\"example.com\", "
             "nonce=\"n\", uri=\"sip:bob@example.com\", response=\"0123\"\r\n"
             "Proxy-Authorization: Digest username=\"alice\", realm=\"other.org\", "
             "nonce=\"n\", uri=\"sip:bob@example.com\", response=\"4567\"\r\n",
    .body = "",
};

static bool skip_example_com(const struct wsip_auth *a, void *arg)
{
    (void)arg;
    return wsip_str_eq_cstr(a->realm, "example.com");
}

static uint64_t hash_of(struct req r, bool skip)
{
    static char buf[4096];
    int n = snprintf(buf, sizeof(buf), BASE, r.method, r.ruri, r.via_above, r.mf, r.routes, r.ftag,
                     r.to_tag, r.callid, r.cseq, r.method, r.extra, strlen(r.body), r.body);
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, (int)sizeof(buf));
    struct wsip_msg *m = NULL;
    struct wsip_sip_err err = {0};
    size_t used;
    int rc = wsip_msg_parse(&m, NULL, buf, (size_t)n, WSIP_FRAMING_DATAGRAM, NULL, &used, &err);
    ck_assert_msg(rc == WSIP_PARSE_OK, "parse: %s\n%s", err.reason ? err.reason : "?", buf);
    ck_assert_msg(wsip_msg_validate(m, &err) == 0, "validate: %s", err.reason);
    uint64_t h = wsip_msg_loop_hash(m, skip ? skip_example_com : NULL, NULL);
    wsip_msg_unref(m);
    return h;
}

#define ck_hash_eq(a, b)                                                                           \
    ck_assert_msg((a) == (b), "hashes differ: %016llx %016llx", (unsigned long long)(a),           \
                  (unsigned long long)(b))
#define ck_hash_ne(a, b) ck_assert_msg((a) != (b), "hashes equal: %016llx", (unsigned long long)(a))

START_TEST(same_request_same_hash)
{
    ck_hash_eq(hash_of(base, false), hash_of(base, false));
}
END_TEST

/* Each field of sec 16.3 step 4 / 16.6 step 8 on its own makes a spiral. */
START_TEST(spiral_fields_change_it)
{
    uint64_t h = hash_of(base, false);
    struct req r;
    r = base, r.ruri = "sip:carol@example.com";
    ck_hash_ne(hash_of(r, false), h);
    r = base, r.ruri = "sip:Bob@example.com";
    ck_hash_ne(hash_of(r, false), h);
    r = base, r.routes = "Route: <sip:p9.example.com;lr>\r\nRoute: <sip:p2.example.com;lr>\r\n";
    ck_hash_ne(hash_of(r, false), h);
    r = base, r.routes = "";
    ck_hash_ne(hash_of(r, false), h);
    r = base, r.ftag = "f2";
    ck_hash_ne(hash_of(r, false), h);
    r = base, r.to_tag = ";tag=t1";
    ck_hash_ne(hash_of(r, false), h);
    r = base, r.callid = "c2@192.0.2.1";
    ck_hash_ne(hash_of(r, false), h);
    r = base, r.cseq = "8";
    ck_hash_ne(hash_of(r, false), h);
    r = base, r.extra = "Proxy-Require: bar\r\n";
    ck_hash_ne(hash_of(r, false), h);
    r = base, r.extra = "";
    ck_hash_ne(hash_of(r, false), h);
}
END_TEST

/* What a loop changes on the way round (Vias, Max-Forwards, Routes below
 * the top one) and what ties requests of one transaction (the method: a
 * CANCEL) leave it. */
START_TEST(loop_fields_leave_it)
{
    uint64_t h = hash_of(base, false);
    struct req r;
    r = base, r.via_above = "Via: SIP/2.0/UDP 198.51.100.7:5080;branch=z9hG4bKhop\r\n";
    r.mf = "12";
    ck_hash_eq(hash_of(r, false), h);
    r = base, r.routes = "Route: <sip:p1.example.com;lr>\r\n";
    ck_hash_eq(hash_of(r, false), h);
    r = base, r.method = "CANCEL";
    ck_hash_eq(hash_of(r, false), h);
    r = base, r.body = "v=0\r\n";
    ck_hash_eq(hash_of(r, false), h);
}
END_TEST

/* Credentials the proxy removes before forwarding do not count: the request
 * that comes back without them is the same request. */
START_TEST(consumed_credentials_left_out)
{
    struct req without_ours = base;
    without_ours.extra = "Proxy-Require: foo\r\n"
                         "Proxy-Authorization: Digest username=\"alice\", realm=\"other.org\", "
                         "nonce=\"n\", uri=\"sip:bob@example.com\", response=\"4567\"\r\n";
    ck_hash_eq(hash_of(base, true), hash_of(without_ours, true));
    ck_hash_eq(hash_of(without_ours, false), hash_of(without_ours, true));
    ck_hash_ne(hash_of(base, false), hash_of(without_ours, false));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("loop");
    tcase_add_test(tc, same_request_same_hash);
    tcase_add_test(tc, spiral_fields_change_it);
    tcase_add_test(tc, loop_fields_leave_it);
    tcase_add_test(tc, consumed_credentials_left_out);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}

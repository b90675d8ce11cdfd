/* wsip_auth_parse / wsip_unquote: credentials and challenges as real SIP
 * stacks send them, and malformed ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wsip/sip.h"

/* A view must be present (p != NULL) and equal to want. */
#define ck_view_eq(v, want)                                                                        \
    do {                                                                                           \
        struct wsip_str v_ = (v);                                                                  \
        const char *w_ = (want);                                                                   \
        ck_assert_msg(v_.p != NULL && wsip_str_eq_cstr(v_, w_), "%s: got %s'%.*s', want '%s'", #v, \
                      v_.p ? "" : "(absent) ", (int)v_.len, v_.p ? v_.p : "", w_);                 \
    } while (0)

/* A view must be absent. */
#define ck_view_absent(v)                                                                          \
    do {                                                                                           \
        struct wsip_str v_ = (v);                                                                  \
        ck_assert_msg(v_.p == NULL, "%s: want absent, got '%.*s'", #v, (int)v_.len, v_.p);         \
    } while (0)

static struct wsip_auth parse_ok(const char *s)
{
    struct wsip_auth a;
    const char *reason = NULL;
    int rc = wsip_auth_parse(&a, wsip_str_cstr(s), &reason);
    ck_assert_msg(rc == 0, "parse of [%s] failed: %s", s, reason ? reason : "(no reason)");
    return a;
}

static const char *parse_bad(const char *s)
{
    struct wsip_auth a;
    const char *reason = NULL;
    int rc = wsip_auth_parse(&a, wsip_str_cstr(s), &reason);
    ck_assert_msg(rc == -1, "parse of [%s] returned %d, want -1", s, rc);
    ck_assert_msg(reason != NULL && reason[0] != '\0', "no reason for [%s]", s);
    return reason;
}

/* Every view of a parse result must lie inside the input. */
static void check_inside(const struct wsip_auth *a, const char *s)
{
    const struct wsip_str *v[] = {&a->scheme, &a->username, &a->realm,     &a->nonce,
                                  &a->uri,    &a->response, &a->algorithm, &a->cnonce,
                                  &a->opaque, &a->qop,      &a->nc,        &a->domain,
                                  &a->stale,  &a->userhash, &a->charset};
    size_t len = strlen(s);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        if (v[i]->p == NULL)
            continue;
        ck_assert_msg(v[i]->p >= s && v[i]->p + v[i]->len <= s + len,
                      "view %zu of [%s] points outside the input", i, s);
    }
}

START_TEST(jssip_authorization)
{
    /* JsSIP / SIP.js: algorithm first, qop/nc unquoted */
    const char *s = "Digest algorithm=MD5, username=\"alice\", realm=\"example.com\", "
                    "nonce=\"1a3f8e0c5b7d29e4f6a8c0b2d4e6f819\", uri=\"sip:proxy.example.com\", "
                    "response=\"f15de1b4fd02867a0642d1f45feb927c\", qop=auth, "
                    "cnonce=\"0a4f113b\", nc=00000001, opaque=\"5ccc069c403ebaf9\"";
    struct wsip_auth a = parse_ok(s);
    check_inside(&a, s);
    ck_view_eq(a.scheme, "Digest");
    ck_assert(a.is_digest);
    ck_view_eq(a.algorithm, "MD5");
    ck_view_eq(a.username, "alice");
    ck_view_eq(a.realm, "example.com");
    ck_view_eq(a.nonce, "1a3f8e0c5b7d29e4f6a8c0b2d4e6f819");
    ck_view_eq(a.uri, "sip:proxy.example.com");
    ck_view_eq(a.response, "f15de1b4fd02867a0642d1f45feb927c");
    ck_view_eq(a.qop, "auth");
    ck_view_eq(a.cnonce, "0a4f113b");
    ck_view_eq(a.nc, "00000001");
    ck_view_eq(a.opaque, "5ccc069c403ebaf9");
    ck_view_absent(a.domain);
    ck_view_absent(a.stale);
    ck_view_absent(a.userhash);
    ck_view_absent(a.charset);
    ck_assert(!a.quoted_escapes);
    ck_assert_uint_eq(a.nparams, 10);
}
END_TEST

START_TEST(linphone_no_spaces_quoted_qop)
{
    /* some stacks quote qop and put no space after commas */
    const char *s = "Digest username=\"bob\",realm=\"biloxi.com\",nonce=\"dcd98b7102dd2f0e\","
                    "uri=\"sip:bob@biloxi.com\",response=\"245f23415f11432b3434341c022\","
                    "qop=\"auth\",nc=0000000A,cnonce=\"x\"";
    struct wsip_auth a = parse_ok(s);
    ck_view_eq(a.username, "bob");
    ck_view_eq(a.qop, "auth");
    ck_view_eq(a.nc, "0000000A");
    ck_view_eq(a.cnonce, "x");
    ck_view_absent(a.algorithm);
    ck_assert_uint_eq(a.nparams, 8);
}
END_TEST

START_TEST(challenge_stale_true_multi_qop)
{
    const char *s = "Digest realm=\"example.com\", domain=\"sip:example.com sip:ws.example.com\", "
                    "nonce=\"5ccc069c403ebaf9f0171e9517f40e41\", opaque=\"\", stale=true, "
                    "algorithm=MD5, qop=\"auth,auth-int\"";
    struct wsip_auth a = parse_ok(s);
    check_inside(&a, s);
    ck_assert(a.is_digest);
    ck_view_eq(a.realm, "example.com");
    ck_view_eq(a.domain, "sip:example.com sip:ws.example.com");
    ck_view_eq(a.opaque, "");
    ck_view_eq(a.stale, "true");
    ck_view_eq(a.qop, "auth,auth-int");
    ck_view_absent(a.username);
    ck_view_absent(a.response);
    ck_assert_uint_eq(a.nparams, 7);
}
END_TEST

START_TEST(challenge_stale_false_sha256)
{
    /* RFC 8760 offers SHA-256 first, one challenge per header */
    const char *s = "DIGEST realm=\"atlanta.com\",qop=\"auth\",algorithm=SHA-256,"
                    "nonce=\"f84f1cec41e6cbe5aea9c8e88d359\",stale=FALSE";
    struct wsip_auth a = parse_ok(s);
    ck_view_eq(a.scheme, "DIGEST");
    ck_assert(a.is_digest);
    ck_view_eq(a.algorithm, "SHA-256");
    ck_view_eq(a.stale, "FALSE");
    ck_view_eq(a.qop, "auth");
    ck_assert_uint_eq(a.nparams, 5);
}
END_TEST

START_TEST(rfc7616_userhash_charset)
{
    const char *s = "Digest realm=\"api@example.org\", qop=\"auth\", algorithm=SHA-512-256, "
                    "nonce=\"5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK\", "
                    "opaque=\"HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS\", charset=UTF-8, "
                    "userhash=true";
    struct wsip_auth a = parse_ok(s);
    ck_view_eq(a.algorithm, "SHA-512-256");
    ck_view_eq(a.charset, "UTF-8");
    ck_view_eq(a.userhash, "true");
    ck_view_eq(a.nonce, "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK");
    ck_assert_uint_eq(a.nparams, 7);

    /* UTF-8 inside a quoted string */
    a = parse_ok("Digest username=\"J\xc3\xa4s\xc3\xb8n Doe\", realm=\"api@example.org\", "
                 "uri=\"/doe.json\", nonce=\"n\", response=\"r\"");
    ck_view_eq(a.username, "J\xc3\xa4s\xc3\xb8n Doe");
}
END_TEST

START_TEST(sipml5_empty_nonce)
{
    const char *s = "Digest username=\"alice\",realm=\"example.com\",nonce=\"\","
                    "uri=\"sip:example.com\",response=\"\"";
    struct wsip_auth a = parse_ok(s);
    check_inside(&a, s);
    ck_view_eq(a.username, "alice");
    ck_view_eq(a.nonce, "");
    ck_view_eq(a.response, "");
    ck_view_eq(a.uri, "sip:example.com");
    /* "given but empty" must differ from "absent" */
    ck_assert_ptr_nonnull(a.nonce.p);
    ck_assert_ptr_nonnull(a.response.p);
    ck_view_absent(a.qop);
    ck_assert_uint_eq(a.nparams, 5);
}
END_TEST

START_TEST(folded_lines_and_lws)
{
    /* LWS around '=' and ',', folds (CRLF and bare LF) between parameters */
    const char *s = "Digest username = \"bob\" ,\r\n realm=\t\"biloxi.com\",\r\n\t nonce\r\n "
                    "=\"ab\r\n cd\"\n , uri=\"sip:bob@biloxi.com\"";
    struct wsip_auth a = parse_ok(s);
    check_inside(&a, s);
    ck_view_eq(a.username, "bob");
    ck_view_eq(a.realm, "biloxi.com");
    ck_view_eq(a.nonce, "ab\r\n cd"); /* a fold inside quotes stays in the view */
    ck_view_eq(a.uri, "sip:bob@biloxi.com");
    ck_assert_uint_eq(a.nparams, 4);

    char out[32];
    ck_assert_int_eq(wsip_unquote(a.nonce, out, sizeof(out)), 5);
    ck_assert_str_eq(out, "ab cd");

    /* a fold right after the scheme is LWS too */
    a = parse_ok("Digest\r\n realm=\"r\"");
    ck_view_eq(a.realm, "r");
}
END_TEST

START_TEST(escaped_quotes)
{
    const char *s = "Digest username=\"J\\\"Rosenberg\\\\\", realm=\"a\\,b\", nonce=\"n\"";
    struct wsip_auth a = parse_ok(s);
    ck_assert(a.quoted_escapes);
    ck_view_eq(a.username, "J\\\"Rosenberg\\\\");
    ck_view_eq(a.realm, "a\\,b");
    ck_view_eq(a.nonce, "n");

    char out[64];
    ck_assert_int_eq(wsip_unquote(a.username, out, sizeof(out)), 12);
    ck_assert_str_eq(out, "J\"Rosenberg\\");
    ck_assert_int_eq(wsip_unquote(a.realm, out, sizeof(out)), 3);
    ck_assert_str_eq(out, "a,b");

    a = parse_ok("Digest realm=\"plain\"");
    ck_assert(!a.quoted_escapes);
}
END_TEST

START_TEST(case_insensitive_names)
{
    struct wsip_auth a = parse_ok("digest USERNAME=\"u\", Realm=\"r\", NC=00000001, QoP=auth");
    ck_assert(a.is_digest);
    ck_view_eq(a.scheme, "digest");
    ck_view_eq(a.username, "u");
    ck_view_eq(a.realm, "r");
    ck_view_eq(a.nc, "00000001");
    ck_view_eq(a.qop, "auth");
}
END_TEST

START_TEST(unknown_params_counted)
{
    struct wsip_auth a =
        parse_ok("Digest realm=\"r\", foo=bar, x-ext=\"q v\", foo=again, nonce=\"n\"");
    ck_assert_uint_eq(a.nparams, 5);
    ck_view_eq(a.realm, "r");
    ck_view_eq(a.nonce, "n");
    /* names that only look like known ones are unknown */
    a = parse_ok("Digest realms=\"x\", nonc=\"y\", u=\"z\"");
    ck_view_absent(a.realm);
    ck_view_absent(a.nonce);
    ck_view_absent(a.uri);
    ck_assert_uint_eq(a.nparams, 3);
}
END_TEST

START_TEST(other_schemes)
{
    struct wsip_auth a = parse_ok("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    ck_view_eq(a.scheme, "Basic");
    ck_assert(!a.is_digest);
    ck_assert_uint_eq(a.nparams, 0);

    a = parse_ok("Bearer mF_9.B5f-4.1JqM");
    ck_view_eq(a.scheme, "Bearer");
    ck_assert(!a.is_digest);

    a = parse_ok("Bearer realm=\"example\", error=\"invalid_token\"");
    ck_assert(!a.is_digest);
    ck_view_eq(a.realm, "example");
    ck_assert_uint_eq(a.nparams, 2);

    /* RFC 7235: another scheme may stand alone */
    a = parse_ok("Negotiate");
    ck_view_eq(a.scheme, "Negotiate");
    ck_assert(!a.is_digest);

    /* RFC 4475 sec 3.3.7 regaut01: an unknown scheme with an auth-param */
    a = parse_ok("NoOneKnowsThisScheme opaque-data=here");
    ck_view_eq(a.scheme, "NoOneKnowsThisScheme");
    ck_assert(!a.is_digest);
    ck_assert_uint_eq(a.nparams, 1);

    /* a scheme that only starts with "Digest" is another scheme */
    a = parse_ok("Digests realm=\"r\"");
    ck_assert(!a.is_digest);
}
END_TEST

START_TEST(malformed)
{
    static const struct {
        const char *in;
        const char *reason;
    } cases[] = {
        {"", "Malformed Authorization header: missing scheme"},
        {",", "Malformed Authorization header: missing scheme"},
        {"\"Digest\" realm=\"r\"", "Malformed Authorization header: missing scheme"},
        {"Digest", "Malformed Authorization header: Digest without parameters"},
        {"Digest  \t", "Malformed Authorization header: Digest without parameters"},
        {"Digest, realm=\"a\"", "Malformed Authorization header: no space after scheme"},
        {"Digest username=\"alice", "Malformed Authorization header: unterminated quoted string"},
        {"Digest realm=\"a\\\"", "Malformed Authorization header: unterminated quoted string"},
        {"Digest realm=\"a\rb\"", "Malformed Authorization header: unterminated quoted string"},
        {"Digest realm=\"a\\", "Malformed Authorization header: unterminated quoted string"},
        {"Digest username", "Malformed Authorization header: missing '=' after parameter name"},
        {"Digest username \"x\"",
         "Malformed Authorization header: missing '=' after parameter name"},
        {"Digest realm:\"x\"", "Malformed Authorization header: missing '=' after parameter name"},
        {"Digest =\"x\"", "Malformed Authorization header: empty parameter name"},
        {"Digest \"x\"", "Malformed Authorization header: empty parameter name"},
        {"Digest realm=\"a\",, nonce=\"b\"",
         "Malformed Authorization header: empty parameter name"},
        {"Digest realm=", "Malformed Authorization header: empty parameter value"},
        {"Digest realm=,nonce=\"x\"", "Malformed Authorization header: empty parameter value"},
        {"Digest uri=sip:a@b", "Malformed Authorization header: garbage after parameter"},
        {"Digest realm=\"a\" nonce=\"b\"",
         "Malformed Authorization header: garbage after parameter"},
        {"Digest realm=\"a\"x", "Malformed Authorization header: garbage after parameter"},
        {"Digest realm=\"a\";nonce=\"b\"",
         "Malformed Authorization header: garbage after parameter"},
        {"Digest realm=\"a\"\r\nnonce=\"b\"",
         "Malformed Authorization header: garbage after parameter"},
        {"Digest realm=\"a\",", "Malformed Authorization header: empty parameter after ','"},
        {"Digest realm=\"a\" , ", "Malformed Authorization header: empty parameter after ','"},
        {"Digest realm=\"a\", REALM=\"b\"", "Malformed Authorization header: duplicate parameter"},
        {"Digest nonce=\"\", nonce=\"x\"", "Malformed Authorization header: duplicate parameter"},
        {"Digest nc=00000001, qop=auth, nc=00000002",
         "Malformed Authorization header: duplicate parameter"},
        {"Basic abc def", "Malformed Authorization header: missing '=' after parameter name"},
        {"Basic a=b=c", "Malformed Authorization header: garbage after parameter"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = parse_bad(cases[i].in);
        ck_assert_msg(strcmp(got, cases[i].reason) == 0, "[%s]: reason '%s', want '%s'",
                      cases[i].in, got, cases[i].reason);
    }

    /* a NULL view is "missing scheme", and *reason may be NULL */
    struct wsip_auth a;
    ck_assert_int_eq(wsip_auth_parse(&a, WSIP_STR_NULL, NULL), -1);
}
END_TEST

START_TEST(every_prefix)
{
    /* cut a real header at every length: no overread (ASan), and only the
     * cuts that end a parameter (after a closing quote or a token) parse */
    const char *s = "Digest username=\"alice\", realm=\"example.com\", nc=00000001, "
                    "response=\"\"";
    size_t len = strlen(s);
    unsigned ok = 0;
    for (size_t n = 0; n <= len; n++) {
        char *copy = malloc(n ? n : 1); /* exact size so ASan sees overreads */
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, s, n);
        struct wsip_auth a;
        const char *reason = NULL;
        int rc = wsip_auth_parse(&a, wsip_str_make(copy, n), &reason);
        if (rc == 0)
            ok++;
        else
            ck_assert_msg(reason != NULL, "no reason at cut %zu", n);
        free(copy);
    }
    /* "D".."Diges" (other schemes may stand alone), "Digest username="alice"",
     * "... realm="example.com"", "nc=0".."nc=00000001", and the whole header */
    ck_assert_uint_eq(ok, 5 + 1 + 1 + 8 + 1);
}
END_TEST

START_TEST(unquote_edges)
{
    char out[8];
    ck_assert_int_eq(wsip_unquote(WSIP_STR_NULL, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(wsip_unquote(WSIP_STR_LIT("abc"), out, 4), 3);
    ck_assert_str_eq(out, "abc");
    /* no room for the NUL */
    ck_assert_int_eq(wsip_unquote(WSIP_STR_LIT("abcd"), out, 4), -1);
    ck_assert_int_eq(wsip_unquote(WSIP_STR_LIT("a"), out, 0), -1);
    /* escapes shrink the output, so "a\bcd" fits in 5 */
    ck_assert_int_eq(wsip_unquote(WSIP_STR_LIT("a\\bcd"), out, 5), 4);
    ck_assert_str_eq(out, "abcd");
    /* a lone trailing backslash is kept */
    ck_assert_int_eq(wsip_unquote(WSIP_STR_LIT("x\\"), out, sizeof(out)), 2);
    ck_assert_str_eq(out, "x\\");
    /* folds: CRLF / LF before whitespace goes; other CR/LF stay */
    ck_assert_int_eq(wsip_unquote(WSIP_STR_LIT("a\r\n\tb"), out, sizeof(out)), 3);
    ck_assert_str_eq(out, "a\tb");
    ck_assert_int_eq(wsip_unquote(WSIP_STR_LIT("a\n b"), out, sizeof(out)), 3);
    ck_assert_str_eq(out, "a b");
    ck_assert_int_eq(wsip_unquote(WSIP_STR_LIT("a\r\nb"), out, sizeof(out)), 4);
    ck_assert_str_eq(out, "a\r\nb");
    /* an escaped backslash does not escape what follows */
    ck_assert_int_eq(wsip_unquote(WSIP_STR_LIT("\\\\\\\""), out, sizeof(out)), 2);
    ck_assert_str_eq(out, "\\\"");
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, jssip_authorization);
    tcase_add_test(tc, linphone_no_spaces_quoted_qop);
    tcase_add_test(tc, challenge_stale_true_multi_qop);
    tcase_add_test(tc, challenge_stale_false_sha256);
    tcase_add_test(tc, rfc7616_userhash_charset);
    tcase_add_test(tc, sipml5_empty_nonce);
    tcase_add_test(tc, folded_lines_and_lws);
    tcase_add_test(tc, escaped_quotes);
    tcase_add_test(tc, case_insensitive_names);
    tcase_add_test(tc, unknown_params_counted);
    tcase_add_test(tc, other_schemes);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, every_prefix);
    tcase_add_test(tc, unquote_edges);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(auth_suite());
}

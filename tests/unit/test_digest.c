/* Digest computation against the shared corpus vectors (digest/vectors.tsv)
 * and wsip_digest_verify() on parsed credentials. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "testutil.h"
#include "wsip/digest.h"
#include "wsip/sip.h"

/* vectors.tsv columns */
enum {
    C_ID,
    C_SOURCE,
    C_USER,
    C_REALM,
    C_PASSWORD,
    C_METHOD,
    C_URI,
    C_NONCE,
    C_NC,
    C_CNONCE,
    C_QOP,
    C_ALG,
    C_RESPONSE,
    C_BODY,
    C_HA1,
    C_HA2,
    C_USERHASH,
    C_NOTES,
    C_COUNT
};

static struct wsip_str S(const char *s) {
    return wsip_str_cstr(s);
}

/* '-' in the corpus means "not used" */
static struct wsip_str
opt(const char *s)
{
    return strcmp(s, "-") == 0 ? WSIP_STR_NULL : S(s);
}

/* The entity_body column: "-", "empty body", or "body of PATH (N bytes[,
 * sha256 HEX])" where PATH is relative to the corpus root and the body is
 * what follows the first empty line of that SIP message. Returns a malloc'd
 * buffer (or NULL for an empty body) and its length. */
static char *load_body(const char *col, size_t *len)
{
    *len = 0;
    if (strcmp(col, "-") == 0 || strcmp(col, "empty body") == 0)
        return NULL;
    char path[256];
    size_t want = 0;
    int nread = 0;
    ck_assert_msg(sscanf(col, "body of %255s (%zu bytes%n", path, &want, &nread) == 2 && nread > 0,
                  "entity_body column not understood: [%s]", col);
    size_t flen;
    char *msg = read_file(corpus_path(path), &flen);
    char *sep = strstr(msg, "\r\n\r\n");
    ck_assert_msg(sep != NULL, "%s has no empty line", path);
    size_t off = (size_t)(sep + 4 - msg);
    *len = flen - off;
    ck_assert_msg(*len == want, "%s body is %zu bytes, vectors.tsv says %zu", path, *len, want);
    char *body = malloc(*len ? *len : 1);
    ck_assert_ptr_nonnull(body);
    memcpy(body, msg + off, *len);
    free(msg);

    /* when the column names a sha256, the body must be that one */
    const char *sha = strstr(col + nread, "sha256 ");
    if (sha != NULL) {
        unsigned char bin[32];
        unsigned blen = 0;
        ck_assert(EVP_Digest(body, *len, bin, &blen, EVP_sha256(), NULL) == 1);
        char hex[65];
        for (unsigned i = 0; i < blen; i++)
            snprintf(hex + 2 * i, 3, "%02x", bin[i]);
        ck_assert_msg(strncmp(sha + 7, hex, 64) == 0, "%s body sha256 %s, vectors.tsv %.64s", path,
                      hex, sha + 7);
    }
    return body;
}

/* SHA-512 cut to 256 bits, to show what the known-bad vector really is. */
static void sha512_trunc_hex(const char *s, char *out)
{
    unsigned char bin[64];
    unsigned blen = 0;
    ck_assert(EVP_Digest(s, strlen(s), bin, &blen, EVP_sha512(), NULL) == 1);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", bin[i]);
}

/* Builds an Authorization header from a vector row (as a UA would send it),
 * parses it and verifies it against the stored HA1. */
static void verify_row(const struct tsv_row *r, enum wsip_digest_alg alg, struct wsip_str body)
{
    char hdr[1024], stored[WSIP_DIGEST_HEX_MAX];
    const char *f[C_COUNT];
    for (int i = 0; i < C_COUNT; i++)
        f[i] = r->f[i];
    ck_assert_int_gt(wsip_digest_ha1(alg, S(f[C_USER]), S(f[C_REALM]), S(f[C_PASSWORD]), stored),
                     0);
    bool qop = strcmp(f[C_QOP], "-") != 0;
    int n = snprintf(hdr, sizeof(hdr),
                     "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
                     "response=\"%s\", algorithm=%s",
                     f[C_USER], f[C_REALM], f[C_NONCE], f[C_URI], f[C_RESPONSE], f[C_ALG]);
    if (qop)
        n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, ", qop=%s, nc=%s, cnonce=\"%s\"", f[C_QOP],
                      f[C_NC], f[C_CNONCE]);
    ck_assert_int_lt(n, (int)sizeof(hdr));

    struct wsip_auth a;
    const char *reason = NULL;
    ck_assert_msg(wsip_auth_parse(&a, S(hdr), &reason) == 0, "%s: [%s] does not parse: %s", f[C_ID],
                  hdr, reason);
    ck_assert_int_eq(wsip_digest_auth_alg(&a), (int)alg);
    enum wsip_digest_result res =
        wsip_digest_verify(&a, S(stored), S(f[C_METHOD]), body, 0, &reason);
    ck_assert_msg(res == WSIP_DIGEST_OK, "%s: verify gave %d (%s)", f[C_ID], (int)res, reason);

    /* the same credentials with one response digit changed must fail */
    char *resp = strstr(hdr, "response=\"") + 10;
    resp[0] = resp[0] == '0' ? '1' : '0';
    ck_assert_int_eq(wsip_auth_parse(&a, S(hdr), NULL), 0);
    res = wsip_digest_verify(&a, S(stored), S(f[C_METHOD]), body, 0, NULL);
    ck_assert_msg(res == WSIP_DIGEST_MISMATCH, "%s: altered response gave %d", f[C_ID], (int)res);
}

START_TEST(corpus_vectors)
{
    struct tsv_row *rows;
    int nrows = tsv_read(corpus_path("digest/vectors.tsv"), &rows);
    int checked = 0, known_bad = 0, with_body = 0, with_userhash = 0;
    for (int i = 0; i < nrows; i++) {
        const struct tsv_row *r = &rows[i];
        ck_assert_msg(r->n == C_COUNT, "row %d has %d columns, want %d", i + 1, r->n, C_COUNT);
        const char *id = r->f[C_ID];
        int ialg = wsip_digest_alg_from_str(S(r->f[C_ALG]));
        ck_assert_msg(ialg >= 0, "%s: unknown algorithm %s", id, r->f[C_ALG]);
        enum wsip_digest_alg alg = (enum wsip_digest_alg)ialg;
        struct wsip_str nonce = S(r->f[C_NONCE]);
        struct wsip_str nc = opt(r->f[C_NC]), cnonce = opt(r->f[C_CNONCE]);
        struct wsip_str qop = opt(r->f[C_QOP]);
        bool auth_int = wsip_str_eq_cstr(qop, "auth-int");
        size_t body_len;
        char *body_buf = load_body(r->f[C_BODY], &body_len);
        struct wsip_str body = wsip_str_make(body_buf, body_len);
        if (!auth_int)
            ck_assert_msg(strcmp(r->f[C_BODY], "-") == 0, "%s: body given without auth-int", id);

        char ha1[WSIP_DIGEST_HEX_MAX], ha2[WSIP_DIGEST_HEX_MAX], resp[WSIP_DIGEST_HEX_MAX];
        char uh[WSIP_DIGEST_HEX_MAX];
        int hl = (int)wsip_digest_hex_len(alg);
        ck_assert_int_eq(
            wsip_digest_ha1(alg, S(r->f[C_USER]), S(r->f[C_REALM]), S(r->f[C_PASSWORD]), ha1), hl);
        if (wsip_digest_alg_is_sess(alg)) {
            char base[WSIP_DIGEST_HEX_MAX];
            memcpy(base, ha1, sizeof(base));
            ck_assert_int_eq(wsip_digest_ha1_sess(alg, S(base), nonce, cnonce, ha1), hl);
        }
        ck_assert_int_eq(
            wsip_digest_ha2(alg, S(r->f[C_METHOD]), S(r->f[C_URI]), auth_int, body, ha2), hl);
        ck_assert_int_eq(wsip_digest_response(alg, S(ha1), nonce, nc, cnonce, qop, S(ha2), resp),
                         hl);
        bool has_uh = strcmp(r->f[C_USERHASH], "-") != 0;
        ck_assert_int_eq(wsip_digest_userhash(alg, S(r->f[C_USER]), S(r->f[C_REALM]), uh), hl);

        if (strstr(r->f[C_NOTES], "KNOWN-BAD") != NULL) {
            /* the skip must be justified: real SHA-512/256 does not give
             * the printed values, SHA-512 cut to 256 bits does */
            known_bad++;
            ck_assert_int_eq(alg, WSIP_DIGEST_SHA512_256);
            ck_assert_str_ne(resp, r->f[C_RESPONSE]);
            ck_assert_str_ne(ha1, r->f[C_HA1]);
            ck_assert_str_ne(ha2, r->f[C_HA2]);
            ck_assert_str_ne(uh, r->f[C_USERHASH]);
            char in[512], trunc[65];
            snprintf(in, sizeof(in), "%s:%s:%s", r->f[C_USER], r->f[C_REALM], r->f[C_PASSWORD]);
            sha512_trunc_hex(in, trunc);
            ck_assert_str_eq(trunc, r->f[C_HA1]);
            snprintf(in, sizeof(in), "%s:%s", r->f[C_USER], r->f[C_REALM]);
            sha512_trunc_hex(in, trunc);
            ck_assert_str_eq(trunc, r->f[C_USERHASH]);
            free(body_buf);
            continue;
        }

        ck_assert_msg(strcmp(ha1, r->f[C_HA1]) == 0, "%s HA1: got %s, want %s", id, ha1,
                      r->f[C_HA1]);
        ck_assert_msg(strcmp(ha2, r->f[C_HA2]) == 0, "%s HA2: got %s, want %s", id, ha2,
                      r->f[C_HA2]);
        ck_assert_msg(strcmp(resp, r->f[C_RESPONSE]) == 0, "%s response: got %s, want %s", id, resp,
                      r->f[C_RESPONSE]);
        if (has_uh) {
            ck_assert_msg(strcmp(uh, r->f[C_USERHASH]) == 0, "%s userhash: got %s, want %s", id, uh,
                          r->f[C_USERHASH]);
            with_userhash++;
        }
        if (body_len > 0)
            with_body++;
        verify_row(r, alg, body);
        checked++;
        free(body_buf);
    }
    tsv_free(rows, nrows);
    ck_assert_int_eq(known_bad, 1);
    ck_assert_int_ge(checked, 17);
    ck_assert_int_ge(with_body, 2);
    ck_assert_int_ge(with_userhash, 1);
}
END_TEST

START_TEST(alg_names)
{
    static const struct {
        const char *s;
        int alg;
    } cases[] = {
        {"MD5", WSIP_DIGEST_MD5},
        {"md5", WSIP_DIGEST_MD5},
        {"MD5-sess", WSIP_DIGEST_MD5_SESS},
        {"MD5-SESS", WSIP_DIGEST_MD5_SESS},
        {"SHA-256", WSIP_DIGEST_SHA256},
        {"sha-256-Sess", WSIP_DIGEST_SHA256_SESS},
        {"SHA-512-256", WSIP_DIGEST_SHA512_256},
        {"SHA-512-256-sess", WSIP_DIGEST_SHA512_256_SESS},
        {"", -1},
        {"SHA-512", -1},
        {"SHA256", -1},
        {"SHA-512/256", -1},
        {"MD5 ", -1},
        {"MD5-sess-sess", -1},
        {"AKAv1-MD5", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(wsip_digest_alg_from_str(S(cases[i].s)) == cases[i].alg,
                      "[%s]: got %d, want %d", cases[i].s, wsip_digest_alg_from_str(S(cases[i].s)),
                      cases[i].alg);
    ck_assert_int_eq(wsip_digest_alg_from_str(WSIP_STR_NULL), -1);
    for (int a = 0; a < WSIP_DIGEST_ALG_COUNT; a++)
        ck_assert_int_eq(wsip_digest_alg_from_str(S(wsip_digest_alg_name(a))), a);
    ck_assert_str_eq(wsip_digest_alg_name(WSIP_DIGEST_SHA512_256_SESS), "SHA-512-256-sess");
    ck_assert_str_eq(wsip_digest_alg_name((enum wsip_digest_alg)6), "");
    ck_assert_uint_eq(wsip_digest_hex_len(WSIP_DIGEST_MD5_SESS), 32);
    ck_assert_uint_eq(wsip_digest_hex_len(WSIP_DIGEST_SHA512_256), 64);
    ck_assert(wsip_digest_alg_is_sess(WSIP_DIGEST_SHA256_SESS));
    ck_assert(!wsip_digest_alg_is_sess(WSIP_DIGEST_SHA256));
}
END_TEST

START_TEST(known_answers)
{
    /* FIPS 180-4 / RFC 1321 test values, independent of the corpus */
    char out[WSIP_DIGEST_HEX_MAX];
    ck_assert_int_eq(wsip_digest_hash_hex(WSIP_DIGEST_MD5, "", 0, out), 32);
    ck_assert_str_eq(out, "d41d8cd98f00b204e9800998ecf8427e");
    ck_assert_int_eq(wsip_digest_hash_hex(WSIP_DIGEST_SHA256_SESS, "abc", 3, out), 64);
    ck_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_int_eq(wsip_digest_hash_hex(WSIP_DIGEST_SHA512_256, "abc", 3, out), 64);
    ck_assert_str_eq(out, "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23");
    ck_assert_int_eq(wsip_digest_hash_hex((enum wsip_digest_alg)6, "abc", 3, out), -1);
    ck_assert_int_eq(wsip_digest_hash_hex((enum wsip_digest_alg) - 1, "abc", 3, out), -1);
}
END_TEST

START_TEST(hex_eq_and_nc)
{
    ck_assert(wsip_digest_hex_eq(S("6629fae4"), S("6629fae4")));
    ck_assert(!wsip_digest_hex_eq(S("6629fae4"), S("6629fae5")));
    ck_assert(!wsip_digest_hex_eq(S("7629fae4"), S("6629fae4")));
    ck_assert(!wsip_digest_hex_eq(S("6629fae4"), S("6629fae")));
    ck_assert(!wsip_digest_hex_eq(S("6629FAE4"), S("6629fae4")));
    ck_assert(wsip_digest_hex_eq(WSIP_STR_NULL, S("")));

    uint32_t v = 0;
    ck_assert_int_eq(wsip_digest_nc_parse(S("00000001"), &v), 0);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_eq(wsip_digest_nc_parse(S("0000000a"), &v), 0);
    ck_assert_uint_eq(v, 10);
    ck_assert_int_eq(wsip_digest_nc_parse(S("FFFFFFFF"), &v), 0);
    ck_assert_uint_eq(v, 0xffffffffu);
    v = 7;
    ck_assert_int_eq(wsip_digest_nc_parse(S("0000001"), &v), -1);
    ck_assert_int_eq(wsip_digest_nc_parse(S("000000001"), &v), -1);
    ck_assert_int_eq(wsip_digest_nc_parse(S("0000000g"), &v), -1);
    ck_assert_int_eq(wsip_digest_nc_parse(S("0000 001"), &v), -1);
    ck_assert_int_eq(wsip_digest_nc_parse(WSIP_STR_NULL, &v), -1);
    ck_assert_uint_eq(v, 7); /* untouched on failure */
}
END_TEST

/* alice / example.com / wonderland, MD5 (sip-register-md5-auth in the corpus) */
#define ALICE_HA1 "93dfce8dfebfae8af4a726982429d23a"
#define ALICE_OK                                                                                   \
    "Digest username=\"alice\", realm=\"example.com\", "                                           \
    "nonce=\"1a3f8e0c5b7d29e4f6a8c0b2d4e6f819\", uri=\"sip:proxy.example.com\", "                  \
    "response=\"f15de1b4fd02867a0642d1f45feb927c\", qop=auth, nc=00000001, cnonce=\"0a4f113b\""

static enum wsip_digest_result verify_hdr(const char *hdr, const char *ha1, const char *method,
                                          unsigned flags, const char **reason)
{
    struct wsip_auth a;
    const char *why = NULL;
    ck_assert_msg(wsip_auth_parse(&a, S(hdr), &why) == 0, "[%s] does not parse: %s", hdr, why);
    return wsip_digest_verify(&a, S(ha1), S(method), WSIP_STR_NULL, flags, reason);
}

#define ck_verify(hdr, ha1, method, flags, want)                                                   \
    do {                                                                                           \
        const char *r_ = NULL;                                                                     \
        enum wsip_digest_result got_ = verify_hdr(hdr, ha1, method, flags, &r_);                   \
        ck_assert_msg(got_ == (want), "[%s]: got %d (%s), want %d (%s)", hdr, (int)got_,           \
                      r_ ? r_ : "-", (int)(want), #want);                                          \
        if (got_ != WSIP_DIGEST_OK)                                                                \
            ck_assert_ptr_nonnull(r_);                                                             \
    } while (0)

START_TEST(verify_cases)
{
    ck_verify(ALICE_OK, ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_OK);
    ck_verify(ALICE_OK, ALICE_HA1, "REGISTER", WSIP_DIGEST_REQUIRE_QOP, WSIP_DIGEST_OK);
    /* the method is part of HA2 */
    ck_verify(ALICE_OK, ALICE_HA1, "INVITE", 0, WSIP_DIGEST_MISMATCH);
    /* another password's HA1 */
    ck_verify(ALICE_OK, "93dfce8dfebfae8af4a726982429d23b", "REGISTER", 0, WSIP_DIGEST_MISMATCH);
    /* stored HA1 of the wrong size or case */
    ck_verify(ALICE_OK, "93dfce8dfebfae8af4a726982429d23", "REGISTER", 0, WSIP_DIGEST_ERROR);
    ck_verify(ALICE_OK, "93DFCE8DFEBFAE8AF4A726982429D23A", "REGISTER", 0, WSIP_DIGEST_ERROR);

    /* sipML5's first REGISTER: no credentials yet */
    ck_verify("Digest username=\"alice\",realm=\"example.com\",nonce=\"\",uri=\"sip:example.com\","
              "response=\"\"",
              ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_NO_CREDENTIALS);
    ck_verify("Digest username=\"alice\", realm=\"example.com\", uri=\"sip:example.com\"",
              ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_NO_CREDENTIALS);

    /* no qop: RFC 2069 style (sip-register-md5-noqop) */
    const char *noqop =
        "Digest username=\"alice\", realm=\"example.com\", "
        "nonce=\"1a3f8e0c5b7d29e4f6a8c0b2d4e6f819\", uri=\"sip:proxy.example.com\", "
        "response=\"11d54c6624f00c56b0279a29009e7a4b\"";
    ck_verify(noqop, ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_OK);
    ck_verify(noqop, ALICE_HA1, "REGISTER", WSIP_DIGEST_REQUIRE_QOP, WSIP_DIGEST_BAD_QOP);

    ck_verify("Digest username=\"alice\", nonce=\"n\", uri=\"sip:a\", response=\"r\", "
              "algorithm=SHA-1",
              ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_BAD_ALGORITHM);
    ck_verify("Digest username=\"alice\", nonce=\"n\", uri=\"sip:a\", response=\"r\", "
              "qop=auth-conf, nc=00000001, cnonce=\"c\"",
              ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_BAD_QOP);
    ck_verify("Digest username=\"alice\", nonce=\"n\", uri=\"sip:a\", response=\"r\", qop=auth, "
              "cnonce=\"c\"",
              ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_MALFORMED);
    ck_verify("Digest username=\"alice\", nonce=\"n\", uri=\"sip:a\", response=\"r\", qop=auth, "
              "nc=1, cnonce=\"c\"",
              ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_MALFORMED);
    ck_verify("Digest username=\"alice\", nonce=\"n\", uri=\"sip:a\", response=\"r\", qop=auth, "
              "nc=00000001, cnonce=\"\"",
              ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_MALFORMED);
    ck_verify("Digest username=\"alice\", nonce=\"n\", response=\"r\"", ALICE_HA1, "REGISTER", 0,
              WSIP_DIGEST_MALFORMED);
    ck_verify("Digest username=\"alice\", nonce=\"n\", uri=\"sip:a\", response=\"r\", "
              "algorithm=MD5-sess",
              ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_MALFORMED);
    ck_verify("Bearer realm=\"example.com\"", ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_MALFORMED);
    /* an SHA-256 credential checked with an MD5-sized HA1 */
    ck_verify("Digest username=\"alice\", nonce=\"n\", uri=\"sip:a\", response=\"r\", "
              "algorithm=SHA-256",
              ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_ERROR);
    /* LHEX only: an upper-case response does not match */
    ck_verify("Digest username=\"alice\", realm=\"example.com\", "
              "nonce=\"1a3f8e0c5b7d29e4f6a8c0b2d4e6f819\", uri=\"sip:proxy.example.com\", "
              "response=\"F15DE1B4FD02867A0642D1F45FEB927C\", qop=auth, nc=00000001, "
              "cnonce=\"0a4f113b\"",
              ALICE_HA1, "REGISTER", 0, WSIP_DIGEST_MISMATCH);
}
END_TEST

/* Quoted values are hashed unescaped: compute what the client would for
 * nonce `a"b\c` and uri with a fold, then send them escaped. */
START_TEST(verify_unescapes)
{
    enum wsip_digest_alg alg = WSIP_DIGEST_SHA256;
    char ha1[WSIP_DIGEST_HEX_MAX], ha2[WSIP_DIGEST_HEX_MAX], resp[WSIP_DIGEST_HEX_MAX];
    ck_assert_int_eq(wsip_digest_ha1(alg, S("alice"), S("example.com"), S("wonderland"), ha1), 64);
    ck_assert_int_eq(
        wsip_digest_ha2(alg, S("MESSAGE"), S("sip:bob@example.com"), false, WSIP_STR_NULL, ha2),
        64);
    ck_assert_int_eq(wsip_digest_response(alg, S(ha1), S("a\"b\\c"), S("0000000f"), S("c n"),
                                          S("auth"), S(ha2), resp),
                     64);
    char hdr[512];
    snprintf(hdr, sizeof(hdr),
             "Digest username=\"alice\", realm=\"example.com\", nonce=\"a\\\"b\\\\c\", "
             "uri=\"sip:bob@\\example.com\", response=\"%s\", algorithm=SHA-256, qop=auth, "
             "nc=0000000f, cnonce=\"c\r\n n\"",
             resp);
    ck_verify(hdr, ha1, "MESSAGE", 0, WSIP_DIGEST_OK);
}
END_TEST

/* auth-int binds the body: the same credentials fail with another body. */
START_TEST(verify_auth_int_body)
{
    enum wsip_digest_alg alg = WSIP_DIGEST_MD5_SESS;
    const char *body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n";
    char ha1[WSIP_DIGEST_HEX_MAX], sess[WSIP_DIGEST_HEX_MAX], ha2[WSIP_DIGEST_HEX_MAX],
        resp[WSIP_DIGEST_HEX_MAX];
    ck_assert_int_eq(wsip_digest_ha1(alg, S("bob"), S("biloxi.com"), S("pw"), ha1), 32);
    ck_assert_int_eq(wsip_digest_ha1_sess(alg, S(ha1), S("nn"), S("cc"), sess), 32);
    ck_assert_int_eq(
        wsip_digest_ha2(alg, S("INVITE"), S("sip:alice@atlanta.com"), true, S(body), ha2), 32);
    ck_assert_int_eq(wsip_digest_response(alg, S(sess), S("nn"), S("00000001"), S("cc"),
                                          S("auth-int"), S(ha2), resp),
                     32);
    char hdr[512];
    snprintf(hdr, sizeof(hdr),
             "Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"nn\", "
             "uri=\"sip:alice@atlanta.com\", response=\"%s\", algorithm=MD5-sess, "
             "qop=auth-int, nc=00000001, cnonce=\"cc\"",
             resp);
    struct wsip_auth a;
    ck_assert_int_eq(wsip_auth_parse(&a, S(hdr), NULL), 0);
    ck_assert_int_eq(wsip_digest_verify(&a, S(ha1), S("INVITE"), S(body), 0, NULL), WSIP_DIGEST_OK);
    ck_assert_int_eq(wsip_digest_verify(&a, S(ha1), S("INVITE"), S("v=0\r\n"), 0, NULL),
                     WSIP_DIGEST_MISMATCH);
    /* passing the session HA1 as the stored one is a caller error: mismatch */
    ck_assert_int_eq(wsip_digest_verify(&a, S(sess), S("INVITE"), S(body), 0, NULL),
                     WSIP_DIGEST_MISMATCH);
}
END_TEST

static Suite *digest_suite(void)
{
    Suite *s = suite_create("digest");
    TCase *tc = tcase_create("digest");
    tcase_add_test(tc, corpus_vectors);
    tcase_add_test(tc, alg_names);
    tcase_add_test(tc, known_answers);
    tcase_add_test(tc, hex_eq_and_nc);
    tcase_add_test(tc, verify_cases);
    tcase_add_test(tc, verify_unescapes);
    tcase_add_test(tc, verify_auth_int_body);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(digest_suite());
}

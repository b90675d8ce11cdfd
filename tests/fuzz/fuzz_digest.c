/* Fuzz target: one Authorization / WWW-Authenticate header value through
 * wsip_auth_parse(); when it parses, every view is checked to lie inside the
 * input, every value is unquoted (into a tight and a roomy buffer), and
 * Digest credentials go through wsip_digest_verify() and the hash helpers. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsip/digest.h"
#include "wsip/sip.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* replay (standalone.c): the shared corpus holds whole messages and TSVs,
 * not header values; the seeds in corpus/digest are enough */
const char *const wsip_fuzz_seed_exts[] = {NULL};

/* Header lines are limited to 8 KiB by the message parser; longer inputs
 * only slow the fuzzer down. */
#define MAX_INPUT 8192u

static volatile unsigned char sink;

static const char *in_lo, *in_hi;

static void touch(struct wsip_str s)
{
    if (s.p == NULL) {
        CHECK(s.len == 0);
        return;
    }
    CHECK(s.p >= in_lo && s.p <= in_hi && s.len <= (size_t)(in_hi - s.p));
    unsigned char x = 0;
    for (size_t i = 0; i < s.len; i++)
        x ^= (unsigned char)s.p[i];
    sink = x;
}

static void exercise_unquote(struct wsip_str v)
{
    /* unquoting never grows a value, so len + 1 always fits */
    char *out = malloc(v.len + 1);
    CHECK(out != NULL);
    long n = wsip_unquote(v, out, v.len + 1);
    CHECK(n >= 0 && (size_t)n <= v.len && out[n] == '\0');
    /* one byte short of the result must fail cleanly (or fit when empty) */
    if (n > 0) {
        long m = wsip_unquote(v, out, (size_t)n);
        CHECK(m == -1);
    }
    free(out);
}

static void exercise_digest(const struct wsip_auth *a)
{
    int ialg = wsip_digest_auth_alg(a);
    enum wsip_digest_alg alg = ialg < 0 ? WSIP_DIGEST_MD5 : (enum wsip_digest_alg)ialg;
    char ha1[WSIP_DIGEST_HEX_MAX], ha2[WSIP_DIGEST_HEX_MAX], resp[WSIP_DIGEST_HEX_MAX];

    /* HA1 from the header's own values, as a stand-in for a stored one */
    int n = wsip_digest_ha1(alg, a->username, a->realm, a->opaque, ha1);
    if (n < 0)
        return; /* hash not available in this OpenSSL */
    CHECK((size_t)n == wsip_digest_hex_len(alg) && ha1[n] == '\0');
    struct wsip_str method = WSIP_STR_LIT("REGISTER");
    struct wsip_str body = a->domain; /* any bytes will do for auth-int */
    const char *reason = NULL;
    enum wsip_digest_result r =
        wsip_digest_verify(a, wsip_str_make(ha1, (size_t)n), method, body, 0, &reason);
    CHECK(r >= WSIP_DIGEST_OK && r <= WSIP_DIGEST_ERROR);
    CHECK(r == WSIP_DIGEST_OK || reason != NULL);
    r = wsip_digest_verify(a, wsip_str_make(ha1, (size_t)n), method, body, WSIP_DIGEST_REQUIRE_QOP,
                           NULL);
    CHECK(r >= WSIP_DIGEST_OK && r <= WSIP_DIGEST_ERROR);

    /* the raw helpers on the raw views, both qop forms */
    bool auth_int = wsip_str_caseeq_cstr(a->qop, "auth-int");
    CHECK(wsip_digest_ha2(alg, method, a->uri, auth_int, body, ha2) == n);
    CHECK(wsip_digest_response(alg, wsip_str_make(ha1, (size_t)n), a->nonce, a->nc, a->cnonce,
                               a->qop, wsip_str_make(ha2, (size_t)n), resp) == n);
    CHECK(wsip_digest_ha1_sess(alg, wsip_str_make(ha1, (size_t)n), a->nonce, a->cnonce, resp) == n);
    CHECK(wsip_digest_userhash(alg, a->username, a->realm, resp) == n);
    /* a computed response always verifies against itself */
    CHECK(wsip_digest_hex_eq(wsip_str_make(resp, (size_t)n), wsip_str_make(resp, (size_t)n)));
    uint32_t nc;
    (void)wsip_digest_nc_parse(a->nc, &nc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    const char *p = (const char *)data;
    in_lo = p;
    in_hi = p + size;

    struct wsip_auth a;
    const char *reason = NULL;
    if (wsip_auth_parse(&a, wsip_str_make(p, size), &reason) != 0) {
        CHECK(reason != NULL && reason[0] != '\0');
        return 0;
    }
    const struct wsip_str *v[] = {&a.scheme,   &a.username,  &a.realm,  &a.nonce,    &a.uri,
                                  &a.response, &a.algorithm, &a.cnonce, &a.opaque,   &a.qop,
                                  &a.nc,       &a.domain,    &a.stale,  &a.userhash, &a.charset};
    CHECK(a.scheme.len > 0);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        touch(*v[i]);
        if (i > 0)
            exercise_unquote(*v[i]);
    }
    (void)wsip_digest_alg_from_str(a.algorithm);
    if (a.is_digest)
        exercise_digest(&a);
    else
        CHECK(wsip_digest_auth_alg(&a) == -1);
    return 0;
}

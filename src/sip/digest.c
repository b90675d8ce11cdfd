/* Digest hashes and credential checking on OpenSSL EVP. */
#include "wsip/digest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "wsip/sip.h"

struct alg_info {
    const char *name;
    size_t hex_len;
};

static const struct alg_info alg_info[WSIP_DIGEST_ALG_COUNT] = {
    [WSIP_DIGEST_MD5] = {"MD5", 32},
    [WSIP_DIGEST_MD5_SESS] = {"MD5-sess", 32},
    [WSIP_DIGEST_SHA256] = {"SHA-256", 64},
    [WSIP_DIGEST_SHA256_SESS] = {"SHA-256-sess", 64},
    [WSIP_DIGEST_SHA512_256] = {"SHA-512-256", 64},
    [WSIP_DIGEST_SHA512_256_SESS] = {"SHA-512-256-sess", 64},
};

/* OpenSSL 3 names per base algorithm; "SHA2-512/256" is the FIPS 180-4
 * function with its own IV, which is what RFC 7616 sec 3.2 means. */
static const char *const ossl_name[WSIP_DIGEST_ALG_COUNT / 2] = {"MD5", "SHA2-256", "SHA2-512/256"};

/* Fetched once and kept for the process: EVP_MD_fetch does a provider
 * lookup each time, too slow for every REGISTER. */
static _Atomic(EVP_MD *) md_cache[WSIP_DIGEST_ALG_COUNT / 2];

static bool alg_valid(enum wsip_digest_alg alg)
{
    return (unsigned)alg < WSIP_DIGEST_ALG_COUNT;
}

static const EVP_MD *get_md(enum wsip_digest_alg alg)
{
    unsigned i = (unsigned)alg / 2;
    EVP_MD *md = atomic_load(&md_cache[i]);
    if (md != NULL)
        return md;
    md = EVP_MD_fetch(NULL, ossl_name[i], NULL);
    if (md == NULL)
        return NULL;
    EVP_MD *expected = NULL;
    if (!atomic_compare_exchange_strong(&md_cache[i], &expected, md)) {
        EVP_MD_free(md); /* another thread won the race */
        md = expected;
    }
    return md;
}

/* One digest context per thread, reused: EVP_MD_CTX_new and _free cost
 * about 500 instructions a hash, and a REGISTER with credentials makes
 * three. The thread's context is freed when it ends. */
static pthread_key_t ctx_key;
static bool ctx_key_ok;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *c)
{
    EVP_MD_CTX_free(c);
}

static void ctx_key_make(void)
{
    ctx_key_ok = pthread_key_create(&ctx_key, ctx_free) == 0;
}

EVP_MD_CTX *wsip_digest_ctx(void)
{
    pthread_once(&ctx_once, ctx_key_make);
    if (!ctx_key_ok)
        return NULL;
    EVP_MD_CTX *c = pthread_getspecific(ctx_key);
    if (c)
        return c;
    c = EVP_MD_CTX_new();
    if (c && pthread_setspecific(ctx_key, c) != 0) {
        EVP_MD_CTX_free(c);
        c = NULL;
    }
    return c;
}

/* H(parts[0] ":" parts[1] ":" ...) into out as hex. */
static int hash_parts(enum wsip_digest_alg alg, const struct wsip_str *parts, size_t n, char *out)
{
    if (!alg_valid(alg))
        return -1;
    const EVP_MD *md = get_md(alg);
    if (md == NULL)
        return -1;
    EVP_MD_CTX *ctx = wsip_digest_ctx();
    if (ctx == NULL)
        return -1;
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned bin_len = 0;
    bool ok = EVP_DigestInit_ex(ctx, md, NULL) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        if (i > 0)
            ok = EVP_DigestUpdate(ctx, ":", 1) == 1;
        if (ok && parts[i].len > 0)
            ok = EVP_DigestUpdate(ctx, parts[i].p, parts[i].len) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, bin, &bin_len) == 1;
    if (!ok || bin_len * 2 != alg_info[alg].hex_len)
        return -1;
    wsip_hex_encode(bin, bin_len, out);
    return (int)(bin_len * 2);
}

int wsip_digest_alg_from_str(struct wsip_str s)
{
    for (int i = 0; i < WSIP_DIGEST_ALG_COUNT; i++)
        if (wsip_str_caseeq_cstr(s, alg_info[i].name))
            return i;
    return -1;
}

const char *wsip_digest_alg_name(enum wsip_digest_alg alg)
{
    return alg_valid(alg) ? alg_info[alg].name : "";
}

size_t wsip_digest_hex_len(enum wsip_digest_alg alg)
{
    return alg_valid(alg) ? alg_info[alg].hex_len : 0;
}

int wsip_digest_auth_alg(const struct wsip_auth *a)
{
    if (!a->is_digest)
        return -1;
    if (a->algorithm.p == NULL)
        return WSIP_DIGEST_MD5;
    return wsip_digest_alg_from_str(a->algorithm);
}

int wsip_digest_hash_hex(enum wsip_digest_alg alg, const void *data, size_t len, char *out)
{
    struct wsip_str s = wsip_str_make(data, len);
    return hash_parts(alg, &s, 1, out);
}

int wsip_digest_ha1(enum wsip_digest_alg alg, struct wsip_str username, struct wsip_str realm,
                    struct wsip_str password, char *out)
{
    const struct wsip_str parts[] = {username, realm, password};
    return hash_parts(alg, parts, 3, out);
}

int wsip_digest_ha1_sess(enum wsip_digest_alg alg, struct wsip_str ha1, struct wsip_str nonce,
                         struct wsip_str cnonce, char *out)
{
    const struct wsip_str parts[] = {ha1, nonce, cnonce};
    return hash_parts(alg, parts, 3, out);
}

int wsip_digest_ha2(enum wsip_digest_alg alg, struct wsip_str method, struct wsip_str uri,
                    bool auth_int, struct wsip_str body, char *out)
{
    if (!auth_int) {
        const struct wsip_str parts[] = {method, uri};
        return hash_parts(alg, parts, 2, out);
    }
    char hbody[WSIP_DIGEST_HEX_MAX];
    int n = hash_parts(alg, &body, 1, hbody);
    if (n < 0)
        return -1;
    const struct wsip_str parts[] = {method, uri, wsip_str_make(hbody, (size_t)n)};
    return hash_parts(alg, parts, 3, out);
}

int wsip_digest_response(enum wsip_digest_alg alg, struct wsip_str ha1, struct wsip_str nonce,
                         struct wsip_str nc, struct wsip_str cnonce, struct wsip_str qop,
                         struct wsip_str ha2, char *out)
{
    if (qop.len == 0) {
        const struct wsip_str parts[] = {ha1, nonce, ha2};
        return hash_parts(alg, parts, 3, out);
    }
    const struct wsip_str parts[] = {ha1, nonce, nc, cnonce, qop, ha2};
    return hash_parts(alg, parts, 6, out);
}

int wsip_digest_userhash(enum wsip_digest_alg alg, struct wsip_str username, struct wsip_str realm,
                         char *out)
{
    const struct wsip_str parts[] = {username, realm};
    return hash_parts(alg, parts, 2, out);
}

bool wsip_digest_hex_eq(struct wsip_str a, struct wsip_str b)
{
    if (a.len != b.len)
        return false;
    if (a.len == 0)
        return true;
    return CRYPTO_memcmp(a.p, b.p, a.len) == 0;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int wsip_digest_nc_parse(struct wsip_str nc, uint32_t *out)
{
    if (nc.len != 8)
        return -1;
    uint32_t v = 0;
    for (size_t i = 0; i < 8; i++) {
        int d = hexval((unsigned char)nc.p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

static bool is_lower_hex(struct wsip_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

static bool needs_unquote(struct wsip_str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] == '\\' || s.p[i] == '\r' || s.p[i] == '\n')
            return true;
    return false;
}

/* The value the client hashed: quoted-string escapes and folds removed
 * (RFC 7616 unq()). Copies into *scratch only when needed. */
static struct wsip_str unq(struct wsip_str v, char **scratch)
{
    if (!needs_unquote(v))
        return v;
    long n = wsip_unquote(v, *scratch, v.len + 1); /* unquoting never grows */
    struct wsip_str r = wsip_str_make(*scratch, n < 0 ? 0 : (size_t)n);
    *scratch += v.len + 1;
    return r;
}

static enum wsip_digest_result fail(enum wsip_digest_result r, const char *why, const char **reason)
{
    if (reason != NULL)
        *reason = why;
    return r;
}

enum wsip_digest_result wsip_digest_verify(const struct wsip_auth *a, struct wsip_str ha1,
                                           struct wsip_str method, struct wsip_str body,
                                           unsigned flags, const char **reason)
{
    if (!a->is_digest)
        return fail(WSIP_DIGEST_MALFORMED, "Credentials are not Digest", reason);
    if (a->nonce.len == 0 || a->response.len == 0)
        return fail(WSIP_DIGEST_NO_CREDENTIALS, "Digest without nonce or response", reason);
    int ialg = wsip_digest_auth_alg(a);
    if (ialg < 0)
        return fail(WSIP_DIGEST_BAD_ALGORITHM, "Unsupported Digest algorithm", reason);
    enum wsip_digest_alg alg = (enum wsip_digest_alg)ialg;
    if (a->uri.len == 0)
        return fail(WSIP_DIGEST_MALFORMED, "Digest without uri", reason);

    bool auth_int = false;
    if (a->qop.p == NULL) {
        /* RFC 2069 style; -sess needs a cnonce, which needs qop */
        if (flags & WSIP_DIGEST_REQUIRE_QOP)
            return fail(WSIP_DIGEST_BAD_QOP, "Digest qop required", reason);
        if (wsip_digest_alg_is_sess(alg))
            return fail(WSIP_DIGEST_MALFORMED, "Digest -sess algorithm without qop", reason);
    } else {
        if (wsip_str_caseeq_cstr(a->qop, "auth-int"))
            auth_int = true;
        else if (!wsip_str_caseeq_cstr(a->qop, "auth"))
            return fail(WSIP_DIGEST_BAD_QOP, "Unsupported Digest qop", reason);
        uint32_t nc;
        if (wsip_digest_nc_parse(a->nc, &nc) < 0)
            return fail(WSIP_DIGEST_MALFORMED, "Digest nc missing or malformed", reason);
        if (a->cnonce.len == 0)
            return fail(WSIP_DIGEST_MALFORMED, "Digest cnonce missing", reason);
    }
    if (ha1.len != wsip_digest_hex_len(alg) || !is_lower_hex(ha1))
        return fail(WSIP_DIGEST_ERROR, "Stored HA1 unusable for this algorithm", reason);

    /* at most five values need unescaping, each into len + 1 bytes */
    char *scratch_buf = NULL;
    const struct wsip_str *vals[] = {&a->nonce, &a->cnonce, &a->uri, &a->qop, &a->nc};
    size_t need = 0;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        if (needs_unquote(*vals[i]))
            need += vals[i]->len + 1;
    if (need > 0) {
        scratch_buf = malloc(need);
        if (scratch_buf == NULL)
            return fail(WSIP_DIGEST_ERROR, "Out of memory", reason);
    }
    char *scratch = scratch_buf;
    struct wsip_str nonce = unq(a->nonce, &scratch);
    struct wsip_str cnonce = unq(a->cnonce, &scratch);
    struct wsip_str uri = unq(a->uri, &scratch);
    struct wsip_str qop = unq(a->qop, &scratch);
    struct wsip_str ncs = unq(a->nc, &scratch);

    char sess[WSIP_DIGEST_HEX_MAX], ha2[WSIP_DIGEST_HEX_MAX], want[WSIP_DIGEST_HEX_MAX];
    int n = 0;
    if (wsip_digest_alg_is_sess(alg)) {
        n = wsip_digest_ha1_sess(alg, ha1, nonce, cnonce, sess);
        ha1 = wsip_str_make(sess, n < 0 ? 0 : (size_t)n);
    }
    if (n >= 0)
        n = wsip_digest_ha2(alg, method, uri, auth_int, body, ha2);
    if (n >= 0)
        n = wsip_digest_response(alg, ha1, nonce, ncs, cnonce, qop, wsip_str_make(ha2, (size_t)n),
                                 want);
    free(scratch_buf);
    if (n < 0)
        return fail(WSIP_DIGEST_ERROR, "Digest hash unavailable", reason);
    if (!wsip_digest_hex_eq(a->response, wsip_str_make(want, (size_t)n)))
        return fail(WSIP_DIGEST_MISMATCH, "Digest response mismatch", reason);
    return WSIP_DIGEST_OK;
}

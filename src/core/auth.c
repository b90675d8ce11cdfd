/* Digest authentication service: stateless HMAC nonces, credential checks,
 * nc replay table and per-address failure limiting (see wsip/auth.h for
 * the policies). */
#include "wsip/auth.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/random.h"

#define NONCE_RAW      32 /* time 8 | random 8 | mac 16 */
#define NONCE_HEAD     16 /* the MAC'd part before the realm */
#define NONCE_MAC      16
#define FUTURE_SKEW_MS 5000 /* clocks of threads or peers may differ this much */
#define WAYS           8    /* entries per bucket in both tables */
#define MAX_LOCKS      64
#define MAX_SLOTS      (1u << 24)

/* One mutex per cache line, so shards do not contend through false sharing. */
struct lock {
    _Alignas(64) pthread_mutex_t m;
};

struct replay_ent {
    uint64_t rnd;  /* the nonce's random part */
    uint64_t mint; /* its mint time */
    uint32_t nc;   /* highest nonce-count accepted; 0 = free slot */
};

struct replay_bucket {
    uint64_t floor; /* 1 + newest mint time dropped from this bucket; 0 = none */
    struct replay_ent e[WAYS];
};

struct rate_ent {
    unsigned char addr[16]; /* IPv4 as ::ffff:a.b.c.d, IPv6 as its /64 */
    uint64_t start;         /* window start (ms) */
    uint32_t count;         /* failures in the window; 0 = free slot */
};

struct rate_bucket {
    struct rate_ent e[WAYS];
};

struct wsip_auth_svc {
    struct wsip_auth_cfg cfg;
    uint64_t ttl_ms, window_ms;
    /* HMAC-SHA256 keyed with the secret, as the two hash states after the
     * ipad and opad blocks: each MAC copies them (cheaper than EVP_MAC,
     * and reading them from many threads at once is safe) */
    EVP_MD_CTX *hmac_in, *hmac_out;
    uint64_t hkey[3];                    /* keys of the bucket hashes (not visible in any nonce) */
    char dummy_ha1[WSIP_DIGEST_HEX_MAX]; /* random: what unknown users are checked against */

    struct replay_bucket *rb;
    size_t nrb; /* power of two */
    struct lock *rlocks;
    unsigned nrlocks; /* power of two */

    struct rate_bucket *tb;
    size_t ntb;
    struct lock *tlocks;
    unsigned ntlocks;

    _Atomic uint64_t by_rc[WSIP_AUTH_RC_COUNT];
    _Atomic uint64_t challenges, replays, evictions;
};

/* ------------------------------------------------------------- helpers */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t load_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void store_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

/* now - t, 0 when t is ahead (threads' clocks need not be monotonic together) */
static uint64_t age_ms(uint64_t now, uint64_t t)
{
    return now > t ? now - t : 0;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static const char b64u_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; out gets ceil(4n/3) characters and a NUL. */
static void b64u_encode(const unsigned char *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64u_chars[v >> 18];
        out[o++] = b64u_chars[(v >> 12) & 63];
        out[o++] = b64u_chars[(v >> 6) & 63];
        out[o++] = b64u_chars[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64u_chars[v >> 18];
        out[o++] = b64u_chars[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64u_chars[v >> 18];
        out[o++] = b64u_chars[(v >> 12) & 63];
        out[o++] = b64u_chars[(v >> 6) & 63];
    }
    out[o] = '\0';
}

static int b64u_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Exactly the canonical encoding of NONCE_RAW bytes (unused low bits zero),
 * so one nonce has one spelling. */
static bool b64u_decode_nonce(struct wsip_str s, unsigned char out[NONCE_RAW])
{
    if (s.len != WSIP_AUTH_NONCE_LEN)
        return false;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < s.len; i++) {
        int v = b64u_val((unsigned char)s.p[i]);
        if (v < 0)
            return false;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return o == NONCE_RAW && acc == 0;
}

/* A realm we can put between quotes as is. */
static bool realm_ok(struct wsip_str r)
{
    if (r.p == NULL || r.len == 0 || r.len > WSIP_AUTH_REALM_MAX)
        return false;
    for (size_t i = 0; i < r.len; i++) {
        unsigned char c = (unsigned char)r.p[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------- nonce */

static int nonce_mac(const struct wsip_auth_svc *a, const unsigned char head[NONCE_HEAD],
                     struct wsip_str realm, unsigned char out[NONCE_MAC])
{
    unsigned char inner[EVP_MAX_MD_SIZE], full[EVP_MAX_MD_SIZE];
    unsigned n = 0, m = 0;
    EVP_MD_CTX *c = wsip_digest_ctx();
    bool ok = c != NULL && EVP_MD_CTX_copy_ex(c, a->hmac_in) == 1 &&
              EVP_DigestUpdate(c, head, NONCE_HEAD) == 1 &&
              EVP_DigestUpdate(c, realm.p, realm.len) == 1 &&
              EVP_DigestFinal_ex(c, inner, &n) == 1 && EVP_MD_CTX_copy_ex(c, a->hmac_out) == 1 &&
              EVP_DigestUpdate(c, inner, n) == 1 && EVP_DigestFinal_ex(c, full, &m) == 1 &&
              m >= NONCE_MAC;
    if (!ok)
        return -1;
    memcpy(out, full, NONCE_MAC);
    return 0;
}

static int nonce_mint(const struct wsip_auth_svc *a, struct wsip_str realm, uint64_t now,
                      char out[WSIP_AUTH_NONCE_LEN + 1])
{
    unsigned char raw[NONCE_RAW];
    store_be64(raw, now);
    if (wsip_random_bytes(raw + 8, 8) < 0)
        return -1;
    if (nonce_mac(a, raw, realm, raw + NONCE_HEAD) < 0)
        return -1;
    b64u_encode(raw, NONCE_RAW, out);
    return 0;
}

enum nonce_state { NONCE_FOREIGN, NONCE_FUTURE, NONCE_FRESH, NONCE_EXPIRED };

static enum nonce_state nonce_verify(const struct wsip_auth_svc *a, struct wsip_str nonce,
                                     struct wsip_str realm, uint64_t now, uint64_t *mint,
                                     uint64_t *rnd)
{
    unsigned char raw[NONCE_RAW], mac[NONCE_MAC];
    if (!b64u_decode_nonce(nonce, raw))
        return NONCE_FOREIGN;
    if (nonce_mac(a, raw, realm, mac) < 0 || CRYPTO_memcmp(mac, raw + NONCE_HEAD, NONCE_MAC) != 0)
        return NONCE_FOREIGN;
    *mint = load_be64(raw);
    *rnd = load_be64(raw + 8);
    if (*mint > now && *mint - now > FUTURE_SKEW_MS)
        return NONCE_FUTURE;
    return age_ms(now, *mint) > a->ttl_ms ? NONCE_EXPIRED : NONCE_FRESH;
}

/* --------------------------------------------------------- replay table */

enum replay_rc { REPLAY_OK, REPLAY_SEEN, REPLAY_UNKNOWN };

static void replay_drop(struct replay_bucket *b, struct replay_ent *e)
{
    if (e->mint + 1 > b->floor)
        b->floor = e->mint + 1;
    e->nc = 0;
}

/* Records nc for an authenticated nonce: OK when it grows (or the nonce is
 * new), SEEN when not, UNKNOWN when the nonce may have been evicted. */
static enum replay_rc replay_check(struct wsip_auth_svc *a, uint64_t rnd, uint64_t mint,
                                   uint32_t nc, uint64_t now)
{
    size_t i = (size_t)(mix64(rnd ^ a->hkey[0]) & (a->nrb - 1));
    struct replay_bucket *b = &a->rb[i];
    pthread_mutex_t *mu = &a->rlocks[i & (a->nrlocks - 1)].m;
    enum replay_rc rc = REPLAY_OK;

    pthread_mutex_lock(mu);
    for (unsigned w = 0; w < WAYS; w++) {
        struct replay_ent *e = &b->e[w];
        if (e->nc != 0 && e->rnd == rnd && e->mint == mint) {
            if (nc <= e->nc)
                rc = REPLAY_SEEN;
            else
                e->nc = nc;
            goto out;
        }
    }
    /* not tracked: new, unless something at least as old was dropped */
    if (mint < b->floor) {
        rc = REPLAY_UNKNOWN;
        goto out;
    }
    struct replay_ent *slot = NULL, *oldest = NULL;
    for (unsigned w = 0; w < WAYS; w++) {
        struct replay_ent *e = &b->e[w];
        if (e->nc != 0 && age_ms(now, e->mint) > a->ttl_ms)
            replay_drop(b, e); /* its nonce is stale anyway */
        if (e->nc == 0) {
            if (slot == NULL)
                slot = e;
        } else if (oldest == NULL || e->mint < oldest->mint) {
            oldest = e;
        }
    }
    if (slot == NULL) {
        replay_drop(b, oldest);
        slot = oldest;
        atomic_fetch_add_explicit(&a->evictions, 1, memory_order_relaxed);
    }
    slot->rnd = rnd;
    slot->mint = mint;
    slot->nc = nc;
out:
    pthread_mutex_unlock(mu);
    return rc;
}

/* ------------------------------------------------------ failure limiting */

/* The key failures are counted under; false for families not limited. */
static bool addr_key(const struct sockaddr *sa, unsigned char k[16])
{
    if (sa == NULL)
        return false;
    memset(k, 0, 16);
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof(in)); /* no cast: the caller's storage may be less aligned */
        k[10] = k[11] = 0xff;
        memcpy(k + 12, &in.sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof(in6));
        if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr))
            memcpy(k, &in6.sin6_addr, 16); /* same key as the plain IPv4 address */
        else
            memcpy(k, &in6.sin6_addr, 8); /* one host usually owns a whole /64 */
        return true;
    }
    return false;
}

static size_t rate_index(const struct wsip_auth_svc *a, const unsigned char k[16])
{
    uint64_t hi, lo;
    memcpy(&hi, k, 8);
    memcpy(&lo, k + 8, 8);
    return (size_t)(mix64(mix64(hi ^ a->hkey[1]) ^ lo ^ a->hkey[2]) & (a->ntb - 1));
}

static bool rate_live(const struct wsip_auth_svc *a, const struct rate_ent *e, uint64_t now)
{
    return e->count != 0 && age_ms(now, e->start) < a->window_ms;
}

static bool rate_blocked(struct wsip_auth_svc *a, const unsigned char k[16], uint64_t now)
{
    size_t i = rate_index(a, k);
    struct rate_bucket *b = &a->tb[i];
    pthread_mutex_t *mu = &a->tlocks[i & (a->ntlocks - 1)].m;
    bool blocked = false;
    pthread_mutex_lock(mu);
    for (unsigned w = 0; w < WAYS; w++) {
        const struct rate_ent *e = &b->e[w];
        if (rate_live(a, e, now) && memcmp(e->addr, k, 16) == 0) {
            blocked = e->count >= a->cfg.max_failures;
            break;
        }
    }
    pthread_mutex_unlock(mu);
    return blocked;
}

static void rate_fail(struct wsip_auth_svc *a, const unsigned char k[16], uint64_t now)
{
    size_t i = rate_index(a, k);
    struct rate_bucket *b = &a->tb[i];
    pthread_mutex_t *mu = &a->tlocks[i & (a->ntlocks - 1)].m;
    struct rate_ent *slot = NULL, *oldest = NULL;
    pthread_mutex_lock(mu);
    for (unsigned w = 0; w < WAYS; w++) {
        struct rate_ent *e = &b->e[w];
        if (!rate_live(a, e, now)) {
            if (slot == NULL)
                slot = e;
            continue;
        }
        if (memcmp(e->addr, k, 16) == 0) {
            if (e->count < UINT32_MAX)
                e->count++;
            goto out;
        }
        if (oldest == NULL || e->start < oldest->start)
            oldest = e;
    }
    /* a full bucket forgets the address whose window started first */
    if (slot == NULL)
        slot = oldest;
    memcpy(slot->addr, k, 16);
    slot->start = now;
    slot->count = 1;
out:
    pthread_mutex_unlock(mu);
}

/* ------------------------------------------------------------ lifecycle */

void wsip_auth_cfg_default(struct wsip_auth_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    /* MD5 last: JsSIP and SIP.js read only the last challenge */
    cfg->algs[0] = WSIP_DIGEST_SHA256;
    cfg->algs[1] = WSIP_DIGEST_MD5;
    cfg->nalgs = 2;
    cfg->qop_auth_int = false;
    cfg->nonce_ttl_s = 300;
    cfg->max_failures = 10;
    cfg->window_s = 60;
    cfg->replay_slots = 65536;
    cfg->rate_slots = 8192;
}

static const char *cfg_check(const struct wsip_auth_cfg *c)
{
    if (c->nalgs == 0 || c->nalgs > WSIP_DIGEST_ALG_COUNT)
        return "auth: no algorithm configured";
    for (unsigned i = 0; i < c->nalgs; i++) {
        if ((unsigned)c->algs[i] >= WSIP_DIGEST_ALG_COUNT)
            return "auth: unknown algorithm";
        for (unsigned j = 0; j < i; j++)
            if (c->algs[j] == c->algs[i])
                return "auth: algorithm listed twice";
    }
    if (c->nonce_ttl_s == 0)
        return "auth: nonce lifetime must be at least 1 s";
    if (c->max_failures > 0 && c->window_s == 0)
        return "auth: failure window must be at least 1 s";
    if (c->replay_slots < WAYS || c->replay_slots > MAX_SLOTS)
        return "auth: replay_slots out of range";
    if (c->rate_slots < WAYS || c->rate_slots > MAX_SLOTS)
        return "auth: rate_slots out of range";
    return NULL;
}

static struct lock *locks_new(unsigned n)
{
    struct lock *l = aligned_alloc(_Alignof(struct lock), n * sizeof(*l));
    if (l == NULL)
        return NULL;
    for (unsigned i = 0; i < n; i++)
        pthread_mutex_init(&l[i].m, NULL);
    return l;
}

static void locks_free(struct lock *l, unsigned n)
{
    if (l == NULL)
        return;
    for (unsigned i = 0; i < n; i++)
        pthread_mutex_destroy(&l[i].m);
    free(l);
}

static unsigned lock_count(size_t nbuckets)
{
    return nbuckets < MAX_LOCKS ? (unsigned)nbuckets : MAX_LOCKS;
}

/* The HMAC (RFC 2104) states after H(key ^ ipad) and H(key ^ opad). */
static int hmac_init(struct wsip_auth_svc *a, const unsigned char key[WSIP_AUTH_SECRET_LEN])
{
    unsigned char ipad[64], opad[64]; /* SHA-256 block; the key is shorter */
    memset(ipad, 0x36, sizeof(ipad));
    memset(opad, 0x5c, sizeof(opad));
    for (size_t i = 0; i < WSIP_AUTH_SECRET_LEN; i++) {
        ipad[i] ^= key[i];
        opad[i] ^= key[i];
    }
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    a->hmac_in = EVP_MD_CTX_new();
    a->hmac_out = EVP_MD_CTX_new();
    bool ok = md != NULL && a->hmac_in != NULL && a->hmac_out != NULL &&
              EVP_DigestInit_ex(a->hmac_in, md, NULL) == 1 &&
              EVP_DigestUpdate(a->hmac_in, ipad, sizeof(ipad)) == 1 &&
              EVP_DigestInit_ex(a->hmac_out, md, NULL) == 1 &&
              EVP_DigestUpdate(a->hmac_out, opad, sizeof(opad)) == 1;
    EVP_MD_free(md); /* the contexts keep their own references */
    OPENSSL_cleanse(ipad, sizeof(ipad));
    OPENSSL_cleanse(opad, sizeof(opad));
    return ok ? 0 : -1;
}

/* Writes one byte per page of a fresh calloc'd table. Nonces land in random
 * buckets, so the table's pages (1.5 MB for the default replay_slots) would
 * otherwise become resident one by one with the first few thousand
 * challenges: a fixed cost that looked like 1-2 KB per flow. Held from the
 * start, it is counted once, where it belongs. */
static void table_touch(void *p, size_t len)
{
    volatile unsigned char *b = p;
    for (size_t i = 0; i < len; i += 4096)
        b[i] = 0;
}

int wsip_auth_svc_new(struct wsip_auth_svc **out, const struct wsip_auth_cfg *cfg,
                      const unsigned char *secret, const char **why)
{
    const char *err = cfg_check(cfg);
    struct wsip_auth_svc *a = NULL;
    unsigned char key[WSIP_AUTH_SECRET_LEN], seeds[sizeof(a->hkey) + WSIP_DIGEST_HEX_MAX / 2];
    *out = NULL;
    if (err != NULL)
        goto out;
    err = "auth: out of memory";
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        goto out;
    a->cfg = *cfg;
    a->ttl_ms = (uint64_t)cfg->nonce_ttl_s * 1000;
    a->window_ms = (uint64_t)cfg->window_s * 1000;

    err = "auth: no randomness";
    if (secret != NULL)
        memcpy(key, secret, sizeof(key));
    else if (RAND_bytes(key, sizeof(key)) != 1)
        goto out;
    if (RAND_bytes(seeds, sizeof(seeds)) != 1)
        goto out;
    memcpy(a->hkey, seeds, sizeof(a->hkey));
    wsip_hex_encode(seeds + sizeof(a->hkey), WSIP_DIGEST_HEX_MAX / 2, a->dummy_ha1);

    err = "auth: HMAC-SHA256 unavailable";
    if (hmac_init(a, key) < 0)
        goto out;

    err = "auth: out of memory";
    a->nrb = pow2_at_least((cfg->replay_slots + WAYS - 1) / WAYS);
    a->nrlocks = lock_count(a->nrb);
    a->ntb = pow2_at_least((cfg->rate_slots + WAYS - 1) / WAYS);
    a->ntlocks = lock_count(a->ntb);
    a->rb = calloc(a->nrb, sizeof(*a->rb));
    a->tb = calloc(a->ntb, sizeof(*a->tb));
    a->rlocks = locks_new(a->nrlocks);
    a->tlocks = locks_new(a->ntlocks);
    if (a->rb == NULL || a->tb == NULL || a->rlocks == NULL || a->tlocks == NULL)
        goto out;
    table_touch(a->rb, a->nrb * sizeof(*a->rb));
    table_touch(a->tb, a->ntb * sizeof(*a->tb));
    err = NULL;
out:
    OPENSSL_cleanse(key, sizeof(key));
    if (err != NULL) {
        wsip_auth_svc_free(a);
        if (why != NULL)
            *why = err;
        return -1;
    }
    *out = a;
    return 0;
}

void wsip_auth_svc_free(struct wsip_auth_svc *a)
{
    if (a == NULL)
        return;
    EVP_MD_CTX_free(a->hmac_in);
    EVP_MD_CTX_free(a->hmac_out);
    locks_free(a->rlocks, a->nrlocks);
    locks_free(a->tlocks, a->ntlocks);
    free(a->rb);
    free(a->tb);
    OPENSSL_cleanse(a, sizeof(*a));
    free(a);
}

/* ------------------------------------------------------------ challenge */

bool wsip_auth_may_challenge(const struct wsip_msg *m)
{
    return m != NULL && m->is_request && m->method_id != WSIP_METHOD_ACK &&
           m->method_id != WSIP_METHOD_CANCEL;
}

int wsip_auth_svc_challenge(struct wsip_auth_svc *a, struct wsip_str realm, uint64_t now_ms,
                            bool proxy, bool stale, struct wsip_sbuf *out)
{
    char nonce[WSIP_AUTH_NONCE_LEN + 1];
    if (!realm_ok(realm) || nonce_mint(a, realm, now_ms, nonce) < 0)
        return -1;
    atomic_fetch_add_explicit(&a->challenges, 1, memory_order_relaxed);
    const char *name = proxy ? "Proxy-Authenticate" : "WWW-Authenticate";
    const char *qop = a->cfg.qop_auth_int ? "auth,auth-int" : "auth";
    /* JsSIP and SIP.js want realm, nonce and qop quoted and algorithm a token */
    for (unsigned i = 0; i < a->cfg.nalgs; i++)
        wsip_sbuf_printf(out,
                         "%s: Digest realm=\"" WSIP_STR_FMT
                         "\", nonce=\"%s\", algorithm=%s, qop=\"%s\"%s\r\n",
                         name, WSIP_STR_ARG(realm), nonce, wsip_digest_alg_name(a->cfg.algs[i]),
                         qop, stale ? ", stale=true" : "");
    return out->oom ? -1 : 0;
}

/* ---------------------------------------------------------------- check */

const char *wsip_auth_rc_name(enum wsip_auth_rc rc)
{
    static const char *const names[WSIP_AUTH_RC_COUNT] = {
        "OK", "CHALLENGE", "STALE", "FAILED", "BAD_REQUEST", "RATE_LIMITED", "ERROR",
    };
    return (unsigned)rc < WSIP_AUTH_RC_COUNT ? names[rc] : "?";
}

/* One reason for every wrong-password-like outcome: no user enumeration. */
#define WRONG_CREDENTIALS "Wrong username or password"

static enum wsip_auth_rc done(struct wsip_auth_svc *a, struct wsip_auth_result *res,
                              enum wsip_auth_rc rc, const char *why)
{
    res->reason = why;
    atomic_fetch_add_explicit(&a->by_rc[rc], 1, memory_order_relaxed);
    return rc;
}

/* A quoted value equal to want once unescaped (and trimmed). */
static bool unq_eq(struct wsip_str v, struct wsip_str want)
{
    v = wsip_str_trim(v);
    want = wsip_str_trim(want);
    if (memchr(v.p, '\\', v.len) == NULL)
        return wsip_str_eq(v, want);
    char *buf = malloc(v.len + 1);
    if (buf == NULL)
        return false;
    long n = wsip_unquote(v, buf, v.len + 1);
    bool eq = n >= 0 && wsip_str_eq(wsip_str_trim(wsip_str_make(buf, (size_t)n)), want);
    free(buf);
    return eq;
}

static bool alg_offered(const struct wsip_auth_svc *a, int alg)
{
    for (unsigned i = 0; i < a->cfg.nalgs; i++)
        if ((int)a->cfg.algs[i] == alg)
            return true;
    return false;
}

/* Lower-cases ha1 in place; false unless it is hex of the algorithm's length. */
static bool ha1_usable(char *ha1, enum wsip_digest_alg alg)
{
    size_t want = wsip_digest_hex_len(alg);
    for (size_t i = 0; i < want; i++) {
        char c = ha1[i];
        if (c >= 'A' && c <= 'F')
            ha1[i] = (char)(c - 'A' + 'a');
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return ha1[want] == '\0';
}

/* The credentials to check: the first Digest header for realm carrying a
 * nonce and a response. NULL with *bad set when a header is malformed. */
static const struct wsip_auth *find_credentials(struct wsip_msg *m, enum wsip_hdr_id id,
                                                struct wsip_str realm, const char **bad)
{
    for (struct wsip_hdr *h = wsip_msg_hdr(m, id); h != NULL; h = wsip_msg_hdr_next(m, h)) {
        const char *why = NULL;
        const struct wsip_auth *c = wsip_hdr_auth(m, h, &why);
        if (c == NULL) {
            *bad = why != NULL ? why : "Malformed Authorization header";
            return NULL;
        }
        if (!c->is_digest)
            continue;
        /* sipML5's first REGISTER: Digest with nonce="" response="" */
        if (c->nonce.len == 0 || c->response.len == 0)
            continue;
        if (c->realm.p == NULL) {
            *bad = "Digest credentials without realm";
            return NULL;
        }
        if (unq_eq(c->realm, realm))
            return c;
    }
    return NULL;
}

enum wsip_auth_rc wsip_auth_svc_check(struct wsip_auth_svc *a, struct wsip_msg *m,
                                      struct wsip_str realm, bool proxy, uint64_t now,
                                      const struct sockaddr *src, wsip_auth_lookup_fn lookup,
                                      void *lookup_arg, struct wsip_auth_result *res)
{
    memset(res, 0, sizeof(*res));
    res->alg = -1;
    if (!realm_ok(realm))
        return done(a, res, WSIP_AUTH_ERROR, "Invalid realm");
    if (m == NULL || !m->is_request)
        return done(a, res, WSIP_AUTH_BAD_REQUEST, "Not a request");

    unsigned char key[16];
    bool limited = a->cfg.max_failures > 0 && addr_key(src, key);
    if (limited && rate_blocked(a, key, now))
        return done(a, res, WSIP_AUTH_RATE_LIMITED, "Too many authentication failures");

    const char *bad = NULL;
    const struct wsip_auth *cr = find_credentials(
        m, proxy ? WSIP_HDR_PROXY_AUTHORIZATION : WSIP_HDR_AUTHORIZATION, realm, &bad);
    if (bad != NULL)
        return done(a, res, WSIP_AUTH_BAD_REQUEST, bad);
    if (cr == NULL)
        return done(a, res, WSIP_AUTH_CHALLENGE, "No credentials for this realm");

    /* well-formed? (400 for what no client can mean) */
    if (cr->username.len == 0)
        return done(a, res, WSIP_AUTH_BAD_REQUEST, "Digest credentials without username");
    if (cr->uri.len == 0)
        return done(a, res, WSIP_AUTH_BAD_REQUEST, "Digest credentials without uri");
    uint32_t nc = 0;
    if (cr->qop.p != NULL) {
        if (wsip_digest_nc_parse(cr->nc, &nc) < 0 || nc == 0)
            return done(a, res, WSIP_AUTH_BAD_REQUEST, "Digest nc missing or malformed");
        if (cr->cnonce.len == 0)
            return done(a, res, WSIP_AUTH_BAD_REQUEST, "Digest cnonce missing");
    }
    long ulen = -1;
    if (cr->username.len <= WSIP_AUTH_USER_MAX)
        ulen = wsip_unquote(cr->username, res->user, sizeof(res->user));
    bool user_fits = ulen > 0;
    if (user_fits)
        res->user_len = (size_t)ulen;
    else
        res->user[0] = '\0';

    /* acceptable? (no password tested yet: not counted as failures) */
    int ialg = wsip_digest_auth_alg(cr);
    res->alg = ialg;
    if (ialg < 0 || !alg_offered(a, ialg))
        return done(a, res, WSIP_AUTH_FAILED, "Digest algorithm not offered");
    enum wsip_digest_alg alg = (enum wsip_digest_alg)ialg;
    if (cr->qop.p == NULL)
        return done(a, res, WSIP_AUTH_FAILED, "Digest without qop refused");
    if (!wsip_str_caseeq_cstr(cr->qop, "auth") && !wsip_str_caseeq_cstr(cr->qop, "auth-int"))
        return done(a, res, WSIP_AUTH_FAILED, "Unsupported Digest qop");
    if (cr->userhash.p != NULL && wsip_str_caseeq_cstr(cr->userhash, "true"))
        return done(a, res, WSIP_AUTH_FAILED, "Digest userhash not offered");
    if (!unq_eq(cr->uri, m->ruri_str))
        return done(a, res, WSIP_AUTH_FAILED, "Digest uri does not match the Request-URI");

    uint64_t mint = 0, rnd = 0;
    enum nonce_state ns = nonce_verify(a, cr->nonce, realm, now, &mint, &rnd);
    if (ns == NONCE_FOREIGN)
        return done(a, res, WSIP_AUTH_CHALLENGE, "Nonce not issued here");
    if (ns == NONCE_FUTURE)
        return done(a, res, WSIP_AUTH_CHALLENGE, "Nonce from the future");

    /* the password: unknown users go through the same work */
    enum wsip_digest_alg base = (enum wsip_digest_alg)((unsigned)alg & ~1u);
    char ha1[WSIP_DIGEST_HEX_MAX];
    bool known = false;
    if (user_fits) {
        memset(ha1, 0, sizeof(ha1));
        int lr = lookup(wsip_str_make(res->user, res->user_len), realm, base, ha1, lookup_arg);
        if (lr != 0 && lr != -1)
            return done(a, res, WSIP_AUTH_ERROR, "User lookup failed");
        ha1[WSIP_DIGEST_HEX_MAX - 1] = '\0';
        known = lr == 0 && ha1_usable(ha1, base);
    }
    struct wsip_str h =
        known ? wsip_str_cstr(ha1) : wsip_str_make(a->dummy_ha1, wsip_digest_hex_len(base));
    const char *why = NULL;
    enum wsip_digest_result dr =
        wsip_digest_verify(cr, h, m->method, m->body, WSIP_DIGEST_REQUIRE_QOP, &why);
    OPENSSL_cleanse(ha1, sizeof(ha1));
    if (dr == WSIP_DIGEST_OK && !known)
        dr = WSIP_DIGEST_MISMATCH; /* right for the dummy HA1 is still wrong */
    switch (dr) {
    case WSIP_DIGEST_OK: break;
    case WSIP_DIGEST_MISMATCH:
        if (limited)
            rate_fail(a, key, now);
        return done(a, res, WSIP_AUTH_FAILED, WRONG_CREDENTIALS);
    case WSIP_DIGEST_NO_CREDENTIALS: return done(a, res, WSIP_AUTH_CHALLENGE, why);
    case WSIP_DIGEST_BAD_ALGORITHM:
    case WSIP_DIGEST_BAD_QOP: return done(a, res, WSIP_AUTH_FAILED, why);
    case WSIP_DIGEST_MALFORMED: return done(a, res, WSIP_AUTH_BAD_REQUEST, why);
    case WSIP_DIGEST_ERROR:
    default: return done(a, res, WSIP_AUTH_ERROR, why != NULL ? why : "Digest error");
    }

    if (ns == NONCE_EXPIRED)
        return done(a, res, WSIP_AUTH_STALE, "Nonce expired");
    switch (replay_check(a, rnd, mint, nc, now)) {
    case REPLAY_OK: return done(a, res, WSIP_AUTH_OK, "Authenticated");
    case REPLAY_UNKNOWN: return done(a, res, WSIP_AUTH_STALE, "Nonce no longer tracked");
    case REPLAY_SEEN:
    default:
        /* the digest was right (only right ones reach the table), the nc
         * was used before: SIP.js resends its last Authorization as is on
         * every REGISTER. A fresh nonce with stale=true lets an honest
         * client go on; counting it as a failure would lock the address
         * out. A replay is still never accepted. */
        atomic_fetch_add_explicit(&a->replays, 1, memory_order_relaxed);
        return done(a, res, WSIP_AUTH_STALE, "Digest nonce-count reused");
    }
}

void wsip_auth_svc_stats(struct wsip_auth_svc *a, struct wsip_auth_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < WSIP_AUTH_RC_COUNT; i++)
        out->by_rc[i] = atomic_load_explicit(&a->by_rc[i], memory_order_relaxed);
    out->challenges = atomic_load_explicit(&a->challenges, memory_order_relaxed);
    out->replays = atomic_load_explicit(&a->replays, memory_order_relaxed);
    out->replay_evictions = atomic_load_explicit(&a->evictions, memory_order_relaxed);
}

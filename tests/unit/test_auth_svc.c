/* The digest authentication service (src/core/auth.c): challenge text,
 * round trips with a client computed independently (EVP on the strings of
 * RFC 7616 sec 3.4.1), and every policy: stale, tampered and foreign
 * nonces, nc replay and eviction, uri, realms, no user enumeration, rate
 * limiting, and concurrent use. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "testutil.h"
#include "wsip/auth.h"
#include "wsip/digest.h"
#include "wsip/sip.h"

#define T0    1700000000000ull /* ms; any fixed instant */
#define REALM "example.org"

static const unsigned char secret[WSIP_AUTH_SECRET_LEN] = "0123456789abcdef0123456789abcdef";

static struct wsip_str S(const char *s) {
    return wsip_str_cstr(s);
}

/* ------------------------------------------------------- the client side */

static const EVP_MD *
md_of(enum wsip_digest_alg alg)
{
    switch ((unsigned)alg & ~1u) {
    case WSIP_DIGEST_MD5: return EVP_md5();
    case WSIP_DIGEST_SHA256: return EVP_sha256();
    default: return EVP_sha512_256();
    }
}

/* H(s) as lower-case hex, computed without digest.c */
static void hhex(enum wsip_digest_alg alg, const char *s, size_t len, char out[65])
{
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    ck_assert(EVP_Digest(s, len, bin, &n, md_of(alg), NULL) == 1);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", bin[i]);
}

static void hfmt(enum wsip_digest_alg alg, char out[65], const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void hfmt(enum wsip_digest_alg alg, char out[65], const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ck_assert(n > 0 && (size_t)n < sizeof(buf));
    hhex(alg, buf, (size_t)n, out);
}

struct creds {
    const char *user, *password, *realm, *nonce, *method, *uri;
    const char *alg; /* algorithm parameter; NULL = absent (MD5) */
    const char *qop; /* NULL = RFC 2069 form */
    unsigned nc;
    const char *cnonce;
    const char *body;
    const char *extra; /* appended parameters, e.g. ", opaque=\"x\"" */
};

/* "Digest username=..., response=..." as JsSIP writes it, in a per-thread
 * buffer that the next call overwrites. */
static const char *cred_value(const struct creds *c)
{
    static _Thread_local char out[4096];
    int ialg = c->alg ? wsip_digest_alg_from_str(S(c->alg)) : WSIP_DIGEST_MD5;
    ck_assert_msg(ialg >= 0, "test uses unknown algorithm %s", c->alg);
    enum wsip_digest_alg alg = (enum wsip_digest_alg)ialg;
    char ha1[65], ha2[65], resp[65], hbody[65], ncs[9];
    snprintf(ncs, sizeof(ncs), "%08x", c->nc);
    hfmt(alg, ha1, "%s:%s:%s", c->user, c->realm, c->password);
    if (wsip_digest_alg_is_sess(alg))
        hfmt(alg, ha1, "%s:%s:%s", ha1, c->nonce, c->cnonce);
    if (c->qop && strcmp(c->qop, "auth-int") == 0) {
        const char *b = c->body ? c->body : "";
        hhex(alg, b, strlen(b), hbody);
        hfmt(alg, ha2, "%s:%s:%s", c->method, c->uri, hbody);
    } else {
        hfmt(alg, ha2, "%s:%s", c->method, c->uri);
    }
    if (c->qop)
        hfmt(alg, resp, "%s:%s:%s:%s:%s:%s", ha1, c->nonce, ncs, c->cnonce, c->qop, ha2);
    else
        hfmt(alg, resp, "%s:%s:%s", ha1, c->nonce, ha2);

    int n = snprintf(out, sizeof(out),
                     "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
                     "response=\"%s\"",
                     c->user, c->realm, c->nonce, c->uri, resp);
    if (c->alg)
        n += snprintf(out + n, sizeof(out) - (size_t)n, ", algorithm=%s", c->alg);
    if (c->qop)
        n += snprintf(out + n, sizeof(out) - (size_t)n, ", qop=%s, nc=%s, cnonce=\"%s\"", c->qop,
                      ncs, c->cnonce);
    if (c->extra)
        n += snprintf(out + n, sizeof(out) - (size_t)n, "%s", c->extra);
    ck_assert((size_t)n < sizeof(out));
    return out;
}

/* ------------------------------------------------------------ messages */

/* A request as a browser sends it, with hdrs (whole lines) inserted. */
static char *make_msg(const char *method, const char *ruri, const char *hdrs, const char *body)
{
    size_t cap = 8192 + strlen(hdrs) + strlen(body);
    char *t = malloc(cap);
    ck_assert_ptr_nonnull(t);
    int n = snprintf(t, cap,
                     "%s %s SIP/2.0\r\n"
                     "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK776asdhds\r\n"
                     "Max-Forwards: 70\r\n"
                     "To: <sip:alice@" REALM ">\r\n"
                     "From: <sip:alice@" REALM ">;tag=1928301774\r\n"
                     "Call-ID: a84b4c76e66710@pc33\r\n"
                     "CSeq: 314159 %s\r\n"
                     "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\r\n"
                     "%s"
                     "%s"
                     "Content-Length: %zu\r\n"
                     "\r\n"
                     "%s",
                     method, ruri, method, hdrs, *body ? "Content-Type: application/sdp\r\n" : "",
                     strlen(body), body);
    ck_assert(n > 0 && (size_t)n < cap);
    return t;
}

/* A header line "Name: value\r\n" in a per-thread buffer. */
static const char *line(const char *name, const char *value)
{
    static _Thread_local char out[4200];
    int n = snprintf(out, sizeof(out), "%s: %s\r\n", name, value);
    ck_assert(n > 0 && (size_t)n < sizeof(out));
    return out;
}

struct users_lk {
    atomic_int calls;
    int last_alg;
    int force_rc;   /* 0: normal; other: returned as is */
    bool upper;     /* give the HA1 in upper case */
    bool short_ha1; /* give an HA1 of the wrong length */
};

static const struct {
    const char *name, *password;
} users[] = {{"alice", "wonderland"}, {"bob", "builder"}, {"a b\"c", "quoted"}};

static int lookup(struct wsip_str user, struct wsip_str realm, enum wsip_digest_alg alg,
                  char ha1[WSIP_DIGEST_HEX_MAX], void *arg)
{
    struct users_lk *lk = arg;
    /* the view must be NUL-terminated */
    ck_assert_int_eq(user.p[user.len], '\0');
    ck_assert_msg(!wsip_digest_alg_is_sess(alg), "lookup got -sess algorithm %d", alg);
    if (lk) {
        atomic_fetch_add(&lk->calls, 1);
        lk->last_alg = (int)alg;
        if (lk->force_rc != 0)
            return lk->force_rc;
    }
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        if (!wsip_str_eq_cstr(user, users[i].name))
            continue;
        hfmt(alg, ha1, "%s:%.*s:%s", users[i].name, (int)realm.len, realm.p, users[i].password);
        if (lk && lk->upper)
            for (char *p = ha1; *p; p++)
                if (*p >= 'a' && *p <= 'f')
                    *p = (char)(*p - 'a' + 'A');
        if (lk && lk->short_ha1)
            ha1[20] = '\0';
        return 0;
    }
    return -1;
}

static struct wsip_auth_svc *svc_new(const struct wsip_auth_cfg *cfg)
{
    struct wsip_auth_cfg def;
    if (cfg == NULL) {
        wsip_auth_cfg_default(&def);
        cfg = &def;
    }
    struct wsip_auth_svc *a = NULL;
    const char *why = NULL;
    int rc = wsip_auth_svc_new(&a, cfg, secret, &why);
    ck_assert_msg(rc == 0 && a != NULL, "wsip_auth_svc_new: %d %s", rc, why ? why : "");
    return a;
}

/* Challenges and returns the nonce of the first header, re-parsed. */
static const char *get_nonce_realm(struct wsip_auth_svc *a, const char *realm, uint64_t now,
                                   bool proxy)
{
    static _Thread_local char nonce[64];
    struct wsip_sbuf sb;
    wsip_sbuf_init(&sb);
    ck_assert_int_eq(wsip_auth_svc_challenge(a, S(realm), now, proxy, false, &sb), 0);
    const char *colon = memchr(sb.p, ':', sb.len);
    const char *crlf = strstr(sb.p, "\r\n");
    ck_assert(colon && crlf && colon < crlf);
    struct wsip_auth ch;
    const char *why = NULL;
    ck_assert_msg(
        wsip_auth_parse(&ch, wsip_str_trim(wsip_str_make(colon + 1, (size_t)(crlf - colon - 1))),
                        &why) == 0,
        "challenge does not parse: %s", why);
    ck_assert(ch.nonce.len < sizeof(nonce));
    wsip_str_copy(ch.nonce, nonce, sizeof(nonce));
    wsip_sbuf_free(&sb);
    return nonce;
}

static const char *get_nonce(struct wsip_auth_svc *a, uint64_t now)
{
    return get_nonce_realm(a, REALM, now, false);
}

/* Parses text (freed here) and checks it. */
static enum wsip_auth_rc check_text(struct wsip_auth_svc *a, char *text, const char *realm,
                                    bool proxy, uint64_t now, const struct sockaddr *src,
                                    struct users_lk *lk, struct wsip_auth_result *res)
{
    struct wsip_sip_limits lim;
    wsip_sip_limits_default(&lim);
    struct wsip_msg *m = NULL;
    size_t consumed = 0;
    struct wsip_sip_err err = {0, NULL};
    int prc =
        wsip_msg_parse(&m, NULL, text, strlen(text), WSIP_FRAMING_DATAGRAM, &lim, &consumed, &err);
    ck_assert_msg(prc == WSIP_PARSE_OK, "message does not parse (%u %s):\n%s", err.status,
                  err.reason ? err.reason : "", text);
    enum wsip_auth_rc rc = wsip_auth_svc_check(a, m, S(realm), proxy, now, src, lookup, lk, res);
    wsip_msg_unref(m);
    free(text);
    return rc;
}

#define ck_rc(got, want, res)                                                                      \
    do {                                                                                           \
        enum wsip_auth_rc g_ = (got), w_ = (want);                                                 \
        ck_assert_msg(g_ == w_, "result %s (%s), want %s", wsip_auth_rc_name(g_),                  \
                      (res).reason ? (res).reason : "(no reason)", wsip_auth_rc_name(w_));         \
    } while (0)

/* A REGISTER with Authorization for c (realm REALM unless set). */
static enum wsip_auth_rc reg_check(struct wsip_auth_svc *a, struct creds c, uint64_t now,
                                   const struct sockaddr *src, struct users_lk *lk,
                                   struct wsip_auth_result *res)
{
    if (!c.realm)
        c.realm = REALM;
    if (!c.method)
        c.method = "REGISTER";
    if (!c.uri)
        c.uri = "sip:" REALM;
    if (!c.cnonce)
        c.cnonce = "0a4f113b";
    char *t = make_msg("REGISTER", "sip:" REALM, line("Authorization", cred_value(&c)), "");
    return check_text(a, t, REALM, false, now, src, lk, res);
}

static struct creds alice(const char *nonce, unsigned nc)
{
    return (struct creds){.user = "alice",
                          .password = "wonderland",
                          .nonce = nonce,
                          .alg = "MD5",
                          .qop = "auth",
                          .nc = nc};
}

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(5060);
    ck_assert_int_eq(inet_pton(AF_INET, ip, &in->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(5060);
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

/* ------------------------------------------------------------ challenge */

START_TEST(challenge_text_default)
{
    struct wsip_auth_svc *a = svc_new(NULL);
    struct wsip_sbuf sb;
    wsip_sbuf_init(&sb);
    ck_assert_int_eq(wsip_auth_svc_challenge(a, S(REALM), T0, false, false, &sb), 0);
    wsip_sbuf_append(&sb, "", 1);

    /* the nonce: 43 base64url characters, the same on both lines */
    const char *p = strstr(sb.p, "nonce=\"");
    ck_assert_ptr_nonnull(p);
    char nonce[64];
    size_t n = strcspn(p + 7, "\"");
    ck_assert_uint_eq(n, WSIP_AUTH_NONCE_LEN);
    memcpy(nonce, p + 7, n);
    nonce[n] = '\0';
    ck_assert_uint_eq(
        strspn(nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        WSIP_AUTH_NONCE_LEN);

    char want[1024];
    snprintf(want, sizeof(want),
             "WWW-Authenticate: Digest realm=\"" REALM "\", nonce=\"%s\", algorithm=SHA-256, "
             "qop=\"auth\"\r\n"
             "WWW-Authenticate: Digest realm=\"" REALM "\", nonce=\"%s\", algorithm=MD5, "
             "qop=\"auth\"\r\n",
             nonce, nonce);
    ck_assert_str_eq(sb.p, want);

    /* a second challenge gets another nonce */
    const char *other = get_nonce(a, T0);
    ck_assert_str_ne(other, nonce);
    wsip_sbuf_free(&sb);
    wsip_auth_svc_free(a);
}
END_TEST

/* Splits the challenge lines and parses each value with wsip_auth_parse. */
static int parse_lines(const char *text, const char *name, struct wsip_auth out[8])
{
    int n = 0;
    size_t nl = strlen(name);
    for (const char *p = text; *p; n++) {
        const char *e = strstr(p, "\r\n");
        ck_assert_ptr_nonnull(e);
        ck_assert_msg(strncmp(p, name, nl) == 0 && p[nl] == ':', "line %d: [%.*s] want name %s", n,
                      (int)(e - p), p, name);
        ck_assert_int_lt(n, 8);
        const char *why = NULL;
        ck_assert_msg(
            wsip_auth_parse(&out[n],
                            wsip_str_trim(wsip_str_make(p + nl + 1, (size_t)(e - p - nl - 1))),
                            &why) == 0,
            "line %d does not parse: %s", n, why);
        p = e + 2;
    }
    return n;
}

/* The documented layout: base64url(time ms BE 8 | random 8 | first 16 bytes
 * of HMAC-SHA256(secret, time | random | realm)), checked with OpenSSL's HMAC. */
START_TEST(nonce_format)
{
    struct wsip_auth_svc *a = svc_new(NULL);
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char prev_rand[8] = {0};
    for (int k = 0; k < 3; k++) {
        const char *n = get_nonce_realm(a, "realm.test", T0 + (uint64_t)k, false);
        ck_assert_uint_eq(strlen(n), WSIP_AUTH_NONCE_LEN);
        unsigned char raw[33];
        unsigned acc = 0, bits = 0, o = 0;
        for (const char *p = n; *p; p++) {
            const char *c = strchr(alpha, *p);
            ck_assert_msg(c != NULL, "nonce char %c not base64url", *p);
            acc = acc << 6 | (unsigned)(c - alpha);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                raw[o++] = (unsigned char)(acc >> bits);
                acc &= (1u << bits) - 1;
            }
        }
        ck_assert_uint_eq(o, 32);
        ck_assert_uint_eq(acc, 0);
        uint64_t t = 0;
        for (int i = 0; i < 8; i++)
            t = t << 8 | raw[i];
        ck_assert_uint_eq(t, T0 + (uint64_t)k);
        ck_assert_msg(memcmp(prev_rand, raw + 8, 8) != 0, "random part repeated");
        memcpy(prev_rand, raw + 8, 8);

        unsigned char msg[64], mac[EVP_MAX_MD_SIZE];
        memcpy(msg, raw, 16);
        memcpy(msg + 16, "realm.test", 10);
        unsigned mlen = 0;
        ck_assert_ptr_nonnull(HMAC(EVP_sha256(), secret, sizeof(secret), msg, 26, mac, &mlen));
        ck_assert_uint_eq(mlen, 32);
        ck_assert_msg(memcmp(mac, raw + 16, 16) == 0, "MAC is not HMAC-SHA256(secret, ...)[0:16]");
    }
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(challenge_order_proxy_stale_authint)
{
    struct wsip_auth_cfg cfg;
    wsip_auth_cfg_default(&cfg);
    cfg.algs[0] = WSIP_DIGEST_SHA256;
    cfg.algs[1] = WSIP_DIGEST_SHA512_256_SESS;
    cfg.algs[2] = WSIP_DIGEST_MD5;
    cfg.nalgs = 3;
    cfg.qop_auth_int = true;
    struct wsip_auth_svc *a = svc_new(&cfg);

    for (int proxy = 0; proxy < 2; proxy++) {
        for (int stale = 0; stale < 2; stale++) {
            struct wsip_sbuf sb;
            wsip_sbuf_init(&sb);
            ck_assert_int_eq(wsip_auth_svc_challenge(a, S("other.test"), T0, proxy, stale, &sb), 0);
            wsip_sbuf_append(&sb, "", 1);
            struct wsip_auth ch[8];
            int n = parse_lines(sb.p, proxy ? "Proxy-Authenticate" : "WWW-Authenticate", ch);
            ck_assert_int_eq(n, 3);
            const char *algs[] = {"SHA-256", "SHA-512-256-sess", "MD5"};
            for (int i = 0; i < n; i++) {
                ck_assert(ch[i].is_digest);
                ck_assert_msg(wsip_str_eq_cstr(ch[i].algorithm, algs[i]),
                              "line %d algorithm %.*s, want %s", i, (int)ch[i].algorithm.len,
                              ch[i].algorithm.p, algs[i]);
                ck_assert(wsip_str_eq_cstr(ch[i].realm, "other.test"));
                ck_assert(wsip_str_eq_cstr(ch[i].qop, "auth,auth-int"));
                ck_assert(wsip_str_eq(ch[i].nonce, ch[0].nonce));
                ck_assert_uint_eq(ch[i].nonce.len, WSIP_AUTH_NONCE_LEN);
                if (stale)
                    ck_assert_msg(wsip_str_eq_cstr(ch[i].stale, "true"), "stale=%.*s",
                                  (int)ch[i].stale.len, ch[i].stale.p);
                else
                    ck_assert_ptr_null(ch[i].stale.p);
                ck_assert_ptr_null(ch[i].opaque.p);
            }
            /* the algorithm is a token, realm/nonce/qop quoted */
            ck_assert_ptr_nonnull(strstr(sb.p, ", algorithm=SHA-256, qop=\"auth,auth-int\""));
            wsip_sbuf_free(&sb);
        }
    }
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(challenge_bad_realm_and_cfg)
{
    struct wsip_auth_svc *a = svc_new(NULL);
    struct wsip_sbuf sb;
    wsip_sbuf_init(&sb);
    const char *bad[] = {"", "a\"b", "a\\b", "a\rb", "a\nb"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(wsip_auth_svc_challenge(a, S(bad[i]), T0, false, false, &sb) == -1,
                      "realm [%s] accepted", bad[i]);
    char longr[300];
    memset(longr, 'r', sizeof(longr) - 1);
    longr[sizeof(longr) - 1] = '\0';
    ck_assert_int_eq(wsip_auth_svc_challenge(a, S(longr), T0, false, false, &sb), -1);
    ck_assert_uint_eq(sb.len, 0);
    ck_assert_int_eq(wsip_auth_svc_challenge(a, WSIP_STR_NULL, T0, false, false, &sb), -1);
    wsip_sbuf_free(&sb);
    wsip_auth_svc_free(a);

    struct wsip_auth_cfg cfg;
    struct wsip_auth_svc *none = NULL;
    const char *why = NULL;
#define BADCFG(stmt)                                                                               \
    do {                                                                                           \
        wsip_auth_cfg_default(&cfg);                                                               \
        stmt;                                                                                      \
        why = NULL;                                                                                \
        ck_assert_msg(wsip_auth_svc_new(&none, &cfg, NULL, &why) == -1, "accepted: %s", #stmt);    \
        ck_assert_ptr_null(none);                                                                  \
        ck_assert_msg(why &&*why, "no reason for %s", #stmt);                                      \
    } while (0)
    BADCFG(cfg.nalgs = 0);
    BADCFG(cfg.nalgs = WSIP_DIGEST_ALG_COUNT + 1);
    BADCFG(cfg.algs[1] = WSIP_DIGEST_SHA256); /* a repeat */
    BADCFG(cfg.algs[1] = (enum wsip_digest_alg)9);
    BADCFG(cfg.nonce_ttl_s = 0);
    BADCFG(cfg.window_s = 0);
    BADCFG(cfg.replay_slots = 7);
    BADCFG(cfg.rate_slots = 0);
#undef BADCFG
    /* no limit needs no window; a random secret works */
    wsip_auth_cfg_default(&cfg);
    cfg.max_failures = 0;
    cfg.window_s = 0;
    ck_assert_int_eq(wsip_auth_svc_new(&none, &cfg, NULL, &why), 0);
    wsip_auth_svc_free(none);
    wsip_auth_svc_free(NULL);
}
END_TEST

START_TEST(may_challenge)
{
    const char *methods[] = {"INVITE", "MESSAGE", "SUBSCRIBE", "REGISTER", "ACK", "CANCEL", "BYE"};
    const bool want[] = {true, true, true, true, false, false, true};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        char *t = make_msg(methods[i], "sip:bob@" REALM, "", "");
        struct wsip_sip_limits lim;
        wsip_sip_limits_default(&lim);
        struct wsip_msg *m = NULL;
        size_t used;
        struct wsip_sip_err err;
        ck_assert_int_eq(
            wsip_msg_parse(&m, NULL, t, strlen(t), WSIP_FRAMING_DATAGRAM, &lim, &used, &err),
            WSIP_PARSE_OK);
        ck_assert_msg(wsip_auth_may_challenge(m) == want[i], "%s: got %d", methods[i], !want[i]);
        wsip_msg_unref(m);
        free(t);
    }
    ck_assert(!wsip_auth_may_challenge(NULL));
    const char *resp =
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>;tag=1\r\n"
        "From: <sip:a@b>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    struct wsip_sip_limits lim;
    wsip_sip_limits_default(&lim);
    struct wsip_msg *m = NULL;
    size_t used;
    struct wsip_sip_err err;
    ck_assert_int_eq(
        wsip_msg_parse(&m, NULL, resp, strlen(resp), WSIP_FRAMING_DATAGRAM, &lim, &used, &err),
        WSIP_PARSE_OK);
    ck_assert(!wsip_auth_may_challenge(m));
    wsip_msg_unref(m);
}
END_TEST

/* ---------------------------------------------------------- round trips */

struct rt_case {
    enum wsip_digest_alg alg;
    const char *qop;
    bool proxy; /* INVITE with a body and Proxy-Authorization */
};

static const struct rt_case rt_cases[] = {
    {WSIP_DIGEST_MD5, "auth", false},        {WSIP_DIGEST_MD5, "auth", true},
    {WSIP_DIGEST_MD5, "auth-int", false},    {WSIP_DIGEST_MD5, "auth-int", true},
    {WSIP_DIGEST_SHA256, "auth", false},     {WSIP_DIGEST_SHA256, "auth-int", true},
    {WSIP_DIGEST_MD5_SESS, "auth", false},   {WSIP_DIGEST_MD5_SESS, "auth-int", true},
    {WSIP_DIGEST_SHA256_SESS, "auth", true}, {WSIP_DIGEST_SHA256_SESS, "auth-int", false},
    {WSIP_DIGEST_SHA512_256, "auth", false}, {WSIP_DIGEST_SHA512_256_SESS, "auth-int", true},
};

static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
                          "t=0 0\r\nm=audio 49170 RTP/AVP 0\r\n";

START_TEST(roundtrip)
{
    const struct rt_case *tc = &rt_cases[_i];
    struct wsip_auth_cfg cfg;
    wsip_auth_cfg_default(&cfg);
    cfg.algs[0] = WSIP_DIGEST_MD5;
    cfg.algs[1] = tc->alg;
    cfg.nalgs = tc->alg == WSIP_DIGEST_MD5 ? 1 : 2;
    cfg.qop_auth_int = strcmp(tc->qop, "auth-int") == 0;
    struct wsip_auth_svc *a = svc_new(&cfg);

    /* the challenge line for our algorithm, re-parsed */
    struct wsip_sbuf sb;
    wsip_sbuf_init(&sb);
    ck_assert_int_eq(wsip_auth_svc_challenge(a, S(REALM), T0, tc->proxy, false, &sb), 0);
    wsip_sbuf_append(&sb, "", 1);
    struct wsip_auth ch[8];
    int n = parse_lines(sb.p, tc->proxy ? "Proxy-Authenticate" : "WWW-Authenticate", ch);
    ck_assert_int_eq(n, (int)cfg.nalgs);
    const struct wsip_auth *mine = &ch[n - 1];
    ck_assert_int_eq(wsip_digest_auth_alg(mine), tc->alg);
    char realm[64], nonce[64], algname[32];
    wsip_str_copy(mine->realm, realm, sizeof(realm));
    wsip_str_copy(mine->nonce, nonce, sizeof(nonce));
    wsip_str_copy(mine->algorithm, algname, sizeof(algname));
    wsip_sbuf_free(&sb);

    const char *method = tc->proxy ? "INVITE" : "REGISTER";
    const char *ruri = tc->proxy ? "sip:bob@" REALM ";transport=ws" : "sip:" REALM;
    const char *body = tc->proxy ? sdp : "";
    for (unsigned nc = 1; nc <= 3; nc++) {
        struct creds c = {.user = "alice",
                          .password = "wonderland",
                          .realm = realm,
                          .nonce = nonce,
                          .method = method,
                          .uri = ruri,
                          .alg = algname,
                          .qop = tc->qop,
                          .nc = nc,
                          .cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                          .body = body};
        char *t = make_msg(
            method, ruri, line(tc->proxy ? "Proxy-Authorization" : "Authorization", cred_value(&c)),
            body);
        struct users_lk lk = {0};
        struct wsip_auth_result res;
        ck_rc(check_text(a, t, REALM, tc->proxy, T0 + 1000 * nc, NULL, &lk, &res), WSIP_AUTH_OK,
              res);
        ck_assert_str_eq(res.user, "alice");
        ck_assert_uint_eq(res.user_len, 5);
        ck_assert_int_eq(res.alg, tc->alg);
        ck_assert_int_eq(atomic_load(&lk.calls), 1);
        ck_assert_int_eq(lk.last_alg, (int)tc->alg & ~1);
    }

    /* auth-int covers the body: the same credentials over another body fail */
    if (strcmp(tc->qop, "auth-int") == 0) {
        struct creds c = {.user = "alice",
                          .password = "wonderland",
                          .realm = realm,
                          .nonce = nonce,
                          .method = method,
                          .uri = ruri,
                          .alg = algname,
                          .qop = tc->qop,
                          .nc = 9,
                          .cnonce = "abc",
                          .body = body};
        char *t = make_msg(
            method, ruri, line(tc->proxy ? "Proxy-Authorization" : "Authorization", cred_value(&c)),
            "v=1\r\n");
        struct wsip_auth_result res;
        ck_rc(check_text(a, t, REALM, tc->proxy, T0, NULL, NULL, &res), WSIP_AUTH_FAILED, res);
    }
    /* wrong header for the role: Authorization on the proxy and vice versa */
    struct creds c = {.user = "alice",
                      .password = "wonderland",
                      .realm = realm,
                      .nonce = nonce,
                      .method = method,
                      .uri = ruri,
                      .alg = algname,
                      .qop = tc->qop,
                      .nc = 20,
                      .cnonce = "abc",
                      .body = body};
    char *t =
        make_msg(method, ruri,
                 line(tc->proxy ? "Authorization" : "Proxy-Authorization", cred_value(&c)), body);
    struct wsip_auth_result res;
    ck_rc(check_text(a, t, REALM, tc->proxy, T0, NULL, NULL, &res), WSIP_AUTH_CHALLENGE, res);
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(ha1_from_lookup)
{
    struct wsip_auth_svc *a = svc_new(NULL);
    struct wsip_auth_result res;
    /* upper-case HA1 is accepted */
    struct users_lk lk = {.upper = true};
    ck_rc(reg_check(a, alice(get_nonce(a, T0), 1), T0, NULL, &lk, &res), WSIP_AUTH_OK, res);
    /* an HA1 of the wrong length is a wrong password, not a server error */
    struct users_lk lk2 = {.short_ha1 = true};
    ck_rc(reg_check(a, alice(get_nonce(a, T0), 1), T0, NULL, &lk2, &res), WSIP_AUTH_FAILED, res);
    ck_assert_str_eq(res.reason, "Wrong username or password");
    /* a lookup that fails is a server error */
    struct users_lk lk3 = {.force_rc = -5};
    ck_rc(reg_check(a, alice(get_nonce(a, T0), 1), T0, NULL, &lk3, &res), WSIP_AUTH_ERROR, res);
    /* usernames are unquoted before the lookup; the client hashes the
     * unquoted name and sends it escaped */
    struct creds c = {.user = "a b\"c",
                      .password = "quoted",
                      .nonce = get_nonce(a, T0),
                      .alg = "MD5",
                      .qop = "auth",
                      .nc = 1,
                      .realm = REALM,
                      .method = "REGISTER",
                      .uri = "sip:" REALM,
                      .cnonce = "c"};
    const char *v = cred_value(&c);
    char fixed[4200];
    const char *u = strstr(v, "username=\"");
    ck_assert_ptr_nonnull(u);
    snprintf(fixed, sizeof(fixed), "Digest username=\"a b\\\"c\"%s",
             strstr(u + 10, "\", realm") + 1);
    char *t = make_msg("REGISTER", "sip:" REALM, line("Authorization", fixed), "");
    ck_rc(check_text(a, t, REALM, false, T0, NULL, NULL, &res), WSIP_AUTH_OK, res);
    ck_assert_str_eq(res.user, "a b\"c");
    wsip_auth_svc_free(a);
}
END_TEST

/* ------------------------------------------------- failures and policies */

START_TEST(no_user_enumeration)
{
    struct wsip_auth_svc *a = svc_new(NULL);
    struct users_lk lk1 = {0}, lk2 = {0};
    struct wsip_auth_result wrong, unknown;

    struct creds c = alice(get_nonce(a, T0), 1);
    c.password = "guess";
    enum wsip_auth_rc r1 = reg_check(a, c, T0, NULL, &lk1, &wrong);

    c = alice(get_nonce(a, T0), 1);
    c.user = "mallory";
    enum wsip_auth_rc r2 = reg_check(a, c, T0, NULL, &lk2, &unknown);

    ck_rc(r1, WSIP_AUTH_FAILED, wrong);
    ck_rc(r2, WSIP_AUTH_FAILED, unknown);
    ck_assert_ptr_eq(wrong.reason, unknown.reason);
    ck_assert_str_eq(wrong.reason, "Wrong username or password");
    ck_assert_int_eq(wrong.alg, unknown.alg);
    /* both looked the user up once; the only difference is the name asked for */
    ck_assert_int_eq(atomic_load(&lk1.calls), 1);
    ck_assert_int_eq(atomic_load(&lk2.calls), 1);
    ck_assert_str_eq(wrong.user, "alice");
    ck_assert_str_eq(unknown.user, "mallory");

    /* a username too long to exist: the same answer, no lookup */
    char big[400];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct users_lk lk3 = {0};
    struct wsip_auth_result toolong;
    c = alice(get_nonce(a, T0), 1);
    c.user = big;
    ck_rc(reg_check(a, c, T0, NULL, &lk3, &toolong), WSIP_AUTH_FAILED, toolong);
    ck_assert_ptr_eq(toolong.reason, wrong.reason);
    ck_assert_int_eq(toolong.alg, wrong.alg);
    ck_assert_int_eq(atomic_load(&lk3.calls), 0);

    /* an unknown user whose response is right for some HA1 still fails:
     * compute it against a made-up password */
    c = alice(get_nonce(a, T0), 1);
    c.user = "mallory";
    c.password = "whatever";
    ck_rc(reg_check(a, c, T0, NULL, NULL, &unknown), WSIP_AUTH_FAILED, unknown);
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(no_credentials_and_sipml5)
{
    struct wsip_auth_svc *a = svc_new(NULL);
    struct wsip_auth_result res;
    struct users_lk lk = {0};

    ck_rc(check_text(a, make_msg("REGISTER", "sip:" REALM, "", ""), REALM, false, T0, NULL, &lk,
                     &res),
          WSIP_AUTH_CHALLENGE, res);

    /* sipML5's first REGISTER, with our realm and with another */
    const char *empties[] = {
        "Digest username=\"alice\",realm=\"" REALM "\",nonce=\"\",uri=\"sip:" REALM
        "\",response=\"\"",
        "Digest username=\"alice@" REALM "\",realm=\"*\",nonce=\"\",uri=\"sip:" REALM "\"",
        "Digest username=\"alice\",realm=\"" REALM "\",nonce=\"\",uri=\"sip:" REALM
        "\",response=\"\",algorithm=AKAv1-MD5",
        "Digest username=\"alice\",nonce=\"\",response=\"\"",
        /* a nonce but no response: still nothing to check */
        "Digest username=\"alice\",realm=\"" REALM "\",nonce=\"abc\",uri=\"sip:" REALM "\"",
    };
    for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
        ck_rc(check_text(a,
                         make_msg("REGISTER", "sip:" REALM, line("Authorization", empties[i]), ""),
                         REALM, false, T0, NULL, &lk, &res),
              WSIP_AUTH_CHALLENGE, res);
    }
    /* other schemes are not ours */
    ck_rc(check_text(
              a, make_msg("REGISTER", "sip:" REALM, line("Authorization", "Bearer abc.def"), ""),
              REALM, false, T0, NULL, &lk, &res),
          WSIP_AUTH_CHALLENGE, res);
    ck_assert_int_eq(atomic_load(&lk.calls), 0);

    /* an empty first header followed by real credentials: those count */
    struct creds c = alice(get_nonce(a, T0), 1);
    c.realm = REALM;
    c.method = "REGISTER";
    c.uri = "sip:" REALM;
    c.cnonce = "x";
    char hdrs[8192];
    snprintf(hdrs, sizeof(hdrs), "%s", line("Authorization", empties[0]));
    strcat(hdrs, line("Authorization", cred_value(&c)));
    ck_rc(check_text(a, make_msg("REGISTER", "sip:" REALM, hdrs, ""), REALM, false, T0, NULL, &lk,
                     &res),
          WSIP_AUTH_OK, res);
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(realms)
{
    struct wsip_auth_svc *a = svc_new(NULL);
    struct wsip_auth_result res;

    /* credentials for another realm only: challenge */
    char on[64];
    strcpy(on, get_nonce_realm(a, "other.test", T0, false));
    struct creds other = alice(on, 1);
    other.realm = "other.test";
    ck_rc(reg_check(a, other, T0, NULL, NULL, &res), WSIP_AUTH_CHALLENGE, res);

    /* other realm first, then ours: ours is checked */
    other.method = "REGISTER";
    other.uri = "sip:" REALM;
    other.cnonce = "y";
    char hdrs[8192];
    snprintf(hdrs, sizeof(hdrs), "%s", line("Authorization", cred_value(&other)));
    struct creds mine = alice(get_nonce(a, T0), 1);
    mine.realm = REALM;
    mine.method = "REGISTER";
    mine.uri = "sip:" REALM;
    mine.cnonce = "z";
    strcat(hdrs, line("Authorization", cred_value(&mine)));
    ck_rc(check_text(a, make_msg("REGISTER", "sip:" REALM, hdrs, ""), REALM, false, T0, NULL, NULL,
                     &res),
          WSIP_AUTH_OK, res);

    /* a nonce minted for another realm, presented as ours: not ours */
    struct creds moved = alice(on, 1);
    ck_rc(reg_check(a, moved, T0, NULL, NULL, &res), WSIP_AUTH_CHALLENGE, res);

    /* the realm is compared exactly */
    struct creds upper = alice(get_nonce(a, T0), 1);
    upper.realm = "EXAMPLE.ORG";
    ck_rc(reg_check(a, upper, T0, NULL, NULL, &res), WSIP_AUTH_CHALLENGE, res);

    /* the service is not tied to one realm */
    const char *n2 = get_nonce_realm(a, "second.test", T0, false);
    struct creds second = alice(n2, 1);
    second.realm = "second.test";
    second.method = "REGISTER";
    second.uri = "sip:second.test";
    second.cnonce = "w";
    ck_rc(check_text(a,
                     make_msg("REGISTER", "sip:second.test",
                              line("Authorization", cred_value(&second)), ""),
                     "second.test", false, T0, NULL, NULL, &res),
          WSIP_AUTH_OK, res);
    /* an invalid realm from the caller is an error */
    ck_rc(check_text(a, make_msg("REGISTER", "sip:" REALM, "", ""), "bad\"realm", false, T0, NULL,
                     NULL, &res),
          WSIP_AUTH_ERROR, res);
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(stale_nonce)
{
    struct wsip_auth_cfg cfg;
    wsip_auth_cfg_default(&cfg);
    cfg.nonce_ttl_s = 30;
    struct wsip_auth_svc *a = svc_new(&cfg);
    struct wsip_auth_result res;
    const char *n = get_nonce(a, T0);
    char nonce[64];
    strcpy(nonce, n);

    /* right at the end of its life it still works */
    ck_rc(reg_check(a, alice(nonce, 1), T0 + 30000, NULL, NULL, &res), WSIP_AUTH_OK, res);
    /* one ms later: stale, but only with the right password */
    ck_rc(reg_check(a, alice(nonce, 2), T0 + 30001, NULL, NULL, &res), WSIP_AUTH_STALE, res);
    struct creds wrong = alice(nonce, 3);
    wrong.password = "nope";
    ck_rc(reg_check(a, wrong, T0 + 30001, NULL, NULL, &res), WSIP_AUTH_FAILED, res);
    struct creds nobody = alice(nonce, 3);
    nobody.user = "nobody";
    ck_rc(reg_check(a, nobody, T0 + 99999, NULL, NULL, &res), WSIP_AUTH_FAILED, res);
    /* a stale answer does not consume the nc: after re-challenge all is well */
    ck_rc(reg_check(a, alice(get_nonce(a, T0 + 30001), 1), T0 + 30001, NULL, NULL, &res),
          WSIP_AUTH_OK, res);

    /* minted in the future: within the skew fine, beyond it not ours */
    const char *fut = get_nonce(a, T0 + 4000);
    ck_rc(reg_check(a, alice(fut, 1), T0, NULL, NULL, &res), WSIP_AUTH_OK, res);
    fut = get_nonce(a, T0 + 60000);
    ck_rc(reg_check(a, alice(fut, 1), T0, NULL, NULL, &res), WSIP_AUTH_CHALLENGE, res);
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(tampered_nonce)
{
    struct wsip_auth_cfg cfg;
    wsip_auth_cfg_default(&cfg);
    cfg.max_failures = 2;
    struct wsip_auth_svc *a = svc_new(&cfg);
    struct sockaddr_storage src = v4("192.0.2.7");
    struct wsip_auth_result res;
    char nonce[64];
    strcpy(nonce, get_nonce(a, T0));

    /* flip each character in turn: never accepted, never counted */
    for (size_t i = 0; i < WSIP_AUTH_NONCE_LEN; i++) {
        char t[64];
        strcpy(t, nonce);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        ck_rc(reg_check(a, alice(t, 1), T0, SA(src), NULL, &res), WSIP_AUTH_CHALLENGE, res);
    }
    /* truncated, extended, foreign alphabet, another server's secret */
    char t[80];
    snprintf(t, sizeof(t), "%.*s", WSIP_AUTH_NONCE_LEN - 1, nonce);
    ck_rc(reg_check(a, alice(t, 1), T0, SA(src), NULL, &res), WSIP_AUTH_CHALLENGE, res);
    snprintf(t, sizeof(t), "%sA", nonce);
    ck_rc(reg_check(a, alice(t, 1), T0, SA(src), NULL, &res), WSIP_AUTH_CHALLENGE, res);
    snprintf(t, sizeof(t), "%s", nonce);
    t[5] = '+';
    ck_rc(reg_check(a, alice(t, 1), T0, SA(src), NULL, &res), WSIP_AUTH_CHALLENGE, res);
    struct wsip_auth_svc *b = NULL;
    ck_assert_int_eq(wsip_auth_svc_new(&b, &cfg, NULL, NULL), 0);
    ck_rc(reg_check(a, alice(get_nonce(b, T0), 1), T0, SA(src), NULL, &res), WSIP_AUTH_CHALLENGE,
          res);
    /* the same secret verifies the other instance's nonces (another worker) */
    struct wsip_auth_svc *c = svc_new(&cfg);
    ck_rc(reg_check(a, alice(get_nonce(c, T0), 1), T0, SA(src), NULL, &res), WSIP_AUTH_OK, res);
    /* the last character carries 2 unused bits: other values are not canonical */
    strcpy(t, nonce);
    char *last = &t[WSIP_AUTH_NONCE_LEN - 1];
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    *last = alpha[(strchr(alpha, *last) - alpha) | 1];
    ck_rc(reg_check(a, alice(t, 1), T0, SA(src), NULL, &res), WSIP_AUTH_CHALLENGE, res);
    ck_assert_str_eq(res.reason, "Nonce not issued here");

    /* none of this counted toward the limit */
    ck_rc(reg_check(a, alice(nonce, 1), T0, SA(src), NULL, &res), WSIP_AUTH_OK, res);
    wsip_auth_svc_free(b);
    wsip_auth_svc_free(c);
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(nc_replay)
{
    struct wsip_auth_svc *a = svc_new(NULL);
    struct wsip_auth_result res;
    char nonce[64];
    strcpy(nonce, get_nonce(a, T0));

    ck_rc(reg_check(a, alice(nonce, 1), T0, NULL, NULL, &res), WSIP_AUTH_OK, res);
    /* a reused nc is never accepted; the answer is a fresh nonce (STALE):
     * SIP.js resends its last credentials as they are */
    ck_rc(reg_check(a, alice(nonce, 1), T0, NULL, NULL, &res), WSIP_AUTH_STALE, res);
    ck_assert_str_eq(res.reason, "Digest nonce-count reused");
    ck_rc(reg_check(a, alice(nonce, 2), T0, NULL, NULL, &res), WSIP_AUTH_OK, res);
    ck_rc(reg_check(a, alice(nonce, 2), T0, NULL, NULL, &res), WSIP_AUTH_STALE, res);
    /* gaps are fine (lost requests); going back is not */
    ck_rc(reg_check(a, alice(nonce, 7), T0, NULL, NULL, &res), WSIP_AUTH_OK, res);
    ck_rc(reg_check(a, alice(nonce, 5), T0, NULL, NULL, &res), WSIP_AUTH_STALE, res);
    ck_rc(reg_check(a, alice(nonce, 8), T0 + 1000, NULL, NULL, &res), WSIP_AUTH_OK, res);

    /* a wrong response with a huge nc does not poison the nonce */
    struct creds evil = alice(nonce, 0x7fffffff);
    evil.password = "guess";
    ck_rc(reg_check(a, evil, T0, NULL, NULL, &res), WSIP_AUTH_FAILED, res);
    ck_rc(reg_check(a, alice(nonce, 9), T0, NULL, NULL, &res), WSIP_AUTH_OK, res);

    /* the same nonce in a Proxy-Authorization continues the same count */
    struct creds p = alice(nonce, 9);
    p.realm = REALM;
    p.method = "MESSAGE";
    p.uri = "sip:bob@" REALM;
    p.cnonce = "q";
    ck_rc(check_text(a,
                     make_msg("MESSAGE", "sip:bob@" REALM,
                              line("Proxy-Authorization", cred_value(&p)), ""),
                     REALM, true, T0, NULL, NULL, &res),
          WSIP_AUTH_STALE, res);
    p.nc = 10;
    ck_rc(check_text(a,
                     make_msg("MESSAGE", "sip:bob@" REALM,
                              line("Proxy-Authorization", cred_value(&p)), ""),
                     REALM, true, T0, NULL, NULL, &res),
          WSIP_AUTH_OK, res);

    struct wsip_auth_stats st;
    wsip_auth_svc_stats(a, &st);
    ck_assert_uint_eq(st.replays, 4);
    ck_assert_uint_eq(st.by_rc[WSIP_AUTH_OK], 6);
    ck_assert_uint_eq(st.by_rc[WSIP_AUTH_FAILED], 1); /* the wrong password only */
    ck_assert_uint_eq(st.by_rc[WSIP_AUTH_STALE], 4);  /* the reused nc */
    ck_assert_uint_eq(st.challenges, 1);
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(replay_eviction)
{
    struct wsip_auth_cfg cfg;
    wsip_auth_cfg_default(&cfg);
    cfg.replay_slots = 8; /* one bucket of 8 */
    cfg.nonce_ttl_s = 100;
    struct wsip_auth_svc *a = svc_new(&cfg);
    struct wsip_auth_result res;
    char nonces[10][64];
    for (int i = 0; i < 10; i++)
        strcpy(nonces[i], get_nonce(a, T0 + (uint64_t)i));
    char late[64];
    strcpy(late, get_nonce(a, T0 + 50));

    /* 8 fit */
    for (int i = 1; i <= 8; i++)
        ck_rc(reg_check(a, alice(nonces[i], 1), T0 + 10, NULL, NULL, &res), WSIP_AUTH_OK, res);
    /* nonces[0], minted before everything tracked, is still new: no eviction yet */
    ck_rc(reg_check(a, alice(nonces[0], 1), T0 + 10, NULL, NULL, &res), WSIP_AUTH_OK, res);
    struct wsip_auth_stats st;
    wsip_auth_svc_stats(a, &st);
    ck_assert_uint_eq(st.replay_evictions, 1); /* ... but it evicted nonces[1] */

    /* nonces[1] was evicted: a replay of it is not accepted, the client gets
     * a fresh nonce without being counted as failing */
    ck_rc(reg_check(a, alice(nonces[1], 1), T0 + 10, NULL, NULL, &res), WSIP_AUTH_STALE, res);
    ck_rc(reg_check(a, alice(nonces[1], 2), T0 + 10, NULL, NULL, &res), WSIP_AUTH_STALE, res);
    /* tracked ones are still refused (STALE: a fresh nonce) */
    ck_rc(reg_check(a, alice(nonces[5], 1), T0 + 10, NULL, NULL, &res), WSIP_AUTH_STALE, res);
    ck_rc(reg_check(a, alice(nonces[5], 2), T0 + 10, NULL, NULL, &res), WSIP_AUTH_OK, res);
    /* a nonce minted after the evicted one and never used: accepted (and
     * evicts the oldest, nonces[0]) */
    ck_rc(reg_check(a, alice(nonces[9], 1), T0 + 10, NULL, NULL, &res), WSIP_AUTH_OK, res);
    ck_rc(reg_check(a, alice(nonces[9], 1), T0 + 10, NULL, NULL, &res), WSIP_AUTH_STALE, res);
    ck_rc(reg_check(a, alice(nonces[0], 2), T0 + 10, NULL, NULL, &res), WSIP_AUTH_STALE, res);
    /* nonces[2] is older than the evicted one but still tracked */
    ck_rc(reg_check(a, alice(nonces[2], 2), T0 + 10, NULL, NULL, &res), WSIP_AUTH_OK, res);

    /* expiry frees slots without evicting live ones: at T0 + 100005 the
     * nonces minted at T0..T0+4 have expired; the late one has not */
    wsip_auth_svc_stats(a, &st);
    uint64_t ev = st.replay_evictions;
    ck_rc(reg_check(a, alice(late, 1), T0 + 100005, NULL, NULL, &res), WSIP_AUTH_OK, res);
    wsip_auth_svc_stats(a, &st);
    ck_assert_uint_eq(st.replay_evictions, ev);
    ck_rc(reg_check(a, alice(late, 1), T0 + 100005, NULL, NULL, &res), WSIP_AUTH_STALE, res);
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(uri_must_match)
{
    struct wsip_auth_svc *a = svc_new(NULL);
    struct wsip_auth_result res;
    struct users_lk lk = {0};
    struct creds c = alice(get_nonce(a, T0), 1);
    c.uri = "sip:other.test"; /* response computed over this uri: only the uri is wrong */
    ck_rc(reg_check(a, c, T0, NULL, &lk, &res), WSIP_AUTH_FAILED, res);
    ck_assert_str_eq(res.reason, "Digest uri does not match the Request-URI");
    ck_assert_int_eq(atomic_load(&lk.calls), 0);
    /* case matters: the string is compared as written */
    c = alice(get_nonce(a, T0), 1);
    c.uri = "sip:EXAMPLE.org";
    ck_rc(reg_check(a, c, T0, NULL, &lk, &res), WSIP_AUTH_FAILED, res);
    /* spaces inside the quotes are trimmed for the comparison (the digest
     * covers the value as sent) */
    c = alice(get_nonce(a, T0), 1);
    c.uri = " sip:" REALM " ";
    ck_rc(reg_check(a, c, T0, NULL, &lk, &res), WSIP_AUTH_OK, res);
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(refused_forms)
{
    struct wsip_auth_cfg cfg;
    wsip_auth_cfg_default(&cfg);
    cfg.algs[0] = WSIP_DIGEST_MD5;
    cfg.nalgs = 1; /* MD5 only */
    struct wsip_auth_svc *a = svc_new(&cfg);
    struct wsip_auth_result res;

    struct creds c = alice(get_nonce(a, T0), 1);
    c.qop = NULL; /* RFC 2069 */
    ck_rc(reg_check(a, c, T0, NULL, NULL, &res), WSIP_AUTH_FAILED, res);
    ck_assert_str_eq(res.reason, "Digest without qop refused");

    c = alice(get_nonce(a, T0), 1);
    c.alg = "SHA-256";
    ck_rc(reg_check(a, c, T0, NULL, NULL, &res), WSIP_AUTH_FAILED, res);
    ck_assert_int_eq(res.alg, WSIP_DIGEST_SHA256);
    c.alg = "MD5-sess"; /* not offered either */
    ck_rc(reg_check(a, c, T0, NULL, NULL, &res), WSIP_AUTH_FAILED, res);
    ck_assert_str_eq(res.reason, "Digest algorithm not offered");

    /* no algorithm parameter means MD5 */
    c = alice(get_nonce(a, T0), 1);
    c.alg = NULL;
    ck_rc(reg_check(a, c, T0, NULL, NULL, &res), WSIP_AUTH_OK, res);
    ck_assert_int_eq(res.alg, WSIP_DIGEST_MD5);

    /* auth-int works though only auth was offered */
    c = alice(get_nonce(a, T0), 1);
    c.qop = "auth-int";
    ck_rc(reg_check(a, c, T0, NULL, NULL, &res), WSIP_AUTH_OK, res);

    c = alice(get_nonce(a, T0), 1);
    c.extra = ", userhash=true";
    ck_rc(reg_check(a, c, T0, NULL, NULL, &res), WSIP_AUTH_FAILED, res);
    /* unknown parameters and opaque are ignored */
    c.extra = ", opaque=\"5ccc\", foo=bar";
    ck_rc(reg_check(a, c, T0, NULL, NULL, &res), WSIP_AUTH_OK, res);
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(malformed)
{
    struct wsip_auth_svc *a = svc_new(NULL);
    struct wsip_auth_result res;
    char nonce[64];
    strcpy(nonce, get_nonce(a, T0));
    char v[1024];
    const char *fmts[] = {
        "Digest username=\"alice\", realm=\"" REALM "\", nonce=\"@N@\", uri=\"sip:" REALM "\", "
        "response=\"0123\", qop=auth, nc=00000001, cnonce=\"x\",",
        "Digest realm=\"" REALM "\", nonce=\"@N@\", uri=\"sip:" REALM
        "\", response=\"0123\", qop=auth, nc=00000001, cnonce=\"x\"",
        "Digest username=\"alice\", realm=\"" REALM "\", nonce=\"@N@\", response=\"0123\", "
        "qop=auth, nc=00000001, cnonce=\"x\"",
        "Digest username=\"alice\", realm=\"" REALM "\", nonce=\"@N@\", uri=\"sip:" REALM "\", "
        "response=\"0123\", qop=auth, nc=1, cnonce=\"x\"",
        "Digest username=\"alice\", realm=\"" REALM "\", nonce=\"@N@\", uri=\"sip:" REALM "\", "
        "response=\"0123\", qop=auth, nc=00000000, cnonce=\"x\"",
        "Digest username=\"alice\", realm=\"" REALM "\", nonce=\"@N@\", uri=\"sip:" REALM "\", "
        "response=\"0123\", qop=auth, nc=00000001",
        "Digest username=\"alice\", nonce=\"@N@\", uri=\"sip:" REALM "\", response=\"0123\"",
        "Digest username=\"alice\", username=\"bob\", realm=\"" REALM "\", nonce=\"@N@\"",
    };
    const char *reasons[] = {
        "Malformed Authorization header: empty parameter after ','",
        "Digest credentials without username",
        "Digest credentials without uri",
        "Digest nc missing or malformed",
        "Digest nc missing or malformed",
        "Digest cnonce missing",
        "Digest credentials without realm",
        "Malformed Authorization header: duplicate parameter",
    };
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        /* fmts hold @N@ where the nonce goes */
        const char *at = strstr(fmts[i], "@N@");
        ck_assert_ptr_nonnull(at);
        snprintf(v, sizeof(v), "%.*s%s%s", (int)(at - fmts[i]), fmts[i], nonce, at + 3);
        ck_rc(check_text(a, make_msg("REGISTER", "sip:" REALM, line("Authorization", v), ""), REALM,
                         false, T0, NULL, NULL, &res),
              WSIP_AUTH_BAD_REQUEST, res);
        ck_assert_str_eq(res.reason, reasons[i]);
    }
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(rate_limit)
{
    struct wsip_auth_cfg cfg;
    wsip_auth_cfg_default(&cfg);
    cfg.max_failures = 3;
    cfg.window_s = 60;
    struct wsip_auth_svc *a = svc_new(&cfg);
    struct wsip_auth_result res;
    struct sockaddr_storage bad = v4("198.51.100.9"), good = v4("198.51.100.10");
    struct sockaddr_storage mapped = v6("::ffff:198.51.100.9");
    struct sockaddr_storage six = v6("2001:db8:1:2::1"), six_same64 = v6("2001:db8:1:2:ffff::9"),
                            six_other = v6("2001:db8:1:3::1");

    /* successes in between do not buy extra attempts */
    char wn[64];
    strcpy(wn, get_nonce(a, T0));
    struct creds wrong = alice(wn, 1);
    wrong.password = "guess";
    for (unsigned i = 1; i <= 3; i++) {
        ck_rc(reg_check(a, alice(get_nonce(a, T0), 1), T0 + i, SA(bad), NULL, &res), WSIP_AUTH_OK,
              res);
        ck_rc(reg_check(a, wrong, T0 + i, SA(bad), NULL, &res), WSIP_AUTH_FAILED, res);
    }
    /* blocked now, even with the right password or without credentials, and
     * without asking for the user */
    struct users_lk lk = {0};
    ck_rc(reg_check(a, alice(get_nonce(a, T0), 1), T0 + 10, SA(bad), &lk, &res),
          WSIP_AUTH_RATE_LIMITED, res);
    ck_rc(check_text(a, make_msg("REGISTER", "sip:" REALM, "", ""), REALM, false, T0 + 10, SA(bad),
                     &lk, &res),
          WSIP_AUTH_RATE_LIMITED, res);
    ck_assert_int_eq(atomic_load(&lk.calls), 0);
    /* the same address written as IPv4-mapped IPv6 too */
    ck_rc(reg_check(a, alice(get_nonce(a, T0), 1), T0 + 10, SA(mapped), NULL, &res),
          WSIP_AUTH_RATE_LIMITED, res);
    /* not its neighbour, nor an unknown source */
    ck_rc(reg_check(a, alice(get_nonce(a, T0), 1), T0 + 10, SA(good), NULL, &res), WSIP_AUTH_OK,
          res);
    ck_rc(reg_check(a, alice(get_nonce(a, T0), 1), T0 + 10, NULL, NULL, &res), WSIP_AUTH_OK, res);
    /* the window ends 60 s after the first failure */
    ck_rc(reg_check(a, alice(get_nonce(a, T0 + 60000), 1), T0 + 60000, SA(bad), NULL, &res),
          WSIP_AUTH_RATE_LIMITED, res);
    ck_rc(reg_check(a, alice(get_nonce(a, T0 + 60001), 1), T0 + 60001, SA(bad), NULL, &res),
          WSIP_AUTH_OK, res);

    /* IPv6: one /64 is one source */
    wrong = alice(get_nonce(a, T0), 1);
    wrong.password = "guess";
    ck_rc(reg_check(a, wrong, T0, SA(six), NULL, &res), WSIP_AUTH_FAILED, res);
    ck_rc(reg_check(a, wrong, T0, SA(six_same64), NULL, &res), WSIP_AUTH_FAILED, res);
    struct creds nobody = wrong;
    nobody.user = "nobody"; /* unknown users count the same */
    ck_rc(reg_check(a, nobody, T0, SA(six), NULL, &res), WSIP_AUTH_FAILED, res);
    ck_rc(reg_check(a, alice(get_nonce(a, T0), 1), T0, SA(six_same64), NULL, &res),
          WSIP_AUTH_RATE_LIMITED, res);
    ck_rc(reg_check(a, alice(get_nonce(a, T0), 1), T0, SA(six_other), NULL, &res), WSIP_AUTH_OK,
          res);

    /* reused nc, uri mismatches and challenges do not count */
    struct sockaddr_storage r = v4("203.0.113.1");
    char nonce[64];
    strcpy(nonce, get_nonce(a, T0));
    ck_rc(reg_check(a, alice(nonce, 1), T0, SA(r), NULL, &res), WSIP_AUTH_OK, res);
    struct creds u = alice(nonce, 5);
    u.uri = "sip:elsewhere.test";
    for (int i = 0; i < 5; i++) {
        ck_rc(reg_check(a, u, T0, SA(r), NULL, &res), WSIP_AUTH_FAILED, res);
        ck_rc(check_text(a, make_msg("REGISTER", "sip:" REALM, "", ""), REALM, false, T0, SA(r),
                         NULL, &res),
              WSIP_AUTH_CHALLENGE, res);
    }
    for (int i = 0; i < 12; i++)
        ck_rc(reg_check(a, alice(nonce, 1), T0, SA(r), NULL, &res), WSIP_AUTH_STALE, res);
    ck_rc(reg_check(a, alice(nonce, 2), T0, SA(r), NULL, &res), WSIP_AUTH_OK, res);

    struct wsip_auth_stats st;
    wsip_auth_svc_stats(a, &st);
    ck_assert_uint_eq(st.by_rc[WSIP_AUTH_RATE_LIMITED], 5);
    wsip_auth_svc_free(a);
}
END_TEST

START_TEST(rate_limit_off_and_table_full)
{
    struct wsip_auth_cfg cfg;
    wsip_auth_cfg_default(&cfg);
    cfg.max_failures = 0;
    struct wsip_auth_svc *a = svc_new(&cfg);
    struct wsip_auth_result res;
    struct sockaddr_storage s = v4("192.0.2.1");
    char nonce[64];
    strcpy(nonce, get_nonce(a, T0));
    struct creds wrong = alice(nonce, 1);
    wrong.password = "guess";
    for (int i = 0; i < 50; i++)
        ck_rc(reg_check(a, wrong, T0, SA(s), NULL, &res), WSIP_AUTH_FAILED, res);
    wsip_auth_svc_free(a);

    /* a full address table forgets the oldest window, never blocks others */
    wsip_auth_cfg_default(&cfg);
    cfg.max_failures = 1;
    cfg.rate_slots = 8;
    a = svc_new(&cfg);
    for (int i = 0; i < 9; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
        s = v4(ip);
        ck_rc(reg_check(a, wrong, T0 + (uint64_t)i, SA(s), NULL, &res), WSIP_AUTH_FAILED, res);
        ck_rc(reg_check(a, wrong, T0 + (uint64_t)i, SA(s), NULL, &res), WSIP_AUTH_RATE_LIMITED,
              res);
    }
    s = v4("10.0.0.1"); /* evicted by the ninth */
    ck_rc(reg_check(a, alice(get_nonce(a, T0), 1), T0 + 20, SA(s), NULL, &res), WSIP_AUTH_OK, res);
    s = v4("10.0.0.9");
    ck_rc(reg_check(a, alice(get_nonce(a, T0), 2), T0 + 20, SA(s), NULL, &res),
          WSIP_AUTH_RATE_LIMITED, res);
    /* an AF_UNIX-like family is not limited */
    struct sockaddr_storage un;
    memset(&un, 0, sizeof(un));
    un.ss_family = AF_UNIX;
    for (int i = 0; i < 3; i++)
        ck_rc(reg_check(a, wrong, T0, SA(un), NULL, &res), WSIP_AUTH_FAILED, res);
    wsip_auth_svc_free(a);
}
END_TEST

/* ------------------------------------------------------------ threads */

#define NTHREADS 8
#define NITER    150

struct thr {
    struct wsip_auth_svc *a;
    int id;
    int ok, replay_failed, limited, other;
    int replays_accepted; /* must stay 0 */
};

static void *worker(void *arg)
{
    struct thr *t = arg;
    char ip[32];
    snprintf(ip, sizeof(ip), "10.1.%d.1", t->id);
    struct sockaddr_storage bad = v4(ip);
    snprintf(ip, sizeof(ip), "10.2.%d.1", t->id);
    struct sockaddr_storage good = v4(ip);
    for (int i = 0; i < NITER; i++) {
        uint64_t now = T0 + (uint64_t)i;
        char nonce[64];
        strcpy(nonce, get_nonce(t->a, now));
        struct wsip_auth_result res;
        enum wsip_auth_rc rc = reg_check(t->a, alice(nonce, 1), now, SA(good), NULL, &res);
        t->ok += rc == WSIP_AUTH_OK;
        t->other += rc != WSIP_AUTH_OK;
        rc = reg_check(t->a, alice(nonce, 1), now, NULL, NULL, &res);
        t->replay_failed += rc == WSIP_AUTH_STALE;
        t->replays_accepted += rc == WSIP_AUTH_OK;
        rc = reg_check(t->a, alice(nonce, 2), now, SA(good), NULL, &res);
        t->ok += rc == WSIP_AUTH_OK;
        t->other += rc != WSIP_AUTH_OK;
        struct creds w = alice(nonce, 3);
        w.password = "guess";
        rc = reg_check(t->a, w, now, SA(bad), NULL, &res);
        t->limited += rc == WSIP_AUTH_RATE_LIMITED;
    }
    return NULL;
}

static void run_threads(struct wsip_auth_svc *a, struct thr *t)
{
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        t[i] = (struct thr){.a = a, .id = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &t[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
}

START_TEST(threads)
{
    struct wsip_auth_cfg cfg;
    wsip_auth_cfg_default(&cfg);
    cfg.max_failures = 5;
    struct wsip_auth_svc *a = svc_new(&cfg);
    struct thr t[NTHREADS];
    run_threads(a, t);
    for (int i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(t[i].ok, 2 * NITER);
        ck_assert_int_eq(t[i].other, 0);
        ck_assert_int_eq(t[i].replay_failed, NITER);
        ck_assert_int_eq(t[i].replays_accepted, 0);
        ck_assert_int_eq(t[i].limited, NITER - 5);
    }
    struct wsip_auth_stats st;
    wsip_auth_svc_stats(a, &st);
    ck_assert_uint_eq(st.by_rc[WSIP_AUTH_OK], 2 * NITER * NTHREADS);
    ck_assert_uint_eq(st.replays, NITER * NTHREADS);
    ck_assert_uint_eq(st.challenges, NITER * NTHREADS);
    wsip_auth_svc_free(a);

    /* a tiny replay table under contention: evictions everywhere, yet no
     * replay is ever accepted */
    wsip_auth_cfg_default(&cfg);
    cfg.replay_slots = 16;
    cfg.max_failures = 0;
    a = svc_new(&cfg);
    run_threads(a, t);
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(t[i].replays_accepted, 0);
    wsip_auth_svc_stats(a, &st);
    ck_assert_uint_gt(st.replay_evictions, 0);
    wsip_auth_svc_free(a);
}
END_TEST

static Suite *auth_svc_suite(void)
{
    Suite *s = suite_create("auth_svc");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, challenge_text_default);
    tcase_add_test(tc, nonce_format);
    tcase_add_test(tc, challenge_order_proxy_stale_authint);
    tcase_add_test(tc, challenge_bad_realm_and_cfg);
    tcase_add_test(tc, may_challenge);
    tcase_add_loop_test(tc, roundtrip, 0, (int)(sizeof(rt_cases) / sizeof(rt_cases[0])));
    tcase_add_test(tc, ha1_from_lookup);
    tcase_add_test(tc, no_user_enumeration);
    tcase_add_test(tc, no_credentials_and_sipml5);
    tcase_add_test(tc, realms);
    tcase_add_test(tc, stale_nonce);
    tcase_add_test(tc, tampered_nonce);
    tcase_add_test(tc, nc_replay);
    tcase_add_test(tc, replay_eviction);
    tcase_add_test(tc, uri_must_match);
    tcase_add_test(tc, refused_forms);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, rate_limit);
    tcase_add_test(tc, rate_limit_off_and_table_full);
    tcase_add_test(tc, threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(auth_svc_suite());
}

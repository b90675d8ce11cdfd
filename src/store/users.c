/* Users: HA1 computation, USER@DOMAIN parsing, and the in-memory cache
 * the registrar authenticates against.
 *
 * The cache is an immutable open-addressing table rebuilt from the users
 * table on every reload and swapped in under a writer lock held only for
 * the pointer swap; lookups copy the credentials out under the read lock,
 * so a reload never frees a table a worker is reading. */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_int.h"
#include "wsip/digest.h"
#include "wsip/sip.h"

/* ------------------------------------------------------------- helpers */

int wsip_user_make(struct wsip_user *u, struct wsip_str user, struct wsip_str domain,
                   struct wsip_str realm, struct wsip_str password, const char **why)
{
    const char *scratch;
    if (!why)
        why = &scratch;
    memset(u, 0, sizeof(*u));
    if (user.len == 0 || user.len > WSIP_USER_MAX)
        return *why = "user empty or longer than 128 bytes", -1;
    if (domain.len == 0 || domain.len > WSIP_DOMAIN_MAX)
        return *why = "domain empty or longer than 253 bytes", -1;
    if (realm.len == 0 || realm.len > WSIP_REALM_MAX)
        return *why = "realm empty or longer than 255 bytes", -1;
    if (password.len == 0)
        return *why = "empty password", -1;
    if (memchr(user.p, '\0', user.len) || memchr(domain.p, '\0', domain.len) ||
        memchr(realm.p, '\0', realm.len))
        return *why = "NUL byte in user, domain or realm", -1;
    memcpy(u->user, user.p, user.len);
    for (size_t i = 0; i < domain.len; i++)
        u->domain[i] = (char)tolower((unsigned char)domain.p[i]);
    memcpy(u->realm, realm.p, realm.len);
    char hex[WSIP_DIGEST_HEX_MAX];
    if (wsip_digest_ha1(WSIP_DIGEST_MD5, user, realm, password, hex) != 32)
        return *why = "MD5 is not available", -1;
    memcpy(u->ha1_md5, hex, sizeof(u->ha1_md5));
    if (wsip_digest_ha1(WSIP_DIGEST_SHA256, user, realm, password, hex) != 64)
        return *why = "SHA-256 is not available", -1;
    memcpy(u->ha1_sha256, hex, sizeof(u->ha1_sha256));
    u->created = (int64_t)time(NULL);
    return 0;
}

/* RFC 3261 user: unreserved / escaped / user-unreserved. */
static bool user_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-_.!~*'()&=+$,;?/", c) != NULL);
}

int wsip_user_parse_aor(const char *aor, char user[WSIP_USER_MAX + 1],
                        char domain[WSIP_DOMAIN_MAX + 1], const char **why)
{
    const char *scratch;
    if (!why)
        why = &scratch;
    user[0] = domain[0] = '\0';
    if (!strncmp(aor, "sip:", 4))
        aor += 4; /* a pasted AOR */
    const char *at = strchr(aor, '@');
    if (!at)
        return *why = "expected USER@DOMAIN", -1;
    if (at == aor)
        return *why = "empty user", -1;
    size_t n = 0;
    for (const char *p = aor; p < at; p++) {
        unsigned c = (unsigned char)*p;
        if (c == '%') {
            int hi = p + 2 < at ? wsip_hex_value(p[1]) : -1,
                lo = hi >= 0 ? wsip_hex_value(p[2]) : -1;
            if (lo < 0)
                return *why = "bad %-escape in user", -1;
            c = (unsigned)(hi * 16 + lo);
            p += 2;
            /* the digest username is a quoted string on one line */
            if (c < 0x20 || c == 0x7f)
                return *why = "control character in user", -1;
        } else if (!user_char((unsigned char)c)) {
            return *why = "user may hold letters, digits, -_.!~*'()&=+$,;?/ and %HH escapes "
                          "only",
                   -1;
        }
        if (n == WSIP_USER_MAX)
            return *why = "user longer than 128 bytes", -1;
        user[n++] = (char)c;
    }
    user[n] = '\0';

    const char *host = at + 1;
    size_t hlen = strlen(host);
    if (hlen == 0 || hlen > WSIP_DOMAIN_MAX) {
        user[0] = '\0';
        return *why = "domain empty or longer than 253 bytes", -1;
    }
    /* the URI parser knows what a host is: names, IPv4, [IPv6] */
    char uri[WSIP_DOMAIN_MAX + 8];
    int ulen = snprintf(uri, sizeof(uri), "sip:%s", host);
    struct wsip_uri u;
    const char *reason;
    if (wsip_uri_parse(&u, uri, (size_t)ulen, &reason) < 0 || u.host.len != hlen ||
        u.host_type == WSIP_HOST_NONE || u.user.len || u.has_port || u.params.len ||
        u.headers.len) {
        user[0] = '\0';
        return *why = "domain must be a host name, IPv4 address or [IPv6] address (no port)", -1;
    }
    for (size_t i = 0; i <= hlen; i++)
        domain[i] = (char)tolower((unsigned char)host[i]);
    return 0;
}

void wsip_user_escape(const char *user, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (!cap)
        return;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++) {
        if (user_char(*p) && *p != '%') {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)*p;
        } else {
            if (o + 3 >= cap)
                break;
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

/* ---------------------------------------------------------------- cache */

struct ent {
    uint64_t hash;
    uint32_t user_off, domain_off, realm_off; /* into the blob */
    uint16_t ulen, dlen, rlen;
    char ha1_md5[WSIP_HA1_MD5_HEX];
    char ha1_sha256[WSIP_HA1_SHA256_HEX];
};

struct tab {
    size_t n, mask;
    uint32_t *slots; /* entry index + 1; 0 = empty */
    struct ent *ents;
    char *blob;
};

struct wsip_users {
    pthread_rwlock_t lock;
    pthread_mutex_t reload_mu; /* one reload at a time: an older snapshot
                                  never replaces a newer one */
    struct tab *tab;           /* under lock */
    _Atomic uint64_t generation;
};

/* FNV-1a over user, a separator, lower-cased domain; then a finalizer so
 * the low bits (the slot) depend on every byte. */
static uint64_t key_hash(struct wsip_str user, struct wsip_str domain)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < user.len; i++)
        h = (h ^ (unsigned char)user.p[i]) * 0x100000001b3ull;
    h = (h ^ 0x100) * 0x100000001b3ull;
    for (size_t i = 0; i < domain.len; i++)
        h = (h ^ (unsigned char)tolower((unsigned char)domain.p[i])) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static void tab_free(struct tab *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->ents);
    free(t->blob);
    free(t);
}

struct wsip_users *wsip_users_new(void)
{
    struct wsip_users *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* a reload must not wait behind a steady stream of REGISTERs */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&u->lock, &a);
    pthread_rwlockattr_destroy(&a);
    pthread_mutex_init(&u->reload_mu, NULL);
    return u;
}

void wsip_users_free(struct wsip_users *u)
{
    if (!u)
        return;
    tab_free(u->tab);
    pthread_rwlock_destroy(&u->lock);
    pthread_mutex_destroy(&u->reload_mu);
    free(u);
}

/* Appends s to the growing blob; its offset, or UINT32_MAX when out of memory. */
static uint32_t blob_add(char **blob, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > UINT32_MAX)
        return UINT32_MAX;
    if (*len + n + 1 > *cap) {
        size_t ncap = *cap ? *cap * 2 : 4096;
        while (ncap < *len + n + 1)
            ncap *= 2;
        char *nb = realloc(*blob, ncap);
        if (!nb)
            return UINT32_MAX;
        *blob = nb;
        *cap = ncap;
    }
    uint32_t off = (uint32_t)*len;
    memcpy(*blob + off, s, n);
    (*blob)[off + n] = '\0';
    *len += n + 1;
    return off;
}

/* Reads every row of the users table into a new table. */
static struct tab *tab_build(struct store_conn *c)
{
    struct tab *t = calloc(1, sizeof(*t));
    sqlite3_stmt *st = store_stmt(c, ST_USER_LIST);
    if (!t || !st)
        goto fail;
    size_t cap = 0, blen = 0, bcap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *f[5];
        size_t len[5];
        for (int i = 0; i < 5; i++) {
            f[i] = (const char *)sqlite3_column_text(st, i);
            len[i] = (size_t)sqlite3_column_bytes(st, i);
            if (!f[i]) {
                f[i] = "";
                len[i] = 0;
            }
        }
        if (len[0] == 0 || len[0] > WSIP_USER_MAX || len[1] == 0 || len[1] > WSIP_DOMAIN_MAX ||
            len[2] > WSIP_REALM_MAX)
            continue; /* not something wsip wrote; cannot authenticate anyway */
        if (t->n == cap) {
            cap = cap ? cap * 2 : 64;
            struct ent *ne = realloc(t->ents, cap * sizeof(*ne));
            if (!ne)
                goto fail_reset;
            t->ents = ne;
        }
        struct ent *e = &t->ents[t->n];
        memset(e, 0, sizeof(*e));
        e->user_off = blob_add(&t->blob, &blen, &bcap, f[0], len[0]);
        e->domain_off = blob_add(&t->blob, &blen, &bcap, f[1], len[1]);
        e->realm_off = blob_add(&t->blob, &blen, &bcap, f[2], len[2]);
        if (e->user_off == UINT32_MAX || e->domain_off == UINT32_MAX || e->realm_off == UINT32_MAX)
            goto fail_reset;
        for (size_t i = 0; i < len[1]; i++) /* lookups compare lower-case */
            t->blob[e->domain_off + i] = (char)tolower((unsigned char)t->blob[e->domain_off + i]);
        e->ulen = (uint16_t)len[0];
        e->dlen = (uint16_t)len[1];
        e->rlen = (uint16_t)len[2];
        snprintf(e->ha1_md5, sizeof(e->ha1_md5), "%s", f[3]);
        snprintf(e->ha1_sha256, sizeof(e->ha1_sha256), "%s", f[4]);
        e->hash = key_hash(wsip_str_make(f[0], len[0]), wsip_str_make(f[1], len[1]));
        t->n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        goto fail;
    /* load factor <= 1/2: short probe runs */
    size_t nslots = 16;
    while (nslots < t->n * 2)
        nslots *= 2;
    t->mask = nslots - 1;
    if (!(t->slots = calloc(nslots, sizeof(*t->slots))))
        goto fail;
    for (size_t i = 0; i < t->n; i++) {
        size_t k = t->ents[i].hash & t->mask;
        while (t->slots[k])
            k = (k + 1) & t->mask;
        t->slots[k] = (uint32_t)i + 1;
    }
    return t;
fail_reset:
    sqlite3_reset(st);
fail:
    tab_free(t);
    return NULL;
}

int store_users_reload_conn(struct wsip_users *u, struct store_conn *c)
{
    pthread_mutex_lock(&u->reload_mu);
    struct tab *t = tab_build(c);
    if (!t) {
        pthread_mutex_unlock(&u->reload_mu);
        return -1;
    }
    pthread_rwlock_wrlock(&u->lock);
    struct tab *old = u->tab;
    u->tab = t;
    pthread_rwlock_unlock(&u->lock);
    atomic_fetch_add(&u->generation, 1);
    pthread_mutex_unlock(&u->reload_mu);
    tab_free(old);
    return 0;
}

int wsip_users_reload(struct wsip_users *u, struct wsip_store *s)
{
    pthread_mutex_lock(&s->mu);
    int rc = store_users_reload_conn(u, &s->main);
    if (rc < 0)
        snprintf(s->errmsg, sizeof(s->errmsg), "users: %s", sqlite3_errmsg(s->main.db));
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static bool domain_eq(const char *stored, struct wsip_str d)
{
    for (size_t i = 0; i < d.len; i++)
        if (stored[i] != (char)tolower((unsigned char)d.p[i]))
            return false;
    return true;
}

int wsip_users_lookup(struct wsip_users *u, struct wsip_str user, struct wsip_str domain,
                      struct wsip_user_cred *out)
{
    if (user.len == 0 || user.len > WSIP_USER_MAX || domain.len == 0 ||
        domain.len > WSIP_DOMAIN_MAX)
        return -1;
    uint64_t h = key_hash(user, domain);
    int rc = -1;
    pthread_rwlock_rdlock(&u->lock);
    const struct tab *t = u->tab;
    if (t) {
        for (size_t k = h & t->mask; t->slots[k]; k = (k + 1) & t->mask) {
            const struct ent *e = &t->ents[t->slots[k] - 1];
            if (e->hash != h || e->ulen != user.len || e->dlen != domain.len ||
                memcmp(t->blob + e->user_off, user.p, user.len) != 0 ||
                !domain_eq(t->blob + e->domain_off, domain))
                continue;
            memcpy(out->realm, t->blob + e->realm_off, (size_t)e->rlen + 1);
            memcpy(out->ha1_md5, e->ha1_md5, sizeof(out->ha1_md5));
            memcpy(out->ha1_sha256, e->ha1_sha256, sizeof(out->ha1_sha256));
            rc = 0;
            break;
        }
    }
    pthread_rwlock_unlock(&u->lock);
    return rc;
}

size_t wsip_users_count(struct wsip_users *u)
{
    pthread_rwlock_rdlock(&u->lock);
    size_t n = u->tab ? u->tab->n : 0;
    pthread_rwlock_unlock(&u->lock);
    return n;
}

uint64_t wsip_users_generation(struct wsip_users *u)
{
    return atomic_load(&u->generation);
}

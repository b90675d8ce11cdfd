/* Location store: sharded AOR table, flow and temp-gruu indexes, immutable
 * refcounted bindings. See include/wsip/location.h for the contract. */
#include "wsip/location.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/random.h"
#include "wsip/sip.h"

enum { IX_FLOW, IX_GRUU, IX_COUNT };

#define TAB_INITIAL 16 /* buckets of a shard or stripe at creation */
#define GRUU_RAND   20 /* random bytes in a temp-gruu: 20 * 8 = 32 * 5 bits */

struct node;

struct link {
    struct node *next, *prev;
};

/* A binding and its bookkeeping in one allocation; b comes first so that a
 * binding pointer handed out is the node pointer. */
struct node {
    struct wsip_binding b;
    struct node *next;        /* the AOR's bindings (shard lock); garbage chain once unlinked */
    struct link ix[IX_COUNT]; /* index chains (stripe locks) */
    atomic_uint refs;         /* the table holds one while linked */
    uint32_t shard;
    bool linked; /* in the table (shard lock) */
    bool mark;   /* scratch of one update (shard lock) */
    char str[];  /* the strings of b, back to back */
};

/* One AOR: its bindings in registration order. */
struct rec {
    struct rec *next; /* shard bucket chain */
    uint64_t hash;
    struct node *head;
    size_t n;
    size_t len;
    char aor[];
};

struct shard {
    alignas(64) pthread_mutex_t lock; /* own cache line: no false sharing between shards */
    struct rec **tab;
    size_t ntab, nrec;
    _Atomic int64_t next_expiry; /* no binding expires before this (written under lock) */
};

struct stripe {
    alignas(64) pthread_mutex_t lock;
    struct node **tab;
    size_t ntab, n;
};

struct wsip_location {
    uint32_t nshards; /* also the stripe count of each index */
    uint32_t max_bindings;
    uint64_t seed; /* hash seed: AORs come from the network */
    struct wsip_location_hooks hooks;
    atomic_size_t nbindings, naors;
    struct shard *shards;
    struct stripe *ix[IX_COUNT];
};

/* ------------------------------------------------------------- helpers */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(uint64_t seed, const char *p, size_t len)
{
    uint64_t h = mix64(seed ^ (len * 0x9e3779b97f4a7c15ULL));
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, len);
    return mix64(h ^ w);
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool mem_caseeq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

/* "SIP:Alice@Example.COM" -> "sip:Alice@example.com": the scheme and
 * everything after the userinfo are case-insensitive (RFC 3261 19.1.4), the
 * user part is not. */
static int aor_norm(struct wsip_str in, char out[WSIP_LOCATION_AOR_MAX + 1], size_t *len)
{
    if (in.len == 0 || in.len > WSIP_LOCATION_AOR_MAX || !in.p)
        return -1;
    memcpy(out, in.p, in.len);
    out[in.len] = '\0';
    char *colon = memchr(out, ':', in.len);
    char *end = out + in.len;
    char *p = out;
    for (; p < (colon ? colon : end); p++)
        *p = lower(*p);
    if (colon) {
        char *at = memchr(colon, '@', (size_t)(end - colon));
        for (p = at ? at : colon; p < end; p++)
            *p = lower(*p);
    }
    *len = in.len;
    return 0;
}

/* RFC 3261 19.1.4 URI equality (wsip_uri_equal); a URI that does not
 * parse (never from the registrar, which parsed it) only equals itself. */
static bool uri_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    struct wsip_uri ua, ub;
    if (wsip_uri_parse(&ua, a, alen, NULL) < 0 || wsip_uri_parse(&ub, b, blen, NULL) < 0)
        return alen == blen && memcmp(a, b, alen) == 0;
    return wsip_uri_equal(&ua, &ub);
}

/* Instance ids are URNs, in practice urn:uuid: whose hex digits compare
 * case-insensitively (RFC 4122); the whole value is compared that way. */
static bool instance_eq(const char *a, struct wsip_str b)
{
    return strlen(a) == b.len && mem_caseeq(a, b.p, b.len);
}

static int gruu_make(char out[WSIP_TEMP_GRUU_LEN + 1])
{
    static const char a32[] = "abcdefghijklmnopqrstuvwxyz234567";
    unsigned char r[GRUU_RAND];
    if (wsip_random_bytes(r, sizeof(r)) < 0) /* the CSPRNG, pooled */
        return -1;
    for (size_t i = 0; i < WSIP_TEMP_GRUU_LEN; i++) {
        size_t bit = i * 5, byte = bit / 8, off = bit % 8;
        unsigned v = (unsigned)r[byte] << 8 | (byte + 1 < GRUU_RAND ? r[byte + 1] : 0u);
        out[i] = a32[(v >> (11 - off)) & 31];
    }
    out[WSIP_TEMP_GRUU_LEN] = '\0';
    return 0;
}

/* ---------------------------------------------------------------- nodes */

enum { S_AOR, S_CONTACT, S_PARAMS, S_INSTANCE, S_RECEIVED, S_PATH, S_CALLID, S_UA, S_COUNT };

static struct node *node_alloc(const struct wsip_str s[S_COUNT])
{
    size_t total = 0;
    for (int i = 0; i < S_COUNT; i++) {
        if (s[i].len > (SIZE_MAX >> 4))
            return NULL;
        total += s[i].len + 1;
    }
    struct node *n = malloc(sizeof(*n) + total);
    if (!n)
        return NULL;
    memset(n, 0, sizeof(*n));
    const char **dst[S_COUNT] = {&n->b.aor,      &n->b.contact, &n->b.params,  &n->b.instance,
                                 &n->b.received, &n->b.path,    &n->b.call_id, &n->b.user_agent};
    char *p = n->str;
    for (int i = 0; i < S_COUNT; i++) {
        if (s[i].len)
            memcpy(p, s[i].p, s[i].len);
        p[s[i].len] = '\0';
        *dst[i] = p;
        p += s[i].len + 1;
    }
    atomic_init(&n->refs, 1);
    return n;
}

static struct node *node_of(const struct wsip_binding *b)
{
    return (struct node *)b; /* b is the first member */
}

static void node_unref(struct node *n)
{
    if (atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) == 1)
        free(n);
}

static void node_ref(struct node *n)
{
    atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
}

const struct wsip_binding *wsip_binding_ref(const struct wsip_binding *b)
{
    if (b)
        node_ref(node_of(b));
    return b;
}

void wsip_binding_unref(const struct wsip_binding *b)
{
    if (b)
        node_unref(node_of(b));
}

void wsip_bindings_unref(const struct wsip_binding **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wsip_binding_unref(v[i]);
}

void wsip_binding_list_free(struct wsip_binding_list *l)
{
    if (!l)
        return;
    wsip_bindings_unref(l->v, l->n);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void free_chain(struct node *g)
{
    while (g) {
        struct node *next = g->next;
        node_unref(g);
        g = next;
    }
}

/* ------------------------------------------------------------ indexes */

static bool ix_has(const struct node *n, int k)
{
    return k == IX_FLOW ? n->b.flow != 0 : n->b.temp_gruu[0] != '\0';
}

static uint64_t ix_hash_flow(const struct wsip_location *loc, uint64_t flow)
{
    return mix64(flow ^ loc->seed);
}

static uint64_t ix_hash(const struct wsip_location *loc, int k, const struct node *n)
{
    if (k == IX_FLOW)
        return ix_hash_flow(loc, n->b.flow);
    return hash_bytes(loc->seed, n->b.temp_gruu, WSIP_TEMP_GRUU_LEN);
}

static size_t bucket_of(uint64_t h, size_t ntab)
{
    return (size_t)(h >> 32) & (ntab - 1);
}

static void ix_push(struct node **tab, size_t ntab, int k, struct node *n, uint64_t h)
{
    size_t i = bucket_of(h, ntab);
    n->ix[k].prev = NULL;
    n->ix[k].next = tab[i];
    if (tab[i])
        tab[i]->ix[k].prev = n;
    tab[i] = n;
}

/* Doubles a stripe's table; on failure the chains just grow longer. */
static void ix_grow(const struct wsip_location *loc, struct stripe *s, int k)
{
    size_t ntab = s->ntab * 2;
    struct node **tab = calloc(ntab, sizeof(*tab));
    if (!tab)
        return;
    for (size_t i = 0; i < s->ntab; i++) {
        struct node *n = s->tab[i];
        while (n) {
            struct node *next = n->ix[k].next;
            ix_push(tab, ntab, k, n, ix_hash(loc, k, n));
            n = next;
        }
    }
    free(s->tab);
    s->tab = tab;
    s->ntab = ntab;
}

/* Adds n to (add) or removes it from both indexes; caller holds n's shard. */
static void node_index(struct wsip_location *loc, struct node *n, bool add)
{
    for (int k = 0; k < IX_COUNT; k++) {
        if (!ix_has(n, k))
            continue;
        uint64_t h = ix_hash(loc, k, n);
        struct stripe *s = &loc->ix[k][h & (loc->nshards - 1)];
        pthread_mutex_lock(&s->lock);
        if (add) {
            if (s->n >= s->ntab)
                ix_grow(loc, s, k);
            ix_push(s->tab, s->ntab, k, n, h);
            s->n++;
        } else {
            if (n->ix[k].prev)
                n->ix[k].prev->ix[k].next = n->ix[k].next;
            else
                s->tab[bucket_of(h, s->ntab)] = n->ix[k].next;
            if (n->ix[k].next)
                n->ix[k].next->ix[k].prev = n->ix[k].prev;
            n->ix[k].next = n->ix[k].prev = NULL;
            s->n--;
        }
        pthread_mutex_unlock(&s->lock);
    }
}

/* ------------------------------------------------------------- shards */

static struct rec *rec_find(struct shard *sh, uint64_t h, const char *aor, size_t len)
{
    for (struct rec *r = sh->tab[bucket_of(h, sh->ntab)]; r; r = r->next)
        if (r->hash == h && r->len == len && memcmp(r->aor, aor, len) == 0)
            return r;
    return NULL;
}

static void rec_insert(struct wsip_location *loc, struct shard *sh, struct rec *r)
{
    if (sh->nrec >= sh->ntab) {
        size_t ntab = sh->ntab * 2;
        struct rec **tab = calloc(ntab, sizeof(*tab));
        if (tab) {
            for (size_t i = 0; i < sh->ntab; i++) {
                struct rec *x = sh->tab[i];
                while (x) {
                    struct rec *next = x->next;
                    size_t j = bucket_of(x->hash, ntab);
                    x->next = tab[j];
                    tab[j] = x;
                    x = next;
                }
            }
            free(sh->tab);
            sh->tab = tab;
            sh->ntab = ntab;
        }
    }
    size_t i = bucket_of(r->hash, sh->ntab);
    r->next = sh->tab[i];
    sh->tab[i] = r;
    sh->nrec++;
    atomic_fetch_add_explicit(&loc->naors, 1, memory_order_relaxed);
}

static void rec_remove(struct wsip_location *loc, struct shard *sh, struct rec *r)
{
    struct rec **pp = &sh->tab[bucket_of(r->hash, sh->ntab)];
    while (*pp != r)
        pp = &(*pp)->next;
    *pp = r->next;
    sh->nrec--;
    atomic_fetch_sub_explicit(&loc->naors, 1, memory_order_relaxed);
}

static struct rec *rec_alloc(const char *aor, size_t len, uint64_t h)
{
    struct rec *r = malloc(sizeof(*r) + len + 1);
    if (!r)
        return NULL;
    r->next = NULL;
    r->hash = h;
    r->head = NULL;
    r->n = 0;
    r->len = len;
    memcpy(r->aor, aor, len);
    r->aor[len] = '\0';
    return r;
}

static void note_expiry(struct shard *sh, int64_t at)
{
    if (at < atomic_load_explicit(&sh->next_expiry, memory_order_relaxed))
        atomic_store_explicit(&sh->next_expiry, at, memory_order_relaxed);
}

static void hook_put(const struct wsip_location *loc, const struct node *n)
{
    if (n->b.flow == 0 && loc->hooks.put)
        loc->hooks.put(loc->hooks.arg, &n->b);
}

static void hook_del(const struct wsip_location *loc, const struct node *n)
{
    if (n->b.flow == 0 && loc->hooks.del)
        loc->hooks.del(loc->hooks.arg, &n->b);
}

/* Takes n out of the table (not out of r's list: the caller does that);
 * the table's reference moves to the garbage chain *g. */
static void node_unlink(struct wsip_location *loc, struct node *n, struct node **g)
{
    node_index(loc, n, false);
    n->linked = false;
    n->next = *g;
    *g = n;
    atomic_fetch_sub_explicit(&loc->nbindings, 1, memory_order_relaxed);
}

static void node_link(struct wsip_location *loc, struct shard *sh, struct node *n)
{
    node_index(loc, n, true);
    n->linked = true;
    note_expiry(sh, n->b.expires_at);
    atomic_fetch_add_explicit(&loc->nbindings, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------ create */

struct wsip_location *wsip_location_new(const struct wsip_location_opts *opts)
{
    unsigned nshards = opts && opts->shards ? opts->shards : WSIP_LOCATION_DEFAULT_SHARDS;
    if ((nshards & (nshards - 1)) != 0 || nshards > (1u << 16))
        return NULL;
    struct wsip_location *loc = calloc(1, sizeof(*loc));
    if (!loc)
        return NULL;
    loc->nshards = nshards;
    if (opts) {
        loc->max_bindings = opts->max_bindings;
        loc->hooks = opts->hooks;
    }
    unsigned char seed[8];
    if (RAND_bytes(seed, sizeof(seed)) == 1)
        memcpy(&loc->seed, seed, sizeof(seed));
    else /* only the flooding defence is weaker */
        loc->seed = mix64((uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)loc);
    atomic_init(&loc->nbindings, 0);
    atomic_init(&loc->naors, 0);

    loc->shards = aligned_alloc(alignof(struct shard), nshards * sizeof(struct shard));
    if (!loc->shards) {
        free(loc);
        return NULL;
    }
    bool ok = true;
    for (unsigned i = 0; i < nshards; i++) {
        struct shard *sh = &loc->shards[i];
        pthread_mutex_init(&sh->lock, NULL);
        sh->tab = calloc(TAB_INITIAL, sizeof(*sh->tab));
        sh->ntab = TAB_INITIAL;
        sh->nrec = 0;
        atomic_init(&sh->next_expiry, INT64_MAX);
        ok = ok && sh->tab;
    }
    for (int k = 0; k < IX_COUNT; k++) {
        loc->ix[k] = aligned_alloc(alignof(struct stripe), nshards * sizeof(struct stripe));
        if (!loc->ix[k]) {
            ok = false;
            continue;
        }
        for (unsigned i = 0; i < nshards; i++) {
            struct stripe *s = &loc->ix[k][i];
            pthread_mutex_init(&s->lock, NULL);
            s->tab = calloc(TAB_INITIAL, sizeof(*s->tab));
            s->ntab = TAB_INITIAL;
            s->n = 0;
            ok = ok && s->tab;
        }
    }
    if (!ok) {
        wsip_location_free(loc);
        return NULL;
    }
    return loc;
}

void wsip_location_free(struct wsip_location *loc)
{
    if (!loc)
        return;
    for (unsigned i = 0; i < loc->nshards; i++) {
        struct shard *sh = &loc->shards[i];
        for (size_t j = 0; sh->tab && j < sh->ntab; j++) {
            struct rec *r = sh->tab[j];
            while (r) {
                struct rec *next = r->next;
                struct node *n = r->head;
                while (n) {
                    struct node *nn = n->next;
                    n->linked = false;
                    node_unref(n);
                    n = nn;
                }
                free(r);
                r = next;
            }
        }
        free(sh->tab);
        pthread_mutex_destroy(&sh->lock);
    }
    free(loc->shards);
    for (int k = 0; k < IX_COUNT; k++) {
        if (!loc->ix[k])
            continue;
        for (unsigned i = 0; i < loc->nshards; i++) {
            free(loc->ix[k][i].tab);
            pthread_mutex_destroy(&loc->ix[k][i].lock);
        }
        free(loc->ix[k]);
    }
    free(loc);
}

/* ------------------------------------------------------------ update */

/* Whether a Contact refers to binding t: with an instance, t has the same
 * instance and reg-id, or t has no instance and an equal URI (the UA
 * registered before it sent +sip.instance); without one, t has an equal
 * URI. A Contact replaces every binding it refers to, so no two bindings
 * ever share an instance-less URI. */
static bool refers(const struct node *t, struct wsip_str contact, struct wsip_str instance,
                   uint32_t reg_id)
{
    if (instance.len && t->b.instance[0])
        return t->b.reg_id == reg_id && instance_eq(t->b.instance, instance);
    return uri_eq(t->b.contact, strlen(t->b.contact), contact.p, contact.len);
}

/* The temp-gruu the instance already has among t[0..n-1], or NULL. */
static const char *instance_gruu(struct node *const *t, size_t n, struct wsip_str instance)
{
    for (size_t i = 0; i < n; i++)
        if (t[i]->b.temp_gruu[0] && instance_eq(t[i]->b.instance, instance))
            return t[i]->b.temp_gruu;
    return NULL;
}

static bool same_call(const struct node *n, struct wsip_str call_id)
{
    return strlen(n->b.call_id) == call_id.len && memcmp(n->b.call_id, call_id.p, call_id.len) == 0;
}

/* The persistence key of the store: aor (same within a record), contact,
 * instance, byte for byte. */
static bool same_key(const struct node *a, const struct node *b)
{
    return strcmp(a->b.contact, b->b.contact) == 0 && strcmp(a->b.instance, b->b.instance) == 0;
}

static struct node *fresh_node(const char *aor, size_t aorlen, uint32_t shard,
                               const struct wsip_loc_register *reg,
                               const struct wsip_binding_req *c, int64_t now)
{
    struct wsip_str s[S_COUNT] = {
        [S_AOR] = {aor, aorlen},    [S_CONTACT] = c->contact,     [S_PARAMS] = c->params,
        [S_INSTANCE] = c->instance, [S_RECEIVED] = reg->received, [S_PATH] = reg->path,
        [S_CALLID] = reg->call_id,  [S_UA] = reg->user_agent,
    };
    struct node *n = node_alloc(s);
    if (!n)
        return NULL;
    n->shard = shard;
    n->b.flow = reg->flow;
    n->b.expires_at = now + (int64_t)c->expires * 1000;
    n->b.created_at = n->b.updated_at = now;
    n->b.cseq = reg->cseq;
    n->b.reg_id = c->reg_id;
    n->b.q = (int16_t)c->q;
    n->b.transport = (uint8_t)reg->transport;
    n->b.flags = (uint8_t)c->flags;
    /* drawn now, outside the lock; replaced by the instance's own one if it
     * turns out to have one */
    if (c->instance.len && gruu_make(n->b.temp_gruu) < 0) {
        free(n);
        return NULL;
    }
    return n;
}

static bool reg_valid(const struct wsip_loc_register *reg)
{
    if (reg->wildcard)
        return true;
    if (reg->ncontacts && !reg->contacts)
        return false;
    for (size_t i = 0; i < reg->ncontacts; i++) {
        const struct wsip_binding_req *c = &reg->contacts[i];
        if (c->contact.len == 0 || !c->contact.p || c->q < -1 || c->q > 1000)
            return false;
    }
    return true;
}

int wsip_location_update(struct wsip_location *loc, const struct wsip_loc_register *reg,
                         int64_t now, struct wsip_binding_list *res)
{
    if (res) {
        res->v = NULL;
        res->n = 0;
    }
    char aor[WSIP_LOCATION_AOR_MAX + 1];
    size_t aorlen;
    if (!loc || !reg || aor_norm(reg->aor, aor, &aorlen) < 0 || !reg_valid(reg))
        return WSIP_LOC_EINVAL;

    uint64_t h = hash_bytes(loc->seed, aor, aorlen);
    uint32_t si = (uint32_t)(h & (loc->nshards - 1));
    struct shard *sh = &loc->shards[si];
    size_t nc = reg->wildcard ? 0 : reg->ncontacts;
    int rc = 0;
    struct node **fresh = NULL, **tent = NULL, *garbage = NULL;
    struct rec *newrec = NULL, *oldrec = NULL;
    const struct wsip_binding **out = NULL;

    /* everything that allocates or draws random bytes, before the lock */
    if (nc) {
        fresh = calloc(nc, sizeof(*fresh));
        newrec = rec_alloc(aor, aorlen, h);
        if (!fresh || !newrec) {
            rc = WSIP_LOC_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < nc; i++) {
            if (reg->contacts[i].expires == 0)
                continue;
            fresh[i] = fresh_node(aor, aorlen, si, reg, &reg->contacts[i], now);
            if (!fresh[i]) {
                rc = WSIP_LOC_ENOMEM;
                goto out;
            }
        }
    }

    pthread_mutex_lock(&sh->lock);
    struct rec *r = rec_find(sh, h, aor, aorlen);
    size_t nold = r ? r->n : 0, nt = 0;
    if (nold + nc) {
        tent = malloc((nold + nc) * sizeof(*tent));
        if (!tent) {
            rc = WSIP_LOC_ENOMEM;
            goto unlock;
        }
    }
    /* tent: the AOR as it will be; expired bindings are already gone */
    for (struct node *n = r ? r->head : NULL; n; n = n->next)
        if (n->b.expires_at > now)
            tent[nt++] = n;
    size_t nlive = nt;

    if (reg->wildcard) {
        for (size_t i = 0; i < nt; i++)
            if (same_call(tent[i], reg->call_id) && reg->cseq <= tent[i]->b.cseq) {
                rc = WSIP_LOC_ECSEQ;
                goto unlock;
            }
        nt = 0;
    }
    for (size_t i = 0; i < nc; i++) {
        const struct wsip_binding_req *c = &reg->contacts[i];
        struct node *f = fresh[i]; /* NULL: expires 0 */
        if (f && c->instance.len) {
            const char *g = instance_gruu(tent, nt, c->instance);
            if (g)
                memcpy(f->b.temp_gruu, g, sizeof(f->b.temp_gruu));
        }
        /* the Contact takes the place of the first binding it refers to and
         * drops the others */
        bool placed = false;
        size_t w = 0;
        for (size_t k = 0; k < nt; k++) {
            struct node *t = tent[k];
            if (!refers(t, c->contact, c->instance, c->reg_id)) {
                tent[w++] = t;
                continue;
            }
            /* only bindings from earlier requests have an order to respect;
             * a Contact repeated in this request replaces its twin */
            if (t->linked && same_call(t, reg->call_id) && reg->cseq <= t->b.cseq) {
                rc = WSIP_LOC_ECSEQ;
                goto unlock;
            }
            if (f && !placed) {
                f->b.created_at = t->b.created_at;
                tent[w++] = f;
                placed = true;
            }
        }
        nt = w;
        if (f && !placed)
            tent[nt++] = f;
    }
    if (loc->max_bindings && nt > loc->max_bindings && nt > nlive) {
        rc = WSIP_LOC_ETOOMANY;
        goto unlock;
    }
    if (res && nt) {
        out = malloc(nt * sizeof(*out));
        if (!out) {
            rc = WSIP_LOC_ENOMEM;
            goto unlock;
        }
    }

    /* commit: nothing can fail from here on */
    for (size_t i = 0; i < nt; i++)
        tent[i]->mark = true;
    for (struct node *n = r ? r->head : NULL, *next; n; n = next) {
        next = n->next;
        if (n->mark)
            continue;
        bool rewritten = false; /* the put of its successor overwrites the row */
        for (size_t i = 0; i < nt && !rewritten; i++)
            rewritten = !tent[i]->linked && tent[i]->b.flow == 0 && same_key(tent[i], n);
        if (!rewritten)
            hook_del(loc, n);
        node_unlink(loc, n, &garbage);
    }
    for (size_t i = 0; i < nt; i++) {
        struct node *n = tent[i];
        n->mark = false;
        n->next = i + 1 < nt ? tent[i + 1] : NULL;
        if (!n->linked) {
            node_link(loc, sh, n);
            hook_put(loc, n);
        }
        if (out) {
            node_ref(n);
            out[i] = &n->b;
        }
    }
    if (r && nt == 0) {
        rec_remove(loc, sh, r);
        oldrec = r;
    } else if (r) {
        r->head = tent[0];
        r->n = nt;
    } else if (nt) {
        newrec->head = tent[0];
        newrec->n = nt;
        rec_insert(loc, sh, newrec);
        newrec = NULL;
    }
    if (res) {
        res->v = out;
        res->n = nt;
        out = NULL;
    }

unlock:
    /* which fresh nodes the table took must be read under the lock: once it
     * is released another thread may unlink them */
    for (size_t i = 0; i < nc; i++)
        if (fresh[i] && fresh[i]->linked)
            fresh[i] = NULL;
    pthread_mutex_unlock(&sh->lock);
out:
    for (size_t i = 0; fresh && i < nc; i++)
        free(fresh[i]); /* never published: no other reference */
    free(fresh);
    free(tent);
    free(out);
    free(newrec);
    free(oldrec);
    free_chain(garbage);
    return rc;
}

/* ------------------------------------------------------------ lookups */

static int q_of(const struct wsip_binding *b)
{
    return b->q < 0 ? 1000 : b->q;
}

static bool before_q(const struct wsip_binding *a, const struct wsip_binding *b)
{
    if (q_of(a) != q_of(b))
        return q_of(a) > q_of(b);
    return a->updated_at > b->updated_at;
}

static bool before_recent(const struct wsip_binding *a, const struct wsip_binding *b)
{
    return a->updated_at > b->updated_at;
}

/* Inserts b into out[0..*k) kept sorted, dropping what falls past max. */
static void put_sorted(const struct wsip_binding **out, size_t *k, size_t max,
                       const struct wsip_binding *b,
                       bool (*before)(const struct wsip_binding *, const struct wsip_binding *))
{
    size_t p = *k;
    while (p > 0 && before(b, out[p - 1]))
        p--;
    if (p >= max)
        return;
    size_t last = *k < max ? *k : max - 1;
    memmove(&out[p + 1], &out[p], (last - p) * sizeof(*out));
    out[p] = b;
    if (*k < max)
        (*k)++;
}

/* The shard and record of an AOR, with the shard locked (NULL record when
 * it has no bindings). NULL shard when the AOR is unusable. */
static struct shard *lock_aor(struct wsip_location *loc, struct wsip_str aor_in, struct rec **r)
{
    char aor[WSIP_LOCATION_AOR_MAX + 1];
    size_t len;
    if (!loc || aor_norm(aor_in, aor, &len) < 0)
        return NULL;
    uint64_t h = hash_bytes(loc->seed, aor, len);
    struct shard *sh = &loc->shards[h & (loc->nshards - 1)];
    pthread_mutex_lock(&sh->lock);
    *r = rec_find(sh, h, aor, len);
    return sh;
}

static void ref_all(const struct wsip_binding **out, size_t k)
{
    for (size_t i = 0; i < k; i++)
        node_ref(node_of(out[i]));
}

size_t wsip_location_lookup(struct wsip_location *loc, struct wsip_str aor, int64_t now,
                            const struct wsip_binding **out, size_t max)
{
    struct rec *r;
    struct shard *sh = max ? lock_aor(loc, aor, &r) : NULL;
    if (!sh)
        return 0;
    size_t k = 0;
    for (struct node *n = r ? r->head : NULL; n; n = n->next)
        if (n->b.expires_at > now)
            put_sorted(out, &k, max, &n->b, before_q);
    ref_all(out, k);
    pthread_mutex_unlock(&sh->lock);
    return k;
}

size_t wsip_location_lookup_instance(struct wsip_location *loc, struct wsip_str aor,
                                     struct wsip_str instance, int64_t now,
                                     const struct wsip_binding **out, size_t max)
{
    if (instance.len == 0)
        return 0;
    struct rec *r;
    struct shard *sh = max ? lock_aor(loc, aor, &r) : NULL;
    if (!sh)
        return 0;
    size_t k = 0;
    for (struct node *n = r ? r->head : NULL; n; n = n->next)
        if (n->b.expires_at > now && instance_eq(n->b.instance, instance))
            put_sorted(out, &k, max, &n->b, before_recent);
    ref_all(out, k);
    pthread_mutex_unlock(&sh->lock);
    return k;
}

size_t wsip_location_lookup_gruu(struct wsip_location *loc, struct wsip_str temp_gruu, int64_t now,
                                 const struct wsip_binding **out, size_t max)
{
    if (!loc || max == 0 || temp_gruu.len != WSIP_TEMP_GRUU_LEN || !temp_gruu.p)
        return 0;
    uint64_t h = hash_bytes(loc->seed, temp_gruu.p, temp_gruu.len);
    struct stripe *s = &loc->ix[IX_GRUU][h & (loc->nshards - 1)];
    struct node *hit = NULL;
    pthread_mutex_lock(&s->lock);
    for (struct node *n = s->tab[bucket_of(h, s->ntab)]; n; n = n->ix[IX_GRUU].next)
        if (memcmp(n->b.temp_gruu, temp_gruu.p, WSIP_TEMP_GRUU_LEN) == 0) {
            hit = n;
            node_ref(hit);
            break;
        }
    pthread_mutex_unlock(&s->lock);
    if (!hit)
        return 0;

    /* shard after stripe would invert the lock order: the stripe is
     * released, then the AOR (which the held reference keeps) is read */
    struct rec *r;
    struct shard *sh = lock_aor(loc, wsip_str_cstr(hit->b.aor), &r);
    size_t k = 0;
    for (struct node *n = r ? r->head : NULL; n; n = n->next)
        if (n->b.expires_at > now && memcmp(n->b.temp_gruu, temp_gruu.p, WSIP_TEMP_GRUU_LEN) == 0)
            put_sorted(out, &k, max, &n->b, before_recent);
    ref_all(out, k);
    pthread_mutex_unlock(&sh->lock);
    node_unref(hit);
    return k;
}

/* ------------------------------------------------------------ removal */

/* Removes n from its AOR; caller holds the shard. Returns the record when
 * it became empty (removed from the shard, for the caller to free). */
static struct rec *remove_from_aor(struct wsip_location *loc, struct shard *sh, struct node *n,
                                   struct node **garbage)
{
    uint64_t h = hash_bytes(loc->seed, n->b.aor, strlen(n->b.aor));
    struct rec *r = rec_find(sh, h, n->b.aor, strlen(n->b.aor));
    struct node **pp = &r->head;
    while (*pp != n)
        pp = &(*pp)->next;
    *pp = n->next;
    r->n--;
    hook_del(loc, n);
    node_unlink(loc, n, garbage);
    if (r->n)
        return NULL;
    rec_remove(loc, sh, r);
    return r;
}

size_t wsip_location_flow_closed(struct wsip_location *loc, uint64_t flow)
{
    if (!loc || flow == 0)
        return 0;
    uint64_t h = ix_hash_flow(loc, flow);
    struct stripe *s = &loc->ix[IX_FLOW][h & (loc->nshards - 1)];
    size_t removed = 0;
    /* one binding per round: find it under the stripe, drop the stripe,
     * remove it under its shard (lock order); a binding unlinked meanwhile
     * has left the index too, so the loop ends */
    for (;;) {
        struct node *hit = NULL;
        pthread_mutex_lock(&s->lock);
        for (struct node *n = s->tab[bucket_of(h, s->ntab)]; n; n = n->ix[IX_FLOW].next)
            if (n->b.flow == flow) {
                hit = n;
                node_ref(hit);
                break;
            }
        pthread_mutex_unlock(&s->lock);
        if (!hit)
            break;
        struct shard *sh = &loc->shards[hit->shard];
        struct node *garbage = NULL;
        struct rec *empty = NULL;
        pthread_mutex_lock(&sh->lock);
        if (hit->linked) {
            empty = remove_from_aor(loc, sh, hit, &garbage);
            removed++;
        }
        pthread_mutex_unlock(&sh->lock);
        free(empty);
        free_chain(garbage);
        node_unref(hit);
    }
    return removed;
}

size_t wsip_location_expire(struct wsip_location *loc, int64_t now)
{
    if (!loc)
        return 0;
    size_t removed = 0;
    for (uint32_t i = 0; i < loc->nshards; i++) {
        struct shard *sh = &loc->shards[i];
        if (atomic_load_explicit(&sh->next_expiry, memory_order_relaxed) > now)
            continue;
        struct node *garbage = NULL;
        struct rec *empty = NULL;
        int64_t next = INT64_MAX;
        pthread_mutex_lock(&sh->lock);
        for (size_t j = 0; j < sh->ntab; j++) {
            for (struct rec **rp = &sh->tab[j]; *rp;) {
                struct rec *r = *rp;
                for (struct node **pp = &r->head; *pp;) {
                    struct node *n = *pp;
                    if (n->b.expires_at > now) {
                        if (n->b.expires_at < next)
                            next = n->b.expires_at;
                        pp = &n->next;
                        continue;
                    }
                    *pp = n->next;
                    r->n--;
                    hook_del(loc, n);
                    node_unlink(loc, n, &garbage);
                    removed++;
                }
                if (r->n) {
                    rp = &r->next;
                    continue;
                }
                *rp = r->next;
                sh->nrec--;
                atomic_fetch_sub_explicit(&loc->naors, 1, memory_order_relaxed);
                r->next = empty;
                empty = r;
            }
        }
        atomic_store_explicit(&sh->next_expiry, next, memory_order_relaxed);
        pthread_mutex_unlock(&sh->lock);
        while (empty) {
            struct rec *next_rec = empty->next;
            free(empty);
            empty = next_rec;
        }
        free_chain(garbage);
    }
    return removed;
}

/* ------------------------------------------------------------ restore */

int wsip_location_restore(struct wsip_location *loc, const struct wsip_binding *b, int64_t now)
{
    char aor[WSIP_LOCATION_AOR_MAX + 1];
    size_t aorlen;
    if (!loc || !b || b->flow != 0 || !b->aor || !b->contact || !b->contact[0] ||
        aor_norm(wsip_str_cstr(b->aor), aor, &aorlen) < 0 || b->q < -1 || b->q > 1000)
        return WSIP_LOC_EINVAL;
    if (b->expires_at <= now)
        return WSIP_LOC_EEXPIRED;

    struct wsip_str s[S_COUNT] = {
        [S_AOR] = {aor, aorlen},
        [S_CONTACT] = wsip_str_cstr(b->contact),
        [S_PARAMS] = wsip_str_cstr(b->params),
        [S_INSTANCE] = wsip_str_cstr(b->instance),
        [S_RECEIVED] = wsip_str_cstr(b->received),
        [S_PATH] = wsip_str_cstr(b->path),
        [S_CALLID] = wsip_str_cstr(b->call_id),
        [S_UA] = wsip_str_cstr(b->user_agent),
    };
    uint64_t h = hash_bytes(loc->seed, aor, aorlen);
    uint32_t si = (uint32_t)(h & (loc->nshards - 1));
    struct node *n = node_alloc(s);
    struct rec *newrec = rec_alloc(aor, aorlen, h);
    if (!n || !newrec) {
        free(n);
        free(newrec);
        return WSIP_LOC_ENOMEM;
    }
    n->shard = si;
    n->b.expires_at = b->expires_at;
    n->b.created_at = b->created_at;
    n->b.updated_at = b->updated_at;
    n->b.cseq = b->cseq;
    n->b.reg_id = b->reg_id;
    n->b.q = b->q;
    n->b.transport = b->transport;
    n->b.flags = b->flags;
    if (n->b.instance[0]) {
        /* a stored token of the right shape is kept; otherwise a new one */
        bool ok = strlen(b->temp_gruu) == WSIP_TEMP_GRUU_LEN;
        for (size_t i = 0; ok && i < WSIP_TEMP_GRUU_LEN; i++)
            ok = (b->temp_gruu[i] >= 'a' && b->temp_gruu[i] <= 'z') ||
                 (b->temp_gruu[i] >= '2' && b->temp_gruu[i] <= '7');
        if (ok)
            memcpy(n->b.temp_gruu, b->temp_gruu, sizeof(n->b.temp_gruu));
        else if (gruu_make(n->b.temp_gruu) < 0) {
            free(n);
            free(newrec);
            return WSIP_LOC_ENOMEM;
        }
    }

    struct shard *sh = &loc->shards[si];
    struct node *garbage = NULL;
    pthread_mutex_lock(&sh->lock);
    struct rec *r = rec_find(sh, h, aor, aorlen);
    if (!r) {
        rec_insert(loc, sh, newrec);
        r = newrec;
        newrec = NULL;
    }
    struct node **pp = &r->head;
    struct wsip_str inst = wsip_str_cstr(n->b.instance);
    while (*pp) {
        struct node *o = *pp;
        if (refers(o, wsip_str_cstr(n->b.contact), inst, n->b.reg_id)) {
            *pp = o->next;
            r->n--;
            node_unlink(loc, o, &garbage);
            continue;
        }
        pp = &o->next;
    }
    /* the instance keeps one temp-gruu when the stored rows disagree or
     * lacked one */
    if (inst.len) {
        for (struct node *o = r->head; o; o = o->next)
            if (o->b.temp_gruu[0] && instance_eq(o->b.instance, inst) && o->b.expires_at > now) {
                memcpy(n->b.temp_gruu, o->b.temp_gruu, sizeof(n->b.temp_gruu));
                break;
            }
    }
    n->next = NULL;
    *pp = n;
    r->n++;
    node_link(loc, sh, n);
    pthread_mutex_unlock(&sh->lock);
    free(newrec);
    free_chain(garbage);
    return 0;
}

/* ------------------------------------------------------------- status */

size_t wsip_location_count(const struct wsip_location *loc)
{
    return loc ? atomic_load_explicit(&loc->nbindings, memory_order_relaxed) : 0;
}

size_t wsip_location_count_aors(const struct wsip_location *loc)
{
    return loc ? atomic_load_explicit(&loc->naors, memory_order_relaxed) : 0;
}

int wsip_location_snapshot(struct wsip_location *loc, int64_t now, size_t max,
                           struct wsip_binding_list *out)
{
    out->v = NULL;
    out->n = 0;
    if (!loc)
        return 0;
    size_t cap = 0;
    for (uint32_t i = 0; i < loc->nshards; i++) {
        struct shard *sh = &loc->shards[i];
        pthread_mutex_lock(&sh->lock);
        for (size_t j = 0; j < sh->ntab; j++)
            for (struct rec *r = sh->tab[j]; r; r = r->next)
                for (struct node *n = r->head; n; n = n->next) {
                    if (n->b.expires_at <= now)
                        continue;
                    if (max && out->n >= max)
                        goto done;
                    if (out->n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        const struct wsip_binding **v = realloc(out->v, ncap * sizeof(*v));
                        if (!v) {
                            pthread_mutex_unlock(&sh->lock);
                            wsip_binding_list_free(out);
                            return WSIP_LOC_ENOMEM;
                        }
                        out->v = v;
                        cap = ncap;
                    }
                    node_ref(n);
                    out->v[out->n++] = &n->b;
                }
    done:
        pthread_mutex_unlock(&sh->lock);
        if (max && out->n >= max)
            break;
    }
    return 0;
}

/* ------------------------------------------------------------- verify */

static bool in_stripe(struct wsip_location *loc, int k, struct node *n)
{
    uint64_t h = ix_hash(loc, k, n);
    struct stripe *s = &loc->ix[k][h & (loc->nshards - 1)];
    bool found = false;
    pthread_mutex_lock(&s->lock);
    for (struct node *x = s->tab[bucket_of(h, s->ntab)]; x && !found; x = x->ix[k].next)
        found = x == n;
    pthread_mutex_unlock(&s->lock);
    return found;
}

int wsip_location_verify(struct wsip_location *loc, const char **why)
{
    const char *err = NULL;
    size_t nodes = 0, recs = 0, indexed[IX_COUNT] = {0};
    for (uint32_t i = 0; i < loc->nshards && !err; i++) {
        struct shard *sh = &loc->shards[i];
        pthread_mutex_lock(&sh->lock);
        size_t nrec = 0;
        for (size_t j = 0; j < sh->ntab && !err; j++)
            for (struct rec *r = sh->tab[j]; r && !err; r = r->next) {
                nrec++;
                size_t len = 0;
                if ((r->hash & (loc->nshards - 1)) != i ||
                    r->hash != hash_bytes(loc->seed, r->aor, r->len))
                    err = "record in the wrong shard";
                for (struct node *n = r->head; n && !err; n = n->next) {
                    len++;
                    if (!n->linked || n->shard != i || n->mark || strcmp(n->b.aor, r->aor) != 0)
                        err = "binding state does not match its record";
                    for (int k = 0; k < IX_COUNT && !err; k++)
                        if (ix_has(n, k)) {
                            indexed[k]++;
                            if (!in_stripe(loc, k, n))
                                err = k == IX_FLOW ? "binding missing from the flow index"
                                                   : "binding missing from the gruu index";
                        }
                }
                if (!err && (len != r->n || len == 0))
                    err = "record count is wrong or zero";
                nodes += len;
            }
        if (!err && nrec != sh->nrec)
            err = "shard record count is wrong";
        recs += nrec;
        pthread_mutex_unlock(&sh->lock);
    }
    if (!err && nodes != wsip_location_count(loc))
        err = "binding counter is wrong";
    if (!err && recs != wsip_location_count_aors(loc))
        err = "AOR counter is wrong";
    for (int k = 0; k < IX_COUNT && !err; k++) {
        size_t total = 0;
        for (uint32_t i = 0; i < loc->nshards && !err; i++) {
            struct stripe *s = &loc->ix[k][i];
            pthread_mutex_lock(&s->lock);
            size_t c = 0;
            for (size_t j = 0; j < s->ntab; j++)
                for (struct node *x = s->tab[j]; x; x = x->ix[k].next)
                    c++;
            if (c != s->n)
                err = "index stripe count is wrong";
            total += c;
            pthread_mutex_unlock(&s->lock);
        }
        if (!err && total != indexed[k])
            err = "index holds bindings the table does not";
    }
    if (why)
        *why = err;
    return err ? -1 : 0;
}

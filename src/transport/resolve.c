/* Next hops (RFC 3263 sec 4 without NAPTR and SRV) and the per-worker DNS
 * cache: a host name is looked up with getaddrinfo on the libuv threadpool
 * (never on a loop), A and AAAA together, and its addresses are kept for
 * dns.cache_ttl. Requests for a name already being looked up wait for that
 * lookup instead of starting their own. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transport/transport.h"
#include "wsip/log.h"

#define CACHE_MAX       256  /* names per worker */
#define LOOKUPS_MAX     32   /* lookups under way per worker (the threadpool is small) */
#define NEGATIVE_TTL_MS 5000 /* a failure is retried after this long at most */
#define STATUS_PENDING  1

/* ------------------------------------------------------------ next hops */

/* Copies a host (IPv6 brackets off) into out; -1 when it does not fit. */
static int copy_host(struct wsip_str h, char *out, size_t cap)
{
    if (h.len >= 2 && h.p[0] == '[' && h.p[h.len - 1] == ']') {
        h.p++;
        h.len -= 2;
    }
    if (h.len == 0 || h.len >= cap)
        return -1;
    memcpy(out, h.p, h.len);
    out[h.len] = '\0';
    return 0;
}

/* Letters, digits, '-' and '.': what a DNS name may hold (RFC 1123). */
static bool is_host_name(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.'))
            return false;
    return true;
}

static bool is_ip_literal(const char *s)
{
    unsigned char a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

int wsip_hop_from_uri(const struct wsip_uri *u, struct wsip_hop *hop, const char **why)
{
    memset(hop, 0, sizeof(*hop));
    bool sips = u->scheme == WSIP_URI_SIPS;
    if (u->scheme != WSIP_URI_SIP && !sips) {
        *why = "not a SIP URI";
        return -1;
    }
    struct wsip_str tp = u->transport;
    if (!tp.len) {
        /* sec 4.1: UDP for sip:, TLS over TCP for sips: */
        hop->kind = sips ? WSIP_LISTEN_TLS : WSIP_LISTEN_UDP;
    } else if (wsip_str_caseeq_cstr(tp, "udp") && !sips) {
        hop->kind = WSIP_LISTEN_UDP;
    } else if (wsip_str_caseeq_cstr(tp, "tcp")) {
        /* sips with transport=tcp is TLS (RFC 3261 sec 26.2.2) */
        hop->kind = sips ? WSIP_LISTEN_TLS : WSIP_LISTEN_TCP;
    } else if (wsip_str_caseeq_cstr(tp, "tls")) {
        hop->kind = WSIP_LISTEN_TLS;
    } else if (wsip_str_caseeq_cstr(tp, "udp")) {
        *why = "sips: over UDP";
        return -1;
    } else {
        /* ws/wss are reached only over a connection the peer opened */
        *why = "transport we cannot open a connection with";
        return -1;
    }
    /* sec 4: maddr, when present, overrides the host */
    if (copy_host(u->maddr.len ? u->maddr : u->host, hop->host, sizeof(hop->host)) < 0) {
        *why = "host missing or too long";
        return -1;
    }
    hop->numeric = is_ip_literal(hop->host);
    if (!hop->numeric && !is_host_name(hop->host)) {
        *why = "malformed host";
        return -1;
    }
    hop->port = u->has_port ? u->port : hop->kind == WSIP_LISTEN_TLS ? 5061 : 5060;
    if (hop->port == 0) {
        *why = "port 0";
        return -1;
    }
    return 0;
}

int wsip_hop_numeric_addr(const struct wsip_hop *hop, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *in = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, hop->host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(hop->port);
        return 0;
    }
    if (inet_pton(AF_INET6, hop->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(hop->port);
        return 0;
    }
    return -1;
}

void wsip_addr_set_port(struct sockaddr_storage *a, uint16_t port)
{
    if (a->ss_family == AF_INET)
        ((struct sockaddr_in *)a)->sin_port = htons(port);
    else if (a->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

/* ------------------------------------------------------------ the cache */

struct dns_entry {
    struct dns_entry *next;
    struct wsip_resolver *r;
    char name[256];
    int status; /* 0, a negative uv error, or STATUS_PENDING */
    uint64_t expires;
    struct sockaddr_storage addrs[WSIP_RESOLVE_MAX];
    unsigned naddrs;
    struct wsip_resolve_wait *waiters;
    bool delivering; /* on_resolved is calling the waiters */
    uv_getaddrinfo_t req;
};

struct wsip_resolver {
    struct wsip_worker *w;
    struct dns_entry *entries; /* few: a list is enough */
    unsigned count, pending;
};

const char *wsip_resolve_strerror(int status)
{
    switch (status) {
    case 0: return "no error";
    case UV_EAI_NONAME: return "no such host";
    case UV_EAI_NODATA: return "host has no address";
    case UV_EAI_AGAIN: return "temporary DNS failure";
    case UV_EAI_FAIL: return "DNS server failure";
    case UV_ECANCELED: return "lookup cancelled";
    case UV_EBUSY: return "too many DNS lookups under way";
    case UV_ENOMEM: return "out of memory";
    default: return uv_strerror(status);
    }
}

static struct wsip_resolver *resolver_of(struct wsip_worker *w)
{
    if (!w->resolver) {
        w->resolver = calloc(1, sizeof(*w->resolver));
        if (w->resolver)
            w->resolver->w = w;
    }
    return w->resolver;
}

static void entry_unlink(struct wsip_resolver *r, struct dns_entry *e)
{
    for (struct dns_entry **pp = &r->entries; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            r->count--;
            return;
        }
}

/* Room for one more name: expired answers go first, then the one that
 * expires soonest; lookups under way are never dropped. */
static bool make_room(struct wsip_resolver *r, uint64_t now)
{
    struct dns_entry **pp = &r->entries;
    while (*pp) {
        struct dns_entry *e = *pp;
        if (e->status != STATUS_PENDING && !e->delivering && e->expires <= now) {
            *pp = e->next;
            r->count--;
            free(e);
            continue;
        }
        pp = &e->next;
    }
    if (r->count < CACHE_MAX)
        return true;
    struct dns_entry *victim = NULL;
    for (struct dns_entry *e = r->entries; e; e = e->next)
        if (e->status != STATUS_PENDING && !e->delivering &&
            (!victim || e->expires < victim->expires))
            victim = e;
    if (!victim)
        return false;
    entry_unlink(r, victim);
    free(victim);
    return true;
}

static void collect(struct dns_entry *e, const struct addrinfo *ai)
{
    e->naddrs = 0;
    for (; ai && e->naddrs < WSIP_RESOLVE_MAX; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof(e->addrs[0]))
            continue;
        bool dup = false;
        for (unsigned i = 0; i < e->naddrs && !dup; i++)
            dup = memcmp(&e->addrs[i], ai->ai_addr, ai->ai_addrlen) == 0;
        if (dup)
            continue;
        memset(&e->addrs[e->naddrs], 0, sizeof(e->addrs[0]));
        memcpy(&e->addrs[e->naddrs], ai->ai_addr, ai->ai_addrlen);
        e->naddrs++;
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct dns_entry *e = req->data;
    struct wsip_resolver *r = e->r;
    r->pending--;
    if (status == 0) {
        collect(e, res);
        if (e->naddrs == 0)
            status = UV_EAI_NODATA;
    }
    uv_freeaddrinfo(res);
    e->status = status;
    uint64_t ttl = r->w->srv->opt.dns_cache_ttl_ms;
    if (status != 0 && ttl > NEGATIVE_TTL_MS)
        ttl = NEGATIVE_TTL_MS;
    e->expires = uv_now(&r->w->loop) + ttl;
    wsip_log(status == 0 ? WSIP_LOG_DEBUG : WSIP_LOG_INFO, NULL, "DNS %s: %s (%u addresses)",
             e->name, status == 0 ? "ok" : wsip_resolve_strerror(status), e->naddrs);
    /* a waiter may cancel another one or look a name up again: the entry
     * stays valid (and, when it is not to be kept, out of sight) until
     * every waiter had its answer */
    bool keep = ttl > 0 && status != UV_ECANCELED;
    if (!keep)
        entry_unlink(r, e);
    e->delivering = true;
    struct wsip_resolve_wait *rw;
    while ((rw = e->waiters)) {
        e->waiters = rw->next;
        rw->next = NULL;
        rw->entry = NULL;
        rw->done(rw, e->status, e->addrs, e->naddrs);
    }
    e->delivering = false;
    if (!keep)
        free(e);
}

int wsip_resolve(struct wsip_worker *w, const char *name, struct wsip_resolve_wait *rw,
                 struct sockaddr_storage addrs[WSIP_RESOLVE_MAX], unsigned *n)
{
    *n = 0;
    rw->next = NULL;
    rw->entry = NULL;
    struct wsip_resolver *r = resolver_of(w);
    if (!r)
        return UV_ENOMEM;
    if (strlen(name) >= sizeof(((struct dns_entry *)0)->name))
        return UV_EINVAL;
    uint64_t now = uv_now(&w->loop);
    struct dns_entry *e = r->entries;
    while (e && strcasecmp(e->name, name) != 0)
        e = e->next;
    if (e && e->status != STATUS_PENDING && !e->delivering && e->expires <= now) {
        entry_unlink(r, e);
        free(e);
        e = NULL;
    }
    if (e && e->status != STATUS_PENDING) {
        memcpy(addrs, e->addrs, sizeof(e->addrs[0]) * e->naddrs);
        *n = e->naddrs;
        return e->status;
    }
    if (!e) {
        if (r->pending >= LOOKUPS_MAX || !make_room(r, now))
            return UV_EBUSY;
        e = calloc(1, sizeof(*e));
        if (!e)
            return UV_ENOMEM;
        snprintf(e->name, sizeof(e->name), "%s", name);
        e->r = r;
        e->status = STATUS_PENDING;
        e->req.data = e;
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        int rc = uv_getaddrinfo(&w->loop, &e->req, on_resolved, e->name, NULL, &hints);
        if (rc < 0) {
            free(e);
            return rc;
        }
        e->next = r->entries;
        r->entries = e;
        r->count++;
        r->pending++;
    }
    rw->entry = e;
    rw->next = e->waiters;
    e->waiters = rw;
    return STATUS_PENDING;
}

void wsip_resolve_cancel(struct wsip_resolve_wait *rw)
{
    struct dns_entry *e = rw->entry;
    if (!e)
        return;
    for (struct wsip_resolve_wait **pp = &e->waiters; *pp; pp = &(*pp)->next)
        if (*pp == rw) {
            *pp = rw->next;
            break;
        }
    rw->entry = NULL;
    rw->next = NULL;
}

void wsip_resolver_shutdown(struct wsip_worker *w)
{
    /* lookups not yet picked up by a thread end now (UV_ECANCELED); a
     * running one holds the loop until getaddrinfo returns */
    if (!w->resolver)
        return;
    for (struct dns_entry *e = w->resolver->entries; e; e = e->next)
        if (e->status == STATUS_PENDING)
            uv_cancel((uv_req_t *)&e->req);
}

void wsip_resolver_free(struct wsip_worker *w)
{
    /* the loop has ended: no lookup is under way any more */
    struct wsip_resolver *r = w->resolver;
    if (!r)
        return;
    struct dns_entry *e = r->entries;
    while (e) {
        struct dns_entry *next = e->next;
        free(e);
        e = next;
    }
    free(r);
    w->resolver = NULL;
}

/* Configuration machinery driven by the directive table: values are parsed
 * from text (--set, defaults, suffixed strings in the file) or from libconfig
 * settings into one representation, checked against the row's bounds, and
 * stored at the row's offset. */
#include "wsip/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/config_int.h"

#define CMDLINE "command line"

/* Where a value came from; file points into priv->files. */
struct origin {
    const char *file; /* NULL: default or command line */
    unsigned line;
    bool cmdline;
};

struct wsip_config_priv {
    struct origin *o; /* one per table row */
    char **files;     /* interned file names */
    size_t nfiles;
};

/* A parsed value before it is stored. */
union value {
    int64_t num; /* INT, SIZE, SECONDS, MILLIS */
    bool b;
    int e;
    char *s;
    struct wsip_strlist sl;
    struct wsip_cidr_list cl;
    struct wsip_listen_list ll;
};

/* Errors of one operation, counted even when err is NULL. */
struct ectx {
    struct wsip_config_err *err;
    unsigned n;
};

/* ---------------------------------------------------------------- table */

const struct wsip_config_directive *wsip_config_directives(size_t *n)
{
    if (n)
        *n = wsip__config_count;
    return wsip__config_table;
}

const struct wsip_config_directive *wsip_config_find(const char *name)
{
    for (size_t i = 0; i < wsip__config_count; i++)
        if (strcmp(wsip__config_table[i].name, name) == 0)
            return &wsip__config_table[i];
    return NULL;
}

static size_t dindex(const struct wsip_config_directive *d)
{
    return (size_t)(d - wsip__config_table);
}

const char *wsip_config_type_name(enum wsip_config_type t)
{
    switch (t) {
    case WSIP_CONFIG_INT: return "int";
    case WSIP_CONFIG_BOOL: return "bool";
    case WSIP_CONFIG_STRING: return "string";
    case WSIP_CONFIG_ENUM: return "enum";
    case WSIP_CONFIG_SIZE: return "size (bytes)";
    case WSIP_CONFIG_SECONDS: return "duration (s)";
    case WSIP_CONFIG_MILLIS: return "duration (ms)";
    case WSIP_CONFIG_STRLIST: return "string list";
    case WSIP_CONFIG_CIDRLIST: return "CIDR list";
    case WSIP_CONFIG_LISTEN: return "listen URI list";
    }
    return "?";
}

static bool is_number(enum wsip_config_type t)
{
    return t == WSIP_CONFIG_INT || t == WSIP_CONFIG_SIZE || t == WSIP_CONFIG_SECONDS ||
           t == WSIP_CONFIG_MILLIS;
}

static bool is_list(enum wsip_config_type t)
{
    return t == WSIP_CONFIG_STRLIST || t == WSIP_CONFIG_CIDRLIST || t == WSIP_CONFIG_LISTEN;
}

/* Whether some directive lives in group name ("ws" for "ws.path"). */
static bool is_group(const char *name, size_t len)
{
    for (size_t i = 0; i < wsip__config_count; i++) {
        const char *n = wsip__config_table[i].name;
        if (strncmp(n, name, len) == 0 && n[len] == '.')
            return true;
    }
    return false;
}

/* -------------------------------------------------------------- errors */

static void verr(struct ectx *ec, const char *file, unsigned line, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void verr(struct ectx *ec, const char *file, unsigned line, const char *fmt, va_list ap)
{
    ec->n++;
    struct wsip_config_err *err = ec->err;
    if (!err)
        return;
    if (err->count < WSIP_CONFIG_ERR_MAX) {
        struct wsip_config_err_entry *e = &err->e[err->count];
        snprintf(e->file, sizeof(e->file), "%s", file ? file : "");
        e->line = line;
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    }
    err->count++;
}

static void fail(struct ectx *ec, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct ectx *ec, const char *file, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(ec, file, line, fmt, ap);
    va_end(ap);
}

void wsip_config_err_print(const struct wsip_config_err *err, FILE *f)
{
    unsigned kept = err->count < WSIP_CONFIG_ERR_MAX ? err->count : WSIP_CONFIG_ERR_MAX;
    for (unsigned i = 0; i < kept; i++) {
        const struct wsip_config_err_entry *e = &err->e[i];
        if (e->file[0] && e->line)
            fprintf(f, "%s:%u: %s\n", e->file, e->line, e->msg);
        else if (e->file[0])
            fprintf(f, "%s: %s\n", e->file, e->msg);
        else
            fprintf(f, "%s\n", e->msg);
    }
    if (err->count > kept)
        fprintf(f, "... and %u more errors\n", err->count - kept);
}

/* Damerau-free edit distance on short names; enough for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *last_part(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

/* The closest directive or group name, or NULL when nothing is close. */
static const char *suggest(const char *name, char *buf, size_t cap)
{
    size_t best = 99;
    const char *pick = NULL;
    size_t pick_len = 0;
    for (size_t i = 0; i < wsip__config_count; i++) {
        const char *n = wsip__config_table[i].name;
        size_t dist = edit_distance(name, n);
        /* "ping_interval" at the top level: the right name in the wrong group */
        if (strcmp(last_part(name), last_part(n)) == 0 && dist > 1)
            dist = 1;
        if (dist < best) {
            best = dist;
            pick = n;
            pick_len = strlen(n);
        }
        const char *dot = strchr(n, '.');
        if (dot) {
            char group[64];
            snprintf(group, sizeof(group), "%.*s", (int)(dot - n), n);
            dist = edit_distance(name, group);
            if (dist < best) {
                best = dist;
                pick = n;
                pick_len = (size_t)(dot - n);
            }
        }
    }
    size_t limit = strlen(name) > 10 ? 3 : 2;
    if (!pick || best > limit)
        return NULL;
    snprintf(buf, cap, "%.*s", (int)pick_len, pick);
    return buf;
}

static void fail_unknown(struct ectx *ec, const char *file, unsigned line, const char *name)
{
    char buf[64];
    const char *s = suggest(name, buf, sizeof(buf));
    if (s)
        fail(ec, file, line, "unknown directive '%s' (did you mean '%s'?)", name, s);
    else
        fail(ec, file, line, "unknown directive '%s'", name);
}

/* ----------------------------------------------------- hosts, URIs, CIDR */

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

const char *wsip__config_host_check(const char *s, size_t n, bool brackets,
                                    enum wsip_host_type *type)
{
    char buf[64];
    if (n == 0)
        return "empty host";
    if (s[0] == '[') {
        if (!brackets)
            return "unexpected '['";
        if (s[n - 1] != ']')
            return "unterminated IPv6 reference (missing ']')";
        s++;
        n -= 2;
        if (n == 0 || n >= sizeof(buf) || memchr(s, ']', n))
            return "bad IPv6 address";
        memcpy(buf, s, n);
        buf[n] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, buf, &a6) != 1)
            return "bad IPv6 address";
        if (type)
            *type = WSIP_HOST_IPV6;
        return NULL;
    }
    if (memchr(s, ':', n)) {
        if (brackets)
            return "an IPv6 address must be in brackets, e.g. [::1]";
        struct in6_addr a6;
        if (n >= sizeof(buf))
            return "bad IPv6 address";
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (inet_pton(AF_INET6, buf, &a6) != 1)
            return "bad IPv6 address";
        if (type)
            *type = WSIP_HOST_IPV6;
        return NULL;
    }
    bool numeric = true;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
            numeric = false;
    if (numeric) {
        struct in_addr a4;
        if (n >= sizeof(buf))
            return "bad IPv4 address";
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (inet_pton(AF_INET, buf, &a4) != 1)
            return "bad IPv4 address";
        if (type)
            *type = WSIP_HOST_IPV4;
        return NULL;
    }
    /* RFC 1123 host name: dot-separated labels of letters, digits and '-' */
    if (n > 253)
        return "host name too long";
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (label == 0 || label > 63)
                return "bad host name (empty or over-long label)";
            if (s[i - 1] == '-')
                return "bad host name (label ends with '-')";
            label = 0;
        } else if (is_alnum(s[i]) || s[i] == '-') {
            if (label == 0 && s[i] == '-')
                return "bad host name (label starts with '-')";
            label++;
        } else {
            return "bad host name (only letters, digits, '-' and '.')";
        }
    }
    if (type)
        *type = WSIP_HOST_NAME;
    return NULL;
}

void wsip_listen_clear(struct wsip_listen *l)
{
    free(l->host);
    free(l->uri);
    memset(l, 0, sizeof(*l));
}

int wsip_listen_parse(const char *s, struct wsip_listen *l, const char **why)
{
    static const struct {
        const char *name;
        enum wsip_transport tp;
        uint16_t port;
    } schemes[] = {
        {"udp", WSIP_TP_UDP, 5060}, {"tcp", WSIP_TP_TCP, 5060}, {"tls", WSIP_TP_TLS, 5061},
        {"ws", WSIP_TP_WS, 80},     {"wss", WSIP_TP_WSS, 443},
    };
    memset(l, 0, sizeof(*l));
    const char *sep = strstr(s, "://");
    if (!sep) {
        *why = "expected scheme://host[:port], e.g. ws://0.0.0.0:8080";
        return -1;
    }
    size_t si = 0, ns = sizeof(schemes) / sizeof(schemes[0]);
    while (si < ns && !(strlen(schemes[si].name) == (size_t)(sep - s) &&
                        strncasecmp(s, schemes[si].name, (size_t)(sep - s)) == 0))
        si++;
    if (si == ns) {
        *why = "unknown scheme (udp, tcp, tls, ws or wss)";
        return -1;
    }
    const char *host = sep + 3, *p;
    if (host[0] == '[') {
        p = strchr(host, ']');
        if (!p) {
            *why = "unterminated IPv6 reference (missing ']')";
            return -1;
        }
        p++;
    } else {
        p = host + strcspn(host, ":/");
        if (*p == ':' && strchr(p + 1, ':')) {
            *why = "an IPv6 address must be in brackets, e.g. udp://[::1]:5060";
            return -1;
        }
    }
    size_t hlen = (size_t)(p - host);
    enum wsip_host_type ht = WSIP_HOST_NONE;
    const char *bad = wsip__config_host_check(host, hlen, true, &ht);
    if (bad) {
        *why = bad;
        return -1;
    }
    unsigned long port = schemes[si].port;
    if (*p == ':') {
        p++;
        if (*p < '0' || *p > '9') {
            *why = "bad or empty port";
            return -1;
        }
        port = 0;
        while (*p >= '0' && *p <= '9' && port <= 65535)
            port = port * 10 + (unsigned long)(*p++ - '0');
        if (port == 0 || port > 65535) {
            *why = "port out of range (1..65535)";
            return -1;
        }
    }
    if (*p == '/') {
        *why = "no path here (the WebSocket path is ws.path)";
        return -1;
    }
    if (*p) {
        *why = "trailing characters after the port";
        return -1;
    }
    if (ht == WSIP_HOST_IPV6) {
        host++;
        hlen -= 2;
    }
    l->transport = schemes[si].tp;
    l->host_type = ht;
    l->port = (uint16_t)port;
    l->host = strndup(host, hlen);
    l->uri = strdup(s);
    if (!l->host || !l->uri) {
        wsip_listen_clear(l);
        *why = "out of memory";
        return -1;
    }
    return 0;
}

int wsip_cidr_parse(const char *s, struct wsip_cidr *out, const char **why)
{
    static _Thread_local char hint[96];
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    memset(out, 0, sizeof(*out));
    if (alen == 0 || alen >= sizeof(addr)) {
        *why = "expected an address or address/prefix, e.g. 10.0.0.0/8 or 2001:db8::/32";
        return -1;
    }
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    unsigned bits;
    if (memchr(addr, ':', alen)) {
        out->family = AF_INET6;
        bits = 128;
        if (inet_pton(AF_INET6, addr, out->addr) != 1) {
            *why = "bad IPv6 address";
            return -1;
        }
    } else {
        out->family = AF_INET;
        bits = 32;
        if (inet_pton(AF_INET, addr, out->addr) != 1) {
            *why = "bad IPv4 address";
            return -1;
        }
    }
    unsigned prefix = bits;
    if (slash) {
        const char *p = slash + 1;
        if (!*p) {
            *why = "empty prefix length";
            return -1;
        }
        prefix = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9' || (prefix = prefix * 10 + (unsigned)(*p - '0')) > bits) {
                *why = out->family == AF_INET ? "prefix length must be 0..32"
                                              : "prefix length must be 0..128";
                return -1;
            }
        }
    }
    out->prefix = (uint8_t)prefix;
    /* "192.168.1.10/24" is almost always a typo for the network */
    bool host_bits = false;
    struct wsip_cidr net = *out;
    for (unsigned i = 0; i < bits / 8; i++) {
        unsigned keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;
        uint8_t mask = (uint8_t)(keep ? 0xffu << (8 - keep) : 0);
        if (net.addr[i] & (uint8_t)~mask)
            host_bits = true;
        net.addr[i] &= mask;
    }
    if (host_bits) {
        char txt[50];
        wsip_cidr_format(&net, txt, sizeof(txt));
        snprintf(hint, sizeof(hint), "host bits set (the network is %s)", txt);
        *why = hint;
        return -1;
    }
    return 0;
}

void wsip_cidr_format(const struct wsip_cidr *cidr, char *buf, size_t cap)
{
    char a[INET6_ADDRSTRLEN];
    if (!inet_ntop(cidr->family, cidr->addr, a, sizeof(a)))
        snprintf(a, sizeof(a), "?");
    snprintf(buf, cap, "%s/%u", a, cidr->prefix);
}

static bool prefix_match(const uint8_t *net, const uint8_t *addr, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(net, addr, full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (net[full] & mask) == (addr[full] & mask);
}

bool wsip_cidr_list_match(const struct wsip_cidr_list *l, const struct sockaddr *sa)
{
    const uint8_t *a4 = NULL, *a6 = NULL;
    if (sa->sa_family == AF_INET) {
        a4 = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        a6 = in6->s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(in6))
            a4 = a6 + 12;
    }
    for (size_t i = 0; i < l->n; i++) {
        const struct wsip_cidr *c = &l->v[i];
        if (c->family == AF_INET && a4 && prefix_match(c->addr, a4, c->prefix))
            return true;
        if (c->family == AF_INET6 && a6 && prefix_match(c->addr, a6, c->prefix))
            return true;
    }
    return false;
}

/* ------------------------------------------------------- value storage */

static void *field(const struct wsip_config *c, const struct wsip_config_directive *d)
{
    return (char *)c + d->offset;
}

static void strlist_clear(struct wsip_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void listen_list_clear(struct wsip_listen_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        wsip_listen_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void value_free(const struct wsip_config_directive *d, union value *v)
{
    switch (d->type) {
    case WSIP_CONFIG_STRING:
        free(v->s);
        v->s = NULL;
        break;
    case WSIP_CONFIG_STRLIST: strlist_clear(&v->sl); break;
    case WSIP_CONFIG_CIDRLIST:
        free(v->cl.v);
        v->cl.v = NULL;
        v->cl.n = 0;
        break;
    case WSIP_CONFIG_LISTEN: listen_list_clear(&v->ll); break;
    default: break;
    }
}

/* Reads the stored value (shallow: lists and strings still belong to c). */
static union value load(const struct wsip_config *c, const struct wsip_config_directive *d)
{
    union value v;
    memset(&v, 0, sizeof(v));
    void *f = field(c, d);
    switch (d->type) {
    case WSIP_CONFIG_INT:
    case WSIP_CONFIG_SECONDS:
    case WSIP_CONFIG_MILLIS: v.num = *(unsigned *)f; break;
    case WSIP_CONFIG_SIZE: v.num = (int64_t) * (size_t *)f; break;
    case WSIP_CONFIG_BOOL: v.b = *(bool *)f; break;
    case WSIP_CONFIG_ENUM: v.e = *(int *)f; break;
    case WSIP_CONFIG_STRING: v.s = *(char **)f; break;
    case WSIP_CONFIG_STRLIST: v.sl = *(struct wsip_strlist *)f; break;
    case WSIP_CONFIG_CIDRLIST: v.cl = *(struct wsip_cidr_list *)f; break;
    case WSIP_CONFIG_LISTEN: v.ll = *(struct wsip_listen_list *)f; break;
    }
    return v;
}

/* Moves v into c, freeing what was there. */
static void store(struct wsip_config *c, const struct wsip_config_directive *d, union value *v)
{
    union value old = load(c, d);
    void *f = field(c, d);
    switch (d->type) {
    case WSIP_CONFIG_INT:
    case WSIP_CONFIG_SECONDS:
    case WSIP_CONFIG_MILLIS: *(unsigned *)f = (unsigned)v->num; break;
    case WSIP_CONFIG_SIZE: *(size_t *)f = (size_t)v->num; break;
    case WSIP_CONFIG_BOOL: *(bool *)f = v->b; break;
    case WSIP_CONFIG_ENUM: *(int *)f = v->e; break;
    case WSIP_CONFIG_STRING: *(char **)f = v->s; break;
    case WSIP_CONFIG_STRLIST: *(struct wsip_strlist *)f = v->sl; break;
    case WSIP_CONFIG_CIDRLIST: *(struct wsip_cidr_list *)f = v->cl; break;
    case WSIP_CONFIG_LISTEN: *(struct wsip_listen_list *)f = v->ll; break;
    }
    value_free(d, &old);
    memset(v, 0, sizeof(*v));
}

static int value_copy(const struct wsip_config_directive *d, const union value *src,
                      union value *dst)
{
    *dst = *src;
    switch (d->type) {
    case WSIP_CONFIG_STRING: dst->s = strdup(src->s); return dst->s ? 0 : -1;
    case WSIP_CONFIG_STRLIST:
        dst->sl.v = calloc(src->sl.n ? src->sl.n : 1, sizeof(char *));
        dst->sl.n = 0;
        if (!dst->sl.v)
            return -1;
        for (size_t i = 0; i < src->sl.n; i++) {
            if (!(dst->sl.v[i] = strdup(src->sl.v[i])))
                goto fail;
            dst->sl.n++;
        }
        return 0;
    case WSIP_CONFIG_CIDRLIST:
        dst->cl.v = calloc(src->cl.n ? src->cl.n : 1, sizeof(struct wsip_cidr));
        if (!dst->cl.v) {
            dst->cl.n = 0;
            return -1;
        }
        if (src->cl.n)
            memcpy(dst->cl.v, src->cl.v, src->cl.n * sizeof(struct wsip_cidr));
        return 0;
    case WSIP_CONFIG_LISTEN:
        dst->ll.v = calloc(src->ll.n ? src->ll.n : 1, sizeof(struct wsip_listen));
        dst->ll.n = 0;
        if (!dst->ll.v)
            return -1;
        for (size_t i = 0; i < src->ll.n; i++) {
            struct wsip_listen *l = &dst->ll.v[i];
            *l = src->ll.v[i];
            l->host = strdup(src->ll.v[i].host);
            l->uri = strdup(src->ll.v[i].uri);
            dst->ll.n++;
            if (!l->host || !l->uri)
                goto fail;
        }
        return 0;
    default: return 0;
    }
fail:
    value_free(d, dst);
    return -1;
}

static bool value_equal(const struct wsip_config_directive *d, const union value *a,
                        const union value *b)
{
    switch (d->type) {
    case WSIP_CONFIG_INT:
    case WSIP_CONFIG_SIZE:
    case WSIP_CONFIG_SECONDS:
    case WSIP_CONFIG_MILLIS: return a->num == b->num;
    case WSIP_CONFIG_BOOL: return a->b == b->b;
    case WSIP_CONFIG_ENUM: return a->e == b->e;
    case WSIP_CONFIG_STRING: return strcmp(a->s, b->s) == 0;
    case WSIP_CONFIG_STRLIST:
        if (a->sl.n != b->sl.n)
            return false;
        for (size_t i = 0; i < a->sl.n; i++)
            if (strcmp(a->sl.v[i], b->sl.v[i]) != 0)
                return false;
        return true;
    case WSIP_CONFIG_CIDRLIST:
        return a->cl.n == b->cl.n &&
               (a->cl.n == 0 || memcmp(a->cl.v, b->cl.v, a->cl.n * sizeof(*a->cl.v)) == 0);
    case WSIP_CONFIG_LISTEN:
        if (a->ll.n != b->ll.n)
            return false;
        for (size_t i = 0; i < a->ll.n; i++) {
            const struct wsip_listen *x = &a->ll.v[i], *y = &b->ll.v[i];
            if (x->transport != y->transport || x->port != y->port || strcmp(x->host, y->host) != 0)
                return false;
        }
        return true;
    }
    return false;
}

bool wsip_config_equal(const struct wsip_config *a, const struct wsip_config *b,
                       const struct wsip_config_directive *d)
{
    union value va = load(a, d), vb = load(b, d);
    return value_equal(d, &va, &vb);
}

/* -------------------------------------------------------- text parsing */

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* A copy of s without surrounding blanks and one pair of double quotes. */
static char *unquote_dup(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
    }
    return strndup(s, n);
}

struct unit {
    const char *suffix;
    int64_t mul, div; /* value * mul / div, exactly */
};

static const struct unit size_units[] = {
    {"", 1, 1},        {"b", 1, 1},        {"k", 1024, 1},      {"kb", 1024, 1},
    {"kib", 1024, 1},  {"m", 1 << 20, 1},  {"mb", 1 << 20, 1},  {"mib", 1 << 20, 1},
    {"g", 1 << 30, 1}, {"gb", 1 << 30, 1}, {"gib", 1 << 30, 1}, {NULL, 0, 0},
};
static const struct unit sec_units[] = {
    {"", 1, 1},     {"s", 1, 1},    {"ms", 1, 1000}, {"m", 60, 1},
    {"min", 60, 1}, {"h", 3600, 1}, {NULL, 0, 0},
};
static const struct unit ms_units[] = {
    {"", 1, 1}, {"ms", 1, 1}, {"s", 1000, 1}, {"m", 60000, 1}, {"min", 60000, 1}, {NULL, 0, 0},
};
static const struct unit int_units[] = {{"", 1, 1}, {NULL, 0, 0}};

static const struct unit *units_of(enum wsip_config_type t)
{
    switch (t) {
    case WSIP_CONFIG_SIZE: return size_units;
    case WSIP_CONFIG_SECONDS: return sec_units;
    case WSIP_CONFIG_MILLIS: return ms_units;
    default: return int_units;
    }
}

/* Decimal with an optional sign and unit suffix. Returns NULL, or why; a
 * too-large magnitude saturates so the range check reports it. */
static const char *parse_number(const struct wsip_config_directive *d, const char *s, int64_t *out)
{
    s = skip_ws(s);
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if (*s < '0' || *s > '9')
        return "is not a number";
    int64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v > (INT64_MAX - 9) / 10 ? INT64_MAX : v * 10 + (*s - '0');
    const char *suf = s;
    size_t sn = strlen(suf);
    while (sn && (suf[sn - 1] == ' ' || suf[sn - 1] == '\t'))
        sn--;
    for (const struct unit *u = units_of(d->type); u->suffix; u++) {
        if (strlen(u->suffix) != sn || strncasecmp(suf, u->suffix, sn) != 0)
            continue;
        if (v % u->div)
            return d->type == WSIP_CONFIG_SECONDS ? "is not a whole number of seconds"
                                                  : "is not a whole number";
        v /= u->div;
        v = v > INT64_MAX / u->mul ? INT64_MAX : v * u->mul;
        *out = neg ? -v : v;
        return NULL;
    }
    switch (d->type) {
    case WSIP_CONFIG_SIZE: return "has an unknown unit (bytes, or K, M, G)";
    case WSIP_CONFIG_SECONDS: return "has an unknown unit (seconds, or ms, s, m, h)";
    case WSIP_CONFIG_MILLIS: return "has an unknown unit (milliseconds, or ms, s, m)";
    default: return "is not an integer";
    }
}

static const char *parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return NULL;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return NULL;
        }
    }
    return "is not a boolean (true or false)";
}

/* Index of s in a NULL-terminated list (case-insensitive), or -1. */
static int value_index(const char *const *values, const char *s)
{
    for (int i = 0; values[i]; i++)
        if (strcasecmp(values[i], s) == 0)
            return i;
    return -1;
}

static void values_text(const char *const *values, const char *sep, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; values[i] && len < cap; i++) {
        int n = snprintf(buf + len, cap - len, "%s%s", i ? sep : "", values[i]);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

/* Where a value is being read from, for messages and origins. */
struct src {
    const char *file; /* NULL for the command line */
    unsigned line;
};

static const char *src_file(const struct src *s)
{
    return s->file ? s->file : CMDLINE;
}

static void fail_at(struct ectx *ec, const struct src *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(struct ectx *ec, const struct src *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(ec, src_file(at), at->line, fmt, ap);
    va_end(ap);
}

static bool check_range(const struct wsip_config_directive *d, int64_t v, const char *shown,
                        struct ectx *ec, const struct src *at)
{
    if (v >= d->min && v <= d->max)
        return true;
    fail_at(ec, at, "%s: %s is out of range (%lld..%lld)", d->name, shown, (long long)d->min,
            (long long)d->max);
    return false;
}

/* One scalar (not a list) from text. */
static bool scalar_from_text(const struct wsip_config_directive *d, const char *text,
                             union value *v, struct ectx *ec, const struct src *at)
{
    const char *why = NULL;
    memset(v, 0, sizeof(*v));
    if (is_number(d->type)) {
        why = parse_number(d, text, &v->num);
        if (!why)
            return check_range(d, v->num, text, ec, at);
    } else if (d->type == WSIP_CONFIG_BOOL) {
        why = parse_bool(text, &v->b);
    } else if (d->type == WSIP_CONFIG_ENUM) {
        v->e = value_index(d->values, text);
        if (v->e < 0) {
            char list[128];
            values_text(d->values, ", ", list, sizeof(list));
            fail_at(ec, at, "%s: '%s' is not one of %s", d->name, text, list);
            return false;
        }
    } else if (d->type == WSIP_CONFIG_STRING) {
        size_t n = strlen(text);
        if ((int64_t)n < d->min)
            why = "must not be empty";
        else if ((int64_t)n > d->max)
            why = "is too long";
        else if (d->check)
            why = d->check(text);
        if (!why && !(v->s = strdup(text)))
            why = "out of memory";
    }
    if (why) {
        fail_at(ec, at, "%s: '%s' %s", d->name, text, why);
        return false;
    }
    return true;
}

/* Appends one list entry, parsed and checked. */
static bool list_add(const struct wsip_config_directive *d, union value *v, const char *text,
                     struct ectx *ec, const struct src *at)
{
    const char *why = NULL;
    switch (d->type) {
    case WSIP_CONFIG_STRLIST: {
        const char *canon = text;
        if (d->values) {
            int i = value_index(d->values, text);
            if (i < 0) {
                char list[160];
                values_text(d->values, ", ", list, sizeof(list));
                fail_at(ec, at, "%s: '%s' is not one of %s", d->name, text, list);
                return false;
            }
            canon = d->values[i];
        } else if (d->check) {
            why = d->check(text);
        }
        for (size_t i = 0; !why && i < v->sl.n; i++)
            if (strcasecmp(v->sl.v[i], canon) == 0)
                why = "is listed twice";
        if (why)
            break;
        char **nv = realloc(v->sl.v, (v->sl.n + 1) * sizeof(char *));
        if (nv)
            v->sl.v = nv;
        if (!nv || !(nv[v->sl.n] = strdup(canon))) {
            why = "out of memory";
            break;
        }
        v->sl.n++;
        break;
    }
    case WSIP_CONFIG_CIDRLIST: {
        struct wsip_cidr cidr;
        if (wsip_cidr_parse(text, &cidr, &why) < 0)
            break;
        struct wsip_cidr *nv = realloc(v->cl.v, (v->cl.n + 1) * sizeof(*nv));
        if (!nv) {
            why = "out of memory";
            break;
        }
        v->cl.v = nv;
        nv[v->cl.n++] = cidr;
        break;
    }
    case WSIP_CONFIG_LISTEN: {
        struct wsip_listen l;
        if (wsip_listen_parse(text, &l, &why) < 0)
            break;
        struct wsip_listen *nv = realloc(v->ll.v, (v->ll.n + 1) * sizeof(*nv));
        if (!nv) {
            wsip_listen_clear(&l);
            why = "out of memory";
            break;
        }
        v->ll.v = nv;
        nv[v->ll.n++] = l;
        break;
    }
    default: why = "is not a list"; break;
    }
    if (why) {
        fail_at(ec, at, "%s: '%s' %s", d->name, text, why);
        return false;
    }
    return true;
}

static size_t list_len(const struct wsip_config_directive *d, const union value *v)
{
    switch (d->type) {
    case WSIP_CONFIG_STRLIST: return v->sl.n;
    case WSIP_CONFIG_CIDRLIST: return v->cl.n;
    case WSIP_CONFIG_LISTEN: return v->ll.n;
    default: return 0;
    }
}

static bool list_count_ok(const struct wsip_config_directive *d, const union value *v,
                          struct ectx *ec, const struct src *at)
{
    size_t n = list_len(d, v);
    if ((int64_t)n >= d->min && (int64_t)n <= d->max)
        return true;
    if (n == 0)
        fail_at(ec, at, "%s: must not be empty", d->name);
    else
        fail_at(ec, at, "%s: %zu entries, at most %lld allowed", d->name, n, (long long)d->max);
    return false;
}

/* "a, b", "[a, b]", "[]", "" -> entries. Commas inside [...] (IPv6) or
 * "..." do not split. */
static bool list_from_text(const struct wsip_config_directive *d, const char *text, union value *v,
                           struct ectx *ec, const struct src *at)
{
    memset(v, 0, sizeof(*v));
    size_t n = strlen(text);
    const char *s = text;
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    bool ok = true;
    size_t start = 0;
    int depth = 0;
    bool quoted = false, any = false;
    for (size_t i = 0; i <= n; i++) {
        char ch = i < n ? s[i] : ',';
        if (ch == '"')
            quoted = !quoted;
        else if (!quoted && ch == '[')
            depth++;
        else if (!quoted && ch == ']' && depth > 0)
            depth--;
        if (ch != ',' || quoted || depth > 0)
            continue;
        char *item = unquote_dup(s + start, i - start);
        if (!item) {
            fail_at(ec, at, "%s: out of memory", d->name);
            ok = false;
            break;
        }
        /* "a,,b" and a trailing comma are errors; "" alone is the empty list */
        if (!item[0] && (any || i < n)) {
            fail_at(ec, at, "%s: empty entry in '%s'", d->name, text);
            ok = false;
        } else if (item[0]) {
            ok = list_add(d, v, item, ec, at) && ok;
            any = true;
        }
        free(item);
        start = i + 1;
    }
    if (ok)
        ok = list_count_ok(d, v, ec, at);
    if (!ok)
        value_free(d, v);
    return ok;
}

static bool value_from_text(const struct wsip_config_directive *d, const char *text, union value *v,
                            struct ectx *ec, const struct src *at)
{
    if (is_list(d->type))
        return list_from_text(d, text, v, ec, at);
    char *t = unquote_dup(text, strlen(text));
    if (!t) {
        fail_at(ec, at, "%s: out of memory", d->name);
        return false;
    }
    bool ok = scalar_from_text(d, t, v, ec, at);
    free(t);
    return ok;
}

/* ---------------------------------------------------------- init, free */

static void set_origin(struct wsip_config *c, const struct wsip_config_directive *d,
                       const struct src *at)
{
    struct origin *o = &c->priv->o[dindex(d)];
    o->cmdline = at->file == NULL;
    o->line = at->line;
    o->file = NULL;
    if (!at->file)
        return;
    for (size_t i = 0; i < c->priv->nfiles; i++)
        if (strcmp(c->priv->files[i], at->file) == 0) {
            o->file = c->priv->files[i];
            return;
        }
    char **nf = realloc(c->priv->files, (c->priv->nfiles + 1) * sizeof(char *));
    if (!nf)
        return;
    c->priv->files = nf;
    if ((nf[c->priv->nfiles] = strdup(at->file)))
        o->file = nf[c->priv->nfiles++];
}

int wsip_config_init(struct wsip_config *c)
{
    memset(c, 0, sizeof(*c));
    c->priv = calloc(1, sizeof(*c->priv));
    if (!c->priv)
        return -1;
    c->priv->o = calloc(wsip__config_count, sizeof(struct origin));
    if (!c->priv->o) {
        free(c->priv);
        c->priv = NULL;
        return -1;
    }
    struct ectx ec = {NULL, 0};
    struct src at = {"default", 0};
    for (size_t i = 0; i < wsip__config_count; i++) {
        const struct wsip_config_directive *d = &wsip__config_table[i];
        union value v;
        if (!value_from_text(d, d->def, &v, &ec, &at)) {
            wsip_config_free(c);
            return -1;
        }
        store(c, d, &v);
    }
    return 0;
}

void wsip_config_free(struct wsip_config *c)
{
    for (size_t i = 0; i < wsip__config_count; i++) {
        union value v = load(c, &wsip__config_table[i]);
        value_free(&wsip__config_table[i], &v);
    }
    if (c->priv) {
        for (size_t i = 0; i < c->priv->nfiles; i++)
            free(c->priv->files[i]);
        free(c->priv->files);
        free(c->priv->o);
        free(c->priv);
    }
    memset(c, 0, sizeof(*c));
}

/* --------------------------------------------------------- --set, append */

enum set_mode {
    SET,   /* value replaces */
    ADD,   /* one entry added to the list */
    FIRST, /* the list becomes this one entry (a first --listen) */
};

static int set_kv(struct wsip_config *c, const char *key, const char *value, enum set_mode mode,
                  struct wsip_config_err *err)
{
    struct ectx ec = {err, 0};
    struct src at = {NULL, 0};
    const struct wsip_config_directive *d = wsip_config_find(key);
    if (!d) {
        if (is_group(key, strlen(key)))
            fail(&ec, CMDLINE, 0, "'%s' is a group: set one of its directives, e.g. %s.<name>", key,
                 key);
        else
            fail_unknown(&ec, CMDLINE, 0, key);
        return -1;
    }
    union value v;
    memset(&v, 0, sizeof(v));
    if (mode != SET) {
        if (!is_list(d->type)) {
            fail(&ec, CMDLINE, 0, "%s: not a list", key);
            return -1;
        }
        union value cur = load(c, d);
        if (mode == ADD && value_copy(d, &cur, &v) < 0) {
            fail(&ec, CMDLINE, 0, "%s: out of memory", key);
            return -1;
        }
        char *item = unquote_dup(value, strlen(value));
        bool ok = item && list_add(d, &v, item, &ec, &at) && list_count_ok(d, &v, &ec, &at);
        free(item);
        if (!ok) {
            value_free(d, &v);
            return -1;
        }
    } else if (!value_from_text(d, value, &v, &ec, &at)) {
        return -1;
    }
    store(c, d, &v);
    set_origin(c, d, &at);
    return 0;
}

int wsip_config_set_kv(struct wsip_config *c, const char *key, const char *value,
                       struct wsip_config_err *err)
{
    return set_kv(c, key, value, SET, err);
}

int wsip_config_append(struct wsip_config *c, const char *key, const char *value,
                       struct wsip_config_err *err)
{
    return set_kv(c, key, value, ADD, err);
}

int wsip_config_set(struct wsip_config *c, const char *key_eq_value, struct wsip_config_err *err)
{
    const char *eq = strchr(key_eq_value, '=');
    if (!eq || eq == key_eq_value) {
        struct ectx ec = {err, 0};
        fail(&ec, CMDLINE, 0, "--set '%s': expected KEY=VALUE", key_eq_value);
        return -1;
    }
    char *key = unquote_dup(key_eq_value, (size_t)(eq - key_eq_value));
    if (!key)
        return -1;
    int rc = set_kv(c, key, eq + 1, SET, err);
    free(key);
    return rc;
}

/* ---------------------------------------------------------- file loading */

/* Source text of the files read, to double-check integer literals. */
struct text_cache {
    char *path;
    char *text;
    struct text_cache *next;
};

struct loader {
    struct wsip_config *c;
    struct ectx ec;
    const char *path;
    struct text_cache *texts;
};

static const char *setting_file(const struct loader *ld, const config_setting_t *s)
{
    const char *f = config_setting_source_file(s);
    return f ? f : ld->path;
}

static const char *file_text(struct loader *ld, const char *path)
{
    for (struct text_cache *t = ld->texts; t; t = t->next)
        if (strcmp(t->path, path) == 0)
            return t->text;
    struct text_cache *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->path = strdup(path);
    FILE *f = fopen(path, "rb");
    if (f && t->path) {
        size_t cap = 4096, len = 0;
        t->text = malloc(cap);
        while (t->text) {
            len += fread(t->text + len, 1, cap - len - 1, f);
            if (len < cap - 1)
                break;
            char *nt = realloc(t->text, cap * 2);
            if (!nt) {
                free(t->text);
                t->text = NULL;
            } else {
                t->text = nt;
                cap *= 2;
            }
        }
        if (t->text)
            t->text[len] = '\0';
    }
    if (f)
        fclose(f);
    t->next = ld->texts;
    ld->texts = t;
    return t->text;
}

/* libconfig 1.5 silently wraps integers past 32 bits (4294967396 reads as
 * 100). Find the literal after "name =" on the setting's line and compare;
 * returns false (and the literal) when they differ. */
static bool int_literal_ok(struct loader *ld, const config_setting_t *s, long long got, char *lit,
                           size_t cap)
{
    const char *text = file_text(ld, setting_file(ld, s));
    unsigned line = config_setting_source_line(s);
    if (!text || !s->name)
        return true;
    for (unsigned l = 1; l < line && text; l++) {
        text = strchr(text, '\n');
        if (text)
            text++;
    }
    if (!text)
        return true;
    size_t nlen = strlen(s->name);
    const char *eol = strchr(text, '\n');
    if (!eol)
        eol = text + strlen(text);
    for (const char *p = text; p + nlen <= eol; p++) {
        if (strncmp(p, s->name, nlen) != 0 || (p > text && (is_alnum(p[-1]) || p[-1] == '_')))
            continue;
        const char *q = skip_ws(p + nlen);
        if (*q != '=' && *q != ':')
            continue;
        q = skip_ws(q + 1);
        const char *e = q;
        if (*e == '-' || *e == '+')
            e++;
        while (is_alnum(*e))
            e++;
        snprintf(lit, cap, "%.*s", (int)(e - q), q);
        errno = 0;
        char *end;
        long long v = strtoll(lit, &end, 0);
        if (end == lit)
            return true; /* not what we thought it was */
        return errno != ERANGE && v == got;
    }
    return true;
}

/* libconfig records a list entry's line after reading the next token, so
 * the last entry of a list closed on a later line gets that line. Walk back
 * to the line that holds the entry's text. */
static unsigned entry_line(struct loader *ld, const config_setting_t *e, unsigned floor)
{
    unsigned line = config_setting_source_line(e);
    const char *str =
        config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;
    const char *text = file_text(ld, setting_file(ld, e));
    if (!str || !*str || !text)
        return line;
    /* start of each line up to `line` */
    for (unsigned l = line; l >= floor && l > 0; l--) {
        const char *p = text;
        for (unsigned k = 1; k < l && p; k++) {
            p = strchr(p, '\n');
            if (p)
                p++;
        }
        if (!p)
            return line;
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (memmem(p, len, str, strlen(str)))
            return l;
    }
    return line;
}

/* The setting's string form for a list entry or a suffixed number. */
static const char *setting_string(const config_setting_t *s)
{
    return config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
}

static const char *type_word(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    }
    return "nothing";
}

static const char *expected_word(const struct wsip_config_directive *d)
{
    switch (d->type) {
    case WSIP_CONFIG_INT: return "an integer";
    case WSIP_CONFIG_SIZE: return "a size (bytes, or a string like \"64K\")";
    case WSIP_CONFIG_SECONDS: return "a duration (seconds, or a string like \"30s\")";
    case WSIP_CONFIG_MILLIS: return "a duration (milliseconds, or a string like \"2s\")";
    case WSIP_CONFIG_BOOL: return "true or false";
    case WSIP_CONFIG_ENUM:
    case WSIP_CONFIG_STRING: return "a string";
    default: return "a list of strings, [ \"...\", ... ]";
    }
}

static bool value_from_setting(struct loader *ld, const struct wsip_config_directive *d,
                               const config_setting_t *s, union value *v, const struct src *at)
{
    struct ectx *ec = &ld->ec;
    int t = config_setting_type(s);
    memset(v, 0, sizeof(*v));
    if (is_list(d->type)) {
        if (t == CONFIG_TYPE_STRING) /* one entry without brackets */
            return list_add(d, v, config_setting_get_string(s), ec, at) &&
                   list_count_ok(d, v, ec, at);
        if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
            goto mismatch;
        bool ok = true;
        for (int i = 0; i < config_setting_length(s); i++) {
            const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            struct src eat = {setting_file(ld, e), entry_line(ld, e, at->line)};
            const char *str = setting_string(e);
            if (!str) {
                fail_at(ec, &eat, "%s: entry %d is %s, expected a string", d->name, i + 1,
                        type_word(e));
                ok = false;
                continue;
            }
            ok = list_add(d, v, str, ec, &eat) && ok;
        }
        if (ok)
            ok = list_count_ok(d, v, ec, at);
        if (!ok)
            value_free(d, v);
        return ok;
    }
    if (is_number(d->type)) {
        if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
            long long n = config_setting_get_int64(s);
            char lit[48];
            snprintf(lit, sizeof(lit), "%lld", n);
            if (!int_literal_ok(ld, s, n, lit, sizeof(lit))) {
                fail_at(ec, at, "%s: %s is out of range (%lld..%lld)", d->name, lit,
                        (long long)d->min, (long long)d->max);
                return false;
            }
            v->num = n;
            return check_range(d, n, lit, ec, at);
        }
        if (t == CONFIG_TYPE_STRING && d->type != WSIP_CONFIG_INT)
            return scalar_from_text(d, config_setting_get_string(s), v, ec, at);
        goto mismatch;
    }
    if (d->type == WSIP_CONFIG_BOOL) {
        if (t != CONFIG_TYPE_BOOL)
            goto mismatch;
        v->b = config_setting_get_bool(s) != 0;
        return true;
    }
    if (d->type == WSIP_CONFIG_ENUM && t == CONFIG_TYPE_FLOAT) {
        /* tls.min_version = 1.2; reads as a float: take it as written */
        char num[32];
        snprintf(num, sizeof(num), "%g", config_setting_get_float(s));
        return scalar_from_text(d, num, v, ec, at);
    }
    if (t != CONFIG_TYPE_STRING)
        goto mismatch;
    return scalar_from_text(d, config_setting_get_string(s), v, ec, at);
mismatch:
    fail_at(ec, at, "%s: expected %s, got %s", d->name, expected_word(d), type_word(s));
    return false;
}

static void walk(struct loader *ld, const config_setting_t *group, const char *prefix)
{
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        struct src at = {setting_file(ld, s), config_setting_source_line(s)};
        char name[128];
        snprintf(name, sizeof(name), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                 config_setting_name(s) ? config_setting_name(s) : "?");
        const struct wsip_config_directive *d = wsip_config_find(name);
        if (d) {
            union value v;
            if (value_from_setting(ld, d, s, &v, &at)) {
                store(ld->c, d, &v);
                set_origin(ld->c, d, &at);
            }
        } else if (is_group(name, strlen(name))) {
            if (config_setting_is_group(s))
                walk(ld, s, name);
            else
                fail_at(&ld->ec, &at, "'%s' is a group: write %s = { ... };", name,
                        config_setting_name(s));
        } else {
            fail_unknown(&ld->ec, at.file, at.line, name);
        }
    }
}

int wsip_config_load_file(struct wsip_config *c, const char *path, struct wsip_config_err *err)
{
    struct loader ld = {c, {err, 0}, path, NULL};
    FILE *probe = fopen(path, "r");
    if (!probe) {
        fail(&ld.ec, path, 0, "cannot read: %s", strerror(errno));
        return -1;
    }
    fclose(probe);

    config_t cfg;
    config_init(&cfg);
    /* @include "x.conf" is relative to the including file's directory */
    char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) {
        slash[slash == dir ? 1 : 0] = '\0';
        config_set_include_dir(&cfg, dir);
    }
    if (!config_read_file(&cfg, path)) {
        const char *f = config_error_file(&cfg);
        const char *text = config_error_text(&cfg);
        fail(&ld.ec, f ? f : path, (unsigned)config_error_line(&cfg), "%s",
             text ? text : "cannot read");
    } else {
        walk(&ld, config_root_setting(&cfg), NULL);
    }
    config_destroy(&cfg);
    free(dir);
    while (ld.texts) {
        struct text_cache *t = ld.texts;
        ld.texts = t->next;
        free(t->path);
        free(t->text);
        free(t);
    }
    return ld.ec.n ? -1 : 0;
}

/* ------------------------------------------------------------- validate */

static struct src origin_of(const struct wsip_config *c, const char *name)
{
    const struct wsip_config_directive *d = wsip_config_find(name);
    struct src s = {"", 0};
    if (!d || !c->priv)
        return s;
    const struct origin *o = &c->priv->o[dindex(d)];
    if (o->cmdline)
        s.file = CMDLINE;
    else if (o->file) {
        s.file = o->file;
        s.line = o->line;
    }
    return s;
}

/* The origin of whichever of two directives was set explicitly (b wins). */
static struct src origin_of2(const struct wsip_config *c, const char *a, const char *b)
{
    struct src s = origin_of(c, b);
    return s.file[0] ? s : origin_of(c, a);
}

static bool stream_transport(enum wsip_transport t)
{
    return t != WSIP_TP_UDP;
}

static bool wildcard_overlap(const struct wsip_listen *a, const struct wsip_listen *b)
{
    if (strcasecmp(a->host, b->host) == 0)
        return true;
    bool a4 = strcmp(a->host, "0.0.0.0") == 0, b4 = strcmp(b->host, "0.0.0.0") == 0;
    bool a6 = a->host_type == WSIP_HOST_IPV6 && strcmp(a->host, "::") == 0;
    bool b6 = b->host_type == WSIP_HOST_IPV6 && strcmp(b->host, "::") == 0;
    return (a4 && b->host_type == WSIP_HOST_IPV4) || (b4 && a->host_type == WSIP_HOST_IPV4) ||
           (a6 && b->host_type == WSIP_HOST_IPV6) || (b6 && a->host_type == WSIP_HOST_IPV6);
}

static void check_file(const struct wsip_config *c, struct ectx *ec, const char *name,
                       const char *path)
{
    if (!path[0] || access(path, R_OK) == 0)
        return;
    struct src at = origin_of(c, name);
    fail_at(ec, &at, "%s: cannot read '%s': %s", name, path, strerror(errno));
}

int wsip_config_validate(const struct wsip_config *c, struct wsip_config_err *err)
{
    struct ectx ec = {err, 0};
    struct src at;

    /* listeners: TLS material, collisions */
    bool need_tls = false;
    at = origin_of(c, "listen");
    for (size_t i = 0; i < c->listen.n; i++) {
        const struct wsip_listen *a = &c->listen.v[i];
        if (a->transport == WSIP_TP_TLS || a->transport == WSIP_TP_WSS)
            need_tls = true;
        for (size_t j = i + 1; j < c->listen.n; j++) {
            const struct wsip_listen *b = &c->listen.v[j];
            if (a->port != b->port ||
                stream_transport(a->transport) != stream_transport(b->transport) ||
                !wildcard_overlap(a, b))
                continue;
            fail_at(&ec, &at, "listen: '%s' and '%s' both need %s port %u", a->uri, b->uri,
                    stream_transport(a->transport) ? "TCP" : "UDP", a->port);
        }
    }
    const char *cert = c->tls.certificate, *key = c->tls.private_key;
    if (need_tls && (!cert[0] || !key[0])) {
        fail_at(&ec, &at,
                "listen: tls:// and wss:// listeners need tls.certificate and "
                "tls.private_key");
    } else if (!cert[0] != !key[0]) {
        at = origin_of2(c, "tls.certificate", "tls.private_key");
        fail_at(&ec, &at, "tls.certificate and tls.private_key go together: set both or neither");
    }
    check_file(c, &ec, "tls.certificate", cert);
    check_file(c, &ec, "tls.private_key", key);
    check_file(c, &ec, "tls.ca_file", c->tls.ca_file);

    /* registrar: min <= default <= max */
    if (c->registrar.min_expires > c->registrar.max_expires) {
        at = origin_of2(c, "registrar.max_expires", "registrar.min_expires");
        fail_at(&ec, &at, "registrar.min_expires (%u) is above registrar.max_expires (%u)",
                c->registrar.min_expires, c->registrar.max_expires);
    } else if (c->registrar.default_expires < c->registrar.min_expires ||
               c->registrar.default_expires > c->registrar.max_expires) {
        at = origin_of(c, "registrar.default_expires");
        if (!at.file[0])
            at = origin_of2(c, "registrar.min_expires", "registrar.max_expires");
        fail_at(&ec, &at,
                "registrar.default_expires (%u) must be between registrar.min_expires (%u) "
                "and registrar.max_expires (%u)",
                c->registrar.default_expires, c->registrar.min_expires, c->registrar.max_expires);
    }

    if (c->sip.t1 > c->sip.t2) {
        at = origin_of2(c, "sip.t2", "sip.t1");
        fail_at(&ec, &at, "sip.t1 (%u ms) is above sip.t2 (%u ms)", c->sip.t1, c->sip.t2);
    }
    if (c->sip.max_header_line > c->sip.max_message_size) {
        at = origin_of2(c, "sip.max_message_size", "sip.max_header_line");
        fail_at(&ec, &at, "sip.max_header_line (%zu) is above sip.max_message_size (%zu)",
                c->sip.max_header_line, c->sip.max_message_size);
    }
    if (c->sip.max_start_line > c->sip.max_message_size) {
        at = origin_of2(c, "sip.max_message_size", "sip.max_start_line");
        fail_at(&ec, &at, "sip.max_start_line (%zu) is above sip.max_message_size (%zu)",
                c->sip.max_start_line, c->sip.max_message_size);
    }
    if (c->ws.max_frame_size > c->ws.max_message_size) {
        at = origin_of2(c, "ws.max_message_size", "ws.max_frame_size");
        fail_at(&ec, &at, "ws.max_frame_size (%zu) is above ws.max_message_size (%zu)",
                c->ws.max_frame_size, c->ws.max_message_size);
    }
    if (c->net.max_connections_per_ip > c->net.max_connections) {
        at = origin_of2(c, "net.max_connections", "net.max_connections_per_ip");
        fail_at(&ec, &at, "net.max_connections_per_ip (%u) is above net.max_connections (%u)",
                c->net.max_connections_per_ip, c->net.max_connections);
    }
    return ec.n ? -1 : 0;
}

/* ----------------------------------------------------------- reloading */

int wsip_config_keep_fixed(struct wsip_config *next, const struct wsip_config *cur,
                           struct wsip_config_err *notes)
{
    struct ectx ec = {notes, 0};
    int kept = 0;
    for (size_t i = 0; i < wsip__config_count; i++) {
        const struct wsip_config_directive *d = &wsip__config_table[i];
        if (d->reload || wsip_config_equal(next, cur, d))
            continue;
        union value src = load(cur, d), v;
        if (value_copy(d, &src, &v) < 0)
            return -1;
        store(next, d, &v);
        if (next->priv && cur->priv)
            next->priv->o[i] = (struct origin){NULL, 0, false};
        fail(&ec, "", 0, "%s: changed, but only a restart applies it; keeping the running value",
             d->name);
        kept++;
    }
    return kept;
}

/* -------------------------------------------------------------- output */

static void write_cstring(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void write_value(FILE *f, const struct wsip_config_directive *d, const union value *v)
{
    char buf[64];
    switch (d->type) {
    case WSIP_CONFIG_INT:
    case WSIP_CONFIG_SIZE:
    case WSIP_CONFIG_SECONDS:
    case WSIP_CONFIG_MILLIS:
        fprintf(f, v->num > INT_MAX ? "%lldL" : "%lld", (long long)v->num);
        break;
    case WSIP_CONFIG_BOOL: fputs(v->b ? "true" : "false", f); break;
    case WSIP_CONFIG_ENUM: write_cstring(f, d->values[v->e]); break;
    case WSIP_CONFIG_STRING: write_cstring(f, v->s); break;
    case WSIP_CONFIG_STRLIST:
    case WSIP_CONFIG_CIDRLIST:
    case WSIP_CONFIG_LISTEN: {
        size_t n = list_len(d, v);
        fputs(n ? "[ " : "[ ]", f);
        for (size_t i = 0; i < n; i++) {
            if (i)
                fputs(", ", f);
            if (d->type == WSIP_CONFIG_STRLIST) {
                write_cstring(f, v->sl.v[i]);
            } else if (d->type == WSIP_CONFIG_LISTEN) {
                write_cstring(f, v->ll.v[i].uri);
            } else {
                wsip_cidr_format(&v->cl.v[i], buf, sizeof(buf));
                write_cstring(f, buf);
            }
        }
        if (n)
            fputs(" ]", f);
        break;
    }
    }
}

size_t wsip_config_format(const struct wsip_config *c, const struct wsip_config_directive *d,
                          char *buf, size_t cap)
{
    union value v = load(c, d);
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    if (!f)
        return 0;
    switch (d->type) {
    case WSIP_CONFIG_STRING: fputs(v.s, f); break;
    case WSIP_CONFIG_ENUM: fputs(d->values[v.e], f); break;
    case WSIP_CONFIG_STRLIST:
    case WSIP_CONFIG_CIDRLIST:
    case WSIP_CONFIG_LISTEN: {
        size_t n = list_len(d, &v);
        fputc('[', f);
        for (size_t i = 0; i < n; i++) {
            char cidr[64];
            const char *s = d->type == WSIP_CONFIG_STRLIST  ? v.sl.v[i]
                            : d->type == WSIP_CONFIG_LISTEN ? v.ll.v[i].uri
                                                            : cidr;
            if (d->type == WSIP_CONFIG_CIDRLIST)
                wsip_cidr_format(&v.cl.v[i], cidr, sizeof(cidr));
            fprintf(f, "%s%s", i ? ", " : "", s);
        }
        fputc(']', f);
        break;
    }
    default: write_value(f, d, &v); break;
    }
    fclose(f);
    if (cap) {
        size_t n = len < cap - 1 ? len : cap - 1;
        memcpy(buf, mem ? mem : "", n);
        buf[n] = '\0';
    }
    free(mem);
    return len;
}

/* "ws" for "ws.path", "" for top-level names. */
static size_t group_len(const char *name)
{
    const char *dot = strchr(name, '.');
    return dot ? (size_t)(dot - name) : 0;
}

static void describe(const struct wsip_config_directive *d, char *buf, size_t cap, bool md)
{
    char vals[160];
    const char *bar = md ? " \\| " : " | ";
    switch (d->type) {
    case WSIP_CONFIG_INT:
    case WSIP_CONFIG_SIZE:
    case WSIP_CONFIG_SECONDS:
    case WSIP_CONFIG_MILLIS:
        snprintf(buf, cap, "%lld..%lld", (long long)d->min, (long long)d->max);
        break;
    case WSIP_CONFIG_BOOL: snprintf(buf, cap, "true%sfalse", bar); break;
    case WSIP_CONFIG_ENUM:
        values_text(d->values, bar, vals, sizeof(vals));
        snprintf(buf, cap, "%s", vals);
        break;
    case WSIP_CONFIG_STRING:
        snprintf(buf, cap, "%s", d->min > 0 ? "not empty" : "may be empty");
        break;
    default:
        if (d->values) {
            values_text(d->values, ", ", vals, sizeof(vals));
            snprintf(buf, cap, "%lld..%lld entries: %s", (long long)d->min, (long long)d->max,
                     vals);
        } else {
            snprintf(buf, cap, "%lld..%lld entries", (long long)d->min, (long long)d->max);
        }
    }
}

/* "# text" word-wrapped to 80 columns. */
static void write_comment(FILE *f, const char *indent, const char *text)
{
    size_t room = 80 - strlen(indent) - 2;
    while (*text) {
        size_t n = strlen(text);
        if (n > room) {
            n = room;
            while (n > 0 && text[n] != ' ')
                n--;
            if (n == 0)
                n = strcspn(text, " ");
        }
        fprintf(f, "%s# %.*s\n", indent, (int)n, text);
        text += n;
        while (*text == ' ')
            text++;
    }
}

static void write_conf(const struct wsip_config *c, FILE *f, bool comments)
{
    bool done[256] = {false}; /* the table has fewer rows (a unit test checks) */
    for (size_t i = 0; i < wsip__config_count && i < 256; i++) {
        const struct wsip_config_directive *g = &wsip__config_table[i];
        if (done[i])
            continue;
        size_t gl = group_len(g->name);
        if (gl) {
            if (comments)
                fputc('\n', f);
            fprintf(f, "%.*s = {\n", (int)gl, g->name);
        }
        bool first = true;
        for (size_t j = i; j < wsip__config_count && j < 256; j++) {
            const struct wsip_config_directive *d = &wsip__config_table[j];
            if (done[j] || group_len(d->name) != gl || strncmp(d->name, g->name, gl) != 0)
                continue;
            if (!gl && j != i)
                break; /* a top-level directive is its own "group" */
            done[j] = true;
            const char *indent = gl ? "    " : "";
            if (comments) {
                char range[200], text[512];
                describe(d, range, sizeof(range), false);
                if (!first || !gl)
                    fputc('\n', f);
                snprintf(text, sizeof(text), "%s.", d->doc);
                write_comment(f, indent, text);
                snprintf(text, sizeof(text), "[%s, %s; %s]", wsip_config_type_name(d->type), range,
                         d->reload ? "reloadable" : "restart to change");
                write_comment(f, indent, text);
            }
            first = false;
            union value v = load(c, d);
            fprintf(f, "%s%s = ", indent, gl ? d->name + gl + 1 : d->name);
            write_value(f, d, &v);
            fputs(";\n", f);
        }
        if (gl)
            fputs("};\n", f);
    }
}

void wsip_config_dump(const struct wsip_config *c, FILE *f)
{
    write_conf(c, f, false);
}

void wsip_config_write_example(FILE *f)
{
    struct wsip_config c;
    if (wsip_config_init(&c) < 0)
        return;
    fputs("# wsip configuration (libconfig syntax). Every directive is set to its default:\n"
          "# delete what you do not change. Sizes are bytes (or strings like \"64K\"),\n"
          "# durations seconds unless the type says ms (or strings like \"30s\").\n"
          "# [type, range; reloadable] means a SIGHUP applies a new value, [...; restart to\n"
          "# change] that only a restart does. Override any directive on the command\n"
          "# line: --set ws.ping_interval=20. Check a file: wsip check-config -c FILE\n"
          "#\n"
          "# Generated by `wsip check-config --example` from src/core/config_table.c;\n"
          "# the unit tests fail when this file and the table disagree.\n",
          f);
    write_conf(&c, f, true);
    wsip_config_free(&c);
}

static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else
            fputc(*s, f);
    }
}

void wsip_config_write_markdown(FILE *f)
{
    struct wsip_config c;
    if (wsip_config_init(&c) < 0)
        return;
    fputs("| Directive | Type | Default | Range | Reload | Description |\n"
          "|---|---|---|---|---|---|\n",
          f);
    for (size_t i = 0; i < wsip__config_count; i++) {
        const struct wsip_config_directive *d = &wsip__config_table[i];
        char range[200];
        describe(d, range, sizeof(range), true);
        union value v = load(&c, d);
        char *def = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&def, &len);
        if (m) {
            write_value(m, d, &v);
            fclose(m);
        }
        fprintf(f, "| `%s` | %s | `", d->name, wsip_config_type_name(d->type));
        md_cell(f, def ? def : "");
        fprintf(f, "` | %s | %s | ", range, d->reload ? "yes" : "no");
        md_cell(f, d->doc);
        fputs(" |\n", f);
        free(def);
    }
    wsip_config_free(&c);
}

/* ------------------------------------------------------------- helpers */

unsigned wsip_config_workers(const struct wsip_config *c)
{
    if (c->workers)
        return c->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

const char *wsip_config_realm(const struct wsip_config *c)
{
    if (c->auth.realm && c->auth.realm[0])
        return c->auth.realm;
    return c->domains.n ? c->domains.v[0] : "";
}

void wsip_config_sip_limits(const struct wsip_config *c, enum wsip_transport t,
                            struct wsip_sip_limits *lim)
{
    lim->max_msg_size = t == WSIP_TP_UDP ? c->sip.max_udp_message_size : c->sip.max_message_size;
    lim->max_start_line = c->sip.max_start_line;
    lim->max_header_line = c->sip.max_header_line;
    lim->max_headers = c->sip.max_headers;
}

/* --------------------------------------------------------- command line */

static int add_override(struct wsip_config_args *a, const char *key, size_t klen, const char *value,
                        bool append)
{
    struct wsip_config_override *nv = realloc(a->ov, (a->n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    a->ov = nv;
    char *k = strndup(key, klen);
    if (!k)
        return -1;
    nv[a->n++] = (struct wsip_config_override){k, value, append};
    return 0;
}

int wsip_config_args_take(struct wsip_config_args *a, int argc, char **argv, int *i,
                          struct wsip_config_err *err)
{
    struct ectx ec = {err, 0};
    const char *arg = argv[*i];
    const char *value;
    char key[128];
    if (strcmp(arg, "-c") == 0) {
        snprintf(key, sizeof(key), "config");
        value = *i + 1 < argc ? argv[*i + 1] : NULL;
        *i += value ? 2 : 0;
    } else if (strncmp(arg, "--", 2) == 0) {
        /* --name=value or --name value */
        size_t nlen = strcspn(arg + 2, "=");
        if (nlen >= sizeof(key))
            return 0;
        snprintf(key, sizeof(key), "%.*s", (int)nlen, arg + 2);
        if (strcmp(key, "config") && strcmp(key, "set") && strcmp(key, "listen") &&
            strcmp(key, "domain") && !wsip_config_find(key))
            return 0;
        if (arg[2 + nlen] == '=') {
            value = arg + 2 + nlen + 1;
            *i += 1;
        } else {
            value = *i + 1 < argc ? argv[*i + 1] : NULL;
            *i += value ? 2 : 0;
        }
    } else {
        return 0;
    }
    if (!value) {
        fail(&ec, CMDLINE, 0, "%s needs an argument", arg);
        return -1;
    }
    int rc;
    if (strcmp(key, "config") == 0) {
        a->file = value;
        return 1;
    }
    if (strcmp(key, "set") == 0) {
        const char *eq = strchr(value, '=');
        if (!eq || eq == value) {
            fail(&ec, CMDLINE, 0, "--set '%s': expected KEY=VALUE", value);
            return -1;
        }
        rc = add_override(a, value, (size_t)(eq - value), eq + 1, false);
    } else if (strcmp(key, "listen") == 0 || strcmp(key, "domain") == 0) {
        const char *k = key[0] == 'l' ? "listen" : "domains";
        rc = add_override(a, k, strlen(k), value, true);
    } else {
        rc = add_override(a, key, strlen(key), value, false);
    }
    if (rc < 0) {
        fail(&ec, CMDLINE, 0, "out of memory");
        return -1;
    }
    return 1;
}

int wsip_config_args_load(struct wsip_config *c, const struct wsip_config_args *a,
                          struct wsip_config_err *err)
{
    struct ectx ec = {err, 0};
    if (wsip_config_init(c) < 0) {
        fail(&ec, "", 0, "out of memory");
        return -1;
    }
    bool bad = false;
    if (a->file && wsip_config_load_file(c, a->file, err) < 0)
        bad = true;
    /* the first --listen replaces the list, the next ones add to it */
    bool replaced_listen = false, replaced_domains = false;
    for (size_t i = 0; i < a->n; i++) {
        const struct wsip_config_override *o = &a->ov[i];
        enum set_mode mode = SET;
        if (o->append) {
            bool *replaced = strcmp(o->key, "listen") == 0 ? &replaced_listen : &replaced_domains;
            mode = *replaced ? ADD : FIRST;
            *replaced = true;
        }
        char *k = unquote_dup(o->key, strlen(o->key));
        if (!k || set_kv(c, k, o->value, mode, err) < 0)
            bad = true;
        free(k);
    }
    if (!bad && wsip_config_validate(c, err) < 0)
        bad = true;
    return bad ? -1 : 0;
}

void wsip_config_args_free(struct wsip_config_args *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->ov[i].key);
    free(a->ov);
    memset(a, 0, sizeof(*a));
}

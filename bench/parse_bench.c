/* Parser benchmark: wsip vs libosip2 vs sofia-sip on the same bytes.
 *
 * Every parser parses each message of the set into its own message object,
 * reads the fields a proxy needs on every message (top Via with branch,
 * From/To tags, Call-ID, CSeq number, Max-Forwards, first Route, first
 * Contact, Content-Length) and frees the object. One "pass" does that once
 * for every message. A round runs a number of passes of one parser and is
 * timed with CLOCK_MONOTONIC (or the thread's CPU time with --clock cpu);
 * rounds of the parsers are interleaved and the median round is reported.
 * The messages are first parsed once by every parser and the fields compared:
 * any rejection or disagreement stops the run. See bench/README.md. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsip/sip.h"

#include <osipparser2/osip_parser.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#ifndef BENCH_CORPUS_DIR
#define BENCH_CORPUS_DIR "../shared/corpus"
#endif
#ifndef BENCH_DATA_DIR
#define BENCH_DATA_DIR "bench/data"
#endif

/* The pass functions keep their own symbol so that callgrind's
 * --toggle-collect can name them (no inlining, no cloning). */
#if defined(__clang__)
#define BENCH_PASS __attribute__((noinline))
#else
#define BENCH_PASS __attribute__((noipa))
#endif

/* ------------------------------------------------------------------ utils */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("parse_bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, size_t n)
{
    double *t = malloc(n * sizeof *t);
    if (!t)
        die("out of memory");
    memcpy(t, v, n * sizeof *t);
    qsort(t, n, sizeof *t, cmp_double);
    double m = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    free(t);
    return m;
}

/* ---------------------------------------------------------------- corpus */

struct bmsg {
    char name[96]; /* "rfc3261/24.2-F1-INVITE.sip" */
    char *p;       /* the bytes, NUL-terminated past len */
    size_t len;
};

struct corpus {
    struct bmsg *m;
    size_t n, cap;
    size_t bytes;
};

static void corpus_add_file(struct corpus *c, const char *dir, const char *label, const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0)
        die("%s: %s", path, strerror(errno));
    long sz = ftell(f);
    if (sz <= 0 || sz > (1 << 20))
        die("%s: unexpected size %ld", path, sz);
    rewind(f);
    char *p = malloc((size_t)sz + 1);
    if (!p)
        die("out of memory");
    if (fread(p, 1, (size_t)sz, f) != (size_t)sz)
        die("%s: short read", path);
    fclose(f);
    p[sz] = '\0';

    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->m = realloc(c->m, c->cap * sizeof *c->m);
        if (!c->m)
            die("out of memory");
    }
    struct bmsg *b = &c->m[c->n++];
    snprintf(b->name, sizeof b->name, "%s/%s", label, file);
    b->p = p;
    b->len = (size_t)sz;
    c->bytes += (size_t)sz;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every *.sip of dir (sorted), except the names in skip. */
static void corpus_add_dir(struct corpus *c, const char *dir, const char *label,
                           const char *const *skip)
{
    DIR *d = opendir(dir);
    if (!d)
        die("%s: %s", dir, strerror(errno));
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".sip") != 0)
            continue;
        bool skipped = false;
        for (const char *const *s = skip; s && *s; s++)
            skipped |= strcmp(e->d_name, *s) == 0;
        if (skipped)
            continue;
        if (n == sizeof names / sizeof names[0])
            die("%s: too many files", dir);
        names[n] = strdup(e->d_name);
        if (!names[n++])
            die("out of memory");
    }
    closedir(d);
    if (n == 0)
        die("%s: no .sip files", dir);
    qsort(names, n, sizeof names[0], cmp_str);
    for (size_t i = 0; i < n; i++) {
        corpus_add_file(c, dir, label, names[i]);
        free(names[i]);
    }
}

static void corpus_free(struct corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->m[i].p);
    free(c->m);
}

/* ------------------------------------------------------- field extraction */

/* What every parser must deliver for a message; used for the correctness
 * check before timing. Strings are copied NUL-terminated. */
struct fields {
    char call_id[160];
    uint32_t cseq;
    char branch[96];
    bool has_from_tag, has_to_tag;
    char from_tag[96], to_tag[96];
    long max_forwards; /* -1 absent */
    bool has_route, has_contact;
    char route_host[96], contact_host[96];
    long clen;       /* -1 absent */
    size_t body_len; /* checked too, though the timed passes do not read it */
};

static void copy_view(char *out, size_t cap, const char *p, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(out, p ? p : "", p ? len : 0);
    out[p ? len : 0] = '\0';
}

static void copy_cstr(char *out, size_t cap, const char *s)
{
    copy_view(out, cap, s, s ? strlen(s) : 0);
}

static struct wsip_sip_limits g_lim;

/* wsip */
static int fields_wsip(const struct bmsg *b, struct fields *f, char *why, size_t whycap)
{
    struct wsip_msg *m = NULL;
    size_t consumed = 0;
    struct wsip_sip_err err = {0, NULL};
    int rc = wsip_msg_parse(&m, NULL, b->p, b->len, WSIP_FRAMING_DATAGRAM, &g_lim, &consumed, &err);
    if (rc != WSIP_PARSE_OK) {
        snprintf(why, whycap, "wsip_msg_parse rc=%d status=%u (%s)", rc, err.status,
                 err.reason ? err.reason : "?");
        return -1;
    }
    const char *r = NULL;
    const struct wsip_via *v = wsip_msg_top_via(m, &r);
    const struct wsip_addr *fr = wsip_msg_from(m, &r);
    const struct wsip_addr *to = wsip_msg_to(m, &r);
    const struct wsip_cseq *cs = wsip_msg_cseq(m, &r);
    if (!v || !fr || !to || !cs) {
        snprintf(why, whycap, "wsip: %s missing or bad (%s)",
                 !v    ? "Via"
                 : !fr ? "From"
                 : !to ? "To"
                       : "CSeq",
                 r ? r : "?");
        wsip_msg_unref(m);
        return -1;
    }
    struct wsip_str cid = wsip_msg_call_id(m);
    copy_view(f->call_id, sizeof f->call_id, cid.p, cid.len);
    f->cseq = cs->num;
    copy_view(f->branch, sizeof f->branch, v->branch.p, v->branch.len);
    f->has_from_tag = fr->has_tag;
    copy_view(f->from_tag, sizeof f->from_tag, fr->tag.p, fr->tag.len);
    f->has_to_tag = to->has_tag;
    copy_view(f->to_tag, sizeof f->to_tag, to->tag.p, to->tag.len);
    f->max_forwards = wsip_msg_max_forwards(m);
    if (f->max_forwards < -1) {
        snprintf(why, whycap, "wsip: Max-Forwards malformed");
        wsip_msg_unref(m);
        return -1;
    }
    struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_ROUTE);
    const struct wsip_addr *a = h ? wsip_hdr_addr(m, h, &r) : NULL;
    f->has_route = a != NULL;
    if (h && !a) {
        snprintf(why, whycap, "wsip: Route bad (%s)", r ? r : "?");
        wsip_msg_unref(m);
        return -1;
    }
    if (a)
        copy_view(f->route_host, sizeof f->route_host, a->uri.host.p, a->uri.host.len);
    h = wsip_msg_hdr(m, WSIP_HDR_CONTACT);
    a = h ? wsip_hdr_addr(m, h, &r) : NULL;
    if (h && !a) {
        snprintf(why, whycap, "wsip: Contact bad (%s)", r ? r : "?");
        wsip_msg_unref(m);
        return -1;
    }
    f->has_contact = a != NULL;
    if (a)
        copy_view(f->contact_host, sizeof f->contact_host, a->uri.host.p, a->uri.host.len);
    f->clen = m->has_clen ? (long)m->clen : -1;
    f->body_len = m->body.len;
    wsip_msg_unref(m);
    return 0;
}

/* libosip2 */
static int fields_osip(const struct bmsg *b, struct fields *f, char *why, size_t whycap)
{
    osip_message_t *sip = NULL;
    if (osip_message_init(&sip) != 0)
        die("osip_message_init failed");
    int rc = osip_message_parse(sip, b->p, b->len);
    if (rc != 0) {
        snprintf(why, whycap, "osip_message_parse rc=%d", rc);
        osip_message_free(sip);
        return -1;
    }
    osip_via_t *v = NULL;
    osip_generic_param_t *br = NULL, *ft = NULL, *tt = NULL;
    osip_message_get_via(sip, 0, &v);
    if (!v || !sip->from || !sip->to || !sip->call_id || !sip->cseq || !sip->cseq->number) {
        snprintf(why, whycap, "osip2: %s missing",
                 !v           ? "Via"
                 : !sip->from ? "From"
                 : !sip->to   ? "To"
                 : !sip->cseq ? "CSeq"
                              : "Call-ID");
        osip_message_free(sip);
        return -1;
    }
    osip_via_param_get_byname(v, "branch", &br);
    osip_from_get_tag(sip->from, &ft);
    osip_to_get_tag(sip->to, &tt);
    if (sip->call_id->host)
        snprintf(f->call_id, sizeof f->call_id, "%s@%s", sip->call_id->number, sip->call_id->host);
    else
        copy_cstr(f->call_id, sizeof f->call_id, sip->call_id->number);
    f->cseq = (uint32_t)strtoul(sip->cseq->number, NULL, 10);
    copy_cstr(f->branch, sizeof f->branch, br ? br->gvalue : NULL);
    f->has_from_tag = ft != NULL;
    copy_cstr(f->from_tag, sizeof f->from_tag, ft ? ft->gvalue : NULL);
    f->has_to_tag = tt != NULL;
    copy_cstr(f->to_tag, sizeof f->to_tag, tt ? tt->gvalue : NULL);
    osip_header_t *mf = NULL;
    osip_message_get_max_forwards(sip, 0, &mf);
    f->max_forwards = mf && mf->hvalue ? strtol(mf->hvalue, NULL, 10) : -1;
    osip_route_t *rt = NULL;
    osip_message_get_route(sip, 0, &rt);
    f->has_route = rt != NULL;
    copy_cstr(f->route_host, sizeof f->route_host, rt && rt->url ? rt->url->host : NULL);
    osip_contact_t *ct = NULL;
    osip_message_get_contact(sip, 0, &ct);
    f->has_contact = ct != NULL;
    copy_cstr(f->contact_host, sizeof f->contact_host, ct && ct->url ? ct->url->host : NULL);
    f->clen = sip->content_length && sip->content_length->value
                  ? strtol(sip->content_length->value, NULL, 10)
                  : -1;
    osip_body_t *body = NULL;
    osip_message_get_body(sip, 0, &body);
    f->body_len = body ? body->length : 0;
    osip_message_free(sip);
    return 0;
}

/* sofia-sip */
static int fields_sofia(const struct bmsg *b, struct fields *f, char *why, size_t whycap)
{
    msg_t *msg = msg_make(sip_default_mclass(), 0, b->p, (ssize_t)b->len);
    if (!msg) {
        snprintf(why, whycap, "msg_make returned NULL");
        return -1;
    }
    sip_t *sip = sip_object(msg);
    if (!sip || msg_has_error(msg) || sip->sip_error) {
        snprintf(why, whycap, "sofia: parse error%s%s", sip && sip->sip_error ? " in header " : "",
                 sip && sip->sip_error && sip->sip_error->er_name ? sip->sip_error->er_name : "");
        msg_destroy(msg);
        return -1;
    }
    if (!sip->sip_via || !sip->sip_from || !sip->sip_to || !sip->sip_call_id || !sip->sip_cseq) {
        snprintf(why, whycap, "sofia: %s missing",
                 !sip->sip_via       ? "Via"
                 : !sip->sip_from    ? "From"
                 : !sip->sip_to      ? "To"
                 : !sip->sip_call_id ? "Call-ID"
                                     : "CSeq");
        msg_destroy(msg);
        return -1;
    }
    copy_cstr(f->call_id, sizeof f->call_id, sip->sip_call_id->i_id);
    f->cseq = sip->sip_cseq->cs_seq;
    copy_cstr(f->branch, sizeof f->branch, sip->sip_via->v_branch);
    f->has_from_tag = sip->sip_from->a_tag != NULL;
    copy_cstr(f->from_tag, sizeof f->from_tag, sip->sip_from->a_tag);
    f->has_to_tag = sip->sip_to->a_tag != NULL;
    copy_cstr(f->to_tag, sizeof f->to_tag, sip->sip_to->a_tag);
    f->max_forwards = sip->sip_max_forwards ? (long)sip->sip_max_forwards->mf_count : -1;
    f->has_route = sip->sip_route != NULL;
    copy_cstr(f->route_host, sizeof f->route_host,
              sip->sip_route ? sip->sip_route->r_url->url_host : NULL);
    f->has_contact = sip->sip_contact != NULL;
    copy_cstr(f->contact_host, sizeof f->contact_host,
              sip->sip_contact ? sip->sip_contact->m_url->url_host : NULL);
    f->clen = sip->sip_content_length ? (long)sip->sip_content_length->l_length : -1;
    f->body_len = sip->sip_payload ? sip->sip_payload->pl_len : 0;
    msg_destroy(msg);
    return 0;
}

/* ----------------------------------------------------- the timed passes */

/* Folds the fields read into a value the compiler cannot drop. */
static inline uint64_t mix(uint64_t acc, uint64_t v)
{
    return (acc ^ v) * 0x100000001b3u;
}

static inline uint64_t first_byte(const char *s)
{
    return s ? (unsigned char)s[0] : 0;
}

static inline uint64_t first_byte_view(struct wsip_str s)
{
    return s.len ? (unsigned char)s.p[0] : 0;
}

static void pass_failed(const char *parser, const struct bmsg *b)
{
    die("%s failed on %s during timing (it passed the check)", parser, b->name);
}

BENCH_PASS uint64_t bench_pass_wsip(const struct bmsg *msgs, size_t n);
BENCH_PASS uint64_t bench_pass_osip2(const struct bmsg *msgs, size_t n);
BENCH_PASS uint64_t bench_pass_sofia(const struct bmsg *msgs, size_t n);

BENCH_PASS uint64_t bench_pass_wsip(const struct bmsg *msgs, size_t n)
{
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        const struct bmsg *b = &msgs[i];
        struct wsip_msg *m;
        size_t consumed;
        struct wsip_sip_err err;
        if (wsip_msg_parse(&m, NULL, b->p, b->len, WSIP_FRAMING_DATAGRAM, &g_lim, &consumed,
                           &err) != WSIP_PARSE_OK)
            pass_failed("wsip", b);
        const struct wsip_via *v = wsip_msg_top_via(m, NULL);
        const struct wsip_addr *fr = wsip_msg_from(m, NULL);
        const struct wsip_addr *to = wsip_msg_to(m, NULL);
        const struct wsip_cseq *cs = wsip_msg_cseq(m, NULL);
        if (!v || !fr || !to || !cs)
            pass_failed("wsip", b);
        acc = mix(acc, first_byte_view(v->branch));
        acc = mix(acc, first_byte_view(fr->tag));
        acc = mix(acc, first_byte_view(to->tag));
        acc = mix(acc, first_byte_view(wsip_msg_call_id(m)));
        acc = mix(acc, cs->num);
        acc = mix(acc, (uint64_t)wsip_msg_max_forwards(m));
        struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_ROUTE);
        if (h) {
            const struct wsip_addr *a = wsip_hdr_addr(m, h, NULL);
            acc = mix(acc, a ? first_byte_view(a->uri.host) : 1);
        }
        h = wsip_msg_hdr(m, WSIP_HDR_CONTACT);
        if (h) {
            const struct wsip_addr *a = wsip_hdr_addr(m, h, NULL);
            acc = mix(acc, a ? first_byte_view(a->uri.host) : 1);
        }
        acc = mix(acc, m->clen);
        wsip_msg_unref(m);
    }
    return acc;
}

BENCH_PASS uint64_t bench_pass_osip2(const struct bmsg *msgs, size_t n)
{
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        const struct bmsg *b = &msgs[i];
        osip_message_t *sip;
        if (osip_message_init(&sip) != 0 || osip_message_parse(sip, b->p, b->len) != 0)
            pass_failed("osip2", b);
        osip_via_t *v = NULL;
        osip_generic_param_t *br = NULL, *ft = NULL, *tt = NULL;
        osip_message_get_via(sip, 0, &v);
        if (!v || !sip->from || !sip->to || !sip->call_id || !sip->cseq)
            pass_failed("osip2", b);
        osip_via_param_get_byname(v, "branch", &br);
        osip_from_get_tag(sip->from, &ft);
        osip_to_get_tag(sip->to, &tt);
        acc = mix(acc, br ? first_byte(br->gvalue) : 0);
        acc = mix(acc, ft ? first_byte(ft->gvalue) : 0);
        acc = mix(acc, tt ? first_byte(tt->gvalue) : 0);
        acc = mix(acc, first_byte(sip->call_id->number));
        /* osip2 keeps numbers as strings: convert, as a user would */
        acc = mix(acc, strtoul(sip->cseq->number, NULL, 10));
        osip_header_t *mf = NULL;
        osip_message_get_max_forwards(sip, 0, &mf);
        acc = mix(acc, mf && mf->hvalue ? (uint64_t)strtol(mf->hvalue, NULL, 10) : UINT64_MAX);
        osip_route_t *rt = NULL;
        if (osip_message_get_route(sip, 0, &rt) >= 0 && rt)
            acc = mix(acc, rt->url ? first_byte(rt->url->host) : 1);
        osip_contact_t *ct = NULL;
        if (osip_message_get_contact(sip, 0, &ct) >= 0 && ct)
            acc = mix(acc, ct->url ? first_byte(ct->url->host) : 1);
        if (sip->content_length && sip->content_length->value)
            acc = mix(acc, strtoul(sip->content_length->value, NULL, 10));
        osip_message_free(sip);
    }
    return acc;
}

BENCH_PASS uint64_t bench_pass_sofia(const struct bmsg *msgs, size_t n)
{
    uint64_t acc = 0;
    msg_mclass_t const *mc = sip_default_mclass();
    for (size_t i = 0; i < n; i++) {
        const struct bmsg *b = &msgs[i];
        msg_t *msg = msg_make(mc, 0, b->p, (ssize_t)b->len);
        sip_t *sip = msg ? sip_object(msg) : NULL;
        if (!sip || !sip->sip_via || !sip->sip_from || !sip->sip_to || !sip->sip_call_id ||
            !sip->sip_cseq)
            pass_failed("sofia", b);
        acc = mix(acc, first_byte(sip->sip_via->v_branch));
        acc = mix(acc, first_byte(sip->sip_from->a_tag));
        acc = mix(acc, first_byte(sip->sip_to->a_tag));
        acc = mix(acc, first_byte(sip->sip_call_id->i_id));
        acc = mix(acc, sip->sip_cseq->cs_seq);
        acc = mix(acc, sip->sip_max_forwards ? sip->sip_max_forwards->mf_count : UINT64_MAX);
        if (sip->sip_route)
            acc = mix(acc, first_byte(sip->sip_route->r_url->url_host));
        if (sip->sip_contact)
            acc = mix(acc, first_byte(sip->sip_contact->m_url->url_host));
        if (sip->sip_content_length)
            acc = mix(acc, sip->sip_content_length->l_length);
        msg_destroy(msg);
    }
    return acc;
}

/* --------------------------------------------------------------- parsers */

typedef uint64_t (*pass_fn)(const struct bmsg *msgs, size_t n);
typedef int (*fields_fn)(const struct bmsg *b, struct fields *f, char *why, size_t whycap);

struct parser {
    const char *name;
    pass_fn pass;
    fields_fn fields;
    bool enabled;
    uint64_t iters;   /* passes per round */
    uint64_t parses;  /* messages parsed by pass(), all calls (callgrind accounting) */
    double *round_ns; /* ns per message, one per round (the --clock chosen) */
    size_t nrounds;
    uint64_t wall_ns, cpu_ns; /* totals over the timed rounds */
};

static struct parser g_parsers[] = {
    {.name = "wsip", .pass = bench_pass_wsip, .fields = fields_wsip},
    {.name = "osip2", .pass = bench_pass_osip2, .fields = fields_osip},
    {.name = "sofia", .pass = bench_pass_sofia, .fields = fields_sofia},
};
#define NPARSERS (sizeof g_parsers / sizeof g_parsers[0])

static volatile uint64_t g_sink;
static bool g_cpu_clock; /* --clock cpu: time rounds with the thread's CPU time */

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct elapsed {
    uint64_t wall, cpu;
};

/* Runs iters passes of p over msgs[0..n) and returns the elapsed time. */
static struct elapsed run_passes(struct parser *p, const struct bmsg *msgs, size_t n,
                                 uint64_t iters)
{
    uint64_t acc = 0;
    uint64_t c0 = cpu_ns(), t0 = now_ns();
    for (uint64_t i = 0; i < iters; i++)
        acc += p->pass(msgs, n);
    uint64_t t1 = now_ns(), c1 = cpu_ns();
    g_sink += acc;
    p->parses += iters * n;
    return (struct elapsed){t1 - t0, c1 - c0};
}

/* ------------------------------------------------------- correctness */

static bool check_agree(const struct corpus *c);

/* --inspect: what each parser makes of one file. */
static int inspect(const char *path)
{
    struct corpus c = {0};
    char dir[4096];
    copy_cstr(dir, sizeof dir, path);
    char *slash = strrchr(dir, '/');
    const char *file = path;
    if (slash) {
        *slash = '\0';
        file = slash + 1;
    } else {
        copy_cstr(dir, sizeof dir, ".");
    }
    corpus_add_file(&c, dir, "file", file);
    printf("%s (%zu bytes)\n", path, c.m[0].len);
    for (size_t k = 0; k < NPARSERS; k++) {
        struct fields f;
        char why[256] = "";
        memset(&f, 0, sizeof f);
        if (g_parsers[k].fields(&c.m[0], &f, why, sizeof why) != 0) {
            printf("  %-6s REJECTS: %s\n", g_parsers[k].name, why);
            continue;
        }
        printf("  %-6s call-id=%s cseq=%" PRIu32 " branch=%s from-tag=%s to-tag=%s "
               "max-forwards=%ld route-host=%s contact-host=%s content-length=%ld body=%zu\n",
               g_parsers[k].name, f.call_id, f.cseq, f.branch, f.has_from_tag ? f.from_tag : "-",
               f.has_to_tag ? f.to_tag : "-", f.max_forwards, f.has_route ? f.route_host : "-",
               f.has_contact ? f.contact_host : "-", f.clen, f.body_len);
    }
    fflush(stdout);
    bool ok = check_agree(&c);
    printf("%s\n", ok ? "all parsers accept it and agree" : "see CHECK FAILED above");
    corpus_free(&c);
    return ok ? 0 : 1;
}

static bool check_agree(const struct corpus *c)
{
    bool ok = true;
    for (size_t i = 0; i < c->n; i++) {
        const struct bmsg *b = &c->m[i];
        struct fields f[NPARSERS];
        bool have[NPARSERS] = {false};
        size_t ref = NPARSERS;
        for (size_t k = 0; k < NPARSERS; k++) {
            char why[256] = "";
            memset(&f[k], 0, sizeof f[k]);
            if (g_parsers[k].fields(b, &f[k], why, sizeof why) != 0) {
                fprintf(stderr, "CHECK FAILED: %s rejects %s: %s\n", g_parsers[k].name, b->name,
                        why);
                ok = false;
                continue;
            }
            have[k] = true;
            if (ref == NPARSERS)
                ref = k;
        }
        if (ref == NPARSERS)
            continue;
        for (size_t k = ref + 1; k < NPARSERS; k++) {
            if (!have[k])
                continue;
            const struct fields *x = &f[ref], *y = &f[k];
            const char *what = NULL;
            if (strcmp(x->call_id, y->call_id) != 0)
                what = "Call-ID";
            else if (x->cseq != y->cseq)
                what = "CSeq number";
            else if (strcmp(x->branch, y->branch) != 0)
                what = "Via branch";
            else if (x->has_from_tag != y->has_from_tag || strcmp(x->from_tag, y->from_tag))
                what = "From tag";
            else if (x->has_to_tag != y->has_to_tag || strcmp(x->to_tag, y->to_tag))
                what = "To tag";
            else if (x->max_forwards != y->max_forwards)
                what = "Max-Forwards";
            else if (x->has_route != y->has_route || strcmp(x->route_host, y->route_host))
                what = "first Route host";
            else if (x->has_contact != y->has_contact || strcmp(x->contact_host, y->contact_host))
                what = "first Contact host";
            /* libosip2 reports "Content-Length: 0" for a message without
               one (all such messages here have no body): compare an absent
               header as 0, and the body length on its own. */
            else if ((x->clen < 0 ? 0 : x->clen) != (y->clen < 0 ? 0 : y->clen))
                what = "Content-Length";
            else if (x->body_len != y->body_len)
                what = "body length";
            if (what) {
                fprintf(stderr,
                        "CHECK FAILED: %s: %s and %s disagree on %s\n"
                        "  %s: call-id=%s cseq=%" PRIu32 " branch=%s ftag=%s ttag=%s mf=%ld "
                        "route=%s contact=%s clen=%ld body=%zu\n"
                        "  %s: call-id=%s cseq=%" PRIu32 " branch=%s ftag=%s ttag=%s mf=%ld "
                        "route=%s contact=%s clen=%ld body=%zu\n",
                        b->name, g_parsers[ref].name, g_parsers[k].name, what, g_parsers[ref].name,
                        x->call_id, x->cseq, x->branch, x->from_tag, x->to_tag, x->max_forwards,
                        x->route_host, x->contact_host, x->clen, x->body_len, g_parsers[k].name,
                        y->call_id, y->cseq, y->branch, y->from_tag, y->to_tag, y->max_forwards,
                        y->route_host, y->contact_host, y->clen, y->body_len);
                ok = false;
            }
        }
    }
    return ok;
}

/* ----------------------------------------------------------------- main */

struct opts {
    const char *corpus;
    const char *data;
    unsigned rounds;
    double round_ms;
    double warmup_ms;
    bool warmup_set;
    uint64_t iterations; /* 0: calibrate */
    double max_seconds;
    int cpu;
    bool per_message;
    bool verbose;
    const char *inspect;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: parse_bench [options] [CORPUS_DIR]\n"
            "Parses flows/rfc3261/*.sip, flows/rfc7118/*.sip (CORPUS_DIR, default %s)\n"
            "and the JsSIP messages of --data with wsip, libosip2 and sofia-sip.\n"
            "  --rounds R        timed rounds per parser, interleaved (default 41)\n"
            "  --round-ms MS     target length of one round of one parser (default 50)\n"
            "  --iterations N    passes over the message set per round; no calibration\n"
            "  --warmup-ms MS    warm-up per parser before timing (default 200; 0 with\n"
            "                    --iterations unless given)\n"
            "  --quick           --rounds 7 --round-ms 15 --warmup-ms 30\n"
            "  --only LIST       comma-separated subset of wsip,osip2,sofia\n"
            "  --data DIR        where jssip-register.sip / jssip-invite.sip are\n"
            "                    (default %s)\n"
            "  --per-message     also time every message on its own\n"
            "  --max-seconds S   start no new round after S seconds (default 40)\n"
            "  --cpu N           pin the process to CPU N\n"
            "  --clock wall|cpu  time rounds with CLOCK_MONOTONIC (wall, default) or\n"
            "                    with the thread's CPU time (ignores time descheduled)\n"
            "  --verbose         print every round\n"
            "  --inspect FILE    print what each parser reads from FILE, then exit\n",
            BENCH_CORPUS_DIR, BENCH_DATA_DIR);
}

static double parse_num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s ? s : "", &end);
    if (!s || errno || end == s || *end || v < lo || v > hi)
        die("%s: bad value '%s' (want %g..%g)", opt, s ? s : "", lo, hi);
    return v;
}

static void parse_only(const char *list)
{
    for (size_t k = 0; k < NPARSERS; k++)
        g_parsers[k].enabled = false;
    char buf[128];
    copy_cstr(buf, sizeof buf, list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        size_t k = 0;
        while (k < NPARSERS && strcmp(g_parsers[k].name, t) != 0)
            k++;
        if (k == NPARSERS)
            die("--only: unknown parser '%s' (wsip, osip2, sofia)", t);
        g_parsers[k].enabled = true;
    }
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.corpus = BENCH_CORPUS_DIR,
                       .data = BENCH_DATA_DIR,
                       .rounds = 41,
                       .round_ms = 50,
                       .warmup_ms = 200,
                       .max_seconds = 40,
                       .cpu = -1};
    for (size_t k = 0; k < NPARSERS; k++)
        g_parsers[k].enabled = true;
    bool corpus_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--rounds")) {
            o->rounds = (unsigned)parse_num(a, v, 1, 1000), i++;
        } else if (!strcmp(a, "--round-ms")) {
            o->round_ms = parse_num(a, v, 1, 10000), i++;
        } else if (!strcmp(a, "--iterations")) {
            o->iterations = (uint64_t)parse_num(a, v, 1, 1e8), i++;
        } else if (!strcmp(a, "--warmup-ms")) {
            o->warmup_ms = parse_num(a, v, 0, 10000), o->warmup_set = true, i++;
        } else if (!strcmp(a, "--quick")) {
            o->rounds = 7, o->round_ms = 15, o->warmup_ms = 30, o->warmup_set = true;
        } else if (!strcmp(a, "--only")) {
            if (!v)
                die("--only needs a value");
            parse_only(v), i++;
        } else if (!strcmp(a, "--data")) {
            if (!v)
                die("--data needs a value");
            o->data = v, i++;
        } else if (!strcmp(a, "--per-message")) {
            o->per_message = true;
        } else if (!strcmp(a, "--max-seconds")) {
            o->max_seconds = parse_num(a, v, 0.1, 3600), i++;
        } else if (!strcmp(a, "--cpu")) {
            o->cpu = (int)parse_num(a, v, 0, 4095), i++;
        } else if (!strcmp(a, "--clock")) {
            if (!v || (strcmp(v, "wall") && strcmp(v, "cpu")))
                die("--clock: want wall or cpu");
            g_cpu_clock = !strcmp(v, "cpu"), i++;
        } else if (!strcmp(a, "--inspect")) {
            if (!v)
                die("--inspect needs a file");
            o->inspect = v, i++;
        } else if (!strcmp(a, "--verbose")) {
            o->verbose = true;
        } else if (a[0] == '-') {
            usage(stderr);
            die("unknown option %s", a);
        } else if (!corpus_set) {
            o->corpus = a, corpus_set = true;
        } else {
            usage(stderr);
            die("more than one corpus directory");
        }
    }
    if (o->iterations && !o->warmup_set)
        o->warmup_ms = 0;
}

/* Warms p up for ms milliseconds, then (if iters is 0) picks the number of
 * passes that makes a round last about round_ms. */
static void warm_and_calibrate(struct parser *p, const struct bmsg *msgs, size_t n,
                               const struct opts *o, uint64_t fixed_iters)
{
    uint64_t deadline = now_ns() + (uint64_t)(o->warmup_ms * 1e6);
    if (o->warmup_ms > 0) {
        do
            run_passes(p, msgs, n, 1);
        while (now_ns() < deadline);
    }
    if (fixed_iters) {
        p->iters = fixed_iters;
        return;
    }
    /* measure at least 10 ms worth of passes */
    uint64_t iters = 1, el;
    for (;;) {
        struct elapsed e = run_passes(p, msgs, n, iters);
        el = g_cpu_clock ? e.cpu : e.wall;
        if (el >= 10000000u || iters >= (1u << 26))
            break;
        iters *= 2;
    }
    double per_pass = (double)el / (double)iters;
    double want = o->round_ms * 1e6 / (per_pass > 1 ? per_pass : 1);
    if (want < 1)
        want = 1;
    if (want > 1e8)
        want = 1e8;
    p->iters = (uint64_t)want;
}

/* Interleaved rounds over msgs[0..n): A B C, B C A, C A B, ... Returns the
 * number of rounds done (time-bounded). */
static size_t timed_rounds(const struct bmsg *msgs, size_t n, const struct opts *o,
                           uint64_t fixed_iters, uint64_t t_start, bool verbose)
{
    struct parser *act[NPARSERS];
    size_t na = 0;
    for (size_t k = 0; k < NPARSERS; k++) {
        struct parser *p = &g_parsers[k];
        if (!p->enabled)
            continue;
        act[na++] = p;
        free(p->round_ns);
        p->round_ns = calloc(o->rounds, sizeof *p->round_ns);
        if (!p->round_ns)
            die("out of memory");
        p->nrounds = 0;
        p->wall_ns = p->cpu_ns = 0;
        warm_and_calibrate(p, msgs, n, o, fixed_iters);
    }
    size_t r;
    for (r = 0; r < o->rounds; r++) {
        if (r > 0 && (double)(now_ns() - t_start) / 1e9 > o->max_seconds) {
            static bool told;
            if (!told)
                fprintf(stderr,
                        "parse_bench: time budget of %.0f s (--max-seconds) reached: %zu "
                        "round(s) done\n",
                        o->max_seconds, r);
            told = true;
            break;
        }
        for (size_t j = 0; j < na; j++) {
            struct parser *p = act[(r + j) % na];
            struct elapsed e = run_passes(p, msgs, n, p->iters);
            uint64_t el = g_cpu_clock ? e.cpu : e.wall;
            p->wall_ns += e.wall;
            p->cpu_ns += e.cpu;
            p->round_ns[p->nrounds++] = (double)el / ((double)p->iters * (double)n);
        }
        if (verbose) {
            fprintf(stderr, "round %2zu:", r + 1);
            for (size_t j = 0; j < na; j++)
                fprintf(stderr, "  %s %.1f ns/msg", act[j]->name, act[j]->round_ns[r]);
            fputc('\n', stderr);
        }
    }
    return r;
}

static double vmin(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static double vmax(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* Median over rounds of round_ns[k][r] / round_ns[wsip][r]. */
static double paired_ratio(size_t k, size_t rounds)
{
    struct parser *w = &g_parsers[0], *p = &g_parsers[k];
    size_t n = rounds < w->nrounds ? rounds : w->nrounds;
    n = n < p->nrounds ? n : p->nrounds;
    if (n == 0)
        return 0;
    double *r = malloc(n * sizeof *r);
    if (!r)
        die("out of memory");
    for (size_t i = 0; i < n; i++)
        r[i] = p->round_ns[i] / w->round_ns[i];
    double m = median(r, n);
    free(r);
    return m;
}

static void per_message_table(const struct corpus *c, const struct opts *o, uint64_t t_start)
{
    struct opts po = *o;
    po.rounds = o->rounds < 7 ? o->rounds : 7;
    po.round_ms = o->round_ms / 5 > 2 ? o->round_ms / 5 : 2;
    po.warmup_ms = 0;
    printf("\nper message (median of %u rounds, ns/msg, %s clock):\n", po.rounds,
           g_cpu_clock ? "cpu" : "wall");
    printf("%-34s %6s", "message", "bytes");
    for (size_t k = 0; k < NPARSERS; k++)
        if (g_parsers[k].enabled)
            printf(" %10s", g_parsers[k].name);
    printf("\n");
    for (size_t i = 0; i < c->n; i++) {
        timed_rounds(&c->m[i], 1, &po, o->iterations, t_start, false);
        printf("%-34s %6zu", c->m[i].name, c->m[i].len);
        for (size_t k = 0; k < NPARSERS; k++) {
            struct parser *p = &g_parsers[k];
            if (p->enabled)
                printf(" %10.1f", median(p->round_ns, p->nrounds));
        }
        printf("\n");
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    parse_args(argc, argv, &o);
    uint64_t t_start = now_ns();

    if (o.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            die("--cpu %d: %s", o.cpu, strerror(errno));
    }

    wsip_sip_limits_default(&g_lim);
    if (parser_init() != 0)
        die("osip2 parser_init failed");
    if (o.inspect)
        return inspect(o.inspect);

    struct corpus c = {0};
    char dir[4096];
    static const char *const skip_7118[] = {"8.2-F6-ACK.sip", NULL}; /* dangling comma */
    snprintf(dir, sizeof dir, "%s/flows/rfc3261", o.corpus);
    corpus_add_dir(&c, dir, "rfc3261", NULL);
    snprintf(dir, sizeof dir, "%s/flows/rfc7118", o.corpus);
    corpus_add_dir(&c, dir, "rfc7118", skip_7118);
    corpus_add_file(&c, o.data, "jssip", "jssip-register.sip");
    corpus_add_file(&c, o.data, "jssip", "jssip-invite.sip");

    /* Correctness first: every parser must accept every message and all
     * must read the same values. */
    if (!check_agree(&c))
        die("parsers disagree or reject a message: not timing (see above)");

    size_t na = 0;
    for (size_t k = 0; k < NPARSERS; k++)
        na += g_parsers[k].enabled;

    printf("parse_bench: %zu messages, %zu bytes (avg %.0f B), %zu parser(s); check passed "
           "(all three agree on every field)\n",
           c.n, c.bytes, (double)c.bytes / (double)c.n, na);
    fflush(stdout);

    size_t rounds = timed_rounds(c.m, c.n, &o, o.iterations, t_start, o.verbose);

    double med[NPARSERS] = {0};
    for (size_t k = 0; k < NPARSERS; k++)
        if (g_parsers[k].enabled)
            med[k] = median(g_parsers[k].round_ns, g_parsers[k].nrounds);
    double wsip_ns = g_parsers[0].enabled ? med[0] : 0;
    uint64_t wall_total = 0, cpu_total = 0;
    for (size_t k = 0; k < NPARSERS; k++)
        if (g_parsers[k].enabled)
            wall_total += g_parsers[k].wall_ns, cpu_total += g_parsers[k].cpu_ns;
    /* share of the timed wall time this thread was not running */
    double desched = wall_total > cpu_total && wall_total > 0
                         ? 100.0 * (double)(wall_total - cpu_total) / (double)wall_total
                         : 0;

    printf("\n%-8s %10s %10s %10s %12s %13s %9s %9s\n", "parser", "ns/msg", "min", "max", "msgs/s",
           "passes/round", "vs wsip", "paired");
    for (size_t k = 0; k < NPARSERS; k++) {
        struct parser *p = &g_parsers[k];
        if (!p->enabled)
            continue;
        char ratio[32] = "-", paired[32] = "-";
        if (wsip_ns > 0) {
            snprintf(ratio, sizeof ratio, "%.2fx", med[k] / wsip_ns);
            snprintf(paired, sizeof paired, "%.2fx", paired_ratio(k, rounds));
        }
        printf("%-8s %10.1f %10.1f %10.1f %12.0f %13" PRIu64 " %9s %9s\n", p->name, med[k],
               vmin(p->round_ns, p->nrounds), vmax(p->round_ns, p->nrounds), 1e9 / med[k], p->iters,
               ratio, paired);
    }
    printf("ns/msg, msgs/s: median of %zu interleaved rounds (min, max: fastest and slowest "
           "round).\n'vs wsip' = parser ns / wsip ns (>1: wsip is faster); 'paired' = median "
           "over rounds of\nthe same ratio within one round (less sensitive to load that "
           "changes between rounds).\n",
           rounds);
    printf("clock: %s; the thread was descheduled %.1f%% of the timed wall time.\n",
           g_cpu_clock ? "thread CPU time" : "CLOCK_MONOTONIC", desched);
    fflush(stdout);
    if (desched > 5)
        fprintf(stderr,
                "parse_bench: WARNING: the machine is busy (%.0f%% of the time descheduled): "
                "absolute figures are inflated and ratios noisy; rerun on a quiet machine, "
                "with more --rounds, or with --clock cpu\n",
                desched);

    if (o.per_message)
        per_message_table(&c, &o, t_start);

    /* machine-readable line */
    printf("\nbench=parse");
    for (size_t k = 0; k < NPARSERS; k++)
        if (g_parsers[k].enabled)
            printf(" %s_ns=%.1f", g_parsers[k].name, med[k]);
    double best_other = 0;
    for (size_t k = 1; k < NPARSERS; k++)
        if (g_parsers[k].enabled && (best_other == 0 || med[k] < best_other))
            best_other = med[k];
    if (wsip_ns > 0 && best_other > 0)
        printf(" ratio_best_other_over_wsip=%.2f", best_other / wsip_ns);
    printf(" messages=%zu rounds=%zu clock=%s descheduled_pct=%.1f\n", c.n, rounds,
           g_cpu_clock ? "cpu" : "wall", desched);

    /* for callgrind: how many message parses ran inside each pass function */
    for (size_t k = 0; k < NPARSERS; k++) {
        struct parser *p = &g_parsers[k];
        if (p->enabled && na == 1)
            fprintf(stderr,
                    "parse_bench: bench_pass_%s parsed %" PRIu64
                    " messages in all (divide callgrind's Ir by this)\n",
                    p->name, p->parses);
        free(p->round_ns);
    }
    corpus_free(&c);
    return 0;
}

/* Fuzz target: the header-value parsers that work on a single value: URI
 * (then its user unescaping and parameter iteration), name-addr, Via, CSeq,
 * Content-Type, Event, and the parameter iterator on the raw bytes. Every
 * view returned is read in full and checked to lie inside the input. URI
 * equality (RFC 3261 sec 19.1.4) is checked reflexive, and symmetric on the
 * two halves of the input. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsip/sip.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* replay (standalone.c): the shared corpus holds whole messages, whose
 * request lines and headers still make useful (if long) seeds */
const char *const wsip_fuzz_seed_exts[] = {".sip", NULL};

#define LOOP_GUARD 4096u

static volatile unsigned char sink;

static uintptr_t in_lo, in_hi;

static void touch(struct wsip_str s)
{
    if (s.len == 0)
        return;
    CHECK(s.p != NULL);
    CHECK((uintptr_t)s.p >= in_lo && s.len <= in_hi - (uintptr_t)s.p);
    unsigned char x = 0;
    for (size_t i = 0; i < s.len; i++)
        x ^= (unsigned char)s.p[i];
    sink = x;
}

static void exercise_params(struct wsip_str params)
{
    struct wsip_str p = params, name, value;
    bool bad = false;
    unsigned n = 0;
    for (;;) {
        size_t before = p.len;
        if (!wsip_param_next(&p, &name, &value, &bad))
            break;
        touch(name);
        touch(value);
        touch(p);
        CHECK(name.len > 0);
        CHECK(p.len < before);
        CHECK(++n < LOOP_GUARD);
    }
    if (bad)
        CHECK(p.len == 0);
    struct wsip_str v;
    if (wsip_param_find(params, "transport", &v))
        touch(v);
    if (wsip_param_find(params, "lr", NULL))
        sink = 1;
}

static void exercise_unescape(const struct wsip_uri *u, size_t cap)
{
    char *out = malloc(cap); /* exact size: a write past cap is caught */
    if (!out && cap)
        return;
    long n = wsip_uri_user_unescaped(u, out, cap);
    if (n >= 0 && cap > 0) { /* cap 0: an empty user gives 0, no NUL */
        CHECK((size_t)n < cap);
        CHECK(out[n] == '\0');
        CHECK((size_t)n <= u->user.len);
    }
    free(out);
}

static void exercise_uri(const struct wsip_uri *u)
{
    touch(u->raw);
    touch(u->scheme_str);
    touch(u->user);
    touch(u->password);
    touch(u->host);
    touch(u->params);
    touch(u->headers);
    touch(u->transport);
    touch(u->maddr);
    touch(u->user_param);
    if (u->host_type == WSIP_HOST_IPV6)
        CHECK(u->host.len >= 2 && u->host.p[0] == '[' && u->host.p[u->host.len - 1] == ']');
    if (u->scheme == WSIP_URI_SIP || u->scheme == WSIP_URI_SIPS)
        CHECK(u->host_type != WSIP_HOST_NONE && u->host.len > 0);
    exercise_params(u->params);
    exercise_unescape(u, 0);
    exercise_unescape(u, 2);
    exercise_unescape(u, u->user.len + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct wsip_str s = wsip_str_make(p, size);
    const char *reason = NULL;
    in_lo = (uintptr_t)p;
    in_hi = (uintptr_t)p + size;

    struct wsip_uri u;
    memset(&u, 0, sizeof(u));
    if (wsip_uri_parse(&u, p, size, &reason) == 0) {
        exercise_uri(&u);
        /* parsing is idempotent on what it kept */
        struct wsip_uri u2;
        CHECK(u.raw.len > 0);
        CHECK(wsip_uri_parse(&u2, u.raw.p, u.raw.len, &reason) == 0);
        CHECK(u2.scheme == u.scheme && u2.port == u.port && u2.has_port == u.has_port);
        CHECK(wsip_str_eq(u2.host, u.host) && wsip_str_eq(u2.user, u.user));
        CHECK(wsip_uri_equal(&u, &u2) && wsip_uri_equal(&u2, &u));
    } else {
        CHECK(reason != NULL);
    }
    /* two URIs: the input split at its first space */
    const char *sp = memchr(p, ' ', size);
    struct wsip_uri l, r;
    if (sp && wsip_uri_parse(&l, p, (size_t)(sp - p), NULL) == 0 &&
        wsip_uri_parse(&r, sp + 1, size - (size_t)(sp - p) - 1, NULL) == 0)
        CHECK(wsip_uri_equal(&l, &r) == wsip_uri_equal(&r, &l));

    struct wsip_addr a;
    reason = NULL;
    if (wsip_addr_parse(&a, s, &reason) == 0) {
        touch(a.display);
        touch(a.params);
        touch(a.tag);
        if (!a.star)
            exercise_uri(&a.uri);
        exercise_params(a.params);
    } else {
        CHECK(reason != NULL);
    }

    struct wsip_via v;
    reason = NULL;
    if (wsip_via_parse(&v, s, &reason) == 0) {
        touch(v.proto_name);
        touch(v.proto_version);
        touch(v.transport_str);
        touch(v.host);
        touch(v.params);
        touch(v.branch);
        touch(v.received);
        touch(v.maddr);
        CHECK(v.host.len > 0);
        CHECK(v.ttl >= -1 && v.ttl <= 255);
        exercise_params(v.params);
    } else {
        CHECK(reason != NULL);
    }

    struct wsip_cseq c;
    if (wsip_cseq_parse(&c, s, &reason) == 0) {
        touch(c.method);
        CHECK(c.num < 0x80000000u);
    }
    struct wsip_ctype ct;
    if (wsip_ctype_parse(&ct, s, &reason) == 0) {
        touch(ct.type);
        touch(ct.subtype);
        touch(ct.params);
        exercise_params(ct.params);
    }
    struct wsip_event ev;
    if (wsip_event_parse(&ev, s, &reason) == 0) {
        touch(ev.package);
        touch(ev.params);
        touch(ev.id);
        exercise_params(ev.params);
    }

    /* the iterator on arbitrary bytes */
    exercise_params(s);
    sink = (unsigned char)(wsip_method_from_str(s) + wsip_transport_from_str(s));
    return 0;
}

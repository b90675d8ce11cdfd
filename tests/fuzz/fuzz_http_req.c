/* Fuzz target: the HTTP request parser, then on what it accepts the
 * WebSocket handshake decision (two configurations), the response builders
 * and static-file resolution; also the resolver and base64 on the raw
 * input.
 *
 * Input: the bytes a connection has buffered. When the first byte is
 * >= 0xC0 it is a control byte and not part of the request: bits 0-1 pick
 * the limits (0 default, 1 small lines, 2 few headers and a small body
 * allowed, 3 all zero). Invariants checked: every view lies inside the
 * input; on OK, exactly the consumed bytes parse again to the same result
 * and one byte less is AGAIN; refusals carry a status the parser may give;
 * a resolved path stays under the root and is normalised. Invariant
 * failures call __builtin_trap(). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsip/http.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* replay (standalone.c): the shared corpus's handshakes are seeds */
const char *const wsip_fuzz_seed_exts[] = {".http", NULL};

#define ROOT "/srv/web"

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

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static void check_request(const struct wsip_http_req *r, size_t consumed, size_t len,
                          const struct wsip_http_limits *lim)
{
    CHECK(r->head_len <= consumed && consumed <= len);
    CHECK(consumed - r->head_len == r->body.len);
    CHECK(r->body.len <= lim->max_body);
    touch(r->method);
    touch(r->target);
    touch(r->path);
    touch(r->query);
    touch(r->body);
    CHECK(r->method.len > 0);
    CHECK(r->target.len > 0 && r->target.p[0] == '/');
    CHECK(r->path.p == r->target.p && r->path.len <= r->target.len);
    CHECK(memchr(r->path.p, '?', r->path.len) == NULL);
    if (r->path.len < r->target.len)
        CHECK(r->query.p == r->path.p + r->path.len + 1);
    CHECK(r->nhdrs <= lim->max_headers && r->nhdrs <= WSIP_HTTP_HEADERS_MAX);
    for (unsigned k = 0; k < r->nhdrs; k++) {
        const struct wsip_http_hdr *h = &r->hdrs[k];
        touch(h->name);
        touch(h->value);
        CHECK(h->name.len > 0);
        CHECK(memchr(h->name.p, ':', h->name.len) == NULL);
        for (size_t i = 0; i < h->value.len; i++)
            CHECK(h->value.p[i] != '\r' && h->value.p[i] != '\n' && h->value.p[i] != '\0');
        if (h->value.len)
            CHECK(!is_ows(h->value.p[0]) && !is_ows(h->value.p[h->value.len - 1]));
    }
    if (r->version_minor >= 1)
        CHECK(wsip_http_hdr_count(r, "Host") == 1);
    CHECK(wsip_http_hdr(r, "Transfer-Encoding") == NULL);
}

/* A response: one head ending in CRLFCRLF; Content-Length matches. */
static void check_response(const struct wsip_sbuf *b, bool head)
{
    if (b->oom)
        return;
    CHECK(b->p && b->len > 12 && memcmp(b->p, "HTTP/1.1 ", 9) == 0);
    const char *end = strstr(b->p, "\r\n\r\n");
    CHECK(end != NULL);
    size_t body = b->len - (size_t)(end + 4 - b->p);
    const char *cl = strstr(b->p, "\r\nContent-Length: ");
    if (cl && cl < end) {
        unsigned long v = strtoul(cl + 18, NULL, 10);
        CHECK(head ? body == 0 : v == body);
    } else {
        CHECK(memcmp(b->p, "HTTP/1.1 101 ", 13) == 0 && body == 0);
    }
}

static void check_resolve(struct wsip_str target, size_t cap)
{
    char *out = malloc(cap ? cap : 1); /* exact size: a write past cap is caught */
    if (!out)
        return;
    const char *mime = NULL;
    int rc = wsip_http_static_resolve(ROOT, target, out, cap, &mime);
    if (rc == 0) {
        size_t n = strlen(out);
        CHECK(n < cap);
        CHECK(mime != NULL);
        CHECK(strncmp(out, ROOT "/", sizeof(ROOT)) == 0);
        CHECK(strstr(out, "//") == NULL && strstr(out, "/./") == NULL);
        CHECK(strstr(out, "/../") == NULL && strstr(out, "/.") == NULL);
        CHECK(strchr(out, '\\') == NULL);
        for (size_t i = 0; i < n; i++)
            CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
        CHECK(out[n - 1] != '/');
    } else {
        CHECK(rc == 400 || rc == 403 || rc == 404 || rc == 414);
        CHECK(mime == NULL);
    }
    free(out);
}

static void exercise_handshake(const struct wsip_http_req *r)
{
    static const char *const origins[] = {"https://www.example.com", "http://localhost", NULL};
    struct wsip_ws_config cfgs[2];
    wsip_ws_config_default(&cfgs[0]);
    wsip_ws_config_default(&cfgs[1]);
    cfgs[1].path = "/ws";
    cfgs[1].origins = origins;
    for (int k = 0; k < 2; k++) {
        struct wsip_ws_decision d;
        int rc = wsip_ws_handshake(r, &cfgs[k], &d);
        CHECK((rc == 0) == (d.status == 101));
        CHECK(d.reason && d.detail);
        if (rc == 0) {
            CHECK(strlen(d.accept) == WSIP_WS_ACCEPT_LEN);
            CHECK(r->method_id == WSIP_HTTP_GET && r->version_minor >= 1);
            CHECK(wsip_http_hdr_has_token(r, "Sec-WebSocket-Protocol", "sip", false));
        } else {
            CHECK(d.status == 400 || d.status == 403 || d.status == 404 || d.status == 405 ||
                  d.status == 426);
        }
        struct wsip_sbuf b;
        wsip_sbuf_init(&b);
        CHECK(wsip_ws_handshake_response(&d, &b) == 0 || b.oom);
        check_response(&b, false);
        wsip_sbuf_free(&b);
    }
}

static void exercise_base64(const char *p, size_t len)
{
    if (len > 4096)
        return;
    unsigned char raw[3072];
    char enc[4104];
    long n = wsip_base64_decode(p, len, raw, sizeof(raw), WSIP_BASE64_CANONICAL);
    long m = wsip_base64_decode(p, len, raw, sizeof(raw), 0);
    if (n >= 0)
        CHECK(m == n);
    if (m >= 0) {
        CHECK((size_t)m <= len / 4 * 3);
        size_t e = wsip_base64_encode(raw, (size_t)m, enc, sizeof(enc));
        CHECK(e == len);
        /* a canonical encoding round-trips byte for byte */
        if (n >= 0)
            CHECK(memcmp(enc, p, len) == 0);
        CHECK(wsip_base64_decode(enc, e, raw, sizeof(raw), WSIP_BASE64_CANONICAL) == m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wsip_http_limits lim;
    wsip_http_limits_default(&lim);
    if (size > 0 && data[0] >= 0xC0) {
        switch (data[0] & 3) {
        case 1:
            lim.max_request_line = 24;
            lim.max_header_line = 16;
            lim.max_header_bytes = 64;
            break;
        case 2:
            lim.max_headers = 3;
            lim.max_body = 16;
            break;
        case 3: memset(&lim, 0, sizeof(lim)); break;
        }
        data++;
        size--;
    }
    const char *p = (const char *)data;
    in_lo = (uintptr_t)p;
    in_hi = (uintptr_t)p + size;

    static struct wsip_http_req req; /* 4 KiB: keep it off the stack */
    struct wsip_http_err err;
    size_t consumed = 12345;
    int rc = wsip_http_parse(&req, p, size, &lim, &consumed, &err);
    if (rc == WSIP_HTTP_OK) {
        check_request(&req, consumed, size, &lim);
        CHECK(err.status == 0);
        wsip_http_keep_alive(&req);
        enum wsip_http_route route = wsip_http_route(&req);
        CHECK(route == WSIP_ROUTE_WEBSOCKET || route == WSIP_ROUTE_STATIC ||
              route == WSIP_ROUTE_NOT_ALLOWED);
        exercise_handshake(&req);
        check_resolve(req.target, 64);
        check_resolve(req.target, 4096 + 64);

        struct wsip_sbuf b;
        wsip_sbuf_init(&b);
        const char *mime = wsip_http_mime_type(req.path);
        wsip_http_static_headers(&b, consumed, mime, wsip_http_keep_alive(&req));
        check_response(&b, true); /* the file follows the head */
        wsip_sbuf_free(&b);

        /* the same request alone parses the same; one byte less is a prefix */
        size_t head_len = req.head_len, nhdrs = req.nhdrs;
        size_t c2 = 0;
        CHECK(wsip_http_parse(&req, p, consumed, &lim, &c2, &err) == WSIP_HTTP_OK);
        CHECK(c2 == consumed && req.head_len == head_len && req.nhdrs == nhdrs);
        CHECK(wsip_http_parse(&req, p, consumed - 1, &lim, &c2, &err) == WSIP_HTTP_AGAIN);
    } else if (rc == WSIP_HTTP_AGAIN) {
        CHECK(consumed == 0);
    } else {
        CHECK(rc == WSIP_HTTP_BAD && consumed == 0);
        CHECK(err.status == 400 || err.status == 413 || err.status == 414 || err.status == 431 ||
              err.status == 501 || err.status == 505);
        CHECK(err.reason && *err.reason && err.detail && *err.detail);
        struct wsip_sbuf b;
        wsip_sbuf_init(&b);
        wsip_http_error_response(&b, err.status, err.reason, NULL, err.detail, false);
        check_response(&b, false);
        wsip_sbuf_free(&b);
    }

    /* the resolver and base64 on arbitrary bytes */
    check_resolve(wsip_str_make(p, size), 128);
    exercise_base64(p, size);
    return 0;
}

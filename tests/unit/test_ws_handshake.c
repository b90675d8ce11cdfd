/* WebSocket opening handshake (src/http/ws_handshake.c) and base64
 * (src/http/base64.c): the shared corpus handshakes and accept keys, then
 * every rule broken one at a time. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wsip/http.h"

#define RFC_KEY    "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static struct wsip_http_req req;
static char *copy;

static void teardown(void)
{
    free(copy);
    copy = NULL;
}

/* Parses an exact-size copy of s; the request must be well formed. */
static void parse_ok(const char *s, size_t n)
{
    free(copy);
    copy = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, s, n);
    struct wsip_http_err err;
    size_t consumed;
    int rc = wsip_http_parse(&req, copy, n, NULL, &consumed, &err);
    ck_assert_msg(rc == WSIP_HTTP_OK, "request did not parse: rc %d, %u %s\n%.*s", rc, err.status,
                  err.detail, (int)n, s);
    ck_assert_uint_eq(consumed, n);
}

/* Value of a header line "Name: value" in a raw message, or NULL. */
static char *raw_header(const char *msg, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\r\n%s: ", name);
    const char *h = strstr(msg, pat);
    if (!h)
        return NULL;
    h += strlen(pat);
    const char *e = strstr(h, "\r\n");
    ck_assert_ptr_nonnull(e);
    return strndup(h, (size_t)(e - h));
}

#define WANT_101                                                                                   \
    "HTTP/1.1 101 Switching Protocols\r\n"                                                         \
    "Upgrade: websocket\r\n"                                                                       \
    "Connection: Upgrade\r\n"                                                                      \
    "Sec-WebSocket-Accept: %s\r\n"                                                                 \
    "Sec-WebSocket-Protocol: sip\r\n\r\n"

/* Builds the response for d and checks it against the decision. */
static void check_response(const struct wsip_ws_decision *d)
{
    struct wsip_sbuf b;
    wsip_sbuf_init(&b);
    ck_assert_int_eq(wsip_ws_handshake_response(d, &b), 0);
    ck_assert_ptr_nonnull(b.p);
    if (d->status == 101) {
        char want[256];
        snprintf(want, sizeof(want), WANT_101, d->accept);
        ck_assert_str_eq(b.p, want);
        wsip_sbuf_free(&b);
        return;
    }
    char sl[80];
    snprintf(sl, sizeof(sl), "HTTP/1.1 %u %s\r\n", d->status, wsip_http_reason(d->status));
    ck_assert_msg(strncmp(b.p, sl, strlen(sl)) == 0, "expected status line '%s', got: %s", sl, b.p);
    const char *end = strstr(b.p, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);
    size_t body = b.len - (size_t)(end + 4 - b.p);
    char *cl = raw_header(b.p, "Content-Length");
    ck_assert_ptr_nonnull(cl);
    ck_assert_uint_eq(strtoul(cl, NULL, 10), body);
    ck_assert_uint_gt(body, 0);
    free(cl);
    ck_assert_msg(strstr(end, d->detail) != NULL, "body lacks '%s': %s", d->detail, end + 4);

    char *conn = raw_header(b.p, "Connection");
    char *ver = raw_header(b.p, "Sec-WebSocket-Version");
    char *upg = raw_header(b.p, "Upgrade");
    char *proto = raw_header(b.p, "Sec-WebSocket-Protocol");
    char *allow = raw_header(b.p, "Allow");
    ck_assert_ptr_null(raw_header(b.p, "Sec-WebSocket-Accept"));
    if (d->hdrs & WSIP_WS_HDR_VERSION) {
        ck_assert_str_eq(ver ? ver : "(none)", "13");
        ck_assert_str_eq(upg ? upg : "(none)", "websocket");
        ck_assert_str_eq(conn ? conn : "(none)", "Upgrade, close");
    } else {
        ck_assert_msg(!ver && !upg, "unexpected version/upgrade header in: %s", b.p);
        ck_assert_str_eq(conn ? conn : "(none)", "close");
    }
    if (d->hdrs & WSIP_WS_HDR_PROTOCOL)
        ck_assert_str_eq(proto ? proto : "(none)", "sip");
    else
        ck_assert_msg(!proto, "unexpected Sec-WebSocket-Protocol in: %s", b.p);
    if (d->hdrs & WSIP_WS_HDR_ALLOW)
        ck_assert_str_eq(allow ? allow : "(none)", "GET");
    else
        ck_assert_msg(!allow, "unexpected Allow in: %s", b.p);
    free(conn);
    free(ver);
    free(upg);
    free(proto);
    free(allow);
    wsip_sbuf_free(&b);
}

/* ---------------------------------------------------------- shared corpus */

/* The server file answering a client file: "-client-" -> "-server-", and
 * for RFC 7118 8.1 the flow number F1 -> F2. */
static char *server_file_for(const char *client)
{
    char *s = strdup(client);
    char *c = strstr(s, "F1-client-handshake");
    if (c)
        memcpy(c, "F2-server", 9);
    else if ((c = strstr(s, "-client-handshake")))
        memcpy(c, "-server", 7);
    ck_assert_ptr_nonnull(c);
    return s;
}

START_TEST(corpus_handshakes)
{
    glob_t g;
    ck_assert_int_eq(glob(corpus_path("websocket/*-client-handshake.http"), 0, NULL, &g), 0);
    ck_assert_uint_ge(g.gl_pathc, 3);
    unsigned n101 = 0, n400 = 0;
    for (size_t k = 0; k < g.gl_pathc; k++) {
        size_t clen, slen;
        char *client = read_file(g.gl_pathv[k], &clen);
        char *sname = server_file_for(g.gl_pathv[k]);
        char *server = read_file(sname, &slen);
        parse_ok(client, clen);
        ck_assert_int_eq(wsip_http_route(&req), WSIP_ROUTE_WEBSOCKET);

        char *accept = raw_header(server, "Sec-WebSocket-Accept");
        char *proto = raw_header(server, "Sec-WebSocket-Protocol");
        ck_assert_ptr_nonnull(accept);
        ck_assert_ptr_nonnull(proto);
        /* the key computation, whatever the decision */
        char acc[WSIP_WS_ACCEPT_LEN + 1];
        ck_assert_int_eq(wsip_ws_accept_key(wsip_http_hdr(&req, "Sec-WebSocket-Key")->value, acc),
                         0);
        ck_assert_str_eq(acc, accept);

        struct wsip_ws_decision d;
        int rc = wsip_ws_handshake(&req, NULL, &d);
        if (strcmp(proto, "sip") == 0) {
            ck_assert_msg(rc == 0 && d.status == 101, "%s: expected 101, got %u (%s)",
                          g.gl_pathv[k], d.status, d.detail);
            ck_assert_str_eq(d.accept, accept);
            /* byte for byte the RFC's server handshake */
            struct wsip_sbuf b;
            wsip_sbuf_init(&b);
            ck_assert_int_eq(wsip_ws_handshake_response(&d, &b), 0);
            ck_assert_msg(b.len == slen && memcmp(b.p, server, slen) == 0,
                          "%s: response differs from %s:\n%s", g.gl_pathv[k], sname, b.p);
            wsip_sbuf_free(&b);
            n101++;
        } else {
            /* RFC 6455 1.2 offers "chat, superchat": wsip speaks only sip */
            ck_assert_msg(rc == -1 && d.status == 400 && d.hdrs == WSIP_WS_HDR_PROTOCOL,
                          "%s: expected 400 naming sip, got %u hdrs %u (%s)", g.gl_pathv[k],
                          d.status, d.hdrs, d.detail);
            check_response(&d);
            /* still 400 (not 404) when the path matches: protocol is checked first */
            struct wsip_ws_config cfg;
            wsip_ws_config_default(&cfg);
            ck_assert_int_eq(wsip_ws_handshake(&req, &cfg, &d), -1);
            ck_assert_uint_eq(d.status, 400);
            cfg.path = "/chat";
            wsip_ws_handshake(&req, &cfg, &d);
            ck_assert_uint_eq(d.status, 400);
            n400++;
        }
        free(accept);
        free(proto);
        free(client);
        free(server);
        free(sname);
    }
    ck_assert_uint_ge(n101, 2);
    ck_assert_uint_ge(n400, 1);
    globfree(&g);

    /* RFC 6455 1.3 has only the server side: the RFC key gives its accept */
    size_t slen;
    char *server = read_file(corpus_path("websocket/rfc6455-1.3-server-handshake.http"), &slen);
    char *accept = raw_header(server, "Sec-WebSocket-Accept");
    char acc[WSIP_WS_ACCEPT_LEN + 1];
    ck_assert_int_eq(wsip_ws_accept_key(wsip_str_cstr(RFC_KEY), acc), 0);
    ck_assert_str_eq(acc, accept ? accept : "(none)");
    free(accept);
    free(server);
}
END_TEST

static char *request_with_key(const char *key)
{
    char *s = NULL;
    ck_assert_int_ge(asprintf(&s,
                              "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                              "Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n",
                              key),
                     0);
    return s;
}

START_TEST(corpus_accept_keys)
{
    struct tsv_row *rows;
    int n = tsv_read(corpus_path("websocket/accept-keys.tsv"), &rows);
    ck_assert_int_ge(n, 12);
    int accepted = 0, refused = 0;
    for (int k = 0; k < n; k++) {
        ck_assert_int_ge(rows[k].n, 4);
        const char *key = rows[k].f[0], *want = rows[k].f[1], *dlen = rows[k].f[2];
        char acc[WSIP_WS_ACCEPT_LEN + 1];
        ck_assert_int_eq(wsip_ws_accept_key(wsip_str_cstr(key), acc), 0);
        ck_assert_msg(strcmp(acc, want) == 0, "key %s: expected accept %s, got %s", key, want, acc);

        char *s = request_with_key(key);
        parse_ok(s, strlen(s));
        struct wsip_ws_decision d;
        int rc = wsip_ws_handshake(&req, NULL, &d);
        if (strcmp(dlen, "16") == 0) {
            /* includes the RFC 6455 4.1 key with non-zero pad bits: tolerated */
            ck_assert_msg(rc == 0 && d.status == 101, "key %s (%s): expected 101, got %u (%s)", key,
                          rows[k].f[3], d.status, d.detail);
            ck_assert_str_eq(d.accept, want);
            accepted++;
        } else {
            ck_assert_msg(rc == -1 && d.status == 400, "key %s: expected 400, got %u", key,
                          d.status);
            ck_assert_str_eq(d.detail, "Sec-WebSocket-Key is not 16 bytes in base64");
            refused++;
        }
        check_response(&d);
        free(s);

        /* the non-canonical key is exactly what a canonical decoder refuses */
        if (strcmp(rows[k].f[3], "non-canonical-pad-bits") == 0) {
            unsigned char raw[18];
            ck_assert_int_eq(wsip_base64_decode(key, strlen(key), raw, sizeof(raw), 0), 16);
            ck_assert_int_eq(
                wsip_base64_decode(key, strlen(key), raw, sizeof(raw), WSIP_BASE64_CANONICAL), -1);
        }
    }
    ck_assert_int_eq(refused, 2);
    ck_assert_int_eq(accepted, n - 2);
    tsv_free(rows, n);
}
END_TEST

/* ---------------------------------------------------- one rule at a time */

static const char *const base_hdrs[] = {
    "Host: sip-ws.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    ("Sec-WebSocket-Key: " RFC_KEY),
    "Origin: https://www.example.com",
    "Sec-WebSocket-Protocol: sip",
    "Sec-WebSocket-Version: 13",
};

struct hs_case {
    const char *line; /* request line; NULL: "GET / HTTP/1.1" */
    const char *drop; /* header name to leave out of the base request */
    const char *add;  /* extra header lines (CRLF-separated, no final CRLF) */
    unsigned status;
    unsigned hdrs;
};

static char *build(const struct hs_case *c)
{
    struct wsip_sbuf b;
    wsip_sbuf_init(&b);
    wsip_sbuf_printf(&b, "%s\r\n", c->line ? c->line : "GET / HTTP/1.1");
    for (size_t k = 0; k < sizeof(base_hdrs) / sizeof(base_hdrs[0]); k++) {
        size_t n = c->drop ? strlen(c->drop) : 0;
        if (n && strncmp(base_hdrs[k], c->drop, n) == 0 && base_hdrs[k][n] == ':')
            continue;
        wsip_sbuf_printf(&b, "%s\r\n", base_hdrs[k]);
    }
    if (c->add)
        wsip_sbuf_printf(&b, "%s\r\n", c->add);
    wsip_sbuf_puts(&b, "\r\n");
    ck_assert_int_eq(b.oom, 0);
    return b.p;
}

static void run_cases(const struct hs_case *cases, size_t n, const struct wsip_ws_config *cfg)
{
    for (size_t k = 0; k < n; k++) {
        char *s = build(&cases[k]);
        parse_ok(s, strlen(s));
        struct wsip_ws_decision d;
        memset(&d, 0x5a, sizeof(d));
        int rc = wsip_ws_handshake(&req, cfg, &d);
        ck_assert_msg(d.status == cases[k].status && d.hdrs == cases[k].hdrs &&
                          rc == (d.status == 101 ? 0 : -1),
                      "case %zu (%s / drop %s / add %s): expected %u hdrs %u, got %u hdrs %u rc %d "
                      "(%s)",
                      k, cases[k].line ? cases[k].line : "GET", cases[k].drop ? cases[k].drop : "-",
                      cases[k].add ? cases[k].add : "-", cases[k].status, cases[k].hdrs, d.status,
                      d.hdrs, rc, d.detail);
        ck_assert_str_eq(d.reason, wsip_http_reason(d.status));
        if (d.status == 101)
            ck_assert_str_eq(d.accept, RFC_ACCEPT);
        else
            ck_assert_str_eq(d.accept, "");
        check_response(&d);
        free(s);
    }
}

#define V  WSIP_WS_HDR_VERSION
#define P  WSIP_WS_HDR_PROTOCOL
#define AL WSIP_WS_HDR_ALLOW

START_TEST(rule_violations)
{
    static const struct hs_case cases[] = {
        {NULL, NULL, NULL, 101, 0},
        /* method, version */
        {"POST / HTTP/1.1", NULL, NULL, 405, AL},
        {"HEAD / HTTP/1.1", NULL, NULL, 405, AL},
        {"get / HTTP/1.1", NULL, NULL, 405, AL},
        {"GET / HTTP/1.0", NULL, NULL, 400, 0},
        {"GET / HTTP/1.2", NULL, NULL, 101, 0},
        /* Host */
        {NULL, "Host", "Host:", 400, 0},
        /* Upgrade */
        {NULL, "Upgrade", NULL, 400, 0},
        {NULL, "Upgrade", "Upgrade: h2c", 400, 0},
        {NULL, "Upgrade", "Upgrade: websocket/13", 400, 0},
        {NULL, "Upgrade", "Upgrade: WebSocket", 101, 0},
        {NULL, "Upgrade", "Upgrade: foo/1, websocket", 101, 0},
        {NULL, "Upgrade", "Upgrade: foo\r\nUpgrade: websocket", 101, 0},
        /* Connection */
        {NULL, "Connection", NULL, 400, 0},
        {NULL, "Connection", "Connection: keep-alive, Upgrade", 101, 0},
        {NULL, "Connection", "Connection: keep-alive,Upgrade", 101, 0},
        {NULL, "Connection", "Connection: upgrade", 101, 0},
        {NULL, "Connection", "Connection: keep-alive", 400, 0},
        {NULL, "Connection", "Connection: Upgrade2", 400, 0},
        {NULL, "Connection", "Connection: keep-alive Upgrade", 400, 0},
        {NULL, "Connection", "Connection: keep-alive\r\nConnection: Upgrade", 101, 0},
        /* Sec-WebSocket-Version */
        {NULL, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 8", 426, V},
        {NULL, "Sec-WebSocket-Version", NULL, 426, V},
        {NULL, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8", 426, V},
        {NULL, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 013", 426, V},
        {NULL, "Sec-WebSocket-Version", "Sec-WebSocket-Version:", 426, V},
        {NULL, NULL, "Sec-WebSocket-Version: 13", 426, V},
        {NULL, "Sec-WebSocket-Version", "Sec-WebSocket-Version:   13\t", 101, 0},
        /* Sec-WebSocket-Key */
        {NULL, "Sec-WebSocket-Key", NULL, 400, 0},
        {NULL, NULL, "Sec-WebSocket-Key: " RFC_KEY, 400, 0},
        {NULL, NULL, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==", 400, 0},
        {NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA", 400, 0},
        {NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=", 400, 0},
        {NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA", 400, 0},
        {NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA====", 400, 0},
        {NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!==", 400, 0},
        {NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAA_==", 400, 0},
        {NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ", 400, 0},
        {NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=", 400, 0},
        {NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbX BsZSBub25jZQ==", 400, 0},
        {NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: " RFC_KEY "AAAA", 400, 0},
        {NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key:", 400, 0},
        {NULL, "Sec-WebSocket-Key", "Sec-WebSocket-Key: \t" RFC_KEY "  ", 101, 0},
        /* Sec-WebSocket-Protocol */
        {NULL, "Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol: chat, sip", 101, 0},
        {NULL, "Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol:  foo ,  sip , bar", 101, 0},
        {NULL, "Sec-WebSocket-Protocol",
         "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: sip", 101, 0},
        {NULL, "Sec-WebSocket-Protocol", NULL, 400, P},
        {NULL, "Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol:", 400, P},
        {NULL, "Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol: chat, superchat", 400, P},
        {NULL, "Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol: SIP", 400, P},
        {NULL, "Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol: Sip", 400, P},
        {NULL, "Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol: sips", 400, P},
        {NULL, "Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol: sip2, xsip", 400, P},
        {NULL, "Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol: sip chat", 400, P},
        /* path (default "/"; the query is ignored) */
        {"GET /ws HTTP/1.1", NULL, NULL, 404, 0},
        {"GET /index.html HTTP/1.1", NULL, NULL, 404, 0},
        {"GET //?a HTTP/1.1", NULL, NULL, 404, 0},
        {"GET /?token=abc HTTP/1.1", NULL, NULL, 101, 0},
        {"GET /? HTTP/1.1", NULL, NULL, 101, 0},
        /* the first failing rule wins: version before key before protocol before path */
        {"GET /x HTTP/1.1", "Sec-WebSocket-Version", "Sec-WebSocket-Key: x", 426, V},
        {"GET /x HTTP/1.1", "Sec-WebSocket-Key", "Sec-WebSocket-Protocol: chat", 400, 0},
        {"GET /x HTTP/1.1", "Sec-WebSocket-Protocol", NULL, 400, P},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), NULL);
}
END_TEST

START_TEST(missing_host)
{
    /* HTTP/1.1 without Host never reaches the handshake: the parser refuses it */
    const char *s = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Protocol: sip\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n";
    struct wsip_http_err err;
    size_t consumed;
    ck_assert_int_eq(wsip_http_parse(&req, s, strlen(s), NULL, &consumed, &err), WSIP_HTTP_BAD);
    ck_assert_uint_eq(err.status, 400);

    /* the decision checks it too, for requests built another way */
    struct hs_case c = {NULL, NULL, NULL, 0, 0};
    char *full = build(&c);
    parse_ok(full, strlen(full));
    struct wsip_ws_decision d;
    ck_assert_int_eq(wsip_ws_handshake(&req, NULL, &d), 0);
    ck_assert_msg(wsip_str_eq_cstr(req.hdrs[0].name, "Host"), "first header is '%.*s'",
                  (int)req.hdrs[0].name.len, req.hdrs[0].name.p);
    memmove(&req.hdrs[0], &req.hdrs[1], (req.nhdrs - 1) * sizeof(req.hdrs[0]));
    req.nhdrs--;
    ck_assert_int_eq(wsip_ws_handshake(&req, NULL, &d), -1);
    ck_assert_uint_eq(d.status, 400);
    ck_assert_str_eq(d.detail, "missing or duplicate Host");
    free(full);
}
END_TEST

START_TEST(origin_allow_list)
{
    static const char *const allowed[] = {"https://www.example.com", "http://localhost:8080", NULL};
    struct wsip_ws_config cfg;
    wsip_ws_config_default(&cfg);
    cfg.origins = allowed;
    static const struct hs_case cases[] = {
        {NULL, NULL, NULL, 101, 0},
        {NULL, "Origin", NULL, 101, 0}, /* not a browser */
        {NULL, "Origin", "Origin: HTTPS://WWW.Example.COM", 101, 0},
        {NULL, "Origin", "Origin: http://localhost:8080", 101, 0},
        {NULL, "Origin", "Origin: https://evil.example", 403, 0},
        {NULL, "Origin", "Origin: https://www.example.com.evil.example", 403, 0},
        {NULL, "Origin", "Origin: http://www.example.com", 403, 0},
        {NULL, "Origin", "Origin: http://localhost", 403, 0},
        {NULL, "Origin", "Origin: null", 403, 0},
        {NULL, "Origin", "Origin:", 403, 0},
        {NULL, NULL, "Origin: https://www.example.com", 403, 0}, /* given twice */
        /* checked after the path */
        {"GET /ws HTTP/1.1", "Origin", "Origin: https://evil.example", 404, 0},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), &cfg);

    /* no list, or an empty one: any origin */
    static const char *const none[] = {NULL};
    static const struct hs_case any[] = {
        {NULL, "Origin", "Origin: https://evil.example", 101, 0},
    };
    cfg.origins = none;
    run_cases(any, 1, &cfg);
    cfg.origins = NULL;
    run_cases(any, 1, &cfg);
}
END_TEST

START_TEST(configured_path)
{
    struct wsip_ws_config cfg;
    wsip_ws_config_default(&cfg);
    ck_assert_str_eq(cfg.path, "/");
    ck_assert_ptr_null(cfg.origins);
    cfg.path = "/ws";
    static const struct hs_case cases[] = {
        {"GET /ws HTTP/1.1", NULL, NULL, 101, 0},
        {"GET /ws?jwt=x.y.z HTTP/1.1", NULL, NULL, 101, 0},
        {NULL, NULL, NULL, 404, 0},
        {"GET /ws/ HTTP/1.1", NULL, NULL, 404, 0},
        {"GET /WS HTTP/1.1", NULL, NULL, 404, 0},
        {"GET /w%73 HTTP/1.1", NULL, NULL, 404, 0},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), &cfg);
    cfg.path = NULL; /* NULL means "/" */
    static const struct hs_case root[] = {{NULL, NULL, NULL, 101, 0}};
    run_cases(root, 1, &cfg);
}
END_TEST

START_TEST(routing)
{
    static const struct {
        const char *s;
        enum wsip_http_route route;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", WSIP_ROUTE_STATIC},
        {"HEAD /a.js HTTP/1.1\r\nHost: h\r\n\r\n", WSIP_ROUTE_STATIC},
        {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n", WSIP_ROUTE_STATIC},
        {"POST / HTTP/1.1\r\nHost: h\r\n\r\n", WSIP_ROUTE_NOT_ALLOWED},
        {"get / HTTP/1.1\r\nHost: h\r\n\r\n", WSIP_ROUTE_NOT_ALLOWED},
        {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", WSIP_ROUTE_WEBSOCKET},
        {"GET / HTTP/1.0\r\nUpgrade: WebSocket\r\n\r\n", WSIP_ROUTE_WEBSOCKET},
        {"OPTIONS / HTTP/1.1\r\nHost: h\r\nupgrade: x, websocket\r\n\r\n", WSIP_ROUTE_WEBSOCKET},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        parse_ok(cases[k].s, strlen(cases[k].s));
        ck_assert_msg(wsip_http_route(&req) == cases[k].route, "case %zu: expected %d, got %d", k,
                      cases[k].route, wsip_http_route(&req));
    }
}
END_TEST

/* ----------------------------------------------------------------- base64 */

START_TEST(base64_vectors)
{
    /* RFC 4648 sec 10 */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t k = 0; k < 7; k++) {
        char out[16];
        size_t n = wsip_base64_encode(plain[k], strlen(plain[k]), out, sizeof(out));
        ck_assert_uint_eq(n, strlen(enc[k]));
        ck_assert_str_eq(out, enc[k]);
        unsigned char raw[16];
        long m =
            wsip_base64_decode(enc[k], strlen(enc[k]), raw, sizeof(raw), WSIP_BASE64_CANONICAL);
        ck_assert_int_eq(m, (long)strlen(plain[k]));
        ck_assert_int_eq(memcmp(raw, plain[k], (size_t)m), 0);
    }
    /* output space: exactly 4n/3 + NUL */
    char small[5];
    ck_assert_uint_eq(wsip_base64_encode("foo", 3, small, 5), 4);
    ck_assert_uint_eq(wsip_base64_encode("foo", 3, small, 4), 0);
    ck_assert_uint_eq(wsip_base64_encode("", 0, small, 1), 0);
    ck_assert_str_eq(small, "");
    static const unsigned char all[3] = {0xfb, 0xff, 0xbf};
    ck_assert_uint_eq(wsip_base64_encode(all, 3, small, 5), 4);
    ck_assert_str_eq(small, "+/+/");

    static const char *const bad[] = {"Zg=",  "Zg=a",     "Z===", "=Zg=",     "Zm9v\n",
                                      "Zm 9", "Zg==Zg==", "Zm-_", "Zm9v====", "Z"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        unsigned char raw[16];
        long m = wsip_base64_decode(bad[k], strlen(bad[k]), raw, sizeof(raw), 0);
        ck_assert_msg(m == -1, "'%s': expected -1, got %ld", bad[k], m);
    }
    /* output too small */
    unsigned char raw[16];
    ck_assert_int_eq(wsip_base64_decode("Zm9vYmFy", 8, raw, 5, 0), -1);
    ck_assert_int_eq(wsip_base64_decode("Zm9vYmFy", 8, raw, 6, 0), 6);
    ck_assert_int_eq(wsip_base64_decode("Zm9vYg==", 8, raw, 4, 0), 4);
    ck_assert_int_eq(wsip_base64_decode("Zm9vYg==", 8, raw, 3, 0), -1);
    /* non-zero pad bits: "Zh==" and "Zm9=" are 'f' and "fo" written loosely */
    ck_assert_int_eq(wsip_base64_decode("Zh==", 4, raw, sizeof(raw), 0), 1);
    ck_assert_uint_eq(raw[0], 'f');
    ck_assert_int_eq(wsip_base64_decode("Zh==", 4, raw, sizeof(raw), WSIP_BASE64_CANONICAL), -1);
    ck_assert_int_eq(wsip_base64_decode("Zm9=", 4, raw, sizeof(raw), 0), 2);
    ck_assert_int_eq(wsip_base64_decode("Zm9=", 4, raw, sizeof(raw), WSIP_BASE64_CANONICAL), -1);
}
END_TEST

static Suite *ws_suite(void)
{
    Suite *s = suite_create("ws_handshake");
    TCase *tc = tcase_create("corpus");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, corpus_handshakes);
    tcase_add_test(tc, corpus_accept_keys);
    suite_add_tcase(s, tc);

    tc = tcase_create("rules");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, rule_violations);
    tcase_add_test(tc, missing_host);
    tcase_add_test(tc, origin_allow_list);
    tcase_add_test(tc, configured_path);
    tcase_add_test(tc, routing);
    suite_add_tcase(s, tc);

    tc = tcase_create("base64");
    tcase_add_test(tc, base64_vectors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(ws_suite());
}

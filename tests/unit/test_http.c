/* HTTP request parser (src/http/http.c), static-file resolution
 * (src/http/static.c) and the web config (src/http/web_config.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wsip/http.h"

#define ck_str(view, lit)                                                                          \
    ck_assert_msg(wsip_str_eq((view), wsip_str_cstr(lit)), "expected '%s', got '%.*s'", (lit),     \
                  (int)(view).len, (view).p ? (view).p : "")

/* Every parse runs on an exact-size heap copy, so that AddressSanitizer
 * reports a read past the end; the copy lives until the next call. */
static char *copy;
static struct wsip_http_req req;
static struct wsip_http_err err;
static size_t consumed;

static int parse_n(const char *s, size_t n, const struct wsip_http_limits *lim)
{
    free(copy);
    copy = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, s, n);
    return wsip_http_parse(&req, copy, n, lim, &consumed, &err);
}

static int parse(const char *s, const struct wsip_http_limits *lim)
{
    return parse_n(s, strlen(s), lim);
}

static void teardown(void)
{
    free(copy);
    copy = NULL;
}

/* Expects WSIP_HTTP_BAD with this status. */
#define ck_bad(s, lim, st)                                                                         \
    do {                                                                                           \
        int rc_ = parse((s), (lim));                                                               \
        ck_assert_msg(rc_ == WSIP_HTTP_BAD && err.status == (st),                                  \
                      "input [%s]: expected BAD %u, got rc %d status %u (%s)", (s),                \
                      (unsigned)(st), rc_, err.status, err.detail);                                \
        ck_assert_str_eq(err.reason, wsip_http_reason(st));                                        \
    } while (0)

#define ck_ok(s, lim)                                                                              \
    do {                                                                                           \
        int rc_ = parse((s), (lim));                                                               \
        ck_assert_msg(rc_ == WSIP_HTTP_OK, "input [%s]: expected OK, got rc %d status %u (%s)",    \
                      (s), rc_, err.status, err.detail);                                           \
    } while (0)

static const char simple[] = "GET /phone/index.html?user=alice&x=1 HTTP/1.1\r\n"
                             "Host: sip-ws.example.com\r\n"
                             "User-Agent:   curl/7.88  \r\n"
                             "Accept: */*\r\n"
                             "X-Empty:\r\n"
                             "X-Tab:\tv\t\r\n"
                             "\r\n";

START_TEST(simple_get)
{
    ck_assert_int_eq(parse(simple, NULL), WSIP_HTTP_OK);
    ck_assert_uint_eq(consumed, strlen(simple));
    ck_assert_uint_eq(req.head_len, strlen(simple));
    ck_str(req.method, "GET");
    ck_assert_int_eq(req.method_id, WSIP_HTTP_GET);
    ck_str(req.target, "/phone/index.html?user=alice&x=1");
    ck_str(req.path, "/phone/index.html");
    ck_str(req.query, "user=alice&x=1");
    ck_assert_uint_eq(req.version_minor, 1);
    ck_assert_uint_eq(req.nhdrs, 5);
    ck_str(req.hdrs[0].name, "Host");
    ck_str(req.hdrs[0].value, "sip-ws.example.com");
    ck_str(req.hdrs[1].value, "curl/7.88");
    ck_str(req.hdrs[2].value, "*/*");
    ck_str(req.hdrs[3].name, "X-Empty");
    ck_assert_uint_eq(req.hdrs[3].value.len, 0);
    ck_str(req.hdrs[4].value, "v");
    ck_assert_uint_eq(req.body.len, 0);
    /* views point into the caller's buffer */
    ck_assert_ptr_eq(req.method.p, copy);
    ck_assert_ptr_eq(req.hdrs[0].name.p, copy + strlen("GET /phone/index.html?user=alice&x=1 "
                                                       "HTTP/1.1\r\n"));

    ck_ok("HEAD / HTTP/1.0\r\n\r\n", NULL);
    ck_assert_int_eq(req.method_id, WSIP_HTTP_HEAD);
    ck_assert_uint_eq(req.version_minor, 0);
    ck_assert_uint_eq(req.nhdrs, 0);
    ck_str(req.path, "/");
    ck_assert_uint_eq(req.query.len, 0);

    /* methods are case-sensitive: "get" is another method */
    ck_ok("get / HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
    ck_assert_int_eq(req.method_id, WSIP_HTTP_OTHER);
    ck_ok("POST /x? HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
    ck_assert_int_eq(req.method_id, WSIP_HTTP_OTHER);
    ck_str(req.path, "/x");
    ck_assert_uint_eq(req.query.len, 0);
    /* a later 1.x minor is 1.1-compatible (RFC 7230 sec 2.6) */
    ck_ok("GET / HTTP/1.2\r\nHost: a\r\n\r\n", NULL);
    ck_assert_uint_eq(req.version_minor, 2);
}
END_TEST

/* Valid requests: every proper prefix is AGAIN, the whole is OK. */
static void check_prefixes(const char *s, size_t n, const struct wsip_http_limits *lim,
                           size_t want_consumed)
{
    for (size_t cut = 0; cut < n; cut++) {
        int rc = parse_n(s, cut, lim);
        ck_assert_msg(rc == WSIP_HTTP_AGAIN, "prefix %zu of %zu: expected AGAIN, got %d (%u %s)",
                      cut, n, rc, err.status, err.detail);
        ck_assert_uint_eq(consumed, 0);
    }
    int rc = parse_n(s, n, lim);
    ck_assert_msg(rc == WSIP_HTTP_OK, "whole input (%zu bytes): got %d (%u %s)", n, rc, err.status,
                  err.detail);
    ck_assert_uint_eq(consumed, want_consumed);
}

START_TEST(split_points)
{
    size_t n;
    char *f = read_file(corpus_path("websocket/rfc7118-4.1-client-handshake.http"), &n);
    check_prefixes(f, n, NULL, n);
    free(f);

    check_prefixes(simple, strlen(simple), NULL, strlen(simple));
    const char *lf = "GET / HTTP/1.1\nHost: a\nUpgrade: websocket\n\n";
    check_prefixes(lf, strlen(lf), NULL, strlen(lf));
    const char *lead = "\r\n\nGET / HTTP/1.0\r\n\r\n";
    check_prefixes(lead, strlen(lead), NULL, strlen(lead));

    struct wsip_http_limits lim;
    wsip_http_limits_default(&lim);
    lim.max_body = 10;
    const char *body = "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    check_prefixes(body, strlen(body), &lim, strlen(body));
    ck_str(req.body, "hello");
    ck_assert_uint_eq(req.head_len, strlen(body) - 5);
}
END_TEST

START_TEST(pipelined_bytes_kept)
{
    /* a masked WebSocket text frame right behind the handshake */
    static const char frame[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    size_t n;
    char *f = read_file(corpus_path("websocket/rfc7118-8.1-F1-client-handshake.http"), &n);
    size_t total = n + sizeof(frame) - 1;
    char *buf = malloc(total);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, f, n);
    memcpy(buf + n, frame, sizeof(frame) - 1);
    ck_assert_int_eq(parse_n(buf, total, NULL), WSIP_HTTP_OK);
    ck_assert_uint_eq(consumed, n);
    ck_assert_int_eq(memcmp(copy + consumed, frame, sizeof(frame) - 1), 0);
    free(buf);
    free(f);

    /* two requests in a row: the second parses from where the first ended */
    const char *two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(parse(two, NULL), WSIP_HTTP_OK);
    ck_str(req.path, "/a");
    size_t first = consumed;
    ck_assert_uint_eq(first, strlen("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
    char *rest = copy + first;
    ck_assert_int_eq(wsip_http_parse(&req, rest, strlen(two) - first, NULL, &consumed, &err),
                     WSIP_HTTP_OK);
    ck_str(req.path, "/b");
    ck_assert_uint_eq(consumed, strlen(two) - first);
}
END_TEST

/* "GET /aaa... HTTP/1.1" whose request line is exactly n bytes */
static char *request_line_of(size_t n)
{
    const size_t fixed = strlen("GET / HTTP/1.1");
    ck_assert_uint_ge(n, fixed);
    char *s = malloc(n + 64);
    ck_assert_ptr_nonnull(s);
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', n - fixed);
    strcpy(s + 5 + (n - fixed), " HTTP/1.1\r\nHost: h\r\n\r\n");
    return s;
}

START_TEST(request_line_cap)
{
    struct wsip_http_limits lim;
    wsip_http_limits_default(&lim);
    lim.max_request_line = 100;
    char *s = request_line_of(100);
    ck_ok(s, &lim);
    free(s);
    s = request_line_of(101);
    ck_bad(s, &lim, 414);
    /* refused before the line ends: 102 bytes without LF cannot fit */
    ck_assert_int_eq(parse_n(s, 102, &lim), WSIP_HTTP_BAD);
    ck_assert_uint_eq(err.status, 414);
    /* 101 bytes: may still be 100 + CR */
    ck_assert_int_eq(parse_n(s, 101, &lim), WSIP_HTTP_AGAIN);
    free(s);

    /* the default: 8 KiB */
    s = request_line_of(8192);
    ck_ok(s, NULL);
    free(s);
    s = request_line_of(8193);
    ck_bad(s, NULL, 414);
    free(s);
}
END_TEST

/* A request with one header "X: vvv..." whose line is exactly n bytes. */
static char *header_line_of(size_t n)
{
    char *s = malloc(n + 64);
    ck_assert_ptr_nonnull(s);
    strcpy(s, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
    size_t k = strlen(s);
    memset(s + k, 'v', n - 3);
    strcpy(s + k + n - 3, "\r\n\r\n");
    return s;
}

START_TEST(header_caps)
{
    struct wsip_http_limits lim;
    wsip_http_limits_default(&lim);
    lim.max_header_line = 50;
    char *s = header_line_of(50);
    ck_ok(s, &lim);
    free(s);
    s = header_line_of(51);
    ck_bad(s, &lim, 431);
    /* early: the line's first 52 bytes without LF */
    size_t start = strlen("GET / HTTP/1.1\r\nHost: h\r\n");
    ck_assert_int_eq(parse_n(s, start + 52, &lim), WSIP_HTTP_BAD);
    ck_assert_uint_eq(err.status, 431);
    ck_assert_int_eq(parse_n(s, start + 51, &lim), WSIP_HTTP_AGAIN);
    free(s);

    /* header section: "Host: h\r\n" (9) + "X: v..\r\n" + "\r\n" */
    wsip_http_limits_default(&lim);
    lim.max_header_bytes = 100;
    s = header_line_of(100 - 9 - 2 - 2); /* exactly 100 */
    ck_ok(s, &lim);
    free(s);
    s = header_line_of(100 - 9 - 2 - 2 + 1);
    ck_bad(s, &lim, 431);
    ck_assert_str_eq(err.detail, "header section too large");
    free(s);
    /* early, before the empty line arrives: 101 bytes of short fields */
    char many[256];
    int n = snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: h\r\n");
    size_t hs = strlen("GET / HTTP/1.1\r\n");
    while ((size_t)n < hs + 101)
        n += snprintf(many + n, sizeof(many) - (size_t)n, "X: 1\r\n");
    ck_assert_int_eq(parse_n(many, hs + 100, &lim), WSIP_HTTP_AGAIN);
    ck_assert_int_eq(parse_n(many, hs + 101, &lim), WSIP_HTTP_BAD);
    ck_assert_uint_eq(err.status, 431);
    ck_assert_str_eq(err.detail, "header section too large");

    /* default 8 KiB for the section, 8 KiB for a line */
    s = header_line_of(8192);
    ck_bad(s, NULL, 431);
    free(s);
    s = header_line_of(8192 - 9 - 2 - 2);
    ck_ok(s, NULL);
    free(s);
}
END_TEST

START_TEST(header_count_cap)
{
    char buf[4096];
    struct wsip_http_limits lim;
    wsip_http_limits_default(&lim);
    for (unsigned count = 63; count <= 65; count++) {
        int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n");
        for (unsigned k = 1; k < count; k++)
            n += snprintf(buf + n, sizeof(buf) - (size_t)n, "X-%u: %u\r\n", k, k);
        snprintf(buf + n, sizeof(buf) - (size_t)n, "\r\n");
        if (count <= 64) {
            ck_ok(buf, &lim);
            ck_assert_uint_eq(req.nhdrs, count);
        } else {
            ck_bad(buf, &lim, 431);
            ck_assert_str_eq(err.detail, "too many header fields");
        }
    }
    lim.max_headers = 2;
    ck_ok("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n", &lim);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", &lim, 431);
    /* above the compile-time bound: clamped to WSIP_HTTP_HEADERS_MAX */
    lim.max_headers = 100000;
    lim.max_header_bytes = 1 << 20;
    char *big = malloc(64 * 1024);
    ck_assert_ptr_nonnull(big);
    int n = snprintf(big, 64 * 1024, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (unsigned k = 1; k <= WSIP_HTTP_HEADERS_MAX; k++)
        n += snprintf(big + n, 64 * 1024 - (size_t)n, "X-%u: %u\r\n", k, k);
    snprintf(big + n, 64 * 1024 - (size_t)n, "\r\n");
    ck_bad(big, &lim, 431);
    free(big);
}
END_TEST

START_TEST(bodies)
{
    ck_ok("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", NULL);
    ck_assert_uint_eq(req.body.len, 0);
    /* we take no bodies by default: a GET with one is refused */
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", NULL, 413);
    /* refused as soon as the head is complete, before the body arrives */
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n", NULL, 413);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", NULL,
           400);

    struct wsip_http_limits lim;
    wsip_http_limits_default(&lim);
    lim.max_body = 4;
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab", &lim),
                     WSIP_HTTP_AGAIN);
    ck_ok("POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 4\r\n\r\nabcdGET", &lim);
    ck_str(req.body, "abcd");
    ck_assert_uint_eq(consumed,
                      strlen("POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 4\r\n\r\n") + 4);
    ck_bad("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde", &lim, 413);
}
END_TEST

START_TEST(transfer_encoding)
{
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", NULL, 501);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: identity\r\n\r\n", NULL, 501);
    /* with Content-Length too (a smuggling pattern): still 501 */
    ck_bad("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
           NULL, 501);
    ck_bad("GET / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", NULL, 501);
}
END_TEST

START_TEST(obs_fold_and_whitespace)
{
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n", NULL, 400);
    ck_assert_str_eq(err.detail, "folded header line");
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\ttwo\r\n\r\n", NULL, 400);
    /* whitespace line right after the request line (RFC 7230 sec 3) */
    ck_bad("GET / HTTP/1.1\r\n Host: h\r\n\r\n", NULL, 400);
    /* whitespace between name and colon (sec 3.2.4) */
    ck_bad("GET / HTTP/1.1\r\nHost : h\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", NULL, 400);
}
END_TEST

START_TEST(line_endings)
{
    /* bare LF ends a line (RFC 7230 sec 3.5 allows it): accepted */
    ck_ok("GET / HTTP/1.1\nHost: h\nX: 1\n\n", NULL);
    ck_assert_uint_eq(req.nhdrs, 2);
    ck_str(req.hdrs[1].value, "1");
    ck_ok("GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\n", NULL);
    ck_assert_uint_eq(consumed, strlen("GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\n"));
    /* a CR that does not end a line is refused */
    ck_bad("GET / HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\r\n\r\n", NULL, 400);
    ck_bad("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", NULL, 400);
    /* leading empty lines are skipped and counted as consumed */
    ck_ok("\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", NULL);
    ck_assert_uint_eq(consumed, strlen("\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    ck_str(req.method, "GET");
    struct wsip_http_limits lim;
    wsip_http_limits_default(&lim);
    lim.max_request_line = 20;
    ck_bad("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", &lim,
           400);
}
END_TEST

struct line_case {
    const char *in;
    int rc;
    unsigned status;
};

START_TEST(request_line_errors)
{
    static const struct line_case cases[] = {
        {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GET / \r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GET /\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GET\r\n\r\n", WSIP_HTTP_BAD, 400},
        {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GET / http/1.1\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GET / HTTP/1\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GET / HTTP/1.10\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 400},
        {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 505},
        {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", WSIP_HTTP_BAD, 505},
        {"GET / HTTP/3.0\r\n\r\n", WSIP_HTTP_BAD, 505},
        /* refused early: a TLS ClientHello on the plain port */
        {"\x16\x03\x01\x02", WSIP_HTTP_BAD, 400},
        {"GET", WSIP_HTTP_AGAIN, 0},
        {"GET / HTTP/9.9", WSIP_HTTP_AGAIN, 0},
        {"\r", WSIP_HTTP_AGAIN, 0},
        {"", WSIP_HTTP_AGAIN, 0},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        int rc = parse(cases[k].in, NULL);
        ck_assert_msg(rc == cases[k].rc && err.status == cases[k].status,
                      "case %zu [%s]: expected rc %d status %u, got rc %d status %u (%s)", k,
                      cases[k].in, cases[k].rc, cases[k].status, rc, err.status, err.detail);
    }
}
END_TEST

START_TEST(header_errors)
{
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nHo st: x\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nX(y): 1\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01"
           "b\r\n\r\n",
           NULL, 400);
    ck_bad("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", NULL, 400);
    static const char nul[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
    ck_assert_int_eq(parse_n(nul, sizeof(nul) - 1, NULL), WSIP_HTTP_BAD);
    ck_assert_uint_eq(err.status, 400);
    /* obs-text and any tchar in names are fine */
    ck_ok("GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9 \"quoted, value\"\r\n"
          "!#$%&'*+-.^_`|~: y\r\n\r\n",
          NULL);
    ck_str(req.hdrs[1].value, "caf\xc3\xa9 \"quoted, value\"");
    ck_str(req.hdrs[2].name, "!#$%&'*+-.^_`|~");
}
END_TEST

START_TEST(host_rule)
{
    ck_bad("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", NULL, 400);
    ck_assert_str_eq(err.detail, "HTTP/1.1 request needs exactly one Host");
    ck_bad("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", NULL, 400);
    ck_bad("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", NULL, 400);
    ck_ok("GET / HTTP/1.0\r\n\r\n", NULL);
    ck_ok("GET / HTTP/1.1\r\nHOST: a\r\n\r\n", NULL);
}
END_TEST

START_TEST(lookups)
{
    ck_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n"
          "connection: ,close ,\r\nUpgrade: h2c,WebSocket/13 , websocket\r\n"
          "X-Case: Sip\r\n\r\n",
          NULL);
    const struct wsip_http_hdr *h = wsip_http_hdr(&req, "CONNECTION");
    ck_assert_ptr_nonnull(h);
    ck_str(h->value, "keep-alive, Upgrade");
    ck_assert_ptr_null(wsip_http_hdr(&req, "Connectio"));
    ck_assert_uint_eq(wsip_http_hdr_count(&req, "Connection"), 2);
    ck_assert_uint_eq(wsip_http_hdr_count(&req, "Origin"), 0);
    ck_assert_int_eq(wsip_http_hdr_has_token(&req, "Connection", "upgrade", true), 1);
    ck_assert_int_eq(wsip_http_hdr_has_token(&req, "Connection", "close", true), 1);
    ck_assert_int_eq(wsip_http_hdr_has_token(&req, "Connection", "keep", true), 0);
    ck_assert_int_eq(wsip_http_hdr_has_token(&req, "Upgrade", "websocket", true), 1);
    ck_assert_int_eq(wsip_http_hdr_has_token(&req, "Upgrade", "WebSocket", false), 0);
    ck_assert_int_eq(wsip_http_hdr_has_token(&req, "X-Case", "sip", false), 0);
    ck_assert_int_eq(wsip_http_hdr_has_token(&req, "X-Case", "sip", true), 1);
    ck_assert_int_eq(wsip_http_list_has(wsip_str_cstr(""), "a", true), 0);
    ck_assert_int_eq(wsip_http_list_has(wsip_str_cstr(" , ,\t"), "a", true), 0);
    ck_assert_int_eq(wsip_http_list_has(wsip_str_cstr("b,\ta\t"), "a", true), 1);
    ck_assert_int_eq(wsip_http_list_has(wsip_str_cstr("ab"), "a", true), 0);
    ck_assert_int_eq(wsip_http_keep_alive(&req), 0);

    ck_ok("GET / HTTP/1.1\r\nHost: h\r\n\r\n", NULL);
    ck_assert_int_eq(wsip_http_keep_alive(&req), 1);
    ck_ok("GET / HTTP/1.0\r\n\r\n", NULL);
    ck_assert_int_eq(wsip_http_keep_alive(&req), 0);
    ck_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", NULL);
    ck_assert_int_eq(wsip_http_keep_alive(&req), 1);
}
END_TEST

/* Checks a response head: status line, Content-Length == body length. */
static void check_response(const struct wsip_sbuf *b, const char *status_line, bool head)
{
    ck_assert_int_eq(b->oom, 0);
    ck_assert_ptr_nonnull(b->p);
    size_t sl = strlen(status_line);
    ck_assert_msg(b->len > sl && memcmp(b->p, status_line, sl) == 0 && b->p[sl] == '\r',
                  "expected status line '%s', got: %s", status_line, b->p);
    const char *end = strstr(b->p, "\r\n\r\n");
    ck_assert_msg(end != NULL, "no end of head in: %s", b->p);
    size_t body = b->len - (size_t)(end + 4 - b->p);
    const char *cl = strstr(b->p, "\r\nContent-Length: ");
    ck_assert_msg(cl != NULL && cl < end, "no Content-Length in: %s", b->p);
    unsigned long v = strtoul(cl + 18, NULL, 10);
    if (head)
        ck_assert_uint_eq(body, 0);
    else
        ck_assert_uint_eq(v, body);
    ck_assert_msg(v > 0, "empty error body in: %s", b->p);
}

START_TEST(error_responses)
{
    static const unsigned statuses[] = {400, 413, 414, 431, 501, 505};
    for (size_t k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++) {
        struct wsip_sbuf b;
        wsip_sbuf_init(&b);
        wsip_http_error_response(&b, statuses[k], NULL, NULL, "why", false);
        char sl[64];
        snprintf(sl, sizeof(sl), "HTTP/1.1 %u %s", statuses[k], wsip_http_reason(statuses[k]));
        check_response(&b, sl, false);
        ck_assert_ptr_nonnull(strstr(b.p, "\r\nConnection: close\r\n"));
        ck_assert_msg(strstr(b.p, "\r\n\r\n") && strstr(strstr(b.p, "\r\n\r\n"), ": why\n"),
                      "detail missing in: %s", b.p);
        wsip_sbuf_free(&b);
    }
    ck_assert_str_eq(wsip_http_reason(431), "Request Header Fields Too Large");
    ck_assert_str_eq(wsip_http_reason(299), "");

    struct wsip_sbuf b;
    wsip_sbuf_init(&b);
    wsip_http_error_response(&b, 418, "I'm a teapot", "X-A: 1\r\n", NULL, true);
    check_response(&b, "HTTP/1.1 418 I'm a teapot", true);
    ck_assert_ptr_nonnull(strstr(b.p, "\r\nX-A: 1\r\n"));
    wsip_sbuf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ static files */

struct resolve_case {
    const char *target;
    int status;
    const char *out; /* when status is 0 */
};

static void check_resolve(const char *root, const struct resolve_case *c, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char out[256];
        const char *mime = "unset";
        memset(out, 'X', sizeof(out));
        int rc =
            wsip_http_static_resolve(root, wsip_str_cstr(c[k].target), out, sizeof(out), &mime);
        ck_assert_msg(rc == c[k].status, "root '%s' target '%s': expected %d, got %d (out '%s')",
                      root ? root : "(null)", c[k].target, c[k].status, rc, rc == 0 ? out : "");
        if (rc == 0) {
            ck_assert_msg(strcmp(out, c[k].out) == 0, "target '%s': expected '%s', got '%s'",
                          c[k].target, c[k].out, out);
            ck_assert_ptr_nonnull(mime);
        } else {
            ck_assert_ptr_null(mime);
        }
    }
}

START_TEST(static_traversal)
{
    static const struct resolve_case cases[] = {
        {"/../etc/passwd", 403, NULL},
        {"/a/../../x", 403, NULL},
        {"/a/b/../../../x", 403, NULL},
        {"/%2e%2e/x", 403, NULL},
        {"/%2E%2e/x", 403, NULL},
        {"/.%2e/x", 403, NULL},
        {"/..%2f", 403, NULL},
        {"/..%2fetc%2fpasswd", 403, NULL},
        {"/..", 403, NULL},
        {"/a/..%2f..", 403, NULL},
        {"//etc/passwd", 0, "/srv/web/etc/passwd"},
        {"///", 0, "/srv/web/index.html"},
        {"/a/./b", 0, "/srv/web/a/b"},
        {"/a/../b", 0, "/srv/web/b"},
        {"/a/b/../../c", 0, "/srv/web/c"},
        {"/a%2fb", 0, "/srv/web/a/b"},
        {"/a%00b", 400, NULL},
        {"/a%00", 400, NULL},
        {"\\", 400, NULL},
        {"/a\\b", 400, NULL},
        {"/..\\..\\x", 400, NULL},
        {"/%5c..", 400, NULL},
        {"/%5C", 400, NULL},
        {"/%0a", 400, NULL},
        {"/%7f", 400, NULL},
        {"/%zz", 400, NULL},
        {"/%4", 400, NULL},
        {"/%", 400, NULL},
        {"/a%2", 400, NULL},
        {"", 400, NULL},
        {"x", 400, NULL},
        {"a/b", 400, NULL},
        {"/.git/config", 404, NULL},
        {"/.env", 404, NULL},
        {"/a/.htpasswd", 404, NULL},
        {"/...", 404, NULL},
        {"/index.html?x=/../../etc", 0, "/srv/web/index.html"},
        {"/a?", 0, "/srv/web/a"},
        {"/caf%C3%A9.txt", 0, "/srv/web/caf\xc3\xa9.txt"},
        {"/a b", 0, "/srv/web/a b"},
    };
    check_resolve("/srv/web", cases, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

START_TEST(static_index)
{
    static const struct resolve_case cases[] = {
        {"/", 0, "web/index.html"},
        {"/?x=1", 0, "web/index.html"},
        {"/sub/", 0, "web/sub/index.html"},
        {"/sub/.", 0, "web/sub/index.html"},
        {"/sub/x/..", 0, "web/sub/index.html"},
        {"/a/..", 0, "web/index.html"},
        {"/.", 0, "web/index.html"},
        {"/sub", 0, "web/sub"},
        {"/sub/app.js", 0, "web/sub/app.js"},
    };
    check_resolve("web", cases, sizeof(cases) / sizeof(cases[0]));
    check_resolve("web/", cases, sizeof(cases) / sizeof(cases[0]));
    check_resolve("web//", cases, sizeof(cases) / sizeof(cases[0]));

    static const struct resolve_case at_root[] = {
        {"/", 0, "/index.html"},
        {"/a/b", 0, "/a/b"},
        {"/../a", 403, NULL},
    };
    check_resolve("/", at_root, sizeof(at_root) / sizeof(at_root[0]));
    /* an empty root is the current directory, never the file system root */
    static const struct resolve_case empty_root[] = {
        {"/etc/passwd", 0, "./etc/passwd"},
        {"/", 0, "./index.html"},
    };
    check_resolve("", empty_root, sizeof(empty_root) / sizeof(empty_root[0]));
    check_resolve(NULL, empty_root, sizeof(empty_root) / sizeof(empty_root[0]));
}
END_TEST

START_TEST(static_capacity)
{
    const char *mime;
    char out[32];
    /* "web/index.html" + NUL = 15 bytes */
    ck_assert_int_eq(wsip_http_static_resolve("web", wsip_str_cstr("/"), out, 15, &mime), 0);
    ck_assert_str_eq(out, "web/index.html");
    ck_assert_int_eq(wsip_http_static_resolve("web", wsip_str_cstr("/"), out, 14, &mime), 414);
    ck_assert_int_eq(wsip_http_static_resolve("web", wsip_str_cstr("/abc"), out, 8, &mime), 0);
    ck_assert_str_eq(out, "web/abc");
    ck_assert_int_eq(wsip_http_static_resolve("web", wsip_str_cstr("/abcd"), out, 8, &mime), 414);
    ck_assert_int_eq(wsip_http_static_resolve("web", wsip_str_cstr("/a"), out, 3, &mime), 414);
    ck_assert_int_eq(wsip_http_static_resolve("web", wsip_str_cstr("/a"), out, 0, &mime), 414);

    /* a decoded path longer than PATH_MAX */
    size_t n = 5000;
    char *t = malloc(n + 1);
    char *big = malloc(8192);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(big);
    t[0] = '/';
    memset(t + 1, 'a', n - 1);
    t[n] = '\0';
    ck_assert_int_eq(wsip_http_static_resolve("web", wsip_str_cstr(t), big, 8192, &mime), 414);
    free(t);
    free(big);
}
END_TEST

START_TEST(mime_types)
{
    static const struct {
        const char *path, *type;
    } cases[] = {
        {"/srv/index.html", "text/html; charset=utf-8"},
        {"a.HTML", "text/html; charset=utf-8"},
        {"a.js", "text/javascript; charset=utf-8"},
        {"a.mjs", "text/javascript; charset=utf-8"},
        {"a.css", "text/css; charset=utf-8"},
        {"a.json", "application/json"},
        {"a.js.map", "application/json"},
        {"a.svg", "image/svg+xml"},
        {"a.png", "image/png"},
        {"favicon.ico", "image/x-icon"},
        {"a.wasm", "application/wasm"},
        {"a.txt", "text/plain; charset=utf-8"},
        {"a.tar.gz", "application/octet-stream"},
        {"README", "application/octet-stream"},
        {"dir.js/file", "application/octet-stream"},
        {"a.", "application/octet-stream"},
        {"", "application/octet-stream"},
        {"a.htm", "application/octet-stream"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
        ck_assert_msg(strcmp(wsip_http_mime_type(wsip_str_cstr(cases[k].path)), cases[k].type) == 0,
                      "'%s': expected '%s', got '%s'", cases[k].path, cases[k].type,
                      wsip_http_mime_type(wsip_str_cstr(cases[k].path)));

    char out[64];
    const char *mime = NULL;
    ck_assert_int_eq(wsip_http_static_resolve("web", wsip_str_cstr("/"), out, sizeof(out), &mime),
                     0);
    ck_assert_str_eq(mime, "text/html; charset=utf-8");
    ck_assert_int_eq(
        wsip_http_static_resolve("web", wsip_str_cstr("/js/app.mjs?v=3"), out, sizeof(out), &mime),
        0);
    ck_assert_str_eq(mime, "text/javascript; charset=utf-8");
    /* mime may be NULL */
    ck_assert_int_eq(
        wsip_http_static_resolve("web", wsip_str_cstr("/x.png"), out, sizeof(out), NULL), 0);
}
END_TEST

START_TEST(static_responses)
{
    struct wsip_sbuf b;
    wsip_sbuf_init(&b);
    wsip_http_static_headers(&b, 1234, "text/css; charset=utf-8", true);
    ck_assert_str_eq(b.p, "HTTP/1.1 200 OK\r\n"
                          "Content-Type: text/css; charset=utf-8\r\n"
                          "Content-Length: 1234\r\n"
                          "Cache-Control: no-cache\r\n"
                          "X-Content-Type-Options: nosniff\r\n\r\n");
    wsip_sbuf_free(&b);
    wsip_sbuf_init(&b);
    wsip_http_static_headers(&b, 5000000000ull, NULL, false);
    ck_assert_str_eq(b.p, "HTTP/1.1 200 OK\r\n"
                          "Content-Type: application/octet-stream\r\n"
                          "Content-Length: 5000000000\r\n"
                          "Cache-Control: no-cache\r\n"
                          "X-Content-Type-Options: nosniff\r\n"
                          "Connection: close\r\n\r\n");
    wsip_sbuf_free(&b);

    wsip_sbuf_init(&b);
    wsip_http_static_error(&b, 405, false);
    check_response(&b, "HTTP/1.1 405 Method Not Allowed", false);
    ck_assert_ptr_nonnull(strstr(b.p, "\r\nAllow: GET, HEAD\r\n"));
    wsip_sbuf_free(&b);
    wsip_sbuf_init(&b);
    wsip_http_static_error(&b, 404, true);
    check_response(&b, "HTTP/1.1 404 Not Found", true);
    ck_assert_ptr_null(strstr(b.p, "Allow:"));
    wsip_sbuf_free(&b);
    wsip_sbuf_init(&b);
    wsip_http_static_error(&b, 403, false);
    check_response(&b, "HTTP/1.1 403 Forbidden", false);
    wsip_sbuf_free(&b);
}
END_TEST

START_TEST(web_config_path)
{
    ck_assert(wsip_http_is_web_config(wsip_str_cstr("/config.json")));
    ck_assert(wsip_http_is_web_config(wsip_str_cstr("/config.json?t=1")));
    ck_assert(!wsip_http_is_web_config(wsip_str_cstr("/config.jso")));
    ck_assert(!wsip_http_is_web_config(wsip_str_cstr("/config.json/")));
    ck_assert(!wsip_http_is_web_config(wsip_str_cstr("/web/config.json")));
    ck_assert(!wsip_http_is_web_config(wsip_str_cstr("/Config.json")));
    ck_assert(!wsip_http_is_web_config(wsip_str_cstr("")));
}
END_TEST

/* The body after the blank line of a response. */
static const char *body_of(const struct wsip_sbuf *b)
{
    const char *e = strstr(b->p, "\r\n\r\n");
    ck_assert_ptr_nonnull(e);
    return e + 4;
}

START_TEST(web_config_body)
{
    const char *domains[] = {"localhost", "example.org"};
    struct wsip_sbuf b;
    wsip_sbuf_init(&b);
    wsip_http_web_config(&b, domains, 2, "/sip", false);
    ck_assert(!b.oom);
    ck_assert_str_eq(body_of(&b),
                     "{\"domains\":[\"localhost\",\"example.org\"],\"ws_path\":\"/sip\"}\n");
    ck_assert_ptr_nonnull(strstr(b.p, "\r\nContent-Type: application/json\r\n"));
    char clen[64];
    snprintf(clen, sizeof(clen), "\r\nContent-Length: %zu\r\n", strlen(body_of(&b)));
    ck_assert_ptr_nonnull(strstr(b.p, clen));
    ck_assert_ptr_nonnull(strstr(b.p, "\r\nConnection: close\r\n"));
    wsip_sbuf_free(&b);

    /* HEAD: the same head, no body; no path means "/" */
    wsip_sbuf_init(&b);
    wsip_http_web_config(&b, domains, 1, NULL, true);
    ck_assert_str_eq(body_of(&b), "");
    ck_assert_ptr_nonnull(
        strstr(b.p, "\r\nContent-Length: 40\r\n")); /* {"domains":["localhost"],"ws_path":"/"}\n */
    wsip_sbuf_free(&b);

    /* whatever a path holds stays a valid JSON string */
    wsip_sbuf_init(&b);
    wsip_http_web_config(&b, domains, 0, "/a\"b\\c\x01", false);
    ck_assert_str_eq(body_of(&b), "{\"domains\":[],\"ws_path\":\"/a\\\"b\\\\c\\u0001\"}\n");
    wsip_sbuf_free(&b);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("parser");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, simple_get);
    tcase_add_test(tc, split_points);
    tcase_add_test(tc, pipelined_bytes_kept);
    tcase_add_test(tc, request_line_cap);
    tcase_add_test(tc, header_caps);
    tcase_add_test(tc, header_count_cap);
    tcase_add_test(tc, bodies);
    tcase_add_test(tc, transfer_encoding);
    tcase_add_test(tc, obs_fold_and_whitespace);
    tcase_add_test(tc, line_endings);
    tcase_add_test(tc, request_line_errors);
    tcase_add_test(tc, header_errors);
    tcase_add_test(tc, host_rule);
    tcase_add_test(tc, lookups);
    tcase_add_test(tc, error_responses);
    suite_add_tcase(s, tc);

    tc = tcase_create("static");
    tcase_add_test(tc, static_traversal);
    tcase_add_test(tc, static_index);
    tcase_add_test(tc, static_capacity);
    tcase_add_test(tc, mime_types);
    tcase_add_test(tc, static_responses);
    tcase_add_test(tc, web_config_path);
    tcase_add_test(tc, web_config_body);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(http_suite());
}

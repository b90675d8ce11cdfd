/* Admin pages (src/http/admin.c): access (networks, HTTP Basic password),
 * JSON string escaping, and the status.json and /metrics documents rendered
 * from a hand-made snapshot: status.json is checked with a strict JSON
 * reader written here, /metrics against the text format 0.0.4 rules. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/admin.h"
#include "testutil.h"
#include "wsip/ws.h"

/* ---------------------------------------------------------- JSON reader */

/* A strict reader (RFC 8259): returns the position after one value, or
 * NULL. Strings must be valid UTF-8 without raw control characters. */
static const char *json_value(const char *p, const char *end, int depth);

static const char *json_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static const char *json_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    const char *start = ++p;
    while (p < end && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (++p >= end)
                return NULL;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (p + i >= end || !isxdigit((unsigned char)p[i]))
                        return NULL;
                p += 4;
            } else if (!strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
    if (p >= end || !wsip_utf8_valid((const uint8_t *)start, (size_t)(p - start)))
        return NULL;
    return p + 1;
}

static const char *json_number(const char *p, const char *end)
{
    const char *s = p;
    if (p < end && *p == '-')
        p++;
    if (p >= end || !isdigit((unsigned char)*p))
        return NULL;
    if (*p == '0' && p + 1 < end && isdigit((unsigned char)p[1]))
        return NULL; /* no leading zeros */
    while (p < end && isdigit((unsigned char)*p))
        p++;
    if (p < end && *p == '.') {
        if (++p >= end || !isdigit((unsigned char)*p))
            return NULL;
        while (p < end && isdigit((unsigned char)*p))
            p++;
    }
    return p > s ? p : NULL;
}

static const char *json_list(const char *p, const char *end, int depth, char close, bool keys)
{
    p = json_ws(p + 1, end);
    if (p < end && *p == close)
        return p + 1;
    for (;;) {
        if (keys) {
            p = json_string(json_ws(p, end), end);
            if (!p || (p = json_ws(p, end)) >= end || *p != ':')
                return NULL;
            p++;
        }
        p = json_value(p, end, depth + 1);
        if (!p || (p = json_ws(p, end)) >= end)
            return NULL;
        if (*p == close)
            return p + 1;
        if (*p != ',')
            return NULL;
        p++;
    }
}

static const char *json_value(const char *p, const char *end, int depth)
{
    if (depth > 32)
        return NULL;
    p = json_ws(p, end);
    if (p >= end)
        return NULL;
    switch (*p) {
    case '{': return json_list(p, end, depth, '}', true);
    case '[': return json_list(p, end, depth, ']', false);
    case '"': return json_string(p, end);
    case 't': return end - p >= 4 && !memcmp(p, "true", 4) ? p + 4 : NULL;
    case 'f': return end - p >= 5 && !memcmp(p, "false", 5) ? p + 5 : NULL;
    case 'n': return end - p >= 4 && !memcmp(p, "null", 4) ? p + 4 : NULL;
    default: return json_number(p, end);
    }
}

static bool json_valid(const char *p, size_t len)
{
    const char *e = json_value(p, p + len, 0);
    return e && json_ws(e, p + len) == p + len;
}

START_TEST(json_reader_refuses_bad_documents)
{
    /* the checker itself must be able to say no */
    const char *good = "{\"a\":[1,2.5,true,null,\"x\"],\"b\":{}}";
    ck_assert(json_valid(good, strlen(good)));
    ck_assert(!json_valid("{\"a\":1,}", 8));
    ck_assert(!json_valid("{\"a\":\"\x01\"}", 9));
    ck_assert(!json_valid("{\"a\":\"\xff\"}", 9));
    ck_assert(!json_valid("{\"a\":01}", 8));
    ck_assert(!json_valid("[1] [2]", 7));
}
END_TEST

/* --------------------------------------------------------- JSON strings */

static char *json_of(const char *s, size_t len)
{
    struct wsip_sbuf b;
    wsip_sbuf_init(&b);
    wsip_json_str(&b, s, len);
    wsip_sbuf_append(&b, "", 1);
    ck_assert(!b.oom);
    return b.p;
}

#define ck_json(in, len, want)                                                                     \
    do {                                                                                           \
        char *got_ = json_of((in), (len));                                                         \
        ck_assert_msg(strcmp(got_, (want)) == 0, "json of %s: want %s, got %s", #in, (want),       \
                      got_);                                                                       \
        ck_assert(json_valid(got_, strlen(got_)));                                                 \
        free(got_);                                                                                \
    } while (0)

START_TEST(json_strings_escaped)
{
    ck_json("", 0, "\"\"");
    ck_json("JsSIP 3.10.0", 12, "\"JsSIP 3.10.0\"");
    ck_json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    ck_json("tab\there\r\n\x7f", 11, "\"tab\\u0009here\\u000d\\u000a\\u007f\"");
    ck_json("nul\0x", 5, "\"nul\\u0000x\"");
    /* valid UTF-8 goes through as it is */
    ck_json("h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80", 15,
            "\"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80\"");
    /* what is not UTF-8 becomes U+FFFD, byte by byte */
    ck_json("\xff", 1, "\"\\ufffd\"");
    ck_json("a\xc0\x80z", 4, "\"a\\ufffd\\ufffdz\"");        /* overlong NUL */
    ck_json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* a surrogate */
    ck_json("end\xe2\x9c", 5, "\"end\\ufffd\\ufffd\"");      /* cut short */
    ck_json("\x80x", 2, "\"\\ufffdx\"");                     /* stray continuation */
}
END_TEST

/* ---------------------------------------------------------- access */

static struct wsip_http_req req;

static void parse_req(const char *text)
{
    size_t used;
    struct wsip_http_err err;
    ck_assert_int_eq(wsip_http_parse(&req, text, strlen(text), NULL, &used, &err), WSIP_HTTP_OK);
}

static struct sockaddr_storage addr_of(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    }
    return ss;
}

static bool net_ok(struct wsip_admin_access *a, const char *ip)
{
    struct sockaddr_storage ss = addr_of(ip);
    return wsip_admin_network_ok(a, (const struct sockaddr *)&ss);
}

START_TEST(networks_default_loopback_then_configured)
{
    struct wsip_admin_access *a = wsip_admin_access_new();
    ck_assert_ptr_nonnull(a);
    ck_assert(net_ok(a, "127.0.0.1"));
    ck_assert(net_ok(a, "127.9.8.7"));
    ck_assert(net_ok(a, "::1"));
    ck_assert(!net_ok(a, "10.1.2.3"));
    ck_assert(!net_ok(a, "::2"));
    ck_assert(!wsip_admin_has_password(a));

    struct wsip_cidr c[2];
    const char *why;
    ck_assert_int_eq(wsip_cidr_parse("10.0.0.0/8", &c[0], &why), 0);
    ck_assert_int_eq(wsip_cidr_parse("2001:db8::/32", &c[1], &why), 0);
    struct wsip_cidr_list l = {c, 2};
    ck_assert_int_eq(wsip_admin_access_set(a, &l, ""), 0);
    ck_assert(!net_ok(a, "127.0.0.1"));
    ck_assert(net_ok(a, "10.1.2.3"));
    ck_assert(net_ok(a, "::ffff:10.1.2.3")); /* IPv4-mapped counts as IPv4 */
    ck_assert(net_ok(a, "2001:db8::7"));
    ck_assert(!net_ok(a, "2001:db9::7"));

    struct wsip_cidr_list none = {NULL, 0};
    ck_assert_int_eq(wsip_admin_access_set(a, &none, NULL), 0);
    ck_assert(!net_ok(a, "127.0.0.1")); /* an empty list shuts the pages */
    wsip_admin_access_free(a);
}
END_TEST

START_TEST(basic_password)
{
    struct wsip_admin_access *a = wsip_admin_access_new();
    ck_assert_ptr_nonnull(a);
    /* no password: every request passes */
    parse_req("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert(wsip_admin_auth_ok(a, &req));

    struct wsip_cidr_list none = {NULL, 0};
    ck_assert_int_eq(wsip_admin_access_set(a, &none, "s3:cr\xc3\xa9t"), 0);
    ck_assert(wsip_admin_has_password(a));
    ck_assert(!wsip_admin_auth_ok(a, &req)); /* no credentials */

    char text[256], b64[128];
    static const struct {
        const char *creds; /* user:password, base64-encoded below */
        bool ok;
    } cases[] = {
        {"admin:s3:cr\xc3\xa9t", true},
        {"anyone:s3:cr\xc3\xa9t", true}, /* the user name is not checked */
        {":s3:cr\xc3\xa9t", true},
        {"admin:s3:cr\xc3\xa9", false}, /* a prefix */
        {"admin:s3:cr\xc3\xa9tt", false},
        {"admin:", false},
        {"s3:cr\xc3\xa9t", false}, /* the user part took "s3" */
        {"no colon at all", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wsip_base64_encode(cases[i].creds, strlen(cases[i].creds), b64, sizeof(b64));
        snprintf(text, sizeof(text),
                 "GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: basic %s\r\n\r\n", b64);
        parse_req(text);
        ck_assert_msg(wsip_admin_auth_ok(a, &req) == cases[i].ok, "credentials %zu", i);
    }
    /* other schemes and broken base64 */
    parse_req("GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Digest username=\"a\"\r\n\r\n");
    ck_assert(!wsip_admin_auth_ok(a, &req));
    parse_req("GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46c2VjcmV0=\r\n\r\n");
    ck_assert(!wsip_admin_auth_ok(a, &req));
    parse_req("GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Basic\r\n\r\n");
    ck_assert(!wsip_admin_auth_ok(a, &req));
    parse_req("GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Basicx YWRtaW46\r\n\r\n");
    ck_assert(!wsip_admin_auth_ok(a, &req));

    /* back to none */
    ck_assert_int_eq(wsip_admin_access_set(a, &none, ""), 0);
    ck_assert(wsip_admin_auth_ok(a, &req));
    wsip_admin_access_free(a);
}
END_TEST

START_TEST(paths_and_refusals)
{
    ck_assert_int_eq(wsip_admin_page_of(wsip_str_cstr("/status")), WSIP_ADMIN_HTML);
    ck_assert_int_eq(wsip_admin_page_of(wsip_str_cstr("/status.json")), WSIP_ADMIN_JSON);
    ck_assert_int_eq(wsip_admin_page_of(wsip_str_cstr("/metrics")), WSIP_ADMIN_METRICS);
    ck_assert_int_eq(wsip_admin_page_of(wsip_str_cstr("/status/")), WSIP_ADMIN_NONE);
    ck_assert_int_eq(wsip_admin_page_of(wsip_str_cstr("/Metrics")), WSIP_ADMIN_NONE);
    ck_assert_int_eq(wsip_admin_page_of(wsip_str_cstr("/index.html")), WSIP_ADMIN_NONE);

    struct wsip_sbuf b;
    wsip_sbuf_init(&b);
    wsip_admin_refuse(&b, 401, false);
    wsip_sbuf_append(&b, "", 1);
    ck_assert_msg(strncmp(b.p, "HTTP/1.1 401 Unauthorized\r\n", 27) == 0, "%s", b.p);
    ck_assert_ptr_nonnull(strstr(b.p, "\r\nWWW-Authenticate: Basic realm=\"wsip admin\""));
    ck_assert_ptr_nonnull(strstr(b.p, "\r\nCache-Control: no-store\r\n"));
    wsip_sbuf_free(&b);

    wsip_sbuf_init(&b);
    wsip_admin_refuse(&b, 403, true);
    wsip_sbuf_append(&b, "", 1);
    ck_assert_msg(strncmp(b.p, "HTTP/1.1 403 Forbidden\r\n", 24) == 0, "%s", b.p);
    /* HEAD: the head says how long the body would be, and none follows */
    const char *end = strstr(b.p, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);
    ck_assert_str_eq(end, "\r\n\r\n");
    ck_assert_ptr_null(strstr(b.p, "Content-Length: 0\r\n"));
    wsip_sbuf_free(&b);

    wsip_sbuf_init(&b);
    wsip_admin_head(&b, WSIP_ADMIN_JSON_TYPE, 1234, NULL);
    wsip_sbuf_append(&b, "", 1);
    ck_assert_str_eq(b.p, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: 1234\r\nCache-Control: no-store\r\n"
                          "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n");
    wsip_sbuf_free(&b);
}
END_TEST

/* --------------------------------------------------------- documents */

#define NOW 1800000000000LL /* ms */

static struct wsip_location *loc;
static struct wsip_binding_list list;

static void add_binding(const char *aor, const char *contact, const char *ua, const char *instance,
                        int transport, int64_t expires_in_ms)
{
    struct wsip_binding b = {
        .aor = aor,
        .contact = contact,
        .params = "",
        .instance = instance,
        .received = "udp:192.0.2.1:5060",
        .path = "",
        .call_id = "c1",
        .user_agent = ua,
        .expires_at = NOW + expires_in_ms,
        .created_at = NOW,
        .updated_at = NOW,
        .cseq = 1,
        .q = -1,
        .transport = (uint8_t)transport,
    };
    ck_assert_int_eq(wsip_location_restore(loc, &b, NOW), 0);
}

/* A snapshot with every counter set to a distinct value, and three bindings
 * of which the user agents are hostile. */
static void make_status(struct wsip_status *st)
{
    memset(st, 0, sizeof(*st));
    loc = wsip_location_new(NULL);
    ck_assert_ptr_nonnull(loc);
    add_binding("sip:alice@localhost", "sip:alice@192.0.2.1:5060", "Phone \"A\" \\ 1.0\r\n", "",
                WSIP_LOC_TP_UDP, 600500);
    add_binding("sip:bob@localhost", "sip:bob@192.0.2.2:5060", "caf\xc3\xa9 \xff\xfe </script>",
                "<urn:uuid:00000000-0000-0000-0000-000000000001>", WSIP_LOC_TP_TCP, 1000);
    add_binding("sip:carol@localhost", "sip:carol@192.0.2.3:5060", "", "", WSIP_LOC_TP_TLS, 30000);
    ck_assert_int_eq(wsip_location_snapshot(loc, NOW, 0, &list), 0);
    ck_assert_uint_eq(list.n, 3);
    st->version = "1.2.3-4-g\"quoted\"\\";
    st->uptime_ms = 3723456;
    st->start_unix_ms = NOW - 3723456;
    st->now_unix_ms = NOW;
    st->workers = 2;
    st->registrar = true;
    st->bindings = 3;
    st->aors = 3;
    st->list = list.v;
    st->nlist = list.n;
    uint64_t v = 100;
    struct wsip_counter_totals *c = &st->c;
    c->rx_msgs = v++;
    c->tx_msgs = v++;
    c->rx_bad = v++;
    for (int i = 0; i < WSIP_CTR_METHODS; i++)
        c->requests[i] = v++;
    for (int i = 0; i < WSIP_CTR_RESPONSES; i++)
        c->responses[i] = v++;
    for (int i = 0; i < WSIP_CTR_KINDS; i++) {
        c->conns_open[i] = v++;
        c->conns_total[i] = v++;
    }
    c->conns_refused = v++;
    c->ws_pings = v++;
    c->ws_pongs_missed = v++;
    c->ws_closes[0] = v++;
    c->ws_closes[6] = v++; /* 1006: never on the wire, shown once counted */
    c->strans_open = 7;
    c->ctrans_open = 8;
    c->calls_answered = 5;
    c->calls_ended = 2;
    c->stale_flows = v++;
    c->handoffs = v++;
    st->per_worker[0] = (struct wsip_worker_load){.requests = 61, .udp_handed_over = 17};
    st->per_worker[1] = (struct wsip_worker_load){.requests = 62, .udp_handed_over = 0};
    st->per_worker[2].requests = 99; /* past st->workers: never shown */
    st->auth.challenges = 41;
    st->auth.by_rc[WSIP_AUTH_OK] = 40;
    st->auth.by_rc[WSIP_AUTH_FAILED] = 3;
    st->auth.by_rc[WSIP_AUTH_RATE_LIMITED] = 1;
}

static void free_status(void)
{
    wsip_binding_list_free(&list);
    wsip_location_free(loc);
    loc = NULL;
}

static char *render(const struct wsip_status *st, bool json)
{
    struct wsip_sbuf b;
    wsip_sbuf_init(&b);
    if (json)
        wsip_status_json(st, &b);
    else
        wsip_status_metrics(st, &b);
    ck_assert(!b.oom);
    wsip_sbuf_append(&b, "", 1);
    return b.p;
}

#define ck_has(doc, s) ck_assert_msg(strstr((doc), (s)) != NULL, "missing %s in:\n%s", (s), (doc))

START_TEST(status_json_document)
{
    struct wsip_status st;
    make_status(&st);
    char *doc = render(&st, true);
    ck_assert_msg(json_valid(doc, strlen(doc)), "not JSON:\n%s", doc);
    ck_has(doc, "\"version\":\"1.2.3-4-g\\\"quoted\\\"\\\\\"");
    ck_has(doc, "\"uptime_ms\":3723456,");
    ck_has(doc, "\"workers\":2,");
    /* connections by stream transport only (no "udp") */
    ck_has(doc, "\"open\":{\"tcp\":");
    ck_assert_ptr_null(strstr(doc, "\"udp\":"));
    ck_has(doc, "\"bindings\":3,\"aors\":3,\"listed\":3,\"truncated\":false");
    /* each binding with its fields; expiry rounded up to whole seconds */
    ck_has(doc, "\"aor\":\"sip:alice@localhost\",\"contact\":\"sip:alice@192.0.2.1:5060\","
                "\"transport\":\"udp\",\"expires_in\":601,\"user_agent\":\"Phone \\\"A\\\" "
                "\\\\ 1.0\\u000d\\u000a\",\"instance\":\"\"");
    ck_has(doc, "\"transport\":\"tcp\",\"expires_in\":1,\"user_agent\":\"caf\xc3\xa9 "
                "\\ufffd\\ufffd </script>\",\"instance\":\"<urn:uuid:00000000-0000-0000-0000-"
                "000000000001>\"");
    ck_has(doc, "\"transport\":\"tls\",\"expires_in\":30,");
    ck_has(doc, "\"transactions\":{\"server\":7,\"client\":8}");
    ck_has(doc, "\"calls\":{\"in_progress\":3,\"answered\":5,\"ended\":2}");
    ck_has(doc, "\"requests\":{\"INVITE\":");
    ck_has(doc, "\"other\":");
    ck_has(doc, "\"responses\":{\"1xx\":");
    ck_has(doc, "\"auth\":{\"challenges\":41,\"failures\":4,\"results\":{\"ok\":40,");
    ck_has(doc, "\"1006\":");
    ck_assert_ptr_null(strstr(doc, "\"1005\":")); /* not counted: not listed */
    ck_has(doc, "\"per_worker\":[{\"requests\":61,\"udp_handed_over\":17},"
                "{\"requests\":62,\"udp_handed_over\":0}]");
    free(doc);

    /* more bindings than listed */
    st.bindings = 5000;
    st.nlist = 2;
    doc = render(&st, true);
    ck_assert(json_valid(doc, strlen(doc)));
    ck_has(doc, "\"bindings\":5000,\"aors\":3,\"listed\":2,\"truncated\":true");
    free(doc);

    /* no registrar at all */
    struct wsip_status bare = {.version = "x"};
    doc = render(&bare, true);
    ck_assert(json_valid(doc, strlen(doc)));
    ck_has(doc, "\"enabled\":false,\"bindings\":0,\"aors\":0,\"listed\":0,\"truncated\":false,"
                "\"list\":[]");
    free(doc);
    free_status();
}
END_TEST

/* Checks the exposition format: HELP then TYPE before a family's samples,
 * each family once, counters named *_total, every sample "name{labels}
 * value" of the family announced last, label sets unique. NULL, or what is
 * wrong (in a static buffer); *nsamples counts the samples. */
static char why[700];

#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(why, sizeof(why), __VA_ARGS__);                                                   \
        return why;                                                                                \
    } while (0)

/* The end of a {label="value",...} list starting at p ('{'), or NULL. */
static char *label_list_end(char *p)
{
    p++;
    while (*p != '}') {
        size_t ln = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_");
        if (ln == 0 || p[ln] != '=' || p[ln + 1] != '"')
            return NULL;
        for (p += ln + 2; *p && *p != '"'; p++)
            if (*p == '\\' && !(p[1] == '\\' || p[1] == '"' || p[1] == 'n'))
                return NULL;
            else if (*p == '\\')
                p++;
        if (*p != '"')
            return NULL;
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}')
            return NULL;
    }
    return p + 1;
}

static const char *exposition_error(char *doc, int *nsamples)
{
    static char seen[64][128], series[64][256];
    char family[128] = "";
    int nseen = 0, nseries = 0;
    bool typed = false;
    char *save = NULL;
    *nsamples = 0;
    if (!*doc || doc[strlen(doc) - 1] != '\n')
        BAD("the last line must end in a line feed");
    for (char *line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128], rest[512];
        if (sscanf(line, "# HELP %127s %511[^\n]", name, rest) == 2) {
            for (int i = 0; i < nseen; i++)
                if (!strcmp(seen[i], name))
                    BAD("family %s announced twice", name);
            if (nseen == 64)
                BAD("too many families");
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
            snprintf(family, sizeof(family), "%s", name);
            typed = false;
            nseries = 0;
            continue;
        }
        if (sscanf(line, "# TYPE %127s %511s", name, rest) == 2) {
            if (strcmp(name, family))
                BAD("TYPE of %s after HELP of %s", name, family);
            if (strcmp(rest, "counter") && strcmp(rest, "gauge"))
                BAD("type %s", rest);
            size_t nl = strlen(name);
            if (!strcmp(rest, "counter") && (nl < 7 || strcmp(name + nl - 6, "_total")))
                BAD("counter %s must end in _total", name);
            typed = true;
            continue;
        }
        if (line[0] == '#')
            BAD("stray comment: %s", line);
        if (!typed)
            BAD("sample before HELP and TYPE: %s", line);
        size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
        if (n == 0 || isdigit((unsigned char)line[0]))
            BAD("bad metric name: %s", line);
        if (strlen(family) != n || strncmp(line, family, n))
            BAD("%s outside its family %s", line, family);
        char *p = line + n;
        if (*p == '{' && !(p = label_list_end(p)))
            BAD("bad labels: %s", line);
        if (*p != ' ')
            BAD("no single space before the value: %s", line);
        char *endv;
        strtod(p + 1, &endv);
        if (endv == p + 1 || *endv)
            BAD("bad value: %s", line);
        *p = '\0';
        for (int i = 0; i < nseries; i++)
            if (!strcmp(series[i], line))
                BAD("series %s twice", line);
        if (nseries == 64)
            BAD("too many series in %s", family);
        snprintf(series[nseries++], sizeof(series[0]), "%s", line);
        ++*nsamples;
    }
    return NULL;
}

START_TEST(exposition_checker_refuses_bad_text)
{
    /* the checker must be able to say no to what it is meant to catch */
    static const char *const bad[] = {
        "# HELP x_total x\n# TYPE x_total counter\nx_total 1\ny_total 2\n", /* outside */
        "x_total 1\n",                                                      /* no HELP */
        "# HELP x x\n# TYPE x counter\nx 1\n",                              /* no _total */
        "# HELP x x\n# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",         /* same series */
        "# HELP x x\n# TYPE x gauge\nx 1\n# HELP x x\n# TYPE x gauge\n",    /* family twice */
        "# HELP x x\n# TYPE x gauge\nx{a=1} 1\n",                           /* unquoted */
        "# HELP x x\n# TYPE x gauge\nx 1 2\n",                              /* value */
        "# HELP x x\n# TYPE x gauge\nx 1",                                  /* no final LF */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *doc = strdup(bad[i]);
        int n;
        ck_assert_msg(exposition_error(doc, &n) != NULL, "accepted: %s", bad[i]);
        free(doc);
    }
    char *good = strdup("# HELP x x\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\",b=\"\"} 1.5\nx 2\n");
    int n;
    const char *e = exposition_error(good, &n);
    ck_assert_msg(e == NULL, "refused: %s", e);
    ck_assert_int_eq(n, 2);
    free(good);
}
END_TEST

START_TEST(metrics_document)
{
    struct wsip_status st;
    make_status(&st);
    char *doc = render(&st, false);
    ck_has(doc, "\nwsip_build_info{version=\"1.2.3-4-g\\\"quoted\\\"\\\\\"} 1\n");
    ck_has(doc, "\nwsip_uptime_seconds 3723.456\n");
    ck_has(doc, "\n# TYPE wsip_connections_open gauge\n");
    ck_has(doc, "\nwsip_registrations 3\n");
    ck_has(doc, "\nwsip_transactions{role=\"server\"} 7\n");
    ck_has(doc, "\nwsip_calls_in_progress 3\n");
    ck_has(doc, "\nwsip_auth_checks_total{result=\"failed\"} 3\n");
    ck_has(doc, "\nwsip_ws_closes_total{code=\"1006\"} ");
    ck_assert_ptr_null(strstr(doc, "code=\"1005\""));
    ck_has(doc, "\nwsip_worker_requests_total{worker=\"1\"} 62\n");
    ck_has(doc, "\nwsip_udp_handed_over_total{worker=\"0\"} 17\n");
    ck_assert_ptr_null(strstr(doc, "worker=\"2\""));
    ck_assert_ptr_null(strstr(doc, "transport=\"udp\""));
    /* the counters' values where they belong */
    char want[128];
    snprintf(want, sizeof(want), "\nwsip_sip_requests_total{method=\"REGISTER\"} %llu\n",
             (unsigned long long)st.c.requests[WSIP_METHOD_REGISTER]);
    ck_has(doc, want);
    snprintf(want, sizeof(want), "\nwsip_sip_responses_total{class=\"4xx\"} %llu\n",
             (unsigned long long)st.c.responses[3]);
    ck_has(doc, want);
    snprintf(want, sizeof(want), "\nwsip_connections_total{transport=\"wss\"} %llu\n",
             (unsigned long long)st.c.conns_total[WSIP_LISTEN_WSS]);
    ck_has(doc, want);
    int n;
    const char *e = exposition_error(doc, &n);
    ck_assert_msg(e == NULL, "%s", e);
    ck_assert_int_gt(n, 60);
    free(doc);

    /* calls never go below zero */
    st.c.calls_answered = 1;
    st.c.calls_ended = 4;
    ck_assert_uint_eq(wsip_status_calls(&st), 0);
    doc = render(&st, false);
    ck_has(doc, "\nwsip_calls_in_progress 0\n");
    free(doc);
    free_status();
}
END_TEST

START_TEST(embedded_page_and_version)
{
    ck_assert_uint_gt(wsip_status_page_len, 1000);
    ck_assert_int_eq(wsip_status_page[wsip_status_page_len], 0);
    const char *page = (const char *)wsip_status_page;
    ck_assert_ptr_nonnull(strstr(page, "id=\"registrations-body\""));
    ck_assert_ptr_nonnull(strstr(page, "status.json"));
    ck_assert_uint_gt(strlen(wsip_build_version), 0);
}
END_TEST

static Suite *admin_suite(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("access");
    tcase_add_test(tc, networks_default_loopback_then_configured);
    tcase_add_test(tc, basic_password);
    tcase_add_test(tc, paths_and_refusals);
    suite_add_tcase(s, tc);

    tc = tcase_create("render");
    tcase_add_test(tc, json_reader_refuses_bad_documents);
    tcase_add_test(tc, json_strings_escaped);
    tcase_add_test(tc, status_json_document);
    tcase_add_test(tc, metrics_document);
    tcase_add_test(tc, embedded_page_and_version);
    tcase_add_test(tc, exposition_checker_refuses_bad_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(admin_suite());
}

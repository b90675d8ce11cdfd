/* Configuration: defaults, the example file and docs against the table,
 * every value type from the file and from --set, line numbers of errors,
 * precedence, cross-field validation, dump round trip, reload. */
#include <arpa/inet.h>
#include <libconfig.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "wsip/config.h"

#define ck_contains(hay, needle)                                                                   \
    ck_assert_msg((hay) != NULL && strstr((hay), (needle)) != NULL,                                \
                  "expected '%s' to contain '%s'", (hay) ? (hay) : "(null)", (needle))

/* ------------------------------------------------------------- helpers */

#include <ftw.h>

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_tmpdir(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    tmpdir[0] = '\0';
}

static void mk_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/wsip-cfg-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static const char *write_tmp(const char *name, const char *text)
{
    static char path[160];
    if (!tmpdir[0])
        mk_tmpdir();
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads text as a config file into a fresh config; returns the rc. */
static int load_text(struct wsip_config *c, const char *text, struct wsip_config_err *err)
{
    memset(err, 0, sizeof(*err));
    ck_assert_int_eq(wsip_config_init(c), 0);
    return wsip_config_load_file(c, write_tmp("test.conf", text), err);
}

/* The i-th error as one "FILE:LINE: message" string. */
static const char *err_line(const struct wsip_config_err *err, unsigned i)
{
    static char buf[600];
    ck_assert_msg(i < err->count, "wanted error %u, have %u", i, err->count);
    const struct wsip_config_err_entry *e = &err->e[i];
    snprintf(buf, sizeof(buf), "%s:%u: %s", e->file, e->line, e->msg);
    return buf;
}

/* Exactly one error, on line, containing msg. */
static void expect_one_error(const char *text, unsigned line, const char *msg)
{
    struct wsip_config c;
    struct wsip_config_err err;
    int rc = load_text(&c, text, &err);
    ck_assert_msg(rc == -1, "expected failure for:\n%s", text);
    ck_assert_uint_eq(err.count, 1);
    ck_assert_uint_eq(err.e[0].line, line);
    ck_contains(err.e[0].msg, msg);
    ck_contains(err.e[0].file, "test.conf");
    wsip_config_free(&c);
}

static void expect_ok(const char *text, struct wsip_config *c)
{
    struct wsip_config_err err;
    int rc = load_text(c, text, &err);
    ck_assert_msg(rc == 0, "unexpected error for '%s': %s", text,
                  err.count ? err_line(&err, 0) : "(none)");
}

static char *read_all(const char *path)
{
    size_t len;
    return read_file(path, &len);
}

/* ---------------------------------------------------------- defaults */

START_TEST(defaults_are_the_documented_ones)
{
    struct wsip_config c;
    ck_assert_int_eq(wsip_config_init(&c), 0);
    ck_assert_uint_eq(c.listen.n, 3);
    ck_assert_int_eq(c.listen.v[0].transport, WSIP_TP_UDP);
    ck_assert_str_eq(c.listen.v[0].host, "127.0.0.1");
    ck_assert_uint_eq(c.listen.v[0].port, 5060);
    ck_assert_int_eq(c.listen.v[1].transport, WSIP_TP_TCP);
    ck_assert_uint_eq(c.listen.v[1].port, 5060);
    ck_assert_int_eq(c.listen.v[2].transport, WSIP_TP_WS);
    ck_assert_str_eq(c.listen.v[2].uri, "ws://127.0.0.1:8080");
    ck_assert_uint_eq(c.listen.v[2].port, 8080);
    ck_assert_uint_eq(c.domains.n, 1);
    ck_assert_str_eq(c.domains.v[0], "localhost");
    ck_assert_str_eq(c.db, "./var/wsip.db");
    ck_assert_uint_eq(c.workers, 0);
    ck_assert_int_eq(c.log.level, WSIP_LOG_INFO);
    ck_assert_str_eq(c.log.file, "");
    /* DESIGN.md section 6 */
    ck_assert_uint_eq(c.sip.max_message_size, 65536);
    ck_assert_uint_eq(c.sip.max_udp_message_size, 65507);
    ck_assert_uint_eq(c.sip.max_headers, 128);
    ck_assert_uint_eq(c.sip.max_header_line, 8192);
    ck_assert_uint_eq(c.sip.max_start_line, 8192);
    ck_assert_uint_eq(c.sip.t1, 500);
    ck_assert_uint_eq(c.sip.t2, 4000);
    ck_assert_uint_eq(c.sip.t4, 5000);
    ck_assert_str_eq(c.ws.path, "/");
    ck_assert_uint_eq(c.ws.allowed_origins.n, 0);
    ck_assert_uint_eq(c.ws.ping_interval, 30);
    ck_assert_uint_eq(c.ws.max_missed_pongs, 2);
    ck_assert_uint_eq(c.ws.max_frame_size, 65536);
    ck_assert_uint_eq(c.ws.max_message_size, 65536);
    ck_assert_str_eq(c.http.root, "./web");
    ck_assert_uint_eq(c.http.max_header_size, 8192);
    ck_assert_uint_eq(c.net.max_connections, 20000);
    ck_assert_uint_eq(c.net.max_connections_per_ip, 100);
    ck_assert_uint_eq(c.net.handshakes_per_ip_per_second, 20);
    ck_assert_uint_eq(c.net.send_queue_limit, 1048576);
    ck_assert_uint_eq(c.tcp.idle_timeout, 180);
    ck_assert_uint_eq(c.tcp.connect_timeout, 5);
    ck_assert(c.tcp.nodelay);
    ck_assert_str_eq(c.tls.certificate, "");
    ck_assert_str_eq(c.tls.private_key, "");
    ck_assert_int_eq(c.tls.min_version, WSIP_TLS_1_2);
    ck_assert(c.tls.verify_peer);
    ck_assert_str_eq(c.tls.ca_file, "");
    ck_assert_uint_eq(c.dns.cache_ttl, 30);
    ck_assert_uint_eq(c.registrar.min_expires, 60);
    ck_assert_uint_eq(c.registrar.default_expires, 600);
    ck_assert_uint_eq(c.registrar.max_expires, 3600);
    ck_assert_str_eq(c.auth.realm, "");
    ck_assert_uint_eq(c.auth.algorithms.n, 2);
    ck_assert_str_eq(c.auth.algorithms.v[0], "MD5");
    ck_assert_str_eq(c.auth.algorithms.v[1], "SHA-256");
    ck_assert_uint_eq(c.auth.algorithms_ws.n, 2);
    ck_assert_str_eq(c.auth.algorithms_ws.v[0], "SHA-256");
    ck_assert_str_eq(c.auth.algorithms_ws.v[1], "MD5");
    ck_assert_uint_eq(c.trusted.n, 0);
    ck_assert_uint_eq(c.admin.allowed_networks.n, 2);
    char net[64];
    wsip_cidr_format(&c.admin.allowed_networks.v[0], net, sizeof(net));
    ck_assert_str_eq(net, "127.0.0.0/8");
    wsip_cidr_format(&c.admin.allowed_networks.v[1], net, sizeof(net));
    ck_assert_str_eq(net, "::1/128");

    struct wsip_config_err err = {0};
    ck_assert_int_eq(wsip_config_validate(&c, &err), 0);
    ck_assert_str_eq(wsip_config_realm(&c), "localhost");
    ck_assert_uint_ge(wsip_config_workers(&c), 1);
    ck_assert_uint_le(wsip_config_workers(&c), 64);
    wsip_config_free(&c);
}
END_TEST

START_TEST(table_is_well_formed)
{
    size_t n;
    const struct wsip_config_directive *t = wsip_config_directives(&n);
    ck_assert_uint_ge(n, 39);
    ck_assert_uint_lt(n, 256); /* the writer's bookkeeping */
    for (size_t i = 0; i < n; i++) {
        const struct wsip_config_directive *d = &t[i];
        ck_assert_msg(d->doc && d->doc[0], "%s has no doc", d->name);
        const char *dot = strchr(d->name, '.');
        ck_assert_msg(!dot || !strchr(dot + 1, '.'), "%s: more than one dot", d->name);
        ck_assert_msg(d->min <= d->max || d->type == WSIP_CONFIG_BOOL ||
                          d->type == WSIP_CONFIG_ENUM,
                      "%s: min %lld > max %lld", d->name, (long long)d->min, (long long)d->max);
        ck_assert_msg(d->min >= 0, "%s: negative min %lld", d->name, (long long)d->min);
        if (d->type == WSIP_CONFIG_ENUM)
            ck_assert_msg(d->values && d->values[0], "%s: enum without values", d->name);
        ck_assert_ptr_eq(wsip_config_find(d->name), d);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(t[j].name, d->name);
        /* a group's members are contiguous, so the file has one block per group */
        if (dot && i > 0) {
            size_t gl = (size_t)(dot - d->name);
            bool same_as_prev = strncmp(t[i - 1].name, d->name, gl + 1) == 0;
            for (size_t j = 0; j + 1 < i && !same_as_prev; j++)
                ck_assert_msg(strncmp(t[j].name, d->name, gl + 1) != 0,
                              "%s: group %.*s is split (also at %s)", d->name, (int)gl, d->name,
                              t[j].name);
        }
    }
    ck_assert_ptr_null(wsip_config_find("nope"));
    ck_assert_str_eq(wsip_log_level_name(WSIP_LOG_TRACE), "trace");
    /* the log.level values are the log module's names, in its order */
    const struct wsip_config_directive *lv = wsip_config_find("log.level");
    for (int i = 0; i < WSIP_LOG_LEVEL_COUNT; i++)
        ck_assert_str_eq(lv->values[i], wsip_log_level_name((enum wsip_log_level)i));
}
END_TEST

/* --------------------------------------------- example file and docs */

static void assert_all_equal(const struct wsip_config *a, const struct wsip_config *b)
{
    size_t n;
    const struct wsip_config_directive *t = wsip_config_directives(&n);
    for (size_t i = 0; i < n; i++) {
        char va[512], vb[512];
        wsip_config_format(a, &t[i], va, sizeof(va));
        wsip_config_format(b, &t[i], vb, sizeof(vb));
        ck_assert_msg(wsip_config_equal(a, b, &t[i]), "%s: '%s' != '%s'", t[i].name, va, vb);
        ck_assert_str_eq(va, vb);
    }
}

START_TEST(example_file_gives_exactly_the_defaults)
{
    const char *path = WSIP_SOURCE_DIR "/etc/wsip.conf";
    struct wsip_config def, c;
    struct wsip_config_err err = {0};
    ck_assert_int_eq(wsip_config_init(&def), 0);
    ck_assert_int_eq(wsip_config_init(&c), 0);
    int rc = wsip_config_load_file(&c, path, &err);
    ck_assert_msg(rc == 0, "%s", err.count ? err_line(&err, 0) : "");
    assert_all_equal(&def, &c);
    wsip_config_free(&c);
    wsip_config_free(&def);
}
END_TEST

START_TEST(example_file_sets_every_directive)
{
    /* present in the file itself (not just defaulted), written as the default */
    const char *path = WSIP_SOURCE_DIR "/etc/wsip.conf";
    config_t lc;
    config_init(&lc);
    ck_assert_msg(config_read_file(&lc, path), "%s:%d: %s", path, config_error_line(&lc),
                  config_error_text(&lc));
    struct wsip_config def;
    ck_assert_int_eq(wsip_config_init(&def), 0);
    size_t n;
    const struct wsip_config_directive *t = wsip_config_directives(&n);
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *s = config_lookup(&lc, t[i].name);
        ck_assert_msg(s != NULL, "%s is missing from etc/wsip.conf", t[i].name);
        /* the value as written, in --set syntax */
        char have[600];
        FILE *f = fmemopen(have, sizeof(have), "w");
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64: fprintf(f, "%lld", config_setting_get_int64(s)); break;
        case CONFIG_TYPE_BOOL: fputs(config_setting_get_bool(s) ? "true" : "false", f); break;
        case CONFIG_TYPE_STRING: fputs(config_setting_get_string(s), f); break;
        case CONFIG_TYPE_ARRAY:
        case CONFIG_TYPE_LIST:
            fputs("[", f);
            for (int j = 0; j < config_setting_length(s); j++)
                fprintf(f, "%s%s", j ? ", " : "",
                        config_setting_get_string(config_setting_get_elem(s, (unsigned)j)));
            fputs("]", f);
            break;
        default: fputs("(unexpected type)", f);
        }
        fputc('\0', f);
        fclose(f);
        char want[600];
        wsip_config_format(&def, &t[i], want, sizeof(want));
        ck_assert_msg(strcmp(have, want) == 0, "%s: etc/wsip.conf has '%s', the default is '%s'",
                      t[i].name, have, want);
    }
    wsip_config_free(&def);
    config_destroy(&lc);
}
END_TEST

START_TEST(example_file_is_generated_from_the_table)
{
    char *want = NULL;
    size_t wlen = 0;
    FILE *f = open_memstream(&want, &wlen);
    wsip_config_write_example(f);
    fclose(f);
    char *have = read_all(WSIP_SOURCE_DIR "/etc/wsip.conf");
    ck_assert_msg(strcmp(want, have) == 0,
                  "etc/wsip.conf is stale: run build/wsip check-config --example > "
                  "etc/wsip.conf\n--- generated:\n%s",
                  want);
    free(want);
    free(have);
}
END_TEST

START_TEST(docs_list_every_directive)
{
    char *doc = read_all(WSIP_SOURCE_DIR "/docs/configuration.md");
    size_t n;
    const struct wsip_config_directive *t = wsip_config_directives(&n);
    for (size_t i = 0; i < n; i++) {
        char cell[128];
        snprintf(cell, sizeof(cell), "| `%s` |", t[i].name);
        ck_assert_msg(strstr(doc, cell) != NULL, "docs/configuration.md lacks a row for %s",
                      t[i].name);
    }
    const char *begin = "<!-- BEGIN DIRECTIVES -->\n";
    char *b = strstr(doc, begin);
    char *e = strstr(doc, "<!-- END DIRECTIVES -->");
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(e);
    b += strlen(begin);
    *e = '\0';
    char *want = NULL;
    size_t wlen = 0;
    FILE *f = open_memstream(&want, &wlen);
    wsip_config_write_markdown(f);
    fclose(f);
    ck_assert_msg(strcmp(b, want) == 0,
                  "docs/configuration.md table is stale: replace it with build/wsip "
                  "check-config --markdown\n--- generated:\n%s--- in the file:\n%s",
                  want, b);
    free(want);
    free(doc);
}
END_TEST

/* ------------------------------------------------------- file parsing */

START_TEST(file_values_of_every_type)
{
    struct wsip_config c;
    expect_ok(
        "listen = [ \"udp://[::]:5062\",\n"
        "           \"WSS://phone.example.com\" ];\n"
        "domains = \"example.com\";\n"
        "workers = 4;\n"
        "log = { level = \"DEBUG\"; file = \"/tmp/x.log\"; };\n"
        "sip = { max_message_size = \"128K\"; t1 = \"1s\"; t2 = 8000; };\n"
        "ws = { ping_interval = \"2m\"; allowed_origins = ( \"https://a.example:8443\" ); };\n"
        "tcp = { nodelay = false; };\n"
        "tls = { min_version = 1.3; certificate = \"c\"; private_key = \"k\"; };\n"
        "auth = { algorithms = [ \"sha-256\", \"md5\" ]; realm = \"r\"; };\n"
        "trusted = [ \"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.7\" ];\n",
        &c);
    ck_assert_uint_eq(c.listen.n, 2);
    ck_assert_int_eq(c.listen.v[0].transport, WSIP_TP_UDP);
    ck_assert_str_eq(c.listen.v[0].host, "::");
    ck_assert_int_eq(c.listen.v[0].host_type, WSIP_HOST_IPV6);
    ck_assert_uint_eq(c.listen.v[0].port, 5062);
    ck_assert_int_eq(c.listen.v[1].transport, WSIP_TP_WSS);
    ck_assert_str_eq(c.listen.v[1].host, "phone.example.com");
    ck_assert_int_eq(c.listen.v[1].host_type, WSIP_HOST_NAME);
    ck_assert_uint_eq(c.listen.v[1].port, 443);
    ck_assert_uint_eq(c.domains.n, 1);
    ck_assert_str_eq(c.domains.v[0], "example.com");
    ck_assert_uint_eq(c.workers, 4);
    ck_assert_int_eq(c.log.level, WSIP_LOG_DEBUG);
    ck_assert_str_eq(c.log.file, "/tmp/x.log");
    ck_assert_uint_eq(c.sip.max_message_size, 131072);
    ck_assert_uint_eq(c.sip.t1, 1000);
    ck_assert_uint_eq(c.sip.t2, 8000);
    ck_assert_uint_eq(c.ws.ping_interval, 120);
    ck_assert_uint_eq(c.ws.allowed_origins.n, 1);
    ck_assert_str_eq(c.ws.allowed_origins.v[0], "https://a.example:8443");
    ck_assert(!c.tcp.nodelay);
    ck_assert_int_eq(c.tls.min_version, WSIP_TLS_1_3);
    ck_assert_uint_eq(c.auth.algorithms.n, 2);
    ck_assert_str_eq(c.auth.algorithms.v[0], "SHA-256"); /* canonical spelling */
    ck_assert_str_eq(c.auth.algorithms.v[1], "MD5");
    ck_assert_str_eq(wsip_config_realm(&c), "r");
    ck_assert_uint_eq(c.trusted.n, 3);
    char net[64];
    wsip_cidr_format(&c.trusted.v[2], net, sizeof(net));
    ck_assert_str_eq(net, "192.0.2.7/32");
    wsip_config_free(&c);
}
END_TEST

START_TEST(file_number_errors)
{
    expect_one_error("# comment\n\nworkers = 65;\n", 3, "workers: 65 is out of range (0..64)");
    /* libconfig 1.5 would read this as 4: it must still be refused */
    expect_one_error("workers =\t4294967300;\n", 1, "workers: 4294967300 is out of range");
    expect_one_error("net = {\n  max_connections = 0;\n};\n", 2,
                     "net.max_connections: 0 is out of range (1..1000000)");
    expect_one_error("sip = { max_message_size = \"17M\"; };\n", 1,
                     "sip.max_message_size: 17M is out of range (1024..16777216)");
    expect_one_error("sip = { max_message_size = \"64Q\"; };\n", 1, "unknown unit");
    expect_one_error("ws = { ping_interval = \"1500ms\"; };\n", 1, "not a whole number of seconds");
    expect_one_error("workers = \"4\";\n", 1, "workers: expected an integer, got a string");
    expect_one_error("workers = 4.5;\n", 1, "expected an integer, got a float");
    expect_one_error("ws = {\n ping_interval = -1; };\n", 2, "-1 is out of range (0..3600)");
}
END_TEST

START_TEST(file_enum_string_bool_errors)
{
    expect_one_error("log = {\n  level = \"loud\";\n};\n", 2,
                     "log.level: 'loud' is not one of error, warn, info, debug, trace");
    expect_one_error("tls = { min_version = 1.1; };\n", 1, "'1.1' is not one of 1.2, 1.3");
    expect_one_error("db = 5;\n", 1, "db: expected a string, got an integer");
    expect_one_error("\ndb = \"\";\n", 2, "db: '' must not be empty");
    expect_one_error("ws = { path = \"sip\"; };\n", 1, "must start with '/'");
    expect_one_error("tcp = { nodelay = \"yes\"; };\n", 1, "expected true or false, got a string");
    expect_one_error("auth = { realm = \"a\\\"b\"; };\n", 1, "auth.realm");
}
END_TEST

START_TEST(file_listen_errors_point_at_the_entry)
{
    struct wsip_config c;
    struct wsip_config_err err;
    int rc = load_text(&c,
                       "listen = [\n"
                       "  \"ws://[::1:8080\",\n"
                       "  \"udp://host:0\",\n"
                       "  \"foo://x:1\",\n"
                       "  \"tcp://127.0.0.1:5060\",\n"
                       "  \"ws://0.0.0.0:8080/sip\",\n"
                       "  \"udp://::1:5060\",\n"
                       "  \"tcp://bad_host:5060\",\n"
                       "  \"tcp://127.0.0.1:65536\",\n"
                       "  \"127.0.0.1:5060\"\n"
                       "];\n",
                       &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_uint_eq(err.count, 8);
    ck_contains(err_line(&err, 0), "test.conf:2: listen: 'ws://[::1:8080' unterminated IPv6");
    ck_contains(err_line(&err, 1), "test.conf:3: listen: 'udp://host:0' port out of range");
    ck_contains(err_line(&err, 2), "test.conf:4: listen: 'foo://x:1' unknown scheme");
    ck_contains(err_line(&err, 3), "test.conf:6: listen: 'ws://0.0.0.0:8080/sip' no path");
    ck_contains(err_line(&err, 4), "test.conf:7:");
    ck_contains(err_line(&err, 4), "must be in brackets");
    ck_contains(err_line(&err, 5), "test.conf:8:");
    ck_contains(err_line(&err, 5), "bad host name");
    ck_contains(err_line(&err, 6), "test.conf:9:");
    ck_contains(err_line(&err, 6), "port out of range");
    ck_contains(err_line(&err, 7), "test.conf:10:");
    ck_contains(err_line(&err, 7), "expected scheme://host");
    wsip_config_free(&c);

    expect_one_error("listen = [];\n", 1, "listen: must not be empty");
    expect_one_error("listen = [ 5 ];\n", 1, "listen: entry 1 is an integer, expected a string");
    expect_one_error("domains = [ \"a.example\", \"A.example\" ];\n", 1, "is listed twice");
    expect_one_error("domains = [ \"-a.example\" ];\n", 1, "label starts with '-'");
    expect_one_error("ws = { allowed_origins = [ \"https://a.example/\" ]; };\n", 1,
                     "an origin has no path");
    expect_one_error("auth = { algorithms = [ \"SHA-1\" ]; };\n", 1, "'SHA-1' is not one of MD5");
}
END_TEST

START_TEST(file_cidr_errors)
{
    expect_one_error("trusted = [\n \"10.0.0.1/8\" ];\n", 2,
                     "trusted: '10.0.0.1/8' host bits set (the network is 10.0.0.0/8)");
    expect_one_error("trusted = [ \"300.1.1.1\" ];\n", 1, "bad IPv4 address");
    expect_one_error("trusted = [ \"::1/129\" ];\n", 1, "prefix length must be 0..128");
    expect_one_error("admin = { allowed_networks = [ \"10.0.0.0/33\" ]; };\n", 1,
                     "admin.allowed_networks: '10.0.0.0/33' prefix length must be 0..32");
    expect_one_error("trusted = [ \"10.0.0.0/\" ];\n", 1, "empty prefix length");
    expect_one_error("trusted = [ \"2001:db8::1/32\" ];\n", 1, "the network is 2001:db8::/32");
}
END_TEST

START_TEST(file_syntax_error_line)
{
    expect_one_error("workers = 1;\n\nlog = {\n  level = \"info\"\n  file = ;\n};\n", 5,
                     "syntax error");
    expect_one_error("workers = 1;\nworkers = 2;\n", 2, "duplicate setting");
}
END_TEST

START_TEST(file_unknown_directives)
{
    expect_one_error("ws = {\n  ping_intervall = 5;\n};\n", 2,
                     "unknown directive 'ws.ping_intervall' (did you mean 'ws.ping_interval'?)");
    expect_one_error("ping_interval = 5;\n", 1, "(did you mean 'ws.ping_interval'?)");
    expect_one_error("wss = { path = \"/\"; };\n", 1,
                     "unknown directive 'wss' (did you mean 'ws'?)");
    expect_one_error("frobnicate = 1;\n", 1, "unknown directive 'frobnicate'");
    expect_one_error("ws = 5;\n", 1, "'ws' is a group: write ws = { ... };");

    /* several errors are all reported, each with its line */
    struct wsip_config c;
    struct wsip_config_err err;
    ck_assert_int_eq(load_text(&c, "a = 1;\nworkers = 99;\nlog = { level = \"x\"; };\n", &err), -1);
    ck_assert_uint_eq(err.count, 3);
    ck_assert_uint_eq(err.e[0].line, 1);
    ck_assert_uint_eq(err.e[1].line, 2);
    ck_assert_uint_eq(err.e[2].line, 3);
    wsip_config_free(&c);
}
END_TEST

START_TEST(file_missing_and_include)
{
    struct wsip_config c;
    struct wsip_config_err err = {0};
    ck_assert_int_eq(wsip_config_init(&c), 0);
    ck_assert_int_eq(wsip_config_load_file(&c, "/nonexistent/wsip.conf", &err), -1);
    ck_assert_uint_eq(err.count, 1);
    ck_assert_str_eq(err.e[0].file, "/nonexistent/wsip.conf");
    ck_contains(err.e[0].msg, "cannot read: No such file");
    wsip_config_free(&c);

    /* @include is relative to the including file; errors name the included file */
    write_tmp("inc.conf", "workers = 3;\n\nws = { path = \"/sip\"; };\n");
    expect_ok("@include \"inc.conf\"\ndb = \"/tmp/d\";\n", &c);
    ck_assert_uint_eq(c.workers, 3);
    ck_assert_str_eq(c.ws.path, "/sip");
    wsip_config_free(&c);
    write_tmp("inc.conf", "\nworkers = 300;\n");
    ck_assert_int_eq(load_text(&c, "@include \"inc.conf\"\n", &err), -1);
    ck_assert_uint_eq(err.count, 1);
    ck_contains(err.e[0].file, "inc.conf");
    ck_assert_uint_eq(err.e[0].line, 2);
    wsip_config_free(&c);
}
END_TEST

START_TEST(error_list_overflow_is_counted)
{
    char text[2048] = "";
    for (int i = 0; i < 20; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "bad%d = 1;\n", i);
    struct wsip_config c;
    struct wsip_config_err err;
    ck_assert_int_eq(load_text(&c, text, &err), -1);
    ck_assert_uint_eq(err.count, 20);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    wsip_config_err_print(&err, f);
    fclose(f);
    ck_contains(out, "test.conf:1: unknown directive 'bad0'");
    ck_contains(out, "test.conf:16: unknown directive 'bad15'");
    ck_contains(out, "... and 4 more errors");
    free(out);
    wsip_config_free(&c);
}
END_TEST

/* --------------------------------------------------------------- --set */

static void set_ok(struct wsip_config *c, const char *kv)
{
    struct wsip_config_err err = {0};
    int rc = wsip_config_set(c, kv, &err);
    ck_assert_msg(rc == 0, "--set %s: %s", kv, err.count ? err_line(&err, 0) : "");
}

static void set_fails(const char *kv, const char *msg)
{
    struct wsip_config c;
    struct wsip_config_err err = {0};
    ck_assert_int_eq(wsip_config_init(&c), 0);
    ck_assert_msg(wsip_config_set(&c, kv, &err) == -1, "--set %s was accepted", kv);
    ck_assert_uint_eq(err.count, 1);
    ck_assert_str_eq(err.e[0].file, "command line");
    ck_assert_uint_eq(err.e[0].line, 0);
    ck_contains(err.e[0].msg, msg);
    wsip_config_free(&c);
}

START_TEST(set_every_type)
{
    struct wsip_config c;
    ck_assert_int_eq(wsip_config_init(&c), 0);
    set_ok(&c, "workers=8");
    ck_assert_uint_eq(c.workers, 8);
    set_ok(&c, " ws.ping_interval = 45s");
    ck_assert_uint_eq(c.ws.ping_interval, 45);
    set_ok(&c, "tcp.idle_timeout=1h");
    ck_assert_uint_eq(c.tcp.idle_timeout, 3600);
    set_ok(&c, "sip.t1=2s");
    ck_assert_uint_eq(c.sip.t1, 2000);
    set_ok(&c, "sip.t2=4500ms");
    ck_assert_uint_eq(c.sip.t2, 4500);
    set_ok(&c, "net.send_queue_limit=2M");
    ck_assert_uint_eq(c.net.send_queue_limit, 2097152);
    set_ok(&c, "ws.max_message_size=128KiB");
    ck_assert_uint_eq(c.ws.max_message_size, 131072);
    set_ok(&c, "tcp.nodelay=off");
    ck_assert(!c.tcp.nodelay);
    set_ok(&c, "tcp.nodelay=YES");
    ck_assert(c.tcp.nodelay);
    set_ok(&c, "log.level=trace");
    ck_assert_int_eq(c.log.level, WSIP_LOG_TRACE);
    set_ok(&c, "tls.min_version=1.3");
    ck_assert_int_eq(c.tls.min_version, WSIP_TLS_1_3);
    set_ok(&c, "db=/var/lib/wsip/a=b.db"); /* only the first '=' splits */
    ck_assert_str_eq(c.db, "/var/lib/wsip/a=b.db");
    set_ok(&c, "auth.realm=\"\"");
    ck_assert_str_eq(c.auth.realm, "");
    set_ok(&c, "auth.realm=\"my realm\"");
    ck_assert_str_eq(c.auth.realm, "my realm");
    set_ok(&c, "log.file=");
    ck_assert_str_eq(c.log.file, "");

    /* lists: comma-separated, optionally bracketed, quotes allowed */
    set_ok(&c, "domains=a.example,b.example");
    ck_assert_uint_eq(c.domains.n, 2);
    ck_assert_str_eq(c.domains.v[1], "b.example");
    set_ok(&c, "domains=[ c.example , \"d.example\" ]");
    ck_assert_uint_eq(c.domains.n, 2);
    ck_assert_str_eq(c.domains.v[0], "c.example");
    ck_assert_str_eq(c.domains.v[1], "d.example");
    set_ok(&c, "domains=[[::1],192.0.2.1]");
    ck_assert_uint_eq(c.domains.n, 2);
    ck_assert_str_eq(c.domains.v[0], "[::1]");
    set_ok(&c, "ws.allowed_origins=[]");
    ck_assert_uint_eq(c.ws.allowed_origins.n, 0);
    set_ok(&c, "ws.allowed_origins=https://x.example");
    ck_assert_uint_eq(c.ws.allowed_origins.n, 1);
    set_ok(&c, "ws.allowed_origins=");
    ck_assert_uint_eq(c.ws.allowed_origins.n, 0);
    set_ok(&c, "listen=[wss://[2001:db8::1]:4443,udp://0.0.0.0]");
    ck_assert_uint_eq(c.listen.n, 2);
    ck_assert_str_eq(c.listen.v[0].host, "2001:db8::1");
    ck_assert_uint_eq(c.listen.v[0].port, 4443);
    ck_assert_uint_eq(c.listen.v[1].port, 5060);
    set_ok(&c, "trusted=10.0.0.0/8,fd00::/8");
    ck_assert_uint_eq(c.trusted.n, 2);
    ck_assert_int_eq(c.trusted.v[1].family, AF_INET6);
    set_ok(&c, "auth.algorithms=SHA-512-256");
    ck_assert_str_eq(c.auth.algorithms.v[0], "SHA-512-256");

    /* append, what a repeated --listen does */
    struct wsip_config_err err = {0};
    ck_assert_int_eq(wsip_config_append(&c, "listen", "tcp://[::1]:5070", &err), 0);
    ck_assert_uint_eq(c.listen.n, 3);
    ck_assert_uint_eq(c.listen.v[2].port, 5070);
    ck_assert_int_eq(wsip_config_append(&c, "workers", "1", &err), -1);
    wsip_config_free(&c);
}
END_TEST

START_TEST(set_errors)
{
    set_fails("workers=65", "workers: 65 is out of range (0..64)");
    set_fails("workers=-1", "workers: -1 is out of range (0..64)");
    set_fails("workers=4x", "workers: '4x' is not an integer");
    set_fails("workers=", "workers: '' is not a number");
    set_fails("workers=99999999999999999999999", "is out of range");
    set_fails("ws.ping_interval=10d", "unknown unit");
    set_fails("sip.t1=1.5s", "unknown unit");
    set_fails("net.send_queue_limit=2T", "unknown unit");
    set_fails("tcp.nodelay=maybe", "is not a boolean");
    set_fails("log.level=verbose", "'verbose' is not one of error, warn, info, debug, trace");
    set_fails("listen=[]", "listen: must not be empty");
    set_fails("listen=ws://x:1,,udp://y:2", "empty entry");
    set_fails("listen=udp://h:70000", "port out of range");
    set_fails("domains=[::1]", "must be in brackets");
    set_fails("trusted=10.1.0.0/8", "host bits set");
    set_fails("ws.pinginterval=3", "unknown directive 'ws.pinginterval' (did you mean "
                                   "'ws.ping_interval'?)");
    set_fails("ws=3", "'ws' is a group");
    set_fails("workers", "expected KEY=VALUE");
    set_fails("=3", "expected KEY=VALUE");
}
END_TEST

/* ---------------------------------------------------------- precedence */

static int args_load(struct wsip_config *c, struct wsip_config_err *err, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    struct wsip_config_args a = {0};
    for (int i = 0; i < argc;) {
        int took = wsip_config_args_take(&a, argc, argv, &i, err);
        ck_assert_msg(took == 1, "argument %d (%s) not taken: %d", i, argv[i], took);
    }
    int rc = wsip_config_args_load(c, &a, err);
    wsip_config_args_free(&a);
    return rc;
}

START_TEST(precedence_defaults_file_command_line)
{
    const char *file = write_tmp("prec.conf", "workers = 2;\n"
                                              "db = \"/from/file.db\";\n"
                                              "listen = [ \"udp://192.0.2.1:5060\" ];\n"
                                              "ws = { ping_interval = 10; path = \"/ws\"; };\n"
                                              "domains = [ \"file.example\" ];\n");
    char *argv[] = {"--set",
                    "ws.ping_interval=20",
                    "-c",
                    (char *)file,
                    "--listen",
                    "ws://127.0.0.1:9000",
                    "--listen=udp://127.0.0.1:5070",
                    "--domain",
                    "[::1]",
                    "--db",
                    "/from/cli.db",
                    "--workers=3",
                    "--log.level",
                    "debug",
                    "--set",
                    "workers=5",
                    NULL};
    struct wsip_config c;
    struct wsip_config_err err = {0};
    int rc = args_load(&c, &err, argv);
    ck_assert_msg(rc == 0, "%s", err.count ? err_line(&err, 0) : "");
    ck_assert_uint_eq(c.ws.ping_interval, 20);   /* command line over file */
    ck_assert_str_eq(c.ws.path, "/ws");          /* file over default */
    ck_assert_uint_eq(c.ws.max_missed_pongs, 2); /* default */
    ck_assert_uint_eq(c.workers, 5);             /* later on the command line wins */
    ck_assert_str_eq(c.db, "/from/cli.db");
    ck_assert_int_eq(c.log.level, WSIP_LOG_DEBUG);
    ck_assert_uint_eq(c.listen.n, 2); /* the first --listen replaced the file's list */
    ck_assert_str_eq(c.listen.v[0].uri, "ws://127.0.0.1:9000");
    ck_assert_str_eq(c.listen.v[1].uri, "udp://127.0.0.1:5070");
    ck_assert_uint_eq(c.domains.n, 1);
    ck_assert_str_eq(c.domains.v[0], "[::1]");
    wsip_config_free(&c);
}
END_TEST

START_TEST(args_errors)
{
    struct wsip_config_args a = {0};
    struct wsip_config_err err = {0};
    char *argv1[] = {"--foreground", "-v", "x", "--set"};
    int i = 0;
    ck_assert_int_eq(wsip_config_args_take(&a, 4, argv1, &i, &err), 0); /* not ours */
    ck_assert_int_eq(i, 0);
    i = 1;
    ck_assert_int_eq(wsip_config_args_take(&a, 4, argv1, &i, &err), 0);
    i = 3;
    ck_assert_int_eq(wsip_config_args_take(&a, 4, argv1, &i, &err), -1);
    ck_assert_uint_eq(err.count, 1);
    ck_contains(err.e[0].msg, "--set needs an argument");
    wsip_config_args_free(&a);

    /* errors from the file and from the command line are all reported */
    const char *file = write_tmp("bad.conf", "workers = 99;\n");
    char *argv2[] = {"-c", (char *)file, "--set", "ws.ping_interval=x", "--bogus.thing=1", NULL};
    struct wsip_config c;
    memset(&err, 0, sizeof(err));
    int argc = 5;
    memset(&a, 0, sizeof(a));
    for (i = 0; i < argc;) {
        int took = wsip_config_args_take(&a, argc, argv2, &i, &err);
        if (took == 0)
            break;
    }
    ck_assert_int_eq(i, 4); /* --bogus.thing is not a directive: left to the caller */
    ck_assert_int_eq(wsip_config_args_load(&c, &a, &err), -1);
    ck_assert_uint_eq(err.count, 2);
    ck_contains(err_line(&err, 0), "bad.conf:1: workers: 99 is out of range");
    ck_contains(err_line(&err, 1), "command line:0: ws.ping_interval: 'x' is not a number");
    wsip_config_free(&c);
    wsip_config_args_free(&a);
}
END_TEST

/* ----------------------------------------------------------- validate */

static void validate_fails(const char *text, unsigned line, const char *msg)
{
    struct wsip_config c;
    expect_ok(text, &c);
    struct wsip_config_err err = {0};
    ck_assert_msg(wsip_config_validate(&c, &err) == -1, "validated:\n%s", text);
    ck_assert_msg(err.count == 1, "%u errors, want 1; first: %s; last: %s", err.count,
                  err_line(&err, 0), err.e[err.count - 1].msg);
    ck_assert_uint_eq(err.e[0].line, line);
    ck_contains(err.e[0].msg, msg);
    wsip_config_free(&c);
}

static void validate_ok(const char *text)
{
    struct wsip_config c;
    expect_ok(text, &c);
    struct wsip_config_err err = {0};
    ck_assert_msg(wsip_config_validate(&c, &err) == 0, "%s: %s", text,
                  err.count ? err_line(&err, 0) : "");
    wsip_config_free(&c);
}

START_TEST(validate_cross_checks)
{
    validate_fails("\nlisten = [ \"wss://0.0.0.0:443\" ];\n", 2,
                   "tls:// and wss:// listeners need tls.certificate and tls.private_key");
    validate_fails("tls = {\n certificate = \"/nonexistent/cert.pem\";\n"
                   " private_key = \"/etc/hostname\"; };\n",
                   2, "tls.certificate: cannot read '/nonexistent/cert.pem'");
    const char *cert = write_tmp("cert.pem", "x");
    char text[512];
    snprintf(text, sizeof(text), "tls = { certificate = \"%s\"; };\n", cert);
    validate_fails(text, 1, "go together");
    snprintf(text, sizeof(text),
             "listen = [ \"tls://[::]:5061\", \"wss://[::]\" ];\n"
             "tls = { certificate = \"%s\"; private_key = \"%s\"; };\n",
             cert, cert);
    validate_ok(text);

    validate_fails("registrar = {\n min_expires = 60;\n default_expires = 30;\n};\n", 3,
                   "registrar.default_expires (30) must be between registrar.min_expires (60) "
                   "and registrar.max_expires (3600)");
    validate_fails("registrar = { max_expires = 30; };\n", 1,
                   "registrar.min_expires (60) is above registrar.max_expires (30)");
    validate_fails("sip = {\n t1 = 5000; };\n", 2, "sip.t1 (5000 ms) is above sip.t2 (4000 ms)");
    validate_fails("sip = { max_header_line = 100000; };\n", 1,
                   "sip.max_header_line (100000) is above sip.max_message_size (65536)");
    validate_fails("ws = { max_frame_size = \"1M\"; };\n", 1, "ws.max_frame_size (1048576)");
    validate_fails("net = { max_connections = 10; };\n", 1,
                   "net.max_connections_per_ip (100) is above net.max_connections (10)");

    validate_fails("listen = [ \"tcp://127.0.0.1:5060\", \"ws://127.0.0.1:5060\" ];\n", 1,
                   "'tcp://127.0.0.1:5060' and 'ws://127.0.0.1:5060' both need TCP port 5060");
    validate_fails("listen = [ \"udp://0.0.0.0:5060\", \"udp://192.0.2.1:5060\" ];\n", 1,
                   "both need UDP port 5060");
    validate_fails("listen = [ \"tls://[::]\", \"tls://[2001:db8::1]\" ];\n"
                   "tls = { certificate = \"/etc/hostname\"; private_key = \"/etc/hostname\"; };\n",
                   1, "both need TCP port 5061");
    validate_ok("listen = [ \"udp://0.0.0.0:5060\", \"tcp://0.0.0.0:5060\", "
                "\"udp://[::]:5060\", \"ws://127.0.0.1:80\", \"ws://192.0.2.1:80\" ];\n");
}
END_TEST

/* -------------------------------------------------- dump and reloading */

START_TEST(dump_round_trips)
{
    struct wsip_config c, back;
    ck_assert_int_eq(wsip_config_init(&c), 0);
    static const char *const sets[] = {
        "listen=[udp://[::1]:5090, wss://phone.example:8443, tls://10.0.0.1]",
        "domains=[[2001:db8::1], example.org]",
        "db=/tmp/quote\"and\\backslash.db",
        "workers=7",
        "log.level=warn",
        "sip.t4=6s",
        "ws.allowed_origins=[https://a.example, http://b.example:8080]",
        "tcp.nodelay=false",
        "tls.min_version=1.3",
        "tls.certificate=/etc/hostname",
        "tls.private_key=/etc/hostname",
        "auth.realm=wsip realm",
        "auth.algorithms=[SHA-256-sess, MD5]",
        "trusted=[0.0.0.0/0, ::/0]",
        "admin.allowed_networks=[]",
        "net.send_queue_limit=1G",
    };
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        set_ok(&c, sets[i]);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    wsip_config_dump(&c, f);
    fclose(f);
    expect_ok(text, &back);
    assert_all_equal(&c, &back);
    ck_assert_str_eq(back.db, "/tmp/quote\"and\\backslash.db");
    free(text);
    wsip_config_free(&back);
    wsip_config_free(&c);
}
END_TEST

START_TEST(reload_keeps_fixed_directives)
{
    struct wsip_config cur, next;
    ck_assert_int_eq(wsip_config_init(&cur), 0);
    ck_assert_int_eq(wsip_config_init(&next), 0);
    set_ok(&next, "listen=udp://0.0.0.0:5060");
    set_ok(&next, "workers=3");
    set_ok(&next, "log.level=debug");
    set_ok(&next, "ws.allowed_origins=https://a.example");
    set_ok(&next, "registrar.max_expires=7200");
    struct wsip_config_err notes = {0};
    ck_assert_int_eq(wsip_config_keep_fixed(&next, &cur, &notes), 3);
    ck_assert_uint_eq(notes.count, 3);
    ck_contains(notes.e[0].msg, "listen: changed, but only a restart applies it");
    ck_contains(notes.e[1].msg, "workers");
    ck_contains(notes.e[2].msg, "ws.allowed_origins");
    ck_assert_uint_eq(next.listen.n, 3); /* the running value */
    ck_assert_str_eq(next.listen.v[2].uri, "ws://127.0.0.1:8080");
    ck_assert_uint_eq(next.workers, 0);
    ck_assert_uint_eq(next.ws.allowed_origins.n, 0);
    ck_assert_int_eq(next.log.level, WSIP_LOG_DEBUG); /* reloadable: the new value */
    ck_assert_uint_eq(next.registrar.max_expires, 7200);
    wsip_config_free(&next);
    wsip_config_free(&cur);
}
END_TEST

/* -------------------------------------------------------------- helpers */

START_TEST(cidr_matching)
{
    struct wsip_config c;
    ck_assert_int_eq(wsip_config_init(&c), 0);
    set_ok(&c, "trusted=[192.0.2.0/25, 2001:db8:8000::/33, 198.51.100.7]");
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    static const struct {
        const char *addr;
        bool in;
    } cases[] = {
        {"192.0.2.0", true},
        {"192.0.2.127", true},
        {"192.0.2.128", false},
        {"198.51.100.7", true},
        {"198.51.100.8", false},
        {"2001:db8:8000::1", true},
        {"2001:db8:ffff::1", true},
        {"2001:db8:7fff::1", false},
        {"::ffff:192.0.2.5", true},
        {"::ffff:192.0.2.200", false},
        {"::1", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct sockaddr *sa;
        if (strchr(cases[i].addr, ':')) {
            ck_assert_int_eq(inet_pton(AF_INET6, cases[i].addr, &v6.sin6_addr), 1);
            sa = (const struct sockaddr *)&v6;
        } else {
            ck_assert_int_eq(inet_pton(AF_INET, cases[i].addr, &v4.sin_addr), 1);
            sa = (const struct sockaddr *)&v4;
        }
        bool in = wsip_cidr_list_match(&c.trusted, sa);
        ck_assert_msg(in == cases[i].in, "%s: got %d, want %d", cases[i].addr, in, cases[i].in);
    }
    /* the default admin networks: loopback only */
    ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr), 1);
    ck_assert(wsip_cidr_list_match(&c.admin.allowed_networks, (struct sockaddr *)&v4));
    ck_assert_int_eq(inet_pton(AF_INET6, "::2", &v6.sin6_addr), 1);
    ck_assert(!wsip_cidr_list_match(&c.admin.allowed_networks, (struct sockaddr *)&v6));
    wsip_config_free(&c);
}
END_TEST

START_TEST(sip_limits_and_format)
{
    struct wsip_config c;
    ck_assert_int_eq(wsip_config_init(&c), 0);
    set_ok(&c, "sip.max_message_size=100000");
    struct wsip_sip_limits lim;
    wsip_config_sip_limits(&c, WSIP_TP_UDP, &lim);
    ck_assert_uint_eq(lim.max_msg_size, 65507);
    wsip_config_sip_limits(&c, WSIP_TP_WSS, &lim);
    ck_assert_uint_eq(lim.max_msg_size, 100000);
    ck_assert_uint_eq(lim.max_headers, 128);
    ck_assert_uint_eq(lim.max_header_line, 8192);
    ck_assert_uint_eq(lim.max_start_line, 8192);

    char buf[256];
    size_t n = wsip_config_format(&c, wsip_config_find("listen"), buf, sizeof(buf));
    ck_assert_str_eq(buf, "[udp://127.0.0.1:5060, tcp://127.0.0.1:5060, ws://127.0.0.1:8080]");
    ck_assert_uint_eq(n, strlen(buf));
    wsip_config_format(&c, wsip_config_find("log.level"), buf, sizeof(buf));
    ck_assert_str_eq(buf, "info");
    wsip_config_format(&c, wsip_config_find("tcp.nodelay"), buf, sizeof(buf));
    ck_assert_str_eq(buf, "true");
    n = wsip_config_format(&c, wsip_config_find("listen"), buf, 5);
    ck_assert_str_eq(buf, "[udp");
    ck_assert_uint_gt(n, 5);
    /* each default, formatted, reads back as itself */
    size_t count;
    const struct wsip_config_directive *t = wsip_config_directives(&count);
    for (size_t i = 0; i < count; i++) {
        struct wsip_config d;
        ck_assert_int_eq(wsip_config_init(&d), 0);
        wsip_config_format(&c, &t[i], buf, sizeof(buf));
        struct wsip_config_err err = {0};
        ck_assert_msg(wsip_config_set_kv(&d, t[i].name, buf, &err) == 0, "%s=%s: %s", t[i].name,
                      buf, err.count ? err.e[0].msg : "");
        ck_assert_msg(wsip_config_equal(&c, &d, &t[i]), "%s: %s", t[i].name, buf);
        wsip_config_free(&d);
    }
    wsip_config_free(&c);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, NULL, rm_tmpdir);
    tcase_add_test(tc, defaults_are_the_documented_ones);
    tcase_add_test(tc, table_is_well_formed);
    tcase_add_test(tc, example_file_gives_exactly_the_defaults);
    tcase_add_test(tc, example_file_sets_every_directive);
    tcase_add_test(tc, example_file_is_generated_from_the_table);
    tcase_add_test(tc, docs_list_every_directive);
    tcase_add_test(tc, file_values_of_every_type);
    tcase_add_test(tc, file_number_errors);
    tcase_add_test(tc, file_enum_string_bool_errors);
    tcase_add_test(tc, file_listen_errors_point_at_the_entry);
    tcase_add_test(tc, file_cidr_errors);
    tcase_add_test(tc, file_syntax_error_line);
    tcase_add_test(tc, file_unknown_directives);
    tcase_add_test(tc, file_missing_and_include);
    tcase_add_test(tc, error_list_overflow_is_counted);
    tcase_add_test(tc, set_every_type);
    tcase_add_test(tc, set_errors);
    tcase_add_test(tc, precedence_defaults_file_command_line);
    tcase_add_test(tc, args_errors);
    tcase_add_test(tc, validate_cross_checks);
    tcase_add_test(tc, dump_round_trips);
    tcase_add_test(tc, reload_keeps_fixed_directives);
    tcase_add_test(tc, cidr_matching);
    tcase_add_test(tc, sip_limits_and_format);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(config_suite());
}

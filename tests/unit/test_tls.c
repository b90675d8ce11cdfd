/* TLS layer: a server and a client connection pumped through memory (no
 * sockets), certificates from wsip_tls_cert_self_signed, reload, errors; and
 * the wsip cert command. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "testutil.h"
#include "wsip/tls.h"

/* The command lives in the wsip binary, not in wsip_core: test it in place. */
#include "cli/cert_cmd.c"

/* ----------------------------------------------------------------- helpers */

static char *tmp_dir(void)
{
    char *d = strdup("/tmp/wsip-tls-XXXXXX");
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(mkdtemp(d) != NULL, "mkdtemp: %s", strerror(errno));
    return d;
}

/* Removes dir, its files and its subdirectories. */
static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[512];
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            if (unlink(p) != 0)
                rm_tree(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static char *path_in(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    ck_assert_ptr_nonnull(p);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

/* A certificate in dir/sub (created), with extra names. */
static char *make_cert_in(const char *dir, const char *sub, enum wsip_tls_key_type kt,
                          const char *const *names, size_t n)
{
    char *d = path_in(dir, sub);
    struct wsip_tls_cert_opts o = {.key_type = kt, .names = names, .n_names = n};
    struct wsip_tls_err err = {{0}};
    ck_assert_msg(wsip_tls_cert_self_signed(d, &o, &err) == 0, "cert in %s: %s", d, err.msg);
    return d;
}

static X509 *load_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_msg(x != NULL, "%s: not a PEM certificate", path);
    return x;
}

static struct wsip_tls_ctx *server_ctx(const char *certdir, int minv, int maxv, unsigned tickets)
{
    struct wsip_tls_config cfg;
    wsip_tls_config_default(&cfg, WSIP_TLS_SERVER);
    char *cert = path_in(certdir, "cert.pem"), *key = path_in(certdir, "key.pem");
    cfg.cert_file = cert;
    cfg.key_file = key;
    cfg.min_version = minv;
    cfg.max_version = maxv;
    cfg.tickets = tickets;
    struct wsip_tls_ctx *ctx = NULL;
    struct wsip_tls_err err = {{0}};
    ck_assert_msg(wsip_tls_ctx_new(&ctx, &cfg, &err) == 0, "server ctx: %s", err.msg);
    free(cert);
    free(key);
    return ctx;
}

/* ca_dir NULL: no verification. */
static struct wsip_tls_ctx *client_ctx(const char *ca_dir, int minv, int maxv)
{
    struct wsip_tls_config cfg;
    wsip_tls_config_default(&cfg, WSIP_TLS_CLIENT);
    char *ca = ca_dir ? path_in(ca_dir, "cert.pem") : NULL;
    cfg.ca_file = ca;
    cfg.min_version = minv;
    cfg.max_version = maxv;
    struct wsip_tls_ctx *ctx = NULL;
    struct wsip_tls_err err = {{0}};
    ck_assert_msg(wsip_tls_ctx_new(&ctx, &cfg, &err) == 0, "client ctx: %s", err.msg);
    free(ca);
    return ctx;
}

/* One end of an in-memory connection and the plaintext it received. */
struct side {
    struct wsip_tls_conn *c;
    unsigned char *rx;
    size_t rx_len, rx_cap;
    int rc; /* last wsip_tls_read result */
    size_t plain_cap;
};

static void side_init(struct side *s, struct wsip_tls_conn *c)
{
    memset(s, 0, sizeof(*s));
    ck_assert_ptr_nonnull(c);
    s->c = c;
    s->rc = WSIP_TLS_AGAIN;
    s->plain_cap = 65536;
}

static void side_free(struct side *s)
{
    wsip_tls_conn_free(s->c);
    free(s->rx);
    memset(s, 0, sizeof(*s));
}

static void rx_append(struct side *s, const unsigned char *p, size_t n)
{
    if (s->rx_len + n > s->rx_cap) {
        size_t cap = s->rx_cap ? s->rx_cap : 4096;
        while (cap < s->rx_len + n)
            cap *= 2;
        s->rx = realloc(s->rx, cap);
        ck_assert_ptr_nonnull(s->rx);
        s->rx_cap = cap;
    }
    if (n > 0)
        memcpy(s->rx + s->rx_len, p, n);
    s->rx_len += n;
}

static void pull(struct side *s)
{
    unsigned char *plain = malloc(s->plain_cap);
    ck_assert_ptr_nonnull(plain);
    int rc;
    do {
        size_t n = 12345;
        rc = wsip_tls_read(s->c, plain, s->plain_cap, &n);
        ck_assert_msg(n <= s->plain_cap, "read returned n=%zu > cap=%zu", n, s->plain_cap);
        rx_append(s, plain, n);
    } while (rc == WSIP_TLS_OK);
    s->rc = rc;
    free(plain);
}

/* Moves what `from` has to send into `to`, chunk bytes at a time (0: all at
 * once), reading after each feed. Returns the number of bytes moved. */
static size_t xfer(struct side *from, struct side *to, size_t chunk)
{
    size_t len = 99;
    unsigned char *buf = wsip_tls_detach_out(from->c, &len);
    if (buf == NULL) {
        ck_assert_uint_eq(len, 0);
        return 0;
    }
    ck_assert_uint_eq(wsip_tls_pending_out(from->c), 0);
    for (size_t off = 0; off < len;) {
        size_t k = chunk && chunk < len - off ? chunk : len - off;
        ck_assert_int_eq(wsip_tls_feed(to->c, buf + off, k), 0);
        off += k;
        pull(to);
    }
    free(buf);
    return len;
}

/* Runs the handshake to the end (or to a failure). */
static void drive(struct side *cl, struct side *sv, size_t chunk)
{
    for (int round = 0; round < 100; round++) {
        if (!wsip_tls_handshake_done(cl->c) && cl->rc != WSIP_TLS_ERROR) {
            int r = wsip_tls_handshake(cl->c);
            if (r == WSIP_TLS_ERROR)
                cl->rc = r;
        }
        size_t moved = xfer(cl, sv, chunk);
        moved += xfer(sv, cl, chunk);
        if (moved == 0)
            return;
    }
    ck_abort_msg("handshake did not settle in 100 rounds");
}

static void pair_up(struct side *cl, struct side *sv, struct wsip_tls_ctx *cctx,
                    struct wsip_tls_ctx *sctx, const char *name)
{
    side_init(cl, wsip_tls_conn_new(cctx, name));
    side_init(sv, wsip_tls_conn_new(sctx, NULL));
}

static void expect_done(struct side *cl, struct side *sv)
{
    ck_assert_msg(wsip_tls_handshake_done(cl->c), "client not done: rc %d, %s / %s", cl->rc,
                  wsip_tls_conn_error(cl->c), wsip_tls_conn_error_detail(cl->c));
    ck_assert_msg(wsip_tls_handshake_done(sv->c), "server not done: rc %d, %s / %s", sv->rc,
                  wsip_tls_conn_error(sv->c), wsip_tls_conn_error_detail(sv->c));
    ck_assert_int_eq(cl->rc, WSIP_TLS_AGAIN);
    ck_assert_int_eq(sv->rc, WSIP_TLS_AGAIN);
    ck_assert_uint_eq(cl->rx_len, 0);
    ck_assert_uint_eq(sv->rx_len, 0);
}

static void write_buf(struct side *s, const void *p, size_t len)
{
    struct iovec iov = {(void *)p, len};
    ck_assert_int_eq(wsip_tls_write(s->c, &iov, 1), WSIP_TLS_OK);
}

static void expect_rx(struct side *s, const void *p, size_t len)
{
    ck_assert_uint_eq(s->rx_len, len);
    ck_assert_msg(memcmp(s->rx, p, len) == 0, "received bytes differ from the sent ones");
    s->rx_len = 0;
}

static unsigned char *random_bytes(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (unsigned char)(seed >> 16);
    }
    return p;
}

/* Fixture: one P-256 certificate for the tests that need any. */
static char *g_dir, *g_certdir;

static void setup(void)
{
    g_dir = tmp_dir();
    g_certdir = make_cert_in(g_dir, "a", WSIP_TLS_KEY_P256, NULL, 0);
}

static void teardown(void)
{
    rm_tree(g_dir);
    free(g_certdir);
    free(g_dir);
}

/* ------------------------------------------------------------ certificates */

static bool san_has(GENERAL_NAMES *g, int type, const void *val, size_t len)
{
    for (int i = 0; i < sk_GENERAL_NAME_num(g); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(g, i);
        int t;
        const ASN1_STRING *s = GENERAL_NAME_get0_value(gn, &t);
        if (t == type && (size_t)ASN1_STRING_length(s) == len &&
            memcmp(ASN1_STRING_get0_data(s), val, len) == 0)
            return true;
    }
    return false;
}

START_TEST(cert_contents)
{
    static const char *const names[] = {"sip.example.com", "192.0.2.7", "2001:db8::1", "localhost",
                                        "*.ws.example.org"};
    char *d = make_cert_in(g_dir, "n", WSIP_TLS_KEY_P256, names, 5);
    char *cp = path_in(d, "cert.pem"), *kp = path_in(d, "key.pem");
    struct stat st;
    ck_assert_int_eq(stat(kp, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(cp, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644);

    X509 *x = load_cert(cp);
    ck_assert_int_eq(X509_get_version(x), X509_VERSION_3);
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    ck_assert_str_eq(cn, "sip.example.com");
    ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);

    GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    ck_assert_ptr_nonnull(g);
    /* localhost is not repeated */
    ck_assert_int_eq(sk_GENERAL_NAME_num(g), 7);
    static const unsigned char v4lo[4] = {127, 0, 0, 1}, v4[4] = {192, 0, 2, 7};
    static const unsigned char v6lo[16] = {[15] = 1};
    static const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    ck_assert(san_has(g, GEN_DNS, "localhost", 9));
    ck_assert(san_has(g, GEN_IPADD, v4lo, 4));
    ck_assert(san_has(g, GEN_IPADD, v6lo, 16));
    ck_assert(san_has(g, GEN_DNS, "sip.example.com", 15));
    ck_assert(san_has(g, GEN_DNS, "*.ws.example.org", 16));
    ck_assert(san_has(g, GEN_IPADD, v4, 4));
    ck_assert(san_has(g, GEN_IPADD, v6, 16));
    ck_assert(!san_has(g, GEN_DNS, "example.com", 11));
    GENERAL_NAMES_free(g);
    /* the names check as OpenSSL's verifier does them */
    ck_assert_int_eq(X509_check_host(x, "sip.example.com", 0, 0, NULL), 1);
    ck_assert_int_eq(X509_check_host(x, "a.ws.example.org", 0, 0, NULL), 1);
    ck_assert_int_eq(X509_check_host(x, "evil.example.com", 0, 0, NULL), 0);
    ck_assert_int_eq(X509_check_ip_asc(x, "::1", 0), 1);

    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    ck_assert_ptr_nonnull(bc);
    ck_assert_int_eq(bc->ca, 0);
    BASIC_CONSTRAINTS_free(bc);
    ck_assert_int_eq(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
    ck_assert_uint_eq(X509_get_extended_key_usage(x) & XKU_SSL_SERVER, XKU_SSL_SERVER);

    /* 825 days, exactly */
    int days = -1, secs = -1;
    ck_assert_int_eq(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)),
                     1);
    ck_assert_int_eq(days, 825);
    ck_assert_int_eq(secs, 0);
    ck_assert_int_le(X509_cmp_current_time(X509_get0_notBefore(x)), 0);

    /* random positive serial, at most 20 octets */
    const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    ck_assert_ptr_nonnull(bn);
    ck_assert(!BN_is_negative(bn));
    ck_assert_int_gt(BN_num_bits(bn), 64);
    ck_assert_int_le(BN_num_bytes(bn), 20);
    BN_free(bn);

    /* P-256 key that matches and signed the certificate */
    EVP_PKEY *pub = X509_get0_pubkey(x);
    ck_assert(EVP_PKEY_is_a(pub, "EC"));
    char group[64] = "";
    ck_assert_int_eq(EVP_PKEY_get_group_name(pub, group, sizeof(group), NULL), 1);
    ck_assert_str_eq(group, "prime256v1");
    ck_assert_int_eq(X509_verify(x, pub), 1);
    FILE *f = fopen(kp, "r");
    ck_assert_ptr_nonnull(f);
    EVP_PKEY *priv = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(priv);
    ck_assert_int_eq(X509_check_private_key(x, priv), 1);
    EVP_PKEY_free(priv);
    X509_free(x);
    free(cp);
    free(kp);
    free(d);
}
END_TEST

static char *slurp(const char *path)
{
    size_t len;
    return read_file(path, &len);
}

START_TEST(cert_refuses_overwrite)
{
    char *cp = path_in(g_certdir, "cert.pem"), *kp = path_in(g_certdir, "key.pem");
    char *before = slurp(cp), *kbefore = slurp(kp);
    struct wsip_tls_cert_opts o = {0};
    struct wsip_tls_err err = {{0}};
    ck_assert_int_eq(wsip_tls_cert_self_signed(g_certdir, &o, &err), -1);
    ck_assert_msg(strstr(err.msg, "exists") != NULL && strstr(err.msg, "--force") != NULL,
                  "message: %s", err.msg);
    char *after = slurp(cp), *kafter = slurp(kp);
    ck_assert_str_eq(after, before);
    ck_assert_str_eq(kafter, kbefore);
    free(after);
    free(kafter);

    /* only the key there: still refused, and the key is left alone */
    ck_assert_int_eq(unlink(cp), 0);
    ck_assert_int_eq(wsip_tls_cert_self_signed(g_certdir, &o, &err), -1);
    ck_assert_msg(strstr(err.msg, "key.pem") != NULL, "message: %s", err.msg);
    ck_assert_int_eq(access(cp, F_OK), -1);
    kafter = slurp(kp);
    ck_assert_str_eq(kafter, kbefore);
    free(kafter);

    o.force = true;
    ck_assert_msg(wsip_tls_cert_self_signed(g_certdir, &o, &err) == 0, "force: %s", err.msg);
    after = slurp(cp);
    kafter = slurp(kp);
    ck_assert_str_ne(kafter, kbefore);
    struct stat st;
    ck_assert_int_eq(stat(kp, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    /* no temporary files left behind */
    DIR *dd = opendir(g_certdir);
    int files = 0;
    for (struct dirent *e; (e = readdir(dd)) != NULL;)
        files += e->d_name[0] != '.';
    closedir(dd);
    ck_assert_int_eq(files, 2);
    free(after);
    free(kafter);
    free(before);
    free(kbefore);
    free(cp);
    free(kp);
}
END_TEST

START_TEST(cert_bad_input)
{
    char *d = path_in(g_dir, "bad");
    static const char *const bad[] = {"ok.example", "bad name"};
    struct wsip_tls_cert_opts o = {.names = bad, .n_names = 2};
    struct wsip_tls_err err = {{0}};
    ck_assert_int_eq(wsip_tls_cert_self_signed(d, &o, &err), -1);
    ck_assert_msg(strstr(err.msg, "bad name") != NULL, "message: %s", err.msg);
    char *cp = path_in(d, "cert.pem"), *kp = path_in(d, "key.pem");
    ck_assert_int_eq(access(cp, F_OK), -1);
    ck_assert_int_eq(access(kp, F_OK), -1);
    ck_assert_int_eq(access(d, F_OK), -1); /* refused before touching the disk */

    static const char *const dots[] = {"a..b"};
    o.names = dots;
    o.n_names = 1;
    ck_assert_int_eq(wsip_tls_cert_self_signed(d, &o, &err), -1);

    /* a directory that cannot be made */
    o.n_names = 0;
    ck_assert_int_eq(wsip_tls_cert_self_signed("/proc/wsip-no/such", &o, &err), -1);
    ck_assert_msg(strstr(err.msg, "/proc/wsip-no/such") != NULL, "message: %s", err.msg);
    free(cp);
    free(kp);
    free(d);
}
END_TEST

START_TEST(cert_command)
{
    char *d = path_in(g_dir, "cli");
    char *argv1[] = {"--self-signed", d, "--name", "pbx.example.net", "--days", "30"};
    ck_assert_int_eq(wsip_cmd_cert(6, argv1), 0);
    char *cp = path_in(d, "cert.pem");
    X509 *x = load_cert(cp);
    ck_assert_int_eq(X509_check_host(x, "pbx.example.net", 0, 0, NULL), 1);
    int days = 0, secs = 0;
    ck_assert_int_eq(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)),
                     1);
    ck_assert_int_eq(days, 30);
    X509_free(x);

    char *argv2[] = {"--self-signed", d};
    ck_assert_int_eq(wsip_cmd_cert(2, argv2), 1); /* exists */
    char *argv3[] = {"--self-signed", d, "--force", "--rsa"};
    ck_assert_int_eq(wsip_cmd_cert(4, argv3), 0);
    x = load_cert(cp);
    ck_assert(EVP_PKEY_is_a(X509_get0_pubkey(x), "RSA"));
    ck_assert_int_eq(EVP_PKEY_get_bits(X509_get0_pubkey(x)), 2048);
    X509_free(x);

    char *argv4[] = {"--self-signed", d, "--days", "0"};
    ck_assert_int_eq(wsip_cmd_cert(4, argv4), 2);
    char *argv5[] = {"--name", "x.example"};
    ck_assert_int_eq(wsip_cmd_cert(2, argv5), 2); /* no DIR */
    char *argv6[] = {"--self-signed"};
    ck_assert_int_eq(wsip_cmd_cert(1, argv6), 2);
    char *argv7[] = {"--bogus"};
    ck_assert_int_eq(wsip_cmd_cert(1, argv7), 2);
    free(cp);
    free(d);
}
END_TEST

/* --------------------------------------------------------------- contexts */

START_TEST(ctx_errors)
{
    struct wsip_tls_config cfg;
    struct wsip_tls_ctx *ctx = (void *)1;
    struct wsip_tls_err err = {{0}};
    char *cp = path_in(g_certdir, "cert.pem"), *kp = path_in(g_certdir, "key.pem");

    wsip_tls_config_default(&cfg, WSIP_TLS_SERVER);
    ck_assert_int_eq(wsip_tls_ctx_new(&ctx, &cfg, &err), -1); /* no certificate */
    ck_assert_ptr_null(ctx);
    ck_assert_msg(strstr(err.msg, "required") != NULL, "message: %s", err.msg);

    cfg.cert_file = "/nonexistent/cert.pem";
    cfg.key_file = kp;
    ck_assert_int_eq(wsip_tls_ctx_new(&ctx, &cfg, &err), -1);
    ck_assert_str_eq(err.msg, "/nonexistent/cert.pem: No such file or directory");

    cfg.cert_file = cp;
    cfg.min_version = 0x0302; /* TLS 1.1 */
    ck_assert_int_eq(wsip_tls_ctx_new(&ctx, &cfg, &err), -1);
    ck_assert_msg(strstr(err.msg, "1.2") != NULL, "message: %s", err.msg);
    cfg.min_version = WSIP_TLS_V1_3;
    cfg.max_version = WSIP_TLS_V1_2;
    ck_assert_int_eq(wsip_tls_ctx_new(&ctx, &cfg, &err), -1);
    cfg.min_version = cfg.max_version = 0;

    cfg.ciphers = "NO-SUCH-CIPHER";
    ck_assert_int_eq(wsip_tls_ctx_new(&ctx, &cfg, &err), -1);
    ck_assert_msg(strstr(err.msg, "ciphers") != NULL, "message: %s", err.msg);
    cfg.ciphers = NULL;

    /* a key that is not the certificate's */
    char *other = make_cert_in(g_dir, "other", WSIP_TLS_KEY_P256, NULL, 0);
    char *okp = path_in(other, "key.pem");
    cfg.key_file = okp;
    ck_assert_int_eq(wsip_tls_ctx_new(&ctx, &cfg, &err), -1);
    ck_assert_msg(strstr(err.msg, okp) != NULL && strstr(err.msg, "mismatch") != NULL,
                  "message: %s", err.msg);

    /* the certificate as the key */
    cfg.key_file = cp;
    ck_assert_int_eq(wsip_tls_ctx_new(&ctx, &cfg, &err), -1);
    ck_assert_msg(strncmp(err.msg, cp, strlen(cp)) == 0, "message: %s", err.msg);

    cfg.key_file = kp;
    ck_assert_msg(wsip_tls_ctx_new(&ctx, &cfg, &err) == 0, "%s", err.msg);
    wsip_tls_ctx_free(ctx);

    wsip_tls_config_default(&cfg, WSIP_TLS_CLIENT);
    cfg.ca_file = "/nonexistent/ca.pem";
    ck_assert_int_eq(wsip_tls_ctx_new(&ctx, &cfg, &err), -1);
    ck_assert_msg(strstr(err.msg, "/nonexistent/ca.pem") != NULL, "message: %s", err.msg);
    free(okp);
    free(other);
    free(cp);
    free(kp);
}
END_TEST

/* ------------------------------------------------------------- connections */

static void exchange_check(struct side *cl, struct side *sv)
{
    static const char ping[] = "OPTIONS sip:x SIP/2.0\r\n\r\n", pong[] = "SIP/2.0 200 OK\r\n\r\n";
    write_buf(cl, ping, sizeof(ping) - 1);
    xfer(cl, sv, 0);
    expect_rx(sv, ping, sizeof(ping) - 1);
    write_buf(sv, pong, sizeof(pong) - 1);
    xfer(sv, cl, 0);
    expect_rx(cl, pong, sizeof(pong) - 1);
}

static void handshake_version(int v, const char *name)
{
    struct wsip_tls_ctx *sctx = server_ctx(g_certdir, v, v, 1), *cctx = client_ctx(NULL, 0, 0);
    struct side cl, sv;
    pair_up(&cl, &sv, cctx, sctx, "localhost");
    ck_assert(!wsip_tls_handshake_done(cl.c));
    ck_assert_ptr_null(wsip_tls_conn_error(cl.c));
    drive(&cl, &sv, 0);
    expect_done(&cl, &sv);
    ck_assert_str_eq(wsip_tls_conn_version(sv.c), name);
    ck_assert_str_eq(wsip_tls_conn_version(cl.c), name);
    ck_assert_str_eq(wsip_tls_conn_cipher(sv.c), v == WSIP_TLS_V1_3
                                                     ? "TLS_AES_256_GCM_SHA384"
                                                     : "ECDHE-ECDSA-AES128-GCM-SHA256");
    ck_assert(!wsip_tls_conn_resumed(sv.c));
    /* the server got SNI */
    const char *sni = SSL_get_servername(wsip_tls_conn_ssl(sv.c), TLSEXT_NAMETYPE_host_name);
    ck_assert_pstr_eq(sni, "localhost");
    ck_assert_int_eq(wsip_tls_handshake(sv.c), WSIP_TLS_OK);
    exchange_check(&cl, &sv);
    ck_assert_uint_eq(wsip_tls_pending_out(cl.c), 0);
    ck_assert_uint_eq(wsip_tls_pending_out(sv.c), 0);
    side_free(&cl);
    side_free(&sv);
    wsip_tls_ctx_free(sctx);
    wsip_tls_ctx_free(cctx);
}

START_TEST(handshake_tls13)
{
    handshake_version(WSIP_TLS_V1_3, "TLSv1.3");
}
END_TEST

START_TEST(handshake_tls12)
{
    handshake_version(WSIP_TLS_V1_2, "TLSv1.2");
}
END_TEST

START_TEST(handshake_rsa)
{
    char *d = make_cert_in(g_dir, "rsa", WSIP_TLS_KEY_RSA2048, NULL, 0);
    for (int v = WSIP_TLS_V1_2; v <= WSIP_TLS_V1_3; v++) {
        struct wsip_tls_ctx *sctx = server_ctx(d, 0, v, 1), *cctx = client_ctx(d, 0, 0);
        struct side cl, sv;
        pair_up(&cl, &sv, cctx, sctx, "127.0.0.1");
        drive(&cl, &sv, 0);
        expect_done(&cl, &sv);
        /* an IP literal is checked against the IP SANs but not sent as SNI */
        ck_assert_ptr_null(SSL_get_servername(wsip_tls_conn_ssl(sv.c), TLSEXT_NAMETYPE_host_name));
        if (v == WSIP_TLS_V1_2)
            ck_assert_str_eq(wsip_tls_conn_cipher(sv.c), "ECDHE-RSA-AES128-GCM-SHA256");
        exchange_check(&cl, &sv);
        side_free(&cl);
        side_free(&sv);
        wsip_tls_ctx_free(sctx);
        wsip_tls_ctx_free(cctx);
    }
    free(d);
}
END_TEST

/* 100 KB each way, read back through a plain buffer smaller than a record
 * (so wsip_tls_read stops with input left, which is then kept). */
static void big_payload(int v, size_t plain_cap, size_t chunk)
{
    struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, v, 1), *cctx = client_ctx(NULL, 0, 0);
    struct side cl, sv;
    pair_up(&cl, &sv, cctx, sctx, "localhost");
    drive(&cl, &sv, chunk);
    expect_done(&cl, &sv);
    cl.plain_cap = sv.plain_cap = plain_cap;
    size_t n = 100 * 1000;
    unsigned char *a = random_bytes(n, 1), *b = random_bytes(n, 2);
    write_buf(&cl, a, n);
    size_t wire = wsip_tls_pending_out(cl.c);
    /* 7 records of at most 16 KiB, each with < 32 bytes of overhead */
    ck_assert_uint_gt(wire, n);
    ck_assert_uint_lt(wire, n + 7 * 32);
    xfer(&cl, &sv, chunk);
    expect_rx(&sv, a, n);
    ck_assert_int_eq(sv.rc, WSIP_TLS_AGAIN);
    write_buf(&sv, b, n);
    xfer(&sv, &cl, chunk);
    expect_rx(&cl, b, n);
    /* both at once, crossing */
    write_buf(&cl, b, n);
    write_buf(&sv, a, n);
    xfer(&cl, &sv, chunk);
    xfer(&sv, &cl, chunk);
    expect_rx(&sv, b, n);
    expect_rx(&cl, a, n);
    free(a);
    free(b);
    side_free(&cl);
    side_free(&sv);
    wsip_tls_ctx_free(sctx);
    wsip_tls_ctx_free(cctx);
}

START_TEST(payload_100k)
{
    big_payload(WSIP_TLS_V1_3, 65536, 0);
    big_payload(WSIP_TLS_V1_2, 65536, 0);
}
END_TEST

START_TEST(payload_100k_small_reads)
{
    big_payload(WSIP_TLS_V1_3, 1000, 0);
    big_payload(WSIP_TLS_V1_3, 1, 4000);
    big_payload(WSIP_TLS_V1_2, 777, 70000);
}
END_TEST

START_TEST(byte_at_a_time)
{
    for (int v = WSIP_TLS_V1_2; v <= WSIP_TLS_V1_3; v++) {
        struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, v, 1),
                            *cctx = client_ctx(g_certdir, 0, 0);
        struct side cl, sv;
        pair_up(&cl, &sv, cctx, sctx, "localhost");
        drive(&cl, &sv, 1);
        expect_done(&cl, &sv);
        unsigned char *a = random_bytes(20000, 3);
        write_buf(&cl, a, 20000);
        write_buf(&sv, a, 3);
        xfer(&cl, &sv, 1);
        xfer(&sv, &cl, 1);
        expect_rx(&sv, a, 20000);
        expect_rx(&cl, a, 3);
        free(a);
        side_free(&cl);
        side_free(&sv);
        wsip_tls_ctx_free(sctx);
        wsip_tls_ctx_free(cctx);
    }
}
END_TEST

START_TEST(many_small_writes)
{
    struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, 0, 1), *cctx = client_ctx(NULL, 0, 0);
    struct side cl, sv;
    pair_up(&cl, &sv, cctx, sctx, "localhost");
    drive(&cl, &sv, 0);
    expect_done(&cl, &sv);
    unsigned char *a = random_bytes(60000, 4);
    size_t off = 0;
    for (int i = 0; i < 2000; i++) {
        size_t k = 1 + (size_t)i % 57;
        write_buf(&cl, a + off, k);
        off += k;
        if (i % 7 == 0)
            xfer(&cl, &sv, 0);
        if (i % 13 == 0) {
            write_buf(&sv, a + off, 1);
            xfer(&sv, &cl, 3);
        }
    }
    xfer(&cl, &sv, 0);
    expect_rx(&sv, a, off);
    ck_assert_uint_eq(cl.rx_len, 154); /* one byte per 13 writes */
    free(a);
    side_free(&cl);
    side_free(&sv);
    wsip_tls_ctx_free(sctx);
    wsip_tls_ctx_free(cctx);
}
END_TEST

START_TEST(iovec_writes)
{
    struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, 0, 1), *cctx = client_ctx(NULL, 0, 0);
    struct side cl, sv;
    pair_up(&cl, &sv, cctx, sctx, "localhost");
    drive(&cl, &sv, 0);
    expect_done(&cl, &sv);

    /* a WS frame header and its payload become one record, as one buffer would */
    unsigned char hdr[4] = {0x81, 126, 0x00, 100};
    unsigned char *body = random_bytes(70000, 5);
    struct iovec iov[4] = {{hdr, 4}, {body, 100}, {NULL, 0}, {body + 100, 0}};
    ck_assert_int_eq(wsip_tls_write(sv.c, iov, 4), WSIP_TLS_OK);
    size_t as_iov = wsip_tls_pending_out(sv.c);
    unsigned char flat[104];
    memcpy(flat, hdr, 4);
    memcpy(flat + 4, body, 100);
    write_buf(&sv, flat, 104);
    size_t as_one = wsip_tls_pending_out(sv.c) - as_iov;
    ck_assert_uint_eq(as_iov, as_one);
    xfer(&sv, &cl, 0);
    ck_assert_uint_eq(cl.rx_len, 208);
    ck_assert_int_eq(memcmp(cl.rx, flat, 104), 0);
    ck_assert_int_eq(memcmp(cl.rx + 104, flat, 104), 0);
    cl.rx_len = 0;

    /* big and small pieces mixed, split around record boundaries */
    struct iovec mix[6] = {{hdr, 4},          {body, 16380}, {body + 16380, 40000},
                           {body + 56380, 1}, {NULL, 0},     {body + 56381, 70000 - 56381}};
    size_t want_len = 4 + 70000;
    unsigned char *want = malloc(want_len);
    ck_assert_ptr_nonnull(want);
    memcpy(want, hdr, 4);
    memcpy(want + 4, body, 70000);
    ck_assert_int_eq(wsip_tls_write(sv.c, mix, 6), WSIP_TLS_OK);
    /* 70004 bytes fit in 5 records */
    ck_assert_uint_lt(wsip_tls_pending_out(sv.c), want_len + 5 * 32);
    xfer(&sv, &cl, 0);
    expect_rx(&cl, want, want_len);

    ck_assert_int_eq(wsip_tls_write(sv.c, iov, 0), WSIP_TLS_OK);
    ck_assert_uint_eq(wsip_tls_pending_out(sv.c), 0);
    free(want);
    free(body);
    side_free(&cl);
    side_free(&sv);
    wsip_tls_ctx_free(sctx);
    wsip_tls_ctx_free(cctx);
}
END_TEST

START_TEST(take_out_and_write_before_handshake)
{
    struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, 0, 1), *cctx = client_ctx(NULL, 0, 0);
    struct side cl, sv;
    pair_up(&cl, &sv, cctx, sctx, "localhost");
    write_buf(&cl, "x", 0); /* nothing to write is fine even now */
    struct iovec iov = {"early", 5};
    ck_assert_int_eq(wsip_tls_write(cl.c, &iov, 1), WSIP_TLS_AGAIN);
    ck_assert_uint_eq(wsip_tls_pending_out(cl.c), 0);
    ck_assert_int_eq(wsip_tls_write(sv.c, &iov, 1), WSIP_TLS_AGAIN);

    /* the ClientHello, copied out in small pieces */
    ck_assert_int_eq(wsip_tls_handshake(cl.c), WSIP_TLS_AGAIN);
    size_t hello = wsip_tls_pending_out(cl.c);
    ck_assert_uint_gt(hello, 100);
    unsigned char buf[4096];
    size_t got = 0, k;
    while ((k = wsip_tls_take_out(cl.c, buf + got, 10)) > 0)
        got += k;
    ck_assert_uint_eq(got, hello);
    ck_assert_uint_eq(wsip_tls_pending_out(cl.c), 0);
    ck_assert_uint_eq(buf[0], 22); /* handshake record */
    size_t len = 1;
    ck_assert_ptr_null(wsip_tls_detach_out(cl.c, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(wsip_tls_take_out(cl.c, buf, sizeof(buf)), 0);
    ck_assert_int_eq(wsip_tls_feed(sv.c, buf, got), 0);
    size_t n = 5;
    ck_assert_int_eq(wsip_tls_read(sv.c, buf, 0, &n), WSIP_TLS_AGAIN); /* drives only */
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_gt(wsip_tls_pending_out(sv.c), 500); /* the server's flight */
    drive(&cl, &sv, 0);
    expect_done(&cl, &sv);
    ck_assert_int_eq(wsip_tls_write(cl.c, &iov, 1), WSIP_TLS_OK);
    side_free(&cl);
    side_free(&sv);
    wsip_tls_ctx_free(sctx);
    wsip_tls_ctx_free(cctx);
}
END_TEST

/* Two feeds before a read keep their order. */
START_TEST(feed_twice)
{
    struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, 0, 1), *cctx = client_ctx(NULL, 0, 0);
    struct side cl, sv;
    pair_up(&cl, &sv, cctx, sctx, "localhost");
    drive(&cl, &sv, 0);
    expect_done(&cl, &sv);
    write_buf(&cl, "hello ", 6);
    write_buf(&cl, "world", 5);
    size_t len;
    unsigned char *ct = wsip_tls_detach_out(cl.c, &len);
    ck_assert_ptr_nonnull(ct);
    ck_assert_int_eq(wsip_tls_feed(sv.c, ct, 3), 0);
    ck_assert_int_eq(wsip_tls_feed(sv.c, ct + 3, 20), 0);
    ck_assert_int_eq(wsip_tls_feed(sv.c, ct + 23, len - 23), 0);
    memset(ct, 0, len); /* borrowed bytes must have been copied by now */
    pull(&sv);
    expect_rx(&sv, "hello world", 11);
    free(ct);
    side_free(&cl);
    side_free(&sv);
    wsip_tls_ctx_free(sctx);
    wsip_tls_ctx_free(cctx);
}
END_TEST

START_TEST(corrupt_record)
{
    for (int v = WSIP_TLS_V1_2; v <= WSIP_TLS_V1_3; v++) {
        struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, v, 1), *cctx = client_ctx(NULL, 0, 0);
        struct side cl, sv;
        pair_up(&cl, &sv, cctx, sctx, "localhost");
        drive(&cl, &sv, 0);
        expect_done(&cl, &sv);
        write_buf(&cl, "first", 5);
        xfer(&cl, &sv, 0);
        expect_rx(&sv, "first", 5);

        write_buf(&cl, "REGISTER sip:example.com SIP/2.0\r\n", 34);
        write_buf(&cl, "more", 4);
        size_t len;
        unsigned char *ct = wsip_tls_detach_out(cl.c, &len);
        ck_assert_ptr_nonnull(ct);
        ct[20] ^= 0x40; /* inside the first record's ciphertext */
        ck_assert_int_eq(wsip_tls_feed(sv.c, ct, len), 0);
        pull(&sv);
        free(ct);
        ck_assert_int_eq(sv.rc, WSIP_TLS_ERROR);
        ck_assert_uint_eq(sv.rx_len, 0);
        const char *e = wsip_tls_conn_error(sv.c);
        ck_assert_ptr_nonnull(e);
        ck_assert_msg(strstr(e, "bad record mac") != NULL, "error: %s", e);
        /* an alert for the peer, and the connection stays failed */
        ck_assert_uint_gt(wsip_tls_pending_out(sv.c), 0);
        size_t n = 7;
        unsigned char buf[64];
        ck_assert_int_eq(wsip_tls_read(sv.c, buf, sizeof(buf), &n), WSIP_TLS_ERROR);
        ck_assert_uint_eq(n, 0);
        struct iovec iov = {"x", 1};
        ck_assert_int_eq(wsip_tls_write(sv.c, &iov, 1), WSIP_TLS_ERROR);
        ck_assert_int_eq(wsip_tls_shutdown(sv.c), WSIP_TLS_ERROR);
        ck_assert_int_eq(wsip_tls_handshake(sv.c), WSIP_TLS_ERROR);
        /* the client learns why */
        xfer(&sv, &cl, 0);
        ck_assert_int_eq(cl.rc, WSIP_TLS_ERROR);
        e = wsip_tls_conn_error(cl.c);
        ck_assert_ptr_nonnull(e);
        ck_assert_msg(strstr(e, "alert bad record mac") != NULL, "client error: %s", e);
        side_free(&cl);
        side_free(&sv);
        wsip_tls_ctx_free(sctx);
        wsip_tls_ctx_free(cctx);
    }
}
END_TEST

START_TEST(garbage_instead_of_hello)
{
    struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, 0, 1);
    struct side sv;
    side_init(&sv, wsip_tls_conn_new(sctx, NULL));
    static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(wsip_tls_feed(sv.c, get, sizeof(get) - 1), 0);
    pull(&sv);
    ck_assert_int_eq(sv.rc, WSIP_TLS_ERROR);
    ck_assert_pstr_eq(wsip_tls_conn_error(sv.c), "http request");
    ck_assert(!wsip_tls_handshake_done(sv.c));
    side_free(&sv);
    wsip_tls_ctx_free(sctx);
}
END_TEST

START_TEST(close_notify_both_ways)
{
    for (int v = WSIP_TLS_V1_2; v <= WSIP_TLS_V1_3; v++) {
        struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, v, 1), *cctx = client_ctx(NULL, 0, 0);
        struct side cl, sv;
        pair_up(&cl, &sv, cctx, sctx, "localhost");
        drive(&cl, &sv, 0);
        expect_done(&cl, &sv);
        /* data then close_notify in one flight: the data arrives first */
        write_buf(&cl, "bye", 3);
        ck_assert_int_eq(wsip_tls_shutdown(cl.c), WSIP_TLS_OK);
        ck_assert_int_eq(wsip_tls_shutdown(cl.c), WSIP_TLS_OK); /* once only */
        xfer(&cl, &sv, 0);
        expect_rx(&sv, "bye", 3);
        ck_assert_int_eq(sv.rc, WSIP_TLS_CLOSED);
        ck_assert_ptr_null(wsip_tls_conn_error(sv.c));
        /* the server may still send before answering the close */
        write_buf(&sv, "last", 4);
        ck_assert_int_eq(wsip_tls_shutdown(sv.c), WSIP_TLS_OK);
        ck_assert_int_eq(SSL_get_shutdown(wsip_tls_conn_ssl(sv.c)),
                         SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        xfer(&sv, &cl, 0);
        expect_rx(&cl, "last", 4);
        ck_assert_int_eq(cl.rc, WSIP_TLS_CLOSED);
        /* further input is ignored */
        ck_assert_int_eq(wsip_tls_feed(sv.c, "junk", 4), 0);
        size_t n = 9;
        char buf[16];
        ck_assert_int_eq(wsip_tls_read(sv.c, buf, sizeof(buf), &n), WSIP_TLS_CLOSED);
        ck_assert_uint_eq(n, 0);
        side_free(&cl);
        side_free(&sv);
        wsip_tls_ctx_free(sctx);
        wsip_tls_ctx_free(cctx);
    }
}
END_TEST

START_TEST(version_mismatch)
{
    struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, WSIP_TLS_V1_2, 1),
                        *cctx = client_ctx(NULL, WSIP_TLS_V1_3, 0);
    struct side cl, sv;
    pair_up(&cl, &sv, cctx, sctx, "localhost");
    drive(&cl, &sv, 0);
    ck_assert_int_eq(sv.rc, WSIP_TLS_ERROR);
    ck_assert_int_eq(cl.rc, WSIP_TLS_ERROR);
    ck_assert_pstr_eq(wsip_tls_conn_error(sv.c), "unsupported protocol");
    ck_assert_pstr_eq(wsip_tls_conn_error(cl.c), "tlsv1 alert protocol version");
    ck_assert(!wsip_tls_handshake_done(sv.c));
    ck_assert(!wsip_tls_handshake_done(cl.c));
    side_free(&cl);
    side_free(&sv);
    wsip_tls_ctx_free(sctx);
    wsip_tls_ctx_free(cctx);
}
END_TEST

static void verify_case(const char *ca_dir, const char *name, const char *want_detail)
{
    struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, 0, 1), *cctx = client_ctx(ca_dir, 0, 0);
    struct side cl, sv;
    pair_up(&cl, &sv, cctx, sctx, name);
    drive(&cl, &sv, 0);
    if (want_detail == NULL) {
        expect_done(&cl, &sv);
    } else {
        ck_assert_int_eq(cl.rc, WSIP_TLS_ERROR);
        ck_assert_pstr_eq(wsip_tls_conn_error(cl.c), "certificate verify failed");
        ck_assert_pstr_eq(wsip_tls_conn_error_detail(cl.c), want_detail);
        ck_assert(!wsip_tls_handshake_done(cl.c));
        /* the server hears the alert */
        ck_assert_int_eq(sv.rc, WSIP_TLS_ERROR);
        ck_assert_msg(strstr(wsip_tls_conn_error(sv.c), "alert") != NULL, "server: %s",
                      wsip_tls_conn_error(sv.c));
        ck_assert(!wsip_tls_handshake_done(sv.c));
    }
    side_free(&cl);
    side_free(&sv);
    wsip_tls_ctx_free(sctx);
    wsip_tls_ctx_free(cctx);
}

START_TEST(verify_peer)
{
    char *wrong = make_cert_in(g_dir, "wrong-ca", WSIP_TLS_KEY_P256, NULL, 0);
    verify_case(g_certdir, "localhost", NULL);
    verify_case(g_certdir, "127.0.0.1", NULL);
    verify_case(g_certdir, "::1", NULL);
    verify_case(g_certdir, NULL, NULL); /* chain only */
    verify_case(wrong, "localhost", "self-signed certificate");
    verify_case(g_certdir, "sip.example.com", "hostname mismatch");
    verify_case(g_certdir, "10.1.2.3", "IP address mismatch");
    free(wrong);
}
END_TEST

/* No CA file but system_cas (wsip's default for outgoing TLS): verification
 * is on, and a self-signed server is refused. */
START_TEST(verify_system_cas)
{
    struct wsip_tls_config cfg;
    wsip_tls_config_default(&cfg, WSIP_TLS_CLIENT);
    cfg.system_cas = true;
    struct wsip_tls_ctx *cctx = NULL, *sctx = server_ctx(g_certdir, 0, 0, 1);
    struct wsip_tls_err err = {{0}};
    ck_assert_msg(wsip_tls_ctx_new(&cctx, &cfg, &err) == 0, "client ctx: %s", err.msg);
    struct side cl, sv;
    pair_up(&cl, &sv, cctx, sctx, "localhost");
    drive(&cl, &sv, 0);
    ck_assert_int_eq(cl.rc, WSIP_TLS_ERROR);
    ck_assert_pstr_eq(wsip_tls_conn_error(cl.c), "certificate verify failed");
    ck_assert(!wsip_tls_handshake_done(cl.c));
    side_free(&cl);
    side_free(&sv);
    wsip_tls_ctx_free(sctx);
    wsip_tls_ctx_free(cctx);
}
END_TEST

static ASN1_INTEGER *file_serial(const char *dir)
{
    char *p = path_in(dir, "cert.pem");
    X509 *x = load_cert(p);
    ASN1_INTEGER *s = ASN1_INTEGER_dup(X509_get0_serialNumber(x));
    X509_free(x);
    free(p);
    return s;
}

static bool peer_serial_is(struct side *cl, const ASN1_INTEGER *want)
{
    X509 *x = SSL_get1_peer_certificate(wsip_tls_conn_ssl(cl->c));
    ck_assert_ptr_nonnull(x);
    bool eq = ASN1_INTEGER_cmp(X509_get0_serialNumber(x), want) == 0;
    X509_free(x);
    return eq;
}

START_TEST(reload_keeps_old_connections)
{
    char *b = make_cert_in(g_dir, "b", WSIP_TLS_KEY_P256, NULL, 0);
    ASN1_INTEGER *sa = file_serial(g_certdir), *sb = file_serial(b);
    ck_assert_int_ne(ASN1_INTEGER_cmp(sa, sb), 0);
    struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, 0, 1), *cctx = client_ctx(NULL, 0, 0);
    struct side c1, s1, c2, s2;
    pair_up(&c1, &s1, cctx, sctx, "localhost");
    drive(&c1, &s1, 0);
    expect_done(&c1, &s1);
    ck_assert(peer_serial_is(&c1, sa));
    SSL_SESSION *sess = SSL_get1_session(wsip_tls_conn_ssl(c1.c));
    ck_assert_ptr_nonnull(sess);
    ck_assert(SSL_SESSION_is_resumable(sess));

    /* a new connection made before the reload, handshaking after it */
    struct side c0, s0;
    pair_up(&c0, &s0, cctx, sctx, "localhost");

    char *bc = path_in(b, "cert.pem"), *bk = path_in(b, "key.pem");
    struct wsip_tls_err err = {{0}};
    ck_assert_msg(wsip_tls_ctx_reload(sctx, bc, bk, &err) == 0, "reload: %s", err.msg);

    exchange_check(&c1, &s1); /* the old connection works on */
    pair_up(&c2, &s2, cctx, sctx, "localhost");
    drive(&c2, &s2, 0);
    expect_done(&c2, &s2);
    ck_assert(peer_serial_is(&c2, sb));
    exchange_check(&c2, &s2);
    drive(&c0, &s0, 0);
    expect_done(&c0, &s0);
    ck_assert(peer_serial_is(&c0, sa));

    /* a session from before the reload resumes after it (ticket keys kept) */
    struct side c3, s3;
    pair_up(&c3, &s3, cctx, sctx, "localhost");
    ck_assert_int_eq(SSL_set_session(wsip_tls_conn_ssl(c3.c), sess), 1);
    drive(&c3, &s3, 0);
    expect_done(&c3, &s3);
    ck_assert(wsip_tls_conn_resumed(s3.c));
    ck_assert(wsip_tls_conn_resumed(c3.c));

    /* a failed reload leaves the current certificate in place */
    ck_assert_int_eq(wsip_tls_ctx_reload(sctx, bc, "/nonexistent/key.pem", &err), -1);
    ck_assert_str_eq(err.msg, "/nonexistent/key.pem: No such file or directory");
    struct side c4, s4;
    pair_up(&c4, &s4, cctx, sctx, "localhost");
    drive(&c4, &s4, 0);
    expect_done(&c4, &s4);
    ck_assert(peer_serial_is(&c4, sb));

    /* NULL, NULL re-reads the same file names: replace b's files and reload */
    struct wsip_tls_cert_opts o = {.force = true};
    ck_assert_msg(wsip_tls_cert_self_signed(b, &o, &err) == 0, "%s", err.msg);
    ASN1_INTEGER *sb2 = file_serial(b);
    ck_assert_msg(wsip_tls_ctx_reload(sctx, NULL, NULL, &err) == 0, "reload: %s", err.msg);
    struct side c5, s5;
    pair_up(&c5, &s5, cctx, sctx, "localhost");
    drive(&c5, &s5, 0);
    expect_done(&c5, &s5);
    ck_assert(peer_serial_is(&c5, sb2));

    /* the ctx can go before its connections */
    wsip_tls_ctx_free(sctx);
    exchange_check(&c1, &s1);
    exchange_check(&c5, &s5);

    struct side *all[] = {&c0, &s0, &c1, &s1, &c2, &s2, &c3, &s3, &c4, &s4, &c5, &s5};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        side_free(all[i]);
    SSL_SESSION_free(sess);
    ASN1_INTEGER_free(sa);
    ASN1_INTEGER_free(sb);
    ASN1_INTEGER_free(sb2);
    wsip_tls_ctx_free(cctx);
    free(bc);
    free(bk);
    free(b);
}
END_TEST

static void resume_case(unsigned tickets, int v, bool want)
{
    struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, v, tickets),
                        *cctx = client_ctx(NULL, 0, 0);
    struct side c1, s1, c2, s2;
    pair_up(&c1, &s1, cctx, sctx, "localhost");
    drive(&c1, &s1, 0);
    expect_done(&c1, &s1);
    SSL_SESSION *sess = SSL_get1_session(wsip_tls_conn_ssl(c1.c));
    ck_assert_ptr_nonnull(sess);
    pair_up(&c2, &s2, cctx, sctx, "localhost");
    ck_assert_int_eq(SSL_set_session(wsip_tls_conn_ssl(c2.c), sess), 1);
    drive(&c2, &s2, 0);
    expect_done(&c2, &s2);
    ck_assert_msg(wsip_tls_conn_resumed(s2.c) == want, "tickets %u v %x: resumed %d, want %d",
                  tickets, (unsigned)v, wsip_tls_conn_resumed(s2.c), want);
    exchange_check(&c2, &s2);
    SSL_SESSION_free(sess);
    side_free(&c1);
    side_free(&s1);
    side_free(&c2);
    side_free(&s2);
    wsip_tls_ctx_free(sctx);
    wsip_tls_ctx_free(cctx);
}

START_TEST(resumption)
{
    resume_case(1, WSIP_TLS_V1_3, true);
    resume_case(1, WSIP_TLS_V1_2, true);
    resume_case(0, WSIP_TLS_V1_3, false);
    resume_case(0, WSIP_TLS_V1_2, false);
}
END_TEST

/* Worker threads make connections while another thread reloads. */
struct worker_arg {
    struct wsip_tls_ctx *sctx, *cctx;
    int ok;
};

static void *worker(void *p)
{
    struct worker_arg *a = p;
    for (int i = 0; i < 40; i++) {
        struct side cl, sv;
        pair_up(&cl, &sv, a->cctx, a->sctx, "localhost");
        drive(&cl, &sv, 0);
        if (wsip_tls_handshake_done(cl.c) && wsip_tls_handshake_done(sv.c))
            a->ok++;
        side_free(&cl);
        side_free(&sv);
    }
    return NULL;
}

START_TEST(reload_under_threads)
{
    char *b = make_cert_in(g_dir, "b", WSIP_TLS_KEY_P256, NULL, 0);
    char *paths[2][2] = {{path_in(g_certdir, "cert.pem"), path_in(g_certdir, "key.pem")},
                         {path_in(b, "cert.pem"), path_in(b, "key.pem")}};
    struct wsip_tls_ctx *sctx = server_ctx(g_certdir, 0, 0, 1), *cctx = client_ctx(NULL, 0, 0);
    struct worker_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (struct worker_arg){sctx, cctx, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 30; i++) {
        struct wsip_tls_err err;
        ck_assert_msg(wsip_tls_ctx_reload(sctx, paths[i & 1][0], paths[i & 1][1], &err) == 0,
                      "reload %d: %s", i, err.msg);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].ok, 40);
    }
    wsip_tls_ctx_free(sctx);
    wsip_tls_ctx_free(cctx);
    for (int i = 0; i < 4; i++)
        free(paths[i / 2][i % 2]);
    free(b);
}
END_TEST

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("cert");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, cert_contents);
    tcase_add_test(tc, cert_refuses_overwrite);
    tcase_add_test(tc, cert_bad_input);
    tcase_add_test(tc, cert_command);
    tcase_add_test(tc, ctx_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("conn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, handshake_tls13);
    tcase_add_test(tc, handshake_tls12);
    tcase_add_test(tc, handshake_rsa);
    tcase_add_test(tc, payload_100k);
    tcase_add_test(tc, payload_100k_small_reads);
    tcase_add_test(tc, byte_at_a_time);
    tcase_add_test(tc, many_small_writes);
    tcase_add_test(tc, iovec_writes);
    tcase_add_test(tc, take_out_and_write_before_handshake);
    tcase_add_test(tc, feed_twice);
    tcase_add_test(tc, corrupt_record);
    tcase_add_test(tc, garbage_instead_of_hello);
    tcase_add_test(tc, close_notify_both_ways);
    tcase_add_test(tc, version_mismatch);
    tcase_add_test(tc, verify_peer);
    tcase_add_test(tc, verify_system_cas);
    tcase_add_test(tc, resumption);
    suite_add_tcase(s, tc);

    tc = tcase_create("reload");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reload_keeps_old_connections);
    tcase_add_test(tc, reload_under_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(tls_suite());
}

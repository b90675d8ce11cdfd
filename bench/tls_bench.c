/* TLS layer figures: heap held by an idle server-side connection after its
 * handshake, and full-handshake CPU cost (ECDSA P-256 vs RSA-2048), all in
 * memory on one thread.
 *
 *   tls_bench [--conns N] [--seconds S] [--rounds R]   (defaults 2000, 1, 5;
 *                                                        --conns 0: handshakes only)
 *
 * Memory: N server connections are each taken through a handshake with a
 * client connection and one request/response exchange (a REGISTER-sized 800 B
 * up, 400 B down), then the client is freed; the growth of the heap divided
 * by N is one idle connection. "heap" is glibc's mallinfo2() in-use bytes
 * (every allocation, with malloc's own chunk overhead); "openssl" counts only
 * the bytes OpenSSL asked for (CRYPTO_set_mem_functions). For comparison the
 * same is done with a bare OpenSSL server on BIO_s_mem and on a BIO pair.
 *
 * Handshakes: a fresh pair per handshake; "server-side" counts only the CPU
 * spent inside the server's calls, "pairs" the whole loop (client and server).
 * "resumed" offers the session ticket of an earlier handshake. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "wsip/tls.h"

static void die(const char *what, const char *why)
{
    fprintf(stderr, "tls_bench: %s: %s\n", what, why ? why : "failed");
    exit(1);
}

/* ------------------------------------------------- OpenSSL allocation count */

static size_t ossl_live;

struct hdr {
    size_t size;
    size_t pad; /* keeps the payload 16-byte aligned */
};

static void *count_malloc(size_t n, const char *file, int line)
{
    struct hdr *h = malloc(sizeof(*h) + n);
    if (h == NULL)
        return NULL;
    h->size = n;
    ossl_live += n;
    return h + 1;
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
    if (p == NULL)
        return count_malloc(n, file, line);
    struct hdr *h = (struct hdr *)p - 1;
    size_t old = h->size;
    struct hdr *nh = realloc(h, sizeof(*nh) + n);
    if (nh == NULL)
        return NULL;
    ossl_live = ossl_live - old + n;
    nh->size = n;
    return nh + 1;
}

static void count_free(void *p, const char *file, int line)
{
    if (p == NULL)
        return;
    struct hdr *h = (struct hdr *)p - 1;
    ossl_live -= h->size;
    free(h);
}

static size_t heap_in_use(void)
{
    return mallinfo2().uordblks;
}

/* ------------------------------------------------------------------ pumping */

static double now_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double server_cpu; /* seconds inside server-side calls */

static unsigned char plain[65536];

/* Reads everything c can decrypt; returns the plaintext byte count. */
static size_t drain(struct wsip_tls_conn *c, bool server)
{
    double t0 = server ? now_cpu() : 0;
    size_t total = 0, n;
    int rc;
    do {
        rc = wsip_tls_read(c, plain, sizeof(plain), &n);
        total += n;
    } while (rc == WSIP_TLS_OK);
    if (server)
        server_cpu += now_cpu() - t0;
    if (rc == WSIP_TLS_ERROR)
        die("read", wsip_tls_conn_error(c));
    return total;
}

static size_t move(struct wsip_tls_conn *from, struct wsip_tls_conn *to, bool to_server)
{
    size_t len;
    void *p = wsip_tls_detach_out(from, &len);
    if (p == NULL)
        return 0;
    if (wsip_tls_feed(to, p, len) != 0)
        die("feed", "out of memory");
    drain(to, to_server);
    free(p);
    return len;
}

static void handshake(struct wsip_tls_conn *cl, struct wsip_tls_conn *sv)
{
    for (int i = 0; i < 20; i++) {
        if (!wsip_tls_handshake_done(cl) && wsip_tls_handshake(cl) == WSIP_TLS_ERROR)
            die("client handshake", wsip_tls_conn_error(cl));
        size_t moved = move(cl, sv, true) + move(sv, cl, false);
        if (moved == 0)
            break;
    }
    if (!wsip_tls_handshake_done(cl) || !wsip_tls_handshake_done(sv))
        die("handshake", "did not complete");
}

static unsigned char req[800], resp[400];

static void send_plain(struct wsip_tls_conn *c, const void *p, size_t len)
{
    struct iovec iov = {(void *)p, len};
    if (wsip_tls_write(c, &iov, 1) != WSIP_TLS_OK)
        die("write", wsip_tls_conn_error(c));
}

/* One REGISTER-sized request and its answer. */
static void exchange(struct wsip_tls_conn *cl, struct wsip_tls_conn *sv)
{
    send_plain(cl, req, sizeof(req));
    move(cl, sv, true);
    send_plain(sv, resp, sizeof(resp));
    move(sv, cl, false);
}

/* -------------------------------------------------------------- contexts */

static char g_dir[] = "/tmp/wsip-tls-bench-XXXXXX";
static char g_p256[300], g_rsa[300];

static void make_certs(void)
{
    if (mkdtemp(g_dir) == NULL)
        die("mkdtemp", NULL);
    struct wsip_tls_err err;
    struct wsip_tls_cert_opts o = {.key_type = WSIP_TLS_KEY_P256};
    snprintf(g_p256, sizeof(g_p256), "%s/p256", g_dir);
    snprintf(g_rsa, sizeof(g_rsa), "%s/rsa", g_dir);
    if (wsip_tls_cert_self_signed(g_p256, &o, &err) != 0)
        die("cert", err.msg);
    o.key_type = WSIP_TLS_KEY_RSA2048;
    if (wsip_tls_cert_self_signed(g_rsa, &o, &err) != 0)
        die("cert", err.msg);
}

static void remove_certs(void)
{
    const char *dirs[] = {g_p256, g_rsa};
    char p[400];
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof(p), "%s/cert.pem", dirs[i]);
        unlink(p);
        snprintf(p, sizeof(p), "%s/key.pem", dirs[i]);
        unlink(p);
        rmdir(dirs[i]);
    }
    rmdir(g_dir);
}

static struct wsip_tls_ctx *server_ctx(const char *dir, int version, bool keep_buffers,
                                       unsigned tickets)
{
    char cert[400], key[400];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    struct wsip_tls_config cfg;
    wsip_tls_config_default(&cfg, WSIP_TLS_SERVER);
    cfg.cert_file = cert;
    cfg.key_file = key;
    cfg.min_version = cfg.max_version = version;
    cfg.keep_buffers = keep_buffers;
    cfg.tickets = tickets;
    struct wsip_tls_ctx *ctx;
    struct wsip_tls_err err;
    if (wsip_tls_ctx_new(&ctx, &cfg, &err) != 0)
        die("server ctx", err.msg);
    return ctx;
}

static struct wsip_tls_ctx *client_ctx(void)
{
    struct wsip_tls_config cfg;
    wsip_tls_config_default(&cfg, WSIP_TLS_CLIENT);
    struct wsip_tls_ctx *ctx;
    struct wsip_tls_err err;
    if (wsip_tls_ctx_new(&ctx, &cfg, &err) != 0)
        die("client ctx", err.msg);
    return ctx;
}

/* ---------------------------------------------------------------- memory */

struct mem_result {
    double heap, ossl;
};

static struct mem_result mem_wsip(struct wsip_tls_ctx *sctx, struct wsip_tls_ctx *cctx, int n)
{
    struct wsip_tls_conn **sv = calloc((size_t)n, sizeof(*sv));
    if (sv == NULL)
        die("calloc", NULL);
    size_t h0 = heap_in_use(), o0 = ossl_live;
    for (int i = 0; i < n; i++) {
        struct wsip_tls_conn *cl = wsip_tls_conn_new(cctx, "localhost");
        sv[i] = wsip_tls_conn_new(sctx, NULL);
        if (cl == NULL || sv[i] == NULL)
            die("conn", "out of memory");
        handshake(cl, sv[i]);
        exchange(cl, sv[i]);
        wsip_tls_conn_free(cl);
    }
    struct mem_result r = {(double)(heap_in_use() - h0) / n, (double)(ossl_live - o0) / n};
    for (int i = 0; i < n; i++)
        wsip_tls_conn_free(sv[i]);
    free(sv);
    return r;
}

/* A bare OpenSSL server SSL on BIO_s_mem (pair == false) or on a BIO pair,
 * talking to a wsip client connection. */
struct raw {
    SSL *ssl;
    BIO *in, *out; /* where we write the client's bytes, where we read the server's */
};

static void raw_pump_in(struct raw *s, struct wsip_tls_conn *cl)
{
    size_t len;
    unsigned char *p = wsip_tls_detach_out(cl, &len);
    if (p == NULL)
        return;
    size_t w;
    if (!BIO_write_ex(s->in, p, len, &w) || w != len)
        die("BIO_write", "short");
    free(p);
    if (!SSL_is_init_finished(s->ssl)) {
        int r = SSL_do_handshake(s->ssl);
        if (r != 1 && SSL_get_error(s->ssl, r) != SSL_ERROR_WANT_READ)
            die("raw handshake", NULL);
    }
    if (SSL_is_init_finished(s->ssl)) {
        size_t n;
        while (SSL_read_ex(s->ssl, plain, sizeof(plain), &n) == 1)
            ;
    }
}

static size_t raw_pump_out(struct raw *s, struct wsip_tls_conn *cl)
{
    unsigned char buf[16384];
    size_t n, total = 0;
    while (BIO_read_ex(s->out, buf, sizeof(buf), &n) == 1 && n > 0) {
        if (wsip_tls_feed(cl, buf, n) != 0)
            die("feed", NULL);
        drain(cl, false);
        total += n;
    }
    return total;
}

static struct mem_result mem_raw(struct wsip_tls_ctx *sctx, struct wsip_tls_ctx *cctx, int n,
                                 bool pair)
{
    /* the server's SSL_CTX, borrowed from a throwaway connection */
    struct wsip_tls_conn *tmp = wsip_tls_conn_new(sctx, NULL);
    SSL_CTX *sc = SSL_get_SSL_CTX(wsip_tls_conn_ssl(tmp));
    SSL_CTX_up_ref(sc);
    wsip_tls_conn_free(tmp);

    struct raw *sv = calloc((size_t)n, sizeof(*sv));
    if (sv == NULL)
        die("calloc", NULL);
    size_t h0 = heap_in_use(), o0 = ossl_live;
    for (int i = 0; i < n; i++) {
        struct raw *s = &sv[i];
        s->ssl = SSL_new(sc);
        if (pair) {
            BIO *inner;
            if (!BIO_new_bio_pair(&inner, 0, &s->in, 0))
                die("BIO pair", NULL);
            s->out = s->in;
            SSL_set_bio(s->ssl, inner, inner);
        } else {
            s->in = BIO_new(BIO_s_mem());
            s->out = BIO_new(BIO_s_mem());
            SSL_set_bio(s->ssl, s->in, s->out); /* the SSL owns both */
        }
        SSL_set_accept_state(s->ssl);
        struct wsip_tls_conn *cl = wsip_tls_conn_new(cctx, "localhost");
        for (int k = 0; k < 20; k++) {
            if (!wsip_tls_handshake_done(cl))
                wsip_tls_handshake(cl);
            bool had = wsip_tls_pending_out(cl) > 0;
            raw_pump_in(s, cl);
            if (raw_pump_out(s, cl) == 0 && !had)
                break;
        }
        if (!SSL_is_init_finished(s->ssl) || !wsip_tls_handshake_done(cl))
            die("raw handshake", "did not complete");
        send_plain(cl, req, sizeof(req));
        raw_pump_in(s, cl);
        size_t w;
        if (!SSL_write_ex(s->ssl, resp, sizeof(resp), &w))
            die("SSL_write", NULL);
        raw_pump_out(s, cl);
        wsip_tls_conn_free(cl);
    }
    struct mem_result r = {(double)(heap_in_use() - h0) / n, (double)(ossl_live - o0) / n};
    for (int i = 0; i < n; i++) {
        if (pair)
            BIO_free(sv[i].in); /* the outer half is ours */
        SSL_free(sv[i].ssl);
    }
    free(sv);
    SSL_CTX_free(sc);
    return r;
}

/* ------------------------------------------------------------- handshakes */

struct hs_result {
    double pair_per_s, server_per_s;
    int count;
};

static struct hs_result handshakes(struct wsip_tls_ctx *sctx, struct wsip_tls_ctx *cctx,
                                   double seconds, bool resume)
{
    struct hs_result r = {0};
    SSL_SESSION *sess = NULL;
    if (resume) {
        struct wsip_tls_conn *cl = wsip_tls_conn_new(cctx, "localhost"),
                             *sv = wsip_tls_conn_new(sctx, NULL);
        handshake(cl, sv);
        sess = SSL_get1_session(wsip_tls_conn_ssl(cl));
        wsip_tls_shutdown(cl); /* else OpenSSL marks the session not resumable */
        wsip_tls_conn_free(cl);
        wsip_tls_conn_free(sv);
    }
    server_cpu = 0;
    double t0 = now_cpu(), t;
    do {
        for (int i = 0; i < 10; i++) {
            struct wsip_tls_conn *cl = wsip_tls_conn_new(cctx, "localhost");
            if (sess != NULL)
                SSL_set_session(wsip_tls_conn_ssl(cl), sess);
            double s0 = now_cpu();
            struct wsip_tls_conn *sv = wsip_tls_conn_new(sctx, NULL);
            server_cpu += now_cpu() - s0;
            handshake(cl, sv);
            if (sess != NULL && !wsip_tls_conn_resumed(sv))
                die("resumption", "the session was not resumed");
            if (sess != NULL)
                wsip_tls_shutdown(cl); /* TLS 1.2 resumes sess itself: keep it resumable */
            wsip_tls_conn_free(cl);
            s0 = now_cpu();
            wsip_tls_conn_free(sv);
            server_cpu += now_cpu() - s0;
            r.count++;
        }
        t = now_cpu() - t0;
    } while (t < seconds);
    SSL_SESSION_free(sess);
    r.pair_per_s = r.count / t;
    r.server_per_s = r.count / server_cpu;
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int conns = 2000, rounds = 5;
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--conns") && i + 1 < argc)
            conns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: tls_bench [--conns N] [--seconds S] [--rounds R]\n");
            return 2;
        }
    }
    if (conns < 0)
        conns = 0; /* 0: handshakes only */
    if (rounds < 1 || rounds > 99)
        rounds = 5;
    /* before OpenSSL allocates anything */
    if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
        die("CRYPTO_set_mem_functions", NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(req, 'r', sizeof(req));
    memset(resp, 's', sizeof(resp));
    make_certs();
    atexit(remove_certs); /* die() too */

    printf("OpenSSL %s; %d connections per memory row; bytes per idle server connection\n",
           OpenSSL_version(OPENSSL_VERSION_STRING), conns);
    printf("%-8s %-10s %-24s %9s %9s\n", "version", "bio", "buffers", "heap", "openssl");
    struct wsip_tls_ctx *cctx = client_ctx();
    static const struct {
        int v;
        const char *name;
    } vers[] = {{WSIP_TLS_V1_3, "TLS1.3"}, {WSIP_TLS_V1_2, "TLS1.2"}};
    for (int vi = 0; vi < 2 && conns > 0; vi++) {
        for (int keep = 0; keep < 2; keep++) {
            for (int tickets = 1; tickets >= 0; tickets--) {
                struct wsip_tls_ctx *sctx = server_ctx(g_p256, vers[vi].v, keep, (unsigned)tickets);
                struct wsip_tls_conn *a = wsip_tls_conn_new(cctx, "localhost"),
                                     *b = wsip_tls_conn_new(sctx, NULL);
                handshake(a, b); /* OpenSSL's one-time allocations happen here */
                wsip_tls_conn_free(a);
                wsip_tls_conn_free(b);
                char label[64];
                snprintf(label, sizeof(label), "%s, tickets %d", keep ? "kept" : "released",
                         tickets);
                struct mem_result m = mem_wsip(sctx, cctx, conns);
                printf("%-8s %-10s %-24s %9.0f %9.0f\n", vers[vi].name, "wsip", label, m.heap,
                       m.ossl);
                if (tickets == 1) {
                    m = mem_raw(sctx, cctx, conns, false);
                    printf("%-8s %-10s %-24s %9.0f %9.0f\n", vers[vi].name, "BIO_s_mem", label,
                           m.heap, m.ossl);
                    m = mem_raw(sctx, cctx, conns, true);
                    printf("%-8s %-10s %-24s %9.0f %9.0f\n", vers[vi].name, "BIO pair", label,
                           m.heap, m.ossl);
                }
                wsip_tls_ctx_free(sctx);
            }
        }
    }

    printf("\nhandshakes, one thread, in memory: median of %d interleaved rounds of %.1f s\n",
           rounds, seconds);
    printf("%-8s %-22s %12s %14s\n", "version", "key", "pairs/s", "server-side/s");
    static const struct {
        const char *name;
        const char *dir;
        unsigned tickets;
        bool resume;
    } keys[] = {{"P-256", g_p256, 1, false},
                {"RSA-2048", g_rsa, 1, false},
                {"P-256, no tickets", g_p256, 0, false},
                {"P-256, resumed", g_p256, 1, true}};
    enum { ROWS = 8, ROUNDS_MAX = 99 };
    static double pair_rate[ROWS][ROUNDS_MAX], server_rate[ROWS][ROUNDS_MAX];
    for (int r = 0; r < rounds; r++) {
        for (int row = 0; row < ROWS; row++) {
            int vi = row / 4, ki = row % 4;
            struct wsip_tls_ctx *sctx =
                server_ctx(keys[ki].dir, vers[vi].v, false, keys[ki].tickets);
            struct hs_result h = handshakes(sctx, cctx, seconds, keys[ki].resume);
            pair_rate[row][r] = h.pair_per_s;
            server_rate[row][r] = h.server_per_s;
            wsip_tls_ctx_free(sctx);
        }
    }
    for (int row = 0; row < ROWS; row++) {
        printf("%-8s %-22s %12.0f %14.0f\n", vers[row / 4].name, keys[row % 4].name,
               median(pair_rate[row], rounds), median(server_rate[row], rounds));
    }
    wsip_tls_ctx_free(cctx);
    return 0;
}

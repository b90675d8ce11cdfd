/* TLS contexts and connections on OpenSSL 3, driven through a BIO of our own.
 *
 * Why not BIO_s_mem or a BIO pair: a BIO pair allocates two fixed 17 KB
 * buffers per connection for its whole life, and BIO_s_mem keeps its buffer at
 * the largest size it ever held (it never shrinks). Our BIO reads the caller's
 * ciphertext in place and appends output to a buffer that the caller takes
 * away, so an idle connection holds no I/O buffer at all; with
 * SSL_MODE_RELEASE_BUFFERS OpenSSL frees its record buffers too.
 *
 * Measured with bench/tls_bench.c (OpenSSL 3.0, heap per idle server
 * connection after a handshake and one exchange): 14.8 KB in TLS 1.3, 13.5 KB
 * in TLS 1.2 (over half of it is OpenSSL's SSL object, 7.6 KB); 2.7 KB more on
 * BIO_s_mem, 35 KB more on a BIO pair, 33 KB more without RELEASE_BUFFERS. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "wsip/tls.h"

/* Largest TLS plaintext record (RFC 8446 sec 5.1). */
#define RECORD_MAX 16384
/* Per-record overhead on the wire, rounded up: header 5, TLS 1.2 explicit
 * nonce 8, tag 16 (TLS 1.3: content type 1 + tag 16). */
#define RECORD_OVERHEAD 32

struct wsip_tls_ctx {
    /* Guards cur only: a thread that makes a connection takes a reference
     * under it, so a reload can never free the SSL_CTX between the load and
     * SSL_new (a bare atomic pointer would allow that). */
    pthread_mutex_t lock;
    SSL_CTX *cur;
    /* One reload at a time; guards cfg, whose strings are ours. */
    pthread_mutex_t reload_lock;
    struct wsip_tls_config cfg;
};

struct wsip_tls_conn {
    SSL *ssl;
    /* Input: our copy (spill) comes before the caller's borrowed bytes (in). */
    unsigned char *spill;
    size_t spill_off, spill_len, spill_cap;
    const unsigned char *in;
    size_t in_len;
    /* Output: ciphertext waiting for the socket. */
    unsigned char *out;
    size_t out_len, out_cap;
    const char *err;
    const char *err_detail;
    bool hs_done;
    bool closed;
    bool failed;
    bool oom;
};

/* ------------------------------------------------------------------ errors */

static void err_fmt(struct wsip_tls_err *err, const char *what, const char *why)
{
    if (err == NULL)
        return;
    if (what != NULL && why != NULL)
        snprintf(err->msg, sizeof(err->msg), "%s: %s", what, why);
    else
        snprintf(err->msg, sizeof(err->msg), "%s", what != NULL ? what : why);
}

/* what: the first error OpenSSL queued (the most specific one). Clears the
 * queue, which is per thread and shared with every other connection. */
static void err_openssl(struct wsip_tls_err *err, const char *what)
{
    unsigned long e = ERR_peek_error();
    char sys[128];
    const char *why;
    if (e == 0) {
        why = "unknown OpenSSL error";
    } else if (ERR_SYSTEM_ERROR(e)) {
        why = strerror_r(ERR_GET_REASON(e), sys, sizeof(sys));
    } else {
        why = ERR_reason_error_string(e);
        if (why == NULL)
            why = "unknown OpenSSL error";
    }
    err_fmt(err, what, why);
    ERR_clear_error();
}

/* ----------------------------------------------------------------- the BIO */

static int spill_append(struct wsip_tls_conn *c, const unsigned char *p, size_t len)
{
    if (c->spill_off > 0 && c->spill_len > 0) {
        memmove(c->spill, c->spill + c->spill_off, c->spill_len);
    }
    c->spill_off = 0;
    if (c->spill_len + len > c->spill_cap) {
        size_t cap = c->spill_cap ? c->spill_cap : 4096;
        while (cap < c->spill_len + len)
            cap *= 2;
        unsigned char *n = realloc(c->spill, cap);
        if (n == NULL)
            return -1;
        c->spill = n;
        c->spill_cap = cap;
    }
    memcpy(c->spill + c->spill_len, p, len);
    c->spill_len += len;
    return 0;
}

static void spill_drop(struct wsip_tls_conn *c)
{
    free(c->spill);
    c->spill = NULL;
    c->spill_off = c->spill_len = c->spill_cap = 0;
}

/* End of a call: the borrowed bytes are about to go away, keep what is left. */
static void in_settle(struct wsip_tls_conn *c)
{
    if (c->in_len > 0 && !c->failed && !c->closed) {
        if (spill_append(c, c->in, c->in_len) != 0) {
            c->failed = c->oom = true;
            c->err = "out of memory";
        }
    }
    if (c->failed || c->closed)
        spill_drop(c); /* nothing after close_notify or an error is read */
    c->in = NULL;
    c->in_len = 0;
}

static int out_reserve(struct wsip_tls_conn *c, size_t more)
{
    if (more > SIZE_MAX / 2 - c->out_len)
        return -1;
    size_t need = c->out_len + more;
    if (need <= c->out_cap)
        return 0;
    size_t cap = c->out_cap ? c->out_cap : 2048;
    while (cap < need)
        cap *= 2;
    unsigned char *n = realloc(c->out, cap);
    if (n == NULL)
        return -1;
    c->out = n;
    c->out_cap = cap;
    return 0;
}

static int bio_write_ex(BIO *b, const char *data, size_t len, size_t *written)
{
    struct wsip_tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *written = 0;
    if (out_reserve(c, len) != 0) {
        c->oom = true;
        return 0;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    *written = len;
    return 1;
}

static int bio_read_ex(BIO *b, char *data, size_t len, size_t *readbytes)
{
    struct wsip_tls_conn *c = BIO_get_data(b);
    size_t got = 0;
    BIO_clear_retry_flags(b);
    if (c->spill_len > 0) {
        size_t k = len < c->spill_len ? len : c->spill_len;
        memcpy(data, c->spill + c->spill_off, k);
        c->spill_off += k;
        c->spill_len -= k;
        got = k;
        if (c->spill_len == 0)
            spill_drop(c);
    }
    if (got < len && c->in_len > 0) {
        size_t k = len - got < c->in_len ? len - got : c->in_len;
        memcpy(data + got, c->in, k);
        c->in += k;
        c->in_len -= k;
        got += k;
    }
    *readbytes = got;
    if (got == 0) {
        BIO_set_retry_read(b); /* SSL_ERROR_WANT_READ: feed more */
        return 0;
    }
    return 1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct wsip_tls_conn *c = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1; /* OpenSSL flushes after each flight */
    case BIO_CTRL_PENDING: return c ? (long)(c->spill_len + c->in_len) : 0;
    case BIO_CTRL_WPENDING: return c ? (long)c->out_len : 0;
    default: return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

/* Made once per process and kept: BIOs of live connections point at it. */
static void bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsip");
    if (m == NULL)
        return;
    if (!BIO_meth_set_write_ex(m, bio_write_ex) || !BIO_meth_set_read_ex(m, bio_read_ex) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
        BIO_meth_free(m);
        return;
    }
    bio_method = m;
}

/* ---------------------------------------------------------------- contexts */

void wsip_tls_config_default(struct wsip_tls_config *cfg, enum wsip_tls_role role)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->role = role;
    /* One ticket: a browser that reconnects resumes with it and gets a new
     * one; OpenSSL's default of two doubles the work for nothing. */
    cfg->tickets = 1;
}

static void cfg_free(struct wsip_tls_config *cfg)
{
    free((char *)cfg->cert_file);
    free((char *)cfg->key_file);
    free((char *)cfg->ca_file);
    free((char *)cfg->ciphers);
    free((char *)cfg->ciphersuites);
    free((char *)cfg->groups);
    memset(cfg, 0, sizeof(*cfg));
}

static int dup_str(const char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = strdup(src);
    return *dst != NULL ? 0 : -1;
}

/* A deep copy of src, with cert and key replaced when given. */
static int cfg_copy(struct wsip_tls_config *dst, const struct wsip_tls_config *src,
                    const char *cert_file, const char *key_file)
{
    *dst = *src;
    int rc = 0;
    rc |= dup_str(&dst->cert_file, cert_file != NULL ? cert_file : src->cert_file);
    rc |= dup_str(&dst->key_file, key_file != NULL ? key_file : src->key_file);
    rc |= dup_str(&dst->ca_file, src->ca_file);
    rc |= dup_str(&dst->ciphers, src->ciphers);
    rc |= dup_str(&dst->ciphersuites, src->ciphersuites);
    rc |= dup_str(&dst->groups, src->groups);
    if (rc != 0) {
        cfg_free(dst);
        return -1;
    }
    return 0;
}

static SSL_CTX *ctx_build(const struct wsip_tls_config *cfg, struct wsip_tls_err *err)
{
    bool server = cfg->role == WSIP_TLS_SERVER;
    SSL_CTX *sc = NULL;
    int minv = cfg->min_version ? cfg->min_version : TLS1_2_VERSION;
    int maxv = cfg->max_version; /* 0: the highest */

    ERR_clear_error();
    if (cfg->role != WSIP_TLS_SERVER && cfg->role != WSIP_TLS_CLIENT) {
        err_fmt(err, "invalid TLS role", NULL);
        goto fail;
    }
    if (minv < TLS1_2_VERSION || minv > TLS1_3_VERSION ||
        (maxv != 0 && (maxv < minv || maxv > TLS1_3_VERSION))) {
        err_fmt(err, "TLS versions", "only 1.2 and 1.3 are supported");
        goto fail;
    }
    if (server && (cfg->cert_file == NULL || cfg->key_file == NULL)) {
        err_fmt(err, "TLS server", "a certificate and a key file are required");
        goto fail;
    }
    if ((cfg->cert_file == NULL) != (cfg->key_file == NULL)) {
        err_fmt(err, "TLS", "a certificate needs its key file and the other way round");
        goto fail;
    }

    sc = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (sc == NULL) {
        err_openssl(err, "SSL_CTX_new");
        goto fail;
    }
    if (!SSL_CTX_set_min_proto_version(sc, minv) || !SSL_CTX_set_max_proto_version(sc, maxv)) {
        err_openssl(err, "TLS versions");
        goto fail;
    }
    /* Renegotiation is a DoS lever and nothing in SIP needs it; compression
     * leaks secrets (CRIME). */
    SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    if (!cfg->keep_buffers)
        SSL_CTX_set_mode(sc, SSL_MODE_RELEASE_BUFFERS);

    const char *ciphers = cfg->ciphers != NULL ? cfg->ciphers : WSIP_TLS_DEFAULT_CIPHERS;
    if (!SSL_CTX_set_cipher_list(sc, ciphers)) {
        err_openssl(err, "TLS 1.2 ciphers");
        goto fail;
    }
    if (cfg->ciphersuites != NULL && !SSL_CTX_set_ciphersuites(sc, cfg->ciphersuites)) {
        err_openssl(err, "TLS 1.3 cipher suites");
        goto fail;
    }
    const char *groups = cfg->groups != NULL ? cfg->groups : WSIP_TLS_DEFAULT_GROUPS;
    if (!SSL_CTX_set1_groups_list(sc, groups)) {
        err_openssl(err, "TLS groups");
        goto fail;
    }

    if (server) {
        /* Resumption by stateless tickets only: the server keeps no session
         * cache (OpenSSL's default holds up to 20480 sessions in memory). */
        SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
        static const unsigned char sid_ctx[] = "wsip";
        SSL_CTX_set_session_id_context(sc, sid_ctx, sizeof(sid_ctx) - 1);
        SSL_CTX_set_num_tickets(sc, cfg->tickets);
        if (cfg->tickets == 0)
            SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
    }

    if (cfg->cert_file != NULL) {
        if (SSL_CTX_use_certificate_chain_file(sc, cfg->cert_file) != 1) {
            err_openssl(err, cfg->cert_file);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(sc, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
            err_openssl(err, cfg->key_file);
            goto fail;
        }
        if (SSL_CTX_check_private_key(sc) != 1) {
            err_openssl(err, cfg->key_file);
            goto fail;
        }
    }

    if (!server) {
        if (cfg->ca_file != NULL) {
            if (SSL_CTX_load_verify_locations(sc, cfg->ca_file, NULL) != 1) {
                err_openssl(err, cfg->ca_file);
                goto fail;
            }
            SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, NULL);
        } else if (cfg->system_cas) {
            if (SSL_CTX_set_default_verify_paths(sc) != 1) {
                err_openssl(err, "the system's CA store");
                goto fail;
            }
            SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, NULL);
        } else {
            SSL_CTX_set_verify(sc, SSL_VERIFY_NONE, NULL);
        }
    }
    return sc;

fail:
    SSL_CTX_free(sc);
    ERR_clear_error();
    return NULL;
}

int wsip_tls_ctx_new(struct wsip_tls_ctx **ctxp, const struct wsip_tls_config *cfg,
                     struct wsip_tls_err *err)
{
    *ctxp = NULL;
    pthread_once(&bio_once, bio_method_init);
    if (bio_method == NULL) {
        err_fmt(err, "TLS", "cannot create the BIO method");
        return -1;
    }
    struct wsip_tls_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL || cfg_copy(&ctx->cfg, cfg, NULL, NULL) != 0) {
        free(ctx);
        err_fmt(err, "TLS", "out of memory");
        return -1;
    }
    ctx->cur = ctx_build(&ctx->cfg, err);
    if (ctx->cur == NULL) {
        cfg_free(&ctx->cfg);
        free(ctx);
        return -1;
    }
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_mutex_init(&ctx->reload_lock, NULL);
    *ctxp = ctx;
    return 0;
}

/* Tickets issued before a reload stay valid after it. */
static void copy_ticket_keys(SSL_CTX *to, SSL_CTX *from)
{
    unsigned char keys[128];
    long n = SSL_CTX_get_tlsext_ticket_keys(from, NULL, 0);
    if (n > 0 && (size_t)n <= sizeof(keys) && SSL_CTX_get_tlsext_ticket_keys(from, keys, n) == 1)
        SSL_CTX_set_tlsext_ticket_keys(to, keys, n);
    OPENSSL_cleanse(keys, sizeof(keys));
    ERR_clear_error();
}

int wsip_tls_ctx_reload(struct wsip_tls_ctx *ctx, const char *cert_file, const char *key_file,
                        struct wsip_tls_err *err)
{
    struct wsip_tls_config cfg;
    int rc = -1;

    pthread_mutex_lock(&ctx->reload_lock);
    if (cfg_copy(&cfg, &ctx->cfg, cert_file, key_file) != 0) {
        err_fmt(err, "TLS reload", "out of memory");
        goto out;
    }
    SSL_CTX *sc = ctx_build(&cfg, err);
    if (sc == NULL) {
        cfg_free(&cfg);
        goto out;
    }
    if (cfg.role == WSIP_TLS_SERVER)
        copy_ticket_keys(sc, ctx->cur); /* cur only changes under reload_lock */

    pthread_mutex_lock(&ctx->lock);
    SSL_CTX *old = ctx->cur;
    ctx->cur = sc;
    pthread_mutex_unlock(&ctx->lock);

    SSL_CTX_free(old); /* connections made from it hold their own reference */
    cfg_free(&ctx->cfg);
    ctx->cfg = cfg;
    rc = 0;
out:
    pthread_mutex_unlock(&ctx->reload_lock);
    return rc;
}

void wsip_tls_ctx_free(struct wsip_tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->cur);
    cfg_free(&ctx->cfg);
    pthread_mutex_destroy(&ctx->lock);
    pthread_mutex_destroy(&ctx->reload_lock);
    free(ctx);
}

/* -------------------------------------------------------------- connections */

static bool is_ip_literal(const char *s)
{
    unsigned char a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

struct wsip_tls_conn *wsip_tls_conn_new(struct wsip_tls_ctx *ctx, const char *server_name)
{
    struct wsip_tls_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;

    pthread_mutex_lock(&ctx->lock);
    SSL_CTX *sc = ctx->cur;
    SSL_CTX_up_ref(sc);
    pthread_mutex_unlock(&ctx->lock);

    c->ssl = SSL_new(sc);
    SSL_CTX_free(sc); /* the SSL holds its own reference */
    BIO *b = c->ssl != NULL ? BIO_new(bio_method) : NULL;
    if (b == NULL)
        goto fail;
    BIO_set_data(b, c);
    SSL_set_bio(c->ssl, b, b); /* one BIO both ways; SSL owns it */

    if (SSL_is_server(c->ssl)) {
        SSL_set_accept_state(c->ssl);
    } else {
        SSL_set_connect_state(c->ssl);
        if (server_name != NULL && server_name[0] != '\0') {
            bool ip = is_ip_literal(server_name);
            /* RFC 6066 sec 3: no IP literals in SNI */
            if (!ip && !SSL_set_tlsext_host_name(c->ssl, server_name))
                goto fail;
            if (SSL_get_verify_mode(c->ssl) & SSL_VERIFY_PEER) {
                int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), server_name)
                            : SSL_set1_host(c->ssl, server_name);
                if (!ok)
                    goto fail;
            }
        }
    }
    return c;

fail:
    ERR_clear_error();
    wsip_tls_conn_free(c);
    return NULL;
}

void wsip_tls_conn_free(struct wsip_tls_conn *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl);
    free(c->spill);
    free(c->out);
    free(c);
}

int wsip_tls_feed(struct wsip_tls_conn *c, const void *cipher, size_t len)
{
    if (len == 0 || c->failed || c->closed)
        return 0;
    if (c->in_len == 0 && c->spill_len == 0) {
        c->in = cipher;
        c->in_len = len;
        return 0;
    }
    /* Older bytes are waiting: keep the order by copying. */
    if (c->in_len > 0 && spill_append(c, c->in, c->in_len) != 0)
        return -1;
    c->in = NULL;
    c->in_len = 0;
    return spill_append(c, cipher, len);
}

static void conn_fail(struct wsip_tls_conn *c, const char *why)
{
    /* The last error is the TLS-level one ("decryption failed or bad record
     * mac"); those before it come from the layers below ("cipher operation
     * failed"). */
    unsigned long e = ERR_peek_last_error();
    c->failed = true;
    if (why != NULL) {
        c->err = why;
    } else if (c->oom) {
        c->err = "out of memory";
    } else if (e == 0) {
        c->err = "TLS protocol error";
    } else if (ERR_SYSTEM_ERROR(e)) {
        c->err = "system error";
    } else {
        const char *r = ERR_reason_error_string(e);
        c->err = r != NULL ? r : "TLS protocol error";
        if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
            c->err_detail = X509_verify_cert_error_string(SSL_get_verify_result(c->ssl));
    }
    ERR_clear_error();
}

/* Maps the result of a failed SSL call. */
static int conn_status(struct wsip_tls_conn *c, int ret)
{
    switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_WANT_READ: return WSIP_TLS_AGAIN;
    case SSL_ERROR_ZERO_RETURN: c->closed = true; return WSIP_TLS_CLOSED;
    default: conn_fail(c, NULL); return WSIP_TLS_ERROR;
    }
}

static void after_handshake(struct wsip_tls_conn *c)
{
    c->hs_done = true;
    /* With RELEASE_BUFFERS OpenSSL frees its record buffers when they are
     * empty; make sure the handshake left none behind. */
    if (SSL_get_mode(c->ssl) & SSL_MODE_RELEASE_BUFFERS)
        (void)SSL_free_buffers(c->ssl);
}

static int conn_stopped(const struct wsip_tls_conn *c)
{
    return c->failed ? WSIP_TLS_ERROR : c->closed ? WSIP_TLS_CLOSED : WSIP_TLS_OK;
}

int wsip_tls_handshake(struct wsip_tls_conn *c)
{
    int rc = conn_stopped(c);
    if (rc != WSIP_TLS_OK || c->hs_done)
        goto out;
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        after_handshake(c);
        rc = WSIP_TLS_OK;
    } else {
        rc = conn_status(c, r);
    }
out:
    in_settle(c);
    return c->failed ? WSIP_TLS_ERROR : rc;
}

bool wsip_tls_handshake_done(const struct wsip_tls_conn *c)
{
    return c->hs_done;
}

int wsip_tls_read(struct wsip_tls_conn *c, void *plain, size_t cap, size_t *n)
{
    unsigned char *p = plain;
    size_t got = 0;
    int rc = conn_stopped(c);
    if (rc != WSIP_TLS_OK)
        goto out;
    ERR_clear_error();
    if (!c->hs_done) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            rc = conn_status(c, r);
            goto out;
        }
        after_handshake(c);
    }
    /* cap 0 only drives the handshake; OK would make the caller spin */
    rc = cap > 0 ? WSIP_TLS_OK : WSIP_TLS_AGAIN;
    while (got < cap) {
        size_t k = 0;
        int r = SSL_read_ex(c->ssl, p + got, cap - got, &k);
        if (r != 1) {
            rc = conn_status(c, r);
            break;
        }
        got += k;
    }
out:
    *n = got;
    in_settle(c);
    return c->failed ? WSIP_TLS_ERROR : rc;
}

static int write_some(struct wsip_tls_conn *c, const void *p, size_t len)
{
    size_t w = 0;
    int r = SSL_write_ex(c->ssl, p, len, &w);
    if (r == 1 && w == len)
        return 0;
    /* Our BIO takes every byte, so anything short of a full write is fatal. */
    conn_fail(c, NULL);
    return -1;
}

int wsip_tls_write(struct wsip_tls_conn *c, const struct iovec *iov, int iovcnt)
{
    unsigned char stage[RECORD_MAX];
    size_t used = 0;
    size_t total = 0;
    int rc = conn_stopped(c);
    if (rc == WSIP_TLS_CLOSED)
        rc = WSIP_TLS_OK; /* the peer stopped sending; we may still send */
    if (rc != WSIP_TLS_OK)
        goto out;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total == 0)
        goto out;
    if (!c->hs_done) {
        rc = WSIP_TLS_AGAIN;
        goto out;
    }
    /* One allocation for all the records of this write. */
    if (out_reserve(c, total + (total / RECORD_MAX + 2) * RECORD_OVERHEAD) != 0) {
        conn_fail(c, "out of memory");
        rc = WSIP_TLS_ERROR;
        goto out;
    }
    ERR_clear_error();
    for (int i = 0; i < iovcnt; i++) {
        const unsigned char *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        while (len > 0) {
            if (used == 0 && len >= RECORD_MAX) {
                /* Whole records straight from the caller's memory. */
                size_t k = len - len % RECORD_MAX;
                if (write_some(c, p, k) != 0)
                    goto fail;
                p += k;
                len -= k;
                continue;
            }
            size_t k = RECORD_MAX - used < len ? RECORD_MAX - used : len;
            memcpy(stage + used, p, k);
            used += k;
            p += k;
            len -= k;
            if (used == RECORD_MAX) {
                if (write_some(c, stage, used) != 0)
                    goto fail;
                used = 0;
            }
        }
    }
    if (used > 0 && write_some(c, stage, used) != 0)
        goto fail;
    rc = WSIP_TLS_OK;
    goto out;
fail:
    rc = WSIP_TLS_ERROR;
out:
    in_settle(c);
    return rc;
}

int wsip_tls_shutdown(struct wsip_tls_conn *c)
{
    int rc = WSIP_TLS_OK;
    if (c->failed) {
        rc = WSIP_TLS_ERROR;
        goto out;
    }
    /* Before the handshake is done there is nothing to close politely. */
    if (!c->hs_done || (SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN))
        goto out;
    ERR_clear_error();
    if (SSL_shutdown(c->ssl) < 0) {
        conn_fail(c, NULL);
        rc = WSIP_TLS_ERROR;
    }
out:
    in_settle(c);
    return rc;
}

size_t wsip_tls_pending_out(const struct wsip_tls_conn *c)
{
    return c->out_len;
}

void *wsip_tls_detach_out(struct wsip_tls_conn *c, size_t *len)
{
    void *p = c->out_len > 0 ? c->out : NULL;
    *len = c->out_len;
    if (p == NULL)
        return NULL;
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    return p;
}

size_t wsip_tls_take_out(struct wsip_tls_conn *c, void *dst, size_t cap)
{
    size_t k = cap < c->out_len ? cap : c->out_len;
    if (k == 0)
        return 0;
    memcpy(dst, c->out, k);
    c->out_len -= k;
    if (c->out_len > 0) {
        memmove(c->out, c->out + k, c->out_len);
    } else {
        free(c->out); /* idle connections hold no buffer */
        c->out = NULL;
        c->out_cap = 0;
    }
    return k;
}

const char *wsip_tls_conn_error(const struct wsip_tls_conn *c)
{
    return c->failed ? c->err : NULL;
}

const char *wsip_tls_conn_error_detail(const struct wsip_tls_conn *c)
{
    return c->failed ? c->err_detail : NULL;
}

const char *wsip_tls_conn_version(const struct wsip_tls_conn *c)
{
    return SSL_get_version(c->ssl);
}

const char *wsip_tls_conn_cipher(const struct wsip_tls_conn *c)
{
    return SSL_get_cipher_name(c->ssl);
}

bool wsip_tls_conn_resumed(const struct wsip_tls_conn *c)
{
    return SSL_session_reused(c->ssl) == 1;
}

struct ssl_st *wsip_tls_conn_ssl(struct wsip_tls_conn *c)
{
    return c->ssl;
}

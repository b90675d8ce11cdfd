/* TLS for SIP-over-TLS and WSS: one layer on OpenSSL 3, driven by the event
 * loop. The layer never touches a socket: the caller feeds the ciphertext it
 * read (wsip_tls_feed), pulls plaintext (wsip_tls_read), encrypts
 * (wsip_tls_write) and drains the ciphertext to send (wsip_tls_detach_out or
 * wsip_tls_take_out). No function blocks or prints.
 *
 * A read callback on a libuv loop looks like this:
 *
 *     wsip_tls_feed(c, buf->base, nread);
 *     do {
 *         rc = wsip_tls_read(c, plain, sizeof(plain), &n);
 *         deliver(plain, n);                  // n may be 0
 *     } while (rc == WSIP_TLS_OK);
 *     if (wsip_tls_pending_out(c))            // handshake flight, alert, ...
 *         send(wsip_tls_detach_out(c, &len), len);
 *     if (rc == WSIP_TLS_CLOSED || rc == WSIP_TLS_ERROR) close after the send;
 *
 * Contexts are shared by worker threads; a connection belongs to one thread. */
#ifndef WSIP_TLS_H
#define WSIP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

struct ssl_st; /* OpenSSL's SSL, for callers that want more than this API gives */

/* ------------------------------------------------------------------ errors */

/* Room for a message naming what failed and why, e.g.
 * "/etc/wsip/key.pem: key values mismatch". Always NUL-terminated. */
struct wsip_tls_err {
    char msg[256];
};

/* Results of the connection functions. */
enum wsip_tls_rc {
    WSIP_TLS_OK = 0,     /* done (read: plain is full, call again) */
    WSIP_TLS_AGAIN = 1,  /* all input consumed: feed more ciphertext */
    WSIP_TLS_CLOSED = 2, /* the peer sent close_notify: nothing more will come */
    WSIP_TLS_ERROR = -1, /* fatal: wsip_tls_conn_error() says why; send what is
                            pending (the alert) and close */
};

/* ---------------------------------------------------------------- contexts */

enum wsip_tls_role {
    WSIP_TLS_SERVER = 0,
    WSIP_TLS_CLIENT = 1,
};

/* Protocol versions (the wire values). */
#define WSIP_TLS_V1_2 0x0303
#define WSIP_TLS_V1_3 0x0304

struct wsip_tls_config {
    enum wsip_tls_role role;
    /* PEM certificate chain (leaf first) and unencrypted PEM private key.
     * Server: required. Client: optional client certificate. */
    const char *cert_file;
    const char *key_file;
    /* Client: verify the server against the CAs in this PEM file, and its
     * name against the one given to wsip_tls_conn_new. NULL: no verification
     * (tests, wsip bench against a self-signed server), unless system_cas. */
    const char *ca_file;
    /* Client without ca_file: verify against the system's CA store
     * (OpenSSL's default file, read now, and directory, read on demand). */
    bool system_cas;
    /* TLS 1.2 cipher list, TLS 1.3 suites, key exchange groups; NULL keeps
     * the defaults below. */
    const char *ciphers;
    const char *ciphersuites;
    const char *groups;
    /* WSIP_TLS_V1_2 or WSIP_TLS_V1_3; 0: 1.2 and the highest OpenSSL has.
     * Anything below 1.2 is refused. */
    int min_version;
    int max_version;
    /* Server: session tickets sent per TLS 1.3 handshake (0 disables
     * resumption, in TLS 1.2 too). Tickets are stateless: no server cache. */
    unsigned tickets;
    /* Keep OpenSSL's 16 KiB+ record buffers on idle connections. Only for
     * measurement: the default releases them. */
    bool keep_buffers;
};

/* TLS 1.2: forward-secret AEAD only (ECDHE with AES-GCM or ChaCha20). */
#define WSIP_TLS_DEFAULT_CIPHERS                                                                   \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define WSIP_TLS_DEFAULT_GROUPS "X25519:P-256:P-384"

/* Fills cfg with the defaults for a role (all files NULL, 1 ticket). */
void wsip_tls_config_default(struct wsip_tls_config *cfg, enum wsip_tls_role role);

struct wsip_tls_ctx;

/* Builds a context from cfg (files are read now; the strings are copied).
 * Returns 0, or -1 with err filled. */
int wsip_tls_ctx_new(struct wsip_tls_ctx **ctxp, const struct wsip_tls_config *cfg,
                     struct wsip_tls_err *err);

/* Re-reads the certificate and key (NULL: the current file names) into a new
 * OpenSSL context and swaps it in for connections created from now on;
 * existing connections keep the one they started with. On failure the
 * current context stays and -1 is returned with err filled. Safe while other
 * threads create connections. Reads files: call it off the loop threads. */
int wsip_tls_ctx_reload(struct wsip_tls_ctx *ctx, const char *cert_file, const char *key_file,
                        struct wsip_tls_err *err);

/* Frees the context; connections made from it stay valid (they hold a
 * reference on their OpenSSL context). */
void wsip_tls_ctx_free(struct wsip_tls_ctx *ctx);

/* -------------------------------------------------------------- connections */

struct wsip_tls_conn;

/* A connection in the ctx's role. server_name (client role, may be NULL) is
 * sent as SNI unless it is an IP literal, and is what the certificate is
 * checked against when the ctx verifies. Returns NULL when out of memory. */
struct wsip_tls_conn *wsip_tls_conn_new(struct wsip_tls_ctx *ctx, const char *server_name);

/* Frees the connection and any ciphertext still pending. A client that wants
 * to resume its session later calls wsip_tls_shutdown first: OpenSSL marks the
 * session of a connection dropped without close_notify as not resumable. */
void wsip_tls_conn_free(struct wsip_tls_conn *c);

/* Ciphertext read from the socket. The bytes are borrowed, not copied, until
 * the next wsip_tls_* call on this connection returns; whatever TLS has not
 * consumed by then is copied. A wsip_tls_read with cap >= len consumes all of
 * it, so nothing is copied. Returns 0, or -1 when out of memory. */
int wsip_tls_feed(struct wsip_tls_conn *c, const void *cipher, size_t len);

/* Runs the handshake as far as the input allows. The client calls it first to
 * produce its ClientHello. WSIP_TLS_OK once the handshake is complete,
 * WSIP_TLS_AGAIN while it needs the peer's bytes, WSIP_TLS_ERROR. */
int wsip_tls_handshake(struct wsip_tls_conn *c);
bool wsip_tls_handshake_done(const struct wsip_tls_conn *c);

/* Decrypts into plain (driving the handshake first if needed) until plain is
 * full or the input is used up. *n is set to the bytes produced, which are
 * valid whatever the result. WSIP_TLS_OK: plain is full, call again;
 * WSIP_TLS_AGAIN: input used up; WSIP_TLS_CLOSED; WSIP_TLS_ERROR. Output may
 * be pending afterwards (handshake, key update, alert): send it. With cap 0
 * it only drives the handshake (AGAIN rather than OK). */
int wsip_tls_read(struct wsip_tls_conn *c, void *plain, size_t cap, size_t *n);

/* Encrypts the iovecs in order, as if they were one buffer: small pieces (a
 * WS frame header and its payload) are coalesced into full records, large
 * ones are encrypted in place. WSIP_TLS_OK, WSIP_TLS_AGAIN before the
 * handshake is complete (nothing was written: retry later), WSIP_TLS_ERROR. */
int wsip_tls_write(struct wsip_tls_conn *c, const struct iovec *iov, int iovcnt);

/* Sends close_notify (queued as output). WSIP_TLS_OK or WSIP_TLS_ERROR. */
int wsip_tls_shutdown(struct wsip_tls_conn *c);

/* Ciphertext waiting to be sent. */
size_t wsip_tls_pending_out(const struct wsip_tls_conn *c);
/* Hands the pending ciphertext over without copying: a malloc'd buffer the
 * caller gives to uv_write and frees with free() when the write completes.
 * NULL (and *len 0) when nothing is pending. */
void *wsip_tls_detach_out(struct wsip_tls_conn *c, size_t *len);
/* Copies up to cap pending bytes into dst and drops them; returns the count. */
size_t wsip_tls_take_out(struct wsip_tls_conn *c, void *dst, size_t cap);

/* Why the connection failed (a static string; NULL when it has not), and a
 * second static string with details (the certificate check or the alert the
 * peer sent), or NULL. */
const char *wsip_tls_conn_error(const struct wsip_tls_conn *c);
const char *wsip_tls_conn_error_detail(const struct wsip_tls_conn *c);

/* "TLSv1.3", "TLSv1.2"; the cipher's OpenSSL name ("TLS_AES_128_GCM_SHA256"). */
const char *wsip_tls_conn_version(const struct wsip_tls_conn *c);
const char *wsip_tls_conn_cipher(const struct wsip_tls_conn *c);
/* True when the session was resumed from a ticket. */
bool wsip_tls_conn_resumed(const struct wsip_tls_conn *c);
/* The OpenSSL object, e.g. for the peer certificate. Owned by c. */
struct ssl_st *wsip_tls_conn_ssl(struct wsip_tls_conn *c);

/* ------------------------------------------------------------ certificates */

enum wsip_tls_key_type {
    WSIP_TLS_KEY_P256 = 0,    /* ECDSA P-256: 2.3-2.7x cheaper server handshakes */
    WSIP_TLS_KEY_RSA2048 = 1, /* for peers without ECDSA */
};

struct wsip_tls_cert_opts {
    enum wsip_tls_key_type key_type;
    /* subjectAltNames added to DNS:localhost, IP:127.0.0.1, IP:::1: host
     * names (a leading "*." is allowed) or IPv4/IPv6 literals. The first one
     * is also the subject CN (else "localhost"). */
    const char *const *names;
    size_t n_names;
    unsigned days; /* 0: 825, the longest that Apple platforms accept */
    bool force;    /* replace existing files */
};

#define WSIP_TLS_CERT_DAYS 825

/* Writes a self-signed X.509 v3 server certificate and its key to
 * dir/cert.pem and dir/key.pem (mode 0600); dir is created (0755) if missing.
 * Without opts->force, refuses when either file exists. Each file is written
 * to a temporary name and then linked or renamed into place, so a reader never
 * sees half a file. Returns 0, or -1 with err filled. */
int wsip_tls_cert_self_signed(const char *dir, const struct wsip_tls_cert_opts *opts,
                              struct wsip_tls_err *err);

#endif

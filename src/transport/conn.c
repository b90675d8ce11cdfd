/* Stream connections: TCP and TLS carrying SIP (Content-Length framing), and
 * the HTTP/WebSocket port (upgrade, static files, RFC 7118 frames), plain or
 * over TLS. One connection belongs to one worker; its flow token names it.
 *
 * Input: libuv reads into the worker's scratch buffer; complete units (SIP
 * messages, WS frames, HTTP requests) are handled in place and only a
 * partial tail is copied into the connection's own buffer, so an idle
 * connection holds no receive buffer at all. Output: uv_try_write first;
 * what the socket does not take is copied into a queued write, bounded by
 * the send-queue limit. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "http/admin.h"
#include "transport/transport.h"
#include "txn/txn.h"
#include "wsip/http.h"
#include "wsip/log.h"
#include "wsip/tls.h"
#include "wsip/ws.h"

#define SCRATCH_SIZE     (64 * 1024)
#define LINGER_MS        2000
#define HANDSHAKE_MS     10000
#define STATIC_MAX_BYTES (16u * 1024 * 1024)

int wsip__slot_alloc(struct wsip_worker *w, struct wsip_conn *c, uint32_t *slot, uint32_t *gen);
void wsip__slot_free(struct wsip_worker *w, uint32_t slot);

enum conn_state {
    ST_SIP,    /* TCP / TLS: SIP messages */
    ST_HTTP,   /* WS port, before the upgrade */
    ST_STATIC, /* WS port, answering a plain GET: no more input */
    ST_WS,     /* WebSocket open: one SIP message per WS message */
};

/* An outgoing connection until it can carry messages. */
enum conn_dial {
    DIAL_UP = 0,     /* connected (TLS: handshake done) */
    DIAL_CONNECTING, /* TCP connect under way */
    DIAL_HANDSHAKE,  /* TLS client handshake under way */
};

/* What only a connection wsip opened has (accepted ones do without it, so
 * that an idle WS connection stays small). */
struct conn_out {
    uv_connect_t req;
    struct wsip_conn *next; /* chain in the worker's table */
    uint32_t hash;
    bool linked;     /* in the worker's table (reusable) */
    uint8_t dial;    /* enum conn_dial */
    const char *why; /* static: why it failed, for the transactions on it */
    char *early;     /* sent before it was up, waiting */
    size_t early_len;
    char server_name[]; /* TLS: the name the certificate must show */
};

enum conn_closing {
    OPEN = 0,
    CLOSING, /* shutting down: flushing, no more input handled */
    CLOSED,  /* handles closing, slot released */
};

struct wsip_conn {
    uv_tcp_t tcp; /* first: libuv hands back this address */
    uv_timer_t timer;
    struct wsip_worker *w;
    uint32_t slot, gen;
    uint64_t id;
    enum wsip_listen_kind kind;
    uint8_t state;
    uint8_t closing;
    uint8_t refs; /* handles not yet closed + pending file reads */
    bool ws_close_sent;
    bool ip_counted;
    bool requests_sent; /* wsip_conn_send_request used it: transactions may wait on it */
    unsigned missed_pongs;
    uint64_t last_rx;
    struct sockaddr_storage peer;
    struct wsip_tls_conn *tls;
    struct conn_out *out; /* NULL: accepted */
    char *pend;           /* unconsumed input (plaintext), NULL when none */
    size_t pend_len, pend_cap;
    struct wsip_ws_reader ws;
};

static _Atomic uint64_t next_conn_id = 1;

wsip_flow_token wsip_conn_flow(const struct wsip_conn *c)
{
    return wsip_flow_make(c->w->id, c->slot, c->gen);
}

/* Logs with the connection's context (conn=, peer=, transport=). */
#define conn_log(c, lvl, ...)                                                                      \
    do {                                                                                           \
        if (wsip_log_enabled(lvl)) {                                                               \
            char peer_[64];                                                                        \
            wsip_addr_str((const struct sockaddr *)&(c)->peer, peer_, sizeof(peer_));              \
            struct wsip_log_ctx ctx_ = {                                                           \
                .conn = (c)->id, .peer = peer_, .transport = wsip_listen_kind_name((c)->kind)};    \
            wsip_log_write(lvl, &ctx_, __VA_ARGS__);                                               \
        }                                                                                          \
    } while (0)

/* A connection took its slot (close_now undoes it). */
static void count_open(struct wsip_conn *c)
{
    struct wsip_worker *w = c->w;
    w->nconns++;
    atomic_fetch_add(&w->srv->conns_open, 1);
    wsip_ctr_inc(&w->ctr.conns_open[c->kind]);
    wsip_ctr_inc(&w->ctr.conns_total[c->kind]);
}

/* ------------------------------------------------------------- closing */

static void maybe_free(struct wsip_conn *c)
{
    if (c->refs > 0)
        return;
    wsip_ws_reader_free(&c->ws);
    wsip_tls_conn_free(c->tls);
    if (c->out)
        free(c->out->early);
    free(c->out);
    free(c->pend);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct wsip_conn *c = h->data;
    c->refs--;
    maybe_free(c);
}

static void out_unlink(struct wsip_conn *c)
{
    if (!c->out || !c->out->linked)
        return;
    struct wsip_worker *w = c->w;
    size_t n = sizeof(w->outgoing) / sizeof(w->outgoing[0]);
    for (struct wsip_conn **pp = &w->outgoing[c->out->hash % n]; *pp; pp = &(*pp)->out->next)
        if (*pp == c) {
            *pp = c->out->next;
            break;
        }
    c->out->linked = false;
}

static void close_now(struct wsip_conn *c)
{
    if (c->closing == CLOSED)
        return;
    c->closing = CLOSED;
    out_unlink(c);
    struct wsip_worker *w = c->w;
    if (w->srv->core) {
        /* bindings made over this connection die with it (RFC 5626, 7118) */
        wsip_location_flow_closed(w->srv->core->loc, wsip_conn_flow(c));
    }
    if (c->requests_sent && !w->stopping) {
        /* 430 (a flow the peer opened) or 503 (one we opened), not a 32 s
         * wait; a connection that never came up delivered nothing, so its
         * requests may try the next address */
        struct wsip_flow_loss loss = {WSIP_CTRANS_FLOW_FAILED, "connection closed", false};
        if (c->out) {
            loss.how = WSIP_CTRANS_TRANSPORT_ERR;
            loss.why = c->out->why ? c->out->why : "connection closed";
            loss.unreached = c->out->dial != DIAL_UP;
        }
        wsip_txn_flow_closed(w->srv, wsip_conn_flow(c), &loss);
    }
    wsip__slot_free(w, c->slot);
    w->nconns--;
    wsip_worker_note_heap_churn(w);
    atomic_fetch_sub(&w->srv->conns_open, 1);
    wsip_ctr_dec(&w->ctr.conns_open[c->kind]);
    if (c->ip_counted)
        wsip_ip_release(w->srv, (const struct sockaddr *)&c->peer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct wsip_conn *c = req->data;
    (void)status;
    free(req);
    close_now(c);
}

static void flush_tls(struct wsip_conn *c);
static int raw_write(struct wsip_conn *c, const struct iovec *iov, int iovcnt);

static void on_linger(uv_timer_t *t)
{
    close_now(t->data);
}

void wsip_conn_close(struct wsip_conn *c, uint16_t ws_code, const char *why)
{
    if (c->closing != OPEN)
        return;
    if (c->state == ST_WS && ws_code >= 1000 && ws_code < 1000 + WSIP_CTR_WS_CODES)
        wsip_ctr_inc(&c->w->ctr.ws_closes[ws_code - 1000]);
    /* protocol violations are worth an info line; ordinary closes are not */
    conn_log(c, ws_code >= 1002 && ws_code <= 1011 ? WSIP_LOG_INFO : WSIP_LOG_DEBUG,
             "closing: %s (%u)", why ? why : "", ws_code);
    if (c->state == ST_WS && ws_code && !c->ws_close_sent) {
        uint8_t frame[WSIP_WS_CONTROL_MAX];
        size_t n = wsip_ws_close_frame(frame, ws_code, why, NULL);
        struct iovec iov = {frame, n};
        raw_write(c, &iov, 1);
        c->ws_close_sent = true;
    }
    c->closing = CLOSING;
    out_unlink(c); /* new requests get a new connection */
    if (c->tls) {
        wsip_tls_shutdown(c->tls);
        flush_tls(c);
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    /* FIN once queued writes are out; a peer that never reads is cut off */
    uv_timer_start(&c->timer, on_linger, LINGER_MS, 0);
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (!req) {
        close_now(c);
        return;
    }
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        close_now(c);
    }
}

void wsip_worker_close_all(struct wsip_worker *w, uint16_t ws_code)
{
    for (uint32_t i = 0; i < w->nslots; i++) {
        struct wsip_conn *c = w->slots[i].conn;
        if (!c)
            continue;
        if (ws_code == 0)
            close_now(c);
        else
            wsip_conn_close(c, ws_code, "server shutting down");
    }
}

/* -------------------------------------------------------------- output */

struct write_req {
    uv_write_t req;
    struct wsip_conn *c;
    void *owned; /* freed when the write completes */
};

static void on_write(uv_write_t *req, int status)
{
    struct write_req *wr = (struct write_req *)req;
    free(wr->owned);
    if (status < 0 && wr->c->closing == OPEN)
        close_now(wr->c);
    free(wr);
}

static int queue_owned(struct wsip_conn *c, void *data, size_t len)
{
    struct write_req *wr = malloc(sizeof(*wr));
    if (!wr) {
        free(data);
        return -1;
    }
    wr->c = c;
    wr->owned = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(data);
        free(wr);
        return -1;
    }
    return 0;
}

static void flush_tls(struct wsip_conn *c)
{
    size_t len;
    void *out = wsip_tls_detach_out(c->tls, &len);
    if (out)
        queue_owned(c, out, len);
}

/* Writes bytes as they are (already framed / before encryption). */
static int raw_write(struct wsip_conn *c, const struct iovec *iov, int iovcnt)
{
    if (c->closing == CLOSED)
        return -1;
    if (c->tls) {
        if (wsip_tls_write(c->tls, iov, iovcnt) != WSIP_TLS_OK)
            return -1;
        flush_tls(c);
        return 0;
    }
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    size_t done = 0;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
        /* the common case: the kernel takes it all, nothing is copied */
        int n = uv_try_write((uv_stream_t *)&c->tcp, (const uv_buf_t *)(const void *)iov,
                             (unsigned)iovcnt);
        if (n > 0)
            done = (size_t)n;
        else if (n != UV_EAGAIN)
            return -1;
    }
    if (done == total)
        return 0;
    size_t rest = total - done;
    char *copy = malloc(rest);
    if (!copy)
        return -1;
    size_t off = 0, skip = done;
    for (int i = 0; i < iovcnt; i++) {
        size_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        memcpy(copy + off, (const char *)iov[i].iov_base + skip, l - skip);
        off += l - skip;
        skip = 0;
    }
    return queue_owned(c, copy, rest);
}

static bool queue_over_limit(struct wsip_conn *c)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > c->w->srv->opt.send_queue_limit;
}

/* Output of a connection that is not up yet, kept until it is. */
static int queue_early(struct wsip_conn *c, const struct iovec *iov, int iovcnt)
{
    struct conn_out *o = c->out;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total > c->w->srv->opt.send_queue_limit - o->early_len) {
        conn_log(c, WSIP_LOG_WARN, "send queue over the limit while connecting");
        return -1;
    }
    char *n = realloc(o->early, o->early_len + total);
    if (!n)
        return -1;
    o->early = n;
    for (int i = 0; i < iovcnt; i++) {
        memcpy(o->early + o->early_len, iov[i].iov_base, iov[i].iov_len);
        o->early_len += iov[i].iov_len;
    }
    return 0;
}

/* A SIP message, or a keepalive, out on c (framed over WebSocket). */
static int conn_send(struct wsip_conn *c, const struct iovec *iov, int iovcnt)
{
    if (c->closing != OPEN || iovcnt > 15)
        return -1;
    if (c->out && c->out->dial != DIAL_UP)
        return queue_early(c, iov, iovcnt);
    int rc;
    if (c->state == ST_WS) {
        /* RFC 7118 sec 4.2: text frame when the message is valid UTF-8 */
        size_t total = 0;
        bool utf8 = true;
        for (int i = 0; i < iovcnt; i++)
            total += iov[i].iov_len;
        if (iovcnt == 1) {
            utf8 = wsip_utf8_valid(iov[0].iov_base, iov[0].iov_len);
        } else {
            uint8_t carry[8];
            size_t nc = 0;
            for (int i = 0; i < iovcnt && utf8; i++) {
                const uint8_t *p = iov[i].iov_base;
                size_t n = iov[i].iov_len, k = 0, complete;
                /* finish a code point split across pieces */
                while (nc > 0 && nc < 4 && k < n) {
                    carry[nc++] = p[k++];
                    if (wsip_utf8_prefix(carry, nc, &complete) < 0)
                        utf8 = false;
                    else if (complete == nc)
                        nc = 0;
                }
                if (!utf8 || k == n)
                    continue;
                if (wsip_utf8_prefix(p + k, n - k, &complete) < 0) {
                    utf8 = false;
                    continue;
                }
                nc = n - k - complete;
                memcpy(carry, p + k + complete, nc);
            }
            if (nc)
                utf8 = false;
        }
        uint8_t hdr[WSIP_WS_HEADER_MAX];
        struct iovec v[16];
        v[0].iov_base = hdr;
        v[0].iov_len =
            wsip_ws_header(hdr, utf8 ? WSIP_WS_OP_TEXT : WSIP_WS_OP_BINARY, true, total, NULL);
        memcpy(&v[1], iov, (size_t)iovcnt * sizeof(*iov));
        rc = raw_write(c, v, iovcnt + 1);
    } else {
        rc = raw_write(c, iov, iovcnt);
    }
    if (rc < 0) {
        close_now(c);
        return -1;
    }
    if (queue_over_limit(c)) {
        /* a peer that does not read must not make us buffer without bound */
        conn_log(c, WSIP_LOG_WARN, "send queue over the limit: %zu bytes",
                 uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp));
        wsip_conn_close(c, WSIP_WS_CODE_POLICY, "send queue full");
        return -1;
    }
    return 0;
}

int wsip_conn_send(struct wsip_conn *c, const struct iovec *iov, int iovcnt)
{
    int rc = conn_send(c, iov, iovcnt);
    if (rc == 0)
        wsip_ctr_inc(&c->w->ctr.tx_msgs);
    return rc;
}

static void ws_control(struct wsip_conn *c,
                       size_t (*make)(uint8_t *, const uint8_t *, size_t, const uint8_t *),
                       const uint8_t *payload, size_t len)
{
    uint8_t frame[WSIP_WS_CONTROL_MAX];
    size_t n = make(frame, payload, len, NULL);
    struct iovec iov = {frame, n};
    if (n && raw_write(c, &iov, 1) < 0)
        close_now(c);
}

/* --------------------------------------------------------------- input */

static struct wsip_source conn_source(struct wsip_conn *c)
{
    struct wsip_source src = {.kind = c->kind, .worker = c->w, .conn = c};
    memcpy(&src.peer, &c->peer, sizeof(src.peer));
    src.peerlen = sizeof(src.peer);
    src.flow = wsip_conn_flow(c);
    return src;
}

static size_t feed_sip(struct wsip_conn *c, char *p, size_t len)
{
    struct wsip_server *s = c->w->srv;
    size_t off = 0;
    while (off < len && c->closing == OPEN) {
        size_t crlf = wsip_stream_skip_crlf(p + off, len - off);
        if (crlf) {
            /* RFC 5626 sec 4.4.1: CRLFCRLF is a ping, answered by CRLF; a
             * lone CRLF is a pong. Wait for a possible second half. */
            if (off + crlf == len && crlf < 4)
                return off;
            if (crlf >= 4) {
                struct iovec iov = {(void *)"\r\n", 2};
                raw_write(c, &iov, 1);
            }
            off += crlf;
            continue;
        }
        struct wsip_msg *m;
        struct wsip_sip_err err;
        size_t used;
        int rc = wsip_msg_parse(&m, NULL, p + off, len - off, WSIP_FRAMING_STREAM, &s->opt.sip,
                                &used, &err);
        if (rc == WSIP_PARSE_AGAIN)
            return off;
        struct wsip_source src = conn_source(c);
        if (rc == WSIP_PARSE_BAD) {
            /* the stream cannot be re-synchronised: answer, then close */
            wsip_dispatch_bad(&src, p + off, len - off, &err);
            wsip_conn_close(c, 0, err.reason ? err.reason : "bad message");
            return len;
        }
        wsip_dispatch_msg(&src, m);
        wsip_msg_unref(m);
        off += used;
    }
    return off;
}

static void http_reply(struct wsip_conn *c, struct wsip_sbuf *out)
{
    if (!out->oom) {
        struct iovec iov = {out->p, out->len};
        raw_write(c, &iov, 1);
    }
    wsip_sbuf_free(out);
}

/* -------------------------------------------------------- static files */

struct static_job {
    uv_work_t work;
    struct wsip_conn *c;
    char path[1024];
    const char *mime;
    bool head;
    int status; /* 200, 404, 500 */
    char *data;
    size_t size;
};

static void static_read(uv_work_t *req)
{
    /* on the libuv threadpool: the loop never blocks on the disk */
    struct static_job *j = req->data;
    j->status = 404;
    int fd = open(j->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= STATIC_MAX_BYTES) {
        j->size = (size_t)st.st_size;
        j->data = malloc(j->size ? j->size : 1);
        if (j->data && (size_t)read(fd, j->data, j->size) == j->size)
            j->status = 200;
        else
            j->status = 500;
    }
    close(fd);
}

static void static_done(uv_work_t *req, int status)
{
    struct static_job *j = req->data;
    struct wsip_conn *c = j->c;
    (void)status;
    if (c->closing == OPEN) {
        struct wsip_sbuf out;
        wsip_sbuf_init(&out);
        if (j->status == 200) {
            wsip_http_static_headers(&out, j->size, j->mime, false);
            if (!j->head)
                wsip_sbuf_append(&out, j->data, j->size);
        } else {
            wsip_http_static_error(&out, (unsigned)j->status, j->head);
        }
        http_reply(c, &out);
        wsip_conn_close(c, 0, "static file sent");
    }
    free(j->data);
    free(j);
    c->refs--;
    maybe_free(c);
}

static void serve_static(struct wsip_conn *c, const struct wsip_http_req *req)
{
    bool head = req->method_id == WSIP_HTTP_HEAD;
    struct static_job *j = calloc(1, sizeof(*j));
    if (!j) {
        wsip_conn_close(c, 0, "out of memory");
        return;
    }
    int st = wsip_http_static_resolve(c->w->srv->opt.http_root, req->target, j->path,
                                      sizeof(j->path), &j->mime);
    if (st != 0) {
        struct wsip_sbuf out;
        wsip_sbuf_init(&out);
        wsip_http_static_error(&out, (unsigned)st, head);
        http_reply(c, &out);
        free(j);
        wsip_conn_close(c, 0, "static file refused");
        return;
    }
    j->c = c;
    j->head = head;
    j->work.data = j;
    c->state = ST_STATIC;
    c->refs++;
    if (uv_queue_work(&c->w->loop, &j->work, static_read, static_done) != 0) {
        c->refs--;
        free(j);
        wsip_conn_close(c, 0, "cannot queue file read");
    }
}

/* GET /config.json: the web phone's settings, from the configuration. */
static void serve_web_config(struct wsip_conn *c, const struct wsip_http_req *req)
{
    const struct wsip_server_opts *o = &c->w->srv->opt;
    const char *domains[sizeof(o->domains) / sizeof(o->domains[0])];
    size_t n = 0;
    for (; n < o->ndomains && n < sizeof(domains) / sizeof(domains[0]); n++)
        domains[n] = o->domains[n];
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    wsip_http_web_config(&out, domains, n, o->ws_path, req->method_id == WSIP_HTTP_HEAD);
    http_reply(c, &out);
    wsip_conn_close(c, 0, "web config sent");
}

/* --------------------------------------------------------- admin pages */

struct admin_job {
    uv_work_t work;
    struct wsip_conn *c;
    enum wsip_admin_page page;
    bool head;
    struct wsip_sbuf out;
};

static void admin_render(uv_work_t *req)
{
    /* on the libuv threadpool: a snapshot of 1,000 bindings is rendered
     * without holding up the worker's SIP traffic */
    struct admin_job *j = req->data;
    wsip_status_respond(j->c->w->srv, j->page, j->head, &j->out);
}

static void admin_done(uv_work_t *req, int status)
{
    struct admin_job *j = req->data;
    struct wsip_conn *c = j->c;
    (void)status;
    if (c->closing == OPEN) {
        http_reply(c, &j->out);
        wsip_conn_close(c, 0, "admin page sent");
    } else {
        wsip_sbuf_free(&j->out);
    }
    free(j);
    c->refs--;
    maybe_free(c);
}

/* /status, /status.json, /metrics: admin.allowed_networks, then
 * admin.password (HTTP Basic), then the page. */
static void serve_admin(struct wsip_conn *c, const struct wsip_http_req *req,
                        enum wsip_admin_page page)
{
    struct wsip_server *s = c->w->srv;
    const struct sockaddr *peer = (const struct sockaddr *)&c->peer;
    bool head = req->method_id == WSIP_HTTP_HEAD;
    unsigned refuse = 0;
    if (!wsip_admin_network_ok(s->admin, peer))
        refuse = 403;
    else if (wsip_admin_has_password(s->admin) && wsip_http_hdr(req, "Authorization") &&
             !wsip_ip_handshake_ok(s, peer))
        refuse = 429; /* password guesses share the address's handshake budget */
    else if (!wsip_admin_auth_ok(s->admin, req))
        refuse = 401;
    struct admin_job *j = refuse ? NULL : calloc(1, sizeof(*j));
    if (!j) {
        struct wsip_sbuf out;
        wsip_sbuf_init(&out);
        wsip_admin_refuse(&out, refuse ? refuse : 503, head);
        http_reply(c, &out);
        conn_log(c, WSIP_LOG_INFO, "admin page %.*s refused: %u", (int)req->path.len, req->path.p,
                 refuse ? refuse : 503);
        wsip_conn_close(c, 0, "admin page refused");
        return;
    }
    j->c = c;
    j->page = page;
    j->head = head;
    j->work.data = j;
    wsip_sbuf_init(&j->out);
    c->state = ST_STATIC;
    c->refs++;
    if (uv_queue_work(&c->w->loop, &j->work, admin_render, admin_done) != 0) {
        c->refs--;
        free(j);
        wsip_conn_close(c, 0, "cannot queue the admin page");
    }
}

static size_t feed_http(struct wsip_conn *c, char *p, size_t len)
{
    struct wsip_server *s = c->w->srv;
    struct wsip_http_limits lim;
    wsip_http_limits_default(&lim);
    lim.max_header_bytes = s->opt.http_max_header;
    lim.max_header_line = s->opt.http_max_header;
    lim.max_request_line = s->opt.http_max_header;
    static _Thread_local struct wsip_http_req req; /* 4 KiB: not on the stack */
    struct wsip_http_err err;
    size_t used;
    int rc = wsip_http_parse(&req, p, len, &lim, &used, &err);
    if (rc == WSIP_HTTP_AGAIN)
        return 0;
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    if (rc == WSIP_HTTP_BAD) {
        conn_log(c, WSIP_LOG_INFO, "HTTP request refused: %u %s", err.status,
                 err.detail ? err.detail : err.reason);
        wsip_http_error_response(&out, err.status, err.reason, NULL, err.detail, false);
        http_reply(c, &out);
        wsip_conn_close(c, 0, err.detail ? err.detail : err.reason);
        return len;
    }
    switch (wsip_http_route(&req)) {
    case WSIP_ROUTE_WEBSOCKET: {
        const char *origins[9] = {0};
        for (unsigned i = 0; i < s->opt.nws_allowed_origins && i < 8; i++)
            origins[i] = s->opt.ws_allowed_origins[i];
        struct wsip_ws_config cfg = {.path = s->opt.ws_path, .origins = origins};
        struct wsip_ws_decision d;
        wsip_ws_handshake(&req, &cfg, &d);
        if (d.status == 101 && !wsip_ip_handshake_ok(s, (const struct sockaddr *)&c->peer)) {
            wsip_http_error_response(&out, 503, "Service Unavailable", "Retry-After: 1\r\n",
                                     "too many handshakes from this address", false);
            http_reply(c, &out);
            wsip_conn_close(c, 0, "handshake rate limit");
            return len;
        }
        wsip_ws_handshake_response(&d, &out);
        http_reply(c, &out);
        if (d.status != 101) {
            conn_log(c, WSIP_LOG_INFO, "WebSocket handshake refused: %u %s", d.status, d.detail);
            wsip_conn_close(c, 0, d.detail);
            return len;
        }
        struct wsip_ws_limits wl = {.max_frame = s->opt.ws_max_frame,
                                    .max_message = s->opt.ws_max_message};
        wsip_ws_reader_init(&c->ws, WSIP_WS_SERVER, &wl);
        c->state = ST_WS;
        uv_timer_again(&c->timer);
        conn_log(c, WSIP_LOG_DEBUG, "websocket open");
        return used; /* frames may follow in the same read */
    }
    case WSIP_ROUTE_STATIC: {
        enum wsip_admin_page page = wsip_admin_page_of(req.path);
        if (page != WSIP_ADMIN_NONE)
            serve_admin(c, &req, page);
        else if (wsip_http_is_web_config(req.target))
            serve_web_config(c, &req);
        else
            serve_static(c, &req);
        return len;
    }
    default:
        wsip_http_static_error(&out, 405, false);
        http_reply(c, &out);
        wsip_conn_close(c, 0, "method not allowed");
        return len;
    }
}

static size_t feed_ws(struct wsip_conn *c, char *p, size_t len)
{
    size_t off = 0;
    while (c->closing == OPEN) {
        struct wsip_ws_event ev;
        size_t used;
        int rc = wsip_ws_read(&c->ws, (uint8_t *)p + off, len - off, &used, &ev);
        off += used;
        switch (rc) {
        case WSIP_WS_AGAIN: return off;
        case WSIP_WS_ERROR: wsip_conn_close(c, ev.code, ev.reason); return len;
        case WSIP_WS_MESSAGE: {
            struct wsip_source src = conn_source(c);
            size_t crlf = wsip_stream_skip_crlf((const char *)ev.data, ev.len);
            if (crlf == ev.len) {
                /* CRLFCRLF keepalive (RFC 7118 / RFC 5626): answer CRLF */
                if (ev.len >= 4) {
                    struct iovec iov = {(void *)"\r\n", 2};
                    conn_send(c, &iov, 1); /* a keepalive, not a message */
                }
                break;
            }
            wsip_dispatch_bytes(&src, (const char *)ev.data, ev.len, WSIP_FRAMING_WS);
            break;
        }
        case WSIP_WS_PING: ws_control(c, wsip_ws_pong_frame, ev.data, ev.len); break;
        case WSIP_WS_PONG: c->missed_pongs = 0; break;
        case WSIP_WS_CLOSE:
            /* echo the code (RFC 6455 sec 5.5.1), then close */
            if (ev.code == WSIP_WS_CODE_NO_STATUS) {
                uint8_t frame[WSIP_WS_CONTROL_MAX];
                size_t n = wsip_ws_close_frame(frame, 0, NULL, NULL);
                struct iovec iov = {frame, n};
                raw_write(c, &iov, 1);
                c->ws_close_sent = true;
            }
            wsip_conn_close(c, ev.code == WSIP_WS_CODE_NO_STATUS ? 0 : ev.code, "closed by peer");
            return len;
        }
    }
    return len;
}

/* Handles what can be handled in p[0..len); returns the bytes consumed. */
static size_t feed(struct wsip_conn *c, char *p, size_t len)
{
    size_t off = 0;
    while (off < len && c->closing == OPEN) {
        uint8_t before = c->state;
        size_t used;
        switch (c->state) {
        case ST_SIP: used = feed_sip(c, p + off, len - off); break;
        case ST_HTTP: used = feed_http(c, p + off, len - off); break;
        case ST_WS: used = feed_ws(c, p + off, len - off); break;
        default: return len; /* ST_STATIC: nothing more is read */
        }
        off += used;
        if (used == 0 && c->state == before)
            break;
    }
    return off;
}

/* Largest amount of unconsumed input a connection may hold in its state. */
static size_t input_limit(const struct wsip_conn *c)
{
    const struct wsip_server_opts *o = &c->w->srv->opt;
    switch (c->state) {
    case ST_HTTP: return o->http_max_header + 1024;
    case ST_WS: return (o->ws_max_frame > 125 ? o->ws_max_frame : 125) + WSIP_WS_HEADER_MAX;
    default: return o->sip.max_msg_size + 16;
    }
}

/* p[0..len) was received (in the worker scratch, or appended to pend). */
static void input(struct wsip_conn *c, char *p, size_t len, bool in_pend)
{
    size_t used = feed(c, p, len);
    if (c->closing != OPEN) {
        c->pend_len = 0;
        return;
    }
    size_t rest = len - used;
    if (rest == 0) {
        /* idle connections keep no buffer */
        free(c->pend);
        c->pend = NULL;
        c->pend_len = c->pend_cap = 0;
        return;
    }
    if (rest > input_limit(c)) {
        /* the parsers refuse over-size units; this is the backstop */
        wsip_conn_close(c, WSIP_WS_CODE_TOO_BIG, "input over the limit");
        return;
    }
    if (in_pend) {
        memmove(c->pend, c->pend + used, rest);
        c->pend_len = rest;
        return;
    }
    size_t cap = rest < 4096 ? 4096 : rest;
    char *n = malloc(cap);
    if (!n) {
        close_now(c);
        return;
    }
    memcpy(n, p + used, rest);
    free(c->pend);
    c->pend = n;
    c->pend_len = rest;
    c->pend_cap = cap;
}

/* Makes room for at least want more bytes at the end of pend. */
static int pend_reserve(struct wsip_conn *c, size_t want)
{
    if (c->pend_cap - c->pend_len >= want)
        return 0;
    size_t cap = c->pend_len + want;
    char *n = realloc(c->pend, cap);
    if (!n)
        return -1;
    c->pend = n;
    c->pend_cap = cap;
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct wsip_conn *c = h->data;
    struct wsip_worker *w = c->w;
    (void)suggested;
    if (!c->tls && c->pend) {
        /* a partial unit is waiting: read straight behind it */
        if (pend_reserve(c, 16384) < 0) {
            *b = uv_buf_init(NULL, 0);
            return;
        }
        *b = uv_buf_init(c->pend + c->pend_len, (unsigned)(c->pend_cap - c->pend_len));
        return;
    }
    if (!w->rxbuf)
        w->rxbuf = wsip_buf_new(SCRATCH_SIZE);
    if (!w->rxbuf) {
        *b = uv_buf_init(NULL, 0);
        return;
    }
    *b = uv_buf_init(w->rxbuf->data, SCRATCH_SIZE);
}

static void conn_up(struct wsip_conn *c);

static void tls_input(struct wsip_conn *c, const char *cipher, size_t n)
{
    struct wsip_worker *w = c->w;
    if (wsip_tls_feed(c->tls, cipher, n) < 0) {
        close_now(c);
        return;
    }
    if (!w->tls_scratch)
        w->tls_scratch = malloc(SCRATCH_SIZE);
    if (!w->tls_scratch) {
        close_now(c);
        return;
    }
    bool hs_was_done = wsip_tls_handshake_done(c->tls);
    for (;;) {
        size_t got = 0;
        int rc;
        if (c->pend) {
            if (pend_reserve(c, 16384) < 0) {
                close_now(c);
                return;
            }
            rc = wsip_tls_read(c->tls, c->pend + c->pend_len, c->pend_cap - c->pend_len, &got);
            c->pend_len += got;
            if (got)
                input(c, c->pend, c->pend_len, true);
        } else {
            rc = wsip_tls_read(c->tls, w->tls_scratch, SCRATCH_SIZE, &got);
            if (got)
                input(c, w->tls_scratch, got, false);
        }
        if (!hs_was_done && wsip_tls_handshake_done(c->tls)) {
            hs_was_done = true;
            wsip_worker_note_heap_churn(w); /* its short-lived memory is free now */
        }
        if (c->closing != OPEN)
            return;
        if (c->out && c->out->dial == DIAL_HANDSHAKE && wsip_tls_handshake_done(c->tls))
            conn_up(c); /* queues what waited behind the handshake's last flight */
        if (c->closing != OPEN)
            return;
        flush_tls(c);
        if (rc == WSIP_TLS_OK)
            continue;
        if (rc == WSIP_TLS_AGAIN)
            return;
        if (rc == WSIP_TLS_CLOSED) {
            wsip_conn_close(c, WSIP_WS_CODE_GOING_AWAY, "TLS close_notify");
            return;
        }
        const char *why = wsip_tls_conn_error(c->tls);
        const char *detail = wsip_tls_conn_error_detail(c->tls);
        conn_log(c, WSIP_LOG_INFO, "TLS error: %s%s%s", why ? why : "?", detail ? ": " : "",
                 detail ? detail : "");
        if (c->out && !c->out->why)
            c->out->why = detail ? detail : why ? why : "TLS error";
        close_now(c);
        return;
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct wsip_conn *c = s->data;
    if (n == 0)
        return;
    if (n < 0) {
        if (n != UV_EOF)
            conn_log(c, WSIP_LOG_DEBUG, "read error: %s", uv_strerror((int)n));
        if (c->out && !c->out->why)
            c->out->why = n == UV_EOF ? "closed by the peer" : uv_strerror((int)n);
        close_now(c);
        return;
    }
    c->last_rx = uv_now(&c->w->loop);
    c->missed_pongs = 0;
    if (c->tls) {
        tls_input(c, b->base, (size_t)n);
        return;
    }
    if (c->pend && b->base == c->pend + c->pend_len) {
        c->pend_len += (size_t)n;
        input(c, c->pend, c->pend_len, true);
    } else {
        input(c, b->base, (size_t)n, false);
    }
}

/* --------------------------------------------------------------- timers */

static void on_tick(uv_timer_t *t)
{
    struct wsip_conn *c = t->data;
    const struct wsip_server_opts *o = &c->w->srv->opt;
    uint64_t now = uv_now(&c->w->loop);
    uint64_t idle = now - c->last_rx;
    switch (c->state) {
    case ST_WS:
        if (idle + 50 < o->ws_ping_interval_ms)
            return;
        if (c->missed_pongs > 0) /* the last ping's interval passed in silence */
            wsip_ctr_inc(&c->w->ctr.ws_pongs_missed);
        if (c->missed_pongs >= o->ws_max_missed_pongs) {
            wsip_conn_close(c, WSIP_WS_CODE_GOING_AWAY, "ping timeout");
            return;
        }
        ws_control(c, wsip_ws_ping_frame, NULL, 0);
        wsip_ctr_inc(&c->w->ctr.ws_pings);
        c->missed_pongs++;
        return;
    case ST_HTTP:
        if (idle >= HANDSHAKE_MS)
            wsip_conn_close(c, 0, "no request");
        return;
    case ST_SIP:
        if (c->tls && !wsip_tls_handshake_done(c->tls) && idle >= HANDSHAKE_MS)
            wsip_conn_close(c, 0, "TLS handshake not completed");
        else if (idle >= o->tcp_idle_timeout_ms)
            wsip_conn_close(c, 0, "idle timeout");
        return;
    default: return;
    }
}

static void start_timer(struct wsip_conn *c)
{
    const struct wsip_server_opts *o = &c->w->srv->opt;
    uint64_t every;
    if (wsip_listen_kind_ws(c->kind))
        every = o->ws_ping_interval_ms < HANDSHAKE_MS ? o->ws_ping_interval_ms : HANDSHAKE_MS;
    else
        every = o->tcp_idle_timeout_ms / 4 ? o->tcp_idle_timeout_ms / 4 : 1;
    if (wsip_listen_kind_secure(c->kind) && every > HANDSHAKE_MS / 2)
        every = HANDSHAKE_MS / 2; /* a stalled TLS handshake is cut off in time */
    if (every == 0)
        every = 1;
    uv_timer_start(&c->timer, on_tick, every, every);
}

/* --------------------------------------------------------------- accept */

int wsip_conn_accept(struct wsip_worker *w, uv_stream_t *server, enum wsip_listen_kind kind)
{
    struct wsip_server *s = w->srv;
    struct wsip_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->w = w;
    c->kind = kind;
    c->id = atomic_fetch_add(&next_conn_id, 1);
    uv_tcp_init(&w->loop, &c->tcp);
    c->tcp.data = c;
    c->refs = 1;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        return -1;
    }
    int alen = sizeof(c->peer);
    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &alen);

    bool refuse = s->stopping || atomic_load(&s->conns_open) >= s->opt.max_connections;
    if (!refuse) {
        c->ip_counted = wsip_ip_acquire(s, (const struct sockaddr *)&c->peer);
        refuse = !c->ip_counted;
    }
    if (refuse || wsip__slot_alloc(w, c, &c->slot, &c->gen) < 0) {
        wsip_ctr_inc(&w->ctr.conns_refused);
        conn_log(c, WSIP_LOG_WARN, "connection refused: limit reached");
        if (c->ip_counted)
            wsip_ip_release(s, (const struct sockaddr *)&c->peer);
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        return -1;
    }
    count_open(c);
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_init(&w->loop, &c->timer);
    c->timer.data = c;
    c->refs++;
    c->state = wsip_listen_kind_ws(kind) ? ST_HTTP : ST_SIP;
    c->last_rx = uv_now(&w->loop);
    if (wsip_listen_kind_secure(kind)) {
        c->tls = wsip_tls_conn_new(s->tls, NULL);
        if (!c->tls) {
            close_now(c);
            return -1;
        }
    }
    start_timer(c);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        close_now(c);
        return -1;
    }
    conn_log(c, WSIP_LOG_DEBUG, "accepted");
    return 0;
}

void wsip_conn_mark_requests(struct wsip_conn *c)
{
    c->requests_sent = true;
}

/* ------------------------------------------------------------- connect */

static size_t addr_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* Address and port bytes of sa, hashed with the transport. */
static uint32_t out_hash(enum wsip_listen_kind kind, const struct sockaddr *sa)
{
    const unsigned char *p;
    size_t n;
    uint16_t port;
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        p = in6->sin6_addr.s6_addr;
        n = 16;
        port = in6->sin6_port;
    } else {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        p = (const unsigned char *)&in->sin_addr;
        n = 4;
        port = in->sin_port;
    }
    uint32_t h = 2166136261u ^ (uint32_t)kind;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return (h ^ port) * 16777619u;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return false;
    if (b->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)(const void *)a;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)(const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    const struct sockaddr_in *x = (const struct sockaddr_in *)(const void *)a;
    const struct sockaddr_in *y = (const struct sockaddr_in *)(const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

/* The outgoing connection failed before or after it came up. */
static void out_fail(struct wsip_conn *c, const char *why)
{
    if (!c->out->why)
        c->out->why = why;
    conn_log(c, WSIP_LOG_INFO, "outgoing connection failed: %s", c->out->why);
    close_now(c);
}

static void conn_up(struct wsip_conn *c)
{
    struct conn_out *o = c->out;
    o->dial = DIAL_UP;
    c->last_rx = uv_now(&c->w->loop);
    start_timer(c); /* from now on idle like an accepted connection */
    conn_log(c, WSIP_LOG_DEBUG, "outgoing connection up%s%s", c->tls ? " over " : "",
             c->tls ? wsip_tls_conn_version(c->tls) : "");
    if (o->early) {
        struct iovec iov = {o->early, o->early_len};
        int rc = raw_write(c, &iov, 1);
        free(o->early);
        o->early = NULL;
        o->early_len = 0;
        if (rc < 0)
            out_fail(c, "write failed");
    }
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct wsip_conn *c = t->data;
    out_fail(c, c->out->dial == DIAL_HANDSHAKE ? "TLS handshake timed out" : "connect timed out");
}

static void on_connect(uv_connect_t *req, int status)
{
    struct wsip_conn *c = req->data;
    c->refs--;
    if (c->closing != OPEN) {
        maybe_free(c); /* closed while connecting (UV_ECANCELED) */
        return;
    }
    if (status < 0) {
        out_fail(c, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        out_fail(c, "cannot read from the socket");
        return;
    }
    if (!c->tls) {
        conn_up(c);
        return;
    }
    c->out->dial = DIAL_HANDSHAKE;
    if (wsip_tls_handshake(c->tls) == WSIP_TLS_ERROR) {
        out_fail(c, "TLS handshake failed");
        return;
    }
    flush_tls(c); /* the ClientHello */
}

/* A new outgoing connection, linked into the worker's table as hash h. */
static struct wsip_conn *dial(struct wsip_worker *w, enum wsip_listen_kind kind,
                              const struct sockaddr *addr, const char *server_name, uint32_t h,
                              const char **why)
{
    struct wsip_server *s = w->srv;
    if (w->stopping) {
        *why = "shutting down";
        return NULL;
    }
    if (atomic_load(&s->conns_open) >= s->opt.max_connections) {
        wsip_ctr_inc(&w->ctr.conns_refused);
        *why = "connection limit reached (net.max_connections)";
        return NULL;
    }
    size_t nlen = strlen(server_name) + 1;
    struct wsip_conn *c = calloc(1, sizeof(*c));
    struct conn_out *o = calloc(1, sizeof(*o) + nlen);
    if (!c || !o || uv_tcp_init(&w->loop, &c->tcp) != 0) {
        free(c);
        free(o);
        *why = "out of memory";
        return NULL;
    }
    memcpy(o->server_name, server_name, nlen);
    c->out = o;
    c->w = w;
    c->kind = kind;
    c->id = atomic_fetch_add(&next_conn_id, 1);
    memcpy(&c->peer, addr, addr_len(addr));
    c->tcp.data = c;
    c->refs = 1;
    if (wsip__slot_alloc(w, c, &c->slot, &c->gen) < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        *why = "out of memory";
        return NULL;
    }
    count_open(c);
    uv_timer_init(&w->loop, &c->timer);
    c->timer.data = c;
    c->refs++;
    c->state = ST_SIP;
    c->last_rx = uv_now(&w->loop);
    o->dial = DIAL_CONNECTING;
    o->req.data = c;
    if (kind == WSIP_LISTEN_TLS && !(c->tls = wsip_tls_conn_new(s->tls_client, server_name))) {
        *why = "out of memory";
        close_now(c);
        return NULL;
    }
    int rc = uv_tcp_connect(&o->req, &c->tcp, addr, on_connect);
    if (rc != 0) {
        *why = uv_strerror(rc);
        conn_log(c, WSIP_LOG_INFO, "cannot connect: %s", *why);
        close_now(c);
        return NULL;
    }
    c->refs++; /* the connect request: on_connect runs even after a close */
    uv_timer_start(&c->timer, on_connect_timeout, s->opt.tcp_connect_timeout_ms, 0);
    size_t n = sizeof(w->outgoing) / sizeof(w->outgoing[0]);
    o->hash = h;
    o->next = w->outgoing[h % n];
    w->outgoing[h % n] = c;
    o->linked = true;
    conn_log(c, WSIP_LOG_DEBUG, "connecting%s%s", kind == WSIP_LISTEN_TLS ? " to TLS name " : "",
             kind == WSIP_LISTEN_TLS ? server_name : "");
    return c;
}

struct wsip_conn *wsip_conn_outgoing(struct wsip_worker *w, enum wsip_listen_kind kind,
                                     const struct sockaddr *addr, const char *server_name,
                                     const char **why)
{
    if ((kind != WSIP_LISTEN_TCP && kind != WSIP_LISTEN_TLS) ||
        (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)) {
        *why = "not a TCP or TLS address";
        return NULL;
    }
    char ip[INET6_ADDRSTRLEN] = "";
    if (kind != WSIP_LISTEN_TLS) {
        server_name = ""; /* only TLS checks a name */
    } else if (!server_name || !*server_name) {
        /* a URI with an IP address: the certificate must name that address */
        const void *a =
            addr->sa_family == AF_INET6
                ? (const void *)&((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr
                : (const void *)&((const struct sockaddr_in *)(const void *)addr)->sin_addr;
        inet_ntop(addr->sa_family, a, ip, sizeof(ip));
        server_name = ip;
    }
    uint32_t h = out_hash(kind, addr);
    size_t n = sizeof(w->outgoing) / sizeof(w->outgoing[0]);
    for (struct wsip_conn *c = w->outgoing[h % n]; c; c = c->out->next)
        if (c->kind == kind && c->closing == OPEN && same_addr(&c->peer, addr) &&
            strcasecmp(c->out->server_name, server_name) == 0)
            return c;
    return dial(w, kind, addr, server_name, h, why);
}

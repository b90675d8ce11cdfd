/* Client connections of wsip bench: TCP connect, TLS (wsip's layer in the
 * client role), the RFC 6455 upgrade with the "sip" subprotocol, masked
 * frames out and WSIP_WS_CLIENT frames in, and SIP framing per transport.
 * Connected UDP sockets stand in for connections on udp://.
 *
 * Input is read into one scratch buffer per loop; only a partial unit (a
 * half frame, a half response head) is copied into the connection, so an
 * idle client connection holds no buffer, like the server's. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "bench/bench.h"
#include "wsip/http.h"
#include "wsip/tls.h"

#define SCRATCH      (64 * 1024)
#define HTTP_MAX     8192
#define TX_CAP       (64 * 1024 + WSIP_WS_HEADER_MAX)
#define STREAM_LIMIT (64 * 1024 + 16)

/* ------------------------------------------------------------------ URLs */

static const char *const tp_names[] = {"udp", "tcp", "tls", "ws", "wss"};

const char *bench_tp_name(enum bench_tp tp)
{
    return (unsigned)tp < 5 ? tp_names[tp] : "?";
}

bool bench_tp_is_ws(enum bench_tp tp)
{
    return tp == BENCH_TP_WS || tp == BENCH_TP_WSS;
}

bool bench_tp_is_secure(enum bench_tp tp)
{
    return tp == BENCH_TP_TLS || tp == BENCH_TP_WSS;
}

int bench_url_parse(const char *s, struct bench_url *u, const char **why)
{
    memset(u, 0, sizeof(*u));
    const char *sep = strstr(s, "://");
    if (!sep) {
        *why = "URL needs a scheme: ws://, wss://, udp://, tcp:// or tls://";
        return -1;
    }
    size_t slen = (size_t)(sep - s);
    unsigned k;
    for (k = 0; k < 5; k++)
        if (strlen(tp_names[k]) == slen && strncasecmp(s, tp_names[k], slen) == 0)
            break;
    if (k == 5) {
        *why = "unknown URL scheme";
        return -1;
    }
    u->tp = (enum bench_tp)k;
    const char *h = sep + 3, *port_s, *end;
    if (*h == '[') {
        const char *rb = strchr(h, ']');
        if (!rb || (size_t)(rb - h - 1) >= sizeof(u->host)) {
            *why = "malformed IPv6 address";
            return -1;
        }
        memcpy(u->host, h + 1, (size_t)(rb - h - 1));
        port_s = rb + 1;
    } else {
        size_t hl = strcspn(h, ":/");
        if (hl == 0 || hl >= sizeof(u->host)) {
            *why = "URL needs a host";
            return -1;
        }
        memcpy(u->host, h, hl);
        port_s = h + hl;
    }
    long port = u->tp == BENCH_TP_WS    ? 80
                : u->tp == BENCH_TP_WSS ? 443
                : u->tp == BENCH_TP_TLS ? 5061
                                        : 5060;
    end = port_s;
    if (*port_s == ':') {
        char *e;
        port = strtol(port_s + 1, &e, 10);
        if (e == port_s + 1 || port < 1 || port > 65535) {
            *why = "port must be 1..65535";
            return -1;
        }
        end = e;
    }
    if (*end != '\0' && *end != '/') {
        *why = "junk after the port";
        return -1;
    }
    snprintf(u->path, sizeof(u->path), "%s", *end ? end : "/");
    u->port = (uint16_t)port;
    struct sockaddr_in *in = (struct sockaddr_in *)&u->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&u->addr;
    bool v6 = false;
    if (strcmp(u->host, "localhost") == 0 || inet_pton(AF_INET, u->host, &in->sin_addr) == 1) {
        if (strcmp(u->host, "localhost") == 0)
            in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in->sin_family = AF_INET;
        in->sin_port = htons(u->port);
        u->addrlen = sizeof(*in);
    } else if (inet_pton(AF_INET6, u->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(u->port);
        u->addrlen = sizeof(*in6);
        v6 = true;
    } else {
        *why = "host must be an IP address or localhost";
        return -1;
    }
    snprintf(u->uri_host, sizeof(u->uri_host), "%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "");
    snprintf(u->hostport, sizeof(u->hostport), "%s:%u", u->uri_host, u->port);
    return 0;
}

/* ------------------------------------------------------------ randomness */

uint64_t bench_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

void bench_rand_seed(uint64_t *s)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
        v = uv_hrtime() ^ (uint64_t)(uintptr_t)s;
    *s = v ? v : 0x9e3779b97f4a7c15ull;
}

void bench_rand_token(uint64_t *s, char *out, size_t n)
{
    static const char abc[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 10 == 0)
            r = bench_rand(s);
        out[i] = abc[r % 36];
        r /= 36;
    }
    out[n] = '\0';
}

/* ---------------------------------------------------------------- closing */

static void on_closed(uv_handle_t *h)
{
    struct bench_conn *c = h->data;
    wsip_tls_conn_free(c->tls);
    c->tls = NULL;
    if (bench_tp_is_ws(c->cl->opt->url.tp))
        wsip_ws_reader_free(&c->ws);
    free(c->pend);
    c->pend = NULL;
    c->pend_len = c->pend_cap = 0;
    c->state = BC_CLOSED;
    c->cl->h->closed(c, c->why);
}

/* Closes the handle; closed() follows with c->why. */
static void finish(struct bench_conn *c, const char *why)
{
    if (c->handle_closing)
        return;
    if (!c->why)
        c->why = why;
    c->handle_closing = true;
    uv_close(&c->h.handle, on_closed);
}

void bench_conn_abort(struct bench_conn *c, const char *why)
{
    finish(c, why ? why : "aborted");
}

/* ----------------------------------------------------------------- output */

struct wreq {
    uv_write_t req;
    void *mem; /* owned buffer to free, or NULL when data[] holds the copy */
    char data[];
};

static void on_written(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct bench_conn *c = req->handle->data;
    free(w->mem);
    free(w);
    if (status < 0 && status != UV_ECANCELED)
        finish(c, uv_strerror(status));
}

/* Sends p[0..len) on the stream; owned (may be NULL) is freed once sent. */
static int raw_send(struct bench_conn *c, const char *p, size_t len, void *owned)
{
    if (c->handle_closing) {
        free(owned);
        return -1;
    }
    uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)len);
    int n = uv_try_write(&c->h.stream, &b, 1);
    if (n == (int)len) {
        free(owned);
        return 0;
    }
    if (n < 0 && n != UV_EAGAIN) {
        free(owned);
        finish(c, uv_strerror(n));
        return -1;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    struct wreq *w = malloc(sizeof(*w) + (owned ? 0 : len - done));
    if (!w) {
        free(owned);
        finish(c, "out of memory");
        return -1;
    }
    if (owned) {
        w->mem = owned;
        b = uv_buf_init((char *)(uintptr_t)p + done, (unsigned)(len - done));
    } else {
        w->mem = NULL;
        memcpy(w->data, p + done, len - done);
        b = uv_buf_init(w->data, (unsigned)(len - done));
    }
    int rc = uv_write(&w->req, &c->h.stream, &b, 1, on_written);
    if (rc != 0) {
        free(w->mem);
        free(w);
        finish(c, uv_strerror(rc));
        return -1;
    }
    return 0;
}

static int tls_flush(struct bench_conn *c)
{
    size_t len;
    void *p = wsip_tls_detach_out(c->tls, &len);
    return p ? raw_send(c, p, len, p) : 0;
}

/* Plaintext out: through TLS when there is TLS. */
static int send_plain(struct bench_conn *c, const char *p, size_t len)
{
    if (!c->tls)
        return raw_send(c, p, len, NULL);
    struct iovec iov = {(void *)(uintptr_t)p, len};
    if (wsip_tls_write(c->tls, &iov, 1) != WSIP_TLS_OK) {
        const char *e = wsip_tls_conn_error(c->tls);
        finish(c, e ? e : "TLS write failed");
        return -1;
    }
    return tls_flush(c);
}

static void mask_key(struct bench_conn *c, uint8_t key[4])
{
    uint32_t k = (uint32_t)bench_rand(&c->cl->rng);
    memcpy(key, &k, 4);
}

static int send_control(struct bench_conn *c,
                        size_t (*make)(uint8_t *, const uint8_t *, size_t, const uint8_t *),
                        const uint8_t *payload, size_t len)
{
    uint8_t frame[WSIP_WS_CONTROL_MAX], key[4];
    mask_key(c, key);
    size_t n = make(frame, payload, len, key);
    return n ? send_plain(c, (const char *)frame, n) : -1;
}

static int send_close(struct bench_conn *c, uint16_t code)
{
    uint8_t frame[WSIP_WS_CONTROL_MAX], key[4];
    mask_key(c, key);
    size_t n = wsip_ws_close_frame(frame, code, NULL, key);
    c->close_sent = true;
    return send_plain(c, (const char *)frame, n);
}

int bench_conn_send(struct bench_conn *c, const char *p, size_t len)
{
    struct bench_client *cl = c->cl;
    if (c->state != BC_OPEN || c->handle_closing)
        return -1;
    cl->tx_msgs++;
    switch (cl->opt->url.tp) {
    case BENCH_TP_UDP: {
        uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)len);
        int n = uv_udp_try_send(&c->h.udp, &b, 1, NULL);
        if (n < 0) {
            /* a full socket buffer drops the datagram, as the network would */
            cl->send_errors++;
            return -1;
        }
        return 0;
    }
    case BENCH_TP_TCP:
    case BENCH_TP_TLS: return send_plain(c, p, len);
    default: break;
    }
    /* WS: one text frame, masked with a fresh key (RFC 6455 sec 5.3) */
    uint8_t key[4];
    mask_key(c, key);
    size_t need = wsip_ws_frame_size(len, true);
    char *buf = need <= TX_CAP ? cl->tx : malloc(need);
    if (!buf) {
        finish(c, "out of memory");
        return -1;
    }
    size_t hl = wsip_ws_header((uint8_t *)buf, WSIP_WS_OP_TEXT, true, len, key);
    wsip_ws_mask_copy((uint8_t *)buf + hl, (const uint8_t *)p, len, key);
    int rc = send_plain(c, buf, hl + len);
    if (buf != cl->tx)
        free(buf);
    return rc;
}

void bench_conn_close(struct bench_conn *c)
{
    if (c->handle_closing || c->state == BC_CLOSED)
        return;
    c->local_close = true;
    if (bench_tp_is_ws(c->cl->opt->url.tp) && c->state == BC_OPEN) {
        /* the server echoes the close and ends the TCP connection first, so
         * TIME_WAIT stays on its side and the client's ports are reusable */
        c->state = BC_CLOSING;
        send_close(c, WSIP_WS_CODE_NORMAL);
        return;
    }
    if (c->state == BC_CLOSING)
        return;
    if (c->tls && c->state == BC_OPEN) {
        wsip_tls_shutdown(c->tls);
        tls_flush(c);
    }
    finish(c, NULL);
}

/* ------------------------------------------------------------------ input */

static void deliver(struct bench_conn *c, const char *p, size_t len, enum wsip_framing fr)
{
    struct bench_client *cl = c->cl;
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    if (wsip_msg_parse(&m, NULL, p, len, fr, NULL, &used, &err) != WSIP_PARSE_OK) {
        cl->bad_rx++;
        return;
    }
    cl->rx_msgs++;
    cl->h->sip(c, m);
    wsip_msg_unref(m);
}

/* A case-insensitive header name match at the start of a line. */
static bool hdr_is(const char *line, size_t len, const char *name, const char **value, size_t *vlen)
{
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
        return false;
    const char *v = line + n + 1, *e = line + len;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *value = v;
    *vlen = (size_t)(e - v);
    return true;
}

static const char *http_status_why(unsigned st)
{
    switch (st) {
    case 400: return "upgrade refused: HTTP 400";
    case 403: return "upgrade refused: HTTP 403";
    case 404: return "upgrade refused: HTTP 404";
    case 426: return "upgrade refused: HTTP 426";
    case 503: return "upgrade refused: HTTP 503";
    default: return "upgrade refused: other HTTP status";
    }
}

/* Checks the 101 (RFC 6455 sec 4.1, client side). 0 or -1 with why. */
static int check_upgrade(struct bench_conn *c, const char *p, size_t len, const char **why)
{
    if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ') {
        *why = "upgrade: malformed HTTP response";
        return -1;
    }
    unsigned st =
        (unsigned)(p[9] - '0') * 100 + (unsigned)(p[10] - '0') * 10 + (unsigned)(p[11] - '0');
    if (st != 101) {
        *why = http_status_why(st);
        return -1;
    }
    bool accept_ok = false, proto_ok = false, upgrade_ok = false;
    const char *line = memchr(p, '\n', len);
    const char *end = p + len;
    while (line && ++line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl)
            break;
        size_t ll = (size_t)(nl - line);
        if (ll && line[ll - 1] == '\r')
            ll--;
        const char *v;
        size_t vl;
        if (hdr_is(line, ll, "Sec-WebSocket-Accept", &v, &vl))
            accept_ok = vl == strlen(c->accept) && memcmp(v, c->accept, vl) == 0;
        else if (hdr_is(line, ll, "Sec-WebSocket-Protocol", &v, &vl))
            proto_ok = vl == 3 && memcmp(v, "sip", 3) == 0;
        else if (hdr_is(line, ll, "Upgrade", &v, &vl))
            upgrade_ok = vl == 9 && strncasecmp(v, "websocket", 9) == 0;
        line = nl;
    }
    *why = !accept_ok    ? "upgrade: wrong Sec-WebSocket-Accept"
           : !proto_ok   ? "upgrade: no sip subprotocol"
           : !upgrade_ok ? "upgrade: no Upgrade: websocket"
                         : NULL;
    return *why ? -1 : 0;
}

static void opened(struct bench_conn *c)
{
    c->state = BC_OPEN;
    c->cl->h->open(c);
}

/* The 101 head, once complete; returns the bytes used, 0 to wait. */
static size_t http_input(struct bench_conn *c, const char *p, size_t len)
{
    const char *e = memmem(p, len, "\r\n\r\n", 4);
    if (!e) {
        if (len > HTTP_MAX)
            finish(c, "upgrade: response head too long");
        return 0;
    }
    size_t head = (size_t)(e - p) + 4;
    const char *why;
    if (check_upgrade(c, p, head, &why) < 0) {
        finish(c, why);
        return len;
    }
    wsip_ws_reader_init(&c->ws, WSIP_WS_CLIENT, NULL);
    opened(c);
    return head;
}

static const char *server_close_why(uint16_t code)
{
    switch (code) {
    case 1000: return "server closed: 1000";
    case 1001: return "server closed: 1001 going away";
    case 1002: return "server closed: 1002 protocol error";
    case 1005: return "server closed: no status";
    case 1007: return "server closed: 1007 invalid data";
    case 1008: return "server closed: 1008 policy";
    case 1009: return "server closed: 1009 too big";
    case 1011: return "server closed: 1011 internal error";
    default: return "server closed: other code";
    }
}

static size_t ws_input(struct bench_conn *c, char *p, size_t len)
{
    size_t off = 0;
    while (!c->handle_closing) {
        struct wsip_ws_event ev;
        size_t used;
        int rc = wsip_ws_read(&c->ws, (uint8_t *)p + off, len - off, &used, &ev);
        off += used;
        switch (rc) {
        case WSIP_WS_AGAIN: return off;
        case WSIP_WS_ERROR:
            if (!c->close_sent)
                send_close(c, ev.code);
            finish(c, ev.reason ? ev.reason : "WebSocket protocol error");
            return len;
        case WSIP_WS_MESSAGE:
            /* a bare CRLF answers a CRLFCRLF keepalive: nothing to parse */
            if (wsip_stream_skip_crlf((const char *)ev.data, ev.len) == ev.len)
                break;
            deliver(c, (const char *)ev.data, ev.len, WSIP_FRAMING_WS);
            break;
        case WSIP_WS_PING:
            c->cl->pings_rx++;
            send_control(c, wsip_ws_pong_frame, ev.data, ev.len);
            break;
        case WSIP_WS_PONG: break;
        case WSIP_WS_CLOSE:
            if (!c->local_close)
                c->why = server_close_why(ev.code);
            if (!c->close_sent)
                send_close(c, ev.code == WSIP_WS_CODE_NO_STATUS ? 0 : ev.code);
            c->state = BC_CLOSING; /* the server ends the TCP connection */
            return len;
        }
    }
    return len;
}

static size_t stream_input(struct bench_conn *c, const char *p, size_t len)
{
    size_t off = 0;
    while (off < len && !c->handle_closing) {
        off += wsip_stream_skip_crlf(p + off, len - off);
        if (off == len)
            break;
        struct wsip_msg *m;
        struct wsip_sip_err err;
        size_t used;
        int rc =
            wsip_msg_parse(&m, NULL, p + off, len - off, WSIP_FRAMING_STREAM, NULL, &used, &err);
        if (rc == WSIP_PARSE_AGAIN)
            break;
        if (rc != WSIP_PARSE_OK) {
            c->cl->bad_rx++;
            finish(c, "unparsable SIP on the stream");
            return len;
        }
        c->cl->rx_msgs++;
        c->cl->h->sip(c, m);
        wsip_msg_unref(m);
        off += used;
    }
    return off;
}

/* Handles what it can of p[0..len); returns the bytes consumed. */
static size_t process(struct bench_conn *c, char *p, size_t len)
{
    size_t off = 0;
    while (off < len && !c->handle_closing) {
        if (c->state == BC_HTTP) {
            size_t used = http_input(c, p + off, len - off);
            if (used == 0)
                return off;
            off += used;
            continue;
        }
        if (c->state != BC_OPEN && c->state != BC_CLOSING)
            return len; /* nothing is expected */
        if (bench_tp_is_ws(c->cl->opt->url.tp))
            return off + ws_input(c, p + off, len - off);
        return off + stream_input(c, p + off, len - off);
    }
    return off;
}

static int pend_append(struct bench_conn *c, const char *p, size_t n)
{
    if (c->pend_cap - c->pend_len < n) {
        size_t cap = c->pend_len + n < 1024 ? 1024 : c->pend_len + n;
        char *m = realloc(c->pend, cap);
        if (!m)
            return -1;
        c->pend = m;
        c->pend_cap = cap;
    }
    memcpy(c->pend + c->pend_len, p, n);
    c->pend_len += n;
    return 0;
}

static void plain_input(struct bench_conn *c, char *p, size_t n)
{
    if (c->pend_len == 0) {
        size_t used = process(c, p, n);
        if (!c->handle_closing && used < n && pend_append(c, p + used, n - used) < 0)
            finish(c, "out of memory");
    } else {
        if (pend_append(c, p, n) < 0) {
            finish(c, "out of memory");
            return;
        }
        size_t used = process(c, c->pend, c->pend_len);
        if (c->handle_closing)
            return;
        memmove(c->pend, c->pend + used, c->pend_len - used);
        c->pend_len -= used;
    }
    if (c->handle_closing)
        return;
    if (c->pend_len == 0) {
        free(c->pend);
        c->pend = NULL;
        c->pend_cap = 0;
    } else if (c->pend_len > (c->state == BC_HTTP ? HTTP_MAX : STREAM_LIMIT)) {
        finish(c, "input over the limit");
    }
}

static void start_upgrade(struct bench_conn *c);

static void tls_input(struct bench_conn *c, const char *cipher, size_t n)
{
    struct bench_client *cl = c->cl;
    if (wsip_tls_feed(c->tls, cipher, n) < 0) {
        finish(c, "out of memory");
        return;
    }
    int rc;
    do {
        size_t got = 0;
        rc = wsip_tls_read(c->tls, cl->plain, SCRATCH, &got);
        if (c->state == BC_TLS && wsip_tls_handshake_done(c->tls)) {
            if (bench_tp_is_ws(cl->opt->url.tp)) {
                start_upgrade(c);
            } else {
                opened(c);
            }
        }
        if (got)
            plain_input(c, cl->plain, got);
        if (c->handle_closing)
            return;
    } while (rc == WSIP_TLS_OK);
    tls_flush(c);
    if (rc == WSIP_TLS_ERROR) {
        const char *e = wsip_tls_conn_error(c->tls);
        finish(c, e ? e : c->state < BC_OPEN ? "TLS handshake failed" : "TLS error");
    }
    /* WSIP_TLS_CLOSED (close_notify): the EOF follows */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct bench_conn *c = h->data;
    (void)suggested;
    *b = uv_buf_init(c->cl->rx, SCRATCH);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct bench_conn *c = s->data;
    if (n == 0 || c->handle_closing)
        return;
    if (n < 0) {
        if (n != UV_EOF)
            finish(c, uv_strerror((int)n));
        else if (c->state == BC_CLOSING)
            finish(c, NULL); /* c->why tells who started the close */
        else if (c->state == BC_OPEN)
            finish(c, c->local_close ? NULL : "server closed the connection (no close frame)");
        else
            finish(c, "server closed the connection during setup");
        return;
    }
    if (c->tls)
        tls_input(c, b->base, (size_t)n);
    else
        plain_input(c, b->base, (size_t)n);
}

/* --------------------------------------------------------------- connecting */

static void start_upgrade(struct bench_conn *c)
{
    struct bench_client *cl = c->cl;
    const struct bench_url *u = &cl->opt->url;
    uint8_t raw[16];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = bench_rand(&cl->rng);
        memcpy(raw + i, &r, 8);
    }
    char key[32];
    wsip_base64_encode(raw, sizeof(raw), key, sizeof(key));
    if (wsip_ws_accept_key(wsip_str_cstr(key), c->accept) != 0) {
        finish(c, "SHA-1 failed");
        return;
    }
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: sip\r\n"
                     "%s%s%s"
                     "User-Agent: wsip-bench/" WSIP_VERSION "\r\n"
                     "\r\n",
                     u->path, u->hostport, key, cl->opt->origin ? "Origin: " : "",
                     cl->opt->origin ? cl->opt->origin : "", cl->opt->origin ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(req)) {
        finish(c, "upgrade request too long");
        return;
    }
    c->state = BC_HTTP;
    send_plain(c, req, (size_t)n);
}

static void local_addr(struct bench_conn *c, const struct sockaddr_storage *ss)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
        snprintf(c->local, sizeof(c->local), "%s:%u", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        snprintf(c->local, sizeof(c->local), "[%s]:%u", ip, port);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct bench_conn *c = req->data;
    if (c->handle_closing)
        return;
    if (status < 0) {
        finish(c, status == UV_ECONNREFUSED    ? "connect: connection refused"
                  : status == UV_ETIMEDOUT     ? "connect: timed out"
                  : status == UV_EADDRNOTAVAIL ? "connect: no local port left"
                                               : "connect: failed");
        return;
    }
    struct bench_client *cl = c->cl;
    uv_tcp_nodelay(&c->h.tcp, 1); /* browsers send small messages at once too */
    struct sockaddr_storage ss;
    int alen = sizeof(ss);
    if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *)&ss, &alen) == 0)
        local_addr(c, &ss);
    int rc = uv_read_start(&c->h.stream, on_alloc, on_read);
    if (rc != 0) {
        finish(c, uv_strerror(rc));
        return;
    }
    if (bench_tp_is_secure(cl->opt->url.tp)) {
        c->tls = wsip_tls_conn_new(cl->tls, cl->opt->url.host);
        if (!c->tls) {
            finish(c, "out of memory");
            return;
        }
        c->state = BC_TLS;
        if (wsip_tls_handshake(c->tls) == WSIP_TLS_ERROR) {
            finish(c, "TLS handshake failed");
            return;
        }
        tls_flush(c); /* the ClientHello */
        return;
    }
    if (bench_tp_is_ws(cl->opt->url.tp))
        start_upgrade(c);
    else
        opened(c);
}

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct bench_conn *c = h->data;
    (void)suggested;
    *b = uv_buf_init(c->cl->rx, SCRATCH);
}

static void udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                     unsigned flags)
{
    struct bench_conn *c = h->data;
    (void)from;
    (void)flags;
    if (c->handle_closing || n == 0)
        return;
    if (n < 0) {
        /* a connected UDP socket reports ICMP errors, e.g. port unreachable */
        finish(c, n == UV_ECONNREFUSED ? "udp: connection refused" : "udp: receive error");
        return;
    }
    if (wsip_stream_skip_crlf(b->base, (size_t)n) == (size_t)n)
        return;
    deliver(c, b->base, (size_t)n, WSIP_FRAMING_DATAGRAM);
}

static void run_deferred(uv_timer_t *t)
{
    struct bench_client *cl = t->data;
    struct bench_conn *c = cl->defer_head;
    cl->defer_head = NULL;
    while (c) {
        struct bench_conn *next = c->defer_next;
        c->defer_next = NULL;
        if (!c->handle_closing && c->state == BC_CONNECTING)
            opened(c);
        c = next;
    }
}

static void start_udp(struct bench_client *cl, struct bench_conn *c)
{
    const struct bench_url *u = &cl->opt->url;
    /* AF_UNSPEC: no socket yet (uv_udp_connect makes it), so this cannot fail */
    uv_udp_init(cl->loop, &c->h.udp);
    c->h.handle.data = c;
    int rc = uv_udp_connect(&c->h.udp, (const struct sockaddr *)&u->addr);
    if (rc == 0)
        rc = uv_udp_recv_start(&c->h.udp, udp_alloc, udp_recv);
    if (rc != 0) {
        finish(c, rc == UV_EMFILE ? "socket: too many open files" : uv_strerror(rc));
        return;
    }
    struct sockaddr_storage ss;
    int alen = sizeof(ss);
    if (uv_udp_getsockname(&c->h.udp, (struct sockaddr *)&ss, &alen) == 0)
        local_addr(c, &ss);
    /* open() must not run inside bench_conn_start: defer it to the loop */
    c->defer_next = cl->defer_head;
    cl->defer_head = c;
    uv_timer_start(&cl->defer, run_deferred, 0, 0);
}

void bench_conn_start(struct bench_client *cl, struct bench_conn *c, uint32_t idx)
{
    uint8_t pstate = c->pstate;
    memset(c, 0, sizeof(*c));
    c->pstate = pstate;
    c->cl = cl;
    c->idx = idx;
    c->state = BC_CONNECTING;
    c->t_start = bench_now();
    bench_rand_token(&cl->rng, c->token, 12);
    if (cl->opt->url.tp == BENCH_TP_UDP) {
        start_udp(cl, c);
        return;
    }
    uv_tcp_init(cl->loop, &c->h.tcp);
    c->h.handle.data = c;
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->h.tcp, (const struct sockaddr *)&cl->opt->url.addr,
                            on_connect);
    if (rc != 0)
        finish(c, rc == UV_EMFILE          ? "socket: too many open files"
                  : rc == UV_EADDRNOTAVAIL ? "connect: no local port left"
                                           : uv_strerror(rc));
}

/* ------------------------------------------------------------------ client */

int bench_client_init(struct bench_client *cl, uv_loop_t *loop, const struct bench_opts *o,
                      const struct bench_handler *h, void *owner, char *err, size_t errlen)
{
    memset(cl, 0, sizeof(*cl));
    cl->loop = loop;
    cl->opt = o;
    cl->h = h;
    cl->owner = owner;
    bench_rand_seed(&cl->rng);
    cl->rx = malloc(SCRATCH);
    cl->plain = malloc(SCRATCH);
    cl->tx = malloc(TX_CAP);
    if (!cl->rx || !cl->plain || !cl->tx) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (bench_tp_is_secure(o->url.tp)) {
        struct wsip_tls_config cfg;
        struct wsip_tls_err terr = {{0}};
        wsip_tls_config_default(&cfg, WSIP_TLS_CLIENT);
        cfg.ca_file = o->ca_file; /* NULL: no verification (self-signed test servers) */
        if (wsip_tls_ctx_new(&cl->tls, &cfg, &terr) < 0) {
            snprintf(err, errlen, "TLS: %s", terr.msg);
            return -1;
        }
    }
    uv_timer_init(loop, &cl->defer);
    cl->defer.data = cl;
    return 0;
}

void bench_client_close(struct bench_client *cl)
{
    if (!uv_is_closing((uv_handle_t *)&cl->defer))
        uv_close((uv_handle_t *)&cl->defer, NULL);
}

void bench_client_free(struct bench_client *cl)
{
    wsip_tls_ctx_free(cl->tls);
    free(cl->rx);
    free(cl->plain);
    free(cl->tx);
    cl->tls = NULL;
    cl->rx = cl->plain = cl->tx = NULL;
}

/* Private to the server: workers, listeners, connections, flow tokens and the
 * cross-worker hand-off. Every object here belongs to exactly one worker
 * thread and is touched only from that thread, except the hand-off queue. */
#ifndef WSIP_TRANSPORT_H
#define WSIP_TRANSPORT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "wsip/buf.h"
#include "wsip/sip.h"

#define WSIP_MAX_WORKERS 64

struct wsip_server;
struct wsip_worker;
struct wsip_conn;
struct wsip_tls_ctx;
struct wsip_core;
struct wsip_strans;
struct wsip_admin_access;

/* ------------------------------------------------------------ listeners */

enum wsip_listen_kind {
    WSIP_LISTEN_UDP,
    WSIP_LISTEN_TCP,
    WSIP_LISTEN_TLS,
    WSIP_LISTEN_WS,
    WSIP_LISTEN_WSS,
};

struct wsip_listen_spec {
    enum wsip_listen_kind kind;
    char host[64]; /* as configured, IPv6 without brackets */
    uint16_t port;
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

/* Parses "udp://127.0.0.1:5060", "wss://[::1]:8443". 0 or -1. */
int wsip_listen_spec_parse(const char *uri, struct wsip_listen_spec *out, const char **why);
const char *wsip_listen_kind_name(enum wsip_listen_kind k);
bool wsip_listen_kind_secure(enum wsip_listen_kind k);
bool wsip_listen_kind_ws(enum wsip_listen_kind k);

/* ---------------------------------------------------------- server opts */

struct wsip_server_opts {
    struct wsip_listen_spec listen[16];
    unsigned nlisten;
    char domains[8][128];
    unsigned ndomains;
    unsigned workers;
    struct wsip_sip_limits sip;
    size_t max_udp_message;
    size_t ws_max_frame, ws_max_message;
    size_t http_max_header;
    unsigned max_conn_per_ip;
    unsigned max_connections;
    unsigned handshakes_per_ip_per_sec;
    size_t send_queue_limit;
    unsigned tcp_idle_timeout_ms;
    unsigned ws_ping_interval_ms;
    unsigned ws_max_missed_pongs;
    char ws_path[256];
    char ws_allowed_origins[8][256];
    unsigned nws_allowed_origins;
    char http_root[512];
    char tls_cert[512], tls_key[512];
    unsigned tcp_connect_timeout_ms; /* outgoing TCP/TLS: connect and TLS handshake */
    bool tls_verify_peer;            /* outgoing TLS: check the server's certificate */
    char tls_ca_file[512];           /* "" = the system's CA store */
    unsigned dns_cache_ttl_ms;       /* 0 = no cache */
    unsigned shutdown_drain_ms;
    unsigned t1_ms, t2_ms, t4_ms; /* RFC 3261 timers */
};

void wsip_server_opts_default(struct wsip_server_opts *o);

/* ----------------------------------------------------------- flow tokens */

/* A flow token names one connection anywhere in the process: the worker that
 * owns it, its slot in that worker's table and the slot's generation, so a
 * token that outlived its connection is recognised as stale, never sent to
 * whoever took the slot next. */
typedef uint64_t wsip_flow_token;

static inline wsip_flow_token wsip_flow_make(unsigned worker, uint32_t slot, uint32_t gen)
{
    return ((uint64_t)(worker & 0xff) << 56) | ((uint64_t)(slot & 0xffffff) << 32) | gen;
}
static inline unsigned wsip_flow_worker(wsip_flow_token t)
{
    return (unsigned)(t >> 56);
}
static inline uint32_t wsip_flow_slot(wsip_flow_token t)
{
    return (uint32_t)(t >> 32) & 0xffffff;
}
static inline uint32_t wsip_flow_gen(wsip_flow_token t)
{
    return (uint32_t)t;
}

/* ------------------------------------------------------------- hand-off */

/* A unit of work posted to another worker. The poster fills fn/arg; the
 * target worker runs fn(target, task) on its own thread and owns the task
 * from then on (fn frees it). */
struct wsip_task {
    struct wsip_task *next;
    void (*fn)(struct wsip_worker *w, struct wsip_task *t);
};

/* Thread-safe: enqueue and wake the worker. Returns -1 if it is stopping. */
int wsip_worker_post(struct wsip_worker *w, struct wsip_task *t);

/* Sends bytes down a flow from any thread. The bytes are copied into the
 * task. done (may be NULL) runs on the owning worker's thread with 0 when
 * the bytes were queued on the connection, -1 when the token is stale. */
typedef void (*wsip_flow_done_fn)(wsip_flow_token token, int status, void *arg);
int wsip_flow_send(struct wsip_server *s, wsip_flow_token token, const void *data, size_t len,
                   wsip_flow_done_fn done, void *arg);

/* ------------------------------------------------------------- workers */

struct wsip_slot {
    struct wsip_conn *conn; /* NULL when free */
    uint32_t gen;
    uint32_t next_free;
};

/* What /status and /metrics report, counted where it happens. Each worker
 * owns one block and is the only thread that writes it: an increment is a
 * relaxed load and store (a plain add, no locked instruction, no shared
 * cache line), and readers on other threads sum the blocks with relaxed
 * loads (wsip_server_counters). The *_open fields are gauges: the owner
 * adds and takes away. */
#define WSIP_CTR_METHODS   16 /* enum wsip_method ids; WSIP_METHOD_OTHER for the rest */
#define WSIP_CTR_KINDS     5  /* enum wsip_listen_kind */
#define WSIP_CTR_WS_CODES  16 /* WebSocket close codes 1000..1015 */
#define WSIP_CTR_RESPONSES 6  /* status classes 1xx..6xx */

struct wsip_counters {
    _Atomic uint64_t rx_msgs;                    /* SIP messages parsed (requests and responses) */
    _Atomic uint64_t tx_msgs;                    /* SIP messages handed to a socket */
    _Atomic uint64_t rx_bad;                     /* refused: unparsable, invalid */
    _Atomic uint64_t requests[WSIP_CTR_METHODS]; /* valid requests received, by method */
    _Atomic uint64_t responses[WSIP_CTR_RESPONSES]; /* sent, by class (no retransmissions) */
    _Atomic uint64_t conns_open[WSIP_CTR_KINDS];    /* gauge: connections by transport */
    _Atomic uint64_t conns_total[WSIP_CTR_KINDS];   /* accepted or opened */
    _Atomic uint64_t conns_refused;
    _Atomic uint64_t ws_pings;        /* pings sent on idle WebSockets */
    _Atomic uint64_t ws_pongs_missed; /* pings unanswered at the next check */
    _Atomic uint64_t ws_closes[WSIP_CTR_WS_CODES];
    _Atomic uint64_t strans_open, ctrans_open; /* gauges: transactions in the tables */
    _Atomic uint64_t calls_answered;           /* 2xx sent to an initial INVITE (no To tag) */
    _Atomic uint64_t calls_ended;              /* 2xx sent to a BYE */
    _Atomic uint64_t stale_flows;              /* sends to a connection that was gone */
    _Atomic uint64_t handoffs;                 /* sends passed to the connection's owner */
    _Atomic uint64_t udp_handed_over;          /* UDP requests passed to their Call-ID's worker */
};

/* The owner's increment: not atomic as a whole, and it need not be. */
static inline void wsip_ctr_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline void wsip_ctr_inc(_Atomic uint64_t *c)
{
    wsip_ctr_add(c, 1);
}
static inline void wsip_ctr_dec(_Atomic uint64_t *c)
{
    wsip_ctr_add(c, (uint64_t)-1);
}

/* The same numbers summed over the workers, as plain integers. */
struct wsip_counter_totals {
    uint64_t rx_msgs, tx_msgs, rx_bad;
    uint64_t requests[WSIP_CTR_METHODS];
    uint64_t responses[WSIP_CTR_RESPONSES];
    uint64_t conns_open[WSIP_CTR_KINDS], conns_total[WSIP_CTR_KINDS], conns_refused;
    uint64_t ws_pings, ws_pongs_missed, ws_closes[WSIP_CTR_WS_CODES];
    uint64_t strans_open, ctrans_open;
    uint64_t calls_answered, calls_ended;
    uint64_t stale_flows, handoffs;
    uint64_t udp_handed_over;
};

struct wsip_worker {
    struct wsip_server *srv;
    unsigned id;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake;
    /* hand-off queue: many producers, one consumer */
    pthread_mutex_t qlock;
    struct wsip_task *qhead, *qtail;
    bool stopping; /* shutdown begun: listeners closed, connections closing */
    bool closed;   /* the loop has ended: posts are refused */

    /* listeners of this worker (SO_REUSEPORT copies of every listen spec) */
    uv_handle_t *listeners[16];
    unsigned nlisteners;

    /* connection table */
    struct wsip_slot *slots;
    uint32_t nslots, free_head;
    unsigned nconns;

    /* receive scratch: messages parsed from it hold a reference; when one
     * outlives the read, the worker takes a fresh buffer */
    struct wsip_buf *rxbuf;
    char *tls_scratch;

    /* after a burst of closes or TLS handshakes, give freed heap back to
     * the system (glibc keeps it otherwise: 10,000 closed WSS connections
     * left 28 MB) */
    uv_timer_t trim_timer;
    unsigned events_since_trim;

    /* outgoing TCP/TLS connections of this worker by (transport, address,
     * TLS name), so that later requests to the same next hop reuse them */
    struct wsip_conn *outgoing[64];
    struct wsip_resolver *resolver; /* DNS answers of this worker (resolve.c) */

    struct wsip_txn_table *txn; /* transactions of this worker (txn/txn.h) */
    uv_timer_t expire_timer;    /* worker 0: removes expired bindings */
    bool expire_running;

    /* written by this worker only; on its own cache lines, so that the
     * other workers' writes nearby never evict it */
    alignas(64) struct wsip_counters ctr;
};

/* Counts a response sent (status 100..699) by its class. */
static inline void wsip_count_response(struct wsip_worker *w, unsigned status)
{
    if (w && status >= 100 && status < 700)
        wsip_ctr_inc(&w->ctr.responses[status / 100 - 1]);
}

/* The worker's UDP socket for an address family (to send requests from). */
uv_udp_t *wsip_worker_udp(struct wsip_worker *w, int family);

/* Notes an event that freed much short-lived memory (a closed connection,
 * a completed TLS handshake); trims the heap once a burst of them is over. */
void wsip_worker_note_heap_churn(struct wsip_worker *w);

struct wsip_server {
    struct wsip_server_opts opt;
    unsigned nworkers;
    struct wsip_worker *workers;
    uv_loop_t main_loop;
    uv_signal_t sigterm, sigint, sighup;
    struct wsip_tls_ctx *tls;        /* listeners (server role) */
    struct wsip_tls_ctx *tls_client; /* outgoing connections */
    atomic_bool stopping;
    int exit_code;
    /* open connections of all workers, for net.max_connections (changes on
     * accept and close only, never per message) */
    _Atomic uint64_t conns_open;
    /* per-IP accounting shared by all workers */
    pthread_mutex_t iplock;
    struct ip_entry *iptable[1024];
    /* key of the hash that picks a UDP request's worker from its Call-ID:
     * random, so that a peer cannot choose Call-IDs that all land on one */
    unsigned char spread_key[16];
    uint64_t start_ms;     /* wsip_now_ms() at init: uptime */
    int64_t start_wall_ms; /* the wall clock then (Unix ms) */
    /* who may read /status, /status.json and /metrics (http/admin.h) */
    struct wsip_admin_access *admin;
    /* registrar / proxy services (core/core.h); NULL: stateless answers */
    struct wsip_core *core;
    /* SIGHUP: called on the main thread (re-reads the configuration); when
     * NULL, the log is reopened and the TLS certificate reloaded as is */
    void (*reload)(struct wsip_server *s, void *arg);
    void *reload_arg;
};

int wsip_server_init(struct wsip_server *s, const struct wsip_server_opts *o, char *err,
                     size_t errlen);
/* Runs until SIGTERM/SIGINT (or wsip_server_stop); returns the exit code. */
int wsip_server_run(struct wsip_server *s);
void wsip_server_stop(struct wsip_server *s); /* thread-safe */
void wsip_server_free(struct wsip_server *s);
/* Reloads the TLS certificate and key from s->opt (main thread). */
int wsip_server_reload_tls(struct wsip_server *s);
/* Starts workers without signal handling (tests): returns once listening. */
int wsip_server_start(struct wsip_server *s);
void wsip_server_join(struct wsip_server *s);

/* Sums the workers' counters (any thread; each number is read once, so the
 * sum is not one instant, only close to one). */
void wsip_server_counters(const struct wsip_server *s, struct wsip_counter_totals *out);

/* Current thread's worker, NULL on other threads. */
struct wsip_worker *wsip_worker_self(void);

/* -------------------------------------------------------- connections */

/* Where a SIP message came from, and how to answer it. */
struct wsip_source {
    enum wsip_listen_kind kind;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    struct wsip_worker *worker;
    uv_udp_t *udp;          /* datagram: the socket it arrived on */
    struct wsip_conn *conn; /* stream/ws: the connection */
    wsip_flow_token flow;
};

/* Sends a SIP message back the way src came (same socket or connection). */
int wsip_source_reply(const struct wsip_source *src, const struct iovec *iov, int iovcnt);

/* Entry points of every received SIP message (transport-independent):
 * - bytes: parse with the transport's framing, then as below;
 * - msg: a parsed message (the transport framed it already);
 * - bad: the bytes could not be framed or parsed; answer with err->status
 *   when enough of the request can be read to address a response. */
void wsip_dispatch_bytes(const struct wsip_source *src, const char *p, size_t len,
                         enum wsip_framing framing);
void wsip_dispatch_msg(const struct wsip_source *src, struct wsip_msg *m);
void wsip_dispatch_bad(const struct wsip_source *src, const char *p, size_t len,
                       const struct wsip_sip_err *err);

/* The request's top Via as a response carries it (received, rport filled
 * in: RFC 3261 sec 18.2.1, RFC 3581 sec 4), in buf; empty when unchanged. */
struct wsip_str wsip_source_stamp_via(const struct wsip_source *src, struct wsip_msg *req,
                                      char *buf, size_t cap);

/* Where a response to a request that came over UDP goes (RFC 3261 sec
 * 18.2.2 with RFC 3581): the source address; the source port too when the
 * Via asks for rport or names no port, else the Via's port. */
void wsip_source_reply_addr(const struct wsip_source *src, const struct wsip_via *via,
                            struct sockaddr_storage *to);
/* A To-tag (16 hex digits): unique per worker, not a secret. */
void wsip_random_tag(char *out, size_t cap);
/* Whether host (a view of a URI host, IPv6 brackets allowed) is one of our
 * domains. */
bool wsip_server_is_our_domain(const struct wsip_server *s, struct wsip_str host);
/* Is the URI one of our addresses (a listen host, port optional) or, with
 * no user and no port, one of our domains? */
bool wsip_server_uri_is_us(const struct wsip_server *s, const struct wsip_uri *u);

/* The 200 to an OPTIONS that wsip answers itself (addressed to it, or with
 * Max-Forwards 0: RFC 3261 sec 16.3 step 2, sec 11): Allow, Accept,
 * Supported. */
void wsip_options_reply(struct wsip_server *s, struct wsip_strans *st);

/* Helpers used across transport files. */
void wsip_addr_str(const struct sockaddr *sa, char *out, size_t cap);
uint64_t wsip_now_ms(void);

/* Stream connections (TCP, TLS, WS, WSS, plain HTTP on the WS port). */
int wsip_conn_accept(struct wsip_worker *w, uv_stream_t *server, enum wsip_listen_kind kind);
int wsip_conn_send(struct wsip_conn *c, const struct iovec *iov, int iovcnt);
/* Notes that client transactions wait for answers on c (so that its close
 * fails them at once). */
void wsip_conn_mark_requests(struct wsip_conn *c);
struct wsip_conn *wsip_conn_lookup(struct wsip_worker *w, wsip_flow_token t);
void wsip_conn_close(struct wsip_conn *c, uint16_t ws_code, const char *why);
wsip_flow_token wsip_conn_flow(const struct wsip_conn *c);
void wsip_worker_close_all(struct wsip_worker *w, uint16_t ws_code);

/* The worker's TCP or TLS connection to addr: the open one, reused, or a
 * new one. A new one is connecting: what is sent meanwhile is queued and
 * goes out once it is up (TLS: once the handshake, which checks the
 * server's certificate against server_name, or the address when NULL, is
 * done). If it never comes up (tcp.connect_timeout), the transactions
 * waiting on it fail at once. NULL when the connection limit is reached,
 * the worker is stopping or no socket can be opened; *why says which. */
struct wsip_conn *wsip_conn_outgoing(struct wsip_worker *w, enum wsip_listen_kind kind,
                                     const struct sockaddr *addr, const char *server_name,
                                     const char **why);

/* ------------------------------------------------------------ next hops */

/* A next hop as a SIP URI names it (RFC 3263 sec 4 without NAPTR and SRV):
 * the transport from the transport parameter, else the scheme (sip: UDP,
 * sips: TLS); the host from maddr, else the host part; the port, else 5060
 * (5061 for TLS). */
struct wsip_hop {
    enum wsip_listen_kind kind; /* UDP, TCP or TLS */
    char host[256];             /* a name or an IP literal, without brackets */
    uint16_t port;
    bool numeric; /* host is an IP literal */
};
/* 0, or -1 with *why (not sip/sips, a transport we cannot open such as ws,
 * a malformed host). */
int wsip_hop_from_uri(const struct wsip_uri *u, struct wsip_hop *hop, const char **why);
/* The address of a hop whose host is an IP literal; -1 otherwise. */
int wsip_hop_numeric_addr(const struct wsip_hop *hop, struct sockaddr_storage *out);
void wsip_addr_set_port(struct sockaddr_storage *a, uint16_t port);

/* DNS (A and AAAA through getaddrinfo on the libuv threadpool), cached per
 * worker for dns.cache_ttl. A waiter is embedded in whoever waits. */
#define WSIP_RESOLVE_MAX 4 /* addresses kept per name */
struct wsip_resolve_wait;
/* status 0 with n >= 1 addresses (port 0, in the resolver's order), or a
 * negative uv error (wsip_resolve_strerror says it in words). */
typedef void (*wsip_resolved_fn)(struct wsip_resolve_wait *rw, int status,
                                 const struct sockaddr_storage *addrs, unsigned n);
struct wsip_resolve_wait {
    struct wsip_resolve_wait *next;
    struct dns_entry *entry; /* the lookup waited for; NULL when none */
    wsip_resolved_fn done;
};
/* 0: answered from the cache (addrs, *n); 1: a lookup is under way and
 * rw->done (set by the caller) runs later on this worker, unless cancelled;
 * a negative uv error: failed (a cached failure too). */
int wsip_resolve(struct wsip_worker *w, const char *name, struct wsip_resolve_wait *rw,
                 struct sockaddr_storage addrs[WSIP_RESOLVE_MAX], unsigned *n);
void wsip_resolve_cancel(struct wsip_resolve_wait *rw);
const char *wsip_resolve_strerror(int status);
void wsip_resolver_shutdown(struct wsip_worker *w);
void wsip_resolver_free(struct wsip_worker *w);

/* A non-blocking socket of type bound to spec's address with SO_REUSEPORT
 * (each worker binds its own; the kernel spreads the load). fd or -errno. */
int wsip_bound_socket(const struct wsip_listen_spec *spec, int type);

/* UDP. */
int wsip_udp_listen(struct wsip_worker *w, const struct wsip_listen_spec *spec);
int wsip_udp_send(uv_udp_t *udp, const struct sockaddr *to, const struct iovec *iov, int iovcnt);
/* A request that arrived over UDP on src->worker belongs to the worker a
 * keyed hash of its Call-ID names (all requests of a dialog and of its
 * transactions meet in one worker's transaction table, whichever socket the
 * kernel picked). True when m is not this worker's: a copy went to the
 * owner, to run there from the owner's socket on the same address, or was
 * dropped (the owner is shutting down, no memory): either way the caller is
 * done with it. False: handle it here (one worker, a response, no Call-ID). */
bool wsip_udp_hand_over(const struct wsip_source *src, struct wsip_msg *m);

/* Per-IP limits (connections, handshakes per second). */
bool wsip_ip_acquire(struct wsip_server *s, const struct sockaddr *sa);
void wsip_ip_release(struct wsip_server *s, const struct sockaddr *sa);
bool wsip_ip_handshake_ok(struct wsip_server *s, const struct sockaddr *sa);

#endif

/* wsip bench: a load generator that speaks SIP over WebSocket (and UDP, TCP,
 * TLS) with wsip's own codecs, for measuring wsip or any RFC 7118 server.
 *
 * Layers, bottom up:
 * - client.c: one client connection per struct bench_conn on a libuv loop:
 *   TCP connect, TLS, the HTTP upgrade, WS frames, SIP framing; hands parsed
 *   SIP messages up. UDP "connections" are connected UDP sockets.
 * - pool.c: opens N connections under a rate and concurrency limit with a
 *   setup timeout, counts failures by reason, closes them all at the end.
 * - modes (connect.c, options.c): drive a pool through hooks and print the
 *   summary.
 * - ua.c: a SIP user agent per connection for the SIP modes: identity
 *   (browser-like over WS), requests, digest (401/407, nonce reuse with nc),
 *   UDP retransmissions, answers as the called side, SDP.
 * - sipmode.c: the closed loop of register, message and call over a pool
 *   (register.c, message.c, call.c supply the steps); churn.c runs its own
 *   connect-register-unregister-disconnect cycles.
 * - stats.c: latency histogram, failure reasons, /proc and getrusage probes,
 *   the summary line. sip.c: the requests the modes send. */
#ifndef WSIP_BENCH_H
#define WSIP_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <uv.h>

#include "wsip/digest.h"
#include "wsip/sip.h"
#include "wsip/ws.h"

struct wsip_tls_ctx;
struct wsip_tls_conn;

/* -------------------------------------------------------------- the target */

enum bench_tp {
    BENCH_TP_UDP,
    BENCH_TP_TCP,
    BENCH_TP_TLS,
    BENCH_TP_WS,
    BENCH_TP_WSS,
};

struct bench_url {
    enum bench_tp tp;
    char host[64];     /* as written, IPv6 without brackets */
    char uri_host[72]; /* for SIP URIs: IPv6 in brackets */
    char hostport[80]; /* for Host: */
    uint16_t port;
    char path[256]; /* WebSocket request target, "/" when none */
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

/* "ws://127.0.0.1:8080/path", "wss://[::1]:8443", "udp://127.0.0.1:5060".
 * The host must be an IP literal or localhost (no DNS in a benchmark). */
int bench_url_parse(const char *s, struct bench_url *u, const char **why);
const char *bench_tp_name(enum bench_tp tp); /* "ws", "udp", ... */
bool bench_tp_is_ws(enum bench_tp tp);
bool bench_tp_is_secure(enum bench_tp tp);

/* ----------------------------------------------------------------- options */

struct bench_opts {
    const char *mode;
    const char *url_str;
    struct bench_url url;
    unsigned connections;       /* --connections */
    double rate;                /* --rate (connect, options): connection setups started per
                                   second, 0 = no limit */
    double op_rate;             /* --rate (register, message, call): operations started per
                                   second, 0 = closed loop */
    unsigned concurrency;       /* --concurrency: setups in flight (connect, options); flows (SIP
                                   modes: transactions outstanding, one per connection) */
    unsigned setup_concurrency; /* setups in flight (the pool) */
    double setup_max_s;         /* --setup-max: stop starting setups after this long */
    double timeout_s;           /* --timeout: one setup, one request */
    double hold_s;              /* connect --hold */
    bool options;               /* connect --options: one OPTIONS per connection */
    int pid;                    /* --pid: the server to measure, 0 none */
    uint64_t requests;          /* options --requests, SIP modes --count */
    double duration_s;          /* options and SIP modes --duration */
    unsigned outstanding;       /* options --outstanding, per connection */
    const char *ca_file;        /* --ca: verify the server (wss, tls) */
    const char *origin;         /* --origin: Origin header of the upgrade */
    const char *ruri;           /* --ruri: Request-URI of requests */
    const char *label;          /* --label: copied into the summary line */
    bool quiet;                 /* --quiet: no progress on stderr */
    /* SIP modes (register, message, call, churn) */
    const char *password;    /* --password: answer digest challenges */
    const char *user_prefix; /* --user-prefix (default "bench"): users PREFIX1.. */
    unsigned users;          /* --users: distinct users, 0 = one per connection */
    unsigned user_start;     /* --user-start: number of the first user (default 1) */
    const char *domain;      /* --domain (default localhost) */
    int algorithm;           /* --algorithm: enum wsip_digest_alg, MD5 or SHA-256 */
    unsigned expires;        /* --expires: of the REGISTERs (default 600) */
    bool no_auth_reuse;      /* --no-auth-reuse: no credentials before a challenge */
};

/* ------------------------------------------------------------------ clock */

static inline uint64_t bench_now(void)
{
    return uv_hrtime(); /* ns, monotonic */
}

/* --------------------------------------------------------------- randomness */

/* xorshift64*: Via branches, tags and mask keys only have to be unique and
 * unpredictable enough for a test peer, not secret. */
uint64_t bench_rand(uint64_t *state);
void bench_rand_seed(uint64_t *state);
/* n random characters [a-z0-9] and a NUL. */
void bench_rand_token(uint64_t *state, char *out, size_t n);

/* ---------------------------------------------------------------- client */

enum bench_conn_state {
    BC_IDLE = 0,
    BC_CONNECTING,
    BC_TLS,     /* TLS handshake */
    BC_HTTP,    /* upgrade sent, waiting for 101 */
    BC_OPEN,    /* SIP can flow */
    BC_CLOSING, /* close sent (WS close frame) or received: waiting for EOF */
    BC_CLOSED,  /* handle closed; the struct may be started again */
};

struct bench_conn;
struct bench_client;

/* What the client layer reports to its owner (the pool). */
struct bench_handler {
    void (*open)(struct bench_conn *c); /* SIP can be sent now */
    /* One SIP message; the callee may keep a reference (wsip_msg_ref). */
    void (*sip)(struct bench_conn *c, struct wsip_msg *m);
    /* The handle is closed. why: NULL when we closed it and the peer
     * completed the close, else a static string naming the failure. */
    void (*closed)(struct bench_conn *c, const char *why);
};

struct bench_client {
    uv_loop_t *loop;
    const struct bench_opts *opt;
    const struct bench_handler *h;
    void *owner;
    struct wsip_tls_ctx *tls;
    char *rx;    /* read scratch (one loop thread: shared by all connections) */
    char *plain; /* TLS plaintext scratch */
    char *tx;    /* WS frame scratch */
    uint64_t rng;
    uv_timer_t defer; /* runs open() of UDP sockets outside bench_conn_start */
    struct bench_conn *defer_head;
    /* counters */
    uint64_t pings_rx, bad_rx, send_errors, tx_msgs, rx_msgs;
};

struct bench_conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_udp_t udp;
    } h;
    uv_connect_t creq;
    struct bench_client *cl;
    struct bench_conn *defer_next;
    uint32_t idx; /* position in the owner's array */
    uint8_t state;
    uint8_t pstate;      /* the pool's view (pool.c) */
    bool handle_closing; /* uv_close called, on_closed pending */
    bool close_sent;     /* WS close frame sent */
    bool local_close;    /* we started the close */
    const char *why;     /* first failure, reported by closed() */
    struct wsip_tls_conn *tls;
    struct wsip_ws_reader ws;
    char *pend; /* unconsumed input (plaintext) */
    size_t pend_len, pend_cap;
    char accept[32];   /* expected Sec-WebSocket-Accept */
    char token[16];    /* random: .invalid Via host, tags, Call-IDs */
    char local[64];    /* local address "ip:port" (UDP, TCP Via) */
    uint64_t t_start;  /* bench_conn_start, ns */
    uint32_t cseq;     /* last CSeq sent */
    unsigned inflight; /* mode: requests waiting for an answer */
};

int bench_client_init(struct bench_client *cl, uv_loop_t *loop, const struct bench_opts *o,
                      const struct bench_handler *h, void *owner, char *err, size_t errlen);
/* Closes the client's own handles; every connection must be closed. */
void bench_client_close(struct bench_client *cl);
/* After the loop has ended. */
void bench_client_free(struct bench_client *cl);

/* Starts connecting c (zeroed, or closed). Failures come back through
 * closed(), never synchronously. */
void bench_conn_start(struct bench_client *cl, struct bench_conn *c, uint32_t idx);
/* Sends one SIP message, framed for the transport. 0 or -1 (then the
 * connection is failing and closed() follows). */
int bench_conn_send(struct bench_conn *c, const char *p, size_t len);
/* Graceful close: WS close 1000 and wait for the server's close and EOF;
 * UDP and TCP close at once. */
void bench_conn_close(struct bench_conn *c);
/* Immediate close; closed() gets why. */
void bench_conn_abort(struct bench_conn *c, const char *why);

/* ------------------------------------------------------------------- stats */

/* Log-linear histogram of nanosecond values: 64 sub-buckets per power of
 * two, so a percentile is within 1/64 (1.6%) of the true value. */
#define BENCH_HIST_BUCKETS (64 * 42)

struct bench_hist {
    uint64_t n, max, min, sum;
    uint64_t b[BENCH_HIST_BUCKETS];
};

void bench_hist_add(struct bench_hist *h, uint64_t ns);
/* Upper bound of the bucket holding the p-quantile (0 < p <= 1), in ns; the
 * exact maximum for p == 1; 0 when empty. */
uint64_t bench_hist_pct(const struct bench_hist *h, double p);

/* Counts by reason (static strings). */
#define BENCH_REASONS 16

struct bench_reasons {
    const char *why[BENCH_REASONS];
    uint64_t n[BENCH_REASONS];
    uint64_t other;
};

void bench_reasons_add(struct bench_reasons *r, const char *why);
uint64_t bench_reasons_total(const struct bench_reasons *r);
/* "reason:count; reason:count" (human table). */
void bench_reasons_print(FILE *f, const struct bench_reasons *r);
/* The most frequent reason, spaces turned into '_' for the summary line,
 * or "none". */
void bench_reasons_top(const struct bench_reasons *r, char *out, size_t cap);

/* Memory of a process from /proc/PID/smaps_rollup (kB). */
struct bench_mem {
    bool ok;
    uint64_t rss_kb, pss_kb, anon_kb;
};

int bench_proc_mem(int pid, struct bench_mem *m);
/* User + system CPU seconds of a process (all its threads), from
 * /proc/PID/stat; -1 when unreadable. */
double bench_proc_cpu(int pid);
/* The 1-minute load average (other jobs on a shared machine skew rates). */
double bench_loadavg(void);
/* CPU seconds this process has used (getrusage). */
double bench_self_cpu(void);

/* Raises RLIMIT_NOFILE to the hard limit; returns the new soft limit. */
unsigned long bench_raise_nofile(void);

/* Progress line on stderr ("[options 3.0s] ..."), unless --quiet or less
 * than 2 s have passed since t0. */
void bench_progress(const struct bench_opts *o, uint64_t t0, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------- pool */

enum bench_pstate {
    BP_IDLE = 0,
    BP_SETUP,   /* started, not established yet */
    BP_UP,      /* established */
    BP_DOWN,    /* failed or closed */
    BP_PENDING, /* not started (setup time ran out) */
};

enum bench_phase {
    BPH_SETUP,
    BPH_RUN,
    BPH_CLOSING,
    BPH_DONE,
};

struct bench_pool;

struct bench_pool_hooks {
    /* The transport is ready. Return true when the connection counts as
     * established now; false when the mode completes the setup itself
     * (e.g. waits for a 200) with bench_pool_established or _fail. */
    bool (*opened)(struct bench_pool *p, struct bench_conn *c);
    void (*sip)(struct bench_pool *p, struct bench_conn *c, struct wsip_msg *m);
    /* An established connection closed while the pool was not closing. */
    void (*lost)(struct bench_pool *p, struct bench_conn *c, const char *why);
    /* Setup is over: every connection established or failed. */
    void (*ready)(struct bench_pool *p);
    /* After bench_pool_close_all: every connection is closed. */
    void (*closed_all)(struct bench_pool *p);
    /* Every 100 ms, phase RUN. */
    void (*tick)(struct bench_pool *p, uint64_t now);
    /* Every 100 ms, phase SETUP (optional: retransmissions of a setup
     * request over UDP). */
    void (*setup_tick)(struct bench_pool *p, uint64_t now);
};

struct bench_pool {
    struct bench_client cl;
    const struct bench_opts *opt;
    const struct bench_pool_hooks *hooks;
    void *mode;
    struct bench_conn *conns;
    unsigned n;
    unsigned next; /* next connection to start */
    unsigned inflight, established, failed, lost, not_started, handles;
    enum bench_phase phase;
    uint64_t t_begin, t_ready, t_close, close_deadline, last_sweep, last_progress;
    struct bench_hist setup;        /* start -> established */
    struct bench_reasons fail_why;  /* setups that failed */
    struct bench_reasons lost_why;  /* established connections lost */
    struct bench_reasons close_why; /* unclean closes at the end */
    uv_timer_t tick;
};

int bench_pool_init(struct bench_pool *p, uv_loop_t *loop, const struct bench_opts *o,
                    const struct bench_pool_hooks *hooks, void *mode, char *err, size_t errlen);
void bench_pool_start(struct bench_pool *p);
void bench_pool_established(struct bench_pool *p, struct bench_conn *c);
void bench_pool_fail(struct bench_pool *p, struct bench_conn *c, const char *why);
/* Closes every connection gracefully; those not closed after timeout_s are
 * aborted. closed_all() follows. */
void bench_pool_close_all(struct bench_pool *p, double timeout_s);
/* Closes the pool's handles (after closed_all); the loop can then end. */
void bench_pool_stop(struct bench_pool *p);
void bench_pool_free(struct bench_pool *p);

/* ------------------------------------------------------------------- SIP */

/* An OPTIONS request from c (browser-like Via for WS/WSS: a random .invalid
 * host) with CSeq cseq into out; returns its length, 0 if cap is too small. */
size_t bench_sip_options(const struct bench_conn *c, uint32_t cseq, char *out, size_t cap);
/* The Via value of a request from c with that branch: "SIP/2.0/WS
 * <token>.invalid;branch=..." over WS/WSS, the local address with rport
 * otherwise. Returns what snprintf returns. */
int bench_sip_via(const struct bench_conn *c, const char *branch, char *out, size_t cap);

/* ------------------------------------------------------------- SIP status */

/* Counts by status code (final responses nobody expected). */
#define BENCH_STATUSES 16

struct bench_statuses {
    unsigned code[BENCH_STATUSES];
    uint64_t n[BENCH_STATUSES];
    uint64_t other;
};

void bench_statuses_add(struct bench_statuses *s, unsigned code);
/* "480 x3, 500 x1" (human) or "480:3,500:1" (summary line); nothing when empty. */
void bench_statuses_print(FILE *f, const struct bench_statuses *s, bool human);

/* ----------------------------------------------------------- SIP UA (ua.c) */

/* What a client keeps of a challenge to answer the next requests without
 * one (RFC 7616 sec 3.4: the same nonce with a growing nonce-count). */
struct bench_digest {
    bool valid;
    bool proxy; /* came in a 407: Proxy-Authorization */
    bool qop;   /* qop=auth offered */
    int alg;    /* enum wsip_digest_alg */
    uint32_t nc;
    char realm[128];
    char nonce[128];
    char opaque[128];
    char ha1[WSIP_DIGEST_HEX_MAX];
};

/* A request as the UA sends it; the Via, Max-Forwards, From and the
 * credentials are added when it is built. */
struct bench_req {
    enum wsip_method method;
    char ruri[256];
    char to[384]; /* the whole To value */
    char call_id[48];
    char from_tag[24];
    uint32_t cseq;
    const char *routes; /* "Route: ..." lines (not owned), or NULL */
    char extra[768];    /* more header lines, each ending in CRLF */
    const char *ctype;
    const char *body; /* not owned */
    size_t body_len;
};

/* Shared by the UAs of one run. */
struct bench_uactx {
    const struct bench_opts *o;
    uint64_t rng;
    struct wsip_sbuf tx, hdr; /* scratch for ACKs and answers */
    uint64_t retransmits, challenges, stale, uas_answers, uas_retrans;
};

/* What bench_ua_response made of a response. */
enum bench_ua_rc {
    BUA_STRAY,       /* not for the request in flight */
    BUA_PROVISIONAL, /* 1xx for it */
    BUA_RESENT,      /* a challenge: answered, the request went again */
    BUA_AUTH_FAILED, /* challenged again although the credentials were fresh */
    BUA_NO_AUTH,     /* a challenge that cannot be answered (no password, no such algorithm) */
    BUA_FINAL,       /* the final response */
};

struct bench_ua {
    struct bench_uactx *cx;
    struct bench_conn *c;
    uint32_t idx;  /* position in the run */
    uint32_t peer; /* message, call: the UA this one sends to */
    char user[64];
    char aor[192];           /* sip:user@domain */
    char contact[224];       /* our Contact URI */
    char contact_params[96]; /* Outbound parameters of the REGISTER's Contact (WS) */
    char reg_call_id[24], reg_tag[16];
    uint32_t reg_cseq;
    bool registered;
    struct bench_digest auth_reg, auth_req; /* REGISTER; other requests */

    /* the client transaction in flight (one at a time) */
    struct bench_req req;
    uint8_t op, step;    /* the mode's: what the UA is doing */
    uint8_t answered;    /* challenges answered for this request */
    bool pending;        /* a request is in flight */
    bool sent_auth;      /* the request in flight carries credentials */
    bool provisional;    /* a 1xx arrived for it */
    uint64_t t_op;       /* start of the operation (latency) */
    uint64_t t_mark;     /* mode's: e.g. the INVITE's 200 */
    uint64_t t_retx;     /* next retransmission (UDP), 0 none */
    uint32_t retx_ms;    /* current interval */
    uint32_t branch_n;   /* makes branches unique */
    struct wsip_sbuf tx; /* the request as sent (UDP retransmissions, ACK of a 407) */

    /* the caller's dialog (call) */
    char dlg_target[256];
    char dlg_to[384];
    struct wsip_sbuf dlg_routes; /* "Route: ..." lines */
    char dlg_call_id[48];
    uint32_t dlg_cseq; /* of the INVITE */

    /* the called side: the last request answered and its final answer, for
     * retransmissions of it */
    uint64_t uas_key;
    char uas_tag[20];
    struct wsip_sbuf uas_resp;

    /* SDP identity and the message body */
    uint64_t sdp_id;
    uint32_t sdp_ver;
    char ice_ufrag[8], ice_pwd[28], fingerprint[100];
    char body[160]; /* MESSAGE */
    char sdp[1024]; /* the INVITE's offer */
};

int bench_uactx_init(struct bench_uactx *cx, const struct bench_opts *o);
void bench_uactx_free(struct bench_uactx *cx);
/* The user of UA number i: PREFIX<user_start + i % users>. */
void bench_user_name(const struct bench_opts *o, unsigned i, char *out, size_t cap);
/* Identity of a UA on its connection, once the connection is open (the
 * local address is known). Keeps the allocations of an earlier use. */
void bench_ua_init(struct bench_ua *ua, struct bench_uactx *cx, struct bench_conn *c, uint32_t idx);
void bench_ua_free(struct bench_ua *ua);
/* ua->req becomes a REGISTER of our Contact (refresh: same Call-ID, next
 * CSeq), with that Expires (0: unregister). */
void bench_ua_prepare_register(struct bench_ua *ua, unsigned expires);
/* A new request to a user of the domain: fresh Call-ID and tags, CSeq 1. */
void bench_ua_prepare_request(struct bench_ua *ua, enum wsip_method method, const char *to_user);
/* Builds and sends ua->req with a new branch and, when a challenge is known
 * (and reused, or answered for this request), credentials. Keeps a copy
 * for UDP retransmissions. 0, or -1 (connection failing, or too long). */
int bench_ua_send(struct bench_ua *ua, uint64_t now);
/* Sends another request (an ACK for a 2xx) outside the transaction. */
int bench_ua_send_other(struct bench_ua *ua, const struct bench_req *r);
/* A response on the UA's connection: matched against the request in flight;
 * challenges are answered here (the ACK of a 407 to an INVITE too), and a
 * final non-2xx to an INVITE is ACKed. */
enum bench_ua_rc bench_ua_response(struct bench_ua *ua, struct wsip_msg *m, uint64_t now);
/* UDP: retransmits the request in flight when its timer is due (RFC 3261
 * timers A and E with T1 500 ms, T2 4 s; none for an INVITE once a 1xx
 * came). */
void bench_ua_tick(struct bench_ua *ua, uint64_t now);
/* The request in flight is over: no more retransmissions. */
void bench_ua_done(struct bench_ua *ua);
/* Answers a request (as the called side): To-tag, the extra header lines
 * and body. A final answer is kept for retransmissions of the request. */
int bench_ua_answer(struct bench_ua *ua, struct wsip_msg *req, unsigned status, const char *extra,
                    const char *ctype, const char *body, size_t body_len);
/* True (and the kept answer sent again) when req is a retransmission of the
 * last request answered. */
bool bench_ua_retransmission(struct bench_ua *ua, struct wsip_msg *req);
/* An SDP offer (or answer) of this UA into out: WebRTC-like over WS/WSS,
 * plain RTP/AVP audio otherwise (400-700 bytes). Returns its length. */
size_t bench_ua_sdp(struct bench_ua *ua, bool offer, char *out, size_t cap);
/* Appends every value of header id of m as a line "as_name: value", in
 * order or reversed (Record-Route into a caller's route set, RFC 3261 sec
 * 12.1.2). */
void bench_hdr_lines(struct wsip_sbuf *out, struct wsip_msg *m, enum wsip_hdr_id id,
                     const char *as_name, bool reverse);

/* ------------------------------------------------------------------ modes */

int bench_mode_connect(struct bench_opts *o);
int bench_mode_options(struct bench_opts *o);
int bench_mode_register(struct bench_opts *o);
int bench_mode_message(struct bench_opts *o);
int bench_mode_call(struct bench_opts *o);
int bench_mode_churn(struct bench_opts *o);

#endif

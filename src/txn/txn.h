/* RFC 3261 sec 17 transactions. Each transaction belongs to the worker that
 * created it and is touched only on that worker's thread. A client
 * transaction's branch names its worker, so a response that arrives on
 * another worker is handed over instead of searched for (DESIGN.md sec 2).
 * Server transactions live where their request arrived: retransmissions
 * come from the same source and land on the same worker (same socket for
 * UDP under SO_REUSEPORT hashing, same connection for streams). */
#ifndef WSIP_TXN_H
#define WSIP_TXN_H

#include "transport/transport.h"

struct wsip_strans;
struct wsip_ctrans;

/* Where a request or response goes. */
struct wsip_target {
    enum wsip_listen_kind kind;   /* UDP, TCP, TLS, WS, WSS */
    wsip_flow_token flow;         /* non-zero: down this connection */
    struct sockaddr_storage addr; /* else the destination (TCP/TLS: over the worker's
                                     outgoing connection to it) */
    /* UDP: the socket to send from, the one a request came in on, so that
     * its responses leave from the address it was sent to (RFC 3581 sec
     * 4); NULL: the worker's first socket of the address family */
    uv_udp_t *udp;
};

bool wsip_target_reliable(const struct wsip_target *t);
/* Sends bytes to a target from worker w (copying only when handed over);
 * a TCP or TLS address without a flow goes over the worker's outgoing
 * connection to it (opened when there is none). */
int wsip_target_send(struct wsip_worker *w, const struct wsip_target *t, const void *data,
                     size_t len);
/* Sends bytes, without a transaction (an ACK for a 2xx), to a next hop
 * named by a URI: at once for an IP address or a cached name, after the
 * lookup otherwise (the bytes are copied). -1 when it cannot be sent. */
int wsip_hop_send(struct wsip_worker *w, const struct wsip_hop *hop, const void *data, size_t len);

/* ----------------------------------------------------------- the layer */

struct wsip_txn_timers {
    unsigned t1, t2, t4; /* ms (RFC 3261: 500, 4000, 5000) */
};

/* Per-worker state; created lazily by the first transaction. */
struct wsip_txn_table;
void wsip_txn_table_free(struct wsip_txn_table *t);
/* Ends every transaction of the worker (shutdown); client transactions
 * report WSIP_CTRANS_SHUTDOWN to their TU first. */
void wsip_txn_shutdown(struct wsip_worker *w);
/* A connection closed: client transactions of every worker still waiting
 * for an answer on it end with loss->how (FLOW_FAILED for a flow the peer
 * opened, TRANSPORT_ERR for one wsip opened), except those sent to a next
 * hop with more addresses when nothing reached the peer (the connection
 * never came up): they try the next address. Called on the connection's
 * worker; reaches the others by hand-over. */
struct wsip_flow_loss;
void wsip_txn_flow_closed(struct wsip_server *s, wsip_flow_token flow,
                          const struct wsip_flow_loss *loss);

struct wsip_txn_stats {
    uint64_t strans, ctrans; /* created */
    uint64_t absorbed;       /* request retransmissions answered from a transaction */
    uint64_t retransmits;    /* our own retransmissions (timers A, E, G) */
    uint64_t timeouts;       /* timer B / F / H expiries */
    uint64_t handed_over;    /* responses passed to the owning worker */
    uint64_t unmatched;      /* responses that matched no client transaction */
};
void wsip_txn_stats(struct wsip_worker *w, struct wsip_txn_stats *out);

/* A received, validated request. Returns:
 *  1: it belonged to an existing server transaction (a retransmission was
 *     answered, an ACK absorbed, a CANCEL matched): nothing more to do;
 *  0: a new request: *st is a new server transaction (NULL for ACK, which
 *     never gets one), the TU answers through it. */
int wsip_txn_on_request(const struct wsip_source *src, struct wsip_msg *m, struct wsip_strans **st);
/* The dispatcher is done with the request a new *st came from (its bytes
 * may go away now): the transaction copies it only if it is not answered
 * yet. Until then the transaction uses the dispatcher's message. */
void wsip_txn_request_done(struct wsip_strans *st);

/* A received, validated response: given to its client transaction (on the
 * owning worker, handed over if needed). Returns 1 when it matched. */
int wsip_txn_on_response(const struct wsip_source *src, struct wsip_msg *m);

/* ---------------------------------------------------------- server side */

/* The request of the transaction: while unanswered, a message that lives as
 * long as it; NULL once a final response went out. */
struct wsip_msg *wsip_strans_request(struct wsip_strans *st);
bool wsip_strans_is_invite(const struct wsip_strans *st);
/* A CANCEL that matched this INVITE transaction is reported here once the
 * TU asks for it; NULL callback: answered 200, nothing else. */
typedef void (*wsip_strans_cancel_fn)(struct wsip_strans *st, void *arg);
void wsip_strans_set_cancel(struct wsip_strans *st, wsip_strans_cancel_fn fn, void *arg);
bool wsip_strans_cancelled(const struct wsip_strans *st);
/* Answers with a response built from the request (status, reason, extra
 * header lines, body). A final response moves the state machine on;
 * INVITE 2xx ends the transaction (the TU owns 2xx reliability). */
int wsip_strans_reply(struct wsip_strans *st, unsigned status, const char *reason,
                      struct wsip_str extra, struct wsip_str body);
/* Sends response bytes already built (a proxied response). */
int wsip_strans_send_response(struct wsip_strans *st, unsigned status, const void *data,
                              size_t len);
/* The TU will answer for sure (a proxy whose client transactions time out
 * on their own): the transaction no longer ends by itself before that. */
void wsip_strans_keep(struct wsip_strans *st);
/* The TU is done with the transaction without having answered (it will
 * never answer: the transaction times out by itself). */
void wsip_strans_release(struct wsip_strans *st);

/* ---------------------------------------------------------- client side */

enum wsip_ctrans_end {
    WSIP_CTRANS_DONE = 0,      /* a final response was passed on */
    WSIP_CTRANS_TIMEOUT,       /* timer B / F: no final response */
    WSIP_CTRANS_TRANSPORT_ERR, /* the request could not be sent (DNS, connect, TLS, a
                                  connection wsip opened that closed): sec 16.9 */
    WSIP_CTRANS_FLOW_FAILED,   /* the connection it was sent on closed (RFC 5626: 430) */
    WSIP_CTRANS_SHUTDOWN,      /* the worker is stopping: free, answer nothing */
    WSIP_CTRANS_CANCELLED,     /* CANCELled before the request was sent (still resolving) */
};

/* How a connection ended, for the transactions waiting on it. */
struct wsip_flow_loss {
    enum wsip_ctrans_end how; /* FLOW_FAILED or TRANSPORT_ERR */
    const char *why;          /* static text */
    bool unreached;           /* it never came up: nothing sent on it arrived */
};

struct wsip_ctrans_ops {
    /* every provisional and final response (retransmitted finals: once) */
    void (*on_response)(struct wsip_ctrans *ct, struct wsip_msg *resp, void *arg);
    /* exactly once, last: how it ended */
    void (*on_end)(struct wsip_ctrans *ct, enum wsip_ctrans_end how, void *arg);
};

/* Room for a branch of wsip_txn_branch with a mark of up to 32 bytes. */
#define WSIP_TXN_BRANCH_MAX 80
/* Generates a branch that names this worker: "z9hG4bK-<worker>-<random>",
 * or "z9hG4bK-<worker>-<mark>-<random>" with a mark (letters and digits, what
 * the caller wants to read back from the Via: the proxy's loop hash). */
void wsip_txn_branch(struct wsip_worker *w, const char *mark, char *out, size_t cap);
/* Which worker a branch names, or -1 (not ours). */
int wsip_txn_branch_worker(struct wsip_str branch);

/* What the sender knows of the request bytes it hands over: the branch of
 * their top Via and the CSeq method. With it the transaction parses its
 * bytes only if it ever builds a CANCEL or an ACK from them; without it
 * (NULL) it parses them at once. */
struct wsip_ctrans_id {
    struct wsip_str branch;
    struct wsip_str method;
    enum wsip_method method_id;
};

/* Sends request bytes to target and runs the client state machine on the
 * current worker. The bytes are copied. NULL on failure (on_end is not
 * called then). */
struct wsip_ctrans *wsip_ctrans_send(const struct wsip_target *target, const void *req, size_t len,
                                     const struct wsip_ctrans_id *id,
                                     const struct wsip_ctrans_ops *ops, void *arg);
/* The same for a next hop named by a URI: its host is looked up (DNS, A and
 * AAAA, cached per worker) and the request goes to the first address that
 * can be used, over UDP or the worker's outgoing TCP/TLS connection (opened
 * as needed; a connection that never comes up makes it try the next
 * address). Timer B / F runs from now. Once this returns non-NULL, every
 * failure (DNS, connect, TLS) comes later through on_end as
 * WSIP_CTRANS_TRANSPORT_ERR, with wsip_ctrans_error saying why. */
struct wsip_ctrans *wsip_ctrans_send_hop(const struct wsip_hop *hop, const void *req, size_t len,
                                         const struct wsip_ctrans_id *id,
                                         const struct wsip_ctrans_ops *ops, void *arg);
/* Why the transaction ended without an answer ("connect to tcp
 * 127.0.0.1:5070: connection refused"), in buf; "" when it did not. */
const char *wsip_ctrans_error(const struct wsip_ctrans *ct, char *buf, size_t cap);
/* CANCEL for a pending INVITE (sec 9.1): sent now if a provisional response
 * arrived, else as soon as one does. extra: header lines (e.g. Reason). */
int wsip_ctrans_cancel(struct wsip_ctrans *ct, struct wsip_str extra);
/* The TU no longer wants callbacks (the transaction finishes on its own). */
void wsip_ctrans_detach(struct wsip_ctrans *ct);

#endif

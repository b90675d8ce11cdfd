/* Transaction table, matching (RFC 3261 sec 17.1.3, 17.2.3, 9.2) and the
 * four state machines (sec 17.1.1, 17.1.2, 17.2.1, 17.2.2). */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/random.h"
#include "base/fmt.h"
#include "core/core.h"
#include "txn/txn.h"
#include "wsip/log.h"

#define BRANCH_COOKIE "z9hG4bK"
#define KEY_MAX       512
#define TIMER_C_MS    (181u * 1000u) /* sec 16.6 step 11: more than 3 minutes */

/* ------------------------------------------------------------ the table */

enum txn_kind { TX_SERVER, TX_CLIENT };

enum txn_state {
    ST_TRYING,     /* non-INVITE server / client before a response */
    ST_CALLING,    /* INVITE client before a response */
    ST_PROCEEDING, /* a provisional response was sent / received */
    ST_COMPLETED,  /* a final response: absorbing retransmissions */
    ST_CONFIRMED,  /* INVITE server: the ACK came */
    ST_TERMINATED,
};

struct txn {
    struct txn *hnext; /* hash chain */
    struct wsip_txn_table *tab;
    struct wsip_worker *w;
    enum txn_kind kind;
    enum txn_state state;
    bool invite;
    bool reliable;
    bool in_table;
    uint8_t handles; /* open uv handles; freed when 0 after termination */
    char key[KEY_MAX];
    uint32_t hash;
    uv_timer_t retx; /* A, E, G */
    uv_timer_t life; /* B, D, F, H, I, J, K */
    unsigned retx_ms;
    struct wsip_msg *req; /* owned clone (server) / parse of the bytes sent (client) */
};

struct wsip_strans {
    struct txn t;
    struct wsip_target reply_to;
    char *top_via;         /* the top Via with received / rport, or NULL */
    bool borrowed;         /* t.req is the dispatcher's message: its bytes are not ours */
    struct wsip_sbuf last; /* last response sent, for retransmissions */
    unsigned last_status;
    bool cancelled;
    bool released;
    wsip_strans_cancel_fn on_cancel;
    void *cancel_arg;
};

/* A request for a next hop named by a URI: its addresses and which one is
 * in use. */
struct ct_hop {
    struct wsip_hop hop;
    struct wsip_resolve_wait wait; /* while the name is looked up */
    struct sockaddr_storage addrs[WSIP_RESOLVE_MAX];
    unsigned naddrs, cur;
    bool sent; /* handed to a transport */
    struct wsip_ctrans *ct;
};

struct wsip_ctrans {
    struct txn t;
    struct wsip_target target;
    struct wsip_sbuf bytes; /* the request as sent */
    const struct wsip_ctrans_ops *ops;
    void *arg;
    bool got_provisional;
    bool cancel_wanted;
    bool timer_c_fired;
    bool ended;
    uint8_t fail_how;     /* set: end that way on the next loop turn */
    const char *fail_why; /* static: why it ended without an answer */
    struct ct_hop *hop;   /* NULL: sent to a flow or an address */
    struct wsip_sbuf cancel_extra;
    unsigned final_status;
    /* on the table's list of client transactions sent over a flow */
    struct wsip_ctrans *fprev, *fnext;
    bool on_flows;
};

struct wsip_txn_table {
    struct txn **buckets;
    size_t nbuckets, count;
    /* client transactions whose target is a flow: what a closing
     * connection may fail, without a scan of the whole table */
    struct wsip_ctrans *flows;
    struct wsip_txn_stats stats;
    struct wsip_txn_timers timers;
};

static uint32_t hash_key(const char *k)
{
    uint32_t h = 2166136261u;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h;
}

static struct wsip_txn_table *table_of(struct wsip_worker *w)
{
    if (w->txn)
        return w->txn;
    struct wsip_txn_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->nbuckets = 1024;
    t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    t->timers.t1 = w->srv->opt.t1_ms ? w->srv->opt.t1_ms : 500;
    t->timers.t2 = w->srv->opt.t2_ms ? w->srv->opt.t2_ms : 4000;
    t->timers.t4 = w->srv->opt.t4_ms ? w->srv->opt.t4_ms : 5000;
    w->txn = t;
    return t;
}

void wsip_txn_table_free(struct wsip_txn_table *t)
{
    /* the worker's loop has closed every timer: what is left is memory */
    if (!t)
        return;
    free(t->buckets);
    free(t);
}

static void terminate(struct txn *x);
static void ct_end(struct wsip_ctrans *ct, enum wsip_ctrans_end how);

void wsip_txn_shutdown(struct wsip_worker *w)
{
    /* the worker is stopping: pending transactions end now, so their
     * timers do not hold the loop open */
    struct wsip_txn_table *tab = w->txn;
    if (!tab)
        return;
    for (size_t i = 0; i < tab->nbuckets; i++) {
        while (tab->buckets[i]) {
            struct txn *x = tab->buckets[i];
            if (x->kind == TX_CLIENT) {
                /* the TU frees what it keeps for the transaction, and
                 * answers nothing: the server side is going too */
                struct wsip_ctrans *ct = (struct wsip_ctrans *)x;
                ct_end(ct, WSIP_CTRANS_SHUTDOWN);
                ct->ops = NULL;
            }
            terminate(x); /* unlinks it */
        }
    }
}

void wsip_txn_stats(struct wsip_worker *w, struct wsip_txn_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (w->txn)
        *out = w->txn->stats;
}

static void table_grow(struct wsip_txn_table *tab)
{
    size_t n = tab->nbuckets * 2;
    struct txn **b = calloc(n, sizeof(*b));
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < tab->nbuckets; i++) {
        struct txn *x = tab->buckets[i];
        while (x) {
            struct txn *next = x->hnext;
            x->hnext = b[x->hash & (n - 1)];
            b[x->hash & (n - 1)] = x;
            x = next;
        }
    }
    free(tab->buckets);
    tab->buckets = b;
    tab->nbuckets = n;
}

static void table_add(struct wsip_txn_table *tab, struct txn *x)
{
    if (tab->count >= tab->nbuckets)
        table_grow(tab);
    x->hash = hash_key(x->key);
    struct txn **slot = &tab->buckets[x->hash & (tab->nbuckets - 1)];
    x->hnext = *slot;
    *slot = x;
    x->in_table = true;
    tab->count++;
    wsip_ctr_inc(x->kind == TX_SERVER ? &x->w->ctr.strans_open : &x->w->ctr.ctrans_open);
}

static void table_del(struct wsip_txn_table *tab, struct txn *x)
{
    if (!x->in_table)
        return;
    for (struct txn **pp = &tab->buckets[x->hash & (tab->nbuckets - 1)]; *pp; pp = &(*pp)->hnext)
        if (*pp == x) {
            *pp = x->hnext;
            break;
        }
    x->in_table = false;
    tab->count--;
    wsip_ctr_dec(x->kind == TX_SERVER ? &x->w->ctr.strans_open : &x->w->ctr.ctrans_open);
}

static struct txn *table_find(struct wsip_txn_table *tab, const char *key, enum txn_kind kind)
{
    uint32_t h = hash_key(key);
    for (struct txn *x = tab->buckets[h & (tab->nbuckets - 1)]; x; x = x->hnext)
        if (x->hash == h && x->kind == kind && strcmp(x->key, key) == 0)
            return x;
    return NULL;
}

/* ---------------------------------------------------------------- keys */

/* Server key (sec 17.2.3): branch + sent-by + method, where ACK counts as
 * INVITE; for RFC 2543 requests (no magic cookie) the identifying fields. */
static int server_key(struct wsip_msg *m, enum wsip_method method, char *out, size_t cap)
{
    const struct wsip_via *v = wsip_msg_top_via(m, NULL);
    const struct wsip_cseq *cs = wsip_msg_cseq(m, NULL);
    if (!v || !cs)
        return -1;
    if (method == WSIP_METHOD_ACK)
        method = WSIP_METHOD_INVITE;
    const char *mname = method == WSIP_METHOD_OTHER ? "" : wsip_method_name(method);
    struct wsip_fmt f;
    wsip_fmt_init(&f, out, cap);
    if (v->branch.len > 7 && memcmp(v->branch.p, BRANCH_COOKIE, 7) == 0) {
        wsip_fmt_cstr(&f, "3261|");
        wsip_fmt_str(&f, v->branch);
        wsip_fmt_char(&f, '|');
        wsip_fmt_str(&f, v->host);
        wsip_fmt_char(&f, ':');
        wsip_fmt_uint(&f, v->has_port ? v->port : 0);
    } else {
        const struct wsip_addr *from = wsip_msg_from(m, NULL);
        struct wsip_hdr *vh = wsip_msg_hdr(m, WSIP_HDR_VIA);
        /* sec 17.2.3 fallback; the ACK's To-tag is not compared (simplified) */
        wsip_fmt_cstr(&f, "2543|");
        wsip_fmt_str(&f, m->ruri_str);
        wsip_fmt_char(&f, '|');
        if (from)
            wsip_fmt_str(&f, from->tag);
        wsip_fmt_char(&f, '|');
        wsip_fmt_str(&f, wsip_msg_call_id(m));
        wsip_fmt_char(&f, '|');
        wsip_fmt_uint(&f, cs->num);
        wsip_fmt_char(&f, '|');
        wsip_fmt_str(&f, vh->value);
    }
    wsip_fmt_char(&f, '|');
    wsip_fmt_cstr(&f, mname);
    if (method == WSIP_METHOD_OTHER)
        wsip_fmt_str(&f, cs->method);
    return wsip_fmt_done(&f) > 0 ? 0 : -1;
}

/* Client key (sec 17.1.3): our branch + the CSeq method (a CANCEL shares
 * the INVITE's branch). */
static int client_key(struct wsip_str branch, struct wsip_str method, char *out, size_t cap)
{
    struct wsip_fmt f;
    wsip_fmt_init(&f, out, cap);
    wsip_fmt_cstr(&f, "c|");
    wsip_fmt_str(&f, branch);
    wsip_fmt_char(&f, '|');
    wsip_fmt_str(&f, method);
    return wsip_fmt_done(&f) > 0 ? 0 : -1;
}

void wsip_txn_branch(struct wsip_worker *w, const char *mark, char *out, size_t cap)
{
    uint64_t r = 0;
    if (wsip_random_bytes(&r, sizeof(r)) < 0)
        r = 0; /* the counter below still keeps it unique */
    static _Thread_local uint64_t counter;
    counter++;
    char rnd[17];
    wsip_hex64(r, rnd);
    struct wsip_fmt f;
    wsip_fmt_init(&f, out, cap);
    wsip_fmt_cstr(&f, BRANCH_COOKIE "-");
    wsip_fmt_uint(&f, w->id);
    wsip_fmt_char(&f, '-');
    if (mark) {
        wsip_fmt_cstr(&f, mark);
        wsip_fmt_char(&f, '-');
    }
    wsip_fmt_cstr(&f, rnd);
    wsip_fmt_hex(&f, counter & 0xffff);
}

int wsip_txn_branch_worker(struct wsip_str b)
{
    if (b.len < 10 || memcmp(b.p, BRANCH_COOKIE "-", 8) != 0)
        return -1;
    unsigned id = 0, digits = 0;
    for (size_t i = 8; i < b.len && b.p[i] != '-'; i++) {
        if (b.p[i] < '0' || b.p[i] > '9' || ++digits > 3)
            return -1;
        id = id * 10 + (unsigned)(b.p[i] - '0');
    }
    return digits ? (int)id : -1;
}

/* ------------------------------------------------------------- targets */

/* On the flow's owner, after a handed-over request: mark the connection, or
 * tell every worker the flow is gone (the request never left). */
static void flow_request_done(wsip_flow_token token, int status, void *arg)
{
    struct wsip_server *s = arg;
    struct wsip_worker *w = wsip_worker_self();
    if (status == 0 && w) {
        struct wsip_conn *c = wsip_conn_lookup(w, token);
        if (c)
            wsip_conn_mark_requests(c);
    } else if (status != 0) {
        struct wsip_flow_loss loss = {WSIP_CTRANS_FLOW_FAILED, "connection gone", false};
        wsip_txn_flow_closed(s, token, &loss);
    }
}

bool wsip_target_reliable(const struct wsip_target *t)
{
    return t->kind != WSIP_LISTEN_UDP;
}

/* Sends to t: down its flow, over UDP, or for a TCP/TLS address over the
 * worker's outgoing connection to it, whose certificate must show name
 * (TLS; NULL: the address). request: a client transaction's request, which
 * waits for an answer on the flow; only then must the flow's close reach
 * the transactions (responses and ACKs are sent and forgotten). */
static int target_send(struct wsip_worker *w, const struct wsip_target *t, const char *name,
                       const void *data, size_t len, bool request)
{
    struct iovec iov = {(void *)(uintptr_t)data, len};
    if (t->flow) {
        struct wsip_conn *c = wsip_conn_lookup(w, t->flow);
        if (c) {
            if (request)
                wsip_conn_mark_requests(c);
            return wsip_conn_send(c, &iov, 1);
        }
        if (wsip_flow_worker(t->flow) == w->id)
            return -1; /* ours and gone */
        /* the owner sends it; a flow already gone is reported back as a
         * flow failure by the owner's close broadcast or right here */
        return wsip_flow_send(w->srv, t->flow, data, len, request ? flow_request_done : NULL,
                              w->srv);
    }
    if (t->kind == WSIP_LISTEN_TCP || t->kind == WSIP_LISTEN_TLS) {
        const char *why;
        struct wsip_conn *c =
            wsip_conn_outgoing(w, t->kind, (const struct sockaddr *)&t->addr, name, &why);
        if (!c)
            return -1;
        if (request)
            wsip_conn_mark_requests(c);
        return wsip_conn_send(c, &iov, 1);
    }
    if (t->kind != WSIP_LISTEN_UDP)
        return -1; /* WS is reached only over a connection the peer opened */
    uv_udp_t *udp = t->udp ? t->udp : wsip_worker_udp(w, t->addr.ss_family);
    if (!udp)
        return -1;
    return wsip_udp_send(udp, (const struct sockaddr *)&t->addr, &iov, 1);
}

int wsip_target_send(struct wsip_worker *w, const struct wsip_target *t, const void *data,
                     size_t len)
{
    return target_send(w, t, NULL, data, len, false);
}

/* Bytes on their way to a hop whose name is being looked up. */
struct hop_send {
    struct wsip_resolve_wait wait; /* first: the callback gets its address */
    struct wsip_worker *w;
    struct wsip_hop hop;
    size_t len;
    char data[];
};

/* To the first address of addrs that takes the bytes. */
static int hop_send_to(struct wsip_worker *w, const struct wsip_hop *hop,
                       const struct sockaddr_storage *addrs, unsigned n, const void *data,
                       size_t len)
{
    for (unsigned i = 0; i < n; i++) {
        struct wsip_target t = {.kind = hop->kind, .addr = addrs[i]};
        wsip_addr_set_port(&t.addr, hop->port);
        if (t.kind == WSIP_LISTEN_UDP && !wsip_worker_udp(w, t.addr.ss_family))
            continue;
        if (target_send(w, &t, hop->numeric ? NULL : hop->host, data, len, false) == 0)
            return 0;
    }
    return -1;
}

static void hop_send_resolved(struct wsip_resolve_wait *rw, int status,
                              const struct sockaddr_storage *addrs, unsigned n)
{
    struct hop_send *hs = (struct hop_send *)(void *)rw;
    if (status == 0)
        hop_send_to(hs->w, &hs->hop, addrs, n, hs->data, hs->len);
    free(hs);
}

int wsip_hop_send(struct wsip_worker *w, const struct wsip_hop *hop, const void *data, size_t len)
{
    struct sockaddr_storage addrs[WSIP_RESOLVE_MAX];
    unsigned n = 0;
    if (hop->numeric) {
        if (wsip_hop_numeric_addr(hop, &addrs[0]) < 0)
            return -1;
        return hop_send_to(w, hop, addrs, 1, data, len);
    }
    struct hop_send *hs = malloc(sizeof(*hs) + len);
    if (!hs)
        return -1;
    hs->wait.done = hop_send_resolved;
    hs->w = w;
    hs->hop = *hop;
    hs->len = len;
    memcpy(hs->data, data, len);
    int rc = wsip_resolve(w, hop->host, &hs->wait, addrs, &n);
    if (rc == 1)
        return 0; /* hop_send_resolved sends and frees */
    free(hs);
    return rc == 0 ? hop_send_to(w, hop, addrs, n, data, len) : -1;
}

/* --------------------------------------------------------------- common */

static void txn_free(struct txn *x)
{
    if (x->kind == TX_SERVER) {
        struct wsip_strans *st = (struct wsip_strans *)x;
        wsip_sbuf_free(&st->last);
        free(st->top_via);
    } else {
        struct wsip_ctrans *ct = (struct wsip_ctrans *)x;
        wsip_sbuf_free(&ct->bytes);
        wsip_sbuf_free(&ct->cancel_extra);
        free(ct->hop);
    }
    wsip_msg_unref(x->req);
    free(x);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct txn *x = h->data;
    if (--x->handles == 0)
        txn_free(x);
}

static void flows_del(struct wsip_ctrans *ct)
{
    if (!ct->on_flows)
        return;
    if (ct->fprev)
        ct->fprev->fnext = ct->fnext;
    else
        ct->t.tab->flows = ct->fnext;
    if (ct->fnext)
        ct->fnext->fprev = ct->fprev;
    ct->fprev = ct->fnext = NULL;
    ct->on_flows = false;
}

/* Keeps ct on its table's list of client transactions sent over a flow
 * exactly while it has one, so a flow's close looks at those only. */
static void flows_sync(struct wsip_ctrans *ct)
{
    if (!ct->target.flow) {
        flows_del(ct);
        return;
    }
    if (ct->on_flows)
        return;
    struct wsip_txn_table *tab = ct->t.tab;
    ct->fprev = NULL;
    ct->fnext = tab->flows;
    if (tab->flows)
        tab->flows->fprev = ct;
    tab->flows = ct;
    ct->on_flows = true;
}

static void terminate(struct txn *x)
{
    if (x->state == ST_TERMINATED)
        return;
    x->state = ST_TERMINATED;
    table_del(x->tab, x);
    if (x->kind == TX_CLIENT) {
        flows_del((struct wsip_ctrans *)x);
        if (((struct wsip_ctrans *)x)->hop)
            wsip_resolve_cancel(&((struct wsip_ctrans *)x)->hop->wait);
    }
    uv_close((uv_handle_t *)&x->retx, on_handle_closed);
    uv_close((uv_handle_t *)&x->life, on_handle_closed);
}

static int txn_init(struct txn *x, struct wsip_worker *w, struct wsip_txn_table *tab,
                    enum txn_kind kind)
{
    x->w = w;
    x->tab = tab;
    x->kind = kind;
    uv_timer_init(&w->loop, &x->retx);
    uv_timer_init(&w->loop, &x->life);
    x->retx.data = x->life.data = x;
    x->handles = 2;
    return 0;
}

/* ------------------------------------------------------- server side */

static void st_send_last(struct wsip_strans *st)
{
    if (st->last.len)
        wsip_target_send(st->t.w, &st->reply_to, st->last.p, st->last.len);
}

static void st_timer_g(uv_timer_t *h)
{
    /* sec 17.2.1: retransmit the final response, doubling up to T2 */
    struct wsip_strans *st = h->data;
    st->t.tab->stats.retransmits++;
    st_send_last(st);
    st->t.retx_ms =
        st->t.retx_ms * 2 < st->t.tab->timers.t2 ? st->t.retx_ms * 2 : st->t.tab->timers.t2;
    uv_timer_start(&st->t.retx, st_timer_g, st->t.retx_ms, 0);
}

static void st_life(uv_timer_t *h)
{
    struct wsip_strans *st = h->data;
    if (st->t.state == ST_COMPLETED && st->t.invite)
        st->t.tab->stats.timeouts++; /* timer H: no ACK ever came */
    if (st->t.state == ST_TRYING || st->t.state == ST_PROCEEDING) {
        /* the TU never answered within the transaction's life */
        st->t.tab->stats.timeouts++;
    }
    terminate(&st->t);
}

static void reply_target(const struct wsip_source *src, struct wsip_msg *req, struct wsip_target *t)
{
    memset(t, 0, sizeof(*t));
    t->kind = src->kind;
    if (src->kind != WSIP_LISTEN_UDP) {
        t->flow = src->flow;
        return;
    }
    wsip_source_reply_addr(src, wsip_msg_top_via(req, NULL), &t->addr);
    t->udp = src->udp;
}

static struct wsip_strans *st_new(const struct wsip_source *src, struct wsip_msg *m,
                                  const char *key, struct wsip_txn_table *tab)
{
    struct wsip_strans *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    /* the dispatcher's message, with the header parses it cached, until
     * wsip_txn_request_done: most requests are answered before that and
     * never need a copy */
    st->t.req = wsip_msg_ref(m);
    st->borrowed = true;
    txn_init(&st->t, src->worker, tab, TX_SERVER);
    size_t klen = strnlen(key, KEY_MAX - 1);
    memcpy(st->t.key, key, klen);
    st->t.key[klen] = '\0';
    st->t.invite = m->method_id == WSIP_METHOD_INVITE;
    st->t.reliable = src->kind != WSIP_LISTEN_UDP;
    st->t.state = st->t.invite ? ST_PROCEEDING : ST_TRYING;
    wsip_sbuf_init(&st->last);
    reply_target(src, m, &st->reply_to);
    char via[1024];
    struct wsip_str stamped = wsip_source_stamp_via(src, m, via, sizeof(via));
    if (stamped.len)
        st->top_via = strndup(stamped.p, stamped.len);
    table_add(tab, &st->t);
    tab->stats.strans++;
    /* a transaction the TU never answers still ends: 64*T1 (timer B's
     * length), the longest a client waits for it */
    uv_timer_start(&st->t.life, st_life, 64u * tab->timers.t1, 0);
    return st;
}

struct wsip_msg *wsip_strans_request(struct wsip_strans *st)
{
    return st->t.req;
}

bool wsip_strans_is_invite(const struct wsip_strans *st)
{
    return st->t.invite;
}

static bool final_sent(const struct txn *x)
{
    return x->state == ST_COMPLETED || x->state == ST_CONFIRMED || x->state == ST_TERMINATED;
}

void wsip_txn_request_done(struct wsip_strans *st)
{
    if (!st || !st->borrowed)
        return;
    st->borrowed = false;
    struct wsip_msg *m = st->t.req;
    /* answered: only the bytes of the last response are needed from now
     * on; else the TU answers later and the request must outlive the
     * receive buffer (unless its bytes are refcounted already) */
    if (final_sent(&st->t))
        st->t.req = NULL;
    else if (!m->buf)
        st->t.req = wsip_msg_clone(m);
    else
        return;
    wsip_msg_unref(m);
}

void wsip_strans_set_cancel(struct wsip_strans *st, wsip_strans_cancel_fn fn, void *arg)
{
    st->on_cancel = fn;
    st->cancel_arg = arg;
}

bool wsip_strans_cancelled(const struct wsip_strans *st)
{
    return st->cancelled;
}

void wsip_strans_keep(struct wsip_strans *st)
{
    /* the TU promises a final response (its own timers bound it) */
    if (st->t.state == ST_TRYING || st->t.state == ST_PROCEEDING)
        uv_timer_stop(&st->t.life);
}

void wsip_strans_release(struct wsip_strans *st)
{
    st->released = true;
    st->on_cancel = NULL;
}

/* A response went out: its class, and the calls it starts or ends. */
static void count_sent(struct wsip_strans *st, unsigned status)
{
    struct wsip_worker *w = st->t.w;
    wsip_count_response(w, status);
    if (status < 200 || status >= 300 || !st->t.req)
        return;
    if (st->t.invite) {
        /* an initial INVITE (no To tag): a re-INVITE starts nothing */
        const struct wsip_addr *to = wsip_msg_to(st->t.req, NULL);
        if (to && !to->has_tag)
            wsip_ctr_inc(&w->ctr.calls_answered);
    } else if (st->t.req->method_id == WSIP_METHOD_BYE) {
        wsip_ctr_inc(&w->ctr.calls_ended);
    }
}

static int send_last(struct wsip_strans *st, unsigned status);

int wsip_strans_send_response(struct wsip_strans *st, unsigned status, const void *data, size_t len)
{
    if (final_sent(&st->t))
        return -1; /* a final response went out already */
    st->last.len = 0;
    wsip_sbuf_append(&st->last, data, len);
    if (st->last.oom)
        return -1;
    return send_last(st, status);
}

/* Sends st->last, the response just made, and moves the state machine. */
static int send_last(struct wsip_strans *st, unsigned status)
{
    struct txn *x = &st->t;
    st->last_status = status;
    int rc = wsip_target_send(x->w, &st->reply_to, st->last.p, st->last.len);
    if (rc == 0)
        count_sent(st, status);
    const struct wsip_txn_timers *tm = &x->tab->timers;
    if (status < 200) {
        x->state = ST_PROCEEDING;
        return rc;
    }
    uv_timer_stop(&x->life);
    if (x->invite) {
        if (status < 300) {
            /* sec 17.2.1 (RFC 6026 aside): 2xx ends the transaction; the
             * TU, not the transaction, makes it reliable */
            terminate(x);
            return rc;
        }
        x->state = ST_COMPLETED;
        if (!x->reliable) {
            x->retx_ms = tm->t1;
            uv_timer_start(&x->retx, st_timer_g, x->retx_ms, 0);
        }
        uv_timer_start(&x->life, st_life, 64u * tm->t1, 0); /* timer H */
        return rc;
    }
    x->state = ST_COMPLETED;
    /* timer J: 64*T1 on UDP to absorb retransmissions, 0 on streams */
    uv_timer_start(&x->life, st_life, x->reliable ? 0 : 64u * tm->t1, 0);
    return rc;
}

int wsip_strans_reply(struct wsip_strans *st, unsigned status, const char *reason,
                      struct wsip_str extra, struct wsip_str body)
{
    if (final_sent(&st->t) || !st->t.req)
        return -1; /* nothing more to say (and the request may be gone) */
    char tag[24];
    wsip_random_tag(tag, sizeof(tag));
    /* built behind the last response, which retransmissions still need
     * if this one fails, then moved to its place: no second buffer */
    struct wsip_sbuf *out = &st->last;
    size_t prev = out->len;
    wsip_sbuf_reserve(out, 512 + extra.len + body.len);
    int rc = wsip_response_build_via(out, st->t.req, status, reason, wsip_str_cstr(tag),
                                     wsip_str_cstr(st->top_via), extra, body);
    if (rc < 0 || out->oom) {
        out->len = out->oom ? 0 : prev;
        return -1;
    }
    if (prev) {
        memmove(out->p, out->p + prev, out->len - prev);
        out->len -= prev;
        out->p[out->len] = '\0';
    }
    return send_last(st, status);
}

/* A CANCEL (sec 9.2): matched against the INVITE server transaction with
 * the same key; answered 200 when it matches, 481 when not. */
static void handle_cancel(struct wsip_txn_table *tab, struct wsip_strans *cancel_st,
                          struct wsip_msg *m)
{
    char key[KEY_MAX];
    struct wsip_strans *inv = NULL;
    if (server_key(m, WSIP_METHOD_INVITE, key, sizeof(key)) == 0)
        inv = (struct wsip_strans *)table_find(tab, key, TX_SERVER);
    if (!inv || !inv->t.invite || inv->t.state != ST_PROCEEDING) {
        wsip_strans_reply(cancel_st, 481, NULL, WSIP_STR_NULL, WSIP_STR_NULL);
        return;
    }
    wsip_strans_reply(cancel_st, 200, NULL, WSIP_STR_NULL, WSIP_STR_NULL);
    inv->cancelled = true;
    if (inv->on_cancel)
        inv->on_cancel(inv, inv->cancel_arg);
    else
        wsip_strans_reply(inv, 487, NULL, WSIP_STR_NULL, WSIP_STR_NULL);
}

int wsip_txn_on_request(const struct wsip_source *src, struct wsip_msg *m, struct wsip_strans **stp)
{
    *stp = NULL;
    struct wsip_txn_table *tab = table_of(src->worker);
    char key[KEY_MAX];
    if (!tab || server_key(m, m->method_id, key, sizeof(key)) < 0)
        return m->method_id == WSIP_METHOD_ACK ? 1 : 0;
    struct wsip_strans *st = (struct wsip_strans *)table_find(tab, key, TX_SERVER);
    if (st) {
        if (m->method_id == WSIP_METHOD_ACK) {
            /* sec 17.2.1: the ACK for a non-2xx ends the retransmissions */
            if (st->t.state == ST_COMPLETED) {
                st->t.state = ST_CONFIRMED;
                uv_timer_stop(&st->t.retx);
                uv_timer_stop(&st->t.life);
                /* timer I: T4 on UDP, 0 on streams */
                uv_timer_start(&st->t.life, st_life, st->t.reliable ? 0 : tab->timers.t4, 0);
            }
            return 1;
        }
        /* a retransmitted request: repeat the last response */
        tab->stats.absorbed++;
        st_send_last(st);
        return 1;
    }
    if (m->method_id == WSIP_METHOD_ACK)
        return 0; /* an ACK for a 2xx: end to end, the TU routes it */
    st = st_new(src, m, key, tab);
    if (!st)
        return 0;
    if (m->method_id == WSIP_METHOD_CANCEL) {
        handle_cancel(tab, st, m);
        wsip_txn_request_done(st);
        return 1;
    }
    *stp = st;
    return 0;
}

/* ------------------------------------------------------- client side */

static void ct_end(struct wsip_ctrans *ct, enum wsip_ctrans_end how)
{
    if (ct->ended)
        return;
    ct->ended = true;
    if (ct->ops && ct->ops->on_end)
        ct->ops->on_end(ct, how, ct->arg);
}

static void ct_life(uv_timer_t *h)
{
    struct wsip_ctrans *ct = h->data;
    if (ct->fail_how) {
        /* a failure noted while the TU was busy creating the transaction
         * (or a lookup was answering): reported from a loop turn of its own */
        ct_end(ct, (enum wsip_ctrans_end)ct->fail_how);
        terminate(&ct->t);
        return;
    }
    if (ct->t.invite && ct->t.state == ST_PROCEEDING && !ct->timer_c_fired) {
        /* timer C: the branch rang too long; CANCEL it and give the 487
         * 64*T1 to arrive */
        ct->timer_c_fired = true;
        if (!ct->cancel_wanted)
            wsip_ctrans_cancel(ct, wsip_str_cstr("Reason: SIP;cause=408;text=\"Timer C\"\r\n"));
        uv_timer_start(&ct->t.life, ct_life, 64u * ct->t.tab->timers.t1, 0);
        return;
    }
    if (ct->t.state == ST_CALLING || ct->t.state == ST_TRYING || ct->t.state == ST_PROCEEDING) {
        /* timer B / F: no final response (sec 17.1.1.2, 17.1.2.2) */
        ct->t.tab->stats.timeouts++;
        ct_end(ct, WSIP_CTRANS_TIMEOUT);
    }
    terminate(&ct->t);
}

static void ct_retx(uv_timer_t *h)
{
    struct wsip_ctrans *ct = h->data;
    const struct wsip_txn_timers *tm = &ct->t.tab->timers;
    ct->t.tab->stats.retransmits++;
    const char *name = ct->hop && !ct->hop->hop.numeric ? ct->hop->hop.host : NULL;
    target_send(ct->t.w, &ct->target, name, ct->bytes.p, ct->bytes.len, true);
    /* timer A doubles without bound; timer E doubles up to T2, and stays at
     * T2 once a provisional response came (sec 17.1.2.2) */
    if (ct->t.invite)
        ct->t.retx_ms *= 2;
    else if (ct->t.state == ST_PROCEEDING)
        ct->t.retx_ms = tm->t2;
    else
        ct->t.retx_ms = ct->t.retx_ms * 2 < tm->t2 ? ct->t.retx_ms * 2 : tm->t2;
    uv_timer_start(&ct->t.retx, ct_retx, ct->t.retx_ms, 0);
}

/* A client transaction for request bytes, in the table, nothing sent, no
 * timer running. NULL when the bytes are not a request with a branch of
 * their own. */
/* The client transaction's request, parsed from its bytes on first use. */
static struct wsip_msg *ct_req(struct wsip_ctrans *ct)
{
    if (ct->t.req)
        return ct->t.req;
    struct wsip_sip_err err;
    size_t used;
    struct wsip_sip_limits lim;
    wsip_sip_limits_default(&lim);
    lim.max_msg_size = ct->bytes.len + 1;
    struct wsip_msg *m;
    if (wsip_msg_parse(&m, NULL, ct->bytes.p, ct->bytes.len, WSIP_FRAMING_DATAGRAM, &lim, &used,
                       &err) != WSIP_PARSE_OK)
        return NULL;
    ct->t.req = m;
    return m;
}

static struct wsip_ctrans *ct_create(const void *req, size_t len, const struct wsip_ctrans_id *id,
                                     const struct wsip_ctrans_ops *ops, void *arg)
{
    struct wsip_worker *w = wsip_worker_self();
    struct wsip_txn_table *tab = w ? table_of(w) : NULL;
    if (!tab)
        return NULL;
    struct wsip_ctrans *ct = calloc(1, sizeof(*ct));
    if (!ct)
        return NULL;
    wsip_sbuf_init(&ct->bytes);
    wsip_sbuf_init(&ct->cancel_extra);
    wsip_sbuf_append(&ct->bytes, req, len);
    struct wsip_ctrans_id parsed;
    if (!ct->bytes.oom && !id) {
        /* nothing told: read branch and method from the bytes */
        struct wsip_msg *m = ct_req(ct);
        const struct wsip_via *v = m && m->is_request ? wsip_msg_top_via(m, NULL) : NULL;
        const struct wsip_cseq *cs = m ? wsip_msg_cseq(m, NULL) : NULL;
        if (v && cs) {
            parsed = (struct wsip_ctrans_id){v->branch, cs->method, cs->method_id};
            id = &parsed;
        }
    }
    char key[KEY_MAX];
    if (ct->bytes.oom || !id || client_key(id->branch, id->method, key, sizeof(key)) < 0 ||
        table_find(tab, key, TX_CLIENT)) {
        wsip_msg_unref(ct->t.req);
        wsip_sbuf_free(&ct->bytes);
        free(ct);
        return NULL;
    }
    txn_init(&ct->t, w, tab, TX_CLIENT);
    size_t klen = strnlen(key, KEY_MAX - 1);
    memcpy(ct->t.key, key, klen);
    ct->t.key[klen] = '\0';
    ct->ops = ops;
    ct->arg = arg;
    ct->t.invite = id->method_id == WSIP_METHOD_INVITE;
    ct->t.state = ct->t.invite ? ST_CALLING : ST_TRYING;
    table_add(tab, &ct->t);
    tab->stats.ctrans++;
    return ct;
}

/* Sends the request to ct->target and starts timer A / E on UDP. */
static int ct_transmit(struct wsip_ctrans *ct)
{
    const char *name = ct->hop && !ct->hop->hop.numeric ? ct->hop->hop.host : NULL;
    if (target_send(ct->t.w, &ct->target, name, ct->bytes.p, ct->bytes.len, true) < 0)
        return -1;
    if (!ct->t.reliable) {
        ct->t.retx_ms = ct->t.tab->timers.t1; /* timer A / E */
        uv_timer_start(&ct->t.retx, ct_retx, ct->t.retx_ms, 0);
    }
    return 0;
}

/* A TCP/TLS target named by its address: bound to the worker's connection
 * to it, so that the connection's end ends the transaction. */
static int ct_bind_connection(struct wsip_ctrans *ct, const char *name, const char **why)
{
    struct wsip_target *t = &ct->target;
    if (t->flow || t->kind == WSIP_LISTEN_UDP)
        return 0;
    struct wsip_conn *c =
        wsip_conn_outgoing(ct->t.w, t->kind, (const struct sockaddr *)&t->addr, name, why);
    if (!c)
        return -1;
    t->flow = wsip_conn_flow(c);
    flows_sync(ct);
    return 0;
}

struct wsip_ctrans *wsip_ctrans_send(const struct wsip_target *target, const void *req, size_t len,
                                     const struct wsip_ctrans_id *id,
                                     const struct wsip_ctrans_ops *ops, void *arg)
{
    struct wsip_ctrans *ct = ct_create(req, len, id, ops, arg);
    if (!ct)
        return NULL;
    ct->target = *target;
    flows_sync(ct);
    ct->t.reliable = wsip_target_reliable(target);
    const char *why;
    if (ct_bind_connection(ct, NULL, &why) < 0 || ct_transmit(ct) < 0) {
        /* sec 17.1.4: the request could not be sent; the caller learns it
         * from the NULL, no callback runs */
        ct->ops = NULL;
        ct->ended = true;
        terminate(&ct->t);
        return NULL;
    }
    uv_timer_start(&ct->t.life, ct_life, 64u * ct->t.tab->timers.t1, 0); /* timer B / F */
    return ct;
}

/* Ends the transaction on the next loop turn: the caller may be in the
 * middle of creating it, or of a lookup's answer. */
static void ct_fail_soon(struct wsip_ctrans *ct, enum wsip_ctrans_end how, const char *why)
{
    if (ct->fail_how || ct->ended || ct->t.state == ST_TERMINATED)
        return;
    ct->fail_how = (uint8_t)how;
    ct->fail_why = why;
    if (ct->hop)
        wsip_resolve_cancel(&ct->hop->wait);
    uv_timer_stop(&ct->t.retx);
    uv_timer_start(&ct->t.life, ct_life, 0, 0);
}

/* Sends to the hop's current address, or the next one that can be used. */
static void ct_dial(struct wsip_ctrans *ct)
{
    struct ct_hop *h = ct->hop;
    struct wsip_worker *w = ct->t.w;
    const char *why = "no address that can be used";
    for (; h->cur < h->naddrs; h->cur++) {
        struct wsip_target t = {.kind = h->hop.kind, .addr = h->addrs[h->cur]};
        wsip_addr_set_port(&t.addr, h->hop.port);
        if (t.kind == WSIP_LISTEN_UDP && !wsip_worker_udp(w, t.addr.ss_family)) {
            why = "no UDP listener of that address family";
            continue;
        }
        ct->target = t;
        flows_sync(ct);
        if (ct_bind_connection(ct, h->hop.numeric ? NULL : h->hop.host, &why) < 0)
            continue;
        if (ct_transmit(ct) == 0) {
            h->sent = true;
            return;
        }
        why = "send failed";
    }
    if (h->naddrs)
        h->cur = h->naddrs - 1; /* the error names the last address tried */
    ct_fail_soon(ct, WSIP_CTRANS_TRANSPORT_ERR, why);
}

static void on_hop_resolved(struct wsip_resolve_wait *rw, int status,
                            const struct sockaddr_storage *addrs, unsigned n)
{
    struct ct_hop *h = (struct ct_hop *)(void *)((char *)rw - offsetof(struct ct_hop, wait));
    if (status < 0) {
        ct_fail_soon(h->ct, WSIP_CTRANS_TRANSPORT_ERR, wsip_resolve_strerror(status));
        return;
    }
    memcpy(h->addrs, addrs, n * sizeof(addrs[0]));
    h->naddrs = n;
    h->cur = 0;
    ct_dial(h->ct);
}

struct wsip_ctrans *wsip_ctrans_send_hop(const struct wsip_hop *hop, const void *req, size_t len,
                                         const struct wsip_ctrans_id *id,
                                         const struct wsip_ctrans_ops *ops, void *arg)
{
    struct wsip_ctrans *ct = ct_create(req, len, id, ops, arg);
    if (!ct)
        return NULL;
    struct ct_hop *h = calloc(1, sizeof(*h));
    if (!h) {
        ct->ops = NULL;
        ct->ended = true;
        terminate(&ct->t);
        return NULL;
    }
    h->hop = *hop;
    h->ct = ct;
    h->wait.done = on_hop_resolved;
    ct->hop = h;
    ct->target.kind = hop->kind;
    ct->t.reliable = hop->kind != WSIP_LISTEN_UDP;
    /* timer B / F bounds the lookup and the connect too */
    uv_timer_start(&ct->t.life, ct_life, 64u * ct->t.tab->timers.t1, 0);
    if (hop->numeric) {
        if (wsip_hop_numeric_addr(hop, &h->addrs[0]) == 0)
            h->naddrs = 1;
        ct_dial(ct);
        return ct;
    }
    int rc = wsip_resolve(ct->t.w, hop->host, &h->wait, h->addrs, &h->naddrs);
    if (rc == 0)
        ct_dial(ct);
    else if (rc < 0)
        ct_fail_soon(ct, WSIP_CTRANS_TRANSPORT_ERR, wsip_resolve_strerror(rc));
    return ct; /* else the lookup answers later */
}

const char *wsip_ctrans_error(const struct wsip_ctrans *ct, char *buf, size_t cap)
{
    if (!ct->fail_why) {
        snprintf(buf, cap, "%s", "");
        return buf;
    }
    const struct ct_hop *h = ct->hop;
    const char *tp = wsip_listen_kind_name(ct->target.kind);
    if (h && h->naddrs == 0) {
        /* nothing to connect to: the name did not resolve */
        snprintf(buf, cap, "DNS lookup of %s failed: %s", h->hop.host, ct->fail_why);
    } else if (ct->target.addr.ss_family) {
        char addr[64];
        wsip_addr_str((const struct sockaddr *)&ct->target.addr, addr, sizeof(addr));
        snprintf(buf, cap, "%s to %s%s%s: %s", tp, addr, h && !h->hop.numeric ? " for " : "",
                 h && !h->hop.numeric ? h->hop.host : "", ct->fail_why);
    } else {
        snprintf(buf, cap, "%s: %s", tp, ct->fail_why);
    }
    return buf;
}

void wsip_ctrans_detach(struct wsip_ctrans *ct)
{
    ct->ops = NULL;
    ct->arg = NULL;
}

static void send_cancel(struct wsip_ctrans *ct)
{
    /* the CANCEL is a client transaction of its own, same branch */
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    struct wsip_msg *rq = ct_req(ct);
    if (rq && wsip_request_build_cancel(
                  &out, rq, wsip_str_make(ct->cancel_extra.p, ct->cancel_extra.len)) == 0)
        wsip_ctrans_send(&ct->target, out.p, out.len, NULL, NULL, NULL);
    wsip_sbuf_free(&out);
}

int wsip_ctrans_cancel(struct wsip_ctrans *ct, struct wsip_str extra)
{
    if (!ct->t.invite || ct->cancel_wanted || ct->t.state == ST_TERMINATED ||
        ct->t.state == ST_COMPLETED)
        return -1;
    ct->cancel_wanted = true;
    if (ct->hop && !ct->hop->sent) {
        /* nothing left yet (the name is being looked up): nothing to
         * cancel downstream, the branch just ends (sec 16.10: 487) */
        ct_fail_soon(ct, WSIP_CTRANS_CANCELLED, "cancelled before it was sent");
        return 0;
    }
    wsip_sbuf_append(&ct->cancel_extra, extra.p, extra.len);
    /* sec 9.1: not before a provisional response */
    if (ct->got_provisional)
        send_cancel(ct);
    return 0;
}

static void ct_response(struct wsip_ctrans *ct, struct wsip_msg *m)
{
    struct txn *x = &ct->t;
    const struct wsip_txn_timers *tm = &x->tab->timers;
    unsigned status = m->status;
    if (x->state == ST_COMPLETED || x->state == ST_TERMINATED) {
        /* a retransmitted final response: for INVITE, ACK again */
        if (x->invite && status >= 300 && x->state == ST_COMPLETED) {
            struct wsip_sbuf ack;
            wsip_sbuf_init(&ack);
            struct wsip_msg *rq = ct_req(ct);
            if (rq && wsip_request_build_ack(&ack, rq, m) == 0)
                wsip_target_send(x->w, &ct->target, ack.p, ack.len);
            wsip_sbuf_free(&ack);
        }
        return;
    }
    if (status < 200) {
        if (x->state == ST_CALLING || x->state == ST_TRYING) {
            x->state = ST_PROCEEDING;
            if (x->invite) {
                /* timers A and B apply to Calling only (sec 17.1.1.2); a
                 * ringing branch is bounded by timer C instead (sec 16.6
                 * step 11: more than 3 minutes, then CANCEL) */
                uv_timer_stop(&x->retx);
                uv_timer_stop(&x->life);
                uv_timer_start(&x->life, ct_life, TIMER_C_MS, 0);
            }
        }
        if (!ct->got_provisional) {
            ct->got_provisional = true;
            if (ct->cancel_wanted)
                send_cancel(ct);
        }
        if (ct->ops && ct->ops->on_response)
            ct->ops->on_response(ct, m, ct->arg);
        return;
    }
    ct->final_status = status;
    uv_timer_stop(&x->retx);
    uv_timer_stop(&x->life);
    if (ct->ops && ct->ops->on_response)
        ct->ops->on_response(ct, m, ct->arg);
    ct_end(ct, WSIP_CTRANS_DONE);
    if (x->invite && status < 300) {
        terminate(x); /* 2xx: the TU acknowledges end to end */
        return;
    }
    x->state = ST_COMPLETED;
    if (x->invite) {
        struct wsip_sbuf ack;
        wsip_sbuf_init(&ack);
        struct wsip_msg *rq = ct_req(ct);
        if (rq && wsip_request_build_ack(&ack, rq, m) == 0)
            wsip_target_send(x->w, &ct->target, ack.p, ack.len);
        wsip_sbuf_free(&ack);
        /* timer D: 32 s on UDP so retransmitted finals get their ACK (a
         * shortened T1 in tests shortens it too), 0 on streams */
        unsigned timer_d = 64u * tm->t1 < 32000u ? 64u * tm->t1 : 32000u;
        uv_timer_start(&x->life, ct_life, x->reliable ? 0 : timer_d, 0);
    } else {
        uv_timer_start(&x->life, ct_life, x->reliable ? 0 : tm->t4, 0); /* timer K */
    }
}

/* --------------------------------------------------------- flow failure */

/* A next hop whose connection never came up tries its next address
 * (RFC 3263 sec 4.3); false when there is none. */
static bool ct_try_next_address(struct wsip_ctrans *ct, const struct wsip_flow_loss *loss)
{
    struct ct_hop *h = ct->hop;
    if (!loss->unreached || !h || h->cur + 1 >= h->naddrs || ct->got_provisional)
        return false;
    h->cur++;
    ct->target.flow = 0;
    flows_sync(ct);
    ct_dial(ct);
    return true;
}

static void flow_closed_here(struct wsip_worker *w, wsip_flow_token flow,
                             const struct wsip_flow_loss *loss)
{
    struct wsip_txn_table *tab = w->txn;
    if (!tab)
        return;
    /* collect first: ending one transaction runs the TU, which may end or
     * start others (CANCELs) or dial a next address; terminated ones stay
     * allocated until their handles close, after this returns */
    size_t n = 0, cap = 0;
    struct wsip_ctrans **hit = NULL;
    for (struct wsip_ctrans *ct = tab->flows; ct; ct = ct->fnext) {
        if (ct->target.flow != flow)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct wsip_ctrans **m = realloc(hit, nc * sizeof(*m));
            if (!m)
                break; /* the rest time out (timer B / F) instead */
            hit = m;
            cap = nc;
        }
        hit[n++] = ct;
    }
    for (size_t i = 0; i < n; i++) {
        struct wsip_ctrans *ct = hit[i];
        struct txn *x = &ct->t;
        if (!ct->fail_how &&
            (x->state == ST_CALLING || x->state == ST_TRYING || x->state == ST_PROCEEDING) &&
            !ct_try_next_address(ct, loss)) {
            ct->fail_why = loss->why;
            ct_end(ct, loss->how);
            terminate(x);
        }
    }
    free(hit);
}

struct flow_task {
    struct wsip_task task;
    wsip_flow_token flow;
    struct wsip_flow_loss loss;
};

static void flow_closed_task(struct wsip_worker *w, struct wsip_task *t)
{
    struct flow_task *ft = (struct flow_task *)t;
    flow_closed_here(w, ft->flow, &ft->loss);
    free(ft);
}

void wsip_txn_flow_closed(struct wsip_server *s, wsip_flow_token flow,
                          const struct wsip_flow_loss *loss)
{
    struct wsip_worker *self = wsip_worker_self();
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct wsip_worker *w = &s->workers[i];
        if (w == self) {
            flow_closed_here(w, flow, loss);
            continue;
        }
        struct flow_task *ft = malloc(sizeof(*ft));
        if (!ft)
            continue;
        ft->task.fn = flow_closed_task;
        ft->flow = flow;
        ft->loss = *loss;
        if (wsip_worker_post(w, &ft->task) < 0)
            free(ft);
    }
}

/* A response handed over from the worker it arrived on. */
struct response_task {
    struct wsip_task task;
    struct wsip_source src;
    struct wsip_msg *m; /* a clone */
};

static void response_on_owner(struct wsip_worker *w, struct wsip_task *t)
{
    struct response_task *rt = (struct response_task *)t;
    rt->src.worker = w;
    rt->src.conn = NULL;
    rt->src.udp = NULL;
    /* not (or no longer) a transaction's: a retransmitted 2xx goes up by
     * its Via, as on the worker it arrived on */
    if (wsip_txn_on_response(&rt->src, rt->m) == 0 && w->srv->core)
        wsip_proxy_response_stateless(&rt->src, rt->m);
    wsip_msg_unref(rt->m);
    free(rt);
}

int wsip_txn_on_response(const struct wsip_source *src, struct wsip_msg *m)
{
    struct wsip_worker *w = src->worker;
    const struct wsip_via *v = wsip_msg_top_via(m, NULL);
    const struct wsip_cseq *cs = wsip_msg_cseq(m, NULL);
    if (!v || !cs)
        return 0;
    int owner = wsip_txn_branch_worker(v->branch);
    if (owner < 0) {
        struct wsip_txn_table *tab = table_of(w);
        if (tab)
            tab->stats.unmatched++;
        return 0;
    }
    if ((unsigned)owner != w->id) {
        if ((unsigned)owner >= w->srv->nworkers)
            return 0;
        struct response_task *rt = calloc(1, sizeof(*rt));
        if (!rt)
            return 0;
        rt->m = wsip_msg_clone(m);
        rt->src = *src;
        rt->task.fn = response_on_owner;
        if (!rt->m || wsip_worker_post(&w->srv->workers[owner], &rt->task) < 0) {
            wsip_msg_unref(rt->m);
            free(rt);
            return 0;
        }
        struct wsip_txn_table *tab = table_of(w);
        if (tab)
            tab->stats.handed_over++;
        return 1;
    }
    struct wsip_txn_table *tab = table_of(w);
    char key[KEY_MAX];
    if (!tab || client_key(v->branch, cs->method, key, sizeof(key)) < 0)
        return 0;
    struct wsip_ctrans *ct = (struct wsip_ctrans *)table_find(tab, key, TX_CLIENT);
    if (!ct) {
        tab->stats.unmatched++;
        return 0;
    }
    ct_response(ct, m);
    return 1;
}

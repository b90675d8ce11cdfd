/* Worker threads: one libuv loop each, a hand-off queue woken by uv_async,
 * and the connection table that gives flow tokens their meaning. */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "transport/transport.h"
#include "core/core.h"
#include "txn/txn.h"
#include "wsip/log.h"

#define SLOTS_INITIAL 1024

static _Thread_local struct wsip_worker *current_worker;

void wsip__udp_close(uv_handle_t *h);

struct wsip_worker *wsip_worker_self(void)
{
    return current_worker;
}

/* ------------------------------------------------------------ hand-off */

static void run_queue(uv_async_t *a)
{
    struct wsip_worker *w = a->data;
    pthread_mutex_lock(&w->qlock);
    struct wsip_task *t = w->qhead;
    w->qhead = w->qtail = NULL;
    pthread_mutex_unlock(&w->qlock);
    while (t) {
        struct wsip_task *next = t->next;
        t->fn(w, t);
        t = next;
    }
}

int wsip_worker_post(struct wsip_worker *w, struct wsip_task *t)
{
    t->next = NULL;
    pthread_mutex_lock(&w->qlock);
    if (w->closed) {
        pthread_mutex_unlock(&w->qlock);
        return -1;
    }
    if (w->qtail)
        w->qtail->next = t;
    else
        w->qhead = t;
    w->qtail = t;
    pthread_mutex_unlock(&w->qlock);
    uv_async_send(&w->wake);
    return 0;
}

/* ---------------------------------------------------------- flow table */

static int slots_grow(struct wsip_worker *w)
{
    uint32_t n = w->nslots ? w->nslots * 2 : SLOTS_INITIAL;
    if (n > 0xffffff)
        return -1; /* the token has 24 bits for the slot */
    struct wsip_slot *s = realloc(w->slots, n * sizeof(*s));
    if (!s)
        return -1;
    for (uint32_t i = w->nslots; i < n; i++) {
        s[i].conn = NULL;
        s[i].gen = 1;
        s[i].next_free = i + 1 < n ? i + 1 : UINT32_MAX;
    }
    w->free_head = w->nslots;
    w->slots = s;
    w->nslots = n;
    return 0;
}

int wsip__slot_alloc(struct wsip_worker *w, struct wsip_conn *c, uint32_t *slot, uint32_t *gen);
void wsip__slot_free(struct wsip_worker *w, uint32_t slot);

int wsip__slot_alloc(struct wsip_worker *w, struct wsip_conn *c, uint32_t *slot, uint32_t *gen)
{
    if (w->free_head == UINT32_MAX && slots_grow(w) < 0)
        return -1;
    uint32_t i = w->free_head;
    w->free_head = w->slots[i].next_free;
    w->slots[i].conn = c;
    *slot = i;
    *gen = w->slots[i].gen;
    return 0;
}

void wsip__slot_free(struct wsip_worker *w, uint32_t slot)
{
    struct wsip_slot *s = &w->slots[slot];
    s->conn = NULL;
    /* a new generation: tokens naming the old connection are now stale */
    if (++s->gen == 0)
        s->gen = 1;
    s->next_free = w->free_head;
    w->free_head = slot;
}

struct wsip_conn *wsip_conn_lookup(struct wsip_worker *w, wsip_flow_token t)
{
    uint32_t slot = wsip_flow_slot(t);
    if (wsip_flow_worker(t) != w->id || slot >= w->nslots)
        return NULL;
    struct wsip_slot *s = &w->slots[slot];
    return s->conn && s->gen == wsip_flow_gen(t) ? s->conn : NULL;
}

/* --------------------------------------------------------- flow send */

struct send_task {
    struct wsip_task task;
    wsip_flow_token token;
    wsip_flow_done_fn done;
    void *arg;
    size_t len;
    bool handed; /* came through the owner's queue */
    char data[];
};

static void send_on_owner(struct wsip_worker *w, struct wsip_task *t)
{
    struct send_task *st = (struct send_task *)t;
    struct wsip_conn *c = wsip_conn_lookup(w, st->token);
    int status = -1;
    if (c) {
        struct iovec iov = {st->data, st->len};
        status = wsip_conn_send(c, &iov, 1);
    } else {
        wsip_ctr_inc(&w->ctr.stale_flows);
    }
    if (st->handed)
        wsip_ctr_inc(&w->ctr.handoffs);
    if (st->done)
        st->done(st->token, status, st->arg);
    free(st);
}

int wsip_flow_send(struct wsip_server *s, wsip_flow_token token, const void *data, size_t len,
                   wsip_flow_done_fn done, void *arg)
{
    unsigned wid = wsip_flow_worker(token);
    if (wid >= s->nworkers)
        return -1;
    struct wsip_worker *owner = &s->workers[wid];
    struct send_task *st = malloc(sizeof(*st) + len);
    if (!st)
        return -1;
    st->task.fn = send_on_owner;
    st->token = token;
    st->done = done;
    st->arg = arg;
    st->len = len;
    st->handed = false;
    memcpy(st->data, data, len);
    if (owner == wsip_worker_self()) {
        send_on_owner(owner, &st->task);
        return 0;
    }
    st->handed = true;
    if (wsip_worker_post(owner, &st->task) < 0) {
        free(st);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ lifecycle */

int wsip__worker_init(struct wsip_worker *w, struct wsip_server *s, unsigned id);
void wsip__worker_free(struct wsip_worker *w);
int wsip__worker_start(struct wsip_worker *w);
void wsip__worker_begin_shutdown(struct wsip_worker *w);

int wsip__worker_init(struct wsip_worker *w, struct wsip_server *s, unsigned id)
{
    memset(w, 0, sizeof(*w));
    w->srv = s;
    w->id = id;
    w->free_head = UINT32_MAX;
    if (uv_loop_init(&w->loop) != 0)
        return -1;
    w->loop.data = w;
    pthread_mutex_init(&w->qlock, NULL);
    if (uv_async_init(&w->loop, &w->wake, run_queue) != 0)
        return -1;
    w->wake.data = w;
    if (slots_grow(w) < 0)
        return -1;
    uv_timer_init(&w->loop, &w->trim_timer);
    w->trim_timer.data = w;
    uv_unref((uv_handle_t *)&w->trim_timer);
    return 0;
}

/* Closes and TLS handshakes free a lot of short-lived memory (an OpenSSL
 * server handshake allocates some 60 KB and keeps 15 KB); glibc keeps the
 * freed pages, also those between live objects. 500 idle WSS flows opened
 * 100 at a time held 22 KB of heap each without a trim, 18.5 KB after one. */
#define TRIM_AFTER_EVENTS 64
#define TRIM_DELAY_MS     500

static void trim_now(uv_timer_t *t)
{
    struct wsip_worker *w = t->data;
    w->events_since_trim = 0;
    malloc_trim(0);
}

void wsip_worker_note_heap_churn(struct wsip_worker *w)
{
    /* the timer restarts on every event: it fires when the burst is over */
    if (++w->events_since_trim >= TRIM_AFTER_EVENTS)
        uv_timer_start(&w->trim_timer, trim_now, TRIM_DELAY_MS, 0);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    /* the shutdown drain timer (data == the worker) is malloc'd: when the
     * loop ended before it fired, it is freed here */
    struct wsip_worker *w = arg;
    bool drain = h->type == UV_TIMER && h->data == w && h != (uv_handle_t *)&w->trim_timer;
    if (!uv_is_closing(h))
        uv_close(h, drain ? (uv_close_cb)free : NULL);
}

static void close_listeners(struct wsip_worker *w)
{
    for (unsigned i = 0; i < w->nlisteners; i++) {
        uv_handle_t *h = w->listeners[i];
        if (uv_is_closing(h))
            continue;
        if (h->type == UV_UDP)
            wsip__udp_close(h);
        else
            uv_close(h, (uv_close_cb)free);
    }
    w->nlisteners = 0;
}

void wsip__worker_free(struct wsip_worker *w)
{
    /* every handle left (a failed start) is closed before the loop goes */
    close_listeners(w);
    uv_walk(&w->loop, close_walk, w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    pthread_mutex_destroy(&w->qlock);
    free(w->slots);
    wsip_txn_table_free(w->txn);
    wsip_resolver_free(w);
    wsip_buf_unref(w->rxbuf);
    free(w->tls_scratch);
}

static void expire_tick(uv_timer_t *t)
{
    struct wsip_worker *w = t->data;
    wsip_location_expire(w->srv->core->loc, wsip_core_now());
}

static void worker_main(void *arg)
{
    struct wsip_worker *w = arg;
    current_worker = w;
    char tag[16];
    snprintf(tag, sizeof(tag), "w%u", w->id);
    wsip_log_set_thread_tag(tag);
    if (w->id == 0 && w->srv->core) {
        /* one worker sweeps expired bindings for everyone */
        uv_timer_init(&w->loop, &w->expire_timer);
        w->expire_timer.data = w;
        uv_timer_start(&w->expire_timer, expire_tick, 1000, 1000);
        w->expire_running = true;
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    /* late tasks find no connection (stale) and free themselves */
    pthread_mutex_lock(&w->qlock);
    w->closed = true;
    pthread_mutex_unlock(&w->qlock);
    run_queue(&w->wake);
    current_worker = NULL;
}

int wsip__worker_start(struct wsip_worker *w)
{
    return uv_thread_create(&w->thread, worker_main, w) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------- shutdown */

static void drain_timeout(uv_timer_t *t)
{
    struct wsip_worker *w = t->data;
    /* peers that did not finish their close handshake in time */
    wsip_worker_close_all(w, 0);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

static void shutdown_task(struct wsip_worker *w, struct wsip_task *t)
{
    free(t);
    close_listeners(w);
    wsip_txn_shutdown(w);
    wsip_resolver_shutdown(w);
    if (w->expire_running) {
        uv_close((uv_handle_t *)&w->expire_timer, NULL);
        w->expire_running = false;
    }
    /* WS peers get 1001 Going Away, streams a FIN after their queue */
    wsip_worker_close_all(w, 1001);
    uv_timer_t *timer = malloc(sizeof(*timer));
    if (timer) {
        uv_timer_init(&w->loop, timer);
        timer->data = w;
        uv_timer_start(timer, drain_timeout, w->srv->opt.shutdown_drain_ms, 0);
        uv_unref((uv_handle_t *)timer);
    }
    pthread_mutex_lock(&w->qlock);
    w->stopping = true;
    pthread_mutex_unlock(&w->qlock);
    /* the loop ends once the last connection is gone */
    uv_unref((uv_handle_t *)&w->wake);
}

void wsip__worker_begin_shutdown(struct wsip_worker *w)
{
    struct wsip_task *t = malloc(sizeof(*t));
    if (!t)
        return;
    t->fn = shutdown_task;
    wsip_worker_post(w, t);
}

uv_udp_t *wsip_worker_udp(struct wsip_worker *w, int family)
{
    for (unsigned i = 0; i < w->nlisteners; i++) {
        uv_handle_t *h = w->listeners[i];
        if (h->type != UV_UDP)
            continue;
        struct sockaddr_storage a;
        int len = sizeof(a);
        if (uv_udp_getsockname((uv_udp_t *)h, (struct sockaddr *)&a, &len) == 0 &&
            a.ss_family == family)
            return (uv_udp_t *)h;
    }
    return NULL;
}

/* A pool of client connections: opened under a rate and a concurrency limit
 * (a server's accept queue and handshake rate limit are what is measured, so
 * the client must be able to stay below them), each setup bounded by a
 * timeout and the whole setup by a deadline; then handed to the mode; at the
 * end closed gracefully, with a deadline. */
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

#define TICK_MS     10
#define SWEEP_NS    (100 * 1000000ull)
#define PROGRESS_NS (1000 * 1000000ull)

static void check_ready(struct bench_pool *p);

static void pump(struct bench_pool *p)
{
    const struct bench_opts *o = p->opt;
    uint64_t now = bench_now();
    while (p->phase == BPH_SETUP && p->next < p->n && p->inflight < o->setup_concurrency) {
        if (o->rate > 0) {
            double allowed = o->rate * (double)(now - p->t_begin) / 1e9 + 1;
            if ((double)p->next >= allowed)
                break;
        }
        struct bench_conn *c = &p->conns[p->next];
        c->pstate = BP_SETUP;
        p->inflight++;
        p->handles++;
        bench_conn_start(&p->cl, c, p->next);
        p->next++;
    }
}

static void check_closed(struct bench_pool *p)
{
    if (p->phase == BPH_CLOSING && p->handles == 0) {
        p->phase = BPH_DONE;
        p->hooks->closed_all(p);
    }
}

static void check_ready(struct bench_pool *p)
{
    if (p->phase != BPH_SETUP || p->next < p->n || p->inflight > 0)
        return;
    p->phase = BPH_RUN;
    p->t_ready = bench_now();
    p->hooks->ready(p);
}

void bench_pool_established(struct bench_pool *p, struct bench_conn *c)
{
    if (c->pstate != BP_SETUP)
        return;
    c->pstate = BP_UP;
    p->inflight--;
    p->established++;
    bench_hist_add(&p->setup, bench_now() - c->t_start);
    pump(p);
    check_ready(p);
}

void bench_pool_fail(struct bench_pool *p, struct bench_conn *c, const char *why)
{
    (void)p;
    bench_conn_abort(c, why);
}

/* ------------------------------------------------------------ client events */

static void on_open(struct bench_conn *c)
{
    struct bench_pool *p = c->cl->owner;
    if (p->phase == BPH_CLOSING) {
        bench_conn_close(c);
        return;
    }
    if (p->hooks->opened(p, c))
        bench_pool_established(p, c);
}

static void on_sip(struct bench_conn *c, struct wsip_msg *m)
{
    struct bench_pool *p = c->cl->owner;
    p->hooks->sip(p, c, m);
}

static void on_conn_closed(struct bench_conn *c, const char *why)
{
    struct bench_pool *p = c->cl->owner;
    p->handles--;
    switch (c->pstate) {
    case BP_SETUP:
        p->inflight--;
        p->failed++;
        bench_reasons_add(&p->fail_why, why ? why : "closed during setup");
        c->pstate = BP_DOWN;
        pump(p);
        check_ready(p);
        break;
    case BP_UP:
        c->pstate = BP_DOWN;
        if (p->phase == BPH_CLOSING || p->phase == BPH_DONE) {
            if (why)
                bench_reasons_add(&p->close_why, why);
        } else {
            p->lost++;
            bench_reasons_add(&p->lost_why, why ? why : "closed");
            p->hooks->lost(p, c, why);
        }
        break;
    default: break;
    }
    check_closed(p);
}

static const struct bench_handler pool_handler = {
    .open = on_open,
    .sip = on_sip,
    .closed = on_conn_closed,
};

/* ------------------------------------------------------------------- timer */

static void on_tick(uv_timer_t *t)
{
    struct bench_pool *p = t->data;
    const struct bench_opts *o = p->opt;
    if (p->phase == BPH_SETUP)
        pump(p);
    /* after pump: connections it started must not look older than now */
    uint64_t now = bench_now();
    if (p->phase == BPH_SETUP) {
        if (now - p->last_sweep >= SWEEP_NS) {
            p->last_sweep = now;
            uint64_t limit = (uint64_t)(o->timeout_s * 1e9);
            for (unsigned i = 0; i < p->next; i++) {
                struct bench_conn *c = &p->conns[i];
                if (c->pstate == BP_SETUP && !c->handle_closing && now - c->t_start > limit)
                    bench_conn_abort(c, c->state == BC_CONNECTING ? "setup timeout: connect"
                                        : c->state == BC_TLS      ? "setup timeout: TLS"
                                        : c->state == BC_HTTP     ? "setup timeout: upgrade"
                                                                  : "setup timeout: answer");
            }
            if (p->hooks->setup_tick)
                p->hooks->setup_tick(p, now);
            if (p->next < p->n && now - p->t_begin > (uint64_t)(o->setup_max_s * 1e9)) {
                /* the deadline: whatever was not started stays unstarted */
                for (unsigned i = p->next; i < p->n; i++)
                    p->conns[i].pstate = BP_PENDING;
                p->not_started = p->n - p->next;
                p->next = p->n;
                check_ready(p);
            }
        }
        if (now - p->last_progress >= PROGRESS_NS && p->phase == BPH_SETUP) {
            p->last_progress = now;
            bench_progress(o, p->t_begin, "setup: %u/%u established, %u failed, %u in flight",
                           p->established, p->n, p->failed, p->inflight);
        }
        return;
    }
    if (p->phase == BPH_RUN) {
        if (now - p->last_sweep >= SWEEP_NS) {
            p->last_sweep = now;
            if (p->hooks->tick)
                p->hooks->tick(p, now);
        }
        return;
    }
    if (p->phase == BPH_CLOSING) {
        if (now >= p->close_deadline) {
            for (unsigned i = 0; i < p->n; i++) {
                struct bench_conn *c = &p->conns[i];
                if (c->state != BC_CLOSED && c->state != BC_IDLE && !c->handle_closing)
                    bench_conn_abort(c, "close timeout");
            }
        }
        check_closed(p);
    }
}

/* -------------------------------------------------------------------- API */

int bench_pool_init(struct bench_pool *p, uv_loop_t *loop, const struct bench_opts *o,
                    const struct bench_pool_hooks *hooks, void *mode, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    p->opt = o;
    p->hooks = hooks;
    p->mode = mode;
    p->n = o->connections;
    p->conns = calloc(p->n ? p->n : 1, sizeof(*p->conns));
    if (!p->conns) {
        snprintf(err, errlen, "out of memory for %u connections", p->n);
        return -1;
    }
    if (bench_client_init(&p->cl, loop, o, &pool_handler, p, err, errlen) < 0)
        return -1;
    uv_timer_init(loop, &p->tick);
    p->tick.data = p;
    return 0;
}

void bench_pool_start(struct bench_pool *p)
{
    p->phase = BPH_SETUP;
    p->t_begin = p->last_sweep = p->last_progress = bench_now();
    uv_timer_start(&p->tick, on_tick, TICK_MS, TICK_MS);
    pump(p);
    check_ready(p);
}

void bench_pool_close_all(struct bench_pool *p, double timeout_s)
{
    p->phase = BPH_CLOSING;
    p->t_close = bench_now();
    p->close_deadline = p->t_close + (uint64_t)(timeout_s * 1e9);
    for (unsigned i = 0; i < p->n; i++) {
        struct bench_conn *c = &p->conns[i];
        if (c->state == BC_CLOSED || c->state == BC_IDLE || c->handle_closing)
            continue;
        if (c->pstate == BP_UP)
            bench_conn_close(c);
        else
            bench_conn_abort(c, "closed before setup completed");
    }
    /* closed_all() runs from the tick or the last close, never from here */
}

void bench_pool_stop(struct bench_pool *p)
{
    if (!uv_is_closing((uv_handle_t *)&p->tick))
        uv_close((uv_handle_t *)&p->tick, NULL);
    bench_client_close(&p->cl);
}

void bench_pool_free(struct bench_pool *p)
{
    bench_client_free(&p->cl);
    free(p->conns);
    p->conns = NULL;
}

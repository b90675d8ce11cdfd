/* wsip bench churn: C workers, each repeating a cycle of what a browser tab
 * does when it opens and closes: connect (TCP, TLS, the WebSocket upgrade;
 * a new socket over UDP), REGISTER (answering the challenge with
 * --password), REGISTER with Expires 0, disconnect. Every cycle starts from
 * a fresh UA, as a reloaded page does: a new connection, Call-ID, instance
 * and challenge. Cycles per second and the failures by step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/sipmode.h"

#define CLOSE_TIMEOUT_NS (10 * 1000000000ull)

enum cstep { CS_IDLE = 0, CS_CONNECT, CS_REGISTER, CS_UNREGISTER, CS_CLOSE };

struct worker {
    uint8_t step;
    const char *why; /* first failure of the cycle (static), NULL while fine */
    uint64_t t_cycle;
};

struct churn {
    struct bench_opts *o;
    struct bench_client cl;
    struct bench_uactx cx;
    struct bench_conn *conns;
    struct bench_ua *ua;
    struct worker *w;
    unsigned n, active;
    struct bench_tally t;
    bool running, draining, reported;
    uint64_t t_end, t_deadline, t_progress, t_begin;
    uint64_t connect_fail, uas_unexpected;
    uv_timer_t tick;
};

static bool may_start(const struct churn *ch, uint64_t now)
{
    return ch->running && !ch->draining && ch->t.started < ch->o->requests && now < ch->t_end;
}

static void start_cycle(struct churn *ch, unsigned i, uint64_t now)
{
    struct worker *w = &ch->w[i];
    ch->t.started++;
    ch->active++;
    w->step = CS_CONNECT;
    w->why = NULL;
    w->t_cycle = now;
    bench_conn_start(&ch->cl, &ch->conns[i], i);
}

/* The cycle of worker i fails: why, and the connection goes. */
static void fail_cycle(struct churn *ch, unsigned i, const char *why, unsigned status)
{
    struct worker *w = &ch->w[i];
    if (!w->why) {
        w->why = why;
        if (status)
            bench_statuses_add(&ch->t.status, status);
    }
    bench_ua_done(&ch->ua[i]);
    bench_conn_abort(&ch->conns[i], why);
}

static void report_and_stop(struct churn *ch)
{
    if (ch->reported)
        return;
    ch->reported = true;
    struct bench_sipreport rp = {
        .unit = "cycles",
        .lat_what = "connect started to the disconnect done, both REGISTERs in between",
        .t = &ch->t,
        .cx = &ch->cx,
        .uas_unexpected = ch->uas_unexpected,
        .connect_fail = ch->connect_fail,
    };
    bench_sip_report(ch->o, &rp);
    uv_timer_stop(&ch->tick);
    uv_close((uv_handle_t *)&ch->tick, NULL);
    bench_client_close(&ch->cl);
}

static void maybe_finish(struct churn *ch, uint64_t now)
{
    if (!ch->running)
        return;
    if (!ch->draining && (ch->t.started >= ch->o->requests || now >= ch->t_end)) {
        ch->draining = true;
        ch->t.cpu1 = bench_self_cpu();
        ch->t.scpu1 = ch->o->pid > 0 ? bench_proc_cpu(ch->o->pid) : -1;
        ch->t_deadline = now + (uint64_t)(ch->o->timeout_s * 1e9) + CLOSE_TIMEOUT_NS;
        bench_progress(ch->o, ch->t_begin, "done starting: %llu cycles; waiting for %u",
                       (unsigned long long)ch->t.started, ch->active);
    }
    if (!ch->draining)
        return;
    if (ch->active > 0 && now >= ch->t_deadline) {
        for (unsigned i = 0; i < ch->n; i++) {
            if (ch->w[i].step != CS_IDLE && !ch->conns[i].handle_closing) {
                ch->t.timeouts++;
                fail_cycle(ch, i, "timeout", 0);
            }
        }
        return; /* the closes come back through on_closed */
    }
    if (ch->active == 0) {
        ch->running = false;
        report_and_stop(ch);
    }
}

/* ---------------------------------------------------------- client events */

static void on_open(struct bench_conn *c)
{
    struct churn *ch = c->cl->owner;
    struct bench_ua *ua = &ch->ua[c->idx];
    ch->w[c->idx].step = CS_REGISTER;
    bench_ua_init(ua, &ch->cx, c, c->idx);
    bench_ua_prepare_register(ua, ch->o->expires);
    if (bench_ua_send(ua, bench_now()) < 0)
        fail_cycle(ch, c->idx, "cannot send REGISTER", 0);
}

static const char *refused_why(enum cstep step, enum bench_ua_rc rc)
{
    if (rc == BUA_AUTH_FAILED)
        return "authentication failed";
    if (rc == BUA_NO_AUTH)
        return "challenge not answered";
    return step == CS_REGISTER ? "REGISTER refused" : "unREGISTER refused";
}

static void on_sip(struct bench_conn *c, struct wsip_msg *m)
{
    struct churn *ch = c->cl->owner;
    unsigned i = c->idx;
    struct bench_ua *ua = &ch->ua[i];
    struct worker *w = &ch->w[i];
    if (m->is_request) {
        if (m->method_id == WSIP_METHOD_OPTIONS)
            bench_ua_answer(ua, m, 200, NULL, NULL, NULL, 0);
        else if (m->method_id != WSIP_METHOD_ACK)
            ch->uas_unexpected++;
        return;
    }
    uint64_t now = bench_now();
    enum bench_ua_rc rc = bench_ua_response(ua, m, now);
    if (rc == BUA_STRAY) {
        ch->t.stray++;
        return;
    }
    if (rc == BUA_RESENT || rc == BUA_PROVISIONAL)
        return;
    if (rc != BUA_FINAL || m->status >= 300) {
        fail_cycle(ch, i, refused_why((enum cstep)w->step, rc), m->status);
        return;
    }
    if (w->step == CS_REGISTER) {
        w->step = CS_UNREGISTER;
        bench_ua_prepare_register(ua, 0);
        if (bench_ua_send(ua, now) < 0)
            fail_cycle(ch, i, "cannot send REGISTER", 0);
    } else if (w->step == CS_UNREGISTER) {
        w->step = CS_CLOSE;
        bench_conn_close(c);
    }
}

static void on_closed(struct bench_conn *c, const char *why)
{
    struct churn *ch = c->cl->owner;
    unsigned i = c->idx;
    struct worker *w = &ch->w[i];
    uint64_t now = bench_now();
    if (w->step == CS_IDLE)
        return;
    bool ok = w->step == CS_CLOSE && !why && !w->why;
    if (ok) {
        ch->t.ok++;
        bench_hist_add(&ch->t.lat, now - w->t_cycle);
    } else {
        const char *reason = w->why ? w->why : why ? why : "closed by the server";
        if (w->step == CS_CONNECT)
            ch->connect_fail++;
        ch->t.errors++;
        bench_reasons_add(&ch->t.why, reason);
    }
    ch->t.t_last = now;
    w->step = CS_IDLE;
    ch->active--;
    if (may_start(ch, now))
        start_cycle(ch, i, now);
    else
        maybe_finish(ch, now);
}

static const struct bench_handler churn_handler = {
    .open = on_open,
    .sip = on_sip,
    .closed = on_closed,
};

/* ------------------------------------------------------------------ timer */

static void on_tick(uv_timer_t *t)
{
    struct churn *ch = t->data;
    uint64_t now = bench_now();
    uint64_t limit = (uint64_t)(ch->o->timeout_s * 1e9);
    for (unsigned i = 0; i < ch->n; i++) {
        struct worker *w = &ch->w[i];
        if (w->step == CS_IDLE || ch->conns[i].handle_closing)
            continue;
        if (now - w->t_cycle > limit) {
            ch->t.timeouts++;
            fail_cycle(ch, i, "timeout", 0);
            continue;
        }
        if (w->step == CS_REGISTER || w->step == CS_UNREGISTER)
            bench_ua_tick(&ch->ua[i], now);
    }
    if (ch->running && !ch->draining && now - ch->t_progress >= 1000000000ull) {
        ch->t_progress = now;
        double el = (double)(now - ch->t.t_run) / 1e9;
        bench_progress(ch->o, ch->t_begin, "run: %llu started, %llu ok, %llu errors, %.0f cycles/s",
                       (unsigned long long)ch->t.started, (unsigned long long)ch->t.ok,
                       (unsigned long long)ch->t.errors, el > 0 ? (double)ch->t.ok / el : 0);
    }
    maybe_finish(ch, now);
}

int bench_mode_churn(struct bench_opts *o)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct churn *ch = calloc(1, sizeof(*ch));
    if (!ch) {
        fprintf(stderr, "wsip bench: out of memory\n");
        return 1;
    }
    ch->o = o;
    ch->n = o->concurrency;
    o->connections = ch->n;
    bench_uactx_init(&ch->cx, o);
    int rc = 1;
    char err[256];
    ch->conns = calloc(ch->n, sizeof(*ch->conns));
    ch->ua = calloc(ch->n, sizeof(*ch->ua));
    ch->w = calloc(ch->n, sizeof(*ch->w));
    if (!ch->conns || !ch->ua || !ch->w) {
        fprintf(stderr, "wsip bench: out of memory for %u workers\n", ch->n);
        goto out;
    }
    if (bench_client_init(&ch->cl, &loop, o, &churn_handler, ch, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsip bench: %s\n", err);
        goto out;
    }
    uv_timer_init(&loop, &ch->tick);
    ch->tick.data = ch;
    uint64_t now = bench_now();
    ch->running = true;
    ch->t_begin = ch->t.t_run = ch->t.t_last = ch->t_progress = now;
    ch->t_end = now + (uint64_t)(o->duration_s * 1e9);
    ch->t.cpu0 = bench_self_cpu();
    ch->t.scpu0 = o->pid > 0 ? bench_proc_cpu(o->pid) : -1;
    for (unsigned i = 0; i < ch->n && may_start(ch, now); i++)
        start_cycle(ch, i, now);
    uv_timer_start(&ch->tick, on_tick, 100, 100);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = bench_sip_exit_status(&ch->t);
out:
    uv_loop_close(&loop);
    bench_client_free(&ch->cl);
    if (ch->ua)
        for (unsigned i = 0; i < ch->n; i++)
            bench_ua_free(&ch->ua[i]);
    free(ch->ua);
    free(ch->conns);
    free(ch->w);
    bench_uactx_free(&ch->cx);
    free(ch);
    return rc;
}

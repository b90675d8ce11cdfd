/* The closed loop of the SIP modes register, message and call: C
 * connections, one UA each, each with one operation in flight; a finished
 * operation starts the next until N were started or S seconds passed. Then
 * the last ones are waited for (bounded), every registered UA unregisters,
 * the report is printed and the connections close. The modes (register.c,
 * message.c, call.c) supply the steps of an operation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/sipmode.h"

#define CLOSE_TIMEOUT_S 10.0
#define PACE_MS         1 /* --rate: how often waiting UAs are looked at */

enum stage { ST_SETUP, ST_RUN, ST_DRAIN, ST_UNREG, ST_CLOSING };

/* ------------------------------------------------------------ budget */

static bool may_start(const struct bench_run *r, uint64_t now)
{
    return r->stage == ST_RUN && r->t.started < r->o->requests && now < r->t_end;
}

/* --rate R: operation k (counted from 0) may start k / R seconds after the
 * run began; without it, at once (closed loop). A client that falls behind
 * catches up as fast as its flows allow. */
static bool on_schedule(const struct bench_run *r, uint64_t now)
{
    if (!r->paced)
        return true;
    double due = r->o->op_rate * (double)(now - r->t.t_run) / 1e9;
    return (double)r->t.started <= due;
}

static void park(struct bench_run *r, struct bench_ua *ua)
{
    unsigned n = r->pool.n;
    r->waiting[(r->wait_head + r->nwaiting) % n] = (unsigned)(ua - r->ua);
    r->nwaiting++;
}

static struct bench_ua *unpark(struct bench_run *r)
{
    struct bench_ua *ua = &r->ua[r->waiting[r->wait_head]];
    r->wait_head = (r->wait_head + 1) % r->pool.n;
    r->nwaiting--;
    return ua;
}

static void maybe_finish(struct bench_run *r, uint64_t now);

static void start_op(struct bench_run *r, struct bench_ua *ua, uint64_t now)
{
    r->t.started++;
    r->busy++;
    ua->op = BOP_RUN;
    ua->step = 0;
    ua->t_op = now;
    if (r->md->start(r, ua, now) < 0) {
        /* the connection is failing: this UA stays idle (no retry loop) */
        ua->op = BOP_NONE;
        r->busy--;
        bench_ua_done(ua);
        bench_tally_fail(&r->t, "cannot send", 0);
        r->t.t_last = now;
    }
}

/* start_op, or wait for the schedule (--rate) */
static void start_or_park(struct bench_run *r, struct bench_ua *ua, uint64_t now)
{
    if (on_schedule(r, now))
        start_op(r, ua, now);
    else
        park(r, ua);
}

static void next_op(struct bench_run *r, struct bench_ua *ua, uint64_t now)
{
    if (may_start(r, now) && ua->c && ua->c->pstate == BP_UP)
        start_or_park(r, ua, now);
    else
        maybe_finish(r, now);
}

static void on_pace(uv_timer_t *t)
{
    struct bench_run *r = t->data;
    uint64_t now = bench_now();
    while (r->nwaiting > 0 && may_start(r, now) && on_schedule(r, now)) {
        struct bench_ua *ua = unpark(r);
        if (ua->op == BOP_NONE && ua->c && ua->c->pstate == BP_UP)
            start_op(r, ua, now);
    }
    maybe_finish(r, now);
}

void bench_run_ok(struct bench_run *r, struct bench_ua *ua, uint64_t lat_ns, uint64_t now)
{
    bench_ua_done(ua);
    ua->op = BOP_NONE;
    r->busy--;
    r->t.ok++;
    r->t.t_last = now;
    bench_hist_add(&r->t.lat, lat_ns);
    next_op(r, ua, now);
}

void bench_run_fail(struct bench_run *r, struct bench_ua *ua, const char *why, unsigned status,
                    uint64_t now)
{
    bench_ua_done(ua);
    ua->op = BOP_NONE;
    r->busy--;
    bench_tally_fail(&r->t, why, status);
    r->t.t_last = now;
    next_op(r, ua, now);
}

void bench_run_other_request(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m)
{
    if (m->method_id == WSIP_METHOD_ACK)
        return;
    if (m->method_id == WSIP_METHOD_OPTIONS) {
        bench_ua_answer(ua, m, 200, NULL, NULL, NULL, 0);
        return;
    }
    r->uas_unexpected++;
    bench_ua_answer(ua, m, 405, "Allow: INVITE,ACK,BYE,MESSAGE,OPTIONS\r\n", NULL, NULL, 0);
}

/* ------------------------------------------------------------ the end */

static void report(struct bench_run *r)
{
    struct bench_sipreport rp = {
        .unit = r->md->unit,
        .lat_what = r->md->lat_what,
        .lat2_what = r->md->lat2_what,
        .t = &r->t,
        .cx = &r->cx,
        .pool = &r->pool,
        .unreg_ok = r->unreg_ok,
        .unreg_fail = r->unreg_fail,
        .uas_unexpected = r->uas_unexpected,
        .unpaired = r->unpaired,
    };
    bench_sip_report(r->o, &rp);
}

static void close_all(struct bench_run *r)
{
    r->stage = ST_CLOSING;
    report(r);
    bench_pool_close_all(&r->pool, CLOSE_TIMEOUT_S);
}

static void maybe_unreg_done(struct bench_run *r, uint64_t now)
{
    if (r->stage != ST_UNREG || (r->unreg_busy > 0 && now < r->t_deadline))
        return;
    r->unreg_fail += r->unreg_busy; /* no answer in time */
    r->unreg_busy = 0;
    close_all(r);
}

/* Registered UAs remove their binding (Expires: 0), as a browser does when
 * it stops; UDP bindings would otherwise outlive the run. */
static void start_unreg(struct bench_run *r, uint64_t now)
{
    r->stage = ST_UNREG;
    r->t_deadline = now + (uint64_t)(r->o->timeout_s * 1e9);
    bench_progress(r->o, r->pool.t_begin, "done: %llu ok, %llu errors; unregistering",
                   (unsigned long long)r->t.ok, (unsigned long long)r->t.errors);
    for (unsigned i = 0; i < r->pool.n; i++) {
        struct bench_ua *ua = &r->ua[i];
        if (!ua->registered || !ua->c || ua->c->pstate != BP_UP)
            continue;
        bench_ua_done(ua);
        ua->op = BOP_UNREG;
        bench_ua_prepare_register(ua, 0);
        if (bench_ua_send(ua, now) < 0) {
            ua->op = BOP_NONE;
            r->unreg_fail++;
            continue;
        }
        r->unreg_busy++;
    }
    maybe_unreg_done(r, now);
}

static void maybe_finish(struct bench_run *r, uint64_t now)
{
    if (r->stage == ST_RUN) {
        bool budget_over = r->t.started >= r->o->requests || now >= r->t_end;
        if (!budget_over && (r->busy > 0 || r->nwaiting > 0))
            return;
        r->stage = ST_DRAIN;
        r->nwaiting = 0;
        if (r->paced)
            uv_timer_stop(&r->pace);
        r->t.cpu1 = bench_self_cpu();
        r->t.scpu1 = r->o->pid > 0 ? bench_proc_cpu(r->o->pid) : -1;
        r->t_deadline = now + (uint64_t)(r->o->timeout_s * 1e9);
    }
    if (r->stage != ST_DRAIN || (r->busy > 0 && now < r->t_deadline))
        return;
    /* what is still in flight after the timeout failed */
    for (unsigned i = 0; i < r->pool.n && r->busy > 0; i++) {
        struct bench_ua *ua = &r->ua[i];
        if (ua->op != BOP_RUN)
            continue;
        bench_ua_done(ua);
        ua->op = BOP_NONE;
        r->busy--;
        r->t.timeouts++;
        bench_tally_fail(&r->t, "timeout", 0);
    }
    r->busy = 0;
    start_unreg(r, now);
}

/* ------------------------------------------------------------ hooks */

static bool sm_opened(struct bench_pool *p, struct bench_conn *c)
{
    struct bench_run *r = p->mode;
    struct bench_ua *ua = &r->ua[c->idx];
    bench_ua_init(ua, &r->cx, c, c->idx);
    if (!r->md->register_first)
        return true;
    ua->op = BOP_SETUP;
    bench_ua_prepare_register(ua, r->o->expires);
    if (bench_ua_send(ua, bench_now()) < 0)
        bench_pool_fail(p, c, "cannot send REGISTER");
    return false; /* established on the REGISTER's 200 */
}

static const char *setup_why(enum bench_ua_rc rc, unsigned status)
{
    if (rc == BUA_AUTH_FAILED)
        return "REGISTER: authentication failed";
    if (rc == BUA_NO_AUTH)
        return "REGISTER: challenge not answered (no --password, or no such --algorithm)";
    switch (status) {
    case 403: return "REGISTER: 403";
    case 404: return "REGISTER: 404 (domain not served?)";
    case 423: return "REGISTER: 423 interval too brief";
    case 500: return "REGISTER: 500";
    case 503: return "REGISTER: 503";
    default: return "REGISTER: refused";
    }
}

static void on_response(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m)
{
    uint64_t now = bench_now();
    enum bench_ua_rc rc = bench_ua_response(ua, m, now);
    if (rc == BUA_STRAY) {
        if (!(r->md->stray && r->md->stray(r, ua, m)))
            r->t.stray++;
        return;
    }
    if (rc == BUA_RESENT)
        return;
    switch (ua->op) {
    case BOP_SETUP:
        if (rc == BUA_PROVISIONAL)
            return;
        ua->op = BOP_NONE;
        if (rc == BUA_FINAL && m->status < 300) {
            ua->registered = true;
            bench_pool_established(&r->pool, ua->c);
        } else {
            bench_pool_fail(&r->pool, ua->c, setup_why(rc, m->status));
        }
        return;
    case BOP_UNREG:
        if (rc == BUA_PROVISIONAL)
            return;
        ua->op = BOP_NONE;
        r->unreg_busy--;
        if (rc == BUA_FINAL && m->status < 300)
            r->unreg_ok++;
        else
            r->unreg_fail++;
        maybe_unreg_done(r, now);
        return;
    case BOP_RUN:
        if (rc == BUA_AUTH_FAILED)
            bench_run_fail(r, ua, "authentication failed", m->status, now);
        else if (rc == BUA_NO_AUTH)
            bench_run_fail(r, ua, "challenge not answered", m->status, now);
        else
            r->md->response(r, ua, m, now);
        return;
    default: r->t.stray++; return;
    }
}

static void sm_sip(struct bench_pool *p, struct bench_conn *c, struct wsip_msg *m)
{
    struct bench_run *r = p->mode;
    struct bench_ua *ua = &r->ua[c->idx];
    if (!m->is_request) {
        on_response(r, ua, m);
        return;
    }
    if (r->md->request)
        r->md->request(r, ua, m);
    else if (!bench_ua_retransmission(ua, m))
        bench_run_other_request(r, ua, m);
}

static void sm_lost(struct bench_pool *p, struct bench_conn *c, const char *why)
{
    struct bench_run *r = p->mode;
    struct bench_ua *ua = &r->ua[c->idx];
    (void)why; /* counted by the pool */
    uint64_t now = bench_now();
    bench_ua_done(ua);
    if (ua->op == BOP_RUN) {
        r->busy--;
        r->t.lost++;
        bench_tally_fail(&r->t, "connection lost", 0);
        r->t.t_last = now;
    } else if (ua->op == BOP_UNREG) {
        r->unreg_busy--;
        r->unreg_fail++;
    }
    ua->op = BOP_NONE;
    maybe_finish(r, now);
    maybe_unreg_done(r, now);
}

static void sm_ready(struct bench_pool *p)
{
    struct bench_run *r = p->mode;
    uint64_t now = bench_now();
    r->stage = ST_RUN;
    r->t.t_run = r->t.t_last = r->t_progress = now;
    r->t_end = now + (uint64_t)(r->o->duration_s * 1e9);
    r->t.cpu0 = bench_self_cpu();
    r->t.scpu0 = r->o->pid > 0 ? bench_proc_cpu(r->o->pid) : -1;
    if (p->established == 0) {
        bench_progress(r->o, p->t_begin, "no connection could be established");
        r->t.cpu1 = r->t.cpu0;
        r->t.scpu1 = r->t.scpu0;
        close_all(r);
        return;
    }
    bench_progress(r->o, p->t_begin, "%u connections up; running", p->established);
    for (unsigned i = 0; i < p->n; i++) {
        struct bench_ua *ua = &r->ua[i];
        if (ua->c && ua->c->pstate != BP_UP) {
            bench_ua_done(ua); /* a setup that failed: nothing of it goes on */
            ua->op = BOP_NONE;
        }
    }
    for (unsigned i = 0; i < p->n && may_start(r, now); i++) {
        struct bench_ua *ua = &r->ua[i];
        if (!ua->c || ua->c->pstate != BP_UP)
            continue;
        const struct bench_ua *peer = &r->ua[ua->peer];
        if (r->md->pairs && (!peer->c || peer->c->pstate != BP_UP)) {
            r->unpaired++; /* its peer is not registered: it would only see 480s */
            continue;
        }
        start_or_park(r, ua, now);
    }
    if (r->paced)
        uv_timer_start(&r->pace, on_pace, PACE_MS, PACE_MS);
    maybe_finish(r, now);
}

static void sm_tick(struct bench_pool *p, uint64_t now)
{
    struct bench_run *r = p->mode;
    uint64_t limit = (uint64_t)(r->o->timeout_s * 1e9);
    for (unsigned i = 0; i < p->n; i++) {
        struct bench_ua *ua = &r->ua[i];
        if (ua->op == BOP_NONE)
            continue;
        if (ua->op == BOP_RUN && now - ua->t_op > limit) {
            r->t.timeouts++;
            bench_run_fail(r, ua, "timeout", 0, now);
            continue;
        }
        bench_ua_tick(ua, now);
    }
    if (r->stage == ST_RUN && now - r->t_progress >= 1000000000ull) {
        r->t_progress = now;
        double el = (double)(now - r->t.t_run) / 1e9;
        bench_progress(r->o, p->t_begin, "run: %llu started, %llu ok, %llu errors, %.0f %s/s",
                       (unsigned long long)r->t.started, (unsigned long long)r->t.ok,
                       (unsigned long long)r->t.errors, el > 0 ? (double)r->t.ok / el : 0,
                       r->md->unit);
    }
    maybe_finish(r, now);
    maybe_unreg_done(r, now);
}

static void sm_setup_tick(struct bench_pool *p, uint64_t now)
{
    struct bench_run *r = p->mode;
    for (unsigned i = 0; i < p->next; i++)
        if (r->ua[i].op == BOP_SETUP)
            bench_ua_tick(&r->ua[i], now);
}

static void sm_closed_all(struct bench_pool *p)
{
    struct bench_run *r = p->mode;
    if (r->paced && !uv_is_closing((uv_handle_t *)&r->pace))
        uv_close((uv_handle_t *)&r->pace, NULL);
    bench_pool_stop(p);
}

static const struct bench_pool_hooks sm_hooks = {
    .opened = sm_opened,
    .sip = sm_sip,
    .lost = sm_lost,
    .ready = sm_ready,
    .closed_all = sm_closed_all,
    .tick = sm_tick,
    .setup_tick = sm_setup_tick,
};

int bench_sip_run(struct bench_opts *o, const struct bench_sipmode *md)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct bench_run *r = calloc(1, sizeof(*r));
    if (!r) {
        fprintf(stderr, "wsip bench: out of memory\n");
        return 1;
    }
    r->o = o;
    r->md = md;
    o->connections = o->concurrency;
    wsip_sbuf_init(&r->extra);
    bench_uactx_init(&r->cx, o);
    int rc = 1;
    char err[256];
    r->ua = calloc(o->connections, sizeof(*r->ua));
    r->waiting = calloc(o->connections, sizeof(*r->waiting));
    if (!r->ua || !r->waiting) {
        fprintf(stderr, "wsip bench: out of memory for %u user agents\n", o->connections);
        goto out;
    }
    for (unsigned i = 0; i < o->connections; i++)
        r->ua[i].peer = md->pairs ? i ^ 1u : i;
    if (bench_pool_init(&r->pool, &loop, o, &sm_hooks, r, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsip bench: %s\n", err);
        goto out;
    }
    if (o->op_rate > 0) {
        r->paced = true;
        uv_timer_init(&loop, &r->pace);
        r->pace.data = r;
    }
    bench_pool_start(&r->pool);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (r->paced && !uv_is_closing((uv_handle_t *)&r->pace)) {
        uv_close((uv_handle_t *)&r->pace, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    rc = bench_sip_exit_status(&r->t);
    if (r->pool.failed || r->pool.lost)
        rc = 1;
out:
    uv_loop_close(&loop);
    bench_pool_free(&r->pool);
    if (r->ua)
        for (unsigned i = 0; i < o->connections; i++)
            bench_ua_free(&r->ua[i]);
    free(r->ua);
    free(r->waiting);
    bench_uactx_free(&r->cx);
    wsip_sbuf_free(&r->extra);
    free(r);
    return rc;
}

/* ------------------------------------------------------------ report */

void bench_tally_fail(struct bench_tally *t, const char *why, unsigned status)
{
    t->errors++;
    bench_reasons_add(&t->why, why);
    if (status)
        bench_statuses_add(&t->status, status);
}

int bench_sip_exit_status(const struct bench_tally *t)
{
    return t->ok > 0 && t->ok == t->started && t->errors == 0 ? 0 : 1;
}

static const char *auth_name(const struct bench_opts *o)
{
    return !o->password ? "none" : wsip_digest_alg_name((enum wsip_digest_alg)o->algorithm);
}

static void print_lat(const char *what, const struct bench_hist *h)
{
    printf("  %-12s p50 %.0f us  p90 %.0f us  p99 %.0f us  max %.0f us  mean %.0f us\n", what,
           bench_hist_pct(h, 0.5) / 1e3, bench_hist_pct(h, 0.9) / 1e3,
           bench_hist_pct(h, 0.99) / 1e3, bench_hist_pct(h, 1.0) / 1e3,
           h->n ? (double)h->sum / (double)h->n / 1e3 : 0);
}

static void line_lat(const char *prefix, const struct bench_hist *h)
{
    printf(" %s_p50_us=%.0f %s_p90_us=%.0f %s_p99_us=%.0f %s_max_us=%.0f %s_mean_us=%.0f", prefix,
           bench_hist_pct(h, 0.5) / 1e3, prefix, bench_hist_pct(h, 0.9) / 1e3, prefix,
           bench_hist_pct(h, 0.99) / 1e3, prefix, bench_hist_pct(h, 1.0) / 1e3, prefix,
           h->n ? (double)h->sum / (double)h->n / 1e3 : 0);
}

static void print_table(const struct bench_opts *o, const struct bench_sipreport *rp, double el,
                        double rate, double cpu, double scpu)
{
    const struct bench_tally *t = rp->t;
    const struct bench_uactx *cx = rp->cx;
    unsigned users = o->users;
    printf("wsip bench %s %s (users %s%u..%s%u@%s, %u flows, digest %s)\n", o->mode, o->url_str,
           o->user_prefix, o->user_start, o->user_prefix, o->user_start + users - 1, o->domain,
           o->concurrency, auth_name(o));
    if (rp->pool) {
        const struct bench_pool *p = rp->pool;
        printf("  connections  %u/%u established in %.2f s, %u failed, %u lost during the run\n",
               p->established, p->n, (double)(p->t_ready - p->t_begin) / 1e9, p->failed, p->lost);
        if (p->failed) {
            printf("  failures     ");
            bench_reasons_print(stdout, &p->fail_why);
            printf("\n");
        }
    }
    printf("  %-12s %llu started, %llu ok, %llu errors (%llu timeouts, %llu lost with their "
           "connection), %llu stray responses\n",
           rp->unit, (unsigned long long)t->started, (unsigned long long)t->ok,
           (unsigned long long)t->errors, (unsigned long long)t->timeouts,
           (unsigned long long)t->lost, (unsigned long long)t->stray);
    if (t->errors) {
        printf("  errors       ");
        bench_reasons_print(stdout, &t->why);
        if (t->status.n[0]) {
            printf("; statuses ");
            bench_statuses_print(stdout, &t->status, true);
        }
        printf("\n");
    }
    printf("  digest       %llu challenges answered (%llu stale); UDP: %llu retransmissions; "
           "called side: %llu answers, %llu repeated, %llu unexpected requests\n",
           (unsigned long long)cx->challenges, (unsigned long long)cx->stale,
           (unsigned long long)cx->retransmits, (unsigned long long)cx->uas_answers,
           (unsigned long long)cx->uas_retrans, (unsigned long long)rp->uas_unexpected);
    printf("  rate         %.0f %s/s over %.2f s (successes only)", rate, rp->unit, el);
    if (o->op_rate > 0)
        printf("; started on a schedule of %.0f/s (--rate)", o->op_rate);
    printf("\n");
    print_lat("latency", &t->lat);
    printf("               (%s)\n", rp->lat_what);
    if (rp->lat2_what) {
        print_lat("call length", &t->lat2);
        printf("               (%s)\n", rp->lat2_what);
    }
    uint64_t done = t->ok + t->errors;
    printf("  CPU          client %.0f%% of one core", cpu);
    if (done)
        printf(" (%.1f us/%s)", (t->cpu1 - t->cpu0) * 1e6 / (double)done, o->mode);
    if (scpu >= 0) {
        printf(", server %.0f%% (all its threads)", scpu);
        if (done)
            printf(" (%.1f us/%s)", (t->scpu1 - t->scpu0) * 1e6 / (double)done, o->mode);
    }
    printf("; %u cores, load average %.2f\n", uv_available_parallelism(), bench_loadavg());
    if (rp->unreg_ok || rp->unreg_fail)
        printf("  cleanup      %llu unregistered, %llu failed\n", (unsigned long long)rp->unreg_ok,
               (unsigned long long)rp->unreg_fail);
}

void bench_sip_report(const struct bench_opts *o, const struct bench_sipreport *rp)
{
    const struct bench_tally *t = rp->t;
    const struct bench_uactx *cx = rp->cx;
    double el = t->t_last > t->t_run ? (double)(t->t_last - t->t_run) / 1e9 : 0;
    double rate = el > 0 ? (double)t->ok / el : 0;
    double cpu_el = t->cpu1 > t->cpu0 && el > 0 ? el : 0;
    double cpu = cpu_el > 0 ? 100.0 * (t->cpu1 - t->cpu0) / cpu_el : 0;
    double scpu =
        el > 0 && t->scpu0 >= 0 && t->scpu1 >= 0 ? 100.0 * (t->scpu1 - t->scpu0) / el : -1;
    print_table(o, rp, el, rate, cpu, scpu);

    char top[64];
    bench_reasons_top(&t->why, top, sizeof(top));
    printf("bench=%s transport=%s url=%s%s%s concurrency=%u users=%u user_prefix=%s "
           "user_start=%u domain=%s auth=%s auth_reuse=%d",
           o->mode, bench_tp_name(o->url.tp), o->url_str, o->label ? " label=" : "",
           o->label ? o->label : "", o->concurrency, o->users, o->user_prefix, o->user_start,
           o->domain, auth_name(o), o->no_auth_reuse ? 0 : 1);
    if (rp->pool) {
        const struct bench_pool *p = rp->pool;
        char ftop[64];
        bench_reasons_top(&p->fail_why, ftop, sizeof(ftop));
        printf(" connections=%u established=%u failed=%u fail_top=%s lost=%u unpaired=%llu", p->n,
               p->established, p->failed, ftop, p->lost, (unsigned long long)rp->unpaired);
    } else {
        printf(" connect_fail=%llu", (unsigned long long)rp->connect_fail);
    }
    printf(" count_max=%llu duration_max_s=%.1f started=%llu ok=%llu errors=%llu err_top=%s "
           "timeouts=%llu lost_inflight=%llu stray=%llu",
           (unsigned long long)o->requests, o->duration_s, (unsigned long long)t->started,
           (unsigned long long)t->ok, (unsigned long long)t->errors, top,
           (unsigned long long)t->timeouts, (unsigned long long)t->lost,
           (unsigned long long)t->stray);
    if (t->status.n[0]) {
        printf(" statuses=");
        bench_statuses_print(stdout, &t->status, false);
    }
    printf(" challenges=%llu stale=%llu retransmits=%llu uas_answers=%llu uas_retrans=%llu "
           "uas_unexpected=%llu elapsed_s=%.3f rate_per_s=%.1f target_rate=%.1f",
           (unsigned long long)cx->challenges, (unsigned long long)cx->stale,
           (unsigned long long)cx->retransmits, (unsigned long long)cx->uas_answers,
           (unsigned long long)cx->uas_retrans, (unsigned long long)rp->uas_unexpected, el, rate,
           o->op_rate);
    line_lat("lat", &t->lat);
    if (rp->lat2_what)
        line_lat("call", &t->lat2);
    uint64_t done = t->ok + t->errors;
    printf(" client_cpu_pct=%.0f", cpu);
    if (done)
        printf(" client_cpu_us_per_op=%.1f", (t->cpu1 - t->cpu0) * 1e6 / (double)done);
    if (scpu >= 0) {
        printf(" server_cpu_pct=%.0f", scpu);
        if (done)
            printf(" server_cpu_us_per_op=%.1f", (t->scpu1 - t->scpu0) * 1e6 / (double)done);
    }
    printf(" unregistered=%llu unreg_fail=%llu cores=%u loadavg=%.2f\n",
           (unsigned long long)rp->unreg_ok, (unsigned long long)rp->unreg_fail,
           uv_available_parallelism(), bench_loadavg());
    fflush(stdout);
}

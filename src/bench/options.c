/* wsip bench options: C connections, each keeping K OPTIONS outstanding
 * (closed loop: a new request leaves when an answer arrives), until N
 * requests were sent or S seconds passed; answers per second, latency
 * percentiles, errors, and the client's and server's CPU shares (on a shared
 * machine the client may be what limits the rate). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

#define CLOSE_TIMEOUT_S 10.0
#define MAX_STATUS      8

struct slot {
    uint32_t cseq; /* 0: free */
    uint64_t t_sent;
};

struct omode {
    struct bench_opts *o;
    struct bench_pool pool;
    struct slot *slots; /* connections x outstanding */
    bool running, draining;
    uint64_t inflight; /* all connections */
    uint64_t sent, answered, errors, timeouts, stray, send_fail, lost_inflight;
    uint64_t t_run, t_end, t_last_answer, t_drain_end, t_last_progress;
    double cpu0, cpu1, scpu0, scpu1;
    struct bench_hist lat;
    unsigned status[MAX_STATUS], status_n[MAX_STATUS];
    char *buf;
};

#define REQ_CAP 2048

static bool may_send(struct omode *m, uint64_t now)
{
    return m->running && !m->draining && m->sent < m->o->requests && now < m->t_end;
}

/* Fills a free slot of c with a new request. */
static void send_one(struct omode *m, struct bench_conn *c, struct slot *s, uint64_t now)
{
    uint32_t cseq = ++c->cseq;
    if (cseq == 0) /* 0 marks a free slot */
        cseq = ++c->cseq;
    size_t n = bench_sip_options(c, cseq, m->buf, REQ_CAP);
    s->cseq = cseq;
    s->t_sent = now;
    m->sent++;
    m->inflight++;
    c->inflight++;
    if (n == 0 || bench_conn_send(c, m->buf, n) < 0)
        m->send_fail++; /* UDP: counted as sent, it will time out like a lost datagram */
}

static struct slot *conn_slots(struct omode *m, const struct bench_conn *c)
{
    return &m->slots[(size_t)c->idx * m->o->outstanding];
}

static void count_status(struct omode *m, unsigned st)
{
    for (unsigned i = 0; i < MAX_STATUS; i++) {
        if (m->status_n[i] == 0 || m->status[i] == st) {
            m->status[i] = st;
            m->status_n[i]++;
            return;
        }
    }
}

static void maybe_finish(struct omode *m);

static bool om_opened(struct bench_pool *p, struct bench_conn *c)
{
    (void)p;
    (void)c;
    return true;
}

static void om_sip(struct bench_pool *p, struct bench_conn *c, struct wsip_msg *msg)
{
    struct omode *m = p->mode;
    if (msg->is_request || msg->status < 200)
        return;
    uint64_t now = bench_now();
    const struct wsip_cseq *cs = wsip_msg_cseq(msg, NULL);
    struct slot *s = NULL, *sl = conn_slots(m, c);
    for (unsigned i = 0; cs && i < m->o->outstanding; i++)
        if (sl[i].cseq == cs->num) {
            s = &sl[i];
            break;
        }
    if (!s) {
        m->stray++; /* answered after its timeout, or not ours */
        return;
    }
    bench_hist_add(&m->lat, now - s->t_sent);
    if (msg->status < 300) {
        m->answered++;
    } else {
        m->errors++;
        count_status(m, msg->status);
    }
    m->t_last_answer = now;
    s->cseq = 0;
    c->inflight--;
    m->inflight--;
    if (may_send(m, now))
        send_one(m, c, s, now);
    else
        maybe_finish(m);
}

static void om_lost(struct bench_pool *p, struct bench_conn *c, const char *why)
{
    struct omode *m = p->mode;
    (void)why;
    struct slot *sl = conn_slots(m, c);
    for (unsigned i = 0; i < m->o->outstanding; i++)
        if (sl[i].cseq) {
            sl[i].cseq = 0;
            m->lost_inflight++;
            m->inflight--;
        }
    c->inflight = 0;
    maybe_finish(m);
}

/* "200 x3, 501 x2" (human) or "501:2,480:1" (summary line) */
static void print_status(FILE *f, const struct omode *m, bool human)
{
    for (unsigned i = 0; i < MAX_STATUS && m->status_n[i]; i++) {
        if (human)
            fprintf(f, "%s%u x%u", i ? ", " : " ", m->status[i], m->status_n[i]);
        else
            fprintf(f, "%s%u:%u", i ? "," : "", m->status[i], m->status_n[i]);
    }
}

static void report(struct omode *m)
{
    const struct bench_opts *o = m->o;
    const struct bench_pool *p = &m->pool;
    uint64_t t_stop = m->t_last_answer > m->t_run ? m->t_last_answer : bench_now();
    double el = (double)(t_stop - m->t_run) / 1e9;
    double rate = el > 0 ? (double)m->answered / el : 0;
    double cpu = el > 0 ? 100.0 * (m->cpu1 - m->cpu0) / el : 0;
    double scpu =
        el > 0 && m->scpu0 >= 0 && m->scpu1 >= 0 ? 100.0 * (m->scpu1 - m->scpu0) / el : -1;
    double setup_s = (double)(p->t_ready - p->t_begin) / 1e9;
    const struct bench_hist *h = &m->lat;
    char top[64];
    bench_reasons_top(&p->fail_why, top, sizeof(top));

    printf("wsip bench options %s\n", o->url_str);
    printf("  connections  %u/%u established in %.2f s, %u failed, %u lost during the run\n",
           p->established, p->n, setup_s, p->failed, p->lost);
    if (p->failed) {
        printf("  failures     ");
        bench_reasons_print(stdout, &p->fail_why);
        printf("\n");
    }
    printf("  requests     %llu sent, %llu answered 2xx, %llu errors, %llu timeouts, "
           "%llu stray, %llu send failures, %llu lost with their connection (%u outstanding per "
           "connection)\n",
           (unsigned long long)m->sent, (unsigned long long)m->answered,
           (unsigned long long)m->errors, (unsigned long long)m->timeouts,
           (unsigned long long)m->stray, (unsigned long long)m->send_fail,
           (unsigned long long)m->lost_inflight, o->outstanding);
    if (m->status_n[0]) {
        printf("  statuses    ");
        print_status(stdout, m, true);
        printf("\n");
    }
    printf("  rate         %.0f answered/s over %.2f s\n", rate, el);
    printf("  latency      p50 %.0f us  p90 %.0f us  p99 %.0f us  max %.0f us  mean %.0f us\n",
           bench_hist_pct(h, 0.5) / 1e3, bench_hist_pct(h, 0.9) / 1e3,
           bench_hist_pct(h, 0.99) / 1e3, bench_hist_pct(h, 1.0) / 1e3,
           h->n ? (double)h->sum / (double)h->n / 1e3 : 0);
    uint64_t answers = m->answered + m->errors;
    printf("  CPU          client %.0f%% of one core", cpu);
    if (answers)
        printf(" (%.1f us/request)", (m->cpu1 - m->cpu0) * 1e6 / (double)answers);
    if (scpu >= 0)
        printf(", server %.0f%% (all its threads)", scpu);
    if (scpu >= 0 && answers)
        printf(" (%.1f us/request)", (m->scpu1 - m->scpu0) * 1e6 / (double)answers);
    printf("; %u cores, load average %.2f\n", uv_available_parallelism(), bench_loadavg());

    printf("bench=options transport=%s url=%s%s%s connections=%u established=%u failed=%u "
           "fail_top=%s lost=%u outstanding=%u requests_max=%llu duration_max_s=%.1f sent=%llu "
           "answered=%llu errors=%llu timeouts=%llu stray=%llu send_fail=%llu lost_inflight=%llu "
           "elapsed_s=%.3f "
           "rate_per_s=%.0f lat_p50_us=%.0f lat_p90_us=%.0f lat_p99_us=%.0f lat_max_us=%.0f "
           "lat_mean_us=%.0f client_cpu_pct=%.0f",
           bench_tp_name(o->url.tp), o->url_str, o->label ? " label=" : "",
           o->label ? o->label : "", p->n, p->established, p->failed, top, p->lost, o->outstanding,
           (unsigned long long)o->requests, o->duration_s, (unsigned long long)m->sent,
           (unsigned long long)m->answered, (unsigned long long)m->errors,
           (unsigned long long)m->timeouts, (unsigned long long)m->stray,
           (unsigned long long)m->send_fail, (unsigned long long)m->lost_inflight, el, rate,
           bench_hist_pct(h, 0.5) / 1e3, bench_hist_pct(h, 0.9) / 1e3,
           bench_hist_pct(h, 0.99) / 1e3, bench_hist_pct(h, 1.0) / 1e3,
           h->n ? (double)h->sum / (double)h->n / 1e3 : 0, cpu);
    /* CPU time per answer barely depends on what else runs on the machine,
     * unlike the rate */
    uint64_t done = m->answered + m->errors;
    if (done)
        printf(" client_cpu_us_per_req=%.2f", (m->cpu1 - m->cpu0) * 1e6 / (double)done);
    if (scpu >= 0)
        printf(" server_cpu_pct=%.0f", scpu);
    if (scpu >= 0 && done)
        printf(" server_cpu_us_per_req=%.2f", (m->scpu1 - m->scpu0) * 1e6 / (double)done);
    if (m->status_n[0]) {
        printf(" statuses=");
        print_status(stdout, m, false);
    }
    printf(" cores=%u loadavg=%.2f\n", uv_available_parallelism(), bench_loadavg());
    fflush(stdout);
}

static void maybe_finish(struct omode *m)
{
    if (!m->running)
        return;
    uint64_t now = bench_now();
    bool budget_over = m->sent >= m->o->requests || now >= m->t_end;
    bool none_left = m->pool.established == m->pool.lost; /* every connection lost */
    if (!budget_over && !none_left)
        return;
    if (!m->draining) {
        m->draining = true;
        m->cpu1 = bench_self_cpu();
        m->scpu1 = m->o->pid > 0 ? bench_proc_cpu(m->o->pid) : -1;
        m->t_drain_end = now + (uint64_t)(m->o->timeout_s * 1e9);
    }
    if (m->inflight > 0 && now < m->t_drain_end)
        return;
    m->timeouts += m->inflight; /* still unanswered at the end */
    m->running = false;
    bench_progress(m->o, m->pool.t_begin, "done: %llu answered; closing",
                   (unsigned long long)m->answered);
    report(m);
    bench_pool_close_all(&m->pool, CLOSE_TIMEOUT_S);
}

static void om_tick(struct bench_pool *p, uint64_t now)
{
    struct omode *m = p->mode;
    if (!m->running)
        return;
    /* requests past their timeout count as lost; their slot takes a new one */
    uint64_t limit = (uint64_t)(m->o->timeout_s * 1e9);
    if (!m->draining) {
        for (unsigned i = 0; i < p->n; i++) {
            struct bench_conn *c = &p->conns[i];
            if (c->pstate != BP_UP || c->inflight == 0)
                continue;
            struct slot *sl = conn_slots(m, c);
            for (unsigned j = 0; j < m->o->outstanding; j++) {
                if (sl[j].cseq && now - sl[j].t_sent > limit) {
                    sl[j].cseq = 0;
                    c->inflight--;
                    m->inflight--;
                    m->timeouts++;
                    if (may_send(m, now))
                        send_one(m, c, &sl[j], now);
                }
            }
        }
    }
    if (now - m->t_last_progress >= 1000000000ull) {
        m->t_last_progress = now;
        bench_progress(m->o, p->t_begin,
                       "run: %llu sent, %llu answered, %llu errors, "
                       "%llu timeouts, %.0f/s",
                       (unsigned long long)m->sent, (unsigned long long)m->answered,
                       (unsigned long long)m->errors, (unsigned long long)m->timeouts,
                       (double)m->answered / ((double)(now - m->t_run) / 1e9));
    }
    maybe_finish(m);
}

static void om_ready(struct bench_pool *p)
{
    struct omode *m = p->mode;
    if (p->established == 0) {
        bench_progress(m->o, p->t_begin, "no connection could be established");
        report(m);
        bench_pool_close_all(p, CLOSE_TIMEOUT_S);
        return;
    }
    bench_progress(m->o, p->t_begin, "%u connections up; sending", p->established);
    uint64_t now = bench_now();
    m->running = true;
    m->t_run = m->t_last_progress = m->t_last_answer = now;
    m->t_end = now + (uint64_t)(m->o->duration_s * 1e9);
    m->cpu0 = bench_self_cpu();
    m->scpu0 = m->o->pid > 0 ? bench_proc_cpu(m->o->pid) : -1;
    /* one request per connection per round, so the budget is spread evenly */
    for (unsigned k = 0; k < m->o->outstanding; k++)
        for (unsigned i = 0; i < p->n && may_send(m, now); i++) {
            struct bench_conn *c = &p->conns[i];
            if (c->pstate == BP_UP)
                send_one(m, c, &conn_slots(m, c)[k], now);
        }
}

static void om_closed_all(struct bench_pool *p)
{
    bench_pool_stop(p);
}

static const struct bench_pool_hooks om_hooks = {
    .opened = om_opened,
    .sip = om_sip,
    .lost = om_lost,
    .ready = om_ready,
    .closed_all = om_closed_all,
    .tick = om_tick,
};

int bench_mode_options(struct bench_opts *o)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct omode *m = calloc(1, sizeof(*m));
    if (!m) {
        fprintf(stderr, "wsip bench: out of memory\n");
        return 1;
    }
    m->o = o;
    int rc = 1;
    char err[256];
    m->slots = calloc((size_t)o->connections * o->outstanding, sizeof(*m->slots));
    m->buf = malloc(REQ_CAP);
    if (!m->slots || !m->buf) {
        fprintf(stderr, "wsip bench: out of memory\n");
        goto out;
    }
    if (bench_pool_init(&m->pool, &loop, o, &om_hooks, m, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsip bench: %s\n", err);
        goto out;
    }
    bench_pool_start(&m->pool);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = m->answered > 0 && m->errors == 0 && m->timeouts == 0 && m->pool.failed == 0 ? 0 : 1;
out:
    uv_loop_close(&loop);
    bench_pool_free(&m->pool);
    free(m->slots);
    free(m->buf);
    free(m);
    return rc;
}

/* wsip bench connect: open N connections (WebSocket handshake, optionally one
 * OPTIONS each), hold them idle, close them; with --pid, the server's memory
 * before, after the setup, after the hold and after the close, and what one
 * idle connection costs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

#define CLOSE_TIMEOUT_S 10.0
#define SETTLE_MS       1000

struct cmode {
    struct bench_opts *o;
    struct bench_pool pool;
    uv_timer_t timer;
    int stage; /* 0 hold, 1 settling after the close */
    uint64_t t_hold, t_hold_end, t_last_progress;
    struct bench_mem before, setup, hold, closed, self_before, self_setup;
    double cpu0, cpu_setup, scpu0, scpu_setup;
    unsigned options_refused;
};

static bool cm_opened(struct bench_pool *p, struct bench_conn *c)
{
    struct cmode *m = p->mode;
    if (!m->o->options)
        return true;
    char buf[2048];
    size_t n = bench_sip_options(c, ++c->cseq, buf, sizeof(buf));
    if (n == 0 || bench_conn_send(c, buf, n) < 0)
        bench_pool_fail(p, c, "cannot send OPTIONS");
    return false; /* established on the 200 */
}

static void cm_sip(struct bench_pool *p, struct bench_conn *c, struct wsip_msg *msg)
{
    struct cmode *m = p->mode;
    if (msg->is_request || msg->status < 200 || c->pstate != BP_SETUP)
        return;
    const struct wsip_cseq *cs = wsip_msg_cseq(msg, NULL);
    if (!cs || cs->num != c->cseq)
        return;
    if (msg->status < 300) {
        bench_pool_established(p, c);
    } else {
        m->options_refused++;
        bench_pool_fail(p, c, "OPTIONS answered with an error");
    }
}

static void cm_lost(struct bench_pool *p, struct bench_conn *c, const char *why)
{
    (void)p;
    (void)c;
    (void)why; /* counted by the pool */
}

static void snap(int pid, struct bench_mem *m)
{
    if (pid > 0)
        bench_proc_mem(pid, m);
}

/* bytes per connection between two snapshots (kB) */
static double per_conn(uint64_t after_kb, uint64_t before_kb, unsigned n)
{
    if (n == 0)
        return 0;
    return ((double)after_kb - (double)before_kb) * 1024.0 / n;
}

static void report(struct cmode *m)
{
    const struct bench_opts *o = m->o;
    const struct bench_pool *p = &m->pool;
    double setup_s = (double)(p->t_ready - p->t_begin) / 1e9;
    double hold_s = (double)(m->t_hold_end - m->t_hold) / 1e9;
    double cpu_pct = setup_s > 0 ? 100.0 * (m->cpu_setup - m->cpu0) / setup_s : 0;
    double scpu_pct =
        setup_s > 0 && m->scpu0 >= 0 ? 100.0 * (m->scpu_setup - m->scpu0) / setup_s : -1;
    char top[64];
    bench_reasons_top(&p->fail_why, top, sizeof(top));

    printf("wsip bench connect %s%s\n", o->url_str, o->options ? " (+ one OPTIONS each)" : "");
    printf("  setup        %u/%u established, %u failed, %u not started in %.2f s (%.0f/s)\n",
           p->established, p->n, p->failed, p->not_started, setup_s,
           setup_s > 0 ? p->established / setup_s : 0);
    printf("  setup time   p50 %.2f ms  p99 %.2f ms  max %.2f ms (connect to %s)\n",
           bench_hist_pct(&p->setup, 0.5) / 1e6, bench_hist_pct(&p->setup, 0.99) / 1e6,
           bench_hist_pct(&p->setup, 1.0) / 1e6, o->options ? "200 OK" : "101");
    if (p->failed) {
        printf("  failures     ");
        bench_reasons_print(stdout, &p->fail_why);
        printf("\n");
    }
    printf("  hold         %.1f s idle, %u lost, %llu pings answered\n", hold_s, p->lost,
           (unsigned long long)p->cl.pings_rx);
    if (p->lost) {
        printf("  lost         ");
        bench_reasons_print(stdout, &p->lost_why);
        printf("\n");
    }
    if (bench_reasons_total(&p->close_why)) {
        printf("  unclean close ");
        bench_reasons_print(stdout, &p->close_why);
        printf("\n");
    }
    if (o->pid > 0 && m->before.ok) {
        printf("  server RSS   before %.1f MiB, after setup %.1f MiB, after hold %.1f MiB, "
               "after close %.1f MiB\n",
               m->before.rss_kb / 1024.0, m->setup.rss_kb / 1024.0, m->hold.rss_kb / 1024.0,
               m->closed.rss_kb / 1024.0);
        printf("  server PSS   before %.1f MiB, after setup %.1f MiB, after hold %.1f MiB\n",
               m->before.pss_kb / 1024.0, m->setup.pss_kb / 1024.0, m->hold.pss_kb / 1024.0);
        printf("  per conn     RSS %.0f B, PSS %.0f B (after the hold; after setup: RSS %.0f B)\n",
               per_conn(m->hold.rss_kb, m->before.rss_kb, p->established),
               per_conn(m->hold.pss_kb, m->before.pss_kb, p->established),
               per_conn(m->setup.rss_kb, m->before.rss_kb, p->established));
    }
    printf("  client       CPU %.0f%% of one core during setup%s, RSS %.1f MiB (%.0f B/conn)\n",
           cpu_pct, "", m->self_setup.rss_kb / 1024.0,
           per_conn(m->self_setup.rss_kb, m->self_before.rss_kb, p->established));
    if (scpu_pct >= 0)
        printf("  server       CPU %.0f%% of one core during setup\n", scpu_pct);

    printf("bench=connect transport=%s url=%s%s%s connections=%u established=%u failed=%u "
           "not_started=%u fail_top=%s options=%d setup_s=%.3f setup_per_s=%.0f "
           "setup_p50_us=%.0f setup_p99_us=%.0f setup_max_us=%.0f hold_s=%.1f lost=%u pings=%llu "
           "close_unclean=%llu",
           bench_tp_name(o->url.tp), o->url_str, o->label ? " label=" : "",
           o->label ? o->label : "", p->n, p->established, p->failed, p->not_started, top,
           o->options ? 1 : 0, setup_s, setup_s > 0 ? p->established / setup_s : 0,
           bench_hist_pct(&p->setup, 0.5) / 1e3, bench_hist_pct(&p->setup, 0.99) / 1e3,
           bench_hist_pct(&p->setup, 1.0) / 1e3, hold_s, p->lost,
           (unsigned long long)p->cl.pings_rx,
           (unsigned long long)bench_reasons_total(&p->close_why));
    if (o->pid > 0 && m->before.ok)
        printf(" server_rss_before_kb=%llu server_rss_setup_kb=%llu server_rss_hold_kb=%llu "
               "server_rss_closed_kb=%llu server_pss_before_kb=%llu server_pss_hold_kb=%llu "
               "bytes_per_conn_rss=%.0f bytes_per_conn_pss=%.0f bytes_per_conn_rss_setup=%.0f "
               "server_cpu_setup_pct=%.0f",
               (unsigned long long)m->before.rss_kb, (unsigned long long)m->setup.rss_kb,
               (unsigned long long)m->hold.rss_kb, (unsigned long long)m->closed.rss_kb,
               (unsigned long long)m->before.pss_kb, (unsigned long long)m->hold.pss_kb,
               per_conn(m->hold.rss_kb, m->before.rss_kb, p->established),
               per_conn(m->hold.pss_kb, m->before.pss_kb, p->established),
               per_conn(m->setup.rss_kb, m->before.rss_kb, p->established), scpu_pct);
    printf(" client_cpu_setup_pct=%.0f client_rss_kb=%llu client_bytes_per_conn=%.0f "
           "loadavg=%.2f\n",
           cpu_pct, (unsigned long long)m->self_setup.rss_kb,
           per_conn(m->self_setup.rss_kb, m->self_before.rss_kb, p->established), bench_loadavg());
    fflush(stdout);
}

static void on_timer(uv_timer_t *t)
{
    struct cmode *m = t->data;
    uint64_t now = bench_now();
    if (m->stage == 0) {
        if (now < m->t_hold_end) {
            if (now - m->t_last_progress >= 1000000000ull) {
                m->t_last_progress = now;
                bench_progress(m->o, m->pool.t_begin, "hold: %u open, %u lost, %.0f s left",
                               m->pool.established - m->pool.lost, m->pool.lost,
                               (double)(m->t_hold_end - now) / 1e9);
            }
            return;
        }
        m->t_hold_end = now;
        snap(m->o->pid, &m->hold);
        uv_timer_stop(t);
        bench_progress(m->o, m->pool.t_begin, "closing %u connections",
                       m->pool.established - m->pool.lost);
        bench_pool_close_all(&m->pool, CLOSE_TIMEOUT_S);
        return;
    }
    /* settled after the close */
    snap(m->o->pid, &m->closed);
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    report(m);
    bench_pool_stop(&m->pool);
}

static void cm_ready(struct bench_pool *p)
{
    struct cmode *m = p->mode;
    m->cpu_setup = bench_self_cpu();
    m->scpu_setup = m->o->pid > 0 ? bench_proc_cpu(m->o->pid) : -1;
    snap(m->o->pid, &m->setup);
    bench_proc_mem(getpid(), &m->self_setup);
    bench_progress(m->o, p->t_begin, "setup done: %u established, %u failed; holding %.0f s",
                   p->established, p->failed, m->o->hold_s);
    m->stage = 0;
    m->t_hold = m->t_last_progress = bench_now();
    m->t_hold_end = m->t_hold + (uint64_t)(m->o->hold_s * 1e9);
    uv_timer_start(&m->timer, on_timer, 0, 100);
}

static void cm_closed_all(struct bench_pool *p)
{
    struct cmode *m = p->mode;
    m->stage = 1;
    /* give the server a moment to free what the closes released */
    uv_timer_start(&m->timer, on_timer, m->o->pid > 0 ? SETTLE_MS : 0, 0);
}

static const struct bench_pool_hooks cm_hooks = {
    .opened = cm_opened,
    .sip = cm_sip,
    .lost = cm_lost,
    .ready = cm_ready,
    .closed_all = cm_closed_all,
};

int bench_mode_connect(struct bench_opts *o)
{
    if (o->url.tp == BENCH_TP_UDP) {
        fprintf(stderr, "wsip bench connect: needs a connection transport (ws, wss, tcp, tls)\n");
        return 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct cmode *m = calloc(1, sizeof(*m));
    if (!m) {
        fprintf(stderr, "wsip bench: out of memory\n");
        return 1;
    }
    m->o = o;
    char err[256];
    int rc = 1;
    if (bench_pool_init(&m->pool, &loop, o, &cm_hooks, m, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsip bench: %s\n", err);
        goto out;
    }
    uv_timer_init(&loop, &m->timer);
    m->timer.data = m;
    if (o->pid > 0 && bench_proc_mem(o->pid, &m->before) < 0)
        fprintf(stderr, "wsip bench: cannot read /proc/%d/smaps_rollup: no memory figures\n",
                o->pid);
    bench_proc_mem(getpid(), &m->self_before);
    m->cpu0 = bench_self_cpu();
    m->scpu0 = o->pid > 0 ? bench_proc_cpu(o->pid) : -1;
    bench_pool_start(&m->pool);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = m->pool.established == m->pool.n && m->pool.lost == 0 ? 0 : 1;
out:
    uv_loop_close(&loop);
    bench_pool_free(&m->pool);
    free(m);
    return rc;
}

/* The admin pages' content: a snapshot of the server (counters summed over
 * the workers, the location service's first bindings, the digest services'
 * results) rendered by http/admin.c. Runs on the libuv threadpool, never on
 * a worker's loop: everything read here is thread-safe (relaxed loads of
 * the counters, one shard lock at a time in the location service). */
#include <string.h>

#include "core/core.h"
#include "http/admin.h"
#include "transport/transport.h"

static void per_worker_collect(const struct wsip_server *s, struct wsip_status *st)
{
    for (unsigned i = 0; i < s->nworkers && i < WSIP_MAX_WORKERS; i++) {
        const struct wsip_counters *c = &s->workers[i].ctr;
        struct wsip_worker_load *l = &st->per_worker[i];
        for (unsigned m = 0; m < WSIP_CTR_METHODS; m++)
            l->requests += atomic_load_explicit(&c->requests[m], memory_order_relaxed);
        l->udp_handed_over = atomic_load_explicit(&c->udp_handed_over, memory_order_relaxed);
    }
}

/* Fills st; st->list holds references: release with status_release. */
static void status_collect(struct wsip_server *s, struct wsip_status *st,
                           struct wsip_binding_list *refs)
{
    memset(st, 0, sizeof(*st));
    memset(refs, 0, sizeof(*refs));
    st->version = wsip_build_version;
    st->uptime_ms = wsip_now_ms() - s->start_ms;
    st->start_unix_ms = s->start_wall_ms;
    st->now_unix_ms = wsip_core_now();
    st->workers = s->nworkers;
    wsip_server_counters(s, &st->c);
    per_worker_collect(s, st);
    struct wsip_core *core = s->core;
    if (!core)
        return;
    st->registrar = true;
    st->bindings = wsip_location_count(core->loc);
    st->aors = wsip_location_count_aors(core->loc);
    /* on failure (memory) the list is empty; the counts still show */
    if (wsip_location_snapshot(core->loc, st->now_unix_ms, WSIP_STATUS_LIST_MAX, refs) == 0) {
        st->list = refs->v;
        st->nlist = refs->n;
    }
    /* the table may hold expired bindings not purged yet: never list
     * more than it says it has */
    if (st->bindings < st->nlist)
        st->bindings = st->nlist;
    struct wsip_auth_svc *svcs[2] = {core->auth, core->auth_ws};
    for (int i = 0; i < 2; i++) {
        if (!svcs[i] || (i == 1 && svcs[1] == svcs[0]))
            continue;
        struct wsip_auth_stats a;
        wsip_auth_svc_stats(svcs[i], &a);
        for (unsigned r = 0; r < WSIP_AUTH_RC_COUNT; r++)
            st->auth.by_rc[r] += a.by_rc[r];
        st->auth.challenges += a.challenges;
        st->auth.replays += a.replays;
        st->auth.replay_evictions += a.replay_evictions;
    }
}

void wsip_status_respond(struct wsip_server *s, enum wsip_admin_page page, bool head,
                         struct wsip_sbuf *out)
{
    if (page == WSIP_ADMIN_HTML) {
        /* a page of our own: it loads nothing from elsewhere, and what it
         * shows (user agents, contacts) goes in as text, never as markup */
        wsip_admin_head(out, WSIP_ADMIN_HTML_TYPE, wsip_status_page_len,
                        "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
                        "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
                        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
                        "X-Frame-Options: DENY\r\n"
                        "Referrer-Policy: no-referrer\r\n");
        if (!head)
            wsip_sbuf_append(out, wsip_status_page, wsip_status_page_len);
        return;
    }
    struct wsip_status st;
    struct wsip_binding_list refs;
    status_collect(s, &st, &refs);
    struct wsip_sbuf body;
    wsip_sbuf_init(&body);
    if (page == WSIP_ADMIN_JSON)
        wsip_status_json(&st, &body);
    else
        wsip_status_metrics(&st, &body);
    wsip_binding_list_free(&refs);
    if (body.oom) {
        wsip_admin_refuse(out, 503, head);
    } else {
        wsip_admin_head(out,
                        page == WSIP_ADMIN_JSON ? WSIP_ADMIN_JSON_TYPE : WSIP_ADMIN_METRICS_TYPE,
                        body.len, NULL);
        if (!head)
            wsip_sbuf_append(out, body.p, body.len);
    }
    wsip_sbuf_free(&body);
}

/* The store thread: write-behind of bindings through a bounded FIFO, one
 * transaction per batch, and the data_version poll that reloads the user
 * cache when another process changed the users. Producers (workers) hold
 * the queue lock only for a few pointer moves and never wait for SQLite. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_int.h"
#include "wsip/log.h"

/* A single string past this is a bug upstream, not a binding. */
#define FIELD_MAX 65536

static void add_ms(struct timespec *t, unsigned ms)
{
    t->tv_sec += ms / 1000;
    t->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

static bool reached(const struct timespec *now, const struct timespec *t)
{
    return now->tv_sec > t->tv_sec || (now->tv_sec == t->tv_sec && now->tv_nsec >= t->tv_nsec);
}

/* ---------------------------------------------------------------- queue */

/* Copies s into the op's data at *off and points dst at the copy. */
static void put_str(struct store_op *op, size_t *off, struct wsip_str *dst, struct wsip_str src)
{
    char *p = op->data + *off;
    if (src.len)
        memcpy(p, src.p, src.len);
    p[src.len] = '\0';
    *dst = wsip_str_make(p, src.len);
    *off += src.len + 1;
}

static struct store_op *op_new(enum store_op_kind kind, const struct wsip_store_binding *b)
{
    const struct wsip_str *f[] = {&b->aor,        &b->contact,  &b->instance,
                                  &b->path,       &b->received, &b->call_id,
                                  &b->user_agent, &b->params,   &b->temp_gruu};
    size_t total = 0;
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (f[i]->len > FIELD_MAX || (f[i]->len && !f[i]->p))
            return NULL;
        total += f[i]->len + 1;
    }
    struct store_op *op = malloc(sizeof(*op) + total);
    if (!op)
        return NULL;
    op->next = NULL;
    op->kind = kind;
    op->b = *b;
    size_t off = 0;
    put_str(op, &off, &op->b.aor, b->aor);
    put_str(op, &off, &op->b.contact, b->contact);
    put_str(op, &off, &op->b.instance, b->instance);
    put_str(op, &off, &op->b.path, b->path);
    put_str(op, &off, &op->b.received, b->received);
    put_str(op, &off, &op->b.call_id, b->call_id);
    put_str(op, &off, &op->b.user_agent, b->user_agent);
    put_str(op, &off, &op->b.params, b->params);
    put_str(op, &off, &op->b.temp_gruu, b->temp_gruu);
    return op;
}

/* How long the thread lets writes gather after the first one of a burst:
 * SQLite's cost is mostly per commit, and write-behind can wait this long. */
#define STORE_GATHER_MS 10

static int enqueue(struct wsip_store *s, struct store_op *op)
{
    if (!op)
        return -1;
    struct store_op *drop = NULL;
    pthread_mutex_lock(&s->qmu);
    if (s->state >= STORE_STOPPING) {
        pthread_mutex_unlock(&s->qmu);
        free(op);
        return -1;
    }
    op->seq = ++s->seq;
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    s->qlen++;
    s->stats.enqueued++;
    /* full: the oldest write goes (a newer one for the same binding is
     * likely behind it); the thread logs the count */
    if (s->qlen > s->opts.queue_limit) {
        drop = s->head;
        s->head = drop->next;
        s->qlen--;
        s->stats.dropped++;
    }
    /* one wake-up per batch, not per write: a REGISTER refresh should not
     * cost the worker a futex call */
    if (s->state == STORE_RUNNING && s->idle) {
        s->idle = false;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->qmu);
    free(drop);
    return 0;
}

int wsip_store_binding_put(struct wsip_store *s, const struct wsip_store_binding *b)
{
    return enqueue(s, op_new(OP_PUT, b));
}

int wsip_store_binding_del(struct wsip_store *s, struct wsip_str aor, struct wsip_str contact,
                           struct wsip_str instance)
{
    struct wsip_store_binding b = {.aor = aor, .contact = contact, .instance = instance};
    return enqueue(s, op_new(OP_DEL, &b));
}

int wsip_store_binding_del_aor(struct wsip_store *s, struct wsip_str aor)
{
    struct wsip_store_binding b = {.aor = aor};
    return enqueue(s, op_new(OP_DEL_AOR, &b));
}

void store_queue_free(struct wsip_store *s)
{
    pthread_mutex_lock(&s->qmu);
    struct store_op *op = s->head;
    s->head = s->tail = NULL;
    s->qlen = 0;
    pthread_mutex_unlock(&s->qmu);
    while (op) {
        struct store_op *next = op->next;
        free(op);
        op = next;
    }
}

void wsip_store_get_stats(struct wsip_store *s, struct wsip_store_stats *out)
{
    pthread_mutex_lock(&s->qmu);
    *out = s->stats;
    out->queued = s->qlen;
    pthread_mutex_unlock(&s->qmu);
}

/* --------------------------------------------------------------- thread */

static void bind_str(sqlite3_stmt *st, int i, struct wsip_str v)
{
    sqlite3_bind_text(st, i, v.p ? v.p : "", (int)v.len, SQLITE_STATIC);
}

/* One write inside the batch's transaction. */
static int apply(struct store_conn *c, const struct store_op *op)
{
    const struct wsip_store_binding *b = &op->b;
    sqlite3_stmt *st;
    switch (op->kind) {
    case OP_PUT:
        if (!(st = store_stmt(c, ST_BIND_PUT)))
            return -1;
        bind_str(st, 1, b->aor);
        bind_str(st, 2, b->contact);
        bind_str(st, 3, b->instance);
        sqlite3_bind_int64(st, 4, b->reg_id);
        bind_str(st, 5, b->path);
        bind_str(st, 6, b->received);
        sqlite3_bind_int(st, 7, (int)(b->q > 1000 ? 1000 : b->q));
        sqlite3_bind_int64(st, 8, b->expires);
        bind_str(st, 9, b->call_id);
        sqlite3_bind_int64(st, 10, b->cseq);
        bind_str(st, 11, b->user_agent);
        sqlite3_bind_int64(st, 12, b->flags);
        bind_str(st, 13, b->params);
        bind_str(st, 14, b->temp_gruu);
        break;
    case OP_DEL:
        if (!(st = store_stmt(c, ST_BIND_DEL)))
            return -1;
        bind_str(st, 1, b->aor);
        bind_str(st, 2, b->contact);
        bind_str(st, 3, b->instance);
        break;
    default:
        if (!(st = store_stmt(c, ST_BIND_DEL_AOR)))
            return -1;
        bind_str(st, 1, b->aor);
        break;
    }
    return store_step_done(st);
}

/* ------------------------------------------------------------ coalescing */

static uint64_t str_hash(uint64_t h, struct wsip_str v)
{
    for (size_t i = 0; i < v.len; i++)
        h = (h ^ (unsigned char)v.p[i]) * 0x100000001b3ull; /* FNV-1a */
    return (h ^ 0xff) * 0x100000001b3ull;                   /* a field separator */
}

static uint64_t op_key(const struct store_op *op, bool row)
{
    uint64_t h = str_hash(0xcbf29ce484222325ull, op->b.aor);
    if (row) {
        h = str_hash(h, op->b.contact);
        h = str_hash(h, op->b.instance);
    }
    return h ? h : 1;
}

static bool same_row(const struct store_op *a, const struct store_op *b)
{
    return wsip_str_eq(a->b.aor, b->b.aor) && wsip_str_eq(a->b.contact, b->b.contact) &&
           wsip_str_eq(a->b.instance, b->b.instance);
}

/* Marks the writes a later one in the same batch makes pointless: a put or
 * delete of the same row (the row's primary key), or a delete of the whole
 * AOR. A refresh storm then costs one write per binding, not per REGISTER.
 * skip[i] is set for op number i of the list. */
static void coalesce(struct store_op *list, size_t n, bool *skip)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    struct slot {
        uint64_t h;
        const struct store_op *op;
        bool aor_only;
    } *tab = calloc(cap, sizeof(*tab));
    struct store_op **v = malloc(n * sizeof(*v));
    if (!tab || !v) {
        free(tab);
        free(v);
        return; /* every write is applied: slower, not wrong */
    }
    size_t i = 0;
    for (struct store_op *op = list; op; op = op->next)
        v[i++] = op;
    /* from the newest: an op is redundant when a newer one covers its row */
    for (size_t k = n; k-- > 0;) {
        const struct store_op *op = v[k];
        bool covered = false;
        uint64_t hr = op_key(op, true), ha = op_key(op, false);
        for (size_t j = ha & (cap - 1); tab[j].h; j = (j + 1) & (cap - 1))
            if (tab[j].h == ha && tab[j].aor_only && wsip_str_eq(tab[j].op->b.aor, op->b.aor))
                covered = true;
        if (op->kind != OP_DEL_AOR)
            for (size_t j = hr & (cap - 1); !covered && tab[j].h; j = (j + 1) & (cap - 1))
                if (tab[j].h == hr && !tab[j].aor_only && same_row(tab[j].op, op))
                    covered = true;
        skip[k] = covered;
        if (covered)
            continue;
        bool aor_only = op->kind == OP_DEL_AOR;
        uint64_t h = aor_only ? ha : hr;
        size_t j = h & (cap - 1);
        while (tab[j].h)
            j = (j + 1) & (cap - 1);
        tab[j] = (struct slot){h, op, aor_only};
    }
    free(tab);
    free(v);
}

/* Applies a detached list in one transaction; frees it. */
static void run_batch(struct wsip_store *s, struct store_op *list)
{
    struct store_conn *c = &s->tconn;
    uint64_t n = 0, failed = 0, last = 0;
    for (const struct store_op *op = list; op; op = op->next)
        n++;
    bool *skip = n > 1 ? calloc(n, sizeof(*skip)) : NULL;
    uint64_t skipped = 0;
    if (skip) {
        coalesce(list, n, skip);
        for (size_t i = 0; i < n; i++)
            skipped += skip[i];
    }
    bool ok = false;
    /* a second try only helps when another process held the lock past
     * busy_timeout; anything else fails the same way twice */
    for (int attempt = 0; attempt < 2 && !ok; attempt++) {
        failed = 0;
        sqlite3_stmt *st = store_stmt(c, ST_BEGIN);
        if (!st || store_step_done(st) < 0) {
            wsip_log_error(NULL, "store: begin: %s", sqlite3_errmsg(c->db));
            continue;
        }
        size_t i = 0;
        for (const struct store_op *op = list; op; op = op->next, i++) {
            if (skip && skip[i])
                continue;
            if (apply(c, op) < 0) {
                failed++;
                wsip_log_error(NULL, "store: binding write for " WSIP_STR_FMT ": %s",
                               WSIP_STR_ARG(op->b.aor), sqlite3_errmsg(c->db));
            }
        }
        st = store_stmt(c, ST_COMMIT);
        if (st && store_step_done(st) == 0) {
            ok = true;
            break;
        }
        wsip_log_error(NULL, "store: commit of %llu writes: %s", (unsigned long long)n,
                       sqlite3_errmsg(c->db));
        st = store_stmt(c, ST_ROLLBACK);
        if (st)
            store_step_done(st);
    }
    free(skip);
    while (list) {
        struct store_op *next = list->next;
        last = list->seq;
        free(list);
        list = next;
    }
    pthread_mutex_lock(&s->qmu);
    if (ok) {
        s->stats.written += n - failed;
        s->stats.coalesced += skipped;
        s->stats.failed += failed;
        s->stats.batches++;
    } else {
        s->stats.failed += n;
    }
    if (last > s->done_seq)
        s->done_seq = last;
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->qmu);
}

/* Reloads the user cache when the file changed under another connection;
 * logs writes dropped since the last poll. */
static void poll_once(struct wsip_store *s, bool force)
{
    int64_t v;
    if (store_data_version(&s->tconn, &v) < 0) {
        wsip_log_error(NULL, "store: data_version: %s", sqlite3_errmsg(s->tconn.db));
    } else if ((force || v != s->tconn.data_version) && s->opts.users) {
        if (store_users_reload_conn(s->opts.users, &s->tconn) == 0) {
            s->tconn.data_version = v;
            pthread_mutex_lock(&s->qmu);
            s->stats.reloads++;
            pthread_mutex_unlock(&s->qmu);
            wsip_log_debug(NULL, "store: user cache reloaded (%zu users)",
                           wsip_users_count(s->opts.users));
        } else {
            wsip_log_error(NULL, "store: user cache reload: %s", sqlite3_errmsg(s->tconn.db));
        }
    } else {
        s->tconn.data_version = v;
    }
    pthread_mutex_lock(&s->qmu);
    uint64_t dropped = s->stats.dropped - s->dropped_logged;
    s->dropped_logged = s->stats.dropped;
    pthread_mutex_unlock(&s->qmu);
    if (dropped)
        wsip_log_warn(NULL, "store: write queue full (%zu): dropped %llu oldest binding writes",
                      s->opts.queue_limit, (unsigned long long)dropped);
}

static void *store_main(void *arg)
{
    struct wsip_store *s = arg;
    wsip_log_set_thread_tag("store");
    /* users added between the caller's own load and now are not missed */
    poll_once(s, true);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    add_ms(&next, s->opts.poll_interval_ms);

    bool gathered = false;
    pthread_mutex_lock(&s->qmu);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (reached(&now, &next)) {
            pthread_mutex_unlock(&s->qmu);
            poll_once(s, false);
            pthread_mutex_lock(&s->qmu);
            next = now;
            add_ms(&next, s->opts.poll_interval_ms);
            continue;
        }
        if (s->head && s->state == STORE_RUNNING && !s->hurry && !gathered) {
            /* let a burst gather: one commit for many writes */
            struct timespec until = now;
            add_ms(&until, STORE_GATHER_MS);
            if (reached(&until, &next))
                until = next;
            gathered = true;
            pthread_cond_timedwait(&s->wake, &s->qmu, &until);
            continue;
        }
        if (s->head) {
            gathered = false;
            /* take everything queued: one transaction for all of it */
            struct store_op *list = s->head;
            s->head = s->tail = NULL;
            s->qlen = 0;
            pthread_mutex_unlock(&s->qmu);
            run_batch(s, list);
            pthread_mutex_lock(&s->qmu);
            continue;
        }
        if (s->state != STORE_RUNNING)
            break;
        s->idle = true;
        pthread_cond_timedwait(&s->wake, &s->qmu, &next);
        s->idle = false;
    }
    pthread_mutex_unlock(&s->qmu);
    poll_once(s, false); /* log the last drops */
    return NULL;
}

int wsip_store_start(struct wsip_store *s)
{
    pthread_mutex_lock(&s->qmu);
    enum store_state st = s->state;
    pthread_mutex_unlock(&s->qmu);
    if (st != STORE_IDLE) {
        snprintf(s->errmsg, sizeof(s->errmsg), "store thread already started");
        return -1;
    }
    char err[256];
    if (store_conn_open(&s->tconn, s->path, s->opts.busy_timeout_ms, err, sizeof(err)) < 0) {
        snprintf(s->errmsg, sizeof(s->errmsg), "%s", err);
        return -1;
    }
    pthread_mutex_lock(&s->qmu);
    s->state = STORE_RUNNING;
    int rc = pthread_create(&s->thread, NULL, store_main, s);
    if (rc != 0)
        s->state = STORE_IDLE;
    pthread_mutex_unlock(&s->qmu);
    if (rc != 0) {
        store_conn_close(&s->tconn);
        snprintf(s->errmsg, sizeof(s->errmsg), "store thread: %s", strerror(rc));
        return -1;
    }
    return 0;
}

void wsip_store_flush(struct wsip_store *s)
{
    pthread_mutex_lock(&s->qmu);
    uint64_t target = s->seq;
    if (s->done_seq < target) {
        s->hurry = true;
        pthread_cond_signal(&s->wake);
    }
    while ((s->state == STORE_RUNNING || s->state == STORE_STOPPING) && s->done_seq < target)
        pthread_cond_wait(&s->done, &s->qmu);
    s->hurry = false;
    pthread_mutex_unlock(&s->qmu);
}

void wsip_store_stop(struct wsip_store *s)
{
    pthread_mutex_lock(&s->qmu);
    bool running = s->state == STORE_RUNNING;
    if (running) {
        s->state = STORE_STOPPING;
        pthread_cond_signal(&s->wake);
    } else if (s->state == STORE_IDLE) {
        s->state = STORE_STOPPED; /* writes after stop are refused even without a thread */
    }
    pthread_mutex_unlock(&s->qmu);
    if (!running)
        return;
    pthread_join(s->thread, NULL); /* the thread empties the queue before it exits */
    store_conn_close(&s->tconn);
    pthread_mutex_lock(&s->qmu);
    s->state = STORE_STOPPED;
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->qmu);
}

/* The store object and its synchronous API (CLI, startup): open with the
 * file's directory and mode, users, bindings load and purge. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"
#include "wsip/log.h"

#define DEFAULT_QUEUE_LIMIT 100000
#define DEFAULT_POLL_MS     1000
#define DEFAULT_BUSY_MS     5000

/* mkdir -p of the directory part of path (0700: the file holds hashes). */
static int make_parent(const char *path, char *err, size_t errlen)
{
    char dir[4096];
    size_t n = strlen(path);
    if (n >= sizeof(dir)) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            int e = errno;
            struct stat st;
            /* an existing directory may refuse mkdir with EACCES, not EEXIST */
            if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(e));
                return -1;
            }
        }
        *p = c;
        if (c == '\0')
            break;
    }
    return 0;
}

/* SQLite would create the file 0644; create it 0600 first. Its -wal and
 * -shm files take the database file's mode. */
static int create_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && (st.st_mode & 077))
            wsip_log_warn(NULL, "store: %s has mode %03o and holds password hashes: chmod 600 it",
                          path, (unsigned)(st.st_mode & 0777));
        return 0;
    }
    snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return -1;
}

int wsip_store_open(struct wsip_store **out, const struct wsip_store_opts *o, char *err,
                    size_t errlen)
{
    char scratch[256];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    err[0] = '\0';
    *out = NULL;
    if (!o || !o->path || !o->path[0]) {
        snprintf(err, errlen, "no database path");
        return -1;
    }
    struct wsip_store *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(o->path))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->opts = *o;
    s->opts.path = s->path;
    if (!s->opts.queue_limit)
        s->opts.queue_limit = DEFAULT_QUEUE_LIMIT;
    if (!s->opts.poll_interval_ms)
        s->opts.poll_interval_ms = DEFAULT_POLL_MS;
    if (!s->opts.busy_timeout_ms)
        s->opts.busy_timeout_ms = DEFAULT_BUSY_MS;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->qmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the poll timer ignores clock steps */
    pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&s->done, NULL);
    s->state = STORE_IDLE;

    if (make_parent(s->path, err, errlen) < 0 || create_file(s->path, err, errlen) < 0 ||
        store_conn_open(&s->main, s->path, s->opts.busy_timeout_ms, err, errlen) < 0)
        goto fail;
    char why[256];
    if (store_migrate(&s->main, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: %s", s->path, why);
        goto fail;
    }
    /* the migration is our own write: changes seen from now on are others' */
    store_data_version(&s->main, &s->main.data_version);
    *out = s;
    return 0;
fail:
    wsip_store_close(s);
    return -1;
}

void wsip_store_close(struct wsip_store *s)
{
    if (!s)
        return;
    wsip_store_stop(s);
    store_queue_free(s);
    store_conn_close(&s->main);
    pthread_cond_destroy(&s->done);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->qmu);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

const char *wsip_store_errmsg(struct wsip_store *s)
{
    return s->errmsg[0] ? s->errmsg : "no error";
}

/* Records the main connection's error; returns -1. Called under s->mu. */
static int fail_db(struct wsip_store *s, const char *what)
{
    snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what, sqlite3_errmsg(s->main.db));
    return -1;
}

static int fail_msg(struct wsip_store *s, const char *msg)
{
    snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg);
    return -1;
}

int wsip_store_schema_version(struct wsip_store *s)
{
    pthread_mutex_lock(&s->mu);
    int v = -1;
    sqlite3_stmt *st = store_stmt(&s->main, ST_SCHEMA_VERSION);
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    else
        fail_db(s, "schema_version");
    if (st)
        sqlite3_reset(st);
    pthread_mutex_unlock(&s->mu);
    return v;
}

int wsip_store_data_changed(struct wsip_store *s)
{
    pthread_mutex_lock(&s->mu);
    int64_t v;
    int rc;
    if (store_data_version(&s->main, &v) < 0) {
        rc = fail_db(s, "data_version");
    } else {
        rc = v != s->main.data_version;
        s->main.data_version = v;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---------------------------------------------------------------- users */

/* Lower-cased copy of a domain; -1 when it does not fit. */
static int lower_domain(const char *in, char out[WSIP_DOMAIN_MAX + 1])
{
    size_t n = strlen(in);
    if (n == 0 || n > WSIP_DOMAIN_MAX)
        return -1;
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    return 0;
}

static bool is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int wsip_store_user_put(struct wsip_store *s, const struct wsip_user *u, bool replace)
{
    char domain[WSIP_DOMAIN_MAX + 1];
    pthread_mutex_lock(&s->mu);
    int rc = -1;
    size_t ulen = strnlen(u->user, sizeof(u->user));
    size_t rlen = strnlen(u->realm, sizeof(u->realm));
    if (ulen == 0 || ulen > WSIP_USER_MAX || rlen == 0 || rlen > WSIP_REALM_MAX ||
        strnlen(u->domain, sizeof(u->domain)) > WSIP_DOMAIN_MAX ||
        lower_domain(u->domain, domain) < 0) {
        fail_msg(s, "user, domain or realm empty or too long");
        goto out;
    }
    /* the store holds hashes only: refuse anything else in those columns */
    if (!is_hex(u->ha1_md5, 32) || !is_hex(u->ha1_sha256, 64)) {
        fail_msg(s, "HA1 values must be lower-case hex (32 and 64 digits)");
        goto out;
    }
    sqlite3_stmt *st = store_stmt(&s->main, replace ? ST_USER_REPLACE : ST_USER_INSERT);
    if (!st) {
        fail_db(s, "users");
        goto out;
    }
    sqlite3_bind_text(st, 1, u->user, (int)ulen, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, u->realm, (int)rlen, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, u->ha1_md5, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, u->ha1_sha256, 64, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, u->created);
    int sr = sqlite3_step(st);
    if (sr == SQLITE_DONE) {
        rc = 0;
    } else if (sr == SQLITE_CONSTRAINT_PRIMARYKEY) {
        snprintf(s->errmsg, sizeof(s->errmsg), "user %s@%s exists", u->user, domain);
        rc = WSIP_STORE_EXISTS;
    } else {
        fail_db(s, "users");
    }
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* A text column as a NUL-terminated copy (truncated to cap). */
static void col_copy(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? t : "");
}

static void row_to_user(sqlite3_stmt *st, struct wsip_user *u)
{
    col_copy(st, 0, u->user, sizeof(u->user));
    col_copy(st, 1, u->domain, sizeof(u->domain));
    col_copy(st, 2, u->realm, sizeof(u->realm));
    col_copy(st, 3, u->ha1_md5, sizeof(u->ha1_md5));
    col_copy(st, 4, u->ha1_sha256, sizeof(u->ha1_sha256));
    u->created = sqlite3_column_int64(st, 5);
}

int wsip_store_user_get(struct wsip_store *s, const char *user, const char *domain,
                        struct wsip_user *out)
{
    char dom[WSIP_DOMAIN_MAX + 1];
    if (lower_domain(domain, dom) < 0)
        return WSIP_STORE_NOT_FOUND;
    pthread_mutex_lock(&s->mu);
    int rc = -1;
    sqlite3_stmt *st = store_stmt(&s->main, ST_USER_GET);
    if (!st) {
        fail_db(s, "users");
        goto out;
    }
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dom, -1, SQLITE_STATIC);
    int sr = sqlite3_step(st);
    if (sr == SQLITE_ROW) {
        row_to_user(st, out);
        rc = 0;
    } else if (sr == SQLITE_DONE) {
        rc = WSIP_STORE_NOT_FOUND;
    } else {
        fail_db(s, "users");
    }
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int wsip_store_user_del(struct wsip_store *s, const char *user, const char *domain)
{
    char dom[WSIP_DOMAIN_MAX + 1];
    if (lower_domain(domain, dom) < 0)
        return WSIP_STORE_NOT_FOUND;
    pthread_mutex_lock(&s->mu);
    int rc = -1;
    sqlite3_stmt *st = store_stmt(&s->main, ST_USER_DEL);
    if (!st) {
        fail_db(s, "users");
        goto out;
    }
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dom, -1, SQLITE_STATIC);
    if (store_step_done(st) < 0)
        fail_db(s, "users");
    else
        rc = sqlite3_changes(s->main.db) > 0 ? 0 : WSIP_STORE_NOT_FOUND;
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

long wsip_store_user_list(struct wsip_store *s, int (*cb)(const struct wsip_user *u, void *arg),
                          void *arg)
{
    pthread_mutex_lock(&s->mu);
    long n = -1;
    sqlite3_stmt *st = store_stmt(&s->main, ST_USER_LIST);
    if (!st) {
        fail_db(s, "users");
        goto out;
    }
    struct wsip_user u;
    int sr;
    n = 0;
    while ((sr = sqlite3_step(st)) == SQLITE_ROW) {
        row_to_user(st, &u);
        n++;
        if (cb(&u, arg) != 0) {
            sr = SQLITE_DONE;
            break;
        }
    }
    if (sr != SQLITE_DONE)
        n = fail_db(s, "users");
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ------------------------------------------------------------- bindings */

static struct wsip_str col_str(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    if (!t)
        return wsip_str_make("", 0);
    return wsip_str_make(t, (size_t)sqlite3_column_bytes(st, i));
}

long wsip_store_bindings_load(struct wsip_store *s, int64_t now,
                              int (*cb)(const struct wsip_store_binding *b, void *arg), void *arg)
{
    pthread_mutex_lock(&s->mu);
    long n = -1;
    sqlite3_stmt *st = store_stmt(&s->main, ST_BIND_LOAD);
    if (!st) {
        fail_db(s, "bindings");
        goto out;
    }
    sqlite3_bind_int64(st, 1, now ? now : INT64_MIN);
    int sr;
    n = 0;
    while ((sr = sqlite3_step(st)) == SQLITE_ROW) {
        struct wsip_store_binding b = {
            .aor = col_str(st, 0),
            .contact = col_str(st, 1),
            .instance = col_str(st, 2),
            .reg_id = sqlite3_column_int64(st, 3),
            .path = col_str(st, 4),
            .received = col_str(st, 5),
            .q = (unsigned)sqlite3_column_int(st, 6),
            .expires = sqlite3_column_int64(st, 7),
            .call_id = col_str(st, 8),
            .cseq = (uint32_t)sqlite3_column_int64(st, 9),
            .user_agent = col_str(st, 10),
            .flags = (uint32_t)sqlite3_column_int64(st, 11),
            .params = col_str(st, 12),
            .temp_gruu = col_str(st, 13),
        };
        n++;
        if (cb(&b, arg) != 0) {
            sr = SQLITE_DONE;
            break;
        }
    }
    if (sr != SQLITE_DONE)
        n = fail_db(s, "bindings");
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->mu);
    return n;
}

long wsip_store_bindings_purge(struct wsip_store *s, int64_t now)
{
    pthread_mutex_lock(&s->mu);
    long n = -1;
    sqlite3_stmt *st = store_stmt(&s->main, ST_BIND_PURGE);
    if (!st) {
        fail_db(s, "bindings");
        goto out;
    }
    sqlite3_bind_int64(st, 1, now);
    if (store_step_done(st) < 0)
        fail_db(s, "bindings");
    else
        n = sqlite3_changes(s->main.db);
out:
    pthread_mutex_unlock(&s->mu);
    return n;
}

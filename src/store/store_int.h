/* Private to src/store: connections with their prepared statements, the
 * store object, the write queue. */
#ifndef WSIP_STORE_INT_H
#define WSIP_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "wsip/store.h"

/* Statements kept prepared on a connection (prepared on first use). */
enum store_stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_DATA_VERSION,
    ST_SCHEMA_VERSION,
    ST_USER_INSERT,
    ST_USER_REPLACE,
    ST_USER_GET,
    ST_USER_DEL,
    ST_USER_LIST,
    ST_BIND_PUT,
    ST_BIND_DEL,
    ST_BIND_DEL_AOR,
    ST_BIND_LOAD,
    ST_BIND_PURGE,
    ST_COUNT
};

/* One SQLite connection, used by one thread at a time. */
struct store_conn {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    int64_t data_version; /* last value seen */
};

/* Opens path (which must exist) read-write, sets WAL, synchronous=NORMAL
 * and busy_timeout. 0, or -1 with err. */
int store_conn_open(struct store_conn *c, const char *path, unsigned busy_ms, char *err,
                    size_t errlen);
void store_conn_close(struct store_conn *c);
/* The statement, reset and with its bindings cleared; NULL on error. */
sqlite3_stmt *store_stmt(struct store_conn *c, enum store_stmt id);
/* Steps a statement without rows (BEGIN, COMMIT, DELETE ...) and resets it. */
int store_step_done(sqlite3_stmt *st);
/* Current PRAGMA data_version. 0 or -1. */
int store_data_version(struct store_conn *c, int64_t *out);
/* Creates or migrates the schema to WSIP_STORE_SCHEMA_VERSION. */
int store_migrate(struct store_conn *c, char *err, size_t errlen);

/* Builds the user cache from the users table of c and swaps it in. */
int store_users_reload_conn(struct wsip_users *u, struct store_conn *c);

/* A queued binding write; the strings live in data[]. */
enum store_op_kind { OP_PUT, OP_DEL, OP_DEL_AOR };

struct store_op {
    struct store_op *next;
    uint64_t seq;
    enum store_op_kind kind;
    struct wsip_store_binding b;
    char data[];
};

enum store_state { STORE_IDLE, STORE_RUNNING, STORE_STOPPING, STORE_STOPPED };

struct wsip_store {
    char *path;
    struct wsip_store_opts opts; /* defaults applied; opts.path = path */

    /* synchronous API: the main connection */
    pthread_mutex_t mu;
    struct store_conn main;
    char errmsg[640];

    /* the store thread and its queue, under qmu */
    pthread_mutex_t qmu;
    pthread_cond_t wake; /* to the thread: work, or stop */
    bool idle;           /* the thread waits with nothing queued: wake it */
    bool hurry;          /* a flusher waits: no gathering */
    pthread_cond_t done; /* to flushers: done_seq moved */
    struct store_op *head, *tail;
    size_t qlen;
    uint64_t seq;      /* last sequence number given */
    uint64_t done_seq; /* every op up to this one is applied (or failed) */
    enum store_state state;
    pthread_t thread;
    struct store_conn tconn; /* the thread's own connection */
    struct wsip_store_stats stats;
    uint64_t dropped_logged;
};

/* src/store/queue.c */
void store_queue_free(struct wsip_store *s);

#endif

/* SQLite connections: pragmas, the statements each connection keeps
 * prepared, and the schema with its forward migrations. */
#include <stdio.h>
#include <string.h>

#include "store/store_int.h"
#include "wsip/log.h"

static const char *const stmt_sql[ST_COUNT] = {
    /* IMMEDIATE: take the write lock up front, so a batch waits in
     * busy_timeout at BEGIN instead of failing half-way on SQLITE_BUSY */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_SCHEMA_VERSION] = "SELECT version FROM schema_version",
    [ST_USER_INSERT] = "INSERT INTO users(user, domain, realm, ha1_md5, ha1_sha256, created) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_USER_REPLACE] = "INSERT OR REPLACE INTO users(user, domain, realm, ha1_md5, ha1_sha256, "
                        "created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_USER_GET] = "SELECT user, domain, realm, ha1_md5, ha1_sha256, created FROM users "
                    "WHERE user = ?1 AND domain = ?2",
    [ST_USER_DEL] = "DELETE FROM users WHERE user = ?1 AND domain = ?2",
    [ST_USER_LIST] = "SELECT user, domain, realm, ha1_md5, ha1_sha256, created FROM users "
                     "ORDER BY domain, user",
    [ST_BIND_PUT] = "INSERT OR REPLACE INTO bindings(aor, contact, instance, reg_id, path, "
                    "received, q, expires, call_id, cseq, user_agent, flags, params, temp_gruu) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [ST_BIND_DEL] = "DELETE FROM bindings WHERE aor = ?1 AND contact = ?2 AND instance = ?3",
    [ST_BIND_DEL_AOR] = "DELETE FROM bindings WHERE aor = ?1",
    [ST_BIND_LOAD] = "SELECT aor, contact, instance, reg_id, path, received, q, expires, "
                     "call_id, cseq, user_agent, flags, params, temp_gruu FROM bindings "
                     "WHERE expires > ?1 ORDER BY aor, contact, instance",
    [ST_BIND_PURGE] = "DELETE FROM bindings WHERE expires <= ?1",
};

/* Migration i takes the schema from version i to i + 1; append, never edit
 * a released one. */
static const char *const migrations[WSIP_STORE_SCHEMA_VERSION] = {
    /* 0 -> 1: users and bindings. Empty strings, not NULL, for "none": a
     * NULL in a primary key column would make every row distinct. */
    "CREATE TABLE users ("
    "  user TEXT NOT NULL,"
    "  domain TEXT NOT NULL,"
    "  realm TEXT NOT NULL,"
    "  ha1_md5 TEXT NOT NULL,"
    "  ha1_sha256 TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (user, domain)"
    ") WITHOUT ROWID;"
    "CREATE TABLE bindings ("
    "  aor TEXT NOT NULL,"
    "  contact TEXT NOT NULL,"
    "  instance TEXT NOT NULL DEFAULT '',"
    "  reg_id INTEGER NOT NULL DEFAULT 0,"
    "  path TEXT NOT NULL DEFAULT '',"
    "  received TEXT NOT NULL DEFAULT '',"
    "  q INTEGER NOT NULL DEFAULT 1000 CHECK (q BETWEEN 0 AND 1000),"
    "  expires INTEGER NOT NULL,"
    "  call_id TEXT NOT NULL DEFAULT '',"
    "  cseq INTEGER NOT NULL DEFAULT 0,"
    "  user_agent TEXT NOT NULL DEFAULT '',"
    "  flags INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (aor, contact, instance)"
    ") WITHOUT ROWID;"
    "CREATE INDEX bindings_expires ON bindings (expires);",
    /* 1 -> 2: what a restart lost: the Contact's header params (the 200 OK
     * lists them again) and the instance's temp-gruu (it keeps routing) */
    "ALTER TABLE bindings ADD COLUMN params TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE bindings ADD COLUMN temp_gruu TEXT NOT NULL DEFAULT '';",
};

int store_conn_open(struct store_conn *c, const char *path, unsigned busy_ms, char *err,
                    size_t errlen)
{
    memset(c, 0, sizeof(*c));
    /* NOMUTEX: a connection is only ever used by one thread at a time (the
     * store's mutex for the main one, the store thread for its own) */
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, (int)busy_ms);
    /* journal_mode answers with the mode in effect: a file system without
     * shared memory keeps "delete", which works, only slower */
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        if (!mode || strcmp(mode, "wal") != 0)
            wsip_log_warn(NULL, "store: %s: journal mode %s, not wal", path, mode ? mode : "?");
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(c->db));
        goto fail;
    }
    /* NORMAL in WAL mode: commits do not fsync (only checkpoints do); a
     * power loss may lose the last commits, never corrupt the file */
    rc = sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL; PRAGMA trusted_schema=OFF", NULL, NULL,
                      NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(c->db));
        goto fail;
    }
    if (store_data_version(c, &c->data_version) < 0) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(c->db));
        goto fail;
    }
    return 0;
fail:
    store_conn_close(c);
    return -1;
}

void store_conn_close(struct store_conn *c)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    if (c->db)
        sqlite3_close(c->db);
    c->db = NULL;
}

sqlite3_stmt *store_stmt(struct store_conn *c, enum store_stmt id)
{
    sqlite3_stmt *st = c->st[id];
    if (!st) {
        if (sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
            SQLITE_OK)
            return NULL;
        c->st[id] = st;
        return st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int store_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int store_data_version(struct store_conn *c, int64_t *out)
{
    sqlite3_stmt *st = store_stmt(c, ST_DATA_VERSION);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* The version in schema_version; 0 for a database without it. */
static int read_version(sqlite3 *db, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    *out = 0;
    if (sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_migrate(struct store_conn *c, char *err, size_t errlen)
{
    sqlite3 *db = c->db;
    /* one transaction, version read inside it: two processes opening a new
     * file at once migrate it once */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot lock the database: %s", sqlite3_errmsg(db));
        return -1;
    }
    int64_t v = 0;
    if (sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        read_version(db, &v) < 0) {
        snprintf(err, errlen, "schema_version: %s", sqlite3_errmsg(db));
        goto fail;
    }
    if (v > WSIP_STORE_SCHEMA_VERSION || v < 0) {
        snprintf(err, errlen,
                 "database schema version %lld is not one this wsip knows (up to %d): "
                 "a newer wsip wrote it",
                 (long long)v, WSIP_STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (v == WSIP_STORE_SCHEMA_VERSION) {
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        return 0;
    }
    for (int64_t i = v; i < WSIP_STORE_SCHEMA_VERSION; i++) {
        if (sqlite3_exec(db, migrations[i], NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "schema migration %lld -> %lld: %s", (long long)i,
                     (long long)i + 1, sqlite3_errmsg(db));
            goto fail;
        }
    }
    char sql[96];
    snprintf(sql, sizeof(sql), "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)",
             WSIP_STORE_SCHEMA_VERSION);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "schema_version: %s", sqlite3_errmsg(db));
        goto fail;
    }
    if (v > 0)
        wsip_log_info(NULL, "store: schema migrated from version %lld to %d", (long long)v,
                      WSIP_STORE_SCHEMA_VERSION);
    return 0;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

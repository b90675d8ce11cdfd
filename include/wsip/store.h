/* Storage: one SQLite database (default ./var/wsip.db) holding the users
 * (digest HA1s, never passwords) and a write-behind copy of the location
 * bindings, so a restart keeps registrations.
 *
 * Two sides, two connections:
 * - the synchronous API (open, users, bindings load, data version) is for
 *   the CLI and for startup; it blocks on disk and must never run on a loop
 *   thread;
 * - wsip_store_start() spawns the store thread with its own connection.
 *   Workers hand it binding writes through a bounded queue that never blocks
 *   them (wsip_store_binding_put/del/del_aor); it applies them in one
 *   transaction per batch, and every poll interval it checks PRAGMA
 *   data_version and reloads the user cache when another process (wsip
 *   user add) changed the file.
 *
 * The user cache (struct wsip_users) is what the registrar authenticates
 * against: a hash map user@domain -> realm + HA1s behind a rwlock, looked up
 * without allocation on every REGISTER.
 *
 * Realm of a user: auth.realm when it is set, else the user's own domain
 * (not the first configured domain: each domain is its own realm). The HA1s
 * depend on it, so after changing auth.realm users must be added again
 * (wsip user list shows each user's realm). */
#ifndef WSIP_STORE_H
#define WSIP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsip/str.h"

/* Schema version this build creates and understands. */
#define WSIP_STORE_SCHEMA_VERSION 2

/* Longest user part (after %-unescaping), domain and realm, in bytes. */
#define WSIP_USER_MAX   128
#define WSIP_DOMAIN_MAX 253
#define WSIP_REALM_MAX  255

#define WSIP_HA1_MD5_HEX    33 /* 32 hex digits + NUL */
#define WSIP_HA1_SHA256_HEX 65 /* 64 hex digits + NUL */

/* Results besides 0 (done) and -1 (error, see wsip_store_errmsg). */
#define WSIP_STORE_EXISTS    (-2) /* user put without replace: already there */
#define WSIP_STORE_NOT_FOUND (-3) /* user get/del: no such user */

struct wsip_store;
struct wsip_users;

struct wsip_store_opts {
    const char *path;          /* database file; its directory is created if missing */
    size_t queue_limit;        /* queued binding writes before the oldest is dropped;
                                  0 = 100000 */
    unsigned poll_interval_ms; /* data_version check of the store thread; 0 = 1000 */
    unsigned busy_timeout_ms;  /* wait for another process's lock; 0 = 5000 */
    struct wsip_users *users;  /* cache the store thread reloads (may be NULL) */
};

/* One user row. user is unescaped ("a b", not "a%20b"), domain lower-case. */
struct wsip_user {
    char user[WSIP_USER_MAX + 1];
    char domain[WSIP_DOMAIN_MAX + 1];
    char realm[WSIP_REALM_MAX + 1];
    char ha1_md5[WSIP_HA1_MD5_HEX];
    char ha1_sha256[WSIP_HA1_SHA256_HEX];
    int64_t created; /* unix seconds */
};

/* What an authentication needs, copied out of the cache. */
struct wsip_user_cred {
    char realm[WSIP_REALM_MAX + 1];
    char ha1_md5[WSIP_HA1_MD5_HEX];
    char ha1_sha256[WSIP_HA1_SHA256_HEX];
};

/* One persisted binding. Views: the store copies them when queueing; in a
 * load callback they point into SQLite, are NUL-terminated and last until
 * the callback returns. Empty strings stand for "none" (instance, path,
 * ...). */
struct wsip_store_binding {
    struct wsip_str aor;      /* "sip:alice@example.com" */
    struct wsip_str contact;  /* the Contact URI as registered */
    struct wsip_str instance; /* +sip.instance, or empty */
    int64_t reg_id;           /* RFC 5626 reg-id, 0 = none */
    struct wsip_str path;     /* Path header values, comma-separated, or empty */
    struct wsip_str received; /* "udp:192.0.2.1:5060" for a non-flow binding, or empty */
    unsigned q;               /* 0..1000 (q=0.5 -> 500) */
    int64_t expires;          /* absolute, unix seconds */
    struct wsip_str call_id;
    uint32_t cseq;
    struct wsip_str user_agent;
    uint32_t flags;
    /* the Contact's header params as the 200 OK lists them (";reg-id=1;
     * +sip.instance=..", no expires or q), and the instance's RFC 5627
     * temp-gruu token; empty when none */
    struct wsip_str params, temp_gruu;
};

struct wsip_store_stats {
    uint64_t enqueued;  /* binding writes accepted */
    uint64_t dropped;   /* dropped because the queue was full (oldest first) */
    uint64_t written;   /* applied and committed */
    uint64_t coalesced; /* of those, skipped: a later write in the batch covered them */
    uint64_t failed;    /* failed in SQLite (logged) */
    uint64_t batches;   /* committed transactions */
    uint64_t reloads;   /* user cache reloads done by the store thread */
    size_t queued;      /* waiting now */
};

/* ---------------------------------------------------- open and schema */

/* Opens (creating file 0600, its directory and the schema as needed, and
 * migrating an older schema forward). *out is NULL on failure, with err
 * (may be NULL) holding why. */
int wsip_store_open(struct wsip_store **out, const struct wsip_store_opts *o, char *err,
                    size_t errlen);
/* Stops the store thread if running (flushing it first) and closes. */
void wsip_store_close(struct wsip_store *s);
/* The last error of the synchronous API, for messages. */
const char *wsip_store_errmsg(struct wsip_store *s);
/* Version recorded in schema_version (WSIP_STORE_SCHEMA_VERSION after open). */
int wsip_store_schema_version(struct wsip_store *s);
/* 1 when another connection or process committed since the previous call
 * (or since open), 0 if not, -1 on error. PRAGMA data_version: this
 * connection's own writes do not count. */
int wsip_store_data_changed(struct wsip_store *s);

/* -------------------------------------------------------------- users */

/* Fills u for user@domain with password: domain lower-cased, HA1 =
 * H(user:realm:password) for MD5 and SHA-256, created = now. user is
 * unescaped; the password is not kept. 0, or -1 with *why. */
int wsip_user_make(struct wsip_user *u, struct wsip_str user, struct wsip_str domain,
                   struct wsip_str realm, struct wsip_str password, const char **why);
/* "alice@example.com" (user part may hold %-escapes and the RFC 3261
 * user-unreserved characters; domain a host name, IPv4 or [IPv6]) -> user
 * unescaped and domain lower-cased, NUL-terminated. 0, or -1 with *why. */
int wsip_user_parse_aor(const char *aor, char user[WSIP_USER_MAX + 1],
                        char domain[WSIP_DOMAIN_MAX + 1], const char **why);
/* The user part %-escaped again for display (no '@', spaces or controls):
 * needs 3 * WSIP_USER_MAX + 1 bytes. */
void wsip_user_escape(const char *user, char *out, size_t cap);

/* 0, WSIP_STORE_EXISTS (when !replace) or -1. */
int wsip_store_user_put(struct wsip_store *s, const struct wsip_user *u, bool replace);
/* 0, WSIP_STORE_NOT_FOUND or -1. domain is compared case-insensitively. */
int wsip_store_user_get(struct wsip_store *s, const char *user, const char *domain,
                        struct wsip_user *out);
int wsip_store_user_del(struct wsip_store *s, const char *user, const char *domain);
/* Calls cb for each user ordered by domain, then user; a non-zero return
 * stops. Returns the number of users visited, or -1. */
long wsip_store_user_list(struct wsip_store *s, int (*cb)(const struct wsip_user *u, void *arg),
                          void *arg);

/* ---------------------------------------------- bindings, synchronous */

/* Calls cb for each binding with expires > now (every one when now is 0);
 * a non-zero return stops. Returns the number visited, or -1. */
long wsip_store_bindings_load(struct wsip_store *s, int64_t now,
                              int (*cb)(const struct wsip_store_binding *b, void *arg), void *arg);
/* Deletes the bindings with expires <= now. Returns how many, or -1. */
long wsip_store_bindings_purge(struct wsip_store *s, int64_t now);

/* ------------------------------------------------------- store thread */

/* Opens the thread's connection and starts it. 0 or -1. */
int wsip_store_start(struct wsip_store *s);
/* Waits until every write queued before the call is committed (or failed).
 * Returns at once when the thread is not running. */
void wsip_store_flush(struct wsip_store *s);
/* Applies what is queued, stops the thread and closes its connection.
 * Later writes are refused. Idempotent. */
void wsip_store_stop(struct wsip_store *s);

/* Thread-safe, never block: copy the strings into the queue and return.
 * Writes queued before wsip_store_start wait for it. 0, or -1 when out of
 * memory, after stop, or when a field is too large (64 KiB per string). */
int wsip_store_binding_put(struct wsip_store *s, const struct wsip_store_binding *b);
int wsip_store_binding_del(struct wsip_store *s, struct wsip_str aor, struct wsip_str contact,
                           struct wsip_str instance);
int wsip_store_binding_del_aor(struct wsip_store *s, struct wsip_str aor);

void wsip_store_get_stats(struct wsip_store *s, struct wsip_store_stats *out);

/* --------------------------------------------------------- user cache */

/* An empty cache; NULL when out of memory. */
struct wsip_users *wsip_users_new(void);
void wsip_users_free(struct wsip_users *u);
/* Rebuilds the cache from the users table (synchronous; not on a loop
 * thread) and swaps it in. 0 or -1 (the old contents stay). */
int wsip_users_reload(struct wsip_users *u, struct wsip_store *s);
/* 0 and *out filled when user@domain is known (domain case-insensitive),
 * -1 otherwise. No allocation; takes the read lock. */
int wsip_users_lookup(struct wsip_users *u, struct wsip_str user, struct wsip_str domain,
                      struct wsip_user_cred *out);
size_t wsip_users_count(struct wsip_users *u);
/* Incremented by every successful reload (tests wait on it). */
uint64_t wsip_users_generation(struct wsip_users *u);

#endif

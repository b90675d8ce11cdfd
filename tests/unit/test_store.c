/* SQLite store: schema and migration, users (HA1 only, file mode), the
 * user cache and its data_version reload, the write-behind binding queue
 * (batches, bound, concurrency, stop). */
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "wsip/digest.h"
#include "wsip/log.h"
#include "wsip/store.h"

#define S(x) wsip_str_cstr(x)

static char dir[64];
static char db[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/wsip-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* a directory that does not exist yet: the store creates it */
    snprintf(db, sizeof(db), "%s/var/sub/wsip.db", dir);
    wsip_log_set_level(WSIP_LOG_ERROR);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void teardown(void)
{
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    sqlite3_shutdown(); /* its caches, for LeakSanitizer */
}

static struct wsip_store *open_store(const struct wsip_store_opts *extra)
{
    struct wsip_store_opts o = {0};
    if (extra)
        o = *extra;
    o.path = db;
    struct wsip_store *s = NULL;
    char err[512] = "";
    int rc = wsip_store_open(&s, &o, err, sizeof(err));
    ck_assert_msg(rc == 0 && s != NULL, "open %s: rc %d: %s", db, rc, err);
    return s;
}

/* The directory of db, for a test that writes the file before the store
 * opens it. */
static void make_db_dir(void)
{
    char parent[128];
    snprintf(parent, sizeof(parent), "%s/var", dir);
    ck_assert_int_eq(mkdir(parent, 0700), 0);
    snprintf(parent, sizeof(parent), "%s/var/sub", dir);
    ck_assert_int_eq(mkdir(parent, 0700), 0);
}

/* A raw connection, to look at the file the way another program would. */
static sqlite3 *raw_open(const char *path)
{
    sqlite3 *h = NULL;
    int rc = sqlite3_open(path, &h);
    ck_assert_msg(rc == SQLITE_OK, "sqlite3_open %s: %s", path, sqlite3_errstr(rc));
    return h;
}

static void raw_exec(sqlite3 *h, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
}

static long long raw_int(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    int rc = sqlite3_step(st);
    ck_assert_msg(rc == SQLITE_ROW, "%s: no row (%d)", sql, rc);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static struct wsip_user make_user(const char *user, const char *domain, const char *realm,
                                  const char *pw)
{
    struct wsip_user u;
    const char *why = "";
    int rc = wsip_user_make(&u, S(user), S(domain), S(realm), S(pw), &why);
    ck_assert_msg(rc == 0, "wsip_user_make %s@%s: %s", user, domain, why);
    return u;
}

static void put_user(struct wsip_store *s, const char *user, const char *domain, const char *pw)
{
    struct wsip_user u = make_user(user, domain, domain, pw);
    int rc = wsip_store_user_put(s, &u, false);
    ck_assert_msg(rc == 0, "put %s@%s: %d %s", user, domain, rc, wsip_store_errmsg(s));
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* ---------------------------------------------------------------- schema */

START_TEST(schema_created)
{
    struct wsip_store *s = open_store(NULL);
    ck_assert_int_eq(wsip_store_schema_version(s), WSIP_STORE_SCHEMA_VERSION);
    wsip_store_close(s);

    sqlite3 *h = raw_open(db);
    ck_assert_int_eq(raw_int(h, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                "name IN ('users', 'bindings', 'schema_version')"),
                     3);
    ck_assert_int_eq(raw_int(h, "SELECT count(*) FROM schema_version"), 1);
    ck_assert_int_eq(raw_int(h, "SELECT version FROM schema_version"), WSIP_STORE_SCHEMA_VERSION);
    /* WAL is a property of the file: a fresh connection sees it */
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(h);

    /* opening again leaves the version (no second migration) */
    s = open_store(NULL);
    ck_assert_int_eq(wsip_store_schema_version(s), WSIP_STORE_SCHEMA_VERSION);
    wsip_store_close(s);
}
END_TEST

START_TEST(schema_migrates_from_v0)
{
    make_db_dir();
    /* version 0: the table exists with 0, and someone else's table beside */
    sqlite3 *h = raw_open(db);
    raw_exec(h, "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                "INSERT INTO schema_version VALUES (0);"
                "CREATE TABLE notes (n TEXT); INSERT INTO notes VALUES ('kept');");
    sqlite3_close(h);

    struct wsip_store *s = open_store(NULL);
    ck_assert_int_eq(wsip_store_schema_version(s), WSIP_STORE_SCHEMA_VERSION);
    put_user(s, "alice", "example.com", "pw");
    wsip_store_close(s);

    h = raw_open(db);
    ck_assert_int_eq(raw_int(h, "SELECT count(*) FROM schema_version"), 1);
    ck_assert_int_eq(raw_int(h, "SELECT count(*) FROM notes WHERE n = 'kept'"), 1);
    ck_assert_int_eq(raw_int(h, "SELECT count(*) FROM users"), 1);
    ck_assert_int_eq(raw_int(h, "SELECT count(*) FROM bindings"), 0);
    sqlite3_close(h);
}
END_TEST

START_TEST(schema_migrates_file_without_version_table)
{
    make_db_dir();
    sqlite3 *h = raw_open(db);
    raw_exec(h, "CREATE TABLE other (x INTEGER)");
    sqlite3_close(h);

    struct wsip_store *s = open_store(NULL);
    ck_assert_int_eq(wsip_store_schema_version(s), WSIP_STORE_SCHEMA_VERSION);
    wsip_store_close(s);
}
END_TEST

START_TEST(schema_newer_refused)
{
    struct wsip_store *s = open_store(NULL);
    wsip_store_close(s);
    sqlite3 *h = raw_open(db);
    raw_exec(h, "UPDATE schema_version SET version = 99");
    sqlite3_close(h);

    struct wsip_store_opts o = {.path = db};
    char err[512] = "";
    s = (struct wsip_store *)1;
    ck_assert_int_eq(wsip_store_open(&s, &o, err, sizeof(err)), -1);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "99") && strstr(err, "newer"), "error '%s' should name 99, newer",
                  err);
}
END_TEST

START_TEST(open_fails_cleanly)
{
    /* the "directory" is a file */
    char file[128], path[160];
    snprintf(file, sizeof(file), "%s/plain", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/wsip.db", file);
    struct wsip_store_opts o = {.path = path};
    struct wsip_store *s = NULL;
    char err[512] = "";
    ck_assert_int_eq(wsip_store_open(&s, &o, err, sizeof(err)), -1);
    ck_assert_ptr_null(s);
    ck_assert_msg(err[0] != '\0', "no error message");
    o.path = "";
    ck_assert_int_eq(wsip_store_open(&s, &o, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "no database path");
}
END_TEST

/* ----------------------------------------------------------------- files */

static mode_t mode_of(const char *p)
{
    struct stat st;
    ck_assert_msg(stat(p, &st) == 0, "stat %s", p);
    return st.st_mode & 07777;
}

START_TEST(file_mode_0600)
{
    mode_t old = umask(0); /* the store must not rely on the umask */
    struct wsip_store *s = open_store(NULL);
    umask(old);
    put_user(s, "alice", "example.com", "pw");
    ck_assert_int_eq(mode_of(db), 0600);
    char wal[160], parent[128];
    snprintf(wal, sizeof(wal), "%s-wal", db);
    if (access(wal, F_OK) == 0)
        ck_assert_int_eq(mode_of(wal), 0600);
    snprintf(parent, sizeof(parent), "%s/var/sub", dir);
    ck_assert_int_eq(mode_of(parent), 0700);
    wsip_store_close(s);
    ck_assert_int_eq(mode_of(db), 0600);
}
END_TEST

/* Whether the bytes of path (missing file: none) contain needle. */
static bool file_has(const char *path, const char *needle)
{
    if (access(path, F_OK) != 0)
        return false;
    size_t len;
    char *buf = read_file(path, &len);
    bool found = memmem(buf, len, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

START_TEST(no_plain_password_in_file)
{
    static const char pw[] = "Pl41n-Secret-Pw!";
    struct wsip_store *s = open_store(NULL);
    struct wsip_user u = make_user("alice", "example.com", "example.com", pw);
    ck_assert_int_eq(wsip_store_user_put(s, &u, false), 0);
    struct wsip_user u2 = make_user("bob", "example.com", "example.com", pw);
    ck_assert_int_eq(wsip_store_user_put(s, &u2, false), 0);
    char wal[160], journal[160];
    snprintf(wal, sizeof(wal), "%s-wal", db);
    snprintf(journal, sizeof(journal), "%s-journal", db);
    /* while open the rows may still be in the WAL: look at both */
    ck_assert_msg(!file_has(db, pw) && !file_has(wal, pw), "password found in %s or its WAL", db);
    wsip_store_close(s);
    ck_assert_msg(!file_has(db, pw), "password found in %s", db);
    ck_assert_msg(!file_has(wal, pw) && !file_has(journal, pw), "password found in a journal");
    /* the scan sees the rows: the HA1 is there (so the search above works) */
    ck_assert_msg(file_has(db, u.ha1_md5), "HA1 %s not found in %s", u.ha1_md5, db);
    ck_assert_msg(file_has(db, u.ha1_sha256), "HA1 %s not found in %s", u.ha1_sha256, db);
}
END_TEST

/* ----------------------------------------------------------------- users */

START_TEST(ha1_values)
{
    struct wsip_user u = make_user("alice", "Example.COM", "example.com", "secret");
    ck_assert_str_eq(u.user, "alice");
    ck_assert_str_eq(u.domain, "example.com");
    ck_assert_str_eq(u.realm, "example.com");
    /* known answers: md5sum / sha256sum of "alice:example.com:secret" */
    ck_assert_str_eq(u.ha1_md5, "b1726872c344b6dc8365b774f8fd6412");
    ck_assert_str_eq(u.ha1_sha256,
                     "ed8925b20f9a77b8f8f8d5f8e4467fe32b866f7208ab9e4b20595e9821a0fdee");
    char hex[WSIP_DIGEST_HEX_MAX];
    ck_assert_int_eq(
        wsip_digest_ha1(WSIP_DIGEST_MD5, S("alice"), S("example.com"), S("secret"), hex), 32);
    ck_assert_str_eq(u.ha1_md5, hex);
    ck_assert_int_eq(
        wsip_digest_ha1(WSIP_DIGEST_SHA256, S("alice"), S("example.com"), S("secret"), hex), 64);
    ck_assert_str_eq(u.ha1_sha256, hex);
    time_t now = time(NULL);
    ck_assert_int_le(llabs((long long)u.created - (long long)now), 5);

    /* the stored row holds exactly those */
    struct wsip_store *s = open_store(NULL);
    ck_assert_int_eq(wsip_store_user_put(s, &u, false), 0);
    struct wsip_user got;
    ck_assert_int_eq(wsip_store_user_get(s, "alice", "example.com", &got), 0);
    ck_assert_str_eq(got.ha1_md5, u.ha1_md5);
    ck_assert_str_eq(got.ha1_sha256, u.ha1_sha256);
    ck_assert_str_eq(got.realm, "example.com");
    ck_assert_int_eq(got.created, u.created);
    wsip_store_close(s);

    /* a configured realm changes the HA1 */
    struct wsip_user r = make_user("alice", "example.com", "Office", "secret");
    ck_assert_int_eq(wsip_digest_ha1(WSIP_DIGEST_MD5, S("alice"), S("Office"), S("secret"), hex),
                     32);
    ck_assert_str_eq(r.ha1_md5, hex);
    ck_assert_str_ne(r.ha1_md5, u.ha1_md5);
}
END_TEST

START_TEST(user_make_refuses)
{
    struct wsip_user u;
    const char *why = NULL;
    ck_assert_int_eq(wsip_user_make(&u, S("a"), S("d"), S("r"), S(""), &why), -1);
    ck_assert_str_eq(why, "empty password");
    ck_assert_int_eq(wsip_user_make(&u, S(""), S("d"), S("r"), S("p"), &why), -1);
    ck_assert_int_eq(wsip_user_make(&u, S("a"), S(""), S("r"), S("p"), &why), -1);
    ck_assert_int_eq(wsip_user_make(&u, S("a"), S("d"), S(""), S("p"), &why), -1);
    char big[WSIP_USER_MAX + 2];
    memset(big, 'u', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(wsip_user_make(&u, S(big), S("d"), S("r"), S("p"), &why), -1);
    big[WSIP_USER_MAX] = '\0';
    ck_assert_int_eq(wsip_user_make(&u, S(big), S("d"), S("r"), S("p"), &why), 0);
}
END_TEST

static int collect(const struct wsip_user *u, void *arg)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 1024 - n, "%s@%s/%s;", u->user, u->domain, u->realm);
    return 0;
}

static int stop_after_one(const struct wsip_user *u, void *arg)
{
    (*(int *)arg)++;
    return 1;
}

START_TEST(user_put_get_del_list)
{
    struct wsip_store *s = open_store(NULL);
    char list[1024] = "";
    ck_assert_int_eq(wsip_store_user_list(s, collect, list), 0);
    ck_assert_str_eq(list, "");

    put_user(s, "zed", "a.example", "1");
    put_user(s, "bob", "b.example", "2");
    put_user(s, "alice", "b.example", "3");
    struct wsip_user dup = make_user("alice", "B.Example", "b.example", "other");
    ck_assert_int_eq(wsip_store_user_put(s, &dup, false), WSIP_STORE_EXISTS);
    ck_assert_msg(strstr(wsip_store_errmsg(s), "exists"), "errmsg '%s'", wsip_store_errmsg(s));

    struct wsip_user got;
    ck_assert_int_eq(wsip_store_user_get(s, "alice", "B.EXAMPLE", &got), 0);
    struct wsip_user orig = make_user("alice", "b.example", "b.example", "3");
    ck_assert_str_eq(got.ha1_md5, orig.ha1_md5);
    /* replace */
    ck_assert_int_eq(wsip_store_user_put(s, &dup, true), 0);
    ck_assert_int_eq(wsip_store_user_get(s, "alice", "b.example", &got), 0);
    ck_assert_str_eq(got.ha1_md5, dup.ha1_md5);
    ck_assert_str_eq(got.domain, "b.example");
    /* user is case-sensitive, domain is not */
    ck_assert_int_eq(wsip_store_user_get(s, "Alice", "b.example", &got), WSIP_STORE_NOT_FOUND);

    ck_assert_int_eq(wsip_store_user_list(s, collect, list), 3);
    ck_assert_str_eq(list, "zed@a.example/a.example;alice@b.example/b.example;"
                           "bob@b.example/b.example;");
    int calls = 0;
    ck_assert_int_eq(wsip_store_user_list(s, stop_after_one, &calls), 1);
    ck_assert_int_eq(calls, 1);

    ck_assert_int_eq(wsip_store_user_del(s, "bob", "B.example"), 0);
    ck_assert_int_eq(wsip_store_user_del(s, "bob", "b.example"), WSIP_STORE_NOT_FOUND);
    ck_assert_int_eq(wsip_store_user_get(s, "bob", "b.example", &got), WSIP_STORE_NOT_FOUND);
    list[0] = '\0';
    ck_assert_int_eq(wsip_store_user_list(s, collect, list), 2);
    ck_assert_str_eq(list, "zed@a.example/a.example;alice@b.example/b.example;");

    /* not hashes: refused */
    struct wsip_user bad = orig;
    snprintf(bad.ha1_md5, sizeof(bad.ha1_md5), "plaintext");
    ck_assert_int_eq(wsip_store_user_put(s, &bad, true), -1);
    wsip_store_close(s);
}
END_TEST

START_TEST(parse_aor)
{
    char user[WSIP_USER_MAX + 1], domain[WSIP_DOMAIN_MAX + 1];
    const char *why = NULL;
    ck_assert_int_eq(wsip_user_parse_aor("alice@Example.COM", user, domain, &why), 0);
    ck_assert_str_eq(user, "alice");
    ck_assert_str_eq(domain, "example.com");
    ck_assert_int_eq(wsip_user_parse_aor("sip:a.b-c_d+1@192.0.2.7", user, domain, &why), 0);
    ck_assert_str_eq(user, "a.b-c_d+1");
    ck_assert_str_eq(domain, "192.0.2.7");
    ck_assert_int_eq(wsip_user_parse_aor("j%20doe;x=1@[2001:DB8::1]", user, domain, &why), 0);
    ck_assert_str_eq(user, "j doe;x=1");
    ck_assert_str_eq(domain, "[2001:db8::1]");
    char esc[3 * WSIP_USER_MAX + 1];
    wsip_user_escape(user, esc, sizeof(esc));
    ck_assert_str_eq(esc, "j%20doe;x=1");
    wsip_user_escape("a%b@c", esc, sizeof(esc));
    ck_assert_str_eq(esc, "a%25b%40c");

    static const char *const bad[] = {
        "alice",         "@example.com",     "alice@",           "al ice@example.com",
        "al@ice@ex.com", "a%2@example.com",  "a%0A@example.com", "alice@exa mple.com",
        "alice@ex:5060", "alice@ex;lr",      "alice@-bad-.com",  "a<b@example.com",
        "alice@ex.com?", "a%zz@example.com",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        int rc = wsip_user_parse_aor(bad[i], user, domain, &why);
        ck_assert_msg(rc == -1, "'%s' accepted as user '%s' domain '%s'", bad[i], user, domain);
        ck_assert_msg(why != NULL, "'%s': no reason", bad[i]);
    }
    char big[400];
    memset(big, 'a', 129);
    snprintf(big + 129, sizeof(big) - 129, "@example.com");
    ck_assert_int_eq(wsip_user_parse_aor(big, user, domain, &why), -1);
}
END_TEST

/* ------------------------------------------------------------ user cache */

START_TEST(cache_lookup)
{
    struct wsip_store *s = open_store(NULL);
    struct wsip_users *u = wsip_users_new();
    ck_assert_ptr_nonnull(u);
    struct wsip_user_cred c;
    ck_assert_int_eq(wsip_users_lookup(u, S("alice"), S("example.com"), &c), -1); /* empty */
    ck_assert_int_eq(wsip_users_count(u), 0);

    char name[32];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        put_user(s, name, i % 2 ? "odd.example" : "even.example", name);
    }
    uint64_t gen = wsip_users_generation(u);
    ck_assert_int_eq(wsip_users_reload(u, s), 0);
    ck_assert_uint_eq(wsip_users_generation(u), gen + 1);
    ck_assert_uint_eq(wsip_users_count(u), 300);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        const char *dom = i % 2 ? "ODD.example" : "Even.Example";
        memset(&c, 0x55, sizeof(c));
        ck_assert_msg(wsip_users_lookup(u, S(name), S(dom), &c) == 0, "%s@%s not found", name, dom);
        struct wsip_user want = make_user(name, dom, i % 2 ? "odd.example" : "even.example", name);
        ck_assert_str_eq(c.realm, want.realm);
        ck_assert_str_eq(c.ha1_md5, want.ha1_md5);
        ck_assert_str_eq(c.ha1_sha256, want.ha1_sha256);
        /* wrong domain */
        dom = i % 2 ? "even.example" : "odd.example";
        ck_assert_int_eq(wsip_users_lookup(u, S(name), S(dom), &c), -1);
    }
    ck_assert_int_eq(wsip_users_lookup(u, S("User1"), S("odd.example"), &c), -1);
    ck_assert_int_eq(wsip_users_lookup(u, S("user1"), S("odd.example."), &c), -1);
    ck_assert_int_eq(wsip_users_lookup(u, S(""), S("odd.example"), &c), -1);
    /* a view that is not NUL-terminated */
    const char buf[] = "user1XXXX";
    ck_assert_int_eq(wsip_users_lookup(u, wsip_str_make(buf, 5), S("odd.example"), &c), 0);

    ck_assert_int_eq(wsip_store_user_del(s, "user1", "odd.example"), 0);
    ck_assert_int_eq(wsip_users_reload(u, s), 0);
    ck_assert_int_eq(wsip_users_lookup(u, S("user1"), S("odd.example"), &c), -1);
    ck_assert_uint_eq(wsip_users_count(u), 299);
    wsip_users_free(u);
    wsip_store_close(s);
}
END_TEST

START_TEST(data_changed_sees_other_connection)
{
    struct wsip_store *a = open_store(NULL);
    struct wsip_store *b = open_store(NULL);
    ck_assert_int_eq(wsip_store_data_changed(a), 0);
    put_user(a, "self", "example.com", "pw"); /* its own write is not a change */
    ck_assert_int_eq(wsip_store_data_changed(a), 0);
    put_user(b, "alice", "example.com", "pw");
    ck_assert_int_eq(wsip_store_data_changed(a), 1);
    ck_assert_int_eq(wsip_store_data_changed(a), 0);
    ck_assert_int_eq(wsip_store_data_changed(b), 1); /* a's write, seen from b */
    wsip_store_close(b);
    wsip_store_close(a);
}
END_TEST

/* Waits up to 5 s for the lookup to give want (0 or -1). */
static int wait_lookup(struct wsip_users *u, const char *user, const char *domain, int want,
                       struct wsip_user_cred *c)
{
    double end = now_s() + 5;
    int rc;
    while ((rc = wsip_users_lookup(u, S(user), S(domain), c)) != want && now_s() < end)
        sleep_ms(10);
    return rc;
}

START_TEST(cache_reloads_on_other_process_write)
{
    struct wsip_users *u = wsip_users_new();
    struct wsip_store_opts o = {.users = u, .poll_interval_ms = 50};
    struct wsip_store *srv = open_store(&o);
    /* a user added before the server starts: the thread's first load has it */
    put_user(srv, "early", "example.com", "pw");
    ck_assert_int_eq(wsip_store_start(srv), 0);
    struct wsip_user_cred c;
    ck_assert_int_eq(wait_lookup(u, "early", "example.com", 0, &c), 0);
    ck_assert_int_eq(wsip_users_lookup(u, S("alice"), S("example.com"), &c), -1);

    /* "wsip user add" from another process: a second connection */
    struct wsip_store *cli = open_store(NULL);
    put_user(cli, "alice", "example.com", "secret");
    double t0 = now_s();
    ck_assert_int_eq(wait_lookup(u, "alice", "example.com", 0, &c), 0);
    double took = now_s() - t0;
    ck_assert_msg(took < 2.0, "reload took %.3f s with a 50 ms poll", took);
    ck_assert_str_eq(c.ha1_md5, "b1726872c344b6dc8365b774f8fd6412");
    ck_assert_str_eq(c.realm, "example.com");

    ck_assert_int_eq(wsip_store_user_del(cli, "alice", "example.com"), 0);
    ck_assert_int_eq(wait_lookup(u, "alice", "example.com", -1, &c), -1);
    wsip_store_close(cli);

    struct wsip_store_stats st;
    wsip_store_get_stats(srv, &st);
    ck_assert_uint_ge(st.reloads, 3); /* start, add, del */
    /* the thread's own binding writes do not reload the cache */
    uint64_t gen = wsip_users_generation(u);
    struct wsip_store_binding b = {
        .aor = S("sip:x@example.com"), .contact = S("sip:x@h"), .expires = 4000000000};
    ck_assert_int_eq(wsip_store_binding_put(srv, &b), 0);
    wsip_store_flush(srv);
    sleep_ms(200);
    ck_assert_uint_eq(wsip_users_generation(u), gen);
    wsip_store_close(srv);
    wsip_users_free(u);
}
END_TEST

/* ------------------------------------------------------------- bindings */

struct loaded {
    int n;
    char rows[64][512];
};

static int load_cb(const struct wsip_store_binding *b, void *arg)
{
    struct loaded *l = arg;
    if (l->n < 64)
        snprintf(l->rows[l->n], sizeof(l->rows[0]),
                 WSIP_STR_FMT "|" WSIP_STR_FMT "|" WSIP_STR_FMT "|%lld|" WSIP_STR_FMT
                              "|" WSIP_STR_FMT "|%u|%lld|" WSIP_STR_FMT "|%u|" WSIP_STR_FMT
                              "|%u|" WSIP_STR_FMT "|" WSIP_STR_FMT,
                 WSIP_STR_ARG(b->aor), WSIP_STR_ARG(b->contact), WSIP_STR_ARG(b->instance),
                 (long long)b->reg_id, WSIP_STR_ARG(b->path), WSIP_STR_ARG(b->received), b->q,
                 (long long)b->expires, WSIP_STR_ARG(b->call_id), b->cseq,
                 WSIP_STR_ARG(b->user_agent), b->flags, WSIP_STR_ARG(b->params),
                 WSIP_STR_ARG(b->temp_gruu));
    l->n++;
    return 0;
}

static struct wsip_store_binding binding(const char *aor, const char *contact, const char *instance,
                                         int64_t expires)
{
    return (struct wsip_store_binding){.aor = S(aor),
                                       .contact = S(contact),
                                       .instance = S(instance),
                                       .q = 1000,
                                       .expires = expires};
}

START_TEST(bindings_write_behind)
{
    struct wsip_store *s = open_store(NULL);
    ck_assert_int_eq(wsip_store_start(s), 0);
    ck_assert_int_eq(wsip_store_start(s), -1); /* once */

    char contact[64] = "sip:alice@df7jal23ls0d.invalid;transport=ws";
    struct wsip_store_binding full = {
        .aor = S("sip:alice@example.com"),
        .contact = S(contact),
        .instance = S("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"),
        .reg_id = 1,
        .path = S("<sip:token@proxy;lr;ob>"),
        .received = S(""),
        .q = 500,
        .expires = 4000000000,
        .call_id = S("a84b4c76e66710"),
        .cseq = 42,
        .user_agent = S("JsSIP 3.10.0"),
        .flags = 5,
        .params = S(";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1"),
        .temp_gruu = S("abcdefghijklmnopqrstuvwxyz234567"),
    };
    ck_assert_int_eq(wsip_store_binding_put(s, &full), 0);
    /* the store copied the strings: the caller's buffer may change now */
    memset(contact, 'X', sizeof(contact) - 1);
    struct wsip_store_binding udp =
        binding("sip:bob@example.com", "sip:bob@192.0.2.9:5060", "", 4000000001);
    udp.received = S("udp:192.0.2.9:5060");
    ck_assert_int_eq(wsip_store_binding_put(s, &udp), 0);
    struct wsip_store_binding gone = binding("sip:bob@example.com", "sip:bob@198.51.100.1", "", 5);
    ck_assert_int_eq(wsip_store_binding_put(s, &gone), 0);
    ck_assert_int_eq(
        wsip_store_binding_del(s, S("sip:bob@example.com"), S("sip:bob@198.51.100.1"), S("")), 0);
    /* a re-registration replaces (same key), with new values */
    udp.expires = 4000000002;
    udp.cseq = 7;
    ck_assert_int_eq(wsip_store_binding_put(s, &udp), 0);
    struct wsip_store_binding c1 = binding("sip:carol@example.com", "sip:c@1", "", 4000000000);
    struct wsip_store_binding c2 = binding("sip:carol@example.com", "sip:c@2", "", 4000000000);
    ck_assert_int_eq(wsip_store_binding_put(s, &c1), 0);
    ck_assert_int_eq(wsip_store_binding_put(s, &c2), 0);
    ck_assert_int_eq(wsip_store_binding_del_aor(s, S("sip:carol@example.com")), 0);
    wsip_store_flush(s);

    struct wsip_store_stats st;
    wsip_store_get_stats(s, &st);
    ck_assert_uint_eq(st.enqueued, 8);
    ck_assert_uint_eq(st.written, 8);
    ck_assert_uint_eq(st.failed, 0);
    ck_assert_uint_eq(st.dropped, 0);
    ck_assert_uint_eq(st.queued, 0);
    ck_assert_uint_ge(st.batches, 1);

    static struct loaded l;
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(wsip_store_bindings_load(s, 0, load_cb, &l), 2);
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.rows[0],
                     "sip:alice@example.com|sip:alice@df7jal23ls0d.invalid;transport=ws|"
                     "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>|1|<sip:token@proxy;lr;ob>||"
                     "500|4000000000|a84b4c76e66710|42|JsSIP 3.10.0|5|"
                     ";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1|"
                     "abcdefghijklmnopqrstuvwxyz234567");
    ck_assert_str_eq(l.rows[1], "sip:bob@example.com|sip:bob@192.0.2.9:5060||0||"
                                "udp:192.0.2.9:5060|1000|4000000002||7||0||");
    wsip_store_stop(s);
    wsip_store_close(s);

    /* persisted: a new process loads them */
    s = open_store(NULL);
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(wsip_store_bindings_load(s, 0, load_cb, &l), 2);
    wsip_store_close(s);
}
END_TEST

START_TEST(bindings_load_skips_expired_and_purge)
{
    struct wsip_store *s = open_store(NULL);
    ck_assert_int_eq(wsip_store_start(s), 0);
    struct wsip_store_binding a = binding("sip:a@x", "sip:a@1", "", 100);
    struct wsip_store_binding b = binding("sip:b@x", "sip:b@1", "", 200);
    struct wsip_store_binding c = binding("sip:c@x", "sip:c@1", "", 300);
    ck_assert_int_eq(wsip_store_binding_put(s, &a), 0);
    ck_assert_int_eq(wsip_store_binding_put(s, &b), 0);
    ck_assert_int_eq(wsip_store_binding_put(s, &c), 0);
    wsip_store_flush(s);
    static struct loaded l;
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(wsip_store_bindings_load(s, 200, load_cb, &l), 1);
    ck_assert_str_eq(l.rows[0], "sip:c@x|sip:c@1||0|||1000|300||0||0||");
    ck_assert_int_eq(wsip_store_bindings_purge(s, 200), 2);
    ck_assert_int_eq(wsip_store_bindings_purge(s, 200), 0);
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(wsip_store_bindings_load(s, 0, load_cb, &l), 1);
    wsip_store_close(s);
}
END_TEST

/* A database of schema 1 (before the Contact params and temp-gruu were
 * kept): its rows load with both empty, and new rows keep them. */
START_TEST(schema_migrates_from_v1)
{
    make_db_dir();
    sqlite3 *h = raw_open(db);
    raw_exec(h, "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                "INSERT INTO schema_version VALUES (1);"
                "CREATE TABLE users (user TEXT NOT NULL, domain TEXT NOT NULL, realm TEXT NOT NULL,"
                " ha1_md5 TEXT NOT NULL, ha1_sha256 TEXT NOT NULL, created INTEGER NOT NULL,"
                " PRIMARY KEY (user, domain)) WITHOUT ROWID;"
                "CREATE TABLE bindings (aor TEXT NOT NULL, contact TEXT NOT NULL,"
                " instance TEXT NOT NULL DEFAULT '', reg_id INTEGER NOT NULL DEFAULT 0,"
                " path TEXT NOT NULL DEFAULT '', received TEXT NOT NULL DEFAULT '',"
                " q INTEGER NOT NULL DEFAULT 1000 CHECK (q BETWEEN 0 AND 1000),"
                " expires INTEGER NOT NULL, call_id TEXT NOT NULL DEFAULT '',"
                " cseq INTEGER NOT NULL DEFAULT 0, user_agent TEXT NOT NULL DEFAULT '',"
                " flags INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (aor, contact, instance))"
                " WITHOUT ROWID;"
                "CREATE INDEX bindings_expires ON bindings (expires);"
                "INSERT INTO bindings(aor, contact, received, q, expires, cseq) VALUES"
                " ('sip:old@x', 'sip:old@192.0.2.1', 'udp:192.0.2.1:5060', 500, 4000000000, 3);");
    sqlite3_close(h);

    struct wsip_store *s = open_store(NULL);
    ck_assert_int_eq(wsip_store_schema_version(s), 2);
    ck_assert_int_eq(wsip_store_start(s), 0);
    struct wsip_store_binding b = binding("sip:new@x", "sip:new@192.0.2.2", "", 4000000000);
    b.params = S(";methods=\"INVITE,MESSAGE\";+sip.instance=\"<urn:uuid:1>\"");
    b.instance = S("urn:uuid:1");
    b.temp_gruu = S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    ck_assert_int_eq(wsip_store_binding_put(s, &b), 0);
    wsip_store_flush(s);
    static struct loaded l;
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(wsip_store_bindings_load(s, 0, load_cb, &l), 2);
    ck_assert_str_eq(l.rows[0], "sip:new@x|sip:new@192.0.2.2|urn:uuid:1|0|||1000|4000000000||0||0|"
                                ";methods=\"INVITE,MESSAGE\";+sip.instance=\"<urn:uuid:1>\"|"
                                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    ck_assert_str_eq(l.rows[1],
                     "sip:old@x|sip:old@192.0.2.1||0||udp:192.0.2.1:5060|500|4000000000||3||0||");
    wsip_store_stop(s);
    wsip_store_close(s);
}
END_TEST

START_TEST(batch_coalesces_covered_writes)
{
    struct wsip_store *s = open_store(NULL);
    /* not started: everything below lands in one batch */
    struct wsip_store_binding a = binding("sip:a@x", "sip:a@h", "", 4000000000);
    for (uint32_t i = 1; i <= 3; i++) {
        a.cseq = i; /* refreshes: only the last matters */
        ck_assert_int_eq(wsip_store_binding_put(s, &a), 0);
    }
    struct wsip_store_binding b = binding("sip:b@x", "sip:b@h", "", 4000000000);
    ck_assert_int_eq(wsip_store_binding_put(s, &b), 0);
    ck_assert_int_eq(wsip_store_binding_del(s, S("sip:b@x"), S("sip:b@h"), S("")), 0);
    struct wsip_store_binding c1 = binding("sip:c@x", "sip:c1@h", "", 4000000000);
    struct wsip_store_binding c2 = binding("sip:c@x", "sip:c2@h", "", 4000000000);
    struct wsip_store_binding c3 = binding("sip:c@x", "sip:c3@h", "", 4000000000);
    ck_assert_int_eq(wsip_store_binding_put(s, &c1), 0);
    ck_assert_int_eq(wsip_store_binding_put(s, &c2), 0);
    ck_assert_int_eq(wsip_store_binding_del_aor(s, S("sip:c@x")), 0);
    ck_assert_int_eq(wsip_store_binding_put(s, &c3), 0);
    /* same contact, other instance: another row, kept */
    struct wsip_store_binding d1 = binding("sip:d@x", "sip:d@h", "<urn:1>", 4000000000);
    struct wsip_store_binding d2 = binding("sip:d@x", "sip:d@h", "<urn:2>", 4000000000);
    ck_assert_int_eq(wsip_store_binding_put(s, &d1), 0);
    ck_assert_int_eq(wsip_store_binding_put(s, &d2), 0);
    ck_assert_int_eq(wsip_store_start(s), 0);
    wsip_store_flush(s);

    struct wsip_store_stats st;
    wsip_store_get_stats(s, &st);
    ck_assert_uint_eq(st.enqueued, 11);
    ck_assert_uint_eq(st.written, 11);
    ck_assert_uint_eq(st.failed, 0);
    ck_assert_uint_eq(st.coalesced, 5); /* a 1-2, b's put, c1, c2 */
    ck_assert_uint_eq(st.batches, 1);

    static struct loaded l;
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(wsip_store_bindings_load(s, 0, load_cb, &l), 4);
    const char *want[] = {"sip:a@x|sip:a@h||", "sip:c@x|sip:c3@h||", "sip:d@x|sip:d@h|<urn:1>|",
                          "sip:d@x|sip:d@h|<urn:2>|"};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(!strncmp(l.rows[i], want[i], strlen(want[i])), "row %d is '%s', want '%s'", i,
                      l.rows[i], want[i]);
    /* a's row is the last refresh */
    ck_assert_ptr_nonnull(strstr(l.rows[0], "|4000000000||3|"));
    wsip_store_close(s);
}
END_TEST

START_TEST(queue_drops_oldest)
{
    struct wsip_store_opts o = {.queue_limit = 10};
    struct wsip_store *s = open_store(&o);
    /* not started yet: the writes wait, and past 10 the oldest go */
    char contact[32];
    for (int i = 0; i < 25; i++) {
        snprintf(contact, sizeof(contact), "sip:c%02d@h", i);
        struct wsip_store_binding b = binding("sip:a@x", contact, "", 4000000000);
        ck_assert_int_eq(wsip_store_binding_put(s, &b), 0);
    }
    struct wsip_store_stats st;
    wsip_store_get_stats(s, &st);
    ck_assert_uint_eq(st.enqueued, 25);
    ck_assert_uint_eq(st.dropped, 15);
    ck_assert_uint_eq(st.queued, 10);
    ck_assert_int_eq(wsip_store_start(s), 0);
    wsip_store_flush(s);
    wsip_store_get_stats(s, &st);
    ck_assert_uint_eq(st.written, 10);
    ck_assert_uint_eq(st.queued, 0);
    ck_assert_uint_eq(st.batches, 1); /* all of it in one transaction */

    static struct loaded l;
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(wsip_store_bindings_load(s, 0, load_cb, &l), 10);
    for (int i = 0; i < 10; i++) {
        snprintf(contact, sizeof(contact), "sip:a@x|sip:c%02d@h|", i + 15);
        ck_assert_msg(!strncmp(l.rows[i], contact, strlen(contact)), "row %d is '%s', want '%s'", i,
                      l.rows[i], contact);
    }
    wsip_store_close(s);
}
END_TEST

#define THREADS         8
#define PUTS_PER_THREAD 500

struct producer {
    struct wsip_store *s;
    int id;
    int failed;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    char aor[64], contact[64];
    for (int i = 0; i < PUTS_PER_THREAD; i++) {
        snprintf(aor, sizeof(aor), "sip:t%d@example.com", p->id);
        snprintf(contact, sizeof(contact), "sip:t%d-%d@h", p->id, i);
        struct wsip_store_binding b = binding(aor, contact, "", 4000000000);
        b.cseq = (uint32_t)i;
        if (wsip_store_binding_put(p->s, &b) != 0)
            p->failed++;
    }
    return NULL;
}

static int count_cb(const struct wsip_store_binding *b, void *arg)
{
    (*(long *)arg)++;
    return 0;
}

START_TEST(concurrent_puts)
{
    struct wsip_store *s = open_store(NULL);
    ck_assert_int_eq(wsip_store_start(s), 0);
    pthread_t t[THREADS];
    struct producer p[THREADS];
    for (int i = 0; i < THREADS; i++) {
        p[i] = (struct producer){.s = s, .id = i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, produce, &p[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(p[i].failed, 0);
    }
    wsip_store_flush(s);
    struct wsip_store_stats st;
    wsip_store_get_stats(s, &st);
    ck_assert_uint_eq(st.enqueued, THREADS * PUTS_PER_THREAD);
    ck_assert_uint_eq(st.written, THREADS * PUTS_PER_THREAD);
    ck_assert_uint_eq(st.dropped, 0);
    ck_assert_uint_eq(st.failed, 0);
    long n = 0;
    ck_assert_int_eq(wsip_store_bindings_load(s, 0, count_cb, &n), THREADS * PUTS_PER_THREAD);
    ck_assert_int_eq(n, THREADS * PUTS_PER_THREAD);
    wsip_store_close(s);
}
END_TEST

START_TEST(stop_flushes)
{
    struct wsip_store *s = open_store(NULL);
    ck_assert_int_eq(wsip_store_start(s), 0);
    char contact[32];
    for (int i = 0; i < 100; i++) {
        snprintf(contact, sizeof(contact), "sip:c%d@h", i);
        struct wsip_store_binding b = binding("sip:a@x", contact, "", 4000000000);
        ck_assert_int_eq(wsip_store_binding_put(s, &b), 0);
    }
    wsip_store_stop(s); /* no flush before: stop applies what is queued */
    long n = 0;
    ck_assert_int_eq(wsip_store_bindings_load(s, 0, count_cb, &n), 100);
    struct wsip_store_binding late = binding("sip:a@x", "sip:late@h", "", 4000000000);
    ck_assert_int_eq(wsip_store_binding_put(s, &late), -1);
    ck_assert_int_eq(wsip_store_binding_del_aor(s, S("sip:a@x")), -1);
    wsip_store_stop(s);  /* idempotent */
    wsip_store_flush(s); /* returns at once */
    wsip_store_close(s);

    s = open_store(NULL);
    n = 0;
    ck_assert_int_eq(wsip_store_bindings_load(s, 0, count_cb, &n), 100);
    /* closing a store whose thread runs also stops and flushes it */
    ck_assert_int_eq(wsip_store_start(s), 0);
    ck_assert_int_eq(wsip_store_binding_del_aor(s, S("sip:a@x")), 0);
    wsip_store_close(s);
    s = open_store(NULL);
    n = 0;
    ck_assert_int_eq(wsip_store_bindings_load(s, 0, count_cb, &n), 0);
    wsip_store_close(s);
}
END_TEST

START_TEST(binding_field_too_large)
{
    struct wsip_store *s = open_store(NULL);
    char *big = malloc(70000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'a', 70000);
    struct wsip_store_binding b = binding("sip:a@x", "sip:a@h", "", 1);
    b.user_agent = wsip_str_make(big, 70000);
    ck_assert_int_eq(wsip_store_binding_put(s, &b), -1);
    free(big);
    struct wsip_store_stats st;
    wsip_store_get_stats(s, &st);
    ck_assert_uint_eq(st.enqueued, 0);
    wsip_store_close(s);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, schema_created);
    tcase_add_test(tc, schema_migrates_from_v0);
    tcase_add_test(tc, schema_migrates_file_without_version_table);
    tcase_add_test(tc, schema_migrates_from_v1);
    tcase_add_test(tc, schema_newer_refused);
    tcase_add_test(tc, open_fails_cleanly);
    tcase_add_test(tc, file_mode_0600);
    tcase_add_test(tc, no_plain_password_in_file);
    tcase_add_test(tc, ha1_values);
    tcase_add_test(tc, user_make_refuses);
    tcase_add_test(tc, user_put_get_del_list);
    tcase_add_test(tc, parse_aor);
    tcase_add_test(tc, cache_lookup);
    tcase_add_test(tc, data_changed_sees_other_connection);
    tcase_add_test(tc, cache_reloads_on_other_process_write);
    tcase_add_test(tc, bindings_write_behind);
    tcase_add_test(tc, bindings_load_skips_expired_and_purge);
    tcase_add_test(tc, queue_drops_oldest);
    tcase_add_test(tc, batch_coalesces_covered_writes);
    tcase_add_test(tc, concurrent_puts);
    tcase_add_test(tc, stop_flushes);
    tcase_add_test(tc, binding_field_too_large);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(store_suite());
}

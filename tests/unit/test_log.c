/* Logging: line format, context fields, escaping, level filtering, reopen
 * after logrotate's rename, whole lines under concurrent writers. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "wsip/log.h"

#define ck_contains(hay, needle)                                                                   \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "expected '%s' to contain '%s'", (hay), (needle))

static char dir[64];
static char path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/wsip-log-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/wsip.log", dir);
    ck_assert_int_eq(wsip_log_open(path), 0);
    wsip_log_set_level(WSIP_LOG_INFO);
    wsip_log_set_thread_tag(NULL); /* back to the default, also with CK_FORK=no */
}

static void teardown(void)
{
    wsip_log_close();
    char p[160];
    snprintf(p, sizeof(p), "%s/wsip.log", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/wsip.log.1", dir);
    unlink(p);
    rmdir(dir);
}

static char *slurp(const char *p)
{
    size_t len;
    return read_file(p, &len);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Checks "YYYY-MM-DDTHH:MM:SS.mmmZ " and that it is within a minute of now;
 * returns what follows it. */
static const char *after_timestamp(const char *line)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        char want = shape[i], got = line[i];
        bool ok = want == 'd' ? (got >= '0' && got <= '9') : got == want;
        ck_assert_msg(ok, "timestamp of '%s' at %zu: got '%c', want '%c'", line, i, got, want);
    }
    struct tm tm = {0};
    ck_assert_ptr_nonnull(strptime(line, "%Y-%m-%dT%H:%M:%S", &tm));
    long skew = (long)(timegm(&tm) - time(NULL));
    ck_assert_msg(skew > -60 && skew < 60, "timestamp '%.24s' is %ld s from now", line, skew);
    return line + sizeof(shape) - 1;
}

START_TEST(line_format_with_context)
{
    wsip_log_set_thread_tag("w1");
    struct wsip_log_ctx ctx = {.conn = 42, .peer = "127.0.0.1:5555", .transport = "ws"};
    wsip_log(WSIP_LOG_INFO, &ctx, "message %d", 7);
    /* a Call-ID view that is not NUL-terminated, a branch, no peer */
    const char buf[] = "a84b4c76e66710@pc33.atlanta.comXXXX";
    struct wsip_log_ctx ctx2 = {.conn = 0,
                                .call_id = {buf, 31},
                                .branch = WSIP_STR_LIT("z9hG4bK776asdhds"),
                                .transport = "udp"};
    wsip_log_warn(&ctx2, "retransmission");
    wsip_log_error(NULL, "no context");
    char *log = slurp(path);
    ck_assert_int_eq(count_lines(log), 3);
    char *l1 = log, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    l2[-1] = l3[-1] = '\0';
    ck_assert_str_eq(after_timestamp(l1),
                     "INFO  [w1] conn=42 peer=127.0.0.1:5555 transport=ws message 7");
    ck_assert_str_eq(after_timestamp(l2), "WARN  [w1] transport=udp "
                                          "call-id=a84b4c76e66710@pc33.atlanta.com "
                                          "branch=z9hG4bK776asdhds retransmission");
    ck_assert_str_eq(after_timestamp(l3), "ERROR [w1] no context\n");
    free(log);
}
END_TEST

START_TEST(default_thread_tag)
{
    ck_assert_str_eq(wsip_log_thread_tag(), "main");
    wsip_log_set_thread_tag("store");
    ck_assert_str_eq(wsip_log_thread_tag(), "store");
    wsip_log_set_thread_tag("a-very-long-thread-tag");
    ck_assert_str_eq(wsip_log_thread_tag(), "a-very-long-thr"); /* 15 bytes */
}
END_TEST

START_TEST(one_line_per_event_whatever_the_input)
{
    wsip_log_set_thread_tag("w2");
    /* a hostile Call-ID and message cannot forge a second line */
    struct wsip_log_ctx ctx = {.call_id = WSIP_STR_LIT("x\r\nINFO fake\"=1"), .peer = "a b"};
    wsip_log_info(&ctx, "body:\n%s\ttab\x01", "line2");
    char *log = slurp(path);
    ck_assert_int_eq(count_lines(log), 1);
    ck_assert_str_eq(after_timestamp(log), "INFO  [w2] peer=\"a b\" "
                                           "call-id=\"x\\r\\nINFO fake\\\"=1\" "
                                           "body:\\nline2\\ttab\\x01\n");
    free(log);
}
END_TEST

START_TEST(long_messages_are_cut)
{
    char *big = malloc(10000);
    memset(big, 'x', 9999);
    big[9999] = '\0';
    wsip_log_info(NULL, "%s", big);
    wsip_log_info(NULL, "after");
    char *log = slurp(path);
    ck_assert_int_eq(count_lines(log), 2);
    char *nl = strchr(log, '\n');
    ck_assert_uint_le((size_t)(nl - log + 1), 4096);
    ck_assert_msg(nl[-1] == '.' && nl[-2] == '.' && nl[-3] == '.', "no '...' before: %.20s",
                  nl - 20);
    ck_contains(nl + 1, "after\n");
    free(log);
    free(big);
}
END_TEST

static int evaluated;

static int side_effect(void)
{
    return ++evaluated;
}

START_TEST(level_filtering)
{
    ck_assert_int_eq(wsip_log_get_level(), WSIP_LOG_INFO);
    wsip_log_debug(NULL, "hidden %d", side_effect());
    ck_assert_int_eq(evaluated, 0); /* disabled: arguments not evaluated */
    wsip_log_set_level(WSIP_LOG_WARN);
    ck_assert(!wsip_log_enabled(WSIP_LOG_INFO));
    ck_assert(wsip_log_enabled(WSIP_LOG_ERROR));
    wsip_log_info(NULL, "hidden too");
    wsip_log_warn(NULL, "shown %d", side_effect());
    ck_assert_int_eq(evaluated, 1);
    wsip_log_set_level(WSIP_LOG_TRACE);
    wsip_log_trace(NULL, "trace shown");
    wsip_log_set_level((enum wsip_log_level)99); /* ignored */
    ck_assert_int_eq(wsip_log_get_level(), WSIP_LOG_TRACE);
    char *log = slurp(path);
    ck_assert_int_eq(count_lines(log), 2);
    ck_contains(log, "WARN  [main] shown 1\n");
    ck_contains(log, "TRACE [main] trace shown\n");
    ck_assert_ptr_null(strstr(log, "hidden"));
    free(log);

    ck_assert_int_eq(wsip_log_level_from_str("DEBUG"), WSIP_LOG_DEBUG);
    ck_assert_int_eq(wsip_log_level_from_str("warn"), WSIP_LOG_WARN);
    ck_assert_int_eq(wsip_log_level_from_str("warning"), -1);
    ck_assert_int_eq(wsip_log_level_from_str(NULL), -1);
    ck_assert_str_eq(wsip_log_level_name(WSIP_LOG_ERROR), "error");
}
END_TEST

START_TEST(reopen_after_rename)
{
    wsip_log_info(NULL, "before rotate");
    char rotated[160];
    snprintf(rotated, sizeof(rotated), "%s.1", path);
    ck_assert_int_eq(rename(path, rotated), 0);
    wsip_log_info(NULL, "still to the old file");
    ck_assert_int_eq(wsip_log_reopen(), 0);
    wsip_log_info(NULL, "after reopen");
    char *old = slurp(rotated), *cur = slurp(path);
    ck_assert_int_eq(count_lines(old), 2);
    ck_contains(old, "before rotate");
    ck_contains(old, "still to the old file");
    ck_assert_int_eq(count_lines(cur), 1);
    ck_contains(cur, "after reopen");
    free(old);
    free(cur);

    /* appends: an existing file keeps its lines */
    ck_assert_int_eq(wsip_log_open(rotated), 0);
    wsip_log_info(NULL, "appended");
    old = slurp(rotated);
    ck_assert_int_eq(count_lines(old), 3);
    free(old);
}
END_TEST

START_TEST(open_failure_keeps_the_old_destination)
{
    ck_assert_int_eq(wsip_log_open("/nonexistent-dir/x.log"), -ENOENT);
    wsip_log_info(NULL, "still here");
    char *log = slurp(path);
    ck_contains(log, "still here");
    free(log);
    /* back to stderr, then reopen is a no-op */
    ck_assert_int_eq(wsip_log_open(""), 0);
    ck_assert_int_eq(wsip_log_reopen(), 0);
}
END_TEST

#define THREADS 4
#define LINES   2000

static void *writer(void *arg)
{
    char tag[8];
    snprintf(tag, sizeof(tag), "w%d", (int)(intptr_t)arg);
    wsip_log_set_thread_tag(tag);
    struct wsip_log_ctx ctx = {.conn = (uint64_t)(intptr_t)arg + 1, .peer = "192.0.2.1:5060"};
    for (int i = 0; i < LINES; i++) {
        wsip_log_info(&ctx, "%0200d", i); /* long enough to make interleaving likely */
        if (i == LINES / 2 && arg == 0)
            wsip_log_reopen(); /* a SIGHUP in the middle changes nothing */
    }
    return NULL;
}

START_TEST(concurrent_writers_never_interleave)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *log = slurp(path);
    ck_assert_int_eq(count_lines(log), THREADS * LINES);
    int per[THREADS] = {0};
    char *save = NULL;
    for (char *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        int w, conn;
        char num[256];
        const char *rest = after_timestamp(l);
        int got = sscanf(rest, "INFO  [w%d] conn=%d peer=192.0.2.1:5060 %255s", &w, &conn, num);
        ck_assert_msg(got == 3 && w >= 0 && w < THREADS && conn == w + 1 && strlen(num) == 200,
                      "mangled line: '%s'", l);
        per[w]++;
    }
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(per[i], LINES);
    free(log);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, line_format_with_context);
    tcase_add_test(tc, default_thread_tag);
    tcase_add_test(tc, one_line_per_event_whatever_the_input);
    tcase_add_test(tc, long_messages_are_cut);
    tcase_add_test(tc, level_filtering);
    tcase_add_test(tc, reopen_after_rename);
    tcase_add_test(tc, open_failure_keeps_the_old_destination);
    tcase_add_test(tc, concurrent_writers_never_interleave);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(log_suite());
}

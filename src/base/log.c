/* One line per event, one write() per line. The destination is a private
 * file descriptor that is only ever replaced with dup3(), never closed while
 * the server runs: a thread that loaded the number just before a reopen
 * writes to the old or the new file, never to a closed (or reused) slot. */
#include "wsip/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096
#define MSG_MAX_BYTES  3072

_Atomic int wsip__log_level = WSIP_LOG_INFO;

static _Atomic int log_fd = -1; /* -1: standard error */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char *log_path; /* under log_mu */

static _Thread_local char thread_tag[16];

static const char *const level_names[WSIP_LOG_LEVEL_COUNT] = {"error", "warn", "info", "debug",
                                                              "trace"};
/* Padded to five columns so the messages line up. */
static const char *const level_labels[WSIP_LOG_LEVEL_COUNT] = {"ERROR", "WARN ", "INFO ", "DEBUG",
                                                               "TRACE"};

const char *wsip_log_level_name(enum wsip_log_level level)
{
    return (unsigned)level < WSIP_LOG_LEVEL_COUNT ? level_names[level] : "?";
}

int wsip_log_level_from_str(const char *s)
{
    for (int i = 0; s && i < WSIP_LOG_LEVEL_COUNT; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void wsip_log_set_level(enum wsip_log_level level)
{
    if ((unsigned)level < WSIP_LOG_LEVEL_COUNT)
        atomic_store_explicit(&wsip__log_level, (int)level, memory_order_relaxed);
}

enum wsip_log_level wsip_log_get_level(void)
{
    return (enum wsip_log_level)atomic_load_explicit(&wsip__log_level, memory_order_relaxed);
}

void wsip_log_set_thread_tag(const char *tag)
{
    snprintf(thread_tag, sizeof(thread_tag), "%s", tag ? tag : "");
}

const char *wsip_log_thread_tag(void)
{
    if (!thread_tag[0]) {
        pid_t tid = gettid();
        if (tid == getpid())
            snprintf(thread_tag, sizeof(thread_tag), "main");
        else
            snprintf(thread_tag, sizeof(thread_tag), "t%d", (int)tid);
    }
    return thread_tag;
}

/* Points the log descriptor at nfd (consumed). Caller holds log_mu. */
static int install_fd(int nfd)
{
    int cur = atomic_load(&log_fd);
    if (cur < 0) {
        atomic_store(&log_fd, nfd);
        return 0;
    }
    int rc = 0;
    if (dup3(nfd, cur, O_CLOEXEC) < 0)
        rc = -errno;
    close(nfd);
    return rc;
}

static int open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    return fd < 0 ? -errno : fd;
}

int wsip_log_open(const char *path)
{
    int rc = 0;
    pthread_mutex_lock(&log_mu);
    if (!path || !*path) {
        if (atomic_load(&log_fd) >= 0) {
            int nfd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
            rc = nfd < 0 ? -errno : install_fd(nfd);
        }
        if (rc == 0) {
            free(log_path);
            log_path = NULL;
        }
        goto out;
    }
    char *copy = strdup(path);
    if (!copy) {
        rc = -ENOMEM;
        goto out;
    }
    int nfd = open_file(path);
    if (nfd < 0) {
        free(copy);
        rc = nfd;
        goto out;
    }
    rc = install_fd(nfd);
    if (rc == 0) {
        free(log_path);
        log_path = copy;
    } else {
        free(copy);
    }
out:
    pthread_mutex_unlock(&log_mu);
    return rc;
}

int wsip_log_reopen(void)
{
    int rc = 0;
    pthread_mutex_lock(&log_mu);
    if (log_path) {
        int nfd = open_file(log_path);
        rc = nfd < 0 ? nfd : install_fd(nfd);
    }
    pthread_mutex_unlock(&log_mu);
    return rc;
}

void wsip_log_close(void)
{
    pthread_mutex_lock(&log_mu);
    int fd = atomic_exchange(&log_fd, -1);
    if (fd >= 0)
        close(fd);
    free(log_path);
    log_path = NULL;
    pthread_mutex_unlock(&log_mu);
}

/* ------------------------------------------------------------ formatting */

struct line {
    char *p;
    size_t len, cap; /* cap keeps room for "...\n" */
    bool full;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->full)
        return;
    if (n > l->cap - l->len) {
        n = l->cap - l->len;
        l->full = true;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Control bytes become \n, \r, \t or \xHH; in a quoted value '"' and '\'
 * are escaped too. Bytes >= 0x80 pass (UTF-8 stays readable). */
static void put_escaped(struct line *l, const char *s, size_t n, bool quoted)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[4];
        size_t en = 0;
        if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            en = 2;
        } else if (c < 0x20 || c == 0x7f) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            en = 4;
        } else if (quoted && (c == '"' || c == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)c;
            en = 2;
        }
        if (en) {
            put(l, s + i - run, run);
            put(l, esc, en);
            run = 0;
        } else {
            run++;
        }
    }
    put(l, s + n - run, run);
}

static void put_field(struct line *l, const char *key, const char *v, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++) {
        unsigned char c = (unsigned char)v[i];
        quote = c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f;
    }
    puts_(l, key);
    put(l, "=", 1);
    if (quote)
        put(l, "\"", 1);
    put_escaped(l, v, n, quote);
    if (quote)
        put(l, "\"", 1);
    put(l, " ", 1);
}

static void put_ctx(struct line *l, const struct wsip_log_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->conn) {
        char num[24];
        int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)ctx->conn);
        put_field(l, "conn", num, (size_t)n);
    }
    if (ctx->peer && *ctx->peer)
        put_field(l, "peer", ctx->peer, strlen(ctx->peer));
    if (ctx->transport && *ctx->transport)
        put_field(l, "transport", ctx->transport, strlen(ctx->transport));
    if (ctx->call_id.len)
        put_field(l, "call-id", ctx->call_id.p, ctx->call_id.len);
    if (ctx->branch.len)
        put_field(l, "branch", ctx->branch.p, ctx->branch.len);
}

static void write_all(const char *p, size_t n)
{
    int fd = atomic_load_explicit(&log_fd, memory_order_acquire);
    if (fd < 0)
        fd = STDERR_FILENO;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to report it */
        p += w;
        n -= (size_t)w;
    }
}

void wsip_log_vwrite(enum wsip_log_level level, const struct wsip_log_ctx *ctx, const char *fmt,
                     va_list ap)
{
    char buf[LINE_MAX_BYTES];
    struct line l = {buf, 0, sizeof(buf) - 4, false};

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[40];
    size_t sn = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + sn, sizeof(stamp) - sn, ".%03dZ ", (int)(ts.tv_nsec / 1000000));
    puts_(&l, stamp);
    puts_(&l, (unsigned)level < WSIP_LOG_LEVEL_COUNT ? level_labels[level] : "?????");
    puts_(&l, " [");
    puts_(&l, wsip_log_thread_tag());
    puts_(&l, "] ");
    put_ctx(&l, ctx);

    char msg[MSG_MAX_BYTES];
    int mn = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (mn < 0)
        mn = 0;
    bool cut = (size_t)mn >= sizeof(msg);
    put_escaped(&l, msg, cut ? sizeof(msg) - 1 : (size_t)mn, false);
    if (cut || l.full) {
        memcpy(buf + l.len, "...", 3); /* the 4 reserved bytes */
        l.len += 3;
    }
    buf[l.len++] = '\n';
    write_all(buf, l.len);
}

void wsip_log_write(enum wsip_log_level level, const struct wsip_log_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wsip_log_vwrite(level, ctx, fmt, ap);
    va_end(ap);
}

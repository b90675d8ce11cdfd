/* Logging: one line per event, with the context that lets an operator follow
 * a connection or a call through the log:
 *
 *   2026-11-21T01:02:03.456Z INFO  [w1] conn=42 peer=127.0.0.1:5555 transport=ws message
 *
 * Time is UTC with milliseconds; the level is padded to five columns; [w1]
 * is the calling thread's tag; then the context fields that are set, as
 * key=value (quoted when needed); then the message. Control characters in
 * values and message are escaped, so a line is always one line.
 *
 * Thread-safe: each line is built in a buffer and written with one write()
 * to standard error or to a file opened with O_APPEND, so lines of different
 * threads never interleave. Disabled levels cost one relaxed atomic load. */
#ifndef WSIP_LOG_H
#define WSIP_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "wsip/str.h"

/* The order is the config's log.level order: a message is written when its
 * level is <= the configured one. */
enum wsip_log_level {
    WSIP_LOG_ERROR = 0,
    WSIP_LOG_WARN,
    WSIP_LOG_INFO,
    WSIP_LOG_DEBUG,
    WSIP_LOG_TRACE,
};

#define WSIP_LOG_LEVEL_COUNT 5

/* Optional context of one event; zero/NULL/empty fields are left out. Views
 * (call_id, branch) may point into a received message. */
struct wsip_log_ctx {
    uint64_t conn;         /* connection id, 0 = none */
    const char *peer;      /* "192.0.2.1:5060", "[2001:db8::1]:443" */
    const char *transport; /* "udp", "ws", ... */
    struct wsip_str call_id;
    struct wsip_str branch;
};

/* The current threshold; read through wsip_log_enabled(). */
extern _Atomic int wsip__log_level;

static inline bool wsip_log_enabled(enum wsip_log_level level)
{
    return (int)level <= atomic_load_explicit(&wsip__log_level, memory_order_relaxed);
}

/* wsip_log(level, ctx, fmt, ...): ctx may be NULL. The arguments are not
 * evaluated when the level is disabled. */
#define wsip_log(level, ctx, ...)                                                                  \
    do {                                                                                           \
        if (wsip_log_enabled(level))                                                               \
            wsip_log_write((level), (ctx), __VA_ARGS__);                                           \
    } while (0)

#define wsip_log_error(ctx, ...) wsip_log(WSIP_LOG_ERROR, ctx, __VA_ARGS__)
#define wsip_log_warn(ctx, ...)  wsip_log(WSIP_LOG_WARN, ctx, __VA_ARGS__)
#define wsip_log_info(ctx, ...)  wsip_log(WSIP_LOG_INFO, ctx, __VA_ARGS__)
#define wsip_log_debug(ctx, ...) wsip_log(WSIP_LOG_DEBUG, ctx, __VA_ARGS__)
#define wsip_log_trace(ctx, ...) wsip_log(WSIP_LOG_TRACE, ctx, __VA_ARGS__)

/* Writes one line unconditionally (the macros check the level first). */
void wsip_log_write(enum wsip_log_level level, const struct wsip_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void wsip_log_vwrite(enum wsip_log_level level, const struct wsip_log_ctx *ctx, const char *fmt,
                     va_list ap) __attribute__((format(printf, 3, 0)));

void wsip_log_set_level(enum wsip_log_level level);
enum wsip_log_level wsip_log_get_level(void);

/* "error", "warn", "info", "debug", "trace" (the config spelling). */
const char *wsip_log_level_name(enum wsip_log_level level);
/* Case-insensitive; -1 when unknown. */
int wsip_log_level_from_str(const char *s);

/* Sends the log to path (created 0640 if missing, opened O_APPEND), or to
 * standard error when path is NULL or "". Returns 0, or -errno with the
 * previous destination kept. */
int wsip_log_open(const char *path);
/* Opens the same path again, for SIGHUP after logrotate renamed the file.
 * No-op (0) when logging to standard error; -errno on failure (the old file
 * stays in use). */
int wsip_log_reopen(void);
/* Back to standard error and closes the file. Only at shutdown or in tests:
 * another thread may be writing at the same moment. */
void wsip_log_close(void);

/* Tag of the calling thread, up to 15 bytes ("w1", "store", "main"). A
 * thread without one is "main" if it is the process's first thread, else
 * "t<tid>". */
void wsip_log_set_thread_tag(const char *tag);
const char *wsip_log_thread_tag(void);

#endif

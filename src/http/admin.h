/* The admin pages on the HTTP/WebSocket port: /status (an HTML page that
 * polls the next one), /status.json and /metrics (Prometheus text format
 * 0.0.4). Who may read them (admin.allowed_networks, admin.password as
 * HTTP Basic), and what they say, rendered from a snapshot the server
 * fills (transport/status.c). Nothing here touches a socket, and the
 * renderers are pure functions of the snapshot. */
#ifndef WSIP_HTTP_ADMIN_H
#define WSIP_HTTP_ADMIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "transport/transport.h"
#include "wsip/auth.h"
#include "wsip/config.h"
#include "wsip/http.h"
#include "wsip/location.h"

enum wsip_admin_page {
    WSIP_ADMIN_NONE = 0, /* not an admin path: a static file */
    WSIP_ADMIN_HTML,     /* /status */
    WSIP_ADMIN_JSON,     /* /status.json */
    WSIP_ADMIN_METRICS,  /* /metrics */
};

/* Which admin page a request path (without the query) names, exactly. */
enum wsip_admin_page wsip_admin_page_of(struct wsip_str path);

/* --------------------------------------------------------------- access */

/* Thread-safe: set from the main thread (start, SIGHUP), read by workers. */
struct wsip_admin_access;

/* Loopback (127.0.0.0/8, ::1) and no password: admin.* at its defaults. */
struct wsip_admin_access *wsip_admin_access_new(void);
void wsip_admin_access_free(struct wsip_admin_access *a);
/* Replaces the networks and the password ("" or NULL: none). 0, or -1
 * when out of memory (the old values stay). */
int wsip_admin_access_set(struct wsip_admin_access *a, const struct wsip_cidr_list *nets,
                          const char *password);

bool wsip_admin_network_ok(struct wsip_admin_access *a, const struct sockaddr *peer);
bool wsip_admin_has_password(struct wsip_admin_access *a);
/* Whether the request carries "Authorization: Basic" credentials whose
 * password (after the first ':'; the user name is not checked) is the
 * admin password, compared in constant time; true when there is none. */
bool wsip_admin_auth_ok(struct wsip_admin_access *a, const struct wsip_http_req *req);

/* A refusal: 403 (network), 401 (with WWW-Authenticate: Basic realm="wsip
 * admin"), 429 (too many attempts) or 503 (out of memory); no-store,
 * Connection: close. */
void wsip_admin_refuse(struct wsip_sbuf *out, unsigned status, bool head);

/* "HTTP/1.1 200 OK" for an admin page: Content-Type, Content-Length,
 * Cache-Control: no-store, X-Content-Type-Options: nosniff, Connection:
 * close, then the header lines in extra (may be NULL). */
void wsip_admin_head(struct wsip_sbuf *out, const char *mime, size_t len, const char *extra);

#define WSIP_ADMIN_JSON_TYPE    "application/json"
#define WSIP_ADMIN_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define WSIP_ADMIN_HTML_TYPE    "text/html; charset=utf-8"

/* ------------------------------------------------------------ rendering */

/* Bindings listed in status.json (the count covers all of them). */
#define WSIP_STATUS_LIST_MAX 1000

struct wsip_status {
    const char *version;
    uint64_t uptime_ms;
    int64_t start_unix_ms; /* wall clock */
    int64_t now_unix_ms;   /* wall clock: the bindings' expiry is on it */
    unsigned workers;
    struct wsip_counter_totals c;
    /* each worker's share (the first `workers` entries): valid requests it
     * handled, and UDP requests it passed to their Call-ID's worker */
    struct wsip_worker_load {
        uint64_t requests, udp_handed_over;
    } per_worker[WSIP_MAX_WORKERS];
    bool registrar;                         /* a location service runs (else the next two are 0) */
    uint64_t bindings, aors;                /* in the location service */
    const struct wsip_binding *const *list; /* up to WSIP_STATUS_LIST_MAX of them */
    size_t nlist;
    struct wsip_auth_stats auth; /* both digest services summed */
};

/* Calls in progress: 2xx to initial INVITEs minus 2xx to BYEs (never
 * below 0). An approximation: a call that ends without a BYE answered 2xx
 * through wsip (a BYE answered 481 or 408, a phone that vanished) stays
 * counted, and a forked INVITE answered 2xx by several phones counts once. */
uint64_t wsip_status_calls(const struct wsip_status *st);

/* Append the document to out (out->oom says whether it is whole). */
void wsip_status_json(const struct wsip_status *st, struct wsip_sbuf *out);
void wsip_status_metrics(const struct wsip_status *st, struct wsip_sbuf *out);

/* JSON string literal of s: quotes, backslashes and control characters
 * escaped, bytes that are not UTF-8 replaced by U+FFFD. */
void wsip_json_str(struct wsip_sbuf *out, const char *s, size_t len);

/* The whole HTTP response for an admin page the request may see (HEAD:
 * without the body): the page, or a snapshot of s rendered. Any thread;
 * the server calls it on the libuv threadpool. In transport/status.c. */
void wsip_status_respond(struct wsip_server *s, enum wsip_admin_page page, bool head,
                         struct wsip_sbuf *out);

/* The /status page (web/status.html, embedded at build time) and the
 * version (git describe at build time, else the project version). */
extern const unsigned char wsip_status_page[];
extern const size_t wsip_status_page_len;
extern const char wsip_build_version[];

#endif

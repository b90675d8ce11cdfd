/* Admin pages: access (networks, HTTP Basic password) and the status
 * documents, JSON and Prometheus text, rendered from a snapshot. */
#include "http/admin.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_int.h"
#include "wsip/ws.h"

#define PW_HASH_LEN 32 /* SHA-256 */
/* Longest Basic credentials looked at (decoded user:password). */
#define BASIC_MAX 512

enum wsip_admin_page wsip_admin_page_of(struct wsip_str path)
{
    if (wsip_str_eq_cstr(path, "/status"))
        return WSIP_ADMIN_HTML;
    if (wsip_str_eq_cstr(path, "/status.json"))
        return WSIP_ADMIN_JSON;
    if (wsip_str_eq_cstr(path, "/metrics"))
        return WSIP_ADMIN_METRICS;
    return WSIP_ADMIN_NONE;
}

/* --------------------------------------------------------------- access */

struct wsip_admin_access {
    pthread_mutex_t lock;
    struct wsip_cidr_list nets; /* own copy */
    bool has_password;
    /* only the hash is kept: compared in constant time whatever the lengths */
    unsigned char pw_hash[PW_HASH_LEN];
};

static int sha256(const void *p, size_t len, unsigned char out[PW_HASH_LEN])
{
    unsigned int n = 0;
    return EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) == 1 && n == PW_HASH_LEN ? 0 : -1;
}

struct wsip_admin_access *wsip_admin_access_new(void)
{
    struct wsip_admin_access *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    pthread_mutex_init(&a->lock, NULL);
    struct wsip_cidr loopback[2];
    const char *why;
    struct wsip_cidr_list l = {loopback, 2};
    if (wsip_cidr_parse("127.0.0.0/8", &loopback[0], &why) < 0 ||
        wsip_cidr_parse("::1/128", &loopback[1], &why) < 0 ||
        wsip_admin_access_set(a, &l, NULL) < 0) {
        wsip_admin_access_free(a);
        return NULL;
    }
    return a;
}

void wsip_admin_access_free(struct wsip_admin_access *a)
{
    if (!a)
        return;
    free(a->nets.v);
    pthread_mutex_destroy(&a->lock);
    OPENSSL_cleanse(a->pw_hash, sizeof(a->pw_hash));
    free(a);
}

int wsip_admin_access_set(struct wsip_admin_access *a, const struct wsip_cidr_list *nets,
                          const char *password)
{
    size_t n = nets ? nets->n : 0;
    struct wsip_cidr *v = malloc((n ? n : 1) * sizeof(*v));
    unsigned char hash[PW_HASH_LEN] = {0};
    bool has = password && *password;
    if (!v || (has && sha256(password, strlen(password), hash) < 0)) {
        free(v);
        return -1;
    }
    if (n)
        memcpy(v, nets->v, n * sizeof(*v));
    pthread_mutex_lock(&a->lock);
    struct wsip_cidr *old = a->nets.v;
    a->nets.v = v;
    a->nets.n = n;
    a->has_password = has;
    memcpy(a->pw_hash, hash, sizeof(hash));
    pthread_mutex_unlock(&a->lock);
    OPENSSL_cleanse(hash, sizeof(hash));
    free(old);
    return 0;
}

bool wsip_admin_network_ok(struct wsip_admin_access *a, const struct sockaddr *peer)
{
    pthread_mutex_lock(&a->lock);
    bool ok = wsip_cidr_list_match(&a->nets, peer);
    pthread_mutex_unlock(&a->lock);
    return ok;
}

bool wsip_admin_has_password(struct wsip_admin_access *a)
{
    pthread_mutex_lock(&a->lock);
    bool has = a->has_password;
    pthread_mutex_unlock(&a->lock);
    return has;
}

/* The password of "Authorization: Basic base64(user:password)" into buf;
 * its length, or -1 when the header is missing or malformed. */
static long basic_password(const struct wsip_http_req *req, char *buf, size_t cap)
{
    const struct wsip_http_hdr *h = wsip_http_hdr(req, "Authorization");
    if (!h)
        return -1;
    struct wsip_str v = h->value;
    if (v.len < 6 || strncasecmp(v.p, "Basic", 5) != 0 || (v.p[5] != ' ' && v.p[5] != '\t'))
        return -1;
    struct wsip_str b64 = wsip_str_trim(wsip_str_make(v.p + 6, v.len - 6));
    long n = wsip_base64_decode(b64.p, b64.len, buf, cap, 0);
    if (n < 0)
        return -1;
    const char *colon = memchr(buf, ':', (size_t)n);
    if (!colon)
        return -1;
    size_t off = (size_t)(colon + 1 - buf);
    memmove(buf, colon + 1, (size_t)n - off);
    return n - (long)off;
}

bool wsip_admin_auth_ok(struct wsip_admin_access *a, const struct wsip_http_req *req)
{
    unsigned char want[PW_HASH_LEN], got[PW_HASH_LEN];
    pthread_mutex_lock(&a->lock);
    bool has = a->has_password;
    memcpy(want, a->pw_hash, sizeof(want));
    pthread_mutex_unlock(&a->lock);
    if (!has)
        return true;
    char pw[BASIC_MAX];
    long n = basic_password(req, pw, sizeof(pw));
    bool ok =
        n >= 0 && sha256(pw, (size_t)n, got) == 0 && CRYPTO_memcmp(got, want, sizeof(want)) == 0;
    OPENSSL_cleanse(pw, sizeof(pw));
    OPENSSL_cleanse(want, sizeof(want));
    return ok;
}

void wsip_admin_refuse(struct wsip_sbuf *out, unsigned status, bool head)
{
    const char *extra = "Cache-Control: no-store\r\n";
    const char *detail = "out of memory";
    if (status == 401) {
        extra = "WWW-Authenticate: Basic realm=\"wsip admin\", charset=\"UTF-8\"\r\n"
                "Cache-Control: no-store\r\n";
        detail = "the admin password is needed (admin.password)";
    } else if (status == 403) {
        detail = "not allowed from this address (admin.allowed_networks)";
    } else if (status == 429) {
        extra = "Retry-After: 1\r\nCache-Control: no-store\r\n";
        detail = "too many attempts from this address";
    }
    wsip__http_error(out, status, NULL, extra, detail, head, "close");
}

void wsip_admin_head(struct wsip_sbuf *out, const char *mime, size_t len, const char *extra)
{
    wsip_sbuf_printf(out,
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "Connection: close\r\n"
                     "%s\r\n",
                     mime, len, extra ? extra : "");
}

/* ------------------------------------------------------------- helpers */

static const char *const transport_names[] = {
    [WSIP_LOC_TP_NONE] = "",   [WSIP_LOC_TP_UDP] = "udp", [WSIP_LOC_TP_TCP] = "tcp",
    [WSIP_LOC_TP_TLS] = "tls", [WSIP_LOC_TP_WS] = "ws",   [WSIP_LOC_TP_WSS] = "wss",
};

static const char *binding_transport(const struct wsip_binding *b)
{
    return b->transport < sizeof(transport_names) / sizeof(transport_names[0])
               ? transport_names[b->transport]
               : "";
}

/* Connections exist on the stream transports only. */
static const enum wsip_listen_kind stream_kinds[] = {WSIP_LISTEN_TCP, WSIP_LISTEN_TLS,
                                                     WSIP_LISTEN_WS, WSIP_LISTEN_WSS};
#define NSTREAM (sizeof(stream_kinds) / sizeof(stream_kinds[0]))

static const char *const auth_result_names[WSIP_AUTH_RC_COUNT] = {
    "ok", "challenge", "stale", "failed", "bad_request", "rate_limited", "error",
};

/* Close codes a peer or wsip may send (RFC 6455 sec 7.4.1: 1004 is
 * reserved, 1005, 1006 and 1015 never go on the wire); the others only
 * show when they were counted. */
static bool close_code_listed(const struct wsip_status *st, unsigned i)
{
    unsigned code = 1000 + i;
    return st->c.ws_closes[i] || !(code == 1004 || code == 1005 || code == 1006 || code == 1015);
}

static const char *method_label(unsigned m)
{
    return m == WSIP_METHOD_OTHER ? "other" : wsip_method_name((enum wsip_method)m);
}

/* Methods with a name: the counter array has room for more. */
#define NMETHODS (WSIP_METHOD_REFER + 1)
_Static_assert(NMETHODS <= WSIP_CTR_METHODS, "request counters have no room for every method");

static uint64_t auth_failures(const struct wsip_auth_stats *a)
{
    return a->by_rc[WSIP_AUTH_FAILED] + a->by_rc[WSIP_AUTH_RATE_LIMITED];
}

uint64_t wsip_status_calls(const struct wsip_status *st)
{
    return st->c.calls_answered > st->c.calls_ended ? st->c.calls_answered - st->c.calls_ended : 0;
}

/* ---------------------------------------------------------------- JSON */

void wsip_json_str(struct wsip_sbuf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    wsip_sbuf_append(out, "\"", 1);
    size_t run = 0; /* bytes p[run..i) are copied as they are */
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t seq = 1;
        const char *esc = NULL;
        char u[7];
        if (c == '"') {
            esc = "\\\"";
        } else if (c == '\\') {
            esc = "\\\\";
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(u, "\\u00", 4);
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
            u[6] = '\0';
            esc = u;
        } else if (c >= 0x80) {
            seq = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (seq > len - i || !wsip_utf8_valid(p + i, seq)) {
                esc = "\\ufffd"; /* not UTF-8: JSON must be */
                seq = 1;
            }
        }
        if (esc) {
            wsip_sbuf_append(out, s + run, i - run);
            wsip_sbuf_puts(out, esc);
            run = i + seq;
        }
        i += seq;
    }
    wsip_sbuf_append(out, s + run, len - run);
    wsip_sbuf_append(out, "\"", 1);
}

static void json_cstr(struct wsip_sbuf *out, const char *s)
{
    wsip_json_str(out, s ? s : "", s ? strlen(s) : 0);
}

static void json_binding(struct wsip_sbuf *out, const struct wsip_binding *b, int64_t now)
{
    int64_t left = b->expires_at > now ? (b->expires_at - now + 999) / 1000 : 0;
    wsip_sbuf_puts(out, "{\"aor\":");
    json_cstr(out, b->aor);
    wsip_sbuf_puts(out, ",\"contact\":");
    json_cstr(out, b->contact);
    wsip_sbuf_puts(out, ",\"transport\":");
    json_cstr(out, binding_transport(b));
    wsip_sbuf_printf(out, ",\"expires_in\":%lld,\"user_agent\":", (long long)left);
    json_cstr(out, b->user_agent);
    wsip_sbuf_puts(out, ",\"instance\":");
    json_cstr(out, b->instance);
    wsip_sbuf_printf(out, ",\"reg_id\":%u,\"received\":", b->reg_id);
    json_cstr(out, b->received);
    wsip_sbuf_printf(out, ",\"flow\":%s}", b->flow ? "true" : "false");
}

static void json_by_kind(struct wsip_sbuf *out, const char *name, const uint64_t *v)
{
    wsip_sbuf_printf(out, "\"%s\":{", name);
    for (size_t i = 0; i < NSTREAM; i++)
        wsip_sbuf_printf(out, "%s\"%s\":%llu", i ? "," : "", wsip_listen_kind_name(stream_kinds[i]),
                         (unsigned long long)v[stream_kinds[i]]);
    wsip_sbuf_puts(out, "}");
}

static void json_counts(struct wsip_sbuf *out, const struct wsip_status *st)
{
    const struct wsip_counter_totals *c = &st->c;
    wsip_sbuf_printf(out, "\"transactions\":{\"server\":%llu,\"client\":%llu},",
                     (unsigned long long)c->strans_open, (unsigned long long)c->ctrans_open);
    wsip_sbuf_printf(out, "\"calls\":{\"in_progress\":%llu,\"answered\":%llu,\"ended\":%llu},",
                     (unsigned long long)wsip_status_calls(st),
                     (unsigned long long)c->calls_answered, (unsigned long long)c->calls_ended);
    wsip_sbuf_printf(out, "\"messages\":{\"received\":%llu,\"sent\":%llu,\"bad\":%llu},",
                     (unsigned long long)c->rx_msgs, (unsigned long long)c->tx_msgs,
                     (unsigned long long)c->rx_bad);
    wsip_sbuf_puts(out, "\"requests\":{");
    for (unsigned m = 1; m <= NMETHODS; m++) {
        unsigned id = m % NMETHODS; /* OTHER last */
        wsip_sbuf_printf(out, "%s\"%s\":%llu", m > 1 ? "," : "", method_label(id),
                         (unsigned long long)c->requests[id]);
    }
    wsip_sbuf_puts(out, "},\"responses\":{");
    for (unsigned k = 0; k < WSIP_CTR_RESPONSES; k++)
        wsip_sbuf_printf(out, "%s\"%uxx\":%llu", k ? "," : "", k + 1,
                         (unsigned long long)c->responses[k]);
    wsip_sbuf_printf(out, "},\"auth\":{\"challenges\":%llu,\"failures\":%llu,\"results\":{",
                     (unsigned long long)st->auth.challenges,
                     (unsigned long long)auth_failures(&st->auth));
    for (unsigned r = 0; r < WSIP_AUTH_RC_COUNT; r++)
        wsip_sbuf_printf(out, "%s\"%s\":%llu", r ? "," : "", auth_result_names[r],
                         (unsigned long long)st->auth.by_rc[r]);
    wsip_sbuf_printf(out,
                     "}},\"websocket\":{\"pings_sent\":%llu,\"pongs_missed\":%llu,\"closes\":{",
                     (unsigned long long)c->ws_pings, (unsigned long long)c->ws_pongs_missed);
    const char *sep = "";
    for (unsigned i = 0; i < WSIP_CTR_WS_CODES; i++) {
        if (!close_code_listed(st, i))
            continue;
        wsip_sbuf_printf(out, "%s\"%u\":%llu", sep, 1000 + i, (unsigned long long)c->ws_closes[i]);
        sep = ",";
    }
    wsip_sbuf_printf(out, "}},\"flows\":{\"handoffs\":%llu,\"stale\":%llu},",
                     (unsigned long long)c->handoffs, (unsigned long long)c->stale_flows);
    wsip_sbuf_puts(out, "\"per_worker\":[");
    for (unsigned i = 0; i < st->workers && i < WSIP_MAX_WORKERS; i++)
        wsip_sbuf_printf(out, "%s{\"requests\":%llu,\"udp_handed_over\":%llu}", i ? "," : "",
                         (unsigned long long)st->per_worker[i].requests,
                         (unsigned long long)st->per_worker[i].udp_handed_over);
    wsip_sbuf_puts(out, "]");
}

void wsip_status_json(const struct wsip_status *st, struct wsip_sbuf *out)
{
    const struct wsip_counter_totals *c = &st->c;
    wsip_sbuf_puts(out, "{\"version\":");
    json_cstr(out, st->version);
    wsip_sbuf_printf(out,
                     ",\"uptime_ms\":%llu,\"start_time_ms\":%lld,\"now_ms\":%lld,\"workers\":%u,",
                     (unsigned long long)st->uptime_ms, (long long)st->start_unix_ms,
                     (long long)st->now_unix_ms, st->workers);
    wsip_sbuf_puts(out, "\"connections\":{");
    json_by_kind(out, "open", c->conns_open);
    wsip_sbuf_puts(out, ",");
    json_by_kind(out, "total", c->conns_total);
    wsip_sbuf_printf(out, ",\"refused\":%llu},", (unsigned long long)c->conns_refused);
    wsip_sbuf_printf(out,
                     "\"registrations\":{\"enabled\":%s,\"bindings\":%llu,\"aors\":%llu,"
                     "\"listed\":%zu,\"truncated\":%s,\"list\":[",
                     st->registrar ? "true" : "false", (unsigned long long)st->bindings,
                     (unsigned long long)st->aors, st->nlist,
                     st->nlist < st->bindings ? "true" : "false");
    for (size_t i = 0; i < st->nlist; i++) {
        if (i)
            wsip_sbuf_puts(out, ",\n");
        json_binding(out, st->list[i], st->now_unix_ms);
    }
    wsip_sbuf_puts(out, "]},\n");
    json_counts(out, st);
    wsip_sbuf_puts(out, "}\n");
}

/* ----------------------------------------------------------- Prometheus */

static void family(struct wsip_sbuf *o, const char *name, const char *type, const char *help)
{
    wsip_sbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct wsip_sbuf *o, const char *name, const char *labels, uint64_t v)
{
    wsip_sbuf_printf(o, "%s%s%s%s %llu\n", name, labels ? "{" : "", labels ? labels : "",
                     labels ? "}" : "", (unsigned long long)v);
}

/* One family with a single unlabelled sample. */
static void single(struct wsip_sbuf *o, const char *name, const char *type, const char *help,
                   uint64_t v)
{
    family(o, name, type, help);
    sample(o, name, NULL, v);
}

/* A label value: backslash, double quote and line feed escaped. */
static void label_value(struct wsip_sbuf *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            wsip_sbuf_printf(o, "\\%c", *s);
        else if (*s == '\n')
            wsip_sbuf_puts(o, "\\n");
        else
            wsip_sbuf_append(o, s, 1);
    }
}

static void by_kind(struct wsip_sbuf *o, const char *name, const char *type, const char *help,
                    const uint64_t *v)
{
    family(o, name, type, help);
    for (size_t i = 0; i < NSTREAM; i++) {
        char l[32];
        snprintf(l, sizeof(l), "transport=\"%s\"", wsip_listen_kind_name(stream_kinds[i]));
        sample(o, name, l, v[stream_kinds[i]]);
    }
}

/* A counter family with one sample per worker. */
static void by_worker(struct wsip_sbuf *o, const char *name, const char *help,
                      const struct wsip_status *st, bool handed_over)
{
    family(o, name, "counter", help);
    for (unsigned i = 0; i < st->workers && i < WSIP_MAX_WORKERS; i++) {
        char l[24];
        snprintf(l, sizeof(l), "worker=\"%u\"", i);
        const struct wsip_worker_load *w = &st->per_worker[i];
        sample(o, name, l, handed_over ? w->udp_handed_over : w->requests);
    }
}

static void metrics_process(struct wsip_sbuf *o, const struct wsip_status *st)
{
    family(o, "wsip_build_info", "gauge", "The running version (git describe at build time).");
    wsip_sbuf_puts(o, "wsip_build_info{version=\"");
    label_value(o, st->version ? st->version : "");
    wsip_sbuf_puts(o, "\"} 1\n");
    family(o, "wsip_start_time_seconds", "gauge", "When the server started (Unix time).");
    wsip_sbuf_printf(o, "wsip_start_time_seconds %lld.%03lld\n",
                     (long long)(st->start_unix_ms / 1000), (long long)(st->start_unix_ms % 1000));
    family(o, "wsip_uptime_seconds", "gauge", "Seconds since the server started.");
    wsip_sbuf_printf(o, "wsip_uptime_seconds %llu.%03llu\n",
                     (unsigned long long)(st->uptime_ms / 1000),
                     (unsigned long long)(st->uptime_ms % 1000));
    single(o, "wsip_workers", "gauge", "Worker threads.", st->workers);
    by_worker(o, "wsip_worker_requests_total", "Valid SIP requests handled, by worker.", st, false);
    by_worker(o, "wsip_udp_handed_over_total",
              "UDP requests passed to the worker their Call-ID names, by the receiving worker.", st,
              true);
}

static void metrics_connections(struct wsip_sbuf *o, const struct wsip_status *st)
{
    const struct wsip_counter_totals *c = &st->c;
    by_kind(o, "wsip_connections_open", "gauge", "Open connections, both directions.",
            c->conns_open);
    by_kind(o, "wsip_connections_total", "counter", "Connections accepted or opened.",
            c->conns_total);
    single(o, "wsip_connections_refused_total", "counter",
           "Connections refused (net.max_connections, net.max_connections_per_ip).",
           c->conns_refused);
    single(o, "wsip_ws_pings_total", "counter", "WebSocket pings sent on idle connections.",
           c->ws_pings);
    single(o, "wsip_ws_pongs_missed_total", "counter",
           "WebSocket pings still unanswered at the next check.", c->ws_pongs_missed);
    family(o, "wsip_ws_closes_total", "counter",
           "WebSocket connections closed, by close code (sent by wsip or echoed to the peer).");
    for (unsigned i = 0; i < WSIP_CTR_WS_CODES; i++) {
        if (!close_code_listed(st, i))
            continue;
        char l[24];
        snprintf(l, sizeof(l), "code=\"%u\"", 1000 + i);
        sample(o, "wsip_ws_closes_total", l, c->ws_closes[i]);
    }
    single(o, "wsip_flow_handoffs_total", "counter",
           "Messages passed to the worker that owns the connection.", c->handoffs);
    single(o, "wsip_flow_stale_total", "counter",
           "Messages for a connection that had closed (not sent).", c->stale_flows);
}

static void metrics_sip(struct wsip_sbuf *o, const struct wsip_status *st)
{
    const struct wsip_counter_totals *c = &st->c;
    single(o, "wsip_sip_messages_received_total", "counter", "SIP messages received and parsed.",
           c->rx_msgs);
    single(o, "wsip_sip_messages_sent_total", "counter", "SIP messages sent.", c->tx_msgs);
    single(o, "wsip_sip_bad_messages_total", "counter",
           "SIP messages refused as malformed or invalid.", c->rx_bad);
    family(o, "wsip_sip_requests_total", "counter",
           "Valid SIP requests received (retransmissions included), by method.");
    for (unsigned m = 1; m <= NMETHODS; m++) {
        unsigned id = m % NMETHODS;
        char l[32];
        snprintf(l, sizeof(l), "method=\"%s\"", method_label(id));
        sample(o, "wsip_sip_requests_total", l, c->requests[id]);
    }
    family(o, "wsip_sip_responses_total", "counter",
           "SIP responses sent, answered or forwarded (a transaction's own retransmissions "
           "excluded), by class.");
    for (unsigned k = 0; k < WSIP_CTR_RESPONSES; k++) {
        char l[24];
        snprintf(l, sizeof(l), "class=\"%uxx\"", k + 1);
        sample(o, "wsip_sip_responses_total", l, c->responses[k]);
    }
    family(o, "wsip_transactions", "gauge", "SIP transactions in progress.");
    sample(o, "wsip_transactions", "role=\"server\"", c->strans_open);
    sample(o, "wsip_transactions", "role=\"client\"", c->ctrans_open);
    single(o, "wsip_calls_in_progress", "gauge",
           "Calls through the proxy: 2xx to initial INVITEs minus 2xx to BYEs (approximate).",
           wsip_status_calls(st));
    single(o, "wsip_calls_answered_total", "counter", "2xx responses sent to initial INVITEs.",
           c->calls_answered);
    single(o, "wsip_calls_ended_total", "counter", "2xx responses sent to BYEs.", c->calls_ended);
}

static void metrics_registrar(struct wsip_sbuf *o, const struct wsip_status *st)
{
    single(o, "wsip_registrations", "gauge", "Bindings in the location service.", st->bindings);
    single(o, "wsip_registered_aors", "gauge", "Addresses of record with bindings.", st->aors);
    single(o, "wsip_auth_challenges_total", "counter", "Digest challenges sent (401 and 407).",
           st->auth.challenges);
    family(o, "wsip_auth_checks_total", "counter", "Digest credential checks, by result.");
    for (unsigned r = 0; r < WSIP_AUTH_RC_COUNT; r++) {
        char l[32];
        snprintf(l, sizeof(l), "result=\"%s\"", auth_result_names[r]);
        sample(o, "wsip_auth_checks_total", l, st->auth.by_rc[r]);
    }
}

void wsip_status_metrics(const struct wsip_status *st, struct wsip_sbuf *out)
{
    metrics_process(out, st);
    metrics_connections(out, st);
    metrics_sip(out, st);
    metrics_registrar(out, st);
}

/* The server process: listen specs, per-worker SO_REUSEPORT listeners,
 * worker threads, signals, graceful shutdown, per-IP accounting. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/fmt.h"
#include "base/random.h"
#include "http/admin.h"
#include "transport/transport.h"
#include "wsip/log.h"
#include "wsip/tls.h"

int wsip__worker_init(struct wsip_worker *w, struct wsip_server *s, unsigned id);
void wsip__worker_free(struct wsip_worker *w);
int wsip__worker_start(struct wsip_worker *w);
void wsip__worker_begin_shutdown(struct wsip_worker *w);

uint64_t wsip_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void wsip_addr_str(const struct sockaddr *sa, char *out, size_t cap)
{
    struct wsip_fmt f;
    wsip_fmt_init(&f, out, cap);
    if (sa->sa_family == AF_INET) {
        /* by hand: this runs for every UDP REGISTER */
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        const unsigned char *o = (const unsigned char *)&in->sin_addr;
        for (int i = 0; i < 4; i++) {
            if (i)
                wsip_fmt_char(&f, '.');
            wsip_fmt_uint(&f, o[i]);
        }
        wsip_fmt_char(&f, ':');
        wsip_fmt_uint(&f, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        char host[INET6_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        wsip_fmt_char(&f, '[');
        wsip_fmt_cstr(&f, host);
        wsip_fmt_cstr(&f, "]:");
        wsip_fmt_uint(&f, ntohs(in6->sin6_port));
    } else {
        wsip_fmt_char(&f, '?');
    }
}

/* ----------------------------------------------------------- listen URIs */

static const char *const kind_names[] = {"udp", "tcp", "tls", "ws", "wss"};

const char *wsip_listen_kind_name(enum wsip_listen_kind k)
{
    return (unsigned)k < 5 ? kind_names[k] : "?";
}

bool wsip_listen_kind_secure(enum wsip_listen_kind k)
{
    return k == WSIP_LISTEN_TLS || k == WSIP_LISTEN_WSS;
}

bool wsip_listen_kind_ws(enum wsip_listen_kind k)
{
    return k == WSIP_LISTEN_WS || k == WSIP_LISTEN_WSS;
}

int wsip_listen_spec_parse(const char *uri, struct wsip_listen_spec *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    const char *sep = strstr(uri, "://");
    if (!sep) {
        *why = "listen URI needs a scheme (udp://, tcp://, tls://, ws://, wss://)";
        return -1;
    }
    size_t slen = (size_t)(sep - uri);
    unsigned k;
    for (k = 0; k < 5; k++)
        if (strlen(kind_names[k]) == slen && strncasecmp(uri, kind_names[k], slen) == 0)
            break;
    if (k == 5) {
        *why = "unknown listen scheme";
        return -1;
    }
    out->kind = (enum wsip_listen_kind)k;
    const char *h = sep + 3, *port_s;
    if (*h == '[') {
        const char *rb = strchr(h, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - h - 1) >= sizeof(out->host)) {
            *why = "malformed IPv6 listen address";
            return -1;
        }
        memcpy(out->host, h + 1, (size_t)(rb - h - 1));
        port_s = rb + 2;
    } else {
        const char *colon = strrchr(h, ':');
        if (!colon || (size_t)(colon - h) >= sizeof(out->host) || colon == h) {
            *why = "listen URI needs host:port";
            return -1;
        }
        memcpy(out->host, h, (size_t)(colon - h));
        port_s = colon + 1;
    }
    char *end;
    long port = strtol(port_s, &end, 10);
    if (*port_s == '\0' || *end != '\0' || port < 1 || port > 65535) {
        *why = "listen port must be 1..65535";
        return -1;
    }
    out->port = (uint16_t)port;
    struct sockaddr_in *in = (struct sockaddr_in *)&out->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->addr;
    if (inet_pton(AF_INET, out->host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(out->port);
        out->addrlen = sizeof(*in);
    } else if (inet_pton(AF_INET6, out->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(out->port);
        out->addrlen = sizeof(*in6);
    } else if (strcmp(out->host, "localhost") == 0) {
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in->sin_port = htons(out->port);
        out->addrlen = sizeof(*in);
    } else {
        /* names are not resolved at startup: listening needs an address */
        *why = "listen host must be an IP address (or localhost)";
        return -1;
    }
    return 0;
}

void wsip_server_opts_default(struct wsip_server_opts *o)
{
    memset(o, 0, sizeof(*o));
    const char *def[] = {"udp://127.0.0.1:5060", "tcp://127.0.0.1:5060", "ws://127.0.0.1:8080"};
    const char *why;
    for (unsigned i = 0; i < 3; i++)
        if (wsip_listen_spec_parse(def[i], &o->listen[o->nlisten], &why) == 0)
            o->nlisten++;
    snprintf(o->domains[0], sizeof(o->domains[0]), "localhost");
    o->ndomains = 1;
    wsip_sip_limits_default(&o->sip);
    o->max_udp_message = 65507;
    o->ws_max_frame = 65536;
    o->ws_max_message = 65536;
    o->http_max_header = 8192;
    o->max_conn_per_ip = 100;
    o->max_connections = 20000;
    o->handshakes_per_ip_per_sec = 20;
    o->send_queue_limit = 1u << 20;
    o->tcp_idle_timeout_ms = 120000;
    o->tcp_connect_timeout_ms = 5000;
    o->tls_verify_peer = true;
    o->dns_cache_ttl_ms = 30000;
    o->ws_ping_interval_ms = 30000;
    o->ws_max_missed_pongs = 2;
    snprintf(o->ws_path, sizeof(o->ws_path), "/");
    snprintf(o->http_root, sizeof(o->http_root), "web");
    o->shutdown_drain_ms = 2000;
    o->t1_ms = 500;
    o->t2_ms = 4000;
    o->t4_ms = 5000;
}

/* -------------------------------------------------------- per-IP limits */

struct ip_entry {
    struct ip_entry *next;
    unsigned char addr[16];
    uint8_t family;
    unsigned conns;
    uint64_t second;     /* the second the handshake count is for */
    unsigned handshakes; /* in that second */
};

static size_t ip_key(const struct sockaddr *sa, unsigned char out[16], uint8_t *family)
{
    memset(out, 0, 16);
    *family = (uint8_t)sa->sa_family;
    if (sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return 4;
    }
    memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    return 16;
}

static struct ip_entry **ip_find(struct wsip_server *s, const struct sockaddr *sa, bool create)
{
    unsigned char k[16];
    uint8_t fam;
    ip_key(sa, k, &fam);
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ k[i]) * 16777619u;
    struct ip_entry **pp = &s->iptable[h % 1024];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->family == fam && memcmp((*pp)->addr, k, 16) == 0)
            return pp;
    if (!create)
        return NULL;
    struct ip_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    memcpy(e->addr, k, 16);
    e->family = fam;
    *pp = e;
    return pp;
}

bool wsip_ip_acquire(struct wsip_server *s, const struct sockaddr *sa)
{
    bool ok = false;
    pthread_mutex_lock(&s->iplock);
    struct ip_entry **pp = ip_find(s, sa, true);
    if (pp && (*pp)->conns < s->opt.max_conn_per_ip) {
        (*pp)->conns++;
        ok = true;
    }
    pthread_mutex_unlock(&s->iplock);
    return ok;
}

void wsip_ip_release(struct wsip_server *s, const struct sockaddr *sa)
{
    pthread_mutex_lock(&s->iplock);
    struct ip_entry **pp = ip_find(s, sa, false);
    if (pp && (*pp)->conns > 0 && --(*pp)->conns == 0 && (*pp)->handshakes == 0) {
        struct ip_entry *e = *pp;
        *pp = e->next;
        free(e);
    }
    pthread_mutex_unlock(&s->iplock);
}

bool wsip_ip_handshake_ok(struct wsip_server *s, const struct sockaddr *sa)
{
    bool ok = false;
    uint64_t now = wsip_now_ms() / 1000;
    pthread_mutex_lock(&s->iplock);
    struct ip_entry **pp = ip_find(s, sa, true);
    if (pp) {
        struct ip_entry *e = *pp;
        if (e->second != now) {
            e->second = now;
            e->handshakes = 0;
        }
        if (e->handshakes < s->opt.handshakes_per_ip_per_sec) {
            e->handshakes++;
            ok = true;
        }
    }
    pthread_mutex_unlock(&s->iplock);
    return ok;
}

/* ------------------------------------------------------------ listeners */

int wsip_bound_socket(const struct wsip_listen_spec *spec, int type)
{
    int fd = socket(spec->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* every worker binds its own socket; the kernel spreads the load */
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (spec->addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&spec->addr, spec->addrlen) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

struct stream_listener {
    uv_tcp_t tcp;
    enum wsip_listen_kind kind;
    struct wsip_worker *w;
};

static void on_connection(uv_stream_t *server, int status)
{
    struct stream_listener *l = (struct stream_listener *)server;
    if (status < 0)
        return;
    wsip_conn_accept(l->w, server, l->kind);
}

static int listen_stream(struct wsip_worker *w, const struct wsip_listen_spec *spec)
{
    int fd = wsip_bound_socket(spec, SOCK_STREAM);
    if (fd < 0)
        return fd;
    struct stream_listener *l = calloc(1, sizeof(*l));
    if (!l) {
        close(fd);
        return -ENOMEM;
    }
    l->kind = spec->kind;
    l->w = w;
    uv_tcp_init(&w->loop, &l->tcp);
    int rc = uv_tcp_open(&l->tcp, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
    w->listeners[w->nlisteners++] = (uv_handle_t *)&l->tcp;
    if (rc != 0)
        return rc;
    return 0;
}

static int listen_all(struct wsip_server *s, char *err, size_t errlen)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct wsip_worker *w = &s->workers[i];
        for (unsigned j = 0; j < s->opt.nlisten; j++) {
            const struct wsip_listen_spec *spec = &s->opt.listen[j];
            int rc =
                spec->kind == WSIP_LISTEN_UDP ? wsip_udp_listen(w, spec) : listen_stream(w, spec);
            if (rc < 0) {
                snprintf(err, errlen, "cannot listen on %s://%s:%u: %s",
                         wsip_listen_kind_name(spec->kind), spec->host, spec->port, strerror(-rc));
                return -1;
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- server */

/* The context of outgoing TLS connections: the server's certificate is
 * checked against tls.ca_file or the system's CA store (read here, on the
 * main thread, never on a loop), unless tls.verify_peer is off. */
static int client_tls_init(struct wsip_server *s, char *err, size_t errlen)
{
    struct wsip_tls_config cfg;
    struct wsip_tls_err terr = {{0}};
    wsip_tls_config_default(&cfg, WSIP_TLS_CLIENT);
    if (s->opt.tls_verify_peer) {
        if (s->opt.tls_ca_file[0])
            cfg.ca_file = s->opt.tls_ca_file;
        else
            cfg.system_cas = true;
    }
    if (wsip_tls_ctx_new(&s->tls_client, &cfg, &terr) < 0) {
        snprintf(err, errlen, "outgoing TLS: %s", terr.msg);
        return -1;
    }
    return 0;
}

int wsip_server_init(struct wsip_server *s, const struct wsip_server_opts *o, char *err,
                     size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->opt = *o;
    s->start_ms = wsip_now_ms();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    s->start_wall_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    /* should the pool fail, a zero key still spreads Call-IDs, only
     * predictably */
    (void)wsip_random_bytes(s->spread_key, sizeof(s->spread_key));
    pthread_mutex_init(&s->iplock, NULL);
    s->admin = wsip_admin_access_new();
    if (!s->admin) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    unsigned n = o->workers;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (unsigned)cpus : 1;
    }
    if (n > WSIP_MAX_WORKERS)
        n = WSIP_MAX_WORKERS;
    s->nworkers = n;
    /* aligned: each worker's counters sit on cache lines of their own */
    s->workers = aligned_alloc(alignof(struct wsip_worker), n * sizeof(*s->workers));
    if (!s->workers) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memset(s->workers, 0, n * sizeof(*s->workers));
    for (unsigned i = 0; i < s->opt.nlisten; i++) {
        if (wsip_listen_kind_secure(s->opt.listen[i].kind) && !s->tls) {
            struct wsip_tls_config cfg;
            struct wsip_tls_err terr = {{0}};
            wsip_tls_config_default(&cfg, WSIP_TLS_SERVER);
            cfg.cert_file = o->tls_cert;
            cfg.key_file = o->tls_key;
            if (wsip_tls_ctx_new(&s->tls, &cfg, &terr) < 0) {
                snprintf(err, errlen, "TLS: %s", terr.msg);
                return -1;
            }
        }
    }
    if (client_tls_init(s, err, errlen) < 0)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        if (wsip__worker_init(&s->workers[i], s, i) < 0) {
            snprintf(err, errlen, "cannot start worker %u", i);
            return -1;
        }
    }
    return listen_all(s, err, errlen);
}

int wsip_server_reload_tls(struct wsip_server *s)
{
    if (!s->tls)
        return 0;
    struct wsip_tls_err terr = {{0}};
    if (wsip_tls_ctx_reload(s->tls, s->opt.tls_cert, s->opt.tls_key, &terr) < 0) {
        wsip_log(WSIP_LOG_ERROR, NULL, "TLS reload failed, keeping the old certificate: %s",
                 terr.msg);
        return -1;
    }
    wsip_log(WSIP_LOG_INFO, NULL, "TLS certificate reloaded from %s", s->opt.tls_cert);
    return 0;
}

static void sum_into(uint64_t *to, const _Atomic uint64_t *from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        to[i] += atomic_load_explicit(&from[i], memory_order_relaxed);
}

void wsip_server_counters(const struct wsip_server *s, struct wsip_counter_totals *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < s->nworkers; i++) {
        const struct wsip_counters *c = &s->workers[i].ctr;
        sum_into(&out->rx_msgs, &c->rx_msgs, 1);
        sum_into(&out->tx_msgs, &c->tx_msgs, 1);
        sum_into(&out->rx_bad, &c->rx_bad, 1);
        sum_into(out->requests, c->requests, WSIP_CTR_METHODS);
        sum_into(out->responses, c->responses, WSIP_CTR_RESPONSES);
        sum_into(out->conns_open, c->conns_open, WSIP_CTR_KINDS);
        sum_into(out->conns_total, c->conns_total, WSIP_CTR_KINDS);
        sum_into(&out->conns_refused, &c->conns_refused, 1);
        sum_into(&out->ws_pings, &c->ws_pings, 1);
        sum_into(&out->ws_pongs_missed, &c->ws_pongs_missed, 1);
        sum_into(out->ws_closes, c->ws_closes, WSIP_CTR_WS_CODES);
        sum_into(&out->strans_open, &c->strans_open, 1);
        sum_into(&out->ctrans_open, &c->ctrans_open, 1);
        sum_into(&out->calls_answered, &c->calls_answered, 1);
        sum_into(&out->calls_ended, &c->calls_ended, 1);
        sum_into(&out->stale_flows, &c->stale_flows, 1);
        sum_into(&out->handoffs, &c->handoffs, 1);
        sum_into(&out->udp_handed_over, &c->udp_handed_over, 1);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct wsip_server *s = h->data;
    if (signum == SIGHUP) {
        if (s->reload) {
            s->reload(s, s->reload_arg);
            return;
        }
        wsip_log_reopen();
        wsip_server_reload_tls(s);
        return;
    }
    wsip_log(WSIP_LOG_INFO, NULL, "signal %d: shutting down", signum);
    wsip_server_stop(s);
}

int wsip_server_start(struct wsip_server *s)
{
    for (unsigned i = 0; i < s->nworkers; i++)
        if (wsip__worker_start(&s->workers[i]) < 0)
            return -1;
    return 0;
}

void wsip_server_join(struct wsip_server *s)
{
    for (unsigned i = 0; i < s->nworkers; i++)
        uv_thread_join(&s->workers[i].thread);
}

static void stop_async(uv_async_t *a)
{
    struct wsip_server *s = a->data;
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sighup, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static uv_async_t main_stop;

void wsip_server_stop(struct wsip_server *s)
{
    bool was = atomic_exchange(&s->stopping, true);
    if (was)
        return;
    for (unsigned i = 0; i < s->nworkers; i++)
        wsip__worker_begin_shutdown(&s->workers[i]);
    if (main_stop.data == s)
        uv_async_send(&main_stop);
}

int wsip_server_run(struct wsip_server *s)
{
    uv_loop_init(&s->main_loop);
    uv_signal_init(&s->main_loop, &s->sigterm);
    uv_signal_init(&s->main_loop, &s->sigint);
    uv_signal_init(&s->main_loop, &s->sighup);
    s->sigterm.data = s->sigint.data = s->sighup.data = s;
    uv_async_init(&s->main_loop, &main_stop, stop_async);
    main_stop.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sighup, on_signal, SIGHUP);
    /* handlers are in place: let the signals the caller held back through */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    if (wsip_server_start(s) < 0)
        return 1;
    uv_run(&s->main_loop, UV_RUN_DEFAULT);
    wsip_server_join(s);
    uv_loop_close(&s->main_loop);
    main_stop.data = NULL;
    return s->exit_code;
}

void wsip_server_free(struct wsip_server *s)
{
    for (unsigned i = 0; i < s->nworkers; i++)
        wsip__worker_free(&s->workers[i]);
    free(s->workers);
    for (unsigned i = 0; i < 1024; i++) {
        struct ip_entry *e = s->iptable[i];
        while (e) {
            struct ip_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    pthread_mutex_destroy(&s->iplock);
    wsip_admin_access_free(s->admin);
    s->admin = NULL;
    wsip_tls_ctx_free(s->tls);
    wsip_tls_ctx_free(s->tls_client);
}

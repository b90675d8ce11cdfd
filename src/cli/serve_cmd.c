/* wsip serve: load the configuration, start the workers, run until a signal. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/core.h"
#include "http/admin.h"
#include "transport/transport.h"
#include "wsip/config.h"
#include "wsip/log.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: wsip serve [-c FILE] [--listen URI]... [--domain NAME]... [--db PATH]\n"
               "                  [--set key=value]...\n"
               "  URI: udp://HOST:PORT, tcp://..., tls://..., ws://..., wss://... (IPv6 in [])\n"
               "  Without options: udp://127.0.0.1:5060, tcp://127.0.0.1:5060,\n"
               "  ws://127.0.0.1:8080, domain localhost (see etc/wsip.conf).\n");
}

static enum wsip_listen_kind kind_of(enum wsip_transport t)
{
    switch (t) {
    case WSIP_TP_TCP: return WSIP_LISTEN_TCP;
    case WSIP_TP_TLS: return WSIP_LISTEN_TLS;
    case WSIP_TP_WS: return WSIP_LISTEN_WS;
    case WSIP_TP_WSS: return WSIP_LISTEN_WSS;
    default: return WSIP_LISTEN_UDP;
    }
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* The server's options from the configuration. */
int wsip_server_opts_from_config(struct wsip_server_opts *o, const struct wsip_config *c, char *err,
                                 size_t errlen);
int wsip_server_opts_from_config(struct wsip_server_opts *o, const struct wsip_config *c, char *err,
                                 size_t errlen)
{
    wsip_server_opts_default(o);
    o->nlisten = 0;
    for (size_t i = 0; i < c->listen.n; i++) {
        if (o->nlisten == sizeof(o->listen) / sizeof(o->listen[0])) {
            snprintf(err, errlen, "too many listen addresses (at most 16)");
            return -1;
        }
        const struct wsip_listen *l = &c->listen.v[i];
        char uri[256];
        bool v6 = strchr(l->host, ':') != NULL;
        snprintf(uri, sizeof(uri), "%s://%s%s%s:%u", wsip_listen_kind_name(kind_of(l->transport)),
                 v6 ? "[" : "", l->host, v6 ? "]" : "", l->port);
        const char *why;
        if (wsip_listen_spec_parse(uri, &o->listen[o->nlisten], &why) < 0) {
            snprintf(err, errlen, "listen %s: %s", l->uri ? l->uri : uri, why);
            return -1;
        }
        o->nlisten++;
    }
    o->ndomains = 0;
    for (size_t i = 0; i < c->domains.n && o->ndomains < 8; i++)
        copy_str(o->domains[o->ndomains++], sizeof(o->domains[0]), c->domains.v[i]);
    o->workers = wsip_config_workers(c);
    o->sip.max_msg_size = c->sip.max_message_size;
    o->sip.max_headers = c->sip.max_headers;
    o->sip.max_header_line = c->sip.max_header_line;
    o->sip.max_start_line = c->sip.max_start_line;
    o->max_udp_message = c->sip.max_udp_message_size;
    o->t1_ms = c->sip.t1;
    o->t2_ms = c->sip.t2;
    o->t4_ms = c->sip.t4;
    o->ws_max_frame = c->ws.max_frame_size;
    o->ws_max_message = c->ws.max_message_size;
    o->http_max_header = c->http.max_header_size;
    o->max_conn_per_ip = c->net.max_connections_per_ip;
    o->max_connections = c->net.max_connections;
    o->handshakes_per_ip_per_sec = c->net.handshakes_per_ip_per_second;
    o->send_queue_limit = c->net.send_queue_limit;
    o->tcp_idle_timeout_ms = c->tcp.idle_timeout * 1000u;
    o->tcp_connect_timeout_ms = c->tcp.connect_timeout * 1000u;
    o->tls_verify_peer = c->tls.verify_peer;
    copy_str(o->tls_ca_file, sizeof(o->tls_ca_file), c->tls.ca_file);
    o->dns_cache_ttl_ms = c->dns.cache_ttl * 1000u;
    o->ws_ping_interval_ms = c->ws.ping_interval * 1000u;
    o->ws_max_missed_pongs = c->ws.max_missed_pongs;
    copy_str(o->ws_path, sizeof(o->ws_path), c->ws.path);
    o->nws_allowed_origins = 0;
    for (size_t i = 0; i < c->ws.allowed_origins.n && i < 8; i++)
        copy_str(o->ws_allowed_origins[o->nws_allowed_origins++], sizeof(o->ws_allowed_origins[0]),
                 c->ws.allowed_origins.v[i]);
    copy_str(o->http_root, sizeof(o->http_root), c->http.root);
    copy_str(o->tls_cert, sizeof(o->tls_cert), c->tls.certificate);
    copy_str(o->tls_key, sizeof(o->tls_key), c->tls.private_key);
    return 0;
}

/* Where a browser finds the web phone: one line per WebSocket listener when
 * http.root holds a page. A wildcard address is shown as loopback, which
 * browsers treat as a secure origin (microphone access over plain http). */
static void log_web_phone(const struct wsip_server_opts *o)
{
    bool any = false;
    for (unsigned i = 0; i < o->nlisten; i++)
        any |= o->listen[i].kind == WSIP_LISTEN_WS || o->listen[i].kind == WSIP_LISTEN_WSS;
    if (!any || !o->http_root[0])
        return;
    char index[sizeof(o->http_root) + 16];
    snprintf(index, sizeof(index), "%s/index.html", o->http_root);
    if (access(index, R_OK) != 0) {
        wsip_log_info(
            NULL, "no web phone: %s is missing (make build writes the phone to build/web)", index);
        return;
    }
    for (unsigned i = 0; i < o->nlisten; i++) {
        const struct wsip_listen_spec *l = &o->listen[i];
        if (l->kind != WSIP_LISTEN_WS && l->kind != WSIP_LISTEN_WSS)
            continue;
        const char *host = l->host;
        if (!strcmp(host, "0.0.0.0"))
            host = "127.0.0.1";
        else if (!strcmp(host, "::"))
            host = "::1";
        bool v6 = strchr(host, ':') != NULL;
        wsip_log_info(NULL, "web phone: %s://%s%s%s:%u/ (files from %s)",
                      l->kind == WSIP_LISTEN_WSS ? "https" : "http", v6 ? "[" : "", host,
                      v6 ? "]" : "", l->port, o->http_root);
    }
}

/* UDP/TCP/TLS bindings written behind by an earlier run come back; flow
 * bindings were never stored (their connections are gone). The views of a
 * load callback are NUL-terminated: the binding points at them while the
 * location store copies it. */
static int restore_one(const struct wsip_store_binding *sb, void *arg)
{
    struct wsip_core *core = arg;
    int64_t now = wsip_core_now();
    struct wsip_binding b = {
        .aor = sb->aor.p,
        .contact = sb->contact.p,
        .params = sb->params.p,
        .instance = sb->instance.p,
        .path = sb->path.p,
        .received = sb->received.p,
        .call_id = sb->call_id.p,
        .user_agent = sb->user_agent.p,
        .expires_at = sb->expires * 1000,
        .created_at = now,
        .updated_at = now,
        .cseq = sb->cseq,
        .reg_id = (uint32_t)sb->reg_id,
        .q = sb->q >= 1000 ? -1 : (int16_t)sb->q,
        .transport = WSIP_LOC_TP_UDP,
        .flags = (uint8_t)sb->flags,
    };
    /* the location store checks the token's alphabet; a wrong length gets
     * a new one */
    if (sb->temp_gruu.len == WSIP_TEMP_GRUU_LEN)
        wsip_str_copy(sb->temp_gruu, b.temp_gruu, sizeof(b.temp_gruu));
    if (!strncmp(b.received, "tcp:", 4))
        b.transport = WSIP_LOC_TP_TCP;
    else if (!strncmp(b.received, "tls:", 4))
        b.transport = WSIP_LOC_TP_TLS;
    wsip_location_restore(core->loc, &b, now);
    return 0;
}

static long restore_bindings(struct wsip_core *core, struct wsip_store *store)
{
    return wsip_store_bindings_load(store, wsip_core_now() / 1000, restore_one, core);
}

/* What SIGHUP needs to read the configuration again. */
struct reload_state {
    struct wsip_config_args *args;
    struct wsip_config *cur;
    struct wsip_core *core;
};

/* SIGHUP: the file and command line again; directives that can change at
 * run time (log.*, tls.certificate, tls.private_key, admin.*, registrar.*)
 * take effect, the rest keep their running value until a restart
 * (wsip_config_keep_fixed). */
static void reload(struct wsip_server *s, void *arg)
{
    struct reload_state *rs = arg;
    struct wsip_config next;
    struct wsip_config_err cerr = {0}, notes = {0};
    if (wsip_config_args_load(&next, rs->args, &cerr) < 0) {
        for (unsigned i = 0; i < cerr.count && i < WSIP_CONFIG_ERR_MAX; i++)
            wsip_log_error(NULL, "reload: %s:%u: %s", cerr.e[i].file, cerr.e[i].line,
                           cerr.e[i].msg);
        wsip_log_error(NULL, "SIGHUP: configuration not reloaded");
        wsip_config_free(&next);
        wsip_log_reopen();
        return;
    }
    wsip_config_keep_fixed(&next, rs->cur, &notes);
    for (unsigned i = 0; i < notes.count && i < WSIP_CONFIG_ERR_MAX; i++)
        wsip_log_warn(NULL, "reload: %s", notes.e[i].msg);
    wsip_log_set_level(next.log.level);
    if (strcmp(next.log.file, rs->cur->log.file) != 0)
        wsip_log_open(next.log.file);
    else
        wsip_log_reopen();
    if (wsip_admin_access_set(s->admin, &next.admin.allowed_networks, next.admin.password) < 0)
        wsip_log_error(NULL, "reload: out of memory: admin.* not changed");
    copy_str(s->opt.tls_cert, sizeof(s->opt.tls_cert), next.tls.certificate);
    copy_str(s->opt.tls_key, sizeof(s->opt.tls_key), next.tls.private_key);
    wsip_server_reload_tls(s);
    if (rs->core)
        wsip_core_reload(rs->core, &next);
    wsip_config_free(rs->cur);
    *rs->cur = next;
    wsip_log_info(NULL, "SIGHUP: configuration reloaded");
}

int wsip_cmd_serve(int argc, char **argv)
{
    struct wsip_config cfg;
    struct wsip_config_err cerr = {0};
    struct wsip_config_args args = {0};
    int rc = 1;

    /* -c FILE, --listen, --domain, --db, --set and --KEY=VALUE */
    for (int i = 0; i < argc;) {
        int took = wsip_config_args_take(&args, argc, argv, &i, &cerr);
        if (took < 0) {
            wsip_config_err_print(&cerr, stderr);
            wsip_config_args_free(&args);
            return 1;
        }
        if (took > 0)
            continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            wsip_config_args_free(&args);
            return 0;
        }
        fprintf(stderr, "wsip serve: unknown option %s\n", argv[i]);
        usage(stderr);
        wsip_config_args_free(&args);
        return 1;
    }
    int loaded = wsip_config_args_load(&cfg, &args, &cerr);
    if (loaded < 0)
        goto bad_config;

    wsip_log_set_level(cfg.log.level);
    if (cfg.log.file && *cfg.log.file && wsip_log_open(cfg.log.file) < 0) {
        fprintf(stderr, "wsip: cannot open log file %s\n", cfg.log.file);
        goto out;
    }
    wsip_log_set_thread_tag("main");
    signal(SIGPIPE, SIG_IGN); /* libuv does not ignore it for us */

    struct wsip_server_opts opts;
    char err[512];
    if (wsip_server_opts_from_config(&opts, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsip: %s\n", err);
        goto out;
    }
    /* Until wsip_server_run has its handlers in place, a SIGHUP or SIGTERM
     * would kill the process (default action): hold them back. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    /* users, bindings and the SIP services, before any worker runs */
    struct wsip_store *store = NULL;
    struct wsip_users *users = wsip_users_new();
    struct wsip_core *core = NULL;
    struct wsip_store_opts so = {.path = cfg.db, .users = users};
    if (!users || wsip_store_open(&store, &so, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsip: database %s: %s\n", cfg.db, users ? err : "out of memory");
        wsip_users_free(users);
        goto out;
    }
    if (wsip_users_reload(users, store) < 0 ||
        wsip_core_new(&core, &cfg, store, users, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsip: %s\n", err[0] ? err : "cannot load users");
        wsip_store_close(store);
        wsip_users_free(users);
        goto out;
    }
    long restored = restore_bindings(core, store);
    static struct wsip_server srv;
    if (wsip_server_init(&srv, &opts, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsip: %s\n", err);
        wsip_server_free(&srv);
        wsip_core_free(core);
        wsip_store_close(store);
        wsip_users_free(users);
        goto out;
    }
    srv.core = core;
    if (wsip_admin_access_set(srv.admin, &cfg.admin.allowed_networks, cfg.admin.password) < 0) {
        fprintf(stderr, "wsip: out of memory\n");
        wsip_server_free(&srv);
        wsip_core_free(core);
        wsip_store_close(store);
        wsip_users_free(users);
        goto out;
    }
    wsip_store_start(store);
    struct reload_state rs = {.args = &args, .cur = &cfg, .core = core};
    srv.reload = reload;
    srv.reload_arg = &rs;
    wsip_log_info(NULL, "wsip %s: %u workers, %zu users, %ld bindings restored from %s",
                  wsip_build_version, srv.nworkers, wsip_users_count(users), restored, cfg.db);
    for (unsigned i = 0; i < opts.nlisten; i++) {
        const struct wsip_listen_spec *l = &opts.listen[i];
        bool v6 = strchr(l->host, ':') != NULL;
        /* one line per address on stdout: scripts and make run read them */
        printf("listening on %s://%s%s%s:%u\n", wsip_listen_kind_name(l->kind), v6 ? "[" : "",
               l->host, v6 ? "]" : "", l->port);
    }
    fflush(stdout);
    log_web_phone(&opts);
    rc = wsip_server_run(&srv);
    wsip_log_info(NULL, "stopped");
    wsip_server_free(&srv);
    wsip_store_stop(store); /* flushes the bindings written behind */
    wsip_core_free(core);
    wsip_store_close(store);
    wsip_users_free(users);
    goto out;

bad_config:
    wsip_config_err_print(&cerr, stderr);
out:
    wsip_config_args_free(&args);
    wsip_config_free(&cfg);
    wsip_log_close();
    return rc;
}

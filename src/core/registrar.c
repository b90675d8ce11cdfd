/* Registrar (RFC 3261 sec 10.3) with Outbound (RFC 5626), GRUU (RFC 5627)
 * and Path (RFC 3327). The SIP logic lives here; bindings live in the
 * location store (location.c), as Kamailio keeps registrar and usrloc
 * apart. */
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fmt.h"
#include "core/core.h"
#include "wsip/log.h"

#define MAX_CONTACTS 16
#define SERVER_HDR   "Server: wsip/" WSIP_VERSION "\r\n"

int64_t wsip_core_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* registrar.*_expires packed in one word (each at most 604800 < 2^21), so a
 * reload never shows a worker half of the new limits. */
#define EXPIRES_BITS 21
#define EXPIRES_MASK ((UINT64_C(1) << EXPIRES_BITS) - 1)

struct expires_limits {
    uint32_t min, dflt, max;
};

static struct expires_limits expires_limits_get(struct wsip_core *core)
{
    uint64_t v = atomic_load_explicit(&core->expires_limits, memory_order_relaxed);
    return (struct expires_limits){(uint32_t)(v & EXPIRES_MASK),
                                   (uint32_t)((v >> EXPIRES_BITS) & EXPIRES_MASK),
                                   (uint32_t)((v >> (2 * EXPIRES_BITS)) & EXPIRES_MASK)};
}

void wsip_core_reload(struct wsip_core *c, const struct wsip_config *cfg)
{
    uint64_t v = ((uint64_t)cfg->registrar.min_expires & EXPIRES_MASK) |
                 (((uint64_t)cfg->registrar.default_expires & EXPIRES_MASK) << EXPIRES_BITS) |
                 (((uint64_t)cfg->registrar.max_expires & EXPIRES_MASK) << (2 * EXPIRES_BITS));
    atomic_store_explicit(&c->expires_limits, v, memory_order_relaxed);
}

static void reply(struct wsip_strans *st, unsigned status, const char *reason, const char *extra)
{
    struct wsip_sbuf x;
    wsip_sbuf_init(&x);
    if (extra)
        wsip_sbuf_puts(&x, extra);
    wsip_sbuf_puts(&x, SERVER_HDR);
    wsip_strans_reply(st, status, reason, wsip_str_make(x.p, x.len), WSIP_STR_NULL);
    wsip_sbuf_free(&x);
}

/* --------------------------------------------------------- credentials */

static int authenticate(struct wsip_core *core, const struct wsip_source *src,
                        struct wsip_strans *st, struct wsip_msg *m, struct wsip_str user,
                        struct wsip_str domain, bool proxy);

int wsip_core_authorize_proxy(struct wsip_core *core, const struct wsip_source *src,
                              struct wsip_strans *st, struct wsip_msg *m)
{
    if (!wsip_auth_may_challenge(m))
        return 0; /* ACK and CANCEL are never challenged */
    const struct wsip_addr *from = wsip_msg_from(m, NULL);
    if (!from || (from->uri.scheme != WSIP_URI_SIP && from->uri.scheme != WSIP_URI_SIPS) ||
        !wsip_server_is_our_domain(src->worker->srv, from->uri.host))
        return 0; /* not from one of our users: the callee's domain decides */
    return authenticate(core, src, st, m, from->uri.user, from->uri.host, true);
}

struct lookup_arg {
    struct wsip_core *core;
    struct wsip_str domain; /* of the AOR: users are per domain */
};

/* The auth service asks for a user's HA1; sipML5 may send "user@domain". */
static int lookup_ha1(struct wsip_str user, struct wsip_str realm, enum wsip_digest_alg alg,
                      char ha1[WSIP_DIGEST_HEX_MAX], void *arg)
{
    struct lookup_arg *la = arg;
    struct wsip_str domain = la->domain;
    const char *at = memchr(user.p, '@', user.len);
    if (at) {
        domain = wsip_str_make(at + 1, (size_t)(user.p + user.len - at - 1));
        user.len = (size_t)(at - user.p);
    }
    struct wsip_user_cred cred;
    if (!la->core->users || wsip_users_lookup(la->core->users, user, domain, &cred) != 0)
        return -1;
    /* the HA1 was made for one realm: credentials for another cannot match */
    if (!wsip_str_eq(wsip_str_cstr(cred.realm), realm))
        return -1;
    const char *h = alg == WSIP_DIGEST_SHA256 ? cred.ha1_sha256 : cred.ha1_md5;
    if (alg != WSIP_DIGEST_SHA256 && alg != WSIP_DIGEST_MD5)
        return -1; /* only these two are stored */
    if (!*h)
        return -1;
    snprintf(ha1, WSIP_DIGEST_HEX_MAX, "%s", h);
    return 0;
}

/* 0: go on; otherwise the request was answered. proxy: 407 and
 * Proxy-Authorization instead of 401 and Authorization. */
static int authenticate(struct wsip_core *core, const struct wsip_source *src,
                        struct wsip_strans *st, struct wsip_msg *m, struct wsip_str user,
                        struct wsip_str domain, bool proxy)
{
    if (core->trusted.n &&
        wsip_cidr_list_match(&core->trusted, (const struct sockaddr *)&src->peer))
        return 0; /* a trusted peer (config `trusted`) is not challenged */
    struct wsip_str realm = core->realm[0] ? wsip_str_cstr(core->realm) : domain;
    struct lookup_arg la = {core, domain};
    /* browsers (WS/WSS) and phones want the challenges in different orders */
    struct wsip_auth_svc *svc = wsip_listen_kind_ws(src->kind) ? core->auth_ws : core->auth;
    struct wsip_auth_result res;
    uint64_t now = wsip_now_ms();
    enum wsip_auth_rc rc = wsip_auth_svc_check(
        svc, m, realm, proxy, now, (const struct sockaddr *)&src->peer, lookup_ha1, &la, &res);
    if (rc == WSIP_AUTH_OK) {
        /* an authenticated user registers their own AOR only */
        struct wsip_str who = wsip_str_make(res.user, res.user_len);
        const char *at = memchr(who.p, '@', who.len);
        if (at)
            who.len = (size_t)(at - who.p);
        if (!wsip_str_eq(who, user)) {
            reply(st, 403, "Forbidden: credentials do not match the AOR", NULL);
            return -1;
        }
        return 0;
    }
    if (rc == WSIP_AUTH_BAD_REQUEST) {
        reply(st, 400, res.reason ? res.reason : "Malformed credentials", NULL);
        return -1;
    }
    if (rc == WSIP_AUTH_RATE_LIMITED) {
        reply(st, 403, "Too many failed authentication attempts", NULL);
        return -1;
    }
    if (rc == WSIP_AUTH_ERROR) {
        reply(st, 500, "Authentication unavailable", NULL);
        return -1;
    }
    /* CHALLENGE, STALE, FAILED: a fresh challenge, the same whatever the
     * cause (no user enumeration); the log says which */
    if (wsip_log_enabled(rc == WSIP_AUTH_CHALLENGE ? WSIP_LOG_DEBUG : WSIP_LOG_INFO)) {
        char peer[64];
        wsip_addr_str((const struct sockaddr *)&src->peer, peer, sizeof(peer));
        wsip_log(rc == WSIP_AUTH_CHALLENGE ? WSIP_LOG_DEBUG : WSIP_LOG_INFO, NULL,
                 "peer=%s auth %s for user '%s': %s", peer, wsip_auth_rc_name(rc), res.user,
                 res.reason ? res.reason : "");
    }
    struct wsip_sbuf ch;
    wsip_sbuf_init(&ch);
    wsip_auth_svc_challenge(svc, realm, now, proxy, rc == WSIP_AUTH_STALE, &ch);
    wsip_sbuf_puts(&ch, SERVER_HDR);
    wsip_strans_reply(st, proxy ? 407 : 401, NULL, wsip_str_make(ch.p, ch.len), WSIP_STR_NULL);
    wsip_sbuf_free(&ch);
    return -1;
}

/* ------------------------------------------------------------ contacts */

/* q=0.5 -> 500; -1 when absent or malformed */
static int parse_q(struct wsip_str v)
{
    if (!v.len)
        return -1;
    unsigned whole = 0, frac = 0, digits = 0;
    size_t i = 0;
    if (v.p[0] == '0' || v.p[0] == '1')
        whole = (unsigned)(v.p[i++] - '0');
    else
        return -1;
    if (i < v.len && v.p[i] == '.') {
        for (i++; i < v.len && digits < 3; i++, digits++) {
            if (v.p[i] < '0' || v.p[i] > '9')
                return -1;
            frac = frac * 10 + (unsigned)(v.p[i] - '0');
        }
    }
    if (i != v.len)
        return -1;
    while (digits++ < 3)
        frac *= 10;
    unsigned q = whole * 1000 + frac;
    return q > 1000 ? -1 : (int)q;
}

/* "<urn:uuid:...>" with or without quotes -> urn:uuid:... */
static struct wsip_str strip_instance(struct wsip_str v)
{
    if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"') {
        v.p++;
        v.len -= 2;
    }
    if (v.len >= 2 && v.p[0] == '<' && v.p[v.len - 1] == '>') {
        v.p++;
        v.len -= 2;
    }
    return v;
}

/* A Contact param to echo in the 200 OK: all but expires, which the
 * registrar states itself, and q (restated from the binding). */
static void keep_param(struct wsip_str n, struct wsip_str v, struct wsip_sbuf *out)
{
    wsip_sbuf_append(out, ";", 1);
    wsip_sbuf_append(out, n.p, n.len);
    if (v.len) {
        wsip_sbuf_append(out, "=", 1);
        wsip_sbuf_append(out, v.p, v.len);
    }
}

static enum wsip_loc_transport loc_transport(enum wsip_listen_kind k)
{
    switch (k) {
    case WSIP_LISTEN_UDP: return WSIP_LOC_TP_UDP;
    case WSIP_LISTEN_TCP: return WSIP_LOC_TP_TCP;
    case WSIP_LISTEN_TLS: return WSIP_LOC_TP_TLS;
    case WSIP_LISTEN_WS: return WSIP_LOC_TP_WS;
    default: return WSIP_LOC_TP_WSS;
    }
}

/* ---------------------------------------------------------------- 200 */

static void ok_response(struct wsip_core *core, struct wsip_strans *st, struct wsip_msg *m,
                        const struct wsip_binding_list *now_bound, bool gruu, bool outbound_used)
{
    int64_t now = wsip_core_now();
    struct wsip_sbuf x;
    wsip_sbuf_init(&x);
    /* one allocation for the usual answer: a few bindings with GRUUs */
    wsip_sbuf_reserve(&x, 256 + now_bound->n * 384);
    for (size_t i = 0; i < now_bound->n; i++) {
        const struct wsip_binding *b = now_bound->v[i];
        int64_t left = (b->expires_at - now + 999) / 1000;
        if (left <= 0)
            continue;
        wsip_sbuf_puts(&x, "Contact: <");
        wsip_sbuf_puts(&x, b->contact);
        wsip_sbuf_puts(&x, ">");
        wsip_sbuf_puts(&x, b->params);
        wsip_sbuf_puts(&x, ";expires=");
        wsip_sbuf_putu(&x, (uint64_t)left);
        if (b->q >= 0) {
            char q[8] = {';',
                         'q',
                         '=',
                         (char)('0' + b->q / 1000 % 10),
                         '.',
                         (char)('0' + b->q / 100 % 10),
                         (char)('0' + b->q / 10 % 10),
                         (char)('0' + b->q % 10)};
            wsip_sbuf_append(&x, q, sizeof(q));
        }
        if (gruu && b->instance[0] && b->temp_gruu[0]) {
            /* RFC 5627 sec 3.2: the AOR with gr=instance, and a temp-gruu
             * whose user part the location store made unguessable */
            const char *at = strchr(b->aor, '@');
            wsip_sbuf_puts(&x, ";pub-gruu=\"");
            wsip_sbuf_puts(&x, b->aor);
            wsip_sbuf_puts(&x, ";gr=");
            wsip_sbuf_puts(&x, b->instance);
            wsip_sbuf_puts(&x, "\";temp-gruu=\"sip:tgruu.");
            wsip_sbuf_puts(&x, b->temp_gruu);
            wsip_sbuf_puts(&x, "@");
            wsip_sbuf_puts(&x, at ? at + 1 : "");
            wsip_sbuf_puts(&x, ";gr\"");
        }
        wsip_sbuf_append(&x, "\r\n", 2);
    }
    /* RFC 3327: a registrar that stored a Path returns it */
    for (struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_PATH); h; h = wsip_msg_hdr_next(m, h))
        wsip_sbuf_printf(&x, "Path: %.*s\r\n", (int)h->value.len, h->value.p);
    if (outbound_used) {
        /* RFC 5626 sec 6: the flow is kept alive, tell the UA how often */
        wsip_sbuf_puts(&x, "Require: outbound\r\nFlow-Timer: ");
        wsip_sbuf_putu(&x, core->flow_timer);
        wsip_sbuf_puts(&x, "\r\n");
    }
    wsip_sbuf_puts(&x, "Supported: outbound, gruu, path\r\n" SERVER_HDR);
    wsip_strans_reply(st, 200, NULL, wsip_str_make(x.p, x.len), WSIP_STR_NULL);
    wsip_sbuf_free(&x);
}

/* ------------------------------------------------------------ REGISTER */

void wsip_registrar_handle(struct wsip_core *core, const struct wsip_source *src,
                           struct wsip_strans *st, struct wsip_msg *m)
{
    const struct wsip_addr *to = wsip_msg_to(m, NULL);
    if (!to || (to->uri.scheme != WSIP_URI_SIP && to->uri.scheme != WSIP_URI_SIPS) ||
        !to->uri.user.len) {
        reply(st, 400, "To must be a SIP URI with a user", NULL);
        return;
    }
    if (!wsip_server_is_our_domain(src->worker->srv, to->uri.host)) {
        reply(st, 404, "Not a domain served here", NULL);
        return;
    }
    struct wsip_str user = to->uri.user, domain = to->uri.host;
    if (authenticate(core, src, st, m, user, domain, false) < 0)
        return;

    /* the AOR: scheme sip, the user as written, the domain */
    char aor_buf[512];
    struct wsip_fmt f;
    wsip_fmt_init(&f, aor_buf, sizeof(aor_buf));
    wsip_fmt_cstr(&f, "sip:");
    wsip_fmt_str(&f, user);
    wsip_fmt_char(&f, '@');
    wsip_fmt_str(&f, domain);
    int an = wsip_fmt_done(&f);
    if (an < 0) {
        reply(st, 400, "AOR too long", NULL);
        return;
    }
    struct wsip_str aor = wsip_str_make(aor_buf, (size_t)an);

    const struct expires_limits lim = expires_limits_get(core);
    uint32_t hdr_expires = lim.dflt;
    int erc = wsip_msg_expires(m, &hdr_expires);
    if (erc < 0) {
        reply(st, 400, "Malformed Expires", NULL);
        return;
    }
    if (erc == 1)
        hdr_expires = lim.dflt;

    struct wsip_binding_req reqs[MAX_CONTACTS];
    /* the kept params of every Contact, one after the other; reqs point
     * into it once it stops growing */
    struct wsip_sbuf kept;
    wsip_sbuf_init(&kept);
    size_t kept_off[MAX_CONTACTS];
    size_t n = 0;
    bool wildcard = false, outbound_used = false;
    bool supports_outbound = wsip_msg_has_token(m, WSIP_HDR_SUPPORTED, "outbound");
    bool gruu = wsip_msg_has_token(m, WSIP_HDR_SUPPORTED, "gruu");
    bool flow_bound = src->kind != WSIP_LISTEN_UDP;
    unsigned ncontact_hdrs = wsip_msg_hdr_count(m, WSIP_HDR_CONTACT);
    for (struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_CONTACT); h; h = wsip_msg_hdr_next(m, h)) {
        const struct wsip_addr *c = wsip_hdr_addr(m, h, NULL);
        if (!c) {
            reply(st, 400, "Malformed Contact", NULL);
            goto out;
        }
        if (c->star) {
            /* sec 10.3 step 6: "*" only alone and with Expires: 0 */
            if (ncontact_hdrs != 1 || erc != 0 || hdr_expires != 0) {
                reply(st, 400, "Wildcard Contact needs Expires: 0 and no other Contact", NULL);
                goto out;
            }
            wildcard = true;
            break;
        }
        if (n == MAX_CONTACTS) {
            reply(st, 403, "Too many Contacts in one REGISTER", NULL);
            goto out;
        }
        struct wsip_binding_req *r = &reqs[n];
        memset(r, 0, sizeof(*r));
        r->contact = c->uri.raw;
        /* one pass over the Contact's parameters (the first of each counts) */
        struct wsip_str p_expires = WSIP_STR_NULL, p_q = WSIP_STR_NULL, p_inst = WSIP_STR_NULL,
                        p_regid = WSIP_STR_NULL, rest = c->params, pn, pv;
        bool has_expires = false, has_q = false, has_inst = false, has_regid = false;
        kept_off[n] = kept.len;
        while (wsip_param_next(&rest, &pn, &pv, NULL)) {
            bool is_expires = wsip_str_caseeq_cstr(pn, "expires");
            bool is_q = !is_expires && wsip_str_caseeq_cstr(pn, "q");
            if (!is_expires && !is_q)
                keep_param(pn, pv, &kept);
            if (is_expires) {
                if (!has_expires)
                    p_expires = pv;
                has_expires = true;
            } else if (is_q) {
                if (!has_q)
                    p_q = pv;
                has_q = true;
            } else if (!has_inst && wsip_str_caseeq_cstr(pn, "+sip.instance")) {
                has_inst = true;
                p_inst = pv;
            } else if (!has_regid && wsip_str_caseeq_cstr(pn, "reg-id")) {
                has_regid = true;
                p_regid = pv;
            }
        }
        struct wsip_str v;
        uint32_t exp = hdr_expires;
        if (has_expires) {
            v = p_expires;
            uint64_t e64;
            if (wsip_str_to_u64(v, UINT64_MAX, &e64) < 0) {
                reply(st, 400, "Malformed expires parameter", NULL);
                goto out;
            }
            exp = e64 > UINT32_MAX ? UINT32_MAX : (uint32_t)e64;
        }
        if (exp > 0 && exp < lim.min) {
            /* sec 10.3 step 7: too brief -> 423 with our minimum */
            char mx[64];
            snprintf(mx, sizeof(mx), "Min-Expires: %u\r\n", lim.min);
            reply(st, 423, NULL, mx);
            goto out;
        }
        if (exp > lim.max)
            exp = lim.max;
        r->expires = exp;
        r->q = -1;
        if (has_q && (r->q = parse_q(p_q)) < 0) {
            reply(st, 400, "Malformed q parameter", NULL);
            goto out;
        }
        if (has_inst)
            r->instance = strip_instance(p_inst);
        if (has_regid) {
            v = p_regid;
            uint32_t id;
            if (wsip_str_to_u32(v, UINT32_MAX, &id) < 0 || id == 0) {
                reply(st, 400, "Malformed reg-id", NULL);
                goto out;
            }
            r->reg_id = id;
        }
        if (r->reg_id && r->instance.len) {
            /* RFC 5626 sec 6: with outbound in Supported, this is a flow */
            if (supports_outbound && flow_bound) {
                r->flags |= WSIP_BINDING_F_OUTBOUND;
                outbound_used = true;
            }
        }
        if (gruu)
            r->flags |= WSIP_BINDING_F_GRUU;
        r->params.len = kept.len - kept_off[n];
        n++;
    }
    if (kept.oom) {
        reply(st, 500, "Out of memory", NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        reqs[i].params.p = kept.len ? kept.p + kept_off[i] : "";

    /* where the bindings lead: the connection (flow) for connection-oriented
     * transports, the source address for UDP */
    char received[96] = "";
    if (!flow_bound) {
        memcpy(received, "udp:", 4);
        wsip_addr_str((const struct sockaddr *)&src->peer, received + 4, sizeof(received) - 4);
    }
    struct wsip_sbuf path;
    wsip_sbuf_init(&path);
    for (struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_PATH); h; h = wsip_msg_hdr_next(m, h)) {
        if (path.len)
            wsip_sbuf_append(&path, ",", 1);
        wsip_sbuf_append(&path, h->value.p, h->value.len);
    }
    struct wsip_hdr *ua = wsip_msg_hdr(m, WSIP_HDR_USER_AGENT);
    const struct wsip_cseq *cs = wsip_msg_cseq(m, NULL);
    struct wsip_loc_register reg = {
        .aor = aor,
        .call_id = wsip_msg_call_id(m),
        .cseq = cs ? cs->num : 0,
        .flow = flow_bound ? src->flow : 0,
        .transport = loc_transport(src->kind),
        .received = wsip_str_cstr(received),
        .path = wsip_str_make(path.p, path.len),
        .user_agent = ua ? ua->value : WSIP_STR_NULL,
        .wildcard = wildcard,
        .contacts = reqs,
        .ncontacts = n,
    };
    struct wsip_binding_list now_bound = {0};
    int rc = wsip_location_update(core->loc, &reg, wsip_core_now(), &now_bound);
    wsip_sbuf_free(&path);
    switch (rc) {
    case 0:
        ok_response(core, st, m, &now_bound, gruu, outbound_used);
        if (wsip_log_enabled(WSIP_LOG_DEBUG))
            wsip_log_debug(NULL, "registrar: %s has %zu binding(s)", aor_buf, now_bound.n);
        break;
    case WSIP_LOC_ECSEQ: reply(st, 500, "Out of order CSeq for this Call-ID", NULL); break;
    case WSIP_LOC_ETOOMANY: reply(st, 403, "Too many bindings for this AOR", NULL); break;
    default: reply(st, 500, "Registrar error", NULL); break;
    }
    wsip_binding_list_free(&now_bound);
out:
    wsip_sbuf_free(&kept);
}

/* ------------------------------------------------------------ the core */

static void hook_put(void *arg, const struct wsip_binding *b)
{
    struct wsip_core *core = arg;
    struct wsip_store_binding sb = {
        .aor = wsip_str_cstr(b->aor),
        .contact = wsip_str_cstr(b->contact),
        .params = wsip_str_cstr(b->params),
        .temp_gruu = wsip_str_cstr(b->temp_gruu),
        .instance = wsip_str_cstr(b->instance),
        .reg_id = b->reg_id,
        .path = wsip_str_cstr(b->path),
        .received = wsip_str_cstr(b->received),
        .q = b->q < 0 ? 1000u : (unsigned)b->q,
        .expires = b->expires_at / 1000,
        .call_id = wsip_str_cstr(b->call_id),
        .cseq = b->cseq,
        .user_agent = wsip_str_cstr(b->user_agent),
        .flags = b->flags,
    };
    wsip_store_binding_put(core->store, &sb);
}

static void hook_del(void *arg, const struct wsip_binding *b)
{
    struct wsip_core *core = arg;
    wsip_store_binding_del(core->store, wsip_str_cstr(b->aor), wsip_str_cstr(b->contact),
                           wsip_str_cstr(b->instance));
}

/* An auth service offering the configured algorithms in their order (only
 * MD5 and SHA-256 have stored HA1s). */
static int make_auth(struct wsip_auth_svc **a, const struct wsip_strlist *algs, unsigned nonce_ttl,
                     bool auth_int, const unsigned char *secret, const char **why)
{
    struct wsip_auth_cfg ac;
    wsip_auth_cfg_default(&ac);
    if (nonce_ttl)
        ac.nonce_ttl_s = nonce_ttl;
    ac.qop_auth_int = auth_int;
    ac.nalgs = 0;
    for (size_t i = 0; i < algs->n && ac.nalgs < WSIP_DIGEST_ALG_COUNT; i++) {
        int alg = wsip_digest_alg_from_str(wsip_str_cstr(algs->v[i]));
        if (alg == WSIP_DIGEST_MD5 || alg == WSIP_DIGEST_SHA256)
            ac.algs[ac.nalgs++] = (enum wsip_digest_alg)alg;
    }
    if (ac.nalgs == 0) {
        ac.algs[0] = WSIP_DIGEST_MD5;
        ac.nalgs = 1;
    }
    return wsip_auth_svc_new(a, &ac, secret, why);
}

int wsip_core_new(struct wsip_core **out, const struct wsip_config *cfg, struct wsip_store *store,
                  struct wsip_users *users, char *err, size_t errlen)
{
    struct wsip_core *core = calloc(1, sizeof(*core));
    if (!core) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    core->store = store;
    core->users = users;
    if (RAND_bytes(core->flow_key, sizeof(core->flow_key)) != 1) {
        free(core);
        snprintf(err, errlen, "no randomness for the flow token key");
        return -1;
    }
    snprintf(core->realm, sizeof(core->realm), "%s", cfg->auth.realm ? cfg->auth.realm : "");
    wsip_core_reload(core, cfg);
    core->flow_timer = cfg->ws.ping_interval ? cfg->ws.ping_interval : 30;
    if (cfg->trusted.n) {
        core->trusted.v = calloc(cfg->trusted.n, sizeof(*core->trusted.v));
        if (!core->trusted.v) {
            free(core);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        memcpy(core->trusted.v, cfg->trusted.v, cfg->trusted.n * sizeof(*core->trusted.v));
        core->trusted.n = cfg->trusted.n;
        core->own_trusted = true;
    }
    struct wsip_location_opts lo = {0};
    if (store) {
        lo.hooks.put = hook_put;
        lo.hooks.del = hook_del;
        lo.hooks.arg = core;
    }
    core->loc = wsip_location_new(&lo);
    /* one nonce secret for both services: any worker verifies any nonce */
    unsigned char secret[WSIP_AUTH_SECRET_LEN];
    const char *why = NULL;
    int rc = core->loc && RAND_bytes(secret, sizeof(secret)) == 1 ? 0 : -1;
    if (rc == 0)
        rc = make_auth(&core->auth, &cfg->auth.algorithms, cfg->auth.nonce_ttl,
                       cfg->auth.qop_auth_int, secret, &why);
    if (rc == 0)
        rc = make_auth(&core->auth_ws, &cfg->auth.algorithms_ws, cfg->auth.nonce_ttl,
                       cfg->auth.qop_auth_int, secret, &why);
    OPENSSL_cleanse(secret, sizeof(secret));
    if (rc < 0) {
        snprintf(err, errlen, "core: %s", why ? why : "out of memory");
        wsip_core_free(core);
        return -1;
    }
    *out = core;
    return 0;
}

void wsip_core_free(struct wsip_core *c)
{
    if (!c)
        return;
    wsip_location_free(c->loc);
    wsip_auth_svc_free(c->auth);
    wsip_auth_svc_free(c->auth_ws);
    if (c->own_trusted)
        free(c->trusted.v);
    free(c);
}

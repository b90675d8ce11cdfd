/* Transaction-stateful proxy (RFC 3261 sec 16) for requests to our users:
 * the target set comes from the location service (an AOR's bindings, or a
 * GRUU's instance), every target gets a client transaction (parallel
 * forking), responses go back through the server transaction with the best
 * final response chosen as sec 16.7 says.
 *
 * A Request-URI in another domain is the only target (sec 16.5): it goes
 * to that URI's host (RFC 3263 A/AAAA, no NAPTR/SRV) or the next Route,
 * over UDP, TCP or TLS, for our authenticated users and trusted peers only.
 *
 * Loop detection (sec 16.3 step 4) and the branch it needs are in branch.c. */
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fmt.h"
#include "base/siphash.h"
#include "core/core.h"
#include "wsip/log.h"

#define MAX_BRANCHES 16
#define SERVER_HDR   "Server: wsip/" WSIP_VERSION "\r\n"

struct proxy_ctx {
    struct wsip_core *core;
    struct wsip_strans *st;
    struct wsip_ctrans *ct[MAX_BRANCHES];
    unsigned nbranches, pending;
    bool final_sent;
    unsigned best_status;
    struct wsip_sbuf best; /* the best final response so far, ready to send */
    char why[200];         /* why the next hop could not be reached */
};

static void ctx_maybe_free(struct proxy_ctx *x)
{
    if (x->pending > 0)
        return;
    wsip_sbuf_free(&x->best);
    free(x);
}

static void reply(struct wsip_strans *st, unsigned status, const char *reason)
{
    wsip_strans_reply(st, status, reason, wsip_str_cstr(SERVER_HDR), WSIP_STR_NULL);
}

/* sec 16.7 step 6: the lower class wins, 6xx over all; within a class the
 * first one stays; 503 counts as 500 (we answer 500 for it). */
static bool better(unsigned status, unsigned best)
{
    if (best == 0)
        return true;
    unsigned c = status / 100, bc = best / 100;
    if (bc == 6)
        return false;
    if (c == 6)
        return true;
    return c < bc;
}

/* A response minus our Via, as the upstream side gets it (sec 16.7 step 9). */
static int strip_our_via(struct wsip_msg *resp, struct wsip_sbuf *out)
{
    struct wsip_builder b;
    wsip_builder_init(&b, resp);
    struct wsip_hdr *v = wsip_msg_hdr(resp, WSIP_HDR_VIA);
    int rc = v ? wsip_builder_remove_hdr(&b, v) : -1;
    if (rc == 0)
        rc = wsip_builder_ensure_content_length(&b);
    if (rc == 0)
        rc = wsip_builder_flatten(&b, out);
    wsip_builder_free(&b);
    return rc;
}

static void cancel_others(struct proxy_ctx *x, struct wsip_ctrans *except)
{
    for (unsigned i = 0; i < x->nbranches; i++)
        if (x->ct[i] && x->ct[i] != except)
            wsip_ctrans_cancel(x->ct[i], wsip_str_cstr("Reason: SIP;cause=200;text=\"Call "
                                                       "completed elsewhere\"\r\n"));
}

static void on_branch_response(struct wsip_ctrans *ct, struct wsip_msg *resp, void *arg)
{
    struct proxy_ctx *x = arg;
    unsigned status = resp->status;
    if (x->final_sent || status == 100)
        return; /* a 100 is hop by hop (sec 16.7 step 3) */
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    if (strip_our_via(resp, &out) < 0 || out.oom) {
        wsip_sbuf_free(&out);
        return;
    }
    if (status < 200) {
        wsip_strans_send_response(x->st, status, out.p, out.len);
    } else if (status < 300) {
        /* a 2xx goes up at once; the other branches of an INVITE end */
        wsip_strans_send_response(x->st, status, out.p, out.len);
        x->final_sent = true;
        if (wsip_strans_is_invite(x->st))
            cancel_others(x, ct);
    } else if (better(status, x->best_status)) {
        x->best_status = status;
        x->best.len = 0;
        wsip_sbuf_append(&x->best, out.p, out.len);
        if (status >= 600 && wsip_strans_is_invite(x->st))
            cancel_others(x, ct);
    }
    wsip_sbuf_free(&out);
}

static void on_branch_end(struct wsip_ctrans *ct, enum wsip_ctrans_end how, void *arg)
{
    struct proxy_ctx *x = arg;
    for (unsigned i = 0; i < x->nbranches; i++)
        if (x->ct[i] == ct)
            x->ct[i] = NULL;
    if (how == WSIP_CTRANS_SHUTDOWN) {
        x->final_sent = true; /* the server transaction is going too */
    } else if (how != WSIP_CTRANS_DONE && !x->best.len) {
        /* no answer from that branch: 408 after timer B/F; a flow that
         * closed under it is 430 (RFC 5626 sec 5.3); a next hop that could
         * not be reached (DNS, connect, TLS, a failed send) counts as 503
         * (sec 16.9), and says why; a branch cancelled before it left, 487 */
        unsigned st = how == WSIP_CTRANS_TIMEOUT       ? 408
                      : how == WSIP_CTRANS_FLOW_FAILED ? 430
                      : how == WSIP_CTRANS_CANCELLED   ? 487
                                                       : 503;
        if (st == 503 && !x->why[0])
            wsip_ctrans_error(ct, x->why, sizeof(x->why));
        if (better(st, x->best_status) || x->best_status == 408)
            x->best_status = st;
    }
    if (--x->pending == 0 && !x->final_sent) {
        x->final_sent = true;
        if (x->best.len && x->best_status != 503) {
            wsip_strans_send_response(x->st, x->best_status, x->best.p, x->best.len);
        } else if (x->best.len) {
            /* a 503 from downstream is about downstream (sec 16.7 step 6) */
            reply(x->st, 500, "Server Internal Error (downstream unavailable)");
        } else if (x->best_status == 503) {
            char r[256];
            snprintf(r, sizeof(r), "Service Unavailable (%s)", x->why[0] ? x->why : "send failed");
            reply(x->st, 503, r);
        } else if (x->best_status == 430) {
            reply(x->st, 430, "Flow Failed");
        } else if (x->best_status == 487) {
            reply(x->st, 487, NULL);
        } else {
            reply(x->st, 408, NULL);
        }
    }
    ctx_maybe_free(x);
}

static const struct wsip_ctrans_ops branch_ops = {on_branch_response, on_branch_end};

static void on_cancel(struct wsip_strans *st, void *arg)
{
    /* sec 16.10: the UAC gave up; end every pending branch. The 487 comes
     * back from them and goes up as the best final response. */
    struct proxy_ctx *x = arg;
    (void)st;
    for (unsigned i = 0; i < x->nbranches; i++)
        if (x->ct[i])
            wsip_ctrans_cancel(x->ct[i], WSIP_STR_NULL);
}

/* ------------------------------------------------------------ targets */

static int target_of(const struct wsip_binding *b, struct wsip_target *t)
{
    memset(t, 0, sizeof(*t));
    switch (b->transport) {
    case WSIP_LOC_TP_TCP: t->kind = WSIP_LISTEN_TCP; break;
    case WSIP_LOC_TP_TLS: t->kind = WSIP_LISTEN_TLS; break;
    case WSIP_LOC_TP_WS: t->kind = WSIP_LISTEN_WS; break;
    case WSIP_LOC_TP_WSS: t->kind = WSIP_LISTEN_WSS; break;
    default: t->kind = WSIP_LISTEN_UDP; break;
    }
    if (b->flow) {
        t->flow = b->flow;
        return 0;
    }
    /* "udp:192.0.2.1:5060" or "udp:[2001:db8::1]:5060" */
    const char *a = strchr(b->received, ':');
    if (!a)
        return -1;
    a++;
    char host[64];
    const char *colon = strrchr(a, ':');
    if (!colon)
        return -1;
    if (*a == '[') {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - a - 2), a + 1);
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&t->addr;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
            return -1;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)atoi(colon + 1));
    } else {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - a), a);
        struct sockaddr_in *in = (struct sockaddr_in *)&t->addr;
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            return -1;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)atoi(colon + 1));
    }
    return 0;
}

/* Our address for a transport, for the Via we add. */
static void via_host(const struct wsip_server *s, enum wsip_listen_kind kind, char *out, size_t cap)
{
    for (unsigned i = 0; i < s->opt.nlisten; i++) {
        const struct wsip_listen_spec *l = &s->opt.listen[i];
        if (l->kind == kind) {
            bool v6 = strchr(l->host, ':') != NULL;
            struct wsip_fmt f;
            wsip_fmt_init(&f, out, cap);
            if (v6)
                wsip_fmt_char(&f, '[');
            wsip_fmt_cstr(&f, l->host);
            wsip_fmt_cstr(&f, v6 ? "]:" : ":");
            wsip_fmt_uint(&f, l->port);
            return;
        }
    }
    struct wsip_fmt f;
    wsip_fmt_init(&f, out, cap);
    wsip_fmt_cstr(&f, s->opt.ndomains ? s->opt.domains[0] : "localhost");
}

static const char *via_transport(enum wsip_listen_kind k)
{
    switch (k) {
    case WSIP_LISTEN_TCP: return "TCP";
    case WSIP_LISTEN_TLS: return "TLS";
    case WSIP_LISTEN_WS: return "WS";
    case WSIP_LISTEN_WSS: return "WSS";
    default: return "UDP";
    }
}

/* A flow token as we hand it out: the token and a MAC over it, both hex
 * ("0100000000000001-5f3a..."), 33 characters. */
static void flow_hex(const struct wsip_core *core, wsip_flow_token t, char out[40])
{
    unsigned char msg[9] = {'f'}; /* 'f': a flow token, not a branch */
    for (int i = 0; i < 8; i++)
        msg[1 + i] = (unsigned char)(t >> (56 - 8 * i));
    wsip_hex64(t, out);
    out[16] = '-';
    wsip_hex64(wsip_siphash(core->flow_key, msg, sizeof(msg)), out + 17);
}

static bool dialog_creating(const struct wsip_msg *m)
{
    return m->method_id == WSIP_METHOD_INVITE || m->method_id == WSIP_METHOD_SUBSCRIBE ||
           m->method_id == WSIP_METHOD_REFER;
}

/* Our Record-Route for one side: the address of the transport that side
 * uses and, for a connection, its flow token, so in-dialog requests find
 * the flow again (RFC 5626 flow tokens; transport=ws for WS and WSS, RFC
 * 7118 sec 5.2). */
static void rr_value(const struct wsip_core *core, const struct wsip_server *s,
                     enum wsip_listen_kind kind, wsip_flow_token flow, char *out, size_t cap)
{
    char host[160], tok[40] = "";
    via_host(s, kind, host, sizeof(host));
    if (flow)
        flow_hex(core, flow, tok);
    static const char *const tp[] = {"udp", "tcp", "tls", "ws", "ws"};
    struct wsip_fmt f;
    wsip_fmt_init(&f, out, cap);
    wsip_fmt_cstr(&f, "<sip:");
    wsip_fmt_cstr(&f, host);
    wsip_fmt_cstr(&f, ";transport=");
    wsip_fmt_cstr(&f, tp[kind]);
    wsip_fmt_cstr(&f, ";lr");
    if (flow) {
        wsip_fmt_cstr(&f, ";wsf=");
        wsip_fmt_cstr(&f, tok);
    }
    wsip_fmt_char(&f, '>');
}

/* The request as it leaves for target t (sec 16.6): Request-URI (when
 * given), Max-Forwards, our Route entries popped, Path routes, Record-Route
 * (double: one per side, sec 16.6 step 4 with RFC 5658 style), our Via
 * (with the incoming flow, for responses forwarded without a transaction). */
static int build_forward(struct wsip_core *core, struct wsip_worker *w,
                         const struct wsip_source *src, struct wsip_msg *m,
                         const struct wsip_target *t, const char *ruri, const char *path,
                         unsigned npop, bool record_route, struct wsip_sbuf *out,
                         char branch[WSIP_PROXY_BRANCH_MAX])
{
    char host[160], via[400], tok[40] = "";
    via_host(w->srv, t->kind, host, sizeof(host));
    bool in_flow = src->kind != WSIP_LISTEN_UDP && src->flow;
    if (in_flow)
        flow_hex(core, src->flow, tok);
    /* RFC 3581 sec 4 / RFC 3261 sec 18.2.1: the Via of a request that came
     * over UDP gets received / rport filled in before it goes on (RFC 7118
     * sec 5.3 lets WS peers go without) */
    char stamped[1024];
    struct wsip_str sv = src->kind == WSIP_LISTEN_UDP
                             ? wsip_source_stamp_via(src, m, stamped, sizeof(stamped))
                             : WSIP_STR_NULL;
    if (wsip_proxy_branch(core, w, src, m, sv, in_flow ? src->flow : 0, branch,
                          WSIP_PROXY_BRANCH_MAX) < 0)
        return -1;
    struct wsip_fmt f;
    wsip_fmt_init(&f, via, sizeof(via));
    wsip_fmt_cstr(&f, "SIP/2.0/");
    wsip_fmt_cstr(&f, via_transport(t->kind));
    wsip_fmt_char(&f, ' ');
    wsip_fmt_cstr(&f, host);
    wsip_fmt_cstr(&f, ";branch=");
    wsip_fmt_cstr(&f, branch);
    if (in_flow) {
        wsip_fmt_cstr(&f, ";wsf=");
        wsip_fmt_cstr(&f, tok);
    }
    if (wsip_fmt_done(&f) < 0)
        return -1;
    struct wsip_builder bld;
    wsip_builder_init(&bld, m);
    int rc = 0;
    if (ruri && *ruri)
        rc = wsip_builder_set_ruri(&bld, wsip_str_cstr(ruri));
    if (rc == 0)
        rc = wsip_builder_decrement_max_forwards(&bld);
    struct wsip_hdr *r = wsip_msg_hdr(m, WSIP_HDR_ROUTE);
    for (unsigned i = 0; rc == 0 && i < npop && r; i++, r = wsip_msg_hdr_next(m, r))
        rc = wsip_builder_remove_hdr(&bld, r);
    if (rc == 0 && sv.len) {
        struct wsip_hdr *top = wsip_msg_hdr(m, WSIP_HDR_VIA);
        if (top)
            rc = wsip_builder_replace_hdr(&bld, top, sv);
    }
    /* credentials for our realm were for us: the next hop has no use for
     * them, and should not get a digest it could attack offline */
    for (struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_PROXY_AUTHORIZATION); rc == 0 && h;
         h = wsip_msg_hdr_next(m, h)) {
        const struct wsip_auth *a = wsip_hdr_auth(m, h, NULL);
        if (a && wsip_proxy_pauth_ours(core, w->srv, a))
            rc = wsip_builder_remove_hdr(&bld, h);
    }
    /* the edge proxies the UA registered through (RFC 3327) come first */
    if (rc == 0 && path && *path)
        rc = wsip_builder_prepend_hdr(&bld, WSIP_HDR_ROUTE, wsip_str_cstr(path));
    if (rc == 0 && record_route) {
        char out_rr[256], in_rr[256];
        rr_value(core, w->srv, t->kind, t->flow, out_rr, sizeof(out_rr));
        rr_value(core, w->srv, src->kind, in_flow ? src->flow : 0, in_rr, sizeof(in_rr));
        /* the callee sees them in this order: its own side first; one is
         * enough when both sides reach us the same way (same transport, no
         * flow on either) */
        rc = wsip_builder_prepend_hdr(&bld, WSIP_HDR_RECORD_ROUTE, wsip_str_cstr(out_rr));
        if (rc == 0 && strcmp(out_rr, in_rr) != 0)
            rc = wsip_builder_prepend_hdr(&bld, WSIP_HDR_RECORD_ROUTE, wsip_str_cstr(in_rr));
    }
    if (rc == 0)
        rc = wsip_builder_prepend_via(&bld, wsip_str_cstr(via));
    if (rc == 0)
        rc = wsip_builder_ensure_content_length(&bld);
    if (rc == 0)
        rc = wsip_builder_flatten(&bld, out);
    wsip_builder_free(&bld);
    return rc == 0 && !out->oom ? 0 : -1;
}

/* What the client transaction needs to know of the request we built. */
static struct wsip_ctrans_id ctrans_id(const struct wsip_msg *m, const char *branch)
{
    return (struct wsip_ctrans_id){wsip_str_cstr(branch), m->method, m->method_id};
}

/* One branch: the request retargeted to a binding (sec 16.6). */
static struct wsip_ctrans *forward(struct proxy_ctx *x, struct wsip_worker *w,
                                   const struct wsip_source *src, struct wsip_msg *m,
                                   const struct wsip_binding *b, unsigned npop)
{
    struct wsip_target t;
    if (target_of(b, &t) < 0)
        return NULL;
    const struct wsip_addr *to = wsip_msg_to(m, NULL);
    bool rr = dialog_creating(m) && to && !to->has_tag;
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    struct wsip_ctrans *ct = NULL;
    char branch[WSIP_PROXY_BRANCH_MAX];
    if (build_forward(x->core, w, src, m, &t, b->contact, b->path, npop, rr, &out, branch) == 0) {
        struct wsip_ctrans_id id = ctrans_id(m, branch);
        ct = wsip_ctrans_send(&t, out.p, out.len, &id, &branch_ops, x);
    }
    wsip_sbuf_free(&out);
    return ct;
}

/* ---------------------------------------------------- other domains */

static bool source_trusted(const struct wsip_core *core, const struct wsip_source *src)
{
    return core->trusted.n &&
           wsip_cidr_list_match(&core->trusted, (const struct sockaddr *)&src->peer);
}

/* The request bytes out (built for t) go to one next hop: hop (a URI's),
 * else t (a flow); the server transaction waits for that branch. */
static void relay_one(struct wsip_core *core, struct wsip_strans *st, struct wsip_msg *m,
                      const struct wsip_target *t, const struct wsip_hop *hop,
                      const struct wsip_sbuf *out, const char *branch)
{
    struct wsip_ctrans_id id = ctrans_id(m, branch);
    struct proxy_ctx *x = calloc(1, sizeof(*x));
    if (!x) {
        reply(st, 500, "Out of memory");
        return;
    }
    x->core = core;
    x->st = st;
    wsip_sbuf_init(&x->best);
    wsip_strans_keep(st); /* the branch's timers bound its life now */
    if (m->method_id == WSIP_METHOD_INVITE) {
        reply(st, 100, NULL); /* sec 16.2, or a re-INVITE */
        wsip_strans_set_cancel(st, on_cancel, x);
    }
    struct wsip_ctrans *ct = hop ? wsip_ctrans_send_hop(hop, out->p, out->len, &id, &branch_ops, x)
                                 : wsip_ctrans_send(t, out->p, out->len, &id, &branch_ops, x);
    if (!ct) {
        wsip_strans_set_cancel(st, NULL, NULL);
        reply(st, t->flow ? 430 : 503,
              t->flow ? "Flow Failed" : "Service Unavailable (send failed)");
        wsip_sbuf_free(&x->best);
        free(x);
        return;
    }
    x->ct[x->nbranches++] = ct;
    x->pending = 1;
}

/* sec 16.5: a Request-URI outside our domains is the only target; the
 * request goes to its host, or to the first Route after ours (sec 16.6
 * step 7). Only our authenticated users and trusted peers may send there:
 * for anyone else wsip would be an open relay. */
static void forward_elsewhere(struct wsip_core *core, const struct wsip_source *src,
                              struct wsip_strans *st, struct wsip_msg *m)
{
    struct wsip_worker *w = src->worker;
    if (!source_trusted(core, src)) {
        const struct wsip_addr *from = wsip_msg_from(m, NULL);
        if (!from || (from->uri.scheme != WSIP_URI_SIP && from->uri.scheme != WSIP_URI_SIPS) ||
            !wsip_server_is_our_domain(w->srv, from->uri.host)) {
            reply(st, 403, "Relaying not allowed");
            return;
        }
        if (wsip_core_authorize_proxy(core, src, st, m) < 0)
            return; /* challenged (407) or refused */
    }
    /* built from m, the message as received: its headers are parsed
     * already (the copy the server transaction keeps would parse them
     * again); the forward is sent before this returns */
    unsigned npop = 0;
    const struct wsip_addr *next = NULL;
    for (struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_ROUTE); h; h = wsip_msg_hdr_next(m, h)) {
        const struct wsip_addr *a = wsip_hdr_addr(m, h, NULL);
        if (!a || !wsip_server_uri_is_us(w->srv, &a->uri)) {
            next = a;
            break;
        }
        npop++;
    }
    const struct wsip_uri *dest = next ? &next->uri : wsip_msg_ruri(m, NULL);
    struct wsip_hop hop;
    const char *why = "malformed Route";
    if (!dest || wsip_hop_from_uri(dest, &hop, &why) < 0) {
        char r[160];
        snprintf(r, sizeof(r), "Service Unavailable (next hop: %s)", why);
        reply(st, 503, r);
        return;
    }
    const struct wsip_addr *to = wsip_msg_to(m, NULL);
    struct wsip_target t = {.kind = hop.kind};
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    char branch[WSIP_PROXY_BRANCH_MAX];
    if (build_forward(core, w, src, m, &t, NULL, NULL, npop,
                      dialog_creating(m) && to && !to->has_tag, &out, branch) < 0)
        reply(st, 500, "Cannot build the request");
    else
        relay_one(core, st, m, &t, &hop, &out, branch);
    wsip_sbuf_free(&out);
}

/* ------------------------------------------------------------- entry */

static bool user_known(struct wsip_core *core, struct wsip_str user, struct wsip_str domain)
{
    struct wsip_user_cred cred;
    return core->users && wsip_users_lookup(core->users, user, domain, &cred) == 0;
}

void wsip_proxy_handle(struct wsip_core *core, const struct wsip_source *src,
                       struct wsip_strans *st, struct wsip_msg *m)
{
    struct wsip_worker *w = src->worker;
    static const char *const supported[] = {"path", "outbound", "gruu", NULL};
    struct wsip_sip_err e;
    if (m->method_id == WSIP_METHOD_OPTIONS && wsip_msg_max_forwards(m) == 0) {
        /* sec 16.3 step 2: not forwarded; an OPTIONS is answered here */
        wsip_options_reply(w->srv, st);
        return;
    }
    if (wsip_msg_check_request(m, WSIP_ROLE_PROXY, supported, &e) < 0) {
        reply(st, e.status, e.reason);
        return;
    }
    if (wsip_proxy_loop_detected(core, w->srv, m)) {
        reply(st, 482, "Loop Detected");
        return;
    }
    const struct wsip_uri *ruri = wsip_msg_ruri(m, NULL);
    if (!ruri || (ruri->scheme != WSIP_URI_SIP && ruri->scheme != WSIP_URI_SIPS)) {
        reply(st, 416, "Unsupported URI Scheme");
        return;
    }
    if (!wsip_server_is_our_domain(w->srv, ruri->host) && !wsip_server_uri_is_us(w->srv, ruri)) {
        forward_elsewhere(core, src, st, m);
        return;
    }
    if (!wsip_server_is_our_domain(w->srv, ruri->host) || !ruri->user.len) {
        reply(st, 404, "Not Found (only local users are served)");
        return;
    }
    if (wsip_core_authorize_proxy(core, src, st, m) < 0)
        return;

    const struct wsip_binding *bs[MAX_BRANCHES];
    size_t n;
    struct wsip_str aor_user = ruri->user;
    int64_t now = wsip_core_now();
    if (ruri->user.len > 6 && !memcmp(ruri->user.p, "tgruu.", 6)) {
        /* a temp-gruu reaches its one instance (RFC 5627) */
        n = wsip_location_lookup_gruu(
            core->loc, wsip_str_make(ruri->user.p + 6, ruri->user.len - 6), now, bs, MAX_BRANCHES);
    } else {
        char aor[512];
        struct wsip_fmt f;
        wsip_fmt_init(&f, aor, sizeof(aor));
        wsip_fmt_cstr(&f, "sip:");
        wsip_fmt_str(&f, ruri->user);
        wsip_fmt_char(&f, '@');
        wsip_fmt_str(&f, ruri->host);
        int an = wsip_fmt_done(&f);
        if (an < 0) {
            reply(st, 400, "Request-URI too long");
            return;
        }
        struct wsip_str gr;
        if (wsip_param_find(ruri->params, "gr", &gr) && gr.len)
            n = wsip_location_lookup_instance(core->loc, wsip_str_make(aor, (size_t)an), gr, now,
                                              bs, MAX_BRANCHES);
        else
            n = wsip_location_lookup(core->loc, wsip_str_make(aor, (size_t)an), now, bs,
                                     MAX_BRANCHES);
    }
    if (n == 0) {
        if (user_known(core, aor_user, ruri->host))
            reply(st, 480, "Temporarily Unavailable");
        else
            reply(st, 404, "Not Found");
        return;
    }
    struct proxy_ctx *x = calloc(1, sizeof(*x));
    if (!x) {
        wsip_bindings_unref(bs, n);
        reply(st, 500, "Out of memory");
        return;
    }
    x->core = core;
    x->st = st;
    wsip_sbuf_init(&x->best);
    if (m->method_id == WSIP_METHOD_INVITE) {
        /* sec 16.2: a stateful proxy answers 100 for an INVITE at once */
        reply(st, 100, NULL);
        wsip_strans_set_cancel(st, on_cancel, x);
    }
    wsip_strans_keep(st); /* the branches' timers bound its life now */
    /* a pre-loaded Route to us (RFC 7118 sec 8.2 F1) is popped (sec 16.4) */
    unsigned npop = 0;
    /* built from m, the message as received: its headers are parsed
     * already (the copy the server transaction keeps would parse them
     * again); the forward is sent before this returns */
    for (struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_ROUTE); h; h = wsip_msg_hdr_next(m, h)) {
        const struct wsip_addr *a = wsip_hdr_addr(m, h, NULL);
        if (!a || !wsip_server_uri_is_us(w->srv, &a->uri))
            break;
        npop++;
    }
    for (size_t i = 0; i < n; i++) {
        struct wsip_ctrans *ct = forward(x, w, src, m, bs[i], npop);
        if (ct) {
            x->ct[x->nbranches++] = ct;
            x->pending++;
        }
    }
    wsip_bindings_unref(bs, n);
    if (x->pending == 0) {
        /* every flow vanished between the lookup and the send */
        reply(st, 480, "Temporarily Unavailable");
        wsip_sbuf_free(&x->best);
        free(x);
        return;
    }
}

/* ------------------------------------------------- routing by Route set */

/* Is this URI one of our addresses (a Route or Record-Route we wrote)? */

static enum wsip_listen_kind kind_of_param(struct wsip_str tp)
{
    if (wsip_str_caseeq_cstr(tp, "tcp"))
        return WSIP_LISTEN_TCP;
    if (wsip_str_caseeq_cstr(tp, "tls"))
        return WSIP_LISTEN_TLS;
    if (wsip_str_caseeq_cstr(tp, "ws") || wsip_str_caseeq_cstr(tp, "wss"))
        return WSIP_LISTEN_WS;
    return WSIP_LISTEN_UDP;
}

/* A target from a URI with an IP literal host (no DNS yet). */
static int target_of_uri(const struct wsip_uri *u, struct wsip_target *t)
{
    memset(t, 0, sizeof(*t));
    t->kind = kind_of_param(u->transport);
    if (t->kind != WSIP_LISTEN_UDP)
        return -1; /* outgoing connections: not yet */
    char host[64];
    struct wsip_str h = u->host;
    if (u->host_type == WSIP_HOST_IPV6 && h.len >= 2) {
        h.p++;
        h.len -= 2;
    }
    if (h.len >= sizeof(host))
        return -1;
    memcpy(host, h.p, h.len);
    host[h.len] = '\0';
    uint16_t port = u->has_port ? u->port : 5060;
    if (u->host_type == WSIP_HOST_IPV4) {
        struct sockaddr_in *in = (struct sockaddr_in *)&t->addr;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        return inet_pton(AF_INET, host, &in->sin_addr) == 1 ? 0 : -1;
    }
    if (u->host_type == WSIP_HOST_IPV6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&t->addr;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 ? 0 : -1;
    }
    return -1;
}

/* The flow token of a wsf parameter, 0 when absent or not one we signed. */
static wsip_flow_token wsf_of(const struct wsip_core *core, struct wsip_str params)
{
    struct wsip_str v;
    if (!wsip_param_find(params, "wsf", &v) || v.len != 33 || v.p[16] != '-')
        return 0;
    char hex[17], want[40];
    memcpy(hex, v.p, 16);
    hex[16] = '\0';
    char *end;
    unsigned long long t = strtoull(hex, &end, 16);
    if (*end || t == 0)
        return 0;
    flow_hex(core, (wsip_flow_token)t, want);
    /* constant time: the MAC is the only thing keeping tokens unguessable */
    if (CRYPTO_memcmp(want, v.p, 33) != 0)
        return 0;
    return (wsip_flow_token)t;
}

bool wsip_proxy_top_route_is_us(const struct wsip_server *s, struct wsip_msg *m)
{
    struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_ROUTE);
    const struct wsip_addr *a = h ? wsip_hdr_addr(m, h, NULL) : NULL;
    return a && wsip_server_uri_is_us(s, &a->uri);
}

void wsip_proxy_route(struct wsip_core *core, const struct wsip_source *src, struct wsip_strans *st,
                      struct wsip_msg *m)
{
    struct wsip_worker *w = src->worker;
    struct wsip_server *s = w->srv;
    if (st && wsip_msg_max_forwards(m) == 0) {
        /* sec 16.3 step 2: an OPTIONS is answered here, the rest refused */
        if (m->method_id == WSIP_METHOD_OPTIONS)
            wsip_options_reply(s, st);
        else
            reply(st, 483, "Too Many Hops");
        return;
    }
    if (wsip_proxy_loop_detected(core, s, m)) {
        if (st)
            reply(st, 482, "Loop Detected");
        return; /* an ACK that came round: dropped */
    }
    /* sec 16.4: pop every leading Route that is us; the last one we wrote
     * names the flow of the side the request goes to */
    unsigned npop = 0;
    wsip_flow_token flow = 0;
    enum wsip_listen_kind flow_kind = WSIP_LISTEN_WS;
    const struct wsip_addr *next = NULL;
    for (struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_ROUTE); h; h = wsip_msg_hdr_next(m, h)) {
        const struct wsip_addr *a = wsip_hdr_addr(m, h, NULL);
        if (!a || !wsip_server_uri_is_us(s, &a->uri)) {
            next = a;
            break;
        }
        npop++;
        flow = wsf_of(core, a->uri.params);
        flow_kind = kind_of_param(a->uri.transport);
    }
    /* no flow named and no To-tag: an initial request that came pre-routed
     * through us (sec 16.4, then 16.5): for one of our users (nothing
     * beyond us), or for another domain (our users and trusted peers only) */
    const struct wsip_addr *to = wsip_msg_to(m, NULL);
    const struct wsip_uri *ru = wsip_msg_ruri(m, NULL);
    bool sip_ruri = ru && (ru->scheme == WSIP_URI_SIP || ru->scheme == WSIP_URI_SIPS);
    bool for_us = sip_ruri && wsip_server_is_our_domain(s, ru->host);
    if (!flow && st && sip_ruri && to && !to->has_tag && (for_us ? !next && ru->user.len : true)) {
        wsip_proxy_handle(core, src, st, m);
        return;
    }
    /* anything else out of dialog would make us a relay for anyone: only
     * in-dialog requests (our Record-Route brought them) or trusted peers */
    if ((!to || !to->has_tag) && !source_trusted(core, src)) {
        if (st)
            reply(st, 403, "Relaying not allowed");
        return;
    }
    /* the next Route, else the flow our Record-Route named, else the
     * Request-URI (the remote target) */
    struct wsip_target t;
    memset(&t, 0, sizeof(t));
    struct wsip_hop hop;
    const char *why = "no Request-URI";
    int rc = -1;
    if (next) {
        rc = wsip_hop_from_uri(&next->uri, &hop, &why);
    } else if (flow) {
        t.kind = flow_kind;
        t.flow = flow;
        rc = 0;
    } else if (ru) {
        rc = wsip_hop_from_uri(ru, &hop, &why);
    }
    if (rc < 0) {
        if (st) {
            char r[160];
            snprintf(r, sizeof(r), "No route to the next hop (%s)", why);
            reply(st, 404, r);
        }
        return;
    }
    if (!flow || next)
        t.kind = hop.kind;
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    char branch[WSIP_PROXY_BRANCH_MAX];
    if (build_forward(core, w, src, m, &t, NULL, NULL, npop, false, &out, branch) < 0) {
        wsip_sbuf_free(&out);
        if (st)
            reply(st, 500, "Cannot build the request");
        return;
    }
    bool by_hop = !t.flow;
    if (!st) {
        /* an ACK for a 2xx: end to end, forwarded without a transaction */
        if (by_hop)
            wsip_hop_send(w, &hop, out.p, out.len);
        else
            wsip_target_send(w, &t, out.p, out.len);
    } else {
        relay_one(core, st, m, &t, by_hop ? &hop : NULL, &out, branch);
    }
    wsip_sbuf_free(&out);
}

void wsip_proxy_response_stateless(const struct wsip_source *src, struct wsip_msg *m)
{
    /* sec 16.7 step 1: a response no transaction wants (a retransmitted 2xx
     * to INVITE, a final that came after its branch ended) is forwarded as
     * a stateless proxy would (sec 16.11): ours off, up by the next Via or
     * the flow our Via named. A 100 is hop by hop: absorbed. */
    struct wsip_worker *w = src->worker;
    struct wsip_core *core = w->srv->core;
    if (!core || m->status == 100)
        return;
    struct wsip_hdr *top = wsip_msg_hdr(m, WSIP_HDR_VIA);
    const struct wsip_via *ours = top ? wsip_hdr_via(m, top, NULL) : NULL;
    if (!ours || wsip_txn_branch_worker(ours->branch) < 0)
        return; /* not ours: drop */
    struct wsip_hdr *nh = wsip_msg_hdr_next(m, top);
    const struct wsip_via *nv = nh ? wsip_hdr_via(m, nh, NULL) : NULL;
    if (!nv)
        return;
    /* only to the hop our branch was made for: never a reflector */
    wsip_flow_token flow = wsf_of(core, ours->params);
    if (!wsip_proxy_branch_signed(core, w->srv, ours, flow, nv))
        return;
    struct wsip_target t;
    memset(&t, 0, sizeof(t));
    if (flow) {
        t.kind = WSIP_LISTEN_WS;
        t.flow = flow;
    } else {
        /* received / rport, else sent-by (RFC 3261 sec 18.2.2, RFC 3581) */
        struct wsip_uri u;
        memset(&u, 0, sizeof(u));
        u.host = nv->received.len ? nv->received : nv->host;
        u.host_type =
            nv->received.len
                ? (memchr(nv->received.p, ':', nv->received.len) ? WSIP_HOST_IPV6 : WSIP_HOST_IPV4)
                : nv->host_type;
        char bracketed[64];
        if (u.host_type == WSIP_HOST_IPV6 && u.host.len && u.host.p[0] != '[' &&
            u.host.len + 2 < sizeof(bracketed)) {
            snprintf(bracketed, sizeof(bracketed), "[%.*s]", (int)u.host.len, u.host.p);
            u.host = wsip_str_cstr(bracketed);
        }
        u.has_port = nv->rport || nv->has_port;
        u.port = nv->rport ? nv->rport : nv->port;
        if (target_of_uri(&u, &t) < 0)
            return;
    }
    struct wsip_sbuf out;
    wsip_sbuf_init(&out);
    if (strip_our_via(m, &out) == 0 && !out.oom && wsip_target_send(w, &t, out.p, out.len) == 0)
        wsip_count_response(w, m->status);
    wsip_sbuf_free(&out);
}

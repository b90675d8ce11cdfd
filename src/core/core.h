/* The SIP services the transports hand requests to: registrar now, proxy
 * next. One per server, shared by all workers (every member is
 * thread-safe). Private to src/. */
#ifndef WSIP_CORE_H
#define WSIP_CORE_H

#include <stdatomic.h>
#include <stdint.h>

#include "transport/transport.h"
#include "txn/txn.h"
#include "wsip/auth.h"
#include "wsip/config.h"
#include "wsip/location.h"
#include "wsip/store.h"

struct wsip_core {
    struct wsip_location *loc;
    struct wsip_auth_svc *auth;    /* UDP/TCP/TLS clients: auth.algorithms */
    struct wsip_auth_svc *auth_ws; /* WS/WSS clients: auth.algorithms_ws (same secret) */
    struct wsip_users *users;      /* NULL: nobody can authenticate */
    struct wsip_store *store;      /* NULL: bindings are not persisted */
    char realm[256];               /* "" = each domain is its own realm */
    /* registrar.{min,default,max}_expires in seconds, 21 bits each in one
     * word: a SIGHUP replaces all three at once (wsip_core_reload) while
     * workers read them */
    _Atomic uint64_t expires_limits;
    unsigned flow_timer; /* seconds, sent in Flow-Timer with Outbound */
    struct wsip_cidr_list trusted;
    bool own_trusted; /* trusted.v allocated here */
    /* signs the flow tokens we put in Record-Route and Via, so a token in a
     * Route is one we issued, never a guess (RFC 5626 sec 5.2) */
    unsigned char flow_key[32];
};

/* Builds the core from the configuration (store may be NULL). */
int wsip_core_new(struct wsip_core **out, const struct wsip_config *cfg, struct wsip_store *store,
                  struct wsip_users *users, char *err, size_t errlen);
void wsip_core_free(struct wsip_core *c);

/* SIGHUP: the directives the core applies at run time (registrar.*). */
void wsip_core_reload(struct wsip_core *c, const struct wsip_config *cfg);

/* The wall clock in ms (binding expiry survives restarts through the
 * store, so it is not the monotonic clock). */
int64_t wsip_core_now(void);

/* REGISTER for one of our domains, through its server transaction. */
void wsip_registrar_handle(struct wsip_core *core, const struct wsip_source *src,
                           struct wsip_strans *st, struct wsip_msg *m);

/* 0: the request may enter the proxy (trusted source, not from one of our
 * users, ACK/CANCEL, or valid Proxy-Authorization of the From user);
 * otherwise it was answered (407, 403, 400). */
int wsip_core_authorize_proxy(struct wsip_core *core, const struct wsip_source *src,
                              struct wsip_strans *st, struct wsip_msg *m);

/* Requests to our users (not REGISTER): target set from the location
 * service, parallel forking, best response (RFC 3261 sec 16). */
void wsip_proxy_handle(struct wsip_core *core, const struct wsip_source *src,
                       struct wsip_strans *st, struct wsip_msg *m);

/* In-dialog (or pre-routed) requests whose top Route is us: pop our
 * entries, go to the next Route, the flow our Record-Route named, or the
 * Request-URI. st NULL: an ACK for a 2xx, forwarded without a transaction. */
bool wsip_proxy_top_route_is_us(const struct wsip_server *s, struct wsip_msg *m);
void wsip_proxy_route(struct wsip_core *core, const struct wsip_source *src, struct wsip_strans *st,
                      struct wsip_msg *m);
/* A response that matched no client transaction (a retransmitted 2xx):
 * forwarded by its Via when the top Via is ours. */
void wsip_proxy_response_stateless(const struct wsip_source *src, struct wsip_msg *m);

/* ----------------------------------------------------- branches (branch.c) */

/* Room for a branch of wsip_proxy_branch. */
#define WSIP_PROXY_BRANCH_MAX (WSIP_TXN_BRANCH_MAX + 17)

/* The branch of the Via added to request m received from src (sec 16.6 step
 * 8): owner worker, loop hash, random part, and a MAC over them and the hop
 * responses go back to (in_flow, or the source address with the port of
 * top_via: the top Via as forwarded, or empty for m's own). -1 when m has no
 * usable top Via or cap < WSIP_PROXY_BRANCH_MAX. */
int wsip_proxy_branch(const struct wsip_core *core, struct wsip_worker *w,
                      const struct wsip_source *src, struct wsip_msg *m, struct wsip_str top_via,
                      wsip_flow_token in_flow, char *out, size_t cap);
/* Sec 16.3 step 4: a Via of ours whose loop hash is the one m has now (m
 * was forwarded by us in this very state before: answer 482). */
bool wsip_proxy_loop_detected(const struct wsip_core *core, const struct wsip_server *s,
                              struct wsip_msg *m);
/* Whether a response's top Via is one we added for the hop that next (its
 * next Via) and flow (the wsf token of ours, 0 if none) name: only then is
 * it forwarded without a transaction. */
bool wsip_proxy_branch_signed(const struct wsip_core *core, const struct wsip_server *s,
                              const struct wsip_via *ours, wsip_flow_token flow,
                              const struct wsip_via *next);
/* Proxy-Authorization for our realm or domains: consumed here, removed
 * before forwarding. */
bool wsip_proxy_pauth_ours(const struct wsip_core *core, const struct wsip_server *s,
                           const struct wsip_auth *a);

#endif

/* Location service: address-of-record -> bindings (Kamailio's usrloc, not
 * its registrar). It stores, finds and expires bindings; the SIP logic
 * (parsing Contact, Expires limits, authentication, the 200 OK) lives in the
 * registrar, which calls this API.
 *
 * Shape: one table shared by every worker, split into shards (a power of
 * two) each with its own mutex; an AOR lives in one shard, so one REGISTER
 * takes exactly one shard lock and is applied atomically. Two secondary
 * indexes, striped the same way, find bindings across AORs: flow token ->
 * bindings (a closed connection drops its bindings without a scan) and
 * temp-gruu -> bindings (RFC 5627). Lock order is always shard, then index
 * stripe; no function holds two shards.
 *
 * Bindings are immutable and reference-counted: a refresh builds a new one
 * and swaps it in, so lookups hand out references (an atomic increment, no
 * copy) that stay valid after the binding leaves the table. Release every
 * binding you get with wsip_binding_unref (or wsip_binding_list_free).
 *
 * Flow-bound bindings (flow != 0: WS/WSS, Outbound, or any binding the
 * registrar ties to its connection) die with their flow and are never
 * persisted. The others are written behind through the hooks and come back
 * at startup through wsip_location_restore. Which bindings are flow-bound is
 * the registrar's choice: a TCP/TLS phone with a routable Contact may be
 * registered with flow 0 so that it survives a restart.
 *
 * Time: every call takes now in milliseconds from the caller's clock;
 * expires_at is on that clock. Persisted bindings cross a restart, so that
 * clock should be the wall clock (or the persistence glue converts). */
#ifndef WSIP_LOCATION_H
#define WSIP_LOCATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsip/str.h"

#define WSIP_LOCATION_DEFAULT_SHARDS 64
/* Longest AOR accepted (bytes, as given); longer ones are refused. */
#define WSIP_LOCATION_AOR_MAX 512
/* A temp-gruu token: 20 random bytes in lower-case base32 (RFC 4648
 * alphabet), 160 bits, valid in the user part of a SIP URI. */
#define WSIP_TEMP_GRUU_LEN 32

/* Results besides 0. */
enum {
    WSIP_LOC_ENOMEM = -1,   /* out of memory, or no randomness for a temp-gruu */
    WSIP_LOC_EINVAL = -2,   /* bad arguments (empty AOR, AOR too long, flow-bound restore) */
    WSIP_LOC_ECSEQ = -3,    /* same Call-ID, CSeq not higher: RFC 3261 10.3 steps 6/7 say
                               the update is aborted and the request fails; nothing changed */
    WSIP_LOC_ETOOMANY = -4, /* the AOR would exceed max_bindings; nothing changed */
    WSIP_LOC_EEXPIRED = -5, /* restore: the binding has already expired; not added */
};

/* Transport the REGISTER came over (kept for the 200 OK, /status, routing). */
enum wsip_loc_transport {
    WSIP_LOC_TP_NONE = 0,
    WSIP_LOC_TP_UDP,
    WSIP_LOC_TP_TCP,
    WSIP_LOC_TP_TLS,
    WSIP_LOC_TP_WS,
    WSIP_LOC_TP_WSS,
};

/* Flag bits of a binding. The store keeps them and never reads them; these
 * names are the registrar's suggestions. */
#define WSIP_BINDING_F_OUTBOUND 0x01 /* RFC 5626 flow (reg-id + instance, ;ob) */
#define WSIP_BINDING_F_GRUU     0x02 /* the UA said Supported: gruu */

/* One binding. Strings are NUL-terminated and owned by the binding (one
 * allocation with it); "" means none. Never modified once published. */
struct wsip_binding {
    const char *aor;        /* "sip:alice@example.com": scheme and host lower-cased */
    const char *contact;    /* Contact URI as registered (no <>, no header params) */
    const char *params;     /* Contact header params to echo in the 200 OK, or "" */
    const char *instance;   /* +sip.instance without quotes and <>, or "" */
    const char *received;   /* where to send when not flow-bound: "udp:192.0.2.1:5060" */
    const char *path;       /* Path header values joined with ",", or "" */
    const char *call_id;    /* of the REGISTER that made or last refreshed it */
    const char *user_agent; /* or "" */
    uint64_t flow;          /* wsip_flow_token of the connection, 0 = not flow-bound */
    int64_t expires_at;     /* ms on the caller's clock; expired when now >= expires_at */
    int64_t created_at;     /* ms: first REGISTER of this binding (kept across refreshes) */
    int64_t updated_at;     /* ms: last REGISTER that refreshed it */
    uint32_t cseq;
    uint32_t reg_id;   /* RFC 5626 reg-id, 0 = none */
    int16_t q;         /* q * 1000 (0..1000), -1 = not given (sorted as 1000) */
    uint8_t transport; /* enum wsip_loc_transport */
    uint8_t flags;     /* WSIP_BINDING_F_* */
    char temp_gruu[WSIP_TEMP_GRUU_LEN + 1]; /* "" when there is no instance */
};

/* References: a binding stays valid until its last reference goes. */
const struct wsip_binding *wsip_binding_ref(const struct wsip_binding *b);
void wsip_binding_unref(const struct wsip_binding *b);
/* Unrefs v[0..n-1] (what a lookup filled). */
void wsip_bindings_unref(const struct wsip_binding **v, size_t n);

/* A list of references the store allocated; free with wsip_binding_list_free. */
struct wsip_binding_list {
    const struct wsip_binding **v;
    size_t n;
};
void wsip_binding_list_free(struct wsip_binding_list *l);

/* Persistence. put: a non-flow-bound binding was added or refreshed (upsert
 * keyed by aor, contact, instance); del: one left the table (removed,
 * replaced by a binding with another key, expired). A refresh with the same
 * key calls put only. Never called for flow-bound bindings, nor by
 * wsip_location_restore or wsip_location_free.
 *
 * Called INSIDE the shard lock, so the writes of one AOR reach the queue in
 * the order they happened in the table (outside it, two workers could
 * reorder a put and a del). So a hook must not block and must not call
 * wsip_location_*; it copies what it needs or takes a wsip_binding_ref. */
struct wsip_location_hooks {
    void (*put)(void *arg, const struct wsip_binding *b);
    void (*del)(void *arg, const struct wsip_binding *b);
    void *arg;
};

struct wsip_location_opts {
    unsigned shards;       /* power of two; 0 = WSIP_LOCATION_DEFAULT_SHARDS */
    unsigned max_bindings; /* per AOR; 0 = no limit (WSIP_LOC_ETOOMANY past it) */
    struct wsip_location_hooks hooks;
};

struct wsip_location;

/* NULL when out of memory or when shards is not a power of two. opts may be
 * NULL (defaults, no hooks). */
struct wsip_location *wsip_location_new(const struct wsip_location_opts *opts);
/* Frees the table (no hooks); references still held stay valid. */
void wsip_location_free(struct wsip_location *loc);

/* One Contact of a REGISTER, as the registrar decided it. Views; the store
 * copies them. */
struct wsip_binding_req {
    struct wsip_str contact;  /* URI (no <>) */
    struct wsip_str params;   /* to keep for the 200 OK, or empty */
    struct wsip_str instance; /* +sip.instance without quotes and <>, or empty */
    uint32_t reg_id;          /* 0 = none */
    uint32_t expires;         /* seconds, already clamped by the registrar; 0 = remove */
    int q;                    /* -1 or 0..1000 */
    unsigned flags;           /* WSIP_BINDING_F_* (low 8 bits kept) */
};

/* One REGISTER: what is common to its Contacts, then the Contacts. */
struct wsip_loc_register {
    struct wsip_str aor; /* "scheme:user@host", no port or params */
    struct wsip_str call_id;
    uint32_t cseq;
    uint64_t flow; /* 0 = not flow-bound */
    enum wsip_loc_transport transport;
    struct wsip_str received, path, user_agent;
    bool wildcard; /* Contact: * (the registrar checked Expires: 0 and that it is alone) */
    const struct wsip_binding_req *contacts;
    size_t ncontacts; /* 0 = a query: nothing changes */
};

/* Applies one REGISTER to its AOR atomically (RFC 3261 10.3 steps 6-7, RFC
 * 5626 section 6, RFC 5627):
 * - a Contact refers to a binding when, with an instance, the binding has
 *   the same instance and reg-id (different reg-ids are different flows of
 *   one instance, kept side by side) or has no instance and an equal URI;
 *   without an instance, when the URIs are equal (RFC 3261 sec 19.1.4,
 *   wsip_uri_equal);
 * - the Contact replaces every binding it refers to (refresh, page reload
 *   on a new flow), keeping the first one's created_at and the instance's
 *   temp-gruu; with expires 0 it removes them; referring to none, it adds;
 * - wildcard removes every binding of the AOR;
 * - a binding referred to (for wildcard, any) with the same Call-ID and a
 *   CSeq >= the request's aborts the whole update with WSIP_LOC_ECSEQ.
 * A new instance gets a fresh temp-gruu; one that already has bindings
 * shares theirs. Expired bindings count as absent and are purged.
 * On success (0) and when res is not NULL, res holds the AOR's bindings
 * after the update (for the 200 OK). On failure nothing changed. */
int wsip_location_update(struct wsip_location *loc, const struct wsip_loc_register *reg,
                         int64_t now, struct wsip_binding_list *res);

/* Current bindings of an AOR for forking: up to max references into out,
 * highest q first, then most recently refreshed. Returns how many. */
size_t wsip_location_lookup(struct wsip_location *loc, struct wsip_str aor, int64_t now,
                            const struct wsip_binding **out, size_t max);
/* Bindings of one instance of an AOR (pub-gruu routing) and of a temp-gruu
 * token: several when the instance has several flows, most recently
 * refreshed first. Return how many. */
size_t wsip_location_lookup_instance(struct wsip_location *loc, struct wsip_str aor,
                                     struct wsip_str instance, int64_t now,
                                     const struct wsip_binding **out, size_t max);
size_t wsip_location_lookup_gruu(struct wsip_location *loc, struct wsip_str temp_gruu, int64_t now,
                                 const struct wsip_binding **out, size_t max);

/* The connection of this flow token closed: removes every binding bound to
 * it, in all AORs, at once. Returns how many. A REGISTER on the flow that
 * is applied after this returns leaves a binding that only expiry removes
 * (the transport never sends on a stale token). */
size_t wsip_location_flow_closed(struct wsip_location *loc, uint64_t flow);

/* Removes the bindings with expires_at <= now (del hooks for persisted
 * ones). For a periodic timer; shards with nothing due are skipped without
 * a scan. Returns how many. */
size_t wsip_location_expire(struct wsip_location *loc, int64_t now);

/* Startup: adds a binding loaded from the store (flow must be 0). Strings
 * are copied; a binding with the same key as one already there replaces
 * it; an empty temp_gruu of an instance gets one (shared with the
 * instance's other bindings). No hooks. 0, WSIP_LOC_EEXPIRED, _EINVAL or
 * _ENOMEM. */
int wsip_location_restore(struct wsip_location *loc, const struct wsip_binding *b, int64_t now);

/* Bindings in the table (expired ones not yet purged included), and AORs. */
size_t wsip_location_count(const struct wsip_location *loc);
size_t wsip_location_count_aors(const struct wsip_location *loc);

/* /status: references to up to max (0 = all) current bindings, one shard
 * at a time (consistent per AOR, not a global instant). 0 or
 * WSIP_LOC_ENOMEM. */
int wsip_location_snapshot(struct wsip_location *loc, int64_t now, size_t max,
                           struct wsip_binding_list *out);

/* Tests and debugging: checks counts and both indexes against the table.
 * Call only while no other thread uses loc. 0, or -1 with *why. */
int wsip_location_verify(struct wsip_location *loc, const char **why);

#endif

/* Server side of SIP digest authentication (RFC 3261 sec 22, RFC 7616,
 * RFC 8760): challenges carrying stateless nonces, credential checks,
 * nonce-count replay protection and per-address failure limiting.
 *
 * A pure module: no I/O and no clock (every call takes `now` in
 * milliseconds, from any clock shared by the threads using one service).
 * One service is shared by all workers; every function is thread-safe.
 *
 * What the caller does around it:
 * - never challenges ACK or CANCEL (wsip_auth_may_challenge) nor requests
 *   from trusted peers (wsip_cidr_list_match on config `trusted`);
 * - REGISTER: proxy = false (401 + WWW-Authenticate, credentials in
 *   Authorization); requests entering the proxy from local users: proxy =
 *   true (407 + Proxy-Authenticate, credentials in Proxy-Authorization);
 * - picks the realm: auth.realm, or the domain the request is for;
 * - answers by result:
 *     OK           go on as res->user
 *     CHALLENGE    401/407 with wsip_auth_svc_challenge(stale = false)
 *     FAILED       the same (RFC 3261 sec 22.4 lets a UAS challenge again);
 *                  identical for an unknown user and a wrong password
 *     STALE        401/407 with wsip_auth_svc_challenge(stale = true)
 *     BAD_REQUEST  400 with res->reason
 *     RATE_LIMITED 403 Forbidden, no challenge (not 429: in SIP that is
 *                  "Provide Referrer Identity", RFC 3892)
 *     ERROR        500 (user lookup failed, hash unavailable)
 *
 * Nonce (43 characters): base64url without padding of 32 bytes:
 *   mint time (ms, 8 bytes big-endian) | 8 random bytes |
 *   first 16 bytes of HMAC-SHA256(secret, time | random | realm).
 * Any thread (or process holding the same secret) verifies it without
 * state. The same nonce serves every algorithm of one challenge.
 *
 * Policies:
 * - A nonce whose MAC does not verify (tampered, another realm's, minted
 *   before a restart with a random secret) or minted more than 5 s in the
 *   future is treated as no credentials: CHALLENGE, not counted as a
 *   failure. Nothing was learnt about the password, and a restart must not
 *   count every re-registering client as an attacker.
 * - Older than nonce_ttl_s: STALE only when the digest is right (RFC 7616
 *   sec 3.3: stale means "the password was right, retry with the new
 *   nonce"); a wrong digest on an old nonce is FAILED.
 * - qop is required (we always offer it; JsSIP, SIP.js and sipML5 always
 *   send it): credentials without qop (RFC 2069 form) are FAILED. auth-int
 *   is accepted even when only auth was offered (it protects more).
 * - The credentials' algorithm must be one of the configured ones, exactly
 *   (offer "MD5-sess" to accept MD5-sess).
 * - uri must equal the Request-URI as written (both trimmed), or FAILED.
 * - Replay: per nonce, the highest nc accepted is kept and nc must grow;
 *   a reused nc is answered STALE (a fresh nonce; SIP.js resends its last
 *   credentials unchanged) and is not counted as a failure.
 *   Only credentials whose digest is right touch the table, so nobody can
 *   poison a nonce with a huge nc. The table is bounded (replay_slots);
 *   when full the entry with the oldest nonce is evicted and its mint time
 *   remembered: a valid nonce missing from the table that is not newer
 *   than everything evicted may have been evicted after use, so it gets
 *   STALE (a fresh nonce, one extra round trip, never an accepted replay);
 *   a newer one was never used and is accepted with any nc >= 1.
 *   Replay state is per process.
 * - Failures counted per source address (IPv4 address, IPv6 /64): wrong
 *   digest (unknown user included). Not counted: a reused nc, missing
 *   credentials, bad or stale nonces, an unoffered algorithm or qop, a uri
 *   mismatch (no password was tested). max_failures failures within a
 *   fixed window of window_s seconds from the first one block the address
 *   until the window ends: every request from it is RATE_LIMITED, without
 *   lookup or digest. A success does not reset the count (else one valid
 *   account would let an address keep guessing other passwords). Source
 *   addresses of UDP can be spoofed, so over UDP an attacker can block a
 *   victim's address; browsers use WS/WSS.
 * - Unknown users cost the same digest computation as known ones (against
 *   a random HA1) and give the same result and reason as a wrong password.
 */
#ifndef WSIP_AUTH_H
#define WSIP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsip/digest.h"
#include "wsip/sip.h"
#include "wsip/str.h"

struct sockaddr;

#define WSIP_AUTH_NONCE_LEN  43  /* characters, without the NUL */
#define WSIP_AUTH_SECRET_LEN 32  /* bytes */
#define WSIP_AUTH_USER_MAX   255 /* longer usernames are unknown users */
#define WSIP_AUTH_REALM_MAX  255

struct wsip_auth_cfg {
    /* Offered in this order, one challenge header each. JsSIP 3.13 and
     * SIP.js 0.21 keep only the LAST WWW-Authenticate header they parse and
     * give up unless it is MD5: keep MD5 last while they are served (RFC
     * 8760 clients take the first one they support, so SHA-256 first). */
    enum wsip_digest_alg algs[WSIP_DIGEST_ALG_COUNT];
    unsigned nalgs;        /* 1..WSIP_DIGEST_ALG_COUNT, no repeats */
    bool qop_auth_int;     /* offer qop="auth,auth-int" instead of "auth" */
    unsigned nonce_ttl_s;  /* nonce lifetime (>= 1) */
    unsigned max_failures; /* per address per window; 0 = no limit */
    unsigned window_s;     /* failure window (>= 1 when max_failures > 0) */
    unsigned replay_slots; /* nonces tracked for nc replay (>= 8) */
    unsigned rate_slots;   /* addresses tracked for failures (>= 8) */
};

/* Defaults: {SHA-256, MD5}, qop auth, 300 s nonces, 10 failures per 60 s,
 * 65536 replay slots (about 1.6 MB), 8192 address slots. */
void wsip_auth_cfg_default(struct wsip_auth_cfg *cfg);

enum wsip_auth_rc {
    WSIP_AUTH_OK = 0,
    WSIP_AUTH_CHALLENGE,
    WSIP_AUTH_STALE,
    WSIP_AUTH_FAILED,
    WSIP_AUTH_BAD_REQUEST,
    WSIP_AUTH_RATE_LIMITED,
    WSIP_AUTH_ERROR,
};
#define WSIP_AUTH_RC_COUNT 7

/* "OK", "CHALLENGE", ... for logs. */
const char *wsip_auth_rc_name(enum wsip_auth_rc rc);

struct wsip_auth_result {
    /* username of the credentials, unquoted, NUL-terminated ("" when none
     * were read); on OK the authenticated user */
    char user[WSIP_AUTH_USER_MAX + 1];
    size_t user_len;
    int alg;            /* enum wsip_digest_alg of the credentials, -1 when none/unknown */
    const char *reason; /* static; for logs, and the 400 reason phrase */
};

/* Fills ha1 (lower-case hex, NUL-terminated; upper case is accepted) with
 * H(user:realm:password) for alg (always a base algorithm: MD5, SHA-256,
 * SHA-512-256; -sess uses the same HA1). user is NUL-terminated. Returns 0
 * when found, -1 when the user is unknown or has no HA1 for alg, any other
 * value when the lookup itself failed (-> WSIP_AUTH_ERROR). Called with no
 * lock of this module held. */
typedef int (*wsip_auth_lookup_fn)(struct wsip_str user, struct wsip_str realm,
                                   enum wsip_digest_alg alg, char ha1[WSIP_DIGEST_HEX_MAX],
                                   void *arg);

struct wsip_auth_svc;

/* cfg is copied; secret is WSIP_AUTH_SECRET_LEN bytes (shared by the
 * processes that must verify each other's nonces), or NULL for a random
 * one. Returns 0, or -1 with *why (may be NULL) saying why. */
int wsip_auth_svc_new(struct wsip_auth_svc **out, const struct wsip_auth_cfg *cfg,
                      const unsigned char *secret, const char **why);
void wsip_auth_svc_free(struct wsip_auth_svc *a);

/* False for responses, ACK and CANCEL: those are never challenged (an ACK
 * or CANCEL cannot be resubmitted with credentials; RFC 3261 sec 22.1). */
bool wsip_auth_may_challenge(const struct wsip_msg *m);

/* Appends one header line per configured algorithm, in order, sharing one
 * fresh nonce:
 *   WWW-Authenticate: Digest realm="r", nonce="n", algorithm=MD5, qop="auth"\r\n
 * (Proxy-Authenticate when proxy; ", stale=true" appended when stale).
 * realm: 1..WSIP_AUTH_REALM_MAX bytes, no '"', '\' or control characters.
 * Returns 0, or -1 (bad realm, out of memory, no randomness). */
int wsip_auth_svc_challenge(struct wsip_auth_svc *a, struct wsip_str realm, uint64_t now_ms,
                            bool proxy, bool stale, struct wsip_sbuf *out);

/* Checks the request's Authorization (Proxy-Authorization when proxy)
 * credentials for realm. Among several headers it takes the first Digest
 * one for this realm with a nonce and a response; others (other realms,
 * other schemes, sipML5's empty first Authorization) are skipped. src (may
 * be NULL: no rate limiting) is the peer address. res is always filled. */
enum wsip_auth_rc wsip_auth_svc_check(struct wsip_auth_svc *a, struct wsip_msg *m,
                                      struct wsip_str realm, bool proxy, uint64_t now_ms,
                                      const struct sockaddr *src, wsip_auth_lookup_fn lookup,
                                      void *lookup_arg, struct wsip_auth_result *res);

struct wsip_auth_stats {
    uint64_t by_rc[WSIP_AUTH_RC_COUNT]; /* check results */
    uint64_t challenges;                /* challenge calls */
    uint64_t replays;                   /* STALE for a reused nc */
    uint64_t replay_evictions;          /* live nonces dropped from a full table */
};

void wsip_auth_svc_stats(struct wsip_auth_svc *a, struct wsip_auth_stats *out);

#endif

/* HTTP Digest computation for SIP (RFC 2617, RFC 7616, RFC 8760) on
 * OpenSSL EVP. A registrar stores HA1 = H(username:realm:password) per user
 * and algorithm, never the password, and checks credentials with
 * wsip_digest_verify(). All hashes are lower-case hex strings. */
#ifndef WSIP_DIGEST_H
#define WSIP_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsip/str.h"

struct wsip_auth;

/* The base algorithm is alg & ~1; the -sess variant has bit 0 set. */
enum wsip_digest_alg {
    WSIP_DIGEST_MD5 = 0,
    WSIP_DIGEST_MD5_SESS = 1,
    WSIP_DIGEST_SHA256 = 2,
    WSIP_DIGEST_SHA256_SESS = 3,
    WSIP_DIGEST_SHA512_256 = 4, /* FIPS 180-4 SHA-512/256, not truncated SHA-512 */
    WSIP_DIGEST_SHA512_256_SESS = 5,
};

#define WSIP_DIGEST_ALG_COUNT 6
/* Room for the longest hex digest (SHA-256, SHA-512/256) and its NUL. */
#define WSIP_DIGEST_HEX_MAX 65

/* "MD5", "md5-sess", "SHA-256", "SHA-512-256-sess", ... (case-insensitive)
 * -> enum value; -1 for anything else, an empty string included. */
int wsip_digest_alg_from_str(struct wsip_str s);
/* Canonical name as written in a challenge ("SHA-512-256-sess"). */
const char *wsip_digest_alg_name(enum wsip_digest_alg alg);
/* 32 (MD5) or 64. */
size_t wsip_digest_hex_len(enum wsip_digest_alg alg);
static inline bool wsip_digest_alg_is_sess(enum wsip_digest_alg alg)
{
    return ((unsigned)alg & 1u) != 0;
}

/* Algorithm of parsed credentials: the algorithm parameter, MD5 when it is
 * absent (RFC 2617 sec 3.2.1); -1 when unknown or not Digest. */
int wsip_digest_auth_alg(const struct wsip_auth *a);

/* The functions below write a NUL-terminated lower-case hex digest into out
 * (WSIP_DIGEST_HEX_MAX bytes) and return its length, or -1 when the hash is
 * not available (e.g. MD5 under a FIPS-only OpenSSL) or alg is invalid. The
 * -sess variants use the same hash as their base algorithm. */

/* H(data). */
int wsip_digest_hash_hex(enum wsip_digest_alg alg, const void *data, size_t len, char *out);
/* H(username:realm:password): what a registrar stores, whether or not the
 * client later picks the -sess variant. */
int wsip_digest_ha1(enum wsip_digest_alg alg, struct wsip_str username, struct wsip_str realm,
                    struct wsip_str password, char *out);
/* -sess HA1: H(ha1:nonce:cnonce), ha1 being the stored H(user:realm:pw). */
int wsip_digest_ha1_sess(enum wsip_digest_alg alg, struct wsip_str ha1, struct wsip_str nonce,
                         struct wsip_str cnonce, char *out);
/* H(method:uri), or H(method:uri:H(body)) when auth_int (qop=auth-int). */
int wsip_digest_ha2(enum wsip_digest_alg alg, struct wsip_str method, struct wsip_str uri,
                    bool auth_int, struct wsip_str body, char *out);
/* H(ha1:nonce:nc:cnonce:qop:ha2), or H(ha1:nonce:ha2) when qop is empty
 * (RFC 2069 style; nc and cnonce are then ignored). ha1 is the session HA1
 * for -sess algorithms. */
int wsip_digest_response(enum wsip_digest_alg alg, struct wsip_str ha1, struct wsip_str nonce,
                         struct wsip_str nc, struct wsip_str cnonce, struct wsip_str qop,
                         struct wsip_str ha2, char *out);
/* RFC 7616 sec 3.4.4 userhash: H(username:realm). With userhash=true the
 * username parameter holds this, and the registrar looks users up by it. */
int wsip_digest_userhash(enum wsip_digest_alg alg, struct wsip_str username, struct wsip_str realm,
                         char *out);

/* Constant-time equality (the lengths are not secret). */
bool wsip_digest_hex_eq(struct wsip_str a, struct wsip_str b);

/* The calling thread's digest context (an OpenSSL EVP_MD_CTX) for one
 * hash at a time; re-initialise it before use. NULL when out of memory. */
struct evp_md_ctx_st;
struct evp_md_ctx_st *wsip_digest_ctx(void);

/* nonce-count: exactly 8 hex digits (either case) -> value. 0 or -1. The
 * registrar uses it to refuse replays (nc must grow per nonce). */
int wsip_digest_nc_parse(struct wsip_str nc, uint32_t *out);

enum wsip_digest_result {
    WSIP_DIGEST_OK = 0,
    WSIP_DIGEST_NO_CREDENTIALS, /* empty nonce or response (sipML5's first REGISTER):
                                   send a challenge */
    WSIP_DIGEST_MISMATCH,       /* wrong response: 403, or challenge again */
    WSIP_DIGEST_BAD_ALGORITHM,  /* algorithm unknown or unusable: challenge again */
    WSIP_DIGEST_BAD_QOP,        /* qop unknown, or absent while required */
    WSIP_DIGEST_MALFORMED,      /* not Digest, or uri / nc / cnonce missing or bad: 400 */
    WSIP_DIGEST_ERROR,          /* stored HA1 unusable or hash failure: 500 */
};

/* wsip_digest_verify flags */
#define WSIP_DIGEST_REQUIRE_QOP 1u /* refuse RFC 2069 style credentials (no qop) */

/* Checks parsed credentials against the stored HA1 = H(username:realm:pw)
 * for the algorithm wsip_digest_auth_alg(a) names (lower-case hex). method
 * is the request method, body the message body (used for qop=auth-int).
 * Quoted values are unescaped before hashing. It does not check the realm,
 * the nonce's freshness, nc replay, or that uri matches the Request-URI:
 * those are the registrar's. *reason (may be NULL) gets a static string
 * when the result is not OK. */
enum wsip_digest_result wsip_digest_verify(const struct wsip_auth *a, struct wsip_str ha1,
                                           struct wsip_str method, struct wsip_str body,
                                           unsigned flags, const char **reason);

#endif

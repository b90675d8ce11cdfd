/* The request fields a spiral changes (RFC 3261 sec 16.3 step 4 and sec
 * 16.6 step 8), hashed into one number: a proxy puts it in the branch of the
 * Via it adds and, when the request comes back with that Via, compares. */
#include <string.h>

#include "sip/sip_int.h"

/* FNV-1a, 64 bits: a loop check needs no secret, only that two different
 * requests rarely share a value. */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

static uint64_t mix(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* A field as (tag, length, bytes): "ab" + "c" never hashes as "a" + "bc",
 * and an absent field differs from an empty one. */
static uint64_t field(uint64_t h, char tag, struct wsip_str v)
{
    uint64_t len = v.len;
    h = mix(h, &tag, 1);
    h = mix(h, &len, sizeof(len));
    return v.len ? mix(h, v.p, v.len) : h;
}

uint64_t wsip_msg_loop_hash(struct wsip_msg *m,
                            bool (*skip_pauth)(const struct wsip_auth *, void *), void *arg)
{
    uint64_t h = FNV_OFFSET;
    h = field(h, 'R', m->ruri_str);
    struct wsip_hdr *route = wsip_msg_hdr(m, WSIP_HDR_ROUTE);
    if (route)
        h = field(h, 'r', route->value);
    const struct wsip_addr *from = wsip_msg_from(m, NULL), *to = wsip_msg_to(m, NULL);
    if (from && from->has_tag)
        h = field(h, 'f', from->tag);
    if (to && to->has_tag)
        h = field(h, 't', to->tag);
    h = field(h, 'i', wsip_msg_call_id(m));
    /* the number only: a CANCEL and the ACK of a non-2xx share the branch
     * of the request they go with (sec 16.6 step 8) */
    const struct wsip_cseq *cs = wsip_msg_cseq(m, NULL);
    if (cs)
        h = mix(h, &cs->num, sizeof(cs->num));
    for (struct wsip_hdr *x = wsip_msg_hdr(m, WSIP_HDR_PROXY_REQUIRE); x;
         x = wsip_msg_hdr_next(m, x))
        h = field(h, 'q', x->value);
    for (struct wsip_hdr *x = wsip_msg_hdr(m, WSIP_HDR_PROXY_AUTHORIZATION); x;
         x = wsip_msg_hdr_next(m, x)) {
        const struct wsip_auth *a = wsip_hdr_auth(m, x, NULL);
        if (!a || !skip_pauth || !skip_pauth(a, arg))
            h = field(h, 'a', x->value);
    }
    return h;
}

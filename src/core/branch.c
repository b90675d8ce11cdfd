/* The branch of the Via the proxy adds (RFC 3261 sec 16.6 step 8), and what
 * it is read back for:
 *
 *   z9hG4bK-<worker>-<loop>-<unique>-<mac>
 *
 * worker: the client transaction's owner (txn.c); loop: 16 hex digits of
 * wsip_msg_loop_hash over the request as received, so that the request
 * coming back with our Via is a loop when it hashes the same and a spiral
 * when not (sec 16.3 step 4); unique: random; mac: 16 hex digits of a SipHash
 * (SipHash-2-4) over everything before it and the hop the request came from (its flow, or
 * its source address and Via port). A response no transaction wants is
 * forwarded up by its next Via only when that Via names the hop the MAC was
 * made for (sec 16.7 step 1 / sec 16.11): a forged response cannot turn
 * wsip into a reflector towards an address that never sent it a request. */
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "base/fmt.h"
#include "base/siphash.h"
#include "core/core.h"

#define LOOP_HEX 16
#define MAC_HEX  16

static bool all_hex(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    return true;
}

/* A branch of ours split up: loop hash, the signed part (all before the
 * MAC) and the MAC. false for anything else (other proxies' branches, ours
 * from before the MAC, garbage). */
static bool branch_parts(struct wsip_str b, struct wsip_str *loop, struct wsip_str *signed_part,
                         struct wsip_str *mac)
{
    if (wsip_txn_branch_worker(b) < 0)
        return false;
    const char *p = memchr(b.p + 8, '-', b.len - 8); /* after "z9hG4bK-<worker>" */
    if (!p)
        return false;
    size_t at = (size_t)(p - b.p) + 1; /* the loop hash */
    if (b.len < at + LOOP_HEX + 1 + 1 + 1 + MAC_HEX || b.p[at + LOOP_HEX] != '-' ||
        !all_hex(b.p + at, LOOP_HEX) || b.p[b.len - MAC_HEX - 1] != '-' ||
        !all_hex(b.p + b.len - MAC_HEX, MAC_HEX))
        return false;
    *loop = wsip_str_make(b.p + at, LOOP_HEX);
    *signed_part = wsip_str_make(b.p, b.len - MAC_HEX - 1);
    *mac = wsip_str_make(b.p + b.len - MAC_HEX, MAC_HEX);
    return true;
}

/* Where a response to the hop goes back, as text: its flow, or its address
 * and the port its Via asks for (rport, else the sent-by port, else 5060;
 * RFC 3261 sec 18.2.2, RFC 3581). */
static void hop_key(wsip_flow_token flow, const char *ip, const struct wsip_via *v, char *out,
                    size_t cap)
{
    if (flow) {
        memcpy(out, "flow:", 5);
        wsip_hex64(flow, out + 5);
        return;
    }
    unsigned port = v->rport ? v->rport : v->has_port ? v->port : 5060;
    struct wsip_fmt f;
    wsip_fmt_init(&f, out, cap);
    wsip_fmt_cstr(&f, "addr:");
    wsip_fmt_cstr(&f, ip);
    wsip_fmt_char(&f, ':');
    wsip_fmt_uint(&f, port);
}

static bool branch_mac(const struct wsip_core *core, struct wsip_str signed_part, const char *hop,
                       char out[MAC_HEX + 1])
{
    /* 'b' and the length keep the two fields apart: no other split of the
     * same bytes gives the same input */
    struct wsip_siphash h;
    unsigned char head[3] = {'b', (unsigned char)(signed_part.len >> 8),
                             (unsigned char)signed_part.len};
    wsip_siphash_init(&h, core->flow_key);
    wsip_siphash_update(&h, head, sizeof(head));
    wsip_siphash_update(&h, signed_part.p, signed_part.len);
    wsip_siphash_update(&h, hop, strlen(hop));
    wsip_hex64(wsip_siphash_final(&h), out);
    return true;
}

struct pauth_arg {
    const struct wsip_core *core;
    const struct wsip_server *srv;
};

bool wsip_proxy_pauth_ours(const struct wsip_core *core, const struct wsip_server *s,
                           const struct wsip_auth *a)
{
    return a->realm.len && ((core->realm[0] && wsip_str_eq_cstr(a->realm, core->realm)) ||
                            wsip_server_is_our_domain(s, a->realm));
}

static bool skip_ours(const struct wsip_auth *a, void *arg)
{
    const struct pauth_arg *pa = arg;
    return wsip_proxy_pauth_ours(pa->core, pa->srv, a);
}

static uint64_t loop_hash(const struct wsip_core *core, const struct wsip_server *s,
                          struct wsip_msg *m)
{
    struct pauth_arg pa = {core, s};
    return wsip_msg_loop_hash(m, skip_ours, &pa);
}

/* The source address without its port, as wsip_source_stamp_via writes it
 * into received=. */
static void source_ip(const struct wsip_source *src, char *out, size_t cap)
{
    const struct sockaddr *sa = (const struct sockaddr *)&src->peer;
    out[0] = '\0';
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)cap);
}

int wsip_proxy_branch(const struct wsip_core *core, struct wsip_worker *w,
                      const struct wsip_source *src, struct wsip_msg *m, struct wsip_str top_via,
                      wsip_flow_token in_flow, char *out, size_t cap)
{
    char loop[LOOP_HEX + 1], hop[96], ip[64], mac[MAC_HEX + 1];
    wsip_hex64(loop_hash(core, w->srv, m), loop);
    struct wsip_via v;
    const struct wsip_via *top = NULL;
    if (top_via.len)
        top = wsip_via_parse(&v, top_via, NULL) == 0 ? &v : NULL;
    else
        top = wsip_msg_top_via(m, NULL);
    if (!top || cap < WSIP_PROXY_BRANCH_MAX)
        return -1;
    /* the real source address, not a received= the client wrote itself */
    source_ip(src, ip, sizeof(ip));
    hop_key(in_flow, ip, top, hop, sizeof(hop));
    wsip_txn_branch(w, loop, out, cap - MAC_HEX - 1);
    size_t len = strlen(out);
    if (!branch_mac(core, wsip_str_make(out, len), hop, mac))
        return -1;
    out[len] = '-';
    memcpy(out + len + 1, mac, MAC_HEX + 1); /* cap >= WSIP_PROXY_BRANCH_MAX leaves room */
    return 0;
}

/* Is this Via's sent-by one we write (an address we listen on)? */
static bool via_is_us(const struct wsip_server *s, const struct wsip_via *v)
{
    struct wsip_uri u;
    memset(&u, 0, sizeof(u));
    u.scheme = WSIP_URI_SIP;
    u.host = v->host;
    u.host_type = v->host_type;
    u.has_port = v->has_port;
    u.port = v->port;
    return wsip_server_uri_is_us(s, &u);
}

bool wsip_proxy_loop_detected(const struct wsip_core *core, const struct wsip_server *s,
                              struct wsip_msg *m)
{
    char want[LOOP_HEX + 1] = "";
    for (struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_VIA); h; h = wsip_msg_hdr_next(m, h)) {
        const struct wsip_via *v = wsip_hdr_via(m, h, NULL);
        struct wsip_str loop, signed_part, mac;
        if (!v || !branch_parts(v->branch, &loop, &signed_part, &mac) || !via_is_us(s, v))
            continue;
        /* we forwarded it before: the same fields again is a loop, other
         * ones a spiral (sec 16.3 step 4) */
        if (!want[0])
            wsip_hex64(loop_hash(core, s, m), want);
        if (memcmp(loop.p, want, LOOP_HEX) == 0)
            return true;
    }
    return false;
}

bool wsip_proxy_branch_signed(const struct wsip_core *core, const struct wsip_server *s,
                              const struct wsip_via *ours, wsip_flow_token flow,
                              const struct wsip_via *next)
{
    struct wsip_str loop, signed_part, mac;
    if (!branch_parts(ours->branch, &loop, &signed_part, &mac) || !via_is_us(s, ours))
        return false;
    char ip[64] = "", hop[96], want[MAC_HEX + 1];
    if (!flow) {
        struct wsip_str h = next->received.len ? next->received : next->host;
        if (h.len >= 2 && h.p[0] == '[') {
            h.p++;
            h.len -= 2;
        }
        if (h.len >= sizeof(ip))
            return false;
        memcpy(ip, h.p, h.len);
        ip[h.len] = '\0';
    }
    hop_key(flow, ip, next, hop, sizeof(hop));
    return branch_mac(core, signed_part, hop, want) && CRYPTO_memcmp(want, mac.p, MAC_HEX) == 0;
}

/* Next hops from URIs (RFC 3263 sec 4 without NAPTR/SRV) and the per-worker
 * DNS cache: one lookup for many waiters, answers reused for the TTL, a
 * cancelled waiter never called, no cache with a TTL of 0. */
#include <arpa/inet.h>
#include <string.h>

#include "testutil.h"
#include "transport/transport.h"

static int hop(struct wsip_hop *h, const char *s, const char **why)
{
    struct wsip_uri u;
    const char *perr = NULL;
    ck_assert_msg(wsip_uri_parse(&u, s, strlen(s), &perr) == 0, "%s: %s", s, perr);
    *why = NULL;
    return wsip_hop_from_uri(&u, h, why);
}

static void hop_ok(const char *s, enum wsip_listen_kind kind, const char *host, unsigned port,
                   bool numeric)
{
    struct wsip_hop h;
    const char *why;
    ck_assert_msg(hop(&h, s, &why) == 0, "%s refused: %s", s, why);
    ck_assert_msg(h.kind == kind, "%s: transport %s, want %s", s, wsip_listen_kind_name(h.kind),
                  wsip_listen_kind_name(kind));
    ck_assert_str_eq(h.host, host);
    ck_assert_uint_eq(h.port, port);
    ck_assert_msg(h.numeric == numeric, "%s: numeric %d", s, h.numeric);
}

START_TEST(hop_transport_port_host)
{
    /* sec 4.1: UDP for sip:, TLS for sips:; the default port by transport */
    hop_ok("sip:bob@example.com", WSIP_LISTEN_UDP, "example.com", 5060, false);
    hop_ok("sips:bob@example.com", WSIP_LISTEN_TLS, "example.com", 5061, false);
    hop_ok("sip:bob@192.0.2.4:5070;transport=tcp", WSIP_LISTEN_TCP, "192.0.2.4", 5070, true);
    hop_ok("sip:bob@example.com;transport=TLS", WSIP_LISTEN_TLS, "example.com", 5061, false);
    hop_ok("sip:bob@example.com;transport=udp", WSIP_LISTEN_UDP, "example.com", 5060, false);
    /* sips with transport=tcp is TLS over TCP (RFC 3261 sec 26.2.2) */
    hop_ok("sips:bob@example.com;transport=tcp", WSIP_LISTEN_TLS, "example.com", 5061, false);
    hop_ok("sip:[2001:db8::1]:5080;transport=tcp", WSIP_LISTEN_TCP, "2001:db8::1", 5080, true);
    /* maddr overrides the host (sec 4) */
    hop_ok("sip:bob@example.com;maddr=198.51.100.7", WSIP_LISTEN_UDP, "198.51.100.7", 5060, true);
    hop_ok("sip:bob@example.com:5062;maddr=proxy.example.net;transport=tcp", WSIP_LISTEN_TCP,
           "proxy.example.net", 5062, false);
    hop_ok("sip:localhost;lr", WSIP_LISTEN_UDP, "localhost", 5060, false);
}
END_TEST

START_TEST(hop_refused)
{
    static const char *const bad[] = {
        "sip:bob@example.com;transport=ws", /* reached only over the peer's connection */
        "sip:bob@example.com;transport=wss",
        "sip:bob@example.com;transport=sctp",
        "sips:bob@example.com;transport=udp", /* sips needs TLS */
        "tel:+15551234567",
        "sip:bob@example.com;maddr=a%20b", /* not a host name */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct wsip_hop h;
        const char *why;
        struct wsip_uri u;
        const char *perr = NULL;
        if (wsip_uri_parse(&u, bad[i], strlen(bad[i]), &perr) < 0)
            continue; /* refused earlier still counts */
        ck_assert_msg(wsip_hop_from_uri(&u, &h, &why) < 0, "accepted %s", bad[i]);
        ck_assert_msg(why && *why, "%s refused without a reason", bad[i]);
    }
}
END_TEST

START_TEST(hop_numeric_address)
{
    struct wsip_hop h;
    const char *why;
    struct sockaddr_storage a;
    ck_assert_int_eq(hop(&h, "sip:x@127.0.0.1:5999;transport=tcp", &why), 0);
    ck_assert_int_eq(wsip_hop_numeric_addr(&h, &a), 0);
    ck_assert_int_eq(a.ss_family, AF_INET);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&a;
    ck_assert_uint_eq(ntohs(in->sin_port), 5999);
    ck_assert_uint_eq(ntohl(in->sin_addr.s_addr), 0x7f000001u);
    ck_assert_int_eq(hop(&h, "sips:x@[::1]", &why), 0);
    ck_assert_int_eq(wsip_hop_numeric_addr(&h, &a), 0);
    ck_assert_int_eq(a.ss_family, AF_INET6);
    ck_assert_uint_eq(ntohs(((const struct sockaddr_in6 *)&a)->sin6_port), 5061);
    ck_assert_int_eq(hop(&h, "sip:x@example.com", &why), 0);
    ck_assert_int_lt(wsip_hop_numeric_addr(&h, &a), 0);
}
END_TEST

/* ------------------------------------------------------------ the cache */

static struct wsip_server srv;
static struct wsip_worker wk;

struct waiter {
    struct wsip_resolve_wait rw; /* first */
    int calls, status;
    unsigned n;
    struct sockaddr_storage first;
};

static void on_done(struct wsip_resolve_wait *rw, int status, const struct sockaddr_storage *addrs,
                    unsigned n)
{
    struct waiter *wt = (struct waiter *)(void *)rw;
    wt->calls++;
    wt->status = status;
    wt->n = n;
    if (n)
        wt->first = addrs[0];
}

static void worker_up(unsigned ttl_ms)
{
    memset(&srv, 0, sizeof(srv));
    memset(&wk, 0, sizeof(wk));
    wsip_server_opts_default(&srv.opt);
    srv.opt.dns_cache_ttl_ms = ttl_ms;
    wk.srv = &srv;
    ck_assert_int_eq(uv_loop_init(&wk.loop), 0);
}

static void worker_down(void)
{
    uv_run(&wk.loop, UV_RUN_DEFAULT);
    wsip_resolver_free(&wk);
    ck_assert_int_eq(uv_loop_close(&wk.loop), 0);
}

static bool is_loopback(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24 == 127;
    return a->ss_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

START_TEST(resolver_shares_and_caches)
{
    worker_up(30000);
    struct sockaddr_storage addrs[WSIP_RESOLVE_MAX];
    unsigned n = 99;
    struct waiter a = {.rw.done = on_done}, b = {.rw.done = on_done}, c = {.rw.done = on_done};
    /* three waiters, one lookup; the cancelled one is never called */
    ck_assert_int_eq(wsip_resolve(&wk, "localhost", &a.rw, addrs, &n), 1);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(wsip_resolve(&wk, "LOCALHOST", &b.rw, addrs, &n), 1);
    ck_assert_int_eq(wsip_resolve(&wk, "localhost", &c.rw, addrs, &n), 1);
    wsip_resolve_cancel(&b.rw);
    uv_run(&wk.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.calls, 1);
    ck_assert_int_eq(b.calls, 0);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_msg(a.status == 0, "localhost: %s", wsip_resolve_strerror(a.status));
    ck_assert_uint_ge(a.n, 1);
    ck_assert_msg(is_loopback(&a.first), "localhost is not a loopback address");
    /* now from the cache, at once */
    struct waiter d = {.rw.done = on_done};
    ck_assert_int_eq(wsip_resolve(&wk, "localhost", &d.rw, addrs, &n), 0);
    ck_assert_uint_eq(n, a.n);
    ck_assert(is_loopback(&addrs[0]));
    ck_assert_int_eq(d.calls, 0);
    worker_down();
}
END_TEST

START_TEST(resolver_without_cache)
{
    worker_up(0);
    struct sockaddr_storage addrs[WSIP_RESOLVE_MAX];
    unsigned n;
    struct waiter a = {.rw.done = on_done}, b = {.rw.done = on_done};
    ck_assert_int_eq(wsip_resolve(&wk, "localhost", &a.rw, addrs, &n), 1);
    uv_run(&wk.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.calls, 1);
    ck_assert_int_eq(a.status, 0);
    /* TTL 0: asked again, looked up again */
    ck_assert_int_eq(wsip_resolve(&wk, "localhost", &b.rw, addrs, &n), 1);
    uv_run(&wk.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(b.calls, 1);
    worker_down();
}
END_TEST

START_TEST(resolver_failure)
{
    worker_up(30000);
    struct sockaddr_storage addrs[WSIP_RESOLVE_MAX];
    unsigned n;
    struct waiter a = {.rw.done = on_done}, b = {.rw.done = on_done};
    /* RFC 2606: .invalid never resolves */
    ck_assert_int_eq(wsip_resolve(&wk, "nonexistent.invalid", &a.rw, addrs, &n), 1);
    uv_run(&wk.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.calls, 1);
    ck_assert_int_lt(a.status, 0);
    ck_assert_uint_eq(a.n, 0);
    ck_assert_ptr_nonnull(wsip_resolve_strerror(a.status));
    /* the failure is kept for a while: answered at once */
    ck_assert_int_eq(wsip_resolve(&wk, "nonexistent.invalid", &b.rw, addrs, &n), a.status);
    ck_assert_int_eq(b.calls, 0);
    worker_down();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("resolve");
    TCase *tc = tcase_create("resolve");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hop_transport_port_host);
    tcase_add_test(tc, hop_refused);
    tcase_add_test(tc, hop_numeric_address);
    tcase_add_test(tc, resolver_shares_and_caches);
    tcase_add_test(tc, resolver_without_cache);
    tcase_add_test(tc, resolver_failure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}

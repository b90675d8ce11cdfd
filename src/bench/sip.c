/* The SIP requests wsip bench sends. Over WS and WSS they look like what a
 * browser library sends (RFC 7118 sec 5: a random ".invalid" Via host, no
 * rport needed, Content-Length present as JsSIP writes it); over UDP and TCP
 * the Via names the local socket, with rport (RFC 3581). */
#include <stdio.h>

#include "bench/bench.h"

int bench_sip_via(const struct bench_conn *c, const char *branch, char *out, size_t cap)
{
    enum bench_tp tp = c->cl->opt->url.tp;
    if (bench_tp_is_ws(tp))
        return snprintf(out, cap, "SIP/2.0/%s %s.invalid;branch=%s",
                        tp == BENCH_TP_WSS ? "WSS" : "WS", c->token, branch);
    const char *t = tp == BENCH_TP_UDP ? "UDP" : tp == BENCH_TP_TCP ? "TCP" : "TLS";
    return snprintf(out, cap, "SIP/2.0/%s %s;rport;branch=%s", t, c->local, branch);
}

/* The Via value of a request with branch suffix seq. */
static int via(const struct bench_conn *c, uint32_t seq, char *out, size_t cap)
{
    char branch[48];
    snprintf(branch, sizeof(branch), "z9hG4bK%s%x", c->token, seq);
    return bench_sip_via(c, branch, out, cap);
}

size_t bench_sip_options(const struct bench_conn *c, uint32_t cseq, char *out, size_t cap)
{
    const struct bench_opts *o = c->cl->opt;
    const char *host = o->url.uri_host;
    char v[160], ruri[160];
    if (via(c, cseq, v, sizeof(v)) >= (int)sizeof(v))
        return 0;
    if (o->ruri)
        snprintf(ruri, sizeof(ruri), "%s", o->ruri);
    else
        snprintf(ruri, sizeof(ruri), "sip:%s", host);
    int n = snprintf(out, cap,
                     "OPTIONS %s SIP/2.0\r\n"
                     "Via: %s\r\n"
                     "Max-Forwards: 69\r\n"
                     "To: <%s>\r\n"
                     "From: <sip:bench@%s>;tag=%.8s\r\n"
                     "Call-ID: %s-%x\r\n"
                     "CSeq: %u OPTIONS\r\n"
                     "Accept: application/sdp\r\n"
                     "Supported: outbound\r\n"
                     "User-Agent: wsip-bench/" WSIP_VERSION "\r\n"
                     "Content-Length: 0\r\n"
                     "\r\n",
                     ruri, v, ruri, host, c->token + 4, c->token, cseq, cseq);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

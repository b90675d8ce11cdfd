/* wsip bench message: C registered users in pairs; each sends MESSAGE to
 * its peer through the server and the peer answers 200 (closed loop, one
 * MESSAGE in flight per user). Delivered per second (the sender saw the
 * 200 from the receiver) and the latency from the send to that 200. */
#include <stdio.h>

#include "bench/sipmode.h"

static int msg_start(struct bench_run *r, struct bench_ua *ua, uint64_t now)
{
    const struct bench_ua *peer = &r->ua[ua->peer];
    bench_ua_prepare_request(ua, WSIP_METHOD_MESSAGE, peer->user);
    int n = snprintf(ua->body, sizeof(ua->body), "Hello %s, this is %s (message %llu).", peer->user,
                     ua->user, (unsigned long long)r->t.started);
    ua->req.ctype = "text/plain;charset=UTF-8";
    ua->req.body = ua->body;
    ua->req.body_len = n > 0 && (size_t)n < sizeof(ua->body) ? (size_t)n : 0;
    return bench_ua_send(ua, now);
}

static void msg_response(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m, uint64_t now)
{
    if (m->status < 200)
        return;
    if (m->status >= 300)
        bench_run_fail(r, ua, "MESSAGE refused", m->status, now);
    else
        bench_run_ok(r, ua, now - ua->t_op, now);
}

static void msg_request(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m)
{
    if (bench_ua_retransmission(ua, m))
        return;
    if (m->method_id == WSIP_METHOD_MESSAGE)
        bench_ua_answer(ua, m, 200, NULL, NULL, NULL, 0);
    else
        bench_run_other_request(r, ua, m);
}

static const struct bench_sipmode msg_mode = {
    .unit = "messages",
    .lat_what = "MESSAGE sent to the receiver's 200 at the sender",
    .register_first = true,
    .pairs = true,
    .start = msg_start,
    .response = msg_response,
    .request = msg_request,
};

int bench_mode_message(struct bench_opts *o)
{
    return bench_sip_run(o, &msg_mode);
}

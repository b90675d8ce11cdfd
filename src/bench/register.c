/* wsip bench register: C flows refreshing their registration back to back
 * (same Call-ID, growing CSeq, as a client refreshes), with digest when a
 * password is given (after the first challenge the nonce is reused with a
 * growing nonce-count, so a refresh is one round trip); REGISTERs answered
 * 200 per second and the latency from the first send to the 200. */
#include "bench/sipmode.h"

static int reg_start(struct bench_run *r, struct bench_ua *ua, uint64_t now)
{
    bench_ua_prepare_register(ua, r->o->expires);
    return bench_ua_send(ua, now);
}

static void reg_response(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m, uint64_t now)
{
    if (m->status < 200)
        return;
    if (m->status >= 300) {
        bench_run_fail(r, ua, "REGISTER refused", m->status, now);
        return;
    }
    ua->registered = true;
    bench_run_ok(r, ua, now - ua->t_op, now);
}

static const struct bench_sipmode reg_mode = {
    .unit = "registrations",
    .lat_what = "first REGISTER sent to its 200, challenges included",
    .start = reg_start,
    .response = reg_response,
};

int bench_mode_register(struct bench_opts *o)
{
    return bench_sip_run(o, &reg_mode);
}

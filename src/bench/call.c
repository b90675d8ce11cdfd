/* wsip bench call: C registered users in pairs; each calls its peer through
 * the server: INVITE with an SDP offer, (100), 180, 200 with the answer,
 * ACK, then at once BYE and its 200 (no media). The callee answers at once.
 * Over the dialog the caller follows the route set of the 200's
 * Record-Route (RFC 3261 sec 12.1.2) to the callee's Contact. With digest
 * the INVITE is challenged with 407: ACKed, and sent again with
 * Proxy-Authorization (ua.c). Calls per second and the setup latency
 * (INVITE sent to the 200). */
#include <stdio.h>
#include <string.h>

#include "bench/sipmode.h"

enum { STEP_INVITE = 1, STEP_BYE };

#define ALLOW_HDR "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\r\n"

/* Contact of our dialogs: ;ob over a WebSocket flow (RFC 5626 sec 5.4). */
static void dialog_contact(const struct bench_ua *ua, char *out, size_t cap)
{
    snprintf(out, cap, "Contact: <%s%s>\r\n", ua->contact,
             bench_tp_is_ws(ua->cx->o->url.tp) ? ";ob" : "");
}

static int call_start(struct bench_run *r, struct bench_ua *ua, uint64_t now)
{
    const struct bench_ua *peer = &r->ua[ua->peer];
    bench_ua_prepare_request(ua, WSIP_METHOD_INVITE, peer->user);
    char contact[280];
    dialog_contact(ua, contact, sizeof(contact));
    snprintf(ua->req.extra, sizeof(ua->req.extra), "%s" ALLOW_HDR "Supported: %s\r\n", contact,
             bench_tp_is_ws(r->o->url.tp) ? "ice,replaces,outbound" : "replaces,timer");
    ua->req.ctype = "application/sdp";
    ua->req.body = ua->sdp;
    ua->req.body_len = bench_ua_sdp(ua, true, ua->sdp, sizeof(ua->sdp));
    ua->step = STEP_INVITE;
    return bench_ua_send(ua, now);
}

/* The ACK of the 2xx: a request of its own along the dialog (sec 13.2.2.4). */
static void send_ack(struct bench_ua *ua)
{
    struct bench_req ack;
    memset(&ack, 0, sizeof(ack));
    ack.method = WSIP_METHOD_ACK;
    snprintf(ack.ruri, sizeof(ack.ruri), "%s", ua->dlg_target);
    snprintf(ack.to, sizeof(ack.to), "%s", ua->dlg_to);
    snprintf(ack.call_id, sizeof(ack.call_id), "%s", ua->dlg_call_id);
    snprintf(ack.from_tag, sizeof(ack.from_tag), "%s", ua->req.from_tag);
    ack.cseq = ua->dlg_cseq;
    ack.routes = ua->dlg_routes.len ? ua->dlg_routes.p : NULL;
    bench_ua_send_other(ua, &ack);
}

/* The dialog from the INVITE's 2xx: remote target, To with its tag, route
 * set. -1 when the 2xx has no usable Contact. */
static int take_dialog(struct bench_ua *ua, struct wsip_msg *m)
{
    struct wsip_hdr *ch = wsip_msg_hdr(m, WSIP_HDR_CONTACT);
    const struct wsip_addr *c = ch ? wsip_hdr_addr(m, ch, NULL) : NULL;
    struct wsip_hdr *to = wsip_msg_hdr(m, WSIP_HDR_TO);
    if (!c || c->star || !to || c->uri.raw.len >= sizeof(ua->dlg_target) ||
        to->value.len >= sizeof(ua->dlg_to))
        return -1;
    wsip_str_copy(c->uri.raw, ua->dlg_target, sizeof(ua->dlg_target));
    wsip_str_copy(to->value, ua->dlg_to, sizeof(ua->dlg_to));
    snprintf(ua->dlg_call_id, sizeof(ua->dlg_call_id), "%s", ua->req.call_id);
    ua->dlg_cseq = ua->req.cseq;
    ua->dlg_routes.len = 0;
    ua->dlg_routes.oom = false;
    bench_hdr_lines(&ua->dlg_routes, m, WSIP_HDR_RECORD_ROUTE, "Route", true);
    return ua->dlg_routes.oom ? -1 : 0;
}

static void invite_response(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m,
                            uint64_t now)
{
    if (m->status < 200)
        return; /* 100 from the server, 180 from the callee */
    if (m->status >= 300) {
        bench_run_fail(r, ua, "INVITE refused", m->status, now); /* ACKed by ua.c */
        return;
    }
    ua->t_mark = now - ua->t_op; /* the setup latency */
    if (take_dialog(ua, m) < 0) {
        bench_run_fail(r, ua, "INVITE's 200 without a usable Contact", m->status, now);
        return;
    }
    send_ack(ua);
    /* hang up at once: BYE along the same dialog */
    struct bench_req *b = &ua->req;
    b->method = WSIP_METHOD_BYE;
    snprintf(b->ruri, sizeof(b->ruri), "%s", ua->dlg_target);
    snprintf(b->to, sizeof(b->to), "%s", ua->dlg_to);
    b->cseq = ua->dlg_cseq + 1;
    b->routes = ua->dlg_routes.len ? ua->dlg_routes.p : NULL;
    b->extra[0] = '\0';
    b->ctype = NULL;
    b->body = NULL;
    b->body_len = 0;
    ua->answered = 0;
    ua->step = STEP_BYE;
    if (bench_ua_send(ua, now) < 0)
        bench_run_fail(r, ua, "cannot send BYE", 0, now);
}

static void call_response(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m,
                          uint64_t now)
{
    if (ua->step == STEP_INVITE) {
        invite_response(r, ua, m, now);
        return;
    }
    if (m->status < 200)
        return;
    if (m->status >= 300) {
        bench_run_fail(r, ua, "BYE refused", m->status, now);
        return;
    }
    bench_hist_add(&r->t.lat2, now - ua->t_op);
    bench_run_ok(r, ua, ua->t_mark, now);
}

/* A 2xx to our INVITE again (its ACK was lost): ACK it again. */
static bool call_stray(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m)
{
    (void)r;
    const struct wsip_cseq *cs = wsip_msg_cseq(m, NULL);
    if (!cs || cs->method_id != WSIP_METHOD_INVITE || m->status < 200 || m->status >= 300 ||
        cs->num != ua->dlg_cseq || !wsip_str_eq_cstr(wsip_msg_call_id(m), ua->dlg_call_id))
        return false;
    send_ack(ua);
    return true;
}

/* The called side: 180 and 200 with an SDP answer at once, 200 to BYE. */
static void call_request(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m)
{
    if (bench_ua_retransmission(ua, m))
        return;
    switch (m->method_id) {
    case WSIP_METHOD_INVITE: {
        struct wsip_sbuf *x = &r->extra;
        char contact[280], sdp[1024];
        x->len = 0;
        x->oom = false;
        bench_hdr_lines(x, m, WSIP_HDR_RECORD_ROUTE, "Record-Route", false);
        dialog_contact(ua, contact, sizeof(contact));
        wsip_sbuf_puts(x, contact);
        if (x->oom)
            return;
        bench_ua_answer(ua, m, 180, x->p, NULL, NULL, 0);
        wsip_sbuf_puts(x, ALLOW_HDR);
        size_t n = bench_ua_sdp(ua, false, sdp, sizeof(sdp));
        if (!x->oom)
            bench_ua_answer(ua, m, 200, x->p, "application/sdp", sdp, n);
        return;
    }
    case WSIP_METHOD_BYE:
    case WSIP_METHOD_CANCEL: bench_ua_answer(ua, m, 200, NULL, NULL, NULL, 0); return;
    default: bench_run_other_request(r, ua, m); return;
    }
}

static const struct bench_sipmode call_mode = {
    .unit = "calls",
    .lat_what = "setup: INVITE sent to its 200, challenge included",
    .lat2_what = "INVITE sent to the BYE's 200",
    .register_first = true,
    .pairs = true,
    .start = call_start,
    .response = call_response,
    .stray = call_stray,
    .request = call_request,
};

int bench_mode_call(struct bench_opts *o)
{
    return bench_sip_run(o, &call_mode);
}

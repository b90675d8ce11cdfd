/* Requests built from scratch out of another message: the CANCEL for a
 * pending request (RFC 3261 sec 9.1) and the ACK a client transaction sends
 * for a non-2xx final response to INVITE (sec 17.1.1.3). Both copy header
 * values verbatim: they must match the request they refer to byte for byte
 * where the RFC says "the same as". */
#include <string.h>

#include "sip/sip_int.h"

static void put(struct wsip_sbuf *out, const char *name, struct wsip_str v)
{
    wsip_sbuf_puts(out, name);
    wsip_sbuf_append(out, ": ", 2);
    wsip_sbuf_append(out, v.p, v.len);
    wsip_sbuf_append(out, "\r\n", 2);
}

static void put_all(struct wsip_sbuf *out, struct wsip_msg *m, enum wsip_hdr_id id)
{
    for (struct wsip_hdr *h = wsip_msg_hdr(m, id); h; h = wsip_msg_hdr_next(m, h))
        put(out, wsip_hdr_name(id), h->value);
}

/* The headers CANCEL and ACK share: Request-URI, the top Via, Max-Forwards,
 * From, Call-ID, the CSeq number with the new method, and the Route set. */
static int common(struct wsip_sbuf *out, struct wsip_msg *req, const char *method,
                  struct wsip_str to, struct wsip_str extra)
{
    const struct wsip_cseq *cseq = wsip_msg_cseq(req, NULL);
    struct wsip_hdr *via = wsip_msg_hdr(req, WSIP_HDR_VIA);
    struct wsip_hdr *from = wsip_msg_hdr(req, WSIP_HDR_FROM);
    struct wsip_hdr *callid = wsip_msg_hdr(req, WSIP_HDR_CALL_ID);
    if (!req->is_request || !cseq || !via || !from || !callid || !to.len)
        return -1;
    if (extra.len && (extra.len < 2 || memcmp(extra.p + extra.len - 2, "\r\n", 2) != 0))
        return -1;
    size_t start = out->len;
    wsip_sbuf_printf(out, "%s %.*s SIP/2.0\r\n", method, (int)req->ruri_str.len, req->ruri_str.p);
    /* only the top Via: the one the request was sent with (sec 9.1) */
    put(out, "Via", via->value);
    int mf = wsip_msg_max_forwards(req);
    wsip_sbuf_printf(out, "Max-Forwards: %d\r\n", mf >= 0 ? mf : 70);
    put(out, "From", from->value);
    put(out, "To", to);
    put(out, "Call-ID", callid->value);
    wsip_sbuf_printf(out, "CSeq: %u %s\r\n", cseq->num, method);
    put_all(out, req, WSIP_HDR_ROUTE);
    wsip_sbuf_append(out, extra.p, extra.len);
    wsip_sbuf_puts(out, "Content-Length: 0\r\n\r\n");
    if (out->oom) {
        out->len = start;
        return -1;
    }
    return 0;
}

int wsip_request_build_cancel(struct wsip_sbuf *out, struct wsip_msg *req, struct wsip_str extra)
{
    /* the To of the request, without a tag of any response (sec 9.1) */
    struct wsip_hdr *to = wsip_msg_hdr(req, WSIP_HDR_TO);
    if (!to || req->method_id == WSIP_METHOD_ACK || req->method_id == WSIP_METHOD_CANCEL)
        return -1;
    return common(out, req, "CANCEL", to->value, extra);
}

int wsip_request_build_ack(struct wsip_sbuf *out, struct wsip_msg *invite, struct wsip_msg *resp)
{
    /* the To of the response: it carries the tag (sec 17.1.1.3) */
    struct wsip_hdr *to = resp ? wsip_msg_hdr(resp, WSIP_HDR_TO) : NULL;
    if (!to || invite->method_id != WSIP_METHOD_INVITE || resp->is_request || resp->status < 300)
        return -1;
    return common(out, invite, "ACK", to->value, WSIP_STR_NULL);
}

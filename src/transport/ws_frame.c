/* RFC 6455 frame codec: the reader state machine (sec 5.2-5.5), in-place
 * unmasking (sec 5.3), close payload checks (sec 5.5.1, 7.4) and the
 * encoders. See include/wsip/ws.h for the policy and the buffer rules. */
#include <stdlib.h>
#include <string.h>

#include "wsip/ws.h"

#define DEFAULT_CAP 65536

/* Frame header fields, parsed from the first 2..14 bytes. */
struct frame {
    bool fin;
    uint8_t opcode;
    uint8_t key[4];
    size_t hdr_len;
    uint64_t len;
};

void wsip_ws_limits_default(struct wsip_ws_limits *lim)
{
    lim->max_frame = DEFAULT_CAP;
    lim->max_message = DEFAULT_CAP;
}

void wsip_ws_reader_init(struct wsip_ws_reader *r, enum wsip_ws_role role,
                         const struct wsip_ws_limits *lim)
{
    memset(r, 0, sizeof(*r));
    if (lim)
        r->lim = *lim;
    else
        wsip_ws_limits_default(&r->lim);
    r->server = role == WSIP_WS_SERVER;
}

static void msg_release(struct wsip_ws_reader *r)
{
    free(r->msg);
    r->msg = NULL;
    r->msg_len = r->msg_cap = r->utf8_done = 0;
}

void wsip_ws_reader_free(struct wsip_ws_reader *r)
{
    msg_release(r);
    r->in_message = false;
}

bool wsip_ws_close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

/* ---------------------------------------------------------------- masking */

static uint64_t key_word(const uint8_t key[4])
{
    uint8_t k[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    uint64_t w;
    memcpy(&w, k, sizeof(w)); /* byte order in memory is what matters, not the value */
    return w;
}

void wsip_ws_mask(uint8_t *p, size_t n, const uint8_t key[4])
{
    uint64_t k = key_word(key);
    size_t i = 0;
    for (; n - i >= 32; i += 32) { /* four independent words per step */
        uint64_t w[4];
        memcpy(w, p + i, 32);
        w[0] ^= k;
        w[1] ^= k;
        w[2] ^= k;
        w[3] ^= k;
        memcpy(p + i, w, 32);
    }
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++) /* i is a multiple of 8 here, so the key phase is i & 3 */
        p[i] ^= key[i & 3];
}

void wsip_ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4])
{
    uint64_t k = key_word(key);
    size_t i = 0;
    for (; n - i >= 32; i += 32) {
        uint64_t w[4];
        memcpy(w, src + i, 32);
        w[0] ^= k;
        w[1] ^= k;
        w[2] ^= k;
        w[3] ^= k;
        memcpy(dst + i, w, 32);
    }
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= k;
        memcpy(dst + i, &w, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ key[i & 3];
}

/* ----------------------------------------------------------------- reader */

static int fail(struct wsip_ws_reader *r, struct wsip_ws_event *ev, uint16_t code,
                const char *reason)
{
    r->err_code = code;
    r->err_reason = reason;
    ev->code = code;
    ev->reason = reason;
    return WSIP_WS_ERROR;
}

static bool is_control(uint8_t op)
{
    return (op & 0x8) != 0;
}

/* Parses and checks the header at buf[0..len). Returns 1 when the whole
 * header is there, 0 when more bytes are needed (*need set), or -1 with
 * *code and *why set. Each check runs as soon as its bytes are present. */
static int parse_header(const struct wsip_ws_reader *r, const uint8_t *buf, size_t len,
                        struct frame *f, size_t *need, uint16_t *code, const char **why)
{
    *code = WSIP_WS_CODE_PROTOCOL;
    if (len < 2) {
        *need = 2;
        return 0;
    }
    uint8_t b0 = buf[0], b1 = buf[1];
    f->fin = (b0 & 0x80) != 0;
    f->opcode = b0 & 0x0f;
    bool masked = (b1 & 0x80) != 0;
    uint8_t len7 = b1 & 0x7f;

    if (b0 & 0x70) {
        *why = "reserved bit set without a negotiated extension";
        return -1;
    }
    if (is_control(f->opcode)) {
        if (f->opcode > WSIP_WS_OP_PONG) {
            *why = "reserved control opcode";
            return -1;
        }
        if (!f->fin) {
            *why = "fragmented control frame";
            return -1;
        }
        if (len7 > 125) {
            *why = "control frame payload over 125 bytes";
            return -1;
        }
    } else if (f->opcode > WSIP_WS_OP_BINARY) {
        *why = "reserved data opcode";
        return -1;
    } else if (f->opcode == WSIP_WS_OP_CONT && !r->in_message) {
        *why = "continuation frame without a message to continue";
        return -1;
    } else if (f->opcode != WSIP_WS_OP_CONT && r->in_message) {
        *why = "new data frame inside a fragmented message";
        return -1;
    }
    if (masked != r->server) {
        *why = r->server ? "unmasked frame from a client" : "masked frame from a server";
        return -1;
    }

    size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    if (len < 2 + ext) {
        *need = 2 + ext;
        return 0;
    }
    if (ext == 0) {
        f->len = len7;
    } else {
        /* a longer form than needed is accepted, see ws.h */
        f->len = 0;
        for (size_t i = 0; i < ext; i++)
            f->len = f->len << 8 | buf[2 + i];
        if (f->len >> 63) {
            *why = "64-bit payload length with the top bit set";
            return -1;
        }
    }
    if (!is_control(f->opcode)) {
        size_t before = f->opcode == WSIP_WS_OP_CONT ? r->msg_len : 0;
        *code = WSIP_WS_CODE_TOO_BIG;
        if (f->len > r->lim.max_frame) {
            *why = "frame payload over the limit";
            return -1;
        }
        if (before > r->lim.max_message || f->len > r->lim.max_message - before) {
            *why = "message over the limit";
            return -1;
        }
        *code = WSIP_WS_CODE_PROTOCOL;
    }

    f->hdr_len = 2 + ext + (masked ? 4 : 0);
    if (len < f->hdr_len) {
        *need = f->hdr_len;
        return 0;
    }
    if (masked)
        memcpy(f->key, buf + 2 + ext, 4);
    return 1;
}

/* Appends a fragment to the reassembly buffer; the caps were checked. */
static bool msg_append(struct wsip_ws_reader *r, const uint8_t *p, size_t n)
{
    if (n == 0)
        return true;
    size_t want = r->msg_len + n;
    if (want > r->msg_cap) {
        size_t cap = r->msg_cap ? r->msg_cap : 1024;
        while (cap < want)
            cap *= 2;
        if (cap > r->lim.max_message)
            cap = r->lim.max_message; /* >= want: the cap check came first */
        uint8_t *m = realloc(r->msg, cap);
        if (!m)
            return false;
        r->msg = m;
        r->msg_cap = cap;
    }
    memcpy(r->msg + r->msg_len, p, n);
    r->msg_len = want;
    return true;
}

/* Checks the UTF-8 of the fragments added since the last check; at the
 * end of the message nothing may be left unfinished. */
static bool msg_utf8_ok(struct wsip_ws_reader *r, bool last)
{
    size_t done;
    if (r->msg_len > r->utf8_done) { /* msg is still NULL after empty fragments */
        if (wsip_utf8_prefix(r->msg + r->utf8_done, r->msg_len - r->utf8_done, &done) < 0)
            return false;
        r->utf8_done += done;
    }
    return !last || r->utf8_done == r->msg_len;
}

static int close_event(struct wsip_ws_reader *r, const uint8_t *p, size_t n,
                       struct wsip_ws_event *ev)
{
    if (n == 1)
        return fail(r, ev, WSIP_WS_CODE_PROTOCOL, "close frame with a 1-byte payload");
    ev->code = WSIP_WS_CODE_NO_STATUS;
    ev->data = p;
    ev->len = 0;
    if (n >= 2) {
        unsigned code = (unsigned)p[0] << 8 | p[1];
        if (!wsip_ws_close_code_valid(code))
            return fail(r, ev, WSIP_WS_CODE_PROTOCOL, "invalid close status code");
        if (!wsip_utf8_valid(p + 2, n - 2))
            return fail(r, ev, WSIP_WS_CODE_INVALID_DATA, "close reason is not valid UTF-8");
        ev->code = (uint16_t)code;
        ev->data = p + 2;
        ev->len = n - 2;
    }
    r->closed = true;
    return WSIP_WS_CLOSE;
}

/* Handles one whole frame whose payload is p[0..n), unmasked. Returns the
 * event, or AGAIN for a fragment that completes nothing. */
static int frame_event(struct wsip_ws_reader *r, const struct frame *f, const uint8_t *p, size_t n,
                       struct wsip_ws_event *ev)
{
    ev->opcode = (enum wsip_ws_opcode)f->opcode;
    switch (f->opcode) {
    case WSIP_WS_OP_PING:
    case WSIP_WS_OP_PONG:
        ev->data = p;
        ev->len = n;
        return f->opcode == WSIP_WS_OP_PING ? WSIP_WS_PING : WSIP_WS_PONG;
    case WSIP_WS_OP_CLOSE: return close_event(r, p, n, ev);
    case WSIP_WS_OP_TEXT:
    case WSIP_WS_OP_BINARY:
        if (f->fin) { /* the common case: one frame, zero copy */
            if (f->opcode == WSIP_WS_OP_TEXT && !wsip_utf8_valid(p, n))
                return fail(r, ev, WSIP_WS_CODE_INVALID_DATA, "text message is not valid UTF-8");
            ev->data = p;
            ev->len = n;
            return WSIP_WS_MESSAGE;
        }
        r->in_message = true;
        r->msg_opcode = f->opcode;
        break;
    default: /* continuation; parse_header checked that a message is open */ break;
    }

    if (!msg_append(r, p, n))
        return fail(r, ev, WSIP_WS_CODE_INTERNAL, "out of memory reassembling a message");
    if (r->msg_opcode == WSIP_WS_OP_TEXT && !msg_utf8_ok(r, f->fin))
        return fail(r, ev, WSIP_WS_CODE_INVALID_DATA, "text message is not valid UTF-8");
    if (!f->fin)
        return WSIP_WS_AGAIN;
    r->in_message = false;
    ev->opcode = (enum wsip_ws_opcode)r->msg_opcode;
    ev->data = r->msg ? r->msg : (const uint8_t *)"";
    ev->len = r->msg_len;
    ev->fragmented = true;
    return WSIP_WS_MESSAGE;
}

int wsip_ws_read(struct wsip_ws_reader *r, uint8_t *buf, size_t len, size_t *consumed,
                 struct wsip_ws_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->data = (const uint8_t *)"";
    *consumed = 0;
    if (r->err_code)
        return fail(r, ev, r->err_code, r->err_reason);
    if (r->closed) {
        *consumed = len; /* nothing may follow a close (sec 5.5.1) */
        return WSIP_WS_AGAIN;
    }
    if (!r->in_message && r->msg)
        msg_release(r); /* the last reassembled message was handed out */
    if (len == 0) {
        ev->need = 2; /* buf may be NULL: no arithmetic on it */
        return WSIP_WS_AGAIN;
    }

    size_t off = 0;
    for (;;) {
        struct frame f;
        uint16_t code = 0;
        const char *why = NULL;
        int hr = parse_header(r, buf + off, len - off, &f, &ev->need, &code, &why);
        if (hr < 0)
            return fail(r, ev, code, why);
        if (hr == 0)
            return WSIP_WS_AGAIN;
        /* f.len <= 125 or <= max_frame here, so it fits a size_t */
        size_t plen = (size_t)f.len;
        if (len - off - f.hdr_len < plen) {
            ev->need = f.hdr_len + plen;
            return WSIP_WS_AGAIN;
        }
        uint8_t *p = buf + off + f.hdr_len;
        if (r->server)
            wsip_ws_mask(p, plen, f.key);
        off += f.hdr_len + plen;
        *consumed = off;
        int rc = frame_event(r, &f, p, plen, ev);
        if (rc != WSIP_WS_AGAIN)
            return rc;
    }
}

/* ---------------------------------------------------------------- encoder */

size_t wsip_ws_header(uint8_t out[WSIP_WS_HEADER_MAX], enum wsip_ws_opcode op, bool fin,
                      uint64_t len, const uint8_t *key)
{
    uint8_t m = key ? 0x80 : 0;
    size_t n;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)(m | len);
        n = 2;
    } else if (len <= 0xffff) {
        out[1] = m | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = m | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (key) {
        memcpy(out + n, key, 4);
        n += 4;
    }
    return n;
}

size_t wsip_ws_frame_size(size_t len, bool masked)
{
    size_t h = len < 126 ? 2 : len <= 0xffff ? 4 : 10;
    return h + (masked ? 4 : 0) + len;
}

size_t wsip_ws_frame(uint8_t *out, size_t cap, enum wsip_ws_opcode op, bool fin,
                     const uint8_t *payload, size_t len, const uint8_t *key)
{
    size_t hlen = wsip_ws_frame_size(len, key != NULL) - len;
    if (cap < hlen || cap - hlen < len)
        return 0;
    wsip_ws_header(out, op, fin, len, key);
    if (len == 0)
        return hlen;
    if (key)
        wsip_ws_mask_copy(out + hlen, payload, len, key);
    else
        memcpy(out + hlen, payload, len);
    return hlen + len;
}

/* Control frame with payload a[0..alen) followed by b[0..blen). */
static size_t control_frame(uint8_t out[WSIP_WS_CONTROL_MAX], enum wsip_ws_opcode op,
                            const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                            const uint8_t *key)
{
    if (alen > 125 || blen > 125 - alen)
        return 0;
    size_t h = wsip_ws_header(out, op, true, alen + blen, key);
    if (alen)
        memcpy(out + h, a, alen);
    if (blen)
        memcpy(out + h + alen, b, blen);
    if (key)
        wsip_ws_mask(out + h, alen + blen, key);
    return h + alen + blen;
}

size_t wsip_ws_close_frame(uint8_t out[WSIP_WS_CONTROL_MAX], uint16_t code, const char *reason,
                           const uint8_t *key)
{
    if (code == 0)
        return control_frame(out, WSIP_WS_OP_CLOSE, NULL, 0, NULL, 0, key);
    uint8_t c[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > 123) {
        rlen = 123;
        /* back up to a code point start so the reason stays valid UTF-8 */
        while (rlen > 0 && ((uint8_t)reason[rlen] & 0xC0) == 0x80)
            rlen--;
    }
    return control_frame(out, WSIP_WS_OP_CLOSE, c, 2, (const uint8_t *)reason, rlen, key);
}

size_t wsip_ws_ping_frame(uint8_t out[WSIP_WS_CONTROL_MAX], const uint8_t *payload, size_t len,
                          const uint8_t *key)
{
    return control_frame(out, WSIP_WS_OP_PING, payload, len, NULL, 0, key);
}

size_t wsip_ws_pong_frame(uint8_t out[WSIP_WS_CONTROL_MAX], const uint8_t *payload, size_t len,
                          const uint8_t *key)
{
    return control_frame(out, WSIP_WS_OP_PONG, payload, len, NULL, 0, key);
}

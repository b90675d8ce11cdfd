/* Fuzz target: the WebSocket frame reader (both roles), the encoders and the
 * UTF-8 validator.
 *
 * The input is read two ways:
 * - raw: the whole input is the byte stream, default caps (so the shared
 *   corpus frames and plain frame seeds mean what they say);
 * - controlled: byte 0 picks the caps (bit 7 clear: max_frame = (b & 0x1f)
 *   * 8, max_message = max_frame + ((b >> 5) & 3) * 24; set: defaults),
 *   byte 1 the delivery (where the first cut falls and the chunk size after
 *   it), and the rest is the stream.
 * Each stream goes through a server reader and a client reader, once in one
 * piece and once cut into chunks; both deliveries must give the same events.
 * Every event is checked against the rules (caps, UTF-8 of text and close
 * reasons, codes) and every payload is read in full from an exact-size heap
 * copy, so a read past the bytes given shows up under ASan. Each message is
 * re-encoded and decoded again. Invariant failures print
 * fuzz_ws_frame.c:LINE: invariant failed and trap. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsip/ws.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* replay (standalone.c): the shared corpus frames, websocket/frames/ *.bin */
const char *const wsip_fuzz_seed_exts[] = {".bin", NULL};

#define MAX_EVENTS 64

static volatile unsigned char sink;

/* An event reduced to what two deliveries must agree on. */
struct sum {
    int rc;
    int opcode;
    unsigned code;
    bool frag;
    size_t len;
    uint64_t hash;
};

struct run {
    struct sum ev[MAX_EVENTS];
    int n;
    bool truncated; /* stopped at MAX_EVENTS */
};

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Encodes a message again and decodes it with a fresh reader. */
static void reencode(const uint8_t *p, size_t n, enum wsip_ws_opcode op, bool masked)
{
    static const uint8_t key[4] = {0xa1, 0xb2, 0xc3, 0xd4};
    size_t cap = wsip_ws_frame_size(n, masked);
    uint8_t *f = malloc(cap);
    if (!f)
        return;
    CHECK(wsip_ws_frame(f, cap - 1, op, true, p, n, masked ? key : NULL) == 0);
    CHECK(wsip_ws_frame(f, cap, op, true, p, n, masked ? key : NULL) == cap);
    struct wsip_ws_limits lim = {n, n};
    struct wsip_ws_reader r;
    struct wsip_ws_event ev;
    size_t used;
    wsip_ws_reader_init(&r, masked ? WSIP_WS_SERVER : WSIP_WS_CLIENT, &lim);
    CHECK(wsip_ws_read(&r, f, cap, &used, &ev) == WSIP_WS_MESSAGE);
    CHECK(used == cap && ev.opcode == op && ev.len == n && !ev.fragmented);
    CHECK(n == 0 || memcmp(ev.data, p, n) == 0);
    wsip_ws_reader_free(&r);
    free(f);
}

static void check_event(int rc, const struct wsip_ws_event *ev, const struct wsip_ws_limits *lim,
                        bool server)
{
    switch (rc) {
    case WSIP_WS_MESSAGE:
        CHECK(ev->opcode == WSIP_WS_OP_TEXT || ev->opcode == WSIP_WS_OP_BINARY);
        CHECK(ev->len <= lim->max_message);
        CHECK(ev->fragmented || ev->len <= lim->max_frame);
        if (ev->opcode == WSIP_WS_OP_TEXT)
            CHECK(wsip_utf8_valid(ev->data, ev->len));
        reencode(ev->data, ev->len, ev->opcode, !server);
        break;
    case WSIP_WS_PING:
    case WSIP_WS_PONG:
        CHECK(ev->opcode == (rc == WSIP_WS_PING ? WSIP_WS_OP_PING : WSIP_WS_OP_PONG));
        CHECK(ev->len <= 125 && !ev->fragmented);
        break;
    case WSIP_WS_CLOSE:
        CHECK(ev->opcode == WSIP_WS_OP_CLOSE);
        CHECK(ev->len <= 123);
        CHECK(wsip_utf8_valid(ev->data, ev->len));
        if (ev->code == WSIP_WS_CODE_NO_STATUS)
            CHECK(ev->len == 0);
        else
            CHECK(wsip_ws_close_code_valid(ev->code));
        break;
    default: CHECK(!"unexpected return code");
    }
}

/* Replaces *rx (len *rx_len) by an exact-size copy of its bytes from off on,
 * followed by add[0..add_len). Returns false when out of memory. */
static bool remake(uint8_t **rx, size_t *rx_len, size_t off, const uint8_t *add, size_t add_len)
{
    size_t keep = *rx_len - off, n = keep + add_len;
    uint8_t *p = NULL;
    if (n) {
        p = malloc(n);
        if (!p)
            return false;
        if (keep)
            memcpy(p, *rx + off, keep);
        if (add_len)
            memcpy(p + keep, add, add_len);
    }
    free(*rx);
    *rx = p;
    *rx_len = n;
    return true;
}

/* Feeds stream[0..n) to a fresh reader: the first cut bytes, then chunks
 * of step bytes (cut == n: all at once). The receive buffer is an exact-size
 * heap block, re-made after each arrival and each consumption. */
static void feed(enum wsip_ws_role role, const struct wsip_ws_limits *lim, const uint8_t *stream,
                 size_t n, size_t cut, size_t step, struct run *out)
{
    struct wsip_ws_reader r;
    wsip_ws_reader_init(&r, role, lim);
    memset(out, 0, sizeof(*out));
    uint8_t *rx = NULL;
    size_t rx_len = 0, pos = 0;
    bool done = false;
    while (pos < n && !done) {
        size_t chunk = pos == 0 ? cut : step;
        if (chunk == 0)
            chunk = 1;
        if (chunk > n - pos)
            chunk = n - pos;
        if (!remake(&rx, &rx_len, 0, stream + pos, chunk))
            break;
        pos += chunk;

        size_t off = 0;
        for (;;) {
            size_t used = (size_t)-1;
            struct wsip_ws_event ev;
            int rc = wsip_ws_read(&r, rx + off, rx_len - off, &used, &ev);
            CHECK(used <= rx_len - off);
            CHECK(ev.data != NULL);
            size_t before = off;
            off += used;
            if (rc == WSIP_WS_AGAIN) {
                if (!r.closed)
                    CHECK(ev.need > rx_len - off);
                break;
            }
            if (rc == WSIP_WS_ERROR) {
                CHECK(ev.code == WSIP_WS_CODE_PROTOCOL || ev.code == WSIP_WS_CODE_INVALID_DATA ||
                      ev.code == WSIP_WS_CODE_TOO_BIG || ev.code == WSIP_WS_CODE_INTERNAL);
                CHECK(ev.reason != NULL && ev.reason[0] != '\0');
                struct wsip_ws_event ev2;
                CHECK(wsip_ws_read(&r, rx + off, rx_len - off, &used, &ev2) == WSIP_WS_ERROR);
                CHECK(ev2.code == ev.code && used == 0);
                if (out->n < MAX_EVENTS)
                    out->ev[out->n++] = (struct sum){rc, 0, ev.code, false, 0, 0};
                done = true;
                break;
            }
            if (!ev.fragmented)
                CHECK(ev.data >= rx + before && ev.len <= (size_t)(rx + off - ev.data));
            check_event(rc, &ev, lim, role == WSIP_WS_SERVER);
            if (out->n == MAX_EVENTS) {
                out->truncated = true;
                done = true;
                break;
            }
            out->ev[out->n++] =
                (struct sum){rc, ev.opcode, ev.code, ev.fragmented, ev.len, fnv(ev.data, ev.len)};
        }
        if (!remake(&rx, &rx_len, off, NULL, 0))
            break;
    }
    free(rx);
    wsip_ws_reader_free(&r);
}

static void same_runs(const struct run *a, const struct run *b)
{
    if (a->truncated || b->truncated)
        return;
    CHECK(a->n == b->n);
    for (int i = 0; i < a->n; i++) {
        const struct sum *x = &a->ev[i], *y = &b->ev[i];
        CHECK(x->rc == y->rc && x->opcode == y->opcode && x->code == y->code);
        CHECK(x->frag == y->frag && x->len == y->len && x->hash == y->hash);
    }
}

static void drive(const uint8_t *stream, size_t n, const struct wsip_ws_limits *lim, size_t cut,
                  size_t step)
{
    if (step < n / 64)
        step = n / 64; /* each arrival copies the buffer: keep big inputs linear-ish */
    for (int role = WSIP_WS_SERVER; role <= WSIP_WS_CLIENT; role++) {
        struct run whole, split;
        feed((enum wsip_ws_role)role, lim, stream, n, n, n, &whole);
        feed((enum wsip_ws_role)role, lim, stream, n, cut, step, &split);
        same_runs(&whole, &split);
    }
}

/* The validator's two forms agree, and masking twice is the identity. */
static void check_utf8_and_mask(const uint8_t *p, size_t n)
{
    size_t done = (size_t)-1;
    int rc = wsip_utf8_prefix(p, n, &done);
    bool valid = wsip_utf8_valid(p, n);
    CHECK(rc == 0 || rc == -1);
    CHECK(valid == (rc == 0 && done == n));
    if (rc == 0) {
        CHECK(done <= n && n - done <= 3);
        CHECK(wsip_utf8_valid(p, done));
    }
    uint8_t *c = malloc(n ? n : 1);
    if (!c)
        return;
    if (n)
        memcpy(c, p, n);
    uint8_t key[4] = {0x5a, n ? p[0] : 0, 0, 0xff};
    wsip_ws_mask(c, n, key);
    wsip_ws_mask_copy(c, c, n, key);
    CHECK(n == 0 || memcmp(c, p, n) == 0);
    free(c);
}

/* Decodes a close frame built by wsip_ws_close_frame: what comes out is
 * what went in, the reason cut to at most 123 bytes. */
static void check_close(uint16_t code, const char *reason)
{
    uint8_t f[WSIP_WS_CONTROL_MAX];
    size_t fl = wsip_ws_close_frame(f, code, reason, NULL);
    CHECK(fl >= 2 && fl <= WSIP_WS_CONTROL_MAX);
    size_t rlen = strlen(reason);
    size_t sent = code ? fl - 4 : 0; /* reason bytes in the frame */
    CHECK(code ? fl >= 4 : fl == 2);
    CHECK(sent <= 123 && sent <= rlen);
    if (code && rlen <= 123)
        CHECK(sent == rlen);
    CHECK(sent == 0 || memcmp(f + 4, reason, sent) == 0);

    struct wsip_ws_reader r;
    struct wsip_ws_event ev;
    size_t used;
    wsip_ws_reader_init(&r, WSIP_WS_CLIENT, NULL);
    int rc = wsip_ws_read(&r, f, fl, &used, &ev);
    if (code == 0) {
        CHECK(rc == WSIP_WS_CLOSE && ev.code == WSIP_WS_CODE_NO_STATUS);
    } else if (wsip_ws_close_code_valid(code) && wsip_utf8_valid((const uint8_t *)reason, sent)) {
        CHECK(rc == WSIP_WS_CLOSE && ev.code == code);
        CHECK(ev.len == sent && (sent == 0 || memcmp(ev.data, reason, sent) == 0));
    } else {
        CHECK(rc == WSIP_WS_ERROR);
    }
    wsip_ws_reader_free(&r);
}

/* The control-frame builders on bytes from the input. */
static void check_builders(const uint8_t *p, size_t n)
{
    uint8_t f[WSIP_WS_CONTROL_MAX];
    size_t len = n > 125 ? 125 : n;
    CHECK(wsip_ws_ping_frame(f, p, len, NULL) == 2 + len);
    CHECK(len == 0 || memcmp(f + 2, p, len) == 0);
    if (n >= 126)
        CHECK(wsip_ws_pong_frame(f, p, 126, NULL) == 0);
    char reason[200];
    size_t rl = n > sizeof(reason) - 1 ? sizeof(reason) - 1 : n;
    if (rl)
        memcpy(reason, p, rl);
    reason[rl] = '\0';
    uint16_t code = n >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : 1000;
    check_close(code, reason);
    check_close(1000, reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wsip_ws_limits def;
    wsip_ws_limits_default(&def);

    /* raw: a data-derived cut from the last byte, then small chunks */
    size_t cut = size ? (size_t)data[size - 1] * size / 256 : 0;
    drive(data, size, &def, cut, 1 + (size ? data[0] % 7 : 0));

    if (size >= 2) {
        uint8_t ctl = data[0], dl = data[1];
        struct wsip_ws_limits lim = def;
        if (!(ctl & 0x80)) {
            lim.max_frame = (size_t)(ctl & 0x1f) * 8;
            lim.max_message = lim.max_frame + (size_t)((ctl >> 5) & 3) * 24;
        }
        size_t n = size - 2;
        drive(data + 2, n, &lim, (size_t)(dl >> 3) * n / 32, 1 + (dl & 7));
    }

    check_utf8_and_mask(data, size);
    check_builders(data, size);
    sink = (unsigned char)size;
    return 0;
}

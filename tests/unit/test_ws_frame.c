/* WebSocket frame codec: the shared corpus vectors (websocket/frames.tsv and
 * the frames/ .bin files) in both roles and under every way of splitting the bytes,
 * the error cases with their close codes, fragmentation, caps, the
 * encoders, unmasking and the UTF-8 validator against naive references. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "testutil.h"
#include "wsip/ws.h"

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

/* ------------------------------------------------------------- helpers */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, so a failure reproduces */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static size_t hex_decode(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*s) {
        if (*s == ' ' || *s == '|') {
            s++;
            continue;
        }
        unsigned v;
        ck_assert_msg(sscanf(s, "%2x", &v) == 1 && s[1], "bad hex at '%.8s'", s);
        ck_assert_msg(n < cap, "hex longer than %zu bytes", cap);
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static const char *rc_name(int rc)
{
    switch (rc) {
    case WSIP_WS_ERROR: return "ERROR";
    case WSIP_WS_AGAIN: return "AGAIN";
    case WSIP_WS_MESSAGE: return "MESSAGE";
    case WSIP_WS_PING: return "PING";
    case WSIP_WS_PONG: return "PONG";
    case WSIP_WS_CLOSE: return "CLOSE";
    default: return "?";
    }
}

/* One event as recorded by the feeder (payload copied). */
struct rec {
    int rc;
    int opcode;
    unsigned code;
    bool frag;
    uint8_t *data;
    size_t len;
};

#define MAX_EVENTS 16

struct recs {
    struct rec ev[MAX_EVENTS];
    int n;
    size_t left; /* bytes never consumed */
};

static void recs_free(struct recs *rs)
{
    for (int i = 0; i < rs->n; i++)
        free(rs->ev[i].data);
    memset(rs, 0, sizeof(*rs));
}

static void rec_add(struct recs *rs, int rc, int opcode, unsigned code, bool frag, const uint8_t *p,
                    size_t len)
{
    ck_assert_int_lt(rs->n, MAX_EVENTS);
    struct rec *e = &rs->ev[rs->n++];
    e->rc = rc;
    e->opcode = opcode;
    e->code = code;
    e->frag = frag;
    e->len = len;
    e->data = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(e->data);
    if (len)
        memcpy(e->data, p, len);
}

static void rec_str(const struct rec *e, char *out, size_t cap)
{
    int k = snprintf(out, cap, "%s(op=%d code=%u frag=%d len=%zu '", rc_name(e->rc), e->opcode,
                     e->code, e->frag, e->len);
    for (size_t i = 0; i < e->len && i < 24 && k > 0 && (size_t)k + 6 < cap; i++) {
        uint8_t c = e->data[i];
        if (c >= 0x20 && c < 0x7f)
            k += snprintf(out + k, cap - (size_t)k, "%c", c);
        else
            k += snprintf(out + k, cap - (size_t)k, "\\x%02x", c);
    }
    if (k > 0 && (size_t)k + 5 < cap)
        snprintf(out + k, cap - (size_t)k, "%s')", e->len > 24 ? "..." : "");
}

static void recs_expect_eq(const char *what, const struct recs *exp, const struct recs *got)
{
    char a[160], b[160];
    for (int i = 0; i < exp->n || i < got->n; i++) {
        if (i < exp->n)
            rec_str(&exp->ev[i], a, sizeof(a));
        else
            snprintf(a, sizeof(a), "(nothing)");
        if (i < got->n)
            rec_str(&got->ev[i], b, sizeof(b));
        else
            snprintf(b, sizeof(b), "(nothing)");
        ck_assert_msg(i < exp->n && i < got->n, "%s: event %d: expected %s, got %s", what, i, a, b);
        const struct rec *x = &exp->ev[i], *y = &got->ev[i];
        bool same = x->rc == y->rc && x->code == y->code;
        if (same && x->rc != WSIP_WS_ERROR)
            same = x->opcode == y->opcode && x->frag == y->frag && x->len == y->len &&
                   memcmp(x->data, y->data, x->len) == 0;
        size_t at = 0; /* where the payloads part, to show beyond the 24 bytes printed */
        if (!same && x->len == y->len)
            while (at < x->len && x->data[at] == y->data[at])
                at++;
        ck_assert_msg(same, "%s: event %d: expected %s, got %s (first difference at byte %zu)",
                      what, i, a, b, at);
    }
    ck_assert_msg(exp->left == got->left, "%s: expected %zu bytes left unconsumed, got %zu", what,
                  exp->left, got->left);
}

enum split { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };

/* Delivers in[0..n) to a reader in chunks, as a connection would: append,
 * drain events until AGAIN, compact. Checks the API contract on the way. */
static void feed(enum wsip_ws_role role, const struct wsip_ws_limits *lim, const uint8_t *in,
                 size_t n, enum split how, struct recs *out)
{
    struct wsip_ws_reader r;
    wsip_ws_reader_init(&r, role, lim);
    memset(out, 0, sizeof(*out));
    uint8_t *rx = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(rx);
    size_t rx_len = 0, pos = 0;
    bool failed = false;
    while (pos < n && !failed) {
        size_t chunk = n - pos;
        if (how == SPLIT_BYTES)
            chunk = 1;
        else if (how == SPLIT_RANDOM)
            chunk = 1 + (size_t)(rnd() % (rnd() % 3 == 0 ? 300 : 9));
        if (chunk > n - pos)
            chunk = n - pos;
        memcpy(rx + rx_len, in + pos, chunk);
        rx_len += chunk;
        pos += chunk;
        size_t off = 0;
        for (;;) {
            size_t used = 12345;
            struct wsip_ws_event ev;
            int rc = wsip_ws_read(&r, rx + off, rx_len - off, &used, &ev);
            ck_assert_uint_le(used, rx_len - off);
            ck_assert_ptr_nonnull(ev.data);
            size_t before = off;
            off += used;
            if (rc == WSIP_WS_AGAIN) {
                if (!r.closed)
                    ck_assert_uint_gt(ev.need, rx_len - off);
                break;
            }
            if (rc == WSIP_WS_ERROR) {
                ck_assert_ptr_nonnull(ev.reason);
                rec_add(out, rc, 0, ev.code, false, NULL, 0);
                /* sticky */
                struct wsip_ws_event ev2;
                ck_assert_int_eq(wsip_ws_read(&r, rx + off, rx_len - off, &used, &ev2),
                                 WSIP_WS_ERROR);
                ck_assert_uint_eq(ev2.code, ev.code);
                ck_assert_uint_eq(used, 0);
                failed = true;
                break;
            }
            if (!ev.fragmented) /* zero copy: inside what this call consumed */
                ck_assert_msg(ev.data >= rx + before && ev.data + ev.len <= rx + off,
                              "payload %p+%zu outside consumed bytes [%p, %p)", (void *)ev.data,
                              ev.len, (void *)(rx + before), (void *)(rx + off));
            rec_add(out, rc, ev.opcode, ev.code, ev.fragmented, ev.data, ev.len);
        }
        memmove(rx, rx + off, rx_len - off);
        rx_len -= off;
    }
    out->left = failed ? 0 : rx_len;
    free(rx);
    wsip_ws_reader_free(&r);
}

/* Feeds whole, byte by byte and in random splits; all must match exp. */
static void feed_all_ways(const char *what, enum wsip_ws_role role,
                          const struct wsip_ws_limits *lim, const uint8_t *in, size_t n,
                          const struct recs *exp)
{
    char name[200];
    struct recs got;
    static const char *const how_name[] = {"whole", "byte-by-byte", "random split"};
    for (int how = SPLIT_WHOLE; how <= SPLIT_RANDOM; how++) {
        int reps = how == SPLIT_RANDOM ? 8 : 1;
        for (int k = 0; k < reps; k++) {
            snprintf(name, sizeof(name), "%s [%s, %s #%d]", what,
                     role == WSIP_WS_SERVER ? "server" : "client", how_name[how], k);
            feed(role, lim, in, n, (enum split)how, &got);
            recs_expect_eq(name, exp, &got);
            recs_free(&got);
        }
    }
}

static void sha256_hex(const uint8_t *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    ck_assert_int_eq(EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL), 1);
    ck_assert_uint_eq(mdlen, 32);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---------------------------------------------------- corpus: frames.tsv */

enum { C_ID, C_SOURCE, C_HEX, C_MASKED, C_RESULT, C_PAYLOAD, C_NOTES, C_COUNT };

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The decoded_payload column as bytes (and a close code, if any). */
static uint8_t *payload_of(const char *dp, size_t *len, unsigned *code)
{
    uint8_t *p = NULL;
    *len = 0;
    *code = 0;
    if (strncmp(dp, "utf8:", 5) == 0) {
        *len = strlen(dp + 5);
        p = (uint8_t *)strdup(dp + 5);
    } else if (strncmp(dp, "code:", 5) == 0) {
        *code = (unsigned)strtoul(dp + 5, NULL, 10);
        const char *r = strstr(dp, "reason:");
        p = (uint8_t *)strdup(r ? r + 7 : "");
        *len = strlen((char *)p);
    } else if (strncmp(dp, "repeat:", 7) == 0) {
        unsigned byte, count;
        ck_assert_msg(sscanf(dp + 7, "0x%x*%u", &byte, &count) == 2, "bad repeat: %s", dp);
        p = malloc(count);
        memset(p, (int)byte, count);
        *len = count;
    } else if (starts(dp, "pattern:i&0xff for i in 0..")) {
        size_t last = strtoul(dp + strlen("pattern:i&0xff for i in 0.."), NULL, 10);
        p = malloc(last + 1);
        for (size_t i = 0; i <= last; i++)
            p[i] = (uint8_t)(i & 0xff);
        *len = last + 1;
    } else if (strncmp(dp, "file:", 5) == 0) {
        p = (uint8_t *)read_file(corpus_path(dp + 5), len);
    } else {
        ck_assert_msg(strcmp(dp, "-") == 0, "unknown decoded_payload form: %s", dp);
        p = malloc(1);
    }
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Frame bytes of a row: the hex column, or the .bin file its payload column
 * names (whose header must be the hex column and whose sha256 is in notes). */
static uint8_t *frames_of(const struct tsv_row *row, size_t *len, int *nframes)
{
    const char *hex = row->f[C_HEX];
    *nframes = 1;
    for (const char *s = hex; (s = strstr(s, " | ")) != NULL; s += 3)
        (*nframes)++;
    uint8_t *p = malloc(strlen(hex) / 2 + 1);
    ck_assert_ptr_nonnull(p);
    *len = hex_decode(hex, p, strlen(hex) / 2 + 1);
    const char *bin = strstr(row->f[C_PAYLOAD], "full frame in ");
    if (!bin)
        return p;
    char rel[256];
    ck_assert_int_eq(sscanf(bin + 14, "%200[^ ;\t]", rel + 10), 1);
    memcpy(rel, "websocket/", 10);
    size_t flen;
    uint8_t *file = (uint8_t *)read_file(corpus_path(rel), &flen);
    ck_assert_uint_ge(flen, *len);
    ck_assert_msg(memcmp(file, p, *len) == 0, "%s: %s does not start with the row's header",
                  row->f[C_ID], rel);
    const char *sum = strstr(row->f[C_NOTES], "sha256(frame)=");
    ck_assert_ptr_nonnull(sum);
    char got[65];
    sha256_hex(file, flen, got);
    ck_assert_msg(strncmp(sum + 14, got, 64) == 0, "%s: sha256 of %s: notes say %.64s, file is %s",
                  row->f[C_ID], rel, sum + 14, got);
    free(p);
    *len = flen;
    return file;
}

/* What a reader in this role must report for the row. */
static void row_expect(const struct tsv_row *row, enum wsip_ws_role role, int nframes,
                       struct recs *exp)
{
    const char *id = row->f[C_ID], *res = row->f[C_RESULT];
    bool masked = strcmp(row->f[C_MASKED], "yes") == 0;
    ck_assert_msg(masked || strcmp(row->f[C_MASKED], "no") == 0, "%s: masked is '%s'", id,
                  row->f[C_MASKED]);
    memset(exp, 0, sizeof(*exp));
    size_t len;
    unsigned code;
    uint8_t *p = payload_of(row->f[C_PAYLOAD], &len, &code);
    bool frag = nframes > 1;

    if (masked != (role == WSIP_WS_SERVER)) {
        /* wrong direction: a server needs masked frames, a client unmasked */
        rec_add(exp, WSIP_WS_ERROR, 0, 1002, false, NULL, 0);
    } else if (strstr(res, "[strict receivers]")) {
        /* wsip's choice for the rows where RFC 6455 leaves it open (ws.h) */
        if (strcmp(id, "computed-len-nonminimal-16bit") == 0) {
            uint8_t a[125];
            memset(a, 0x61, sizeof(a)); /* lenient, as the notes describe */
            rec_add(exp, WSIP_WS_MESSAGE, WSIP_WS_OP_BINARY, 0, false, a, sizeof(a));
        } else if (strcmp(id, "computed-close-code-1005") == 0) {
            rec_add(exp, WSIP_WS_ERROR, 0, 1002, false, NULL, 0); /* strict */
        } else {
            ck_abort_msg("%s: a [strict receivers] row without a policy here: %s", id, res);
        }
    } else if (starts(res, "protocol error if received by a server")) {
        rec_add(exp, WSIP_WS_MESSAGE, WSIP_WS_OP_TEXT, 0, frag, p, len); /* client role */
    } else if (starts(res, "protocol error (close 1002)")) {
        rec_add(exp, WSIP_WS_ERROR, 0, 1002, false, NULL, 0);
    } else if (starts(res, "close 1007")) {
        rec_add(exp, WSIP_WS_ERROR, 0, 1007, false, NULL, 0);
    } else if (starts(res, "close, no status")) {
        rec_add(exp, WSIP_WS_CLOSE, WSIP_WS_OP_CLOSE, 1005, false, NULL, 0);
    } else if (starts(res, "close, code ")) {
        ck_assert_uint_eq(code, strtoul(res + 12, NULL, 10));
        rec_add(exp, WSIP_WS_CLOSE, WSIP_WS_OP_CLOSE, code, false, p, len);
    } else if (starts(res, "text message")) {
        rec_add(exp, WSIP_WS_MESSAGE, WSIP_WS_OP_TEXT, 0, frag, p, len);
    } else if (starts(res, "binary message")) {
        rec_add(exp, WSIP_WS_MESSAGE, WSIP_WS_OP_BINARY, 0, frag, p, len);
    } else if (starts(res, "ping (empty), then text message")) {
        rec_add(exp, WSIP_WS_PING, WSIP_WS_OP_PING, 0, false, NULL, 0);
        rec_add(exp, WSIP_WS_MESSAGE, WSIP_WS_OP_TEXT, 0, true, p, len);
    } else if (starts(res, "ping")) {
        rec_add(exp, WSIP_WS_PING, WSIP_WS_OP_PING, 0, false, p, len);
    } else if (starts(res, "pong")) {
        rec_add(exp, WSIP_WS_PONG, WSIP_WS_OP_PONG, 0, false, p, len);
    } else {
        ck_abort_msg("%s: unknown expected_result '%s'", id, res);
    }
    free(p);
}

static void corpus_rows(enum wsip_ws_role role)
{
    struct tsv_row *rows;
    int n = tsv_read(corpus_path("websocket/frames.tsv"), &rows);
    ck_assert_int_ge(n, 30);
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(rows[i].n, C_COUNT);
        size_t len;
        int nframes;
        uint8_t *in = frames_of(&rows[i], &len, &nframes);
        struct recs exp;
        row_expect(&rows[i], role, nframes, &exp);
        feed_all_ways(rows[i].f[C_ID], role, NULL, in, len, &exp);
        recs_free(&exp);
        free(in);
    }
    tsv_free(rows, n);
}

START_TEST(corpus_server)
{
    corpus_rows(WSIP_WS_SERVER);
}
END_TEST

START_TEST(corpus_client)
{
    corpus_rows(WSIP_WS_CLIENT);
}
END_TEST

/* The .bin files on their own: right role decodes the pattern, the caps
 * just below the size refuse it with 1009. */
START_TEST(corpus_bin_files)
{
    static const struct {
        const char *file;
        bool masked;
        size_t len;
    } bins[] = {
        {"websocket/frames/rfc6455-5.7-binary-256B-unmasked.bin", false, 256},
        {"websocket/frames/rfc6455-5.7-binary-64KiB-unmasked.bin", false, 65536},
        {"websocket/frames/computed-binary-256B-masked.bin", true, 256},
        {"websocket/frames/computed-binary-64KiB-masked.bin", true, 65536},
    };
    for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
        size_t flen;
        uint8_t *f = (uint8_t *)read_file(corpus_path(bins[i].file), &flen);
        ck_assert_uint_eq(flen, wsip_ws_frame_size(bins[i].len, bins[i].masked));
        enum wsip_ws_role role = bins[i].masked ? WSIP_WS_SERVER : WSIP_WS_CLIENT;
        struct wsip_ws_reader r;
        struct wsip_ws_event ev;
        size_t used;
        wsip_ws_reader_init(&r, role, NULL);
        ck_assert_int_eq(wsip_ws_read(&r, f, flen, &used, &ev), WSIP_WS_MESSAGE);
        ck_assert_uint_eq(used, flen);
        ck_assert_int_eq(ev.opcode, WSIP_WS_OP_BINARY);
        ck_assert_uint_eq(ev.len, bins[i].len);
        ck_assert_ptr_eq(ev.data, f + flen - bins[i].len);
        for (size_t k = 0; k < ev.len; k++)
            ck_assert_msg(ev.data[k] == (uint8_t)k, "%s: byte %zu is %u, expected %u", bins[i].file,
                          k, ev.data[k], (unsigned)(k & 0xff));
        wsip_ws_reader_free(&r);
        free(f);

        /* a cap one below refuses it as soon as the header is in */
        f = (uint8_t *)read_file(corpus_path(bins[i].file), &flen);
        struct wsip_ws_limits lim = {bins[i].len - 1, 1 << 20};
        wsip_ws_reader_init(&r, role, &lim);
        ck_assert_int_eq(wsip_ws_read(&r, f, flen - bins[i].len, &used, &ev), WSIP_WS_ERROR);
        ck_assert_uint_eq(ev.code, 1009);
        wsip_ws_reader_free(&r);
        lim = (struct wsip_ws_limits){1 << 20, bins[i].len - 1};
        wsip_ws_reader_init(&r, role, &lim);
        ck_assert_int_eq(wsip_ws_read(&r, f, flen, &used, &ev), WSIP_WS_ERROR);
        ck_assert_uint_eq(ev.code, 1009);
        wsip_ws_reader_free(&r);
        free(f);
    }
}
END_TEST

/* ------------------------------------------------------- error cases */

/* Expects a single outcome (an error code, or 0 for "no error and all
 * consumed") for hex in the given role, whatever the split. */
static void expect_code(const char *hex, enum wsip_ws_role role, const struct wsip_ws_limits *lim,
                        unsigned code)
{
    uint8_t in[512];
    size_t n = hex_decode(hex, in, sizeof(in));
    for (int how = SPLIT_WHOLE; how <= SPLIT_RANDOM; how++) {
        struct recs got;
        feed(role, lim, in, n, (enum split)how, &got);
        int last = got.n - 1;
        unsigned gc = last >= 0 && got.ev[last].rc == WSIP_WS_ERROR ? got.ev[last].code : 0;
        ck_assert_msg(gc == code, "%s (%s): expected close code %u, got %u", hex,
                      role == WSIP_WS_SERVER ? "server" : "client", code, gc);
        if (code == 0)
            ck_assert_msg(got.left == 0, "%s: %zu bytes left", hex, got.left);
        recs_free(&got);
    }
}

START_TEST(frame_errors)
{
    static const struct {
        const char *hex;
        enum wsip_ws_role role;
        unsigned code;
    } cases[] = {
        /* reserved bits, each alone, in both roles */
        {"c18037fa213d", WSIP_WS_SERVER, 1002},
        {"a18037fa213d", WSIP_WS_SERVER, 1002},
        {"918037fa213d", WSIP_WS_SERVER, 1002},
        {"f100", WSIP_WS_CLIENT, 1002},
        {"c900", WSIP_WS_CLIENT, 1002},
        /* reserved opcodes */
        {"838037fa213d", WSIP_WS_SERVER, 1002},
        {"878037fa213d", WSIP_WS_SERVER, 1002},
        {"8b8037fa213d", WSIP_WS_SERVER, 1002},
        {"8f8037fa213d", WSIP_WS_SERVER, 1002},
        {"8400", WSIP_WS_CLIENT, 1002},
        {"8c00", WSIP_WS_CLIENT, 1002},
        /* control frames: fragmented, or over 125 bytes (any length form) */
        {"088037fa213d", WSIP_WS_SERVER, 1002},
        {"098037fa213d", WSIP_WS_SERVER, 1002},
        {"0a8037fa213d", WSIP_WS_SERVER, 1002},
        {"89fe", WSIP_WS_SERVER, 1002},
        {"8aff", WSIP_WS_SERVER, 1002},
        {"88fe0002", WSIP_WS_SERVER, 1002}, /* 2 in the 16-bit form: still refused */
        /* masking in the wrong direction, found from the second byte */
        {"8100", WSIP_WS_SERVER, 1002},
        {"8180", WSIP_WS_CLIENT, 1002},
        {"897d", WSIP_WS_SERVER, 1002},
        /* continuation rules */
        {"808037fa213d", WSIP_WS_SERVER, 1002},
        {"008037fa213d", WSIP_WS_SERVER, 1002},
        {"018037fa213d 828037fa213d", WSIP_WS_SERVER, 1002},
        {"028037fa213d 018037fa213d", WSIP_WS_SERVER, 1002},
        {"0100 0000 8100", WSIP_WS_CLIENT, 1002},
        /* 64-bit length with the top bit, found before the mask key */
        {"82ff8000000000000000", WSIP_WS_SERVER, 1002},
        {"82ffffffffffffffffff", WSIP_WS_SERVER, 1002},
        {"827f8000000000000001", WSIP_WS_CLIENT, 1002},
        /* over the caps (64 KiB), found before the payload */
        {"82ff0000000000010001", WSIP_WS_SERVER, 1009},
        {"82ff7fffffffffffffff", WSIP_WS_SERVER, 1009},
        {"827f0000000100000000", WSIP_WS_CLIENT, 1009},
        /* text that is not UTF-8 */
        {"818237fa213df4d2", WSIP_WS_SERVER, 1007},
        {"8102c328", WSIP_WS_CLIENT, 1007},
        {"8101ff", WSIP_WS_CLIENT, 1007},
        {"8102c0af", WSIP_WS_CLIENT, 1007},     /* overlong '/' */
        {"8103eda080", WSIP_WS_CLIENT, 1007},   /* surrogate */
        {"8104f4908080", WSIP_WS_CLIENT, 1007}, /* U+110000 */
        {"8102e282", WSIP_WS_CLIENT, 1007},     /* truncated at the end */
        /* close payloads */
        {"88813d7f9f4d34", WSIP_WS_SERVER, 1002},
        {"880103", WSIP_WS_CLIENT, 1002},
        {"880203ed", WSIP_WS_CLIENT, 1002},     /* 1005 */
        {"880303e8ff", WSIP_WS_CLIENT, 1007},   /* reason not UTF-8 */
        {"880403e8c328", WSIP_WS_CLIENT, 1007}, /* reason not UTF-8 */
        {"880403e8e282", WSIP_WS_CLIENT, 1007}, /* reason truncated */
        {"88840000000003e8c328", WSIP_WS_SERVER, 1007},
        /* and things that are fine */
        {"8100", WSIP_WS_CLIENT, 0},
        {"8200", WSIP_WS_CLIENT, 0},
        {"818037fa213d", WSIP_WS_SERVER, 0},
        {"0100 8900 0000 8a00 8000", WSIP_WS_CLIENT, 0},
    };
    rng_state = 42;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_code(cases[i].hex, cases[i].role, NULL, cases[i].code);
}
END_TEST

START_TEST(close_codes)
{
    for (unsigned code = 0; code < 65536; code++) {
        bool valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
                     (code >= 3000 && code <= 4999);
        ck_assert_msg(wsip_ws_close_code_valid(code) == valid, "code %u: expected %d", code, valid);
    }
    static const unsigned bad[] = {0,    999,  1004, 1005, 1006, 1012, 1013,
                                   1014, 1015, 1016, 2000, 2999, 5000, 65535};
    static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                    1010, 1011, 3000, 3999, 4000, 4999};
    uint8_t f[WSIP_WS_CONTROL_MAX];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + sizeof(good) / sizeof(good[0]); i++) {
        bool ok = i >= sizeof(bad) / sizeof(bad[0]);
        unsigned code = ok ? good[i - sizeof(bad) / sizeof(bad[0])] : bad[i];
        /* built by hand: the builder would write any code */
        uint8_t pay[5] = {(uint8_t)(code >> 8), (uint8_t)code, 'b', 'y', 'e'};
        size_t n = wsip_ws_frame(f, sizeof(f), WSIP_WS_OP_CLOSE, true, pay, 5, KEY);
        struct wsip_ws_reader r;
        struct wsip_ws_event ev;
        size_t used;
        wsip_ws_reader_init(&r, WSIP_WS_SERVER, NULL);
        int rc = wsip_ws_read(&r, f, n, &used, &ev);
        ck_assert_msg(rc == (ok ? WSIP_WS_CLOSE : WSIP_WS_ERROR), "code %u: rc %s", code,
                      rc_name(rc));
        ck_assert_uint_eq(ev.code, ok ? code : 1002);
        if (ok) {
            ck_assert_uint_eq(ev.len, 3);
            ck_assert_mem_eq(ev.data, "bye", 3);
        }
        wsip_ws_reader_free(&r);
    }
}
END_TEST

START_TEST(caps)
{
    uint8_t in[4096], pay[600];
    memset(pay, 'x', sizeof(pay));
    struct wsip_ws_limits lim = {100, 250};
    rng_state = 7;
    /* frame exactly at the frame cap: fine; one more: 1009 */
    size_t n = wsip_ws_frame(in, sizeof(in), WSIP_WS_OP_BINARY, true, pay, 100, KEY);
    struct recs exp = {0};
    rec_add(&exp, WSIP_WS_MESSAGE, WSIP_WS_OP_BINARY, 0, false, pay, 100);
    feed_all_ways("frame at cap", WSIP_WS_SERVER, &lim, in, n, &exp);
    recs_free(&exp);
    n = wsip_ws_frame(in, sizeof(in), WSIP_WS_OP_BINARY, true, pay, 101, KEY);
    rec_add(&exp, WSIP_WS_ERROR, 0, 1009, false, NULL, 0);
    feed_all_ways("frame over cap", WSIP_WS_SERVER, &lim, in, n, &exp);
    recs_free(&exp);

    /* fragments adding up to the message cap: fine; one more byte: 1009 */
    n = wsip_ws_frame(in, sizeof(in), WSIP_WS_OP_TEXT, false, pay, 100, KEY);
    n += wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_CONT, false, pay, 100, KEY);
    size_t two = n;
    n += wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_CONT, true, pay, 50, KEY);
    rec_add(&exp, WSIP_WS_MESSAGE, WSIP_WS_OP_TEXT, 0, true, pay, 250);
    feed_all_ways("message at cap", WSIP_WS_SERVER, &lim, in, n, &exp);
    recs_free(&exp);
    n = two + wsip_ws_frame(in + two, sizeof(in) - two, WSIP_WS_OP_CONT, true, pay, 51, KEY);
    rec_add(&exp, WSIP_WS_ERROR, 0, 1009, false, NULL, 0);
    feed_all_ways("message over cap", WSIP_WS_SERVER, &lim, in, n, &exp);
    recs_free(&exp);

    /* a single frame over the message cap (message cap below frame cap) */
    lim = (struct wsip_ws_limits){1000, 10};
    n = wsip_ws_frame(in, sizeof(in), WSIP_WS_OP_BINARY, true, pay, 11, NULL);
    rec_add(&exp, WSIP_WS_ERROR, 0, 1009, false, NULL, 0);
    feed_all_ways("single frame over message cap", WSIP_WS_CLIENT, &lim, in, n, &exp);
    recs_free(&exp);

    /* control frames are not subject to the caps */
    lim = (struct wsip_ws_limits){0, 0};
    n = wsip_ws_ping_frame(in, pay, 125, KEY);
    rec_add(&exp, WSIP_WS_PING, WSIP_WS_OP_PING, 0, false, pay, 125);
    feed_all_ways("ping with zero caps", WSIP_WS_SERVER, &lim, in, n, &exp);
    recs_free(&exp);
    n = wsip_ws_frame(in, sizeof(in), WSIP_WS_OP_TEXT, true, pay, 0, KEY);
    rec_add(&exp, WSIP_WS_MESSAGE, WSIP_WS_OP_TEXT, 0, false, pay, 0);
    feed_all_ways("empty text with zero caps", WSIP_WS_SERVER, &lim, in, n, &exp);
    recs_free(&exp);

    struct wsip_ws_limits d;
    wsip_ws_limits_default(&d);
    ck_assert_uint_eq(d.max_frame, 65536);
    ck_assert_uint_eq(d.max_message, 65536);
}
END_TEST

/* --------------------------------------------------- fragmentation */

START_TEST(fragmentation_with_control_frames)
{
    uint8_t in[1024];
    size_t n = 0;
    const char *parts[] = {"REGISTER sip:", "example.com ", "SIP/2.0\r\n\r\n"};
    n += wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_TEXT, false, (const uint8_t *)parts[0],
                       strlen(parts[0]), KEY);
    n += wsip_ws_ping_frame(in + n, (const uint8_t *)"p1", 2, KEY);
    n += wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_CONT, false, (const uint8_t *)parts[1],
                       strlen(parts[1]), KEY);
    n += wsip_ws_pong_frame(in + n, NULL, 0, KEY);
    n += wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_CONT, false, NULL, 0, KEY);
    n += wsip_ws_ping_frame(in + n, (const uint8_t *)"p2", 2, KEY);
    n += wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_CONT, true, (const uint8_t *)parts[2],
                       strlen(parts[2]), KEY);
    /* then an unfragmented binary message and a close */
    n += wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_BINARY, true, (const uint8_t *)"\0\1", 2,
                       KEY);
    n += wsip_ws_close_frame(in + n, 1001, "going", KEY);
    size_t before_trailer = n;
    n += wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_TEXT, true, (const uint8_t *)"late", 4,
                       KEY);

    const char *whole = "REGISTER sip:example.com SIP/2.0\r\n\r\n";
    struct recs exp = {0};
    rec_add(&exp, WSIP_WS_PING, WSIP_WS_OP_PING, 0, false, (const uint8_t *)"p1", 2);
    rec_add(&exp, WSIP_WS_PONG, WSIP_WS_OP_PONG, 0, false, NULL, 0);
    rec_add(&exp, WSIP_WS_PING, WSIP_WS_OP_PING, 0, false, (const uint8_t *)"p2", 2);
    rec_add(&exp, WSIP_WS_MESSAGE, WSIP_WS_OP_TEXT, 0, true, (const uint8_t *)whole, strlen(whole));
    rec_add(&exp, WSIP_WS_MESSAGE, WSIP_WS_OP_BINARY, 0, false, (const uint8_t *)"\0\1", 2);
    rec_add(&exp, WSIP_WS_CLOSE, WSIP_WS_OP_CLOSE, 1001, false, (const uint8_t *)"going", 5);
    rng_state = 99;
    /* the frame after the close is swallowed, whole or in part */
    feed_all_ways("fragments + control frames", WSIP_WS_SERVER, NULL, in, n, &exp);
    feed_all_ways("fragments + control frames, cut trailer", WSIP_WS_SERVER, NULL, in,
                  before_trailer + 3, &exp);
    recs_free(&exp);

    /* empty fragmented binary message: two empty frames */
    n = wsip_ws_frame(in, sizeof(in), WSIP_WS_OP_BINARY, false, NULL, 0, NULL);
    n += wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_CONT, true, NULL, 0, NULL);
    rec_add(&exp, WSIP_WS_MESSAGE, WSIP_WS_OP_BINARY, 0, true, NULL, 0);
    feed_all_ways("empty fragmented message", WSIP_WS_CLIENT, NULL, in, n, &exp);
    recs_free(&exp);
}
END_TEST

/* Splits text at every position into 2 and 3 fragments. */
static void utf8_fragments(const uint8_t *text, size_t len, unsigned code)
{
    uint8_t in[256];
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b++) {
            size_t n = wsip_ws_frame(in, sizeof(in), WSIP_WS_OP_TEXT, false, text, a, KEY);
            n +=
                wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_CONT, false, text + a, b - a, KEY);
            n += wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_CONT, true, text + b, len - b,
                               KEY);
            char what[160];
            snprintf(what, sizeof(what), "utf8 split %zu/%zu of %zu bytes", a, b, len);
            struct recs exp = {0};
            if (code)
                rec_add(&exp, WSIP_WS_ERROR, 0, code, false, NULL, 0);
            else
                rec_add(&exp, WSIP_WS_MESSAGE, WSIP_WS_OP_TEXT, 0, true, text, len);
            feed_all_ways(what, WSIP_WS_SERVER, NULL, in, n, &exp);
            recs_free(&exp);
        }
    }
}

START_TEST(utf8_across_fragments)
{
    rng_state = 5;
    /* "a€é😀z": 1, 3, 2, 4, 1 byte code points */
    static const uint8_t ok[] = {'a', 0xe2, 0x82, 0xac, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80, 'z'};
    utf8_fragments(ok, sizeof(ok), 0);
    static const uint8_t bad_cont[] = {'a', 0xe2, 0x82, 0x28, 'z'}; /* E2 82 then '(' */
    static const uint8_t overlong[] = {0xe0, 0x80, 0x80, 'z'};      /* overlong U+0000 */
    static const uint8_t surrogate[] = {'a', 0xed, 0xb0, 0x80};     /* U+DC00 */
    static const uint8_t too_big[] = {0xf4, 0x90, 0x80, 0x80};      /* U+110000 */
    static const uint8_t cut_end[] = {'a', 'b', 0xf0, 0x9f, 0x98};  /* unfinished at FIN */
    utf8_fragments(bad_cont, sizeof(bad_cont), 1007);
    utf8_fragments(overlong, sizeof(overlong), 1007);
    utf8_fragments(surrogate, sizeof(surrogate), 1007);
    utf8_fragments(too_big, sizeof(too_big), 1007);
    utf8_fragments(cut_end, sizeof(cut_end), 1007);

    /* fail fast: a fragment that cannot start valid UTF-8 fails before the
     * message ends (the final frame never arrives here) */
    uint8_t in[64];
    size_t n = wsip_ws_frame(in, sizeof(in), WSIP_WS_OP_TEXT, false, (const uint8_t *)"ab\xe0\x80",
                             4, KEY);
    struct wsip_ws_reader r;
    struct wsip_ws_event ev;
    size_t used;
    wsip_ws_reader_init(&r, WSIP_WS_SERVER, NULL);
    ck_assert_int_eq(wsip_ws_read(&r, in, n, &used, &ev), WSIP_WS_ERROR);
    ck_assert_uint_eq(ev.code, 1007);
    wsip_ws_reader_free(&r);
    /* while an unfinished but valid sequence waits for the next fragment */
    n = wsip_ws_frame(in, sizeof(in), WSIP_WS_OP_TEXT, false, (const uint8_t *)"ab\xe0\xa0", 4,
                      KEY);
    wsip_ws_reader_init(&r, WSIP_WS_SERVER, NULL);
    ck_assert_int_eq(wsip_ws_read(&r, in, n, &used, &ev), WSIP_WS_AGAIN);
    ck_assert_uint_eq(used, n);
    ck_assert_uint_eq(ev.need, 2);
    wsip_ws_reader_free(&r);
    /* binary messages are not checked */
    n = wsip_ws_frame(in, sizeof(in), WSIP_WS_OP_BINARY, false, (const uint8_t *)"\xff", 1, KEY);
    n += wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_CONT, true, (const uint8_t *)"\xc0", 1,
                       KEY);
    wsip_ws_reader_init(&r, WSIP_WS_SERVER, NULL);
    ck_assert_int_eq(wsip_ws_read(&r, in, n, &used, &ev), WSIP_WS_MESSAGE);
    ck_assert_uint_eq(ev.len, 2);
    ck_assert_mem_eq(ev.data, "\xff\xc0", 2);
    wsip_ws_reader_free(&r);
}
END_TEST

/* ------------------------------------------------ reader contract */

START_TEST(need_and_zero_copy)
{
    uint8_t in[300], pay[200];
    for (size_t i = 0; i < sizeof(pay); i++)
        pay[i] = (uint8_t)(i * 7);
    size_t n = wsip_ws_frame(in, sizeof(in), WSIP_WS_OP_BINARY, true, pay, 200, KEY);
    ck_assert_uint_eq(n, 2 + 2 + 4 + 200);
    struct wsip_ws_reader r;
    struct wsip_ws_event ev;
    size_t used;
    wsip_ws_reader_init(&r, WSIP_WS_SERVER, NULL);
    /* need grows as the header reveals itself: 2, 4 (16-bit length), 8 (key), 208 */
    static const size_t have[] = {0, 1, 2, 3, 4, 7, 8, 100, 207};
    static const size_t need[] = {2, 2, 4, 4, 8, 8, 208, 208, 208};
    for (size_t i = 0; i < sizeof(have) / sizeof(have[0]); i++) {
        ck_assert_int_eq(wsip_ws_read(&r, in, have[i], &used, &ev), WSIP_WS_AGAIN);
        ck_assert_uint_eq(used, 0);
        ck_assert_uint_eq(ev.need, need[i]);
    }
    /* the bytes are untouched until the frame is whole */
    uint8_t copy[300];
    memcpy(copy, in, n);
    ck_assert_mem_eq(in, copy, n);
    ck_assert_int_eq(wsip_ws_read(&r, in, n, &used, &ev), WSIP_WS_MESSAGE);
    ck_assert_uint_eq(used, n);
    ck_assert_ptr_eq(ev.data, in + 8); /* zero copy, unmasked in place */
    ck_assert_uint_eq(ev.len, 200);
    ck_assert_mem_eq(ev.data, pay, 200);
    ck_assert(!ev.fragmented);
    wsip_ws_reader_free(&r);

    /* two messages in one buffer come out one per call */
    n = wsip_ws_frame(in, sizeof(in), WSIP_WS_OP_TEXT, true, (const uint8_t *)"one", 3, NULL);
    size_t n1 = n;
    n += wsip_ws_frame(in + n, sizeof(in) - n, WSIP_WS_OP_TEXT, true, (const uint8_t *)"two", 3,
                       NULL);
    wsip_ws_reader_init(&r, WSIP_WS_CLIENT, NULL);
    ck_assert_int_eq(wsip_ws_read(&r, in, n, &used, &ev), WSIP_WS_MESSAGE);
    ck_assert_uint_eq(used, n1);
    ck_assert_ptr_eq(ev.data, in + 2);
    ck_assert_int_eq(wsip_ws_read(&r, in + used, n - used, &used, &ev), WSIP_WS_MESSAGE);
    ck_assert_ptr_eq(ev.data, in + n1 + 2);
    ck_assert_mem_eq(ev.data, "two", 3);
    ck_assert_int_eq(wsip_ws_read(&r, in + n, 0, &used, &ev), WSIP_WS_AGAIN);
    ck_assert_uint_eq(ev.need, 2);
    wsip_ws_reader_free(&r);

    /* non-minimal lengths are accepted (ws.h): 5 in the 16- and 64-bit forms */
    expect_code("827e0005 0102030405", WSIP_WS_CLIENT, NULL, 0);
    expect_code("827f0000000000000005 0102030405", WSIP_WS_CLIENT, NULL, 0);
    expect_code("82ff000000000000000037fa213d", WSIP_WS_SERVER, NULL, 0);

    /* after a close, everything is swallowed; an error is sticky */
    wsip_ws_reader_init(&r, WSIP_WS_CLIENT, NULL);
    n = wsip_ws_close_frame(in, 1000, NULL, NULL);
    memcpy(in + n, "\x81\x05hello", 7);
    ck_assert_int_eq(wsip_ws_read(&r, in, n + 7, &used, &ev), WSIP_WS_CLOSE);
    ck_assert_uint_eq(used, n);
    ck_assert_uint_eq(ev.code, 1000);
    ck_assert_uint_eq(ev.len, 0);
    ck_assert_int_eq(wsip_ws_read(&r, in + n, 7, &used, &ev), WSIP_WS_AGAIN);
    ck_assert_uint_eq(used, 7);
    wsip_ws_reader_free(&r);
}
END_TEST

/* ------------------------------------------------------------ encoder */

START_TEST(encoder_headers)
{
    static const struct {
        uint64_t len;
        bool masked;
        const char *hex;
    } cases[] = {
        {0, false, "8200"},
        {125, false, "827d"},
        {126, false, "827e007e"},
        {65535, false, "827effff"},
        {65536, false, "827f0000000000010000"},
        {0x123456789abcull, false, "827f0000123456789abc"},
        {0x7fffffffffffffffull, false, "827f7fffffffffffffff"},
        {5, true, "828537fa213d"},
        {256, true, "82fe010037fa213d"},
        {65536, true, "82ff000000000001000037fa213d"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t h[WSIP_WS_HEADER_MAX], want[WSIP_WS_HEADER_MAX];
        size_t wn = hex_decode(cases[i].hex, want, sizeof(want));
        size_t n =
            wsip_ws_header(h, WSIP_WS_OP_BINARY, true, cases[i].len, cases[i].masked ? KEY : NULL);
        ck_assert_uint_eq(n, wn);
        ck_assert_mem_eq(h, want, wn);
        if (cases[i].len < 1000000)
            ck_assert_uint_eq(wsip_ws_frame_size((size_t)cases[i].len, cases[i].masked),
                              wn + cases[i].len);
    }
    uint8_t h[WSIP_WS_HEADER_MAX];
    ck_assert_uint_eq(wsip_ws_header(h, WSIP_WS_OP_TEXT, false, 3, NULL), 2);
    ck_assert_uint_eq(h[0], 0x01);
    ck_assert_uint_eq(wsip_ws_header(h, WSIP_WS_OP_CONT, true, 3, NULL), 2);
    ck_assert_uint_eq(h[0], 0x80);

    /* the RFC 6455 5.7 examples, byte for byte */
    uint8_t f[WSIP_WS_CONTROL_MAX], want[64];
    size_t n =
        wsip_ws_frame(f, sizeof(f), WSIP_WS_OP_TEXT, true, (const uint8_t *)"Hello", 5, NULL);
    size_t wn = hex_decode("810548656c6c6f", want, sizeof(want));
    ck_assert_uint_eq(n, wn);
    ck_assert_mem_eq(f, want, wn);
    n = wsip_ws_frame(f, sizeof(f), WSIP_WS_OP_TEXT, true, (const uint8_t *)"Hello", 5, KEY);
    wn = hex_decode("818537fa213d7f9f4d5158", want, sizeof(want));
    ck_assert_uint_eq(n, wn);
    ck_assert_mem_eq(f, want, wn);
    n = wsip_ws_ping_frame(f, (const uint8_t *)"Hello", 5, NULL);
    wn = hex_decode("890548656c6c6f", want, sizeof(want));
    ck_assert_uint_eq(n, wn);
    ck_assert_mem_eq(f, want, wn);
    n = wsip_ws_pong_frame(f, (const uint8_t *)"Hello", 5, KEY);
    wn = hex_decode("8a8537fa213d7f9f4d5158", want, sizeof(want));
    ck_assert_uint_eq(n, wn);
    ck_assert_mem_eq(f, want, wn);
    /* and the corpus close frames */
    n = wsip_ws_close_frame(f, 1000, NULL, KEY);
    wn = hex_decode("888237fa213d3412", want, sizeof(want));
    ck_assert_uint_eq(n, wn);
    ck_assert_mem_eq(f, want, wn);
    n = wsip_ws_close_frame(f, 1001, "bye", KEY);
    wn = hex_decode("888537fa213d3413434452", want, sizeof(want));
    ck_assert_uint_eq(n, wn);
    ck_assert_mem_eq(f, want, wn);
    n = wsip_ws_close_frame(f, 0, "ignored", KEY);
    wn = hex_decode("888037fa213d", want, sizeof(want));
    ck_assert_uint_eq(n, wn);
    ck_assert_mem_eq(f, want, wn);

    /* too small an output, too large a control payload */
    ck_assert_uint_eq(wsip_ws_frame(f, 6, WSIP_WS_OP_TEXT, true, (const uint8_t *)"Hello", 5, NULL),
                      0);
    ck_assert_uint_eq(wsip_ws_frame(f, 7, WSIP_WS_OP_TEXT, true, (const uint8_t *)"Hello", 5, NULL),
                      7);
    uint8_t big[126] = {0};
    uint8_t cf[WSIP_WS_CONTROL_MAX];
    ck_assert_uint_eq(wsip_ws_ping_frame(cf, big, 126, NULL), 0);
    ck_assert_uint_eq(wsip_ws_pong_frame(cf, big, 125, KEY), WSIP_WS_CONTROL_MAX);
}
END_TEST

START_TEST(close_reason_truncation)
{
    /* 60 two-byte 'é' (120 bytes) + "€" (3 bytes) = 123: fits exactly */
    char reason[200];
    size_t k = 0;
    for (int i = 0; i < 60; i++) {
        reason[k++] = (char)0xc3;
        reason[k++] = (char)0xa9;
    }
    memcpy(reason + k, "\xe2\x82\xac", 3);
    k += 3;
    reason[k] = '\0';
    uint8_t f[WSIP_WS_CONTROL_MAX];
    size_t n = wsip_ws_close_frame(f, 1000, reason, NULL);
    ck_assert_uint_eq(n, 2 + 2 + 123);
    /* one more 'x' in front pushes the '€' over: it is dropped whole */
    memmove(reason + 1, reason, k + 1);
    reason[0] = 'x';
    n = wsip_ws_close_frame(f, 1000, reason, NULL);
    ck_assert_uint_eq(n, 2 + 2 + 121);
    struct wsip_ws_reader r;
    struct wsip_ws_event ev;
    size_t used;
    wsip_ws_reader_init(&r, WSIP_WS_CLIENT, NULL);
    ck_assert_int_eq(wsip_ws_read(&r, f, n, &used, &ev), WSIP_WS_CLOSE);
    ck_assert_uint_eq(ev.code, 1000);
    ck_assert_uint_eq(ev.len, 121);
    ck_assert_mem_eq(ev.data, reason, 121);
    wsip_ws_reader_free(&r);
    /* a long ASCII reason is cut at 123; masked too */
    memset(reason, 'r', 199);
    reason[199] = '\0';
    n = wsip_ws_close_frame(f, 4000, reason, KEY);
    ck_assert_uint_eq(n, WSIP_WS_CONTROL_MAX);
    wsip_ws_reader_init(&r, WSIP_WS_SERVER, NULL);
    ck_assert_int_eq(wsip_ws_read(&r, f, n, &used, &ev), WSIP_WS_CLOSE);
    ck_assert_uint_eq(ev.code, 4000);
    ck_assert_uint_eq(ev.len, 123);
    ck_assert_mem_eq(ev.data, reason, 123);
    wsip_ws_reader_free(&r);
}
END_TEST

START_TEST(encoder_roundtrip)
{
    static const size_t lens[] = {0, 1, 7, 8, 9, 125, 126, 127, 1000, 65535, 65536, 65537, 200000};
    struct wsip_ws_limits lim = {1 << 20, 1 << 20};
    rng_state = 1234;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t len = lens[i];
        uint8_t *pay = malloc(len + 1), *f = malloc(len + 14);
        for (size_t k = 0; k < len; k++)
            pay[k] = (uint8_t)('a' + rnd() % 26); /* ASCII, so it can be text too */
        for (int masked = 0; masked < 2; masked++) {
            for (int op = WSIP_WS_OP_TEXT; op <= WSIP_WS_OP_BINARY; op++) {
                uint8_t key[4];
                uint64_t kr = rnd();
                memcpy(key, &kr, 4);
                size_t n = wsip_ws_frame(f, len + 14, (enum wsip_ws_opcode)op, true, pay, len,
                                         masked ? key : NULL);
                ck_assert_uint_eq(n, wsip_ws_frame_size(len, masked));
                struct wsip_ws_reader r;
                struct wsip_ws_event ev;
                size_t used;
                wsip_ws_reader_init(&r, masked ? WSIP_WS_SERVER : WSIP_WS_CLIENT, &lim);
                int rc = wsip_ws_read(&r, f, n, &used, &ev);
                ck_assert_msg(rc == WSIP_WS_MESSAGE, "len %zu masked %d op %d: rc %s (%s)", len,
                              masked, op, rc_name(rc), ev.reason ? ev.reason : "");
                ck_assert_uint_eq(used, n);
                ck_assert_int_eq(ev.opcode, op);
                ck_assert_uint_eq(ev.len, len);
                ck_assert_int_eq(memcmp(ev.data, pay, len), 0);
                wsip_ws_reader_free(&r);
            }
        }
        free(pay);
        free(f);
    }

    /* a random message cut into random fragments, both directions */
    for (int round = 0; round < 200; round++) {
        size_t len = (size_t)(rnd() % 3000);
        uint8_t *pay = malloc(len + 1), *f = malloc(len * 15 + 64);
        for (size_t k = 0; k < len; k++)
            pay[k] = (uint8_t)rnd();
        bool masked = round & 1;
        size_t n = 0, at = 0;
        int frames = 0;
        do {
            size_t part = (size_t)(rnd() % 400);
            if (part > len - at)
                part = len - at;
            bool fin = at + part == len && rnd() % 4 != 0;
            n += wsip_ws_frame(f + n, len * 15 + 64 - n,
                               at == 0 && n == 0 ? WSIP_WS_OP_BINARY : WSIP_WS_OP_CONT, fin,
                               pay + at, part, masked ? KEY : NULL);
            at += part;
            frames++;
            if (fin)
                break;
        } while (1);
        struct recs exp = {0};
        rec_add(&exp, WSIP_WS_MESSAGE, WSIP_WS_OP_BINARY, 0, true, pay, len);
        if (frames == 1) /* a single frame after all */
            exp.ev[0].frag = false;
        struct recs got;
        feed(masked ? WSIP_WS_SERVER : WSIP_WS_CLIENT, NULL, f, n, SPLIT_RANDOM, &got);
        recs_expect_eq("random fragments", &exp, &got);
        recs_free(&got);
        recs_free(&exp);
        free(pay);
        free(f);
    }
}
END_TEST

/* ------------------------------------------------------------ masking */

START_TEST(unmask_all_lengths_and_alignments)
{
    enum { SZ = 64 + 16 };
    uint8_t orig[SZ], buf[SZ], ref[SZ], src[SZ], dst[SZ], dref[SZ];
    static const uint8_t keys[][4] = {{0, 0, 0, 0}, {0x37, 0xfa, 0x21, 0x3d}, {0xff, 1, 0x80, 2}};
    rng_state = 77;
    for (size_t kk = 0; kk < sizeof(keys) / sizeof(keys[0]); kk++) {
        const uint8_t *key = keys[kk];
        for (size_t align = 0; align < 8; align++) {
            for (size_t len = 0; len <= 64; len++) {
                for (size_t i = 0; i < SZ; i++) {
                    orig[i] = (uint8_t)rnd();
                    dst[i] = (uint8_t)rnd();
                    src[i] = (uint8_t)rnd();
                }
                /* naive reference: byte at a time */
                memcpy(ref, orig, SZ);
                memcpy(dref, dst, SZ);
                for (size_t i = 0; i < len; i++) {
                    ref[align + i] ^= key[i % 4];
                    dref[align + i] = orig[align + i] ^ key[i % 4];
                }
                memcpy(buf, orig, SZ);
                wsip_ws_mask(buf + align, len, key);
                for (size_t i = 0; i < SZ; i++)
                    ck_assert_msg(buf[i] == ref[i],
                                  "mask key %zu align %zu len %zu byte %zu: "
                                  "%02x, reference %02x",
                                  kk, align, len, i, buf[i], ref[i]);
                /* copy form, from another alignment */
                size_t salign = (align * 3 + 1) % 8;
                memcpy(src + salign, orig + align, len);
                wsip_ws_mask_copy(dst + align, src + salign, len, key);
                for (size_t i = 0; i < SZ; i++)
                    ck_assert_msg(dst[i] == dref[i],
                                  "mask_copy key %zu align %zu/%zu len %zu "
                                  "byte %zu: %02x, reference %02x",
                                  kk, align, salign, len, i, dst[i], dref[i]);
                /* in place through the copy form undoes it */
                wsip_ws_mask_copy(dst + align, dst + align, len, key);
                for (size_t i = 0; i < len; i++)
                    ck_assert_msg(dst[align + i] == orig[align + i],
                                  "double mask key %zu align "
                                  "%zu len %zu byte %zu: %02x vs %02x",
                                  kk, align, len, i, dst[align + i], orig[align + i]);
            }
        }
    }
}
END_TEST

/* -------------------------------------------------------------- UTF-8 */

/* The reference: decode each code point and check it (RFC 3629 sec 3).
 * Returns the end of the complete prefix, or -1 if invalid; *cut is set
 * when the tail is an unfinished sequence. */
static long naive_seq(const uint8_t *p, size_t n, size_t i, size_t *adv)
{
    uint8_t c = p[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
        *adv = 1;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return -1;
    }
    if (i + len > n)
        return 0; /* unfinished */
    for (size_t k = 1; k < len; k++) {
        if ((p[i + k] & 0xc0) != 0x80)
            return -1;
        cp = cp << 6 | (p[i + k] & 0x3f);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *adv = len;
    return 1;
}

/* Can the unfinished tail p[0..n) be completed into one valid sequence?
 * Tries every continuation byte as the second byte (the only one whose
 * range depends on the lead) and 0x80 after it. */
static bool naive_completable(const uint8_t *t, size_t n)
{
    for (unsigned b1 = 0x80; b1 <= 0xbf; b1++) {
        uint8_t s[4] = {t[0], (uint8_t)b1, 0x80, 0x80};
        for (size_t k = 1; k < n; k++)
            s[k] = t[k];
        size_t adv;
        for (size_t len = n + 1; len <= 4; len++)
            if (naive_seq(s, len, 0, &adv) == 1 && adv == len)
                return true;
    }
    return false;
}

static int naive_prefix(const uint8_t *p, size_t n, size_t *complete)
{
    size_t i = 0, adv;
    while (i < n) {
        long r = naive_seq(p, n, i, &adv);
        if (r < 0)
            return -1;
        if (r == 0) {
            if (!naive_completable(p + i, n - i))
                return -1;
            *complete = i;
            return 0;
        }
        i += adv;
    }
    *complete = n;
    return 0;
}

static void utf8_compare(const uint8_t *p, size_t n)
{
    size_t c1 = 999, c2 = 999;
    int r1 = wsip_utf8_prefix(p, n, &c1);
    int r2 = naive_prefix(p, n, &c2);
    if (r1 != r2 || (r1 == 0 && c1 != c2)) {
        char hex[200] = "";
        for (size_t i = 0; i < n && i < 60; i++)
            snprintf(hex + 3 * i, 4, "%02x ", p[i]);
        ck_abort_msg("utf8 [%s] (%zu bytes): wsip %d/%zu, reference %d/%zu", hex, n, r1,
                     r1 == 0 ? c1 : 0, r2, r2 == 0 ? c2 : 0);
    }
    bool v = wsip_utf8_valid(p, n);
    ck_assert_msg(v == (r2 == 0 && c2 == n), "wsip_utf8_valid %d vs reference %d (%zu bytes)", v,
                  r2 == 0 && c2 == n, n);
}

START_TEST(utf8_exhaustive_short)
{
    uint8_t b[3] = {0};
    utf8_compare(b, 0);
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (uint8_t)x;
        utf8_compare(b, 1);
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (uint8_t)y;
            utf8_compare(b, 2);
        }
    }
    /* three bytes, non-ASCII lead: exhaustive for the 3-byte leads, a
     * representative third byte for the others (it can only be ASCII, a
     * continuation or a lead, and the boundaries of each are listed) */
    static const uint8_t third[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0,
                                    0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
    for (unsigned x = 0x80; x < 256; x++) {
        bool full = x >= 0xe0 && x <= 0xef;
        size_t nz = full ? 256 : sizeof(third);
        for (unsigned y = 0; y < 256; y++) {
            for (size_t z = 0; z < nz; z++) {
                b[0] = (uint8_t)x;
                b[1] = (uint8_t)y;
                b[2] = full ? (uint8_t)z : third[z];
                utf8_compare(b, 3);
            }
        }
    }
    /* four bytes with a 4-byte lead: every second byte, representative rest */
    static const uint8_t rest[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                   0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xff};
    uint8_t q[4];
    for (unsigned x = 0xf0; x < 256; x++)
        for (unsigned y = 0; y < 256; y++)
            for (size_t i = 0; i < sizeof(rest); i++)
                for (size_t j = 0; j < sizeof(rest); j++) {
                    q[0] = (uint8_t)x;
                    q[1] = (uint8_t)y;
                    q[2] = rest[i];
                    q[3] = rest[j];
                    utf8_compare(q, 4);
                }
}
END_TEST

START_TEST(utf8_edges_at_every_offset)
{
    static const char *const seqs[] = {
        /* boundaries of each length */
        "00", "7f", "c280", "dfbf", "e0a080", "efbfbf", "f0908080", "f48fbfbf",
        /* around the surrogates and the top */
        "ed9fbf", "ee8080", "eda080", "edbfbf", "f4908080", "f5808080", "ff", "fe",
        /* overlongs */
        "c080", "c1bf", "e08080", "e09fbf", "f0808080", "f08fbfbf",
        /* stray and missing continuations */
        "80", "bf", "c2", "e0a0", "f09080", "c241", "e0a041", "f0908041", "c2c280",
        /* a valid sequence cut at the end of the buffer */
        "e282", "f09f98"};
    uint8_t buf[64];
    for (size_t s = 0; s < sizeof(seqs) / sizeof(seqs[0]); s++) {
        uint8_t seq[8];
        size_t sl = hex_decode(seqs[s], seq, sizeof(seq));
        for (size_t pre = 0; pre <= 17; pre++) {
            for (size_t post = 0; post <= 17; post += 1) {
                if (pre + sl + post > sizeof(buf))
                    continue;
                memset(buf, 'a', pre);
                memcpy(buf + pre, seq, sl);
                memset(buf + pre + sl, 'b', post);
                utf8_compare(buf, pre + sl + post);
                /* and the same with other non-ASCII around */
                if (pre >= 2)
                    memcpy(buf, "\xc3\xa9", 2);
                if (post >= 3)
                    memcpy(buf + pre + sl + post - 3, "\xe2\x82\xac", 3);
                utf8_compare(buf, pre + sl + post);
            }
        }
    }
    /* a long ASCII run with one bad byte anywhere */
    uint8_t big[200];
    for (size_t at = 0; at < sizeof(big); at++) {
        memset(big, 'x', sizeof(big));
        big[at] = 0x80;
        ck_assert_msg(!wsip_utf8_valid(big, sizeof(big)), "0x80 at %zu not found", at);
        big[at] = 0x7f;
        ck_assert_msg(wsip_utf8_valid(big, sizeof(big)), "0x7f at %zu refused", at);
    }
}
END_TEST

START_TEST(utf8_random)
{
    rng_state = 2024;
    uint8_t buf[96];
    /* pieces that build plausible text, valid and not */
    static const char *const pieces[] = {"a",
                                         "hello ",
                                         "\r\n",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "\xf4\x8f\xbf\xbf",
                                         "\xed\x9f\xbf",
                                         "\x80",
                                         "\xc0\xaf",
                                         "\xed\xa0\x80",
                                         "\xf4\x90\x80\x80",
                                         "\xe2\x82",
                                         "\xff",
                                         "\xc2",
                                         "0123456789abcdef"};
    for (int round = 0; round < 300000; round++) {
        size_t n = 0;
        if (round % 3 == 0) {
            n = (size_t)(rnd() % sizeof(buf));
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)rnd();
        } else {
            size_t want = (size_t)(rnd() % 80);
            while (n < want) {
                /* mostly good pieces; a bad one in one round of four */
                size_t k = rnd() % 4 == 0 ? rnd() % 16 : (rnd() % 8);
                size_t pl = strlen(pieces[k]);
                if (n + pl > sizeof(buf))
                    break;
                memcpy(buf + n, pieces[k], pl);
                n += pl;
            }
        }
        utf8_compare(buf, n);
    }
}
END_TEST

static Suite *ws_frame_suite(void)
{
    Suite *s = suite_create("ws_frame");
    TCase *tc = tcase_create("corpus");
    tcase_add_test(tc, corpus_server);
    tcase_add_test(tc, corpus_client);
    tcase_add_test(tc, corpus_bin_files);
    suite_add_tcase(s, tc);
    tc = tcase_create("reader");
    tcase_add_test(tc, frame_errors);
    tcase_add_test(tc, close_codes);
    tcase_add_test(tc, caps);
    tcase_add_test(tc, fragmentation_with_control_frames);
    tcase_add_test(tc, utf8_across_fragments);
    tcase_add_test(tc, need_and_zero_copy);
    suite_add_tcase(s, tc);
    tc = tcase_create("encoder");
    tcase_add_test(tc, encoder_headers);
    tcase_add_test(tc, close_reason_truncation);
    tcase_add_test(tc, encoder_roundtrip);
    tcase_add_test(tc, unmask_all_lengths_and_alignments);
    suite_add_tcase(s, tc);
    tc = tcase_create("utf8");
    tcase_add_test(tc, utf8_exhaustive_short);
    tcase_add_test(tc, utf8_edges_at_every_offset);
    tcase_add_test(tc, utf8_random);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(ws_frame_suite());
}

/* RFC 6455 WebSocket frame codec: a per-connection reader that turns
 * received bytes into messages and control frames, frame encoders for both
 * directions, in-place (un)masking and the UTF-8 check. Pure functions over
 * caller buffers: no I/O, no clock, no logging.
 *
 * Policy (what a receiver may choose under RFC 6455):
 * - no extension is ever negotiated, so any RSV bit is a protocol error;
 * - a length written in a longer form than needed (e.g. 125 in the 16-bit
 *   form) is accepted: sec 5.2 puts the minimal-encoding duty on the sender
 *   and decoding it is unambiguous;
 * - text is checked for UTF-8 frame by frame: a fragmented text message
 *   fails (1007) at the first fragment that cannot be the start of valid
 *   UTF-8, a code point may straddle fragments, and an incomplete code point
 *   at the final fragment fails (sec 8.1 "fail fast");
 * - control frames are limited only by the protocol's 125 bytes; the
 *   configured caps apply to data frames and messages. */
#ifndef WSIP_WS_H
#define WSIP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------- constants */

enum wsip_ws_opcode {
    WSIP_WS_OP_CONT = 0x0,
    WSIP_WS_OP_TEXT = 0x1,
    WSIP_WS_OP_BINARY = 0x2,
    WSIP_WS_OP_CLOSE = 0x8,
    WSIP_WS_OP_PING = 0x9,
    WSIP_WS_OP_PONG = 0xA,
};

/* Close status codes (RFC 6455 sec 7.4.1) that wsip sends or reports. */
enum wsip_ws_code {
    WSIP_WS_CODE_NORMAL = 1000,
    WSIP_WS_CODE_GOING_AWAY = 1001,
    WSIP_WS_CODE_PROTOCOL = 1002,
    WSIP_WS_CODE_UNSUPPORTED = 1003,
    WSIP_WS_CODE_NO_STATUS = 1005, /* reported for an empty close, never sent */
    WSIP_WS_CODE_ABNORMAL = 1006,  /* connection lost without a close, never sent */
    WSIP_WS_CODE_INVALID_DATA = 1007,
    WSIP_WS_CODE_POLICY = 1008,
    WSIP_WS_CODE_TOO_BIG = 1009,
    WSIP_WS_CODE_MANDATORY_EXT = 1010,
    WSIP_WS_CODE_INTERNAL = 1011,
};

/* Largest frame header: 2 + 8 (64-bit length) + 4 (mask key). */
#define WSIP_WS_HEADER_MAX 14
/* Largest control frame: 2-byte header, mask key, 125 payload bytes. */
#define WSIP_WS_CONTROL_MAX (2 + 4 + 125)

/* ---------------------------------------------------------------- limits */

struct wsip_ws_limits {
    size_t max_frame;   /* payload of one data frame (default 65536) */
    size_t max_message; /* data message, all fragments together (default 65536) */
};

void wsip_ws_limits_default(struct wsip_ws_limits *lim);

/* ---------------------------------------------------------------- reader */

enum wsip_ws_role {
    WSIP_WS_SERVER = 0, /* reads client frames: every frame must be masked */
    WSIP_WS_CLIENT = 1, /* reads server frames: no frame may be masked */
};

/* What wsip_ws_read returns. */
enum wsip_ws_rc {
    WSIP_WS_ERROR = -1,  /* fail the connection: send a close with ev->code */
    WSIP_WS_AGAIN = 0,   /* no complete frame left: read more bytes */
    WSIP_WS_MESSAGE = 1, /* a complete text or binary message */
    WSIP_WS_PING = 2,    /* answer with a pong carrying the same payload */
    WSIP_WS_PONG = 3,
    WSIP_WS_CLOSE = 4, /* the peer's close; the reader ignores what follows */
};

struct wsip_ws_event {
    enum wsip_ws_opcode opcode; /* MESSAGE: TEXT or BINARY; else the frame's opcode */
    const uint8_t *data;        /* payload (CLOSE: the reason, after the code); never NULL */
    size_t len;
    uint16_t code;      /* CLOSE: the status received (1005 if none); ERROR: the code to send */
    const char *reason; /* ERROR: static text for the close reason and the log */
    bool fragmented;    /* MESSAGE: reassembled; data is in the reader's buffer */
    size_t need;        /* AGAIN: bytes needed from buf + *consumed on (at least) */
};

/* Per-connection state. Fields are private; the struct is public so that it
 * can live inside the connection object. */
struct wsip_ws_reader {
    struct wsip_ws_limits lim;
    bool server;
    bool in_message; /* a fragmented message is open */
    bool closed;     /* a close frame was read */
    uint8_t msg_opcode;
    uint16_t err_code; /* non-zero once failed: the error is sticky */
    const char *err_reason;
    uint8_t *msg; /* reassembly buffer, allocated only for fragmented messages */
    size_t msg_len, msg_cap;
    size_t utf8_done; /* msg[0..utf8_done) is checked and ends on a code point */
};

/* lim NULL: the defaults. */
void wsip_ws_reader_init(struct wsip_ws_reader *r, enum wsip_ws_role role,
                         const struct wsip_ws_limits *lim);
void wsip_ws_reader_free(struct wsip_ws_reader *r);

/* Reads frames from buf[0..len), the bytes the caller has received and not
 * yet consumed, and returns at the first event. Frames that produce no event
 * (fragments of a message) are consumed on the way. The caller loops until
 * WSIP_WS_AGAIN, dropping *consumed bytes from the front of its buffer after
 * each call:
 *
 *     for (;;) {
 *         rc = wsip_ws_read(r, rx + off, rx_len - off, &used, &ev);
 *         off += used;
 *         if (rc == WSIP_WS_AGAIN) break;    // keep rx[off..rx_len), read more
 *         if (rc == WSIP_WS_ERROR) { send close ev.code; break; }
 *         handle(&ev);
 *     }
 *
 * *consumed may be non-zero with any result, AGAIN included. A frame is
 * consumed only when it is complete, so the buffer must be able to hold
 * max(max_frame, 125) + WSIP_WS_HEADER_MAX bytes. On AGAIN, ev->need is how
 * many bytes, counted from buf + *consumed, the next step needs: 2, then the
 * header length, then header plus payload once the length is known. Header
 * errors are found as soon as their bytes are there, before any payload.
 *
 * buf is written: payloads are unmasked in place. Ownership of ev->data:
 * - not fragmented: it points into buf (zero copy), inside the bytes this
 *   call consumed; valid until the caller moves, overwrites or frees them,
 *   so handle the event before compacting the buffer;
 * - fragmented: it points into the reader's buffer, valid until the next
 *   wsip_ws_read or wsip_ws_reader_free on this reader.
 *
 * After WSIP_WS_ERROR every later call returns the same error; after
 * WSIP_WS_CLOSE every later call consumes all bytes and returns AGAIN. */
int wsip_ws_read(struct wsip_ws_reader *r, uint8_t *buf, size_t len, size_t *consumed,
                 struct wsip_ws_event *ev);

/* Whether a status code received in a close frame is acceptable: 1000-1003,
 * 1007-1011, 3000-4999. */
bool wsip_ws_close_code_valid(unsigned code);

/* --------------------------------------------------------------- encoder */

/* Writes a frame header (minimal length form) into out and returns its
 * length (2..14). key NULL: unmasked (server to client); else the 4-byte mask
 * key (client to server), which the caller then applies to the payload.
 * len must be below 2^63. */
size_t wsip_ws_header(uint8_t out[WSIP_WS_HEADER_MAX], enum wsip_ws_opcode op, bool fin,
                      uint64_t len, const uint8_t *key);

/* Size of a whole frame with a len-byte payload. */
size_t wsip_ws_frame_size(size_t len, bool masked);

/* Writes a whole frame (header and payload, masked with key unless key is
 * NULL) into out[0..cap). Returns its size, or 0 if cap is too small. For
 * clients (tests, wsip bench); the server sends header + payload by writev. */
size_t wsip_ws_frame(uint8_t *out, size_t cap, enum wsip_ws_opcode op, bool fin,
                     const uint8_t *payload, size_t len, const uint8_t *key);

/* Close frame with code and reason (NUL-terminated, may be NULL); a reason
 * longer than 123 bytes is cut at a code point boundary. code 0 sends an
 * empty close (no status, no reason). Returns the frame size. */
size_t wsip_ws_close_frame(uint8_t out[WSIP_WS_CONTROL_MAX], uint16_t code, const char *reason,
                           const uint8_t *key);

/* Ping / pong frames; return 0 when len > 125. */
size_t wsip_ws_ping_frame(uint8_t out[WSIP_WS_CONTROL_MAX], const uint8_t *payload, size_t len,
                          const uint8_t *key);
size_t wsip_ws_pong_frame(uint8_t out[WSIP_WS_CONTROL_MAX], const uint8_t *payload, size_t len,
                          const uint8_t *key);

/* ---------------------------------------------------------------- masking */

/* XORs p[0..n) with the repeating 4-byte key, in place, 8 bytes per step.
 * Masking and unmasking are the same operation. */
void wsip_ws_mask(uint8_t *p, size_t n, const uint8_t key[4]);
/* dst[i] = src[i] ^ key[i % 4]; dst and src must not overlap unless equal. */
void wsip_ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4]);

/* ------------------------------------------------------------------ UTF-8 */

/* Whether p[0..n) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). ASCII runs are checked 8 bytes at a
 * time. Used to pick text or binary frames for SIP (RFC 7118 sec 4.2). */
bool wsip_utf8_valid(const uint8_t *p, size_t n);

/* Incremental form for data that arrives in pieces: returns -1 if p[0..n)
 * cannot be the start of valid UTF-8, else 0 with *complete set to the
 * length of the longest prefix that ends on a code point; the rest (at most
 * 3 bytes) is a valid but unfinished sequence. */
int wsip_utf8_prefix(const uint8_t *p, size_t n, size_t *complete);

#endif

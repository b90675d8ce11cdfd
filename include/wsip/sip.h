/* SIP message layer: parser (views into a refcounted receive buffer), lazily
 * parsed and cached header bodies, framing for datagram / stream / WebSocket
 * transports, receive-side validation, and the outgoing builder. */
#ifndef WSIP_SIP_H
#define WSIP_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "wsip/buf.h"
#include "wsip/sip_hdr_ids.h"
#include "wsip/str.h"

/* ------------------------------------------------------------------ limits */

struct wsip_sip_limits {
    size_t max_msg_size;    /* whole message incl. body (default 65536) */
    size_t max_start_line;  /* request or status line (default 8192) */
    size_t max_header_line; /* one header field incl. folded lines (default 8192) */
    unsigned max_headers;   /* header values, list elements counted (default 128) */
};

void wsip_sip_limits_default(struct wsip_sip_limits *lim);

/* ----------------------------------------------------------------- results */

enum wsip_parse_rc {
    WSIP_PARSE_OK = 0,    /* a whole message was parsed */
    WSIP_PARSE_AGAIN = 1, /* stream framing only: more bytes are needed */
    WSIP_PARSE_BAD = -1,  /* malformed or over a limit: see wsip_sip_err */
};

/* Why a message is refused. status is what a proxy would answer (400, 413,
 * 505, 513, ...); 0 means "drop silently" (a malformed response). reason is a
 * static string usable as the reason phrase. */
struct wsip_sip_err {
    unsigned status;
    const char *reason;
};

/* ------------------------------------------------------------------ enums */

enum wsip_method {
    WSIP_METHOD_OTHER = 0,
    WSIP_METHOD_INVITE,
    WSIP_METHOD_ACK,
    WSIP_METHOD_BYE,
    WSIP_METHOD_CANCEL,
    WSIP_METHOD_REGISTER,
    WSIP_METHOD_OPTIONS,
    WSIP_METHOD_MESSAGE,
    WSIP_METHOD_SUBSCRIBE,
    WSIP_METHOD_NOTIFY,
    WSIP_METHOD_PUBLISH,
    WSIP_METHOD_INFO,
    WSIP_METHOD_PRACK,
    WSIP_METHOD_UPDATE,
    WSIP_METHOD_REFER,
};

/* Method names are case-sensitive (RFC 3261 sec 7.1). */
enum wsip_method wsip_method_from_str(struct wsip_str s);
const char *wsip_method_name(enum wsip_method m);

enum wsip_transport {
    WSIP_TP_UNKNOWN = 0,
    WSIP_TP_UDP,
    WSIP_TP_TCP,
    WSIP_TP_TLS,
    WSIP_TP_SCTP,
    WSIP_TP_WS,
    WSIP_TP_WSS,
};

enum wsip_transport wsip_transport_from_str(struct wsip_str s); /* case-insensitive */
const char *wsip_transport_name(enum wsip_transport t);         /* "UDP", "WSS", ... */

enum wsip_host_type {
    WSIP_HOST_NONE = 0,
    WSIP_HOST_NAME, /* hostname (incl. ".invalid" ones) */
    WSIP_HOST_IPV4,
    WSIP_HOST_IPV6, /* an IPv6 reference: host includes the brackets */
};

/* --------------------------------------------------------------- params */

/* Iterates ";name[=value]" parameters (URI params, header params). *params is
 * advanced; LWS around ';' and '=' is skipped. Returns false at the end or on
 * a malformed parameter (then *params has len 0 and *bad is set if bad). */
bool wsip_param_next(struct wsip_str *params, struct wsip_str *name, struct wsip_str *value,
                     bool *bad);
/* Finds a parameter by name (case-insensitive). Returns true if present;
 * *value (may be NULL) gets its value (empty if the parameter has none). */
bool wsip_param_find(struct wsip_str params, const char *name, struct wsip_str *value);

/* ------------------------------------------------------------------- URI */

enum wsip_uri_scheme {
    WSIP_URI_OTHER = 0, /* absoluteURI with another scheme (kept as raw) */
    WSIP_URI_SIP,
    WSIP_URI_SIPS,
    WSIP_URI_TEL,
};

struct wsip_uri {
    struct wsip_str raw; /* the whole URI as written */
    enum wsip_uri_scheme scheme;
    struct wsip_str scheme_str;
    struct wsip_str user;     /* still %-escaped; tel: the number */
    struct wsip_str password; /* still %-escaped */
    struct wsip_str host;     /* IPv6 reference keeps its brackets */
    enum wsip_host_type host_type;
    bool has_port;
    uint16_t port;
    struct wsip_str params;  /* ";a=b;lr" (leading ';' included) or empty */
    struct wsip_str headers; /* "a=b&c=d" (after '?') or empty */
    /* well-known parameters, found once at parse time */
    struct wsip_str transport; /* transport=... value */
    struct wsip_str maddr;
    struct wsip_str user_param; /* user=phone|ip */
    bool lr;
    bool ob;
    bool gr; /* ;gr (GRUU) present */
};

/* Parses a SIP/SIPS/tel URI or, for other schemes, checks it is an
 * absoluteURI. Returns 0, or -1 with *reason set. */
int wsip_uri_parse(struct wsip_uri *u, const char *p, size_t len, const char **reason);

/* Decodes the %-escapes of the user part into out (NUL-terminated). Returns
 * the length, or -1 if malformed or too long. */
long wsip_uri_user_unescaped(const struct wsip_uri *u, char *out, size_t cap);

/* URI equivalence (RFC 3261 sec 19.1.4) of two parsed URIs: sip and sips
 * never match; the userinfo is case-sensitive, the rest is not; %-escapes of
 * unreserved characters equal the characters; a component (user, password,
 * port) present in only one differs, default port included; parameters in
 * any order, those in both must match, user / ttl / method / maddr /
 * transport in only one make them differ, others in only one are ignored;
 * headers must be the same set. Other schemes: the whole URI, unescaped and
 * case-insensitively. */
bool wsip_uri_equal(const struct wsip_uri *a, const struct wsip_uri *b);

/* ------------------------------------------------------- name-addr, Via */

/* From, To, Contact, Route, Record-Route, Path, Reply-To, Refer-To, ... */
struct wsip_addr {
    struct wsip_str display; /* display-name as written (quotes kept), or empty */
    struct wsip_uri uri;
    struct wsip_str params; /* header params after the address (";tag=..") */
    struct wsip_str tag;    /* tag param value, or empty */
    bool has_tag;
    bool angle; /* the URI was written inside <> */
    bool star;  /* Contact: * */
};

int wsip_addr_parse(struct wsip_addr *a, struct wsip_str value, const char **reason);

struct wsip_via {
    struct wsip_str proto_name;    /* "SIP" */
    struct wsip_str proto_version; /* "2.0" */
    struct wsip_str transport_str;
    enum wsip_transport transport;
    struct wsip_str host; /* sent-by host (IPv6 with brackets) */
    enum wsip_host_type host_type;
    bool has_port;
    uint16_t port;
    struct wsip_str params; /* ";branch=..;rport" */
    struct wsip_str branch;
    struct wsip_str received;
    struct wsip_str maddr;
    bool has_rport; /* rport present, with or without a value */
    uint16_t rport; /* 0 when present without a value */
    int ttl;        /* -1 when absent */
};

int wsip_via_parse(struct wsip_via *v, struct wsip_str value, const char **reason);

struct wsip_cseq {
    uint32_t num; /* < 2**31 (RFC 3261 sec 8.1.1.5) */
    struct wsip_str method;
    enum wsip_method method_id;
};

int wsip_cseq_parse(struct wsip_cseq *c, struct wsip_str value, const char **reason);

/* type "/" subtype *( ";" param ) */
struct wsip_ctype {
    struct wsip_str type, subtype, params;
};

int wsip_ctype_parse(struct wsip_ctype *c, struct wsip_str value, const char **reason);

/* Event: package[.template] *(;param) ; id param found */
struct wsip_event {
    struct wsip_str package, params, id;
};

int wsip_event_parse(struct wsip_event *e, struct wsip_str value, const char **reason);

/* -------------------------------------------------------- digest headers */

/* Authorization / Proxy-Authorization credentials and WWW-Authenticate /
 * Proxy-Authenticate challenges. Values are views without the surrounding
 * quotes; a quoted value may still hold backslash escapes (see
 * quoted_escapes). Parameters not given are empty (p == NULL). */
struct wsip_auth {
    struct wsip_str scheme; /* "Digest" (any case) or another scheme */
    bool is_digest;
    struct wsip_str username, realm, nonce, uri, response, algorithm, cnonce, opaque, qop, nc,
        domain, stale, userhash, charset;
    bool quoted_escapes; /* some quoted value contains a backslash escape */
    unsigned nparams;    /* parameters seen */
};

int wsip_auth_parse(struct wsip_auth *a, struct wsip_str value, const char **reason);

/* Removes backslash escapes from a quoted-string body into out (NUL
 * terminated); returns the length or -1 if it does not fit. */
long wsip_unquote(struct wsip_str quoted_body, char *out, size_t cap);

/* --------------------------------------------------------------- message */

struct wsip_hdr {
    enum wsip_hdr_id id;
    struct wsip_str name;  /* as written */
    struct wsip_str value; /* this value, trimmed; folding (CRLF WSP) kept inside */
    struct wsip_str line;  /* the whole field: name .. final CRLF, folds included */
    uint16_t next;         /* index + 1 of the next header with the same id, 0 = last */
    uint8_t nth;           /* position of this value within its line (list headers) */
    uint8_t count;         /* values in the line */
    int8_t parse_state;    /* 0 not parsed yet, 1 parsed, -1 bad (see parse_err) */
    const char *parse_err;
    void *parsed; /* cached struct (wsip_via, wsip_addr, ...) once parsed */
};

struct wsip_arena;

struct wsip_msg {
    unsigned refs;
    struct wsip_buf *buf; /* holds a reference; NULL when the caller owns the bytes */
    struct wsip_str raw;  /* start line .. end of body */
    bool is_request;
    struct wsip_str start_line; /* without CRLF */
    struct wsip_str version;    /* "SIP/2.0" */
    /* request */
    struct wsip_str method;
    enum wsip_method method_id;
    struct wsip_str ruri_str;
    /* response */
    unsigned status;
    struct wsip_str reason;

    struct wsip_hdr *hdrs; /* in message order */
    unsigned nhdrs;
    uint16_t first[WSIP_HDR__COUNT]; /* index + 1 of the first header per id */
    uint16_t last[WSIP_HDR__COUNT];  /* index + 1 of the last header per id */

    size_t hdr_end; /* offset in raw of the empty line ending the headers */
    bool has_clen;  /* a (single, valid) Content-Length was found */
    uint32_t clen;  /* its value */
    bool clen_bad;  /* Content-Length malformed or given twice */
    struct wsip_str body;

    struct wsip_arena *arena; /* header array and cached parse results */
    struct wsip_uri *ruri;    /* cached by wsip_msg_ruri() */
    int8_t ruri_state;
    const char *ruri_err;
};

enum wsip_framing {
    WSIP_FRAMING_DATAGRAM = 0,
    WSIP_FRAMING_STREAM = 1,
    WSIP_FRAMING_WS = 2,
    /* Headers only: the body is ignored and Content-Length is not checked.
     * Used to read enough of a refused message to address an error
     * response to it; never to act on the message. */
    WSIP_FRAMING_HEADERS = 3,
};

/* Parses one SIP message from p[0..len).
 * - DATAGRAM: p..len is one UDP datagram. Without Content-Length the body
 *   runs to the end (RFC 3261 sec 18.3); with it, octets past the body are
 *   ignored and a value larger than what is there is an error.
 * - WS: p..len is one WebSocket message (RFC 7118 sec 5): Content-Length is
 *   optional; when present it must equal the body length.
 * - STREAM: p..len is what a TCP/TLS connection has buffered. Leading CRLFs
 *   (keepalives) are skipped; Content-Length is required. Returns
 *   WSIP_PARSE_AGAIN when the message is incomplete (then *consumed is the
 *   total length needed when known, else 0).
 * On OK, *msgp holds the message (refs 1) and *consumed is the number of
 * bytes used (leading CRLFs included). buf (may be NULL) is the refcounted
 * buffer that holds p; the message takes a reference on it. */
int wsip_msg_parse(struct wsip_msg **msgp, struct wsip_buf *buf, const char *p, size_t len,
                   enum wsip_framing framing, const struct wsip_sip_limits *lim, size_t *consumed,
                   struct wsip_sip_err *err);

struct wsip_msg *wsip_msg_ref(struct wsip_msg *m);
/* A copy that owns its bytes (a refcounted buffer of its own): for what must
 * outlive the receive buffer (transactions). NULL when out of memory. */
struct wsip_msg *wsip_msg_clone(const struct wsip_msg *m);
void wsip_msg_unref(struct wsip_msg *m);

/* Number of leading CRLF (or bare LF) octets: on a stream these are
 * keepalives (RFC 5626 sec 4.4.1), answered and skipped before a message. */
size_t wsip_stream_skip_crlf(const char *p, size_t len);

/* Header lookup. */
struct wsip_hdr *wsip_msg_hdr(const struct wsip_msg *m, enum wsip_hdr_id id);
struct wsip_hdr *wsip_msg_hdr_next(const struct wsip_msg *m, const struct wsip_hdr *h);
struct wsip_hdr *wsip_msg_hdr_by_name(const struct wsip_msg *m, struct wsip_str name);
unsigned wsip_msg_hdr_count(const struct wsip_msg *m, enum wsip_hdr_id id);
/* Canonical name of a header id ("Via"); "" for WSIP_HDR_OTHER. */
const char *wsip_hdr_name(enum wsip_hdr_id id);
enum wsip_hdr_id wsip_hdr_id_from_name(struct wsip_str name);

/* Lazily parsed, cached views. Each returns NULL when the header is absent
 * or malformed (then *reason, if not NULL, says why). The message must be
 * non-const because the cache lives in it. */
const struct wsip_uri *wsip_msg_ruri(struct wsip_msg *m, const char **reason);
const struct wsip_via *wsip_hdr_via(struct wsip_msg *m, struct wsip_hdr *h, const char **reason);
const struct wsip_addr *wsip_hdr_addr(struct wsip_msg *m, struct wsip_hdr *h, const char **reason);
const struct wsip_auth *wsip_hdr_auth(struct wsip_msg *m, struct wsip_hdr *h, const char **reason);
const struct wsip_via *wsip_msg_top_via(struct wsip_msg *m, const char **reason);
const struct wsip_addr *wsip_msg_from(struct wsip_msg *m, const char **reason);
const struct wsip_addr *wsip_msg_to(struct wsip_msg *m, const char **reason);
const struct wsip_cseq *wsip_msg_cseq(struct wsip_msg *m, const char **reason);
const struct wsip_ctype *wsip_msg_ctype(struct wsip_msg *m, const char **reason);
const struct wsip_event *wsip_msg_event(struct wsip_msg *m, const char **reason);
struct wsip_str wsip_msg_call_id(const struct wsip_msg *m);
/* Max-Forwards: 0..255, -1 when absent, -2 when malformed. */
int wsip_msg_max_forwards(const struct wsip_msg *m);
/* Expires header: 0 and *out set, 1 when absent, -1 when malformed. Values
 * above 2**32-1 are clamped (RFC 3261 sec 20.19 allows any delta-seconds). */
int wsip_msg_expires(const struct wsip_msg *m, uint32_t *out);
/* True if a token appears in any value of a list header (Supported, Require,
 * Allow, ...), case-insensitive. */
bool wsip_msg_has_token(const struct wsip_msg *m, enum wsip_hdr_id id, const char *token);

/* Loop detection (RFC 3261 sec 16.3 step 4, sec 16.6 step 8): a hash of
 * what a spiral changes and a loop does not: Request-URI, top Route, From
 * and To tags, Call-ID, CSeq number (not the method), Proxy-Require and
 * Proxy-Authorization. skip_pauth (may be NULL) leaves out credentials the
 * proxy consumes and removes before forwarding, so that the request that
 * comes back without them still hashes the same. */
uint64_t wsip_msg_loop_hash(struct wsip_msg *m,
                            bool (*skip_pauth)(const struct wsip_auth *, void *), void *arg);

/* ------------------------------------------------------------ validation */

/* What a proxy checks on every received message before it would process it
 * (RFC 3261 sec 16.3, 8.2): SIP version (505), mandatory headers (To, From,
 * CSeq, Call-ID, Via; Max-Forwards is not required of a received request),
 * headers that may appear once, CSeq (number range, method == request
 * method), Content-Length vs body, and that every header wsip reads (R-URI,
 * Via, From/To/Contact/Route/Record-Route, Max-Forwards, Expires,
 * Content-Type) parses. Returns 0 or -1 with err filled; for a response,
 * err->status is 0 (drop it). */
int wsip_msg_validate(struct wsip_msg *m, struct wsip_sip_err *err);

/* Application checks a request gets after wsip_msg_validate(), in the role
 * given (the answers RFC 4475 sec 3.3 names): 416 unsupported URI scheme,
 * 420 Bad Extension (Require / Proxy-Require naming extensions outside
 * `supported`, a NULL-terminated list), 483 Too Many Hops (proxy role), 400
 * for a REGISTER whose To is not sip/sips. Returns 0 or -1 with err filled. */
enum wsip_role { WSIP_ROLE_PROXY, WSIP_ROLE_REGISTRAR, WSIP_ROLE_UAS };
int wsip_msg_check_request(struct wsip_msg *m, enum wsip_role role, const char *const *supported,
                           struct wsip_sip_err *err);

/* -------------------------------------------------------------- builder */

/* A growable output byte buffer. */
struct wsip_sbuf {
    char *p;
    size_t len, cap;
    bool oom; /* an append failed: the content is incomplete */
};

void wsip_sbuf_init(struct wsip_sbuf *b);
void wsip_sbuf_free(struct wsip_sbuf *b);
void wsip_sbuf_append(struct wsip_sbuf *b, const void *p, size_t len);
/* Room for add more bytes: one allocation for what is known to come. */
void wsip_sbuf_reserve(struct wsip_sbuf *b, size_t add);
void wsip_sbuf_puts(struct wsip_sbuf *b, const char *s);
/* v in decimal. */
void wsip_sbuf_putu(struct wsip_sbuf *b, uint64_t v);
void wsip_sbuf_printf(struct wsip_sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Edit list over a received message (like Kamailio "lumps"): the original
 * bytes are never written; edits are recorded as offsets and applied while
 * serialising. Inserted text is copied into the builder, so callers may pass
 * temporaries. The builder holds a reference on msg. iovecs returned by
 * wsip_builder_iov() stay valid until the next edit or wsip_builder_free(). */
struct wsip_builder {
    struct wsip_msg *msg;
    struct wsip__bedit *edits; /* private (build.c), in call order */
    unsigned nedits, cap;
    struct wsip__bedit *ops; /* scratch: edits + derived ones, sorted when serialising */
    unsigned ops_cap;
    struct wsip_sbuf text; /* inserted bytes; edits refer to it by offset */
    uint8_t *removed;      /* per header value: removed? (NULL before the first removal) */
    bool oom;
    bool mf_done;       /* Max-Forwards already decremented or added */
    bool body_replaced; /* the new body is text[body_off, body_off + body_len) */
    size_t body_off, body_len;
    bool want_clen;     /* add a Content-Length when the message has none */
    char clen_line[40]; /* "Content-Length: N\r\n", made when serialising */
};

void wsip_builder_init(struct wsip_builder *b, struct wsip_msg *m);
void wsip_builder_free(struct wsip_builder *b);
/* Removes one header value (list headers: just that element, with its comma;
 * the whole line when it is the only one). */
int wsip_builder_remove_hdr(struct wsip_builder *b, const struct wsip_hdr *h);
/* Replaces one header value, keeping the name. */
int wsip_builder_replace_hdr(struct wsip_builder *b, const struct wsip_hdr *h,
                             struct wsip_str value);
/* Adds "Name: value" at the end of the header section. */
int wsip_builder_append_hdr(struct wsip_builder *b, const char *name, struct wsip_str value);
/* Adds "Name: value" above the first header with that id (e.g. Via,
 * Record-Route), or at the top of the headers when there is none. */
int wsip_builder_prepend_hdr(struct wsip_builder *b, enum wsip_hdr_id id, struct wsip_str value);
int wsip_builder_prepend_via(struct wsip_builder *b, struct wsip_str value);
int wsip_builder_set_ruri(struct wsip_builder *b, struct wsip_str uri);
/* Decrements Max-Forwards, or adds "Max-Forwards: 70" when absent (RFC 3261
 * sec 16.6 step 3). Returns -1 when the value is already 0 or malformed. */
int wsip_builder_decrement_max_forwards(struct wsip_builder *b);
/* Replaces the body and (re)writes Content-Length to match. */
int wsip_builder_set_body(struct wsip_builder *b, struct wsip_str body);
/* Makes sure the output carries a Content-Length (needed when a message
 * received over WS without one is sent over TCP/UDP). */
int wsip_builder_ensure_content_length(struct wsip_builder *b);
/* Serialises into iovecs pointing at the original bytes and the builder's
 * text; returns the number of iovecs used, or -1 if max is too small or an
 * allocation failed. *total gets the byte count. */
int wsip_builder_iov(struct wsip_builder *b, struct iovec *iov, unsigned max, size_t *total);
/* Serialises into an sbuf (appends). */
int wsip_builder_flatten(struct wsip_builder *b, struct wsip_sbuf *out);

/* Builds a response to req from scratch (RFC 3261 sec 8.2.6): status line,
 * all Via values, From, To (adding ";tag=to_tag" when the To has no tag,
 * status > 100 and to_tag is not empty), Call-ID, CSeq, then the
 * preformatted header lines in extra (each "Name: value\r\n", may be empty),
 * Content-Length and the body. Returns 0 or -1. */
int wsip_response_build(struct wsip_sbuf *out, struct wsip_msg *req, unsigned status,
                        const char *reason, struct wsip_str to_tag, struct wsip_str extra,
                        struct wsip_str body);

/* As wsip_response_build, with top_via (when not empty) sent in place of the
 * first Via value: the transport's copy with received / rport filled in
 * (RFC 3261 sec 18.2.1, RFC 3581 sec 4). */
int wsip_response_build_via(struct wsip_sbuf *out, struct wsip_msg *req, unsigned status,
                            const char *reason, struct wsip_str to_tag, struct wsip_str top_via,
                            struct wsip_str extra, struct wsip_str body);

/* CANCEL for a pending request (RFC 3261 sec 9.1): same Request-URI,
 * Call-ID, From, To (no tag) and CSeq number, the top Via only, the Route
 * set, then extra (whole header lines, e.g. Reason). Returns 0 or -1. */
int wsip_request_build_cancel(struct wsip_sbuf *out, struct wsip_msg *req, struct wsip_str extra);

/* The ACK a client transaction sends for a non-2xx final response to an
 * INVITE (RFC 3261 sec 17.1.1.3): as the CANCEL, but with the response's To
 * (and its tag). Returns 0 or -1 (not an INVITE, or resp not >= 300). */
int wsip_request_build_ack(struct wsip_sbuf *out, struct wsip_msg *invite, struct wsip_msg *resp);

/* Default reason phrase of a status code ("Not Found"), "" if unknown. */
const char *wsip_status_reason(unsigned status);

#endif

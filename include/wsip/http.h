/* HTTP/1.1 on the WebSocket port: a capped request parser (views into the
 * caller's buffer, no copies), the RFC 6455 / RFC 7118 opening-handshake
 * decision and its response, static-file path resolution and response
 * heads. Pure functions: no sockets, no file system access. */
#ifndef WSIP_HTTP_H
#define WSIP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsip/sip.h" /* struct wsip_sbuf */
#include "wsip/str.h"

/* ------------------------------------------------------------------ limits */

/* Hard upper bound of wsip_http_limits.max_headers (the header array lives
 * inside struct wsip_http_req). */
#define WSIP_HTTP_HEADERS_MAX 128

struct wsip_http_limits {
    size_t max_request_line; /* request line without CRLF (default 8192) -> 414 */
    size_t max_header_line;  /* one header field line without CRLF (default 8192) -> 431 */
    size_t max_header_bytes; /* header section: field lines + final empty line (8192) -> 431 */
    unsigned max_headers;    /* header fields (default 64, at most WSIP_HTTP_HEADERS_MAX) -> 431 */
    size_t max_body;         /* largest Content-Length accepted (default 0) -> 413 */
};

void wsip_http_limits_default(struct wsip_http_limits *lim);

/* ---------------------------------------------------------------- request */

enum wsip_http_method {
    WSIP_HTTP_OTHER = 0,
    WSIP_HTTP_GET,
    WSIP_HTTP_HEAD,
};

struct wsip_http_hdr {
    struct wsip_str name;  /* as written (a token) */
    struct wsip_str value; /* leading and trailing OWS removed; may be empty */
};

struct wsip_http_req {
    struct wsip_str method; /* case-sensitive token (RFC 7230 sec 3.1.1) */
    enum wsip_http_method method_id;
    struct wsip_str target; /* origin-form request-target as received */
    struct wsip_str path;   /* target up to '?', still %-encoded */
    struct wsip_str query;  /* after '?' (without it); empty when none */
    unsigned version_minor; /* HTTP/1.x: 0 for 1.0, >= 1 is treated as 1.1 */
    struct wsip_str body;   /* Content-Length bytes (only when max_body > 0) */
    size_t head_len;        /* leading empty lines + request line + headers */
    unsigned nhdrs;
    struct wsip_http_hdr hdrs[WSIP_HTTP_HEADERS_MAX];
};

enum wsip_http_rc {
    WSIP_HTTP_OK = 0,    /* a whole request is in the buffer */
    WSIP_HTTP_AGAIN = 1, /* a prefix of a possibly valid request: read more */
    WSIP_HTTP_BAD = -1,  /* answer err->status and close */
};

/* Why a request is refused: status 400, 413, 414, 431, 501 or 505, its
 * reason phrase and a short static explanation (for the body and logs). */
struct wsip_http_err {
    unsigned status;
    const char *reason;
    const char *detail;
};

/* Parses one request from p[0..len). Stateless: call again from the start
 * with more bytes after WSIP_HTTP_AGAIN. Caps are enforced on a prefix too,
 * so an over-long line or head is refused without waiting for its end.
 *
 * Syntax: leading empty lines are skipped (RFC 7230 sec 3.5); request line
 * "method SP origin-form SP HTTP/1.x" with single spaces (other versions of
 * the right shape: 505); header fields "name: value" (whitespace before the
 * colon, obs-fold and control characters: 400). A bare LF ends a line like
 * CRLF does (RFC 7230 sec 3.5 allows it); a CR anywhere else is refused.
 *
 * Semantics checked here: Transfer-Encoding (any) -> 501; Content-Length
 * must be one decimal value, above lim->max_body -> 413 (by default every
 * body is refused: GET and HEAD carry none); HTTP/1.1 needs exactly one
 * Host (RFC 7230 sec 5.4) -> 400.
 *
 * On OK, *consumed is head_len + body length: bytes after it (pipelined
 * data, e.g. the first WebSocket frames) belong to the caller. lim may be
 * NULL (defaults). The request's views point into p. */
int wsip_http_parse(struct wsip_http_req *req, const char *p, size_t len,
                    const struct wsip_http_limits *lim, size_t *consumed,
                    struct wsip_http_err *err);

/* First header with this name (case-insensitive), or NULL. */
const struct wsip_http_hdr *wsip_http_hdr(const struct wsip_http_req *req, const char *name);
unsigned wsip_http_hdr_count(const struct wsip_http_req *req, const char *name);
/* True if any header with this name has token as an element of its comma
 * separated value (OWS around elements ignored, empty elements allowed).
 * Tokens compare case-insensitively when nocase, else byte for byte. */
bool wsip_http_hdr_has_token(const struct wsip_http_req *req, const char *name, const char *token,
                             bool nocase);
/* The same on one value. */
bool wsip_http_list_has(struct wsip_str value, const char *token, bool nocase);
/* Persistent connection? HTTP/1.1 unless "Connection: close"; HTTP/1.0
 * only with "Connection: keep-alive". */
bool wsip_http_keep_alive(const struct wsip_http_req *req);

/* --------------------------------------------------------------- responses */

/* Reason phrase of an HTTP status ("Upgrade Required"); "" if unknown. */
const char *wsip_http_reason(unsigned status);

/* Appends an error response: status line (reason NULL: the default one),
 * the header lines in extra (each ending in CRLF; may be NULL),
 * Content-Type text/plain, Content-Length, Connection: close, and unless
 * head a body "<status> <reason>[: <detail>]\n". */
void wsip_http_error_response(struct wsip_sbuf *out, unsigned status, const char *reason,
                              const char *extra, const char *detail, bool head);

/* ----------------------------------------------------- WebSocket handshake */

struct wsip_ws_config {
    const char *path;           /* request path to accept (default "/"), query ignored */
    const char *const *origins; /* NULL-terminated allow-list; NULL or empty: any origin */
};

void wsip_ws_config_default(struct wsip_ws_config *cfg);

/* What kind of request this is, to route it. */
enum wsip_http_route {
    WSIP_ROUTE_WEBSOCKET = 1, /* Upgrade names websocket: decide with wsip_ws_handshake() */
    WSIP_ROUTE_STATIC,        /* GET or HEAD without it: serve a file */
    WSIP_ROUTE_NOT_ALLOWED,   /* any other method: 405 (wsip_http_static_error) */
};

enum wsip_http_route wsip_http_route(const struct wsip_http_req *req);

/* Extra header lines an error answer of the handshake must carry. */
#define WSIP_WS_HDR_VERSION  1u /* 426: Sec-WebSocket-Version: 13 (+ Upgrade) */
#define WSIP_WS_HDR_PROTOCOL 2u /* 400: Sec-WebSocket-Protocol: sip */
#define WSIP_WS_HDR_ALLOW    4u /* 405: Allow: GET */

/* Base64 of a SHA-1 digest: 28 characters. */
#define WSIP_WS_ACCEPT_LEN 28

struct wsip_ws_decision {
    unsigned status;                     /* 101, or 400 / 403 / 404 / 405 / 426 */
    const char *reason;                  /* reason phrase */
    const char *detail;                  /* why it was refused (static), "" for 101 */
    unsigned hdrs;                       /* WSIP_WS_HDR_* */
    char accept[WSIP_WS_ACCEPT_LEN + 1]; /* Sec-WebSocket-Accept (101 only), NUL-terminated */
};

/* Decides the opening handshake (RFC 6455 sec 4.2.1, RFC 7118 sec 4.1), in
 * this order: method GET (405), HTTP/1.1 or later (400), one non-empty
 * Host (400), Upgrade has "websocket" and Connection has "Upgrade" (tokens,
 * any case; 400), Sec-WebSocket-Version exactly once and "13" (426),
 * Sec-WebSocket-Key exactly once, 22 base64 characters and "==" (16 bytes;
 * non-zero pad bits are tolerated; 400), Sec-WebSocket-Protocol offers
 * "sip" (case-sensitive, RFC 7936 sec 2; 400 naming sip), path equal to
 * cfg->path (404), Origin, when present and an allow-list is configured,
 * one of the list (ASCII case-insensitive; 403). Returns 0 for 101, else -1;
 * d is filled either way. cfg may be NULL (defaults). */
int wsip_ws_handshake(const struct wsip_http_req *req, const struct wsip_ws_config *cfg,
                      struct wsip_ws_decision *d);

/* Sec-WebSocket-Accept for a key exactly as received (OWS trimmed):
 * base64(SHA-1(key "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")). out gets 28
 * characters and a NUL. Returns 0, or -1 if the digest failed. */
int wsip_ws_accept_key(struct wsip_str key, char out[WSIP_WS_ACCEPT_LEN + 1]);

/* Appends the response for a decision: 101 with Upgrade, Connection,
 * Sec-WebSocket-Accept and Sec-WebSocket-Protocol: sip; otherwise an error
 * response (wsip_http_error_response) with the headers d->hdrs asks for.
 * Returns 0, or -1 when out ran out of memory. */
int wsip_ws_handshake_response(const struct wsip_ws_decision *d, struct wsip_sbuf *out);

/* ------------------------------------------------------------ static files */

/* Maps an origin-form request-target to a file under root, into out (cap
 * bytes, NUL-terminated): the query is dropped, the path %-decoded (a bad
 * escape, %00, a control character or a backslash: 400), split on '/',
 * empty and "." segments dropped, ".." pops a segment and one that would
 * leave root is refused (403, never clamped), a segment starting with '.'
 * (hidden file, e.g. .git) is 404, and a path ending in '/' (or "/" itself)
 * gets "index.html". *mime (may be NULL) gets the type by extension.
 * Returns 0, or the HTTP status to answer (400, 403, 404; 414 when out is
 * too small). The file is not touched: the caller opens it (a directory
 * found there is the caller's 404 or redirect). */
int wsip_http_static_resolve(const char *root, struct wsip_str target, char *out, size_t cap,
                             const char **mime);

/* MIME type by the extension of path (case-insensitive): html, js, mjs,
 * css, json, svg, png, ico, wasm, txt, map; else application/octet-stream. */
const char *wsip_http_mime_type(struct wsip_str path);

/* Appends "HTTP/1.1 200 OK" with Content-Type, Content-Length: size,
 * Cache-Control: no-cache, X-Content-Type-Options: nosniff and, when
 * !keep_alive, Connection: close; the caller sends the file (not for HEAD). */
void wsip_http_static_headers(struct wsip_sbuf *out, uint64_t size, const char *mime,
                              bool keep_alive);

/* Appends an error for a static request: 403, 404, 405 (with Allow: GET,
 * HEAD) or any other status, as wsip_http_error_response() does. */
void wsip_http_static_error(struct wsip_sbuf *out, unsigned status, bool head);

/* ------------------------------------------------------------- web config */

/* Whether an origin-form request-target is /config.json (query ignored). */
bool wsip_http_is_web_config(struct wsip_str target);

/* Appends the answer to GET (or HEAD) /config.json, which the web phone
 * reads at start: 200, application/json, Connection: close, and the body
 * {"domains":[...],"ws_path":"/"} (ws_path NULL or empty: "/"). */
void wsip_http_web_config(struct wsip_sbuf *out, const char *const *domains, size_t ndomains,
                          const char *ws_path, bool head);

/* ----------------------------------------------------------------- base64 */

/* RFC 4648 sec 4 (with padding). Writes 4 * ceil(len / 3) characters and a
 * NUL; returns that length, or 0 when cap is too small (and len > 0). */
size_t wsip_base64_encode(const void *in, size_t len, char *out, size_t cap);

#define WSIP_BASE64_CANONICAL 1u /* refuse non-zero pad bits (RFC 4648 sec 3.5) */

/* Decodes padded base64 (length a multiple of 4, '=' only at the end, no
 * whitespace). Returns the decoded length, or -1 when malformed or longer
 * than cap. */
long wsip_base64_decode(const char *in, size_t len, void *out, size_t cap, unsigned flags);

#endif

/* The WebSocket opening handshake, server side (RFC 6455 sec 4.2, RFC 7118
 * sec 4.1): routing of a parsed request, the accept-or-refuse decision and
 * the response bytes. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "http/http_int.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void wsip_ws_config_default(struct wsip_ws_config *cfg)
{
    cfg->path = "/";
    cfg->origins = NULL;
}

enum wsip_http_route wsip_http_route(const struct wsip_http_req *r)
{
    /* any method: a POST with Upgrade: websocket still gets the WS answer (405) */
    if (wsip_http_hdr_has_token(r, "Upgrade", "websocket", true))
        return WSIP_ROUTE_WEBSOCKET;
    if (r->method_id == WSIP_HTTP_GET || r->method_id == WSIP_HTTP_HEAD)
        return WSIP_ROUTE_STATIC;
    return WSIP_ROUTE_NOT_ALLOWED;
}

int wsip_ws_accept_key(struct wsip_str key, char out[WSIP_WS_ACCEPT_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    int ok = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, key.p ? key.p : "", key.len) == 1 &&
        EVP_DigestUpdate(ctx, ws_guid, sizeof(ws_guid) - 1) == 1 &&
        EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20)
        ok = wsip_base64_encode(md, mdlen, out, WSIP_WS_ACCEPT_LEN + 1) == WSIP_WS_ACCEPT_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        out[0] = '\0';
    return ok ? 0 : -1;
}

/* RFC 6455 sec 4.1: "a randomly selected 16-byte value that has been
 * base64-encoded". Padded 16 bytes are 22 characters and "==". The pad bits
 * (the low 4 bits of the 22nd character) are not checked: RFC 4648 sec 3.5
 * makes that check optional, RFC 6455 sec 4.1 prints a key with non-zero
 * pad bits (Errata ID 3150), and the accept value is computed over the
 * string as received, so tolerating them is unambiguous. */
static bool key_valid(struct wsip_str key)
{
    unsigned char raw[18];
    return key.len == 24 && wsip_base64_decode(key.p, key.len, raw, sizeof(raw), 0) == 16;
}

static bool origin_allowed(const struct wsip_http_req *r, const struct wsip_ws_config *cfg)
{
    if (!cfg->origins || !cfg->origins[0])
        return true;
    unsigned n = wsip_http_hdr_count(r, "Origin");
    if (n == 0) /* not a browser: the Origin check protects browsers only */
        return true;
    if (n > 1)
        return false;
    struct wsip_str o = wsip_http_hdr(r, "Origin")->value;
    /* scheme and host are case-insensitive; browsers send them lower-case */
    for (const char *const *a = cfg->origins; *a; a++)
        if (wsip_str_caseeq_cstr(o, *a))
            return true;
    return false;
}

static int refuse(struct wsip_ws_decision *d, unsigned status, const char *detail, unsigned hdrs)
{
    d->status = status;
    d->reason = wsip_http_reason(status);
    d->detail = detail;
    d->hdrs = hdrs;
    d->accept[0] = '\0';
    return -1;
}

int wsip_ws_handshake(const struct wsip_http_req *r, const struct wsip_ws_config *cfg,
                      struct wsip_ws_decision *d)
{
    struct wsip_ws_config def;
    if (!cfg) {
        wsip_ws_config_default(&def);
        cfg = &def;
    }
    if (r->method_id != WSIP_HTTP_GET)
        return refuse(d, 405, "a WebSocket handshake is a GET", WSIP_WS_HDR_ALLOW);
    if (r->version_minor < 1)
        return refuse(d, 400, "a WebSocket handshake needs HTTP/1.1", 0);
    const struct wsip_http_hdr *host = wsip_http_hdr(r, "Host");
    if (!host || host->value.len == 0 || wsip_http_hdr_count(r, "Host") != 1)
        return refuse(d, 400, "missing or duplicate Host", 0);
    if (!wsip_http_hdr_has_token(r, "Upgrade", "websocket", true))
        return refuse(d, 400, "Upgrade must name websocket", 0);
    if (!wsip_http_hdr_has_token(r, "Connection", "Upgrade", true))
        return refuse(d, 400, "Connection must include Upgrade", 0);
    /* sec 4.2.2: any other (or no) version gets 426 naming the one we speak */
    const struct wsip_http_hdr *ver = wsip_http_hdr(r, "Sec-WebSocket-Version");
    if (!ver || wsip_http_hdr_count(r, "Sec-WebSocket-Version") != 1 ||
        !wsip_str_eq_cstr(ver->value, "13"))
        return refuse(d, 426, "Sec-WebSocket-Version must be 13", WSIP_WS_HDR_VERSION);
    const struct wsip_http_hdr *key = wsip_http_hdr(r, "Sec-WebSocket-Key");
    if (!key || wsip_http_hdr_count(r, "Sec-WebSocket-Key") != 1)
        return refuse(d, 400, "exactly one Sec-WebSocket-Key is required", 0);
    if (!key_valid(key->value))
        return refuse(d, 400, "Sec-WebSocket-Key is not 16 bytes in base64", 0);
    /* RFC 7118 sec 4.1: the client MUST offer "sip"; subprotocol names match
     * case-sensitively (RFC 7936 sec 2), so "SIP" is not an offer of sip */
    if (!wsip_http_hdr_has_token(r, "Sec-WebSocket-Protocol", "sip", false))
        return refuse(d, 400, "Sec-WebSocket-Protocol must offer sip", WSIP_WS_HDR_PROTOCOL);
    if (!wsip_str_eq_cstr(r->path, cfg->path ? cfg->path : "/"))
        return refuse(d, 404, "no WebSocket service at this path", 0);
    if (!origin_allowed(r, cfg))
        return refuse(d, 403, "Origin not allowed", 0);

    if (wsip_ws_accept_key(key->value, d->accept) != 0)
        return refuse(d, 500, "SHA-1 failed", 0);
    d->status = 101;
    d->reason = wsip_http_reason(101);
    d->detail = "";
    d->hdrs = 0;
    return 0;
}

int wsip_ws_handshake_response(const struct wsip_ws_decision *d, struct wsip_sbuf *out)
{
    if (d->status == 101) {
        wsip_sbuf_printf(out,
                         "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n"
                         "Sec-WebSocket-Protocol: sip\r\n\r\n",
                         d->accept);
        return out->oom ? -1 : 0;
    }
    char extra[160];
    size_t n = 0;
    extra[0] = '\0';
    const char *connection = "close";
    if (d->hdrs & WSIP_WS_HDR_VERSION) {
        /* a 426 MUST carry Upgrade (RFC 7231 sec 6.5.15), which must be
         * listed in Connection (RFC 7230 sec 6.7) */
        n += (size_t)snprintf(extra + n, sizeof(extra) - n,
                              "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n");
        connection = "Upgrade, close";
    }
    if (d->hdrs & WSIP_WS_HDR_PROTOCOL)
        n += (size_t)snprintf(extra + n, sizeof(extra) - n, "Sec-WebSocket-Protocol: sip\r\n");
    if (d->hdrs & WSIP_WS_HDR_ALLOW)
        n += (size_t)snprintf(extra + n, sizeof(extra) - n, "Allow: GET\r\n");
    wsip__http_error(out, d->status, d->reason, extra, d->detail, false, connection);
    return out->oom ? -1 : 0;
}

/* GET /config.json: what the web phone learns of the server that served it
 * (its SIP domains and the WebSocket path), made from the configuration so
 * that the page never guesses them from its own URL. */
#include <string.h>

#include "http/http_int.h"

static const char config_path[] = "/config.json";

bool wsip_http_is_web_config(struct wsip_str target)
{
    const char *q = memchr(target.p, '?', target.len);
    size_t len = q ? (size_t)(q - target.p) : target.len;
    return len == sizeof(config_path) - 1 && !memcmp(target.p, config_path, len);
}

/* A JSON string: quotes, backslashes and control characters escaped; other
 * bytes as they are (the configuration holds UTF-8). */
static void json_string(struct wsip_sbuf *out, const char *s)
{
    wsip_sbuf_puts(out, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            wsip_sbuf_printf(out, "\\%c", c);
        else if (c < 0x20)
            wsip_sbuf_printf(out, "\\u%04x", c);
        else
            wsip_sbuf_append(out, s, 1);
    }
    wsip_sbuf_puts(out, "\"");
}

void wsip_http_web_config(struct wsip_sbuf *out, const char *const *domains, size_t ndomains,
                          const char *ws_path, bool head)
{
    struct wsip_sbuf body;
    wsip_sbuf_init(&body);
    wsip_sbuf_puts(&body, "{\"domains\":[");
    for (size_t i = 0; i < ndomains; i++) {
        if (i)
            wsip_sbuf_puts(&body, ",");
        json_string(&body, domains[i]);
    }
    wsip_sbuf_puts(&body, "],\"ws_path\":");
    json_string(&body, ws_path && *ws_path ? ws_path : "/");
    wsip_sbuf_puts(&body, "}\n");
    if (body.oom) {
        wsip_sbuf_free(&body);
        wsip_http_static_error(out, 500, head);
        return;
    }
    wsip_http_static_headers(out, body.len, "application/json", false);
    if (!head)
        wsip_sbuf_append(out, body.p, body.len);
    wsip_sbuf_free(&body);
}

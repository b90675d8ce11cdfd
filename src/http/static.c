/* Static files: request-target -> path under the web root, MIME types, and
 * response heads. The server opens and reads the file on the libuv
 * threadpool; nothing here touches the file system. */
#include <string.h>
#include <strings.h>

#include "http/http_int.h"

/* Longest decoded path we resolve (PATH_MAX on Linux). */
#define STATIC_PATH_MAX 4096

/* %-decodes the path into dec; 0, 400 (bad escape or a byte no file name
 * here may hold: NUL, control, backslash) or 414. */
static int decode_path(struct wsip_str path, char *dec, size_t cap, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < path.len; i++) {
        unsigned char c = (unsigned char)path.p[i];
        if (c == '%') {
            int h = i + 2 < path.len ? wsip_hex_value(path.p[i + 1]) : -1;
            int l = h >= 0 ? wsip_hex_value(path.p[i + 2]) : -1;
            if (l < 0)
                return 400;
            c = (unsigned char)(h << 4 | l);
            i += 2;
        }
        /* a backslash is a separator on other systems: never a file name */
        if (c < 0x20 || c == 0x7f || c == '\\')
            return 400;
        if (o >= cap)
            return 414;
        dec[o++] = (char)c;
    }
    *outlen = o;
    return 0;
}

int wsip_http_static_resolve(const char *root, struct wsip_str target, char *out, size_t cap,
                             const char **mime)
{
    if (mime)
        *mime = NULL;
    if (cap)
        out[0] = '\0';
    if (target.len == 0 || target.p[0] != '/')
        return 400;
    const char *q = memchr(target.p, '?', target.len);
    struct wsip_str path = wsip_str_make(target.p, q ? (size_t)(q - target.p) : target.len);

    char dec[STATIC_PATH_MAX];
    size_t dlen;
    int rc = decode_path(path, dec, sizeof(dec), &dlen);
    if (rc)
        return rc;

    /* an empty root would make "/x" absolute: it means the current dir */
    if (!root || !*root)
        root = ".";
    size_t rlen = strlen(root);
    while (rlen > 1 && root[rlen - 1] == '/')
        rlen--;
    if (rlen + 1 > cap)
        return 414;
    memcpy(out, root, rlen);
    /* out[base..o) is "/seg/seg..." below the root */
    size_t base = rlen == 1 && root[0] == '/' ? 0 : rlen;
    size_t o = base;
    bool dir = true; /* the path names a directory (ends in '/', "." or "..") */
    for (size_t i = 0; i < dlen;) {
        size_t e = i;
        while (e < dlen && dec[e] != '/')
            e++;
        const char *seg = dec + i;
        size_t slen = e - i;
        i = e + 1;
        dir = true;
        if (slen == 0 || (slen == 1 && seg[0] == '.'))
            continue;
        if (slen == 2 && seg[0] == '.' && seg[1] == '.') {
            /* refuse, never clamp: "/../x" is an attack, not a typo */
            if (o == base)
                return 403;
            while (out[o - 1] != '/')
                o--;
            o--;
            continue;
        }
        if (seg[0] == '.') /* .git, .env, .htpasswd: not for the web */
            return 404;
        if (slen > cap || o + 1 + slen + 1 > cap)
            return 414;
        out[o++] = '/';
        memcpy(out + o, seg, slen);
        o += slen;
        dir = false;
    }
    if (dir || dec[dlen - 1] == '/') {
        static const char index[] = "/index.html";
        if (o + sizeof(index) > cap)
            return 414;
        memcpy(out + o, index, sizeof(index) - 1);
        o += sizeof(index) - 1;
    }
    out[o] = '\0';
    if (mime)
        *mime = wsip_http_mime_type(wsip_str_make(out, o));
    return 0;
}

static const struct {
    const char *ext;
    const char *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"}, /* RFC 9239 */
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"}, /* source maps */
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"ico", "image/x-icon"},
    {"wasm", "application/wasm"}, /* needed for WebAssembly.instantiateStreaming */
    {"txt", "text/plain; charset=utf-8"},
};

const char *wsip_http_mime_type(struct wsip_str path)
{
    size_t k = path.len;
    while (k > 0 && path.p[k - 1] != '.' && path.p[k - 1] != '/')
        k--;
    if (k > 0 && path.p[k - 1] == '.') {
        struct wsip_str ext = wsip_str_make(path.p + k, path.len - k);
        for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++)
            if (wsip_str_caseeq_cstr(ext, mime_types[i].ext))
                return mime_types[i].type;
    }
    return "application/octet-stream";
}

void wsip_http_static_headers(struct wsip_sbuf *out, uint64_t size, const char *mime,
                              bool keep_alive)
{
    wsip_sbuf_printf(out,
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %llu\r\n"
                     "Cache-Control: no-cache\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "%s\r\n",
                     mime ? mime : "application/octet-stream", (unsigned long long)size,
                     keep_alive ? "" : "Connection: close\r\n");
}

void wsip_http_static_error(struct wsip_sbuf *out, unsigned status, bool head)
{
    const char *detail = status == 404 ? "no such file" : status == 403 ? "path not allowed" : "";
    wsip__http_error(out, status, NULL, status == 405 ? "Allow: GET, HEAD\r\n" : NULL, detail, head,
                     "close");
}

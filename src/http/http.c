/* HTTP/1.1 request parser (RFC 7230 sec 3) for the WebSocket opening
 * handshake and plain GETs: stateless, line by line, views into the
 * caller's buffer, every length capped. Also header lookups, comma-list
 * tokens, reason phrases and error responses. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/http_int.h"

/* tchar (RFC 7230 sec 3.2.6): method and field-name characters */
static const unsigned char tchar[256] = {
    ['0' ... '9'] = 1, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1,
    ['%'] = 1,         ['&'] = 1,         ['\''] = 1,        ['*'] = 1, ['+'] = 1, ['-'] = 1,
    ['.'] = 1,         ['^'] = 1,         ['_'] = 1,         ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

void wsip_http_limits_default(struct wsip_http_limits *lim)
{
    lim->max_request_line = 8192;
    lim->max_header_line = 8192;
    lim->max_header_bytes = 8192;
    lim->max_headers = 64;
    lim->max_body = 0;
}

static int bad(struct wsip_http_err *err, unsigned status, const char *detail)
{
    err->status = status;
    err->reason = wsip_http_reason(status);
    err->detail = detail;
    return WSIP_HTTP_BAD;
}

/* End of the line starting at p[i] (index of its LF), looking at no more
 * than max + 2 bytes (content, CR, LF). Returns 1 with *lf set, 0 when the
 * buffer ends first (need more), -1 when the line is already too long. */
static int find_lf(const char *p, size_t len, size_t i, size_t max, size_t *lf)
{
    size_t avail = len - i;
    size_t win = max > SIZE_MAX - 2 ? SIZE_MAX : max + 2;
    const char *q = memchr(p + i, '\n', avail < win ? avail : win);
    if (q) {
        *lf = (size_t)(q - p);
        return 1;
    }
    return avail >= win ? -1 : 0;
}

/* A prefix of the request line that no complete line can make valid: a
 * method with a non-token byte (e.g. a TLS ClientHello on a plain port). */
static bool request_prefix_bad(const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == ' ')
            return k == 0;
        if (!tchar[c] && !(c == '\r' && k + 1 == n))
            return true;
    }
    return false;
}

static int parse_request_line(struct wsip_http_req *r, const char *s, size_t n,
                              struct wsip_http_err *err)
{
    const char *end = s + n;
    const char *sp1 = memchr(s, ' ', n);
    if (!sp1 || sp1 == s)
        return bad(err, 400, "malformed request line");
    for (const char *q = s; q < sp1; q++)
        if (!tchar[(unsigned char)*q])
            return bad(err, 400, "bad character in method");
    r->method = wsip_str_make(s, (size_t)(sp1 - s));
    if (wsip_str_eq_cstr(r->method, "GET"))
        r->method_id = WSIP_HTTP_GET;
    else if (wsip_str_eq_cstr(r->method, "HEAD"))
        r->method_id = WSIP_HTTP_HEAD;
    else
        r->method_id = WSIP_HTTP_OTHER;

    const char *t = sp1 + 1;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (!sp2 || sp2 == t)
        return bad(err, 400, "malformed request line");
    for (const char *q = t; q < sp2; q++) {
        unsigned char c = (unsigned char)*q;
        if (c <= 0x20 || c >= 0x7f)
            return bad(err, 400, "bad character in request-target");
    }
    /* origin-form only: absolute-form is for proxies, "*" for OPTIONS */
    if (*t != '/')
        return bad(err, 400, "request-target is not origin-form");
    r->target = wsip_str_make(t, (size_t)(sp2 - t));
    const char *qm = memchr(t, '?', r->target.len);
    if (qm) {
        r->path = wsip_str_make(t, (size_t)(qm - t));
        r->query = wsip_str_make(qm + 1, (size_t)(sp2 - qm - 1));
    } else {
        r->path = r->target;
        r->query = wsip_str_make(sp2, 0);
    }

    /* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (sec 2.6) */
    const char *v = sp2 + 1;
    if (end - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return bad(err, 400, "malformed HTTP version");
    /* a higher 1.x minor is 1.1-compatible (sec 2.6) */
    if (v[5] != '1')
        return bad(err, 505, "only HTTP/1.x is supported");
    r->version_minor = (unsigned)(v[7] - '0');
    return WSIP_HTTP_OK;
}

static int parse_header_line(struct wsip_http_req *r, const char *s, size_t n,
                             struct wsip_http_err *err)
{
    size_t k = 0;
    while (k < n && tchar[(unsigned char)s[k]])
        k++;
    if (k == n || s[k] != ':')
        /* covers "Name : v" too, which sec 3.2.4 says to refuse with 400 */
        return bad(err, 400, "malformed header field");
    if (k == 0)
        return bad(err, 400, "empty header name");
    struct wsip_http_hdr *h = &r->hdrs[r->nhdrs++];
    h->name = wsip_str_make(s, k);
    size_t v = k + 1, e = n;
    for (size_t q = v; q < n; q++) {
        unsigned char c = (unsigned char)s[q];
        /* field-content: VCHAR, obs-text, SP, HTAB; no CTL, no lone CR */
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return bad(err, 400, "control character in header value");
    }
    while (v < e && (s[v] == ' ' || s[v] == '\t'))
        v++;
    while (e > v && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    h->value = wsip_str_make(s + v, e - v);
    return WSIP_HTTP_OK;
}

/* Checks once the head is complete: framing of a body and Host. */
static int check_head(struct wsip_http_req *r, const struct wsip_http_limits *lim, uint64_t *clen,
                      struct wsip_http_err *err)
{
    *clen = 0;
    /* a chunked (or any coded) body cannot be framed here: sec 3.3.1 */
    if (wsip_http_hdr(r, "Transfer-Encoding"))
        return bad(err, 501, "Transfer-Encoding is not supported");
    unsigned ncl = wsip_http_hdr_count(r, "Content-Length");
    if (ncl > 1)
        return bad(err, 400, "more than one Content-Length");
    if (ncl == 1) {
        const struct wsip_http_hdr *h = wsip_http_hdr(r, "Content-Length");
        if (wsip_str_to_u64(h->value, UINT64_MAX, clen) != 0)
            return bad(err, 400, "malformed Content-Length");
        if (*clen > lim->max_body)
            return bad(err, 413, "request body not accepted");
    }
    unsigned nhost = wsip_http_hdr_count(r, "Host");
    if (nhost > 1 || (nhost == 0 && r->version_minor >= 1))
        return bad(err, 400, "HTTP/1.1 request needs exactly one Host");
    return WSIP_HTTP_OK;
}

int wsip_http_parse(struct wsip_http_req *r, const char *p, size_t len,
                    const struct wsip_http_limits *lim, size_t *consumed, struct wsip_http_err *err)
{
    struct wsip_http_limits def;
    if (!lim) {
        wsip_http_limits_default(&def);
        lim = &def;
    }
    unsigned max_headers =
        lim->max_headers < WSIP_HTTP_HEADERS_MAX ? lim->max_headers : WSIP_HTTP_HEADERS_MAX;
    struct wsip_http_err dummy;
    if (!err)
        err = &dummy;
    err->status = 0;
    err->reason = "";
    err->detail = "";
    *consumed = 0;
    /* the header array is filled as lines are read; no need to zero it */
    r->method = r->target = r->path = r->query = r->body = WSIP_STR_NULL;
    r->method_id = WSIP_HTTP_OTHER;
    r->version_minor = 0;
    r->head_len = 0;
    r->nhdrs = 0;

    /* sec 3.5: ignore empty lines before the request line */
    size_t i = 0;
    for (;;) {
        if (i < len && p[i] == '\n')
            i++;
        else if (i + 1 < len && p[i] == '\r' && p[i + 1] == '\n')
            i += 2;
        else
            break;
        if (i > lim->max_request_line)
            return bad(err, 400, "too many empty lines before the request");
    }

    size_t lf;
    int rc = find_lf(p, len, i, lim->max_request_line, &lf);
    if (rc <= 0) {
        if (rc < 0)
            return bad(err, 414, "request line too long");
        if (request_prefix_bad(p + i, len - i))
            return bad(err, 400, "malformed request line");
        return WSIP_HTTP_AGAIN;
    }
    size_t ce = lf > i && p[lf - 1] == '\r' ? lf - 1 : lf;
    if (ce - i > lim->max_request_line)
        return bad(err, 414, "request line too long");
    if (parse_request_line(r, p + i, ce - i, err) != WSIP_HTTP_OK)
        return WSIP_HTTP_BAD;
    i = lf + 1;

    size_t hdr_start = i;
    for (;;) {
        rc = find_lf(p, len, i, lim->max_header_line, &lf);
        if (rc < 0)
            return bad(err, 431, "header field too long");
        if (rc == 0) {
            if (len - hdr_start > lim->max_header_bytes)
                return bad(err, 431, "header section too large");
            return WSIP_HTTP_AGAIN;
        }
        if (lf + 1 - hdr_start > lim->max_header_bytes)
            return bad(err, 431, "header section too large");
        ce = lf > i && p[lf - 1] == '\r' ? lf - 1 : lf;
        if (ce == i) { /* the empty line */
            i = lf + 1;
            break;
        }
        if (ce - i > lim->max_header_line)
            return bad(err, 431, "header field too long");
        /* obs-fold (sec 3.2.4), or whitespace after the request line (sec 3) */
        if (p[i] == ' ' || p[i] == '\t')
            return bad(err, 400, "folded header line");
        if (r->nhdrs >= max_headers)
            return bad(err, 431, "too many header fields");
        if (parse_header_line(r, p + i, ce - i, err) != WSIP_HTTP_OK)
            return WSIP_HTTP_BAD;
        i = lf + 1;
    }
    r->head_len = i;

    uint64_t clen;
    if (check_head(r, lim, &clen, err) != WSIP_HTTP_OK)
        return WSIP_HTTP_BAD;
    if (clen > len - i)
        return WSIP_HTTP_AGAIN;
    r->body = wsip_str_make(p + i, (size_t)clen);
    *consumed = i + (size_t)clen;
    return WSIP_HTTP_OK;
}

/* ---------------------------------------------------------------- lookups */

static bool name_is(const struct wsip_http_hdr *h, const char *name, size_t n)
{
    return h->name.len == n && strncasecmp(h->name.p, name, n) == 0;
}

const struct wsip_http_hdr *wsip_http_hdr(const struct wsip_http_req *r, const char *name)
{
    size_t n = strlen(name);
    for (unsigned k = 0; k < r->nhdrs; k++)
        if (name_is(&r->hdrs[k], name, n))
            return &r->hdrs[k];
    return NULL;
}

unsigned wsip_http_hdr_count(const struct wsip_http_req *r, const char *name)
{
    size_t n = strlen(name);
    unsigned c = 0;
    for (unsigned k = 0; k < r->nhdrs; k++)
        if (name_is(&r->hdrs[k], name, n))
            c++;
    return c;
}

bool wsip_http_list_has(struct wsip_str value, const char *token, bool nocase)
{
    size_t tlen = strlen(token);
    const char *s = value.p, *end = value.p + value.len;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        const char *a = s, *b = e;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if ((size_t)(b - a) == tlen &&
            (nocase ? strncasecmp(a, token, tlen) == 0 : memcmp(a, token, tlen) == 0))
            return true;
        if (!comma)
            break;
        s = comma + 1;
    }
    return false;
}

bool wsip_http_hdr_has_token(const struct wsip_http_req *r, const char *name, const char *token,
                             bool nocase)
{
    size_t n = strlen(name);
    for (unsigned k = 0; k < r->nhdrs; k++)
        if (name_is(&r->hdrs[k], name, n) && wsip_http_list_has(r->hdrs[k].value, token, nocase))
            return true;
    return false;
}

bool wsip_http_keep_alive(const struct wsip_http_req *r)
{
    if (wsip_http_hdr_has_token(r, "Connection", "close", true))
        return false;
    return r->version_minor >= 1 || wsip_http_hdr_has_token(r, "Connection", "keep-alive", true);
}

/* -------------------------------------------------------------- responses */

static const struct {
    unsigned status;
    const char *text;
} reasons[] = {
    {101, "Switching Protocols"},
    {200, "OK"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {426, "Upgrade Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {503, "Service Unavailable"},
    {505, "HTTP Version Not Supported"},
};

const char *wsip_http_reason(unsigned status)
{
    for (size_t k = 0; k < sizeof(reasons) / sizeof(reasons[0]); k++)
        if (reasons[k].status == status)
            return reasons[k].text;
    return "";
}

void wsip__http_error(struct wsip_sbuf *out, unsigned status, const char *reason, const char *extra,
                      const char *detail, bool head, const char *connection)
{
    if (!reason)
        reason = wsip_http_reason(status);
    const char *sep = detail && *detail ? ": " : "";
    if (!*sep)
        detail = "";
    /* the body: one line a person (or curl) can read */
    int blen = snprintf(NULL, 0, "%u %s%s%s\n", status, reason, sep, detail);
    wsip_sbuf_printf(out, "HTTP/1.1 %u %s\r\n", status, reason);
    if (extra)
        wsip_sbuf_puts(out, extra);
    wsip_sbuf_printf(out,
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %d\r\n"
                     "Connection: %s\r\n\r\n",
                     blen < 0 ? 0 : blen, connection);
    if (!head && blen > 0)
        wsip_sbuf_printf(out, "%u %s%s%s\n", status, reason, sep, detail);
}

void wsip_http_error_response(struct wsip_sbuf *out, unsigned status, const char *reason,
                              const char *extra, const char *detail, bool head)
{
    wsip__http_error(out, status, reason, extra, detail, head, "close");
}

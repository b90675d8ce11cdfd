/* SIP message parser: start line, header split (folding, compact names, list
 * elements), framing per transport. Everything is a view into the input;
 * the only allocation is the message's arena (one malloc for most messages). */
#include <stdlib.h>
#include <string.h>

#include "sip/sip_int.h"

#define MSG_ARENA_FIRST  4096
#define HDRS_INITIAL_CAP 24
#define CLEN_MAX         (64u * 1024u * 1024u)

void wsip_sip_limits_default(struct wsip_sip_limits *lim)
{
    lim->max_msg_size = 65536;
    lim->max_start_line = 8192;
    lim->max_header_line = 8192;
    lim->max_headers = 128;
}

static const char *const method_names[] = {
    [WSIP_METHOD_OTHER] = "",
    [WSIP_METHOD_INVITE] = "INVITE",
    [WSIP_METHOD_ACK] = "ACK",
    [WSIP_METHOD_BYE] = "BYE",
    [WSIP_METHOD_CANCEL] = "CANCEL",
    [WSIP_METHOD_REGISTER] = "REGISTER",
    [WSIP_METHOD_OPTIONS] = "OPTIONS",
    [WSIP_METHOD_MESSAGE] = "MESSAGE",
    [WSIP_METHOD_SUBSCRIBE] = "SUBSCRIBE",
    [WSIP_METHOD_NOTIFY] = "NOTIFY",
    [WSIP_METHOD_PUBLISH] = "PUBLISH",
    [WSIP_METHOD_INFO] = "INFO",
    [WSIP_METHOD_PRACK] = "PRACK",
    [WSIP_METHOD_UPDATE] = "UPDATE",
    [WSIP_METHOD_REFER] = "REFER",
};

enum wsip_method wsip_method_from_str(struct wsip_str s)
{
    /* the first letter rules out all but one or two names */
    if (s.len < 3 || s.len > 9)
        return WSIP_METHOD_OTHER;
    for (unsigned i = 1; i < sizeof(method_names) / sizeof(method_names[0]); i++)
        if (method_names[i][0] == s.p[0] && strlen(method_names[i]) == s.len &&
            memcmp(method_names[i], s.p, s.len) == 0)
            return (enum wsip_method)i;
    return WSIP_METHOD_OTHER;
}

const char *wsip_method_name(enum wsip_method m)
{
    if ((unsigned)m >= sizeof(method_names) / sizeof(method_names[0]))
        return "";
    return method_names[m];
}

const char *wsip_hdr_name(enum wsip_hdr_id id)
{
    return (unsigned)id < WSIP_HDR__COUNT ? wsip__hdr_info[id].name : "";
}

enum wsip_hdr_id wsip_hdr_id_from_name(struct wsip_str name)
{
    for (size_t i = 0; i < name.len; i++)
        if (!wsip__is((unsigned char)name.p[i], WSIP_C_TOKEN))
            return WSIP_HDR_OTHER;
    return wsip__hdr_lookup(name.p, name.len);
}

/* ------------------------------------------------------------ lifecycle */

struct wsip_msg *wsip_msg_ref(struct wsip_msg *m)
{
    if (m)
        m->refs++;
    return m;
}

void wsip_msg_unref(struct wsip_msg *m)
{
    if (!m || --m->refs > 0)
        return;
    wsip_buf_unref(m->buf);
    wsip_arena_free(m->arena); /* m itself lives in the arena */
}

void *wsip__msg_alloc(struct wsip_msg *m, size_t size)
{
    return wsip_arena_alloc(m->arena, size);
}

size_t wsip_stream_skip_crlf(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && (p[i] == '\r' || p[i] == '\n'))
        i++;
    return i;
}

/* --------------------------------------------------------------- parsing */

struct parser {
    struct wsip_msg *m;
    const char *p, *end; /* the message bytes under parse */
    const struct wsip_sip_limits *lim;
    unsigned cap;    /* capacity of m->hdrs */
    unsigned values; /* header values seen, against lim->max_headers */
    bool response;   /* the start line begins with "SIP/" */
    struct wsip_sip_err *err;
};

static int fail(struct parser *ps, unsigned status, const char *reason)
{
    /* a broken response is dropped, never answered (RFC 3261 sec 16.7, 18.1.2) */
    ps->err->status = ps->response ? 0 : status;
    ps->err->reason = reason;
    return WSIP_PARSE_BAD;
}

/* Position just after the next '\n' at or after p, or NULL. */
static const char *line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl + 1 : NULL;
}

/* Strips the line terminator (CRLF or LF) off [p, e). */
static size_t content_len(const char *p, const char *e)
{
    size_t n = (size_t)(e - p);
    if (n && p[n - 1] == '\n')
        n--;
    if (n && p[n - 1] == '\r')
        n--;
    return n;
}

static bool parse_version(struct wsip_str v)
{
    /* "SIP" "/" 1*DIGIT "." 1*DIGIT, case-insensitive name */
    if (v.len < 7 || !wsip_str_has_prefix_case(v, "SIP/"))
        return false;
    size_t i = 4, d = 0;
    while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9')
        i++, d++;
    if (!d || i >= v.len || v.p[i] != '.')
        return false;
    i++;
    d = 0;
    while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9')
        i++, d++;
    return d && i == v.len;
}

static int parse_start_line(struct parser *ps, const char *s, size_t n)
{
    struct wsip_msg *m = ps->m;
    m->start_line = wsip_str_make(s, n);
    const char *end = s + n;

    if (n >= 4 && memcmp(s, "SIP/", 4) == 0) {
        /* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase */
        m->is_request = false;
        const char *sp = memchr(s, ' ', n);
        if (!sp)
            return fail(ps, 0, "Malformed status line");
        m->version = wsip_str_make(s, (size_t)(sp - s));
        const char *c = sp + 1;
        if (end - c < 3 || c[0] < '1' || c[0] > '6' || c[1] < '0' || c[1] > '9' || c[2] < '0' ||
            c[2] > '9' || (end - c > 3 && c[3] != ' '))
            return fail(ps, 0, "Malformed status code");
        m->status =
            (unsigned)(c[0] - '0') * 100 + (unsigned)(c[1] - '0') * 10 + (unsigned)(c[2] - '0');
        if (!parse_version(m->version))
            return fail(ps, 0, "Malformed SIP version");
        const char *r = c + 3 < end ? c + 4 : end;
        m->reason = wsip_str_make(r, (size_t)(end - r));
        for (const char *q = r; q < end; q++)
            if ((unsigned char)*q < 0x20 && *q != '\t')
                return fail(ps, 0, "Control character in reason phrase");
        return WSIP_PARSE_OK;
    }

    /* Request-Line = Method SP Request-URI SP SIP-Version: exactly two single
     * spaces (RFC 4475 sec 3.1.2.7-3.1.2.9 refuse extra white space). */
    m->is_request = true;
    const char *q = wsip__skip_class(s, end, WSIP_C_TOKEN);
    if (q == s || q >= end || *q != ' ')
        return fail(ps, 400, "Malformed request line");
    m->method = wsip_str_make(s, (size_t)(q - s));
    m->method_id = wsip_method_from_str(m->method);
    const char *u = q + 1;
    const char *sp2 = memchr(u, ' ', (size_t)(end - u));
    if (!sp2 || sp2 == u)
        return fail(ps, 400, "Malformed request line");
    m->ruri_str = wsip_str_make(u, (size_t)(sp2 - u));
    m->version = wsip_str_make(sp2 + 1, (size_t)(end - sp2 - 1));
    for (const char *t = u; t < sp2; t++)
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
            return fail(ps, 400, "Malformed Request-URI");
    if (!parse_version(m->version))
        return fail(ps, 400, "Malformed request line");
    return WSIP_PARSE_OK;
}

static struct wsip_hdr *new_hdr(struct parser *ps)
{
    struct wsip_msg *m = ps->m;
    if (++ps->values > ps->lim->max_headers)
        return NULL;
    if (m->nhdrs == ps->cap) {
        unsigned ncap = ps->cap ? ps->cap * 2 : HDRS_INITIAL_CAP;
        struct wsip_hdr *n =
            wsip_arena_grow(m->arena, m->hdrs, ps->cap * sizeof(*n), ncap * sizeof(*n));
        if (!n)
            return NULL;
        m->hdrs = n;
        ps->cap = ncap;
    }
    return &m->hdrs[m->nhdrs++];
}

static void link_hdr(struct wsip_msg *m, struct wsip_hdr *h)
{
    uint16_t idx = (uint16_t)(h - m->hdrs + 1);
    if (m->last[h->id])
        m->hdrs[m->last[h->id] - 1].next = idx;
    else
        m->first[h->id] = idx;
    m->last[h->id] = idx;
}

/* Splits a list header's value at top-level commas (not inside quotes or
 * <>). Empty elements are an error ("Via: a,,b", a trailing comma). */
static int add_list_values(struct parser *ps, enum wsip_hdr_id id, struct wsip_str name,
                           struct wsip_str value, struct wsip_str line)
{
    const char *p = value.p, *end = value.p + value.len;
    unsigned first = ps->m->nhdrs;

    if (!memchr(p, ',', value.len)) {
        /* the common case: one element, nothing to scan for */
        struct wsip_hdr *h = new_hdr(ps);
        if (!h)
            return fail(ps, 400, "Too many headers");
        *h = (struct wsip_hdr){.id = id, .name = name, .value = value, .line = line, .count = 1};
        link_hdr(ps->m, h);
        return WSIP_PARSE_OK;
    }
    unsigned count = 0;
    const char *elem = p;
    int angle = 0;

    for (;;) {
        if (p == end || (*p == ',' && angle == 0)) {
            struct wsip_str v = wsip_str_trim(wsip_str_make(elem, (size_t)(p - elem)));
            if (v.len == 0 && (p != end || count > 0))
                return fail(ps, 400, "Empty element in header list");
            struct wsip_hdr *h = new_hdr(ps);
            if (!h)
                return fail(ps, 400, "Too many headers");
            *h = (struct wsip_hdr){.id = id, .name = name, .value = v, .line = line};
            h->nth = (uint8_t)(count < 255 ? count : 255);
            count++;
            link_hdr(ps->m, h);
            if (p == end)
                break;
            elem = ++p;
            continue;
        }
        if (*p == '"') {
            const char *q = wsip__skip_quoted(p, end, NULL);
            if (!q)
                return fail(ps, 400, "Unterminated quoted string");
            p = q;
            continue;
        }
        if (*p == '<')
            angle++;
        else if (*p == '>' && angle > 0)
            angle--;
        p++;
    }
    for (unsigned i = first; i < ps->m->nhdrs; i++)
        ps->m->hdrs[i].count = (uint8_t)(count < 255 ? count : 255);
    return WSIP_PARSE_OK;
}

static void note_content_length(struct wsip_msg *m, struct wsip_str v)
{
    uint32_t n;
    if (m->has_clen || m->clen_bad || wsip_str_to_u32(v, CLEN_MAX, &n) < 0) {
        /* twice (RFC 4475 mcl01), negative (ncl) or garbage: unusable */
        m->clen_bad = true;
        m->has_clen = false;
        return;
    }
    m->has_clen = true;
    m->clen = n;
}

/* The header value between the colon and the field end, without the
 * surrounding white space, folds and the final line end. */
static inline struct wsip_str trim_value(const char *p, const char *e)
{
    p = wsip__skip_lws(p, e);
    while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return wsip_str_make(p, (size_t)(e - p));
}

/* Parses header fields from ps->p up to and including the empty line. */
static int parse_headers(struct parser *ps)
{
    struct wsip_msg *m = ps->m;
    const char *p = ps->p, *end = ps->end;

    for (;;) {
        if (p >= end)
            return fail(ps, 400, "Header section not terminated");
        if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
            m->hdr_end = (size_t)(p - m->raw.p);
            ps->p = p + (*p == '\r' ? 2 : 1);
            return WSIP_PARSE_OK;
        }
        if (*p == ' ' || *p == '\t')
            return fail(ps, 400, "Continuation line without a header");

        /* The field runs to the first line end not followed by SP/HTAB. */
        const char *line = p, *e;
        for (;;) {
            e = line_end(p, end);
            if (!e)
                return fail(ps, 400, "Header section not terminated");
            if (e < end && (*e == ' ' || *e == '\t')) {
                p = e;
                continue;
            }
            break;
        }
        p = e;
        if ((size_t)(e - line) > ps->lim->max_header_line)
            return fail(ps, 400, "Header line too long");

        const char *colon = memchr(line, ':', (size_t)(e - line));
        if (!colon)
            return fail(ps, 400, "Header without a colon");
        const char *ne = wsip__skip_class(line, colon, WSIP_C_TOKEN);
        struct wsip_str name = wsip_str_make(line, (size_t)(ne - line));
        while (ne < colon && (*ne == ' ' || *ne == '\t'))
            ne++;
        if (name.len == 0 || ne != colon)
            return fail(ps, 400, "Malformed header name");
        struct wsip_str value = trim_value(colon + 1, e);
        struct wsip_str field = wsip_str_make(line, (size_t)(e - line));
        enum wsip_hdr_id id = wsip__hdr_lookup(name.p, name.len);

        if (wsip__hdr_info[id].flags & WSIP_HDRF_LIST) {
            int rc = add_list_values(ps, id, name, value, field);
            if (rc != WSIP_PARSE_OK)
                return rc;
        } else {
            struct wsip_hdr *h = new_hdr(ps);
            if (!h)
                return fail(ps, 400, "Too many headers");
            *h = (struct wsip_hdr){.id = id, .name = name, .value = value, .line = field};
            h->count = 1;
            link_hdr(m, h);
            if (id == WSIP_HDR_CONTENT_LENGTH)
                note_content_length(m, value);
        }
    }
}

/* For stream framing: finds the end of the header section (the empty line)
 * without parsing, so an incomplete message costs one memchr scan. Returns
 * the offset just past the empty line, 0 if not there yet. */
static size_t find_header_end(const char *p, size_t len)
{
    const char *s = p, *end = p + len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl)
            return 0;
        const char *n1 = nl + 1;
        if (n1 < end && *n1 == '\n')
            return (size_t)(n1 + 1 - p);
        if (n1 + 1 < end && n1[0] == '\r' && n1[1] == '\n')
            return (size_t)(n1 + 2 - p);
        s = n1;
    }
    return 0;
}

int wsip_msg_parse(struct wsip_msg **msgp, struct wsip_buf *buf, const char *p, size_t len,
                   enum wsip_framing framing, const struct wsip_sip_limits *lim, size_t *consumed,
                   struct wsip_sip_err *err)
{
    struct wsip_sip_limits defaults;
    struct wsip_sip_err err_dummy;
    size_t used_dummy;
    if (!lim) {
        wsip_sip_limits_default(&defaults);
        lim = &defaults;
    }
    if (!err)
        err = &err_dummy;
    if (!consumed)
        consumed = &used_dummy;
    *msgp = NULL;
    *consumed = 0;
    err->status = 0;
    err->reason = NULL;

    /* RFC 3261 sec 7.5: CRLFs before the start line are ignored. */
    size_t skip = wsip_stream_skip_crlf(p, len);
    const char *start = p + skip;
    size_t avail = len - skip;

    if (framing == WSIP_FRAMING_STREAM) {
        if (avail == 0) {
            *consumed = 0;
            return WSIP_PARSE_AGAIN;
        }
        size_t scan = avail < lim->max_msg_size ? avail : lim->max_msg_size;
        if (!find_header_end(start, scan)) {
            if (avail >= lim->max_msg_size) {
                err->status = 513;
                err->reason = "Message Too Large";
                return WSIP_PARSE_BAD;
            }
            return WSIP_PARSE_AGAIN;
        }
    } else {
        if (avail == 0) {
            err->status = 400;
            err->reason = "Empty message";
            return WSIP_PARSE_BAD;
        }
        if (avail > lim->max_msg_size) {
            err->status = 513;
            err->reason = "Message Too Large";
            return WSIP_PARSE_BAD;
        }
    }

    struct wsip_arena *arena = wsip_arena_new(MSG_ARENA_FIRST);
    if (!arena) {
        err->status = 500;
        err->reason = "Out of memory";
        return WSIP_PARSE_BAD;
    }
    struct wsip_msg *m = wsip_arena_alloc(arena, sizeof(*m));
    if (!m) {
        wsip_arena_free(arena);
        err->status = 500;
        err->reason = "Out of memory";
        return WSIP_PARSE_BAD;
    }
    m->arena = arena;
    m->refs = 1;

    struct parser ps = {.m = m, .p = start, .end = start + avail, .lim = lim, .err = err};
    m->raw = wsip_str_make(start, avail);
    ps.response = avail >= 4 && memcmp(start, "SIP/", 4) == 0;
    int rc;

    const char *le = line_end(start, ps.end);
    size_t sl_len = le ? content_len(start, le) : avail;
    if (sl_len > lim->max_start_line) {
        rc = fail(&ps, 414, "Start line too long");
        goto out;
    }
    if (!le) {
        rc = fail(&ps, 400, "Start line not terminated");
        goto out;
    }
    rc = parse_start_line(&ps, start, sl_len);
    if (rc != WSIP_PARSE_OK)
        goto out;
    ps.p = le;
    rc = parse_headers(&ps);
    if (rc != WSIP_PARSE_OK)
        goto out;

    size_t body_off = (size_t)(ps.p - start);
    size_t rest = avail - body_off;
    switch (framing) {
    case WSIP_FRAMING_DATAGRAM:
        /* RFC 3261 sec 18.3: without Content-Length the body is the rest of
         * the datagram; octets past Content-Length are ignored. */
        if (m->clen_bad) {
            rc = fail(&ps, 400, "Bad Content-Length");
            goto out;
        }
        if (m->has_clen && m->clen > rest) {
            rc = fail(&ps, 400, "Content-Length larger than the body");
            goto out;
        }
        m->body = wsip_str_make(ps.p, m->has_clen ? m->clen : rest);
        break;
    case WSIP_FRAMING_WS:
        /* RFC 7118 sec 5: Content-Length is optional; when present it must
         * describe the WebSocket message exactly. */
        if (m->clen_bad) {
            rc = fail(&ps, 400, "Bad Content-Length");
            goto out;
        }
        if (m->has_clen && m->clen != rest) {
            rc = fail(&ps, 400, "Content-Length does not match the body");
            goto out;
        }
        m->body = wsip_str_make(ps.p, rest);
        break;
    case WSIP_FRAMING_HEADERS: m->body = wsip_str_make(ps.p, 0); break;
    case WSIP_FRAMING_STREAM:
        if (m->clen_bad) {
            rc = fail(&ps, 400, "Bad Content-Length");
            goto out;
        }
        if (!m->has_clen) {
            rc = fail(&ps, 400, "Missing Content-Length");
            goto out;
        }
        if (body_off + m->clen > lim->max_msg_size) {
            ps.err->status = 513;
            ps.err->reason = "Message Too Large";
            rc = WSIP_PARSE_BAD;
            goto out;
        }
        if (rest < m->clen) {
            *consumed = skip + body_off + m->clen;
            rc = WSIP_PARSE_AGAIN;
            goto out;
        }
        m->body = wsip_str_make(ps.p, m->clen);
        break;
    }
    m->raw.len = (size_t)(m->body.p + m->body.len - start);
    *consumed = skip + m->raw.len;
    m->buf = wsip_buf_ref(buf);
    *msgp = m;
    rc = WSIP_PARSE_OK;

out:
    if (rc != WSIP_PARSE_OK)
        wsip_arena_free(arena);
    return rc;
}

static struct wsip_str rebase(struct wsip_str v, const char *from, const char *to)
{
    if (v.p)
        v.p = to + (v.p - from);
    return v;
}

struct wsip_msg *wsip_msg_clone(const struct wsip_msg *m)
{
    /* one copy of the bytes and of the header index, every view moved to
     * the copy; cached parse results are dropped (they point into the old
     * arena) and come back lazily on first use */
    struct wsip_buf *b = wsip_buf_from(m->raw.p, m->raw.len);
    if (!b)
        return NULL;
    struct wsip_arena *arena =
        wsip_arena_new(sizeof(*m) + m->nhdrs * sizeof(struct wsip_hdr) + MSG_ARENA_FIRST / 2);
    struct wsip_msg *c = arena ? wsip_arena_alloc(arena, sizeof(*c)) : NULL;
    struct wsip_hdr *h =
        c && m->nhdrs ? wsip_arena_alloc(arena, m->nhdrs * sizeof(struct wsip_hdr)) : NULL;
    if (!c || (m->nhdrs && !h)) {
        wsip_arena_free(arena);
        wsip_buf_unref(b);
        return NULL;
    }
    const char *from = m->raw.p, *to = b->data;
    *c = *m;
    c->refs = 1;
    c->buf = b;
    c->arena = arena;
    c->raw = rebase(m->raw, from, to);
    c->start_line = rebase(m->start_line, from, to);
    c->version = rebase(m->version, from, to);
    c->method = rebase(m->method, from, to);
    c->ruri_str = rebase(m->ruri_str, from, to);
    c->reason = rebase(m->reason, from, to);
    c->body = rebase(m->body, from, to);
    c->ruri = NULL;
    c->ruri_state = 0;
    c->ruri_err = NULL;
    c->hdrs = h;
    for (unsigned i = 0; i < m->nhdrs; i++) {
        h[i] = m->hdrs[i];
        h[i].name = rebase(h[i].name, from, to);
        h[i].value = rebase(h[i].value, from, to);
        h[i].line = rebase(h[i].line, from, to);
        h[i].parse_state = 0;
        h[i].parse_err = NULL;
        h[i].parsed = NULL;
    }
    return c;
}

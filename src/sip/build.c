/* Outgoing messages: a growable byte buffer, the edit list ("lumps") that
 * turns a received message into the one to forward without touching the
 * receive buffer, and responses built from scratch (RFC 3261 sec 8.2.6). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fmt.h"
#include "sip_int.h"

/* ------------------------------------------------------------------ sbuf */

void wsip_sbuf_init(struct wsip_sbuf *b)
{
    memset(b, 0, sizeof(*b));
}

void wsip_sbuf_free(struct wsip_sbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Room for add more bytes plus a NUL, so p is always a C string too. */
static bool sbuf_reserve(struct wsip_sbuf *b, size_t add)
{
    if (b->oom)
        return false;
    if (add > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return false;
    }
    size_t need = b->len + add + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void wsip_sbuf_reserve(struct wsip_sbuf *b, size_t add)
{
    sbuf_reserve(b, add);
}

void wsip_sbuf_append(struct wsip_sbuf *b, const void *p, size_t len)
{
    if (!sbuf_reserve(b, len))
        return;
    if (len)
        memcpy(b->p + b->len, p, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void wsip_sbuf_puts(struct wsip_sbuf *b, const char *s)
{
    wsip_sbuf_append(b, s, strlen(s));
}

void wsip_sbuf_putu(struct wsip_sbuf *b, uint64_t v)
{
    char d[24]; /* 20 digits at most, and the NUL */
    struct wsip_fmt f;
    wsip_fmt_init(&f, d, sizeof(d));
    wsip_fmt_uint(&f, v);
    wsip_sbuf_append(b, d, f.len);
}

void wsip_sbuf_printf(struct wsip_sbuf *b, const char *fmt, ...)
{
    if (!sbuf_reserve(b, 64))
        return;
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->p + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
    } else if ((size_t)n < room) {
        b->len += (size_t)n;
    } else if (sbuf_reserve(b, (size_t)n)) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
    if (b->p)
        b->p[b->len] = '\0'; /* a truncated attempt may have overwritten it */
}

/* --------------------------------------------------------------- builder */

/* One edit: replace raw[off, off + del) with text. Recorded edits keep their
 * text as an offset into b->text (which may move as it grows); ptr is only
 * set in the sorted scratch copy made when serialising. */
struct wsip__bedit {
    size_t off, del;
    size_t text_off;
    size_t len;
    const char *ptr;
    unsigned seq; /* call order: keeps inserts at one offset in order */
};

/* Derived edits sort after every recorded one at the same offset. */
#define SEQ_DERIVED (UINT_MAX / 2)

void wsip_builder_init(struct wsip_builder *b, struct wsip_msg *m)
{
    memset(b, 0, sizeof(*b));
    b->msg = wsip_msg_ref(m);
    wsip_sbuf_init(&b->text);
}

void wsip_builder_free(struct wsip_builder *b)
{
    free(b->edits);
    free(b->ops);
    free(b->removed);
    wsip_sbuf_free(&b->text);
    if (b->msg)
        wsip_msg_unref(b->msg);
    memset(b, 0, sizeof(*b));
}

/* A CR or LF is only allowed as part of a fold (CRLF followed by SP/HTAB):
 * anything else would let a value inject header lines. */
static bool safe_value(struct wsip_str v)
{
    for (size_t i = 0; i < v.len; i++) {
        char c = v.p[i];
        if (c == '\0' || c == '\n')
            return false;
        if (c == '\r') {
            if (i + 2 >= v.len || v.p[i + 1] != '\n' || (v.p[i + 2] != ' ' && v.p[i + 2] != '\t'))
                return false;
            i++;
        }
    }
    return true;
}

static bool is_token(struct wsip_str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!wsip__is((unsigned char)s.p[i], WSIP_C_TOKEN))
            return false;
    return true;
}

/* Offset of p inside the raw message, or SIZE_MAX when it is not inside. */
static size_t raw_off(const struct wsip_msg *m, const char *p)
{
    if (!p || p < m->raw.p || p > m->raw.p + m->raw.len)
        return SIZE_MAX;
    return (size_t)(p - m->raw.p);
}

/* Index of h in m->hdrs, or -1 when h is not one of the message's headers. */
static long hdr_index(const struct wsip_msg *m, const struct wsip_hdr *h)
{
    if (!h || !m->hdrs || h < m->hdrs || h >= m->hdrs + m->nhdrs)
        return -1;
    return (long)(h - m->hdrs);
}

/* Value range of a header, checked to lie inside its line. An empty value
 * is placed after the colon and its SP/HTAB, whatever its view says (an
 * empty trimmed view has no position a caller can rely on). */
static bool value_range(const struct wsip_msg *m, const struct wsip_hdr *h, size_t *s, size_t *e)
{
    size_t ls = raw_off(m, h->line.p), vs = raw_off(m, h->value.p);
    if (h->value.len == 0 && ls != SIZE_MAX) {
        const char *c = memchr(h->line.p, ':', h->line.len), *end = h->line.p + h->line.len;
        if (!c)
            return false;
        c++;
        while (c < end && (*c == ' ' || *c == '\t'))
            c++;
        vs = (size_t)(c - m->raw.p);
    }
    if (ls == SIZE_MAX || vs == SIZE_MAX || vs < ls || vs + h->value.len > ls + h->line.len)
        return false;
    *s = vs;
    *e = vs + h->value.len;
    return true;
}

/* Would raw[off, off + del) conflict with a recorded edit? Two deletions
 * must not share a byte; an insert may sit at either end of a deletion but
 * not inside it. */
static bool conflicts(const struct wsip_builder *b, size_t off, size_t del)
{
    for (unsigned i = 0; i < b->nedits; i++) {
        const struct wsip__bedit *e = &b->edits[i];
        if (del && e->del) {
            if (off < e->off + e->del && e->off < off + del)
                return true;
        } else if (del) {
            if (e->off > off && e->off < off + del)
                return true;
        } else if (e->del) {
            if (off > e->off && off < e->off + e->del)
                return true;
        }
    }
    return false;
}

/* Does a recorded edit touch the value raw[s, e)? Also catches an insert
 * made by replacing an empty value (s == e). */
static bool value_conflicts(const struct wsip_builder *b, size_t s, size_t e)
{
    for (unsigned i = 0; i < b->nedits; i++) {
        const struct wsip__bedit *x = &b->edits[i];
        if ((x->off < e && s < x->off + x->del) || (x->off >= s && x->off + x->del <= e))
            return true;
    }
    return false;
}

static bool is_removed(const struct wsip_builder *b, long idx)
{
    return b->removed && idx >= 0 && b->removed[idx];
}

/* Records an edit whose text is b->text[t0, end): the caller has appended it. */
static int push_edit(struct wsip_builder *b, size_t off, size_t del, size_t t0)
{
    if (b->text.oom) {
        b->oom = true;
        return -1;
    }
    if (b->nedits == b->cap) {
        unsigned cap = b->cap ? b->cap * 2 : 8;
        struct wsip__bedit *e = realloc(b->edits, cap * sizeof(*e));
        if (!e) {
            b->oom = true;
            return -1;
        }
        b->edits = e;
        b->cap = cap;
    }
    b->edits[b->nedits] = (struct wsip__bedit){
        .off = off, .del = del, .text_off = t0, .len = b->text.len - t0, .seq = b->nedits};
    b->nedits++;
    return 0;
}

/* Inserts "name: value\r\n" at off. */
static int insert_line(struct wsip_builder *b, size_t off, struct wsip_str name,
                       struct wsip_str value)
{
    if (b->oom || !is_token(name) || !safe_value(value) || conflicts(b, off, 0))
        return -1;
    size_t t0 = b->text.len;
    wsip_sbuf_append(&b->text, name.p, name.len);
    wsip_sbuf_append(&b->text, ": ", 2);
    wsip_sbuf_append(&b->text, value.p, value.len);
    wsip_sbuf_append(&b->text, "\r\n", 2);
    return push_edit(b, off, 0, t0);
}

int wsip_builder_remove_hdr(struct wsip_builder *b, const struct wsip_hdr *h)
{
    struct wsip_msg *m = b->msg;
    long idx = hdr_index(m, h);
    size_t s, e;
    if (b->oom || idx < 0 || !value_range(m, h, &s, &e))
        return -1;
    /* removing twice, or removing what was replaced, is a caller bug */
    if (is_removed(b, idx) || value_conflicts(b, s, e))
        return -1;
    if (!b->removed) {
        b->removed = calloc(m->nhdrs, 1);
        if (!b->removed) {
            b->oom = true;
            return -1;
        }
    }
    /* The byte ranges depend on which neighbours go too, so they are worked
     * out when serialising (see add_line_removals). */
    b->removed[idx] = 1;
    return 0;
}

int wsip_builder_replace_hdr(struct wsip_builder *b, const struct wsip_hdr *h,
                             struct wsip_str value)
{
    struct wsip_msg *m = b->msg;
    long idx = hdr_index(m, h);
    size_t s, e;
    if (b->oom || idx < 0 || !value_range(m, h, &s, &e) || !safe_value(value))
        return -1;
    if (is_removed(b, idx) || value_conflicts(b, s, e))
        return -1;
    /* set_body owns the Content-Length values */
    if (h->id == WSIP_HDR_CONTENT_LENGTH && b->body_replaced)
        return -1;
    size_t t0 = b->text.len;
    wsip_sbuf_append(&b->text, value.p, value.len);
    return push_edit(b, s, e - s, t0);
}

int wsip_builder_append_hdr(struct wsip_builder *b, const char *name, struct wsip_str value)
{
    if (!name)
        return -1;
    return insert_line(b, b->msg->hdr_end, wsip_str_cstr(name), value);
}

int wsip_builder_prepend_hdr(struct wsip_builder *b, enum wsip_hdr_id id, struct wsip_str value)
{
    struct wsip_msg *m = b->msg;
    if (id <= WSIP_HDR_OTHER || id >= WSIP_HDR__COUNT)
        return -1;
    const struct wsip_hdr *h = wsip_msg_hdr(m, id);
    if (!h && m->nhdrs > 0)
        h = &m->hdrs[0];
    size_t off = h ? raw_off(m, h->line.p) : m->hdr_end;
    if (off == SIZE_MAX)
        return -1;
    return insert_line(b, off, wsip_str_cstr(wsip__hdr_info[id].name), value);
}

int wsip_builder_prepend_via(struct wsip_builder *b, struct wsip_str value)
{
    return wsip_builder_prepend_hdr(b, WSIP_HDR_VIA, value);
}

int wsip_builder_set_ruri(struct wsip_builder *b, struct wsip_str uri)
{
    struct wsip_msg *m = b->msg;
    if (b->oom || !m->is_request || uri.len == 0)
        return -1;
    for (size_t i = 0; i < uri.len; i++) {
        unsigned char c = (unsigned char)uri.p[i];
        if (c <= ' ' || c == 0x7f)
            return -1;
    }
    size_t s = raw_off(m, m->ruri_str.p);
    if (s == SIZE_MAX || m->ruri_str.len == 0 || conflicts(b, s, m->ruri_str.len))
        return -1;
    size_t t0 = b->text.len;
    wsip_sbuf_append(&b->text, uri.p, uri.len);
    return push_edit(b, s, m->ruri_str.len, t0);
}

int wsip_builder_decrement_max_forwards(struct wsip_builder *b)
{
    struct wsip_msg *m = b->msg;
    if (b->oom || b->mf_done)
        return -1;
    int mf = wsip_msg_max_forwards(m);
    int rc;
    if (mf == -1) {
        rc = wsip_builder_append_hdr(b, "Max-Forwards", WSIP_STR_LIT("70"));
    } else if (mf <= 0) {
        return -1; /* 0: answer 483; -2: malformed */
    } else {
        const struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_MAX_FORWARDS);
        if (!h)
            return -1;
        char num[8];
        struct wsip_fmt f;
        wsip_fmt_init(&f, num, sizeof(num));
        wsip_fmt_uint(&f, (unsigned)(mf - 1));
        rc = wsip_builder_replace_hdr(b, h, wsip_str_make(num, f.len));
    }
    if (rc == 0)
        b->mf_done = true;
    return rc;
}

int wsip_builder_set_body(struct wsip_builder *b, struct wsip_str body)
{
    struct wsip_msg *m = b->msg;
    if (b->oom)
        return -1;
    /* Content-Length values are rewritten when serialising: none of them may
     * carry another edit. */
    for (const struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_CONTENT_LENGTH); h;
         h = wsip_msg_hdr_next(m, h)) {
        size_t s, e;
        if (!value_range(m, h, &s, &e))
            return -1;
        if (!is_removed(b, hdr_index(m, h)) && value_conflicts(b, s, e))
            return -1;
    }
    size_t t0 = b->text.len;
    wsip_sbuf_append(&b->text, body.p, body.len);
    if (b->text.oom) {
        b->oom = true;
        return -1;
    }
    b->body_replaced = true;
    b->body_off = t0;
    b->body_len = body.len;
    return 0;
}

int wsip_builder_ensure_content_length(struct wsip_builder *b)
{
    struct wsip_msg *m = b->msg;
    if (b->oom)
        return -1;
    /* Present but malformed or doubled: appending one more would not help
     * (the parser refuses such messages today). */
    if (!m->has_clen && wsip_msg_hdr(m, WSIP_HDR_CONTENT_LENGTH))
        return -1;
    /* checked when serialising, so that a removed one is put back */
    b->want_clen = true;
    return 0;
}

/* -------------------------------------------------------- serialising */

static void add_op(struct wsip_builder *b, unsigned *n, size_t off, size_t del, const char *p,
                   size_t len, unsigned seq)
{
    b->ops[(*n)++] = (struct wsip__bedit){.off = off, .del = del, .ptr = p, .len = len, .seq = seq};
}

/* Deletions for the removed values of one line, hdrs[i, i + n). With every
 * value gone the whole line goes; otherwise each run of removed values goes
 * with one separator (comma and LWS, folds included): the one after it, or
 * for a run that ends the line, the one before it. */
static int add_line_removals(struct wsip_builder *b, unsigned *nops, unsigned i, unsigned n)
{
    const struct wsip_msg *m = b->msg;
    const struct wsip_hdr *h = &m->hdrs[i];
    unsigned gone = 0;
    for (unsigned k = 0; k < n; k++)
        gone += b->removed[i + k];
    if (gone == 0)
        return 0;
    if (gone == n) {
        size_t ls = raw_off(m, h->line.p);
        if (ls == SIZE_MAX || ls + h->line.len > m->raw.len)
            return -1;
        add_op(b, nops, ls, h->line.len, NULL, 0, SEQ_DERIVED);
        return 0;
    }
    for (unsigned k = 0; k < n;) {
        if (!b->removed[i + k]) {
            k++;
            continue;
        }
        unsigned l = k;
        while (l + 1 < n && b->removed[i + l + 1])
            l++;
        size_t s0, e0, s1, e1;
        if (l + 1 < n) {
            if (!value_range(m, &m->hdrs[i + k], &s0, &e0) ||
                !value_range(m, &m->hdrs[i + l + 1], &s1, &e1) || s1 < s0)
                return -1;
            add_op(b, nops, s0, s1 - s0, NULL, 0, SEQ_DERIVED);
        } else {
            /* k > 0: not every value is removed */
            if (!value_range(m, &m->hdrs[i + k - 1], &s0, &e0) ||
                !value_range(m, &m->hdrs[i + l], &s1, &e1) || e1 < e0)
                return -1;
            add_op(b, nops, e0, e1 - e0, NULL, 0, SEQ_DERIVED);
        }
        k = l + 1;
    }
    return 0;
}

static int cmp_op(const void *a, const void *b)
{
    const struct wsip__bedit *x = a, *y = b;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    /* at one offset: inserts before the deletion that starts there */
    if ((x->del > 0) != (y->del > 0))
        return x->del > 0 ? 1 : -1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return 0;
}

/* Builds b->ops: recorded edits plus those that depend on the final state
 * (removals, body, Content-Length), sorted, text resolved, overlaps refused. */
static int plan(struct wsip_builder *b, unsigned *nops)
{
    struct wsip_msg *m = b->msg;
    if (b->oom || b->text.oom)
        return -1;
    /* removals: at most one per value; Content-Length: one per value + 1 */
    size_t need = (size_t)b->nedits + 2 * (size_t)m->nhdrs + 2;
    if (need > UINT_MAX / 2)
        return -1;
    if (need > b->ops_cap) {
        struct wsip__bedit *o = realloc(b->ops, need * sizeof(*o));
        if (!o) {
            b->oom = true;
            return -1;
        }
        b->ops = o;
        b->ops_cap = (unsigned)need;
    }
    unsigned n = 0;
    for (unsigned i = 0; i < b->nedits; i++) {
        const struct wsip__bedit *e = &b->edits[i];
        add_op(b, &n, e->off, e->del, b->text.p ? b->text.p + e->text_off : NULL, e->len, e->seq);
    }
    if (b->removed) {
        /* values of one line share its view and are adjacent in hdrs */
        for (unsigned i = 0, j; i < m->nhdrs; i = j) {
            for (j = i + 1; j < m->nhdrs && m->hdrs[j].line.p == m->hdrs[i].line.p; j++)
                ;
            if (add_line_removals(b, &n, i, j - i) < 0)
                return -1;
        }
    }
    if (b->body_replaced) {
        size_t bs = m->body.len ? raw_off(m, m->body.p) : m->raw.len;
        if (bs == SIZE_MAX)
            return -1;
        add_op(b, &n, bs, m->body.len, b->text.p + b->body_off, b->body_len, SEQ_DERIVED);
    }
    if (b->body_replaced || b->want_clen) {
        size_t blen = b->body_replaced ? b->body_len : m->body.len;
        struct wsip_fmt f;
        wsip_fmt_init(&f, b->clen_line, sizeof(b->clen_line));
        wsip_fmt_cstr(&f, "Content-Length: ");
        wsip_fmt_uint(&f, blen);
        wsip_fmt_cstr(&f, "\r\n");
        int w = wsip_fmt_done(&f);
        const char *digits = b->clen_line + 16;
        size_t ndigits = (size_t)w - 18;
        bool kept = false;
        for (const struct wsip_hdr *h = wsip_msg_hdr(m, WSIP_HDR_CONTENT_LENGTH); h;
             h = wsip_msg_hdr_next(m, h)) {
            if (is_removed(b, hdr_index(m, h)))
                continue;
            kept = true;
            size_t s, e;
            if (!b->body_replaced)
                continue;
            if (!value_range(m, h, &s, &e))
                return -1;
            add_op(b, &n, s, e - s, digits, ndigits, SEQ_DERIVED);
        }
        if (!kept)
            add_op(b, &n, m->hdr_end, 0, b->clen_line, (size_t)w, SEQ_DERIVED + 1);
    }
    qsort(b->ops, n, sizeof(*b->ops), cmp_op);
    size_t cur = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct wsip__bedit *o = &b->ops[i];
        if (o->off < cur || o->off > m->raw.len || o->del > m->raw.len - o->off)
            return -1;
        cur = o->off + o->del;
    }
    *nops = n;
    return 0;
}

int wsip_builder_iov(struct wsip_builder *b, struct iovec *iov, unsigned max, size_t *total)
{
    unsigned nops, k = 0;
    size_t sum = 0, cur = 0;
    if (plan(b, &nops) < 0)
        return -1;
    const char *raw = b->msg->raw.p;
    for (unsigned i = 0; i <= nops; i++) {
        size_t off = i < nops ? b->ops[i].off : b->msg->raw.len;
        struct iovec piece[2] = {
            {.iov_base = (void *)(raw + cur), .iov_len = off - cur},
            {.iov_base = NULL, .iov_len = 0},
        };
        if (i < nops) {
            piece[1].iov_base = (void *)b->ops[i].ptr;
            piece[1].iov_len = b->ops[i].len;
            cur = off + b->ops[i].del;
        }
        for (int j = 0; j < 2; j++) {
            if (piece[j].iov_len == 0)
                continue;
            if (k == max)
                return -1;
            iov[k++] = piece[j];
            sum += piece[j].iov_len;
        }
    }
    if (k > INT_MAX)
        return -1;
    if (total)
        *total = sum;
    return (int)k;
}

int wsip_builder_flatten(struct wsip_builder *b, struct wsip_sbuf *out)
{
    unsigned nops;
    size_t cur = 0;
    if (plan(b, &nops) < 0)
        return -1;
    const char *raw = b->msg->raw.p;
    for (unsigned i = 0; i < nops; i++) {
        const struct wsip__bedit *o = &b->ops[i];
        wsip_sbuf_append(out, raw + cur, o->off - cur);
        wsip_sbuf_append(out, o->ptr, o->len);
        cur = o->off + o->del;
    }
    wsip_sbuf_append(out, raw + cur, b->msg->raw.len - cur);
    return out->oom ? -1 : 0;
}

/* ------------------------------------------------------------- responses */

static void put_hdr(struct wsip_sbuf *out, const char *name, struct wsip_str value)
{
    wsip_sbuf_puts(out, name);
    wsip_sbuf_append(out, ": ", 2);
    wsip_sbuf_append(out, value.p, value.len);
    wsip_sbuf_append(out, "\r\n", 2);
}

int wsip_response_build(struct wsip_sbuf *out, struct wsip_msg *req, unsigned status,
                        const char *reason, struct wsip_str to_tag, struct wsip_str extra,
                        struct wsip_str body)
{
    return wsip_response_build_via(out, req, status, reason, to_tag, WSIP_STR_NULL, extra, body);
}

int wsip_response_build_via(struct wsip_sbuf *out, struct wsip_msg *req, unsigned status,
                            const char *reason, struct wsip_str to_tag, struct wsip_str top_via,
                            struct wsip_str extra, struct wsip_str body)
{
    if (!req || !req->is_request || status < 100 || status > 699)
        return -1;
    const char *rs = reason ? reason : wsip_status_reason(status);
    if (strpbrk(rs, "\r\n"))
        return -1;
    if (to_tag.len && !is_token(to_tag))
        return -1;
    /* extra is whole header lines: anything else would corrupt the head */
    if (extra.len && (extra.len < 2 || memcmp(extra.p + extra.len - 2, "\r\n", 2) != 0))
        return -1;
    /* without a Via the response cannot be sent anywhere (sec 18.2.2) */
    const struct wsip_hdr *h = wsip_msg_hdr(req, WSIP_HDR_VIA);
    if (!h || out->oom)
        return -1;

    size_t start = out->len;
    wsip_sbuf_puts(out, "SIP/2.0 ");
    wsip_sbuf_putu(out, status);
    wsip_sbuf_append(out, " ", 1);
    wsip_sbuf_puts(out, rs);
    wsip_sbuf_append(out, "\r\n", 2);
    for (bool top = true; h; h = wsip_msg_hdr_next(req, h), top = false)
        put_hdr(out, "Via", top && top_via.len ? top_via : h->value);
    if ((h = wsip_msg_hdr(req, WSIP_HDR_FROM)))
        put_hdr(out, "From", h->value);
    if ((h = wsip_msg_hdr(req, WSIP_HDR_TO))) {
        wsip_sbuf_puts(out, "To: ");
        wsip_sbuf_append(out, h->value.p, h->value.len);
        /* a To that does not parse is echoed as is, without a tag */
        const struct wsip_addr *to = wsip_msg_to(req, NULL);
        if (to && !to->has_tag && status > 100 && to_tag.len) {
            wsip_sbuf_puts(out, ";tag=");
            wsip_sbuf_append(out, to_tag.p, to_tag.len);
        }
        wsip_sbuf_append(out, "\r\n", 2);
    }
    if ((h = wsip_msg_hdr(req, WSIP_HDR_CALL_ID)))
        put_hdr(out, "Call-ID", h->value);
    if ((h = wsip_msg_hdr(req, WSIP_HDR_CSEQ)))
        put_hdr(out, "CSeq", h->value);
    /* sec 8.2.6.1: a 100 echoes the Timestamp */
    if (status == 100 && (h = wsip_msg_hdr(req, WSIP_HDR_TIMESTAMP)))
        put_hdr(out, "Timestamp", h->value);
    wsip_sbuf_append(out, extra.p, extra.len);
    wsip_sbuf_puts(out, "Content-Length: ");
    wsip_sbuf_putu(out, body.len);
    wsip_sbuf_append(out, "\r\n\r\n", 4);
    wsip_sbuf_append(out, body.p, body.len);
    if (out->oom) {
        out->len = start;
        return -1;
    }
    return 0;
}

struct reason {
    unsigned short status;
    const char *text;
};

/* RFC 3261 sec 21, then the extensions that registered the others. */
static const struct reason reasons[] = {
    {100, "Trying"},
    {180, "Ringing"},
    {181, "Call Is Being Forwarded"},
    {182, "Queued"},
    {183, "Session Progress"},
    {200, "OK"},
    {204, "No Notification"}, /* RFC 5839 */
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Moved Temporarily"},
    {305, "Use Proxy"},
    {380, "Alternative Service"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {410, "Gone"},
    {412, "Conditional Request Failed"}, /* RFC 3903 */
    {413, "Request Entity Too Large"},
    {414, "Request-URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Unsupported URI Scheme"},
    {417, "Unknown Resource-Priority"}, /* RFC 4412 */
    {420, "Bad Extension"},
    {421, "Extension Required"},
    {422, "Session Interval Too Small"}, /* RFC 4028 */
    {423, "Interval Too Brief"},
    {428, "Use Identity Header"},              /* RFC 8224 */
    {429, "Provide Referrer Identity"},        /* RFC 3892 */
    {430, "Flow Failed"},                      /* RFC 5626 */
    {433, "Anonymity Disallowed"},             /* RFC 5079 */
    {439, "First Hop Lacks Outbound Support"}, /* RFC 5626 */
    {440, "Max-Breadth Exceeded"},             /* RFC 5393 */
    {469, "Bad Info Package"},                 /* RFC 6086 */
    {470, "Consent Needed"},                   /* RFC 5360 */
    {480, "Temporarily Unavailable"},
    {481, "Call/Transaction Does Not Exist"},
    {482, "Loop Detected"},
    {483, "Too Many Hops"},
    {484, "Address Incomplete"},
    {485, "Ambiguous"},
    {486, "Busy Here"},
    {487, "Request Terminated"},
    {488, "Not Acceptable Here"},
    {489, "Bad Event"}, /* RFC 6665 */
    {491, "Request Pending"},
    {493, "Undecipherable"},
    {494, "Security Agreement Required"}, /* RFC 3329 */
    {500, "Server Internal Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Server Time-out"},
    {505, "Version Not Supported"},
    {513, "Message Too Large"},
    {580, "Precondition Failure"}, /* RFC 3312 */
    {600, "Busy Everywhere"},
    {603, "Decline"},
    {604, "Does Not Exist Anywhere"},
    {606, "Not Acceptable"},
    {607, "Unwanted"}, /* RFC 8197 */
    {608, "Rejected"}, /* RFC 8688 */
};

const char *wsip_status_reason(unsigned status)
{
    size_t lo = 0, hi = sizeof(reasons) / sizeof(reasons[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (reasons[mid].status == status)
            return reasons[mid].text;
        if (reasons[mid].status < status)
            lo = mid + 1;
        else
            hi = mid;
    }
    return "";
}

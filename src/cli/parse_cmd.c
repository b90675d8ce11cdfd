/* wsip parse: the parser and receive-side validation, as JSON per file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "wsip/sip.h"

#define MAX_INPUT (1u << 20)

static struct wsip_buf *read_input(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    struct wsip_buf *b = wsip_buf_new(MAX_INPUT);
    if (b) {
        b->len = fread(b->data, 1, b->cap, f);
        if (ferror(f)) {
            wsip_buf_unref(b);
            b = NULL;
        }
    }
    if (f != stdin)
        fclose(f);
    return b;
}

static void key(FILE *f, const char *k)
{
    fprintf(f, ",\"%s\":", k);
}

static void uri_json(FILE *f, const struct wsip_uri *u)
{
    static const char *const schemes[] = {"other", "sip", "sips", "tel"};
    static const char *const hosts[] = {"none", "name", "ipv4", "ipv6"};
    fprintf(f, "{\"raw\":");
    json_str(f, u->raw);
    fprintf(f, ",\"scheme\":\"%s\"", schemes[u->scheme]);
    key(f, "user");
    json_str(f, u->user);
    char user[1024];
    if (u->user.len && wsip_uri_user_unescaped(u, user, sizeof(user)) >= 0 &&
        !wsip_str_eq(wsip_str_cstr(user), u->user)) {
        key(f, "user_unescaped");
        json_cstr(f, user);
    }
    if (u->password.p) {
        key(f, "password");
        json_str(f, u->password);
    }
    key(f, "host");
    json_str(f, u->host);
    fprintf(f, ",\"host_type\":\"%s\"", hosts[u->host_type]);
    if (u->has_port)
        fprintf(f, ",\"port\":%u", u->port);
    if (u->params.len) {
        key(f, "params");
        json_str(f, u->params);
    }
    if (u->headers.len) {
        key(f, "headers");
        json_str(f, u->headers);
    }
    fputc('}', f);
}

static void addr_json(FILE *f, const struct wsip_addr *a)
{
    fputc('{', f);
    fprintf(f, "\"display\":");
    json_str(f, a->display);
    key(f, "uri");
    uri_json(f, &a->uri);
    if (a->has_tag) {
        key(f, "tag");
        json_str(f, a->tag);
    }
    fputc('}', f);
}

static void fields_json(FILE *f, struct wsip_msg *m)
{
    if (m->is_request) {
        fprintf(f, ",\"type\":\"request\"");
        key(f, "method");
        json_str(f, m->method);
        const struct wsip_uri *u = wsip_msg_ruri(m, NULL);
        key(f, "request_uri");
        if (u)
            uri_json(f, u);
        else
            json_str(f, m->ruri_str);
    } else {
        fprintf(f, ",\"type\":\"response\",\"status\":%u", m->status);
        key(f, "reason");
        json_str(f, m->reason);
    }
    const struct wsip_via *v = wsip_msg_top_via(m, NULL);
    if (v) {
        fprintf(f, ",\"via\":{\"transport\":");
        json_str(f, v->transport_str);
        key(f, "host");
        json_str(f, v->host);
        if (v->has_port)
            fprintf(f, ",\"port\":%u", v->port);
        key(f, "branch");
        json_str(f, v->branch);
        if (v->received.p) {
            key(f, "received");
            json_str(f, v->received);
        }
        if (v->has_rport)
            fprintf(f, ",\"rport\":%u", v->rport);
        fprintf(f, ",\"count\":%u}", wsip_msg_hdr_count(m, WSIP_HDR_VIA));
    }
    const struct wsip_addr *a = wsip_msg_from(m, NULL);
    if (a) {
        key(f, "from");
        addr_json(f, a);
    }
    a = wsip_msg_to(m, NULL);
    if (a) {
        key(f, "to");
        addr_json(f, a);
    }
    if (m->first[WSIP_HDR_CALL_ID]) {
        key(f, "call_id");
        json_str(f, wsip_msg_call_id(m));
    }
    const struct wsip_cseq *c = wsip_msg_cseq(m, NULL);
    if (c) {
        fprintf(f, ",\"cseq\":{\"num\":%u,\"method\":", c->num);
        json_str(f, c->method);
        fputc('}', f);
    }
    int mf = wsip_msg_max_forwards(m);
    if (mf >= 0)
        fprintf(f, ",\"max_forwards\":%d", mf);
    if (m->has_clen)
        fprintf(f, ",\"content_length\":%u", m->clen);
    fprintf(f, ",\"body_length\":%zu,\"headers\":%u", m->body.len, m->nhdrs);
}

/* Returns 1 when the file is bad. */
static int parse_one(const char *path)
{
    FILE *f = stdout;
    struct wsip_buf *b = read_input(path);
    fprintf(f, "{\"file\":");
    json_cstr(f, path);
    if (!b) {
        fprintf(f, ",\"verdict\":\"bad\",\"error\":");
        json_cstr(f, strerror(errno));
        fprintf(f, "}\n");
        return 1;
    }
    struct wsip_sip_limits lim;
    wsip_sip_limits_default(&lim);
    struct wsip_msg *m;
    struct wsip_sip_err err;
    size_t used;
    int rc = wsip_msg_parse(&m, b, b->data, b->len, WSIP_FRAMING_DATAGRAM, &lim, &used, &err);
    int bad = 0;
    if (rc != WSIP_PARSE_OK) {
        bad = 1;
        fprintf(f, ",\"verdict\":\"bad\",\"stage\":\"parse\"");
    } else if (wsip_msg_validate(m, &err) < 0) {
        bad = 1;
        fprintf(f, ",\"verdict\":\"bad\",\"stage\":\"validate\"");
    } else {
        fprintf(f, ",\"verdict\":\"ok\"");
    }
    if (bad) {
        if (err.status)
            fprintf(f, ",\"answer\":%u", err.status);
        else
            fprintf(f, ",\"answer\":\"drop\"");
        key(f, "error");
        json_cstr(f, err.reason);
    }
    if (rc == WSIP_PARSE_OK) {
        if (!bad && m->is_request) {
            /* what a proxy would answer next, for a well-formed request */
            static const char *const supported[] = {"path", "outbound", "gruu", NULL};
            struct wsip_sip_err app;
            if (wsip_msg_check_request(m, WSIP_ROLE_PROXY, supported, &app) < 0) {
                fprintf(f, ",\"proxy_answer\":{\"status\":%u,\"reason\":", app.status);
                json_cstr(f, app.reason);
                fputc('}', f);
            }
        }
        fields_json(f, m);
        if (used < b->len)
            fprintf(f, ",\"ignored_trailing_octets\":%zu", b->len - used);
        wsip_msg_unref(m);
    }
    fprintf(f, "}\n");
    wsip_buf_unref(b);
    return bad;
}

int wsip_cmd_parse(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "usage: wsip parse FILE... | -\n");
        return 2;
    }
    int any_bad = 0;
    for (int i = 0; i < argc; i++)
        any_bad |= parse_one(argv[i]);
    return any_bad ? 1 : 0;
}

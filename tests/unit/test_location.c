/* Location store: insert, refresh, remove, wildcard, Outbound instance and
 * reg-id matching, URI matching without an instance, Call-ID/CSeq ordering,
 * q order, expiry boundary, flow close across AORs, temp-gruus, hooks,
 * restore, limits, snapshots, references, and a multi-threaded run checked
 * against the table's own invariants and the hooks' view of the rows. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wsip/location.h"

#define S(s) wsip_str_cstr(s)

static const int64_t T0 = 1700000000000; /* ms */

#define VERIFY(l)                                                                                  \
    do {                                                                                           \
        const char *why_ = NULL;                                                                   \
        int rc_ = wsip_location_verify((l), &why_);                                                \
        ck_assert_msg(rc_ == 0, "verify: %s", why_ ? why_ : "(none)");                             \
    } while (0)

/* ---------------------------------------------------------- hook record */

#define KEYS_MAX 8192

/* What a write-behind store keyed by (aor, contact, instance) would hold. */
struct rows {
    pthread_mutex_t mu;
    unsigned puts, dels;
    char last_put[256], last_del[256];
    char *keys[KEYS_MAX];
    size_t nkeys;
    unsigned bad;                    /* del of a missing row, flow-bound binding seen */
    const struct wsip_binding *held; /* a reference taken by the put hook */
};

static void key_of(const struct wsip_binding *b, char *out, size_t cap)
{
    snprintf(out, cap, "%s|%s|%s", b->aor, b->contact, b->instance);
}

static void on_put(void *arg, const struct wsip_binding *b)
{
    struct rows *r = arg;
    char k[512];
    key_of(b, k, sizeof(k));
    pthread_mutex_lock(&r->mu);
    r->puts++;
    snprintf(r->last_put, sizeof(r->last_put), "%s", b->contact);
    if (b->flow != 0)
        r->bad++;
    size_t i = 0;
    while (i < r->nkeys && strcmp(r->keys[i], k) != 0)
        i++;
    if (i == r->nkeys && r->nkeys < KEYS_MAX)
        r->keys[r->nkeys++] = strdup(k);
    if (!r->held)
        r->held = wsip_binding_ref(b); /* the contract: a hook may keep a reference */
    pthread_mutex_unlock(&r->mu);
}

static void on_del(void *arg, const struct wsip_binding *b)
{
    struct rows *r = arg;
    char k[512];
    key_of(b, k, sizeof(k));
    pthread_mutex_lock(&r->mu);
    r->dels++;
    snprintf(r->last_del, sizeof(r->last_del), "%s", b->contact);
    if (b->flow != 0)
        r->bad++;
    size_t i = 0;
    while (i < r->nkeys && strcmp(r->keys[i], k) != 0)
        i++;
    if (i == r->nkeys) {
        r->bad++;
    } else {
        free(r->keys[i]);
        r->keys[i] = r->keys[--r->nkeys];
    }
    pthread_mutex_unlock(&r->mu);
}

static void rows_init(struct rows *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
}

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->nkeys; i++)
        free(r->keys[i]);
    wsip_binding_unref(r->held);
    pthread_mutex_destroy(&r->mu);
}

/* ------------------------------------------------------------- fixture */

static struct wsip_location *loc;
static struct rows rows;

static void setup(void)
{
    rows_init(&rows);
    struct wsip_location_opts o = {.shards = 8,
                                   .hooks = {.put = on_put, .del = on_del, .arg = &rows}};
    loc = wsip_location_new(&o);
    ck_assert_ptr_nonnull(loc);
}

static void teardown(void)
{
    wsip_location_free(loc);
    loc = NULL;
    rows_free(&rows);
}

static struct wsip_binding_req contact(const char *uri)
{
    return (struct wsip_binding_req){.contact = S(uri), .expires = 3600, .q = -1};
}

static struct wsip_binding_req ob(const char *uri, const char *instance, uint32_t reg_id)
{
    return (struct wsip_binding_req){.contact = S(uri),
                                     .instance = S(instance),
                                     .reg_id = reg_id,
                                     .expires = 600,
                                     .q = -1,
                                     .params = S(";reg-id=1;+sip.instance=\"<x>\""),
                                     .flags = WSIP_BINDING_F_OUTBOUND};
}

static struct wsip_loc_register reg_of(const char *aor, const char *call_id, uint32_t cseq,
                                       uint64_t flow, const struct wsip_binding_req *c, size_t n)
{
    return (struct wsip_loc_register){
        .aor = S(aor),
        .call_id = S(call_id),
        .cseq = cseq,
        .flow = flow,
        .transport = flow ? WSIP_LOC_TP_WS : WSIP_LOC_TP_UDP,
        .received = flow ? S("") : S("udp:192.0.2.1:5060"),
        .path = S(""),
        .user_agent = S("test/1.0"),
        .contacts = c,
        .ncontacts = n,
    };
}

static int reg_n(const char *aor, const char *call_id, uint32_t cseq, uint64_t flow,
                 const struct wsip_binding_req *c, size_t n, int64_t now)
{
    struct wsip_loc_register r = reg_of(aor, call_id, cseq, flow, c, n);
    return wsip_location_update(loc, &r, now, NULL);
}

static int reg1(const char *aor, const char *call_id, uint32_t cseq, uint64_t flow,
                struct wsip_binding_req c, int64_t now)
{
    return reg_n(aor, call_id, cseq, flow, &c, 1, now);
}

static size_t lookup(const char *aor, int64_t now, const struct wsip_binding **v, size_t max)
{
    return wsip_location_lookup(loc, S(aor), now, v, max);
}

static size_t count_live(const char *aor, int64_t now)
{
    const struct wsip_binding *v[32];
    size_t n = lookup(aor, now, v, 32);
    wsip_bindings_unref(v, n);
    return n;
}

/* --------------------------------------------------------------- tests */

START_TEST(t_insert_refresh_remove)
{
    const char *aor = "sip:alice@example.com";
    ck_assert_int_eq(reg1(aor, "c1", 1, 0, contact("sip:alice@192.0.2.1:5060"), T0), 0);
    ck_assert_uint_eq(wsip_location_count(loc), 1);
    ck_assert_uint_eq(wsip_location_count_aors(loc), 1);

    const struct wsip_binding *v[4];
    ck_assert_uint_eq(lookup(aor, T0, v, 4), 1);
    ck_assert_str_eq(v[0]->aor, aor);
    ck_assert_str_eq(v[0]->contact, "sip:alice@192.0.2.1:5060");
    ck_assert_str_eq(v[0]->received, "udp:192.0.2.1:5060");
    ck_assert_str_eq(v[0]->call_id, "c1");
    ck_assert_str_eq(v[0]->user_agent, "test/1.0");
    ck_assert_str_eq(v[0]->instance, "");
    ck_assert_str_eq(v[0]->temp_gruu, "");
    ck_assert_uint_eq(v[0]->cseq, 1);
    ck_assert_uint_eq(v[0]->flow, 0);
    ck_assert_int_eq(v[0]->q, -1);
    ck_assert_int_eq(v[0]->transport, WSIP_LOC_TP_UDP);
    ck_assert_int_eq(v[0]->expires_at, T0 + 3600 * 1000);
    ck_assert_int_eq(v[0]->created_at, T0);
    wsip_bindings_unref(v, 1);

    /* refresh: same binding, new expiry, creation time kept */
    struct wsip_binding_req c = contact("sip:alice@192.0.2.1:5060");
    c.expires = 60;
    ck_assert_int_eq(reg1(aor, "c1", 2, 0, c, T0 + 5000), 0);
    ck_assert_uint_eq(wsip_location_count(loc), 1);
    ck_assert_uint_eq(lookup(aor, T0 + 5000, v, 4), 1);
    ck_assert_int_eq(v[0]->expires_at, T0 + 5000 + 60 * 1000);
    ck_assert_int_eq(v[0]->created_at, T0);
    ck_assert_int_eq(v[0]->updated_at, T0 + 5000);
    ck_assert_uint_eq(v[0]->cseq, 2);
    wsip_bindings_unref(v, 1);

    /* expires 0 removes it, and the AOR with it */
    c.expires = 0;
    ck_assert_int_eq(reg1(aor, "c1", 3, 0, c, T0 + 6000), 0);
    ck_assert_uint_eq(wsip_location_count(loc), 0);
    ck_assert_uint_eq(wsip_location_count_aors(loc), 0);
    ck_assert_uint_eq(lookup(aor, T0 + 6000, v, 4), 0);
    /* removing what is not there is not an error */
    ck_assert_int_eq(reg1(aor, "c1", 4, 0, c, T0 + 7000), 0);
    VERIFY(loc);
}
END_TEST

START_TEST(t_aor_normalised)
{
    ck_assert_int_eq(reg1("SIP:Alice@EXAMPLE.Com", "c", 1, 0, contact("sip:a@h"), T0), 0);
    const struct wsip_binding *v[2];
    ck_assert_uint_eq(lookup("sip:Alice@example.com", T0, v, 2), 1);
    ck_assert_str_eq(v[0]->aor, "sip:Alice@example.com");
    wsip_bindings_unref(v, 1);
    ck_assert_uint_eq(count_live("sip:alice@example.com", T0), 0); /* the user part is exact */
    ck_assert_uint_eq(count_live("sip:Alice@example.com", T0), 1);

    char big[WSIP_LOCATION_AOR_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(reg1(big, "c", 1, 0, contact("sip:a@h"), T0), WSIP_LOC_EINVAL);
    ck_assert_int_eq(reg1("", "c", 1, 0, contact("sip:a@h"), T0), WSIP_LOC_EINVAL);
    struct wsip_binding_req bad = contact("sip:a@h");
    bad.q = 1001;
    ck_assert_int_eq(reg1("sip:x@h", "c", 1, 0, bad, T0), WSIP_LOC_EINVAL);
    ck_assert_uint_eq(wsip_location_count(loc), 1);
}
END_TEST

START_TEST(t_wildcard)
{
    const char *aor = "sip:bob@example.com";
    struct wsip_binding_req c[3] = {contact("sip:bob@192.0.2.1"), contact("sip:bob@192.0.2.2"),
                                    contact("sip:bob@192.0.2.3")};
    ck_assert_int_eq(reg_n(aor, "c1", 10, 0, c, 3, T0), 0);
    ck_assert_uint_eq(count_live(aor, T0), 3);
    ck_assert_int_eq(reg1("sip:carol@example.com", "k", 1, 0, contact("sip:carol@h"), T0), 0);

    /* same Call-ID, CSeq not higher: the whole request fails */
    struct wsip_loc_register w = reg_of(aor, "c1", 10, 0, NULL, 0);
    w.wildcard = true;
    ck_assert_int_eq(wsip_location_update(loc, &w, T0, NULL), WSIP_LOC_ECSEQ);
    ck_assert_uint_eq(count_live(aor, T0), 3);

    unsigned dels = rows.dels;
    w.call_id = S("other");
    w.cseq = 1;
    struct wsip_binding_list res;
    ck_assert_int_eq(wsip_location_update(loc, &w, T0, &res), 0);
    ck_assert_uint_eq(res.n, 0);
    wsip_binding_list_free(&res);
    ck_assert_uint_eq(count_live(aor, T0), 0);
    ck_assert_uint_eq(rows.dels - dels, 3);
    ck_assert_uint_eq(count_live("sip:carol@example.com", T0), 1); /* other AORs untouched */
    ck_assert_uint_eq(wsip_location_count_aors(loc), 1);
    VERIFY(loc);
}
END_TEST

START_TEST(t_page_reload_replaces)
{
    const char *aor = "sip:web@example.com";
    const char *inst = "urn:uuid:0b4a5d2c-7a44-4e2a-9c1c-1a2b3c4d5e6f";
    uint64_t f1 = 0x0100000100000001ull, f2 = 0x0200000700000003ull;
    ck_assert_int_eq(reg1(aor, "load1", 1, f1, ob("sip:k1@abc.invalid;transport=ws", inst, 1), T0),
                     0);
    const struct wsip_binding *v[4];
    ck_assert_uint_eq(lookup(aor, T0, v, 4), 1);
    char gruu[WSIP_TEMP_GRUU_LEN + 1];
    memcpy(gruu, v[0]->temp_gruu, sizeof(gruu));
    int64_t created = v[0]->created_at;
    wsip_bindings_unref(v, 1);

    /* the page reloads: a new connection, Call-ID and .invalid host */
    ck_assert_int_eq(
        reg1(aor, "load2", 1, f2, ob("sip:k2@def.invalid;transport=ws", inst, 1), T0 + 1000), 0);
    ck_assert_uint_eq(wsip_location_count(loc), 1);
    ck_assert_uint_eq(lookup(aor, T0 + 1000, v, 4), 1);
    ck_assert_uint_eq(v[0]->flow, f2);
    ck_assert_str_eq(v[0]->contact, "sip:k2@def.invalid;transport=ws");
    ck_assert_str_eq(v[0]->call_id, "load2");
    ck_assert_str_eq(v[0]->temp_gruu, gruu);
    ck_assert_int_eq(v[0]->created_at, created);
    ck_assert_uint_eq(v[0]->reg_id, 1);
    ck_assert_uint_eq(v[0]->flags, WSIP_BINDING_F_OUTBOUND);
    ck_assert_str_eq(v[0]->params, ";reg-id=1;+sip.instance=\"<x>\"");
    wsip_bindings_unref(v, 1);

    /* the old connection's close finds nothing; the new one's removes it */
    ck_assert_uint_eq(wsip_location_flow_closed(loc, f1), 0);
    ck_assert_uint_eq(wsip_location_count(loc), 1);
    VERIFY(loc);
    ck_assert_uint_eq(wsip_location_flow_closed(loc, f2), 1);
    ck_assert_uint_eq(wsip_location_count(loc), 0);
    ck_assert_uint_eq(wsip_location_count_aors(loc), 0);
    /* flow-bound: the persistence hooks never saw any of it */
    ck_assert_uint_eq(rows.puts, 0);
    ck_assert_uint_eq(rows.dels, 0);
    VERIFY(loc);
}
END_TEST

START_TEST(t_two_reg_ids)
{
    const char *aor = "sip:two@example.com";
    const char *inst = "urn:uuid:11111111-2222-3333-4444-555555555555";
    ck_assert_int_eq(reg1(aor, "a", 1, 11, ob("sip:x@h1.invalid", inst, 1), T0), 0);
    ck_assert_int_eq(reg1(aor, "b", 1, 12, ob("sip:x@h2.invalid", inst, 2), T0 + 10), 0);
    ck_assert_uint_eq(wsip_location_count(loc), 2);

    const struct wsip_binding *v[4];
    /* the instance id matches case-insensitively (urn:uuid hex digits) */
    ck_assert_uint_eq(
        wsip_location_lookup_instance(
            loc, S(aor), S("URN:UUID:11111111-2222-3333-4444-555555555555"), T0 + 20, v, 4),
        2);
    ck_assert_uint_eq(v[0]->flow, 12); /* most recently refreshed first */
    ck_assert_uint_eq(v[1]->flow, 11);
    ck_assert_str_eq(v[0]->temp_gruu, v[1]->temp_gruu); /* one temp-gruu per instance */
    char gruu[WSIP_TEMP_GRUU_LEN + 1];
    memcpy(gruu, v[0]->temp_gruu, sizeof(gruu));
    wsip_bindings_unref(v, 2);

    ck_assert_uint_eq(wsip_location_lookup_gruu(loc, S(gruu), T0 + 20, v, 4), 2);
    wsip_bindings_unref(v, 2);
    ck_assert_uint_eq(wsip_location_lookup_gruu(loc, S(gruu), T0 + 20, v, 1), 1);
    ck_assert_uint_eq(v[0]->flow, 12);
    wsip_bindings_unref(v, 1);

    /* one flow drops: the other stays reachable through the same gruu */
    ck_assert_uint_eq(wsip_location_flow_closed(loc, 12), 1);
    ck_assert_uint_eq(wsip_location_lookup_gruu(loc, S(gruu), T0 + 20, v, 4), 1);
    ck_assert_uint_eq(v[0]->flow, 11);
    wsip_bindings_unref(v, 1);
    ck_assert_uint_eq(wsip_location_lookup_instance(loc, S(aor), S("urn:uuid:other"), T0, v, 4), 0);
    VERIFY(loc);
}
END_TEST

START_TEST(t_uri_match_without_instance)
{
    const char *aor = "sip:phone@example.com";
    ck_assert_int_eq(reg1(aor, "a", 1, 0, contact("sip:phone@192.0.2.9:5060;transport=udp"), T0),
                     0);
    /* another Call-ID (the phone rebooted), scheme/host/params in another case: the same binding */
    ck_assert_int_eq(
        reg1(aor, "b", 1, 0, contact("SIP:phone@192.0.2.9:5060;TRANSPORT=UDP"), T0 + 1), 0);
    ck_assert_uint_eq(count_live(aor, T0 + 1), 1);
    const struct wsip_binding *v[8];
    ck_assert_uint_eq(lookup(aor, T0 + 1, v, 8), 1);
    ck_assert_str_eq(v[0]->contact, "SIP:phone@192.0.2.9:5060;TRANSPORT=UDP");
    ck_assert_str_eq(v[0]->call_id, "b");
    wsip_bindings_unref(v, 1);
    /* the user part is case-sensitive, and another port is another URI */
    ck_assert_int_eq(reg1(aor, "c", 1, 0, contact("sip:PHONE@192.0.2.9:5060;transport=udp"), T0),
                     0);
    ck_assert_int_eq(reg1(aor, "d", 1, 0, contact("sip:phone@192.0.2.9:5062;transport=udp"), T0),
                     0);
    ck_assert_uint_eq(count_live(aor, T0 + 1), 3);
    /* removal by URI: the same Contact without an instance finds a binding
     * that had one */
    ck_assert_int_eq(reg1(aor, "e", 1, 0, ob("sip:w@x.invalid", "urn:uuid:1", 0), T0), 0);
    ck_assert_uint_eq(count_live(aor, T0 + 1), 4);
    struct wsip_binding_req un = contact("sip:w@x.invalid");
    un.expires = 0;
    ck_assert_int_eq(reg1(aor, "e", 2, 0, un, T0), 0);
    ck_assert_uint_eq(count_live(aor, T0 + 1), 3);
    /* a UA that starts sending +sip.instance keeps its binding */
    ck_assert_int_eq(
        reg1(aor, "a", 5, 0, ob("sip:phone@192.0.2.9:5062;transport=udp", "urn:uuid:2", 0), T0), 0);
    ck_assert_uint_eq(count_live(aor, T0 + 1), 3);
    VERIFY(loc);

    /* an instance moving onto the URI of an instance-less binding takes both
     * places: never two bindings with one URI */
    const char *aor2 = "sip:move@example.com";
    ck_assert_int_eq(reg1(aor2, "m", 1, 0, ob("sip:m@192.0.2.1", "urn:uuid:m", 1), T0), 0);
    ck_assert_int_eq(reg1(aor2, "n", 1, 0, contact("sip:m@192.0.2.2"), T0), 0);
    ck_assert_uint_eq(count_live(aor2, T0), 2);
    ck_assert_int_eq(reg1(aor2, "m", 2, 0, ob("sip:m@192.0.2.2", "urn:uuid:m", 1), T0 + 5), 0);
    ck_assert_uint_eq(lookup(aor2, T0 + 5, v, 8), 1);
    ck_assert_str_eq(v[0]->contact, "sip:m@192.0.2.2");
    ck_assert_str_eq(v[0]->instance, "urn:uuid:m");
    wsip_bindings_unref(v, 1);
    VERIFY(loc);
    /* and the rows follow: the instance-less row and the old instance row
     * are deleted, the new one written */
    ck_assert_uint_eq(rows.nkeys, 4);
    ck_assert_uint_eq(rows.bad, 0);
    /* one Contact without an instance refers to both flows that use its URI */
    ck_assert_int_eq(reg1(aor2, "m", 3, 0, ob("sip:m@192.0.2.2", "urn:uuid:m", 2), T0 + 6), 0);
    ck_assert_uint_eq(count_live(aor2, T0 + 6), 2);
    struct wsip_binding_req gone = contact("sip:m@192.0.2.2");
    gone.expires = 0;
    ck_assert_int_eq(reg1(aor2, "m", 4, 0, gone, T0 + 7), 0);
    ck_assert_uint_eq(count_live(aor2, T0 + 7), 0);
    VERIFY(loc);
}
END_TEST

START_TEST(t_uri_match_rfc3261)
{
    /* RFC 3261 sec 19.1.4: parameters in another order, an escaped
     * unreserved character, the host's case: the same binding */
    const char *aor = "sip:eq@example.com";
    ck_assert_int_eq(
        reg1(aor, "a", 1, 0, contact("sip:eq@192.0.2.7:5070;transport=udp;line=x"), T0), 0);
    ck_assert_int_eq(
        reg1(aor, "a", 2, 0, contact("sip:%65q@192.0.2.7:5070;LINE=X;Transport=UDP"), T0 + 1), 0);
    ck_assert_uint_eq(count_live(aor, T0 + 1), 1);
    /* a parameter on one side only is ignored, unless it is transport,
     * user, ttl, method or maddr */
    ck_assert_int_eq(
        reg1(aor, "a", 3, 0, contact("sip:eq@192.0.2.7:5070;transport=udp;line=x;ob"), T0 + 2), 0);
    ck_assert_uint_eq(count_live(aor, T0 + 2), 1);
    ck_assert_int_eq(reg1(aor, "a", 4, 0, contact("sip:eq@192.0.2.7:5070;line=x"), T0 + 3), 0);
    ck_assert_uint_eq(count_live(aor, T0 + 3), 2);
    /* the default port written out is another URI than no port */
    ck_assert_int_eq(reg1(aor, "b", 1, 0, contact("sip:eq@192.0.2.8"), T0 + 4), 0);
    ck_assert_int_eq(reg1(aor, "b", 2, 0, contact("sip:eq@192.0.2.8:5060"), T0 + 5), 0);
    ck_assert_uint_eq(count_live(aor, T0 + 5), 4);
    /* an escaped reserved character is not the character */
    ck_assert_int_eq(reg1(aor, "c", 1, 0, contact("sip:e%3bq@192.0.2.9"), T0 + 6), 0);
    ck_assert_int_eq(reg1(aor, "c", 2, 0, contact("sip:e;q@192.0.2.9"), T0 + 7), 0);
    ck_assert_uint_eq(count_live(aor, T0 + 7), 6);
    VERIFY(loc);
}
END_TEST

START_TEST(t_cseq_order)
{
    const char *aor = "sip:order@example.com";
    ck_assert_int_eq(reg1(aor, "same", 5, 0, contact("sip:o@192.0.2.1"), T0), 0);
    unsigned puts = rows.puts, dels = rows.dels;

    /* a retransmitted or late REGISTER of the same UA is refused */
    ck_assert_int_eq(reg1(aor, "same", 5, 0, contact("sip:o@192.0.2.1"), T0 + 1), WSIP_LOC_ECSEQ);
    ck_assert_int_eq(reg1(aor, "same", 4, 0, contact("sip:o@192.0.2.1"), T0 + 1), WSIP_LOC_ECSEQ);
    struct wsip_binding_req un = contact("sip:o@192.0.2.1");
    un.expires = 0;
    ck_assert_int_eq(reg1(aor, "same", 3, 0, un, T0 + 1), WSIP_LOC_ECSEQ);

    /* atomic: a new Contact beside a refused one is not added either */
    struct wsip_binding_req two[2] = {contact("sip:o@192.0.2.200"), contact("sip:o@192.0.2.1")};
    struct wsip_binding_list res = {NULL, 7};
    ck_assert_int_eq(reg_n(aor, "same", 2, 0, two, 2, T0 + 1), WSIP_LOC_ECSEQ);
    struct wsip_loc_register r = reg_of(aor, "same", 2, 0, two, 2);
    ck_assert_int_eq(wsip_location_update(loc, &r, T0 + 1, &res), WSIP_LOC_ECSEQ);
    ck_assert_ptr_null(res.v);
    ck_assert_uint_eq(res.n, 0);

    const struct wsip_binding *v[4];
    ck_assert_uint_eq(lookup(aor, T0 + 1, v, 4), 1);
    ck_assert_uint_eq(v[0]->cseq, 5);
    ck_assert_int_eq(v[0]->expires_at, T0 + 3600 * 1000);
    wsip_bindings_unref(v, 1);
    ck_assert_uint_eq(rows.puts, puts);
    ck_assert_uint_eq(rows.dels, dels);

    /* another Call-ID (another UA, or a reboot) is not ordered against it */
    ck_assert_int_eq(reg1(aor, "other", 1, 0, contact("sip:o@192.0.2.1"), T0 + 2), 0);
    ck_assert_int_eq(reg_n(aor, "same", 6, 0, two, 2, T0 + 3), 0);
    ck_assert_uint_eq(count_live(aor, T0 + 3), 2);
    VERIFY(loc);
}
END_TEST

START_TEST(t_q_order)
{
    const char *aor = "sip:q@example.com";
    struct wsip_binding_req c = contact("sip:q@192.0.2.1");
    c.q = 100;
    ck_assert_int_eq(reg1(aor, "a", 1, 0, c, T0), 0);
    c = contact("sip:q@192.0.2.2"); /* no q: sorted as 1.0 */
    ck_assert_int_eq(reg1(aor, "b", 1, 0, c, T0 + 1), 0);
    c = contact("sip:q@192.0.2.3");
    c.q = 500;
    ck_assert_int_eq(reg1(aor, "c", 1, 0, c, T0 + 2), 0);
    c = contact("sip:q@192.0.2.4");
    c.q = 1000;
    ck_assert_int_eq(reg1(aor, "d", 1, 0, c, T0 + 3), 0);
    c = contact("sip:q@192.0.2.5");
    c.q = 0;
    ck_assert_int_eq(reg1(aor, "e", 1, 0, c, T0 + 4), 0);

    const struct wsip_binding *v[8];
    ck_assert_uint_eq(lookup(aor, T0 + 10, v, 8), 5);
    ck_assert_str_eq(v[0]->contact, "sip:q@192.0.2.4"); /* 1000, newer */
    ck_assert_str_eq(v[1]->contact, "sip:q@192.0.2.2"); /* unspecified = 1000, older */
    ck_assert_str_eq(v[2]->contact, "sip:q@192.0.2.3");
    ck_assert_str_eq(v[3]->contact, "sip:q@192.0.2.1");
    ck_assert_str_eq(v[4]->contact, "sip:q@192.0.2.5");
    ck_assert_int_eq(v[4]->q, 0);
    wsip_bindings_unref(v, 5);

    /* a short array gets the best ones */
    ck_assert_uint_eq(lookup(aor, T0 + 10, v, 2), 2);
    ck_assert_str_eq(v[0]->contact, "sip:q@192.0.2.4");
    ck_assert_str_eq(v[1]->contact, "sip:q@192.0.2.2");
    wsip_bindings_unref(v, 2);
    ck_assert_uint_eq(lookup(aor, T0 + 10, v, 0), 0);
}
END_TEST

START_TEST(t_expiry_boundary)
{
    const char *aor = "sip:exp@example.com";
    struct wsip_binding_req c = contact("sip:e@192.0.2.1");
    c.expires = 60;
    ck_assert_int_eq(reg1(aor, "a", 1, 0, c, T0), 0);
    int64_t at = T0 + 60000;
    ck_assert_uint_eq(count_live(aor, at - 1), 1);
    ck_assert_uint_eq(count_live(aor, at), 0);      /* expired exactly at expires_at */
    ck_assert_uint_eq(wsip_location_count(loc), 1); /* still in the table until purged */

    unsigned dels = rows.dels;
    ck_assert_uint_eq(wsip_location_expire(loc, at - 1), 0);
    ck_assert_uint_eq(wsip_location_count(loc), 1);
    ck_assert_uint_eq(wsip_location_expire(loc, at), 1);
    ck_assert_uint_eq(wsip_location_count(loc), 0);
    ck_assert_uint_eq(wsip_location_count_aors(loc), 0);
    ck_assert_uint_eq(rows.dels - dels, 1);
    ck_assert_str_eq(rows.last_del, "sip:e@192.0.2.1");
    ck_assert_uint_eq(wsip_location_expire(loc, at + 100000), 0);

    /* an update treats an expired binding as absent and purges it */
    ck_assert_int_eq(reg1(aor, "a", 2, 0, c, T0), 0);
    ck_assert_int_eq(reg1(aor, "a", 1, 0, c, at), 0); /* lower CSeq, but against nothing live */
    ck_assert_uint_eq(wsip_location_count(loc), 1);
    ck_assert_uint_eq(count_live(aor, at), 1);
    VERIFY(loc);
}
END_TEST

START_TEST(t_flow_closed_across_aors)
{
    uint64_t f1 = 0x0300000a00000001ull, f2 = 0x0300000b00000001ull;
    struct wsip_binding_req two[2] = {contact("sip:a1@x.invalid"), contact("sip:a2@y.invalid")};
    ck_assert_int_eq(reg_n("sip:a@example.com", "a", 1, f1, two, 2, T0), 0);
    ck_assert_int_eq(reg1("sip:b@example.com", "b", 1, f1, contact("sip:b@z.invalid"), T0), 0);
    ck_assert_int_eq(reg1("sip:b@example.com", "b2", 1, f2, contact("sip:b@w.invalid"), T0), 0);
    ck_assert_int_eq(reg1("sip:c@example.com", "c", 1, f2, contact("sip:c@v.invalid"), T0), 0);
    ck_assert_int_eq(reg1("sip:d@example.com", "d", 1, 0, contact("sip:d@192.0.2.4"), T0), 0);
    ck_assert_uint_eq(wsip_location_count(loc), 6);

    ck_assert_uint_eq(wsip_location_flow_closed(loc, f1), 3);
    ck_assert_uint_eq(wsip_location_count(loc), 3);
    ck_assert_uint_eq(count_live("sip:a@example.com", T0), 0);
    ck_assert_uint_eq(count_live("sip:b@example.com", T0), 1);
    ck_assert_uint_eq(count_live("sip:c@example.com", T0), 1);
    ck_assert_uint_eq(count_live("sip:d@example.com", T0), 1);
    ck_assert_uint_eq(wsip_location_count_aors(loc), 3);
    ck_assert_uint_eq(wsip_location_flow_closed(loc, f1), 0);
    ck_assert_uint_eq(wsip_location_flow_closed(loc, 0), 0);
    VERIFY(loc);
}
END_TEST

static bool gruu_shape(const char *g)
{
    if (strlen(g) != WSIP_TEMP_GRUU_LEN)
        return false;
    for (const char *p = g; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '2' && *p <= '7')))
            return false;
    return true;
}

START_TEST(t_temp_gruu)
{
    const char *aor = "sip:g@example.com";
    ck_assert_int_eq(reg1(aor, "a", 1, 0, ob("sip:g@192.0.2.1", "urn:uuid:aa", 1), T0), 0);
    ck_assert_int_eq(reg1(aor, "b", 1, 0, ob("sip:g@192.0.2.2", "urn:uuid:bb", 1), T0), 0);
    const struct wsip_binding *v[4];
    ck_assert_uint_eq(wsip_location_lookup_instance(loc, S(aor), S("urn:uuid:aa"), T0, v, 4), 1);
    char ga[WSIP_TEMP_GRUU_LEN + 1];
    memcpy(ga, v[0]->temp_gruu, sizeof(ga));
    wsip_bindings_unref(v, 1);
    ck_assert_uint_eq(wsip_location_lookup_instance(loc, S(aor), S("urn:uuid:bb"), T0, v, 4), 1);
    char gb[WSIP_TEMP_GRUU_LEN + 1];
    memcpy(gb, v[0]->temp_gruu, sizeof(gb));
    wsip_bindings_unref(v, 1);
    ck_assert_msg(gruu_shape(ga), "temp-gruu '%s' is not 32 base32 characters", ga);
    ck_assert_str_ne(ga, gb);

    /* stable across refreshes */
    for (uint32_t i = 2; i < 5; i++)
        ck_assert_int_eq(reg1(aor, "a", i, 0, ob("sip:g@192.0.2.1", "urn:uuid:aa", 1), T0 + i), 0);
    ck_assert_uint_eq(wsip_location_lookup_gruu(loc, S(ga), T0 + 5, v, 4), 1);
    ck_assert_str_eq(v[0]->temp_gruu, ga);
    ck_assert_str_eq(v[0]->instance, "urn:uuid:aa");
    wsip_bindings_unref(v, 1);
    /* reaches that instance only */
    ck_assert_uint_eq(wsip_location_lookup_gruu(loc, S(gb), T0 + 5, v, 4), 1);
    ck_assert_str_eq(v[0]->instance, "urn:uuid:bb");
    wsip_bindings_unref(v, 1);

    /* gone when the registration ends; a new one for the next */
    struct wsip_binding_req un = ob("sip:g@192.0.2.1", "urn:uuid:aa", 1);
    un.expires = 0;
    ck_assert_int_eq(reg1(aor, "a", 9, 0, un, T0 + 6), 0);
    ck_assert_uint_eq(wsip_location_lookup_gruu(loc, S(ga), T0 + 6, v, 4), 0);
    ck_assert_int_eq(reg1(aor, "a", 10, 0, ob("sip:g@192.0.2.1", "urn:uuid:aa", 1), T0 + 7), 0);
    ck_assert_uint_eq(wsip_location_lookup_instance(loc, S(aor), S("urn:uuid:aa"), T0 + 7, v, 4),
                      1);
    ck_assert_str_ne(v[0]->temp_gruu, ga);
    ck_assert_msg(gruu_shape(v[0]->temp_gruu), "bad temp-gruu '%s'", v[0]->temp_gruu);
    wsip_bindings_unref(v, 1);

    /* expired: not found even before the purge */
    ck_assert_uint_eq(wsip_location_lookup_gruu(loc, S(gb), T0 + 600 * 1000, v, 4), 0);
    /* malformed tokens find nothing */
    ck_assert_uint_eq(wsip_location_lookup_gruu(loc, S("short"), T0, v, 4), 0);
    char up[WSIP_TEMP_GRUU_LEN + 1];
    for (size_t i = 0; i < WSIP_TEMP_GRUU_LEN; i++)
        up[i] = (char)(gb[i] >= 'a' ? gb[i] - 32 : gb[i]);
    up[WSIP_TEMP_GRUU_LEN] = '\0';
    ck_assert_uint_eq(wsip_location_lookup_gruu(loc, S(up), T0, v, 4), 0);
    VERIFY(loc);
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

START_TEST(t_temp_gruu_unique)
{
    /* 2000 instances: every token well-formed and distinct */
    enum { N = 2000 };
    char(*g)[WSIP_TEMP_GRUU_LEN + 1] = calloc(N, sizeof(*g));
    ck_assert_ptr_nonnull(g);
    for (int i = 0; i < N; i++) {
        char aor[64], inst[64];
        snprintf(aor, sizeof(aor), "sip:u%d@example.com", i % 50);
        snprintf(inst, sizeof(inst), "urn:uuid:%d", i);
        ck_assert_int_eq(reg1(aor, inst, 1, (uint64_t)i + 1, ob("sip:u@h.invalid", inst, 1), T0),
                         0);
        const struct wsip_binding *v[1];
        ck_assert_uint_eq(wsip_location_lookup_instance(loc, S(aor), S(inst), T0, v, 1), 1);
        memcpy(g[i], v[0]->temp_gruu, sizeof(g[i]));
        wsip_bindings_unref(v, 1);
        ck_assert_msg(gruu_shape(g[i]), "bad temp-gruu '%s'", g[i]);
    }
    qsort(g, N, sizeof(*g), cmp_str);
    for (int i = 1; i < N; i++)
        ck_assert_str_ne(g[i - 1], g[i]);
    /* and each finds its own instance */
    const struct wsip_binding *v[2];
    ck_assert_uint_eq(wsip_location_lookup_gruu(loc, S(g[N / 2]), T0, v, 2), 1);
    ck_assert_str_eq(v[0]->temp_gruu, g[N / 2]);
    wsip_bindings_unref(v, 1);
    free(g);
    VERIFY(loc);
}
END_TEST

START_TEST(t_hooks)
{
    const char *aor = "sip:h@example.com";
    /* persisted: put on insert and refresh, del on removal */
    ck_assert_int_eq(reg1(aor, "a", 1, 0, contact("sip:h@192.0.2.1"), T0), 0);
    ck_assert_uint_eq(rows.puts, 1);
    ck_assert_str_eq(rows.last_put, "sip:h@192.0.2.1");
    ck_assert_int_eq(reg1(aor, "a", 2, 0, contact("sip:h@192.0.2.1"), T0), 0);
    ck_assert_uint_eq(rows.puts, 2);
    ck_assert_uint_eq(rows.dels, 0);
    struct wsip_binding_req un = contact("sip:h@192.0.2.1");
    un.expires = 0;
    ck_assert_int_eq(reg1(aor, "a", 3, 0, un, T0), 0);
    ck_assert_uint_eq(rows.dels, 1);
    ck_assert_str_eq(rows.last_del, "sip:h@192.0.2.1");
    ck_assert_uint_eq(rows.nkeys, 0);

    /* flow-bound: never */
    ck_assert_int_eq(reg1(aor, "w", 1, 77, contact("sip:h@x.invalid"), T0), 0);
    ck_assert_int_eq(reg1(aor, "w", 2, 77, contact("sip:h@x.invalid"), T0), 0);
    ck_assert_uint_eq(wsip_location_flow_closed(loc, 77), 1);
    ck_assert_int_eq(reg1(aor, "w", 3, 78, contact("sip:h@x.invalid"), T0), 0);
    un = contact("sip:h@x.invalid");
    un.expires = 0;
    ck_assert_int_eq(reg1(aor, "w", 4, 78, un, T0), 0);
    ck_assert_uint_eq(rows.puts, 2);
    ck_assert_uint_eq(rows.dels, 1);

    /* same instance, new Contact: the old row goes, the new one comes */
    ck_assert_int_eq(reg1(aor, "i", 1, 0, ob("sip:h@192.0.2.1", "urn:uuid:h", 1), T0), 0);
    ck_assert_int_eq(reg1(aor, "i", 2, 0, ob("sip:h@192.0.2.2", "urn:uuid:h", 1), T0), 0);
    ck_assert_uint_eq(rows.puts, 4);
    ck_assert_uint_eq(rows.dels, 2);
    ck_assert_str_eq(rows.last_del, "sip:h@192.0.2.1");
    ck_assert_str_eq(rows.last_put, "sip:h@192.0.2.2");
    ck_assert_uint_eq(rows.nkeys, 1);
    /* the same instance moves onto a flow: its row goes */
    ck_assert_int_eq(reg1(aor, "i", 3, 5, ob("sip:h@192.0.2.2", "urn:uuid:h", 1), T0), 0);
    ck_assert_uint_eq(rows.puts, 4);
    ck_assert_uint_eq(rows.dels, 3);
    ck_assert_uint_eq(rows.nkeys, 0);
    /* and back off it: a row again */
    ck_assert_int_eq(reg1(aor, "i", 4, 0, ob("sip:h@192.0.2.2", "urn:uuid:h", 1), T0), 0);
    ck_assert_uint_eq(rows.puts, 5);
    ck_assert_uint_eq(rows.nkeys, 1);

    /* expiry of a persisted one: del */
    ck_assert_uint_eq(wsip_location_expire(loc, T0 + 600 * 1000), 1);
    ck_assert_uint_eq(rows.dels, 4);
    ck_assert_uint_eq(rows.nkeys, 0);
    ck_assert_uint_eq(rows.bad, 0);

    /* the reference the put hook kept is still readable */
    ck_assert_ptr_nonnull(rows.held);
    ck_assert_str_eq(rows.held->contact, "sip:h@192.0.2.1");
}
END_TEST

START_TEST(t_restore)
{
    struct wsip_binding b = {
        .aor = "sip:Restored@EXAMPLE.com",
        .contact = "sip:r@192.0.2.7:5060",
        .params = "",
        .instance = "urn:uuid:r",
        .received = "udp:192.0.2.7:5060",
        .path = "<sip:edge.example.com;lr>",
        .call_id = "rc",
        .user_agent = "phone",
        .expires_at = T0 + 30000,
        .created_at = T0 - 5000,
        .updated_at = T0 - 1000,
        .cseq = 42,
        .reg_id = 1,
        .q = 700,
        .transport = WSIP_LOC_TP_UDP,
        .flags = 3,
        .temp_gruu = "abcdefghijklmnopqrstuvwxyz234567",
    };
    ck_assert_int_eq(wsip_location_restore(loc, &b, T0), 0);
    ck_assert_int_eq(wsip_location_restore(loc, &b, T0), 0); /* same key: replaces */
    ck_assert_uint_eq(wsip_location_count(loc), 1);
    ck_assert_uint_eq(rows.puts + rows.dels, 0);

    const struct wsip_binding *v[4];
    ck_assert_uint_eq(lookup("sip:Restored@example.com", T0, v, 4), 1);
    ck_assert_str_eq(v[0]->aor, "sip:Restored@example.com");
    ck_assert_str_eq(v[0]->path, "<sip:edge.example.com;lr>");
    ck_assert_str_eq(v[0]->temp_gruu, "abcdefghijklmnopqrstuvwxyz234567");
    ck_assert_int_eq(v[0]->expires_at, T0 + 30000);
    ck_assert_int_eq(v[0]->created_at, T0 - 5000);
    ck_assert_uint_eq(v[0]->cseq, 42);
    ck_assert_int_eq(v[0]->q, 700);
    ck_assert_uint_eq(v[0]->flags, 3);
    wsip_bindings_unref(v, 1);
    ck_assert_uint_eq(
        wsip_location_lookup_gruu(loc, S("abcdefghijklmnopqrstuvwxyz234567"), T0, v, 4), 1);
    wsip_bindings_unref(v, 1);

    /* the restored Call-ID/CSeq still order later REGISTERs */
    ck_assert_int_eq(reg1("sip:Restored@example.com", "rc", 42, 0,
                          ob("sip:r@192.0.2.7:5060", "urn:uuid:r", 1), T0),
                     WSIP_LOC_ECSEQ);
    ck_assert_int_eq(reg1("sip:Restored@example.com", "rc", 43, 0,
                          ob("sip:r@192.0.2.7:5060", "urn:uuid:r", 1), T0),
                     0);
    ck_assert_uint_eq(wsip_location_count(loc), 1);

    /* refused: flow-bound, expired, malformed */
    struct wsip_binding f = b;
    f.flow = 9;
    ck_assert_int_eq(wsip_location_restore(loc, &f, T0), WSIP_LOC_EINVAL);
    f = b;
    ck_assert_int_eq(wsip_location_restore(loc, &f, T0 + 30000), WSIP_LOC_EEXPIRED);
    f.contact = "";
    ck_assert_int_eq(wsip_location_restore(loc, &f, T0), WSIP_LOC_EINVAL);

    /* a bad stored token is replaced by a good one; no instance, no token */
    f = b;
    f.aor = "sip:other@example.com";
    memcpy(f.temp_gruu, "NOT-A-TOKEN", 12);
    ck_assert_int_eq(wsip_location_restore(loc, &f, T0), 0);
    ck_assert_uint_eq(lookup("sip:other@example.com", T0, v, 4), 1);
    ck_assert_msg(gruu_shape(v[0]->temp_gruu), "bad temp-gruu '%s'", v[0]->temp_gruu);
    wsip_bindings_unref(v, 1);
    f.instance = "";
    f.contact = "sip:o2@192.0.2.8";
    ck_assert_int_eq(wsip_location_restore(loc, &f, T0), 0);
    ck_assert_uint_eq(lookup("sip:other@example.com", T0, v, 4), 2);
    ck_assert_str_eq(v[0]->temp_gruu[0] ? v[1]->temp_gruu : v[0]->temp_gruu, "");
    wsip_bindings_unref(v, 2);
    ck_assert_uint_eq(rows.puts, 1); /* only the REGISTER above */
    VERIFY(loc);
}
END_TEST

START_TEST(t_max_bindings)
{
    struct wsip_location *l = wsip_location_new(&(struct wsip_location_opts){.max_bindings = 2});
    ck_assert_ptr_nonnull(l);
    struct wsip_binding_req c[3] = {contact("sip:m@192.0.2.1"), contact("sip:m@192.0.2.2"),
                                    contact("sip:m@192.0.2.3")};
    struct wsip_loc_register r = reg_of("sip:m@example.com", "a", 1, 0, c, 3);
    ck_assert_int_eq(wsip_location_update(l, &r, T0, NULL), WSIP_LOC_ETOOMANY);
    ck_assert_uint_eq(wsip_location_count(l), 0);
    r.ncontacts = 2;
    ck_assert_int_eq(wsip_location_update(l, &r, T0, NULL), 0);
    r = reg_of("sip:m@example.com", "a", 2, 0, &c[2], 1);
    ck_assert_int_eq(wsip_location_update(l, &r, T0, NULL), WSIP_LOC_ETOOMANY);
    r = reg_of("sip:m@example.com", "a", 3, 0, c, 2); /* refreshing stays possible */
    ck_assert_int_eq(wsip_location_update(l, &r, T0, NULL), 0);
    ck_assert_uint_eq(wsip_location_count(l), 2);

    /* an AOR already past the limit (restored) may still refresh */
    struct wsip_binding b = {.aor = "sip:m@example.com",
                             .contact = "sip:m@192.0.2.9",
                             .call_id = "z",
                             .cseq = 1,
                             .q = -1,
                             .expires_at = T0 + 1000};
    ck_assert_int_eq(wsip_location_restore(l, &b, T0), 0);
    ck_assert_uint_eq(wsip_location_count(l), 3);
    r = reg_of("sip:m@example.com", "a", 4, 0, c, 2);
    ck_assert_int_eq(wsip_location_update(l, &r, T0, NULL), 0);
    struct wsip_binding_req other = contact("sip:m@192.0.2.10");
    r = reg_of("sip:m@example.com", "a", 5, 0, &other, 1);
    ck_assert_int_eq(wsip_location_update(l, &r, T0, NULL), WSIP_LOC_ETOOMANY);
    ck_assert_uint_eq(wsip_location_count(l), 3);
    wsip_location_free(l);

    ck_assert_ptr_null(wsip_location_new(&(struct wsip_location_opts){.shards = 3}));
    l = wsip_location_new(NULL);
    ck_assert_ptr_nonnull(l);
    wsip_location_free(l);
}
END_TEST

START_TEST(t_result_and_query)
{
    const char *aor = "sip:res@example.com";
    struct wsip_binding_req c[2] = {contact("sip:r@192.0.2.1"), ob("sip:r@x.invalid", "urn:i", 1)};
    struct wsip_loc_register r = reg_of(aor, "a", 1, 0, c, 2);
    struct wsip_binding_list res;
    ck_assert_int_eq(wsip_location_update(loc, &r, T0, &res), 0);
    ck_assert_uint_eq(res.n, 2);
    ck_assert_str_eq(res.v[0]->contact, "sip:r@192.0.2.1");
    ck_assert_str_eq(res.v[1]->contact, "sip:r@x.invalid");
    ck_assert_msg(gruu_shape(res.v[1]->temp_gruu), "bad temp-gruu '%s'", res.v[1]->temp_gruu);
    wsip_binding_list_free(&res);
    ck_assert_ptr_null(res.v);

    /* no Contact: a query, nothing changes */
    unsigned puts = rows.puts;
    r = reg_of(aor, "q", 1, 0, NULL, 0);
    ck_assert_int_eq(wsip_location_update(loc, &r, T0 + 1, &res), 0);
    ck_assert_uint_eq(res.n, 2);
    wsip_binding_list_free(&res);
    ck_assert_uint_eq(rows.puts, puts);
    r = reg_of("sip:nobody@example.com", "q", 1, 0, NULL, 0);
    ck_assert_int_eq(wsip_location_update(loc, &r, T0 + 1, &res), 0);
    ck_assert_uint_eq(res.n, 0);
    ck_assert_uint_eq(wsip_location_count_aors(loc), 1);

    /* one Contact twice in a request: the later one wins */
    struct wsip_binding_req d[2] = {contact("sip:r@192.0.2.1"), contact("sip:r@192.0.2.1")};
    d[1].q = 300;
    r = reg_of(aor, "a", 2, 0, d, 2);
    ck_assert_int_eq(wsip_location_update(loc, &r, T0 + 2, &res), 0);
    ck_assert_uint_eq(res.n, 2);
    ck_assert_int_eq(res.v[0]->q, 300);
    wsip_binding_list_free(&res);
    VERIFY(loc);
}
END_TEST

START_TEST(t_snapshot)
{
    for (int i = 0; i < 5; i++) {
        char aor[32];
        snprintf(aor, sizeof(aor), "sip:s%d@example.com", i);
        struct wsip_binding_req c = contact("sip:s@192.0.2.1");
        c.expires = (uint32_t)(10 + i);
        ck_assert_int_eq(reg1(aor, "a", 1, 0, c, T0), 0);
    }
    struct wsip_binding_list s;
    ck_assert_int_eq(wsip_location_snapshot(loc, T0, 0, &s), 0);
    ck_assert_uint_eq(s.n, 5);
    wsip_binding_list_free(&s);
    ck_assert_int_eq(wsip_location_snapshot(loc, T0, 3, &s), 0);
    ck_assert_uint_eq(s.n, 3);
    wsip_binding_list_free(&s);
    ck_assert_int_eq(wsip_location_snapshot(loc, T0 + 12000, 0, &s), 0);
    ck_assert_uint_eq(s.n, 2); /* 13 s and 14 s left; 10, 11, 12 s have expired */
    wsip_binding_list_free(&s);
}
END_TEST

START_TEST(t_references_outlive)
{
    const char *aor = "sip:ref@example.com";
    ck_assert_int_eq(reg1(aor, "a", 1, 4, contact("sip:ref@x.invalid"), T0), 0);
    const struct wsip_binding *v[2];
    ck_assert_uint_eq(lookup(aor, T0, v, 2), 1);
    ck_assert_uint_eq(wsip_location_flow_closed(loc, 4), 1);
    ck_assert_str_eq(v[0]->contact, "sip:ref@x.invalid"); /* still ours */
    ck_assert_int_eq(reg1(aor, "a", 2, 4, contact("sip:ref@x.invalid"), T0), 0);
    const struct wsip_binding *w = wsip_binding_ref(v[0]);
    wsip_location_free(loc);
    loc = NULL;
    ck_assert_str_eq(w->aor, aor);
    wsip_binding_unref(w);
    wsip_bindings_unref(v, 1);
    wsip_binding_unref(NULL);
}
END_TEST

/* --------------------------------------------------------- concurrency */

#define NTHREADS 8
#define NOPS     20000
#define NAORS    48
#define NFLOWS   6

static _Atomic int64_t clock_ms;

struct worker_arg {
    unsigned id;
    unsigned seed;
    unsigned ok, csq, closed;
};

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

static void *worker(void *p)
{
    struct worker_arg *a = p;
    char gruu[WSIP_TEMP_GRUU_LEN + 1] = "";
    for (unsigned op = 0; op < NOPS; op++) {
        int64_t now = atomic_fetch_add(&clock_ms, 7);
        unsigned r = rnd(&a->seed) % 100;
        char aor[64];
        snprintf(aor, sizeof(aor), "sip:user%u@example.com", rnd(&a->seed) % NAORS);
        if (r < 45) {
            char uri[96], inst[48], callid[32];
            unsigned ci = rnd(&a->seed) % 4;
            bool with_inst = rnd(&a->seed) % 2;
            uint32_t regid = with_inst ? rnd(&a->seed) % 3 : 0;
            uint64_t flow = rnd(&a->seed) % 3 == 0 ? 0
                                                   : ((uint64_t)a->id << 56) |
                                                         ((uint64_t)(rnd(&a->seed) % NFLOWS) + 1);
            /* distinct keys for distinct bindings: the contact carries the reg-id */
            snprintf(uri, sizeof(uri), "sip:c%u-r%u@h%u.invalid", ci, regid, a->id);
            snprintf(inst, sizeof(inst), "urn:uuid:t%u-%u", a->id, ci);
            snprintf(callid, sizeof(callid), "call-%u-%u", a->id, ci);
            struct wsip_binding_req c = {
                .contact = S(uri),
                .instance = with_inst ? S(inst) : S(""),
                .reg_id = regid,
                .expires = rnd(&a->seed) % 10 == 0 ? 0 : 1 + rnd(&a->seed) % 60,
                .q = (int)(rnd(&a->seed) % 1002) - 1,
            };
            uint32_t cseq = rnd(&a->seed) % 8 == 0 ? 1 : op + 2;
            struct wsip_loc_register rg = reg_of(aor, callid, cseq, flow, &c, 1);
            struct wsip_binding_list res;
            int rc = wsip_location_update(loc, &rg, now, &res);
            if (rc == 0) {
                a->ok++;
                for (size_t i = 0; i < res.n; i++)
                    if (res.v[i]->temp_gruu[0])
                        memcpy(gruu, res.v[i]->temp_gruu, sizeof(gruu));
                wsip_binding_list_free(&res);
            } else if (rc == WSIP_LOC_ECSEQ) {
                a->csq++;
            } else {
                ck_abort_msg("update returned %d", rc);
            }
        } else if (r < 75) {
            const struct wsip_binding *v[16];
            size_t n = wsip_location_lookup(loc, S(aor), now, v, 16);
            for (size_t i = 1; i < n; i++)
                if ((v[i - 1]->q < 0 ? 1000 : v[i - 1]->q) < (v[i]->q < 0 ? 1000 : v[i]->q))
                    ck_abort_msg("lookup out of q order: %d before %d", v[i - 1]->q, v[i]->q);
            wsip_bindings_unref(v, n);
        } else if (r < 85) {
            if (gruu[0]) {
                const struct wsip_binding *v[4];
                size_t n = wsip_location_lookup_gruu(loc, S(gruu), now, v, 4);
                for (size_t i = 0; i < n; i++)
                    if (strcmp(v[i]->temp_gruu, gruu) != 0)
                        ck_abort_msg("gruu %s found %s", gruu, v[i]->temp_gruu);
                wsip_bindings_unref(v, n);
            }
        } else if (r < 93) {
            uint64_t flow = ((uint64_t)a->id << 56) | ((uint64_t)(rnd(&a->seed) % NFLOWS) + 1);
            a->closed += (unsigned)wsip_location_flow_closed(loc, flow);
        } else if (r < 97) {
            wsip_location_expire(loc, now);
        } else {
            struct wsip_binding_list s;
            if (wsip_location_snapshot(loc, now, 0, &s) == 0)
                wsip_binding_list_free(&s);
        }
    }
    return NULL;
}

START_TEST(t_concurrency)
{
    atomic_store(&clock_ms, T0);
    pthread_t th[NTHREADS];
    struct worker_arg args[NTHREADS];
    for (unsigned i = 0; i < NTHREADS; i++) {
        args[i] = (struct worker_arg){.id = i + 1, .seed = 1234u + i * 77u};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    unsigned ok = 0, csq = 0;
    for (unsigned i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
        csq += args[i].csq;
    }
    ck_assert_msg(ok > 1000 && csq > 10, "too few updates to mean anything: %u ok, %u refused", ok,
                  csq);
    VERIFY(loc);

    /* counts agree with what lookups see once expired bindings are purged */
    int64_t now = atomic_load(&clock_ms);
    wsip_location_expire(loc, now);
    size_t seen = 0;
    for (unsigned i = 0; i < NAORS; i++) {
        char aor[64];
        snprintf(aor, sizeof(aor), "sip:user%u@example.com", i);
        seen += count_live(aor, now);
    }
    ck_assert_uint_eq(seen, wsip_location_count(loc));

    /* the hooks' rows are exactly the persisted bindings */
    struct wsip_binding_list s;
    ck_assert_int_eq(wsip_location_snapshot(loc, now, 0, &s), 0);
    size_t persisted = 0;
    for (size_t i = 0; i < s.n; i++)
        persisted += s.v[i]->flow == 0;
    wsip_binding_list_free(&s);
    ck_assert_uint_eq(rows.nkeys, persisted);
    ck_assert_uint_eq(rows.bad, 0);

    /* every flow closed and everything expired: empty, rows gone */
    for (unsigned t = 1; t <= NTHREADS; t++)
        for (unsigned f = 1; f <= NFLOWS; f++)
            wsip_location_flow_closed(loc, ((uint64_t)t << 56) | f);
    wsip_location_expire(loc, INT64_MAX);
    ck_assert_uint_eq(wsip_location_count(loc), 0);
    ck_assert_uint_eq(wsip_location_count_aors(loc), 0);
    ck_assert_uint_eq(rows.nkeys, 0);
    ck_assert_uint_eq(rows.bad, 0);
    VERIFY(loc);
}
END_TEST

static Suite *location_suite(void)
{
    Suite *s = suite_create("location");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_insert_refresh_remove);
    tcase_add_test(tc, t_aor_normalised);
    tcase_add_test(tc, t_wildcard);
    tcase_add_test(tc, t_page_reload_replaces);
    tcase_add_test(tc, t_two_reg_ids);
    tcase_add_test(tc, t_uri_match_without_instance);
    tcase_add_test(tc, t_uri_match_rfc3261);
    tcase_add_test(tc, t_cseq_order);
    tcase_add_test(tc, t_q_order);
    tcase_add_test(tc, t_expiry_boundary);
    tcase_add_test(tc, t_flow_closed_across_aors);
    tcase_add_test(tc, t_temp_gruu);
    tcase_add_test(tc, t_temp_gruu_unique);
    tcase_add_test(tc, t_hooks);
    tcase_add_test(tc, t_restore);
    tcase_add_test(tc, t_max_bindings);
    tcase_add_test(tc, t_result_and_query);
    tcase_add_test(tc, t_snapshot);
    tcase_add_test(tc, t_references_outlive);
    tcase_add_test(tc, t_concurrency);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(location_suite());
}

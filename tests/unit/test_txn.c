/* Transaction layer against scripted UDP peers: retransmissions absorbed,
 * timers G/H/I and A/B/E/F firing with a shortened T1, ACK for non-2xx,
 * CANCEL matching, responses handed over between workers. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "transport/transport.h"
#include "txn/txn.h"

#define T1 40 /* ms: RFC 3261 allows a smaller T1 on a LAN; tests shorten it */

static struct wsip_server srv;
static uint16_t srv_port;

static void start_server(unsigned workers)
{
    struct wsip_server_opts o;
    wsip_server_opts_default(&o);
    o.workers = workers;
    o.t1_ms = T1;
    o.t2_ms = 4 * T1;
    o.t4_ms = 5 * T1;
    srv_port = test_free_port(SOCK_DGRAM);
    char uri[64];
    snprintf(uri, sizeof(uri), "udp://127.0.0.1:%u", srv_port);
    test_server_start(&srv, &o, uri);
}

static void stop_server(void)
{
    test_server_stop(&srv);
}

/* A scripted peer: a UDP socket on loopback. */
static int peer_open(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

static void peer_send(int fd, const char *msg)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(srv_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof(a)),
                     (ssize_t)strlen(msg));
}

/* Receives one datagram within timeout_ms (0 bytes: none came). */
static size_t peer_recv(int fd, char *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return 0;
    ssize_t n = recv(fd, buf, cap - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return (size_t)n;
}

/* Counts datagrams that start with prefix during ms. */
static int count_recv(int fd, const char *prefix, int ms)
{
    char buf[4096];
    int n = 0;
    uint64_t end = wsip_now_ms() + (uint64_t)ms;
    for (;;) {
        uint64_t now = wsip_now_ms();
        if (now >= end)
            return n;
        if (peer_recv(fd, buf, sizeof(buf), (int)(end - now)) &&
            strncmp(buf, prefix, strlen(prefix)) == 0)
            n++;
    }
}

static void request(char *out, size_t cap, const char *method, uint16_t port, const char *branch,
                    unsigned cseq, const char *cseq_method)
{
    snprintf(out, cap,
             "%s sip:someone@127.0.0.1 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=%s\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:peer@127.0.0.1>;tag=p1\r\n"
             "To: <sip:someone@127.0.0.1>\r\n"
             "Call-ID: txn-%s\r\n"
             "CSeq: %u %s\r\n"
             "Content-Length: 0\r\n\r\n",
             method, port, branch, branch, cseq, cseq_method);
}

static struct wsip_txn_stats stats(void)
{
    /* summed over workers; read after the traffic settled (racy reads of
     * plain counters are fine for a test that waits first) */
    struct wsip_txn_stats sum = {0}, s;
    for (unsigned i = 0; i < srv.nworkers; i++) {
        wsip_txn_stats(&srv.workers[i], &s);
        sum.strans += s.strans;
        sum.ctrans += s.ctrans;
        sum.absorbed += s.absorbed;
        sum.retransmits += s.retransmits;
        sum.timeouts += s.timeouts;
        sum.handed_over += s.handed_over;
        sum.unmatched += s.unmatched;
    }
    return sum;
}

static char *header(const char *msg, const char *name, char *out, size_t cap)
{
    const char *p = strstr(msg, name);
    if (!p)
        return NULL;
    p += strlen(name);
    const char *e = strstr(p, "\r\n");
    snprintf(out, cap, "%.*s", (int)(e - p), p);
    return out;
}

START_TEST(non_invite_retransmission_absorbed)
{
    start_server(1);
    uint16_t port;
    int fd = peer_open(&port);
    char req[1024], buf[4096], tag1[128], tag2[128];
    request(req, sizeof(req), "OPTIONS", port, "z9hG4bKabsorb1", 1, "OPTIONS");
    peer_send(fd, req);
    ck_assert_uint_gt(peer_recv(fd, buf, sizeof(buf), 2000), 0);
    ck_assert_msg(strncmp(buf, "SIP/2.0 200", 11) == 0, "got %s", buf);
    ck_assert_ptr_nonnull(header(buf, "To: ", tag1, sizeof(tag1)));
    /* the same request again: the same response (same To-tag), not a new
     * transaction */
    peer_send(fd, req);
    ck_assert_uint_gt(peer_recv(fd, buf, sizeof(buf), 2000), 0);
    ck_assert_ptr_nonnull(header(buf, "To: ", tag2, sizeof(tag2)));
    ck_assert_str_eq(tag1, tag2);
    struct wsip_txn_stats s = stats();
    ck_assert_uint_eq(s.strans, 1);
    ck_assert_uint_eq(s.absorbed, 1);
    /* after timer J (64*T1) the transaction is gone: a new one answers */
    usleep((64 * T1 + 200) * 1000);
    peer_send(fd, req);
    ck_assert_uint_gt(peer_recv(fd, buf, sizeof(buf), 2000), 0);
    ck_assert_uint_eq(stats().strans, 2);
    close(fd);
    stop_server();
}
END_TEST

START_TEST(invite_final_retransmitted_until_ack)
{
    start_server(1);
    uint16_t port;
    int fd = peer_open(&port);
    char req[1024], buf[4096];
    request(req, sizeof(req), "INVITE", port, "z9hG4bKinv1", 1, "INVITE");
    peer_send(fd, req);
    /* wsip answers INVITE 501 for now: a non-2xx final, so timer G
     * retransmits it (T1, 2T1, 4T1 ... capped at T2) until the ACK */
    ck_assert_uint_gt(peer_recv(fd, buf, sizeof(buf), 2000), 0);
    ck_assert_msg(strncmp(buf, "SIP/2.0 501", 11) == 0, "got %s", buf);
    int retx = count_recv(fd, "SIP/2.0 501", 8 * T1);
    ck_assert_int_ge(retx, 2); /* at T1, 3T1, 7T1 */
    ck_assert_int_le(retx, 5);
    /* the ACK (same branch) stops them */
    request(req, sizeof(req), "ACK", port, "z9hG4bKinv1", 1, "ACK");
    peer_send(fd, req);
    usleep(2 * T1 * 1000);
    (void)count_recv(fd, "SIP/2.0 501", 10); /* drain one in flight */
    ck_assert_int_eq(count_recv(fd, "SIP/2.0 501", 10 * T1), 0);
    ck_assert_uint_ge(stats().retransmits, 2);
    close(fd);
    stop_server();
}
END_TEST

START_TEST(invite_without_ack_times_out)
{
    start_server(1);
    uint16_t port;
    int fd = peer_open(&port);
    char req[1024];
    request(req, sizeof(req), "INVITE", port, "z9hG4bKnoack", 1, "INVITE");
    peer_send(fd, req);
    /* timer H (64*T1): retransmissions stop and the transaction ends */
    (void)count_recv(fd, "SIP/2.0", 64 * T1 + 300);
    ck_assert_int_eq(count_recv(fd, "SIP/2.0", 6 * T1), 0);
    ck_assert_uint_ge(stats().timeouts, 1);
    close(fd);
    stop_server();
}
END_TEST

START_TEST(cancel_matching)
{
    start_server(1);
    uint16_t port;
    int fd = peer_open(&port);
    char req[1024], buf[4096];
    /* no INVITE transaction: 481 */
    request(req, sizeof(req), "CANCEL", port, "z9hG4bKnothere", 1, "CANCEL");
    peer_send(fd, req);
    ck_assert_uint_gt(peer_recv(fd, buf, sizeof(buf), 2000), 0);
    ck_assert_msg(strncmp(buf, "SIP/2.0 481", 11) == 0, "got %s", buf);
    /* an INVITE that was already answered (501, completed): also 481, the
     * transaction is no longer pending */
    request(req, sizeof(req), "INVITE", port, "z9hG4bKdone", 1, "INVITE");
    peer_send(fd, req);
    ck_assert_uint_gt(peer_recv(fd, buf, sizeof(buf), 2000), 0);
    request(req, sizeof(req), "CANCEL", port, "z9hG4bKdone", 1, "CANCEL");
    peer_send(fd, req);
    int got481 = 0;
    for (int i = 0; i < 10 && !got481; i++)
        if (peer_recv(fd, buf, sizeof(buf), 1000) && strncmp(buf, "SIP/2.0 481", 11) == 0)
            got481 = 1;
    ck_assert(got481);
    close(fd);
    stop_server();
}
END_TEST

/* ------------------------------------------------------- client side */

struct ct_probe {
    struct wsip_task task;
    uint16_t peer_port;
    char bytes[1024];
    _Atomic int started; /* 1 ok, -1 failed */
    _Atomic int responses;
    _Atomic int last_status;
    _Atomic int ended; /* 1 + enum wsip_ctrans_end */
    _Atomic unsigned end_worker;
};

static void probe_response(struct wsip_ctrans *ct, struct wsip_msg *resp, void *arg)
{
    (void)ct;
    struct ct_probe *p = arg;
    atomic_fetch_add(&p->responses, 1);
    atomic_store(&p->last_status, (int)resp->status);
}

static void probe_end(struct wsip_ctrans *ct, enum wsip_ctrans_end how, void *arg)
{
    (void)ct;
    struct ct_probe *p = arg;
    atomic_store(&p->end_worker, wsip_worker_self()->id);
    atomic_store(&p->ended, 1 + (int)how);
}

static const struct wsip_ctrans_ops probe_ops = {probe_response, probe_end};

static void probe_start(struct wsip_worker *w, struct wsip_task *t)
{
    struct ct_probe *p = (struct ct_probe *)t;
    struct wsip_target tg = {.kind = WSIP_LISTEN_UDP};
    struct sockaddr_in *a = (struct sockaddr_in *)&tg.addr;
    a->sin_family = AF_INET;
    a->sin_port = htons(p->peer_port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)w;
    struct wsip_ctrans *ct = wsip_ctrans_send(&tg, p->bytes, strlen(p->bytes), NULL, &probe_ops, p);
    atomic_store(&p->started, ct ? 1 : -1);
}

/* Starts a client transaction on worker wid with a branch of that worker. */
static void start_client(struct ct_probe *p, unsigned wid, const char *method, uint16_t port)
{
    char branch[WSIP_TXN_BRANCH_MAX];
    wsip_txn_branch(&srv.workers[wid], wid ? "0123456789abcdef" : NULL, branch, sizeof(branch));
    memset(p, 0, sizeof(*p));
    p->peer_port = port;
    snprintf(p->bytes, sizeof(p->bytes),
             "%s sip:peer@127.0.0.1:%u SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=%s;rport\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:wsip@127.0.0.1>;tag=w1\r\n"
             "To: <sip:peer@127.0.0.1>\r\n"
             "Call-ID: ct-%s\r\n"
             "CSeq: 1 %s\r\n"
             "Content-Length: 0\r\n\r\n",
             method, port, srv_port, branch, branch, method);
    p->task.fn = probe_start;
    ck_assert_int_eq(wsip_worker_post(&srv.workers[wid], &p->task), 0);
    for (int i = 0; i < 2000 && atomic_load(&p->started) == 0; i++)
        usleep(1000);
    ck_assert_int_eq(atomic_load(&p->started), 1);
}

static void wait_ended(struct ct_probe *p, int ms)
{
    for (int i = 0; i < ms && atomic_load(&p->ended) == 0; i++)
        usleep(1000);
}

/* Turns a received request into a response with the same Via/From/To/
 * Call-ID/CSeq, sent back to the server's port. */
static void answer(int fd, const char *req, int status, const char *to_tag)
{
    char out[2048], via[512], from[256], to[256], cid[256], cseq[128];
    ck_assert_ptr_nonnull(header(req, "Via: ", via, sizeof(via)));
    ck_assert_ptr_nonnull(header(req, "From: ", from, sizeof(from)));
    ck_assert_ptr_nonnull(header(req, "To: ", to, sizeof(to)));
    ck_assert_ptr_nonnull(header(req, "Call-ID: ", cid, sizeof(cid)));
    ck_assert_ptr_nonnull(header(req, "CSeq: ", cseq, sizeof(cseq)));
    snprintf(out, sizeof(out),
             "SIP/2.0 %d Whatever\r\nVia: %s\r\nFrom: %s\r\nTo: %s%s%s\r\nCall-ID: %s\r\n"
             "CSeq: %s\r\nContent-Length: 0\r\n\r\n",
             status, via, from, to, to_tag ? ";tag=" : "", to_tag ? to_tag : "", cid, cseq);
    peer_send(fd, out);
}

START_TEST(client_non_invite_retransmits_then_answer)
{
    start_server(1);
    uint16_t port;
    int fd = peer_open(&port);
    struct ct_probe p;
    start_client(&p, 0, "OPTIONS", port);
    char buf[4096];
    /* the first send and timer E retransmissions (T1, 2T1, 4T1, capped) */
    ck_assert_uint_gt(peer_recv(fd, buf, sizeof(buf), 2000), 0);
    ck_assert_msg(strncmp(buf, "OPTIONS ", 8) == 0, "got %s", buf);
    int retx = count_recv(fd, "OPTIONS ", 8 * T1);
    ck_assert_int_ge(retx, 2);
    answer(fd, buf, 200, "peer");
    wait_ended(&p, 2000);
    ck_assert_int_eq(atomic_load(&p.ended), 1 + WSIP_CTRANS_DONE);
    ck_assert_int_eq(atomic_load(&p.last_status), 200);
    ck_assert_int_eq(atomic_load(&p.responses), 1);
    /* no more retransmissions once answered */
    usleep(2 * T1 * 1000);
    (void)count_recv(fd, "OPTIONS ", 5);
    ck_assert_int_eq(count_recv(fd, "OPTIONS ", 8 * T1), 0);
    close(fd);
    stop_server();
}
END_TEST

START_TEST(client_timeout_timer_f)
{
    start_server(1);
    uint16_t port;
    int fd = peer_open(&port);
    struct ct_probe p;
    start_client(&p, 0, "MESSAGE", port);
    /* nobody answers: timer F ends it after 64*T1 */
    int sent = count_recv(fd, "MESSAGE ", 64 * T1 + 500);
    ck_assert_int_ge(sent, 5);
    wait_ended(&p, 2000);
    ck_assert_int_eq(atomic_load(&p.ended), 1 + WSIP_CTRANS_TIMEOUT);
    ck_assert_int_eq(atomic_load(&p.responses), 0);
    ck_assert_uint_ge(stats().timeouts, 1);
    close(fd);
    stop_server();
}
END_TEST

START_TEST(client_invite_non_2xx_gets_ack)
{
    start_server(1);
    uint16_t port;
    int fd = peer_open(&port);
    struct ct_probe p;
    start_client(&p, 0, "INVITE", port);
    char inv[4096], buf[4096], branch_inv[256], branch_ack[256];
    ck_assert_uint_gt(peer_recv(fd, inv, sizeof(inv), 2000), 0);
    answer(fd, inv, 180, "callee");
    answer(fd, inv, 486, "callee");
    /* the transaction acknowledges the 486 itself, same branch */
    int got_ack = 0;
    for (int i = 0; i < 20 && !got_ack; i++)
        if (peer_recv(fd, buf, sizeof(buf), 500) && strncmp(buf, "ACK ", 4) == 0)
            got_ack = 1;
    ck_assert(got_ack);
    ck_assert_ptr_nonnull(header(inv, "Via: ", branch_inv, sizeof(branch_inv)));
    ck_assert_ptr_nonnull(header(buf, "Via: ", branch_ack, sizeof(branch_ack)));
    ck_assert_str_eq(branch_inv, branch_ack);
    char to[256];
    ck_assert_ptr_nonnull(header(buf, "To: ", to, sizeof(to)));
    ck_assert_ptr_nonnull(strstr(to, "tag=callee"));
    wait_ended(&p, 2000);
    ck_assert_int_eq(atomic_load(&p.ended), 1 + WSIP_CTRANS_DONE);
    ck_assert_int_eq(atomic_load(&p.last_status), 486);
    ck_assert_int_eq(atomic_load(&p.responses), 2);
    /* a retransmitted 486 is ACKed again, not passed up again */
    answer(fd, inv, 486, "callee");
    got_ack = 0;
    for (int i = 0; i < 20 && !got_ack; i++)
        if (peer_recv(fd, buf, sizeof(buf), 500) && strncmp(buf, "ACK ", 4) == 0)
            got_ack = 1;
    ck_assert(got_ack);
    ck_assert_int_eq(atomic_load(&p.responses), 2);
    close(fd);
    stop_server();
}
END_TEST

START_TEST(response_handed_to_owner)
{
    /* two workers; the transaction lives on one; the response may arrive on
     * either (SO_REUSEPORT) and must reach the owner */
    start_server(2);
    uint16_t port;
    int fd = peer_open(&port);
    for (unsigned wid = 0; wid < 2; wid++) {
        struct ct_probe p;
        start_client(&p, wid, "OPTIONS", port);
        char buf[4096];
        ck_assert_uint_gt(peer_recv(fd, buf, sizeof(buf), 2000), 0);
        answer(fd, buf, 200, "x");
        wait_ended(&p, 3000);
        ck_assert_int_eq(atomic_load(&p.ended), 1 + WSIP_CTRANS_DONE);
        ck_assert_uint_eq(atomic_load(&p.end_worker), wid);
        (void)count_recv(fd, "OPTIONS", 3 * T1);
    }
    /* the peer's single source port hashes to one worker: the other
     * worker's transaction got its response by hand-over */
    ck_assert_uint_ge(stats().handed_over, 1);
    /* a branch that names no worker of ours is not matched */
    ck_assert_int_eq(wsip_txn_branch_worker(wsip_str_cstr("z9hG4bK-7x")), -1);
    ck_assert_int_eq(wsip_txn_branch_worker(wsip_str_cstr("z9hG4bKplain")), -1);
    ck_assert_int_eq(wsip_txn_branch_worker(wsip_str_cstr("z9hG4bK-12-abc")), 12);
    ck_assert_int_eq(wsip_txn_branch_worker(wsip_str_cstr("z9hG4bK-3-0123456789abcdef-abc")), 3);
    close(fd);
    stop_server();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("txn");
    TCase *tc = tcase_create("txn");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, non_invite_retransmission_absorbed);
    tcase_add_test(tc, invite_final_retransmitted_until_ack);
    tcase_add_test(tc, invite_without_ack_times_out);
    tcase_add_test(tc, cancel_matching);
    tcase_add_test(tc, client_non_invite_retransmits_then_answer);
    tcase_add_test(tc, client_timeout_timer_f);
    tcase_add_test(tc, client_invite_non_2xx_gets_ack);
    tcase_add_test(tc, response_handed_to_owner);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}

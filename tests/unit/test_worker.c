/* Workers: hand-off of a send to the worker that owns a flow, and stale flow
 * tokens (connection gone, slot reused) detected instead of misdelivered.
 * Runs a real server with two workers on loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "transport/transport.h"

static struct wsip_server srv;
static uint16_t tcp_port;

static _Atomic int done_calls;

static void start_server(void)
{
    /* tests may share one process (CK_FORK=no): start from zero */
    atomic_store(&done_calls, 0);
    struct wsip_server_opts o;
    wsip_server_opts_default(&o);
    o.workers = 2;
    tcp_port = test_free_port(SOCK_STREAM);
    char uri[64];
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", tcp_port);
    test_server_start(&srv, &o, uri);
}

static void stop_server(void)
{
    test_server_stop(&srv);
}

static int connect_client(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(tcp_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Runs on a worker thread: reports the token of the one connection it owns. */
struct find_task {
    struct wsip_task task;
    _Atomic uint64_t token; /* 0 until answered; UINT64_MAX: none */
};

static void find_on_worker(struct wsip_worker *w, struct wsip_task *t)
{
    struct find_task *ft = (struct find_task *)t;
    uint64_t found = UINT64_MAX;
    for (uint32_t i = 0; i < w->nslots; i++)
        if (w->slots[i].conn)
            found = wsip_conn_flow(w->slots[i].conn);
    atomic_store(&ft->token, found);
}

/* The token of the (single) client connection, and its owner's id. */
static wsip_flow_token find_flow(void)
{
    for (int tries = 0; tries < 200; tries++) {
        for (unsigned i = 0; i < srv.nworkers; i++) {
            struct find_task ft = {.task.fn = find_on_worker};
            atomic_store(&ft.token, 0);
            ck_assert_int_eq(wsip_worker_post(&srv.workers[i], &ft.task), 0);
            while (atomic_load(&ft.token) == 0)
                usleep(1000);
            if (atomic_load(&ft.token) != UINT64_MAX)
                return atomic_load(&ft.token);
        }
        usleep(10000);
    }
    ck_abort_msg("no worker owns the connection");
    return 0;
}

static _Atomic int done_status = 99;
static _Atomic unsigned done_on_worker = 99;

static void on_done(wsip_flow_token t, int status, void *arg)
{
    (void)t;
    (void)arg;
    struct wsip_worker *self = wsip_worker_self();
    atomic_store(&done_on_worker, self ? self->id : 98);
    atomic_store(&done_status, status);
    atomic_fetch_add(&done_calls, 1);
}

/* Posted to the worker that does NOT own the flow: it sends from there. */
struct relay_task {
    struct wsip_task task;
    wsip_flow_token token;
    const char *text;
    _Atomic unsigned from_worker;
};

static void relay_on_worker(struct wsip_worker *w, struct wsip_task *t)
{
    struct relay_task *rt = (struct relay_task *)t;
    atomic_store(&rt->from_worker, w->id);
    wsip_flow_send(w->srv, rt->token, rt->text, strlen(rt->text), on_done, NULL);
}

static void wait_done(int calls)
{
    for (int i = 0; i < 2000 && atomic_load(&done_calls) < calls; i++)
        usleep(1000);
    ck_assert_int_eq(atomic_load(&done_calls), calls);
}

static size_t read_some(int fd, char *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return 0;
    ssize_t n = read(fd, buf, cap - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return (size_t)n;
}

static uint64_t counter_handoffs(void)
{
    struct wsip_counter_totals t;
    wsip_server_counters(&srv, &t);
    return t.handoffs;
}

static uint64_t counter_stale(void)
{
    struct wsip_counter_totals t;
    wsip_server_counters(&srv, &t);
    return t.stale_flows;
}

START_TEST(handoff_between_workers)
{
    start_server();
    ck_assert_uint_eq(srv.nworkers, 2);
    int fd = connect_client();
    wsip_flow_token tok = find_flow();
    unsigned owner = wsip_flow_worker(tok);
    unsigned other = 1 - owner;

    struct relay_task rt = {.task.fn = relay_on_worker, .token = tok, .text = "hello from afar"};
    atomic_store(&rt.from_worker, 99);
    uint64_t handoffs = counter_handoffs();
    ck_assert_int_eq(wsip_worker_post(&srv.workers[other], &rt.task), 0);
    wait_done(1);
    ck_assert_uint_eq(atomic_load(&rt.from_worker), other);
    ck_assert_int_eq(atomic_load(&done_status), 0);
    /* the owner, not the sender, wrote to the socket */
    ck_assert_uint_eq(atomic_load(&done_on_worker), owner);
    ck_assert_uint_eq(counter_handoffs(), handoffs + 1);
    char buf[256];
    ck_assert_uint_eq(read_some(fd, buf, sizeof(buf), 2000), strlen("hello from afar"));
    ck_assert_str_eq(buf, "hello from afar");

    /* from a thread that is no worker at all */
    ck_assert_int_eq(wsip_flow_send(&srv, tok, "again", 5, on_done, NULL), 0);
    wait_done(2);
    ck_assert_uint_eq(read_some(fd, buf, sizeof(buf), 2000), 5);
    ck_assert_str_eq(buf, "again");
    close(fd);
    stop_server();
}
END_TEST

START_TEST(stale_token_not_misdelivered)
{
    start_server();
    int fd = connect_client();
    wsip_flow_token old = find_flow();
    close(fd);
    /* wait until the owner has noticed and released the slot */
    uint64_t stale = counter_stale();
    int calls = 0;
    for (int i = 0; i < 200; i++) {
        atomic_store(&done_status, 99);
        ck_assert_int_eq(wsip_flow_send(&srv, old, "x", 1, on_done, NULL), 0);
        wait_done(++calls);
        if (atomic_load(&done_status) == -1)
            break;
        usleep(10000);
    }
    ck_assert_int_eq(atomic_load(&done_status), -1);
    ck_assert_uint_gt(counter_stale(), stale);

    /* A new connection may take the same slot (new generation): the old
     * token must still not reach it. Retry until the kernel puts the new
     * connection on the same worker and it reuses the slot. */
    int reused = 0;
    for (int i = 0; i < 50 && !reused; i++) {
        int fd2 = connect_client();
        wsip_flow_token now = find_flow();
        if (wsip_flow_worker(now) == wsip_flow_worker(old) &&
            wsip_flow_slot(now) == wsip_flow_slot(old)) {
            reused = 1;
            ck_assert_uint_ne(wsip_flow_gen(now), wsip_flow_gen(old));
            atomic_store(&done_status, 99);
            ck_assert_int_eq(wsip_flow_send(&srv, old, "misdelivered", 12, on_done, NULL), 0);
            wait_done(++calls);
            ck_assert_int_eq(atomic_load(&done_status), -1);
            char buf[64];
            ck_assert_uint_eq(read_some(fd2, buf, sizeof(buf), 300), 0);
            /* the right token still works */
            ck_assert_int_eq(wsip_flow_send(&srv, now, "ok", 2, on_done, NULL), 0);
            wait_done(++calls);
            ck_assert_uint_eq(read_some(fd2, buf, sizeof(buf), 2000), 2);
        }
        close(fd2);
        /* let the server release the slot before the next try */
        for (int j = 0; j < 100; j++) {
            atomic_store(&done_status, 99);
            wsip_flow_send(&srv, now, "", 0, on_done, NULL);
            wait_done(++calls);
            if (atomic_load(&done_status) == -1)
                break;
            usleep(5000);
        }
    }
    ck_assert_msg(reused, "never got the same slot back");
    stop_server();
}
END_TEST

START_TEST(token_layout)
{
    wsip_flow_token t = wsip_flow_make(3, 0xabcdef, 0x12345678);
    ck_assert_uint_eq(wsip_flow_worker(t), 3);
    ck_assert_uint_eq(wsip_flow_slot(t), 0xabcdef);
    ck_assert_uint_eq(wsip_flow_gen(t), 0x12345678);
    /* a token for a worker that does not exist is refused up front */
    start_server();
    ck_assert_int_eq(wsip_flow_send(&srv, wsip_flow_make(7, 1, 1), "x", 1, NULL, NULL), -1);
    stop_server();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("worker");
    TCase *tc = tcase_create("worker");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, handoff_between_workers);
    tcase_add_test(tc, stale_token_not_misdelivered);
    tcase_add_test(tc, token_layout);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}

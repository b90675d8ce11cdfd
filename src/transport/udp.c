/* UDP: one datagram is one SIP message (RFC 3261 sec 18.3). Each worker has
 * its own SO_REUSEPORT socket per UDP listen address, read with recvmmsg. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/siphash.h"
#include "transport/transport.h"
#include "wsip/log.h"

/* recvmmsg fills up to this many 64 KiB slots per system call */
#define UDP_SLOTS   16
#define UDP_SLOT_SZ (64 * 1024)
/* Receive buffer asked for. The kernel's default (rmem_default, often
 * 208 KiB) holds only about a hundred queued datagrams, since each costs
 * its size plus about 1 KiB of overhead: a burst from a few hundred UAs
 * (a call is 6 datagrams in, 7 out) overflows it, and every drop costs a
 * retransmission 500 ms later. net.core.rmem_max caps what is granted. */
#define UDP_RCVBUF (4 * 1024 * 1024)

struct udp_listener {
    uv_udp_t udp;
    struct wsip_worker *w;
    /* its place in w->listeners: every worker opens the listen specs in the
     * same order, so the same place on another worker holds that worker's
     * socket on the same address */
    unsigned index;
    bool busy; /* rx is lent to libuv */
    char *rx;
};

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct udp_listener *l = h->data;
    (void)suggested;
    if (l->busy) {
        *b = uv_buf_init(NULL, 0);
        return;
    }
    l->busy = true;
    *b = uv_buf_init(l->rx, UDP_SLOTS * UDP_SLOT_SZ);
}

static void udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                     unsigned flags)
{
    struct udp_listener *l = h->data;
    if (flags & UV_UDP_MMSG_FREE) {
        l->busy = false;
        return;
    }
    if (!(flags & UV_UDP_MMSG_CHUNK))
        l->busy = false; /* a plain recvmsg read: the buffer comes back now */
    if (n <= 0 || !from)
        return;
    struct wsip_source src = {.kind = WSIP_LISTEN_UDP, .worker = l->w, .udp = h};
    size_t alen =
        from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memcpy(&src.peer, from, alen);
    src.peerlen = (socklen_t)alen;
    if (flags & UV_UDP_PARTIAL) {
        /* larger than the buffer: answer 513 from what arrived */
        struct wsip_sip_err err = {513, "Message Too Large"};
        wsip_dispatch_bad(&src, b->base, (size_t)n, &err);
        return;
    }
    if ((size_t)n > l->w->srv->opt.max_udp_message) {
        struct wsip_sip_err err = {513, "Message Too Large"};
        wsip_dispatch_bad(&src, b->base, (size_t)n, &err);
        return;
    }
    /* a lone CRLF or CRLFCRLF datagram is a keepalive (RFC 5626 sec 3.5.1
     * uses STUN on UDP; CRLF probes are common and harmless): ignore */
    if (wsip_stream_skip_crlf(b->base, (size_t)n) == (size_t)n)
        return;
    wsip_dispatch_bytes(&src, b->base, (size_t)n, WSIP_FRAMING_DATAGRAM);
}

static void udp_free(uv_handle_t *h)
{
    struct udp_listener *l = h->data;
    free(l->rx);
    free(l);
}

/* A larger receive buffer; says so when the kernel grants much less. */
static void grow_rcvbuf(int fd, const struct wsip_worker *w)
{
    int want = UDP_RCVBUF, got = 0;
    socklen_t len = sizeof(got);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 && got < want && w->id == 0)
        /* Linux reports twice what was granted (its bookkeeping share) */
        wsip_log_info(NULL,
                      "UDP receive buffer %d KiB, not %d KiB: raise net.core.rmem_max for "
                      "bursts of datagrams",
                      got / 2048, want / 1024);
}

int wsip_udp_listen(struct wsip_worker *w, const struct wsip_listen_spec *spec)
{
    int fd = wsip_bound_socket(spec, SOCK_DGRAM);
    if (fd < 0)
        return fd;
    grow_rcvbuf(fd, w);
    struct udp_listener *l = calloc(1, sizeof(*l));
    char *rx = malloc(UDP_SLOTS * UDP_SLOT_SZ);
    if (!l || !rx) {
        free(l);
        free(rx);
        close(fd);
        return -ENOMEM;
    }
    l->w = w;
    l->rx = rx;
    /* AF_UNSPEC: no socket of its own, ours comes through uv_udp_open */
    int rc = uv_udp_init_ex(&w->loop, &l->udp, AF_UNSPEC | UV_UDP_RECVMMSG);
    if (rc != 0) {
        free(rx);
        free(l);
        close(fd);
        return rc;
    }
    l->udp.data = l;
    l->index = w->nlisteners;
    w->listeners[w->nlisteners++] = (uv_handle_t *)&l->udp;
    rc = uv_udp_open(&l->udp, fd);
    if (rc == 0)
        rc = uv_udp_recv_start(&l->udp, udp_alloc, udp_recv);
    return rc;
}

/* ------------------------------------------------- spreading requests */

/* A request on its way to the worker its Call-ID names. */
struct request_task {
    struct wsip_task task;
    struct wsip_source src; /* as received; the socket is named by index */
    unsigned listener;
    struct wsip_msg *m; /* a clone: the original points into the receive slot */
};

static void request_on_owner(struct wsip_worker *w, struct wsip_task *t)
{
    struct request_task *rt = (struct request_task *)t;
    /* none once shutdown closed the listeners: the request is dropped */
    uv_handle_t *h = rt->listener < w->nlisteners ? w->listeners[rt->listener] : NULL;
    if (h && h->type == UV_UDP && !uv_is_closing(h)) {
        rt->src.worker = w;
        rt->src.udp = (uv_udp_t *)h; /* answers leave from the same address */
        wsip_dispatch_msg(&rt->src, rt->m);
    }
    wsip_msg_unref(rt->m);
    free(rt);
}

bool wsip_udp_hand_over(const struct wsip_source *src, struct wsip_msg *m)
{
    struct wsip_worker *w = src->worker;
    struct wsip_server *s = w->srv;
    if (s->nworkers < 2 || !m->is_request)
        return false; /* responses go by the branch (wsip_txn_on_response) */
    struct wsip_hdr *cid = wsip_msg_hdr(m, WSIP_HDR_CALL_ID);
    if (!cid)
        return false; /* invalid: refused here */
    uint64_t hash = wsip_siphash(s->spread_key, cid->value.p, cid->value.len);
    unsigned owner = (unsigned)(hash % s->nworkers);
    if (owner == w->id)
        return false;
    struct request_task *rt = malloc(sizeof(*rt));
    if (!rt)
        return true; /* dropped: the peer retransmits */
    rt->task.fn = request_on_owner;
    rt->src = *src;
    rt->listener = ((const struct udp_listener *)src->udp->data)->index;
    rt->m = wsip_msg_clone(m);
    if (!rt->m || wsip_worker_post(&s->workers[owner], &rt->task) < 0) {
        wsip_msg_unref(rt->m);
        free(rt);
        return true;
    }
    wsip_ctr_inc(&w->ctr.udp_handed_over);
    return true;
}

void wsip__udp_close(uv_handle_t *h);
void wsip__udp_close(uv_handle_t *h)
{
    uv_close(h, udp_free);
}

int wsip_udp_send(uv_udp_t *udp, const struct sockaddr *to, const struct iovec *iov, int iovcnt)
{
    /* datagrams go out at once or not at all: no queue, no copy */
    struct msghdr mh = {0};
    mh.msg_name = (void *)(uintptr_t)to;
    mh.msg_namelen =
        to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    mh.msg_iov = (struct iovec *)(uintptr_t)iov;
    mh.msg_iovlen = (size_t)iovcnt;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)udp, &fd) != 0)
        return -1;
    ssize_t n;
    do {
        n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    struct wsip_worker *w = udp->loop->data; /* the socket's worker: this thread */
    wsip_ctr_inc(&w->ctr.tx_msgs);
    return 0;
}

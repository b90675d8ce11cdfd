/* null_responder: the benchmark harness's own ceiling. It answers every SIP
 * request that arrives over UDP or over WebSocket (RFC 7118) with a canned
 * 200 OK, so a load generator pointed at it measures itself and the kernel,
 * not a server.
 *
 * No SIP parsing: a request's Via, From, To, Call-ID and CSeq lines (long or
 * compact names) are copied into the answer as they are, found by a scan of
 * the line starts; the To line gets a tag when it has none, and a 200 to an
 * INVITE gets a Contact (a callee must name its remote target, RFC 3261
 * sec 12.1.1: the caller sends its ACK and BYE there). ACKs and
 * responses get no answer. WebSocket: the RFC 6455 handshake (Sec-WebSocket-Accept
 * from OpenSSL's SHA-1, subprotocol sip) and unfragmented text or binary
 * frames; pings are answered, a close is echoed, anything else (fragments,
 * oversized frames) closes the connection.
 *
 * With --challenge, a request without an Authorization header gets a canned
 * 401 with one MD5 digest challenge (a fixed nonce) instead, and one with it
 * the 200: the client's half of the digest dance. The credentials are not
 * checked: a client's digest costs are measured, not a server's.
 *
 * One thread, one epoll loop, every socket non-blocking. Runs until SIGTERM
 * or SIGINT.
 *
 *   null_responder [--host 127.0.0.1] [--udp PORT] [--ws PORT] [--challenge]
 *
 * Port 0 picks a free port; the ports bound are printed on stdout
 * ("udp 127.0.0.1:PORT", "ws 127.0.0.1:PORT", then "ready"). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define MAX_MSG       65535     /* largest SIP message or frame payload accepted */
#define MAX_HANDSHAKE 8192      /* largest HTTP upgrade request accepted */
#define MAX_PENDING   (1 << 20) /* unsent bytes that close a connection */
#define MAX_EVENTS    256

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static volatile sig_atomic_t stopping;

/* --challenge: requests without credentials get the canned 401. */
static bool challenge_mode;

/* epoll tags of the two listening sockets (connections carry their struct). */
static char udp_tag, ws_tag;

/* A growable byte buffer; empty ones hold no memory (idle connections). */
struct bytes {
    char *p;
    size_t len, cap;
};

static bool bytes_append(struct bytes *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return true;
}

static void bytes_consume(struct bytes *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    if (b->len == 0) {
        free(b->p);
        *b = (struct bytes){0};
    }
}

/* ------------------------------------------------------------ SIP answer */

/* Does the line [p, end) start with header name `name` followed by a colon
 * (spaces allowed before it)? */
static bool line_has_name(const char *p, const char *end, const char *name)
{
    size_t n = strlen(name);
    if ((size_t)(end - p) <= n || strncasecmp(p, name, n) != 0)
        return false;
    p += n;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p < end && *p == ':';
}

static bool copied_header(const char *p, const char *end, bool *is_to)
{
    static const char *const names[] = {"Via", "v", "From", "f", "Call-ID", "i", "CSeq"};
    *is_to = line_has_name(p, end, "To") || line_has_name(p, end, "t");
    if (*is_to)
        return true;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (line_has_name(p, end, names[i]))
            return true;
    }
    return false;
}

static bool has_tag(const char *p, const char *end)
{
    for (; p + 4 <= end; p++) {
        if (*p == ';') {
            const char *q = p + 1;
            while (q < end && (*q == ' ' || *q == '\t'))
                q++;
            if (end - q >= 4 && strncasecmp(q, "tag", 3) == 0 && (q[3] == '=' || q[3] == ' '))
                return true;
        }
    }
    return false;
}

/* Does the head of msg [p, end) (the lines after the start line, up to the
 * empty one) have a header line named `name`? */
static bool head_has(const char *p, const char *end, const char *name)
{
    const char *line = memchr(p, '\n', (size_t)(end - p));
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            return false;
        const char *content_end = eol > line && eol[-1] == '\r' ? eol - 1 : eol;
        if (content_end == line)
            return false;
        if (line_has_name(line, content_end, name))
            return true;
        line = eol;
    }
    return false;
}

/* Writes the answer to the request msg[0..len) into out (cap bytes): the
 * 200, or with --challenge and no Authorization header the 401. Returns its
 * length, or 0 when nothing is to be sent (a response, an ACK, no header
 * end, no room). */
static size_t build_answer(const char *msg, size_t len, char *out, size_t cap)
{
    const char *end = msg + len;
    if (len < 8 || memcmp(msg, "SIP/", 4) == 0 || memcmp(msg, "ACK ", 4) == 0)
        return 0;
    static const char ok[] = "SIP/2.0 200 OK\r\n";
    static const char unauthorized[] = "SIP/2.0 401 Unauthorized\r\n";
    static const char tail[] = "Content-Length: 0\r\n\r\n";
    /* the ACK and BYE of a "call" arrive over the same flow whatever it says */
    static const char contact[] = "Contact: <sip:null@127.0.0.1>\r\n";
    static const char challenge[] = "WWW-Authenticate: Digest realm=\"localhost\", "
                                    "nonce=\"6e756c6c2d726573706f6e646572\", "
                                    "algorithm=MD5, qop=\"auth\"\r\n";
    bool challenged = challenge_mode && !head_has(msg, end, "Authorization");
    bool invite = len > 7 && memcmp(msg, "INVITE ", 7) == 0;
    /* what follows the copied lines: Contact or challenge, then the tail */
    const char *extra = challenged ? challenge : invite ? contact : "";
    size_t extra_len = strlen(extra);
    const char *status = challenged ? unauthorized : ok;
    size_t n = strlen(status);
    if (n > cap)
        return 0;
    memcpy(out, status, n);

    const char *line = memchr(msg, '\n', len);
    bool ended = false;
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        const char *content_end = eol > line && eol[-1] == '\r' ? eol - 1 : eol;
        if (content_end == line) {
            ended = true;
            break;
        }
        bool is_to;
        if (copied_header(line, content_end, &is_to)) {
            size_t l = (size_t)(content_end - line);
            bool add_tag = is_to && !has_tag(line, content_end);
            if (n + l + 2 + (add_tag ? 9 : 0) > cap)
                return 0;
            memcpy(out + n, line, l);
            n += l;
            if (add_tag) {
                memcpy(out + n, ";tag=nr-1", 9);
                n += 9;
            }
            memcpy(out + n, "\r\n", 2);
            n += 2;
        }
        line = eol;
    }
    if (!ended || n + extra_len + sizeof(tail) > cap)
        return 0;
    memcpy(out + n, extra, extra_len);
    n += extra_len;
    memcpy(out + n, tail, sizeof(tail) - 1);
    return n + sizeof(tail) - 1;
}

/* ------------------------------------------------------------------ UDP */

static void udp_readable(int fd)
{
    static char in[MAX_MSG + 1], out[MAX_MSG + 1024];
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof(from);
        ssize_t r = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fromlen);
        if (r <= 0)
            return;
        size_t n = build_answer(in, (size_t)r, out, sizeof(out));
        if (n)
            (void)sendto(fd, out, n, 0, (struct sockaddr *)&from, fromlen);
    }
}

/* ------------------------------------------------------------ WebSocket */

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

struct conn {
    int fd;
    bool open;    /* handshake done */
    bool closing; /* close once the pending bytes are sent */
    bool want_out;
    struct bytes in, out;
};

static int epfd;

static void conn_free(struct conn *c)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in.p);
    free(c->out.p);
    free(c);
}

static void conn_watch(struct conn *c, bool want_out)
{
    if (c->want_out == want_out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want_out;
}

/* Sends what is pending; false when the connection is to be freed. */
static bool conn_flush(struct conn *c)
{
    while (c->out.len) {
        ssize_t w = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0)
            return false;
        bytes_consume(&c->out, (size_t)w);
    }
    if (c->out.len > MAX_PENDING)
        return false;
    conn_watch(c, c->out.len > 0);
    return c->out.len > 0 || !c->closing;
}

static bool conn_send(struct conn *c, const void *data, size_t n)
{
    return bytes_append(&c->out, data, n);
}

/* A server frame (never masked, RFC 6455 sec 5.1). */
static bool send_frame(struct conn *c, int opcode, const char *payload, size_t n)
{
    unsigned char h[10];
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    return conn_send(c, h, hl) && conn_send(c, payload, n);
}

/* The value of header `name` in the request head [p, end), or NULL. */
static const char *http_header(const char *p, const char *end, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (const char *line = p; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            const char *ve = eol > v && eol[-1] == '\r' ? eol - 1 : eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *len = (size_t)(ve - v);
            return v;
        }
        line = eol + 1;
    }
    return NULL;
}

/* The upgrade: consumes the request head once complete. Returns 1 done, 0
 * need more, -1 refuse (the connection is closed). */
static int ws_handshake(struct conn *c)
{
    const char *head = c->in.p;
    const char *stop = c->in.len >= 4 ? memmem(head, c->in.len, "\r\n\r\n", 4) : NULL;
    if (!stop)
        return c->in.len > MAX_HANDSHAKE ? -1 : 0;
    size_t key_len;
    const char *key = http_header(head, stop + 2, "Sec-WebSocket-Key", &key_len);
    if (!key || key_len == 0 || key_len > 64 || strncmp(head, "GET ", 4) != 0) {
        static const char refuse[] =
            "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        (void)send(c->fd, refuse, sizeof(refuse) - 1, MSG_NOSIGNAL);
        return -1;
    }
    char joined[64 + sizeof(WS_GUID)];
    memcpy(joined, key, key_len);
    memcpy(joined + key_len, WS_GUID, sizeof(WS_GUID) - 1);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)joined, key_len + sizeof(WS_GUID) - 1, digest);
    unsigned char accept[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    EVP_EncodeBlock(accept, digest, SHA_DIGEST_LENGTH);

    char reply[256];
    int n = snprintf(reply, sizeof(reply),
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "Sec-WebSocket-Protocol: sip\r\n\r\n",
                     (const char *)accept);
    if (n < 0 || (size_t)n >= sizeof(reply) || !conn_send(c, reply, (size_t)n))
        return -1;
    bytes_consume(&c->in, (size_t)(stop + 4 - head));
    c->open = true;
    return 1;
}

/* Handles one complete frame: false closes the connection. */
static bool ws_frame(struct conn *c, int opcode, bool fin, char *payload, size_t n)
{
    static char out[MAX_MSG + 1024];
    if (!fin || opcode == OP_CONT)
        return false; /* fragmented messages: not for this harness */
    switch (opcode) {
    case OP_TEXT:
    case OP_BINARY: {
        size_t len = build_answer(payload, n, out, sizeof(out));
        return len == 0 || send_frame(c, opcode, out, len);
    }
    case OP_PING: return send_frame(c, OP_PONG, payload, n);
    case OP_PONG: return true;
    case OP_CLOSE: c->closing = true; return send_frame(c, OP_CLOSE, payload, n < 2 ? 0 : 2);
    default: return false;
    }
}

/* Decodes the complete frames in c->in (client frames are masked). Returns
 * false when the connection must go. */
static bool ws_frames(struct conn *c)
{
    while (!c->closing && c->in.len >= 2) {
        unsigned char *b = (unsigned char *)c->in.p;
        bool fin = b[0] & 0x80;
        int opcode = b[0] & 0x0f;
        if ((b[0] & 0x70) || !(b[1] & 0x80))
            return false; /* reserved bits, or an unmasked client frame */
        uint64_t n = b[1] & 0x7f;
        size_t hl = 2;
        if (n == 126) {
            if (c->in.len < 4)
                return true;
            n = (uint64_t)b[2] << 8 | b[3];
            hl = 4;
        } else if (n == 127) {
            if (c->in.len < 10)
                return true;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | b[2 + i];
            hl = 10;
        }
        if (n > MAX_MSG)
            return false;
        if (c->in.len < hl + 4 + n)
            return true;
        const unsigned char *mask = b + hl;
        char *payload = (char *)b + hl + 4;
        for (size_t i = 0; i < n; i++)
            payload[i] = (char)(payload[i] ^ mask[i & 3]);
        if (!ws_frame(c, opcode, fin, payload, (size_t)n))
            return false;
        bytes_consume(&c->in, hl + 4 + (size_t)n);
    }
    return true;
}

static void conn_readable(struct conn *c)
{
    char buf[16384];
    for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r > 0 && c->closing)
            continue; /* our close is out: what follows is dropped */
        if (r <= 0 || !bytes_append(&c->in, buf, (size_t)r)) {
            conn_free(c);
            return;
        }
        if (!c->open && ws_handshake(c) < 0) {
            conn_free(c);
            return;
        }
        if (c->open && !ws_frames(c)) {
            conn_free(c);
            return;
        }
    }
    if (!conn_flush(c))
        conn_free(c);
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or out of descriptors: try at the next event */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = calloc(1, sizeof(*c));
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (!c || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
    }
}

/* -------------------------------------------------------------- startup */

static int bind_socket(const char *host, int port, int type, int *bound)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "null_responder: not an IPv4 address: %s\n", host);
        return -1;
    }
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        (type == SOCK_STREAM && listen(fd, 4096) < 0)) {
        fprintf(stderr, "null_responder: %s:%d: %s\n", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *bound = ntohs(sa.sin_port);
    return fd;
}

static void on_signal(int sig)
{
    stopping = 1;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: null_responder [--host IPV4] [--udp PORT] [--ws PORT] [--challenge]\n"
               "  answers every SIP request over UDP and WebSocket with 200 OK (ACK: nothing);\n"
               "  --challenge: 401 with a digest challenge to requests without Authorization\n"
               "  (credentials not checked); at least one of --udp, --ws; port 0 picks one;\n"
               "  stops on SIGTERM/SIGINT\n");
    return status;
}

static bool port_arg(const char *s, int *port)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > 65535)
        return false;
    *port = (int)v;
    return true;
}

static void run_loop(int udp_fd, int ws_fd)
{
    struct epoll_event events[MAX_EVENTS];
    while (!stopping) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, 1000);
        for (int i = 0; i < n; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &udp_tag) {
                udp_readable(udp_fd);
            } else if (tag == &ws_tag) {
                accept_all(ws_fd);
            } else {
                struct conn *c = tag;
                if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                    conn_readable(c); /* frees c on error or EOF */
                else if (!conn_flush(c))
                    conn_free(c);
            }
        }
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int udp_port = -1, ws_port = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return usage(stdout, 0);
        if (!strcmp(a, "--challenge")) {
            challenge_mode = true;
            continue;
        }
        if (i + 1 >= argc)
            return usage(stderr, 2);
        if (!strcmp(a, "--host"))
            host = argv[++i];
        else if (!strcmp(a, "--udp") && port_arg(argv[i + 1], &udp_port))
            i++;
        else if (!strcmp(a, "--ws") && port_arg(argv[i + 1], &ws_port))
            i++;
        else
            return usage(stderr, 2);
    }
    if (udp_port < 0 && ws_port < 0)
        return usage(stderr, 2);

    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    int udp_fd = -1, ws_fd = -1, bound;
    if (udp_port >= 0) {
        if ((udp_fd = bind_socket(host, udp_port, SOCK_DGRAM, &bound)) < 0)
            return 1;
        printf("udp %s:%d\n", host, bound);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &udp_tag};
        epoll_ctl(epfd, EPOLL_CTL_ADD, udp_fd, &ev);
    }
    if (ws_port >= 0) {
        if ((ws_fd = bind_socket(host, ws_port, SOCK_STREAM, &bound)) < 0)
            return 1;
        printf("ws %s:%d\n", host, bound);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ws_tag};
        epoll_ctl(epfd, EPOLL_CTL_ADD, ws_fd, &ev);
    }
    printf("ready\n");
    fflush(stdout);

    run_loop(udp_fd, ws_fd);
    return 0;
}

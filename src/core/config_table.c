/* The directive table: everything else about the configuration (file,
 * command line, validation, dump, etc/wsip.conf, docs/configuration.md) is
 * derived from these rows. Groups must be contiguous, top-level directives
 * first; names have at most one dot. Defaults are in --set syntax and go
 * through the same parser as user input, so they obey their own bounds. */
#include <stddef.h>
#include <string.h>

#include "core/config_int.h"

/* offsetof, refusing to compile when the field's C type is not the one the
 * directive type stores (T). */
#define FIELD(f, T)                                                                                \
    (offsetof(struct wsip_config, f) +                                                             \
     0 * sizeof(char[_Generic(((struct wsip_config *)0)->f, T : 1, default                         \
                              : -1)]))
/* Enum fields are stored through an int. */
#define ENUM_FIELD(f)                                                                              \
    (offsetof(struct wsip_config, f) +                                                             \
     0 * sizeof(char[sizeof(((struct wsip_config *)0)->f) == sizeof(int) ? 1 : -1]))

#define KIB 1024LL
#define MIB (1024LL * 1024)

static const char *const log_levels[] = {"error", "warn", "info", "debug", "trace", NULL};
static const char *const tls_versions[] = {"1.2", "1.3", NULL};
static const char *const digest_algs[] = {
    "MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess", NULL};

static const char *check_domain(const char *s)
{
    return wsip__config_host_check(s, strlen(s), true, NULL);
}

/* The request-target of a WebSocket upgrade: an absolute path. */
static const char *check_ws_path(const char *s)
{
    if (s[0] != '/')
        return "must start with '/'";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
            return "must be a plain path (no spaces, '?' or '#')";
    return NULL;
}

/* What browsers send in Origin: scheme "://" host [":" port], no path. */
static const char *check_origin(const char *s)
{
    const char *sep = strstr(s, "://");
    if (!sep || sep == s)
        return "must be scheme://host[:port], e.g. https://phone.example.com";
    for (const char *p = s; p < sep; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (p > s && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))))
            return "bad scheme";
    const char *host = sep + 3;
    const char *end = host + strlen(host);
    if (strchr(host, '/'))
        return "an origin has no path (not even a trailing '/')";
    const char *colon = host[0] == '[' ? strchr(host, ']') : host;
    colon = colon ? strchr(colon, ':') : NULL;
    size_t hlen = (size_t)((colon ? colon : end) - host);
    const char *why = wsip__config_host_check(host, hlen, true, NULL);
    if (why)
        return why;
    if (colon) {
        unsigned long port = 0;
        const char *p = colon + 1;
        if (!*p)
            return "empty port";
        for (; *p; p++) {
            if (*p < '0' || *p > '9' || (port = port * 10 + (unsigned long)(*p - '0')) > 65535)
                return "bad port";
        }
        if (port == 0)
            return "bad port";
    }
    return NULL;
}

/* The realm goes into a quoted-string of every challenge. */
static const char *check_realm(const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f || *p == '"' || *p == '\\')
            return "must not contain '\"', '\\' or control characters";
    return NULL;
}

const struct wsip_config_directive wsip__config_table[] = {
    /* ------------------------------------------------------ top level */
    {.name = "listen",
     .type = WSIP_CONFIG_LISTEN,
     .def = "[udp://127.0.0.1:5060, tcp://127.0.0.1:5060, ws://127.0.0.1:8080]",
     .min = 1,
     .max = 64,
     .offset = FIELD(listen, struct wsip_listen_list),
     .doc = "Listeners, scheme://host[:port] with scheme udp, tcp, tls, ws or wss; IPv6 in "
            "brackets; 0.0.0.0 or [::] for all addresses"},
    {.name = "domains",
     .type = WSIP_CONFIG_STRLIST,
     .def = "[localhost]",
     .min = 1,
     .max = 256,
     .offset = FIELD(domains, struct wsip_strlist),
     .check = check_domain,
     .reload = false,
     .doc = "Domains this server is the registrar for; the first is the default auth realm"},
    {.name = "db",
     .type = WSIP_CONFIG_STRING,
     .def = "./var/wsip.db",
     .min = 1,
     .max = 4095,
     .offset = FIELD(db, char *),
     .doc = "SQLite database (users, registrations); relative paths start at the working "
            "directory"},
    {.name = "workers",
     .type = WSIP_CONFIG_INT,
     .def = "0",
     .min = 0,
     .max = 64,
     .offset = FIELD(workers, unsigned),
     .doc = "Worker threads, each with its own event loop; 0 = one per CPU core"},
    /* ------------------------------------------------------------ log */
    {.name = "log.level",
     .type = WSIP_CONFIG_ENUM,
     .def = "info",
     .offset = ENUM_FIELD(log.level),
     .values = log_levels,
     .reload = true,
     .doc = "Least severe level written"},
    {.name = "log.file",
     .type = WSIP_CONFIG_STRING,
     .def = "",
     .min = 0,
     .max = 4095,
     .offset = FIELD(log.file, char *),
     .reload = true,
     .doc = "Log file, opened for appending and reopened on SIGHUP; empty = standard error"},
    /* ------------------------------------------------------------ sip */
    {.name = "sip.max_message_size",
     .type = WSIP_CONFIG_SIZE,
     .def = "65536",
     .min = 1 * KIB,
     .max = 16 * MIB,
     .offset = FIELD(sip.max_message_size, size_t),
     .doc = "Largest SIP message, headers and body, over TCP, TLS, WS and WSS"},
    {.name = "sip.max_udp_message_size",
     .type = WSIP_CONFIG_SIZE,
     .def = "65507",
     .min = 512,
     .max = 65507,
     .offset = FIELD(sip.max_udp_message_size, size_t),
     .doc = "Largest SIP message in one UDP datagram"},
    {.name = "sip.max_headers",
     .type = WSIP_CONFIG_INT,
     .def = "128",
     .min = 16,
     .max = 65535,
     .offset = FIELD(sip.max_headers, unsigned),
     .doc = "Most header field values in a message (each entry of a comma-separated list "
            "counts)"},
    {.name = "sip.max_header_line",
     .type = WSIP_CONFIG_SIZE,
     .def = "8192",
     .min = 256,
     .max = 1 * MIB,
     .offset = FIELD(sip.max_header_line, size_t),
     .doc = "Longest header field, continuation lines included"},
    {.name = "sip.max_start_line",
     .type = WSIP_CONFIG_SIZE,
     .def = "8192",
     .min = 64,
     .max = 1 * MIB,
     .offset = FIELD(sip.max_start_line, size_t),
     .doc = "Longest request or status line"},
    {.name = "sip.t1",
     .type = WSIP_CONFIG_MILLIS,
     .def = "500",
     .min = 10,
     .max = 60000,
     .offset = FIELD(sip.t1, unsigned),
     .doc = "RFC 3261 timer T1 (round-trip estimate, first retransmission interval)"},
    {.name = "sip.t2",
     .type = WSIP_CONFIG_MILLIS,
     .def = "4000",
     .min = 100,
     .max = 600000,
     .offset = FIELD(sip.t2, unsigned),
     .doc = "RFC 3261 timer T2 (longest retransmission interval of non-INVITE requests and "
            "INVITE responses)"},
    {.name = "sip.t4",
     .type = WSIP_CONFIG_MILLIS,
     .def = "5000",
     .min = 100,
     .max = 600000,
     .offset = FIELD(sip.t4, unsigned),
     .doc = "RFC 3261 timer T4 (longest time a message stays in the network)"},
    /* ------------------------------------------------------------- ws */
    {.name = "ws.path",
     .type = WSIP_CONFIG_STRING,
     .def = "/",
     .min = 1,
     .max = 1024,
     .offset = FIELD(ws.path, char *),
     .check = check_ws_path,
     .reload = false,
     .doc = "URL path of the WebSocket endpoint (other paths are HTTP: static files, /status)"},
    {.name = "ws.allowed_origins",
     .type = WSIP_CONFIG_STRLIST,
     .def = "[]",
     .min = 0,
     .max = 256,
     .offset = FIELD(ws.allowed_origins, struct wsip_strlist),
     .check = check_origin,
     .reload = false,
     .doc = "Origins (scheme://host[:port]) allowed to open a WebSocket; empty = any"},
    {.name = "ws.ping_interval",
     .type = WSIP_CONFIG_SECONDS,
     .def = "30",
     .min = 0,
     .max = 3600,
     .offset = FIELD(ws.ping_interval, unsigned),
     .reload = false,
     .doc = "Ping a WebSocket peer after this long without traffic; 0 = never"},
    {.name = "ws.max_missed_pongs",
     .type = WSIP_CONFIG_INT,
     .def = "2",
     .min = 1,
     .max = 100,
     .offset = FIELD(ws.max_missed_pongs, unsigned),
     .reload = false,
     .doc = "Close a WebSocket after this many pings in a row went unanswered"},
    {.name = "ws.max_frame_size",
     .type = WSIP_CONFIG_SIZE,
     .def = "65536",
     .min = 125,
     .max = 16 * MIB,
     .offset = FIELD(ws.max_frame_size, size_t),
     .doc = "Largest WebSocket frame payload"},
    {.name = "ws.max_message_size",
     .type = WSIP_CONFIG_SIZE,
     .def = "65536",
     .min = 125,
     .max = 16 * MIB,
     .offset = FIELD(ws.max_message_size, size_t),
     .doc = "Largest WebSocket message, all its fragments together"},
    /* ----------------------------------------------------------- http */
    {.name = "http.root",
     .type = WSIP_CONFIG_STRING,
     .def = "./web",
     .min = 0,
     .max = 4095,
     .offset = FIELD(http.root, char *),
     .reload = false,
     .doc = "Directory of static files served over HTTP (the web phone); relative paths "
            "start at the working directory; empty = none"},
    {.name = "http.max_header_size",
     .type = WSIP_CONFIG_SIZE,
     .def = "8192",
     .min = 1 * KIB,
     .max = 64 * KIB,
     .offset = FIELD(http.max_header_size, size_t),
     .doc = "Largest HTTP request head (request line and headers), WebSocket upgrades included"},
    /* ------------------------------------------------------------ net */
    {.name = "net.max_connections",
     .type = WSIP_CONFIG_INT,
     .def = "20000",
     .min = 1,
     .max = 1000000,
     .offset = FIELD(net.max_connections, unsigned),
     .doc = "Most open TCP, TLS, WS and WSS connections, both directions"},
    {.name = "net.max_connections_per_ip",
     .type = WSIP_CONFIG_INT,
     .def = "100",
     .min = 1,
     .max = 1000000,
     .offset = FIELD(net.max_connections_per_ip, unsigned),
     .reload = false,
     .doc = "Most open connections from one IP address"},
    {.name = "net.handshakes_per_ip_per_second",
     .type = WSIP_CONFIG_INT,
     .def = "20",
     .min = 1,
     .max = 1000000,
     .offset = FIELD(net.handshakes_per_ip_per_second, unsigned),
     .reload = false,
     .doc = "Most new connections (accepts, TLS and WebSocket handshakes) per IP address per "
            "second"},
    {.name = "net.send_queue_limit",
     .type = WSIP_CONFIG_SIZE,
     .def = "1048576",
     .min = 64 * KIB,
     .max = 1024 * MIB,
     .offset = FIELD(net.send_queue_limit, size_t),
     .doc = "Bytes waiting to be sent on one connection before it is closed (WS close 1008)"},
    /* ------------------------------------------------------------ tcp */
    {.name = "tcp.idle_timeout",
     .type = WSIP_CONFIG_SECONDS,
     .def = "180",
     .min = 1,
     .max = 86400,
     .offset = FIELD(tcp.idle_timeout, unsigned),
     .doc = "Close a TCP or TLS connection after this long without traffic (longer than the "
            "120 s keep-alive of RFC 5626 clients)"},
    {.name = "tcp.connect_timeout",
     .type = WSIP_CONFIG_SECONDS,
     .def = "5",
     .min = 1,
     .max = 300,
     .offset = FIELD(tcp.connect_timeout, unsigned),
     .reload = false,
     .doc = "Give up an outgoing TCP or TLS connection (TLS handshake included) after this long: "
            "the requests waiting for it fail at once (503)"},
    {.name = "tcp.nodelay",
     .type = WSIP_CONFIG_BOOL,
     .def = "true",
     .offset = FIELD(tcp.nodelay, bool),
     .doc = "Send small writes at once (TCP_NODELAY) on TCP, TLS, WS and WSS connections"},
    /* ------------------------------------------------------------ tls */
    {.name = "tls.certificate",
     .type = WSIP_CONFIG_STRING,
     .def = "",
     .min = 0,
     .max = 4095,
     .offset = FIELD(tls.certificate, char *),
     .reload = true,
     .doc = "PEM certificate chain for tls:// and wss:// listeners (new handshakes use a "
            "reloaded one)"},
    {.name = "tls.private_key",
     .type = WSIP_CONFIG_STRING,
     .def = "",
     .min = 0,
     .max = 4095,
     .offset = FIELD(tls.private_key, char *),
     .reload = true,
     .doc = "PEM private key of tls.certificate"},
    {.name = "tls.min_version",
     .type = WSIP_CONFIG_ENUM,
     .def = "1.2",
     .offset = ENUM_FIELD(tls.min_version),
     .values = tls_versions,
     .reload = false,
     .doc = "Oldest TLS version accepted"},
    {.name = "tls.verify_peer",
     .type = WSIP_CONFIG_BOOL,
     .def = "true",
     .offset = FIELD(tls.verify_peer, bool),
     .reload = false,
     .doc = "On outgoing TLS connections, check the server's certificate chain and that it names "
            "the host of the URI (or its IP address); false = accept any certificate"},
    {.name = "tls.ca_file",
     .type = WSIP_CONFIG_STRING,
     .def = "",
     .min = 0,
     .max = 4095,
     .offset = FIELD(tls.ca_file, char *),
     .reload = false,
     .doc = "PEM file of the CAs trusted for outgoing TLS connections; empty = the system's CA "
            "store"},
    /* ------------------------------------------------------------ dns */
    {.name = "dns.cache_ttl",
     .type = WSIP_CONFIG_SECONDS,
     .def = "30",
     .min = 0,
     .max = 86400,
     .offset = FIELD(dns.cache_ttl, unsigned),
     .reload = false,
     .doc = "How long the A/AAAA answer for a next hop's host name is reused (each worker keeps "
            "its own cache; failures are kept at most 5 s); 0 = look up every time"},
    /* ------------------------------------------------------ registrar */
    {.name = "registrar.min_expires",
     .type = WSIP_CONFIG_SECONDS,
     .def = "60",
     .min = 1,
     .max = 604800,
     .offset = FIELD(registrar.min_expires, unsigned),
     .reload = true,
     .doc = "Shortest registration accepted (shorter ones get 423 with Min-Expires)"},
    {.name = "registrar.default_expires",
     .type = WSIP_CONFIG_SECONDS,
     .def = "600",
     .min = 1,
     .max = 604800,
     .offset = FIELD(registrar.default_expires, unsigned),
     .reload = true,
     .doc = "Registration lifetime when the REGISTER asks for none"},
    {.name = "registrar.max_expires",
     .type = WSIP_CONFIG_SECONDS,
     .def = "3600",
     .min = 1,
     .max = 604800,
     .offset = FIELD(registrar.max_expires, unsigned),
     .reload = true,
     .doc = "Longest registration granted (longer requests are cut down to it)"},
    /* ----------------------------------------------------------- auth */
    {.name = "auth.realm",
     .type = WSIP_CONFIG_STRING,
     .def = "",
     .min = 0,
     .max = 255,
     .offset = FIELD(auth.realm, char *),
     .check = check_realm,
     .reload = false,
     .doc = "Digest realm of the challenges; empty = the first of domains"},
    {.name = "auth.algorithms",
     .type = WSIP_CONFIG_STRLIST,
     .def = "[MD5, SHA-256]",
     .min = 1,
     .max = 6,
     .offset = FIELD(auth.algorithms, struct wsip_strlist),
     .values = digest_algs,
     .reload = false,
     .doc = "Digest algorithms offered to UDP/TCP/TLS clients, one challenge each, in this order "
            "(phones and SIPp take the first they support; SIPp knows only MD5)"},
    {.name = "auth.algorithms_ws",
     .type = WSIP_CONFIG_STRLIST,
     .def = "[SHA-256, MD5]",
     .min = 1,
     .max = 6,
     .offset = FIELD(auth.algorithms_ws, struct wsip_strlist),
     .values = digest_algs,
     .reload = false,
     .doc = "Digest algorithms offered to WS/WSS clients, in this order (JsSIP and SIP.js use "
            "only the last challenge and need it to be MD5: keep MD5 last)"},
    {.name = "auth.nonce_ttl",
     .type = WSIP_CONFIG_SECONDS,
     .def = "300",
     .min = 1,
     .max = 86400,
     .offset = FIELD(auth.nonce_ttl, unsigned),
     .reload = false,
     .doc = "Lifetime of a challenge's nonce: credentials on an older one get a new challenge "
            "with stale=true (RFC 7616 sec 3.3), the UA retries without asking the user"},
    {.name = "auth.qop_auth_int",
     .type = WSIP_CONFIG_BOOL,
     .def = "false",
     .offset = FIELD(auth.qop_auth_int, bool),
     .reload = false,
     .doc = "Offer qop=\"auth,auth-int\" (the body is covered too) instead of qop=\"auth\"; "
            "some clients answer only auth"},
    /* ------------------------------------------------- trust and admin */
    {.name = "trusted",
     .type = WSIP_CONFIG_CIDRLIST,
     .def = "[]",
     .min = 0,
     .max = 1024,
     .offset = FIELD(trusted, struct wsip_cidr_list),
     .reload = false,
     .doc = "Networks whose requests are not challenged (gateways, PBXs)"},
    {.name = "admin.allowed_networks",
     .type = WSIP_CONFIG_CIDRLIST,
     .def = "[127.0.0.0/8, ::1/128]",
     .min = 0,
     .max = 1024,
     .offset = FIELD(admin.allowed_networks, struct wsip_cidr_list),
     .reload = true,
     .doc = "Networks allowed to read /status, /status.json and /metrics on the WS/WSS ports "
            "(others get 403)"},
    {.name = "admin.password",
     .type = WSIP_CONFIG_STRING,
     .def = "",
     .min = 0,
     .max = 255,
     .offset = FIELD(admin.password, char *),
     .reload = true,
     .doc = "Password of /status, /status.json and /metrics (HTTP Basic, any user name; "
            "readable on the wire over ws://, use wss://); empty = none"},
};

const size_t wsip__config_count = sizeof(wsip__config_table) / sizeof(wsip__config_table[0]);

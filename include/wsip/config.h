/* Configuration: one directive table (src/core/config_table.c) gives every
 * directive its type, default, bounds, place in struct wsip_config, reload
 * behaviour and one-line doc. The libconfig file, the command-line
 * overrides, validation, the dump, etc/wsip.conf and docs/configuration.md
 * all come from it.
 *
 * Directive names use dots for nesting: "ws.ping_interval" is written
 *   ws = { ping_interval = 30; };      in the file, and
 *   --set ws.ping_interval=30          on the command line.
 * Precedence: defaults < file < command line (in command-line order).
 *
 * Values on the command line (--set key=value):
 *   int, duration, size   decimal; durations take a unit suffix (500ms, 30s,
 *                         2m, 1h), sizes K/M/G (binary: 64K = 65536)
 *   bool                  true/false, yes/no, on/off, 1/0
 *   string, enum          as is; surrounding "double quotes" are removed
 *   lists                 comma-separated, optionally in brackets:
 *                         domains=a.example,b.example  domains=[a,b]  domains=[]
 * In the file the same suffixed forms are accepted as strings ("64K",
 * "30s"); plain integers are bytes / the directive's unit. */
#ifndef WSIP_CONFIG_H
#define WSIP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "wsip/log.h"
#include "wsip/sip.h"

/* ----------------------------------------------------------- value types */

struct wsip_strlist {
    char **v;
    size_t n;
};

/* One listener: scheme://host[:port]. */
struct wsip_listen {
    enum wsip_transport transport; /* WSIP_TP_UDP, _TCP, _TLS, _WS or _WSS */
    char *host;                    /* name or address; IPv6 without brackets */
    enum wsip_host_type host_type; /* WSIP_HOST_NAME, _IPV4 or _IPV6 */
    uint16_t port;                 /* default 5060 udp/tcp, 5061 tls, 80 ws, 443 wss */
    char *uri;                     /* as configured, for logs */
};

struct wsip_listen_list {
    struct wsip_listen *v;
    size_t n;
};

/* An IPv4 or IPv6 network; host bits are zero. */
struct wsip_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    uint8_t prefix; /* 0..32 or 0..128 */
};

struct wsip_cidr_list {
    struct wsip_cidr *v;
    size_t n;
};

enum wsip_tls_version {
    WSIP_TLS_1_2 = 0,
    WSIP_TLS_1_3,
};

struct wsip_config_priv;

/* Durations are unsigned: seconds, except the SIP timers (milliseconds).
 * Strings are never NULL ("" when empty). */
struct wsip_config {
    struct wsip_listen_list listen;
    struct wsip_strlist domains;
    char *db;
    unsigned workers; /* 0 = one per core: use wsip_config_workers() */
    struct {
        enum wsip_log_level level;
        char *file; /* "" = standard error */
    } log;
    struct {
        size_t max_message_size;     /* TCP, TLS, WS, WSS */
        size_t max_udp_message_size; /* one datagram */
        unsigned max_headers;
        size_t max_header_line;
        size_t max_start_line;
        unsigned t1, t2, t4; /* milliseconds */
    } sip;
    struct {
        char *path;
        struct wsip_strlist allowed_origins; /* empty = any origin */
        unsigned ping_interval;              /* seconds; 0 = no pings */
        unsigned max_missed_pongs;
        size_t max_frame_size;
        size_t max_message_size;
    } ws;
    struct {
        char *root; /* "" = no static files */
        size_t max_header_size;
    } http;
    struct {
        unsigned max_connections;
        unsigned max_connections_per_ip;
        unsigned handshakes_per_ip_per_second;
        size_t send_queue_limit; /* bytes per connection */
    } net;
    struct {
        unsigned idle_timeout;    /* seconds */
        unsigned connect_timeout; /* seconds */
        bool nodelay;             /* TCP_NODELAY on TCP, TLS, WS and WSS sockets */
    } tcp;
    struct {
        char *certificate;
        char *private_key;
        enum wsip_tls_version min_version;
        bool verify_peer; /* outgoing: check the server's certificate */
        char *ca_file;    /* outgoing: "" = the system's CA store */
    } tls;
    struct {
        unsigned cache_ttl; /* seconds; 0 = no cache */
    } dns;
    struct {
        unsigned min_expires, default_expires, max_expires; /* seconds */
    } registrar;
    struct {
        char *realm;                       /* "" = first domain: use wsip_config_realm() */
        struct wsip_strlist algorithms;    /* UDP/TCP/TLS clients: "MD5", "SHA-256", ... */
        struct wsip_strlist algorithms_ws; /* WS/WSS clients (browser libraries) */
        unsigned nonce_ttl;                /* seconds a challenge's nonce stays fresh */
        bool qop_auth_int;                 /* offer auth-int besides auth */
    } auth;
    struct wsip_cidr_list trusted;
    struct {
        struct wsip_cidr_list allowed_networks;
        char *password; /* "" = none */
    } admin;

    struct wsip_config_priv *priv; /* where each value came from */
};

/* ------------------------------------------------------------ the table */

enum wsip_config_type {
    WSIP_CONFIG_INT,      /* unsigned */
    WSIP_CONFIG_BOOL,     /* bool */
    WSIP_CONFIG_STRING,   /* char * */
    WSIP_CONFIG_ENUM,     /* an enum whose values index d->values */
    WSIP_CONFIG_SIZE,     /* size_t, bytes */
    WSIP_CONFIG_SECONDS,  /* unsigned */
    WSIP_CONFIG_MILLIS,   /* unsigned */
    WSIP_CONFIG_STRLIST,  /* struct wsip_strlist */
    WSIP_CONFIG_CIDRLIST, /* struct wsip_cidr_list */
    WSIP_CONFIG_LISTEN,   /* struct wsip_listen_list */
};

struct wsip_config_directive {
    const char *name; /* "ws.ping_interval" */
    enum wsip_config_type type;
    const char *def; /* default, in --set syntax */
    /* numbers: value bounds; strings: length bounds; lists: entry count */
    int64_t min, max;
    size_t offset;             /* into struct wsip_config */
    const char *const *values; /* ENUM names / allowed STRLIST entries; NULL-terminated */
    /* Extra check of a string or of each list entry: NULL if fine, else why. */
    const char *(*check)(const char *s);
    bool reload; /* a SIGHUP reload applies a new value; else restart */
    const char *doc;
};

const struct wsip_config_directive *wsip_config_directives(size_t *n);
const struct wsip_config_directive *wsip_config_find(const char *name);
/* "int", "bool", "string", "enum", "size (bytes)", "duration (s)", "duration (ms)",
 * "string list", "CIDR list", "listen URI list". */
const char *wsip_config_type_name(enum wsip_config_type t);

/* ---------------------------------------------------------------- errors */

#define WSIP_CONFIG_ERR_MAX 16

/* Errors collected while loading (all of them, not just the first). */
struct wsip_config_err {
    unsigned count; /* errors found; the first WSIP_CONFIG_ERR_MAX are kept */
    struct wsip_config_err_entry {
        char file[256]; /* config file, "command line", or "" */
        unsigned line;  /* 0 when there is none */
        char msg[256];
    } e[WSIP_CONFIG_ERR_MAX];
};

/* One line per error: "FILE:LINE: message", "FILE: message" or "message". */
void wsip_config_err_print(const struct wsip_config_err *err, FILE *f);

/* ------------------------------------------------------------------- API */

/* Every function taking err adds to it (err may be NULL) and returns 0 or -1.
 * After an error the config holds whatever was applied so far: load a new
 * config into a fresh struct and switch only when everything succeeded. */

/* Defaults. The struct must then be freed with wsip_config_free(). */
int wsip_config_init(struct wsip_config *c);
void wsip_config_free(struct wsip_config *c);

/* Reads a libconfig file over the current values. Syntax errors come with
 * libconfig's line; bad values, unknown directives (with a "did you mean")
 * and out-of-range numbers with the line of the setting. @include paths are
 * relative to the file's directory. */
int wsip_config_load_file(struct wsip_config *c, const char *path, struct wsip_config_err *err);
/* "key=value" (see the syntax above). */
int wsip_config_set(struct wsip_config *c, const char *key_eq_value, struct wsip_config_err *err);
int wsip_config_set_kv(struct wsip_config *c, const char *key, const char *value,
                       struct wsip_config_err *err);
/* Adds one entry to a list directive (what a repeated --listen does). */
int wsip_config_append(struct wsip_config *c, const char *key, const char *value,
                       struct wsip_config_err *err);
/* Cross-field checks: tls/wss listeners need a readable certificate and key,
 * listeners must not collide, min <= default <= max expires, T1 <= T2, ... */
int wsip_config_validate(const struct wsip_config *c, struct wsip_config_err *err);

/* The effective configuration in libconfig syntax (loads back unchanged). */
void wsip_config_dump(const struct wsip_config *c, FILE *f);
/* etc/wsip.conf: every directive at its default, each with its doc, type,
 * bounds and reload behaviour in comments. */
void wsip_config_write_example(FILE *f);
/* The Markdown table between the DIRECTIVES markers of docs/configuration.md. */
void wsip_config_write_markdown(FILE *f);
/* One value in --set syntax, e.g. "30", "[udp://127.0.0.1:5060, ws://...]".
 * Returns the length it needs (snprintf-like). */
size_t wsip_config_format(const struct wsip_config *c, const struct wsip_config_directive *d,
                          char *buf, size_t cap);

/* For SIGHUP: copies into next the running value of every directive that
 * cannot change without a restart, adding a note per changed one. Returns
 * how many were kept, or -1 when out of memory. */
int wsip_config_keep_fixed(struct wsip_config *next, const struct wsip_config *cur,
                           struct wsip_config_err *notes);
/* Whether directive d has the same value in a and b. */
bool wsip_config_equal(const struct wsip_config *a, const struct wsip_config *b,
                       const struct wsip_config_directive *d);

/* ------------------------------------------------------------- helpers */

/* workers, or the number of online CPUs (1..64) when it is 0. */
unsigned wsip_config_workers(const struct wsip_config *c);
/* auth.realm, or the first domain when it is empty. */
const char *wsip_config_realm(const struct wsip_config *c);
/* The parser limits for messages arriving over transport t. */
void wsip_config_sip_limits(const struct wsip_config *c, enum wsip_transport t,
                            struct wsip_sip_limits *lim);

/* "udp://0.0.0.0:5060" -> l (host and uri malloc'd; free with
 * wsip_listen_clear). 0, or -1 with *why. */
int wsip_listen_parse(const char *s, struct wsip_listen *l, const char **why);
void wsip_listen_clear(struct wsip_listen *l);
/* "10.0.0.0/8", "2001:db8::/32", "192.0.2.7" (a single host). */
int wsip_cidr_parse(const char *s, struct wsip_cidr *out, const char **why);
/* "10.0.0.0/8": needs 50 bytes. */
void wsip_cidr_format(const struct wsip_cidr *cidr, char *buf, size_t cap);
/* Whether sa (AF_INET or AF_INET6; IPv4-mapped IPv6 counts as IPv4) is in
 * one of the networks. */
bool wsip_cidr_list_match(const struct wsip_cidr_list *l, const struct sockaddr *sa);

/* ----------------------------------------------- command-line options */

/* The configuration options every subcommand that reads the config takes:
 *   -c FILE, --config FILE     the file (else: defaults only)
 *   --set KEY=VALUE            any directive
 *   --KEY=VALUE, --KEY VALUE   the same, for any directive name
 *   --listen URI               repeatable; replaces the listen list
 *   --domain NAME              repeatable; replaces the domains list
 *   --db PATH
 * Scan argv with wsip_config_args_take(), then wsip_config_args_load(). */
struct wsip_config_args {
    const char *file;
    size_t n;
    struct wsip_config_override {
        char *key;
        const char *value;
        bool append; /* --listen/--domain: the first one replaces, the next ones add */
    } * ov;
};

/* Looks at argv[*i]: when it is one of the options above, records it,
 * advances *i past it (and its argument) and returns 1; returns 0 when it is
 * not a config option, -1 (with err) when its argument is missing. */
int wsip_config_args_take(struct wsip_config_args *a, int argc, char **argv, int *i,
                          struct wsip_config_err *err);
/* Initialises c, loads the file, applies the overrides in order, then
 * validates (when everything before succeeded). c must be freed even on
 * failure. */
int wsip_config_args_load(struct wsip_config *c, const struct wsip_config_args *a,
                          struct wsip_config_err *err);
void wsip_config_args_free(struct wsip_config_args *a);

#endif

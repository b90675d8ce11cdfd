/* wsip bench: the command line. Each mode is one entry of the table below and
 * one file (connect.c, options.c, register.c, message.c, call.c, churn.c);
 * the options are shared. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/cli.h"

struct mode {
    const char *name;
    int (*run)(struct bench_opts *o);
    unsigned connections; /* default */
    bool sip;             /* a SIP mode: --concurrency is flows, users, digest */
    bool pairs;           /* users call or message each other in pairs */
    const char *what;
};

static const struct mode modes[] = {
    {"connect", bench_mode_connect, 1000, false, false,
     "open N connections (WebSocket handshake), hold them idle, close them"},
    {"options", bench_mode_options, 100, false, false,
     "C connections keeping K OPTIONS outstanding each: answers/s, latency"},
    {"register", bench_mode_register, 10, true, false,
     "C flows refreshing REGISTER back to back (digest with --password): 200/s"},
    {"message", bench_mode_message, 10, true, true,
     "C registered users in pairs sending MESSAGE to each other: delivered/s"},
    {"call", bench_mode_call, 10, true, true,
     "C registered users in pairs calling each other (INVITE, 180, 200, ACK, BYE)"},
    {"churn", bench_mode_churn, 10, true, false,
     "C workers cycling connect, REGISTER, unREGISTER, disconnect: cycles/s"},
};

#define NMODES (sizeof(modes) / sizeof(modes[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: wsip bench MODE --url URL [options]\n\nmodes:\n");
    for (size_t i = 0; i < NMODES; i++)
        fprintf(f, "  %-9s %s\n", modes[i].name, modes[i].what);
    fprintf(f,
            "\n"
            "URL: ws://HOST:PORT[/path], wss://..., tcp://..., tls://..., udp://... (not for\n"
            "     connect); HOST is an IP address or localhost.\n"
            "\n"
            "common options:\n"
            "  --connections N   connections (default: connect 1000, options 100)\n"
            "  --rate R[/s]      connect, options: connection setups started per second\n"
            "                    (default: no limit); register, message, call: see below\n"
            "  --concurrency K   connection setups in flight at once (default 100)\n"
            "  --timeout S       limit for one setup and one request (default 10)\n"
            "  --setup-max S     start no connection after S seconds (default 120)\n"
            "  --pid PID         the server process: its memory (connect) and CPU share\n"
            "  --ca FILE         verify the server certificate (wss, tls); default: no check\n"
            "  --origin ORIGIN   send Origin: ORIGIN with the upgrade\n"
            "  --ruri URI        Request-URI of requests (default sip:HOST)\n"
            "  --label TEXT      copied into the summary line (label=TEXT)\n"
            "  --quiet           no progress lines on stderr\n"
            "connect:\n"
            "  --hold S          keep the connections idle for S seconds (default 10), answering\n"
            "                    the server's pings\n"
            "  --options         send one OPTIONS per connection; established on its 200\n"
            "options:\n"
            "  --requests N      stop after N requests (default 100000)\n"
            "  --duration S      or after S seconds, whichever comes first (default 10)\n"
            "  --outstanding K   requests in flight per connection (default 1)\n"
            "register, message, call, churn (UDP too):\n"
            "  --concurrency C   flows: connections, each with one operation in flight\n"
            "                    (default 10; message and call: C/2 pairs, C even)\n"
            "  --count N, -n N   start at most N operations: REGISTERs, MESSAGEs, calls,\n"
            "                    cycles (default 100000)\n"
            "  --duration S      and start none after S seconds (default 10)\n"
            "  --rate R[/s]      register, message, call: start operations on a schedule of R\n"
            "                    per second (an idle flow waits for its turn; a late client\n"
            "                    catches up), for latency below the peak; default: closed\n"
            "                    loop, each flow starts its next operation at once\n"
            "  --user-prefix P   users P1, P2, ... (default bench); create them with\n"
            "                    wsip user add --bulk P@DOMAIN COUNT --password PW\n"
            "  --users U         distinct users (default C; message, call: at least C)\n"
            "  --user-start K    number of the first user (default 1)\n"
            "  --domain D        the users' domain (default localhost)\n"
            "  --password PW     answer 401/407 with digest (without: the server must not\n"
            "                    challenge, e.g. wsip's `trusted` for 127.0.0.1)\n"
            "  --algorithm A     MD5 (default) or SHA-256: the challenge answered\n"
            "  --no-auth-reuse   send credentials only after a challenge (by default the\n"
            "                    nonce is reused with a growing nc: one round trip)\n"
            "  --expires S       Expires of the REGISTERs (default 600)\n"
            "  --setup-concurrency K  connection setups in flight (default 100)\n"
            "\n"
            "Output: a short table, then one line of key=value pairs on stdout (bench=MODE\n"
            "...); progress on stderr. Exit status 0 when every connection was established\n"
            "and (options) every request answered 2xx, (SIP modes) every operation started\n"
            "succeeded, else 1; 2 for a usage error. The SIP modes count as an error every\n"
            "unexpected status, timeout and lost connection (errors=, statuses=); their rate\n"
            "counts successes only.\n"
            "With --pid, connect reports the server's RSS and PSS from /proc/PID/smaps_rollup\n"
            "before, after the setup, after the hold and after the close, and the growth per\n"
            "connection (bytes_per_conn_rss).\n");
}

static int num_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int num_double(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || (*end && strcmp(end, "/s") != 0) || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

/* What the SIP modes need on top of the shared options. -1: usage error
 * (said on stderr). */
static int sip_mode_opts(const struct mode *md, struct bench_opts *o, bool concurrency_set)
{
    if (!md->sip)
        return 0;
    if (!concurrency_set)
        o->concurrency = md->connections;
    if (md->pairs && o->concurrency % 2) {
        o->concurrency++;
        fprintf(stderr, "wsip bench %s: users go in pairs: --concurrency %u\n", md->name,
                o->concurrency);
    }
    o->connections = o->concurrency;
    if (!o->users)
        o->users = o->concurrency;
    if (md->pairs && o->users < o->concurrency) {
        fprintf(stderr, "wsip bench %s: --users %u: each of the %u flows needs a user of its own\n",
                md->name, o->users, o->concurrency);
        return -1;
    }
    const char *bad = strpbrk(o->user_prefix, " \t\r\n@:;<>\"");
    if (bad || !o->user_prefix[0] || strlen(o->user_prefix) > 40) {
        fprintf(stderr, "wsip bench: --user-prefix: 1 to 40 characters, no '@', ':', ';', "
                        "'<', '>', quotes or spaces\n");
        return -1;
    }
    if (!o->domain[0] || strpbrk(o->domain, " \t\r\n@;<>\"") || strlen(o->domain) > 100) {
        fprintf(stderr, "wsip bench: --domain: a host name or address\n");
        return -1;
    }
    if (o->password && (!o->password[0] || strlen(o->password) > 200)) {
        fprintf(stderr, "wsip bench: --password: 1 to 200 characters\n");
        return -1;
    }
    if (o->rate > 0 && !strcmp(md->name, "churn")) {
        fprintf(stderr, "wsip bench churn: --rate is not supported (cycles run closed-loop)\n");
        return -1;
    }
    o->op_rate = o->rate; /* operations, not connection setups */
    o->rate = 0;
    if (!strcmp(md->name, "churn") && o->expires == 0) {
        fprintf(stderr, "wsip bench churn: --expires must not be 0\n");
        return -1;
    }
    return 0;
}

int wsip_cmd_bench(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) {
        usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const struct mode *md = NULL;
    for (size_t i = 0; i < NMODES; i++)
        if (!strcmp(argv[0], modes[i].name))
            md = &modes[i];
    if (!md) {
        fprintf(stderr, "wsip bench: unknown mode '%s'\n\n", argv[0]);
        usage(stderr);
        return 2;
    }
    struct bench_opts o = {
        .mode = md->name,
        .connections = md->connections,
        .concurrency = 100,
        .setup_max_s = 120,
        .timeout_s = 10,
        .hold_s = 10,
        .requests = 100000,
        .duration_s = 10,
        .outstanding = 1,
        .user_prefix = "bench",
        .user_start = 1,
        .domain = "localhost",
        .algorithm = WSIP_DIGEST_MD5,
        .expires = 600,
    };
    unsigned setup_concurrency = 0;
    bool concurrency_set = false, connections_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o.quiet = true;
            continue;
        }
        if (!strcmp(a, "--options")) {
            o.options = true;
            continue;
        }
        if (!strcmp(a, "--no-auth-reuse")) {
            o.no_auth_reuse = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "wsip bench: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        i++;
        uint64_t u = 0;
        int bad = 0;
        if (!strcmp(a, "--url")) {
            o.url_str = v;
        } else if (!strcmp(a, "--connections") || !strcmp(a, "-c")) {
            bad = num_u64(v, 1, 1000000, &u);
            o.connections = (unsigned)u;
            connections_set = true;
        } else if (!strcmp(a, "--rate")) {
            bad = num_double(v, 0, 1e9, &o.rate);
        } else if (!strcmp(a, "--concurrency")) {
            bad = num_u64(v, 1, 1000000, &u);
            o.concurrency = (unsigned)u;
            concurrency_set = true;
        } else if (!strcmp(a, "--setup-concurrency")) {
            bad = num_u64(v, 1, 1000000, &u);
            setup_concurrency = (unsigned)u;
        } else if (!strcmp(a, "--timeout")) {
            bad = num_double(v, 0.001, 86400, &o.timeout_s);
        } else if (!strcmp(a, "--setup-max")) {
            bad = num_double(v, 0.001, 86400, &o.setup_max_s);
        } else if (!strcmp(a, "--hold")) {
            bad = num_double(v, 0, 86400, &o.hold_s);
        } else if (!strcmp(a, "--pid")) {
            bad = num_u64(v, 1, 1u << 30, &u);
            o.pid = (int)u;
        } else if (!strcmp(a, "--requests") || !strcmp(a, "--count") || !strcmp(a, "-n")) {
            bad = num_u64(v, 1, UINT64_MAX / 2, &o.requests);
        } else if (!strcmp(a, "--duration")) {
            bad = num_double(v, 0.001, 86400, &o.duration_s);
        } else if (!strcmp(a, "--outstanding")) {
            bad = num_u64(v, 1, 1024, &u);
            o.outstanding = (unsigned)u;
        } else if (!strcmp(a, "--ca")) {
            o.ca_file = v;
        } else if (!strcmp(a, "--origin")) {
            o.origin = v;
        } else if (!strcmp(a, "--ruri")) {
            o.ruri = v;
        } else if (!strcmp(a, "--label")) {
            o.label = v;
        } else if (!strcmp(a, "--password")) {
            o.password = v;
        } else if (!strcmp(a, "--user-prefix")) {
            o.user_prefix = v;
        } else if (!strcmp(a, "--users")) {
            bad = num_u64(v, 1, 10000000, &u);
            o.users = (unsigned)u;
        } else if (!strcmp(a, "--user-start")) {
            bad = num_u64(v, 0, 1000000000, &u);
            o.user_start = (unsigned)u;
        } else if (!strcmp(a, "--domain")) {
            o.domain = v;
        } else if (!strcmp(a, "--algorithm")) {
            o.algorithm = wsip_digest_alg_from_str(wsip_str_cstr(v));
            bad = o.algorithm != WSIP_DIGEST_MD5 && o.algorithm != WSIP_DIGEST_SHA256;
        } else if (!strcmp(a, "--expires")) {
            bad = num_u64(v, 0, 0xffffffffu, &u);
            o.expires = (unsigned)u;
        } else {
            fprintf(stderr, "wsip bench: unknown option %s\n", a);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "wsip bench: bad value for %s: %s\n", a, v);
            return 2;
        }
    }
    if (!o.url_str) {
        fprintf(stderr, "wsip bench %s: --url is required\n", md->name);
        return 2;
    }
    const char *why;
    if (bench_url_parse(o.url_str, &o.url, &why) < 0) {
        fprintf(stderr, "wsip bench: %s: %s\n", o.url_str, why);
        return 2;
    }
    if (o.label && strpbrk(o.label, " \t\n=")) {
        fprintf(stderr, "wsip bench: --label must not contain spaces or '='\n");
        return 2;
    }
    if (md->sip && connections_set) {
        fprintf(stderr, "wsip bench %s: one connection per flow: use --concurrency\n", md->name);
        return 2;
    }
    if (sip_mode_opts(md, &o, concurrency_set) < 0)
        return 2;
    o.setup_concurrency = setup_concurrency ? setup_concurrency : md->sip ? 100 : o.concurrency;
    signal(SIGPIPE, SIG_IGN); /* a server closing first must not kill the client */
    unsigned long nofile = bench_raise_nofile();
    if (nofile && o.connections + 64 > nofile)
        fprintf(stderr,
                "wsip bench: warning: %u connections but only %lu file descriptors "
                "(ulimit -Hn)\n",
                o.connections, nofile);
    return md->run(&o);
}

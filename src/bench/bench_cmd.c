/* wsip bench: the command line. Each mode is one entry of the table below and
 * one file (connect.c, options.c); the options are shared so that a new mode
 * (register, message, call, churn) only adds its own. */
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
    const char *what;
};

static const struct mode modes[] = {
    {"connect", bench_mode_connect, 1000,
     "open N connections (WebSocket handshake), hold them idle, close them"},
    {"options", bench_mode_options, 100,
     "C connections keeping K OPTIONS outstanding each: answers/s, latency"},
};

#define NMODES (sizeof(modes) / sizeof(modes[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: wsip bench MODE --url URL [options]\n\nmodes:\n");
    for (size_t i = 0; i < NMODES; i++)
        fprintf(f, "  %-9s %s\n", modes[i].name, modes[i].what);
    fprintf(f,
            "\n"
            "URL: ws://HOST:PORT[/path], wss://..., tcp://..., tls://..., udp://... (options\n"
            "     only); HOST is an IP address or localhost.\n"
            "\n"
            "common options:\n"
            "  --connections N   connections (default: connect 1000, options 100)\n"
            "  --rate R[/s]      connection setups started per second (default: no limit)\n"
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
            "\n"
            "Output: a short table, then one line of key=value pairs on stdout (bench=MODE\n"
            "...); progress on stderr. Exit status 0 when every connection was established\n"
            "and (options) every request answered 2xx, else 1; 2 for a usage error.\n"
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
    };
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
        } else if (!strcmp(a, "--rate")) {
            bad = num_double(v, 0, 1e9, &o.rate);
        } else if (!strcmp(a, "--concurrency")) {
            bad = num_u64(v, 1, 1000000, &u);
            o.concurrency = (unsigned)u;
        } else if (!strcmp(a, "--timeout")) {
            bad = num_double(v, 0.001, 86400, &o.timeout_s);
        } else if (!strcmp(a, "--setup-max")) {
            bad = num_double(v, 0.001, 86400, &o.setup_max_s);
        } else if (!strcmp(a, "--hold")) {
            bad = num_double(v, 0, 86400, &o.hold_s);
        } else if (!strcmp(a, "--pid")) {
            bad = num_u64(v, 1, 1u << 30, &u);
            o.pid = (int)u;
        } else if (!strcmp(a, "--requests") || !strcmp(a, "-n")) {
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
    signal(SIGPIPE, SIG_IGN); /* a server closing first must not kill the client */
    unsigned long nofile = bench_raise_nofile();
    if (nofile && o.connections + 64 > nofile)
        fprintf(stderr,
                "wsip bench: warning: %u connections but only %lu file descriptors "
                "(ulimit -Hn)\n",
                o.connections, nofile);
    return md->run(&o);
}

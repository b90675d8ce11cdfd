/* Measurement helpers of wsip bench: latency histogram, failure reasons,
 * memory and CPU of a process from /proc, the file descriptor limit. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/bench.h"

/* --------------------------------------------------------------- histogram */

/* Values below 128 have a bucket each; above, 64 buckets per power of two:
 * index = e * 64 + (v >> e) with e = msb(v) - 6, so v >> e is in [64, 128). */
static unsigned hist_index(uint64_t v)
{
    if (v < 128)
        return (unsigned)v;
    unsigned e = (unsigned)(63 - __builtin_clzll(v)) - 6;
    unsigned i = e * 64 + (unsigned)(v >> e);
    return i < BENCH_HIST_BUCKETS ? i : BENCH_HIST_BUCKETS - 1;
}

static uint64_t hist_upper(unsigned i)
{
    if (i < 128)
        return i;
    unsigned e = i / 64 - 1;
    uint64_t m = i - e * 64;
    return ((m + 1) << e) - 1;
}

void bench_hist_add(struct bench_hist *h, uint64_t ns)
{
    if (h->n == 0 || ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
    h->n++;
    h->sum += ns;
    h->b[hist_index(ns)]++;
}

uint64_t bench_hist_pct(const struct bench_hist *h, double p)
{
    if (h->n == 0)
        return 0;
    if (p >= 1.0)
        return h->max;
    uint64_t want = (uint64_t)(p * (double)h->n);
    if ((double)want < p * (double)h->n)
        want++;
    if (want == 0)
        want = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            uint64_t v = hist_upper(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ----------------------------------------------------------------- reasons */

void bench_reasons_add(struct bench_reasons *r, const char *why)
{
    if (!why)
        why = "unknown";
    for (unsigned i = 0; i < BENCH_REASONS; i++) {
        if (!r->why[i]) {
            r->why[i] = why;
            r->n[i] = 1;
            return;
        }
        if (r->why[i] == why || strcmp(r->why[i], why) == 0) {
            r->n[i]++;
            return;
        }
    }
    r->other++;
}

uint64_t bench_reasons_total(const struct bench_reasons *r)
{
    uint64_t t = r->other;
    for (unsigned i = 0; i < BENCH_REASONS && r->why[i]; i++)
        t += r->n[i];
    return t;
}

void bench_reasons_print(FILE *f, const struct bench_reasons *r)
{
    const char *sep = "";
    for (unsigned i = 0; i < BENCH_REASONS && r->why[i]; i++) {
        fprintf(f, "%s%s: %llu", sep, r->why[i], (unsigned long long)r->n[i]);
        sep = "; ";
    }
    if (r->other)
        fprintf(f, "%sother: %llu", sep, (unsigned long long)r->other);
}

void bench_reasons_top(const struct bench_reasons *r, char *out, size_t cap)
{
    unsigned best = BENCH_REASONS;
    for (unsigned i = 0; i < BENCH_REASONS && r->why[i]; i++)
        if (best == BENCH_REASONS || r->n[i] > r->n[best])
            best = i;
    snprintf(out, cap, "%s", best == BENCH_REASONS ? "none" : r->why[best]);
    for (char *p = out; *p; p++)
        if (*p == ' ' || *p == '=' || *p == ',')
            *p = '_';
}

/* ---------------------------------------------------------------- statuses */

void bench_statuses_add(struct bench_statuses *s, unsigned code)
{
    for (unsigned i = 0; i < BENCH_STATUSES; i++) {
        if (s->n[i] == 0 || s->code[i] == code) {
            s->code[i] = code;
            s->n[i]++;
            return;
        }
    }
    s->other++;
}

void bench_statuses_print(FILE *f, const struct bench_statuses *s, bool human)
{
    for (unsigned i = 0; i < BENCH_STATUSES && s->n[i]; i++) {
        if (human)
            fprintf(f, "%s%u x%llu", i ? ", " : "", s->code[i], (unsigned long long)s->n[i]);
        else
            fprintf(f, "%s%u:%llu", i ? "," : "", s->code[i], (unsigned long long)s->n[i]);
    }
    if (s->other)
        fprintf(f, human ? ", other x%llu" : ",other:%llu", (unsigned long long)s->other);
}

/* ------------------------------------------------------------------- /proc */

int bench_proc_mem(int pid, struct bench_mem *m)
{
    memset(m, 0, sizeof(*m));
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        unsigned long long v;
        if (sscanf(line, "Rss: %llu kB", &v) == 1)
            m->rss_kb = v;
        else if (sscanf(line, "Pss: %llu kB", &v) == 1)
            m->pss_kb = v;
        else if (sscanf(line, "Anonymous: %llu kB", &v) == 1)
            m->anon_kb = v;
    }
    fclose(f);
    m->ok = m->rss_kb > 0;
    return m->ok ? 0 : -1;
}

double bench_proc_cpu(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: start after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

double bench_loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

double bench_self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

unsigned long bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (unsigned long)rl.rlim_cur;
}

void bench_progress(const struct bench_opts *o, uint64_t t0, const char *fmt, ...)
{
    uint64_t el = bench_now() - t0;
    /* short runs stay quiet: progress is for runs one could wonder about */
    if (o->quiet || el < 2000000000ull)
        return;
    fprintf(stderr, "[%s %5.1fs] ", o->mode, (double)el / 1e9);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

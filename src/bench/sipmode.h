/* The SIP modes of wsip bench (register, message, call over sipmode.c;
 * churn on its own): what they count and how they report it. Private to
 * src/bench. */
#ifndef WSIP_BENCH_SIPMODE_H
#define WSIP_BENCH_SIPMODE_H

#include "bench/bench.h"

/* What one run of operations counted. An operation is what the mode's rate
 * is about (a REGISTER, a MESSAGE, a whole call, a churn cycle); it either
 * succeeds once or fails once. */
struct bench_tally {
    uint64_t started, ok, errors;
    uint64_t timeouts, lost, stray;
    struct bench_hist lat;           /* per successful operation, see the mode's lat_what */
    struct bench_hist lat2;          /* call: INVITE sent to the BYE's 200 */
    struct bench_reasons why;        /* errors by reason */
    struct bench_statuses status;    /* final statuses that made an operation fail */
    uint64_t t_run, t_last;          /* start of the run; last operation finished */
    double cpu0, cpu1, scpu0, scpu1; /* client and server CPU seconds over the run */
};

/* One failed operation: why (static), and the status that said so (0: none). */
void bench_tally_fail(struct bench_tally *t, const char *why, unsigned status);

struct bench_sipreport {
    const char *unit;      /* "registrations", "messages", "calls", "cycles" */
    const char *lat_what;  /* what lat measures */
    const char *lat2_what; /* NULL: no lat2 */
    const struct bench_tally *t;
    const struct bench_uactx *cx;
    const struct bench_pool *pool; /* NULL for churn */
    uint64_t unreg_ok, unreg_fail, uas_unexpected, unpaired;
    uint64_t connect_fail; /* churn: cycles that failed before the connection was up */
};

/* The table on stdout, then the summary line (bench=MODE key=value ...). */
void bench_sip_report(const struct bench_opts *o, const struct bench_sipreport *rp);
/* 0 when every operation started succeeded (and at least one did). */
int bench_sip_exit_status(const struct bench_tally *t);

/* ---------------------------------------------------- register, message, call */

enum bench_ua_op {
    BOP_NONE = 0,
    BOP_SETUP, /* the REGISTER before the run (message, call) */
    BOP_RUN,   /* an operation of the mode */
    BOP_UNREG, /* the REGISTER with Expires 0 after the run */
};

struct bench_run;

struct bench_sipmode {
    const char *unit, *lat_what, *lat2_what;
    bool register_first; /* register every UA before the run */
    bool pairs;          /* UA i sends to UA i ^ 1 */
    /* Starts one operation of ua (ua->req prepared and sent); -1 when it
     * could not be sent. */
    int (*start)(struct bench_run *r, struct bench_ua *ua, uint64_t now);
    /* A 1xx or final response to ua's request in flight (the challenges are
     * answered before). */
    void (*response)(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m, uint64_t now);
    /* A response for no request in flight: true when the mode wanted it (a
     * retransmitted 2xx to an INVITE). Optional. */
    bool (*stray)(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m);
    /* A request to ua (the called side). Optional. */
    void (*request)(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m);
};

struct bench_run {
    struct bench_opts *o;
    const struct bench_sipmode *md;
    struct bench_pool pool;
    struct bench_uactx cx;
    struct bench_ua *ua; /* one per connection */
    int stage;
    uint64_t busy;       /* UAs with an operation */
    uint64_t unreg_busy; /* unregistrations in flight */
    struct bench_tally t;
    uint64_t t_end, t_deadline, t_progress;
    uint64_t unreg_ok, unreg_fail, uas_unexpected, unpaired;
    struct wsip_sbuf extra; /* the modes' scratch for header lines */
    /* --rate: idle UAs wait in a ring (FIFO) until the schedule lets the
     * next operation start; the pace timer starts them */
    bool paced;
    uv_timer_t pace;
    unsigned *waiting;
    unsigned wait_head, nwaiting;
};

/* Runs a mode: connections (and registrations), the closed loop of
 * operations, unregistrations, the report. Returns the exit status. */
int bench_sip_run(struct bench_opts *o, const struct bench_sipmode *md);
/* The operation of ua succeeded with latency lat_ns; the UA starts the next
 * one if the budget allows. */
void bench_run_ok(struct bench_run *r, struct bench_ua *ua, uint64_t lat_ns, uint64_t now);
/* The operation of ua failed (why static; status 0 when no response said so). */
void bench_run_fail(struct bench_run *r, struct bench_ua *ua, const char *why, unsigned status,
                    uint64_t now);
/* Answers what the called side does not expect: 200 to OPTIONS, nothing to
 * ACK, 405 (counted) to the rest. */
void bench_run_other_request(struct bench_run *r, struct bench_ua *ua, struct wsip_msg *m);

#endif

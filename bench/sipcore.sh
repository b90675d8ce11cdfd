#!/usr/bin/env bash
# SIP core benchmark (issue #4): what wsip's registrar and proxy sustain.
#  (a) SIPp over UDP (bench/sipp/*.xml, shared with bench/compare and
#      bench/kamailio/smoke.sh): REGISTER/s without digest (the
#      server trusts 127.0.0.0/8) and with digest (401 then credentials: two
#      round trips, SIPp keeps no nonce), MESSAGE relayed/s (SIPp UAC -> wsip
#      -> a registered SIPp UAS) and calls/s (INVITE, 180, 200, ACK, BYE,
#      200 through wsip between two SIPp).
#  (b) wsip bench over WebSocket (browser-like clients): register without and
#      with digest (the nonce reused with a growing nc: one round trip),
#      message and call between registered pairs, without and with digest.
# Builds Release wsip in build-rel-bench/, starts its own servers on loopback
# with a temporary database of USERS users (wsip user add --bulk), runs every
# measurement RUNS times (each bounded by DURATION seconds and a count), stops
# only the processes it started (by PID), and writes
# bench/results/sipcore-<UTC time>.txt: a header, one machine-readable line
# per run (bench=... label=... rate_per_s=... server_cpu_us_per_op=...), and
# one summary line per measurement with the median over the runs
# (summary=LABEL ...). See bench/README.md, "SIP core (issue #4)".
#
#   bench/sipcore.sh                        # about 3 minutes
#   RUNS=1 DURATION=2 bench/sipcore.sh      # quick look
#
# Environment: RUNS (default 3), DURATION (seconds per run, default 5),
# CONC (flows of wsip bench, simultaneous calls of SIPp -l; default 100),
# USERS (default 1000), PORT_BASE (default 29000: uses +60, +61, +80, +81 and
# +100..+133 for SIPp), BUILD (default build-rel-bench), OUT (results file),
# SIPP (the sipp binary, default sipp; Debian package sip-tester).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-rel-bench}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
CONC=${CONC:-100}
USERS=${USERS:-1000}
PORT_BASE=${PORT_BASE:-29000}
SIPP=${SIPP:-sipp}
PASSWORD=bench-pw
DOMAIN=localhost
T_UDP=$((PORT_BASE + 60))  # the server that trusts 127.0.0.0/8
T_WS=$((PORT_BASE + 80))
D_UDP=$((PORT_BASE + 61))  # the server that challenges
D_WS=$((PORT_BASE + 81))
SIPP_UAC=$((PORT_BASE + 100))
SIPP_UAS=$((PORT_BASE + 101))
SIPP_MEDIA=$((PORT_BASE + 110)) # SIPp binds RTP ports from here: +0..+3 (audio, video)
SIPP_UAS_MEDIA=$((PORT_BASE + 130))
SIPP_CTRL=$((PORT_BASE + 120))
mkdir -p bench/results
OUT=${OUT:-bench/results/sipcore-$(date -u +%Y%m%d-%H%M%S).txt}

command -v "$SIPP" >/dev/null || { echo "sipcore.sh: $SIPP not found (Debian: apt-get install sip-tester)" >&2; exit 1; }

echo "building $BUILD (Release)" >&2
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target wsip >/dev/null
W=$BUILD/wsip
SC=bench/sipp

TMP=$(mktemp -d)
PIDS=()  # every background process started here: servers, SIPp UAS
cleanup() {
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --------------------------------------------------------------- setup

"$W" user add --bulk "bench@$DOMAIN" "$USERS" --password "$PASSWORD" --db "$TMP/wsip.db" >/dev/null
{
    echo SEQUENTIAL
    for i in $(seq 1 "$USERS"); do
        echo "bench$i;[authentication username=bench$i password=$PASSWORD]"
    done
} >"$TMP/users.csv"
printf 'SEQUENTIAL\nsippuas;[authentication username=sippuas password=none]\n' >"$TMP/uas.csv"

# Limits raised so that one client address may open every flow; the rest is
# wsip's defaults (2 workers: one per core).
SERVER_SET=(--set workers=2 --set log.level=warn --set net.max_connections_per_ip=20000
            --set net.handshakes_per_ip_per_second=100000 --set "domains=[$DOMAIN]")

# start_server VAR NAME UDP_PORT WS_PORT [--set ...]: starts wsip serve with
# the shared database, waits until it listens, puts its PID into VAR.
start_server() {
    local var=$1 name=$2 udp=$3 ws=$4 n pid
    shift 4
    "$W" serve --listen "udp://127.0.0.1:$udp" --listen "ws://127.0.0.1:$ws" --set db="$TMP/wsip.db" \
        "${SERVER_SET[@]}" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 100); do
        n=$(grep -c '^listening on' "$TMP/$name.out" 2>/dev/null || true)
        if [ "${n:-0}" -ge 2 ]; then
            printf -v "$var" '%s' "$pid"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "server $name did not start:" >&2
    cat "$TMP/$name.err" >&2
    exit 1
}

# CPU seconds (user + system, all threads) of a process.
proc_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

# CPU seconds of this shell's waited-for children (SIPp UACs under
# timeout), from `times`, which must run in this shell (not in $(...)).
children_cpu() {
    tail -1 "$TMP/times" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } print s }'
}

emit() {
    echo "$1" | tee -a "$OUT"
}

# ------------------------------------------------------------- SIPp runs

SIPP_COMMON=(-i 127.0.0.1 -key domain "$DOMAIN" -nostdin -buff_size 4194304
             -max_recv_loops 10000 -max_sched_loops 10000)

UAS_PID= # the SIPp UAS running, if any (sipp_uas)

# sipp_run LABEL SERVER_PID SERVER_UDP SCENARIO RUN [sipp args...]: one SIPp
# UAC run bounded by DURATION (SIPp's -timeout, and timeout(1) above it),
# CONC simultaneous calls; one bench= line from its statistics file.
sipp_run() {
    local label=$1 spid=$2 port=$3 sf=$4 run=$5
    shift 5
    local stf="$TMP/$label-$run.csv" c0 c1 s0 s1
    local u0=0 u1=0
    s0=$(proc_cpu "$spid")
    [ -n "$UAS_PID" ] && u0=$(proc_cpu "$UAS_PID")
    times >"$TMP/times"
    c0=$(children_cpu)
    timeout $((DURATION + 30)) "$SIPP" "127.0.0.1:$port" -sf "$SC/$sf" -t u1 -p "$SIPP_UAC" \
        -mp "$SIPP_MEDIA" -cp "$SIPP_CTRL" -m 100000000 -r 1000000 -l "$CONC" \
        -timeout "$DURATION" -trace_stat -stf "$stf" -fd 1 -trace_err \
        -error_file "$TMP/$label-$run.err" "${SIPP_COMMON[@]}" "$@" >/dev/null 2>&1 || true
    times >"$TMP/times"
    c1=$(children_cpu)
    s1=$(proc_cpu "$spid")
    [ -n "$UAS_PID" ] && u1=$(proc_cpu "$UAS_PID")
    if [ ! -s "$stf" ]; then
        emit "bench=sipp label=$label run=$run error=no_statistics"
        return
    fi
    # last line: StartTime;LastResetTime;CurrentTime;...;SuccessfulCall(C)
    # is field 16, FailedCall(C) 18, Retransmissions(C) 58; times carry the
    # epoch after a tab
    tail -1 "$stf" | awk -F';' -v label="$label" -v run="$run" -v conc="$CONC" \
        -v s0="$s0" -v s1="$s1" -v c0="$c0" -v c1="$c1" -v u0="$u0" -v u1="$u1" -v uas="${UAS_PID:+1}" \
        -v load="$(cut -d' ' -f1 /proc/loadavg)" '{
            split($1, a, "\t"); split($3, b, "\t");
            el = b[3] - a[3]; ok = $16; bad = $18; scpu = s1 - s0; ccpu = c1 - c0;
            rate = spct = sus = cpct = 0
            if (el > 0) { rate = ok / el; spct = 100 * scpu / el; cpct = 100 * ccpu / el }
            if (ok > 0) sus = scpu * 1e6 / ok
            printf "bench=sipp label=%s transport=udp run=%d concurrency=%d ok=%d errors=%d ", label, run, conc, ok, bad
            printf "retransmits=%d elapsed_s=%.3f rate_per_s=%.1f server_cpu_pct=%.0f ", $58, el, rate, spct
            printf "server_cpu_us_per_op=%.1f sipp_cpu_pct=%.0f", sus, cpct
            if (uas && el > 0) printf " sipp_uas_cpu_pct=%.0f", 100 * (u1 - u0) / el
            printf " loadavg=%s\n", load }' | tee -a "$OUT"
}

# sipp_uas SERVER_UDP SCENARIO: registers sippuas@DOMAIN from the UAS port
# (register.xml, one call) and starts the UAS scenario there in the background.
sipp_uas() {
    local port=$1 sf=$2
    timeout 30 "$SIPP" "127.0.0.1:$port" -sf "$SC/register.xml" -inf "$TMP/uas.csv" -t u1 \
        -p "$SIPP_UAS" -mp "$SIPP_MEDIA" -cp "$SIPP_CTRL" -m 1 -timeout 20 -timeout_error \
        "${SIPP_COMMON[@]}" >/dev/null 2>&1 || { echo "SIPp UAS registration failed" >&2; exit 1; }
    "$SIPP" "127.0.0.1:$port" -sf "$SC/$sf" -s sippuas -t u1 -p "$SIPP_UAS" -mp "$SIPP_UAS_MEDIA" \
        -cp $((SIPP_CTRL + 1)) -timeout $(((DURATION + 10) * RUNS + 30)) -trace_err \
        -error_file "$TMP/uas-$sf.err" "${SIPP_COMMON[@]}" >/dev/null 2>&1 &
    UAS_PID=$!
    PIDS+=("$UAS_PID")
    sleep 0.3
    kill -0 "$UAS_PID" 2>/dev/null || { echo "SIPp UAS $sf exited at once" >&2; exit 1; }
}

sipp_uas_stop() {
    kill -TERM "$UAS_PID" 2>/dev/null || true
    wait "$UAS_PID" 2>/dev/null || true
    UAS_PID=
}

# ------------------------------------------------------- wsip bench runs

# bench_run LABEL SERVER_PID RUN MODE URL [wsip bench args...]
bench_run() {
    local label=$1 spid=$2 run=$3 mode=$4 url=$5
    shift 5
    timeout $((DURATION + 60)) "$W" bench "$mode" --url "$url" --concurrency "$CONC" \
        --duration "$DURATION" --count 100000000 --pid "$spid" --label "$label" --quiet "$@" \
        >"$TMP/run.out" || true
    grep -v '^bench=' "$TMP/run.out" | sed 's/^/# /' >>"$OUT"
    grep '^bench=' "$TMP/run.out" | sed "s/^bench=\([a-z]*\) /bench=\1 run=$run /" | tee -a "$OUT"
}

# summary LABEL: the median (and range) of the runs' rate and server CPU.
summary() {
    grep -E "^bench=[a-z]+ .*label=$1 " "$OUT" | awk -v label="$1" '
        function median(v, n,   i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] > v[j]; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
            return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        {
            for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
            n++; r[n] = f["rate_per_s"] + 0; c[n] = f["server_cpu_us_per_op"] + 0
            if ("lat_p50_us" in f) { nl++; lat[nl] = f["lat_p50_us"] + 0 }
            errs += f["errors"]; oks += f["ok"]; delete f
        }
        END {
            if (!n) { printf "summary=%s runs=0\n", label; exit }
            lo = r[1]; hi = r[1]; for (i = 1; i <= n; i++) { if (r[i] < lo) lo = r[i]; if (r[i] > hi) hi = r[i] }
            printf "summary=%s runs=%d rate_median=%.0f rate_min=%.0f rate_max=%.0f ", label, n, median(r, n), lo, hi
            printf "server_cpu_us_per_op_median=%.1f", median(c, n)
            if (nl) printf " lat_p50_us_median=%.0f", median(lat, nl)
            printf " ok_total=%d errors_total=%d\n", oks, errs
        }' | tee -a "$OUT"
}

# --------------------------------------------------------------- the runs

{
    echo "# wsip SIP core benchmark (bench/sipcore.sh), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (dirty)')"
    echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
    echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# $("$SIPP" -v 2>&1 | grep -m1 SIPp | sed 's/^ *//')"
    echo "# runs=$RUNS duration_s=$DURATION concurrency=$CONC users=$USERS"
    echo "# server: $W serve --listen udp://... --listen ws://... ${SERVER_SET[*]} (+ trusted=[127.0.0.0/8] for the runs without digest)"
} >"$OUT"

T_PID=
D_PID=
start_server T_PID trusted "$T_UDP" "$T_WS" --set 'trusted=[127.0.0.0/8]'
start_server D_PID digest "$D_UDP" "$D_WS"

echo "SIPp over UDP: REGISTER without and with digest" >&2
for run in $(seq 1 "$RUNS"); do
    sipp_run sipp_register "$T_PID" "$T_UDP" register.xml "$run" -inf "$TMP/users.csv"
    sipp_run sipp_register_digest "$D_PID" "$D_UDP" register.xml "$run" -inf "$TMP/users.csv" \
        -auth_uri "$DOMAIN"
done

echo "SIPp over UDP: MESSAGE relay, calls" >&2
sipp_uas "$T_UDP" message_uas.xml
for run in $(seq 1 "$RUNS"); do
    sipp_run sipp_message "$T_PID" "$T_UDP" message_uac.xml "$run" -inf "$TMP/users.csv" -s sippuas
done
sipp_uas_stop
sipp_uas "$T_UDP" call_uas.xml
for run in $(seq 1 "$RUNS"); do
    sipp_run sipp_call "$T_PID" "$T_UDP" call_uac.xml "$run" -inf "$TMP/users.csv" -s sippuas
done
sipp_uas_stop

echo "wsip bench over WebSocket: register, message, call; without and with digest" >&2
for run in $(seq 1 "$RUNS"); do
    bench_run ws_register "$T_PID" "$run" register "ws://127.0.0.1:$T_WS"
    bench_run ws_register_digest "$D_PID" "$run" register "ws://127.0.0.1:$D_WS" --password "$PASSWORD"
    bench_run ws_message "$T_PID" "$run" message "ws://127.0.0.1:$T_WS"
    bench_run ws_message_digest "$D_PID" "$run" message "ws://127.0.0.1:$D_WS" --password "$PASSWORD"
    bench_run ws_call "$T_PID" "$run" call "ws://127.0.0.1:$T_WS"
    bench_run ws_call_digest "$D_PID" "$run" call "ws://127.0.0.1:$D_WS" --password "$PASSWORD"
done

echo "# summaries (medians over $RUNS runs)" >>"$OUT"
for label in sipp_register sipp_register_digest sipp_message sipp_call ws_register \
    ws_register_digest ws_message ws_message_digest ws_call ws_call_digest; do
    summary "$label"
done
for s in trusted digest; do
    if [ -s "$TMP/$s.err" ]; then
        echo "# server $s log (warnings):" >>"$OUT"
        sed 's/^/#   /' "$TMP/$s.err" | head -20 >>"$OUT"
    fi
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT"
echo "results: $OUT" >&2

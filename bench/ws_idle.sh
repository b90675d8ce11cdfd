#!/usr/bin/env bash
# Transports benchmark (issue #3): the server's memory per idle WS and per idle
# WSS connection, and OPTIONS round trips per second over WS (100 and 1,000
# connections) and over UDP for reference. Builds Release wsip in
# build-rel-bench/, starts its own servers on loopback (a fresh one per memory
# measurement, so each starts from a clean heap), stops only the processes it
# started, and writes bench/results/ws_idle-<UTC date>.txt with the
# machine-readable lines. See bench/README.md, "Transports".
#
#   bench/ws_idle.sh                  # full run, about 1-3 minutes
#   CONNS=1000 DURATION=3 bench/ws_idle.sh   # quick
#
# Environment: CONNS (idle connections, default 10000), HOLD (idle seconds,
# default 5), DURATION (seconds per OPTIONS run, default 10), PORT_BASE
# (default 28000: uses PORT_BASE+80, +443, +60), BUILD (default
# build-rel-bench), OUT (results file), PRIORITY=1 (root: run this session's
# scheduler autogroup at nice -10 meanwhile; on a machine shared with other
# jobs the kernel otherwise splits the CPU evenly between sessions, and the
# server and client together get only their session's share).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-rel-bench}
CONNS=${CONNS:-10000}
HOLD=${HOLD:-5}
DURATION=${DURATION:-10}
PORT_BASE=${PORT_BASE:-28000}
WS_PORT=$((PORT_BASE + 80))
WSS_PORT=$((PORT_BASE + 443))
UDP_PORT=$((PORT_BASE + 60))
PRIORITY=${PRIORITY:-0}
mkdir -p bench/results
OUT=${OUT:-bench/results/ws_idle-$(date -u +%Y%m%d-%H%M%S)$([ "$PRIORITY" = 1 ] && echo -prio).txt}

echo "building $BUILD (Release)" >&2
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target wsip >/dev/null
W=$BUILD/wsip

TMP=$(mktemp -d)
SERVER_PID=
OLD_NICE=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$OLD_NICE" ]; then
        echo "$OLD_NICE" >/proc/self/autogroup 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$W" cert --self-signed "$TMP/cert" >/dev/null

if [ "$PRIORITY" = 1 ] && [ -w /proc/self/autogroup ]; then
    OLD_NICE=$(awk '{print $3}' /proc/self/autogroup)
    echo -10 >/proc/self/autogroup || OLD_NICE=
fi

# Limits raised so that one client address may hold every connection; pings
# pushed out of the hold (they would be answered anyway).
SERVER_SET=(--set net.max_connections_per_ip=20000 --set net.handshakes_per_ip_per_second=100000
            --set net.max_connections=20000 --set ws.ping_interval=300 --set log.level=warn
            --set tls.certificate="$TMP/cert/cert.pem" --set tls.private_key="$TMP/cert/key.pem")

# start_server NAME LISTEN-URI...: starts wsip serve, waits until it listens.
start_server() {
    local name=$1 n
    shift
    local args=()
    for u in "$@"; do args+=(--listen "$u"); done
    "$W" serve "${args[@]}" "${SERVER_SET[@]}" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        n=$(grep -c '^listening on' "$TMP/$name.out" || true)
        [ "$n" -ge $# ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server $name did not start:" >&2
    cat "$TMP/$name.err" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=
}

# run LABEL wsip-bench-args...: one benchmark, bounded in time; its table goes
# to the results file as comments, its summary line as is.
run() {
    local label=$1
    shift
    echo "# \$ wsip bench $* --label $label" >>"$OUT"
    timeout 300 "$W" bench "$@" --label "$label" >"$TMP/run.out" || true
    grep -v '^bench=' "$TMP/run.out" | sed 's/^/# /' >>"$OUT"
    grep '^bench=' "$TMP/run.out" | tee -a "$OUT"
}

{
    echo "# wsip transports benchmark (bench/ws_idle.sh), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (dirty)')"
    echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
    echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# server: $W serve --listen ... ${SERVER_SET[*]//$TMP/TMP}"
    echo "# client fd limit: $(ulimit -Hn); scheduler: $(cat /proc/self/autogroup 2>/dev/null || echo 'no autogroup')"
} >"$OUT"

echo "idle WS: $CONNS connections" >&2
start_server ws "ws://127.0.0.1:$WS_PORT"
run ws_idle connect --url "ws://127.0.0.1:$WS_PORT" --connections "$CONNS" --hold "$HOLD" \
    --pid "$SERVER_PID" --concurrency 100 --setup-max 120
stop_server

echo "idle WSS: $CONNS connections" >&2
start_server wss "wss://127.0.0.1:$WSS_PORT"
run wss_idle connect --url "wss://127.0.0.1:$WSS_PORT" --connections "$CONNS" --hold "$HOLD" \
    --pid "$SERVER_PID" --concurrency 32 --setup-max 180
stop_server

echo "OPTIONS: WS 100 and 1000 connections, UDP 100" >&2
start_server options "ws://127.0.0.1:$WS_PORT" "udp://127.0.0.1:$UDP_PORT"
run ws_options_100 options --url "ws://127.0.0.1:$WS_PORT" --connections 100 \
    --requests 10000000 --duration "$DURATION" --pid "$SERVER_PID"
run ws_options_1000 options --url "ws://127.0.0.1:$WS_PORT" --connections 1000 \
    --requests 10000000 --duration "$DURATION" --pid "$SERVER_PID"
run udp_options_100 options --url "udp://127.0.0.1:$UDP_PORT" --connections 100 \
    --requests 10000000 --duration "$DURATION" --pid "$SERVER_PID"
stop_server

echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT"
echo "results: $OUT" >&2

#!/usr/bin/env bash
# Kamailio's memory per idle registered WebSocket connection (issue #5): a
# fresh Kamailio with bench/kamailio/kamailio.cfg on free loopback ports, CONNS
# WebSocket connections each registering one user (ws_hold.mjs), and the sum
# of PSS (and RSS) over all Kamailio processes before, while they are held,
# and after they are closed. Stops only the processes it started, by PID.
#
#   bench/kamailio/ws_mem.sh                    # 1,000 connections, digest
#   CONNS=10000 KAM_SHM_MB=1024 bench/kamailio/ws_mem.sh
#   NO_AUTH=1 bench/kamailio/ws_mem.sh          # registrations without digest
#   MODE=connect bench/kamailio/ws_mem.sh       # bare connections (wsip bench connect)
#   WSS=1 bench/kamailio/ws_mem.sh              # over WSS (WITH_WSS, TCP_WORKERS=1)
#
# Environment: CONNS (default 1000), HOLD (seconds held, default 5), WORKERS
# (default 2), KAM_SHM_MB (-m, default 1024), KAM_PKG_MB (-M, default 16),
# NO_AUTH=1, MODE=register|connect, WSS=1 (TLS: a fresh P-256 test
# certificate; TCP_WORKERS=1, see kamailio.cfg), BUILD (wsip build directory for
# MODE=connect, default build), KEEP=1 (keep the temporary directory with
# Kamailio's log). Prints one "bench=kamailio_ws_mem ..." line.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
CONNS=${CONNS:-1000}
HOLD=${HOLD:-5}
MODE=${MODE:-register}
NO_AUTH=${NO_AUTH:-0}
WSS=${WSS:-0}
BUILD=${BUILD:-build}
KAM_DIR=$(mktemp -d)
HOLDER_PID=
# shellcheck source=bench/kamailio/lib.sh
. bench/kamailio/lib.sh

cleanup() {
    stop_pid "$HOLDER_PID"
    finish
}
trap cleanup EXIT
trap 'exit 130' INT TERM

UDP_PORT=$(free_port)
WS_PORT=$(free_port)
defines=()
if [ "$NO_AUTH" = 1 ]; then
    defines+=(-A NO_AUTH)
else
    make_numbered_users "$KAM_DIR/db" secret u "$CONNS"
    defines+=(-A "USERS_DB=\"text://$KAM_DIR/db\"")
fi
PORT=$WS_PORT
SCHEME=ws
if [ "$WSS" = 1 ]; then
    PORT=$(free_port)
    SCHEME=wss
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=localhost -keyout "$KAM_DIR/key.pem" -out "$KAM_DIR/cert.pem" 2>/dev/null
    defines+=(-A WITH_WSS -A TCP_WORKERS=1 -A "WSS_PORT=$PORT"
              -A "TLS_CERT=\"$KAM_DIR/cert.pem\"" -A "TLS_KEY=\"$KAM_DIR/key.pem\"")
fi
start_kamailio "$KAM_DIR/kamailio.log" "$UDP_PORT" "$WS_PORT" "${defines[@]}"
wait_tcp_port "$PORT"
sleep 1
read -r pss0 rss0 nproc < <(kamailio_memory)

if [ "$MODE" = connect ]; then
    "$BUILD/wsip" bench connect --url "$SCHEME://127.0.0.1:$PORT" --connections "$CONNS" \
        --hold "$((HOLD + 2))" --quiet >"$KAM_DIR/holder.out" 2>&1 &
    HOLDER_PID=$!
    # Held once Kamailio has CONNS established connections on the port (60 s at most).
    for _ in $(seq 600); do
        [ "$(ss -Htn state established "sport = :$PORT" | wc -l)" -ge "$CONNS" ] && break
        kill -0 "$HOLDER_PID" 2>/dev/null || break
        sleep 0.1
    done
else
    wss_flag=()
    [ "$WSS" = 1 ] && wss_flag=(--wss)
    node bench/kamailio/ws_hold.mjs --ws "$PORT" "${wss_flag[@]}" --conns "$CONNS" --hold "$HOLD" \
        >"$KAM_DIR/holder.out" 2>&1 &
    HOLDER_PID=$!
    for _ in $(seq 1200); do
        grep -q '^holding' "$KAM_DIR/holder.out" && break
        kill -0 "$HOLDER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q '^holding' "$KAM_DIR/holder.out"; then
        cat "$KAM_DIR/holder.out" >&2
        echo "ws_mem: the connections were not all set up" >&2
        exit 1
    fi
    grep '^registered\|failed' "$KAM_DIR/holder.out" >&2
fi
sleep 1
read -r pss1 rss1 _ < <(kamailio_memory)
holder_status=0
wait "$HOLDER_PID" || holder_status=$?
HOLDER_PID=
[ "$MODE" = connect ] && tail -1 "$KAM_DIR/holder.out" >&2
sleep 1
read -r pss2 _ _ < <(kamailio_memory)

kam_errors=$(grep -a -c -E 'ERROR|CRITICAL|ALERT' "$KAM_DIR/kamailio.log" || true)
per() { awk -v a="$1" -v b="$2" -v n="$CONNS" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }'; }
printf 'bench=kamailio_ws_mem transport=%s mode=%s auth=%s conns=%s workers=%s tcp_workers=%s processes=%s shm_mb=%s pkg_mb=%s ' \
    "$SCHEME" "$MODE" "$([ "$NO_AUTH" = 1 ] && echo off || echo digest)" "$CONNS" "${WORKERS:-2}" "$([ "$WSS" = 1 ] && echo 1 || echo "${WORKERS:-2}")" "$nproc" \
    "${KAM_SHM_MB:-1024}" "${KAM_PKG_MB:-16}"
printf 'pss_before_kb=%s pss_hold_kb=%s pss_closed_kb=%s rss_sum_before_kb=%s rss_sum_hold_kb=%s ' \
    "$pss0" "$pss1" "$pss2" "$rss0" "$rss1"
printf 'bytes_per_conn_pss=%s bytes_per_conn_rss_sum=%s kamailio_errors=%s holder_status=%s loadavg=%s\n' \
    "$(per "$pss0" "$pss1")" "$(per "$rss0" "$rss1")" "$kam_errors" "$holder_status" \
    "$(cut -d' ' -f1 /proc/loadavg)"
[ "$holder_status" = 0 ]

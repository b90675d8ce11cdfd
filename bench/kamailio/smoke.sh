#!/usr/bin/env bash
# Smoke check of the benchmark targets of issue #5 before anything is timed:
# Kamailio with bench/kamailio/kamailio.cfg (digest on, then NO_AUTH) and
# bench/null_responder, each on free loopback ports, driven by SIPp over UDP
# (bench/sipp/*.xml) and by raw WebSocket/UDP user agents
# (bench/kamailio/ws_smoke.mjs). Stops only the processes it started, by PID.
# Exits 0 when every check passed.
#
#   bench/kamailio/smoke.sh
#   SMOKE_WSS=1 bench/kamailio/smoke.sh    # + WSS (WITH_WSS, TCP_WORKERS=1)
#
# Environment: BUILD (build directory with -DWSIP_BENCH=ON, default build;
# configured and null_responder built if needed), WORKERS (default 2),
# KEEP=1 (keep the temporary directory with the logs).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
BUILD=${BUILD:-build}
SMOKE_WSS=${SMOKE_WSS:-0}
KAM_DIR=$(mktemp -d)
SCEN=$REPO/bench/sipp
NR_PID=
SIPP_PIDS=()
# shellcheck source=bench/kamailio/lib.sh
. bench/kamailio/lib.sh

cleanup() {
    local p
    for p in "${SIPP_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    stop_pid "$NR_PID"
    finish
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in kamailio sipp node python3 ss; do
    command -v "$tool" >/dev/null || { echo "smoke: $tool missing (scripts/deps bench)" >&2; exit 2; }
done
[ -d node_modules/ws ] || { echo "smoke: node_modules/ws missing (npm ci)" >&2; exit 2; }

if ! grep -q '^WSIP_BENCH:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
    cmake -S . -B "$BUILD" -DWSIP_BENCH=ON >/dev/null
fi
targets=(--target null_responder)
[ "$SMOKE_WSS" = 1 ] && targets+=(--target wsip)
nice cmake --build "$BUILD" -j2 "${targets[@]}" >/dev/null

failures=0
check() { # check NAME COMMAND...: runs it, prints ok/FAIL with its output on failure
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        echo "ok   $name"
    else
        echo "FAIL $name"
        echo "$out" | sed 's/^/     /' | tail -40
        failures=$((failures + 1))
    fi
}

# ------------------------------------------------------------------ SIPp

# sipp_args NAME: the common options of one SIPp run (its own free ports,
# logs in KAM_DIR/NAME_*).
sipp_args() {
    echo -t u1 -i 127.0.0.1 -m 1 -timeout 15s -timeout_error -nostdin -key domain localhost \
        -mp "$(free_port)" -cp "$(free_port)" -trace_err -error_file "$KAM_DIR/$1_errors.log" \
        -trace_msg -message_file "$KAM_DIR/$1_messages.log"
}

sipp_log() {
    tail -c 3000 "$KAM_DIR/$1_messages.log" 2>/dev/null || true
    cat "$KAM_DIR/$1_errors.log" 2>/dev/null || true
}

# run_sipp NAME REMOTE PORT SCENARIO [sipp options]: one call, in the foreground.
run_sipp() {
    local name=$1 remote=$2 port=$3 scen=$4
    shift 4
    # shellcheck disable=SC2046
    if ! (cd "$KAM_DIR" && sipp "$remote" -sf "$SCEN/$scen" -p "$port" $(sipp_args "$name") "$@" >/dev/null 2>&1); then
        echo "sipp $scen failed"
        sipp_log "$name"
        return 1
    fi
}

# sipp_pair TAG REMOTE UAS UAC: registers carol from a SIPp port, runs the
# UAS scenario there in the background and the UAC (alice) from another port.
sipp_pair() {
    local tag=$1 remote=$2 uas=$3 uac=$4 port_b port_a uas_pid status=0
    port_b=$(free_port)
    port_a=$(free_port)
    run_sipp "$tag-register" "$remote" "$port_b" register.xml -inf "$KAM_DIR/carol.csv" || return 1
    # shellcheck disable=SC2046
    (cd "$KAM_DIR" && exec sipp "$remote" -sf "$SCEN/$uas" -p "$port_b" -s carol \
        $(sipp_args "$tag-uas") >/dev/null 2>&1) &
    uas_pid=$!
    SIPP_PIDS+=("$uas_pid")
    sleep 0.5
    if ! run_sipp "$tag-uac" "$remote" "$port_a" "$uac" -s carol -inf "$KAM_DIR/alice.csv"; then
        status=1
        kill -KILL "$uas_pid" 2>/dev/null || true
    fi
    if ! wait "$uas_pid"; then
        echo "sipp $uas failed"
        sipp_log "$tag-uas"
        status=1
    fi
    return $status
}

# sipp_challenged TAG: the SIPp logs of kamailio_run TAG show the challenges
# (the scenarios accept a 200 at once too).
sipp_challenged() {
    grep -q '^SIP/2.0 401' "$KAM_DIR/$1-msg-register_messages.log" &&
        grep -q '^SIP/2.0 407' "$KAM_DIR/$1-msg-uac_messages.log" &&
        grep -q '^SIP/2.0 407' "$KAM_DIR/$1-call-uac_messages.log"
}

# ------------------------------------------------------------------ setup

# Users of the digest run (not mallory: ws_smoke.mjs checks it is refused).
make_users "$KAM_DIR/db" secret alice bob carol
for u in alice carol; do
    printf 'SEQUENTIAL\n%s;[authentication username=%s password=secret]\n' "$u" "$u" >"$KAM_DIR/$u.csv"
done

kamailio_run() { # kamailio_run TAG AUTH(yes|no) [defines]
    local tag=$1 auth=() udp ws
    [ "$2" = yes ] && auth=(--auth)
    shift 2
    udp=$(free_port)
    ws=$(free_port)
    if ! start_kamailio "$KAM_DIR/kamailio-$tag.log" "$udp" "$ws" "$@"; then
        echo "FAIL kamailio ($tag) did not start"
        failures=$((failures + 1))
        return
    fi
    echo "---- kamailio $tag (pid $KAM_PID, udp $udp, ws $ws, $(echo "$KAM_CHILDREN" | wc -w) children)"
    check "SIPp UDP: REGISTER carol, MESSAGE alice -> carol (message_uac/uas)" \
        sipp_pair "$tag-msg" "127.0.0.1:$udp" message_uas.xml message_uac.xml
    check "SIPp UDP: call alice -> carol (call_uac/uas: INVITE 180 200 ACK BYE)" \
        sipp_pair "$tag-call" "127.0.0.1:$udp" call_uas.xml call_uac.xml
    if [ "${#auth[@]}" -gt 0 ]; then
        check "SIPp was challenged: 401 to REGISTER, 407 to MESSAGE and INVITE" sipp_challenged "$tag"
    fi
    check "WS + UDP user agents (ws_smoke.mjs ${auth[*]:-without --auth})" \
        node bench/kamailio/ws_smoke.mjs --target kamailio --ws "$ws" --udp "$udp" "${auth[@]}" \
        --log "$KAM_DIR/kamailio-$tag.log"
    if ! kill -0 "$KAM_PID" 2>/dev/null; then
        echo "FAIL kamailio ($tag) is gone"
        failures=$((failures + 1))
    fi
    stop_kamailio
}

kamailio_run digest yes -A "USERS_DB=\"text://$KAM_DIR/db\""
kamailio_run no-auth no -A NO_AUTH

# ------------------------------------------------------- null responder

nr_udp=$(free_port)
nr_ws=$(free_port)
"$BUILD/bench/null_responder" --udp "$nr_udp" --ws "$nr_ws" >"$KAM_DIR/null.out" 2>&1 &
NR_PID=$!
for _ in $(seq 50); do grep -q '^ready' "$KAM_DIR/null.out" && break; sleep 0.1; done
echo "---- null_responder (pid $NR_PID, udp $nr_udp, ws $nr_ws)"
null_sipp() { # REGISTER, MESSAGE and a call, each answered 200 by the responder itself
    local r=127.0.0.1:$nr_udp
    run_sipp null-register "$r" "$(free_port)" register.xml -inf "$KAM_DIR/carol.csv" &&
        run_sipp null-message "$r" "$(free_port)" message_uac.xml -s bob -inf "$KAM_DIR/alice.csv" &&
        run_sipp null-call "$r" "$(free_port)" call_uac.xml -s bob -inf "$KAM_DIR/alice.csv"
}
check "SIPp UDP: REGISTER, MESSAGE, call: 200 at once" null_sipp
check "WS + UDP user agents (ws_smoke.mjs --target null)" \
    node bench/kamailio/ws_smoke.mjs --target null --ws "$nr_ws" --udp "$nr_udp"
stop_pid "$NR_PID"
NR_PID=

# ---------------------------------------------------------------- WSS

if [ "$SMOKE_WSS" = 1 ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=localhost -keyout "$KAM_DIR/key.pem" -out "$KAM_DIR/cert.pem" 2>/dev/null
    udp=$(free_port)
    ws=$(free_port)
    wss=$(free_port)
    if start_kamailio "$KAM_DIR/kamailio-wss.log" "$udp" "$ws" -A NO_AUTH -A WITH_WSS -A TCP_WORKERS=1 \
        -A "WSS_PORT=$wss" -A "TLS_CERT=\"$KAM_DIR/cert.pem\"" -A "TLS_KEY=\"$KAM_DIR/key.pem\"" &&
        wait_tcp_port "$wss"; then
        echo "---- kamailio wss (pid $KAM_PID, wss $wss, TCP_WORKERS=1)"
        check "WSS: 100 connections, one OPTIONS each" \
            "$BUILD/wsip" bench connect --url "wss://127.0.0.1:$wss" --connections 100 --options --hold 1 --quiet
    else
        echo "FAIL kamailio (wss) did not start"
        failures=$((failures + 1))
    fi
    stop_kamailio
fi

if [ "$failures" -gt 0 ]; then
    echo "smoke: $failures check(s) failed"
    exit 1
fi
echo "smoke: all checks passed"

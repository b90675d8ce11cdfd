# shellcheck shell=bash
# Shared by bench/kamailio/smoke.sh and bench/kamailio/ws_mem.sh (sourced, bash):
# free loopback ports, the bench users table, starting Kamailio with
# bench/kamailio/kamailio.cfg in the foreground of a background job (its PID
# is the main process, which stops all its children on SIGTERM), stopping it
# by PID, and the memory of all its processes.
#
# Needs: KAM_DIR (a private temporary directory), REPO (the repository root).

KAM_CFG=${KAM_CFG:-$REPO/bench/kamailio/kamailio.cfg}
KAM_PID=
KAM_CHILDREN=

# free_port: a port number free on 127.0.0.1 for both TCP and UDP.
free_port() {
    python3 - <<'EOF'
import socket
for _ in range(50):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close()
        continue
    print(port)
    break
EOF
}

# make_users DIR PASSWORD NAME...: the db_text table DIR/users that the
# config loads into its htable (one row per user: name:0:0:password:0).
make_users() {
    local dir=$1 password=$2
    shift 2
    mkdir -p "$dir"
    {
        echo 'key_name(str) key_type(int) value_type(int) key_value(str) expires(int)'
        for u in "$@"; do echo "$u:0:0:$password:0"; done
    } >"$dir/users"
}

# make_numbered_users DIR PASSWORD PREFIX N: users PREFIX0 .. PREFIX(N-1).
make_numbered_users() {
    local dir=$1 password=$2 prefix=$3 n=$4
    mkdir -p "$dir"
    {
        echo 'key_name(str) key_type(int) value_type(int) key_value(str) expires(int)'
        awk -v p="$prefix" -v n="$n" -v pw="$password" 'BEGIN { for (i = 0; i < n; i++) printf "%s%d:0:0:%s:0\n", p, i, pw }'
    } >"$dir/users"
}

# start_kamailio LOG UDP_PORT WS_PORT [kamailio options, e.g. -A NO_AUTH]:
# starts Kamailio (shared memory KAM_SHM_MB, private KAM_PKG_MB per process,
# WORKERS receivers per transport) and waits until both ports listen.
start_kamailio() {
    local log=$1 udp=$2 ws=$3
    shift 3
    mkdir -p "$KAM_DIR/run"
    kamailio -DD -E -f "$KAM_CFG" -Y "$KAM_DIR/run" -w "$KAM_DIR" \
        -m "${KAM_SHM_MB:-1024}" -M "${KAM_PKG_MB:-16}" \
        -A "UDP_PORT=$udp" -A "WS_PORT=$ws" -A "WORKERS=${WORKERS:-2}" "$@" \
        >"$log" 2>&1 &
    KAM_PID=$!
    for _ in $(seq 100); do
        if ! kill -0 "$KAM_PID" 2>/dev/null; then
            echo "kamailio exited at start; its log:" >&2
            tail -30 "$log" >&2
            KAM_PID=
            return 1
        fi
        if ss -Hlnu "sport = :$udp" | grep -q . && ss -Hlnt "sport = :$ws" | grep -q .; then
            sleep 0.3 # the workers are forked after the sockets are bound
            KAM_CHILDREN=$(kamailio_children)
            return 0
        fi
        sleep 0.1
    done
    echo "kamailio did not listen on udp $udp and tcp $ws within 10 s" >&2
    return 1
}

# wait_tcp_port PORT: true once something listens on 127.0.0.1:PORT (10 s).
wait_tcp_port() {
    for _ in $(seq 100); do
        ss -Hlnt "sport = :$1" | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

# The PIDs of the main process's children (by parent PID).
kamailio_children() {
    cat /proc/"$KAM_PID"/task/*/children 2>/dev/null || true
}

# stop_kamailio: SIGTERM to the main process, which ends its children; after
# 10 s, SIGKILL to it and to every child recorded at start.
stop_kamailio() {
    [ -n "$KAM_PID" ] || return 0
    kill -TERM "$KAM_PID" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$KAM_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$KAM_PID" 2>/dev/null; then
        echo "kamailio $KAM_PID still running 10 s after SIGTERM: SIGKILL" >&2
        # shellcheck disable=SC2086 # a list of PIDs
        kill -KILL "$KAM_PID" $KAM_CHILDREN 2>/dev/null || true
    fi
    wait "$KAM_PID" 2>/dev/null || true
    KAM_PID=
    KAM_CHILDREN=
}

# stop_pid PID: SIGTERM to one process this script started, then reaps it.
stop_pid() {
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# finish: stops Kamailio; removes KAM_DIR, or keeps it with KEEP=1 (logs).
finish() {
    stop_kamailio
    if [ "${KEEP:-0}" = 1 ]; then echo "logs kept in $KAM_DIR" >&2; else rm -rf "$KAM_DIR"; fi
}

# kamailio_memory: "PSS_KB RSS_KB PROCESSES" summed over the main process and
# its children (/proc/PID/smaps_rollup). PSS splits each shared page between
# the processes that map it, so the sum counts the shared memory pool once;
# the RSS sum counts it once per process that touched it.
kamailio_memory() {
    local pss=0 rss=0 n=0 p a b
    for p in "$KAM_PID" $(kamailio_children); do
        read -r a b < <(awk '/^Pss:/ {p = $2} /^Rss:/ {r = $2} END {print p + 0, r + 0}' \
            /proc/"$p"/smaps_rollup 2>/dev/null || echo "0 0")
        pss=$((pss + a))
        rss=$((rss + b))
        n=$((n + 1))
    done
    echo "$pss $rss $n"
}

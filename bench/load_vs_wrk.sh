#!/usr/bin/env bash
# Measures `changeover load` against wrk, side by side on this machine (not a test, not in CI):
#
#  1. requests/s against the same server (the release `hello` example), keep-alive and one
#     request per connection (wrk with `Connection: close`), alternating A B A B so drift on a
#     shared machine hits both; prints each pair and the ratio ours / wrk;
#  2. failed requests while nginx reloads under load: `changeover load --during 'nginx -s
#     reload' --every 200ms` against wrk plus a shell loop doing the same reloads, alternating;
#     prints both counts (wrk: socket errors + non-2xx) and the reloads each run saw.
#
#   bench/load_vs_wrk.sh [--rounds N] [--seconds S] [--connections C]
#
# Installs what it needs (wrk, nginx, python3 from Debian), builds the release binaries, uses
# only 127.0.0.1, bounds every step with `timeout`, and ends every process it started, by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ROUNDS=3
SECONDS_PER_RUN=10
CONNECTIONS=64
EVERY_MS=200
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift 2 ;;
        --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        *) echo "usage: $0 [--rounds N] [--seconds S] [--connections C]" >&2; exit 2 ;;
    esac
done
# Every load run is bounded by this (the run itself, plus start-up, drain and the last reload).
RUN_BOUND=$((SECONDS_PER_RUN + 30))

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    timeout 600 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

echo "== building release binaries" >&2
timeout 1800 cargo build --release -q -p changeover-cli --bin changeover
timeout 1800 cargo build --release -q -p changeover-tests --examples
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CHANGEOVER=$TARGET/release/changeover
HELLO=$TARGET/release/examples/hello

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        # Already gone is fine: that is the goal.
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 10 s) until 127.0.0.1:$1 accepts connections.
wait_listening() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$1 after 10s" >&2
    return 1
}

# `changeover load ... --json` -> "rps failed errors-by-kind" (errors: nonzero kinds).
ours() {
    timeout -k 5 "$RUN_BOUND" "$CHANGEOVER" load "$@" --json >"$WORK/ours.json" || [ $? -eq 1 ]
    python3 - "$WORK/ours.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
kinds = ",".join(f"{k}={n}" for k, n in r["errors"].items() if n) or "-"
runs = r["during"]["runs"] if r.get("during") else 0
print(f'{r["rps"]:.0f} {r["failed"]} {kinds} {runs}')
EOF
}

# wrk output -> "rps errors detail".
wrk_figures() {
    python3 -c '
import re, sys
out = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
parts = dict(zip(["connect", "read", "write", "timeout"], map(int, sock.groups()))) if sock else {}
parts["non2xx"] = int(non2xx.group(1)) if non2xx else 0
total = sum(parts.values())
detail = ",".join(f"{k}={v}" for k, v in parts.items() if v) or "-"
print(f"{rps:.0f} {total} {detail}")
'
}

wrk_run() {
    timeout -k 5 "$RUN_BOUND" wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" "$@" | wrk_figures
}

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

echo "machine: $(nproc) cores, $(uname -sr); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'); $("$NGINX" -v 2>&1 | sed 's/.*: //')"
echo "load: $CONNECTIONS connections, ${SECONDS_PER_RUN}s per run, $ROUNDS rounds, wrk -t2"
echo

# ---- 1. requests/s against hello ----
PORT=$(free_port)
"$HELLO" --listen "127.0.0.1:$PORT" 2>"$WORK/hello.log" &
HELLO_PID=$!
PIDS+=("$HELLO_PID")
wait_listening "$PORT"
URL="http://127.0.0.1:$PORT/"

echo "== 1. requests/s against target/release/examples/hello (127.0.0.1:$PORT)"
printf '%-22s %-5s %12s %12s %7s\n' mode round "ours req/s" "wrk req/s" ratio
for mode in keep-alive close; do
    ours_flags=(); wrk_flags=()
    if [ "$mode" = close ]; then ours_flags=(--no-keepalive); wrk_flags=(-H 'Connection: close'); fi
    sum_ratio=0
    for round in $(seq "$ROUNDS"); do
        read -r a_rps a_failed _ _ < <(ours "$URL" -c "$CONNECTIONS" -d "${SECONDS_PER_RUN}s" "${ours_flags[@]}")
        read -r b_rps b_failed _ < <(wrk_run "${wrk_flags[@]}" "$URL")
        r=$(ratio "$a_rps" "$b_rps")
        sum_ratio=$(python3 -c "print($sum_ratio + $r)")
        label=$([ "$mode" = close ] && echo "one request/conn" || echo "keep-alive")
        printf '%-22s %-5s %12s %12s %7s   (failed: ours %s, wrk %s)\n' "$label" "$round" "$a_rps" "$b_rps" "$r" "$a_failed" "$b_failed"
    done
    printf '%-22s %-5s %12s %12s %7s\n' "" mean "" "" "$(python3 -c "print(f'{$sum_ratio / $ROUNDS:.2f}')")"
done
kill -TERM "$HELLO_PID"
wait "$HELLO_PID" 2>/dev/null || true
echo

# ---- 2. failed requests while nginx reloads ----
NPORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
CONF=$WORK/nginx/nginx.conf
cat >"$CONF" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$NPORT;
        location / { return 200 "hello\n"; }
    }
}
EOF
"$NGINX" -c "$CONF" -p "$WORK/nginx" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_listening "$NPORT"
NURL="http://127.0.0.1:$NPORT/"
RELOAD="$NGINX -c $CONF -p $WORK/nginx -s reload 2>/dev/null"
RELOADS=$(( (SECONDS_PER_RUN * 1000 - 1) / EVERY_MS ))
EVERY_S=$(python3 -c "print($EVERY_MS / 1000)")

echo "== 2. failed requests while nginx reloads every ${EVERY_MS}ms (nginx on 127.0.0.1:$NPORT, 2 workers)"
printf '%-18s %-5s %8s %8s %10s  %-28s %s\n' mode round tool reloads failed "by kind" "req/s"
for mode in keep-alive close; do
    ours_flags=(); wrk_flags=()
    if [ "$mode" = close ]; then ours_flags=(--no-keepalive); wrk_flags=(-H 'Connection: close'); fi
    tot_a=0; tot_b=0; rel_a=0; rel_b=0
    for round in $(seq "$ROUNDS"); do
        read -r a_rps a_failed a_kinds a_runs < <(ours "$NURL" -c "$CONNECTIONS" -d "${SECONDS_PER_RUN}s" \
            --during "$RELOAD" --every "${EVERY_MS}ms" "${ours_flags[@]}")
        # wrk, with a shell loop doing the same reloads at the same interval.
        (
            n=0
            for _ in $(seq "$RELOADS"); do
                sleep "$EVERY_S"
                sh -c "$RELOAD" && n=$((n + 1))
            done
            echo "$n" >"$WORK/reloads"
        ) &
        LOOP_PID=$!
        PIDS+=("$LOOP_PID")
        read -r b_rps b_failed b_kinds < <(wrk_run "${wrk_flags[@]}" "$NURL")
        timeout 30 tail --pid="$LOOP_PID" -f /dev/null || kill -TERM "$LOOP_PID" 2>/dev/null || true
        b_runs=$(cat "$WORK/reloads" 2>/dev/null || echo "?")
        printf '%-18s %-5s %8s %8s %10s  %-28s %s\n' "$mode" "$round" ours "$a_runs" "$a_failed" "$a_kinds" "$a_rps"
        printf '%-18s %-5s %8s %8s %10s  %-28s %s\n' "" "" wrk "$b_runs" "$b_failed" "$b_kinds" "$b_rps"
        tot_a=$((tot_a + a_failed)); tot_b=$((tot_b + b_failed))
        rel_a=$((rel_a + a_runs)); [ "$b_runs" = "?" ] || rel_b=$((rel_b + b_runs))
    done
    printf '%-18s %-5s %8s %8s %10s\n' "" total ours "$rel_a" "$tot_a"
    printf '%-18s %-5s %8s %8s %10s\n' "" "" wrk "$rel_b" "$tot_b"
done
echo
echo "ours: changeover load URL -c $CONNECTIONS -d ${SECONDS_PER_RUN}s [--no-keepalive] --during '<nginx -s reload>' --every ${EVERY_MS}ms --json"
echo "wrk:  wrk -t2 -c$CONNECTIONS -d${SECONDS_PER_RUN}s [-H 'Connection: close'] URL, with a loop: sleep 0.2; nginx -s reload"

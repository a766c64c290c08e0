#!/usr/bin/env bash
# Counts the instructions the serve path spends per request, independent of
# machine load: runs the hello example under callgrind, sends N sequential
# GETs over one keep-alive connection, stops it with SIGTERM, and subtracts a
# run of 1 GET (start-up and shut-down cancel out).
#
# usage: bench/serve_instructions.sh [HELLO_BINARY] [N]
#   (build it first: cargo build --release -p changeover-tests --example hello)
set -euo pipefail
bin=${1:-target/release/examples/hello}
n=${2:-3000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # count of GETs -> total instructions
    local count=$1 port pid
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # One worker thread: the count does not depend on how threads interleave.
    TOKIO_WORKER_THREADS=1 RUST_LOG=info valgrind --tool=callgrind \
        --callgrind-out-file="$work/cg.$count" \
        "$bin" --listen "127.0.0.1:$port" 2>"$work/log.$count" &
    pid=$!
    python3 - "$port" "$count" "$work/log.$count" <<'PY'
import http.client, sys, time
port, count, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + 60
while " ready pid=" not in open(log).read():
    if time.monotonic() > deadline:
        sys.exit("server not ready within 60s:\n" + open(log).read())
    time.sleep(0.05)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for _ in range(count):
    c.request("GET", "/")
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and body.startswith(b"hello from"), (r.status, body)
c.close()
PY
    kill -TERM "$pid"
    wait "$pid" || true
    awk '/^summary:/ {print $2}' "$work/cg.$count"
}

one=$(run 1)
many=$(run "$n")
echo "instructions: 1 GET $one, $n GETs $many"
echo "per request: $(( (many - one) / (n - 1) ))"

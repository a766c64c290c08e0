#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for a bounded time each, and says what it
# found. Exit status: 0 nothing found, 1 a target crashed (its input is in
# fuzz/artifacts/TARGET/), 2 bad usage, 3 the toolchain cannot fuzz here (skipped, said why).
#
#   fuzz/run.sh                      # every target, 60 s each
#   fuzz/run.sh --seconds 300 notify duration
#   fuzz/run.sh --seconds 5 --dev    # CI smoke: debug build (quicker to compile)
set -euo pipefail
cd "$(dirname "$0")"

seconds=60
profile=()
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
        --dev) profile=(--dev); shift ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz/run.sh: unknown option $1; see --help" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
case "$seconds" in
    ''|*[!0-9]*) echo "fuzz/run.sh: --seconds $seconds is not a whole number of seconds" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: skipped: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
    exit 3
fi
# libFuzzer needs -Z flags: a nightly toolchain, or a stable one told to allow them.
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi
known=$(cargo fuzz list)
for t in ${targets[@]+"${targets[@]}"}; do
    if ! grep -qx "$t" <<<"$known"; then
        echo "fuzz/run.sh: no target $t; the targets are: $(echo $known)" >&2
        exit 2
    fi
done
# One build for every target (cargo fuzz build builds one target, or all of them).
if ! cargo fuzz build ${profile[@]+"${profile[@]}"} >build.log 2>&1; then
    echo "fuzz/run.sh: skipped: the fuzz targets do not build with this toolchain (sanitizer support, a C++ compiler for libFuzzer?); see fuzz/build.log:" >&2
    tail -5 build.log >&2
    exit 3
fi
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets <<<"$known"
fi

# Seed inputs: what the parsers really see.
seed() {
    local dir="corpus/$1"
    mkdir -p "$dir"
    case "$1" in
        notify)
            printf 'READY=1' >"$dir/ready"
            printf 'RELOADING=1\nMONOTONIC_USEC=123456\n' >"$dir/reloading"
            printf 'STATUS=serving on :8080\nMAINPID=42\nREADY=1\n' >"$dir/status"
            printf '@changeover/run/1/0/0000abcd' >"$dir/abstract" ;;
        listen_env)
            printf '4242\0002\000http:admin' >"$dir/two"
            printf '4242\0001' >"$dir/one" ;;
        duration)
            for d in 0 500ms 5s 1m30s 2h 1.5s 1m30s500ms; do printf '%s' "$d" >"$dir/$d"; done ;;
        address)
            for a in 127.0.0.1:8080 '[::1]:0' unix:/run/app.sock 0.0.0.0:80; do
                printf '%s' "$a" >"$dir/$(printf '%s' "$a" | tr -c 'a-z0-9' _)"
            done ;;
        signal)
            for s in TERM SIGQUIT usr2 1 HUP; do printf '%s' "$s" >"$dir/$s"; done ;;
        http_response)
            printf 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 204 No Content\r\n\r\n' >"$dir/two"
            printf 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n\r\n' >"$dir/chunked"
            printf 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nuntil eof' >"$dir/continue" ;;
        lint)
            cp ../crates/changeover-k8s/tests/fixtures/*/*.yaml "$dir/" 2>/dev/null || true ;;
    esac
}

found=0
for t in "${targets[@]}"; do
    seed "$t"
    log="run-$t.log"
    echo "== $t: ${seconds}s"
    if cargo fuzz run ${profile[@]+"${profile[@]}"} "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -max_len=4096 -print_final_stats=1 \
        >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$log" | tr '\n' ' '
        echo "corpus $(find "corpus/$t" -type f | wc -l) inputs: nothing found"
    else
        found=1
        echo "$t: FOUND a failure; the input is in fuzz/artifacts/$t/, the report in fuzz/$log:"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -8
    fi
done
exit "$found"

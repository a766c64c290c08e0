#!/usr/bin/env python3
"""A real gRPC client (grpcio) for the tests of examples/grpc.

  grpc_check.py load  --target HOST:PORT [--channels 16] [--max-seconds 120] [--max-rpcs 2000000]
  grpc_check.py probe --target HOST:PORT [--max-seconds 60]

load: each channel (its own HTTP/2 connection) calls grpc.health.v1.Health/Check
in a loop, one RPC at a time, with grpcio's default behaviour (no retry
policy; grpcio's own transparent retry of RPCs the server never saw is part
of what a real client does). Every RPC that ends in an error is a failure.
Progress goes to stdout as `progress ok=N not_serving=N failed=N` lines; a
line `mark` on stdin records each channel's count, and end of stdin (or a
bound) ends the run with one line `result {json}`.

probe: answers commands on stdin, one line each, on one long-lived channel:
`check` (Check on it), `check-new` (Check on a fresh channel, so a new
connection), `watch` (starts Watch on it; each message is printed as `watch
STATUS`, its end as `watch-end CODE`). End of stdin ends it.

Exit status: 0 when it ran (the counts say how it went), 2 on bad usage.
"""

import argparse
import json
import sys
import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

RPC_TIMEOUT = 5.0
PROGRESS_EVERY = 200
MAX_FAILURES_KEPT = 50

out_lock = threading.Lock()


def say(line):
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def status_name(resp):
    return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


def stdin_lines():
    for line in sys.stdin:
        yield line.strip()


class Counts:
    def __init__(self, channels):
        self.lock = threading.Lock()
        self.ok = 0
        self.not_serving = 0
        self.failed = 0
        self.failures = []
        self.per_channel = [0] * channels
        self.marked = None

    def total(self):
        return self.ok + self.not_serving + self.failed

    def record(self, channel, outcome, detail=None):
        with self.lock:
            if outcome == "ok":
                self.ok += 1
                self.per_channel[channel] += 1
            elif outcome == "not_serving":
                self.not_serving += 1
            else:
                self.failed += 1
                if len(self.failures) < MAX_FAILURES_KEPT:
                    self.failures.append(f"channel {channel}: {detail}")
            total = self.total()
            line = None
            if total % PROGRESS_EVERY == 0 or outcome == "failed":
                line = f"progress ok={self.ok} not_serving={self.not_serving} failed={self.failed}"
        if line:
            say(line)
        return total

    def mark(self):
        with self.lock:
            self.marked = list(self.per_channel)


def load(args):
    counts = Counts(args.channels)
    stop = threading.Event()
    started = time.monotonic()

    def worker(i):
        channel = grpc.insecure_channel(args.target)
        stub = health_pb2_grpc.HealthStub(channel)
        req = health_pb2.HealthCheckRequest(service="")
        try:
            while not stop.is_set():
                if time.monotonic() - started > args.max_seconds:
                    break
                try:
                    resp = stub.Check(req, timeout=RPC_TIMEOUT)
                    outcome = "ok" if resp.status == health_pb2.HealthCheckResponse.SERVING else "not_serving"
                    total = counts.record(i, outcome)
                except grpc.RpcError as e:
                    total = counts.record(i, "failed", f"{e.code().name}: {e.details()}")
                if total >= args.max_rpcs:
                    break
        finally:
            channel.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.channels)]
    for t in threads:
        t.start()

    def commands():
        for line in stdin_lines():
            if line == "mark":
                counts.mark()
                say("marked")
        stop.set()

    threading.Thread(target=commands, daemon=True).start()
    for t in threads:
        # Each RPC is bounded by RPC_TIMEOUT and the loop by --max-seconds.
        t.join(args.max_seconds + 2 * RPC_TIMEOUT)
    stop.set()
    with counts.lock:
        since = None
        if counts.marked is not None:
            since = [n - m for n, m in zip(counts.per_channel, counts.marked)]
        result = {
            "channels": args.channels,
            "rpcs": counts.total(),
            "ok": counts.ok,
            "not_serving": counts.not_serving,
            "failed": counts.failed,
            "failures": counts.failures,
            "ok_per_channel": counts.per_channel,
            "ok_per_channel_since_mark": since,
            "seconds": round(time.monotonic() - started, 3),
            "bounded": any(t.is_alive() for t in threads) or counts.total() >= args.max_rpcs
            or time.monotonic() - started > args.max_seconds,
        }
    say("result " + json.dumps(result))


def probe(args):
    channel = grpc.insecure_channel(args.target)
    stub = health_pb2_grpc.HealthStub(channel)
    req = health_pb2.HealthCheckRequest(service="")
    started = time.monotonic()

    def check(on):
        try:
            return status_name(on.Check(req, timeout=RPC_TIMEOUT))
        except grpc.RpcError as e:
            return f"error {e.code().name}: {e.details()}"

    def watch():
        try:
            for resp in stub.Watch(req, timeout=args.max_seconds):
                say("watch " + status_name(resp))
            say("watch-end OK")
        except grpc.RpcError as e:
            say(f"watch-end {e.code().name} {e.details()}")

    for line in stdin_lines():
        if time.monotonic() - started > args.max_seconds:
            break
        if line == "check":
            say("check " + check(stub))
        elif line == "check-new":
            fresh = grpc.insecure_channel(args.target)
            say("check-new " + check(health_pb2_grpc.HealthStub(fresh)))
            fresh.close()
        elif line == "watch":
            threading.Thread(target=watch, daemon=True).start()
        elif line:
            say(f"unknown command {line!r}")
    channel.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    lp = sub.add_parser("load")
    lp.add_argument("--target", required=True)
    lp.add_argument("--channels", type=int, default=16)
    lp.add_argument("--max-seconds", type=float, default=120.0)
    lp.add_argument("--max-rpcs", type=int, default=2_000_000)
    pp = sub.add_parser("probe")
    pp.add_argument("--target", required=True)
    pp.add_argument("--max-seconds", type=float, default=60.0)
    args = p.parse_args()
    if args.mode == "load":
        load(args)
    else:
        probe(args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Pooled HTTP clients the way applications use them: Python `requests`
(urllib3), no retries, each thread with its own pooled keep-alive
connection, idle for a random gap between requests.

  pooled.py --url URL [--threads 48] [--max-gap 2.0] [--max-requests 100000] [--max-seconds 120]

Each of --threads threads owns a `requests.Session` whose pool holds one
connection, and loops: wait a gap uniform in [0, --max-gap] seconds, GET
URL (10 s timeout). A request fails when it raises (urllib3 does not retry a
request written into a connection the server closed: "Remote end closed
connection without response") or answers other than 200. Progress goes to
stdout as `progress ok=N failed=N` lines; end of stdin, --max-requests or
--max-seconds ends the run with one line `result {json}`: requests, ok,
failed, the failure messages, and whether a bound ended it.
"""

import argparse
import json
import random
import sys
import threading
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

MAX_FAILURES_KEPT = 100
PROGRESS_EVERY = 20


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--threads", type=int, default=48)
    p.add_argument("--max-gap", type=float, default=2.0)
    p.add_argument("--max-requests", type=int, default=100_000)
    p.add_argument("--max-seconds", type=float, default=120.0)
    args = p.parse_args()

    lock = threading.Lock()
    counts = {"requests": 0, "ok": 0, "failed": 0}
    failures = []
    stop = threading.Event()
    bounded = threading.Event()
    started = time.monotonic()

    def say(line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def worker(seed):
        rng = random.Random(seed)
        session = requests.Session()
        # One pooled connection, and no retry of any kind.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1,
                              max_retries=Retry(total=0, connect=0, read=0, redirect=0, status=0, other=0))
        session.mount("http://", adapter)
        try:
            while True:
                if stop.wait(rng.uniform(0.0, args.max_gap)):
                    return
                with lock:
                    if counts["requests"] >= args.max_requests or time.monotonic() - started > args.max_seconds:
                        bounded.set()
                        return
                    counts["requests"] += 1
                try:
                    r = session.get(args.url, timeout=10)
                    r.content
                    failed = None if r.status_code == 200 else f"status {r.status_code}"
                except requests.RequestException as e:
                    failed = f"{type(e).__name__}: {e}"
                with lock:
                    if failed is None:
                        counts["ok"] += 1
                    else:
                        counts["failed"] += 1
                        if len(failures) < MAX_FAILURES_KEPT:
                            failures.append(failed)
                    done = counts["ok"] + counts["failed"]
                    line = None
                    if done % PROGRESS_EVERY == 0 or failed is not None:
                        line = f"progress ok={counts['ok']} failed={counts['failed']}"
                    if line:
                        say(line)
        finally:
            session.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.threads)]
    for t in threads:
        t.start()

    def watch_stdin():
        for _ in sys.stdin:
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    for t in threads:
        t.join(args.max_seconds + args.max_gap + 15)
    stop.set()
    with lock:
        result = dict(counts)
        result["failures"] = failures
        result["threads"] = args.threads
        result["seconds"] = round(time.monotonic() - started, 3)
        result["bounded"] = bounded.is_set()
    say("result " + json.dumps(result))


if __name__ == "__main__":
    main()

"""Load driver of scripts/bench-serve-embeddings: the same requests against two OpenAI-compatible
embeddings servers, rounds alternating A B B A so both see the same machine load.

For each scenario (concurrency C, inputs per request K, words per input W) it sends N requests
from C threads, each with its own keep-alive connection, and reports requests/s and inputs/s
(wall), p50/p99 latency, errors, and each server's RSS (VmRSS after, VmHWM peak) from /proc.
Every response is checked (one 384-float vector per input); any error is counted and shown.
Prints one table and the ratios of the first server to the second; --json writes the raw rows.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

WORDS = ("the of and to in is was for on that with as by at from are this be or an which it not "
         "have has but had were their all one can its more also been other into when would new first "
         "index vector search document chunk embedding model server query backup policy report "
         "budget release security migration inventory handbook quarterly revenue customer support "
         "network storage cluster replica shard latency throughput memory thread request response").split()


def texts(count: int, words: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "." for _ in range(count)]


def rss_kb(pid: int) -> tuple[int, int]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def run(url: str, concurrency: int, requests_total: int, per_request: int, words: int, model: str) -> dict:
    corpus = texts(max(512, per_request * 8), words, seed=words * 1000 + per_request)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(requests_total))
    local = threading.local()

    def one(_):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            batch = [corpus[(n * per_request + j) % len(corpus)] for j in range(per_request)]
            t0 = time.perf_counter()
            try:
                r = session.post(url + "/embeddings", json={"model": model, "input": batch}, timeout=300)
                ok = r.status_code == 200 and len(r.json()["data"]) == per_request \
                    and all(len(d["embedding"]) == 384 for d in r.json()["data"])
                err = None if ok else f"HTTP {r.status_code}: {r.text[:200]}"
            except requests.RequestException as e:
                err = repr(e)
            dt = time.perf_counter() - t0
            with lock:
                if err:
                    errors.append(err)
                else:
                    latencies.append(dt)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(concurrency)))
    wall = time.perf_counter() - t0
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")
    return {"wall_s": wall, "requests": len(latencies), "errors": len(errors), "first_error": errors[0] if errors else None,
            "rps": len(latencies) / wall, "inputs_per_s": len(latencies) * per_request / wall,
            "p50_ms": pct(0.50) * 1000, "p99_ms": pct(0.99) * 1000}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--a", required=True, help="NAME=URL=PID of the first server (the one measured)")
    p.add_argument("--b", required=True, help="NAME=URL=PID of the baseline")
    p.add_argument("--scenario", action="append", required=True, help="C:N:K:W concurrency, requests, inputs per request, words per input")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--json")
    args = p.parse_args()
    servers = []
    for spec in (args.a, args.b):
        name, url, pid = spec.split("=")
        servers.append((name, url, int(pid)))
    rows = []
    for spec in args.scenario:
        c, n, k, w = map(int, spec.split(":"))
        # warm-up, then A B B A
        for _, url, _ in servers:
            run(url, min(c, 4), min(n, 8), k, w, args.model)
        results = {name: [] for name, _, _ in servers}
        for index in (0, 1, 1, 0):
            name, url, pid = servers[index]
            r = run(url, c, n, k, w, args.model)
            r["rss_mb"], r["peak_rss_mb"] = (v / 1024 for v in rss_kb(pid))
            results[name].append(r)
            print(f"  {spec} {name}: {r['rps']:.1f} req/s, p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, "
                  f"{r['errors']} errors, RSS {r['rss_mb']:.0f} MB", flush=True)
        merged = {}
        for name, rs in results.items():
            merged[name] = {
                "rps": statistics.mean(r["rps"] for r in rs),
                "inputs_per_s": statistics.mean(r["inputs_per_s"] for r in rs),
                "p50_ms": statistics.mean(r["p50_ms"] for r in rs),
                "p99_ms": statistics.mean(r["p99_ms"] for r in rs),
                "errors": sum(r["errors"] for r in rs),
                "first_error": next((r["first_error"] for r in rs if r["first_error"]), None),
                "rss_mb": rs[-1]["rss_mb"], "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            }
        rows.append({"scenario": {"concurrency": c, "requests": n, "inputs_per_request": k, "words_per_input": w}, **merged})

    a, b = servers[0][0], servers[1][0]
    print()
    print(f"| concurrency | inputs/request | words/input | {a}: req/s | p50 | p99 | peak RSS | {b}: req/s | p50 | p99 | peak RSS | req/s ratio | p99 ratio | memory ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        s, x, y = row["scenario"], row[a], row[b]
        print(f"| {s['concurrency']} | {s['inputs_per_request']} | {s['words_per_input']} "
              f"| {x['rps']:.1f} | {x['p50_ms']:.0f} ms | {x['p99_ms']:.0f} ms | {x['peak_rss_mb']:.0f} MB "
              f"| {y['rps']:.1f} | {y['p50_ms']:.0f} ms | {y['p99_ms']:.0f} ms | {y['peak_rss_mb']:.0f} MB "
              f"| {x['rps'] / y['rps']:.2f}× | {x['p99_ms'] / y['p99_ms']:.2f}× | {x['peak_rss_mb'] / y['peak_rss_mb']:.2f}× |")
    for row in rows:
        for name in (a, b):
            if row[name]["errors"]:
                print(f"ERRORS {name} {row['scenario']}: {row[name]['errors']}, first: {row[name]['first_error']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()

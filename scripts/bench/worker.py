"""Driver of scripts/bench-worker (issue #4/#7): start-up time and idle RSS of `ingest serve`, then
N concurrent `components/execute` calls of `/ingest` (small Markdown documents, base64 inline)
through HAProxy to three replicas: errors, throughput, p50/p99 latency, RSS per replica before,
peak (VmHWM) and after. Prints every figure, goals with PASS/MISS; exit 1 on a MISS or an error.

    python scripts/bench/worker.py --bin BIN --docling URL --opensearch URL --embeddings URL/v1
                                   [--calls 200] [--starts 5] [--run-dir DIR] [--json FILE]
"""
from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "Tests" / "live"))
from worker_support import memory_kib, peak_rss_kib, rss_kib, spawn_worker, start_cluster, stop_process, wait_healthy  # noqa: E402

STARTUP_GOAL_MS = 100
IDLE_RSS_GOAL_MB = 30


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--docling", required=True)
    ap.add_argument("--opensearch", required=True)
    ap.add_argument("--embeddings", required=True)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    run_dir = Path(args.run_dir) if args.run_dir else work
    port = args.opensearch.rsplit(":", 1)[-1].split("/")[0]
    env = {
        "DOCLING_SERVE_URL": args.docling, "OPENSEARCH_HOST": args.opensearch, "OPENSEARCH_PORT": port,
        "OPENAI_BASE_URL": args.embeddings, "OPENAI_API_KEY": "unused", "EMBEDDING_MODEL": args.model,
        "DOCLING_CONVERT_OPTIONS": json.dumps({"do_ocr": False, "do_table_structure": False}),
    }
    binary = Path(args.bin)
    figures: dict = {"binary": str(binary), "calls": args.calls}

    # 1. Start-up (spawn -> first 200 from /health) and idle RSS, over a few fresh processes.
    starts, idle = [], []
    for i in range(args.starts):
        w = spawn_worker(binary, f"b{i}", work, env)
        try:
            wait_healthy(w, poll=0.002)
            starts.append(w.healthy_after * 1000)
            time.sleep(2)  # idle: the dependency monitor has run once or twice
            idle.append({k: v / 1024 for k, v in memory_kib(w.proc.pid).items()})
        finally:
            stop_process(w.proc)
    figures["startup_ms"] = {"min": round(min(starts), 1), "median": round(statistics.median(starts), 1), "all": [round(s, 1) for s in starts]}
    figures["idle_rss_mb"] = {"median": round(statistics.median(m["VmRSS"] for m in idle), 1),
                              "max": round(max(m["VmRSS"] for m in idle), 1),
                              **{k.lower(): round(statistics.median(m[k] for m in idle), 1) for k in ("RssAnon", "RssFile", "Pss")}}

    # 2. N concurrent executes through HAProxy to three replicas.
    index = f"bench-worker-{uuid.uuid4().hex[:6]}"
    cluster = start_cluster(binary, env, work, run_dir, f"bench-worker-{uuid.uuid4().hex[:4]}", stepflow=False)
    try:
        md = "\n\n".join(f"## Section {s}\n\nThe worker ingests small notes; this is paragraph {s} of a short document "
                         "about throughput, latency and memory under concurrent load." for s in range(6))

        def call(i: int, session_local=threading.local()) -> tuple[float, str | None, int]:
            s = getattr(session_local, "s", None) or requests.Session()
            session_local.s = s
            doc = f"# Note {i} {uuid.uuid4().hex}\n\n{md}\n"
            body = {"jsonrpc": "2.0", "id": f"bench-{i}", "method": "components/execute",
                    "params": {"component": "/ingest", "input": {
                        "source": {"base64": base64.b64encode(doc.encode()).decode(), "filename": f"note-{i}.md"},
                        "index": index}}}
            t0 = time.monotonic()
            try:
                r = s.post(cluster.balancer + "/", json=body, timeout=900)
                elapsed = time.monotonic() - t0
                if r.status_code != 200:
                    return elapsed, f"HTTP {r.status_code}: {r.text[:200]}", 0
                reply = r.json()
                if "error" in reply:
                    return elapsed, json.dumps(reply["error"])[:300], 0
                return elapsed, None, reply["result"]["output"]["chunks"]
            except Exception as e:  # noqa: BLE001 - every failure counts as an error
                return time.monotonic() - t0, repr(e)[:300], 0

        for i in range(6):  # warm-up: connections, index creation, model load
            call(-1 - i)
        before = {r.name: rss_kib(r.proc.pid) / 1024 for r in cluster.replicas}
        samples = {r.name: [] for r in cluster.replicas}
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                for r in cluster.replicas:
                    try:
                        samples[r.name].append(rss_kib(r.proc.pid) / 1024)
                    except (OSError, RuntimeError):
                        pass
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.calls) as pool:
            results = list(pool.map(call, range(args.calls)))
        wall = time.monotonic() - t0
        stop.set()
        sampler.join()
        time.sleep(1)
        after = {r.name: rss_kib(r.proc.pid) / 1024 for r in cluster.replicas}
        peak = {r.name: peak_rss_kib(r.proc.pid) / 1024 for r in cluster.replicas}
        served = cluster.executions_per_replica()
    finally:
        cluster.stop()

    latencies = sorted(r[0] for r in results)
    errors = [r[1] for r in results if r[1]]
    figures["load"] = {
        "wall_s": round(wall, 2), "docs_per_s": round(args.calls / wall, 2),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000), "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000),
        "max_ms": round(latencies[-1] * 1000), "errors": len(errors), "chunks": sum(r[2] for r in results),
        "executes_per_replica": served,
        "rss_mb": {n: {"before": round(before[n], 1), "during_max": round(max(samples[n] or [0]), 1), "after": round(after[n], 1),
                       "peak_vmhwm": round(peak[n], 1)} for n in before},
    }

    ok = True

    def goal(name: str, value: float, limit: float, unit: str) -> None:
        nonlocal ok
        passed = value < limit
        ok &= passed
        print(f"  {name:<34} {value:>8.1f} {unit:<3} (goal < {limit} {unit})  {'PASS' if passed else 'MISS'}")

    print(f"\nbench-worker: {binary}")
    print(f"  start-up (spawn -> /health 200)    min {figures['startup_ms']['min']} ms, median {figures['startup_ms']['median']} ms over {len(starts)} starts")
    im = figures["idle_rss_mb"]
    print(f"  idle RSS                           median {im['median']} MB, max {im['max']} MB: private (RssAnon) {im['rssanon']} MB, "
          f"mapped binary+libraries (RssFile, shared) {im['rssfile']} MB; PSS {im['pss']} MB")
    load = figures["load"]
    print(f"  {args.calls} concurrent executes via HAProxy -> 3 replicas: {load['wall_s']} s, {load['docs_per_s']} docs/s, "
          f"p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, max {load['max_ms']} ms, {load['chunks']} chunks")
    print(f"  executes per replica               {served}")
    for n, m in load["rss_mb"].items():
        print(f"  RSS {n}                             before {m['before']} MB, max during {m['during_max']} MB, after {m['after']} MB, peak (VmHWM) {m['peak_vmhwm']} MB")
    for e in errors[:5]:
        print(f"  error: {e}")
    print("goals:")
    goal("start-up (median)", figures["startup_ms"]["median"], STARTUP_GOAL_MS, "ms")
    goal("idle RSS (median)", figures["idle_rss_mb"]["median"], IDLE_RSS_GOAL_MB, "MB")
    goal(f"errors in {args.calls} concurrent executes", len(errors), 1, "")
    figures["ok"] = ok
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

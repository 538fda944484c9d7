"""Second part of scripts/bench-worker (issue 13): the same N runs of the path flow through an
orchestrator, over both worker transports, in one run and on the same documents:

  http  the real stepflow-server 0.9.0 -> HAProxy -> three `ingest serve` replicas (JSON-RPC)
  grpc  the real stepflow-server 0.13.0 <- three `ingest serve --transport grpc` workers (pull,
        STEPFLOW_MAX_CONCURRENT=4)

For each: errors, runs/s, p50/p99 run latency (POST /runs until the run's result), and for the
gRPC workers start-up (spawn to /ready: the pull stream connected) and idle RSS. Goals: start-up
under 100 ms, 0 errors, gRPC throughput at least the HTTP transport's. Exit 1 on a MISS.

    python scripts/bench/orchestrated.py --bin BIN --docling URL --opensearch URL --embeddings URL/v1
                                         [--runs 200] [--clients 12] [--run-dir DIR]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "live"))
from worker_support import free_port, rss_kib, start_cluster, stop_process, worker_env  # noqa: E402

CACHE = Path(os.environ.get("INGEST_E2E_CACHE") or Path.home() / ".cache" / "ingest-e2e")
FLOW = {"schema": "https://stepflow.org/schemas/v1/flow.json", "name": "bench-path",
        "steps": [{"id": "ingest", "component": "/langflow/ingest",
                   "input": {"source": {"$input": "source"}, "index": {"$input": "index"}}}],
        "output": {"result": {"$step": "ingest"}}}
# Only the ingest queue: a grpc queue nobody serves makes every run wait for its discovery.
GRPC_CONFIG = """\
plugins:
  builtin: {type: builtin}
  ingest_k8s: {type: grpc, queueName: ingest}
routes:
  "/langflow":
    - plugin: ingest_k8s
  "/builtin":
    - plugin: builtin
stateStore:
  type: inMemory
"""
STARTUP_GOAL_MS = 100


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def drive(run_one, docs: list[Path], index: str, clients: int) -> dict:
    latencies, errors = [], []

    def one(path: Path):
        t0 = time.monotonic()
        ok, detail = run_one({"source": str(path), "index": index})
        return time.monotonic() - t0, ok, detail

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
        for seconds, ok, detail in pool.map(one, docs):
            latencies.append(seconds)
            if not ok:
                errors.append(detail)
    wall = time.monotonic() - t0
    return {"runs": len(docs), "errors": len(errors), "first_error": errors[0] if errors else None,
            "wall_s": round(wall, 2), "runs_per_s": round(len(docs) / wall, 2),
            "p50_s": round(percentile(latencies, 0.5), 2), "p99_s": round(percentile(latencies, 0.99), 2)}


def combine(rows: list[dict]) -> dict:
    """Rounds of one transport as one row: runs/s over the summed wall time, the worse p50/p99."""
    out = dict(rows[-1])
    out["runs"] = sum(r["runs"] for r in rows)
    out["errors"] = sum(r["errors"] for r in rows)
    out["first_error"] = next((r["first_error"] for r in rows if r["first_error"]), None)
    out["wall_s"] = round(sum(r["wall_s"] for r in rows), 2)
    out["runs_per_s"] = round(out["runs"] / out["wall_s"], 2)
    out["rounds_runs_per_s"] = [r["runs_per_s"] for r in rows]
    out["p50_s"] = max(r["p50_s"] for r in rows)
    out["p99_s"] = max(r["p99_s"] for r in rows)
    if "startup_to_connected_ms" in rows[0]:
        out["startup_to_connected_ms"] = [ms for r in rows for ms in r["startup_to_connected_ms"]]
        out["idle_rss_mb"] = [mb for r in rows for mb in r["idle_rss_mb"]]
    return out


def http_row(binary: Path, env: dict, work: Path, run_dir: Path, docs: list[Path], clients: int) -> dict:
    cluster = start_cluster(binary, env, work, run_dir, "bench-http")
    try:
        flow = requests.post(f"{cluster.api}/flows", json={"flow": FLOW}, timeout=30).json()["flowId"]

        def run_one(item: dict):
            r = requests.post(f"{cluster.api}/runs", json={"flowId": flow, "input": [item]}, timeout=900).json()
            return r.get("status") == "completed", json.dumps(r)[:300]
        return drive(run_one, docs, "bench-http-" + uuid.uuid4().hex[:6], clients)
    finally:
        cluster.stop()


def grpc_row(binary: Path, env: dict, work: Path, docs: list[Path], clients: int) -> dict:
    server_bin = next((CACHE / "stepflow13-venv").glob("lib/python*/site-packages/stepflow_orchestrator/bin/stepflow-server"))
    port = free_port()
    (work / "stepflow13.yml").write_text(GRPC_CONFIG)
    server = subprocess.Popen([str(server_bin), "--port", str(port), "--config", str(work / "stepflow13.yml")],
                              stdout=open(work / "stepflow13.log", "a"), stderr=subprocess.STDOUT, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api/v1"
    workers, figures = [], {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(api + "/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        starts = []
        for name in ("g1", "g2", "g3"):
            http_port = free_port()
            full = worker_env(env, POD_NAME=name, SERVER_PORT=str(http_port), STEPFLOW_TRANSPORT="grpc",
                              STEPFLOW_TASKS_URL=f"127.0.0.1:{port}", STEPFLOW_QUEUE_NAME="ingest", STEPFLOW_MAX_CONCURRENT="4")
            t0 = time.monotonic()
            proc = subprocess.Popen([str(binary), "serve"], env=full, stdout=subprocess.DEVNULL,
                                    stderr=open(work / f"{name}.log", "a"), start_new_session=True)
            workers.append(proc)
            ready_url = f"http://127.0.0.1:{http_port}/ready"
            while time.monotonic() - t0 < 60:
                try:
                    if requests.get(ready_url, timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.002)
            starts.append((time.monotonic() - t0) * 1000)
        time.sleep(1)
        figures["startup_to_connected_ms"] = [round(s, 1) for s in starts]
        figures["idle_rss_mb"] = [round(rss_kib(p.pid) / 1024, 1) for p in workers]
        flow = requests.post(f"{api}/flows", json={"flow": FLOW}, timeout=30).json()["flowId"]

        def run_one(item: dict):
            r = requests.post(f"{api}/runs", json={"flowId": flow, "input": [item], "wait": True}, timeout=900).json()
            ok = r.get("summary", {}).get("status") == 2
            return ok, json.dumps(r)[:300]
        figures.update(drive(run_one, docs, "bench-grpc-" + uuid.uuid4().hex[:6], clients))
        return figures
    finally:
        for proc in workers:
            stop_process(proc)
        server.send_signal(signal.SIGKILL)  # 0.13.0 ignores SIGTERM
        server.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--docling", required=True)
    ap.add_argument("--opensearch", required=True)
    ap.add_argument("--embeddings", required=True)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--clients", type=int, default=12, help="runs in flight (3 workers x 4 slots)")
    ap.add_argument("--run-dir", default=None)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-orchestrated-"))
    run_dir = Path(args.run_dir) if args.run_dir else work
    docs_dir = work / "docs"
    docs_dir.mkdir()
    docs = []
    for i in range(args.runs):
        path = docs_dir / f"note-{i:04d}.md"
        path.write_text(f"# Note {i}\n\nThe release notes of build {i}: faster start-up, fewer retries.\n\n"
                        f"## Details\n\nItem {i} changed the worker's pull loop and its heartbeats.\n")
        docs.append(path)
    port = args.opensearch.rsplit(":", 1)[-1].split("/")[0]
    env = {
        "DOCLING_SERVE_URL": args.docling, "OPENSEARCH_HOST": args.opensearch, "OPENSEARCH_PORT": port,
        "OPENAI_BASE_URL": args.embeddings, "OPENAI_API_KEY": "unused", "EMBEDDING_MODEL": args.model,
        "DOCLING_CONVERT_OPTIONS": json.dumps({"do_ocr": False, "do_table_structure": False}),
        "INGEST_ALLOWED_ROOTS": str(docs_dir),
    }
    binary = Path(args.bin)
    # ABBA order: OpenSearch slows as the index grows, and the machine's load drifts, so each
    # transport runs once early and once late; the figures combine both rounds.
    rounds = {"http": [], "grpc": []}
    for name in ("http", "grpc", "grpc", "http"):
        row = http_row(binary, env, work, run_dir, docs, args.clients) if name == "http" else grpc_row(binary, env, work, docs, args.clients)
        rounds[name].append(row)
    http, grpc = combine(rounds["http"]), combine(rounds["grpc"])

    print(f"\n{args.runs} runs of the path flow per round, {args.clients} in flight, through an orchestrator, rounds in the order http, grpc, grpc, http (same documents, a fresh index each round)")
    print(f"{'transport':<34} {'errors':>6} {'runs/s':>7} {'p50 s':>6} {'p99 s':>6}")
    print(f"{'http (0.9.0 -> HAProxy -> 3 workers)':<34} {http['errors']:>6} {http['runs_per_s']:>7} {http['p50_s']:>6} {http['p99_s']:>6}")
    print(f"{'grpc (0.13.0 <- 3 pull workers)':<34} {grpc['errors']:>6} {grpc['runs_per_s']:>7} {grpc['p50_s']:>6} {grpc['p99_s']:>6}")
    print(f"runs/s per round: http {http['rounds_runs_per_s']}, grpc {grpc['rounds_runs_per_s']}")
    print(f"gRPC workers: start-up to connected {grpc['startup_to_connected_ms']} ms, idle RSS {grpc['idle_rss_mb']} MB")
    ratio = grpc["runs_per_s"] / http["runs_per_s"] if http["runs_per_s"] else 0
    goals = [
        ("gRPC start-up to connected < 100 ms", max(grpc["startup_to_connected_ms"]) < STARTUP_GOAL_MS),
        ("0 errors on both transports", http["errors"] == 0 and grpc["errors"] == 0),
        (f"gRPC throughput >= HTTP's (ratio {ratio:.2f})", ratio >= 1.0),
    ]
    for name, ok in goals:
        print(f"  {'PASS' if ok else 'MISS'}  {name}")
    for row in (http, grpc):
        if row["first_error"]:
            print("first error:", row["first_error"])
    return 0 if all(ok for _, ok in goals) else 1


if __name__ == "__main__":
    sys.exit(main())

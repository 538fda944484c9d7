"""The worker under faults (issue #7), live: its own three replicas behind HAProxy and the real
Stepflow 0.9.0 server (worker_support.start_cluster), on the services of conftest.py.

* SIGKILL a replica during 30 concurrent runs: runs the survivors executed succeed, runs that were
  on the killed replica fail with a transport error in the run's result; after a restart, re-running
  the failed flows leaves the index exactly as a clean run of all 30 into another index (same `_id`s,
  same chunks per source).
* SIGTERM a replica while it ingests a slow document (a URL served a few bytes at a time): /health
  turns 503 at once, the execute completes with its output, then the process exits 0.
"""
from __future__ import annotations

import base64
import concurrent.futures
import json
import signal
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from test_worker import _load_flow
from worker_support import REPLICAS, spawn_worker, start_cluster, stop_process, tail, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fault_cluster(services, ingest_bin, ingest_env, tmp_path_factory):
    work = tmp_path_factory.mktemp("faults")
    env = dict(ingest_env, INGEST_SHUTDOWN_GRACE_SECONDS="0", INGEST_URL_ALLOW_HOSTS="127.0.0.1",
               INGEST_ALLOWED_ROOTS=str(work))
    try:
        cluster = start_cluster(ingest_bin, env, work, services.run_dir, "faults", stepflow=True)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    cluster.workdir = work
    cluster.env = env
    try:
        yield cluster
    finally:
        cluster.stop()


def _store_flow(api: str, name: str) -> str:
    r = requests.post(f"{api}/flows", json={"flow": _load_flow(name)}, timeout=30)
    r.raise_for_status()
    return r.json()["flowId"]


def _run(api: str, flow_id: str, item: dict) -> dict:
    r = requests.post(f"{api}/runs", json={"flowId": flow_id, "input": [item]}, timeout=600)
    r.raise_for_status()
    return r.json()


def _log_events(path: Path, message: str) -> list[dict]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if f'"message":"{message}"' in line:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def _doc_name(event: dict) -> str:
    return event.get("source", "").split(" ", 1)[0]  # "n7.md (1234 bytes, base64)" -> "n7.md"


def _error_text(run: dict) -> str:
    """The chain of errors Stepflow reports for a failed run, without its backtraces."""
    error = run.get("result", {}).get("error") or {}
    stack = (error.get("data") or {}).get("stack") or []
    return " | ".join([error.get("message", "")] + [f"{e.get('error')} {e.get('attachments', '')}" for e in stack])


def _chunks_per_source(opensearch, index: str) -> tuple[set[str], Counter]:
    hits = opensearch.docs(index)
    return {h["_id"] for h in hits}, Counter(h["_source"]["source"] for h in hits)


def test_replica_killed_during_30_runs(fault_cluster, opensearch, index_name):
    cluster = fault_cluster
    api = cluster.api
    flow = _store_flow(api, "ingest.yaml")
    md = (ROOT / "samples" / "release_notes.md").read_text()
    # Long enough that many are still in flight when the replica dies.
    items = {f"n{i}.md": {"source": {"base64": base64.b64encode(f"# Note {i}\n\n{md}\n\n{md}\n\nLine {i}.\n".encode()).decode(),
                                     "filename": f"n{i}.md"}, "index": index_name} for i in range(30)}
    victim = cluster.replica("w2")
    victim_log_start = victim.log.stat().st_size

    def started_on_victim() -> tuple[set[str], set[str]]:
        text = victim.log.read_bytes()[victim_log_start:].decode(errors="replace")
        started, done = set(), set()
        for line in text.splitlines():
            if '"message":"ingest started"' in line:
                started.add(_doc_name(json.loads(line)))
            elif '"message":"ingest finished"' in line or '"message":"ingest failed"' in line:
                done.add(_doc_name(json.loads(line)))
        return started, done

    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        futures = {name: pool.submit(_run, api, flow, item) for name, item in items.items()}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            started, done = started_on_victim()
            if len(started) >= 5 and len(started - done) >= 3:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"w2 never had 3 documents in flight: {started_on_victim()}")
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=10)
        killed_at = time.monotonic()
        started, done = started_on_victim()  # its log is final now: nothing finished after the kill
        in_flight_at_kill = started - done
        runs = {name: f.result() for name, f in futures.items()}
    print(f"\nkilled w2 with {len(in_flight_at_kill)} in flight ({sorted(in_flight_at_kill)}); "
          f"all runs back {time.monotonic() - killed_at:.1f} s later")

    survivors = {}
    for rep in cluster.replicas:
        if rep.name != "w2":
            for e in _log_events(rep.log, "ingest finished"):
                survivors[_doc_name(e)] = rep.name
    completed = {n for n, r in runs.items() if r["status"] == "completed"}
    failed = {n for n, r in runs.items() if r["status"] != "completed"}
    print(f"completed {len(completed)}, failed {len(failed)}: {sorted(failed)}")
    errors = {n: _error_text(runs[n]) for n in failed}
    for n, text in sorted(errors.items())[:2]:
        print(f"  {n}: {text}")
    # Every document a survivor executed completed, with its output.
    for name in survivors:
        assert name in completed, (name, runs[name])
        assert runs[name]["result"]["result"]["result"]["status"] == "indexed", runs[name]
    # Every document in flight on w2 failed (none hung, none reported success), with a transport error.
    assert in_flight_at_kill <= failed, (in_flight_at_kill - failed)
    assert failed, "nothing failed although w2 was killed mid-run"
    for name in failed:
        assert name not in survivors, name
        assert runs[name]["status"] == "failed", runs[name]
        text = errors[name].lower()
        assert any(k in text for k in ("502", "503", "bad gateway", "unavailable", "connection", "closed",
                                       "error sending request", "transport")), errors[name]

    # Bring w2 back (same port and name), re-run only the failed flows.
    w2 = wait_healthy(spawn_worker(ingest_bin_of(victim), "w2", cluster.workdir, cluster.env, victim.port))
    cluster.replicas[REPLICAS.index("w2")] = w2
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        reruns = dict(zip(sorted(failed), pool.map(lambda n: _run(api, flow, items[n]), sorted(failed))))
    for name, r in reruns.items():
        assert r["status"] == "completed", (name, json.dumps(r)[-1500:])
        assert r["result"]["result"]["result"]["status"] in ("indexed", "unchanged")

    # A clean run of all 30 into another index.
    clean_index = index_name + "-clean"
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        clean = list(pool.map(lambda it: _run(api, flow, dict(it, index=clean_index)), items.values()))
    assert all(r["status"] == "completed" for r in clean), [json.dumps(r)[-500:] for r in clean if r["status"] != "completed"]
    ids, per_source = _chunks_per_source(opensearch, index_name)
    clean_ids, clean_per_source = _chunks_per_source(opensearch, clean_index)
    assert len(per_source) == 30 and per_source == clean_per_source, (per_source - clean_per_source, clean_per_source - per_source)
    assert ids == clean_ids, (len(ids ^ clean_ids), sorted(ids ^ clean_ids)[:5])
    assert opensearch.count(index_name) == opensearch.count(clean_index)


def ingest_bin_of(worker) -> str:
    return worker.proc.args[0]


class _SlowFile(BaseHTTPRequestHandler):
    """Serves one Markdown document, a few bytes every tenth of a second (~4 s in all)."""
    body = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/markdown")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        step = max(1, len(self.body) // 40)
        for i in range(0, len(self.body), step):
            self.wfile.write(self.body[i:i + step])
            self.wfile.flush()
            time.sleep(0.1)

    def log_message(self, *args):
        pass


def test_sigterm_lets_the_in_flight_document_finish(fault_cluster, opensearch, index_name, tmp_path):
    _SlowFile.body = (ROOT / "samples" / "release_notes.md").read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowFile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(fault_cluster.env, INGEST_SHUTDOWN_GRACE_SECONDS="1")
    w = wait_healthy(spawn_worker(ingest_bin_of(fault_cluster.replicas[0]), "wt", tmp_path, env))
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/slow_notes.md"
        reply: dict = {}

        def execute():
            r = requests.post(w.url + "/", json={"jsonrpc": "2.0", "id": "slow-1", "method": "components/execute",
                                                 "params": {"component": "/ingest", "input": {"source": url, "index": index_name}}},
                              timeout=120)
            reply["status"], reply["body"], reply["at"] = r.status_code, r.json(), time.monotonic()

        t = threading.Thread(target=execute)
        t.start()
        deadline = time.monotonic() + 30
        while not _log_events(w.log, "ingest started") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _log_events(w.log, "ingest started"), tail(w.log)
        time.sleep(0.5)  # inside the slow download
        sent = time.monotonic()
        w.proc.send_signal(signal.SIGTERM)
        health = None
        while time.monotonic() - sent < 0.9:
            try:
                h = requests.get(w.url + "/health", timeout=1)
                if h.status_code == 503:
                    health = (h.json(), time.monotonic() - sent)
                    break
            except requests.RequestException:
                pass
            time.sleep(0.02)
        assert health and health[0]["status"] == "draining", health
        assert "at" not in reply, "the document finished before the test could observe the drain: make it slower"
        code = w.proc.wait(timeout=90)
        exited = time.monotonic()
        t.join(timeout=30)
        print(f"\n/health 503 {health[1] * 1000:.0f} ms after SIGTERM; execute answered {reply['at'] - sent:.1f} s after it; "
              f"exit {code} {exited - sent:.1f} s after it")
        assert reply["status"] == 200, reply
        out = reply["body"]["result"]["output"]
        assert out["status"] == "indexed" and out["chunks"] > 0, reply
        assert code == 0, tail(w.log)
        assert exited >= reply["at"] - 0.05
        assert opensearch.count(index_name) == out["chunks"]
    finally:
        stop_process(w.proc, signal.SIGKILL)
        server.shutdown()

"""Live tests of `ingest serve --transport grpc` (Stepflow 0.12+): three pull workers (POD_NAME g1,
g2, g3) dialing the real stepflow-orchestrator 0.13.0 server, configured as the deployment is:
`/langflow/ingest` on the `ingest` queue (our workers), everything else under `/langflow` on the
`langflow` queue, served here by a reference stepflow-py 0.13.0 worker with one component
(`shout`). Driven through the server's REST API (`/api/v1/flows`, `/api/v1/runs` with wait).

Uses the session fixtures of conftest.py (docling-serve, osmem, embeddings, the `ingest` binary).
Installs the servers with scripts/services/install.sh stepflow13 (idempotent). Note: the 0.13.0
server does not exit on SIGTERM; it is stopped with SIGKILL after a short wait.
"""
from __future__ import annotations

import base64
import concurrent.futures
import functools
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "services"
FLOWS = ROOT / "samples" / "flows"
WORKERS = ("g1", "g2", "g3")
CACHE = Path(os.environ.get("INGEST_E2E_CACHE") or Path.home() / ".cache" / "ingest-e2e")
SERVER_VENV = Path(os.environ.get("STEPFLOW13_VENV") or CACHE / "stepflow13-venv")
PY_WORKER_VENV = Path(os.environ.get("STEPFLOW_PY13_VENV") or CACHE / "stepflow-py13-venv")
STATUS_COMPLETED, STATUS_FAILED = 2, 3

SERVER_CONFIG = """\
plugins:
  builtin: {type: builtin}
  langflow_k8s: {type: grpc, queueName: langflow}
  ingest_k8s: {type: grpc, queueName: ingest}
routes:
  "/langflow":
    - plugin: ingest_k8s
      componentAllow: ["ingest"]
    - plugin: langflow_k8s
  "/builtin":
    - plugin: builtin
stateStore:
  type: inMemory
"""

# The Langflow side: one component on the `langflow` queue.
PY_WORKER = '''\
import asyncio, os
from stepflow_py.worker.server import StepflowServer
from stepflow_py.worker.grpc_worker import run_grpc_worker
server = StepflowServer()

@server.component(name="shout")
def shout(input: dict) -> dict:
    """Upper-cases a text."""
    return {"text": str(input.get("text", "")).upper()}

asyncio.run(run_grpc_worker(server, os.environ["STEPFLOW_TASKS_URL"], "langflow"))
'''


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"(no log at {path})"


def _wait_for(what: str, check, proc: subprocess.Popen | None, log: Path, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: exited ({proc.returncode}); log:\n{_tail(log)}", pytrace=False)
        try:
            value = check()
            if value:
                return value
        except requests.RequestException:
            pass
        time.sleep(0.1)
    pytest.fail(f"{what}: not ready within {timeout} s; log:\n{_tail(log)}", pytrace=False)


def _load_flow(name: str) -> dict:
    try:
        import yaml  # noqa: PLC0415
        return yaml.safe_load((FLOWS / name).read_text())
    except ImportError:
        # As test_worker.py: the docling venv's Python has PyYAML.
        py = Path(os.environ.get("DOCLING_VENV") or CACHE / "docling-venv") / "bin" / "python"
        out = subprocess.run([str(py), "-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
                              str(FLOWS / name)], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)


@dataclass
class GWorker:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path
    env: dict
    instance_id: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tasks_served(self) -> int:
        """Execute tasks this worker completed, from its own /metrics."""
        total = 0
        for line in requests.get(self.url + "/metrics", timeout=10).text.splitlines():
            if line.startswith("ingest_grpc_tasks_total{") and 'kind="execute"' in line and 'outcome="completed' in line:
                total += int(float(line.rsplit(" ", 1)[1]))
        return total


@dataclass
class GrpcStack:
    api: str
    grpc_port: int
    workers: list[GWorker]
    docs_dir: Path
    files_url: str
    work: Path
    server_proc: subprocess.Popen
    py_proc: subprocess.Popen
    extra: list[subprocess.Popen] = field(default_factory=list)

    def store_flow(self, flow: dict | str) -> str:
        body = _load_flow(flow) if isinstance(flow, str) else flow
        r = requests.post(f"{self.api}/flows", json={"flow": body}, timeout=30)
        r.raise_for_status()
        stored = r.json()
        assert stored.get("stored") and stored["diagnostics"]["numFatal"] == 0, stored
        return stored["flowId"]

    def run(self, flow_id: str, item: dict, timeout: float = 600) -> dict:
        r = requests.post(f"{self.api}/runs", json={"flowId": flow_id, "input": [item], "wait": True}, timeout=timeout)
        r.raise_for_status()
        return r.json()

    def served(self) -> dict[str, int]:
        return {w.name: w.tasks_served() for w in self.workers}


def _start_worker(ingest_bin: Path, name: str, work: Path, env: dict) -> GWorker:
    port = _free_port()
    log = work / f"{name}.log"
    full = dict(env, POD_NAME=name, SERVER_PORT=str(port))
    proc = subprocess.Popen([str(ingest_bin), "serve", "--transport", "grpc"], env=full, stdout=subprocess.DEVNULL,
                            stderr=open(log, "a"), start_new_session=True)
    return GWorker(name, port, proc, log, full)


def _ready(w: GWorker, timeout: float = 60) -> GWorker:
    w.instance_id = _wait_for(f"{w.name} /health", lambda: requests.get(w.url + "/health", timeout=2).json()["instanceId"],
                              w.proc, w.log, timeout)
    _wait_for(f"{w.name} /ready", lambda: requests.get(w.url + "/ready", timeout=2).status_code == 200, w.proc, w.log, timeout)
    return w


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _start_server(port: int, work: Path, config_text: str = SERVER_CONFIG) -> subprocess.Popen:
    binary = SERVER_VENV / "lib" / "python3.11" / "site-packages" / "stepflow_orchestrator" / "bin" / "stepflow-server"
    if not binary.exists():
        found = list(SERVER_VENV.glob("lib/python*/site-packages/stepflow_orchestrator/bin/stepflow-server"))
        binary = found[0] if found else binary
    config = work / "stepflow13.yml"
    config.write_text(config_text)
    log = work / "stepflow13.log"
    return subprocess.Popen([str(binary), "--port", str(port), "--config", str(config)], stdout=open(log, "a"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _kill_server(proc: subprocess.Popen) -> None:
    # 0.13.0 ignores SIGTERM: ask, wait briefly, then SIGKILL.
    _stop(proc, signal.SIGTERM, timeout=2)


def _need_grpc_worker_and_stepflow13(ingest_bin) -> None:
    """Skips without a gRPC-capable binary; installs the 0.13.0 server (cached) or fails saying why."""
    if subprocess.run([str(ingest_bin), "serve", "--help"], capture_output=True, text=True).stdout.find("--transport") < 0:
        pytest.skip("this ingest binary has no `serve --transport`")
    p = subprocess.run([str(SCRIPTS / "install.sh"), "stepflow13"], capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        pytest.fail(f"install.sh stepflow13 failed:\n{p.stderr[-3000:]}", pytrace=False)


@pytest.fixture(scope="module")
def grpc_stack(services, ingest_bin, ingest_env, tmp_path_factory):
    _need_grpc_worker_and_stepflow13(ingest_bin)

    work = tmp_path_factory.mktemp("grpc")
    docs = work / "docs"
    shutil.copytree(ROOT / "samples", docs, ignore=shutil.ignore_patterns("flows"))
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(docs)))
    threading.Thread(target=files.serve_forever, daemon=True).start()

    grpc_port = _free_port()
    api = f"http://127.0.0.1:{grpc_port}/api/v1"
    server = _start_server(grpc_port, work)
    _wait_for("stepflow-server 0.13.0", lambda: requests.get(api + "/health", timeout=2).status_code == 200, server,
              work / "stepflow13.log")

    (work / "pyworker.py").write_text(PY_WORKER)
    py = subprocess.Popen([str(PY_WORKER_VENV / "bin" / "python"), str(work / "pyworker.py")],
                          env=dict(os.environ, STEPFLOW_TASKS_URL=f"127.0.0.1:{grpc_port}"),
                          stdout=open(work / "pyworker.log", "a"), stderr=subprocess.STDOUT, start_new_session=True)

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DOCLING_", "OPENSEARCH_", "OPENAI_", "EMBEDDING_", "INGEST_", "SERVER_", "POD_", "STEPFLOW_"))}
    env.update(ingest_env)
    env.update({
        "SERVER_HOST": "127.0.0.1",
        "INGEST_ALLOWED_ROOTS": str(docs),
        "INGEST_URL_ALLOW_HOSTS": "127.0.0.1",
        "STEPFLOW_TASKS_URL": f"127.0.0.1:{grpc_port}",
        "STEPFLOW_QUEUE_NAME": "ingest",
        "STEPFLOW_MAX_CONCURRENT": "4",
    })
    workers: list[GWorker] = []
    stack = None
    try:
        workers = [_start_worker(ingest_bin, name, work, env) for name in WORKERS]
        for w in workers:
            _ready(w)
        stack = GrpcStack(api=api, grpc_port=grpc_port, workers=workers, docs_dir=docs,
                          files_url=f"http://127.0.0.1:{files.server_address[1]}", work=work, server_proc=server, py_proc=py)
        yield stack
    finally:
        for w in (stack.workers if stack else workers):
            _stop(w.proc)
        for proc in (stack.extra if stack else []):
            _stop(proc)
        _stop(py, timeout=10)
        _kill_server(stack.server_proc if stack else server)
        files.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _output(run: dict) -> dict:
    assert run["summary"]["status"] == STATUS_COMPLETED, json.dumps(run, indent=1)[-3000:]
    return run["results"][0]["output"]["result"]


def _failure(run: dict) -> dict:
    assert run["summary"]["status"] == STATUS_FAILED, json.dumps(run, indent=1)[-3000:]
    return run["results"][0]


@pytest.fixture(scope="module")
def ingest_flow(grpc_stack) -> str:
    return grpc_stack.store_flow("ingest.yaml")


@pytest.fixture(scope="module")
def blob_flow(grpc_stack) -> str:
    return grpc_stack.store_flow("ingest_blob.yaml")


def test_workers_are_ready_with_their_instance_ids(grpc_stack):
    ids = [w.instance_id for w in grpc_stack.workers]
    for name, iid in zip(WORKERS, ids):
        assert iid.startswith(name + "-") and len(iid) == len(name) + 9, iid
    assert len(set(ids)) == 3
    for w in grpc_stack.workers:
        ready = requests.get(w.url + "/ready", timeout=5).json()
        assert ready["ready"] and ready["connected"] and ready["instanceId"] == w.instance_id, ready


def test_ingest_by_path(grpc_stack, ingest_flow, opensearch, index_name):
    path = grpc_stack.docs_dir / "release_notes.md"
    out = _output(grpc_stack.run(ingest_flow, {"source": str(path), "index": index_name}))
    assert out["status"] == "indexed" and out["chunks"] > 0 and out["index"] == index_name, out
    assert opensearch.count(index_name) == out["chunks"]
    again = _output(grpc_stack.run(ingest_flow, {"source": str(path), "index": index_name}))
    assert again["status"] == "unchanged" and again["document_id"] == out["document_id"]


def test_ingest_by_url(grpc_stack, ingest_flow, opensearch, index_name):
    out = _output(grpc_stack.run(ingest_flow, {"source": f"{grpc_stack.files_url}/handbook.html", "index": index_name}))
    assert out["status"] == "indexed" and out["chunks"] > 0, out
    assert opensearch.count(index_name) == out["chunks"]


def test_ingest_by_blob(grpc_stack, blob_flow, opensearch, index_name):
    # /builtin/put_blob stores a JSON blob; the worker reads it with BlobService.GetBlob.
    data = base64.b64encode((grpc_stack.docs_dir / "handbook.html").read_bytes()).decode()
    out = _output(grpc_stack.run(blob_flow, {"document": {"filename": "handbook.html", "base64": data}, "index": index_name}))
    assert out["status"] == "indexed" and out["chunks"] > 0 and out["filename"] == "handbook.html", out
    assert opensearch.count(index_name) == out["chunks"]


def test_one_flow_reaches_both_queues(grpc_stack, opensearch, index_name):
    flow = {
        "schema": "https://stepflow.org/schemas/v1/flow.json",
        "name": "ingest-and-shout",
        "description": "One step on the ingest queue, one on the langflow queue.",
        "steps": [
            {"id": "ingest", "component": "/langflow/ingest",
             "input": {"source": {"$input": "source"}, "index": {"$input": "index"}}},
            {"id": "shout", "component": "/langflow/shout", "input": {"text": {"$input": "text"}}},
        ],
        "output": {"ingested": {"$step": "ingest"}, "shouted": {"$step": "shout"}},
    }
    flow_id = grpc_stack.store_flow(flow)
    before = sum(grpc_stack.served().values())
    run = grpc_stack.run(flow_id, {"source": str(grpc_stack.docs_dir / "backup_policy.adoc"), "index": index_name, "text": "done"})
    assert run["summary"]["status"] == STATUS_COMPLETED, json.dumps(run, indent=1)[-3000:]
    out = run["results"][0]["output"]
    assert out["shouted"] == {"text": "DONE"}, out
    assert out["ingested"]["status"] == "indexed" and out["ingested"]["chunks"] == opensearch.count(index_name), out
    assert sum(grpc_stack.served().values()) - before == 1


def test_twenty_runs_at_once_all_complete_on_every_worker(grpc_stack, ingest_flow, blob_flow, index_name):
    before = grpc_stack.served()
    md = (grpc_stack.docs_dir / "release_notes.md").read_text()
    items = []
    for i in range(20):
        encoded = base64.b64encode(f"# Note {i}\n\n{md}\n\nUnique line {i}.\n".encode()).decode()
        if i % 2:
            items.append((blob_flow, {"document": {"filename": f"n{i}.md", "base64": encoded}, "index": index_name}))
        else:
            items.append((ingest_flow, {"source": {"base64": encoded, "filename": f"n{i}.md"}, "index": index_name}))
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        runs = list(pool.map(lambda fi: grpc_stack.run(*fi), items))
    outs = [_output(r) for r in runs]
    assert all(o["status"] == "indexed" for o in outs)
    assert len({o["document_id"] for o in outs}) == 20
    # A worker counts a task once CompleteTask is acknowledged, which can be a moment after the
    # orchestrator already answered the run: read the counters until all 20 are there.
    deadline = time.monotonic() + 15
    while True:
        after = grpc_stack.served()
        served = {name: after[name] - before[name] for name in after}
        if sum(served.values()) >= 20 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sum(served.values()) == 20, served
    assert all(n > 0 for n in served.values()), f"a worker served nothing: {served}"


def test_failing_document_fails_the_run_with_its_cause(grpc_stack, ingest_flow, index_name):
    bad = grpc_stack.docs_dir / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    failed = _failure(grpc_stack.run(ingest_flow, {"source": str(bad), "index": index_name}))
    text = json.dumps(failed)
    assert "broken.pdf" in text, text

    outside = _failure(grpc_stack.run(ingest_flow, {"source": "/etc/hostname", "index": index_name}))
    assert "/etc/hostname" in json.dumps(outside) and outside.get("errorCode") == 2, outside  # INVALID_INPUT


def test_path_ingest_matches_the_cli(grpc_stack, ingest_flow, run_ingest, opensearch, index_name):
    path = grpc_stack.docs_dir / "security_review.docx"
    cli_index, worker_index = index_name + "-cli", index_name + "-grpc"
    cli = run_ingest(path, index=cli_index)
    assert cli.code == 0, str(cli)
    out = _output(grpc_stack.run(ingest_flow, {"source": str(path), "index": worker_index}))
    cli_hits = {h["_id"]: h["_source"] for h in opensearch.docs(cli_index)}
    wk_hits = {h["_id"]: h["_source"] for h in opensearch.docs(worker_index)}
    assert cli_hits and set(cli_hits) == set(wk_hits), (sorted(cli_hits)[:5], sorted(wk_hits)[:5])
    assert out["chunks"] == len(wk_hits)

    def volatile(key: str) -> bool:
        return "time" in key or key.endswith("_at")

    for _id, src in cli_hits.items():
        a = {k: v for k, v in src.items() if not volatile(k)}
        b = {k: v for k, v in wk_hits[_id].items() if not volatile(k)}
        assert a.keys() == b.keys(), (_id, sorted(a.keys() ^ b.keys()))
        assert not [k for k in a if a[k] != b[k]], _id



def test_ingest_a_binary_blob(grpc_stack, ingest_flow, opensearch, index_name):
    """A raw_data blob (the document's bytes, stored through the REST blob API) is ingested as
    inline content under its file name."""
    body = (grpc_stack.docs_dir / "release_notes.md").read_bytes()
    r = requests.post(f"{grpc_stack.api}/blobs", data=body,
                      headers={"content-type": "application/octet-stream", "X-Blob-Filename": "notes-blob.md"}, timeout=30)
    r.raise_for_status()
    blob_id = r.json()["blobId"]
    out = _output(grpc_stack.run(ingest_flow, {"source": {"blob_id": blob_id}, "index": index_name}))
    assert out["status"] == "indexed" and out["filename"] == "notes-blob.md" and out["chunks"] > 0, out
    assert opensearch.count(index_name) == out["chunks"]


# An assignment over the receive limit is refused by grpc-swift before it is decoded: the
# pull stream gets its own, larger limit (STEPFLOW_MAX_ASSIGNMENT_BYTES) so a task whose input is
# over INGEST_MAX_BODY_BYTES still arrives and fails alone. A dedicated orchestrator and one
# worker with small limits, so no other worker takes the task.
SMALL_BODY, SMALL_ASSIGNMENT = 200_000, 1_000_000
# Only the ingest queue: a plugin without workers delays every step by 0.13.0's 30 s readiness wait.
LIMIT_SERVER_CONFIG = """\
plugins:
  builtin: {type: builtin}
  ingest_k8s: {type: grpc, queueName: ingest}
routes:
  "/langflow":
    - plugin: ingest_k8s
      componentAllow: ["ingest"]
  "/builtin":
    - plugin: builtin
stateStore:
  type: inMemory
"""


@dataclass
class LimitStack:
    api: str
    worker: GWorker
    flow_id: str
    docs_dir: Path
    work: Path

    def ready_codes_while(self, action):
        """Runs `action()` while polling the worker's /ready; returns (result, set of codes)."""
        codes: set[int] = set()
        done = threading.Event()

        def poll():
            while not done.is_set():
                try:
                    codes.add(requests.get(self.worker.url + "/ready", timeout=2).status_code)
                except requests.RequestException:
                    codes.add(0)
                time.sleep(0.02)

        t = threading.Thread(target=poll, daemon=True)
        t.start()
        try:
            result = action()
        finally:
            done.set()
            t.join()
        return result, codes

    def metric(self, name: str) -> float:
        for line in requests.get(self.worker.url + "/metrics", timeout=10).text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@pytest.fixture(scope="module")
def limit_stack(services, ingest_bin, ingest_env, tmp_path_factory):
    _need_grpc_worker_and_stepflow13(ingest_bin)
    work = tmp_path_factory.mktemp("grpc-limits")
    docs = work / "docs"
    shutil.copytree(ROOT / "samples", docs, ignore=shutil.ignore_patterns("flows"))
    grpc_port = _free_port()
    api = f"http://127.0.0.1:{grpc_port}/api/v1"
    server = _start_server(grpc_port, work, LIMIT_SERVER_CONFIG)
    worker = None
    try:
        _wait_for("stepflow-server 0.13.0", lambda: requests.get(api + "/health", timeout=2).status_code == 200, server,
                  work / "stepflow13.log")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DOCLING_", "OPENSEARCH_", "OPENAI_", "EMBEDDING_", "INGEST_", "SERVER_", "POD_", "STEPFLOW_"))}
        env.update(ingest_env)
        env.update({
            "SERVER_HOST": "127.0.0.1",
            "INGEST_ALLOWED_ROOTS": str(docs),
            "STEPFLOW_TASKS_URL": f"127.0.0.1:{grpc_port}",
            "STEPFLOW_QUEUE_NAME": "ingest",
            "INGEST_MAX_BODY_BYTES": str(SMALL_BODY),
            "STEPFLOW_MAX_ASSIGNMENT_BYTES": str(SMALL_ASSIGNMENT),
        })
        worker = _ready(_start_worker(ingest_bin, "lim", work, env))
        stack = LimitStack(api=api, worker=worker, flow_id="", docs_dir=docs, work=work)
        r = requests.post(f"{api}/flows", json={"flow": _load_flow("ingest.yaml")}, timeout=30)
        r.raise_for_status()
        stack.flow_id = r.json()["flowId"]
        yield stack
    finally:
        if worker is not None:
            _stop(worker.proc)
        _kill_server(server)


def _inline(size: int, name: str) -> dict:
    """An inline base64 Markdown document whose base64 text is about `size` bytes."""
    text = "".join(f"Line {i} of a document too large for the worker's body limit.\n" for i in range(size // 80 + 1))
    return {"base64": base64.b64encode(text.encode()).decode()[:size // 4 * 4], "filename": name}


def test_an_assignment_between_the_limits_fails_its_run_and_the_worker_stays_ready(limit_stack, index_name):
    """Input over INGEST_MAX_BODY_BYTES, assignment under STEPFLOW_MAX_ASSIGNMENT_BYTES: that run
    fails with INVALID_INPUT naming the limit, /ready never leaves 200, the next run completes."""
    item = {"source": _inline(300_000, "big.md"), "index": index_name}
    connects = limit_stack.worker.log.read_text(errors="replace").count('"pull stream connected"')
    run, codes = limit_stack.ready_codes_while(lambda: requests.post(
        f"{limit_stack.api}/runs", json={"flowId": limit_stack.flow_id, "input": [item], "wait": True}, timeout=120).json())
    failed = _failure(run)
    text = json.dumps(failed)
    assert failed.get("errorCode") == 2, text  # INVALID_INPUT
    assert f"INGEST_MAX_BODY_BYTES ({SMALL_BODY} bytes)" in text and "blob_id" in text, text
    assert codes == {200}, f"/ready left 200 during the run: {codes}"
    assert limit_stack.metric("ingest_grpc_assignments_oversized_total") == 0
    assert limit_stack.worker.log.read_text(errors="replace").count('"pull stream connected"') == connects, "the stream broke"

    ok = requests.post(f"{limit_stack.api}/runs", json={"flowId": limit_stack.flow_id, "wait": True, "input": [
        {"source": str(limit_stack.docs_dir / "release_notes.md"), "index": index_name}]}, timeout=300).json()
    assert _output(ok)["status"] == "indexed"


def test_an_assignment_over_the_pull_limit_costs_one_log_line_and_a_reconnect(limit_stack, index_name):
    """Assignment over STEPFLOW_MAX_ASSIGNMENT_BYTES: the worker cannot read it, so it logs one
    line, counts it and reopens the stream at once, staying ready; other runs go on. 0.13.0 then
    times the task out after its 30 s queue timeout and retries the step (transport_error), which
    delivers it again: each delivery is one more line and count (OVERSIZE_OBSERVE_SECS=N prints
    the run's fate over N s)."""
    metric = "ingest_grpc_assignments_oversized_total"
    before = limit_stack.metric(metric)
    lines_before = limit_stack.worker.log.read_text(errors="replace").count("over STEPFLOW_MAX_ASSIGNMENT_BYTES")
    item = {"source": _inline(1_200_000, "huge.md"), "index": index_name}
    r = requests.post(f"{limit_stack.api}/runs", json={"flowId": limit_stack.flow_id, "input": [item]}, timeout=60)
    r.raise_for_status()
    body = r.json()
    run_id = body["summary"]["runId"] if "summary" in body else body["runId"]

    def deliver_then_serve():
        deadline = time.monotonic() + 60
        while limit_stack.metric(metric) - before < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        return requests.post(f"{limit_stack.api}/runs", json={"flowId": limit_stack.flow_id, "wait": True, "input": [
            {"source": str(limit_stack.docs_dir / "handbook.html"), "index": index_name}]}, timeout=300).json()

    ok, codes = limit_stack.ready_codes_while(deliver_then_serve)
    assert limit_stack.metric(metric) - before == 1
    lines = limit_stack.worker.log.read_text(errors="replace").count("over STEPFLOW_MAX_ASSIGNMENT_BYTES") - lines_before
    assert lines == 1, _tail(limit_stack.worker.log)
    assert codes == {200}, f"/ready left 200: {codes}"
    assert _output(ok)["status"] == "indexed"

    observe = float(os.environ.get("OVERSIZE_OBSERVE_SECS", "0"))
    started, timeline, last = time.monotonic(), [], None
    while time.monotonic() - started < observe:
        status = requests.get(f"{limit_stack.api}/runs/{run_id}", timeout=30).json()
        summary = status.get("summary", status)
        state = (summary.get("status"), limit_stack.metric(metric) - before)
        if state != last:
            timeline.append((round(time.monotonic() - started, 1), state))
            last = state
        if summary.get("status") in (STATUS_COMPLETED, STATUS_FAILED):
            print("FATE", json.dumps(status)[-2000:])
            break
        time.sleep(0.5)
    if observe:
        print("TIMELINE (s, (run status, deliveries))", timeline)


def test_orchestrator_restart_workers_reconnect(grpc_stack, ingest_flow, index_name):
    _kill_server(grpc_stack.server_proc)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(requests.get(w.url + "/ready", timeout=5).status_code == 200 for w in grpc_stack.workers):
        time.sleep(0.1)
    for w in grpc_stack.workers:
        assert requests.get(w.url + "/health", timeout=5).status_code == 200, "liveness must not follow the orchestrator"
        assert w.proc.poll() is None
    grpc_stack.server_proc = _start_server(grpc_stack.grpc_port, grpc_stack.work)
    _wait_for("stepflow-server 0.13.0 (restarted)", lambda: requests.get(grpc_stack.api + "/health", timeout=2).status_code == 200,
              grpc_stack.server_proc, grpc_stack.work / "stepflow13.log")
    for w in grpc_stack.workers:
        _wait_for(f"{w.name} /ready after the restart", lambda w=w: requests.get(w.url + "/ready", timeout=2).status_code == 200,
                  w.proc, w.log, timeout=60)
    # The in-memory server forgot the flows: store it again.
    flow_id = grpc_stack.store_flow("ingest.yaml")
    out = _output(grpc_stack.run(flow_id, {"source": str(grpc_stack.docs_dir / "inventory.csv"), "index": index_name}))
    assert out["status"] == "indexed", out


def test_sigkilled_worker_tasks_are_reassigned_nothing_lost(grpc_stack, opensearch, run_ingest, index_name):
    """One worker is SIGKILLed while it holds tasks: the orchestrator reassigns them after its
    crash detection, every run completes, and the index equals a clean run's."""
    flow_id = grpc_stack.store_flow("ingest.yaml")
    names = ["release_notes.md", "handbook.html", "backup_policy.adoc", "inventory.csv", "security_review.docx",
             "migration_update.pptx"]
    items = [{"source": str(grpc_stack.docs_dir / n), "index": index_name} for n in names * 2]
    def claims(w: GWorker) -> int:
        return w.log.read_text(errors="replace").count('"task claimed"')

    before = {w.name: claims(w) for w in grpc_stack.workers}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = [pool.submit(grpc_stack.run, flow_id, item) for item in items]
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            victim = next((w for w in grpc_stack.workers if claims(w) > before[w.name]), None)
            time.sleep(0.02)
        assert victim is not None
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        runs = [f.result(timeout=600) for f in futures]
    grpc_stack.workers.remove(victim)
    for r in runs:
        assert r["summary"]["status"] == STATUS_COMPLETED, json.dumps(r)[-2000:]
    clean_index = index_name + "-clean"
    cli = run_ingest(*(grpc_stack.docs_dir / n for n in names), index=clean_index)
    assert cli.code == 0, str(cli)
    got = {h["_id"] for h in opensearch.docs(index_name)}
    want = {h["_id"] for h in opensearch.docs(clean_index)}
    assert got == want, (len(got), len(want))


def test_sigterm_during_a_document_completes_it_and_exits_0(grpc_stack, opensearch, index_name):
    """Last in the module: it stops one worker. The run is submitted without waiting, the worker
    that claimed it gets SIGTERM while the document is converting: readiness turns off at once,
    the document completes and the run with it, and the process exits 0."""
    ingest_flow = grpc_stack.store_flow("ingest.yaml")  # again: the restart test's in-memory server forgot it
    # A long document (hundreds of chunks to embed) so the signal lands while it is in flight.
    path = grpc_stack.docs_dir / "long_read.md"
    para = "The quarterly archive policy keeps every ledger for seven years and reviews access monthly. "
    path.write_text("\n\n".join(f"## Section {i}\n\n" + para * 12 + f"Unique {i}." for i in range(400)))
    r = requests.post(f"{grpc_stack.api}/runs", json={"flowId": ingest_flow, "input": [{"source": str(path), "index": index_name}]},
                      timeout=60)
    r.raise_for_status()
    run_id = r.json()["summary"]["runId"] if "summary" in r.json() else r.json()["runId"]

    def holder():
        for w in grpc_stack.workers:
            for line in w.log.read_text(errors="replace").splitlines():
                if '"task claimed"' in line and run_id in line:
                    return w
        return None

    deadline = time.monotonic() + 60
    worker = None
    while worker is None and time.monotonic() < deadline:
        worker = holder()
        time.sleep(0.05)
    assert worker is not None, f"no worker claimed run {run_id}"
    worker.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    if worker.proc.poll() is None:
        ready = requests.get(worker.url + "/ready", timeout=5)
        assert ready.status_code == 503 and ready.json()["stopping"], ready.text
    assert worker.proc.wait(timeout=900) == 0, _tail(worker.log)
    status = requests.get(f"{grpc_stack.api}/runs/{run_id}", timeout=30).json()
    summary = status.get("summary", status)
    assert summary["status"] in (STATUS_COMPLETED, "completed"), json.dumps(status)[-2000:]
    lines = worker.log.read_text(errors="replace").splitlines()
    stopped = next(i for i, line in enumerate(lines) if '"stopped pulling tasks' in line)
    completed = next(i for i, line in enumerate(lines) if '"task completed"' in line and run_id in line)
    assert stopped < completed, "the document finished before the signal: make it longer"
    assert opensearch.count(index_name) > 0

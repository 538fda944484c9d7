"""Live tests of `ingest serve` as deployed: three replicas (POD_NAME w1, w2, w3) behind HAProxy
standing in for Stepflow's instance-aware balancer, driven by the real Stepflow 0.9.0 server
through its REST API with the flows of samples/flows/.

Uses the session fixtures of conftest.py (docling-serve, osmem, embeddings, the `ingest` binary).
Starts, per session: the replicas, HAProxy (scripts/services/start-haproxy.sh, Debian `haproxy`),
stepflow-server (scripts/services/start-stepflow.sh, PyPI stepflow-orchestrator==0.9.0), and a
loopback HTTP file server for URL sources. Skips when the binary has no `serve` subcommand or
HAProxy is not installed.
"""
from __future__ import annotations

import base64
import concurrent.futures
import functools
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "services"
FLOWS = ROOT / "samples" / "flows"
REPLICAS = ("w1", "w2", "w3")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_health(url: str, proc: subprocess.Popen | None, log: Path, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{url} exited ({proc.returncode}) before answering; log:\n{log.read_text(errors='replace')[-3000:]}",
                        pytrace=False)
        try:
            r = requests.get(url + "/health", timeout=2)
            if r.status_code == 200:
                return r.json()
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url}/health did not answer within {timeout} s; log:\n{log.read_text(errors='replace')[-3000:]}",
                pytrace=False)


@dataclass
class Replica:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path
    instance_id: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    api: str
    balancer: str
    stats: str
    replicas: list[Replica]
    docs_dir: Path
    files_url: str
    run_dir: Path

    def store_flow(self, name: str) -> str:
        r = requests.post(f"{self.api}/flows", json={"flow": _load_flow(name)}, timeout=30)
        r.raise_for_status()
        body = r.json()
        assert body.get("stored") and body["diagnostics"]["numFatal"] == 0, body
        return body["flowId"]

    def run(self, flow_id: str, item: dict, timeout: float = 600) -> dict:
        """POST /runs (synchronous in 0.9.0) for one item; returns the run response."""
        r = requests.post(f"{self.api}/runs", json={"flowId": flow_id, "input": [item]}, timeout=timeout)
        r.raise_for_status()
        return r.json()

    def executions_per_replica(self) -> dict[str, int]:
        """components/execute calls each replica answered, from its own /metrics."""
        counts = {}
        for rep in self.replicas:
            text = requests.get(rep.url + "/metrics", timeout=10).text
            total = 0
            for line in text.splitlines():
                if line.startswith('ingest_rpc_requests_total{method="components/execute"'):
                    total += int(float(line.rsplit(" ", 1)[1]))
            counts[rep.name] = total
        return counts


def _load_flow(name: str) -> dict:
    """The flow as JSON (the REST API takes JSON). PyYAML may be missing from the test venv: then the
    docling venv's Python, which has it, converts the file."""
    try:
        import yaml  # noqa: PLC0415
        return yaml.safe_load((FLOWS / name).read_text())
    except ImportError:
        cache = Path(os.environ.get("INGEST_E2E_CACHE") or Path.home() / ".cache" / "ingest-e2e")
        py = Path(os.environ.get("DOCLING_VENV") or cache / "docling-venv") / "bin" / "python"
        out = subprocess.run([str(py), "-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
                              str(FLOWS / name)], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="session")
def worker_stack(services, ingest_bin, ingest_env, tmp_path_factory):
    if subprocess.run([str(ingest_bin), "serve", "--help"], capture_output=True).returncode != 0:
        pytest.skip("this ingest binary has no `serve` subcommand yet")
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if not haproxy:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")

    work = tmp_path_factory.mktemp("worker")
    docs = work / "docs"
    shutil.copytree(ROOT / "samples", docs, ignore=shutil.ignore_patterns("flows"))
    run_dir = services.run_dir
    env_base = {k: v for k, v in os.environ.items()
                if not k.startswith(("DOCLING_", "OPENSEARCH_", "OPENAI_", "EMBEDDING_", "INGEST_", "SERVER_", "POD_"))}
    env_base.update(ingest_env)
    env_base.update({
        "SERVER_HOST": "127.0.0.1",
        "INGEST_ALLOWED_ROOTS": str(docs),
        "INGEST_URL_ALLOW_HOSTS": "127.0.0.1",
        "INGEST_SHUTDOWN_GRACE_SECONDS": "0",
    })

    # Loopback file server for URL sources.
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(docs)))
    threading.Thread(target=files.serve_forever, daemon=True).start()

    replicas: list[Replica] = []
    started_scripts: list[str] = []
    try:
        for name in REPLICAS:
            port = _free_port()
            log = work / f"{name}.log"
            proc = subprocess.Popen([str(ingest_bin), "serve"], env=dict(env_base, POD_NAME=name, SERVER_PORT=str(port)),
                                    stdout=subprocess.DEVNULL, stderr=open(log, "w"), start_new_session=True)
            replicas.append(Replica(name, port, proc, log, ""))
        for rep in replicas:
            rep.instance_id = _wait_health(rep.url, rep.proc, rep.log)["instanceId"]

        lb, stats, sf = _free_port(), _free_port(), _free_port()
        script_env = dict(os.environ, INGEST_E2E_RUN=str(run_dir), HAPROXY_NAME="worker-haproxy",
                          STEPFLOW_NAME="worker-stepflow")
        p = subprocess.run([str(SCRIPTS / "start-haproxy.sh"), str(lb), *(str(r.port) for r in replicas), str(stats)],
                           env=script_env, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            pytest.fail(f"start-haproxy.sh failed:\n{p.stderr[-3000:]}", pytrace=False)
        started_scripts.append("worker-haproxy")
        balancer = p.stdout.strip().splitlines()[-1]
        p = subprocess.run([str(SCRIPTS / "start-stepflow.sh"), str(sf), balancer],
                           env=script_env, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            pytest.fail(f"start-stepflow.sh failed:\n{p.stderr[-3000:]}", pytrace=False)
        started_scripts.append("worker-stepflow")
        api = p.stdout.strip().splitlines()[-1]
        yield Stack(api=api, balancer=balancer, stats=f"http://127.0.0.1:{stats}/stats", replicas=replicas,
                    docs_dir=docs, files_url=f"http://127.0.0.1:{files.server_address[1]}", run_dir=run_dir)
    finally:
        if started_scripts:
            subprocess.run([str(SCRIPTS / "stop-all.sh"), *started_scripts], env=dict(os.environ, INGEST_E2E_RUN=str(run_dir)),
                           capture_output=True, timeout=120)
        for rep in replicas:
            if rep.proc.poll() is None:
                rep.proc.send_signal(signal.SIGTERM)
        for rep in replicas:
            try:
                rep.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                rep.proc.kill()
                rep.proc.wait()
        files.shutdown()


@pytest.fixture(scope="session")
def ingest_flow(worker_stack) -> str:
    return worker_stack.store_flow("ingest.yaml")


@pytest.fixture(scope="session")
def blob_flow(worker_stack) -> str:
    return worker_stack.store_flow("ingest_blob.yaml")


def _output(run: dict) -> dict:
    assert run["status"] == "completed", json.dumps(run, indent=1)[-3000:]
    return run["result"]["result"]["result"]


def _failure_text(run: dict) -> str:
    assert run["status"] == "failed", json.dumps(run, indent=1)[-3000:]
    return json.dumps(run["result"]["error"])


def test_health_and_instance_ids(worker_stack):
    ids = [r.instance_id for r in worker_stack.replicas]
    for name, iid in zip(REPLICAS, ids):
        assert iid.startswith(name + "-") and len(iid) == len(name) + 9, iid
    assert len(set(ids)) == 3
    components = requests.get(f"{worker_stack.api}/components", timeout=30).json()["components"]
    ingest = next(c for c in components if c["component"] == "/ingest")
    assert "source" in ingest["input_schema"]["properties"]


def test_ingest_by_path(worker_stack, ingest_flow, opensearch, index_name):
    path = worker_stack.docs_dir / "release_notes.md"
    out = _output(worker_stack.run(ingest_flow, {"source": str(path), "index": index_name}))
    assert out["status"] == "indexed" and out["chunks"] > 0 and out["index"] == index_name, out
    assert out["source"] == str(path)
    assert opensearch.count(index_name) == out["chunks"]
    # Again: nothing changed.
    again = _output(worker_stack.run(ingest_flow, {"source": str(path), "index": index_name}))
    assert again["status"] == "unchanged" and again["document_id"] == out["document_id"]


def test_ingest_by_url(worker_stack, ingest_flow, opensearch, index_name):
    url = f"{worker_stack.files_url}/handbook.html"
    out = _output(worker_stack.run(ingest_flow, {"source": url, "index": index_name}))
    assert out["status"] == "indexed" and out["chunks"] > 0, out
    assert opensearch.count(index_name) == out["chunks"]


def test_ingest_by_base64(worker_stack, ingest_flow, opensearch, index_name):
    data = base64.b64encode((worker_stack.docs_dir / "release_notes.md").read_bytes()).decode()
    out = _output(worker_stack.run(ingest_flow, {"source": {"base64": data, "filename": "notes.md"}, "index": index_name,
                                                 "owner": "u-42", "connector_type": "upload"}))
    assert out["status"] == "indexed" and out["filename"] == "notes.md", out
    hits = opensearch.docs(index_name)
    assert len(hits) == out["chunks"]
    assert {h["_source"].get("owner") for h in hits} == {"u-42"}


def test_ingest_by_blob(worker_stack, blob_flow, opensearch, index_name):
    data = base64.b64encode((worker_stack.docs_dir / "handbook.html").read_bytes()).decode()
    before = worker_stack.executions_per_replica()
    out = _output(worker_stack.run(blob_flow, {"document": {"filename": "handbook.html", "base64": data},
                                               "index": index_name}))
    assert out["status"] == "indexed" and out["chunks"] > 0, out
    assert opensearch.count(index_name) == out["chunks"]
    after = worker_stack.executions_per_replica()
    assert sum(after.values()) - sum(before.values()) == 1


def test_twenty_runs_at_once_spread_over_all_replicas(worker_stack, ingest_flow, blob_flow, index_name):
    before = worker_stack.executions_per_replica()
    md = (worker_stack.docs_dir / "release_notes.md").read_text()
    items = []
    for i in range(20):
        text = f"# Note {i}\n\n{md}\n\nUnique line {i}.\n"
        encoded = base64.b64encode(text.encode()).decode()
        if i % 2:
            items.append((blob_flow, {"document": {"filename": f"n{i}.md", "base64": encoded}, "index": index_name}))
        else:
            items.append((ingest_flow, {"source": {"base64": encoded, "filename": f"n{i}.md"}, "index": index_name}))
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        runs = list(pool.map(lambda fi: worker_stack.run(*fi), items))
    outs = [_output(r) for r in runs]
    assert all(o["status"] == "indexed" for o in outs)
    assert len({o["document_id"] for o in outs}) == 20
    after = worker_stack.executions_per_replica()
    served = {name: after[name] - before[name] for name in after}
    assert sum(served.values()) == 20, served
    assert all(n > 0 for n in served.values()), f"a replica served nothing: {served}"


def test_failing_document_fails_the_run_with_its_cause(worker_stack, ingest_flow, index_name):
    bad = worker_stack.docs_dir / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    text = _failure_text(worker_stack.run(ingest_flow, {"source": str(bad), "index": index_name}))
    assert "broken.pdf" in text and "component server error(-3200" in text, text

    outside = _failure_text(worker_stack.run(ingest_flow, {"source": "/etc/hostname", "index": index_name}))
    assert "/etc/hostname" in outside and "-32602" in outside, outside

    unknown = _failure_text(worker_stack.run(ingest_flow, {"source": {"url": "ftp://x/y"}, "index": index_name}))
    assert "http:// or https://" in unknown, unknown


def test_path_ingest_matches_the_cli(worker_stack, ingest_flow, run_ingest, opensearch, index_name):
    path = worker_stack.docs_dir / "security_review.docx"
    cli_index, worker_index = index_name + "-cli", index_name + "-wk"
    cli = run_ingest(path, index=cli_index)
    assert cli.code == 0, str(cli)
    out = _output(worker_stack.run(ingest_flow, {"source": str(path), "index": worker_index}))
    cli_hits = {h["_id"]: h["_source"] for h in opensearch.docs(cli_index)}
    wk_hits = {h["_id"]: h["_source"] for h in opensearch.docs(worker_index)}
    assert cli_hits and set(cli_hits) == set(wk_hits), (sorted(cli_hits)[:5], sorted(wk_hits)[:5])
    assert out["chunks"] == len(wk_hits)

    def volatile(key: str) -> bool:  # when it was indexed, not what
        return "time" in key or key.endswith("_at")

    for _id, src in cli_hits.items():
        a = {k: v for k, v in src.items() if not volatile(k)}
        b = {k: v for k, v in wk_hits[_id].items() if not volatile(k)}
        assert a.keys() == b.keys(), (_id, sorted(a.keys() ^ b.keys()))
        diff = [k for k in a if a[k] != b[k]]
        assert not diff, (_id, diff)


# ---------------------------------------------------------------- local paths opened once (issue 19)

def _execute(rep: Replica, source: str, index: str, timeout: float = 10) -> tuple[dict, float]:
    """components/execute straight to one replica (no Stepflow in between, so the time measured
    is the worker's); returns the JSON-RPC reply and the seconds it took."""
    t0 = time.monotonic()
    r = requests.post(rep.url + "/", json={"jsonrpc": "2.0", "id": "issue-19", "method": "components/execute",
                                          "params": {"component": "/ingest", "input": {"source": source, "index": index}}},
                      timeout=timeout)
    return r.json(), time.monotonic() - t0


def _unblock_fifo(fifo: Path) -> None:
    """Lets a reader blocked on `fifo` go (a reader that opens it blocking); a no-op when none is."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


def _assert_still_serving(stack: Stack, index: str) -> None:
    for rep in stack.replicas:
        assert requests.get(rep.url + "/health", timeout=5).status_code == 200, rep.name
    reply, _ = _execute(stack.replicas[0], str(stack.docs_dir / "release_notes.md"), index, timeout=300)
    assert reply.get("result", {}).get("output", {}).get("status") in ("indexed", "unchanged"), reply


def test_a_fifo_or_a_symlink_out_of_the_root_is_refused_at_once(worker_stack, index_name, tmp_path):
    docs = worker_stack.docs_dir
    fifo = docs / "issue19-pipe.md"
    os.mkfifo(fifo)
    secret = tmp_path / "secret.md"  # outside INGEST_ALLOWED_ROOTS
    secret.write_text("# Secret\n\nOutside the roots.\n")
    link = docs / "issue19-link.md"
    link.symlink_to(secret)
    rep = worker_stack.replicas[0]
    try:
        try:
            reply, took = _execute(rep, str(fifo), index_name)
        except requests.ReadTimeout:
            pytest.fail("a FIFO inside the root blocked the execute for 10 s", pytrace=False)
        print(f"\nFIFO refused in {took * 1000:.0f} ms: {reply.get('error', {}).get('message')}")
        assert took < 1, took
        assert reply["error"]["code"] == -32602 and "FIFO" in reply["error"]["message"], reply
        assert str(fifo) in reply["error"]["message"], reply

        reply, took = _execute(rep, str(link), index_name)
        print(f"symlink out of the root refused in {took * 1000:.0f} ms: {reply.get('error', {}).get('message')}")
        assert took < 1, took
        assert reply["error"]["code"] == -32602 and "outside INGEST_ALLOWED_ROOTS" in reply["error"]["message"], reply
    finally:
        _unblock_fifo(fifo)
        fifo.unlink()
        link.unlink()
    _assert_still_serving(worker_stack, index_name)


# Swaps argv[3] between a symlink to argv[1] and a hard link of argv[2] (each an atomic rename)
# until argv[4] exists; prints how many times.
_FLIP = """
import os, sys
secret, master, path, stop = sys.argv[1:5]
tmp_link, tmp_file = path + ".link.tmp", path + ".file.tmp"
flips = 0
while flips % 256 or not os.path.exists(stop):
    os.symlink(secret, tmp_link)
    os.replace(tmp_link, path)
    os.link(master, tmp_file)
    os.replace(tmp_file, path)
    flips += 1
print(flips)
"""


def test_a_symlink_swapped_in_while_paths_are_read_never_escapes_the_root(worker_stack, index_name, tmp_path):
    """A process swaps a path inside the root between a regular file and a symlink to a file
    outside (each an atomic rename) while the replicas are asked for that path over and over.
    Each execute must read the file inside or be refused; the outside file's bytes (its
    document_id) must never come back. Before the fix the roots were checked on the name and the
    file opened by name again, so a swap between the two read the outside file."""
    docs = worker_stack.docs_dir
    secret = tmp_path / "secret.md"
    secret.write_text("# Secret\n\nOutside the roots; must never be indexed.\n")
    secret_id = hashlib.sha256(secret.read_bytes()).hexdigest()
    master = docs / ".issue19-master.md"
    master.write_text("# Swap\n\nInside the root.\n")
    inside_id = hashlib.sha256(master.read_bytes()).hexdigest()
    path = docs / "issue19-swap.md"
    os.link(master, path)
    stop = docs / ".issue19-stop"
    # Its own process, so the GIL of the requesting threads never slows the swapping.
    flipper = subprocess.Popen([sys.executable, "-c", _FLIP, str(secret), str(master), str(path), str(stop)],
                               stdout=subprocess.PIPE, text=True)

    counts = {"inside": 0, "refused_outside": 0, "refused_swapped": 0, "escaped": 0, "other": 0}
    others: list = []
    lock = threading.Lock()

    def ask(i: int) -> None:
        reply, _ = _execute(worker_stack.replicas[i % 3], str(path), index_name, timeout=300)
        out, err = reply.get("result", {}).get("output", {}), reply.get("error", {})
        kind = ("escaped" if out.get("document_id") == secret_id else
                "inside" if out.get("document_id") == inside_id else
                "refused_swapped" if "symbolic link while being opened" in err.get("message", "") else
                "refused_outside" if "outside INGEST_ALLOWED_ROOTS" in err.get("message", "") else "other")
        with lock:
            counts[kind] += 1
            if kind == "other":
                others.append(reply)

    t0 = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(ask, range(600)))
    finally:
        stop.touch()
        flips = int(flipper.communicate(timeout=30)[0] or 0)
        for leftover in (path, master, stop, Path(f"{path}.link.tmp"), Path(f"{path}.file.tmp")):
            leftover.unlink(missing_ok=True)
    print(f"\n600 executes in {time.monotonic() - t0:.1f} s while the path flipped {flips} times: {counts}")
    assert counts["escaped"] == 0, counts
    assert counts["other"] == 0, others[:3]
    assert counts["inside"] > 0 and counts["refused_outside"] > 0, counts
    _assert_still_serving(worker_stack, index_name)

"""The HTTP worker with Stepflow 0.11.1 (the 0.10/0.11 generation): the real
stepflow-orchestrator 0.11.1, HAProxy standing in for the balancer, three `ingest serve`
replicas. These servers answer no `blobs/get` over SSE; the replicas read `blob_id` sources from the
REST blob API (STEPFLOW_BLOB_API_URL; only one replica receives initialize's blobApiUrl).
"""
from __future__ import annotations

import base64
import concurrent.futures
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT, _free_port
from test_worker import REPLICAS, SCRIPTS, Replica, Stack, _wait_health

STEPFLOW11_VENV = Path(os.environ.get("STEPFLOW11_VENV") or Path.home() / ".cache/ingest-e2e/stepflow11-venv")


class Stack011(Stack):
    def run(self, flow_id: str, item: dict, timeout: float = 600) -> dict:
        """POST /runs answers `running` at once on 0.11: poll the run until it ends."""
        r = requests.post(f"{self.api}/runs", json={"flowId": flow_id, "input": [item]}, timeout=timeout)
        r.raise_for_status()
        run = r.json()
        deadline = time.monotonic() + timeout
        while run.get("status") == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
            got = requests.get(f"{self.api}/runs/{run['runId']}", timeout=30)
            got.raise_for_status()
            run = {**run, **got.json()}
        return run


@pytest.fixture(scope="module")
def stack011(services, ingest_bin, ingest_env, tmp_path_factory):
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if not haproxy:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    subprocess.run([str(SCRIPTS / "install.sh"), "stepflow11"], check=True, capture_output=True, timeout=600)
    work = tmp_path_factory.mktemp("worker011")
    run_dir = services.run_dir
    sf = _free_port()
    env_base = {k: v for k, v in os.environ.items()
                if not k.startswith(("DOCLING_", "OPENSEARCH_", "OPENAI_", "EMBEDDING_", "INGEST_", "SERVER_", "POD_", "STEPFLOW_"))}
    env_base.update(ingest_env)
    env_base.update({"SERVER_HOST": "127.0.0.1", "INGEST_SHUTDOWN_GRACE_SECONDS": "0",
                     "STEPFLOW_BLOB_API_URL": f"http://127.0.0.1:{sf}/api/v1/blobs"})
    replicas: list[Replica] = []
    started: list[str] = []
    try:
        for name in REPLICAS:
            port = _free_port()
            log = work / f"{name}.log"
            proc = subprocess.Popen([str(ingest_bin), "serve"], env=dict(env_base, POD_NAME=f"{name}11", SERVER_PORT=str(port)),
                                    stdout=subprocess.DEVNULL, stderr=open(log, "w"), start_new_session=True)
            replicas.append(Replica(name, port, proc, log, ""))
        for rep in replicas:
            rep.instance_id = _wait_health(rep.url, rep.proc, rep.log)["instanceId"]
        lb, stats = _free_port(), _free_port()
        script_env = dict(os.environ, INGEST_E2E_RUN=str(run_dir), HAPROXY_NAME="worker11-haproxy",
                          STEPFLOW_NAME="worker11-stepflow", STEPFLOW_VERSION="0.11.1", STEPFLOW_VENV=str(STEPFLOW11_VENV))
        p = subprocess.run([str(SCRIPTS / "start-haproxy.sh"), str(lb), *(str(r.port) for r in replicas), str(stats)],
                           env=script_env, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            pytest.fail(f"start-haproxy.sh failed:\n{p.stderr[-3000:]}", pytrace=False)
        started.append("worker11-haproxy")
        balancer = p.stdout.strip().splitlines()[-1]
        p = subprocess.run([str(SCRIPTS / "start-stepflow.sh"), str(sf), balancer],
                           env=script_env, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            pytest.fail(f"start-stepflow.sh (0.11.1) failed:\n{p.stderr[-3000:]}", pytrace=False)
        started.append("worker11-stepflow")
        api = p.stdout.strip().splitlines()[-1]
        yield Stack011(api=api, balancer=balancer, stats=f"http://127.0.0.1:{stats}/stats", replicas=replicas,
                       docs_dir=work, files_url="", run_dir=run_dir)
    finally:
        if started:
            subprocess.run([str(SCRIPTS / "stop-all.sh"), *started], env=dict(os.environ, INGEST_E2E_RUN=str(run_dir)),
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


def test_blob_flow_on_0_11_reads_the_rest_blob_api_on_every_replica(stack011, opensearch, index_name):
    flow = stack011.store_flow("ingest_blob.yaml")
    md = (ROOT / "samples" / "release_notes.md").read_text()
    before = stack011.executions_per_replica()
    items = [{"document": {"filename": f"r{i}.md", "base64": base64.b64encode(f"# R{i}\n\n{md}\n".encode()).decode()},
              "index": index_name} for i in range(9)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=9) as pool:
        runs = list(pool.map(lambda item: stack011.run(flow, item), items))
    assert all(r.get("status") == "completed" for r in runs), [r.get("status") for r in runs]
    after = stack011.executions_per_replica()
    served = {name: after[name] - before[name] for name in after}
    assert sum(served.values()) == 9, served
    assert all(n > 0 for n in served.values()), f"a replica served nothing: {served}"
    sources = {h["_source"]["source"] for h in opensearch.docs(index_name)}
    assert sources == {f"upload:anonymous/r{i}.md" for i in range(9)}, sorted(sources)

"""The HTTP worker with Stepflow 0.11.1 (the 0.10/0.11 generation): the real
stepflow-orchestrator 0.11.1, HAProxy standing in for the balancer, three `ingest serve`
replicas. These servers answer no `blobs/get` over SSE; the replicas read `blob_id` sources from the
REST blob API (STEPFLOW_BLOB_API_URL on every replica: only one replica receives initialize's
blobApiUrl, and that address is used only on an origin listed in STEPFLOW_BLOB_API_ALLOW).
"""
from __future__ import annotations

import base64
import concurrent.futures
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT, _free_port
from test_worker import SCRIPTS, Stack
from worker_support import start_cluster

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
    if not (shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists()):
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    subprocess.run([str(SCRIPTS / "install.sh"), "stepflow11"], check=True, capture_output=True, timeout=600)
    sf = _free_port()
    env = dict(ingest_env, STEPFLOW_BLOB_API_URL=f"http://127.0.0.1:{sf}/api/v1/blobs")
    try:
        cluster = start_cluster(ingest_bin, env, tmp_path_factory.mktemp("worker011"), services.run_dir, "worker11",
                                stepflow_env={"STEPFLOW_VERSION": "0.11.1", "STEPFLOW_VENV": str(STEPFLOW11_VENV)},
                                stepflow_port=sf)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield Stack011(api=cluster.api, balancer=cluster.balancer, stats=cluster.stats,
                       replicas=cluster.replicas, docs_dir=Path(), files_url="", run_dir=services.run_dir)
    finally:
        cluster.stop()


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

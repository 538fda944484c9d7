"""The README's first command, scripts/up, as a new user meets it: the local index it starts keeps
its data across `scripts/services/stop-all.sh` and the next `scripts/up`.

scripts/up runs here with Docling of the live suite and `ingest serve-embeddings` as its
embeddings API (so it builds nothing and starts no docling-serve of its own: INGEST_BIN is the
debug binary) and starts its own osmem-server, in a run folder and a data folder of the test's own.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import requests

from conftest import ROOT, _free_port

UP = ROOT / "scripts" / "up"
STOP_ALL = ROOT / "scripts" / "services" / "stop-all.sh"


def _up(env: dict[str, str], docs: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(UP), str(docs), "--", "--index", "kept"], env=env, capture_output=True,
                          text=True, timeout=600, cwd=ROOT)


def _opensearch_url(run_dir: Path) -> str:
    text = (run_dir / "env.sh").read_text()
    match = re.search(r"^export OPENSEARCH_HOST=(\S+)$", text, re.M)
    assert match, text
    return match.group(1).strip("'\"")


def test_local_index_survives_stop_all_and_up(services, ingest_bin, ingest_env, swift_embeddings, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"note-{i}.md").write_text(f"# Note {i}\n\nThe local index keeps note {i} across restarts.\n")
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENSEARCH_HOST", "OPENSEARCH_PORT")}
    env.update({k: v for k, v in ingest_env.items() if k not in ("OPENSEARCH_HOST", "OPENSEARCH_PORT")})
    env.update(INGEST_BIN=str(ingest_bin), INGEST_E2E_RUN=str(run_dir), INGEST_DATA_DIR=str(data_dir),
               OSMEM_PORT=str(_free_port()), OPENAI_BASE_URL=swift_embeddings.url)
    try:
        first = _up(env, docs)
        assert first.returncode == 0, first.stderr[-4000:]
        url = _opensearch_url(run_dir)
        chunks = requests.get(f"{url}/kept/_count", timeout=10).json()["count"]
        assert chunks >= 3

        stop = subprocess.run([str(STOP_ALL)], env=env, capture_output=True, text=True, timeout=120)
        assert stop.returncode == 0, stop.stderr
        assert (data_dir / "osmem" / "current" / "kept.ndjson").exists(), list((data_dir / "osmem").iterdir())
        try:
            requests.get(url, timeout=2)
            raise AssertionError("osmem-server still answers after stop-all")
        except requests.ConnectionError:
            pass

        second = _up(env, docs)
        assert second.returncode == 0, second.stderr[-4000:]
        url = _opensearch_url(run_dir)
        assert requests.get(f"{url}/kept/_count", timeout=10).json()["count"] == chunks
        # The documents were found in the kept index: nothing was converted or embedded again.
        assert "3 unchanged" in (second.stdout + second.stderr), second.stdout[-2000:] + second.stderr[-2000:]
        mapping = requests.get(f"{url}/kept/_mapping", timeout=10).json()["kept"]["mappings"]["properties"]
        assert any(v.get("type") == "knn_vector" for v in mapping.values()), mapping
    finally:
        subprocess.run([str(STOP_ALL)], env=env, capture_output=True, timeout=120)


START_OSMEM = ROOT / "scripts" / "services" / "start-osmem.sh"


def _bulk(url: str, index: str, count: int, tag: str) -> None:
    lines = "".join(f'{{"index":{{"_index":"{index}","_id":"{tag}-{i}"}}}}\n{{"text":"{tag} {i}"}}\n' for i in range(count))
    r = requests.post(f"{url}/_bulk?refresh=true", data=lines, headers={"Content-Type": "application/x-ndjson"}, timeout=30)
    assert r.status_code == 200 and not r.json().get("errors"), r.text[:500]


def test_osmem_data_survives_stop_all_and_an_interrupted_save_of_the_previous_layout(tmp_path):
    """The real osmem-server through start-osmem.sh and stop-all.sh (no `ingest`): a save is loaded
    by the next start, and the previous layout's crash leftover (FOLDER.old only, FOLDER empty) is
    loaded rather than an empty index. stop-all signals only the process start-osmem.sh started."""
    run_dir, data = tmp_path / "run", tmp_path / "data" / "osmem"
    env = dict(os.environ, INGEST_E2E_RUN=str(run_dir), OSMEM_DATA_DIR=str(data), OSMEM_PORT=str(_free_port()))

    def start() -> str:
        p = subprocess.run([str(START_OSMEM)], env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        return p.stdout.strip().splitlines()[-1]

    def stop() -> str:
        p = subprocess.run([str(STOP_ALL)], env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stderr

    try:
        url = start()
        _bulk(url, "kept", 7, "first")
        assert "stopped osmem" in stop()
        assert os.readlink(data / "current") == "save-1"
        url = start()
        assert requests.get(f"{url}/kept/_count", timeout=10).json()["count"] == 7
        _bulk(url, "kept", 3, "second")
        stop()

        # The previous layout's crash between its two renames: only FOLDER.old, and an empty FOLDER.
        legacy = tmp_path / "legacy"
        (legacy / "osmem").mkdir(parents=True)
        old = legacy / "osmem.old"
        (data / "current").resolve().rename(old)
        env["OSMEM_DATA_DIR"] = str(legacy / "osmem")
        url = start()
        assert requests.get(f"{url}/kept/_count", timeout=10).json()["count"] == 10
        stop()
        assert not old.exists() and os.readlink(legacy / "osmem" / "current") == "save-2"
    finally:
        subprocess.run([str(STOP_ALL)], env=env, capture_output=True, timeout=120)

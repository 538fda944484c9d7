"""Embedding spaces and `ingest search` end to end (issue 24): real docling-serve, osmem-server and
the all-MiniLM-L6-v2 embeddings server.

* With EMBEDDING_PROVIDER=openai_like every chunk carries OpenRAG's `embedding_provider` and
  `embedding_space_id`, and its vector sits in the field named after the space, mapped as
  `knn_vector` (also in an index another tool created, before the first write).
* `ingest search` finds a known passage of samples/ on osmem (which has no `knn` query: it says so
  once and searches by keywords, as OpenRAG does when embedding is unavailable).
* Against a stub that answers like OpenSearch with k-NN, `ingest search` sends OpenRAG's hybrid
  query with one k-NN clause for our space, and the question's vector is the one `ingest embed`
  gives: the query-time model is the ingest-time model.
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from conftest import EMBEDDING_MODEL, make_runner

PROVIDER = "openai_like"
SPACE_ID = f"{PROVIDER}:{EMBEDDING_MODEL}"
SPACE_FIELD = "chunk_embedding_openai_like_all_minilm_l6_v2"
LEGACY_FIELD = "chunk_embedding_all_minilm_l6_v2"
SAMPLES = ("backup_policy.adoc", "release_notes.md", "handbook.html")
QUESTION = "how often are restores tested"
PASSAGE = "Restores are tested monthly on a staging cluster"


def run_cli(ingest_bin: Path, ingest_env: dict, args: list[str], env: dict | None = None, timeout: float = 120):
    import os
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("DOCLING_", "OPENSEARCH_", "OPENAI_", "EMBEDDING_", "INGEST_"))}
    full.update(ingest_env)
    full.update(env or {})
    return subprocess.run([str(ingest_bin), *args], env=full, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def spaced(ingest_bin, ingest_env, services, opensearch, tmp_path_factory):
    """The samples ingested once with EMBEDDING_PROVIDER=openai_like."""
    work = tmp_path_factory.mktemp("spaces")
    docs = work / "docs"
    docs.mkdir()
    for name in SAMPLES:
        shutil.copy2(Path(__file__).resolve().parents[2] / "samples" / name, docs / name)
    index = "live-spaces-" + work.name.lower().replace("_", "-")[-10:].strip("-")
    run = make_runner(ingest_bin, ingest_env, work)(docs, index=index, env={"EMBEDDING_PROVIDER": PROVIDER})
    assert run.code == 0, str(run)
    yield {"index": index, "run": run}
    opensearch.delete_index(index)


def test_chunks_carry_the_space_and_the_vector_sits_in_its_field(spaced, opensearch):
    hits = opensearch.docs(spaced["index"])
    assert hits, "no chunks written"
    for hit in hits:
        source = hit["_source"]
        assert source["embedding_provider"] == PROVIDER, source.keys()
        assert source["embedding_space_id"] == SPACE_ID
        assert source["embedding_model"] == EMBEDDING_MODEL
        vector = source[SPACE_FIELD]
        assert len(vector) == 384 and all(math.isfinite(x) for x in vector)
        assert LEGACY_FIELD not in source, "the vector is filed under the space only"
    props = opensearch.mapping(spaced["index"])["properties"]
    assert props[SPACE_FIELD]["type"] == "knn_vector" and props[SPACE_FIELD]["dimension"] == 384
    assert props["embedding_space_id"]["type"] == "keyword"
    assert props["embedding_provider"]["type"] == "keyword"


def test_provider_is_part_of_the_generation(spaced, ingest_bin, ingest_env, opensearch, tmp_path):
    """The legacy layout of the same file is another generation: a rerun without the provider
    rewrites it (vectors back in the model's field, no space fields)."""
    src = Path(__file__).resolve().parents[2] / "samples" / "backup_policy.adoc"
    copy = tmp_path / "backup_policy.adoc"
    shutil.copy2(src, copy)
    runner = make_runner(ingest_bin, ingest_env, tmp_path)
    index = spaced["index"] + "-gen"
    try:
        first = runner(copy, index=index, env={"EMBEDDING_PROVIDER": PROVIDER})
        again = runner(copy, index=index, env={"EMBEDDING_PROVIDER": PROVIDER})
        legacy = runner(copy, index=index)
        assert [d["status"] for d in first.docs()] == ["indexed"], str(first)
        assert [d["status"] for d in again.docs()] == ["unchanged"], str(again)
        assert [d["status"] for d in legacy.docs()] == ["indexed"], str(legacy)
        assert len({h["_source"]["generation"] for h in opensearch.docs(index)}) == 1, "the old generation was swapped out"
        for hit in opensearch.docs(index):
            assert LEGACY_FIELD in hit["_source"] and "embedding_space_id" not in hit["_source"]
    finally:
        opensearch.delete_index(index)


def test_an_index_another_tool_created_gets_the_space_field_mapped_before_the_first_write(
        ingest_bin, ingest_env, opensearch, services, tmp_path, index_name):
    # As OpenRAG or an operator would create it: no field of ours, no vector field.
    r = requests.put(f"{opensearch.url}/{index_name}", json={
        "settings": {"index": {"knn": True}},
        "mappings": {"properties": {"text": {"type": "text"}, "filename": {"type": "keyword"}}}}, timeout=30)
    assert r.status_code == 200, r.text
    try:
        doc = tmp_path / "backup_policy.adoc"
        shutil.copy2(Path(__file__).resolve().parents[2] / "samples" / "backup_policy.adoc", doc)
        run = make_runner(ingest_bin, ingest_env, tmp_path)(doc, index=index_name, env={"EMBEDDING_PROVIDER": PROVIDER})
        assert run.code == 0, str(run)
        props = opensearch.mapping(index_name)["properties"]
        assert props[SPACE_FIELD]["type"] == "knn_vector", props.get(SPACE_FIELD)
        assert props["embedding_space_id"]["type"] == "keyword"
        assert props["source"]["type"] == "keyword"
        assert opensearch.count(index_name) > 0
    finally:
        opensearch.delete_index(index_name)


def test_search_finds_a_known_passage_by_keywords_on_osmem(spaced, ingest_bin, ingest_env):
    p = run_cli(ingest_bin, ingest_env, ["search", QUESTION, "--index", spaced["index"], "-k", "3"],
                env={"EMBEDDING_PROVIDER": PROVIDER})
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("does not run k-NN queries") == 1, p.stderr
    assert p.stdout.startswith("1."), p.stdout
    top = p.stdout.split("\n2.")[0]
    assert "backup_policy.adoc" in top and PASSAGE in top, p.stdout

    j = run_cli(ingest_bin, ingest_env, ["search", QUESTION, "--index", spaced["index"], "-k", "2", "--json"],
                env={"EMBEDDING_PROVIDER": PROVIDER})
    assert j.returncode == 0, j.stderr
    hits = json.loads(j.stdout)
    assert isinstance(hits, list) and 1 <= len(hits) <= 2
    assert set(hits[0]) == {"id", "score", "fields"}
    assert hits[0]["fields"]["filename"] == "backup_policy.adoc"
    assert PASSAGE in hits[0]["fields"]["text"]
    assert hits[0]["fields"]["embedding_space_id"] == SPACE_ID
    assert isinstance(hits[0]["score"], float)


def test_search_of_a_missing_index_is_exit_2(ingest_bin, ingest_env, index_name):
    p = run_cli(ingest_bin, ingest_env, ["search", QUESTION, "--index", index_name])
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert index_name in p.stderr and "does not exist" in p.stderr


class KNNStub(BaseHTTPRequestHandler):
    """Answers `_search` like OpenSearch with the k-NN plugin: one qualified space, no legacy
    model, and one hit for the hybrid query, whose body it records."""
    bodies: list[dict] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        aggs = body.get("aggs", {})
        if "embedding_spaces" in aggs:
            answer = {"aggregations": {"embedding_spaces": {"buckets": [
                {"key": {"space_id": SPACE_ID}, "doc_count": 5}]}}}
        elif "legacy_embedding_models" in aggs:
            answer = {"aggregations": {"legacy_embedding_models": {"buckets": []}}}
        else:
            KNNStub.bodies.append(body)
            answer = {"hits": {"total": {"value": 1}, "hits": [{"_id": "x_g_0", "_score": 1.5, "_source": {
                "filename": "backup_policy.adoc", "text": PASSAGE + ".", "page": 1, "headings": ["Restore testing"]}}]}}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_search_sends_openrags_knn_query_with_the_ingest_model(ingest_bin, ingest_env):
    KNNStub.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), KNNStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        env = {"OPENSEARCH_HOST": f"http://127.0.0.1:{port}", "OPENSEARCH_PORT": str(port), "EMBEDDING_PROVIDER": PROVIDER}
        p = run_cli(ingest_bin, ingest_env, ["search", QUESTION, "--index", "documents", "-k", "4"], env=env)
        assert p.returncode == 0, p.stderr
        assert "k-NN" not in p.stderr, p.stderr
        assert "backup_policy.adoc" in p.stdout and "Restore testing" in p.stdout
        assert len(KNNStub.bodies) == 1
        body = KNNStub.bodies[0]
        should = body["query"]["bool"]["should"]
        dis_max = should[0]["dis_max"]
        assert dis_max["boost"] == 0.7 and dis_max["tie_breaker"] == 0.0
        knn = dis_max["queries"][0]["knn"]
        assert list(knn) == [SPACE_FIELD]
        assert knn[SPACE_FIELD]["k"] == 50 and knn[SPACE_FIELD]["num_candidates"] == 1000
        assert should[1]["multi_match"]["boost"] == 0.3 and should[1]["multi_match"]["fields"] == ["text^2", "filename^1.5"]
        assert should[2]["match_phrase_prefix"]["text"]["query"] == QUESTION
        assert body["size"] == 4

        # The question's vector is what the ingest-time embedder gives for it.
        e = run_cli(ingest_bin, ingest_env, ["embed", QUESTION])
        assert e.returncode == 0, e.stderr
        expected = json.loads(e.stdout.splitlines()[0])
        sent = knn[SPACE_FIELD]["vector"]
        assert len(sent) == len(expected) == 384
        assert max(abs(a - b) for a, b in zip(sent, expected)) < 1e-6
    finally:
        server.shutdown()
        server.server_close()

"""The findings of the security review, reproduced against a real `ingest serve` (and the real
docling-serve, osmem-server and embeddings server behind it): nobody steers the worker's blob reads
with an unauthenticated `initialize`, no upload can take over a path's identity, and a presigned
URL's signature is neither part of its identity nor stored or logged.
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

import requests

from conftest import ROOT
from worker_support import free_port, start_worker, stop_process


def execute(worker, input_: dict, timeout: float = 300) -> dict:
    """One `components/execute` straight to the worker; its JSON-RPC reply (the last SSE event
    when the worker streamed)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "components/execute", "params": {"component": "/ingest", "input": input_}}
    r = requests.post(worker.url + "/", json=body, timeout=timeout)
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        events = [json.loads(e[len("data: "):]) for e in r.text.split("\n\n") if e.startswith("data: ")]
        return events[-1]
    return r.json()


def initialize(worker, blob_api: str) -> None:
    r = requests.post(worker.url + "/", json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "runtimeProtocolVersion": 1, "capabilities": {"blobApiUrl": blob_api, "blobThreshold": 1048576}}}, timeout=30)
    r.raise_for_status()


class RecordingBlobAPI:
    """A loopback HTTP server that records every request and answers each GET as a binary blob
    (as Stepflow 0.11's REST blob API does)."""

    def __init__(self, body: bytes, filename: str):
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests.append(f"GET {self.path}")
                self.send_response(200)
                self.send_header("x-blob-type", "binary")
                self.send_header("content-disposition", f'attachment; filename="{filename}"')
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_initialize_names_a_blob_api_only_on_an_allowed_origin(ingest_bin, ingest_env, index_name, tmp_path):
    """The review's probe: an `initialize` naming a loopback address, then a blob execute. Without
    STEPFLOW_BLOB_API_ALLOW nothing reaches that address and the execute fails naming the settings;
    with its origin allowed, the blob is read from there and ingested."""
    doc = (ROOT / "samples" / "release_notes.md").read_bytes()
    api = RecordingBlobAPI(doc, "probe.md")
    refused = start_worker(ingest_bin, "probe-refused", tmp_path, dict(ingest_env))
    try:
        initialize(refused, f"{api.origin}/x")
        reply = execute(refused, {"source": {"blob_id": "abc"}, "index": index_name})
        assert reply.get("error", {}).get("code") == -32602, reply
        message = reply["error"]["message"]
        assert "STEPFLOW_BLOB_API_ALLOW" in message and "STEPFLOW_BLOB_API_URL" in message, message
        assert api.requests == [], f"the worker sent {api.requests} to the address initialize named"
        assert requests.get(refused.url + "/health", timeout=10).status_code == 200
    finally:
        stop_process(refused.proc)
    log = refused.log.read_text()
    assert log.count("STEPFLOW_BLOB_API_ALLOW") >= 1 and "initialize named a blob API" in log, log[-2000:]

    allowed = start_worker(ingest_bin, "probe-allowed", tmp_path, dict(ingest_env, STEPFLOW_BLOB_API_ALLOW=api.origin))
    try:
        initialize(allowed, f"{api.origin}/x")
        reply = execute(allowed, {"source": {"blob_id": "abc"}, "index": index_name})
        out = reply.get("result", {}).get("output") or {}
        assert out.get("status") == "indexed" and out.get("filename") == "probe.md", reply
        assert api.requests == ["GET /x/abc"], api.requests
    finally:
        stop_process(allowed.proc)
        api.close()


def test_a_source_key_cannot_replace_a_paths_chunks(ingest_bin, ingest_env, opensearch, index_name, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    path = docs / "handbook.html"
    shutil.copy(ROOT / "samples" / "handbook.html", path)
    worker = start_worker(ingest_bin, "forge", tmp_path, dict(ingest_env, INGEST_ALLOWED_ROOTS=str(docs)))
    try:
        first = execute(worker, {"source": str(path), "index": index_name})["result"]["output"]
        source = first["source"]
        before = opensearch.docs_by_source(index_name, source)
        assert first["status"] == "indexed" and len(before) == first["chunks"] > 1, first
        forged = execute(worker, {"source": {"base64": base64.b64encode(b"# Forged\n\nOne chunk.\n").decode(), "filename": "x.md"},
                                  "source_key": source, "index": index_name})["result"]["output"]
        assert forged["source"] == f"upload:anonymous/{source}", forged
        after = opensearch.docs_by_source(index_name, source)
        assert sorted(h["_id"] for h in after) == sorted(h["_id"] for h in before), "the upload replaced the path's chunks"
    finally:
        stop_process(worker.proc)


def test_one_object_through_two_presigned_urls_is_one_source_without_signature(ingest_bin, ingest_env, opensearch, index_name, tmp_path):
    docs = tmp_path / "files"
    docs.mkdir()
    shutil.copy(ROOT / "samples" / "release_notes.md", docs / "notes.md")
    handler = functools.partial(_Quiet, directory=str(docs))
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{files.server_address[1]}/notes.md?versionId=7"

    def signed(date: str, signature: str) -> str:
        return (f"{base}&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20261207%2Fus-east-1%2Fs3%2Faws4_request"
                f"&X-Amz-Date={date}&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}")

    worker = start_worker(ingest_bin, "presigned", tmp_path, dict(ingest_env, INGEST_URL_ALLOW_HOSTS="127.0.0.1", INGEST_LOG_LEVEL="debug"))
    try:
        one = execute(worker, {"source": signed("20261207T120000Z", "aaaa1111signature"), "index": index_name})["result"]["output"]
        two = execute(worker, {"source": signed("20261207T130000Z", "bbbb2222signature"), "index": index_name})["result"]["output"]
        assert one["status"] == "indexed" and two["status"] == "unchanged", (one, two)
        assert one["source"] == two["source"] == base, (one["source"], two["source"])
        hits = opensearch.docs(index_name)
        assert {h["_source"]["source"] for h in hits} == {base} and len(hits) == one["chunks"]
        stored = json.dumps(hits)
        assert "Signature" not in stored and "signature" not in stored and "AKIAEXAMPLE" not in stored, stored[:2000]
    finally:
        stop_process(worker.proc)
        files.shutdown()
    log = worker.log.read_text()
    assert "ingest started" in log, log[-2000:]
    for secret in ("aaaa1111signature", "bbbb2222signature", "AKIAEXAMPLE", "X-Amz-Signature"):
        assert secret not in log, f"{secret} in the worker's log"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

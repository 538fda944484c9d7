"""A new user's first hour (issue: failures caught before work starts, the right exit code, and a
CLI that says what happened), against the real servers of the live suite.

"No Docling call made" is shown with a stand-in Docling that answers its health checks and
records every other request: the run must stop before any conversion is asked for.
"""
from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from conftest import _free_port, make_runner
from worker_support import start_worker, stop_process

DOCS = {"a.md": "# Alpha\n\nThe first note.\n", "b.md": "# Beta\n\nThe second note.\n"}


def _docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    return folder


class _Recorder(http.server.ThreadingHTTPServer):
    """A local HTTP server answering by a handler function; records (method, path) pairs."""

    def __init__(self, answer):
        self.calls: list[tuple[str, str]] = []
        self.answer = answer
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _do(self):
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                recorder.calls.append((self.command, self.path))
                status, body = recorder.answer(self.command, self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _do

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def docling_standin():
    """Healthy to the pre-flight check; any conversion request is recorded and refused."""
    def answer(method, path):
        if path.startswith("/health"):
            return 200, {"status": "ok"}
        if path.startswith("/version"):
            return 200, {"docling-serve": "standin"}
        return 500, {"detail": "the stand-in converts nothing"}
    server = _Recorder(answer)
    yield server
    server.shutdown()


def _conversions(server: _Recorder) -> list[tuple[str, str]]:
    return [c for c in server.calls if not c[1].startswith(("/health", "/version"))]


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there once the socket is closed


@pytest.mark.parametrize("kind", ["refused", "does-not-resolve", "not-an-api-405"])
def test_an_unusable_embedder_stops_the_run_before_any_conversion(kind, run_ingest, docling_standin, index_name, tmp_path):
    not_api = None
    if kind == "refused":
        url = _refused_url()
    elif kind == "does-not-resolve":
        url = "http://embeddings.invalid/v1"
    else:
        not_api = _Recorder(lambda method, path: (405, {"detail": "Method Not Allowed"}) if method == "POST" else (200, {}))
        url = not_api.url + "/v1"
    try:
        run = run_ingest(_docs(tmp_path / "docs"), index=index_name, timeout=60,
                         env={"OPENAI_BASE_URL": url, "DOCLING_SERVE_URL": docling_standin.url})
    finally:
        if not_api:
            not_api.shutdown()
    assert run.code == 2, str(run)
    assert run.seconds < 30, f"took {run.seconds:.1f} s: the embedder was retried instead of refused at once"
    assert "OPENAI_BASE_URL" in run.stderr, run.stderr
    assert _conversions(docling_standin) == [], docling_standin.calls
    if kind == "not-an-api-405":
        assert "not an OpenAI-compatible embeddings API" in run.stderr, run.stderr


def test_a_known_model_with_another_dimension_is_refused_before_writing(run_ingest, docling_standin, opensearch, index_name, tmp_path):
    # The local server serves all-MiniLM-L6-v2 (384 dimensions); the name says 1536.
    run = run_ingest(_docs(tmp_path / "docs"), index=index_name, timeout=60,
                     env={"EMBEDDING_MODEL": "text-embedding-3-small", "DOCLING_SERVE_URL": docling_standin.url})
    assert run.code == 2, str(run)
    assert "EMBEDDING_MODEL=text-embedding-3-small makes 1536-dimension vectors" in run.stderr, run.stderr
    assert "384" in run.stderr
    assert _conversions(docling_standin) == []
    assert not opensearch.exists(index_name), "an index was created for a mislabelled model"


def test_a_budget_over_the_model_window_is_refused(run_ingest, docling_standin, index_name, tmp_path):
    run = run_ingest(_docs(tmp_path / "docs"), index=index_name, args=["--max-tokens", "1024"], timeout=60,
                     env={"DOCLING_SERVE_URL": docling_standin.url})
    assert run.code == 2, str(run)
    assert "256-token window of all-MiniLM-L6-v2" in run.stderr and "--max-tokens" in run.stderr, run.stderr
    assert docling_standin.calls == [], "a configuration error must stop before any service is asked"
    env_run = run_ingest(_docs(tmp_path / "docs2"), index=index_name, timeout=60,
                         env={"DOCLING_SERVE_URL": docling_standin.url, "INGEST_MAX_TOKENS": "1024"})
    assert env_run.code == 2 and "INGEST_MAX_TOKENS" in env_run.stderr, str(env_run)


def test_no_embedder_configured_says_how_to_configure_one(ingest_bin, ingest_env, tmp_path):
    env = {k: v for k, v in ingest_env.items() if not k.startswith(("OPENAI_", "EMBEDDING_"))}
    env.update(HOME=str(tmp_path), PATH="/usr/bin:/bin")  # no model in ~/.cache/ingest/models
    doctor = subprocess.run([str(ingest_bin), "doctor"], env=env, capture_output=True, text=True, timeout=60)
    assert "no embedder is configured" in doctor.stdout, doctor.stdout + doctor.stderr
    assert "OPENAI_BASE_URL" in doctor.stdout and "EMBEDDING_MODEL_PATH" in doctor.stdout
    assert "does not resolve" not in doctor.stdout + doctor.stderr
    embed = subprocess.run([str(ingest_bin), "embed", "hello"], env=env, capture_output=True, text=True, timeout=60)
    assert embed.returncode == 2 and "no embedder is configured" in embed.stderr, embed.stderr


def test_the_end_of_a_run_names_failed_skipped_and_pruned_files(run_ingest, index_name, tmp_path):
    docs = _docs(tmp_path / "docs")
    (docs / "empty.md").write_text("")
    (docs / "fake.pdf").write_bytes(b"\x7fELF\x02\x01\x01\x00 not a pdf")
    (docs / "tool.exe").write_bytes(b"MZ")
    first = run_ingest(docs, index=index_name, args=["--include", "*"])
    assert first.code == 1, str(first)
    out = first.stderr
    assert "empty.md is empty (0 bytes): there is nothing to ingest" in out, out
    assert "fake.pdf is named .pdf but is not a PDF (it is an ELF executable)" in out, out
    assert "convert it to PDF" not in out and "OCR" not in out
    (docs / "b.md").unlink()
    second = run_ingest(docs, index=index_name, args=["--prune"])
    assert f"pruned:  {docs / 'b.md'}" in second.stderr, second.stderr
    files_only = run_ingest(docs / "a.md", index=index_name, args=["--prune"])
    assert "only files were given: nothing will be pruned" in files_only.stderr, files_only.stderr
    nothing = run_ingest(docs, index=index_name, args=["--include", "*.docx"])
    assert nothing.code == 0 and "no documents found" in nothing.stderr, nothing.stderr


def test_preview_lines_say_previewed(run_ingest, index_name, tmp_path):
    run = run_ingest(_docs(tmp_path / "docs"), index=index_name, preview=tmp_path / "p.jsonl")
    assert run.code == 0, str(run)
    assert "previewed" in run.stderr and " indexed " not in run.stderr.replace("0 indexed", ""), run.stderr


def test_version_help_and_doctor_on_stdout(ingest_bin, ingest_env):
    version = subprocess.run([str(ingest_bin), "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("ingest "), version.stdout + version.stderr
    helped = subprocess.run([str(ingest_bin), "--help"], capture_output=True, text=True, timeout=30)
    assert "ingest PATH..." in helped.stdout and "--max-tokens" in helped.stdout and "help run" in helped.stdout
    doctor = subprocess.run([str(ingest_bin), "doctor"], env=dict(ingest_env, PATH="/usr/bin:/bin"),
                            capture_output=True, text=True, timeout=60)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "docling" in doctor.stdout and "opensearch" in doctor.stdout and "embedder" in doctor.stdout


def test_two_owners_uploading_the_same_filename_keep_both(ingest_bin, ingest_env, opensearch, index_name, tmp_path):
    worker = start_worker(ingest_bin, "owners", tmp_path, dict(ingest_env))
    try:
        def execute(owner: str, text: str) -> dict:
            import base64
            body = {"jsonrpc": "2.0", "id": 1, "method": "components/execute", "params": {
                "component": "/ingest",
                "input": {"source": {"base64": base64.b64encode(text.encode()).decode(), "filename": "notes.md"},
                          "owner": owner, "index": index_name}}}
            return requests.post(worker.url + "/", json=body, timeout=300).json()

        alice = execute("alice", "# Alice\n\nAlice's private notes.\n")["result"]["output"]
        bob = execute("bob", "# Bob\n\nBob's own notes.\n")["result"]["output"]
        assert alice["source"] == "upload:alice/notes.md" and bob["source"] == "upload:bob/notes.md"
        assert opensearch.docs_by_source(index_name, "upload:alice/notes.md"), "Bob's upload deleted Alice's chunks"
        assert opensearch.docs_by_source(index_name, "upload:bob/notes.md")
    finally:
        stop_process(worker.proc)

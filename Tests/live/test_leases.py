"""Leases that hold (issue 21), live: the real `ingest` binary, osmem and the embeddings server of
conftest.py, and a Docling stand-in that takes several lease TTLs to answer (slow_docling.py).

- two CLIs on one file with different budgets (two generations) never convert it at the same time,
  and the index ends with exactly one generation of it: the holder renews its short lease;
- a cancelled execute (the orchestrator's connection dropped) releases its lease at once;
- a SIGKILLed holder is taken over at once within our PID namespace, and only after the TTL when the
  stored lease names another namespace (the lease document rewritten directly).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from slow_docling import SlowDocling
from worker_support import start_worker, stop_process

FILE = "release_notes.md"
# Short leases: renewed every 2 s; a write needs OPENSEARCH_TIMEOUT_SECONDS + skew = 3 s left.
SHORT = {"INGEST_LEASE_TTL_SECONDS": "6", "OPENSEARCH_TIMEOUT_SECONDS": "2", "INGEST_LEASE_CLOCK_SKEW_SECONDS": "1"}


@pytest.fixture
def docling():
    d = SlowDocling(delay=20)  # more than three TTLs of SHORT
    yield d
    d.close()


@pytest.fixture
def doc(tmp_path: Path, samples_dir: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    path = folder / FILE
    shutil.copy(samples_dir / FILE, path)
    return path.resolve()


def lease_url(opensearch_url: str, index: str, source: str) -> str:
    return f"{opensearch_url}/{index}__ingest_leases/_doc/{hashlib.sha256(source.encode()).hexdigest()}"


def stored_lease(opensearch_url: str, index: str, source: str) -> dict | None:
    r = requests.get(lease_url(opensearch_url, index, source), timeout=10)
    return r.json() if r.status_code == 200 else None


def wait_for(predicate, timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def spawn_cli(ingest_bin: Path, ingest_env: dict, docling_url: str, path: Path, index: str, report: Path,
              extra: dict, args: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCLING_", "OPENSEARCH_", "OPENAI_", "EMBEDDING_", "INGEST_"))}
    env.update(ingest_env)
    env["DOCLING_SERVE_URL"] = docling_url
    env.update(extra)
    return subprocess.Popen([str(ingest_bin), str(path), "--index", index, "--report", str(report), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def generations(opensearch, index: str, source: str) -> set[str]:
    return {hit["_source"]["generation"] for hit in opensearch.docs_by_source(index, source)}


def test_two_clis_on_one_file_never_convert_at_once(ingest_bin, ingest_env, docling, doc, index_name, opensearch, services, tmp_path):
    env = dict(SHORT, INGEST_LEASE_WAIT_SECONDS="120")
    a = spawn_cli(ingest_bin, ingest_env, docling.url, doc, index_name, tmp_path / "a.json", env, ["--max-tokens", "128"])
    wait_for(lambda: docling.started(FILE) >= 1, 60, "the first CLI's conversion")
    b = spawn_cli(ingest_bin, ingest_env, docling.url, doc, index_name, tmp_path / "b.json", env, ["--max-tokens", "256"])
    out_a = a.communicate(timeout=180)
    out_b = b.communicate(timeout=180)
    assert a.returncode == 0, out_a
    assert b.returncode == 0, out_b
    intervals = sorted(docling.intervals(FILE))
    assert len(intervals) == 2, intervals
    (s1, e1), (s2, e2) = intervals
    # The first conversion took 20 s, more than three TTLs: without renewals the second CLI takes the
    # lease over after 6 s and converts (and writes, and swaps) beside it.
    assert s2 >= e1, f"the two conversions overlapped: {intervals}"
    # The second one met a changed generation (another budget), so it converted, wrote and swapped.
    statuses = [json.loads((tmp_path / n).read_text())["documents"][0]["status"] for n in ("a.json", "b.json")]
    assert statuses == ["indexed", "indexed"], statuses
    assert len(generations(opensearch, index_name, str(doc))) == 1
    assert stored_lease(services.opensearch_url, index_name, str(doc)) is None


def _open_execute(port: int, source: str, index: str) -> socket.socket:
    """Sends a components/execute and leaves its connection open; closing it makes the worker cancel it."""
    body = json.dumps({"jsonrpc": "2.0", "id": "lease-1", "method": "components/execute",
                       "params": {"component": "/ingest", "input": {"source": source, "index": index}}}).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return s


def test_a_cancelled_execute_releases_the_lease_at_once(ingest_bin, ingest_env, docling, doc, index_name, services, tmp_path):
    env = dict(ingest_env, DOCLING_SERVE_URL=docling.url, INGEST_ALLOWED_ROOTS=str(doc.parent),
               INGEST_LEASE_TTL_SECONDS="600")  # only a release, never the expiry, frees it within the test
    worker = start_worker(ingest_bin, "lease-cancel", tmp_path, env)
    try:
        connection = _open_execute(worker.port, str(doc), index_name)
        # Docling converts (20 s) while the execution holds the lease; then the orchestrator goes away.
        wait_for(lambda: docling.started(FILE) >= 1, 30, "the conversion to start")
        wait_for(lambda: stored_lease(services.opensearch_url, index_name, str(doc)), 10, "the lease")
        connection.close()
        t0 = time.monotonic()
        wait_for(lambda: stored_lease(services.opensearch_url, index_name, str(doc)) is None, 10,
                 "the lease of the cancelled execute to be released")
        released_after = time.monotonic() - t0
        print(f"lease released {released_after:.2f} s after the connection closed")
        assert released_after < 5
        # Nothing waits for it: the next execute takes the lease at once.
        docling.delay = 0
        r = requests.post(worker.url + "/", json={"jsonrpc": "2.0", "id": "lease-2", "method": "components/execute",
                                                   "params": {"component": "/ingest",
                                                              "input": {"source": str(doc), "index": index_name}}},
                          timeout=120)
        assert r.json().get("result", {}).get("output", {}).get("status") == "indexed", r.text
    finally:
        stop_process(worker.proc)
    assert worker.proc.returncode == 0, worker.log.read_text()[-3000:]


def _kill_holder(ingest_bin, ingest_env, docling, doc, index, services, tmp_path) -> dict:
    """Starts a CLI on `doc`, SIGKILLs it while Docling converts (holding the lease); returns the lease."""
    a = spawn_cli(ingest_bin, ingest_env, docling.url, doc, index, tmp_path / "killed.json",
                  {"INGEST_LEASE_TTL_SECONDS": "600"}, [])
    try:
        wait_for(lambda: docling.started(FILE) >= 1, 60, "the holder's conversion")
        lease = wait_for(lambda: stored_lease(services.opensearch_url, index, str(doc)), 10, "the holder's lease")
    finally:
        a.send_signal(signal.SIGKILL)
        a.wait()
    assert lease["_source"]["pid"] == a.pid
    return lease


def test_a_killed_holder_is_taken_over_at_once_in_our_namespace(ingest_bin, ingest_env, docling, doc, index_name, services, run_ingest):
    lease = _kill_holder(ingest_bin, ingest_env, docling, doc, index_name, services, doc.parent)
    assert lease["_source"]["pid_namespace"], lease
    docling.delay = 0
    t0 = time.monotonic()
    run = run_ingest(doc, index=index_name, env={"DOCLING_SERVE_URL": docling.url, "INGEST_LEASE_WAIT_SECONDS": "0"})
    assert run.code == 0, run
    assert run.docs()[0]["status"] == "indexed", run
    assert time.monotonic() - t0 < 60


def test_a_lease_of_another_namespace_waits_for_its_ttl(ingest_bin, ingest_env, docling, doc, index_name, services, run_ingest):
    lease = _kill_holder(ingest_bin, ingest_env, docling, doc, index_name, services, doc.parent)
    # The same dead holder, as a container sharing our host name would have written it: another PID
    # namespace, and 8 s left. Its pid means nothing here, so it is not taken over at once.
    source = dict(lease["_source"], pid_namespace="pid:[1]")
    expires = time.time() + 8
    source["expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(expires)) + f".{int(expires % 1 * 1000):03d}Z"
    r = requests.put(lease_url(services.opensearch_url, index_name, str(doc)) + "?refresh=true", json=source, timeout=10)
    assert r.status_code in (200, 201), r.text
    docling.delay = 0
    env = {"DOCLING_SERVE_URL": docling.url}
    early = run_ingest(doc, index=index_name, env=dict(env, INGEST_LEASE_WAIT_SECONDS="2"))
    assert early.code == 1, early
    assert early.docs()[0]["error"]["reason"] == "lease_timeout", early
    late = run_ingest(doc, index=index_name, env=dict(env, INGEST_LEASE_WAIT_SECONDS="30"))
    assert late.code == 0, late
    assert late.docs()[0]["status"] == "indexed", late
    assert time.time() >= expires - 1, "taken over before the lease of another namespace expired"


def test_a_cli_interrupted_twice_releases_its_lease_before_it_exits(ingest_bin, ingest_env, docling, doc, index_name, services, tmp_path):
    """Ctrl-C twice abandons the document in flight (cancellation); the lease keeper still releases
    its lease, and drains before the process exits."""
    a = spawn_cli(ingest_bin, ingest_env, docling.url, doc, index_name, tmp_path / "interrupted.json",
                  {"INGEST_LEASE_TTL_SECONDS": "600"}, [])
    try:
        wait_for(lambda: docling.started(FILE) >= 1, 60, "the conversion")
        wait_for(lambda: stored_lease(services.opensearch_url, index_name, str(doc)), 10, "the lease")
        a.send_signal(signal.SIGINT)
        time.sleep(0.3)
        a.send_signal(signal.SIGINT)
        out = a.communicate(timeout=30)
    finally:
        if a.poll() is None:
            a.kill()
    assert a.returncode == 130, out
    assert stored_lease(services.opensearch_url, index_name, str(doc)) is None, "the interrupted CLI left its lease"

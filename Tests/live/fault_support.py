"""Fault injection for the live fault tests (Tests/live/test_faults_cli.py): a Docling Serve proxy,
private service instances that a test may kill, and the index checks the tests share.

DoclingFaultProxy   an in-process HTTP proxy in front of docling-serve. Faults are chosen by a
                    substring of the uploaded file's name, so one batch mixes healthy and faulty
                    documents deterministically:
                      fail_5xx[name] = N      the first N submissions answer 500 (-1: always)
                      unavailable[name] = N   the first N submissions answer 503 with Retry-After: 0
                      drop[name] = N          the first N submissions lose their connection (no answer)
                      hang = {name}           polls of its task answer `started` forever
                      failure = {name}        its result says status `failure`
                      partial = {name}        its result says status `partial_success` with an error
                    .submissions: Counter of submissions seen per file name (faulty ones included);
                    .forwarded: Counter of submissions that reached docling-serve.
EmbeddingsFaultProxy an in-process proxy in front of the embeddings server: every `fail_every`-th
                    request answers `fail_status` (500 or 503), and the requests numbered in `slow`
                    wait `delay` seconds before being forwarded. .requests counts what it saw.
PrivateService      a start-*.sh service of the test's own (own name and port, in the suite's run
                    dir) that the test may kill and start again on the same port.
"""
from __future__ import annotations

import collections
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "services"


class DoclingFaultProxy:
    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self.lock = threading.Lock()
        self.fail_5xx: dict[str, int] = {}
        self.unavailable: dict[str, int] = {}
        self.drop: dict[str, int] = {}
        self.hang: set[str] = set()
        self.failure: set[str] = set()
        self.partial: set[str] = set()
        self.submissions: collections.Counter = collections.Counter()
        self.forwarded: collections.Counter = collections.Counter()
        self.task_names: dict[str, str] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: bytes, headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _forward(self, body: bytes | None):
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=600)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                status, ctype = r.status, r.getheader("Content-Type", "application/json")
                conn.close()
                return status, data, ctype

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                path = self.path.split("?")[0]
                if path.endswith("/convert/file/async") and body is not None:
                    m = re.search(rb'filename="([^"]+)"', body)
                    name = m.group(1).decode() if m else "?"
                    with proxy.lock:
                        proxy.submissions[name] += 1
                        fault = proxy._take(name)
                    if fault == "drop":
                        self.close_connection = True
                        return  # the server closes the socket without an answer
                    if fault == "5xx":
                        return self._reply(500, b'{"detail":"injected internal error"}')
                    if fault == "503":
                        return self._reply(503, b'{"detail":"injected: unavailable"}', {"Retry-After": "0"})
                    status, data, ctype = self._forward(body)
                    with proxy.lock:
                        proxy.forwarded[name] += 1
                        try:
                            proxy.task_names[json.loads(data)["task_id"]] = name
                        except (ValueError, KeyError, TypeError):
                            pass
                    return self._reply(status, data)
                task = path.rsplit("/", 1)[-1]
                with proxy.lock:
                    name = proxy.task_names.get(task, "")
                    hang = any(s in name for s in proxy.hang)
                    failure = any(s in name for s in proxy.failure)
                    partial = any(s in name for s in proxy.partial)
                if "/status/poll/" in path and hang:
                    if "wait=" in self.path:
                        time.sleep(0.5)
                    return self._reply(200, json.dumps({"task_id": task, "task_status": "started",
                                                        "task_position": None, "task_meta": None}).encode())
                status, data, ctype = self._forward(body)
                if "/result/" in path and status == 200 and (failure or partial):
                    result = json.loads(data)
                    result["status"] = "failure" if failure else "partial_success"
                    result["errors"] = [{"component_type": "pipeline", "module_name": "fault-proxy",
                                         "error_message": "injected " + result["status"]}]
                    if failure:
                        result["document"] = {"filename": name, "md_content": None, "json_content": None}
                    data = json.dumps(result).encode()
                self._reply(status, data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _take(self, name: str) -> str | None:
        for kind, table in (("drop", self.drop), ("5xx", self.fail_5xx), ("503", self.unavailable)):
            for key, left in table.items():
                if key in name and left != 0:
                    table[key] = left - 1 if left > 0 else left
                    return kind
        return None

    def clear_faults(self) -> None:
        with self.lock:
            self.fail_5xx.clear(); self.unavailable.clear(); self.drop.clear()
            self.hang.clear(); self.failure.clear(); self.partial.clear()
            self.submissions.clear(); self.forwarded.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class EmbeddingsFaultProxy:
    def __init__(self, upstream: str, fail_every: int = 0, fail_status: int = 503, slow: set[int] | None = None,
                 delay: float = 0.0):
        parts = urlsplit(upstream)
        self.fail_every, self.fail_status, self.slow, self.delay = fail_every, fail_status, slow or set(), delay
        self.lock = threading.Lock()
        self.requests = 0
        self.failed = 0
        self.delayed = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    proxy.requests += 1
                    n = proxy.requests
                    fail = bool(proxy.fail_every) and n % proxy.fail_every == 0
                    proxy.failed += fail
                    slow = n in proxy.slow
                    proxy.delayed += slow
                if fail:
                    data = json.dumps({"error": {"message": "injected server error", "type": "server_error"}}).encode()
                    status = proxy.fail_status
                else:
                    if slow:
                        time.sleep(proxy.delay)
                    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=120)
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    conn.request("POST", self.path, body=body, headers=headers)
                    r = conn.getresponse()
                    status, data = r.status, r.read()
                    conn.close()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a slow answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = base + parts.path  # keeps the /v1 of the upstream URL
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PrivateService:
    """scripts/services/start-<kind>.sh on its own name and port, killable and restartable."""

    def __init__(self, kind: str, run_dir: Path, port: int, *flags: str):
        self.kind, self.run_dir, self.port, self.flags = kind, run_dir, port, flags
        self.name = f"{kind}-fault-{uuid.uuid4().hex[:6]}"
        self.url: str | None = None

    def _env(self) -> dict:
        return dict(os.environ, INGEST_E2E_RUN=str(self.run_dir), **{f"{self.kind.upper()}_NAME": self.name})

    def start(self, timeout: float = 300) -> str:
        p = subprocess.run([str(SCRIPTS / f"start-{self.kind}.sh"), str(self.port), *self.flags], env=self._env(),
                           capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"{self.name} did not start:\n{p.stderr[-3000:]}")
        self.url = p.stdout.strip().splitlines()[-1]
        return self.url

    def pid(self) -> int | None:
        try:
            return int((self.run_dir / f"{self.name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        """SIGKILL, like a crash: no graceful shutdown (osmem loses its data)."""
        pid = self.pid()
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        (self.run_dir / f"{self.name}.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        subprocess.run([str(SCRIPTS / "stop-all.sh"), self.name], env=self._env(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def write_markdown_docs(folder: Path, count: int, prefix: str = "doc") -> list[Path]:
    """`count` small distinct Markdown documents (one or two chunks each)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        p = folder / f"{prefix}-{i:04d}.md"
        p.write_text(f"# Note {i}\n\nDocument number {i} records the batch item {i * 7919 % 10007}. "
                     f"It is short on purpose, so that many of them convert quickly.\n")
        paths.append(p)
    return paths


def chunks_by_source(opensearch_url: str, index: str) -> dict[str, dict]:
    """Per source: stored chunks, their generations, document ids and chunk_count values."""
    import requests
    requests.post(f"{opensearch_url}/{index}/_refresh", timeout=30)
    out: dict[str, dict] = {}
    after = None
    while True:
        composite = {"size": 1000, "sources": [{"source": {"terms": {"field": "source"}}}]}
        if after:
            composite["after"] = after
        body = {"size": 0, "aggs": {"s": {"composite": composite, "aggs": {
            "generation": {"terms": {"field": "generation", "size": 10}},
            "document_id": {"terms": {"field": "document_id", "size": 10}},
            "chunk_count": {"terms": {"field": "chunk_count", "size": 10}}}}}}
        r = requests.post(f"{opensearch_url}/{index}/_search", json=body, timeout=60)
        if r.status_code == 404:
            return out
        r.raise_for_status()
        agg = r.json()["aggregations"]["s"]
        for b in agg["buckets"]:
            out[b["key"]["source"]] = {
                "chunks": b["doc_count"],
                "generations": {x["key"] for x in b["generation"]["buckets"]},
                "document_ids": {x["key"] for x in b["document_id"]["buckets"]},
                "chunk_counts": {int(x["key"]) for x in b["chunk_count"]["buckets"]},
            }
        after = agg.get("after_key")
        if not agg["buckets"] or not after:
            return out

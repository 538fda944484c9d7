"""Baselines for scripts/bench-ingest, independent of `ingest`'s own code (Python stdlib only).

    python driver.py docling --url URL [--concurrency 4] [--poll 0.1] FILE...
        Convert every file through docling-serve's async API, as `ingest` does (multipart upload
        to /v1/convert/file/async with do_ocr=false, do_table_structure=false, to_formats json+md;
        poll /v1/status/poll/{id}; GET /v1/result/{id}), CONCURRENCY files at a time.

    python driver.py embed --url BASE_URL [--model M] [--concurrency 4] [--batch 64]
                           [--batch-tokens 8000] PREVIEW.jsonl
        Embed the `embedding_text` of every chunk in an `ingest --preview` file with
        POST BASE_URL/embeddings, batched per document as `ingest` does (at most BATCH inputs and
        BATCH_TOKENS tokens by the lines' token_count), CONCURRENCY requests at a time, after
        one untimed warm-up request.

Each prints one JSON object on stdout: wall seconds, items done, requests, failures.

    python driver.py cpu PID...
        The CPU seconds (user + system) used so far by these processes and their live
        descendants, from /proc (Linux), or "-" when none is readable.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

_local = threading.local()


class Client:
    """One keep-alive connection per thread to one base URL."""

    def __init__(self, base):
        u = urlsplit(base)
        self.host, self.port = u.hostname, u.port or (443 if u.scheme == "https" else 80)
        self.https = u.scheme == "https"
        self.prefix = u.path.rstrip("/")

    def _conn(self):
        conns = getattr(_local, "conns", None)
        if conns is None:
            conns = _local.conns = {}
        key = (self.host, self.port)
        if key not in conns:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conns[key] = cls(self.host, self.port, timeout=600)
        return conns[key]

    def request(self, method, path, body=None, headers=None):
        for attempt in range(3):
            conn = self._conn()
            try:
                conn.request(method, self.prefix + path, body=body, headers=headers or {})
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, data
            except (http.client.HTTPException, ConnectionError, OSError):
                conn.close()
                _local.conns.pop((self.host, self.port), None)
                if attempt == 2:
                    raise
                time.sleep(0.2)


MIME = {
    ".html": "text/html", ".htm": "text/html", ".md": "text/markdown", ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def multipart(fields, filename, data, mime):
    boundary = "bench-" + uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (boundary, name, value)).encode())
    parts.append(("--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"%s\"\r\nContent-Type: %s\r\n\r\n"
                  % (boundary, filename, mime)).encode() + data + b"\r\n")
    parts.append(("--%s--\r\n" % boundary).encode())
    return b"".join(parts), "multipart/form-data; boundary=" + boundary


DOCLING_FIELDS = [
    ("do_ocr", "false"), ("do_table_structure", "false"), ("to_formats", "json"), ("to_formats", "md"),
    ("include_images", "false"), ("image_export_mode", "placeholder"),
]


def convert_one(client, path, poll):
    p = Path(path)
    body, ctype = multipart(DOCLING_FIELDS, p.name, p.read_bytes(), MIME.get(p.suffix.lower(), "application/octet-stream"))
    status, data = client.request("POST", "/v1/convert/file/async", body, {"Content-Type": ctype, "Accept": "application/json"})
    if status != 200:
        raise RuntimeError("%s: upload answered %d: %s" % (path, status, data[:200]))
    task = json.loads(data)
    tid = task["task_id"]
    while task.get("task_status") not in ("success", "failure", "partial_success"):
        time.sleep(poll)
        status, data = client.request("GET", "/v1/status/poll/" + tid)
        if status != 200:
            raise RuntimeError("%s: poll answered %d: %s" % (path, status, data[:200]))
        task = json.loads(data)
    if task["task_status"] == "failure":
        raise RuntimeError("%s: conversion failed: %s" % (path, task.get("error_message")))
    status, data = client.request("GET", "/v1/result/" + tid)
    if status != 200:
        raise RuntimeError("%s: result answered %d: %s" % (path, status, data[:200]))
    result = json.loads(data)
    doc = result.get("document") or {}
    if not doc.get("json_content") or doc.get("md_content") is None:
        raise RuntimeError("%s: result without json_content/md_content" % path)
    return len(data)


def run_pool(fn, items, concurrency):
    failures = []

    def guarded(item):
        try:
            return fn(item)
        except Exception as e:  # counted and reported, the run goes on
            failures.append(str(e))
            return None

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(guarded, items))
    wall = time.perf_counter() - t0
    for f in failures[:5]:
        print("driver: " + f, file=sys.stderr)
    return wall, results, failures


def cmd_docling(a):
    client = Client(a.url)
    wall, results, failures = run_pool(lambda f: convert_one(client, f, a.poll), a.files, a.concurrency)
    print(json.dumps({"wall": wall, "documents": len(a.files) - len(failures), "failed": len(failures),
                      "result_bytes": sum(r for r in results if r)}))
    return 1 if failures else 0


def batches(lines, max_inputs, max_tokens):
    """Per document (in file order), consecutive runs of chunks within both limits (EmbeddingBatcher)."""
    by_source = {}
    for line in lines:
        by_source.setdefault(line["source"], []).append(line)
    out = []
    for chunks in by_source.values():
        cur, tokens = [], 0
        for c in chunks:
            n = int(c.get("token_count") or max(1, (len(c["embedding_text"].encode()) + 2) // 3))
            if cur and (len(cur) >= max_inputs or tokens + n > max_tokens):
                out.append(cur)
                cur, tokens = [], 0
            cur.append(c["embedding_text"])
            tokens += n
        if cur:
            out.append(cur)
    return out


def cmd_embed(a):
    client = Client(a.url)
    with open(a.preview) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    work = batches(lines, a.batch, a.batch_tokens)

    def embed(texts):
        body = json.dumps({"model": a.model, "input": texts, "encoding_format": "float"}).encode()
        status, data = client.request("POST", "/embeddings", body, {"Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError("embeddings answered %d: %s" % (status, data[:200]))
        got = json.loads(data)["data"]
        if len(got) != len(texts):
            raise RuntimeError("embeddings returned %d vectors for %d inputs" % (len(got), len(texts)))
        return len(got)

    embed(["warm-up"])  # untimed: the first request may pay the server's lazy start-up
    wall, results, failures = run_pool(embed, work, a.concurrency)
    print(json.dumps({"wall": wall, "chunks": sum(r for r in results if r), "requests": len(work),
                      "failed": len(failures)}))
    return 1 if failures else 0


def cpu_seconds(pids):
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
            except (OSError, IndexError, ValueError):
                pass
    todo, seen, total = [p for p in pids if p in stats], set(), 0.0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo += [c for c, (ppid, _) in stats.items() if ppid == pid]
    return total if seen else None


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "cpu":
        t = cpu_seconds([int(p) for p in sys.argv[2:] if p.isdigit()])
        print("-" if t is None else "%.2f" % t)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("docling")
    d.add_argument("--url", required=True)
    d.add_argument("--concurrency", type=int, default=4)
    d.add_argument("--poll", type=float, default=0.1, help="seconds between status polls")
    d.add_argument("files", nargs="+")
    e = sub.add_parser("embed")
    e.add_argument("--url", required=True, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8011/v1")
    e.add_argument("--model", default="all-MiniLM-L6-v2")
    e.add_argument("--concurrency", type=int, default=4)
    e.add_argument("--batch", type=int, default=64)
    e.add_argument("--batch-tokens", type=int, default=8000)
    e.add_argument("preview")
    a = ap.parse_args()
    sys.exit(cmd_docling(a) if a.cmd == "docling" else cmd_embed(a))


if __name__ == "__main__":
    main()

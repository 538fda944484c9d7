"""Hostile input against a real `ingest serve` over real HTTP (issue #7): several thousand seeded,
generated bodies (random JSON, wrong types, invalid UTF-8, truncation, unknown methods, deep
nesting, huge strings), bodies over INGEST_MAX_BODY_BYTES (declared and chunked), and slow clients.
The worker must answer each with a JSON-RPC error (or an HTTP 4xx), keep serving, and not grow.

Needs only the `ingest` binary: the worker's dependencies point at closed loopback ports (a valid
execute then fails fast with service_unavailable, which is an answer too). The in-process fuzz
test (Tests/IngestServerTests/FuzzTests.swift) covers more shapes; this one covers what only a
socket shows: the HTTP parser, Content-Length, chunked encoding, slow peers, memory.
Seed: INGEST_FUZZ_SEED (default 7); rounds of cases: INGEST_FUZZ_ROUND (default 1500).
"""
from __future__ import annotations

import base64
import json
import os
import random
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from worker_support import free_port, rss_kib, start_worker, stop_process

LIMIT = 1 << 20  # INGEST_MAX_BODY_BYTES for this worker
SEED = int(os.environ.get("INGEST_FUZZ_SEED", "7"))
ROUND = int(os.environ.get("INGEST_FUZZ_ROUND", "1500"))
METHODS = ["initialize", "initialized", "components/list", "components/info", "components/infer_schema",
           "components/execute", "blobs/get", "runs/submit", "", "x" * 5000]
FIELDS = ["source", "filename", "index", "owner", "owner_name", "owner_email", "connector_type", "mimetype", "options"]


@pytest.fixture(scope="module")
def worker(ingest_bin, tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    w = start_worker(ingest_bin, "fz", work, env={
        "INGEST_MAX_BODY_BYTES": str(LIMIT),
        "INGEST_CALLBACK_TIMEOUT_SECONDS": "0.05",
        "INGEST_EXECUTE_TIMEOUT_SECONDS": "5",
        "OPENSEARCH_RETRY_ATTEMPTS": "1",  # else a refused OpenSearch is retried for minutes (by design)
        "DOCLING_SERVE_URL": f"http://127.0.0.1:{free_port()}",
        "OPENSEARCH_HOST": f"http://127.0.0.1:{free_port()}",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "OPENAI_API_KEY": "unused",
        "EMBEDDING_MODEL": "all-MiniLM-L6-v2",
        "INGEST_ALLOWED_ROOTS": str(work),
    })
    yield w
    stop_process(w.proc)


# ---------------------------------------------------------------- generators

def _text(r: random.Random) -> str:
    pool = "aZ09 _-./:\\\"'{}[]\n\t\x00\x1f\x7fé漢🙂\u200b\ufeff%"
    return "".join(r.choice(pool) for _ in range(r.randrange(20)))


def _scalar(r: random.Random):
    return r.choice([None, True, False, 0, -1, 2**63 - 1, -(2**63), 2**64, 10**40, 0.5, 1e308, -1e-308,
                     _text(r), "", "/ingest", "2.0"])


def _tree(r: random.Random, depth: int = 4):
    if depth == 0 or r.random() < 0.5:
        return _scalar(r)
    if r.random() < 0.5:
        return [_tree(r, depth - 1) for _ in range(r.randrange(4))]
    return {(r.choice(FIELDS + ["component", "input", "url", "base64"]) if r.random() < 0.5 else _text(r)): _tree(r, depth - 1)
            for _ in range(r.randrange(4))}


def _valid_params(r: random.Random) -> dict:
    source = r.choice(["/nope/a.pdf", {"base64": "aGVsbG8=", "filename": "a.md"}, {"blob_id": "abc123"},
                       {"url": "http://127.0.0.1:1/a.pdf"}, "fail.pdf"])
    return {"component": "/ingest", "input": {"source": source, "index": "fuzz"}}


def _wrong(r: random.Random, params: dict) -> dict:
    params = json.loads(json.dumps(params))
    where = r.randrange(3)
    if where == 0:
        params["component"] = r.choice([5, None, [], {}, True, "/nope", "x" * 3000])
    elif where == 1:
        params["input"] = _tree(r, 2)
    else:
        for _ in range(r.randrange(1, 4)):
            params["input"][r.choice(FIELDS)] = _tree(r, 3)
    return params


def _body(r: random.Random) -> tuple[bytes, str]:
    """One generated body and its kind."""
    kind = r.choice(["tree", "envelope", "wrong", "utf8", "truncated", "mutated", "deep", "huge", "response", "bytes"])
    rid = r.choice([r.randrange(10**6), _text(r), "id-" + str(r.random())])
    request = {"jsonrpc": "2.0", "id": rid, "method": r.choice(METHODS), "params": _valid_params(r)}
    if kind == "tree":
        return json.dumps(_tree(r)).encode(), kind
    if kind == "envelope":
        env = {k: (_tree(r, 2) if r.random() < 0.3 else v) for k, v in request.items() if r.random() < 0.85}
        return json.dumps(env).encode(), kind
    if kind == "wrong":
        return json.dumps(dict(request, method="components/execute", params=_wrong(r, request["params"]))).encode(), kind
    raw = json.dumps(request).encode()
    if kind == "utf8":
        at = raw.index(b'"', r.randrange(len(raw) // 2)) + 1
        return raw[:at] + r.choice([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80"]) + raw[at:], kind
    if kind == "truncated":
        return raw[: r.randrange(len(raw))], kind
    if kind == "mutated":
        b = bytearray(raw)
        for _ in range(r.randrange(1, 8)):
            b[r.randrange(len(b))] = r.randrange(256)
        return bytes(b), kind
    if kind == "deep":
        depth = r.choice([100, 512, 513, 10_000, 100_000])
        return (b"[" * depth + b"]" * depth) if r.random() < 0.5 else (b'{"a":' * depth + b"1" + b"}" * depth), kind
    if kind == "huge":
        n = r.randrange(100_000, LIMIT - 1000)
        request["params"]["input"][r.choice(["filename", "owner", "index"])] = r.choice(["A", "é", "\\", '"']) * (n // 2)
        return json.dumps(request).encode(), kind
    if kind == "response":
        return json.dumps({"jsonrpc": "2.0", "id": rid, r.choice(["result", "error"]): _tree(r, 2)}).encode(), kind
    return bytes(r.randrange(256) for _ in range(r.randrange(1, 3000))), kind


def _check(resp: requests.Response, body: bytes, kind: str) -> str | None:
    """None when the answer is acceptable, else what is wrong."""
    if resp.status_code == 202:
        return None if not resp.content else "202 with a body"
    if resp.status_code not in (200, 400, 413):
        return f"HTTP {resp.status_code}"
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        events = [e for e in resp.text.split("\n\n") if e.strip()]
        if not events or not events[-1].startswith("data: "):
            return f"bad SSE stream {resp.text[:200]!r}"
        message = json.loads(events[-1][6:])
    else:
        try:
            message = resp.json()
        except ValueError:
            return f"not JSON: {resp.text[:200]!r}"
    if message.get("jsonrpc") != "2.0" or (("result" in message) == ("error" in message)):
        return f"not a JSON-RPC response: {str(message)[:200]}"
    if "error" in message and not (isinstance(message["error"].get("code"), int) and message["error"].get("message")):
        return f"bad error object {message['error']}"
    if resp.status_code != 200 and "error" not in message:
        return f"HTTP {resp.status_code} without an error"
    return None


def _round(url: str, r: random.Random, n: int) -> dict[str, int]:
    kinds: dict[str, int] = {}
    with requests.Session() as s:
        for i in range(n):
            body, kind = _body(r)
            kinds[kind] = kinds.get(kind, 0) + 1
            resp = s.post(url + "/", data=body, headers={"Content-Type": "application/json"}, timeout=30)
            problem = _check(resp, body, kind)
            assert problem is None, f"seed {SEED} case {i} [{kind}] {body[:160]!r}: {problem}"
    return kinds


# ---------------------------------------------------------------- tests

def test_generated_bodies_get_errors_and_memory_stays_flat(worker):
    r = random.Random(SEED)
    t0 = time.monotonic()
    _round(worker.url, r, 300)  # warm-up: allocator arenas, metric series, lazily built tables
    rss = [rss_kib(worker.proc.pid)]
    kinds: dict[str, int] = {}
    for _ in range(3):
        for k, v in _round(worker.url, r, ROUND).items():
            kinds[k] = kinds.get(k, 0) + v
        rss.append(rss_kib(worker.proc.pid))
    assert worker.proc.poll() is None, "the worker died"
    assert requests.get(worker.url + "/health", timeout=5).status_code == 200
    growth = (rss[-1] - rss[0]) / 1024
    print(f"\n{3 * ROUND + 300} cases in {time.monotonic() - t0:.1f} s, kinds {kinds}; RSS MiB after each round: "
          f"{[round(k / 1024, 1) for k in rss]} (growth {growth:.1f} MiB)")
    # A leak of even a few hundred bytes per request shows over 4,500 requests of up to 1 MiB each.
    assert growth < 24, f"RSS grew {growth:.1f} MiB over {3 * ROUND} requests: {rss}"
    # And it does not keep growing: the last round adds less than the first.
    assert rss[-1] - rss[-2] < 8 * 1024, rss


def _raw(port: int, payload: bytes, timeout: float = 10) -> tuple[bytes, float]:
    """Sends payload on a fresh connection; returns the first response bytes and seconds to them."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        t0 = time.monotonic()
        try:
            s.sendall(payload)
        except OSError:  # the worker may answer and stop reading before everything is sent
            pass
        data = b""
        while b"\r\n\r\n" not in data:
            more = s.recv(65536)
            if not more:
                return data, time.monotonic() - t0
            data += more
        seconds = time.monotonic() - t0
        head, body = data.split(b"\r\n\r\n", 1)
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            more = s.recv(65536)
            if not more:
                break
            body += more
        return head + b"\r\n\r\n" + body, seconds


def test_oversized_bodies_are_refused_without_being_read(worker):
    head = b'{"jsonrpc":"2.0","id":"big-1","method":"components/execute","params":{"component":"/ingest","input":{"source":{"base64":"'
    before = rss_kib(worker.proc.pid)
    # Declares 1 GiB, sends 64 KiB: the answer comes before (without) the rest.
    data, seconds = _raw(worker.port, b"POST / HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\n"
                                      b"Content-Length: 1073741824\r\n\r\n" + head + b"A" * 65536)
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert body["id"] == "big-1" and body["error"]["code"] == -32600 and "INGEST_MAX_BODY_BYTES" in body["error"]["message"]
    assert seconds < 5
    # Chunked, no declared length: refused once the count passes the limit, not at the end.
    chunk = b"A" * 65536
    payload = (b"POST / HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n%s\r\n" % (len(head), head) + (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 24)
    data, seconds = _raw(worker.port, payload)
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert b'"id":"big-1"' in data and b"chunked" in data
    # Through requests too (a streaming generator of 40 MiB): an answer, 413, and the worker is fine.
    def gen():
        yield head
        for _ in range(640):
            yield chunk
    try:
        resp = requests.post(worker.url + "/", data=gen(), timeout=60)
        assert resp.status_code == 413 and resp.json()["error"]["code"] == -32600
    except requests.ConnectionError:
        pass  # the worker answered and closed while the client was still sending: also a refusal
    # Exactly at the limit is read (and then judged as JSON).
    prefix, suffix = b'{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"pad":"', b'"}}'
    exact = prefix + b"x" * (LIMIT - len(prefix) - len(suffix)) + suffix
    assert len(exact) == LIMIT
    r = requests.post(worker.url + "/", data=exact, timeout=30)
    assert r.status_code == 200 and r.json()["result"]["server_protocol_version"] == 1, r.text[:200]
    r = requests.post(worker.url + "/", data=exact + b" ", timeout=30)
    assert r.status_code == 413, r.text[:200]
    after = rss_kib(worker.proc.pid)
    assert (after - before) / 1024 < 16, f"RSS {before} -> {after} KiB: the refused bodies were buffered?"
    assert requests.get(worker.url + "/health", timeout=5).status_code == 200


def test_slow_clients_do_not_block_others(worker):
    """Clients that idle mid-headers, mid-body, or trickle a byte at a time hold a connection each;
    everyone else is served as usual meanwhile, and the trickler gets its answer in the end."""
    stop = threading.Event()
    idlers: list[socket.socket] = []
    for i in range(40):
        s = socket.create_connection(("127.0.0.1", worker.port), timeout=30)
        s.sendall(b"POST / HTTP/1.1\r\nHost: w\r\n" if i % 2 else
                  b"POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\":")
        idlers.append(s)
    body = b'{"jsonrpc":"2.0","id":"slow","method":"initialize","params":{}}'
    trickled: dict = {}

    def trickle():
        with socket.create_connection(("127.0.0.1", worker.port), timeout=30) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
            for b in body:
                if stop.is_set():
                    return
                s.sendall(bytes([b]))
                time.sleep(0.03)
            trickled["reply"] = s.recv(65536)

    t = threading.Thread(target=trickle)
    t.start()
    try:
        latencies = []
        with requests.Session() as session:
            for i in range(100):
                t0 = time.monotonic()
                r = session.post(worker.url + "/", json={"jsonrpc": "2.0", "id": i, "method": "components/list"}, timeout=10)
                latencies.append(time.monotonic() - t0)
                assert r.status_code == 200 and r.json()["id"] == i
        assert requests.get(worker.url + "/health", timeout=5).status_code == 200
        latencies.sort()
        print(f"\nwith 40 idle + 1 trickling client: p50 {latencies[50] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")
        assert latencies[95] < 1.0, latencies[-5:]
        t.join(timeout=30)
        assert b'"id":"slow"' in trickled.get("reply", b""), trickled
    finally:
        stop.set()
        t.join(timeout=5)
        for s in idlers:
            s.close()

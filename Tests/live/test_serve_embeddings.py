"""`ingest serve-embeddings`: the OpenAI Python client (as OpenRAG and Langflow use it) gets the
vectors `ingest embed` makes and the Python reference server (scripts/services/serve_embeddings.py,
sentence-transformers' model in PyTorch) makes, bad input gets OpenAI's errors, 20 concurrent
clients are served, SIGTERM drains, and `ingest` itself can use it as OPENAI_BASE_URL.
"""
from __future__ import annotations

import concurrent.futures
import json
import math
import os
import signal
import subprocess
import threading
import time

import openai
import pytest
import requests

from conftest import EMBEDDING_MODEL, VECTOR_FIELD, minilm_dir

TEXTS = [
    "What is the capital of France?",
    "OpenSearch stores one 384-dimension vector per chunk in a k-NN field.",
    "Der schnelle braune Fuchs springt über den faulen Hund. Ça va très bien, merci !",
    "The backup policy keeps daily snapshots for 30 days and monthly ones for a year; restores are tested each quarter.",
    "short",
    "中文字符和 emoji 🙂 mixed with ASCII",
    " ".join(["chunk"] * 200),
]


def cosine(a, b) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60)


def ingest_embed(ingest_bin, texts) -> list[list[float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EMBEDDING_", "INGEST_"))}
    env["EMBEDDING_MODEL_PATH"] = str(minilm_dir())
    p = subprocess.run([str(ingest_bin), "embed", *texts], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def test_openai_client_gets_the_vectors_of_ingest_embed_and_of_the_python_reference(swift_embeddings, services, ingest_bin):
    ours = client(swift_embeddings.url)
    # The client asks for base64 by default and decodes it; ask for floats too.
    b64 = ours.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS)
    floats = ours.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS, encoding_format="float")
    reference = client(services.embeddings_url).embeddings.create(model=EMBEDDING_MODEL, input=TEXTS, encoding_format="float")
    cli = ingest_embed(ingest_bin, TEXTS)
    assert b64.model == EMBEDDING_MODEL and b64.object == "list"
    assert [d.index for d in b64.data] == list(range(len(TEXTS)))
    assert b64.usage.prompt_tokens == b64.usage.total_tokens > len(TEXTS) * 2
    # [CLS]/[SEP] counted, as the reference counts them (its attention mask)
    assert b64.usage.prompt_tokens == reference.usage.prompt_tokens
    for i, text in enumerate(TEXTS):
        v = b64.data[i].embedding
        assert len(v) == 384
        assert floats.data[i].embedding == pytest.approx(v, abs=1e-7), "base64 and float differ"
        assert cosine(v, cli[i]) >= 0.9999, (text, cosine(v, cli[i]))
        assert cosine(v, reference.data[i].embedding) >= 0.9999, (text, cosine(v, reference.data[i].embedding))
    # One text alone is the same vector as inside a batch.
    single = ours.embeddings.create(model=EMBEDDING_MODEL, input=TEXTS[1]).data[0].embedding
    assert cosine(single, b64.data[1].embedding) >= 0.99999
    # The model's WordPiece ids give the text's vector ("hello world" = [CLS] 7592 2088 [SEP]).
    hello = ours.embeddings.create(model=EMBEDDING_MODEL, input="hello world").data[0].embedding
    ids = ours.embeddings.create(model=EMBEDDING_MODEL, input=[[101, 7592, 2088, 102]])
    assert cosine(ids.data[0].embedding, hello) >= 0.99999
    assert [m.id for m in ours.models.list().data] == [EMBEDDING_MODEL]


@pytest.mark.parametrize("kwargs,error,param,code", [
    ({"model": "text-embedding-3-small", "input": "x"}, openai.NotFoundError, "model", "model_not_found"),
    ({"model": EMBEDDING_MODEL, "input": " ".join(["word"] * 300)}, openai.BadRequestError, "input", None),
    ({"model": EMBEDDING_MODEL, "input": []}, openai.BadRequestError, "input", None),
    ({"model": EMBEDDING_MODEL, "input": ["ok", ""]}, openai.BadRequestError, "input", None),
    ({"model": EMBEDDING_MODEL, "input": "x", "dimensions": 256}, openai.BadRequestError, "dimensions", None),
    ({"model": EMBEDDING_MODEL, "input": [[101, 50000, 102]]}, openai.BadRequestError, "input", None),
    # tiktoken's ids for "hello world" (what LangChain sends by default): not WordPiece, refused
    ({"model": EMBEDDING_MODEL, "input": [[15339, 1917]]}, openai.BadRequestError, "input", None),
])
def test_bad_input_is_refused_with_openais_error_shape(swift_embeddings, kwargs, error, param, code):
    with pytest.raises(error) as caught:
        client(swift_embeddings.url).embeddings.create(**kwargs)
    body = caught.value.body
    assert set(body) == {"message", "type", "param", "code"}, body
    assert body["type"] == "invalid_request_error" and body["param"] == param and body["code"] == code, body
    if kwargs["input"] and isinstance(kwargs["input"], str) and len(kwargs["input"]) > 1000:
        assert "maximum context length is 256 tokens, however you requested 302 tokens" in body["message"]


def test_a_body_that_is_not_json_and_an_oversized_body(swift_embeddings):
    r = requests.post(swift_embeddings.url + "/embeddings", data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    big = json.dumps({"model": EMBEDDING_MODEL, "input": ["word " * 200] * 5000})
    r = requests.post(swift_embeddings.url + "/embeddings", data=big, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413, r.text[:500]
    assert "EMBEDDINGS_SERVER_MAX_BODY_BYTES" in r.json()["error"]["message"]


def test_twenty_concurrent_clients_are_served_and_health_stays_fast(swift_embeddings):
    expected = {t: v.embedding for t, v in zip(TEXTS, client(swift_embeddings.url).embeddings.create(model=EMBEDDING_MODEL, input=TEXTS).data)}
    stop = threading.Event()
    health: list[tuple[int, float]] = []

    def poll_health():
        while not stop.is_set():
            t0 = time.monotonic()
            r = requests.get(swift_embeddings.root + "/health", timeout=5)
            health.append((r.status_code, time.monotonic() - t0))
            time.sleep(0.1)

    def worker(n: int) -> list[float]:
        c = client(swift_embeddings.url)
        worst = 0.0
        for k in range(5):
            batch = [TEXTS[(n + k + j) % len(TEXTS)] for j in range(1 + (n + k) % 4)]
            r = c.embeddings.create(model=EMBEDDING_MODEL, input=batch)
            for text, d in zip(batch, r.data):
                worst = max(worst, 1 - cosine(d.embedding, expected[text]))
        return worst

    poller = threading.Thread(target=poll_health)
    poller.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            worst = list(pool.map(worker, range(20)))
    finally:
        stop.set()
        poller.join()
    assert max(worst) < 1e-5
    assert health and all(code == 200 for code, _ in health), health
    assert max(s for _, s in health) < 2, f"/health took up to {max(s for _, s in health):.2f} s under load"
    metrics = requests.get(swift_embeddings.root + "/metrics", timeout=5).text
    assert 'ingest_embeddings_requests_total{status="429"}' not in metrics, "20 clients are under the default limit of 32"
    assert "ingest_embeddings_requests_in_flight 0" in metrics


def test_requests_over_the_concurrency_limit_get_429_and_the_client_retries(start_swift_embeddings):
    server = start_swift_embeddings({"EMBEDDINGS_SERVER_MAX_CONCURRENT_REQUESTS": "1"})
    many = [" ".join(["chunk"] * 200)] * 64  # a few seconds of work per request in a debug build
    codes: list[int] = []

    def post(_):
        r = requests.post(server.url + "/embeddings", json={"model": EMBEDDING_MODEL, "input": many}, timeout=120)
        codes.append(r.status_code)
        if r.status_code == 429:
            assert r.headers["Retry-After"] == "1" and r.json()["error"]["code"] == "rate_limit_exceeded"

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(post, range(4)))
    assert sorted(set(codes)) == [200, 429], codes
    # The OpenAI client retries a 429 (it waits the Retry-After: 1) by itself: two clients at once
    # on one slot both end with their vectors.
    retrying = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=10, timeout=120)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: retrying.embeddings.create(model=EMBEDDING_MODEL, input=many[:2]), range(2)))
    assert all(len(r.data) == 2 for r in results)


def test_sigterm_drains_then_exits_zero(start_swift_embeddings):
    server = start_swift_embeddings({"EMBEDDINGS_SERVER_SHUTDOWN_GRACE_SECONDS": "2"})
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    r = requests.get(server.root + "/health", timeout=5)
    assert r.status_code == 503 and r.json()["status"] == "draining"
    # Still serving during the grace period.
    assert client(server.url).embeddings.create(model=EMBEDDING_MODEL, input="still here").data
    assert server.proc.wait(timeout=30) == 0


def test_a_missing_model_stops_it_at_start_with_exit_2(ingest_bin, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EMBEDDING_", "XDG_"))}
    env.update(EMBEDDING_MODEL_PATH=str(tmp_path / "nothing"), SERVER_PORT="0", HOME=str(tmp_path))
    p = subprocess.run([str(ingest_bin), "serve-embeddings"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert str(tmp_path / "nothing") in p.stderr and "EMBEDDING_MODEL_PATH" in p.stderr


def test_ingest_indexes_through_it_the_vectors_the_reference_gives(run_ingest, swift_embeddings, services, opensearch, index_name, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.md").write_text("# Backups\n\nDaily snapshots are kept for 30 days.\n\n## Restores\n\nRestores are tested every quarter.\n")
    ours = run_ingest(docs, index=index_name + "-swift", env={"OPENAI_BASE_URL": swift_embeddings.url})
    ref = run_ingest(docs, index=index_name + "-python", env={"OPENAI_BASE_URL": services.embeddings_url})
    assert ours.code == 0 and ref.code == 0, str(ours) + str(ref)
    a = opensearch.docs(index_name + "-swift")
    b = opensearch.docs(index_name + "-python")
    assert a and len(a) == len(b)
    for x, y in zip(a, b):
        assert x["_source"]["text"] == y["_source"]["text"]
        assert cosine(x["_source"][VECTOR_FIELD], y["_source"][VECTOR_FIELD]) >= 0.9999

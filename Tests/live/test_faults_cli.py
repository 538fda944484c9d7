"""The CLI under injected faults (issue #7): Docling failing, hanging, killed and restarted; the
embeddings server refusing long inputs; a dimension mismatch; OpenSearch answering 413/503/item
429s or restarted empty mid-batch; the CLI itself killed with SIGKILL mid-batch; two CLI processes
ingesting the same sources with different settings at the same moment (the per-source lease).

What test_cli.py already covers is not repeated here: TLS with and without the CA, a wrong
password (exit 2), whole-request bulk 429s, embeddings 429s with Retry-After, Docling unreachable.

The invariant checked after every fault: each document of the report has exactly its `chunks` in
the index under its `document_id`, in one generation, and the index holds nothing else.
The slow ones (20-90 s each): Docling killed and restarted (a private docling-serve), OpenSearch
restarted, SIGKILL over 500 documents, two processes at once.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import VECTOR_FIELD, _free_port
from fault_support import DoclingFaultProxy, EmbeddingsFaultProxy, PrivateService, chunks_by_source, write_markdown_docs

DOCLING_REASONS = {"service_unavailable", "parse_failed", "parse_timeout"}


def assert_index_matches_report(opensearch_url: str, index: str, docs: list[dict]) -> dict[str, dict]:
    """Every indexed/unchanged document has exactly its chunks, one generation, and nothing else is stored."""
    stored = chunks_by_source(opensearch_url, index)
    expected = {d["source"]: d for d in docs if d["status"] in ("indexed", "unchanged")}
    assert set(stored) == set(expected), (f"sources in the index but not in the report: {sorted(set(stored) - set(expected))[:5]}; "
                                          f"in the report but not in the index: {sorted(set(expected) - set(stored))[:5]}")
    for source, d in expected.items():
        s = stored[source]
        assert s["chunks"] == d["chunks"], f"{source}: {s['chunks']} chunks stored, the report says {d['chunks']}"
        assert len(s["generations"]) == 1, f"{source}: generations {s['generations']}"
        assert s["document_ids"] == {d["document_id"]}, f"{source}: {s['document_ids']} vs {d['document_id']}"
        assert s["chunk_counts"] == {d["chunks"]}, f"{source}: chunk_count {s['chunk_counts']}"
    r = requests.get(f"{opensearch_url}/{index}/_count", timeout=30)
    assert r.json()["count"] == sum(d["chunks"] for d in expected.values())
    return stored


def start_cli(ingest_bin: Path, ingest_env: dict, *args, env: dict | None = None, log: Path) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DOCLING_", "OPENSEARCH_", "OPENAI_", "EMBEDDING_", "INGEST_"))}
    full.update(ingest_env)
    full.update(env or {})
    return subprocess.Popen([str(ingest_bin), *map(str, args)], env=full, stdout=open(log.with_suffix(".out"), "w"),
                            stderr=open(log.with_suffix(".err"), "w"))


def wait_for_count(url: str, index: str, at_least: int, proc: subprocess.Popen, timeout: float = 180) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = requests.get(f"{url}/{index}/_count", timeout=10)
            count = r.json().get("count", 0) if r.status_code == 200 else 0
        except requests.RequestException:
            count = 0
        if count >= at_least:
            return count
        if proc.poll() is not None:
            pytest.fail(f"ingest exited ({proc.returncode}) before {at_least} chunks were indexed (had {count})")
        time.sleep(0.1)
    pytest.fail(f"fewer than {at_least} chunks indexed after {timeout} s")


@pytest.fixture
def docling_proxy(services):
    proxy = DoclingFaultProxy(services.docling_url)
    yield proxy
    proxy.close()


# ---------------------------------------------------------------------------------------------
# Docling


def test_docling_5xx_drops_hangs_and_failures_then_rerun_does_only_the_failed(run_ingest, docling_proxy, services, index_name, tmp_path):
    folder = tmp_path / "docs"
    write_markdown_docs(folder, 3, prefix="ok")
    for name in ("flaky-503", "flaky-drop", "broken-5xx", "hang", "fail-status", "partial"):
        write_markdown_docs(folder, 1, prefix=name)
    p = docling_proxy
    p.unavailable["flaky-503"] = 2   # answered 503 twice, then converted
    p.drop["flaky-drop"] = 1         # connection lost once, then converted
    p.fail_5xx["broken-5xx"] = -1    # 500 every time: bounded retries, then parse_failed
    p.hang.add("hang")               # `started` forever: parse_timeout after DOCLING_TIMEOUT_SECONDS
    p.failure.add("fail-status")     # the result says failure
    p.partial.add("partial")         # partial_success: indexed with a warning
    env = {"DOCLING_SERVE_URL": p.url, "DOCLING_TIMEOUT_SECONDS": "5"}
    run = run_ingest(folder, index=index_name, env=env, timeout=240)
    assert run.code == 1, str(run)
    by = {Path(d["source"]).stem: d for d in run.docs()}
    failed = {stem: d["error"]["reason"] for stem, d in by.items() if d["status"] == "failed"}
    assert failed == {"broken-5xx-0000": "parse_failed", "hang-0000": "parse_timeout", "fail-status-0000": "parse_failed"}, str(run)
    for stem in ("ok-0000", "ok-0001", "ok-0002", "flaky-503-0000", "flaky-drop-0000", "partial-0000"):
        assert by[stem]["status"] == "indexed", by[stem]
    assert any("partial" in w for w in by["partial-0000"]["warnings"]), by["partial-0000"]
    assert p.submissions["flaky-503-0000.md"] == 3 and p.submissions["flaky-drop-0000.md"] == 2, p.submissions
    assert 2 <= p.submissions["broken-5xx-0000.md"] <= 6, f"retries of a 500 are bounded: {p.submissions}"
    assert "DOCLING_TIMEOUT_SECONDS" in by["hang-0000"]["error"]["message"] or "5" in by["hang-0000"]["error"]["message"]
    assert_index_matches_report(services.opensearch_url, index_name, run.docs())

    # The rerun converts the three failed documents only.
    p.clear_faults()
    rerun = run_ingest(folder, index=index_name, env=env, timeout=240)
    assert rerun.code == 0, str(rerun)
    assert set(p.submissions) == {"broken-5xx-0000.md", "hang-0000.md", "fail-status-0000.md"}, p.submissions
    statuses = {Path(d["source"]).stem: d["status"] for d in rerun.docs()}
    assert statuses == {stem: ("indexed" if stem in failed else "unchanged") for stem in by}, statuses
    assert_index_matches_report(services.opensearch_url, index_name, rerun.docs())


def test_docling_killed_mid_batch_and_restarted(ingest_bin, ingest_env, run_ingest, services, index_name, tmp_path):
    docling = PrivateService("docling", services.run_dir, _free_port())
    try:
        url = docling.start()
        folder = tmp_path / "docs"
        write_markdown_docs(folder, 40)
        env = {"DOCLING_SERVE_URL": url}
        report = tmp_path / "killed.json"
        proc = start_cli(ingest_bin, ingest_env, folder, "--index", index_name, "--concurrency", "4", "--report", report,
                         env=env, log=tmp_path / "killed")
        wait_for_count(services.opensearch_url, index_name, 4, proc)
        docling.kill()
        time.sleep(1)
        docling.start()
        code = proc.wait(timeout=300)
        first = json.loads(report.read_text())
        assert code in (0, 1), f"exit {code}: {(tmp_path / 'killed.err').read_text()[-3000:]}"
        docs = first["documents"]
        assert len(docs) == 40
        for d in docs:
            assert d["status"] == "indexed" or (d["status"] == "failed" and d["error"]["reason"] in DOCLING_REASONS), d
        assert_index_matches_report(services.opensearch_url, index_name, docs)

        rerun = run_ingest(folder, index=index_name, env=env, timeout=300)
        assert rerun.code == 0, str(rerun)
        before = {d["source"]: d["status"] for d in docs}
        for d in rerun.docs():
            assert d["status"] == ("unchanged" if before[d["source"]] == "indexed" else "indexed"), (d, before[d["source"]])
        assert_index_matches_report(services.opensearch_url, index_name, rerun.docs())
        print(f"docling kill+restart: {sum(s == 'failed' for s in before.values())} of 40 failed in the first run")
    finally:
        docling.stop()


# ---------------------------------------------------------------------------------------------
# Embeddings


def test_embeddings_input_too_long_is_rechunked(run_ingest, start_embeddings_server, services, index_name, tmp_path):
    url = start_embeddings_server("--max-input-tokens", "96")
    folder = tmp_path / "docs"
    folder.mkdir()
    long = "# Long paragraphs\n\n" + "\n\n".join(
        " ".join(f"Sentence {p}.{s} describes the replication lag of shard {s} in region {p} after the upgrade."
                 for s in range(12)) for p in range(4))
    (folder / "long.md").write_text(long)
    run = run_ingest(folder, index=index_name, env={"OPENAI_BASE_URL": url})
    assert run.code == 0, str(run)
    d = run.docs()[0]
    assert d["status"] == "indexed", d
    # The warning is written only when the server refused a chunk as too long (HTTP 400).
    assert any("re-chunked" in w for w in d["warnings"]), d["warnings"]
    assert_index_matches_report(services.opensearch_url, index_name, run.docs())


def test_embeddings_5xx_and_slow_answers_are_retried(run_ingest, services, index_name, tmp_path):
    # Every 3rd request answers 503; the 1st and 2nd take 3 s, past EMBEDDING_TIMEOUT_SECONDS=1.
    proxy = EmbeddingsFaultProxy(services.embeddings_url, fail_every=3, fail_status=503, slow={1, 2}, delay=3)
    try:
        folder = tmp_path / "docs"
        write_markdown_docs(folder, 6)
        run = run_ingest(folder, index=index_name, env={"OPENAI_BASE_URL": proxy.url, "EMBEDDING_TIMEOUT_SECONDS": "1",
                                                         "EMBEDDING_BATCH_SIZE": "1"}, args=["--concurrency", "2"])
        assert run.code == 0, str(run)
        assert all(d["status"] == "indexed" for d in run.docs()), run.docs()
        assert proxy.failed >= 1 and proxy.delayed == 2, (proxy.requests, proxy.failed, proxy.delayed)
        assert_index_matches_report(services.opensearch_url, index_name, run.docs())
    finally:
        proxy.close()


def test_dimension_mismatch_exits_2_before_writing(run_ingest, ingest_bin, opensearch, services, index_name, tmp_path):
    body = subprocess.run([str(ingest_bin), "schema", "--dimension", "8", "--model", "all-MiniLM-L6-v2"],
                          capture_output=True, text=True, check=True).stdout
    r = requests.put(f"{services.opensearch_url}/{index_name}", data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    folder = tmp_path / "docs"
    write_markdown_docs(folder, 3)
    run = run_ingest(folder, index=index_name)
    assert run.code == 2, str(run)
    message = run.stderr + run.stdout
    assert "dimension" in message and "8" in message and "384" in message, message
    assert opensearch.count(index_name) == 0
    assert opensearch.mapping(index_name)["properties"][VECTOR_FIELD]["dimension"] == 8


# ---------------------------------------------------------------------------------------------
# OpenSearch


def test_opensearch_413_503_and_item_429s(run_ingest, start_osproxy, services, index_name, tmp_path):
    proxy = start_osproxy("--user", "admin:secret", "--bulk-max-bytes", "40000", "--bulk-503-every", "3",
                          "--item-429", "1", "--item-429-every", "2", tls=False)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "big.md").write_text("# Many chunks\n\n" + "\n\n".join(
        f"## Part {i}\n\n" + " ".join(f"Part {i} line {j} keeps the bulk body large enough to split." for j in range(20))
        for i in range(8)))
    write_markdown_docs(folder, 3)
    env = {"OPENSEARCH_HOST": proxy.url, "OPENSEARCH_PORT": proxy.url.rsplit(":", 1)[1],
           "OPENSEARCH_USERNAME": "admin", "OPENSEARCH_PASSWORD": "secret"}
    run = run_ingest(folder, index=index_name, env=env, args=["--concurrency", "1"])
    assert run.code == 0, str(run)
    assert all(d["status"] == "indexed" for d in run.docs()), run.docs()
    stats = requests.get(proxy.url + "/_osproxy/stats", auth=("admin", "secret"), timeout=10).json()
    assert stats["413"] >= 1 and stats["503"] >= 1, f"no fault was injected: {stats}"
    assert_index_matches_report(services.opensearch_url, index_name, run.docs())


def test_opensearch_restarted_empty_mid_batch_then_rerun_rebuilds(ingest_bin, ingest_env, run_ingest, services, tmp_path):
    osmem = PrivateService("osmem", services.run_dir, _free_port())
    try:
        url = osmem.start()
        index = "live-os-restart"
        env = {"OPENSEARCH_HOST": url, "OPENSEARCH_PORT": url.rsplit(":", 1)[1]}
        folder = tmp_path / "docs"
        write_markdown_docs(folder, 40)
        report = tmp_path / "first.json"
        proc = start_cli(ingest_bin, ingest_env, folder, "--index", index, "--concurrency", "4", "--report", report,
                         env=env, log=tmp_path / "first")
        wait_for_count(url, index, 8, proc)
        osmem.kill()                       # every chunk written so far is lost
        osmem.start()
        code = proc.wait(timeout=300)
        assert code in (0, 1), f"exit {code}: {(tmp_path / 'first.err').read_text()[-3000:]}"

        rerun = run_ingest(folder, index=index, env=env, timeout=300)
        assert rerun.code == 0, str(rerun)
        assert sum(d["status"] == "indexed" for d in rerun.docs()) >= 8, "the chunks lost with the restart were not rebuilt"
        assert_index_matches_report(url, index, rerun.docs())
        mapping = requests.get(f"{url}/{index}/_mapping", timeout=30).json()[index]["mappings"]["properties"]
        assert mapping[VECTOR_FIELD]["type"] == "knn_vector" and mapping["source"]["type"] == "keyword", mapping
    finally:
        osmem.stop()


# ---------------------------------------------------------------------------------------------
# The CLI killed, and two CLIs at once


def test_sigkill_mid_batch_of_500_then_rerun_leaves_exact_chunk_sets(ingest_bin, ingest_env, run_ingest, services, index_name, tmp_path):
    folder = tmp_path / "docs"
    write_markdown_docs(folder, 500)
    proc = start_cli(ingest_bin, ingest_env, folder, "--index", index_name, "--concurrency", "8",
                     log=tmp_path / "killed")
    t0 = time.monotonic()
    seen = wait_for_count(services.opensearch_url, index_name, 150, proc, timeout=600)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    first = time.monotonic() - t0
    leases = f"{services.opensearch_url}/{index_name}__ingest_leases"
    requests.post(leases + "/_refresh", timeout=30)
    left = requests.get(leases + "/_count", timeout=30).json().get("count", 0)

    rerun = run_ingest(folder, index=index_name, args=["--concurrency", "8"], timeout=900)
    assert rerun.code == 0, str(rerun)
    docs = rerun.docs()
    assert len(docs) == 500
    statuses = {s: sum(d["status"] == s for d in docs) for s in ("indexed", "unchanged")}
    assert statuses["indexed"] + statuses["unchanged"] == 500, statuses
    assert statuses["unchanged"] >= seen // 2, statuses  # the documents done before the kill are not redone
    # Leases of the killed process were taken over at once (same host, dead pid), not waited out.
    assert rerun.seconds < 600, f"rerun took {rerun.seconds:.0f} s"
    # The rerun released all its leases. A lease of the killed process can stay behind only on a
    # document it had finished (the rerun found it unchanged and took no lease): harmless, taken
    # over when that source next needs writing.
    requests.post(leases + "/_refresh", timeout=30)
    hits = requests.post(leases + "/_search", json={"size": 100}, timeout=30).json()["hits"]["hits"]
    unchanged = {d["source"] for d in docs if d["status"] == "unchanged"}
    for h in hits:
        assert h["_source"]["pid"] == proc.pid and h["_source"]["source"] in unchanged, h["_source"]
    assert_index_matches_report(services.opensearch_url, index_name, docs)
    print(f"SIGKILL after {first:.1f} s with {seen} chunks, {left} leases left behind; rerun {rerun.seconds:.1f} s: {statuses}")


def test_two_processes_with_different_settings_at_once_leave_one_generation(ingest_bin, ingest_env, start_osproxy, services, index_name, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(12):
        (folder / f"shared-{i:02d}.md").write_text(f"# Shared {i}\n\n" + "\n\n".join(
            f"## Section {s}\n\n" + " ".join(f"Document {i} section {s} sentence {k} adds a few words." for k in range(6))
            for s in range(5)))
    # Different token budgets: two generations of every source, written at the same moment. Slow
    # bulk writes widen the window in which, without the lease, both processes write and then
    # both delete "every other generation": the source would be left with no chunks.
    proxy = start_osproxy("--user", "admin:secret", "--bulk-delay", "0.4", tls=False)
    env = {"INGEST_LOG_LEVEL": "info", "OPENSEARCH_HOST": proxy.url, "OPENSEARCH_PORT": proxy.url.rsplit(":", 1)[1],
           "OPENSEARCH_USERNAME": "admin", "OPENSEARCH_PASSWORD": "secret"}
    a = start_cli(ingest_bin, ingest_env, folder, "--index", index_name, "--max-tokens", "128", "--report",
                  tmp_path / "a.json", env=env, log=tmp_path / "a")
    b = start_cli(ingest_bin, ingest_env, folder, "--index", index_name, "--max-tokens", "64", "--report",
                  tmp_path / "b.json", env=env, log=tmp_path / "b")
    assert a.wait(timeout=600) == 0, (tmp_path / "a.err").read_text()[-3000:]
    assert b.wait(timeout=600) == 0, (tmp_path / "b.err").read_text()[-3000:]

    stored = chunks_by_source(services.opensearch_url, index_name)
    assert len(stored) == 12, f"sources left with no chunks: {sorted(set(str(p) for p in folder.iterdir()) - set(stored))}"
    reports = [json.loads((tmp_path / f"{p}.json").read_text())["documents"] for p in "ab"]
    for source, s in stored.items():
        assert len(s["generations"]) == 1, f"{source}: {s['generations']}"
        assert s["chunk_counts"] == {s["chunks"]}, f"{source}: {s['chunks']} chunks stored, chunk_count {s['chunk_counts']}"
        counts = {d["chunks"] for r in reports for d in r if d["source"] == source}
        assert s["chunks"] in counts, (source, s, counts)
    waits = sum((tmp_path / f"{p}.err").read_text().count("waiting for another process") for p in "ab")
    assert waits >= 1, "the two processes never met on a source: the test proves nothing"
    print(f"two processes: {waits} lease waits")


# ---------------------------------------------------------------------------------------------
# --prune against an OpenSearch that cannot list


def test_prune_fails_the_run_when_opensearch_cannot_list(run_ingest, start_osproxy, services, index_name, tmp_path):
    # Every _search answers 500: the listing --prune needs fails. It used to be swallowed
    # ("0 pruned", exit 0); now the run says why, in the summary and the report, and exits 1.
    proxy = start_osproxy("--user", "admin:secret", "--search-status", "500", tls=False)
    folder = tmp_path / "docs"
    folder.mkdir()
    env = {"OPENSEARCH_HOST": proxy.url, "OPENSEARCH_PORT": proxy.url.rsplit(":", 1)[1],
           "OPENSEARCH_USERNAME": "admin", "OPENSEARCH_PASSWORD": "secret"}
    run = run_ingest(folder, index=index_name, env=env, args=["--prune"], timeout=300)
    assert run.code == 1, str(run)
    assert "prune failed" in run.stderr and "--prune stopped" in run.stderr, run.stderr
    assert run.report["prune_error"]["message"].startswith("--prune stopped"), run.report
    stats = requests.get(proxy.url + "/_osproxy/stats", auth=("admin", "secret"), timeout=10).json()
    assert stats.get("search_refused", 0) >= 1, stats

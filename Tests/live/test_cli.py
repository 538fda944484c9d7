"""The `ingest` CLI end to end: real docling-serve (offline), osmem-server and the embeddings server.

Contract under test (issue #3): `ingest PATH... [--index NAME] [--prune] [--report FILE.json]
[--preview FILE.jsonl] ...`; exit 0 all ok, 1 some documents failed, 2 usage/config/service
unreachable; report `{"documents":[...], "totals":{...}}`; one OpenSearch document per chunk.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest

from conftest import EMBEDDING_MODEL, VECTOR_FIELD, _free_port, make_runner

SAMPLE_KINDS = {  # file in samples/ -> what it stands for
    "handbook.html": "HTML",
    "security_review.docx": "DOCX",
    "release_notes.md": "Markdown",
    "migration_update.pptx": "PPTX",
    "budget.xlsx": "XLSX",
    "annual_report.pdf": "PDF",
    "inventory.csv": "CSV",
    "backup_policy.adoc": "AsciiDoc",
}
# `page` is checked apart: it is left out where a format has no pages (HTML, Markdown, ...).
REQUIRED_FIELDS = ["text", VECTOR_FIELD, "embedding_model", "embedding_dimensions", "filename", "mimetype",
                   "source", "document_id", "generation", "chunk_index", "chunk_count", "pages",
                   "headings", "file_size", "indexed_time"]
STATUSES = {"indexed", "unchanged", "skipped", "failed"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_samples(dest: Path, names=None) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    src = Path(__file__).resolve().parents[2] / "samples"
    for p in sorted(src.iterdir()):
        if p.is_file() and (names is None or p.name in names):
            shutil.copy2(p, dest / p.name)
    return dest.resolve()


def check_report_shape(run):
    assert run.report is not None, f"no --report JSON written\n{run}"
    assert set(run.report) >= {"documents", "totals"}, run.report
    totals = run.report["totals"]
    for key in ("documents", "indexed", "unchanged", "skipped", "failed", "chunks", "seconds"):
        assert key in totals, f"totals lacks {key}: {totals}"
    docs = run.docs()
    assert totals["documents"] == len(docs)
    for status in ("indexed", "unchanged", "skipped", "failed"):
        assert totals[status] == sum(d["status"] == status for d in docs), (status, totals)
    for d in docs:
        assert d["status"] in STATUSES, d
        assert "source" in d, d
    return docs


# ---------------------------------------------------------------------------------------------
# A directory of every sample kind, indexed once for the module (the slowest part of the suite).


@pytest.fixture(scope="module")
def first_run(ingest_bin, ingest_env, services, tmp_path_factory):
    work = tmp_path_factory.mktemp("samples-run")
    folder = copy_samples(work / "docs")
    index = "live-samples-" + work.name.lower().replace("_", "-")[-12:].strip("-")
    run_ingest = make_runner(ingest_bin, ingest_env, work)
    before = services.embeddings_stats()
    run = run_ingest(folder, index=index)
    after = services.embeddings_stats()
    return {"run": run, "folder": folder, "index": index, "runner": run_ingest,
            "embedding_requests": (after["requests"] - before["requests"]) if before and after else None}


def test_directory_of_every_kind_is_indexed(first_run, opensearch):
    run, folder, index = first_run["run"], first_run["folder"], first_run["index"]
    assert run.code == 0, str(run)
    docs = check_report_shape(run)
    by_name = run.by_name()
    assert set(by_name) == set(SAMPLE_KINDS), f"report covers {sorted(by_name)}"
    for name, d in by_name.items():
        assert d["status"] == "indexed", f"{SAMPLE_KINDS[name]} {name}: {d}"
        assert d["chunks"] > 0, d
        assert d["document_id"] == sha256(folder / name), d
        assert Path(d["source"]) == folder / name, d
    totals = run.report["totals"]
    assert totals["indexed"] == len(SAMPLE_KINDS)
    assert totals["chunks"] == sum(d["chunks"] for d in docs)
    # The index holds exactly the chunks the report states, document by document.
    assert opensearch.count(index) == totals["chunks"]
    for name, d in by_name.items():
        hits = opensearch.docs_by_document_id(index, d["document_id"])
        assert len(hits) == d["chunks"], f"{name}: {len(hits)} chunks in the index, report says {d['chunks']}"
    if first_run["embedding_requests"] is not None:
        assert first_run["embedding_requests"] > 0


def test_chunks_are_readable_with_the_schema(first_run, opensearch):
    index, folder = first_run["index"], first_run["folder"]
    props = opensearch.mapping(index)["properties"]
    vec = props.get(VECTOR_FIELD, {})
    assert vec.get("type") == "knn_vector" and vec.get("dimension") == 384, vec
    assert props["text"]["type"] == "text"
    for keyword in ("document_id", "source", "filename", "embedding_model"):
        assert props[keyword]["type"] == "keyword", (keyword, props[keyword])

    for name, d in first_run["run"].by_name().items():
        hits = opensearch.docs_by_document_id(index, d["document_id"])
        generations = {h["_source"]["generation"] for h in hits}
        assert len(generations) == 1, f"{name}: generations {generations}"
        prefixes = {h["_id"].rsplit("_", 2)[0] for h in hits}
        assert len(prefixes) == 1, f"{name}: _id prefixes {prefixes}"
        prefix = prefixes.pop()
        indices = sorted(h["_source"]["chunk_index"] for h in hits)
        assert indices == list(range(len(hits))), f"{name}: chunk_index {indices}"
        for h in hits:
            src = h["_source"]
            missing = [f for f in REQUIRED_FIELDS if f not in src]
            assert not missing, f"{name} chunk {h['_id']} lacks {missing}"
            assert src["text"].strip(), h["_id"]
            assert h["_id"] == f"{prefix}_{src['generation']}_{src['chunk_index']}", h["_id"]
            v = src[VECTOR_FIELD]
            assert len(v) == 384 and src["embedding_dimensions"] == 384
            assert abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-3, "all-MiniLM-L6-v2 vectors are L2-normalised"
            assert src["embedding_model"] == EMBEDDING_MODEL
            assert src["filename"] == name
            assert src["source"] == str(folder / name)
            assert src["document_id"] == d["document_id"]
            assert src["chunk_count"] == len(hits)
            assert src["file_size"] == (folder / name).stat().st_size
            assert isinstance(src["headings"], list)
            if src["pages"]:  # `page` (the first page) only where the format has pages
                assert src.get("page") in src["pages"], (name, src.get("page"), src["pages"])
            else:
                assert src.get("page") is None, (name, src.get("page"))
            assert src["mimetype"], h["_id"]
    html = opensearch.docs_by_document_id(index, first_run["run"].by_name()["handbook.html"]["document_id"])
    assert html[0]["_source"]["mimetype"].startswith("text/html")
    assert any("Architecture" in " ".join(h["_source"]["headings"]) for h in html), "HTML headings not carried"


def test_pdf_upload_polling_and_page_numbers(first_run, opensearch):
    """The offline stand-in gives a PDF a meaningless layout, but its text and page provenance are real."""
    d = first_run["run"].by_name()["annual_report.pdf"]
    hits = opensearch.docs_by_document_id(first_run["index"], d["document_id"])
    assert hits and hits[0]["_source"]["mimetype"] == "application/pdf"
    all_pages = set()
    for h in hits:
        src = h["_source"]
        assert set(src["pages"]) <= {1, 2, 3}, src["pages"]
        assert src["page"] in src["pages"], (src["page"], src["pages"])
        all_pages |= set(src["pages"])
    assert all_pages == {1, 2, 3}, f"the 3-page PDF's chunks cover pages {sorted(all_pages)}"
    text = " ".join(h["_source"]["text"] for h in hits)
    assert "Porto" in text and "Outlook" in text


def test_second_run_is_unchanged_without_embedding_calls(first_run, services, opensearch):
    index, folder = first_run["index"], first_run["folder"]
    count = opensearch.count(index)
    before = services.embeddings_stats()
    run = first_run["runner"](folder, index=index)
    after = services.embeddings_stats()
    assert run.code == 0, str(run)
    check_report_shape(run)
    statuses = {Path(d["source"]).name: d["status"] for d in run.docs()}
    assert statuses == {name: "unchanged" for name in SAMPLE_KINDS}, statuses
    assert run.report["totals"]["unchanged"] == len(SAMPLE_KINDS)
    assert opensearch.count(index) == count
    if before is None:
        pytest.skip("the embeddings server has no /_stats: cannot count requests")
    assert after["requests"] == before["requests"], f"embedding requests on an unchanged run: {before} -> {after}"


# ---------------------------------------------------------------------------------------------
# Re-ingestion, prune, failures.


def test_edited_document_replaces_its_chunks(run_ingest, opensearch, index_name, tmp_path):
    folder = copy_samples(tmp_path / "docs", {"release_notes.md", "handbook.html"})
    md = folder / "release_notes.md"
    first = run_ingest(folder, index=index_name)
    assert first.code == 0, str(first)
    old = first.by_name()["release_notes.md"]
    old_hits = opensearch.docs_by_source(index_name, str(md))
    assert len(old_hits) == old["chunks"]

    md.write_text(md.read_text() + "\n## Security fixes\n\nCVE-2026-0001 in the export API is fixed. "
                  "Tokens are now rotated every 24 hours, and the session cookie is marked SameSite=Strict.\n")
    second = run_ingest(folder, index=index_name)
    assert second.code == 0, str(second)
    new = second.by_name()["release_notes.md"]
    assert new["status"] == "indexed", new
    assert new["document_id"] == sha256(md) != old["document_id"]
    assert second.by_name()["handbook.html"]["status"] == "unchanged"

    hits = opensearch.docs_by_source(index_name, str(md))
    assert len(hits) == new["chunks"], f"{len(hits)} chunks for the edited file, report says {new['chunks']}"
    assert {h["_source"]["generation"] for h in hits} != {h["_source"]["generation"] for h in old_hits}
    assert len({h["_source"]["generation"] for h in hits}) == 1, "more than one generation left"
    assert {h["_source"]["document_id"] for h in hits} == {new["document_id"]}
    assert opensearch.docs_by_document_id(index_name, old["document_id"]) == []
    assert any("CVE-2026-0001" in h["_source"]["text"] for h in hits)
    assert opensearch.count(index_name) == new["chunks"] + second.by_name()["handbook.html"]["chunks"]


def test_prune_removes_chunks_of_deleted_files(run_ingest, opensearch, index_name, tmp_path):
    folder = copy_samples(tmp_path / "docs", {"release_notes.md", "backup_policy.adoc"})
    first = run_ingest(folder, index=index_name)
    assert first.code == 0, str(first)
    gone = folder / "backup_policy.adoc"
    assert len(opensearch.docs_by_source(index_name, str(gone))) == first.by_name()["backup_policy.adoc"]["chunks"]

    gone.unlink()
    without = run_ingest(folder, index=index_name)
    assert without.code == 0, str(without)
    assert opensearch.docs_by_source(index_name, str(gone)), "chunks of a deleted file vanished without --prune"

    pruned = run_ingest(folder, index=index_name, args=["--prune"])
    assert pruned.code == 0, str(pruned)
    assert opensearch.docs_by_source(index_name, str(gone)) == []
    kept = first.by_name()["release_notes.md"]
    assert opensearch.count(index_name) == kept["chunks"]


def test_corrupt_and_unsupported_files(run_ingest, opensearch, index_name, tmp_path):
    folder = copy_samples(tmp_path / "docs", {"release_notes.md", "handbook.html"})
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 this is not really a zip archive" + bytes(range(256)) * 4)
    (folder / "program.bin").write_bytes(bytes(range(256)) * 8)
    run = run_ingest(folder, index=index_name)
    assert run.code == 1, str(run)
    check_report_shape(run)
    by = run.by_name()
    assert by["broken.docx"]["status"] == "failed", by["broken.docx"]
    err = by["broken.docx"].get("error") or {}
    assert err.get("reason") and err.get("message"), by["broken.docx"]
    skipped = by["program.bin"]
    assert skipped["status"] == "skipped", skipped
    reason = (skipped.get("error") or {}).get("reason") or (skipped.get("error") or {}).get("message") or skipped.get("warnings")
    assert reason, f"a skipped file needs a reason: {skipped}"
    for name in ("release_notes.md", "handbook.html"):
        assert by[name]["status"] == "indexed", by[name]
    assert run.report["totals"]["failed"] == 1 and run.report["totals"]["skipped"] == 1
    assert opensearch.count(index_name) == by["release_notes.md"]["chunks"] + by["handbook.html"]["chunks"]


def test_unreachable_docling_exits_2(run_ingest, index_name, tmp_path):
    folder = copy_samples(tmp_path / "docs", {"release_notes.md"})
    dead = f"http://127.0.0.1:{_free_port()}"
    run = run_ingest(folder, index=index_name, env={"DOCLING_SERVE_URL": dead}, timeout=180)
    assert run.code == 2, str(run)
    message = run.stderr + run.stdout
    assert "docling" in message.lower(), message
    assert dead.split("//")[1] in message or "DOCLING_SERVE_URL" in message, message


@pytest.mark.parametrize("name,value", [("INGEST_LOG_LEVEL", "loud"), ("EMBEDDING_DIMENSIONS", "big")])
def test_malformed_setting_exits_2_naming_it(run_ingest, index_name, tmp_path, name, value):
    # Both used to fall back to a default silently (the log level to warning, the dimensions to unset).
    folder = tmp_path / "docs"
    folder.mkdir()
    run = run_ingest(folder, index=index_name, env={name: value})
    assert run.code == 2, str(run)
    assert f"{name}={value}" in run.stderr, run.stderr


def test_embedding_429s_are_survived(run_ingest, start_embeddings_server, services, opensearch, index_name, tmp_path):
    url = start_embeddings_server("--fail-every", "2")
    folder = copy_samples(tmp_path / "docs", {"release_notes.md", "handbook.html", "backup_policy.adoc"})
    run = run_ingest(folder, index=index_name, env={"OPENAI_BASE_URL": url})
    assert run.code == 0, str(run)
    assert all(d["status"] == "indexed" for d in run.docs()), run.docs()
    assert opensearch.count(index_name) == run.report["totals"]["chunks"]
    stats = services.embeddings_stats(url)
    assert stats["rejected"] >= 1, f"the server answered no 429 ({stats}): the test proves nothing"


def test_preview_writes_chunks_without_opensearch(run_ingest, services, opensearch, index_name, tmp_path):
    folder = copy_samples(tmp_path / "docs", {"release_notes.md", "handbook.html"})
    out = tmp_path / "preview.jsonl"
    dead = f"http://127.0.0.1:{_free_port()}"  # OpenSearch must not be needed at all
    before = services.embeddings_stats()
    run = run_ingest(folder, index=index_name, preview=out, env={"OPENSEARCH_HOST": dead})
    assert run.code == 0, str(run)
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert lines, "empty preview"
    for rec in lines:
        for key in ("chunk_index", "text", "embedding_text", "headings", "pages", "token_count", "doc_items",
                    "source", "_id"):
            assert key in rec, f"preview line lacks {key}: {sorted(rec)}"
        assert rec["token_count"] <= 256, rec["token_count"]
    assert {Path(r["source"]).name for r in lines} == {"release_notes.md", "handbook.html"}
    assert not opensearch.exists(index_name)
    after = services.embeddings_stats()
    if before and after:
        assert after["requests"] == before["requests"], "--preview called the embeddings server"


# ---------------------------------------------------------------------------------------------
# OpenSearch behind TLS, Basic auth and injected 429s (scripts/services/osproxy.py in front of osmem).


def test_opensearch_tls_auth_and_bulk_429s(run_ingest, start_osproxy, opensearch, index_name, tmp_path):
    # (not --item-429: it rewrites the first item of EVERY bulk answer, so a retried item never succeeds)
    proxy = start_osproxy("--user", "admin:secret", "--bulk-429-every", "2")
    folder = copy_samples(tmp_path / "docs", {"release_notes.md", "handbook.html", "backup_policy.adoc"})
    env = {"OPENSEARCH_HOST": proxy.url, "OPENSEARCH_PORT": proxy.url.rsplit(":", 1)[1],
           "OPENSEARCH_USERNAME": "admin", "OPENSEARCH_PASSWORD": "secret", "OPENSEARCH_CA_CERT": str(proxy.cafile)}
    run = run_ingest(folder, index=index_name, env=env, args=["--concurrency", "1"])
    assert run.code == 0, str(run)
    assert all(d["status"] == "indexed" for d in run.docs()), run.docs()
    assert opensearch.count(index_name) == run.report["totals"]["chunks"]  # read behind the proxy


def test_opensearch_wrong_password_exits_2(run_ingest, start_osproxy, index_name, tmp_path):
    proxy = start_osproxy("--user", "admin:secret")
    folder = copy_samples(tmp_path / "docs", {"release_notes.md"})
    env = {"OPENSEARCH_HOST": proxy.url, "OPENSEARCH_PORT": proxy.url.rsplit(":", 1)[1],
           "OPENSEARCH_USERNAME": "admin", "OPENSEARCH_PASSWORD": "wrong", "OPENSEARCH_CA_CERT": str(proxy.cafile)}
    run = run_ingest(folder, index=index_name, env=env, timeout=180)
    assert run.code == 2, str(run)
    message = (run.stderr + run.stdout).lower()
    assert "opensearch" in message and ("auth" in message or "401" in message or "password" in message), message

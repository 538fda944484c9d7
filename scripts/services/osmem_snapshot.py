#!/usr/bin/env python3
"""Write the indices of an OpenSearch-compatible server to a folder that osmem-server loads back
with `-seed FOLDER`: per index, `<index>.index.json` (settings, mappings, aliases) and
`<index>.ndjson` (its documents as `_bulk` lines). osmem-server keeps everything in memory, so
scripts/services/stop-all.sh (and scripts/up after each run) call this to keep the local index
across a stop and start of the local services.

    osmem_snapshot.py URL FOLDER

The folder is replaced atomically (written beside it, then renamed), so an interrupted snapshot
leaves the previous one intact. Hidden indices (leading '.') and the pipeline's lease indices
(`*__ingest_leases`: locks of running ingests, not data) are left out. Exit 0 on success, 1 with
the reason on stderr otherwise. Standard library only.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

# Index settings worth restoring; the rest (uuid, creation_date, provided_name, version) are the
# server's own and would be refused or misleading.
KEPT_SETTINGS = ("knn", "number_of_shards", "number_of_replicas", "refresh_interval")
PAGE = 1000


def request(method: str, url: str, body: object | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read() or b"{}")


def index_settings(raw: dict) -> dict:
    index = raw.get("index", {})
    kept = {k: v for k, v in index.items() if k in KEPT_SETTINGS}
    knn = index.get("knn")
    if isinstance(knn, dict):  # e.g. knn.algo_param.ef_search alongside knn: true
        kept["knn"] = knn
    return {"index": kept}


def dump_index(base: str, name: str, folder: Path) -> int:
    meta = request("GET", f"{base}/{name}")[name]
    (folder / f"{name}.index.json").write_text(json.dumps({
        "settings": index_settings(meta.get("settings", {})),
        "mappings": meta.get("mappings", {}),
        "aliases": meta.get("aliases", {}),
    }))
    count = 0
    with open(folder / f"{name}.ndjson", "w", encoding="utf-8") as out:
        page = request("POST", f"{base}/{name}/_search?scroll=2m", {"size": PAGE, "sort": ["_doc"], "query": {"match_all": {}}})
        scroll_id = page.get("_scroll_id")
        while True:
            hits = page.get("hits", {}).get("hits", [])
            if not hits:
                break
            for hit in hits:
                out.write(json.dumps({"index": {"_index": name, "_id": hit["_id"]}}) + "\n")
                out.write(json.dumps(hit["_source"], ensure_ascii=False) + "\n")
                count += 1
            if not scroll_id:
                break
            page = request("POST", f"{base}/_search/scroll", {"scroll": "2m", "scroll_id": scroll_id})
            scroll_id = page.get("_scroll_id", scroll_id)
    if scroll_id:
        try:
            request("DELETE", f"{base}/_search/scroll", {"scroll_id": scroll_id})
        except (urllib.error.URLError, ValueError):
            pass
    return count


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: osmem_snapshot.py URL FOLDER", file=sys.stderr)
        return 2
    base, folder = sys.argv[1].rstrip("/"), Path(sys.argv[2])
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(folder.name + ".writing")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        indices = request("GET", f"{base}/_cat/indices?format=json")
        names = sorted(i["index"] for i in indices
                       if not i["index"].startswith(".") and not i["index"].endswith("__ingest_leases"))
        total = {name: dump_index(base, name, tmp) for name in names}
    except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"osmem snapshot of {base} into {folder} failed: {error}", file=sys.stderr)
        return 1
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.rename(folder, old)
    os.rename(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    summary = ", ".join(f"{n} ({c} documents)" for n, c in total.items()) or "no index"
    print(f"saved {summary} to {folder}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

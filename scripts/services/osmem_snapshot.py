#!/usr/bin/env python3
"""Save the indices of an OpenSearch-compatible server (osmem-server) into a data folder, and find
the save that osmem-server loads back with `-seed`. osmem-server keeps everything in memory, so
scripts/services/stop-all.sh (and scripts/up after each run) save the local index with this, and
scripts/services/start-osmem.sh loads the last complete save.

    osmem_snapshot.py URL FOLDER          save every index of URL into FOLDER
    osmem_snapshot.py --resolve FOLDER    print the folder to pass to `-seed` (nothing: no data yet)

Layout of FOLDER:
    save-<n>/           one complete save: per index `<index>.index.json` (settings, mappings,
                        aliases) and `<index>.ndjson` (its documents as `_bulk` lines), and
                        MANIFEST.json (written last: document counts and file sizes)
    current -> save-<n> the save to load; replaced atomically (a new symlink renamed over it)
    save-<n>.partial/   a save being written; a crash leaves it, the next save or load removes it
    .lock               every save and load holds it (fcntl.flock): two saves never interleave
The newest KEEP complete saves are kept, so a damaged current save falls back to the one before.

A save is durable before it is made current: every file and the folders are fsynced, the save is
renamed into place, then `current` is switched. Each index's saved document count must equal the
server's `_count`, otherwise (documents written during the save) the save fails and is not made
current. A crash at any point leaves the last complete save loadable.

The previous layout (the index files directly in FOLDER, replaced through FOLDER.writing and
FOLDER.old) is converted by the first save or load: the index files in FOLDER, else those of
FOLDER.old (a crash between the old layout's two renames), become a save; FOLDER.writing (a save
whose completeness nobody recorded) is dropped, as the old layout did.

Hidden indices (leading '.') and the pipeline's lease indices (`*__ingest_leases`: locks of
running ingests, not data) are left out. Exit 0 on success, 1 with the reason on stderr otherwise.
Standard library only.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# Index settings worth restoring; the rest (uuid, creation_date, provided_name, version) are the
# server's own and would be refused or misleading.
KEPT_SETTINGS = ("knn", "number_of_shards", "number_of_replicas", "refresh_interval")
PAGE = 1000
KEEP = 2  # complete saves kept: the current one and the one before it
MANIFEST = "MANIFEST.json"
CURRENT = "current"
LOCK = ".lock"
SAVE = re.compile(r"^save-(\d+)(\.partial)?$")
REQUEST_TIMEOUT = 120  # s, per HTTP request to the server


class SnapshotError(Exception):
    """A save or load that must not go ahead; the message says what to do."""


def log(message: str) -> None:
    print(f"osmem_snapshot: {message}", file=sys.stderr)


def request(method: str, url: str, body: object | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as resp:
        return json.loads(resp.read() or b"{}")


# --- durability helpers ---------------------------------------------------------------------------

def fsync_dir(path: Path) -> None:
    """A rename or new entry is only durable once its folder is fsynced."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold FOLDER/.lock exclusively; the kernel drops it when the process dies, so no stale lock."""
    with open(folder / LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another save or load of {folder} to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the layout -----------------------------------------------------------------------------------

def save_numbers(folder: Path) -> list[int]:
    """Numbers of every save-<n> and save-<n>.partial, so a new save never reuses one."""
    out = []
    for entry in folder.iterdir():
        match = SAVE.match(entry.name)
        if match:
            out.append(int(match.group(1)))
    return out


def is_complete(save: Path) -> bool:
    """A save is complete when its manifest parses and every file it lists has the listed size."""
    try:
        manifest = json.loads((save / MANIFEST).read_text())
        files = manifest["files"]
        return manifest.get("format") == 1 and all((save / name).stat().st_size == size for name, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def complete_saves(folder: Path) -> list[Path]:
    """Complete saves, newest first."""
    saves = []
    for entry in folder.iterdir():
        match = SAVE.match(entry.name)
        if match and not match.group(2) and entry.is_dir() and not entry.is_symlink() and is_complete(entry):
            saves.append((int(match.group(1)), entry))
    return [path for _, path in sorted(saves, reverse=True)]


def current_save(folder: Path) -> Path | None:
    link = folder / CURRENT
    if not link.is_symlink():
        return None
    target = folder / os.readlink(link)
    return target if target.parent == folder and SAVE.match(target.name) and is_complete(target) else None


def point_current(folder: Path, save: Path) -> None:
    """Switch `current` to SAVE atomically: a new symlink renamed over the old one, then fsync."""
    tmp = folder / f"{CURRENT}.{os.getpid()}.new"
    tmp.unlink(missing_ok=True)
    os.symlink(save.name, tmp)
    os.replace(tmp, folder / CURRENT)
    fsync_dir(folder)


def seal(folder: Path, partial: Path, manifest: dict) -> Path:
    """Make PARTIAL (files already fsynced) a complete save: manifest, fsync, rename, current."""
    manifest["files"] = {p.name: p.stat().st_size for p in sorted(partial.iterdir()) if p.name != MANIFEST}
    write_durably(partial / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    fsync_dir(partial)
    final = partial.with_name(partial.name.removesuffix(".partial"))
    os.rename(partial, final)
    fsync_dir(folder)
    point_current(folder, final)
    return final


def prune(folder: Path) -> None:
    """Remove complete saves beyond the newest KEEP (never the current one)."""
    current = current_save(folder)
    for old in complete_saves(folder)[KEEP:]:
        if old != current:
            shutil.rmtree(old)
    fsync_dir(folder)


def remove_leftovers(folder: Path) -> None:
    """Partial saves and half-made `current` links of a crashed save (callers hold the lock)."""
    for entry in folder.iterdir():
        match = SAVE.match(entry.name)
        if match and match.group(2):
            log(f"removing {entry} (a save that did not finish)")
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(CURRENT + ".") and entry.name.endswith(".new"):
            entry.unlink(missing_ok=True)


# --- the previous layout --------------------------------------------------------------------------

def legacy_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and (p.name.endswith(".ndjson") or p.name.endswith(".index.json")))


def import_legacy(folder: Path, files: list[Path], origin: str) -> Path:
    """Hard-link (or copy) the index files of the previous layout into a new complete save."""
    partial = folder / f"save-{max(save_numbers(folder), default=0) + 1}.partial"
    partial.mkdir()
    counts = {}
    for src in files:
        dst = partial / src.name
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        fsync_file(dst)
        if src.name.endswith(".ndjson"):
            with open(src, "rb") as lines:
                counts[src.name.removesuffix(".ndjson")] = sum(1 for _ in lines) // 2
    return seal(folder, partial, {"format": 1, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                  "source": f"previous layout: {origin}",
                                  "indices": {n: {"documents": c} for n, c in sorted(counts.items())}})


def recover(folder: Path) -> None:
    """Bring leftovers of a crash, and of the previous layout, into the current layout (lock held).

    The previous layout wrote FOLDER.writing, renamed FOLDER to FOLDER.old, FOLDER.writing to
    FOLDER, then removed FOLDER.old. Index files in FOLDER are therefore its last complete save,
    and FOLDER.old beside them may be half-removed. With none in FOLDER (a crash between the two
    renames, and perhaps an empty FOLDER made by the next start), FOLDER.old is the last complete one.
    Either is imported only while FOLDER holds no complete save: once one does, what is left of
    them is the tail of an import that a crash cut short, and is removed.
    """
    remove_leftovers(folder)
    old = folder.with_name(folder.name + ".old")
    writing = folder.with_name(folder.name + ".writing")
    top = legacy_files(folder)
    if not complete_saves(folder):
        if top:
            save = import_legacy(folder, top, str(folder))
            log(f"converted the index files in {folder} (previous layout) into {save.name}")
        elif legacy_files(old):
            save = import_legacy(folder, legacy_files(old), str(old))
            log(f"recovered {old} (left by an interrupted save of the previous layout) as {save.name}")
    for path in top:
        path.unlink()
    if top:
        fsync_dir(folder)
    for leftover in (old, writing):
        if leftover.exists():
            log(f"removing {leftover} (previous layout)")
            shutil.rmtree(leftover, ignore_errors=True)
    fsync_dir(folder.parent)


# --- save and load --------------------------------------------------------------------------------

def index_settings(raw: dict) -> dict:
    index = raw.get("index", {})
    kept = {k: v for k, v in index.items() if k in KEPT_SETTINGS}
    knn = index.get("knn")
    if isinstance(knn, dict):  # e.g. knn.algo_param.ef_search alongside knn: true
        kept["knn"] = knn
    return {"index": kept}


def dump_index(base: str, name: str, folder: Path) -> int:
    meta = request("GET", f"{base}/{name}")[name]
    write_durably(folder / f"{name}.index.json", json.dumps({
        "settings": index_settings(meta.get("settings", {})),
        "mappings": meta.get("mappings", {}),
        "aliases": meta.get("aliases", {}),
    }))
    count = 0
    scroll_id = None
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
        out.flush()
        os.fsync(out.fileno())
    if scroll_id:
        try:
            request("DELETE", f"{base}/_search/scroll", {"scroll_id": scroll_id})
        except (urllib.error.URLError, ValueError):
            pass
    return count


def save(base: str, folder: Path) -> tuple[Path, dict[str, int]]:
    folder.mkdir(parents=True, exist_ok=True)
    with locked(folder):
        recover(folder)
        partial = folder / f"save-{max(save_numbers(folder), default=0) + 1}.partial"
        partial.mkdir()
        try:
            indices = request("GET", f"{base}/_cat/indices?format=json")
            names = sorted(i["index"] for i in indices
                           if not i["index"].startswith(".") and not i["index"].endswith("__ingest_leases"))
            totals = {name: dump_index(base, name, partial) for name in names}
            for name, saved in totals.items():
                served = request("GET", f"{base}/{name}/_count")["count"]
                if served != saved:
                    raise SnapshotError(
                        f"index {name}: saved {saved} documents but the server counts {served} "
                        "(documents were written during the save?); the previous save stays current. "
                        "Run it again once nothing writes to the index")
            final = seal(folder, partial, {"format": 1, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                           "source": base,
                                           "indices": {n: {"documents": c} for n, c in totals.items()}})
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        prune(folder)
    return final, totals


def resolve(folder: Path) -> Path | None:
    """The save to load: `current`, else the newest complete save; None when there is no data."""
    folder.mkdir(parents=True, exist_ok=True)
    with locked(folder):
        recover(folder)
        current = current_save(folder)
        if current:
            return current
        saves = complete_saves(folder)
        if saves:
            log(f"{folder / CURRENT} does not name a complete save; loading the newest complete one, {saves[0].name}")
            point_current(folder, saves[0])
            return saves[0]
        incomplete = sorted(p.name for p in folder.iterdir() if SAVE.match(p.name))
        if incomplete:
            raise SnapshotError(
                f"no complete save in {folder} (found {', '.join(incomplete)}, each without a valid {MANIFEST}). "
                f"Move them out of {folder} to start with an empty index, or restore a backup")
        return None


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "--resolve":
        folder = Path(argv[2])
        try:
            found = resolve(folder)
        except (OSError, SnapshotError) as error:
            print(f"osmem data in {folder} cannot be loaded: {error}", file=sys.stderr)
            return 1
        if found:
            print(found)
        return 0
    if len(argv) != 3 or argv[1].startswith("-"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: osmem_snapshot.py URL FOLDER | osmem_snapshot.py --resolve FOLDER", file=sys.stderr)
        return 2
    base, folder = argv[1].rstrip("/"), Path(argv[2])
    try:
        final, totals = save(base, folder)
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError, SnapshotError) as error:
        print(f"osmem snapshot of {base} into {folder} failed: {error}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{n} ({c} documents)" for n, c in totals.items()) or "no index"
    print(f"saved {summary} to {final}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

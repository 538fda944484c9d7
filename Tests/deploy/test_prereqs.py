"""scripts/prereqs, the system-package step of the README's two commands, on a machine where the
packages are absent: `dpkg-query` answers "not installed" through a stub on PATH, and stubs of
`apt-get`, `sudo` and `id` record what would have run. Nothing is installed for real.
"""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PREREQS = REPO / "scripts" / "prereqs"


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def run(tmp_path: Path, *, uid: int, sudo_works: bool, installed: set[str] = frozenset(), args=("build", "test")):
    """Run scripts/prereqs with stubs first on PATH; returns (process, recorded calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls.log"
    calls.write_text("")
    installed_list = " ".join(sorted(installed))
    stub(bin_dir, "dpkg-query", f'pkg="${{!#}}"; for p in {installed_list}; do '
         '[ "$p" = "$pkg" ] && { printf "install ok installed"; exit 0; }; done; '
         'echo "dpkg-query: no packages found matching $pkg" >&2; exit 1')
    stub(bin_dir, "apt-get", f'echo "apt-get $*" >> {calls}')
    stub(bin_dir, "id", f'[ "$1" = "-u" ] && {{ echo {uid}; exit 0; }}; exec /usr/bin/id "$@"')
    stub(bin_dir, "sudo", f'echo "sudo $*" >> {calls}; '
         + ('[ "$1" = "-n" ] && shift; [ "$1" = true ] && exit 0; exec "$@"' if sudo_works else 'exit 1'))
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    proc = subprocess.run([str(PREREQS), *args], env=env, capture_output=True, text=True, timeout=60)
    return proc, calls.read_text().splitlines()


def expected(*groups: str) -> list[str]:
    out = subprocess.run([str(PREREQS), *groups, "--list"], capture_output=True, text=True, check=True).stdout
    return out.split()


def test_lists_the_build_and_test_packages_including_package_swift_providers():
    build = expected("build")
    for p in ("zlib1g-dev", "libcurl4-openssl-dev", "libxml2-dev", "python3-venv", "curl"):
        assert p in build
    both = expected("build", "test")
    for p in ("haproxy", "shellcheck", "openssl"):
        assert p in both and p not in build
    # Every .apt([...]) provider named in Package.swift is in the build group.
    manifest = (REPO / "Package.swift").read_text()
    import re
    for group in re.findall(r"\.apt\(\[([^\]]*)\]\)", manifest):
        for name in re.findall(r'"([^"]+)"', group):
            assert name in build


def test_as_root_it_installs_exactly_the_missing_packages(tmp_path):
    present = {"curl", "ca-certificates"}
    proc, calls = run(tmp_path, uid=0, sudo_works=False, installed=present)
    assert proc.returncode == 0, proc.stderr
    missing = [p for p in expected("build", "test") if p not in present]
    assert calls[0] == "apt-get update -q"
    assert calls[1] == "apt-get install -y -q --no-install-recommends " + " ".join(missing)


def test_without_root_it_uses_sudo_without_a_password(tmp_path):
    proc, calls = run(tmp_path, uid=1000, sudo_works=True)
    assert proc.returncode == 0, proc.stderr
    assert "sudo -n apt-get install -y -q --no-install-recommends " + " ".join(expected("build", "test")) in calls, calls


def test_without_root_or_sudo_it_stops_with_the_exact_command_exit_2(tmp_path):
    proc, calls = run(tmp_path, uid=1000, sudo_works=False, args=("build",))
    assert proc.returncode == 2
    line = "sudo apt-get install -y --no-install-recommends " + " ".join(expected("build"))
    assert line in proc.stderr, proc.stderr
    assert not [c for c in calls if c.startswith("apt-get")], "nothing may be installed without root"


def test_nothing_to_do_when_everything_is_installed(tmp_path):
    proc, calls = run(tmp_path, uid=1000, sudo_works=False, installed=set(expected("build", "test")))
    assert proc.returncode == 0, proc.stderr
    assert calls == []


@pytest.mark.parametrize("script", ["scripts/up", "scripts/test", ".ci/run"])
def test_the_readme_commands_and_ci_run_the_same_installer(script):
    text = (REPO / script).read_text()
    assert "prereqs" in text, f"{script} does not run scripts/prereqs"
    assert "APT_PACKAGES" not in text, f"{script} keeps a private package list"

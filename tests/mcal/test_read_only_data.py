"""The data-path commands on a data folder nobody may write into, run by a non-root user."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from preprocessing.phantom import generate_phantom

NOBODY = 65534
PR_CAPBSET_DROP = 24
# the capabilities that let root ignore file permissions: DAC override, DAC read search, fowner
DAC_CAPABILITIES = (1, 2, 3)


def as_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def without_dac_capabilities() -> None:
    """Root that obeys file permissions: what execve grants root is capped by the bounding set."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in DAC_CAPABILITIES:
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def runs_mcal(demote: Callable[[], None] | None, cwd: Path) -> bool:
    probe = [sys.executable, "-c", "import mcal.cli"]
    try:
        return subprocess.run(probe, preexec_fn=demote, cwd=cwd, capture_output=True,
                              timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def unprivileged(cwd: Path) -> tuple[Callable[[], None] | None, str]:
    """How to run a subprocess that file permissions bind, and who it runs as."""
    if os.geteuid() != 0:
        return None, f"uid {os.geteuid()}"
    if runs_mcal(as_nobody, cwd):
        return as_nobody, "nobody (setuid)"
    if runs_mcal(without_dac_capabilities, cwd):  # the interpreter is out of nobody's reach
        return without_dac_capabilities, "root without CAP_DAC_OVERRIDE/READ_SEARCH/FOWNER"
    pytest.skip("root here, and neither nobody nor a root without DAC capabilities runs mcal")


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root with its size and modification time."""
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = 0o755 if path.is_dir() else 0o644
        path.chmod(mode if writable else mode & ~0o222)


@pytest.fixture
def base() -> Iterator[Path]:
    """A world-readable folder (pytest's tmp_path is private to its user)."""
    folder = Path(tempfile.mkdtemp(prefix="mcal-read-only-"))
    folder.chmod(0o755)
    yield folder
    if (folder / "data").exists():
        set_writable(folder / "data", True)
    shutil.rmtree(folder)


def test_index_filters_and_preprocess_never_write_into_the_data_folder(base: Path):
    data, work = base / "data", base / "work"
    generate_phantom(data, patients=8, seed=5, scale=0.06, corrupt=2, workers=1, progress=False)
    set_writable(data, False)
    work.mkdir()
    demote, who = unprivileged(work)
    if demote is as_nobody:
        os.chown(work, NOBODY, NOBODY)
    before = tree(data)

    def mcal(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "mcal.cli", *args], cwd=work,
                              preexec_fn=demote, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "HOME": str(work)})
        assert done.returncode == 0, f"as {who}: {done.stdout}\n{done.stderr}"
        return done.stdout

    probe = subprocess.run([sys.executable, "-c", f"open({str(data / 'x')!r}, 'w')"],
                           preexec_fn=demote, capture_output=True, text=True)
    assert probe.returncode != 0 and "PermissionError" in probe.stderr, f"as {who}"
    said = " ".join(mcal("index", "--data", str(data)).split())
    assert f"to {work / 'mcal_index'} (the data folder is only read)" in said
    assert (work / "mcal_index" / "index.csv").is_file()
    cache = work / "cache"
    mcal("index", "--data", str(data), "--cache", str(cache))
    assert (cache / "mcal_index" / "quarantine.csv").is_file()
    mcal("filters", "--data", str(data), "--cache", str(cache), "--sample", "4")
    mcal("preprocess", "--data", str(data), "--cache", str(cache), "--size", "16",
         "--workers", "1")
    assert (cache / "LATEST").is_file()
    assert tree(data) == before

"""Atomic writes and the removal of the temporaries that killed writers left."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from preprocessing.atomic import (
    atomic_save_npy,
    process_alive,
    remove_stale_temporaries,
    temporary_path,
)


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not process_alive(child.pid)
    return child.pid


def test_a_temporary_names_its_writer_and_host(tmp_path: Path):
    tmp = temporary_path(tmp_path / "a.npy")
    assert tmp.name == f".a.npy.{os.getpid()}@{socket.gethostname()}.tmp"
    atomic_save_npy(tmp_path / "a.npy", np.arange(3))
    assert list(tmp_path.iterdir()) == [tmp_path / "a.npy"]


def test_only_temporaries_of_dead_writers_on_this_host_are_removed(tmp_path: Path,
                                                                     dead_pid: int):
    host = socket.gethostname()
    dead = [tmp_path / f".abc.npy.{dead_pid}@{host}.tmp", tmp_path / f".abc.json.{dead_pid}.tmp"]
    dead_folder = tmp_path / f".0123abcd.{dead_pid}@{host}.tmp"
    kept = [tmp_path / f".abc.npy.{os.getpid()}@{host}.tmp",  # a live writer
            tmp_path / f".abc.npy.{dead_pid}@elsewhere.example.tmp",  # another host's
            tmp_path / "abc.npy", tmp_path / f"notes.{dead_pid}.txt"]
    for path in dead + kept:
        path.write_bytes(b"x")
    dead_folder.mkdir()
    (dead_folder / "rois.npy").write_bytes(b"x")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([*dead, dead_folder])
    assert sorted(tmp_path.iterdir()) == sorted(kept)
    assert remove_stale_temporaries(tmp_path / "absent") == []

"""Writes that a kill cannot leave half done, and the removal of what killed writers left.

Every file or folder is written under a temporary name beside its target,
``.<name>.<pid>@<host>.tmp``, then renamed into place. A writer killed midway leaves that
temporary behind; the next run removes those whose writer, on this host, is no longer alive.
A temporary from another host (a cache on a shared volume, a container) is left alone, as is
one from a live process.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path

import numpy as np

TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)(?:@(?P<host>[^/]+))?\.tmp$")


def temporary_path(path: Path) -> Path:
    """Where this process writes path before renaming it into place."""
    return path.with_name(f".{path.name}.{os.getpid()}@{socket.gethostname()}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = temporary_path(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    tmp = temporary_path(path)
    with tmp.open("wb") as handle:
        np.save(handle, array)
    os.replace(tmp, path)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (one of another user's counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: asks, sends nothing
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale(entry: Path) -> bool:
    """A temporary whose writer ran on this host and is gone (names without a host are
    those of earlier versions, which wrote on this host's terms)."""
    match = TEMPORARY.match(entry.name)
    if match is None:
        return False
    host = match["host"]
    return (host is None or host == socket.gethostname()) and not process_alive(int(match["pid"]))


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the stale temporaries (files or folders) directly in folder; the removed."""
    if not folder.is_dir():
        return []
    removed = [entry for entry in folder.iterdir() if stale(entry)]
    for entry in removed:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return removed

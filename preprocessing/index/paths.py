"""Paths named by a CSV or found by a folder walk, kept inside the data folder.

A path is resolved (symlinks included) before anything is opened, and one that lands outside
the data folder is refused: a CSV row cannot make mcal read ``/etc/passwd`` or index and cache
a file that lies elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from preprocessing.images import UnreadableImage

LEAVES_DATA_FOLDER = "path leaves the data folder"


class OutsideDataFolder(UnreadableImage):
    """A path that resolves, symlinks included, to a place outside the data folder."""


def inside_data_folder(root: Path, path: str | Path) -> Path:
    """root / path, resolved; OutsideDataFolder when it is not under root (itself resolved).

    Resolving reads links, never a file's content, so a refused path is never opened.
    """
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root):
        raise OutsideDataFolder(LEAVES_DATA_FOLDER)
    return resolved

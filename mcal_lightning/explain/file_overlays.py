"""Grad-CAM overlays of ``mcal predict --cam DIR``: one PNG per readable file, as the model sees it.

Each file gets the logged model's recorded preprocessing (the ROI the network reads), and its
map explains the model's prediction for it.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mcal_lightning.explain.gradcam import as_cam_input, batches, cam_maps, overlay
from preprocessing.images import UnreadableImage

SUFFIX = "_gradcam.png"


def overlay_names(files: Sequence[Path]) -> list[str]:
    """'<stem>_gradcam.png' per file; '<stem>_2_gradcam.png', ... where names collide."""
    used: set[str] = set()
    names = []
    for path in files:
        name, count = f"{path.stem}{SUFFIX}", 1
        while name.lower() in used:  # lower case: distinct names on case-insensitive disks too
            count += 1
            name = f"{path.stem}_{count}{SUFFIX}"
        used.add(name.lower())
        names.append(name)
    return names


def prepared_or_none(pyfunc: Any, path: Path) -> np.ndarray | None:
    """The preprocessed ROI, or None for a file that cannot be read (predict reports why)."""
    try:
        data = path.read_bytes()
        if "strict" not in inspect.signature(pyfunc.prepared).parameters:
            return pyfunc.prepared(data)  # a model logged before predictions carried warnings
        return pyfunc.prepared(data, False)[0]  # the warning is predict's to report
    except (OSError, UnreadableImage):
        return None


def write_png(path: Path, rgb: np.ndarray) -> Path:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")
    return path


def write_chunk(pyfunc: Any, files: Sequence[Path], names: Sequence[str],
                out_dir: Path) -> list[Path]:
    ready = [(name, roi) for path, name in zip(files, names, strict=True)
             if (roi := prepared_or_none(pyfunc, path)) is not None]
    if not ready:
        return []
    rois = np.stack([roi for _, roi in ready])
    maps = cam_maps(pyfunc.module, as_cam_input(rois))
    return [write_png(out_dir / name, overlay(roi, cam))
            for (name, roi), cam in zip(ready, maps, strict=True)]


def write_cam_overlays(model: Any, files: Sequence[Path], out_dir: Path) -> list[Path]:
    """Write a Grad-CAM overlay PNG of each readable file into out_dir; the paths written.

    model: a pyfunc loaded by ``tracking.pyfunc.load_model``. Files are read a chunk at a
    time, so a large folder never sits in memory whole.
    """
    pyfunc = model.unwrap_python_model()
    out_dir.mkdir(parents=True, exist_ok=True)
    names = overlay_names(files)
    written: list[Path] = []
    for chunk in batches(len(files)):
        written += write_chunk(pyfunc, files[chunk], names[chunk], out_dir)
    return written


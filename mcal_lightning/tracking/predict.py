"""Predict image files with a logged model: one row per file, a chunk of files at a time."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from mcal_lightning.tracking.pyfunc import load_model
from mcal_lightning.tracking.store import use_tracking
from preprocessing.images import IMAGE_SUFFIXES


def image_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and image files found under folders."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(path)
    return found


def read_or_error(path: Path) -> bytes | str:
    try:
        return path.read_bytes()
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc}"


def predict_chunk(model: Any, files: list[Path]) -> pd.DataFrame:
    """Rows for files read together; unreadable files get their error and no prediction."""
    contents = [read_or_error(p) for p in files]
    readable = [i for i, c in enumerate(contents) if isinstance(c, bytes)]
    errors = [c if isinstance(c, str) else "" for c in contents]
    table = pd.DataFrame({"file": [str(p) for p in files], "p_malignant": float("nan"),
                          "label": "", "error": errors})
    if readable:
        out = model.predict(pd.DataFrame({"image": [contents[i] for i in readable]}))
        table.loc[readable, "p_malignant"] = out["p_malignant"].to_numpy()
        table.loc[readable, "error"] = out["error"].to_numpy()
        names = out["label"].map({0: "benign", 1: "malignant"}).fillna("")
        table.loc[readable, "label"] = names.to_numpy()
    return table


def predict_files(model_uri: str, paths: Iterable[Path], chunk: int = 64,
                  model: Any | None = None) -> pd.DataFrame:
    """One row per file: file, p_malignant, label (benign/malignant), error.

    Files are read and predicted a chunk at a time, so a large folder never sits in memory whole.
    model: the pyfunc already loaded from model_uri (``pyfunc.load_model``), to load it once.
    """
    use_tracking()
    model = model if model is not None else load_model(model_uri)
    files = image_paths(paths)
    starts = range(0, len(files), chunk)
    parts = [predict_chunk(model, files[i : i + chunk])
             for i in tqdm(starts, desc="predict", unit="chunk", disable=len(starts) < 2)]
    columns = ["file", "p_malignant", "label", "error"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)

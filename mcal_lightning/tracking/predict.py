"""Predict image files with a logged model: one row per file, a chunk of files at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from mcal_lightning.tracking.pyfunc import STRICT_REFUSAL, load_model
from mcal_lightning.tracking.store import use_tracking
from preprocessing.images import IMAGE_SUFFIXES, UnreadableImage, check_content


def found_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """(files to predict, files skipped): each file as given, and under each folder the files
    named as images (IMAGE_SUFFIXES); a folder's other files (a .txt, a CSV of labels) are
    skipped, so that the caller can say which."""
    found: list[Path] = []
    skipped: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            found.append(path)
            continue
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            (found if file.suffix.lower() in IMAGE_SUFFIXES else skipped).append(file)
    return found, skipped


def image_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and image files found under folders."""
    return found_files(paths)[0]


def read_or_error(path: Path) -> bytes | str:
    """The file's bytes, or why they cannot be an image: unreadable, empty, or named .dcm
    without being DICOM (the model sees the bytes only, so the name is checked here)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc}"
    try:
        check_content(data, path.name)
    except UnreadableImage as exc:
        return str(exc)
    return data


COLUMNS = ["file", "p_malignant", "label", "error", "warning"]


def predict_params(strict: bool, tta: str) -> dict[str, Any] | None:
    """The pyfunc's params, None when all are the defaults (models logged before take none)."""
    params = {"strict": True} if strict else {}
    if tta != "none":
        params["tta"] = tta
    return params or None


def predict_chunk(model: Any, files: list[Path], strict: bool = False,
                  tta: str = "none") -> pd.DataFrame:
    """Rows for files read together; unreadable files get their error and no prediction."""
    contents = [read_or_error(p) for p in files]
    readable = [i for i, c in enumerate(contents) if isinstance(c, bytes)]
    errors = [c if isinstance(c, str) else "" for c in contents]
    table = pd.DataFrame({"file": [str(p) for p in files], "p_malignant": float("nan"),
                          "label": "", "error": errors, "warning": ""})
    if readable:
        frame = pd.DataFrame({"image": [contents[i] for i in readable]})
        params = predict_params(strict, tta)
        out = model.predict(frame, params=params) if params else model.predict(frame)
        table.loc[readable, "p_malignant"] = out["p_malignant"].to_numpy()
        table.loc[readable, "error"] = out["error"].to_numpy()
        if "warning" in out:  # models logged before the warning column have none
            table.loc[readable, "warning"] = out["warning"].fillna("").to_numpy()
        names = out["label"].map({0: "benign", 1: "malignant"}).fillna("")
        table.loc[readable, "label"] = names.to_numpy()
    return refuse_warned(table) if strict else table


def refuse_warned(table: pd.DataFrame) -> pd.DataFrame:
    """Strict: a row with a warning keeps no prediction (for models that ignore strict)."""
    warned = table["warning"] != ""
    table.loc[warned, "error"] = STRICT_REFUSAL + table.loc[warned, "warning"]
    table.loc[warned, ["p_malignant", "label"]] = [float("nan"), ""]
    return table


def predict_chunks(model: Any, files: Sequence[Path], chunk: int = 64,
                   strict: bool = False, tta: str = "none") -> Iterator[pd.DataFrame]:
    """predict_chunk's rows, chunk files at a time in file order, as each chunk is done.

    Only one chunk's files are read and decoded at a time, so memory does not grow with the
    number of files. A progress bar (files) goes to stderr when there is more than one chunk.
    """
    with tqdm(total=len(files), desc="predict", unit="file", disable=len(files) <= chunk) as bar:
        for start in range(0, len(files), chunk):
            part = predict_chunk(model, list(files[start : start + chunk]), strict, tta)
            bar.update(len(part))
            yield part


def predict_files(model_uri: str, paths: Iterable[Path], chunk: int = 64,
                  model: Any | None = None, strict: bool = False,
                  tta: str = "none") -> pd.DataFrame:
    """One row per file: file, p_malignant, label (benign/malignant), error, warning.

    Files are read and predicted a chunk at a time (``predict_chunks``), so a large folder
    never sits in memory whole; only the small table of results does.
    model: the pyfunc already loaded from model_uri (``pyfunc.load_model``), to load it once.
    strict: a row with a warning is refused (error says why) instead of predicted.
    tta: "flips" or "dihedral" averages each file's probability over its flipped or rotated
    copies (``models.tta``); "none" predicts each file once.
    """
    use_tracking()
    model = model if model is not None else load_model(model_uri)
    parts = list(predict_chunks(model, image_paths(paths), chunk, strict, tta))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)

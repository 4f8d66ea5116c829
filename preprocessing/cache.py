"""The cache: every ROI of one config in one array file, plus its index table.

Layout under the cache root::

    <config folder>/config.json
    <config folder>/items/<sha1 of source file>.npy      one processed ROI, reused across runs
    <config folder>/datasets/<dataset key>/rois.npy      all ROIs, (N, size, size)
    <config folder>/datasets/<dataset key>/index.csv     patient_id, label, split, descriptors...
    <config folder>/datasets/<dataset key>/source_stats.json   spacing, size, encoding of sources
    LATEST                                               the dataset built last

The dataset key hashes the config and every source's content hash, so a rerun over unchanged
files reuses the dataset as is, and new or changed files are the only ones processed. Every
write goes to a temporary name first and is renamed into place (atomic.py), so a kill leaves no
corrupt entry; the next run removes the temporaries a killed run left.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from preprocessing.atomic import (
    atomic_save_npy,
    atomic_write_bytes,
    remove_stale_temporaries,
    temporary_path,
)
from preprocessing.images import UnreadableImage, decode_source
from preprocessing.index.table import Index, Quarantine
from preprocessing.pipeline import PreprocessConfig, process_roi

LATEST = "LATEST"
SOURCE_STATS = "source_stats.json"
TASKS_PER_EXTRA_WORKER = 100


@dataclass(frozen=True)
class CacheResult:
    dataset_dir: Path
    n_rois: int
    n_processed: int
    n_reused: int
    quarantine: pd.DataFrame
    reused_dataset: bool
    source_stats: dict[str, object]  # what source_stats.json says
    stale_removed: int = 0  # temporaries of killed earlier runs, removed before this one


@dataclass(frozen=True)
class CachedDataset:
    """What downstream code reads: a memory-mapped array and its table."""

    images: np.ndarray
    table: pd.DataFrame
    config: dict[str, object]
    path: Path

    def item_record(self, source_sha1: str) -> dict[str, object]:
        """An item's sidecar (the source crop's rows, cols, spacing...); {} for items without."""
        sidecar = self.path.parents[1] / "items" / f"{source_sha1}.json"
        return json.loads(sidecar.read_text()) if sidecar.is_file() else {}


def process_file(task: tuple[str, str, dict[str, object]]) -> tuple[str, str, str]:
    """Worker: (source, items dir, config) -> (sha1, 'reused'|'processed'|'error', reason)."""
    source, items_dir, config_dict = task
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        return "", "error", f"cannot read file: {exc.strerror or exc}"
    sha = hashlib.sha1(data).hexdigest()
    item = Path(items_dir) / f"{sha}.npy"
    if item.is_file():
        return sha, "reused", ""
    try:
        decoded = decode_source(data, source)
        array = process_roi(decoded.image, PreprocessConfig(**config_dict), decoded.spacing)
    except UnreadableImage as exc:
        return sha, "error", str(exc)
    atomic_save_npy(item, array)
    rows, cols = decoded.image.shape
    sidecar = {"rows": int(rows), "cols": int(cols), "spacing": decoded.spacing,
               "encoding": decoded.encoding}
    atomic_write_bytes(item.with_suffix(".json"), json.dumps(sidecar).encode())
    return sha, "processed", ""


def source_stats(items_dir: Path, shas: list[str]) -> dict[str, object]:
    """Median pixel spacing, the 5th percentile of the short side and the count of each encoding
    ("8-bit lossy JPEG", ...) of the source images, from the items' sidecars (items made before
    sidecars, or before they held the encoding, are left out of what they lack)."""
    found = [json.loads(f.read_text()) for f in (items_dir / f"{sha}.json" for sha in shas)
             if f.is_file()]
    spacings = [float(np.mean(s["spacing"])) for s in found if s.get("spacing")]
    sides = [min(s["rows"], s["cols"]) for s in found]
    encodings = Counter(s["encoding"] for s in found if "encoding" in s)
    return {"n": len(found),
            "pixel_spacing_mm": float(np.median(spacings)) if spacings else None,
            "short_side_px_p05": float(np.percentile(sides, 5)) if sides else None,
            "encodings": dict(sorted(encodings.items()))}


def run_tasks(tasks: list[tuple[str, str, dict[str, object]]], workers: int,
              progress: bool) -> Iterator[tuple[str, str, str]]:
    bar = dict(total=len(tasks), desc="preprocess", unit="roi", disable=not progress)
    # a worker costs ~1 s to start: small jobs are faster in one process
    workers = min(workers, max(1, len(tasks) // TASKS_PER_EXTRA_WORKER))
    if workers <= 1:
        yield from tqdm(map(process_file, tasks), **bar)
        return
    # forkserver: forking a parent whose OpenCV thread pool has run can deadlock the children
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["preprocessing.cache"])
    with ProcessPoolExecutor(workers, context, initializer=cv2.setNumThreads,
                             initargs=(1,)) as pool:
        yield from tqdm(pool.map(process_file, tasks, chunksize=4), **bar)


def dataset_key(config: PreprocessConfig, table: pd.DataFrame) -> str:
    digest = hashlib.sha256(config.key().encode())
    digest.update(table.to_csv(index=False).encode())
    return digest.hexdigest()[:16]


def assemble(table: pd.DataFrame, items_dir: Path, target: Path, size: int, dtype: str) -> None:
    """Write rois.npy + index.csv into a temporary folder, then rename it into place."""
    tmp = temporary_path(target)
    tmp.mkdir(parents=True, exist_ok=True)
    rois = np.lib.format.open_memmap(tmp / "rois.npy", "w+", dtype, (len(table), size, size))
    pixel_hashes = []
    for row, sha in enumerate(table["source_sha1"]):
        rois[row] = np.load(items_dir / f"{sha}.npy")
        pixel_hashes.append(hashlib.sha1(rois[row].tobytes()).hexdigest())
    rois.flush()
    del rois
    table.assign(pixel_sha1=pixel_hashes).to_csv(tmp / "index.csv", index=False)
    os.replace(tmp, target)


def build_cache(index: Index, cache_dir: Path, config: PreprocessConfig,
                workers: int | None = None, progress: bool = True,
                notes: dict[str, str] | None = None) -> CacheResult:
    """Process every indexed ROI once per config; reuse what an earlier run made."""
    config_dir = Path(cache_dir) / config.folder_name()
    items_dir = config_dir / "items"
    stale = [p for folder in (Path(cache_dir), config_dir, items_dir, config_dir / "datasets")
             for p in remove_stale_temporaries(folder)]
    items_dir.mkdir(parents=True, exist_ok=True)
    recorded = {**config.as_dict(), "resize_mode": config.resize_mode, **(notes or {})}
    atomic_write_bytes(config_dir / "config.json", json.dumps(recorded, indent=2).encode())
    sources = [str(index.data_dir / rel) for rel in index.rows["crop_path"]]
    tasks = [(s, str(items_dir), config.as_dict()) for s in sources]
    outcomes = list(run_tasks(tasks, workers or os.cpu_count() or 1, progress))

    quarantine, keep, shas = Quarantine(), [], []
    for (_, row), (sha, status, reason) in zip(index.rows.iterrows(), outcomes, strict=True):
        if status == "error":
            quarantine.add(row["roi_id"], row["crop_path"], reason)
        else:
            keep.append(row.name)
            shas.append(sha)
    table = index.rows.loc[keep].assign(source_sha1=shas).reset_index(drop=True)
    table.insert(0, "row", range(len(table)))
    target = config_dir / "datasets" / dataset_key(config, table)
    reused_dataset = target.is_dir()
    if not reused_dataset:
        assemble(table, items_dir, target, config.size, config.dtype)
    if (target / SOURCE_STATS).is_file():
        stats = json.loads((target / SOURCE_STATS).read_text())
    else:
        stats = source_stats(items_dir, list(table["source_sha1"]))
        atomic_write_bytes(target / SOURCE_STATS, json.dumps(stats, indent=2).encode())
    relative = target.relative_to(cache_dir).as_posix()
    atomic_write_bytes(Path(cache_dir) / LATEST, f"{relative}\n".encode())
    statuses = [status for _, status, _ in outcomes]
    return CacheResult(target, len(table), statuses.count("processed"), statuses.count("reused"),
                       quarantine.frame(), reused_dataset, stats, len(stale))


def resolve_dataset(path: Path) -> Path:
    """A dataset folder, a cache root whose LATEST names one, or a config folder holding one."""
    path = Path(path)
    if (path / "rois.npy").is_file():
        return path
    latest = path / LATEST
    if latest.is_file():
        return path / latest.read_text().strip()
    datasets = sorted(found.parent for found in path.glob("datasets/*/rois.npy"))
    if len(datasets) == 1:
        return datasets[0]
    if datasets:
        names = ", ".join(str(d) for d in datasets)
        raise FileNotFoundError(f"{path}: {len(datasets)} datasets under this config; pass one "
                                f"of {names}, or the cache root for the one built last")
    raise FileNotFoundError(f"{path}: no cache here (run `mcal preprocess --cache {path}` first)")


def open_cache(path: Path) -> CachedDataset:
    dataset = resolve_dataset(path)
    config = json.loads((dataset.parents[1] / "config.json").read_text())
    table = pd.read_csv(dataset / "index.csv", dtype={"patient_id": str, "roi_id": str},
                        keep_default_na=False)
    return CachedDataset(np.load(dataset / "rois.npy", mmap_mode="r"), table, config, dataset)

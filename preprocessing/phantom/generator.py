"""Orchestration: patients in parallel, corrupt cases, the official CSVs and the truth sidecar."""

from __future__ import annotations

import csv
import ctypes
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from preprocessing.phantom.cases import plan_patient
from preprocessing.phantom.corrupt import corrupt_case, corrupt_kaggle_case, corrupt_kind
from preprocessing.phantom.kaggle_writer import (
    CSV_DIR,
    DICOM_INFO_COLUMNS,
    DICOM_INFO_NAME,
    KAGGLE_LAYOUT,
    LAYOUTS,
    TCIA_LAYOUT,
)
from preprocessing.phantom.render import (
    DEFAULT_REDUCTION,
    FULL_IMAGE_MODES,
    PatientOutput,
    render_patient,
)

TRUTH_CSV_NAME = "phantom_truth.csv"
CALC_SIGNAL_DIR = "phantom_truth"  # <roi_id>_calc.npy per regular ROI
TRUTH_COLUMNS: tuple[str, ...] = (
    "roi_id", "patient_id", "side", "view", "abnormality_id", "split", "lesion_id",
    "calc_type", "calc_distribution", "subtlety", "p_malignant", "label",
)


@dataclass(frozen=True)
class PhantomResult:
    out_dir: Path
    n_patients: int  # regular patients (corrupt cases have their own, extra patients)
    n_rois: int
    n_malignant: int
    bayes_auc: float  # AUC of the true p_malignant against the drawn labels
    n_corrupt: int
    truth_csv: Path


def calc_signal_path(out_dir: Path, roi_id: str) -> Path:
    """Where the calcification-only signal of one regular ROI is written."""
    return Path(out_dir) / CALC_SIGNAL_DIR / f"{roi_id}_calc.npy"


def _write_calc_signals(out_dir: Path, output: PatientOutput) -> None:
    for roi_id, signal in output.calc_signals:
        path = calc_signal_path(out_dir, roi_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, signal)
    output.calc_signals.clear()  # written here, in the worker: not sent back to the parent


def build_patient(index: int, out_dir: Path, seed: int, scale: float, n_regular: int,
                  full_images: str = "full", reduction: int = DEFAULT_REDUCTION,
                  layout: str = TCIA_LAYOUT) -> PatientOutput:
    """Plan, render and write one patient; indices past n_regular become corrupt cases."""
    rng = np.random.default_rng([seed, index])
    corrupt = index > n_regular
    plan = plan_patient(rng, index, single_roi=corrupt)
    output = render_patient(out_dir, seed, scale, plan, rng, full_images, reduction, layout)
    if corrupt:
        (_, row), files = output.csv_rows[0], output.roi_files[0]
        row["cropped image file path"], row["ROI mask file path"] = files.crop + "\n", files.mask
        kind, crop_file = corrupt_kind(index - n_regular - 1), out_dir / output.file_of(files.crop)
        if layout == KAGGLE_LAYOUT:
            corrupt_kaggle_case(kind, crop_file, row, output.dicom_info_rows)
        else:
            corrupt_case(kind, crop_file, row)
        output.truth_rows.clear()  # corrupt cases are not in the sidecar
        output.calc_signals.clear()
    _write_calc_signals(out_dir, output)
    return output


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc mallopt parameters


def _keep_freed_memory() -> None:
    """Worker start-up: let glibc reuse freed image buffers instead of returning them.

    glibc serves every allocation over 32 MB (a 4000 x 2600 float32 image is 42 MB) with a fresh
    mmap, so each of the dozen such arrays per view costs page faults and kernel zeroing, about
    a fifth of a worker's time. Without mmap and trimming, freed buffers are reused. Only in the
    phantom's own worker processes (which exit when done); elsewhere (not glibc) it does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_MAX, 0)
        libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    except (OSError, AttributeError):
        pass


def _run_all(task: partial[PatientOutput], indices: list[int], workers: int,
             progress: bool) -> Iterator[PatientOutput]:
    bar = partial(tqdm, total=len(indices), desc="phantom patients", unit="patient",
                  disable=not progress)
    if workers <= 1:
        yield from bar(map(task, indices))
        return
    # spawn: workers never inherit thread pools (OpenCV, BLAS) from the parent in a broken state
    context = multiprocessing.get_context("spawn")
    chunksize = max(1, len(indices) // (workers * 8))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=_keep_freed_memory) as pool:
        yield from bar(pool.map(task, indices, chunksize=chunksize))


def _row_key(row: dict[str, str]) -> tuple[str, str, str, int]:
    return (row["patient_id"], row["left or right breast"], row["image view"],
            int(row["abnormality id"]))


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]],
               line_end: str) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator=line_end)
        writer.writeheader()
        writer.writerows(rows)


def bayes_auc(truth_rows: list[dict[str, str]]) -> float:
    """ROC AUC of p_malignant against label: the best any classifier can do on average."""
    from sklearn.metrics import roc_auc_score  # main process only: workers start light

    labels = [int(r["label"]) for r in truth_rows]
    if len(set(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, [float(r["p_malignant"]) for r in truth_rows]))


def generate_phantom(out_dir: Path, patients: int = 200, seed: int = 0, scale: float = 1.0,
                     corrupt: int = 0, workers: int | None = None, progress: bool = True,
                     full_images: str = "full", reduction: int = DEFAULT_REDUCTION,
                     layout: str = TCIA_LAYOUT) -> PhantomResult:
    """Write a phantom CBIS-DDSM calcification set (TCIA layout, official CSVs) to out_dir.

    Patients are P_00001..P_<patients>. The corrupt cases get the next patient ids, one CC ROI
    each, all in the train CSV, cycling through corrupt.CORRUPT_KINDS; they are left out of
    phantom_truth.csv and of n_rois / n_malignant / bayes_auc. phantom_truth.csv has one row per
    regular ROI (TRUTH_COLUMNS; calc_distribution is the one rendered, also where the CSV says
    "NA"). phantom_truth/<roi_id>_calc.npy holds, per regular ROI, the calcification-only
    signal in the crop's frame (uint16, in the crop's 12-bit values before noise: the modality
    value m, or 4095 - m for MONOCHROME1): what the calcifications of every lesion added there,
    so values - signal is the tissue-only crop (same noise); writing it changes no random draw
    and no pixel. About 10% of CSV rows swap the crop and mask cells, as TCIA's do. Output is
    byte-identical for a seed whatever the worker count; workers > 1 use spawned processes, so
    scripts calling this need the usual `if __name__ == "__main__":` guard.

    Storage, which changes no crop, mask or label: ROI masks are RLE Lossless (they are mostly
    zeros), crops uncompressed, every file carries PixelSpacing (0.05 mm / scale). full_images
    "full" writes the full-field images uncompressed at full size (as CBIS-DDSM has them);
    "reduced" writes them block-averaged by the integer reduction, PixelSpacing multiplied by
    it (so they no longer have the masks' size); "none" writes none, the CSVs still naming them.

    layout "kaggle-jpeg" writes the same cases as CBIS-DDSM's Kaggle edition holds them: the
    CSVs (unchanged, TCIA paths) under csv/ with csv/dicom_info.csv, one row per image written
    (kaggle_writer.DICOM_INFO_COLUMNS), and each image as an 8-bit JPEG (min-max of its
    modality values, quality 90) at jpeg/<SeriesInstanceUID>/1-N.jpg, a crop and its mask
    sharing one series and numbered in either order; no PixelSpacing. The sidecars stay at the
    top. Corrupt cases break the JPEG crop, or (corrupt.KAGGLE_UNLISTED) leave the ROI's series
    out of dicom_info.csv.
    """
    from preprocessing.index.cbis_csv import CALC_COLUMNS, CALC_CSV_NAMES  # pandas: not in workers

    if full_images not in FULL_IMAGE_MODES:
        raise ValueError(f"full_images must be one of {FULL_IMAGE_MODES}, got {full_images!r}")
    if full_images == "reduced" and (not isinstance(reduction, int) or reduction < 2):
        raise ValueError(f"reduction must be an integer >= 2, got {reduction!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    task = partial(build_patient, out_dir=out_dir, seed=seed, scale=scale, n_regular=patients,
                   full_images=full_images, reduction=reduction, layout=layout)
    indices = list(range(1, patients + corrupt + 1))
    workers = min(workers or os.cpu_count() or 1, max(len(indices), 1))
    csv_rows: dict[str, list[dict[str, str]]] = {split: [] for split in CALC_CSV_NAMES}
    truth_rows: list[dict[str, str]] = []
    info_rows: list[dict[str, str]] = []
    for output in _run_all(task, indices, workers, progress):
        for split, row in output.csv_rows:
            csv_rows[split].append(row)
        truth_rows.extend(output.truth_rows)
        info_rows.extend(output.dicom_info_rows)
    csv_dir = out_dir / CSV_DIR if layout == KAGGLE_LAYOUT else out_dir
    csv_dir.mkdir(exist_ok=True)
    for split, name in CALC_CSV_NAMES.items():
        _write_csv(csv_dir / name, CALC_COLUMNS, sorted(csv_rows[split], key=_row_key), "\r\n")
    if layout == KAGGLE_LAYOUT:
        info_rows.sort(key=lambda r: r["image_path"])
        _write_csv(csv_dir / DICOM_INFO_NAME, DICOM_INFO_COLUMNS, info_rows, "\n")
    truth_rows.sort(key=lambda r: r["roi_id"])
    truth_csv = out_dir / TRUTH_CSV_NAME
    _write_csv(truth_csv, TRUTH_COLUMNS, truth_rows, "\n")
    return PhantomResult(
        out_dir=out_dir, n_patients=patients, n_rois=len(truth_rows),
        n_malignant=sum(int(r["label"]) for r in truth_rows), bayes_auc=bayes_auc(truth_rows),
        n_corrupt=corrupt, truth_csv=truth_csv,
    )

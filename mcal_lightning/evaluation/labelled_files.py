"""Scoring a model's predictions on labelled files: metrics with patient-bootstrap 95% CIs.

Labels come from a ``--labels`` CSV (columns file, label[, patient_id][, reference][, side,
abnormality_id]; label 0/1 or benign/malignant; reference: another P(malignant) for the same
file, such as a reader's, or the phantom's true probability, whose AUC is the Bayes ceiling; a
cache's index.csv serves as it is, its crop_path naming the file) or else from the nearest
parent folder named benign or malignant (any case), as ``mcal index`` reads a folder. Patients
come from that CSV's patient_id, else from a ``--patient-pattern`` regex on the file name (as
``mcal index`` applies it); otherwise every file is its own patient, and a warning says the CIs
are too narrow when patients have several files. Where patient, side and abnormality id are
known, the metrics come per lesion too (lesions.py).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcal_lightning.evaluation.bootstrap import DEFAULT_RESAMPLES, bootstrap_ci
from mcal_lightning.evaluation.calibration import brier_score, expected_calibration_error
from mcal_lightning.evaluation.lesions import lesion_keys, lesion_result
from preprocessing.index.folder import CLASS_FOLDERS, patient_from_pattern

LABEL_WORDS = {**CLASS_FOLDERS, "0": 0, "1": 1}
OWN_PATIENT_WARNING = (
    "no patient ids (give --labels with a patient_id column or --patient-pattern): every file "
    "is treated as its own patient. If a patient has several files (CC and MLO views, several "
    "ROIs), the confidence intervals are too narrow."
)


def label_from_path(path: Path) -> int | None:
    """1 or 0 from the nearest parent folder named malignant or benign; None if there is none."""
    for parent in path.parents:
        if parent.name.lower() in CLASS_FOLDERS:
            return CLASS_FOLDERS[parent.name.lower()]
    return None


LESION_ID_COLUMNS = ("side", "abnormality_id")  # with patient_id, a lesion's key


def read_labels_csv(path: Path) -> pd.DataFrame:
    """The CSV's file, label (0/1), patient_id ("" where absent), reference (NaN) and side and
    abnormality_id ("" where absent) columns; an index.csv's crop_path is its file."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "file" not in table and "crop_path" in table:
        table = table.rename(columns={"crop_path": "file"})
    if not {"file", "label"} <= set(table.columns):
        raise ValueError(f"{path}: the labels CSV needs the columns 'file' and 'label'")
    words = table["label"].str.strip().str.lower()
    unknown = sorted(set(words) - set(LABEL_WORDS))
    if unknown:
        raise ValueError(f"{path}: labels must be 0/1 or benign/malignant, got {unknown[:5]}")
    patients = table.get("patient_id", pd.Series("", index=table.index))
    reference = pd.to_numeric(table.get("reference", pd.Series("", index=table.index)),
                              errors="coerce")
    lesion_ids = {name: table.get(name, pd.Series("", index=table.index)).str.strip()
                  for name in LESION_ID_COLUMNS}
    return pd.DataFrame({"file": table["file"].str.strip(), "label": words.map(LABEL_WORDS),
                         "patient_id": patients.str.strip(), "reference": reference,
                         **lesion_ids})


def lookup_keys(file: Path, roots: Iterable[Path]) -> list[str]:
    """How a CSV may name the file: as given, relative to a folder given, or by its name."""
    keys = [file.as_posix()]
    for root in roots:
        if root.is_dir() and file.is_relative_to(root):
            keys.append(file.relative_to(root).as_posix())
    return [*keys, file.name]


def csv_rows(files: list[Path], roots: list[Path], labels: pd.DataFrame) -> pd.DataFrame:
    """The labels CSV's row for each file (NaN label where the CSV does not name it)."""
    by_key = labels[labels["file"] != ""].drop_duplicates("file").set_index("file")
    keys = [next((k for k in lookup_keys(f, roots) if k in by_key.index), None) for f in files]
    found = by_key.reindex([k if k is not None else "" for k in keys])
    return found.reset_index(drop=True)


def attach_truth(predictions: pd.DataFrame, roots: Iterable[Path], labels_csv: Path | None = None,
                 patient_pattern: str | None = None) -> tuple[pd.DataFrame, str]:
    """predictions with "truth" (0/1, NaN if unknown) and "patient_id" columns; the id source."""
    files, roots = [Path(f) for f in predictions["file"]], [Path(r) for r in roots]
    table = predictions.reset_index(drop=True).copy()
    table["truth"] = [label_from_path(f) for f in files]
    patients = pd.Series([""] * len(files), dtype=object)
    if labels_csv is not None:
        from_csv = csv_rows(files, roots, read_labels_csv(labels_csv))
        table["truth"] = from_csv["label"].fillna(table["truth"])
        patients = from_csv["patient_id"].fillna("").astype(object)
        if from_csv["reference"].notna().any():
            table["reference"] = from_csv["reference"].to_numpy()
        for name in LESION_ID_COLUMNS:
            table[name] = from_csv[name].fillna("").to_numpy()
    source = "labels CSV"
    if not patients.astype(bool).any() and patient_pattern is not None:
        compiled = re.compile(patient_pattern)
        patients = pd.Series([patient_from_pattern(compiled, f.name) for f in files], dtype=object)
        source = "--patient-pattern"
    if not patients.astype(bool).any():
        warnings.warn(OWN_PATIENT_WARNING, stacklevel=2)
        source = "file (each file its own patient)"
    elif not patients.astype(bool).all():
        warnings.warn(f"{int((~patients.astype(bool)).sum())} files have no patient id: each "
                      "is treated as its own patient", stacklevel=2)
    table["patient_id"] = patients.where(patients.astype(bool), table["file"])
    return table, source


def evaluate_predictions(table: pd.DataFrame, source: str,
                         n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """Metrics with 95% CIs, ECE and Brier score over the rows with a prediction and a label."""
    usable = table["truth"].notna() & table["p_malignant"].notna()
    if not usable.any():
        raise ValueError("no file has both a prediction and a label: put the files under "
                         "benign/ and malignant/ folders or give --labels CSV")
    rows = table[usable]
    labels = rows["truth"].to_numpy(dtype=np.int64)
    probs = rows["p_malignant"].to_numpy(dtype=np.float64)
    patients = rows["patient_id"].to_numpy()
    result = bootstrap_ci(labels, probs, patients, n_resamples, seed)
    return {**result.as_dict(), "patients_from": source, "files": len(table),
            **reference_auroc(rows, labels, patients, n_resamples, seed),
            **lesion_level(rows, labels, probs, patients, n_resamples, seed),
            "skipped": {"no_label": int(table["truth"].isna().sum()),
                        "no_prediction": int(table["p_malignant"].isna().sum())},
            "ece": expected_calibration_error(labels, probs), "brier": brier_score(labels, probs)}


def reference_auroc(rows: pd.DataFrame, labels: np.ndarray, patients: np.ndarray,
                    n_resamples: int, seed: int) -> dict[str, Any]:
    """{"reference": AUC with its 95% CI} when every scored file has a reference, else {}."""
    if "reference" not in rows or rows["reference"].isna().any():
        return {}
    found = bootstrap_ci(labels, rows["reference"].to_numpy(dtype=np.float64), patients,
                         n_resamples, seed).as_dict()["metrics"]["auroc"]
    return {"reference": {"auroc": found}}


def lesion_level(rows: pd.DataFrame, labels: np.ndarray, probs: np.ndarray,
                 patients: np.ndarray, n_resamples: int, seed: int) -> dict[str, Any]:
    """{"lesion": the lesion-level record} when the files' lesion ids are known, else {}."""
    found = lesion_result(labels, probs, patients, lesion_keys(rows), n_resamples, seed)
    return {} if found is None else {"lesion": found.as_dict()}


def metrics_frame(evaluation: dict[str, Any]) -> pd.DataFrame:
    """One row per metric: value and its 95% CI, for printing."""
    names = {"recall": "sensitivity"}
    rows = [{"metric": names.get(name, name), "value": found["point"],
             "95% ci low": found["low"], "95% ci high": found["high"]}
            for name, found in evaluation["metrics"].items()]
    frame = pd.DataFrame(rows)
    return frame.astype({c: float for c in frame.columns if c != "metric"})

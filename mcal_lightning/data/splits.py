"""Patient-grouped splits of the cache table, and the one guard every split goes through.

Rows are cache row numbers (the table's ``row`` column, which indexes ``rois.npy``). A patient's
ROIs (CC and MLO views, several calcifications) always land on one side: a split by row would
let the model meet the same breast in training and in evaluation and inflate every metric.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

SHOWN_PATIENTS = 5  # patients named in a LeakageError before the rest is only counted
UNGROUPED_PREFIX = "ungrouped-row-"
UNGROUPED_WARNING = (
    "rows without a patient id are treated as patients of their own. If one patient has several "
    "images among them (CC and MLO views, several ROIs), that patient can sit on both sides of "
    "a split and the evaluation metrics will be inflated."
)

RowSet = Iterable[int] | pd.DataFrame
Split = tuple[np.ndarray, np.ndarray]


class LeakageError(ValueError):
    """A patient sits on two sides of a split, or rows cannot be grouped by patient."""


def official_rows(table: pd.DataFrame, split: str) -> np.ndarray:
    """Cache rows of the official split ("train" or "test"), sorted."""
    return np.sort(table.loc[table["split"] == split, "row"].to_numpy(dtype=np.int64))


def missing_patient_mask(patients: pd.Series) -> pd.Series:
    """True where the patient id is empty or missing."""
    return patients.isna() | (patients.astype(str).str.strip() == "")


def check_patient_ids(frame: pd.DataFrame, allow_ungrouped: bool = False) -> None:
    """Refuse rows without a patient id, or warn when the caller accepts the risk."""
    missing = missing_patient_mask(frame["patient_id"])
    if not missing.any():
        return
    if not allow_ungrouped:
        examples = ", ".join(str(r) for r in frame.loc[missing, "row"].head(SHOWN_PATIENTS))
        raise LeakageError(
            f"{int(missing.sum())} rows have no patient id (rows {examples}...): they cannot be "
            "split by patient. Fix the index (--patient-pattern / --patient-csv) or pass "
            "allow_ungrouped=True to accept possibly inflated metrics."
        )
    warnings.warn(f"{int(missing.sum())} {UNGROUPED_WARNING}", stacklevel=3)


def group_ids(frame: pd.DataFrame) -> pd.Series:
    """Patient ids, with each id-less row made a patient of its own (by its row number)."""
    patients = frame["patient_id"].astype(str)
    missing = missing_patient_mask(frame["patient_id"])
    pseudo = UNGROUPED_PREFIX + frame["row"].astype(str)
    return patients.where(~missing, pseudo)


def rows_frame(table: pd.DataFrame | None, rows: RowSet) -> pd.DataFrame:
    """The table rows of one side: a frame as given, or row numbers looked up in table."""
    if isinstance(rows, pd.DataFrame):
        return rows
    if table is None:
        raise TypeError("row numbers need the table to look their patients up in")
    by_row = table.set_index("row", drop=False)
    return by_row.loc[np.asarray(list(rows), dtype=np.int64)]


def describe_overlap(shared: list[str], first: str, second: str) -> str:
    """'patients A, B and 3 more (5 in all) are in both train and test'."""
    shown = ", ".join(shared[:SHOWN_PATIENTS])
    extra = len(shared) - SHOWN_PATIENTS
    more = f" and {extra} more ({len(shared)} in all)" if extra > 0 else ""
    noun = "patient" if len(shared) == 1 else "patients"
    return f"{noun} {shown}{more} in both {first!r} and {second!r}"


def assert_no_patient_overlap(
    table: pd.DataFrame | None = None, /, *, allow_ungrouped: bool = False, **named_rows: RowSet
) -> None:
    """Raise LeakageError when any patient sits on two of the named sides.

    Each side is a frame with ``row`` and ``patient_id`` columns, or cache row numbers looked up
    in ``table``: ``assert_no_patient_overlap(table, train=rows_a, val=rows_b, test=rows_c)``.
    Rows without a patient id are refused unless ``allow_ungrouped``.
    """
    sides = {name: rows_frame(table, rows) for name, rows in named_rows.items()}
    for frame in sides.values():
        check_patient_ids(frame, allow_ungrouped)
    patients = {name: set(group_ids(frame)) for name, frame in sides.items()}
    names = list(patients)
    problems = [
        describe_overlap(sorted(patients[a] & patients[b]), a, b)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if patients[a] & patients[b]
    ]
    if problems:
        raise LeakageError("patient leakage: " + "; ".join(problems))


def grouped_folds(
    table: pd.DataFrame, k: int, seed: int = 0, allow_ungrouped: bool = False
) -> list[Split]:
    """k (train_rows, val_rows) folds of the OFFICIAL TRAIN split, by patient, by label."""
    train = table.loc[table["split"] == "train"].sort_values("row")
    check_patient_ids(train, allow_ungrouped)
    groups = group_ids(train)
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    if groups.nunique() < k:
        raise ValueError(f"{groups.nunique()} patients in the train split: too few for {k} folds")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    rows = train["row"].to_numpy(dtype=np.int64)
    return [
        (np.sort(rows[fit]), np.sort(rows[held]))
        for fit, held in splitter.split(rows, train["label"].to_numpy(), groups.to_numpy())
    ]


def train_val_split(
    table: pd.DataFrame, val_fraction: float = 0.2, seed: int = 0, allow_ungrouped: bool = False
) -> Split:
    """(train_rows, val_rows) of the official train split: one fold of round(1/val_fraction)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    return grouped_folds(table, round(1 / val_fraction), seed, allow_ungrouped)[0]


def split_counts(table: pd.DataFrame, splits: Mapping[str, np.ndarray]) -> dict[str, int]:
    """ROIs, benign, malignant and patients per named side, flat for a logger."""
    by_row = table.set_index("row", drop=False)
    counts: dict[str, int] = {}
    for name, rows in splits.items():
        part = by_row.loc[rows]
        malignant = int(part["label"].sum())
        counts[f"{name}_rois"] = len(part)
        counts[f"{name}_benign"] = len(part) - malignant
        counts[f"{name}_malignant"] = malignant
        counts[f"{name}_patients"] = int(group_ids(part).nunique())
    return counts

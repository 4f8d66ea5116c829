"""Reader for the official CBIS-DDSM calcification case-description CSVs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from preprocessing.index.csv_files import read_csv_named

# The exact header of calc_case_description_{train,test}_set.csv as published by TCIA.
CALC_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "breast density",
    "left or right breast",
    "image view",
    "abnormality id",
    "abnormality type",
    "calc type",
    "calc distribution",
    "assessment",
    "pathology",
    "subtlety",
    "image file path",
    "cropped image file path",
    "ROI mask file path",
)
CALC_CSV_NAMES = {
    "train": "calc_case_description_train_set.csv",
    "test": "calc_case_description_test_set.csv",
}
PATHOLOGY_TO_LABEL = {"MALIGNANT": 1, "BENIGN": 0, "BENIGN_WITHOUT_CALLBACK": 0}

# Short names used everywhere downstream of the reader.
RENAME = {
    "breast density": "breast_density",
    "left or right breast": "side",
    "image view": "view",
    "abnormality id": "abnormality_id",
    "abnormality type": "abnormality_type",
    "calc type": "calc_type",
    "calc distribution": "calc_distribution",
    "image file path": "image_path",
    "cropped image file path": "crop_path",
    "ROI mask file path": "mask_path",
}


def read_calc_csv(path: Path, split: str) -> pd.DataFrame:
    """Read one official calc CSV; strip the newlines some path cells carry.

    Raises EmptyCsv for an empty file, ValueError naming the file for one that is not a calc CSV.
    """
    frame = read_csv_named(path, dtype=str, keep_default_na=False)
    missing = [c for c in CALC_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a CBIS-DDSM calc CSV, missing columns {missing}")
    frame = frame[list(CALC_COLUMNS)].rename(columns=RENAME)
    frame = frame.apply(lambda col: col.str.strip())
    frame["split"] = split
    return frame


def find_calc_csvs(data_dir: Path) -> dict[str, Path]:
    """The official calc CSVs present in data_dir, keyed by split."""
    return {s: data_dir / n for s, n in CALC_CSV_NAMES.items() if (data_dir / n).is_file()}

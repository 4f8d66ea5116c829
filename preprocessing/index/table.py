"""The index table: Index, Quarantine and the rows in index columns (both layouts share them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

INDEX_COLUMNS = (
    "roi_id", "patient_id", "side", "view", "abnormality_id", "calc_type", "calc_distribution",
    "subtlety", "assessment", "breast_density", "pathology", "label", "split", "crop_path",
    "mask_path", "image_path", "source_format",
)
QUARANTINE_COLUMNS = ("roi_id", "path", "reason")


class NoPatientIds(ValueError):
    """Data without patient ids cannot be split by patient."""


@dataclass
class Quarantine:
    """Collects bad rows and files; the run goes on."""

    records: list[dict[str, str]] = field(default_factory=list)

    def add(self, roi_id: str, path: str | Path, reason: str) -> None:
        self.records.append({"roi_id": roi_id, "path": str(path), "reason": reason})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.records, columns=list(QUARANTINE_COLUMNS))


@dataclass
class Index:
    rows: pd.DataFrame
    quarantine: pd.DataFrame
    data_dir: Path
    layout: str

    def save(self, out_dir: Path) -> tuple[Path, Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        rows_path, quarantine_path = out_dir / "index.csv", out_dir / "quarantine.csv"
        self.rows.to_csv(rows_path, index=False)
        self.quarantine.to_csv(quarantine_path, index=False)
        return rows_path, quarantine_path

    def summary(self) -> pd.DataFrame:
        """ROIs and patients by split and label."""
        named = self.rows.assign(label=self.rows["label"].map({0: "benign", 1: "malignant"}))
        table = named.groupby(["split", "label"]).agg(
            rois=("roi_id", "size"), patients=("patient_id", "nunique")
        )
        return table.reset_index()


def finish_rows(records: list[dict[str, object]]) -> pd.DataFrame:
    blank = dict.fromkeys(INDEX_COLUMNS, "")
    frame = pd.DataFrame([{**blank, **r} for r in records], columns=list(INDEX_COLUMNS))
    frame["label"] = frame["label"].astype(int)
    return frame.sort_values("roi_id", kind="stable").reset_index(drop=True)

"""Lesion-level results: the views of one lesion scored as one decision, bootstrapped by patient.

CBIS-DDSM shows most lesions in both the CC and the MLO view, and a radiologist decides per
lesion, not per view. A lesion is one (patient_id, side, abnormality_id); its P(malignant) is
the mean of its views' probabilities. Its views share the pathology; where they disagree the
lesion counts as malignant (a malignant view is a biopsy-proven finding) and ``n_discordant``
says how often that happened. A row lacking one of the three ids is a lesion of its own; data
with none of them (a folder layout) has no lesion level. The CIs resample patients, as the ROI
level's do, so a lesion's views always stay together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mcal_lightning.evaluation.bootstrap import (
    DEFAULT_RESAMPLES,
    BootstrapResult,
    bootstrap_ci,
    resample_metrics,
)

LESION_COLUMNS = ("patient_id", "side", "abnormality_id")


def lesion_keys(frame: pd.DataFrame) -> pd.Series | None:
    """One "patient side abnormality" key per row, a row lacking an id its own ("roi N").

    None when the frame has not got the columns or no row has all three ids.
    """
    if not all(column in frame for column in LESION_COLUMNS):
        return None
    columns = frame[list(LESION_COLUMNS)].reset_index(drop=True)
    ids = columns.astype(str).apply(lambda column: column.str.strip())
    known = columns.notna().all(axis=1) & (ids != "").all(axis=1) & (ids != "nan").all(axis=1)
    if not known.any():
        return None
    joined = ids["patient_id"] + " " + ids["side"] + " " + ids["abnormality_id"]
    own = pd.Series([f"roi {position}" for position in range(len(ids))])
    return joined.where(known, own)


def aggregate_lesions(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray,
                      patients: Sequence[Any] | np.ndarray,
                      keys: Sequence[str] | pd.Series) -> pd.DataFrame:
    """One row per lesion: patient, label (malignant if any view is), mean prob, views, discordant.

    Rows are ROIs (views), one label, probability, patient and lesion key each.
    """
    views = pd.DataFrame({"lesion": np.asarray(keys, dtype=object),
                          "patient": np.asarray(patients, dtype=object),
                          "label": np.asarray(labels).astype(np.int64),
                          "prob": np.asarray(probs, dtype=np.float64)})
    lesions = views.groupby("lesion", sort=True).agg(
        patient=("patient", "first"), label=("label", "max"), lowest=("label", "min"),
        prob=("prob", "mean"), views=("prob", "size"))
    lesions["discordant"] = lesions["label"] != lesions.pop("lowest")
    return lesions.reset_index()


@dataclass(frozen=True)
class LesionResult:
    """Point metrics and patient-bootstrap CIs on the lesions, and what they were built from."""

    point: dict[str, float]  # metrics.SCALAR_METRICS on the lesions
    bootstrap: BootstrapResult  # its n_rois counts lesions
    n_rois: int
    n_multi_view: int  # lesions seen in more than one ROI
    n_discordant: int  # lesions whose views carry different labels

    @property
    def n_lesions(self) -> int:
        return self.bootstrap.n_rois

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        """``{prefix}mcc``, ... and the CI bounds ``{prefix}mcc_ci_low``, ... for MLflow."""
        return {**{f"{prefix}{name}": value for name, value in self.point.items()},
                **self.bootstrap.as_metrics(prefix)}

    def as_dict(self) -> dict[str, Any]:
        """The bootstrap record (its "metrics" with CIs) plus the lesion counts."""
        def clean(value: float) -> float | None:
            return None if math.isnan(value) else value

        record = self.bootstrap.as_dict()
        return {**record, "level": "lesion", "aggregation": "mean of the views' P(malignant)",
                "n_rois": self.n_rois, "n_lesions": self.n_lesions,
                "n_multi_view": self.n_multi_view, "n_discordant": self.n_discordant,
                "point": {name: clean(value) for name, value in self.point.items()}}


def lesion_result(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray,
                  patients: Sequence[Any] | np.ndarray, keys: Sequence[str] | pd.Series | None,
                  n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                  confidence: float = 0.95) -> LesionResult | None:
    """Lesion-level metrics with patient-bootstrap CIs; None without lesion keys."""
    if keys is None:
        return None
    lesions = aggregate_lesions(labels, probs, patients, keys)
    lesion_labels = lesions["label"].to_numpy()
    lesion_probs = lesions["prob"].to_numpy()
    found = bootstrap_ci(lesion_labels, lesion_probs, lesions["patient"].to_numpy(),
                         n_resamples, seed, confidence)
    point = {name: float(values[0]) for name, values in
             resample_metrics(np.ones((1, len(lesions))), lesion_labels, lesion_probs).items()}
    return LesionResult(point, found, int(lesions["views"].sum()),
                        int((lesions["views"] > 1).sum()), int(lesions["discordant"].sum()))

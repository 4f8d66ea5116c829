"""A trained module's calibration and patient-bootstrap CIs on val/test, logged to MLflow.

``evaluate.log_evaluation`` logs, into the active run: ``temperature`` (fitted on val by
``stage_temperature``), per stage ``{stage}/ece``, ``{stage}/brier`` and their ``_calibrated``
twins after temperature scaling (in-sample on val), ``plots/{stage}_reliability.png``, the CI
bounds ``{stage}/auroc_ci_low`` ... and ``metrics/{stage}_bootstrap.json``; where the table
knows lesions (lesions.py), the same metrics per lesion as ``{stage}/lesion/mcc``,
``{stage}/lesion/mcc_ci_low`` ... and ``metrics/{stage}_lesion_bootstrap.json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from mcal_lightning.data.splits import group_ids
from mcal_lightning.evaluation.bootstrap import BootstrapResult, bootstrap_ci
from mcal_lightning.evaluation.calibration import (
    apply_temperature,
    brier_score,
    expected_calibration_error,
    fit_temperature,
    reliability_figure,
)
from mcal_lightning.evaluation.lesions import LesionResult, lesion_keys, lesion_result
from mcal_lightning.models.module import CalcClassifier
from mcal_lightning.tracking.store import log_figure

CALIBRATION_STAGE = "val"


@dataclass
class Uncertainty:
    temperature: float  # 1.0 when there was no val split to fit it on
    intervals: dict[str, BootstrapResult] = field(default_factory=dict)  # by stage
    lesions: dict[str, LesionResult] = field(default_factory=dict)  # by stage, where known


def stage_arrays(module: CalcClassifier, stage: str) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """(labels, logits, cache rows) of the stage's last evaluation."""
    outputs = module.last_outputs[stage]
    return (outputs["labels"].numpy().astype(np.int64), outputs["logits"].numpy(),
            outputs["indices"].numpy())


def stage_probs(module: CalcClassifier, stage: str) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
    """(labels, P(malignant), cache rows): the probabilities the logged metrics were built on."""
    labels, _, rows = stage_arrays(module, stage)
    return labels, module.last_outputs[stage]["probs"].numpy(), rows


def patients_of(table: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Each cache row's patient; rows without one are patients of their own."""
    return group_ids(table.set_index("row", drop=False).loc[rows]).to_numpy()


def stage_bootstrap(module: CalcClassifier, table: pd.DataFrame, stage: str,
                    seed: int = 0) -> BootstrapResult:
    labels, probs, rows = stage_probs(module, stage)
    return bootstrap_ci(labels, probs, patients_of(table, rows), seed=seed)


def stage_lesions(module: CalcClassifier, table: pd.DataFrame, stage: str,
                  seed: int = 0) -> LesionResult | None:
    """The stage's lesion-level result; None when its rows carry no lesion ids."""
    labels, probs, rows = stage_probs(module, stage)
    keys = lesion_keys(table.set_index("row", drop=False).loc[rows])
    return lesion_result(labels, probs, patients_of(table, rows), keys, seed=seed)


def log_lesions(result: LesionResult, stage: str) -> None:
    mlflow.log_metrics(result.as_metrics(f"{stage}/lesion/"))
    mlflow.log_dict(result.as_dict(), f"metrics/{stage}_lesion_bootstrap.json")


def log_bootstrap(result: BootstrapResult, stage: str) -> None:
    mlflow.log_metrics(result.as_metrics(f"{stage}/"))
    mlflow.log_dict(result.as_dict(), f"metrics/{stage}_bootstrap.json")


def calibration_metrics(labels: np.ndarray, logits: np.ndarray, temperature: float,
                        stage: str) -> dict[str, float]:
    raw, calibrated = apply_temperature(logits, 1.0), apply_temperature(logits, temperature)
    return {f"{stage}/ece": expected_calibration_error(labels, raw),
            f"{stage}/brier": brier_score(labels, raw),
            f"{stage}/ece_calibrated": expected_calibration_error(labels, calibrated),
            f"{stage}/brier_calibrated": brier_score(labels, calibrated)}


def log_calibration(module: CalcClassifier, stage: str, temperature: float) -> None:
    labels, logits, _ = stage_arrays(module, stage)
    mlflow.log_metrics(calibration_metrics(labels, logits, temperature, stage))
    curves = {"model": apply_temperature(logits, 1.0),
              f"T = {temperature:.2f}": apply_temperature(logits, temperature)}
    log_figure(reliability_figure(labels, curves, f"{stage} reliability"),
               f"plots/{stage}_reliability.png")


def stage_temperature(module: CalcClassifier) -> float:
    if CALIBRATION_STAGE not in module.last_outputs:
        return 1.0
    labels, logits, _ = stage_arrays(module, CALIBRATION_STAGE)
    return fit_temperature(labels, logits)


def interval_attrs(result: Any, stage: str = "val",
                   metrics: Iterable[str] = ("mcc",)) -> dict[str, float]:
    """``{stage}/mcc_ci_low`` and ``_high`` of a training result, for a sweep trial's attrs.

    Empty for results without intervals (a cross-validation's fold means).
    """
    uncertainty = getattr(result, "uncertainty", None)
    found = uncertainty.intervals.get(stage) if uncertainty else None
    if found is None:
        return {}
    flat = found.as_metrics(f"{stage}/")
    return {name: value for name, value in flat.items()
            if name.removeprefix(f"{stage}/").rsplit("_ci_", 1)[0] in set(metrics)}


def lesion_attrs(result: Any, stage: str = "val",
                 metrics: Iterable[str] = ("mcc", "auroc")) -> dict[str, float]:
    """``{stage}/lesion/mcc`` ... of a training result, for a sweep trial's attrs; {} if none."""
    uncertainty = getattr(result, "uncertainty", None)
    found = uncertainty.lesions.get(stage) if uncertainty else None
    if found is None:
        return {}
    return {f"{stage}/lesion/{name}": found.point[name] for name in metrics}

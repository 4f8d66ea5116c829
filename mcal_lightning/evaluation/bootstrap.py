"""Patient-cluster bootstrap: percentile 95% CIs of the evaluation metrics.

A patient's ROIs (CC and MLO views, several calcifications) are correlated, so resampling ROIs
as if they were independent gives intervals that are too narrow. Each resample here draws as
many patients as the split holds, with replacement, and pools their ROIs: a patient drawn twice
counts twice. Resamples holding one class only are skipped (AUC, sensitivity or specificity is
undefined there), and ``n_used`` says how many were left.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mcal_lightning.evaluation.metrics import SCALAR_METRICS, metrics_from_confusion

CI_METRICS = ("auroc", "mcc", "f1", "recall", "specificity")  # recall = sensitivity
DEFAULT_RESAMPLES = 1000
CHUNK = 250  # resamples computed at once: bounded memory on large splits
THRESHOLD = 0.5


@dataclass(frozen=True)
class BootstrapResult:
    """metric -> (point estimate, CI low, CI high), and what the intervals rest on."""

    intervals: dict[str, tuple[float, float, float]]
    n_patients: int
    n_rois: int
    n_resamples: int
    n_used: int
    confidence: float = 0.95

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat CI bounds for MLflow: ``{prefix}auroc_ci_low``, ``{prefix}auroc_ci_high``, ..."""
        flat = {}
        for name, (_, low, high) in self.intervals.items():
            flat[f"{prefix}{name}_ci_low"] = low
            flat[f"{prefix}{name}_ci_high"] = high
        return flat

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record; undefined values (NaN) become null."""
        def clean(value: float) -> float | None:
            return None if math.isnan(value) else value

        return {
            "confidence": self.confidence, "method": "patient-cluster percentile bootstrap",
            "n_patients": self.n_patients, "n_rois": self.n_rois,
            "n_resamples": self.n_resamples, "n_used": self.n_used,
            "metrics": {name: {"point": clean(point), "low": clean(low), "high": clean(high)}
                        for name, (point, low, high) in self.intervals.items()},
        }


def patient_weights(codes: np.ndarray, n_patients: int, n_resamples: int,
                    rng: np.random.Generator) -> np.ndarray:
    """(B, N) how often each ROI enters each resample: its patient's draw count."""
    draws = rng.multinomial(n_patients, np.full(n_patients, 1.0 / n_patients), size=n_resamples)
    return draws[:, codes].astype(np.float64)


def weighted_confusion(weights: np.ndarray, labels: np.ndarray,
                       predicted: np.ndarray) -> tuple[np.ndarray, ...]:
    """(tp, fp, tn, fn), each (B,), with every ROI counted as often as its weight says."""
    positive, called = labels == 1, predicted == 1
    cells = (positive & called, ~positive & called, ~positive & ~called, positive & ~called)
    return tuple(weights @ cell.astype(np.float64) for cell in cells)


def weighted_auroc(weights: np.ndarray, labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(B,) Mann-Whitney AUC (ties count one half) per weight row; NaN with one class only.

    Equals sklearn's ``roc_auc_score`` on the resample with its ROIs repeated.
    """
    order = np.argsort(probs, kind="stable")
    ranked = probs[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # groups of tied scores
    sorted_weights, positive = weights[:, order], labels[order] == 1
    pos = np.add.reduceat(sorted_weights * positive, starts, axis=1)
    neg = np.add.reduceat(sorted_weights * ~positive, starts, axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    wins = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def resample_metrics(weights: np.ndarray, labels: np.ndarray,
                     probs: np.ndarray) -> dict[str, np.ndarray]:
    """Every scalar metric per weight row, by metrics.py's formulas (AUC NaN where one class
    only)."""
    predicted = (probs > THRESHOLD).astype(np.int64)  # as torchmetrics thresholds
    counts = np.stack(weighted_confusion(weights, labels, predicted), axis=1)
    rows = [metrics_from_confusion(*row) for row in counts.tolist()]
    values = {name: np.array([row[name] for row in rows], dtype=np.float64)
              for name in SCALAR_METRICS if name != "auroc"}
    values["auroc"] = weighted_auroc(weights, labels, probs)
    return values


def bootstrap_ci(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray,
                 patients: Sequence[Any] | np.ndarray, n_resamples: int = DEFAULT_RESAMPLES,
                 seed: int = 0, confidence: float = 0.95) -> BootstrapResult:
    """Point estimates on the data as given and percentile CIs over patient resamples.

    labels: 0/1 (malignant = 1); probs: P(malignant), called malignant above 0.5; patients:
    one id per ROI.
    """
    labels = np.asarray(labels).astype(np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    codes, uniques = pd.factorize(pd.Series(np.asarray(patients, dtype=object)), sort=True)
    if not len(labels) == len(probs) == len(codes):
        raise ValueError(f"need one label, probability and patient per ROI, got "
                         f"{len(labels)}, {len(probs)} and {len(codes)}")
    if len(labels) == 0:
        raise ValueError("no ROIs to bootstrap")
    point = resample_metrics(np.ones((1, len(labels))), labels, probs)
    rng = np.random.default_rng(seed)
    chunks = [resample_metrics(patient_weights(codes, len(uniques), size, rng), labels, probs)
              for size in chunk_sizes(n_resamples)]
    resampled = {name: np.concatenate([chunk[name] for chunk in chunks]) for name in CI_METRICS}
    used = ~np.isnan(resampled["auroc"])  # both classes present
    intervals = {name: (float(point[name][0]),
                        *percentile_interval(resampled[name][used], confidence))
                 for name in CI_METRICS}
    return BootstrapResult(intervals, len(uniques), len(labels), n_resamples, int(used.sum()),
                           confidence)


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` share of the values; NaN when there are none."""
    if len(values) == 0:
        return math.nan, math.nan
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def chunk_sizes(total: int) -> list[int]:
    return [min(CHUNK, total - start) for start in range(0, total, CHUNK)]

"""Two models on the same ROIs: the difference of a metric, its CI and a p-value.

``paired_bootstrap`` resamples patients (as ``bootstrap.py`` does) and scores both prediction
vectors on the same resample, so whatever the two models share (the ROIs' difficulty) cancels
out of the difference. ``delong`` is DeLong's test for two correlated AUCs (Sun & Xu's fast
algorithm via midranks); it treats ROIs as independent, the bootstrap does not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mcal_lightning.evaluation.bootstrap import (
    DEFAULT_RESAMPLES,
    chunk_sizes,
    patient_weights,
    percentile_interval,
    resample_metrics,
)
from mcal_lightning.evaluation.metrics import SCALAR_METRICS

BOOTSTRAP = "paired patient bootstrap"
DELONG = "DeLong"


@dataclass(frozen=True)
class PairedDifference:
    """metric(a) - metric(b) on the same ROIs, its CI at ``confidence`` and a two-sided p."""

    metric: str
    a: float
    b: float
    difference: float
    low: float
    high: float
    p_value: float
    method: str
    confidence: float
    n_rois: int
    n_patients: int | None = None  # the bootstrap's clusters; None for DeLong

    def as_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}


def both_classes(weights: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(B,) whether each resample holds malignant and benign ROIs."""
    return (weights @ (labels == 1) > 0) & (weights @ (labels == 0) > 0)


def checked_arrays(labels: Any, probs_a: Any, probs_b: Any,
                   metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if metric not in SCALAR_METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(SCALAR_METRICS)}")
    labels = np.asarray(labels).astype(np.int64)
    probs_a, probs_b = (np.asarray(p, dtype=np.float64) for p in (probs_a, probs_b))
    if not len(labels) == len(probs_a) == len(probs_b) > 0:
        raise ValueError(f"need one label and two predictions per ROI, got {len(labels)}, "
                         f"{len(probs_a)} and {len(probs_b)}")
    return labels, probs_a, probs_b


def two_sided_p(differences: np.ndarray) -> float:
    """The bootstrap's two-sided p for 'no difference': twice the smaller tail beyond 0."""
    if len(differences) == 0:
        return math.nan
    tail = min(np.mean(differences <= 0), np.mean(differences >= 0))
    return float(min(1.0, 2 * tail))


def paired_bootstrap(labels: Sequence[int] | np.ndarray, probs_a: Sequence[float] | np.ndarray,
                     probs_b: Sequence[float] | np.ndarray, patients: Sequence[Any] | np.ndarray,
                     metric: str = "mcc", n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                     confidence: float = 0.95) -> PairedDifference:
    """metric(a) - metric(b), with a percentile CI over patient resamples shared by a and b.

    Resamples holding one class only are skipped. Identical predictions give a difference of
    exactly 0 in every resample, so a CI of [0, 0].
    """
    labels, probs_a, probs_b = checked_arrays(labels, probs_a, probs_b, metric)
    codes, uniques = pd.factorize(pd.Series(np.asarray(patients, dtype=object)), sort=True)
    if len(codes) != len(labels):
        raise ValueError(f"need one patient per ROI, got {len(codes)} for {len(labels)} ROIs")
    ones = np.ones((1, len(labels)))
    a, b = (float(resample_metrics(ones, labels, p)[metric][0]) for p in (probs_a, probs_b))
    rng = np.random.default_rng(seed)
    parts = []
    for size in chunk_sizes(n_resamples):
        weights = patient_weights(codes, len(uniques), size, rng)
        weights = weights[both_classes(weights, labels)]
        parts.append(resample_metrics(weights, labels, probs_a)[metric]
                     - resample_metrics(weights, labels, probs_b)[metric])
    differences = np.concatenate(parts)
    low, high = percentile_interval(differences, confidence)
    return PairedDifference(metric, a, b, a - b, low, high, two_sided_p(differences), BOOTSTRAP,
                            confidence, len(labels), len(uniques))


def midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank."""
    return stats.rankdata(values, method="average")


def structural_components(labels: np.ndarray,
                          probs: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(AUC, V10 per malignant ROI, V01 per benign ROI) by midranks (Sun & Xu 2014)."""
    positive, negative = probs[labels == 1], probs[labels == 0]
    m, n = len(positive), len(negative)
    pooled = midranks(np.concatenate([positive, negative]))
    within_pos, within_neg = midranks(positive), midranks(negative)
    v10 = (pooled[:m] - within_pos) / n  # share of benign ROIs each malignant one beats
    v01 = 1.0 - (pooled[m:] - within_neg) / m  # share of malignant ROIs beating each benign one
    auc = float(v10.mean())
    return auc, v10, v01


def delong(labels: Sequence[int] | np.ndarray, probs_a: Sequence[float] | np.ndarray,
           probs_b: Sequence[float] | np.ndarray, confidence: float = 0.95) -> PairedDifference:
    """AUC(a) - AUC(b) with DeLong's variance: a normal CI and a two-sided p (all NaN when a
    class has fewer than 2 ROIs)."""
    labels, probs_a, probs_b = checked_arrays(labels, probs_a, probs_b, "auroc")
    m, n = int((labels == 1).sum()), int((labels == 0).sum())
    if m < 2 or n < 2:  # no variance to estimate: no CI, no p
        return PairedDifference("auroc", math.nan, math.nan, math.nan, math.nan, math.nan,
                                math.nan, DELONG, confidence, m + n)
    auc_a, v10_a, v01_a = structural_components(labels, probs_a)
    auc_b, v10_b, v01_b = structural_components(labels, probs_b)
    s10, s01 = np.cov(np.vstack([v10_a, v10_b])), np.cov(np.vstack([v01_a, v01_b]))
    covariance = s10 / m + s01 / n
    variance = max(float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]), 0.0)
    difference = auc_a - auc_b
    half = stats.norm.ppf(0.5 + confidence / 2) * math.sqrt(variance)
    if variance > 0:
        p_value = float(2 * stats.norm.sf(abs(difference) / math.sqrt(variance)))
    else:
        p_value = 1.0 if difference == 0 else 0.0
    return PairedDifference("auroc", auc_a, auc_b, difference, difference - half,
                            difference + half, p_value, DELONG, confidence, m + n)


def compare(labels: Sequence[int] | np.ndarray, probs_a: Sequence[float] | np.ndarray,
            probs_b: Sequence[float] | np.ndarray, patients: Sequence[Any] | np.ndarray,
            metric: str, confidence: float = 0.95, seed: int = 0) -> PairedDifference:
    """DeLong for AUC, the paired patient bootstrap for every other metric."""
    if metric == "auroc":
        return delong(labels, probs_a, probs_b, confidence)
    return paired_bootstrap(labels, probs_a, probs_b, patients, metric, seed=seed,
                            confidence=confidence)

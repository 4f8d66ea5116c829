"""The promotion rule: a challenger takes the champion alias only on a real paired difference.

Both models are scored on the same test ROIs; the difference (challenger - champion) of the
objective's test metric gets a CI (DeLong for AUC, the paired patient bootstrap otherwise). The
challenger is promoted when that CI's lower bound clears ``min_delta`` (for a minimised metric,
when the upper bound lies below ``-min_delta``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcal_lightning.evaluation.metrics import SCALAR_METRICS
from mcal_lightning.evaluation.paired import PairedDifference, compare

FALLBACK_METRIC = "auroc"  # for objectives with no per-ROI paired form (the loss)


@dataclass(frozen=True)
class Promotion:
    """The rule's settings: the margin the difference must clear, and the CI's confidence."""

    min_delta: float = 0.0
    confidence: float = 0.95


DEFAULT_RULE = Promotion()


@dataclass(frozen=True)
class Predictions:
    """One model's P(malignant) on the test split, by cache row."""

    rows: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    patients: np.ndarray


def compared_metric(metric: str) -> str:
    return metric if metric in SCALAR_METRICS else FALLBACK_METRIC


def paired_difference(challenger: Predictions, champion: Predictions, metric: str,
                      rule: Promotion, seed: int = 0) -> PairedDifference:
    """challenger - champion on the ROIs both were scored on (matched by cache row)."""
    common, mine, theirs = np.intersect1d(challenger.rows, champion.rows, return_indices=True)
    if len(common) == 0:
        raise ValueError("the challenger and the champion share no test ROIs")
    return compare(challenger.labels[mine], challenger.probs[mine], champion.probs[theirs],
                   challenger.patients[mine], compared_metric(metric), rule.confidence, seed)


def promoted(difference: PairedDifference, rule: Promotion, maximize: bool) -> bool:
    if maximize:
        return difference.low > rule.min_delta
    return difference.high < -rule.min_delta


def with_ci(value: float, interval: tuple[float, float] | None) -> str:
    if interval is None or None in interval or any(map(math.isnan, interval)):
        return f"{value:.2f}"
    return f"{value:.2f} ({interval[0]:.2f} to {interval[1]:.2f})"


def decision_sentence(difference: PairedDifference, moved: bool,
                      challenger_ci: tuple[float, float] | None = None) -> str:
    """e.g. 'challenger 0.61 (0.52 to 0.70) vs champion 0.55: difference +0.06 (-0.03 to
    +0.15), not promoted'."""
    verdict = "promoted" if moved else "not promoted"
    if math.isnan(difference.low) or math.isnan(difference.high):
        return (f"challenger {with_ci(difference.a, challenger_ci)} vs champion "
                f"{difference.b:.2f}: no CI for the difference (the test split lacks a class), "
                f"{verdict}")
    return (f"challenger {with_ci(difference.a, challenger_ci)} vs champion {difference.b:.2f}: "
            f"difference {difference.difference:+.2f} ({difference.low:+.2f} to "
            f"{difference.high:+.2f}), {verdict}")


def first_sentence(value: float, challenger_ci: tuple[float, float] | None = None) -> str:
    return f"challenger {with_ci(value, challenger_ci)}: no champion yet, promoted"


def comparison_json(difference: PairedDifference, rule: Promotion, moved: bool,
                    maximize: bool) -> dict[str, Any]:
    """What champion/comparison.json records."""
    return {**difference.as_dict(), "margin": rule.min_delta, "direction":
            "maximize" if maximize else "minimize", "decision":
            "promoted" if moved else "not promoted"}

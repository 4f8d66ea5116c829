"""Calibration of P(malignant): ECE, Brier score, reliability diagram, temperature scaling.

The ECE bins the predicted P(malignant) into equal-width bins and averages, weighted by the
bins' sizes, the gap between each bin's mean prediction and its fraction malignant (the binary
reliability of the probability itself, as torchmetrics' BinaryCalibrationError measures it).
Temperature scaling (Guo et al. 2017) divides the logit by one T > 0 fitted on val: T > 1
softens an overconfident model. The ranking is unchanged, so are the AUC and every metric
thresholded at P = 0.5 (logit 0).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files and MLflow, never to a window

import math
from collections.abc import Mapping
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from scipy.optimize import minimize_scalar
from scipy.special import expit
from sklearn.metrics import brier_score_loss

DEFAULT_BINS = 15
TEMPERATURE_BOUNDS = (0.05, 20.0)  # a separable val split would otherwise drive T towards 0


@dataclass(frozen=True)
class ReliabilityBins:
    """Per equal-width bin of P(malignant): ROI count, mean prediction, fraction malignant."""

    edges: np.ndarray
    counts: np.ndarray
    mean_prob: np.ndarray  # NaN in empty bins
    frequency: np.ndarray  # NaN in empty bins


def as_arrays(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, probs = np.asarray(labels, dtype=np.float64), np.asarray(probs, dtype=np.float64)
    if labels.shape != probs.shape or labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"need two equal non-empty 1-D arrays, got {labels.shape}, "
                         f"{probs.shape}")
    return labels, probs


def reliability_bins(labels: np.ndarray, probs: np.ndarray,
                     bins: int = DEFAULT_BINS) -> ReliabilityBins:
    """Bins [i/bins, (i+1)/bins), as torchmetrics' (P = 1 joins the last)."""
    labels, probs = as_arrays(labels, probs)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, probs, side="right") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.bincount(which, probs, minlength=bins) / counts
        frequency = np.bincount(which, labels, minlength=bins) / counts
    return ReliabilityBins(edges, counts, mean_prob, frequency)


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray,
                               bins: int = DEFAULT_BINS) -> float:
    """Size-weighted mean |mean P(malignant) - fraction malignant| over the bins."""
    found = reliability_bins(labels, probs, bins)
    used = found.counts > 0
    gaps = np.abs(found.mean_prob[used] - found.frequency[used])
    return float(np.sum(gaps * found.counts[used]) / found.counts.sum())


def brier_score(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean squared difference between P(malignant) and the 0/1 label."""
    labels, probs = as_arrays(labels, probs)
    return float(brier_score_loss(labels, probs, pos_label=1))


def binary_nll(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean binary cross-entropy of logits, computed stably (log(1 + e^z) - y z)."""
    labels, logits = as_arrays(labels, logits)
    return float(np.mean(np.logaddexp(0.0, logits) - labels * logits))


def fit_temperature(labels: np.ndarray, logits: np.ndarray) -> float:
    """The T in TEMPERATURE_BOUNDS minimising the NLL of sigmoid(logits / T), searched on log T."""
    labels, logits = as_arrays(labels, logits)
    low, high = (math.log(bound) for bound in TEMPERATURE_BOUNDS)
    found = minimize_scalar(lambda log_t: binary_nll(labels, logits / math.exp(log_t)),
                            bounds=(low, high), method="bounded", options={"xatol": 1e-5})
    return float(math.exp(found.x))


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated P(malignant) = sigmoid(logit / T)."""
    if not temperature > 0:
        raise ValueError(f"the temperature must be positive, got {temperature}")
    return expit(np.asarray(logits, dtype=np.float64) / temperature)


def reliability_figure(labels: np.ndarray, curves: Mapping[str, np.ndarray],
                       title: str = "reliability", bins: int = DEFAULT_BINS) -> Figure:
    """Fraction malignant against mean P(malignant) per bin, one line per named set of
    probabilities (e.g. before and after temperature scaling), over their histograms."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.4, 5.2), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="perfect")
    width = 1.0 / bins
    for offset, (name, probs) in enumerate(curves.items()):
        found = reliability_bins(labels, probs, bins)
        used = found.counts > 0
        ece = expected_calibration_error(labels, probs, bins)
        top.plot(found.mean_prob[used], found.frequency[used], marker="o", markersize=4,
                 label=f"{name} (ECE {ece:.3f})")
        shift = width * (offset + 0.5) / max(len(curves), 1)
        bottom.bar(found.edges[:-1] + shift, found.counts, width=width / max(len(curves), 1),
                   label=name, alpha=0.8)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("fraction malignant")
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8)
    bottom.set_xlabel("predicted P(malignant)")
    bottom.set_ylabel("ROIs")
    fig.tight_layout()
    return fig

"""How much of a Grad-CAM map lies on a ROI's calcifications, and what chance would give.

The calcification pixels of a phantom ROI are M = S >= 0.25 * max(S), S its calcification-only
signal in crop geometry. The cache's own resize (``preprocessing.pipeline.resize_roi``) applied
to the 0/1 mask gives the coverage W in [0, 1]: the share of each cache pixel that covers
calcification pixels. A map's mass inside is sum(cam * W) / sum(cam), the soft share of the
map (normalised to sum 1) on the calcifications: 1 for a map on fully covered pixels only,
mean(W) (the area fraction) for a uniform map. An all-zero map points nowhere and counts as
uniform.

Means over ROIs come with patient-cluster percentile bootstrap intervals, as the evaluation's
metrics do (``evaluation.bootstrap``): a patient's ROIs are resampled together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mcal_lightning.evaluation.bootstrap import patient_weights, percentile_interval
from preprocessing.pipeline import PreprocessConfig, resize_roi

MASK_FRACTION = 0.25  # the calcification cores, not the blur tails (as bench/signal_survival.py)


def calc_mask(signal: np.ndarray) -> np.ndarray:
    """The calcification pixels of a calcification-only signal: S >= 0.25 * max(S)."""
    signal = np.asarray(signal, np.float32)
    top = float(signal.max()) if signal.size else 0.0
    if top <= 0:
        raise ValueError("the signal holds no calcification (its maximum is not positive)")
    return signal >= MASK_FRACTION * top


def coverage_map(mask: np.ndarray, config: PreprocessConfig,
                 spacing_mm: tuple[float, float] | None = None) -> np.ndarray:
    """(size, size) float32 in [0, 1]: the crop-geometry mask through the cache's resize.

    spacing_mm: the crop's (row, column) pixel spacing, needed by fixed-spacing caches only.
    """
    resized = resize_roi(np.asarray(mask, np.float32), config, spacing_mm)
    return np.clip(resized, 0.0, 1.0)  # INTER_LINEAR can overshoot by rounding


def empty_maps(cams: np.ndarray) -> np.ndarray:
    """(N,) True where a map has no mass at all."""
    return np.asarray(cams, np.float64).sum(axis=(1, 2)) <= 0


def area_fraction(coverages: np.ndarray) -> np.ndarray:
    """(N,) the mass a uniform map puts on each coverage: its mean."""
    return np.asarray(coverages, np.float64).mean(axis=(1, 2))


def mass_inside(cams: np.ndarray, coverages: np.ndarray) -> np.ndarray:
    """(N,) sum(cam * W) / sum(cam) per map and coverage; an empty map gets the area fraction."""
    cams, coverages = np.asarray(cams, np.float64), np.asarray(coverages, np.float64)
    if cams.shape != coverages.shape:
        raise ValueError(f"maps {cams.shape} and coverages {coverages.shape} differ in shape")
    totals = cams.sum(axis=(1, 2))
    inside = (cams * coverages).sum(axis=(1, 2))
    safe = np.where(totals > 0, totals, 1.0)
    return np.where(totals > 0, inside / safe, area_fraction(coverages))


def donor_order(n: int, seed: int) -> np.ndarray:
    """A seeded permutation without fixed points: ROI i is scored with map donor[i] != i.

    The ROIs are put on one random cycle, each taking the map of the next; n < 2 has none.
    """
    if n < 2:
        raise ValueError(f"shuffled maps need at least 2 ROIs, got {n}")
    cycle = np.random.default_rng(seed).permutation(n)
    donor = np.empty(n, np.int64)
    donor[cycle] = np.roll(cycle, -1)
    return donor


def resampled_means(values: np.ndarray, patients: Sequence[Any], n_resamples: int = 1000,
                    seed: int = 0) -> np.ndarray:
    """(n_resamples, K) mean of each of the K rows of values (K, N) in patient resamples."""
    values = np.atleast_2d(np.asarray(values, np.float64))
    codes, uniques = pd.factorize(pd.Series(np.asarray(patients, dtype=object)), sort=True)
    if values.shape[1] != len(codes):
        raise ValueError(f"{values.shape[1]} values per row but {len(codes)} patient ids")
    weights = patient_weights(codes, len(uniques), n_resamples, np.random.default_rng(seed))
    return (weights @ values.T) / weights.sum(axis=1, keepdims=True)


def point_and_interval(point: float, resampled: np.ndarray,
                       confidence: float = 0.95) -> tuple[float, float, float]:
    """(point, low, high): the percentile interval of the finite resampled values."""
    return (float(point),
            *percentile_interval(resampled[np.isfinite(resampled)], confidence))

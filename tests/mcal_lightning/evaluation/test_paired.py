"""Paired comparisons of two prediction vectors: bootstrap of a metric's difference, DeLong."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mcal_lightning.evaluation.paired import compare, delong, paired_bootstrap


def synthetic(n_patients: int = 60, separation: float = 1.0, seed: int = 0):
    """Two ROIs per patient, one label per patient, P(malignant) separated by `separation`."""
    rng = np.random.default_rng(seed)
    patient_labels = rng.integers(0, 2, n_patients)
    labels = np.repeat(patient_labels, 2)
    patients = np.repeat([f"P_{i:03d}" for i in range(n_patients)], 2)
    scores = separation * (labels - 0.5) + rng.normal(0, 1, len(labels))
    return labels, 1 / (1 + np.exp(-scores)), patients


@pytest.mark.parametrize("metric", ["mcc", "auroc", "f1", "specificity"])
def test_identical_predictions_differ_by_exactly_zero(metric: str):
    labels, probs, patients = synthetic()
    result = paired_bootstrap(labels, probs, probs.copy(), patients, metric, n_resamples=200)
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert result.p_value == 1.0
    assert result.n_patients == 60 and result.n_rois == 120


def test_bootstrap_difference_is_the_point_difference_and_inside_its_ci():
    labels, good, patients = synthetic(separation=3.0)
    _, poor, _ = synthetic(separation=0.3, seed=1)
    result = paired_bootstrap(labels, good, poor, patients, "mcc", n_resamples=300, seed=3)
    assert result.difference == pytest.approx(result.a - result.b)
    assert result.low <= result.difference <= result.high
    assert result.low > 0 and result.p_value < 0.05


def test_bootstrap_resamples_patients_not_rois():
    """Each patient's two ROIs carry one prediction each way: the CI is as wide as 60 draws."""
    labels, probs, patients = synthetic()
    flipped = np.where(np.arange(len(probs)) % 2 == 0, probs, 1 - probs)
    clustered = paired_bootstrap(labels, probs, flipped, patients, "auroc", n_resamples=400)
    single = paired_bootstrap(labels, probs, flipped, np.arange(len(probs)), "auroc",
                              n_resamples=400)
    assert clustered.n_patients == 60 and single.n_patients == 120
    assert clustered.high - clustered.low != pytest.approx(single.high - single.low)


def brute_force_delong(labels, probs_a, probs_b):
    """DeLong et al. 1988 by its definition: psi over every (malignant, benign) pair."""
    def components(probs):
        pos, neg = probs[labels == 1], probs[labels == 0]
        psi = np.array([[1.0 if x > y else 0.5 if x == y else 0.0 for y in neg] for x in pos])
        return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)

    (auc_a, v10_a, v01_a), (auc_b, v10_b, v01_b) = components(probs_a), components(probs_b)
    m, n = len(v10_a), len(v01_a)
    var = (np.var(v10_a - v10_b, ddof=1) / m) + (np.var(v01_a - v01_b, ddof=1) / n)
    return auc_a - auc_b, var


def test_delong_matches_the_pairwise_definition_with_ties():
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1])
    probs_a = np.array([0.9, 0.8, 0.8, 0.4, 0.3, 0.8, 0.2, 0.1, 0.4, 0.7, 0.6, 0.5])
    probs_b = np.array([0.7, 0.6, 0.9, 0.2, 0.6, 0.3, 0.3, 0.2, 0.5, 0.6, 0.1, 0.4])
    result = delong(labels, probs_a, probs_b)
    difference, variance = brute_force_delong(labels, probs_a, probs_b)
    assert result.a == pytest.approx(roc_auc_score(labels, probs_a))
    assert result.b == pytest.approx(roc_auc_score(labels, probs_b))
    assert result.difference == pytest.approx(difference)
    half = 1.959963984540054 * np.sqrt(variance)
    assert (result.low, result.high) == pytest.approx((difference - half, difference + half))
    from scipy.stats import norm
    assert result.p_value == pytest.approx(2 * norm.sf(abs(difference) / np.sqrt(variance)))


def test_delong_on_identical_predictions_is_zero_with_p_one():
    labels, probs, _ = synthetic()
    result = delong(labels, probs, probs)
    assert (result.difference, result.low, result.high, result.p_value) == (0, 0, 0, 1.0)


def test_compare_uses_delong_for_auc_only():
    labels, probs, patients = synthetic()
    noisy = np.clip(probs + np.random.default_rng(5).normal(0, 0.01, len(probs)), 0, 1)
    methods = {metric: compare(labels, noisy, probs, patients, metric).method
               for metric in ("auroc", "mcc")}
    assert methods == {"auroc": "DeLong", "mcc": "paired patient bootstrap"}


@pytest.mark.parametrize(("labels", "a", "b"), [
    ([1, 0], [0.5], [0.5, 0.5]), ([], [], []),
])
def test_mismatched_or_empty_vectors_are_refused(labels, a, b):
    with pytest.raises(ValueError, match="per ROI"):
        paired_bootstrap(labels, a, b, list(itertools.islice(itertools.count(), len(labels))))


def test_delong_without_two_rois_of_each_class_has_no_ci():
    result = delong([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3], [0.8, 0.2, 0.1, 0.4])
    assert all(np.isnan([result.difference, result.low, result.high, result.p_value]))

"""The patient-cluster bootstrap: CIs around the point estimate, narrowing with n, by patient."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, matthews_corrcoef, recall_score, roc_auc_score

from mcal_lightning.evaluation.bootstrap import CI_METRICS, bootstrap_ci, weighted_auroc


def synthetic(n_patients: int, rois_per_patient: int, seed: int) -> tuple[np.ndarray, ...]:
    """A fair predictor; each patient's ROIs share the patient's label and a patient effect."""
    rng = np.random.default_rng(seed)
    patient_labels = rng.integers(0, 2, n_patients)
    patient_shift = rng.normal(0, 1, n_patients)
    patients = np.repeat(np.arange(n_patients), rois_per_patient)
    labels = patient_labels[patients]
    logits = 1.5 * (2 * labels - 1) + patient_shift[patients] + rng.normal(0, 1, len(patients))
    return labels, 1 / (1 + np.exp(-logits)), patients


def width(result, metric: str) -> float:
    _, low, high = result.intervals[metric]
    return high - low


def test_ci_contains_the_point_estimate_for_every_metric():
    labels, probs, patients = synthetic(80, 3, seed=1)
    result = bootstrap_ci(labels, probs, patients, n_resamples=500, seed=0)
    assert set(result.intervals) == set(CI_METRICS)
    for name, (point, low, high) in result.intervals.items():
        assert low <= point <= high, name
        assert low < high, name
    assert (result.n_patients, result.n_rois, result.n_resamples) == (80, 240, 500)


def test_point_estimates_match_sklearn_at_threshold_one_half():
    labels, probs, patients = synthetic(60, 2, seed=2)
    result = bootstrap_ci(labels, probs, patients, n_resamples=10)
    predicted = (probs > 0.5).astype(int)
    expected = {"auroc": roc_auc_score(labels, probs),
                "mcc": matthews_corrcoef(labels, predicted), "f1": f1_score(labels, predicted),
                "recall": recall_score(labels, predicted),
                "specificity": recall_score(labels, predicted, pos_label=0)}
    for name, value in expected.items():
        assert result.intervals[name][0] == pytest.approx(value), name


def test_ci_narrows_as_patients_grow():
    small = bootstrap_ci(*synthetic(40, 2, seed=3), n_resamples=400)
    large = bootstrap_ci(*synthetic(640, 2, seed=3), n_resamples=400)
    for name in CI_METRICS:
        assert width(large, name) < 0.5 * width(small, name), name  # about 1/sqrt(16)


def test_duplicated_rois_of_a_patient_do_not_narrow_the_ci():
    labels, probs, patients = synthetic(60, 1, seed=4)
    alone = bootstrap_ci(labels, probs, patients, n_resamples=400, seed=7)
    copies = 4
    repeated = [np.repeat(a, copies) for a in (labels, probs, patients)]
    as_patients = bootstrap_ci(*repeated, n_resamples=400, seed=7)
    as_if_independent = bootstrap_ci(*repeated[:2], np.arange(len(repeated[0])),
                                     n_resamples=400, seed=7)
    for name in CI_METRICS:
        assert width(as_patients, name) == pytest.approx(width(alone, name)), name
        assert width(as_if_independent, name) < 0.7 * width(as_patients, name), name


def test_weighted_auroc_is_sklearns_auc_of_the_pooled_resample():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 50)
    probs = np.round(rng.random(50), 1)  # many ties
    weights = rng.integers(0, 4, (6, 50)).astype(float)
    expected = [roc_auc_score(np.repeat(labels, w.astype(int)), np.repeat(probs, w.astype(int)))
                for w in weights]
    np.testing.assert_allclose(weighted_auroc(weights, labels, probs), expected)


def test_one_class_resamples_are_skipped_and_one_class_data_has_no_interval():
    labels, probs, patients = np.array([0, 0, 1, 1]), np.array([0.2, 0.4, 0.7, 0.3]), [1, 1, 2, 3]
    result = bootstrap_ci(labels, probs, patients, n_resamples=300)
    assert 0 < result.n_used < 300  # {1,1,1}-style draws hold benign ROIs only
    single = bootstrap_ci(np.zeros(5), np.linspace(0.1, 0.9, 5), range(5), n_resamples=50)
    assert single.n_used == 0 and math.isnan(single.intervals["auroc"][1])
    assert single.as_dict()["metrics"]["auroc"] == {"point": None, "low": None, "high": None}


def test_seeded_and_flat_for_mlflow():
    data = synthetic(30, 2, seed=6)
    first, second = bootstrap_ci(*data, seed=3), bootstrap_ci(*data, seed=3)
    assert first == second
    assert first.n_resamples == 1000
    flat = first.as_metrics("test/")
    assert flat["test/mcc_ci_low"] == first.intervals["mcc"][1]
    assert len(flat) == 2 * len(CI_METRICS)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="one label"):
        bootstrap_ci([0, 1], [0.5], [1, 2])

"""ECE, Brier score, reliability diagram and temperature scaling of P(malignant)."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from scipy.special import expit
from torchmetrics.functional.classification import binary_calibration_error

from mcal_lightning.evaluation.calibration import (
    apply_temperature,
    binary_nll,
    brier_score,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    reliability_figure,
)


def overconfident(n: int, sharpen: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, logits): labels drawn from sigmoid(z), the model says sigmoid(sharpen * z)."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0, 2, n)
    labels = (rng.random(n) < expit(true_logits)).astype(int)
    return labels, sharpen * true_logits


def test_a_perfectly_calibrated_predictor_has_ece_near_zero():
    rng = np.random.default_rng(0)
    probs = rng.random(200_000)
    labels = (rng.random(len(probs)) < probs).astype(int)  # labels ~ Bernoulli(p)
    assert expected_calibration_error(labels, probs) < 0.01


def test_ece_by_hand_and_as_torchmetrics_computes_it():
    labels, probs = np.array([0, 1, 1, 1]), np.array([0.1, 0.1, 0.9, 0.9])
    # bin of 0.1: mean 0.1, half malignant, gap 0.4; bin of 0.9: gap 0.1; each half the ROIs
    assert expected_calibration_error(labels, probs, bins=10) == pytest.approx(0.25)
    rng = np.random.default_rng(1)
    probs = rng.random(3000)
    labels = (rng.random(3000) < probs**2).astype(int)
    expected = binary_calibration_error(torch.tensor(probs), torch.tensor(labels), n_bins=15)
    assert expected_calibration_error(labels, probs) == pytest.approx(expected.item())


def test_brier_score_by_hand():
    labels, probs = np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 0.4, 0.5])
    assert brier_score(labels, probs) == pytest.approx((0.01 + 0.04 + 0.36 + 0.25) / 4)


def test_temperature_scaling_fixes_an_overconfident_predictor():
    labels, logits = overconfident(20_000, sharpen=3.0, seed=2)
    temperature = fit_temperature(labels, logits)
    assert temperature == pytest.approx(3.0, rel=0.1)
    calibrated = apply_temperature(logits, temperature)
    before = expected_calibration_error(labels, expit(logits))
    assert before > 0.05
    assert expected_calibration_error(labels, calibrated) < before / 3
    assert binary_nll(labels, logits / temperature) < binary_nll(labels, logits)


def test_an_underconfident_predictor_gets_t_below_one():
    labels, logits = overconfident(20_000, sharpen=0.5, seed=3)
    assert fit_temperature(labels, logits) == pytest.approx(0.5, rel=0.1)


def test_temperature_keeps_the_ranking_and_the_decision_at_one_half():
    logits = np.array([-3.0, -0.2, 0.1, 2.5])
    softened = apply_temperature(logits, 2.0)
    np.testing.assert_allclose(apply_temperature(logits, 1.0), expit(logits))
    assert (np.argsort(softened) == np.argsort(logits)).all()
    assert ((softened > 0.5) == (logits > 0)).all()
    with pytest.raises(ValueError, match="positive"):
        apply_temperature(logits, 0.0)


def test_reliability_bins_and_figure():
    labels, logits = overconfident(500, sharpen=2.0, seed=4)
    found = reliability_bins(labels, expit(logits), bins=10)
    assert found.counts.sum() == 500 and len(found.edges) == 11
    figure = reliability_figure(labels, {"model": expit(logits), "T = 2.00": expit(logits / 2)},
                                "val reliability", bins=10)
    assert isinstance(figure, Figure)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend[0] == "perfect" and legend[1].startswith("model (ECE ")
    assert legend[2].startswith("T = 2.00 (ECE ")

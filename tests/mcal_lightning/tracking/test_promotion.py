"""The promotion rule on synthetic test predictions: a real difference moves the alias."""

from __future__ import annotations

import numpy as np
import pytest

from mcal_lightning.tracking.promotion import (
    Predictions,
    Promotion,
    decision_sentence,
    paired_difference,
    promoted,
)


def predictions(separation: float, seed: int, n_patients: int = 150,
                labels_seed: int = 0) -> Predictions:
    """Two ROIs per patient; the model's logit is separation * label + noise."""
    labels = np.repeat(np.random.default_rng(labels_seed).integers(0, 2, n_patients), 2)
    noise = np.random.default_rng(seed).normal(0, 1, len(labels))
    probs = 1 / (1 + np.exp(-(separation * (labels - 0.5) + noise)))
    rows = np.arange(len(labels))
    return Predictions(rows, labels, probs, rows // 2)


def jittered(model: Predictions, scale: float, seed: int) -> Predictions:
    noise = np.random.default_rng(seed).normal(0, scale, len(model.probs))
    return Predictions(model.rows, model.labels, np.clip(model.probs + noise, 0, 1),
                       model.patients)


@pytest.mark.parametrize("metric", ["mcc", "auroc"])
def test_a_clearly_better_model_is_promoted(metric: str):
    challenger, champion = predictions(4.0, seed=1), predictions(0.5, seed=2)
    difference = paired_difference(challenger, champion, metric, Promotion())
    assert difference.low > 0
    assert promoted(difference, Promotion(), maximize=True)


@pytest.mark.parametrize("metric", ["mcc", "auroc", "f1"])
def test_a_model_equal_up_to_noise_is_not_promoted(metric: str):
    champion = predictions(2.0, seed=1)
    for seed in range(3):  # the same model, jittered as a retrained seed would be
        challenger = jittered(champion, 0.02, seed)
        difference = paired_difference(challenger, champion, metric, Promotion())
        assert difference.low <= 0
        assert not promoted(difference, Promotion(), maximize=True)


def test_the_margin_and_a_minimised_metric_are_respected():
    challenger, champion = predictions(4.0, seed=1), predictions(0.5, seed=2)
    difference = paired_difference(challenger, champion, "mcc", Promotion())
    assert not promoted(difference, Promotion(min_delta=difference.low + 0.01), maximize=True)
    assert not promoted(difference, Promotion(), maximize=False)  # higher is worse there
    reverse = paired_difference(champion, challenger, "mcc", Promotion())
    assert promoted(reverse, Promotion(), maximize=False)


def test_rois_are_matched_by_cache_row():
    champion = predictions(2.0, seed=1)
    order = np.random.default_rng(0).permutation(len(champion.rows))
    shuffled = Predictions(champion.rows[order], champion.labels[order], champion.probs[order],
                           champion.patients[order])
    difference = paired_difference(shuffled, champion, "mcc", Promotion())
    assert (difference.difference, difference.low, difference.high) == (0.0, 0.0, 0.0)


def test_the_decision_reads_as_a_sentence():
    challenger, champion = predictions(4.0, seed=1), predictions(0.5, seed=2)
    difference = paired_difference(challenger, champion, "mcc", Promotion())
    sentence = decision_sentence(difference, False, (0.52, 0.70))
    assert sentence == (f"challenger {difference.a:.2f} (0.52 to 0.70) vs champion "
                        f"{difference.b:.2f}: difference {difference.difference:+.2f} "
                        f"({difference.low:+.2f} to {difference.high:+.2f}), not promoted")


def test_a_split_with_one_class_gives_no_ci_and_no_promotion():
    challenger, champion = predictions(4.0, seed=1), predictions(0.5, seed=2)
    benign = challenger.labels == 0
    one_class = [Predictions(p.rows[benign], p.labels[benign], p.probs[benign],
                             p.patients[benign]) for p in (challenger, champion)]
    difference = paired_difference(*one_class, "mcc", Promotion())
    assert not promoted(difference, Promotion(), maximize=True)
    assert "no CI for the difference" in decision_sentence(difference, False)

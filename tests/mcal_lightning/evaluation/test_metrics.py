"""Metric formulas against hand arithmetic, and torchmetrics against the formulas."""

from __future__ import annotations

import math

import pytest
import torch

from mcal_lightning.evaluation.metrics import SCALAR_METRICS, binary_metrics, metrics_from_confusion

TP, FP, TN, FN = 40, 10, 45, 5


def predictions_for(tp: int, fp: int, tn: int, fn: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Hard probabilities and labels whose confusion matrix is exactly (tp, fp, tn, fn)."""
    probs = torch.tensor([1.0] * tp + [1.0] * fp + [0.0] * tn + [0.0] * fn)
    labels = torch.tensor([1] * tp + [0] * fp + [0] * tn + [1] * fn)
    return probs, labels


def torchmetrics_values(tp: int, fp: int, tn: int, fn: int) -> dict[str, torch.Tensor]:
    collection = binary_metrics()
    collection.update(*predictions_for(tp, fp, tn, fn))
    return collection.compute()


def test_every_formula_matches_hand_arithmetic() -> None:
    expected = {
        "accuracy": (40 + 45) / 100,
        "recall": 40 / (40 + 5),
        "precision": 40 / (40 + 10),
        "specificity": 45 / (45 + 10),
        "f1": 2 * 40 / (2 * 40 + 10 + 5),
        "mcc": (40 * 45 - 10 * 5) / math.sqrt((40 + 10) * (40 + 5) * (45 + 10) * (45 + 5)),
    }
    assert metrics_from_confusion(TP, FP, TN, FN) == pytest.approx(expected)


def test_f1_is_the_harmonic_not_the_arithmetic_mean() -> None:
    # Table 9 of the paper is off in this way: F1 must be 2PR/(P+R), never (P+R)/2
    values = metrics_from_confusion(TP, FP, TN, FN)
    precision, recall = values["precision"], values["recall"]
    assert values["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert values["f1"] != pytest.approx((precision + recall) / 2, abs=1e-3)


@pytest.mark.parametrize("counts", [(TP, FP, TN, FN), (3, 20, 70, 7), (50, 0, 50, 0),
                                    (0, 50, 0, 50), (60, 40, 0, 0), (0, 0, 40, 60)])
def test_torchmetrics_collection_equals_the_formulas(counts: tuple[int, int, int, int]) -> None:
    values = torchmetrics_values(*counts)
    formulas = metrics_from_confusion(*counts)
    for name, expected in formulas.items():
        assert values[name].item() == pytest.approx(expected, abs=1e-6), name
    tp, fp, tn, fn = counts
    assert values["confmat"].tolist() == [[tn, fp], [fn, tp]]
    assert set(SCALAR_METRICS) | {"confmat"} == set(values)


def test_auroc_of_hard_predictions_is_balanced_accuracy() -> None:
    values = torchmetrics_values(TP, FP, TN, FN)
    assert values["auroc"].item() == pytest.approx((40 / 45 + 45 / 55) / 2, abs=1e-6)


def test_mcc_of_perfect_inverted_and_constant_predictors() -> None:
    assert metrics_from_confusion(tp=30, fp=0, tn=70, fn=0)["mcc"] == pytest.approx(1.0)
    assert metrics_from_confusion(tp=0, fp=70, tn=0, fn=30)["mcc"] == pytest.approx(-1.0)
    assert metrics_from_confusion(tp=30, fp=70, tn=0, fn=0)["mcc"] == 0.0
    assert metrics_from_confusion(tp=0, fp=0, tn=70, fn=30)["mcc"] == 0.0
    # torchmetrics' own MCC gives about -0.09 here; the collection's follows sklearn
    assert torchmetrics_values(30, 70, 0, 0)["mcc"].item() == 0.0


def test_empty_denominators_give_zero_not_nan() -> None:
    values = metrics_from_confusion(0, 0, 0, 0)
    assert values == dict.fromkeys(values, 0.0)

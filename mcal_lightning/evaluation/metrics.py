"""Binary metrics, malignant = positive = 1: a torchmetrics collection and the formulas by hand.

Leong et al. 2022 (Table 9) reported an F1 that is not the harmonic mean of their precision and
recall; here F1 = 2TP / (2TP + FP + FN) everywhere, and the tests pin both implementations to it.
The paper's own formula is kept as ``paper_f1``, for the replay's report alone.
Every ratio whose denominator is 0 is 0, as in sklearn (which fastai's metrics wrap).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryConfusionMatrix,
    BinaryF1Score,
    BinaryMatthewsCorrCoef,
    BinaryPrecision,
    BinaryRecall,
    BinarySpecificity,
)

SCALAR_METRICS = ("accuracy", "recall", "precision", "specificity", "f1", "mcc", "auroc")


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def matthews_corrcoef(tp: float, fp: float, tn: float, fn: float) -> float:
    """MCC; 0 when any marginal is empty (a constant predictor, or one class only)."""
    denominator = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return ratio(tp * tn - fp * fn, math.sqrt(denominator))


def metrics_from_confusion(tp: float, fp: float, tn: float, fn: float) -> dict[str, float]:
    """accuracy, recall (sensitivity), precision, specificity, f1 and mcc from the four counts."""
    return {
        "accuracy": ratio(tp + tn, tp + fp + tn + fn),
        "recall": ratio(tp, tp + fn),
        "precision": ratio(tp, tp + fp),
        "specificity": ratio(tn, tn + fp),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "mcc": matthews_corrcoef(tp, fp, tn, fn),
    }


def paper_f1(recall: float, fp: float, fn: float) -> float:
    """The paper's Equation (15), 2·Recall / (2·Recall + FP + FN): a ratio over counts, not F1.

    It reproduces every F1 of the paper's Table 9 and is used only to show that number beside
    the real F1 in ``mcal replay-paper``; never as a metric of its own.
    """
    return ratio(2 * recall, 2 * recall + fp + fn)


class BinaryMCC(BinaryMatthewsCorrCoef):
    """torchmetrics' MCC with sklearn's convention: 0 wherever the formula divides by zero.

    torchmetrics takes an epsilon limit there instead, e.g. about -0.04 for a model that calls
    every one of 40 malignant and 60 benign ROIs malignant, so a collapsed model would not score 0.
    """

    def compute(self) -> Tensor:
        tn, fp, fn, tp = self.confmat.flatten().tolist()
        return torch.tensor(matthews_corrcoef(tp, fp, tn, fn), device=self.confmat.device)


def binary_metrics(prefix: str = "") -> MetricCollection:
    """SCALAR_METRICS plus "confmat" ([[TN, FP], [FN, TP]]); update with probabilities, 0/1 labels.

    Thresholds probabilities at 0.5; names come out as prefix + name, e.g. "val/mcc".
    """
    return MetricCollection({
        "accuracy": BinaryAccuracy(),
        "recall": BinaryRecall(),
        "precision": BinaryPrecision(),
        "specificity": BinarySpecificity(),
        "f1": BinaryF1Score(),
        "mcc": BinaryMCC(),
        "auroc": BinaryAUROC(),
        "confmat": BinaryConfusionMatrix(),
    }, prefix=prefix)

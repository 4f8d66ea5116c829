"""The seed paper's printed Table 9, for the replay's reference column.

Leong YS et al. (2022), Front. Public Health 10:875305, doi:10.3389/fpubh.2022.875305 (CC BY 4.0).
The paper calls benign "positive"; mcal's positive class is malignant, so ``reference_scores``
swaps recall and specificity and takes precision and F1 from the confusion matrix worked back
from the printed ratios (the paper printed neither for malignant). Accuracy and MCC do not
depend on the naming; MCC is as printed (ResNet34's 0.8950 does not follow from its own ratios).
"""

from __future__ import annotations

from dataclasses import dataclass

from mcal_lightning.evaluation.metrics import metrics_from_confusion


@dataclass(frozen=True)
class Table9Row:
    """One architecture of Table 9, in the paper's naming (positive = benign)."""

    recall: float
    precision: float
    specificity: float
    accuracy: float
    f1_as_printed: float  # Equation (15), not F1
    mcc_as_printed: float
    tp: int  # the confusion matrix behind the ratios: benign called benign
    fn: int
    fp: int
    tn: int


TABLE9 = {
    "resnet34": Table9Row(1.0000, 0.9897, 0.9802, 0.9932, 0.1818, 0.8950, 865, 0, 9, 445),
    "resnet50": Table9Row(0.9988, 1.0000, 1.0000, 0.9992, 0.6664, 0.9983, 832, 1, 0, 489),
    "vgg16": Table9Row(0.9954, 0.9897, 0.9800, 0.9902, 0.1328, 0.9781, 866, 4, 9, 441),
    "alexnet": Table9Row(0.9239, 0.8979, 0.8239, 0.8865, 0.0122, 0.7558, 765, 63, 87, 407),
}
SOURCE = "Leong et al. 2022, Table 9 (on its leaky random 20% of rotated copies)"


def reference_scores(arch: str) -> dict[str, float]:
    """Table 9 for arch in mcal's naming (malignant = positive); {} for an arch it lacks."""
    row = TABLE9.get(arch)
    if row is None:
        return {}
    # malignant-positive counts: the paper's TN are malignant called malignant, and so on
    malignant = metrics_from_confusion(tp=row.tn, fp=row.fn, tn=row.tp, fn=row.fp)
    return {"accuracy": row.accuracy, "recall": row.specificity,
            "precision": malignant["precision"], "specificity": row.recall,
            "f1": malignant["f1"], "f1_paper": row.f1_as_printed, "mcc": row.mcc_as_printed}

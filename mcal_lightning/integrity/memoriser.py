"""A pure memoriser: 1-nearest-neighbour on pixels, what a split leaks to a model that remembers.

A network only profits from a leaky split once it has memorised its training ROIs. This
reference needs no training: it labels each evaluation image like its nearest training image
in any quarter turn (downscaled, each image standardised), so it scores what remembering alone
is worth under a split. Beside the replay's trained model, it separates "the split leaks"
from "this model learned enough to exploit it".
"""

from __future__ import annotations

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score

from mcal_lightning.evaluation.metrics import metrics_from_confusion

THUMB_PX = 32
ROTATIONS = 4
MEMORISER_METRICS = ("accuracy", "mcc", "auroc")


def thumbnails(images: np.ndarray, rows: np.ndarray, turns: np.ndarray) -> np.ndarray:
    """(n, THUMB_PX**2) float32: each ROI turned k quarter turns, downscaled, standardised."""
    out = np.empty((len(rows), THUMB_PX * THUMB_PX), np.float32)
    for i, (row, k) in enumerate(zip(rows, turns, strict=True)):
        small = cv2.resize(np.rot90(np.asarray(images[row]), int(k)).astype(np.float32),
                           (THUMB_PX, THUMB_PX), interpolation=cv2.INTER_AREA).ravel()
        out[i] = (small - small.mean()) / (small.std() + 1e-6)
    return out


def all_turns(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row in its 4 quarter turns: the rotations a trained model would be shown."""
    rows = np.asarray(rows, dtype=np.int64)
    return np.repeat(rows, ROTATIONS), np.tile(np.arange(ROTATIONS), len(rows))


def nearest_distances(train: np.ndarray, labels: np.ndarray,
                      queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared distance of each query to its nearest benign and nearest malignant image."""
    squared = ((queries**2).sum(1)[:, None] + (train**2).sum(1)[None, :]
               - 2.0 * queries @ train.T)
    benign = squared[:, labels == 0].min(axis=1, initial=np.inf)
    malignant = squared[:, labels == 1].min(axis=1, initial=np.inf)
    return benign, malignant


def memoriser_scores(images: np.ndarray, train: tuple[np.ndarray, np.ndarray, np.ndarray],
                     evaluate: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[str, float]:
    """accuracy, mcc and auroc of 1-NN; each side is (rows, quarter turns, labels)."""
    train_rows, train_turns, train_labels = train
    eval_rows, eval_turns, eval_labels = evaluate
    reference = thumbnails(images, train_rows, train_turns)
    known = np.asarray(train_labels, dtype=np.int64)
    turned = [nearest_distances(reference, known,
                                thumbnails(images, eval_rows, (np.asarray(eval_turns) + j) % 4))
              for j in range(ROTATIONS)]  # a rotated copy matches its twin in one of them
    benign = np.min([found[0] for found in turned], axis=0)
    malignant = np.min([found[1] for found in turned], axis=0)
    predicted = (malignant < benign).astype(np.int64)
    truth = np.asarray(eval_labels, dtype=np.int64)
    tp = int(((predicted == 1) & (truth == 1)).sum())
    fp = int(((predicted == 1) & (truth == 0)).sum())
    tn = int(((predicted == 0) & (truth == 0)).sum())
    fn = int(((predicted == 0) & (truth == 1)).sum())
    found = metrics_from_confusion(tp, fp, tn, fn)
    both = len(np.unique(truth)) == 2
    auroc = float(roc_auc_score(truth, benign - malignant)) if both else float("nan")
    return {"accuracy": found["accuracy"], "mcc": found["mcc"], "auroc": auroc}

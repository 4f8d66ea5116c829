"""Figures people would rather look at than read: confusion matrix, ROC, PR, top losses."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files and MLflow, never to a window

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import auc, precision_recall_curve, roc_curve

CLASS_NAMES = ("benign", "malignant")


def confusion_matrix_figure(matrix: np.ndarray, title: str = "confusion matrix") -> Figure:
    """2x2 counts, rows = actual, columns = predicted (malignant is the positive class)."""
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(matrix, cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        color = "white" if count > matrix.max() / 2 else "black"
        ax.text(col, row, str(int(count)), ha="center", va="center", color=color, fontsize=14)
    ax.set_xticks([0, 1], CLASS_NAMES)
    ax.set_yticks([0, 1], CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def curve_figure(x: np.ndarray, y: np.ndarray, labels: tuple[str, str],
                 title: str) -> tuple[Figure, Any]:
    """One curve with its area under it in the legend; the caller adds a reference line."""
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(x, y, label=f"AUC {auc(x, y):.3f}")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title)
    return fig, ax


def roc_figure(labels: np.ndarray, probs: np.ndarray, title: str = "ROC") -> Figure:
    fpr, tpr, _ = roc_curve(labels, probs)
    fig, ax = curve_figure(fpr, tpr, ("1 - specificity", "sensitivity"), title)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="chance")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def pr_figure(labels: np.ndarray, probs: np.ndarray, title: str = "precision-recall") -> Figure:
    precision, recall, _ = precision_recall_curve(labels, probs)
    fig, ax = curve_figure(recall, precision, ("recall (sensitivity)", "precision"), title)
    ax.axhline(float(np.mean(labels)), linestyle="--", color="grey", linewidth=0.8,
               label="prevalence")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def top_losses_figure(images: np.ndarray, labels: np.ndarray, probs: np.ndarray,
                      losses: np.ndarray, k: int = 16) -> Figure:
    """The k worst predictions, titled prediction / actual / loss / probability as fastai does."""
    order = np.argsort(-losses)[:k]
    cols = int(np.ceil(np.sqrt(len(order)))) or 1
    rows = int(np.ceil(len(order) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), order, strict=False):
        predicted = CLASS_NAMES[int(probs[i] >= 0.5)]
        ax.imshow(images[i], cmap="gray")
        ax.set_title(f"{predicted}/{CLASS_NAMES[int(labels[i])]}\n"
                     f"{losses[i]:.2f}/{probs[i]:.2f}", fontsize=8)
    fig.suptitle("top losses: prediction/actual, loss/p(malignant)", fontsize=9)
    fig.tight_layout()
    return fig


def fold_metrics_figure(table: Any, metrics: tuple[str, ...], title: str) -> Figure:
    """Each metric's per-fold values as dots over a bar of their mean, whiskers ± 1 sd."""
    shown = [name for name in metrics if name in table]
    fig, ax = plt.subplots(figsize=(1.1 * len(shown) + 2, 3.6))
    x = np.arange(len(shown))
    means, sds = table[shown].mean(), table[shown].std(ddof=1).fillna(0)
    ax.bar(x, means, yerr=sds, color="#9ecae1", capsize=4, label="mean ± sd")
    for fold, values in table[shown].iterrows():
        ax.scatter(x, values, s=14, zorder=3, label=f"fold {fold}")
    ax.set_xticks(x, shown)
    ax.set_ylim(min(0.0, float(table[shown].min().min())) - 0.05, 1.05)
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    return fig

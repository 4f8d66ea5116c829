import numpy as np
from matplotlib.figure import Figure

from mcal_lightning.evaluation.plots import (
    confusion_matrix_figure,
    pr_figure,
    roc_figure,
    top_losses_figure,
)


def legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_curves_report_their_area():
    labels = np.array([0, 0, 1, 1])
    assert "AUC 1.000" in legend_texts(roc_figure(labels, np.array([0.1, 0.2, 0.8, 0.9])))
    assert "AUC 0.000" in legend_texts(roc_figure(labels, np.array([0.9, 0.8, 0.2, 0.1])))
    assert any(t.startswith("AUC") for t in legend_texts(pr_figure(labels, labels * 0.5)))


def test_confusion_matrix_shows_the_counts():
    fig = confusion_matrix_figure(np.array([[5, 1], [2, 7]]))
    shown = {t.get_text() for t in fig.axes[0].texts}
    assert shown == {"5", "1", "2", "7"}


def test_top_losses_orders_by_loss():
    images = np.zeros((5, 8, 8))
    losses = np.array([0.1, 3.0, 0.5, 2.0, 0.2])
    fig = top_losses_figure(images, np.array([0, 1, 0, 1, 0]), np.full(5, 0.4), losses, k=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].endswith("3.00/0.40") and titles[1].endswith("2.00/0.40")

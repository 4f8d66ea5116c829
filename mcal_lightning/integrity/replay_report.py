"""The replay's comparison of the paper and honest protocols: table, bar chart, artifacts.

Beside the two protocols' scores sits a reference column: what the paper printed (Table 9) for
the same architecture. ``f1_paper`` is the paper's Equation (15), shown next to the real F1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mcal_lightning.tracking.store import log_figure

METRICS = ("accuracy", "recall", "precision", "specificity", "f1", "f1_paper", "mcc", "auroc")
PAPER, HONEST, INFLATION = "paper protocol", "honest protocol", "inflation (points)"
PRINTED = "paper as printed"  # Table 9 for the same architecture; NaN where it printed none
ARTIFACTS = "replay"
COLORS = {PAPER: "#de2d26", HONEST: "#3182bd"}


def comparison_table(paper: Mapping[str, float], honest: Mapping[str, float],
                     printed: Mapping[str, float] | None = None,
                     metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """A row per metric: both protocols' scores, the inflation (a - b) * 100 and, given printed,
    the paper's own number (NaN where it printed none)."""
    frame = pd.DataFrame({PAPER: [float(paper[m]) for m in metrics],
                          HONEST: [float(honest[m]) for m in metrics]},
                         index=pd.Index(metrics, name="metric"))
    frame[INFLATION] = (frame[PAPER] - frame[HONEST]) * 100
    if printed is not None:
        frame[PRINTED] = [float(printed.get(m, np.nan)) for m in metrics]
    return frame


def comparison_figure(table: pd.DataFrame, title: str) -> Figure:
    """Grouped bars of both protocols per metric, each pair labelled with its inflation."""
    x = np.arange(len(table))
    width = 0.38
    fig, ax = plt.subplots(figsize=(1.1 * len(table) + 1.5, 4.0))
    for offset, column in ((-width / 2, PAPER), (width / 2, HONEST)):
        bars = ax.bar(x + offset, table[column], width, label=column, color=COLORS[column])
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    if PRINTED in table:
        ax.scatter(x, table[PRINTED], marker="_", s=400, color="black", zorder=3,
                   label=f"{PRINTED} (Table 9)")
    for position, (paper, honest, points) in zip(x, table[[PAPER, HONEST, INFLATION]].values,
                                                 strict=True):
        top = max(paper, honest, 0.0)
        ax.annotate(f"{points:+.1f} pts", (position, top), xytext=(0, 14),
                    textcoords="offset points", ha="center", fontsize=9, fontweight="bold")
    low = min(0.0, float(table[[PAPER, HONEST]].min().min()))
    ax.set_ylim(low - 0.05 if low < 0 else 0, 1.18)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(x, list(table.index))
    ax.set_ylabel("score")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=3, fontsize=8)
    fig.tight_layout()
    return fig


def comparison_record(table: pd.DataFrame, honest_val: Mapping[str, float],
                      details: Mapping[str, Any]) -> dict[str, Any]:
    """What comparison.json holds: the table by metric, the honest val scores, the setting."""
    by_metric = {metric: {"paper": row[PAPER], "honest": row[HONEST],
                          "inflation_points": row[INFLATION],
                          **({"paper_as_printed": None if np.isnan(row[PRINTED])
                              else float(row[PRINTED])} if PRINTED in table else {})}
                 for metric, row in table.iterrows()}
    return {"metrics": by_metric,
            "honest_val_reference": {m: float(honest_val[m]) for m in METRICS},
            **details}


def log_comparison(table: pd.DataFrame, honest_val: Mapping[str, float],
                   details: Mapping[str, Any], title: str) -> None:
    """replay/comparison.json, .csv and .png into the active MLflow run."""
    mlflow.log_dict(comparison_record(table, honest_val, details),
                    f"{ARTIFACTS}/comparison.json")
    mlflow.log_text(table.to_csv(), f"{ARTIFACTS}/comparison.csv")
    log_figure(comparison_figure(table, title), f"{ARTIFACTS}/comparison.png")

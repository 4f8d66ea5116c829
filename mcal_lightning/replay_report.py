"""The replay's comparison of the paper and honest protocols: table, bar chart, artifacts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mcal_lightning.tracking import log_figure

METRICS = ("accuracy", "mcc", "auroc")
PAPER, HONEST, INFLATION = "paper protocol", "honest protocol", "inflation (points)"
ARTIFACTS = "replay"
COLORS = {PAPER: "#de2d26", HONEST: "#3182bd"}


def comparison_table(paper: Mapping[str, float], honest: Mapping[str, float]) -> pd.DataFrame:
    """Rows accuracy, mcc, auroc; the two protocols' scores and the inflation, (a - b) * 100."""
    frame = pd.DataFrame({PAPER: [float(paper[m]) for m in METRICS],
                          HONEST: [float(honest[m]) for m in METRICS]},
                         index=pd.Index(METRICS, name="metric"))
    frame[INFLATION] = (frame[PAPER] - frame[HONEST]) * 100
    return frame


def comparison_figure(table: pd.DataFrame, title: str) -> Figure:
    """Grouped bars of both protocols per metric, each pair labelled with its inflation."""
    x = np.arange(len(table))
    width = 0.38
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for offset, column in ((-width / 2, PAPER), (width / 2, HONEST)):
        bars = ax.bar(x + offset, table[column], width, label=column, color=COLORS[column])
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
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
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2, fontsize=8)
    fig.tight_layout()
    return fig


def comparison_record(table: pd.DataFrame, honest_val: Mapping[str, float],
                      details: Mapping[str, Any]) -> dict[str, Any]:
    """What comparison.json holds: the table by metric, the honest val scores, the setting."""
    by_metric = {metric: {"paper": row[PAPER], "honest": row[HONEST],
                          "inflation_points": row[INFLATION]}
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

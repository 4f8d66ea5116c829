"""The sweep leaderboard: one row per trial, best first, from the study alone."""

from __future__ import annotations

import math

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from mcal_lightning.sweep.study import SURPLUS, TAG

COLUMNS = ["trial", "arch", "batch", "lr range", "epochs", "val mcc", "val mcc 95% ci", "val f1",
           "val auc", "val acc", "state"]
LESION_COLUMNS = {"val lesion mcc": "val/lesion/mcc", "val lesion auc": "val/lesion/auroc"}


def lr_range(trial: FrozenTrial) -> str:
    low, high = trial.user_attrs.get("lr_min"), trial.user_attrs.get("lr_max")
    return "" if low is None or high is None else f"{low:.3g}..{high:.3g}"


def epochs_run(trial: FrozenTrial) -> str:
    """Epochs as configured; a pruned trial shows how many it ran."""
    planned = trial.user_attrs.get("epochs", "")
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        return f"{max(trial.intermediate_values) + 1}/{planned}"
    return str(planned)


def metric(trial: FrozenTrial, name: str) -> float:
    value = trial.user_attrs.get(f"val/{name}")
    if value is None and name == "mcc" and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]  # the last report
    return float("nan") if value is None else float(value)


def interval(trial: FrozenTrial, name: str) -> str:
    """The patient-bootstrap 95% CI recorded for the trial, as "0.41..0.66"; "" if none."""
    low = trial.user_attrs.get(f"val/{name}_ci_low")
    high = trial.user_attrs.get(f"val/{name}_ci_high")
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return ""
    return f"{low:.2f}..{high:.2f}"


def row(trial: FrozenTrial) -> dict[str, object]:
    return {"trial": trial.number, "arch": trial.user_attrs.get("arch", ""),
            "batch": trial.user_attrs.get("batch_size", ""), "lr range": lr_range(trial),
            "epochs": epochs_run(trial), "val mcc": metric(trial, "mcc"),
            "val mcc 95% ci": interval(trial, "mcc"), "val f1": metric(trial, "f1"),
            "val auc": metric(trial, "auroc"), "val acc": metric(trial, "accuracy"),
            "state": trial.state.name, **lesion_metrics(trial), **tags(trial)}


def lesion_metrics(trial: FrozenTrial) -> dict[str, float]:
    """The val metrics per lesion (views averaged), for trials whose data knows lesions."""
    return {column: float(trial.user_attrs[name]) for column, name in LESION_COLUMNS.items()
            if name in trial.user_attrs}


def tags(trial: FrozenTrial) -> dict[str, object]:
    """The trial's grid-point tags as columns: paper_accuracy -> "paper accuracy"."""
    return {name.removeprefix(TAG).replace("_", " "): value
            for name, value in trial.user_attrs.items() if name.startswith(TAG)}


def objective_value(trial: FrozenTrial, maximize: bool) -> float:
    if trial.state == TrialState.COMPLETE and trial.value is not None:
        return trial.value if maximize else -trial.value
    return -math.inf


def leaderboard(study: optuna.Study) -> pd.DataFrame:
    """Completed trials by objective value (best first), then pruned, failed and running.

    Data with lesion ids adds "val lesion mcc" and "val lesion auc" (lesions.py) before
    "state". A grid whose points carry tags (sweeps/paper_grid.yaml: the paper's test number
    and the accuracy it printed) gets one more column per tag, after the others.
    """
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    order = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.RUNNING: 2,
             TrialState.WAITING: 3, TrialState.FAIL: 4}
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(SURPLUS)]
    trials.sort(key=lambda t: (order[t.state], -objective_value(t, maximize), t.number))
    rows = [row(t) for t in trials]
    lesions = [name for name in LESION_COLUMNS if any(name in r for r in rows)]
    columns = COLUMNS[:-1] + lesions + COLUMNS[-1:]
    extra = list(dict.fromkeys(name for r in rows for name in r if name not in columns))
    return pd.DataFrame(rows, columns=columns + extra)

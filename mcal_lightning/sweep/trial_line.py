"""One console line per finished trial: what it tried, what it scored, how long, how it ended."""

from __future__ import annotations

import math

from optuna.trial import FrozenTrial, TrialState

from mcal_lightning.sweep.leaderboard import epochs_run
from mcal_lightning.sweep.study import SURPLUS
from mcal_lightning.sweep.summary import PARAMETERS

SHOWN_APART = ("arch", "epochs")  # searched, but said in their own place on the line


def number(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def model_size(trial: FrozenTrial) -> str:
    count = trial.user_attrs.get(PARAMETERS)
    return "" if count is None else f" ({count / 1e6:.1f} M params)"


def searched(trial: FrozenTrial) -> str:
    return ", ".join(f"{name} {number(value)}" for name, value in trial.params.items()
                     if name not in SHOWN_APART)


def scored(trial: FrozenTrial, metric: str) -> str:
    """``val/mcc 0.41 (95% CI 0.12 to 0.66)``; a pruned trial's last report; "" if none."""
    if trial.state == TrialState.COMPLETE and trial.value is not None:
        value, label = trial.value, metric
    elif trial.intermediate_values:
        value, label = trial.intermediate_values[max(trial.intermediate_values)], f"last {metric}"
    else:
        return ""
    low = trial.user_attrs.get(f"{metric}_ci_low")
    high = trial.user_attrs.get(f"{metric}_ci_high")
    known = low is not None and high is not None and not (math.isnan(low) or math.isnan(high))
    return f"{label} {value:.2f}" + (f" (95% CI {low:.2f} to {high:.2f})" if known else "")


def duration(trial: FrozenTrial) -> str:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return ""
    seconds = round((trial.datetime_complete - trial.datetime_start).total_seconds())
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def trial_line(trial: FrozenTrial, metric: str) -> str | None:
    """``trial 3: resnet34 (21.3 M params), batch_size 16, lr_max 0.0023: val/mcc 0.41 (95% CI
    0.12 to 0.66), 3 epochs, 41 s, COMPLETE``; None for a surplus trial (it never ran)."""
    if trial.user_attrs.get(SURPLUS):
        return None
    arch = trial.user_attrs.get("arch") or trial.params.get("arch", "")
    what = ", ".join(part for part in (f"{arch}{model_size(trial)}", searched(trial)) if part)
    epochs = epochs_run(trial)
    how = [scored(trial, metric), f"{epochs} epochs" if epochs else "", duration(trial),
           trial.state.name]
    return f"trial {trial.number}: {what}: " + ", ".join(part for part in how if part)

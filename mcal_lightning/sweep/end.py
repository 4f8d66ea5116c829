"""The end of a sweep: leaderboard and Optuna plots on the parent run, then the champion."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: Optuna's plots import pyplot, their figures go to MLflow

import logging
import warnings
from collections.abc import Callable
from typing import Any

import mlflow
import optuna
from mlflow import MlflowClient
from optuna.visualization import matplotlib as plots

from mcal_lightning.sweep.config import Sweep
from mcal_lightning.sweep.ensemble import crown_ensemble
from mcal_lightning.sweep.leaderboard import leaderboard
from mcal_lightning.sweep.study import RUN_ID, completed, trial_states
from mcal_lightning.tracking.champion import crown
from mcal_lightning.tracking.promotion import Promotion
from mcal_lightning.tracking.store import log_figure

log = logging.getLogger(__name__)


def optuna_plots() -> dict[str, Callable[[optuna.Study], Any]]:
    return {"history": plots.plot_optimization_history,
            "param_importances": plots.plot_param_importances,
            "parallel_coordinate": plots.plot_parallel_coordinate}


# plots that compare trials: with fewer complete ones they are empty and Optuna warns
COMPARING = ("param_importances", "parallel_coordinate")


def log_plots(study: optuna.Study) -> list[str]:
    """Each plot that the finished trials allow; returns the ones logged."""
    logged = []
    for name, plot in optuna_plots().items():
        if name in COMPARING and len(completed(study)) < 2:
            log.info("no %s plot: it compares trials, and fewer than 2 completed", name)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                axes = plot(study)
            except (ValueError, RuntimeError) as exc:  # e.g. importances need 2+ trials
                log.info("no %s plot: %s", name, exc)
                continue
        figure = getattr(axes, "figure", None) or axes.flat[0].figure
        figure.set_size_inches(10, 6)
        log_figure(figure, f"optuna/{name}.png")
        logged.append(name)
    return logged


def end_sweep(sweep: Sweep, study: optuna.Study, parent_run_id: str) -> dict[str, Any] | None:
    """Leaderboard, plots and state counts on the parent run; the champion when registering."""
    table = leaderboard(study)
    with mlflow.start_run(run_id=parent_run_id):
        mlflow.log_table(table, "leaderboard.json")
        mlflow.log_text(table.to_csv(index=False), "leaderboard.csv")
        log_plots(study)
        mlflow.set_tags({f"trials.{state.lower()}": str(n)
                         for state, n in trial_states(study).items()})
    record = None
    done = completed(study)
    if sweep.register and done:
        best = study.best_trial
        config = sweep.train_config({k: best.params[k] for k in best.params},
                                    experiment=sweep.experiment)
        with mlflow.start_run(run_id=parent_run_id):
            mlflow.set_tags({"best.trial": str(best.number), "best.run_id": best.user_attrs[RUN_ID],
                             f"best.{sweep.metric}": str(best.value)})
        record = crown(best.user_attrs[RUN_ID], config, sweep.metric,
                       sweep.direction == "maximize", parent_run_id,
                       rule=Promotion(sweep.min_delta, sweep.confidence))
        ensemble = crown_ensemble(sweep, study, config, parent_run_id)
        if ensemble is not None:
            record["ensemble"] = ensemble
    MlflowClient().set_terminated(parent_run_id, status="FINISHED")
    return record

"""The trial side of a sweep: one Optuna trial is one child MLflow run that trains with pruning."""

from __future__ import annotations

import gc
from typing import Any

import lightning.pytorch as pl
import optuna
import torch
from lightning.pytorch.trainer.states import TrainerFn
from mlflow import MlflowClient
from optuna.trial import FrozenTrial
from optuna_integration import PyTorchLightningPruningCallback

from mcal_lightning.crossval import cross_validate, is_cross_validation
from mcal_lightning.evaluation.uncertainty import interval_attrs, lesion_attrs
from mcal_lightning.sweep.config import Param, Sweep
from mcal_lightning.sweep.study import RUN_ID, SURPLUS, TAG, is_surplus
from mcal_lightning.sweep.summary import PARAMETERS, SummaryOnParent
from mcal_lightning.tracking.runs import child_run
from mcal_lightning.tracking.store import use_tracking
from mcal_lightning.train import train

SHOWN = ("arch", "batch_size", "lr_min", "lr_max", "epochs")  # resolved settings, per trial
VAL_METRICS = ("mcc", "f1", "auroc", "accuracy", "loss")


def suggest(trial: optuna.Trial, space: dict[str, Param]) -> dict[str, Any]:
    """The trial's values for the searched settings."""
    values: dict[str, Any] = {}
    for name, p in space.items():
        if p.type == "categorical":
            values[name] = trial.suggest_categorical(name, list(p.choices))
        elif p.type == "int":
            values[name] = trial.suggest_int(name, int(p.low), int(p.high),
                                             step=int(p.step or 1), log=p.log)
        else:
            values[name] = trial.suggest_float(name, p.low, p.high, step=p.step, log=p.log)
    return values


def set_state(run_id: str, state: str, note: str = "") -> None:
    """Tag a trial's run with its Optuna state; pruned and failed runs say why."""
    client = MlflowClient()
    client.set_tag(run_id, "optuna.state", state)
    if note:
        client.set_tag(run_id, "mlflow.note.content", note)
    status = "FAILED" if state == "FAIL" else "FINISHED"
    client.set_terminated(run_id, status=status)


def mark_stale(study: optuna.Study, trial: FrozenTrial) -> None:
    """Heartbeat lost (worker killed): the trial's run says so instead of staying RUNNING."""
    run_id = trial.user_attrs.get(RUN_ID)
    if run_id:
        use_tracking()
        set_state(run_id, "FAIL", f"Trial {trial.number}'s worker stopped sending heartbeats "
                                  "(killed or lost); the trial is retried as a new one.")


class FitPruning(PyTorchLightningPruningCallback):
    """optuna-integration's pruning callback, deaf outside fit.

    train() validates the best checkpoint again after fit; without this the pruner would see
    that extra report as one more epoch, and could prune a trial that had finished.
    """

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_validation_end(trainer, pl_module)


class Objective:
    """One trial: a child MLflow run, a training run with pruning, the val metric back."""

    def __init__(self, sweep: Sweep, parent_run_id: str, budget: int | None) -> None:
        self.sweep, self.parent_run_id, self.budget = sweep, parent_run_id, budget

    def __call__(self, trial: optuna.Trial) -> float:
        if is_surplus(trial, self.budget, self.sweep.sampler["type"] == "grid"):
            trial.set_user_attr(SURPLUS, True)
            raise RuntimeError("surplus trial: the study's budget was spent while it started")
        values = suggest(trial, self.sweep.space)
        config = self.sweep.train_config(values, experiment=self.sweep.experiment,
                                         evaluate_test=False)
        for name in SHOWN:
            trial.set_user_attr(name, getattr(config, name))
        study = trial.study.study_name
        tags = {"optuna.study": study, "optuna.trial": str(trial.number),
                "optuna.state": "RUNNING",
                **{f"optuna.param.{k}": str(v) for k, v in values.items()},
                **{f"mcal.{k}": str(v) for k, v in trial.user_attrs.items() if k.startswith(TAG)}}
        with child_run(self.parent_run_id, self.sweep.experiment,
                       f"{study}-trial-{trial.number}", tags) as run_id:
            trial.set_user_attr(RUN_ID, run_id)
            return self.train(trial, config, run_id)

    def train(self, trial: optuna.Trial, config: Any, run_id: str) -> float:
        pruning = FitPruning(trial, monitor=self.sweep.metric)
        summary = SummaryOnParent(self.parent_run_id, config.arch)
        try:
            result = fit_trial(config, run_id, [pruning, summary])
        except optuna.TrialPruned as exc:
            last = reported_values(trial)
            set_state(run_id, "PRUNED", f"Pruned by the {self.sweep.pruner['type']} pruner: "
                                        f"{exc}. {self.sweep.metric} by epoch: {last}.")
            raise
        except Exception as exc:
            set_state(run_id, "FAIL", f"Trial failed: {type(exc).__name__}: {exc}")
            raise
        finally:
            if summary.parameters is not None:
                trial.set_user_attr(PARAMETERS, summary.parameters)
        metrics = result.metrics("val")
        for name in VAL_METRICS:
            if name in metrics:
                trial.set_user_attr(f"val/{name}", metrics[name])
        objective = self.sweep.metric.removeprefix("val/")
        for name, value in interval_attrs(result, "val", tuple({"mcc", objective})).items():
            trial.set_user_attr(name, value)  # 95% CIs: val MCC's and the objective's
        for name, value in lesion_attrs(result, "val").items():
            trial.set_user_attr(name, value)  # the leaderboard's lesion-level columns
        set_state(run_id, "COMPLETE")
        return metrics[self.sweep.metric.removeprefix("val/")]


def fit_trial(config: Any, run_id: str, callbacks: list[pl.Callback]) -> Any:
    """One training run, or with data.folds (and no fold) the mean over every fold.

    Under cross-validation the callbacks (the pruner) follow fold 0; the objective is the fold
    mean.
    """
    if is_cross_validation(config):
        return cross_validate(config, run_id=run_id, first_fold_callbacks=callbacks)
    return train(config, run_id=run_id, callbacks=callbacks)


def reported_values(trial: optuna.Trial) -> dict[int, float]:
    """The values the trial reported to the pruner, by epoch."""
    for frozen in trial.study.get_trials(deepcopy=False):
        if frozen.number == trial.number:
            return {step: round(value, 4) for step, value in frozen.intermediate_values.items()}
    return {}


def free_memory(study: optuna.Study, trial: FrozenTrial) -> None:
    """Between trials: Python garbage, then the CUDA cache, so the next trial starts clean."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

"""``mcal sweep``: Optuna trials, each a nested MLflow run, then the leaderboard and champion.

One parent MLflow run per study (its id kept in the study), one child run per trial. Several
processes, on one host or many, may run the same sweep against one storage: each takes trials
until the study's budget is spent, and the one that sees the last trial end ends the sweep
(leaderboard, Optuna plots, champion).
"""

from __future__ import annotations

import gc
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import mlflow
import optuna
from lightning.pytorch.trainer.states import TrainerFn
from mlflow import MlflowClient
from optuna.trial import FrozenTrial, TrialState
from optuna_integration import PyTorchLightningPruningCallback

from mcal_lightning.sweep.config import Param, Sweep
from mcal_lightning.sweep.study import (
    EXPERIMENT,
    PARENT_RUN,
    SURPLUS,
    SWEEP_HASH,
    TAG,
    counts,
    default_storage,
    end_once,
    is_surplus,
    make_storage,
    open_study,
    redact,
    sweep_hash,
)
from mcal_lightning.tracking.store import experiment_id, use_tracking
from preprocessing.cache import resolve_dataset

log = logging.getLogger(__name__)
RUN_ID = "mlflow_run_id"  # trial user attr
DATA = "data_fingerprint"  # study user attr: the cache dataset it was run on
SHOWN = ("arch", "batch_size", "lr_min", "lr_max", "epochs")  # resolved settings, per trial
VAL_METRICS = ("mcc", "f1", "auroc", "accuracy", "loss")


@dataclass
class SweepOutcome:
    study: optuna.Study
    parent_run_id: str
    ended_here: bool  # this process ended the sweep (leaderboard, plots, champion)
    champion: dict[str, Any] | None = None


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

    def child_run(self, trial: optuna.Trial, values: dict[str, Any]) -> str:
        tags = {"mlflow.parentRunId": self.parent_run_id, "optuna.study": trial.study.study_name,
                "optuna.trial": str(trial.number), "optuna.state": "RUNNING",
                **{f"optuna.param.{k}": str(v) for k, v in values.items()},
                **{f"mcal.{k}": str(v) for k, v in trial.user_attrs.items() if k.startswith(TAG)}}
        run = MlflowClient().create_run(experiment_id(self.sweep.experiment), tags=tags,
                                        run_name=f"{trial.study.study_name}-trial-{trial.number}")
        return run.info.run_id

    def __call__(self, trial: optuna.Trial) -> float:
        if is_surplus(trial, self.budget, self.sweep.sampler["type"] == "grid"):
            trial.set_user_attr(SURPLUS, True)
            raise RuntimeError("surplus trial: the study's budget was spent while it started")
        values = suggest(trial, self.sweep.space)
        config = self.sweep.train_config(values, experiment=self.sweep.experiment,
                                         evaluate_test=False)
        for name in SHOWN:
            trial.set_user_attr(name, getattr(config, name))
        run_id = self.child_run(trial, values)
        trial.set_user_attr(RUN_ID, run_id)
        return self.train(trial, config, run_id)

    def train(self, trial: optuna.Trial, config: Any, run_id: str) -> float:
        pruning = FitPruning(trial, monitor=self.sweep.metric)
        try:
            result = fit_trial(config, run_id, pruning)
        except optuna.TrialPruned as exc:
            last = reported_values(trial)
            set_state(run_id, "PRUNED", f"Pruned by the {self.sweep.pruner['type']} pruner: "
                                        f"{exc}. {self.sweep.metric} by epoch: {last}.")
            raise
        except Exception as exc:
            set_state(run_id, "FAIL", f"Trial failed: {type(exc).__name__}: {exc}")
            raise
        from mcal_lightning.evaluation.uncertainty import interval_attrs

        metrics = result.metrics("val")
        for name in VAL_METRICS:
            if name in metrics:
                trial.set_user_attr(f"val/{name}", metrics[name])
        for name, value in interval_attrs(result, "val", ("mcc",)).items():
            trial.set_user_attr(name, value)  # the leaderboard's 95% CI of val MCC
        set_state(run_id, "COMPLETE")
        return metrics[self.sweep.metric.removeprefix("val/")]


def fit_trial(config: Any, run_id: str, pruning: pl.Callback) -> Any:
    """One training run, or with data.folds (and no fold) the mean over every fold.

    Under cross-validation the pruner follows fold 0's curve; the objective is the fold mean.
    """
    from mcal_lightning.crossval import cross_validate, is_cross_validation
    from mcal_lightning.train import train

    if is_cross_validation(config):
        return cross_validate(config, run_id=run_id, first_fold_callbacks=[pruning])
    return train(config, run_id=run_id, callbacks=[pruning])


def reported_values(trial: optuna.Trial) -> dict[int, float]:
    """The values the trial reported to the pruner, by epoch."""
    for frozen in trial.study.get_trials(deepcopy=False):
        if frozen.number == trial.number:
            return {step: round(value, 4) for step, value in frozen.intermediate_values.items()}
    return {}


def free_memory(study: optuna.Study, trial: FrozenTrial) -> None:
    """Between trials: Python garbage, then the CUDA cache, so the next trial starts clean."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def parent_run(sweep: Sweep, study: optuna.Study, created: bool, storage_url: str) -> str:
    """The study's MLflow parent run: made by the process that created the study."""
    if not created:
        for _ in range(60):  # the creating worker sets it right after creating the study
            run_id = study.user_attrs.get(PARENT_RUN)
            if run_id:
                return str(run_id)
            time.sleep(0.5)
            study = optuna.load_study(study_name=study.study_name, storage=study._storage)
    tags = {"optuna.study": study.study_name, "optuna.storage": redact(storage_url),
            "mcal.sweep_file": str(sweep.path), "mcal.sweep_sha1": sweep_hash(sweep)}
    run = MlflowClient().create_run(experiment_id(sweep.experiment), tags=tags,
                                    run_name=study.study_name)
    study.set_user_attr(PARENT_RUN, run.info.run_id)
    study.set_user_attr(EXPERIMENT, sweep.experiment)
    with mlflow.start_run(run_id=run.info.run_id):
        mlflow.log_params({"sampler": sweep.sampler["type"], "pruner": sweep.pruner["type"],
                           "objective": f"{sweep.direction} {sweep.metric}",
                           "n_trials": sweep.trial_budget(), "timeout": sweep.timeout,
                           **{f"space.{k}": v for k, v in describe_space(sweep).items()}})
        mlflow.log_artifact(str(sweep.path), "sweep")
    return run.info.run_id


def describe_space(sweep: Sweep) -> dict[str, str]:
    out = {}
    for name, p in sweep.space.items():
        if p.type == "categorical":  # " | ": an lr_range choice holds a comma itself
            out[name] = " | ".join(map(str, p.choices))
        else:
            out[name] = f"{p.type} [{p.low}, {p.high}]" + (" log" if p.log else "")
    return out


def warn_if_changed(sweep: Sweep, study: optuna.Study) -> None:
    recorded = study.user_attrs.get(SWEEP_HASH)
    if recorded and recorded != sweep_hash(sweep):
        log.warning("study %s was started from a different version of %s; its earlier trials "
                    "searched the old space", study.study_name, sweep.path)


def take_trials(study: optuna.Study, objective: Objective, budget: int | None,
                timeout: float | None, patience: float) -> None:
    """Trials until the budget or timeout is spent.

    When the budget is taken by RUNNING trials this process waits, at most ``patience``
    seconds, for one of them to fail stale (a killed worker's trial is retried here).
    """
    start = time.monotonic()
    waiting_since: float | None = None
    while timeout is None or time.monotonic() - start < timeout:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        finished, running = counts(study)
        if budget is not None and finished >= budget:
            return
        if budget is not None and finished + running >= budget:
            waiting_since = waiting_since or time.monotonic()
            if time.monotonic() - waiting_since > patience:
                log.info("%d trial(s) still running on other workers; this worker stops",
                         running)
                return
            time.sleep(min(2.0, patience / 10))
            continue
        waiting_since = None
        left = None if timeout is None else max(1.0, timeout - (time.monotonic() - start))
        study.optimize(objective, n_trials=1, timeout=left, catch=(Exception,),
                       gc_after_trial=True, callbacks=[free_memory])


def audit_data(sweep: Sweep) -> None:
    """The leakage audit once before any trial: a leaky split would fail every trial alike."""
    from mcal_lightning.integrity.audit_gate import audit_datamodule
    from mcal_lightning.train import make_datamodule

    config = sweep.train_config({})
    audit_datamodule(make_datamodule(config), config.audit)


class StudyMismatch(ValueError):
    """An existing study of that name was run on other data."""


def check_data(study: optuna.Study, created: bool, fingerprint: str) -> None:
    """A study belongs to one cache dataset: a resumed study must see the same one."""
    if created:
        study.set_user_attr(DATA, fingerprint)
        return
    recorded = study.user_attrs.get(DATA)
    if recorded and recorded != fingerprint:
        raise StudyMismatch(
            f"study '{study.study_name}' was run on cache dataset {recorded}, this cache holds "
            f"{fingerprint}; resume it on the same cache or pass --study NEW_NAME")


def run_sweep(sweep: Sweep, storage_url: str | None = None, study_name: str | None = None,
              n_trials: int | None = None, end: bool = True) -> SweepOutcome:
    """Run (or resume) the sweep's study; end it here when this process sees the last trial."""
    use_tracking()
    fingerprint = resolve_dataset(Path(sweep.data["cache"])).name  # fails early without a cache
    audit_data(sweep)
    url = storage_url or default_storage()
    storage = make_storage(url, sweep, on_stale=mark_stale)
    study, created = open_study(sweep, storage, study_name or sweep.study)
    check_data(study, created, fingerprint)
    warn_if_changed(sweep, study)
    parent = parent_run(sweep, study, created, url)
    budget = n_trials or sweep.trial_budget()
    objective = Objective(sweep, parent, budget)
    take_trials(study, objective, budget, sweep.timeout, sweep.grace_period + 2 * sweep.
                heartbeat_interval)
    outcome = SweepOutcome(study, parent, ended_here=False)
    finished, running = counts(study)
    if end and running == 0 and end_once(study, storage, finished):
        from mcal_lightning.sweep.end import end_sweep

        outcome.ended_here = True
        outcome.champion = end_sweep(sweep, study, parent)
    return outcome


def trial_states(study: optuna.Study) -> dict[str, int]:
    states: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(SURPLUS):
            continue
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    return states


def completed(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))

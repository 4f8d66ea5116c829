"""``mcal sweep``: a study's parent MLflow run, workers taking trials, and the end by the last one.

One parent MLflow run per study (its id kept in the study), one child run per trial. Several
processes, on one host or many, may run the same sweep against one storage: each takes trials
until the study's budget is spent, and the one that sees the last trial end ends the sweep
(leaderboard, Optuna plots, champion).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import optuna
from optuna.trial import FrozenTrial

from mcal_lightning.integrity.audit_gate import audit_datamodule
from mcal_lightning.sweep.config import Sweep
from mcal_lightning.sweep.end import end_sweep
from mcal_lightning.sweep.objective import Objective, free_memory, mark_stale
from mcal_lightning.sweep.study import (
    EXPERIMENT,
    PARENT_RUN,
    SWEEP_HASH,
    counts,
    default_storage,
    end_once,
    make_storage,
    open_study,
    pending_retries,
    redact,
    sweep_hash,
)
from mcal_lightning.tracking.runs import parent_run
from mcal_lightning.tracking.store import use_tracking
from mcal_lightning.train import make_datamodule
from preprocessing.cache import resolve_dataset

log = logging.getLogger(__name__)
DATA = "data_fingerprint"  # study user attr: the cache dataset it was run on
TrialHook = Callable[[FrozenTrial], None]  # called in this worker as each of its trials ends


@dataclass
class SweepOutcome:
    study: optuna.Study
    parent_run_id: str
    ended_here: bool  # this process ended the sweep (leaderboard, plots, champion)
    champion: dict[str, Any] | None = None


def sweep_parent(sweep: Sweep, study: optuna.Study, created: bool, storage_url: str) -> str:
    """The study's MLflow parent run: made by the process that created the study.

    It stays open for the trials of every worker; the worker that ends the sweep ends it.
    """
    if not created:
        for _ in range(60):  # the creating worker sets it right after creating the study
            run_id = study.user_attrs.get(PARENT_RUN)
            if run_id:
                return str(run_id)
            time.sleep(0.5)
            study = optuna.load_study(study_name=study.study_name, storage=study._storage)
    tags = {"optuna.study": study.study_name, "optuna.storage": redact(storage_url),
            "mcal.sweep_file": str(sweep.path), "mcal.sweep_sha1": sweep_hash(sweep)}
    with parent_run(sweep.experiment, study.study_name, tags, end=False) as run_id:
        study.set_user_attr(PARENT_RUN, run_id)
        study.set_user_attr(EXPERIMENT, sweep.experiment)
        with mlflow.start_run(run_id=run_id):
            mlflow.log_params({"sampler": sweep.sampler["type"], "pruner": sweep.pruner["type"],
                               "objective": f"{sweep.direction} {sweep.metric}",
                               "n_trials": sweep.trial_budget(), "timeout": sweep.timeout,
                               **{f"space.{k}": v for k, v in describe_space(sweep).items()}})
            mlflow.log_artifact(str(sweep.path), "sweep")
    return run_id


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
                timeout: float | None, patience: float, on_trial: TrialHook | None = None) -> None:
    """Trials until the budget or timeout is spent; ``on_trial`` sees each one as it ends.

    When the budget is taken by RUNNING trials this process waits, at most ``patience``
    seconds, for one of them to fail stale; a killed worker's trial, once queued for a retry,
    is run here (its retry holds the place the budget kept for it).
    """
    callbacks = [free_memory]
    if on_trial is not None:
        callbacks.append(lambda _, trial: on_trial(trial))
    start = time.monotonic()
    waiting_since: float | None = None
    while timeout is None or time.monotonic() - start < timeout:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        finished, running = counts(study)
        if budget is not None and finished >= budget:
            return
        if budget is not None and finished + running >= budget and not pending_retries(study):
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
                       gc_after_trial=True, callbacks=callbacks)


def audit_data(sweep: Sweep) -> None:
    """The leakage audit once before any trial: a leaky split would fail every trial alike."""
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
              n_trials: int | None = None, end: bool = True,
              on_trial: TrialHook | None = None) -> SweepOutcome:
    """Run (or resume) the sweep's study; end it here when this process sees the last trial.

    on_trial: called with each trial this process ran, as it ends (the CLI prints a line).
    """
    use_tracking()
    fingerprint = resolve_dataset(Path(sweep.data["cache"])).name  # fails early without a cache
    audit_data(sweep)
    url = storage_url or default_storage()
    storage = make_storage(url, sweep, on_stale=mark_stale)
    study, created = open_study(sweep, storage, study_name or sweep.study)
    check_data(study, created, fingerprint)
    warn_if_changed(sweep, study)
    parent = sweep_parent(sweep, study, created, url)
    budget = n_trials or sweep.trial_budget()
    objective = Objective(sweep, parent, budget)
    take_trials(study, objective, budget, sweep.timeout, sweep.grace_period + 2 * sweep.
                heartbeat_interval, on_trial)
    outcome = SweepOutcome(study, parent, ended_here=False)
    finished, running = counts(study)
    if end and running == 0 and end_once(study, storage, finished):
        outcome.ended_here = True
        outcome.champion = end_sweep(sweep, study, parent)
    return outcome

"""The Optuna side of a sweep: storage, sampler, pruner, study, trial budget.

The budget counts places across every worker sharing the study. A trial whose worker died is
failed by its heartbeat and retried by ``RetryHeartbeatStaleTrialCallback`` with the same
parameters: the original and its retries share one place. A place is finished once one of its
trials is COMPLETE or PRUNED, or its last trial FAILed and was not retried (an exception inside a
trial spends its place); it is taken while its last trial is RUNNING or a retry WAITING. Surplus
trials (two workers starting the last place at once) are failed before they train and are not
counted; a retry is never surplus while its place is unfinished.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from mcal_lightning.sweep.config import Sweep, resolved_epochs
from mcal_lightning.tracking.store import LOCAL_STORE

RUN_ID = "mlflow_run_id"  # trial user attr: the trial's MLflow run
SURPLUS = "surplus"  # user attr of a trial failed before training because the budget was spent
GRID_POINT = "grid_point"  # user attr of the enqueued trials of a grid
TAG = "tag."  # prefix of a grid point's tags among its trial's user attrs
PARENT_RUN = "mlflow_parent_run_id"  # study user attrs
EXPERIMENT = "mlflow_experiment"
SWEEP_HASH = "sweep_file_sha1"
FINAL_MARK = "/ended-after-"  # marker studies: one worker ends the sweep, atomically


def default_storage() -> str:
    """sqlite under ./mlruns, next to the MLflow store (absolute: it follows the cwd)."""
    store = LOCAL_STORE.resolve()
    store.mkdir(exist_ok=True)
    return f"sqlite:///{store.as_posix()}/optuna.db"


def redact(url: str) -> str:
    """A storage URL without its password, for logs and tags."""
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url)


def worker_seed(seed: int, trials_so_far: int) -> int:
    """A seed of this process's own for a seeded study it joins: the sweep's seed, the study's
    trial count and this worker (host, pid), hashed."""
    key = f"{seed}:{trials_so_far}:{socket.gethostname()}:{os.getpid()}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


def make_sampler(sweep: Sweep, joining: int | None = None) -> optuna.samplers.BaseSampler:
    """TPE or random; a grid's points are enqueued trials, so any sampler serves it.

    joining: the trial count of an existing study this process joins (a resume, or another
    worker). A sampler seeded as the first process was would draw that process's random points
    again, so a seed is made this worker's own (worker_seed): one process reproduces a seeded
    sweep, and no joining worker repeats another's draws.
    """
    options = {k: v for k, v in sweep.sampler.items() if k not in ("type", "points", "enqueue")}
    if joining is not None and options.get("seed") is not None:
        options["seed"] = worker_seed(options["seed"], joining)
    if sweep.sampler["type"] == "tpe":
        return optuna.samplers.TPESampler(**options)
    return optuna.samplers.RandomSampler(seed=options.get("seed"))


def make_pruner(sweep: Sweep) -> optuna.pruners.BasePruner:
    options = {k: v for k, v in sweep.pruner.items() if k != "type"}
    kind = sweep.pruner["type"]
    if kind == "median":
        return optuna.pruners.MedianPruner(**options)
    if kind == "hyperband":
        options.setdefault("max_resource", resolved_epochs(sweep))
        return optuna.pruners.HyperbandPruner(**options)
    return optuna.pruners.NopPruner()


def make_storage(url: str, sweep: Sweep,
                 on_stale: Callable[[optuna.Study, FrozenTrial], None] | None = None) -> RDBStorage:
    """RDB storage with heartbeats: a trial whose worker died is failed, then retried."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=3)

    def stale(study: optuna.Study, trial: FrozenTrial) -> None:
        if on_stale is not None:
            on_stale(study, trial)
        retry(study, trial)

    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):  # workers starting together race to create the tables
        try:
            return RDBStorage(url, engine_kwargs=engine,
                              heartbeat_interval=sweep.heartbeat_interval,
                              grace_period=sweep.grace_period,
                              heartbeat_stale_trial_callback=stale)
        except sqlalchemy.exc.SQLAlchemyError:
            if attempt == 2:
                raise
            time.sleep(1 + attempt)
    raise AssertionError("unreachable")


def sweep_hash(sweep: Sweep) -> str:
    return hashlib.sha1(sweep.path.read_bytes()).hexdigest()[:12]


def open_study(sweep: Sweep, storage: RDBStorage, name: str) -> tuple[optuna.Study, bool]:
    """Create the study, or load it when another run created it: (study, created here)."""
    options = {"study_name": name, "storage": storage, "sampler": make_sampler(sweep),
               "pruner": make_pruner(sweep)}
    try:
        study = optuna.create_study(direction=sweep.direction, **options)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(**options)
        study.sampler = make_sampler(sweep, joining=len(study.trials))
        return study, False
    study.set_user_attr(SWEEP_HASH, sweep_hash(sweep))
    if sweep.sampler["type"] == "grid":
        for point, tags in zip(sweep.grid_points(), sweep.grid_tags(), strict=True):
            labels = {f"{TAG}{name}": value for name, value in tags.items()}
            study.enqueue_trial(point, user_attrs={GRID_POINT: True, **labels},
                                skip_if_exists=True)
    for point in sweep.sampler.get("enqueue", []):  # tried first, then the sampler takes over
        study.enqueue_trial(point, skip_if_exists=True)
    return study, True


def original_number(trial: FrozenTrial) -> int:
    """The number of the trial whose place this one holds: its own, or the one a retry re-runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retried = RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)
    return trial.number if retried is None else retried


def places(trials: list[FrozenTrial]) -> dict[int, list[FrozenTrial]]:
    """The budget's places, by original trial number: that trial and its retries, in order.

    Surplus trials hold no place; nor does a trial that is only queued (an enqueued point not
    started yet), unless it is the retry of one that ran.
    """
    grouped: dict[int, list[FrozenTrial]] = {}
    for trial in sorted(trials, key=lambda t: t.number):
        if not trial.user_attrs.get(SURPLUS):
            grouped.setdefault(original_number(trial), []).append(trial)
    return {number: group for number, group in grouped.items()
            if not all(t.state == TrialState.WAITING for t in group)}


def is_finished(place: list[FrozenTrial]) -> bool:
    """One of its trials ended COMPLETE or PRUNED, or its last one failed without a retry."""
    if any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in place):
        return True
    return place[-1].state == TrialState.FAIL


def counts(study: optuna.Study, before: int | None = None) -> tuple[int, int]:
    """(finished, taken) places against the budget; only places of trials < before when given.

    Taken places are those whose trial is RUNNING, or whose retry is WAITING to run.
    """
    finished = taken = 0
    for number, place in places(study.get_trials(deepcopy=False)).items():
        if before is not None and number >= before:
            continue
        if is_finished(place):
            finished += 1
        else:
            taken += 1
    return finished, taken


def pending_retries(study: optuna.Study) -> int:
    """Retries queued (WAITING) for a trial whose worker died: the next ``optimize`` runs one."""
    return sum(1 for trial in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
               if original_number(trial) != trial.number)


def is_surplus(trial: optuna.Trial, budget: int | None, grid: bool) -> bool:
    """A trial that must not train: the budget is spent, or a grid has no point left for it.

    A retry takes its original's place, so it is surplus only when that place has finished.
    """
    if grid and not trial.user_attrs.get(GRID_POINT):
        return True
    trials = trial.study.get_trials(deepcopy=False)
    frozen = next(t for t in trials if t.number == trial.number)
    original = original_number(frozen)
    if original != trial.number:
        others = [t for t in places(trials).get(original, []) if t.number != trial.number]
        return any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in others)
    if budget is None:
        return False
    finished, taken = counts(trial.study, before=trial.number)
    return finished + taken >= budget


def end_once(study: optuna.Study, storage: RDBStorage, finished: int) -> bool:
    """True for exactly one caller per (study, finished count): it ends the sweep.

    Study names are unique in the storage, so creating a marker study is an atomic lock on
    every backend Optuna supports.
    """
    try:
        optuna.create_study(study_name=f"{study.study_name}{FINAL_MARK}{finished}",
                            storage=storage)
    except optuna.exceptions.DuplicatedStudyError:
        return False
    return True


def study_names(storage: RDBStorage) -> list[str]:
    """The storage's studies, without the end-of-sweep markers."""
    return [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
            if FINAL_MARK not in s.study_name]


def trial_states(study: optuna.Study) -> dict[str, int]:
    states: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(SURPLUS):
            continue
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    return states


def completed(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))

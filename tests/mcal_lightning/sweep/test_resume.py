"""A sweep killed mid-trial (SIGKILL) and run again completes its trials, numbers unique.

The killed trial is the budget's last, so its retry is numbered past the budget: it must still
run, in the killed trial's place, rather than be failed as surplus.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from mlflow import MlflowClient
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from mcal_lightning.sweep.study import RUN_ID
from tests.mcal_lightning.sweeps_support import FAST, sweep_file

pytestmark = pytest.mark.slow  # a real sweep, killed and resumed


def sweep_command(path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mcal.cli", "sweep", str(path), *extra]


def worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONUNBUFFERED": "1"}


def trials_of(storage: str | optuna.storages.RDBStorage, name: str
              ) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=storage).trials
    except KeyError:  # not created yet
        return []


def open_storage(storage: str, deadline: float) -> optuna.storages.RDBStorage:
    """The worker's study storage, once the worker has finished creating its tables."""
    while True:
        try:
            return optuna.storages.RDBStorage(storage)
        except sqlalchemy.exc.SQLAlchemyError:  # both sides raced to write the schema version
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def kill_mid_trial(process: subprocess.Popen, storage: str, name: str, timeout: float) -> int:
    """SIGKILL the sweep once a trial after the first is running; that trial's number."""
    deadline = time.monotonic() + timeout
    database = Path(storage.removeprefix("sqlite:///"))
    while not database.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    shared = open_storage(storage, deadline)  # one connection pool: light on the worker
    while time.monotonic() < deadline:
        trials = trials_of(shared, name)
        running = [t.number for t in trials if t.state == TrialState.RUNNING and t.number >= 1
                   and RUN_ID in t.user_attrs]
        if running:
            time.sleep(1.0)  # well inside the trial: training has started
            process.send_signal(signal.SIGKILL)
            process.wait()
            return running[0]
        if process.poll() is not None:
            raise AssertionError("the sweep ended before it could be killed")
        time.sleep(1.0)
    process.kill()
    raise AssertionError("no trial started in time")


def test_killed_sweep_resumes_without_duplicates(workdir):
    space = {"arch": {"type": "categorical", "choices": ["resnet34"]},
             "lr_max": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}
    path = sweep_file(workdir, "resume", n_trials=2, sampler={"type": "random", "seed": 0},
                      pruner={"type": "none"}, register=False, space=space,
                      train={**FAST, "epochs": 3, "batch_size": 8, "log_model": False})
    storage = f"sqlite:///{workdir}/mlruns/optuna.db"
    log = (workdir / "resume.log").open("w")
    first = subprocess.Popen(sweep_command(path), cwd=workdir, env=worker_env(), stdout=log,
                             stderr=subprocess.STDOUT)
    killed = kill_mid_trial(first, storage, "resume", timeout=240)
    start = time.monotonic()
    again = subprocess.run(sweep_command(path), cwd=workdir, env=worker_env(), stdout=log,
                           stderr=subprocess.STDOUT, timeout=400)
    print(f"rerun took {time.monotonic() - start:.0f} s")
    assert again.returncode == 0, (workdir / "resume.log").read_text()[-3000:]
    trials = trials_of(storage, "resume")
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 2, "the finished trials total n_trials"
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [killed], "no retry was failed as surplus"
    killed_params = failed[0].params
    assert [t.params for t in finished].count(killed_params) == 1, "the killed params ran once"
    retries = [t for t in finished if killed in RetryHeartbeatStaleTrialCallback.retry_history(t)]
    assert len(retries) == 1 and retries[0].params == killed_params
    run = MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db").get_run(
        failed[0].user_attrs[RUN_ID])
    assert run.info.status == "FAILED" and "heartbeats" in run.data.tags["mlflow.note.content"]

"""Two sweep workers at once share one study in a real PostgreSQL (started here, loopback).

Under CI=true this must run; elsewhere it skips only when the PostgreSQL binaries are absent.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from mcal_lightning.sweep.study import RUN_ID
from tests.mcal_lightning.sweep.test_resume import sweep_command, worker_env
from tests.mcal_lightning.sweeps_support import FAST, sweep_file

pytestmark = pytest.mark.slow  # a real sweep by two workers on PostgreSQL


def postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_server_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres account then."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture
def postgres():
    """A throwaway server on 127.0.0.1; yields (optuna URL, mlflow URL)."""
    binaries = postgres_bin()
    if binaries is None:
        reason = "PostgreSQL binaries (pg_ctl, initdb) not found; apt-get install postgresql"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires this test: {reason}")
        pytest.skip(reason)
    # not under pytest's tmp_path: that is private to its user, and the server may run as
    # the postgres account
    folder = Path(tempfile.mkdtemp(prefix="mcal-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(folder, account.pw_uid, account.pw_gid)
    port = free_port()
    subprocess.run(as_server_user([str(binaries / "initdb"), "-D", str(folder / "data"),
                                   "-A", "trust", "-U", "mcal", "--no-sync"]),
                   check=True, capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(as_server_user([str(binaries / "pg_ctl"), "-D", str(folder / "data"), "-o",
                                   options, "-l", str(folder / "log"), "-w", "start"]),
                   check=True, capture_output=True)
    base = f"postgresql://mcal@127.0.0.1:{port}"
    try:
        for database in ("optuna", "mlflow"):
            subprocess.run(["psql", f"{base}/postgres", "-c", f"CREATE DATABASE {database}"],
                           check=True, capture_output=True)
        yield f"{base}/optuna", f"{base}/mlflow"
    finally:
        subprocess.run(as_server_user([str(binaries / "pg_ctl"), "-D", str(folder / "data"),
                                       "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_one_study_on_postgres(workdir, postgres):
    optuna_url, mlflow_url = postgres
    path = sweep_file(workdir, "shared", n_trials=4, sampler={"type": "random", "seed": 0},
                      pruner={"type": "none"}, register=False, experiment="shared-test",
                      space={"arch": {"type": "categorical", "choices": ["alexnet", "resnet34"]},
                             "lr_max": {"type": "float", "low": 1e-3, "high": 1e-2}},
                      train={**FAST, "batch_size": 16, "log_model": False})
    MlflowClient(mlflow_url).search_experiments(max_results=1)  # the server's schema, once
    optuna.storages.RDBStorage(optuna_url)
    env = {**worker_env(), "MLFLOW_TRACKING_URI": mlflow_url}
    logs = [(workdir / f"worker{i}.log").open("w") for i in range(2)]
    workers = [subprocess.Popen(sweep_command(path, "--storage", optuna_url), cwd=workdir,
                                env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs]
    codes = [worker.wait(timeout=500) for worker in workers]
    assert codes == [0, 0], "\n".join((workdir / f"worker{i}.log").read_text()[-2000:]
                                      for i in range(2))
    trials = optuna.load_study(study_name="shared", storage=optuna_url).trials
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 4
    assert len({t.number for t in trials}) == len(trials)
    runs = MlflowClient(mlflow_url).search_runs(
        [MlflowClient(mlflow_url).get_experiment_by_name("shared-test").experiment_id],
        "tags.`optuna.study` = 'shared'", max_results=100)
    by_trial = {r.data.tags["optuna.trial"]: r for r in runs if "optuna.trial" in r.data.tags}
    assert {str(t.number) for t in done} <= set(by_trial)
    for trial in done:
        assert by_trial[str(trial.number)].info.run_id == trial.user_attrs[RUN_ID]
        assert by_trial[str(trial.number)].data.tags["optuna.state"] == "COMPLETE"
    per_worker = {sum(line.startswith("trial ") and line.endswith("COMPLETE")  # mcal's line
                      for line in (workdir / f"worker{i}.log").read_text().splitlines())
                  for i in range(2)}
    assert 0 not in per_worker, "both workers took trials"

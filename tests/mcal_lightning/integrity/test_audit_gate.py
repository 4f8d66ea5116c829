"""The leakage audit before every train and sweep: fail refuses, warn trains and records it."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from mcal.cli import main
from mcal_lightning.config import TrainConfig
from mcal_lightning.data.datamodule import CacheDataModule
from mcal_lightning.integrity.audit import LeakageFound
from mcal_lightning.train import train
from preprocessing.cache import resolve_dataset
from tests.mcal_lightning.sweeps_support import sweep_file


@pytest.fixture(scope="module")
def leaky_cache(workdir: Path) -> Path:
    """The tiny cache with one test ROI replaced by a rotated train ROI (other patients)."""
    cache = workdir / "leaky-cache"
    shutil.copytree(workdir / "cache", cache)
    datamodule = CacheDataModule(cache, num_workers=0)
    datamodule.setup()
    rois = np.load(resolve_dataset(cache) / "rois.npy", mmap_mode="r+")
    rois[datamodule.rows["test"][0]] = np.rot90(rois[datamodule.rows["train"][0]])
    rois.flush()
    return cache


def config(cache: Path, audit: str) -> TrainConfig:
    return TrainConfig(cache=str(cache), arch="resnet34", weights="none", epochs=1,
                       freeze_epochs=0, batch_size=16, num_workers=0, top_losses=0,
                       cam_samples=0, log_model=False, audit=audit, experiment="audit-test")


def runs(root: Path) -> list:
    client = MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("audit-test")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], max_results=50)


def test_fail_refuses_before_any_run_exists(workdir: Path, leaky_cache: Path):
    before = len(runs(workdir))
    with pytest.raises(LeakageFound, match="1 near"):
        train(config(leaky_cache, "fail"))
    assert len(runs(workdir)) == before


@pytest.mark.slow  # trains a model
def test_warn_trains_and_records_the_findings(workdir: Path, leaky_cache: Path):
    with pytest.warns(UserWarning, match="leakage audit"):
        result = train(config(leaky_cache, "warn"))
    client = MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    run = client.get_run(result.run_id)
    assert run.data.metrics["audit/near"] == 1 and run.data.metrics["audit/patient"] == 0
    assert run.data.tags["mcal.audit"] == "leaky"
    files = {a.path for a in client.list_artifacts(result.run_id, "audit")}
    assert {"audit/report.html", "audit/pairs.png", "audit/findings.csv"} <= files


@pytest.mark.slow  # trains a model
def test_a_clean_cache_trains_with_the_audit_on(workdir: Path):
    result = train(config(workdir / "cache", "fail"))
    run = MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db").get_run(result.run_id)
    assert run.data.tags["mcal.audit"] == "clean"
    assert sum(v for k, v in run.data.metrics.items() if k.startswith("audit/")) == 0


@pytest.mark.slow  # trains a model
def test_a_sweep_on_leaky_data_stops_before_its_first_trial(workdir: Path, leaky_cache: Path):
    path = sweep_file(workdir, "leaky-sweep", n_trials=2,
                      data={"cache": str(leaky_cache), "num_workers": 0},
                      space={"arch": {"type": "categorical", "choices": ["resnet34"]}},
                      sampler={"type": "random"}, pruner={"type": "none"})
    storage = workdir / "leaky-optuna.db"
    result = CliRunner().invoke(main, ["sweep", str(path), "--storage", f"sqlite:///{storage}"])
    assert result.exit_code == 1
    assert "leakage audit" in result.output and "Traceback" not in result.output
    assert not storage.exists(), "no study was opened"

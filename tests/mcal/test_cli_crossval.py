"""`mcal train --folds K`: K fold runs under one parent, a table of mean ± sd."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from mcal.cli import main
from tests.mcal_lightning import conftest as lightning_fixtures

workdir = lightning_fixtures.workdir  # the tiny 64 px phantom cache at workdir / "cache"
FAST = ["--arch", "alexnet", "--weights", "none", "--epochs", "1", "--freeze-epochs", "0",
        "--batch-size", "16", "--num-workers", "0", "--experiment", "cli-cv"]


@pytest.mark.slow  # trains a model
def test_folds_print_each_fold_and_the_mean(workdir: Path):
    result = CliRunner().invoke(main, ["train", "--cache", str(workdir / "cache"), "--folds", "2",
                                       *FAST])
    assert result.exit_code == 0, result.output
    assert "val metrics, 2 folds" in result.output and "test metrics, 2 folds" in result.output
    assert "fold 0" in result.output and "fold 1" in result.output and "±" in result.output
    client = MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("cli-cv")
    runs = client.search_runs([experiment.experiment_id], max_results=10)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(runs) == 3 and len(parents) == 1
    assert parents[0].info.run_id in result.output


def test_fold_without_folds_is_refused(tmp_path: Path):
    result = CliRunner().invoke(main, ["train", "--cache", str(tmp_path), "--fold", "1"])
    assert result.exit_code != 0 and "--fold needs --folds" in result.output

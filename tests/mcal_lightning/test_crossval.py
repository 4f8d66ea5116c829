"""Grouped k-fold cross-validation: one parent run, a nested run per fold, mean ± sd."""

from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from mcal_lightning.config import TrainConfig
from mcal_lightning.crossval import cross_validate, fold_report, is_cross_validation
from mcal_lightning.data.splits import official_rows
from mcal_lightning.sweep.config import load_sweep
from mcal_lightning.sweep.run import run_sweep
from mcal_lightning.tracking.store import MODEL_URI_TAG, model_uri
from tests.mcal_lightning.sweeps_support import child_runs, sweep_file

pytestmark = pytest.mark.slow  # one training run per fold

FOLDS = 2


@pytest.fixture(scope="module")
def cv(workdir: Path):
    config = TrainConfig(cache=str(workdir / "cache"), arch="resnet34", weights="none", epochs=1,
                         freeze_epochs=0, batch_size=16, num_workers=0, top_losses=0,
                         cam_samples=0, folds=FOLDS, experiment="cv-test")
    return workdir, cross_validate(config)


def client(root: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")


def test_only_folds_without_fold_means_every_fold():
    assert is_cross_validation(TrainConfig(cache="x", folds=5))
    assert not is_cross_validation(TrainConfig(cache="x", folds=5, fold=2))
    assert not is_cross_validation(TrainConfig(cache="x"))


def test_folds_partition_the_train_split_by_patient(cv):
    _, result = cv
    table = result.folds[0].datamodule.table
    held = [fold.datamodule.rows["val"] for fold in result.folds]
    assert np.array_equal(np.sort(np.concatenate(held)), official_rows(table, "train"))
    patients = [set(table.set_index("row").loc[rows, "patient_id"]) for rows in held]
    for i in range(FOLDS):
        for j in range(i + 1, FOLDS):
            assert not patients[i] & patients[j], "a patient in two validation folds"
    tests = [fold.datamodule.rows["test"] for fold in result.folds]
    assert all(np.array_equal(t, official_rows(table, "test")) for t in tests)


def test_parent_run_holds_fold_mean_and_sd(cv):
    root, result = cv
    runs = {run.info.run_id: run for run in child_runs_of(root, result.run_id)}
    assert set(runs) == {fold.run_id for fold in result.folds}
    assert sorted(run.data.tags["mcal.fold"] for run in runs.values()) == ["0", "1"]
    parent = client(root).get_run(result.run_id)
    for stage in ("val", "test"):
        values = [runs[fold.run_id].data.metrics[f"{stage}/mcc"] for fold in result.folds]
        assert parent.data.metrics[f"{stage}/mcc"] == pytest.approx(np.mean(values))
        assert parent.data.metrics[f"{stage}/mcc_sd"] == pytest.approx(np.std(values, ddof=1))
    assert parent.info.status == "FINISHED"
    artifacts = {a.path for a in client(root).list_artifacts(result.run_id, "plots")}
    assert {"plots/cv_val_folds.png", "plots/cv_test_folds.png"} <= artifacts


def test_parent_model_is_the_best_folds(cv):
    root, result = cv
    best = result.best
    scores = [fold.metrics("val")["mcc"] for fold in result.folds]
    assert best.metrics("val")["mcc"] == max(scores)
    parent_tags = client(root).get_run(result.run_id).data.tags
    assert parent_tags[MODEL_URI_TAG] == model_uri(best.run_id)


def test_fold_report_has_each_fold_and_a_summary(cv):
    _, result = cv
    report = fold_report(result, "val")
    assert list(report.columns) == ["val", "fold 0", "fold 1", "mean ± sd"]
    mcc = report.set_index("val").loc["mcc"]
    assert mcc["mean ± sd"].startswith(f"{result.summary('val').loc['mcc', 'mean']:.3f}")


def test_a_sweep_trial_can_cross_validate(workdir: Path):
    path = sweep_file(workdir, "cv-sweep", n_trials=1, register=False,
                      data={"cache": str(workdir / "cache"), "num_workers": 0, "folds": 2},
                      space={"arch": {"type": "categorical", "choices": ["resnet34"]}},
                      sampler={"type": "random", "seed": 0}, pruner={"type": "none"})
    outcome = run_sweep(load_sweep(path), storage_url=f"sqlite:///{workdir}/cv-optuna.db")
    trial = outcome.study.trials[0]
    trial_run = trial.user_attrs["mlflow_run_id"]
    folds = child_runs_of(workdir, trial_run, experiment="sweep-test")
    assert len(folds) == 2
    mean = np.mean([run.data.metrics["val/mcc"] for run in folds])
    assert trial.value == pytest.approx(mean)
    assert len(child_runs(workdir, outcome.parent_run_id)) == 1  # the trial, not its folds


def child_runs_of(root: Path, run_id: str, experiment: str = "cv-test") -> list:
    found = client(root).get_experiment_by_name(experiment)
    return client(root).search_runs([found.experiment_id],
                                    f"tags.mlflow.parentRunId = '{run_id}'", max_results=50)

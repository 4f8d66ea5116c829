"""A tiny tracked run logs calibration and bootstrap CIs; its model applies the temperature."""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient
from scipy.special import expit

from mcal_lightning.config import TrainConfig
from mcal_lightning.evaluation.bootstrap import CI_METRICS
from mcal_lightning.evaluation.uncertainty import interval_attrs, lesion_attrs, stage_lesions
from mcal_lightning.tracking.predict import predict_files
from mcal_lightning.tracking.pyfunc import load_model, temperature_of
from mcal_lightning.train import train


@pytest.fixture(scope="module")
def tracked_run(workdir: Path):
    config = TrainConfig(cache=str(workdir / "cache"), arch="resnet34", weights="none",
                         epochs=1, freeze_epochs=0, batch_size=16, num_workers=0, top_losses=0,
                         cam_samples=0, experiment="uncertainty")
    return workdir, train(config)


def client(root: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")


@pytest.mark.slow  # trains a model
def test_run_logs_calibration_and_ci_metrics(tracked_run):
    root, result = tracked_run
    metrics = client(root).get_run(result.run_id).data.metrics
    assert metrics["temperature"] == pytest.approx(result.uncertainty.temperature)
    assert metrics["temperature"] > 0
    for stage in ("val", "test"):
        for name in ("ece", "brier", "ece_calibrated", "brier_calibrated"):
            assert 0 <= metrics[f"{stage}/{name}"] <= 1, f"{stage}/{name}"
        for name in CI_METRICS:
            assert f"{stage}/{name}_ci_low" in metrics and f"{stage}/{name}_ci_high" in metrics
    artifacts = {a.path for folder in ("plots", "metrics")
                 for a in client(root).list_artifacts(result.run_id, folder)}
    assert {"plots/val_reliability.png", "plots/test_reliability.png",
            "metrics/val_bootstrap.json", "metrics/test_bootstrap.json",
            "metrics/val_lesion_bootstrap.json", "metrics/test_lesion_bootstrap.json"} <= artifacts
    for stage in ("val", "test"):  # the phantom's index knows its lesions
        lesions = result.uncertainty.lesions[stage]
        assert metrics[f"{stage}/lesion/mcc"] == pytest.approx(lesions.point["mcc"])
        assert f"{stage}/lesion/auroc_ci_low" in metrics
        assert lesions.n_lesions < lesions.n_rois  # CC and MLO views share lesions
    assert set(lesion_attrs(result, "val")) == {"val/lesion/mcc", "val/lesion/auroc"}


@pytest.mark.slow  # trains a model
def test_bootstrap_resamples_the_splits_patients(tracked_run):
    root, result = tracked_run
    path = client(root).download_artifacts(result.run_id, "metrics/test_bootstrap.json",
                                           str(root / "downloaded"))
    record = json.loads(Path(path).read_text())
    counts = result.datamodule.describe()
    assert record["n_patients"] == counts["test_patients"]
    assert record["n_rois"] == counts["test_rois"]
    mcc = result.module.last_metrics["test"]["mcc"]
    assert record["metrics"]["mcc"]["point"] == pytest.approx(mcc, abs=1e-6)


@pytest.mark.slow  # trains a model
def test_val_interval_attrs_for_the_leaderboard(tracked_run):
    _, result = tracked_run
    attrs = interval_attrs(result, "val", ("mcc",))
    assert set(attrs) == {"val/mcc_ci_low", "val/mcc_ci_high"}
    assert attrs["val/mcc_ci_low"] <= result.metrics("val")["mcc"] <= attrs["val/mcc_ci_high"]
    assert interval_attrs(object()) == {}


@pytest.mark.slow  # trains a model
def test_logged_model_applies_the_temperature(tracked_run, monkeypatch):
    root, result = tracked_run
    monkeypatch.chdir(root)
    model_uri = f"runs:/{result.run_id}/model"
    python_model = load_model(model_uri).unwrap_python_model()
    assert python_model.temperature == pytest.approx(result.uncertainty.temperature)
    outputs = result.module.last_outputs["test"]
    table = result.datamodule.table.set_index("row")
    files = [root / "data" / table.at[row, "crop_path"] for row in outputs["indices"].numpy()]
    predicted = predict_files(model_uri, files)
    expected = expit(outputs["logits"].numpy() / result.uncertainty.temperature)
    np.testing.assert_allclose(predicted["p_malignant"], expected, atol=1e-5)


def test_models_logged_without_calibration_use_temperature_one(tmp_path):
    assert temperature_of({"checkpoint": "x"}) == 1.0
    (tmp_path / "calibration.json").write_text(json.dumps({"temperature": 1.7}))
    assert temperature_of({"calibration": str(tmp_path / "calibration.json")}) == 1.7


@pytest.mark.slow  # trains a model
def test_champion_record_holds_the_test_cis(tracked_run, monkeypatch):
    from mcal_lightning.tracking.champion import crown

    root, result = tracked_run
    monkeypatch.chdir(root)
    config = TrainConfig(cache=str(root / "cache"), batch_size=16, num_workers=0, top_losses=0,
                         experiment="uncertainty")
    parent = client(root).create_run(client(root).get_run(result.run_id).info.experiment_id)
    record = crown(result.run_id, config, "val/mcc", True, parent.info.run_id)
    intervals = record["challenger"]["ci_95"]
    assert intervals["n_patients"] == result.datamodule.describe()["test_patients"]
    mcc = intervals["metrics"]["mcc"]
    assert mcc["point"] == pytest.approx(record["challenger"]["metrics"]["mcc"], abs=1e-6)
    logged = client(root).get_run(parent.info.run_id).data.metrics
    low = math.nan if mcc["low"] is None else mcc["low"]  # the tiny test split may be 1-class
    assert logged["best_test/mcc_ci_low"] == pytest.approx(low, nan_ok=True)


def test_stage_lesions_reads_the_lesion_ids_of_the_evaluated_rows():
    """Rows 7 and 3 are two views of one lesion, row 5 a single view; row 9 is not evaluated."""
    table = pd.DataFrame({"row": [3, 5, 7, 9], "patient_id": ["P1", "P2", "P1", "P3"],
                          "side": ["LEFT", "RIGHT", "LEFT", "LEFT"],
                          "abnormality_id": [1, 1, 1, 1]})
    outputs = {"labels": torch.tensor([1, 0, 1]), "probs": torch.tensor([0.9, 0.2, 0.5]),
               "logits": torch.zeros(3), "indices": torch.tensor([7, 5, 3])}
    module = SimpleNamespace(last_outputs={"val": outputs})
    found = stage_lesions(module, table, "val")
    assert (found.n_rois, found.n_lesions, found.n_multi_view) == (3, 2, 1)
    assert found.bootstrap.n_patients == 2
    assert found.point["auroc"] == 1.0 and found.point["accuracy"] == 1.0
    assert stage_lesions(module, table.assign(side=""), "val") is None

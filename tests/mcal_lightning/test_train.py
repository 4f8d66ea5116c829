"""A real 2-epoch run on tiny phantom data, tracked in MLflow in a temporary folder."""

from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from mcal_lightning.config import TrainConfig
from mcal_lightning.registry import predict_files, register
from mcal_lightning.train import train
from preprocessing.cache import build_cache
from preprocessing.index import build_index
from preprocessing.phantom import generate_phantom
from preprocessing.pipeline import PreprocessConfig


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("run")
    generate_phantom(root / "data", patients=28, seed=5, scale=0.08, workers=1, progress=False)
    index = build_index(root / "data", progress=False)
    build_cache(index, root / "cache", PreprocessConfig(size=64), workers=1, progress=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # the default local store ./mlruns lands in the temporary folder
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = TrainConfig(cache=str(root / "cache"), arch="resnet34", weights="none",
                             epochs=2, freeze_epochs=1, batch_size=16, num_workers=0,
                             top_losses=4, experiment="test")
        result = train(config)
        yield root, result
        mlflow.set_tracking_uri(None)


def test_run_holds_metrics_params_and_artifacts(tracked_run):
    root, result = tracked_run
    assert (root / "mlruns" / "mlflow.db").is_file()
    assert (root / "mlruns" / "test" / result.run_id).is_dir(), "artifacts under mlruns/<exp>"
    run = MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db").get_run(result.run_id)
    for stage in ("val", "test"):
        for metric in ("mcc", "f1", "auroc", "specificity", "recall", "precision", "accuracy"):
            assert f"{stage}/{metric}" in run.data.metrics, f"{stage}/{metric}"
    params = run.data.params
    assert params["arch"] == "resnet34" and params["epochs"] == "2"
    assert params["data.fingerprint"] == result.datamodule.fingerprint
    assert "git.commit" in params and "version.torch" in params
    artifacts = {a.path for folder in ("plots", "metrics")
                 for a in MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")
                 .list_artifacts(result.run_id, folder)}
    assert "metrics/test_confusion_matrix.json" in artifacts
    assert {"plots/test_confusion_matrix.png", "plots/test_top_losses.png"} <= artifacts


def test_register_load_by_alias_predict_matches_in_memory(tracked_run, monkeypatch):
    root, result = tracked_run
    monkeypatch.chdir(root)
    assert register(result.run_id, "champion") == "1"
    outputs = result.module.last_outputs["test"]
    rows = outputs["indices"].numpy()
    table = result.datamodule.table.set_index("row")
    files = [root / "data" / table.at[row, "crop_path"] for row in rows]
    predicted = predict_files("models:/mcal-calc@champion", files, chunk=5)  # several chunks
    assert (predicted["error"] == "").all()
    np.testing.assert_allclose(predicted["p_malignant"], outputs["probs"].numpy(), atol=1e-5)


def test_bad_file_gets_an_error_row(tracked_run, monkeypatch, tmp_path: Path):
    root, result = tracked_run
    monkeypatch.chdir(root)
    broken = tmp_path / "broken.dcm"
    broken.write_text("not dicom")
    good = next((root / "data").rglob("000001.dcm"))
    model = f"runs:/{result.run_id}/model"
    table = predict_files(model, [broken, good, tmp_path / "gone.png"])
    assert "expected DICOM" in table["error"].tolist()[0]
    assert "cannot read" in table["error"].tolist()[2]
    assert np.isnan(table["p_malignant"][0])

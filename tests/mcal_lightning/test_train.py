"""A real 2-epoch run on tiny phantom data, tracked in MLflow in a temporary folder."""

import tempfile
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from torch.utils.data import DataLoader, TensorDataset

from mcal_lightning.config import TrainConfig
from mcal_lightning.tracking.predict import predict_files
from mcal_lightning.tracking.pyfunc import load_model
from mcal_lightning.tracking.registry import register
from mcal_lightning.tracking.test_ledger import looks
from mcal_lightning.train import kept_checkpoint, train

pytestmark = pytest.mark.slow  # a real training run, logged and registered


@pytest.fixture(scope="module")
def tracked_run(workdir: Path):
    """A 2-epoch run on the tiny cache; ./mlruns is the temporary folder's.

    With the auxiliary calc type/distribution loss on, so that the served model below is one
    trained with its extra head (which the model must not need).
    """
    config = TrainConfig(cache=str(workdir / "cache"), arch="resnet34", weights="none",
                         epochs=2, freeze_epochs=1, batch_size=16, num_workers=0,
                         top_losses=4, experiment="test", aux_weight=0.5)
    return workdir, train(config)


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
    assert params["aux_weight"] == "0.5" and run.data.metrics["train/aux_loss"] > 0
    assert params["data.fingerprint"] == result.datamodule.fingerprint
    assert "git.commit" in params and "version.torch" in params
    artifacts = {a.path for folder in ("plots", "metrics")
                 for a in MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")
                 .list_artifacts(result.run_id, folder)}
    assert "metrics/test_confusion_matrix.json" in artifacts
    assert {"plots/test_confusion_matrix.png", "plots/test_top_losses.png"} <= artifacts
    tested = [look for look in looks(result.datamodule.fingerprint)
              if look.run_id == result.run_id]
    assert [(look.reason, look.rois) for look in tested] == [
        ("train", len(result.datamodule.rows["test"]))]


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
    calibrated = 1 / (1 + np.exp(-outputs["logits"].numpy() / result.uncertainty.temperature))
    np.testing.assert_allclose(predicted["p_malignant"], calibrated, atol=1e-5)


def test_bad_file_gets_an_error_row(tracked_run, monkeypatch, tmp_path: Path):
    root, result = tracked_run
    monkeypatch.chdir(root)
    broken = tmp_path / "broken.dcm"
    broken.write_text("not dicom")
    good = next((root / "data").rglob("000001.dcm"))
    model = f"runs:/{result.run_id}/model"
    table = predict_files(model, [broken, good, tmp_path / "gone.png"])
    assert "not a DICOM file" in table["error"].tolist()[0], "a .dcm is checked before decoding"
    assert "cannot read" in table["error"].tolist()[2]
    assert np.isnan(table["p_malignant"][0])


def test_loading_a_model_leaves_no_copy_in_the_temp_dir(tracked_run, monkeypatch, tmp_path: Path):
    root, result = tracked_run
    monkeypatch.chdir(root)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    model = load_model(f"runs:/{result.run_id}/model")
    assert model.unwrap_python_model().module is not None
    leftovers = [p for p in scratch.rglob("*") if p.is_file()]
    assert not leftovers, f"a model load left {leftovers[:3]} behind"



class FadingModule(pl.LightningModule):
    """Logs a val MCC that falls every epoch: the best epoch is the first, never the last."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        return (self.weight - batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val/mcc", 1.0 / (self.current_epoch + 1))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize(("keep", "kept_epoch"), [("best", 0), ("last", 2)])
def test_the_kept_checkpoint_is_the_best_or_the_last_epoch(tmp_path: Path, keep: str,
                                                           kept_epoch: int):
    loader = DataLoader(TensorDataset(torch.ones(4, 1)), batch_size=2)
    checkpoint = kept_checkpoint(keep, tmp_path)
    trainer = pl.Trainer(max_epochs=3, callbacks=[checkpoint], logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)
    trainer.fit(FadingModule(), train_dataloaders=loader, val_dataloaders=loader)
    saved = torch.load(checkpoint.best_model_path, weights_only=False)
    assert saved["epoch"] == kept_epoch

"""DDP per run: the fit spread over 2 spawned CPU processes (gloo), evaluation back in this one."""

import json
from pathlib import Path

import lightning.pytorch as pl
import optuna
import pytest
from mlflow import MlflowClient

from mcal_lightning.config import TrainConfig
from mcal_lightning.sweep.objective import FitPruning
from mcal_lightning.train import train

pytestmark = pytest.mark.slow


class RecordWorld(pl.Callback):
    """Writes each rank's view of the world from inside the (spawned) fit processes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        record = {"rank": trainer.global_rank, "world": trainer.world_size}
        (self.folder / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


def ddp_config(workdir: Path, **overrides: object) -> TrainConfig:
    values = {"cache": str(workdir / "cache"), "arch": "resnet34", "weights": "none",
              "epochs": 1, "freeze_epochs": 0, "batch_size": 16, "num_workers": 0,
              "top_losses": 0, "cam_samples": 0, "accelerator": "cpu", "devices": 2,
              "experiment": "ddp", **overrides}
    return TrainConfig(**values)


def test_fit_runs_on_two_ranks_and_the_run_is_evaluated_in_full(workdir: Path, tmp_path: Path):
    result = train(ddp_config(workdir, log_model=False), callbacks=[RecordWorld(tmp_path)])
    worlds = sorted(json.loads(p.read_text())["world"] for p in tmp_path.glob("rank*.json"))
    assert worlds == [2, 2], "fit ran in two processes"
    for stage in ("val", "test"):  # every ROI once: no DistributedSampler padding
        scored = sorted(result.module.last_outputs[stage]["indices"].tolist())
        assert scored == sorted(result.datamodule.rows[stage].tolist()), stage
    run = MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db").get_run(result.run_id)
    assert run.data.params["devices"] == "2"
    assert {"val/mcc", "test/mcc", "train/loss"} <= set(run.data.metrics)


def test_pruning_decided_in_a_rank_stops_the_trial(workdir: Path, tmp_path: Path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/optuna.db")
    study = optuna.create_study(storage=storage, direction="maximize",
                                pruner=optuna.pruners.ThresholdPruner(lower=2.0))  # MCC <= 1
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned, match="epoch 0"):
        train(ddp_config(workdir, epochs=2), callbacks=[FitPruning(trial, monitor="val/mcc")])
    assert 0 in study.trials[0].intermediate_values, "the rank's report reached the study"

"""One tracked training run: cache -> DataModule -> module -> MLflow run with model."""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import mlflow
import torch
from lightning.pytorch.callbacks import BaseFinetuning, ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.tuner import Tuner

from mcal_lightning.config import TrainConfig
from mcal_lightning.data.augment import preset_name
from mcal_lightning.data.datamodule import CacheDataModule
from mcal_lightning.evaluation.evaluate import log_evaluation
from mcal_lightning.evaluation.uncertainty import Uncertainty
from mcal_lightning.integrity.audit_gate import audit_datamodule, log_audit
from mcal_lightning.models.backbones import build_network
from mcal_lightning.models.concept import type_rates
from mcal_lightning.models.module import CalcClassifier, trainer_precision
from mcal_lightning.progress import log_progress
from mcal_lightning.tracking.pyfunc import log_pyfunc
from mcal_lightning.tracking.store import (
    MODEL_URI_TAG,
    experiment_id,
    log_figure,
    run_params,
    tracking_uri,
)
from mcal_lightning.tracking.test_ledger import (
    Look,
    official_test_rois,
    record_look,
    warn_if_reused,
)
from preprocessing.cache import SOURCE_STATS, open_cache

MONITOR = "val/mcc"


@dataclass
class TrainResult:
    run_id: str
    module: CalcClassifier  # with the best checkpoint's weights and its val/test outputs
    datamodule: CacheDataModule
    uncertainty: Uncertainty | None = None  # temperature and bootstrap CIs by stage

    def metrics(self, stage: str) -> dict[str, float]:
        """The best checkpoint's scalar metrics on a split ("val", or "test" when evaluated)."""
        found = self.module.last_metrics.get(stage, {})
        return {name: float(value) for name, value in found.items() if name != "confmat"}


def resolved_settings(config: TrainConfig, datamodule: CacheDataModule) -> dict[str, Any]:
    """The config as logged: augmentation as the laws it resolved to, a preset name beside."""
    settings = config.as_dict()
    settings["augment"] = {**datamodule.augment.as_dict(), "preset": preset_name(config.augment)}
    return settings


def make_datamodule(config: TrainConfig) -> CacheDataModule:
    datamodule = CacheDataModule(**config.datamodule_settings())
    datamodule.setup()
    return datamodule


def make_module(config: TrainConfig, datamodule: CacheDataModule) -> CalcClassifier:
    net = build_network(config.arch, config.weights, config.head_hidden, config.dropout,
                        config.head)
    pos_weight = datamodule.pos_weight if config.balance == "weights" else None
    aux = None
    if config.aux_weight or config.head == "concept":
        targets = datamodule.aux_targets()
        aux = torch.from_numpy(targets)
    if config.head == "concept":
        train_rows = datamodule.rows["train"]
        prior_shift = 0.0 if config.balance == "none" else math.log(
            datamodule.train_pos_weight(train_rows))  # log(n_benign / n_malignant)
        net.head[-1].set_rates(type_rates(targets[train_rows, 0],
                                          datamodule.labels_of(train_rows)), prior_shift)
    return CalcClassifier(
        net, lr_max=config.lr_max, lr_min=config.lr_min, weight_decay=config.weight_decay,
        freeze_epochs=config.freeze_epochs, pos_weight=pos_weight,
        mean=datamodule.mean, std=datamodule.std, aux_weight=config.aux_weight, aux_targets=aux,
        tta=config.tta,
    )


def distribution(devices: int) -> dict[str, Any]:
    """One device, or DDP over ``devices`` processes that Lightning spawns.

    Spawning, rather than Lightning's default of re-running the command line once per rank,
    keeps the run (and a sweep's Optuna trial) in this process: only the fit is distributed.
    """
    if devices == 1:
        return {"devices": 1}
    return {"devices": devices, "strategy": "ddp_spawn"}


def make_trainer(config: TrainConfig, logger: MLFlowLogger | bool,
                 callbacks: list[pl.Callback], workdir: Path, devices: int = 1) -> pl.Trainer:
    precision = trainer_precision() if config.precision == "auto" else config.precision
    return pl.Trainer(
        max_epochs=config.epochs, accelerator=config.accelerator, precision=precision,
        logger=logger, callbacks=[*callbacks, *log_progress()], default_root_dir=workdir,
        log_every_n_steps=1,
        limit_train_batches=config.limit_train_batches, deterministic=False,
        **distribution(devices),
    )


def raise_decisions_taken_in_workers(callbacks: list[pl.Callback]) -> None:
    """Under DDP, optuna-integration's pruning callback records its decision in the study from
    the worker processes; ``check_pruned`` raises it here (it does nothing outside DDP)."""
    for callback in callbacks:
        check = getattr(callback, "check_pruned", None)
        if check is not None:
            check()


def find_lr(config: TrainConfig, datamodule: CacheDataModule, workdir: Path) -> tuple[Any, float]:
    """Lightning's LR range test for the first stage's lr_max: (figure, suggested lr).

    The finder replaces the module's callbacks while it runs, so the backbone is frozen here by
    hand when the run starts with the head alone, as fastai's lr_find does.
    """
    module = make_module(config, datamodule)
    if config.freeze_epochs > 0:
        BaseFinetuning.freeze(module.net.backbone_modules(), train_bn=False)
    trainer = make_trainer(config, False, [], workdir)
    finder = Tuner(trainer).lr_find(module, datamodule=datamodule, min_lr=1e-7, max_lr=1.0,
                                    num_training=60, attr_name="lr_max", update_attr=False)
    return finder.plot(suggest=True), float(finder.suggestion() or config.lr_max)


def kept_checkpoint(keep: str, workdir: Path) -> ModelCheckpoint:
    """The one checkpoint a run keeps: its best epoch by val MCC, or with keep="last" each
    epoch's replacing the one before (a one-cycle run ends annealed, and on a small val split
    the best of many epochs is partly the luckiest)."""
    return ModelCheckpoint(dirpath=workdir / "ckpt", filename="best",
                           monitor=MONITOR if keep == "best" else None, mode="max",
                           save_top_k=1, save_last=False)


def train(config: TrainConfig, run_id: str | None = None,
          callbacks: list[pl.Callback] | None = None,
          datamodule: CacheDataModule | None = None) -> TrainResult:
    """Fit, test on the official test split, log everything and the model.

    run_id: an MLflow run to log into (a sweep's trial run) instead of a new one. callbacks:
    extra Lightning callbacks (a sweep's pruning callback). datamodule: a set-up DataModule to
    use instead of ``make_datamodule(config)`` (the paper replay's).
    ``config.evaluate_test=False`` skips the test split, ``config.log_model=False`` the model.
    """
    pl.seed_everything(config.seed, workers=True, verbose=False)
    datamodule = datamodule or make_datamodule(config)
    audit = audit_datamodule(datamodule, config.audit)  # before a run exists: "fail" trains nothing
    experiment_id(config.experiment)  # created first, so its artifacts go to ./mlruns/NAME
    logger = MLFlowLogger(experiment_name=config.experiment, run_name=config.run_name,
                          tracking_uri=tracking_uri(), log_model=False, run_id=run_id)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        lr_plot = None
        if config.lr_find:
            lr_plot, config.lr_max = find_lr(config, datamodule, workdir)
        checkpoint = kept_checkpoint(config.keep, workdir)
        module = make_module(config, datamodule)
        extra = list(callbacks or [])
        trainer = make_trainer(config, logger, [checkpoint, *extra], workdir, config.devices)
        logger.log_hyperparams(run_params(resolved_settings(config, datamodule),
                                          datamodule.fingerprint))
        logger.log_hyperparams({f"data.{k}": v for k, v in datamodule.describe().items()})
        trainer.fit(module, datamodule=datamodule)
        raise_decisions_taken_in_workers(extra)
        best = checkpoint.best_model_path or None
        if config.devices > 1:  # evaluate in this process, on one device: exact val/test sets
            trainer = make_trainer(config, logger, [checkpoint], workdir)
        trainer.validate(module, datamodule=datamodule, ckpt_path=best, verbose=False)
        stages = ("val", "test") if config.evaluate_test else ("val",)
        if config.evaluate_test:
            trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False)
        if best is None:
            best = str(workdir / "last.ckpt")
            trainer.save_checkpoint(best)
        with mlflow.start_run(run_id=logger.run_id):
            cached = open_cache(Path(config.cache))
            log_audit(audit, cached.images)
            uncertainty = log_evaluation(module, datamodule.table, cached.images, stages,
                                         config.top_losses, config.cam_samples, config.seed)
            if lr_plot is not None:
                log_figure(lr_plot, "plots/lr_finder.png")
                mlflow.log_metric("lr_find_suggestion", config.lr_max)
            if config.log_model:
                preprocess = dict(cached.config)
                stats = cached.path / SOURCE_STATS  # the pyfunc warns against these
                if stats.is_file():
                    preprocess["source_stats"] = json.loads(stats.read_text())
                info = log_pyfunc(Path(best), preprocess, temperature=uncertainty.temperature)
                mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    if config.evaluate_test:
        record_test_look(datamodule, logger.run_id)
    return TrainResult(logger.run_id, module, datamodule, uncertainty)


def record_test_look(datamodule: CacheDataModule, run_id: str) -> None:
    """The run's test evaluation in the test-split ledger, when it scored the official split."""
    rois = official_test_rois(datamodule.table, datamodule.rows["test"])
    if rois is not None:
        warn_if_reused(record_look(Look(datamodule.fingerprint, "train", run_id, rois=rois)))

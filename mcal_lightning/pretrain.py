"""Morphology pretraining: a backbone learns a cache's calcification types, saved for --weights.

Where ImageNet weights cannot be had (an air-gapped host, this project's CPU benchmarks), a
backbone can first learn to tell the calcification types of a cache apart: a clean, visible
signal, unlike malignancy, which is a noisy function of the type. The trained layers go back
into the 3-channel torchvision model and are saved as its state_dict, so ``--weights FILE`` (or
a folder of ``ARCH.pt``) loads them as it loads torchvision's own checkpoints.

Use a cache other than the one the classifier is scored on (a phantom of another seed, another
site's data): types and malignancy are correlated, so pretraining on the rows a classifier is
validated on would leak. Only the train and val splits of the cache are read.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import MLFlowLogger
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from mcal_lightning.backbones import network_from, torchvision_model
from mcal_lightning.datamodule import CacheDataModule
from mcal_lightning.finetuning import one_cycle, optimizer_steps_per_epoch
from mcal_lightning.module import to_unit_float, trainer_precision, unpack_batch
from mcal_lightning.tracking import experiment_id, tracking_uri

OTHER = "OTHER"
FIRST_CONV = {"resnet50": "conv1", "resnet34": "conv1", "vgg16": "features.0",
              "alexnet": "features.0"}


@dataclass
class PretrainConfig:
    cache: str
    arch: str = "resnet34"
    out: str = "weights"  # a folder (the file is ARCH.pt inside) or a file path
    epochs: int = 12
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    min_count: int = 10  # types with fewer train ROIs join OTHER
    val_fraction: float = 0.2
    seed: int = 0
    augment: dict[str, Any] = field(default_factory=dict)
    num_workers: int | None = None
    experiment: str = "mcal-pretrain"


@dataclass
class PretrainResult:
    path: Path
    classes: list[str]
    val_accuracy: float  # balanced (mean per-class recall) on the cache's val split
    run_id: str


def morphology_classes(types: pd.Series, min_count: int) -> list[str]:
    """The types with at least min_count ROIs, most common first; OTHER last if any are left."""
    counts = types.value_counts()
    kept = [str(name) for name, n in counts.items() if n >= min_count]
    return [*kept, OTHER] if len(kept) < len(counts) else kept


def class_per_row(table: pd.DataFrame, classes: list[str]) -> Tensor:
    """Class index of every cache row (position = the table's "row")."""
    lookup = {name: i for i, name in enumerate(classes)}
    other = lookup.get(OTHER, -1)
    targets = torch.full((int(table["row"].max()) + 1,), -1, dtype=torch.long)
    for row, name in zip(table["row"], table["calc_type"].astype(str), strict=True):
        targets[int(row)] = lookup.get(name, other)
    return targets


def class_weights(targets: Tensor, n_classes: int) -> Tensor:
    """Inverse class frequency, mean 1: every type counts, not only the commonest."""
    counts = torch.bincount(targets, minlength=n_classes).float().clamp(min=1)
    weights = counts.sum() / counts
    return weights / weights.mean()


class MorphologyModule(pl.LightningModule):
    """Cross-entropy over calcification types; the batch's row indices pick the targets."""

    def __init__(self, net: nn.Module, targets: Tensor, weights: Tensor, lr: float,
                 weight_decay: float, mean: float, std: float) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("targets", targets)
        self.register_buffer("weights", weights)
        self.lr, self.weight_decay, self.mean, self.std = lr, weight_decay, mean, std
        self.train_accuracy = MulticlassAccuracy(len(weights), average="macro")
        self.val_accuracy = MulticlassAccuracy(len(weights), average="macro")

    def step(self, batch: Any, stage: str) -> Tensor:
        images, _, rows = unpack_batch(batch)
        targets = self.targets[rows]
        logits = self.net((to_unit_float(images) - self.mean) / self.std)
        loss = F.cross_entropy(logits, targets, weight=self.weights)
        accuracy = getattr(self, f"{stage}_accuracy")
        accuracy.update(logits.detach(), targets)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log(f"{stage}/balanced_accuracy", accuracy, on_step=False, on_epoch=True,
                 prog_bar=True)
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self.step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.step(batch, "val")

    def configure_optimizers(self) -> Any:
        groups = [{"params": list(self.net.parameters()), "lr": self.lr, "peak_lr": self.lr}]
        optimizer = torch.optim.AdamW(groups, lr=self.lr, weight_decay=self.weight_decay)
        steps = self.trainer.max_epochs * optimizer_steps_per_epoch(self.trainer)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": one_cycle(optimizer, steps), "interval": "step"}}


def unfold_gray_conv(gray: nn.Conv2d, rgb: nn.Conv2d) -> None:
    """The inverse of backbones.gray_conv: each RGB kernel a third of the gray one."""
    with torch.no_grad():
        rgb.weight.copy_(gray.weight.expand_as(rgb.weight) / rgb.in_channels)
        if gray.bias is not None:
            rgb.bias.copy_(gray.bias)


def torchvision_state(model: nn.Module, net: nn.Module, arch: str) -> dict[str, Tensor]:
    """model's state_dict with the trained layers (its classifier stays as it was)."""
    unfold_gray_conv(net.body[0][0], model.get_submodule(FIRST_CONV[arch]))
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}


def output_path(out: str, arch: str) -> Path:
    path = Path(out)
    return path if path.suffix in (".pt", ".pth") else path / f"{arch}.pt"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pretrain(config: PretrainConfig, progress: bool = True) -> PretrainResult:
    """Train config.arch from random init on the cache's calcification types; save it."""
    pl.seed_everything(config.seed, workers=True, verbose=False)
    datamodule = CacheDataModule(config.cache, batch_size=config.batch_size,
                                 num_workers=config.num_workers, val_fraction=config.val_fraction,
                                 seed=config.seed, balance="none", augment=config.augment)
    datamodule.setup()
    train_rows = datamodule.table.set_index("row").loc[datamodule.rows["train"]]
    classes = morphology_classes(train_rows["calc_type"].astype(str), config.min_count)
    targets = class_per_row(datamodule.table, classes)
    model = torchvision_model(config.arch, "none")
    net = network_from(model, config.arch, outputs=len(classes))
    module = MorphologyModule(net, targets,
                              class_weights(targets[datamodule.rows["train"]], len(classes)),
                              config.lr, config.weight_decay, datamodule.mean, datamodule.std)
    experiment_id(config.experiment)
    logger = MLFlowLogger(experiment_name=config.experiment, tracking_uri=tracking_uri(),
                          run_name=f"{config.arch}-morphology")
    logger.log_hyperparams({**asdict(config), "classes": ",".join(classes),
                            "cache_fingerprint": datamodule.fingerprint})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = pl.Trainer(max_epochs=config.epochs, precision=trainer_precision(),
                             logger=logger, default_root_dir=tmp, enable_checkpointing=False,
                             enable_progress_bar=progress, enable_model_summary=False,
                             log_every_n_steps=1)
        trainer.fit(module, datamodule=datamodule)
    path = output_path(config.out, config.arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision_state(model, net, config.arch), path)
    accuracy = float(trainer.callback_metrics.get("val/balanced_accuracy", np.nan))
    logger.experiment.set_tag(logger.run_id, "mcal.weights_sha256", sha256(path))
    logger.experiment.set_tag(logger.run_id, "mcal.weights_file", path.name)
    return PretrainResult(path, classes, accuracy, logger.run_id)

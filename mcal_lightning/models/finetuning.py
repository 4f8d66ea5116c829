"""Two-stage fine-tuning as fastai does it: the head alone, then every layer group at its own rate.

Learning rates: layer group i of ``net.layer_groups()`` always trains at
``discriminative_lrs(n, lr_min, lr_max)[i]``, fastai's ``slice(lr_min, lr_max)``: lr_min for the
input-side group, lr_max for the head, geometric in between.

Schedule: each stage is one fastai ``fit_one_cycle`` over that stage's optimizer steps, every
param group peaking at its own rate. ``CalcClassifier.configure_optimizers`` starts the first
cycle over the trainable groups (the head alone while the backbone is frozen); when
``TwoStageFinetuning`` unfreezes the backbone it adds its groups to the optimizer and replaces the
scheduler by a fresh cycle over the remaining epochs. This is fastai's
``fit_one_cycle(freeze_epochs, lr_max)`` then ``unfreeze()`` and
``fit_one_cycle(rest, slice(lr_min, lr_max))``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim import Optimizer
from torch.optim.lr_scheduler import OneCycleLR

# fastai's fit_one_cycle: start at lr/25, end at lr/1e5 (torch counts the end from the start)
DIV_FACTOR = 25.0
FINAL_DIV_FACTOR = 1e5 / DIV_FACTOR

ParamGroup = dict[str, Any]


def discriminative_lrs(n_groups: int, lr_min: float, lr_max: float) -> list[float]:
    """fastai's slice(lr_min, lr_max) over n groups: geometric, input side first, head last."""
    if n_groups == 1:
        return [lr_max]
    return [float(lr) for lr in np.geomspace(lr_min, lr_max, n_groups)]


def trainable_param_groups(module: nn.Module, lr: float,
                           exclude: frozenset[int] = frozenset()) -> list[ParamGroup]:
    """The module's trainable parameters at one rate, those in `exclude` (ids) left out.

    Weights decay; biases and norm scales (1-D) do not, fastai's default. "peak_lr" is the
    group's own one-cycle maximum, kept because the scheduler rewrites "lr" every step.
    """
    params = [p for p in module.parameters() if p.requires_grad and id(p) not in exclude]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups: list[ParamGroup] = []
    if decay:
        groups.append({"params": decay, "lr": lr, "peak_lr": lr})
    if no_decay:
        groups.append({"params": no_decay, "lr": lr, "peak_lr": lr, "weight_decay": 0.0})
    return groups


def network_param_groups(net: nn.Module, lr_min: float, lr_max: float,
                         exclude: frozenset[int] = frozenset()) -> list[ParamGroup]:
    """Param groups for every trainable parameter of net.layer_groups(), each at its own rate."""
    layer_groups = net.layer_groups()
    lrs = discriminative_lrs(len(layer_groups), lr_min, lr_max)
    return [group for layers, lr in zip(layer_groups, lrs, strict=True)
            for group in trainable_param_groups(layers, lr, exclude)]


def params_in(optimizer: Optimizer) -> frozenset[int]:
    # identity, not BaseFinetuning.filter_on_optimizer's torch.equal, which also drops any
    # parameter whose values happen to equal one already there (e.g. freshly initialised norms)
    return frozenset(id(p) for group in optimizer.param_groups for p in group["params"])


def planned_epochs(trainer: pl.Trainer) -> int:
    if trainer.max_epochs is None or trainer.max_epochs < 0:
        raise ValueError("a one-cycle schedule needs a finite max_epochs")
    return trainer.max_epochs


def optimizer_steps_per_epoch(trainer: pl.Trainer) -> int:
    """Optimizer steps in one training epoch, after limit_train_batches and accumulation."""
    _ = trainer.estimated_stepping_batches  # sets the train loader up when it is not yet
    batches = trainer.num_training_batches
    if math.isinf(batches):
        raise ValueError("a one-cycle schedule needs a train loader of known length")
    return math.ceil(batches / trainer.accumulate_grad_batches)


def warmup_fraction(pct_start: float, total_steps: int) -> float:
    """pct_start, moved off the one value where OneCycleLR divides 0 by 0 at its first step.

    That happens when the warm-up lasts exactly one step (pct_start * total_steps == 1).
    """
    if not math.isclose(pct_start * total_steps, 1.0):
        return pct_start
    return 1.5 / total_steps if total_steps > 1 else 0.5


def one_cycle(optimizer: Optimizer, total_steps: int, pct_start: float = 0.25) -> OneCycleLR:
    """fastai's fit_one_cycle over every param group, each peaking at its "peak_lr".

    Cosine warm-up from peak/25 over pct_start of the steps, cosine annealing to peak/1e5;
    Adam's beta1 cycles 0.95 -> 0.85 -> 0.95 as fastai's moms.
    """
    total_steps = max(total_steps, 1)
    return OneCycleLR(optimizer, max_lr=[group["peak_lr"] for group in optimizer.param_groups],
                      total_steps=total_steps, pct_start=warmup_fraction(pct_start, total_steps),
                      div_factor=DIV_FACTOR, final_div_factor=FINAL_DIV_FACTOR)


def batchnorm_layers(modules: Iterable[nn.Module]) -> list[_BatchNorm]:
    return [layer for module in modules for layer in module.modules()
            if isinstance(layer, _BatchNorm)]


class TwoStageFinetuning(BaseFinetuning):
    """Stage 1: the head alone for freeze_epochs epochs; stage 2: every layer group.

    Expects the LightningModule's network at ``pl_module.net`` with ``layer_groups()`` and
    ``backbone_modules()`` (a ``ClassifierNet``), and a single optimizer whose scheduler
    ``one_cycle`` made. freeze_epochs=0 trains everything from the start.

    The frozen backbone's batch norm layers run in eval mode, so training and validation both
    normalise with their pretrained running statistics; BaseFinetuning alone would use batch
    statistics in training and the running ones in validation. train_bn=True (fastai's
    default) trains them in stage 1 instead, at their group's rate.
    """

    def __init__(self, freeze_epochs: int = 1, lr_min: float = 2e-6, lr_max: float = 1e-3,
                 pct_start: float = 0.25, train_bn: bool = False) -> None:
        super().__init__()
        if freeze_epochs < 0:
            raise ValueError("freeze_epochs must be 0 or more")
        self.freeze_epochs = freeze_epochs
        self.lr_min, self.lr_max = lr_min, lr_max
        self.pct_start = pct_start
        self.train_bn = train_bn

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # only fitting freezes: validate/test/predict leave the network as it is
        if stage == "fit":
            super().setup(trainer, pl_module, stage)

    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        net = pl_module.net
        # start from a clean slate: a previous fit may have left groups frozen or in eval mode
        self.make_trainable(net.layer_groups())
        for group in net.layer_groups():
            group.train()
        if self.freeze_epochs > 0:
            self.freeze(net.backbone_modules(), train_bn=self.train_bn)

    def backbone_frozen(self, epoch: int) -> bool:
        return epoch < self.freeze_epochs

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        if self.backbone_frozen(trainer.current_epoch) and not self.train_bn:
            for layer in batchnorm_layers(pl_module.net.backbone_modules()):
                layer.eval()

    def finetune_function(self, pl_module: pl.LightningModule, epoch: int,
                          optimizer: Optimizer) -> None:
        if self.freeze_epochs == 0 or epoch != self.freeze_epochs:
            return
        backbone = pl_module.net.backbone_modules()
        self.make_trainable(backbone)
        for module in backbone:
            module.train()
        new_groups = network_param_groups(pl_module.net, self.lr_min, self.lr_max,
                                          exclude=params_in(optimizer))
        for group in new_groups:
            optimizer.add_param_group(group)
        self.restart_schedule(pl_module.trainer, optimizer, epoch)

    def restart_schedule(self, trainer: pl.Trainer, optimizer: Optimizer, epoch: int) -> None:
        """A fresh one-cycle over the remaining epochs, covering the new groups too."""
        steps = (planned_epochs(trainer) - epoch) * optimizer_steps_per_epoch(trainer)
        trainer.lr_scheduler_configs[0].scheduler = one_cycle(optimizer, steps, self.pct_start)

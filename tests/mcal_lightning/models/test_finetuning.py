"""Two-stage fine-tuning: what trains when, at which rates, under which schedule."""

from __future__ import annotations

import itertools
import logging

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mcal_lightning.models.backbones import ClassifierNet, build_head
from mcal_lightning.models.finetuning import TwoStageFinetuning, discriminative_lrs, one_cycle
from mcal_lightning.models.module import CalcClassifier

LR_MIN, LR_MAX = 1e-4, 1e-2


class Recorder(Callback):
    """The network's state before training and after each epoch, and the optimizer then."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []
        self.peak_lrs: list[list[float]] = []
        self.schedulers: list[object] = []
        self.backbone_bn_training: list[set[bool]] = []

    def snapshot(self, pl_module: pl.LightningModule) -> None:
        self.states.append({k: v.detach().clone() for k, v in pl_module.net.state_dict().items()})

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.snapshot(pl_module)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: object, batch_idx: int) -> None:
        if batch_idx == 0:
            modes = {layer.training for group in pl_module.net.backbone_modules()
                     for layer in group.modules() if isinstance(layer, nn.BatchNorm2d)}
            self.backbone_bn_training.append(modes)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.snapshot(pl_module)
        groups = trainer.optimizers[0].param_groups
        self.peak_lrs.append(sorted({group["peak_lr"] for group in groups}))
        self.schedulers.append(trainer.lr_scheduler_configs[0].scheduler)


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {name for name in before if not torch.equal(before[name], after[name])}


def tiny_net() -> ClassifierNet:
    """Two conv + batch norm groups and the real head: the callback's logic, quickly."""
    def block(channels_in: int, channels_out: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(channels_in, channels_out, 3, stride=2),
                             nn.BatchNorm2d(channels_out), nn.ReLU())

    return ClassifierNet([block(1, 8), block(8, 8)], build_head(8, 16), {})


def fit(max_epochs: int, freeze_epochs: int, train_bn: bool = False) -> Recorder:
    torch.manual_seed(0)
    net = tiny_net()
    module = CalcClassifier(net, lr_max=LR_MAX, lr_min=LR_MIN, freeze_epochs=freeze_epochs,
                            train_bn=train_bn)
    images = torch.randint(0, 256, (8, 1, 32, 32), dtype=torch.uint8)
    labels = torch.tensor([0, 1] * 4)
    loader = DataLoader(TensorDataset(images, labels), batch_size=4, shuffle=True)
    recorder = Recorder()
    trainer = pl.Trainer(accelerator="cpu", max_epochs=max_epochs, limit_train_batches=2,
                         enable_checkpointing=False, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[recorder])
    trainer.fit(module, train_dataloaders=loader)
    return recorder


@pytest.fixture(scope="module")
def two_stage() -> Recorder:
    return fit(max_epochs=2, freeze_epochs=1)


def test_stage_one_trains_the_head_only(two_stage: Recorder) -> None:
    before, after_head_stage = two_stage.states[0], two_stage.states[1]
    moved = changed(before, after_head_stage)
    assert moved
    # buffers included: frozen batch norm keeps its running statistics
    assert all(name.startswith("head.") for name in moved)


def test_frozen_batch_norm_runs_in_eval_mode_until_unfrozen(two_stage: Recorder) -> None:
    # so that training and validation both normalise with the running statistics
    assert two_stage.backbone_bn_training == [{False}, {True}]


def test_stage_two_trains_every_backbone_group(two_stage: Recorder) -> None:
    moved = changed(two_stage.states[1], two_stage.states[2])
    for group in ("body.0.", "body.1.", "head."):
        assert any(name.startswith(group) for name in moved), group
    assert "body.0.0.weight" in moved  # the first convolution


def test_unfreezing_adds_groups_at_discriminative_rates(two_stage: Recorder) -> None:
    assert two_stage.peak_lrs[0] == [LR_MAX]
    assert two_stage.peak_lrs[1] == pytest.approx(discriminative_lrs(3, LR_MIN, LR_MAX))
    assert two_stage.peak_lrs[1][0] == pytest.approx(LR_MIN)
    assert two_stage.peak_lrs[1][-1] == pytest.approx(LR_MAX)


def test_each_stage_runs_its_own_full_cycle(two_stage: Recorder) -> None:
    first, second = two_stage.schedulers
    assert first is not second
    assert first.total_steps == first.last_epoch == 2
    assert second.total_steps == second.last_epoch == 2
    assert len(second.base_lrs) == len(second.optimizer.param_groups) > len(first.base_lrs)


def test_freeze_epochs_zero_trains_everything_from_the_start() -> None:
    recorder = fit(max_epochs=1, freeze_epochs=0)
    moved = changed(recorder.states[0], recorder.states[1])
    for group in ("body.0.", "body.1.", "head."):
        assert any(name.startswith(group) for name in moved), group
    assert recorder.peak_lrs[0] == pytest.approx(discriminative_lrs(3, LR_MIN, LR_MAX))


def test_train_bn_trains_frozen_batch_norm_but_not_convolutions() -> None:
    recorder = fit(max_epochs=1, freeze_epochs=1, train_bn=True)
    moved = changed(recorder.states[0], recorder.states[1])
    assert "body.0.1.weight" in moved  # the first group's batch norm
    assert "body.0.0.weight" not in moved  # the first group's convolution


def test_validating_after_fit_keeps_one_callback_and_says_nothing_about_it(
        caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    module = CalcClassifier(tiny_net(), freeze_epochs=1)
    images = torch.randint(0, 256, (8, 1, 32, 32), dtype=torch.uint8)
    loader = DataLoader(TensorDataset(images, torch.tensor([0, 1] * 4)), batch_size=4)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=2, enable_checkpointing=False,
                         logger=False, enable_progress_bar=False, enable_model_summary=False)
    lightning_log = logging.getLogger("lightning.pytorch")
    lightning_log.addHandler(caplog.handler)  # it does not propagate to the root logger
    try:
        with caplog.at_level(logging.INFO, logger="lightning.pytorch"):
            trainer.fit(module, train_dataloaders=loader)
            trainer.validate(module, dataloaders=loader, verbose=False)
            trainer.test(module, dataloaders=loader, verbose=False)
            # the logger Lightning's notices go through (quiet.py may already filter it)
            logging.getLogger("lightning.pytorch.utilities.rank_zero").info("capture probe")
    finally:
        lightning_log.removeHandler(caplog.handler)
    assert sum(isinstance(c, TwoStageFinetuning) for c in trainer.callbacks) == 1
    assert "will override" not in caplog.text
    assert "capture probe" in caplog.text  # the capture works


def test_discriminative_lrs_are_geometric_from_lr_min_to_lr_max() -> None:
    lrs = discriminative_lrs(4, 2e-6, 1e-3)
    assert lrs[0] == 2e-6
    assert lrs[-1] == 1e-3
    ratios = [later / earlier for earlier, later in itertools.pairwise(lrs)]
    assert ratios == pytest.approx([ratios[0]] * 3)
    assert discriminative_lrs(1, 2e-6, 1e-3) == [1e-3]


@pytest.mark.parametrize("total_steps", [1, 2, 4, 10])
def test_one_cycle_peaks_at_each_groups_rate(total_steps: int) -> None:
    # 4 steps at pct_start 0.25 is the warm-up of exactly one step that torch divides 0/0 on
    weights = [torch.nn.Parameter(torch.zeros(1)) for _ in range(2)]
    optimizer = torch.optim.AdamW([{"params": [weights[0]], "lr": 1e-4, "peak_lr": 1e-4},
                                   {"params": [weights[1]], "lr": 1e-2, "peak_lr": 1e-2}])
    scheduler = one_cycle(optimizer, total_steps, pct_start=0.25)
    seen = [[group["lr"] for group in optimizer.param_groups]]
    for _ in range(total_steps):
        optimizer.step()
        scheduler.step()
        seen.append([group["lr"] for group in optimizer.param_groups])
    for group_index, peak in enumerate((1e-4, 1e-2)):
        assert max(lrs[group_index] for lrs in seen) <= peak * (1 + 1e-9)
        assert seen[0][group_index] < peak


def test_negative_freeze_epochs_is_refused() -> None:
    with pytest.raises(ValueError, match="freeze_epochs"):
        TwoStageFinetuning(freeze_epochs=-1)

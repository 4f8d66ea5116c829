"""The LightningModule: device-side normalisation, logged metrics, kept outputs, checkpoints."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from mcal_lightning.models.backbones import build_network
from mcal_lightning.models.module import (
    IMAGENET_GRAY_MEAN,
    IMAGENET_GRAY_STD,
    CalcClassifier,
    to_unit_float,
    trainer_precision,
    unpack_batch,
)
from tests.mcal_lightning.networks_support import random_network


class RoiDict(Dataset):
    """Random uint16 ROIs as the DataModule ships them: dicts with image, label and index."""

    def __init__(self, n: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 65536, (n, 32, 32), generator=generator).to(torch.uint16)
        self.labels = torch.arange(n) % 2

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        return {"image": self.images[index][None], "label": self.labels[index], "index": index}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.Trainer, CalcClassifier]:
    torch.manual_seed(0)
    module = CalcClassifier(build_network("resnet34", weights="none", head_hidden=16),
                            pos_weight=2.0)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=2,
                         enable_checkpointing=False, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         default_root_dir=tmp_path_factory.mktemp("runs"))
    train = DataLoader(RoiDict(8, seed=1), batch_size=4, shuffle=True)
    val = DataLoader(RoiDict(6, seed=2), batch_size=4)
    trainer.fit(module, train_dataloaders=train, val_dataloaders=val)
    return trainer, module


def test_fit_logs_epoch_metrics_by_stage(fitted: tuple[pl.Trainer, CalcClassifier]) -> None:
    trainer, _ = fitted
    logged = set(trainer.callback_metrics)
    for stage in ("train", "val"):
        for name in ("loss", "mcc", "f1", "auroc", "accuracy", "recall", "precision",
                     "specificity", "tp", "fp", "tn", "fn"):
            assert f"{stage}/{name}" in logged


def test_val_outputs_are_kept_per_sample(fitted: tuple[pl.Trainer, CalcClassifier]) -> None:
    _, module = fitted
    kept = module.last_outputs["val"]
    assert kept["indices"].tolist() == list(range(6))
    assert kept["labels"].tolist() == [0.0, 1.0] * 3
    assert ((kept["probs"] >= 0) & (kept["probs"] <= 1)).all()
    assert kept["losses"].shape == (6,)
    confmat = module.last_metrics["val"]["confmat"]
    assert confmat.sum() == 6
    assert module.last_metrics["val"]["mcc"] == pytest.approx(module.trainer.callback_metrics[
        "val/mcc"].item())


def test_test_and_predict(fitted: tuple[pl.Trainer, CalcClassifier]) -> None:
    trainer, module = fitted
    loader = DataLoader(RoiDict(5, seed=3), batch_size=4)
    trainer.test(module, dataloaders=loader, verbose=False)
    assert {"test/mcc", "test/f1", "test/auroc"} <= set(trainer.callback_metrics)
    assert module.last_outputs["test"]["indices"].tolist() == list(range(5))
    predictions = torch.cat(trainer.predict(module, dataloaders=loader))
    torch.testing.assert_close(predictions, module.last_outputs["test"]["probs"])


def test_checkpoint_rebuilds_the_network_from_its_config(
        fitted: tuple[pl.Trainer, CalcClassifier], tmp_path: Path) -> None:
    trainer, module = fitted
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    restored = CalcClassifier.load_from_checkpoint(tmp_path / "model.ckpt").eval()
    assert restored.hparams.net == {"arch": "resnet34", "head_hidden": 16, "dropout": 0.5,
                                   "head": "direct"}
    assert restored.hparams.pos_weight == 2.0
    images = RoiDict(3, seed=4).images[:, None]
    with torch.no_grad():
        torch.testing.assert_close(restored(images), module.eval()(images))


def test_integer_images_are_scaled_by_their_dtype_maximum() -> None:
    for dtype, top in ((torch.uint8, 255), (torch.uint16, 65535)):
        images = torch.tensor([[[0, top]]]).to(dtype)  # (B, H, W)
        unit = to_unit_float(images)
        assert unit.shape == (1, 1, 1, 2)
        assert unit.dtype == torch.float32
        assert unit.flatten().tolist() == [0.0, 1.0]
    floats = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(to_unit_float(floats), floats)


def test_module_normalises_with_its_mean_and_std() -> None:
    module = CalcClassifier(random_network("alexnet"))
    white = torch.full((1, 1, 2, 2), 255, dtype=torch.uint8)
    expected = (1 - IMAGENET_GRAY_MEAN) / IMAGENET_GRAY_STD
    torch.testing.assert_close(module.normalise(white), torch.full((1, 1, 2, 2), expected))


def test_pos_weight_weighs_malignant_errors() -> None:
    module = CalcClassifier(random_network("alexnet"), pos_weight=3.0)
    logits, labels = torch.tensor([0.5, -1.0]), torch.tensor([1.0, 0.0])
    expected = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    expected = expected * torch.tensor([3.0, 1.0])
    torch.testing.assert_close(module.per_sample_loss(logits, labels), expected)


def test_batches_unpack_from_dicts_tuples_and_tensors() -> None:
    images, labels, indices = torch.zeros(2, 1, 4, 4), torch.ones(2), torch.arange(2)
    assert unpack_batch({"image": images, "label": labels}) == (images, labels, None)
    assert unpack_batch((images, labels, indices)) == (images, labels, indices)
    assert unpack_batch([images, labels]) == (images, labels, None)
    assert unpack_batch(images) == (images, None, None)


def test_trainer_precision_is_bf16_only_on_capable_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert trainer_precision() == "32-true"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert trainer_precision() == "bf16-mixed"

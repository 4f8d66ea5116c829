"""The auxiliary calc type/distribution head: in the training loss only, trained, not needed."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from mcal_lightning.data.aux_targets import AUX_CLASSES, IGNORE, aux_loss
from mcal_lightning.models.module import CalcClassifier
from tests.mcal_lightning.models.test_module import RoiDict
from tests.mcal_lightning.networks_support import random_network

ROIS = 8


def annotations() -> torch.Tensor:
    """(ROIS, 2) type and distribution ids by row; one ROI without a type, one without both."""
    types = torch.arange(ROIS) % AUX_CLASSES[0]
    distributions = torch.arange(ROIS) % AUX_CLASSES[1]
    targets = torch.stack([types, distributions], dim=1)
    targets[1, 0] = IGNORE
    targets[2] = IGNORE
    return targets


def aux_module(weight: float = 0.5) -> CalcClassifier:
    torch.manual_seed(0)
    return CalcClassifier(random_network("resnet34"), aux_weight=weight,
                          aux_targets=annotations())


def one_batch() -> dict[str, torch.Tensor]:
    return next(iter(DataLoader(RoiDict(ROIS, seed=3), batch_size=ROIS)))


def test_training_loss_adds_the_weighted_aux_loss_and_evaluation_does_not() -> None:
    module = aux_module(weight=0.5).eval()  # eval: dropout and BN statistics fixed
    batch = one_batch()
    with torch.no_grad():
        train_loss = module.shared_step(batch, "train")
        val_loss = module.shared_step(batch, "val")
        logits, aux_logits = module.forward_with_aux(batch["image"])
        torch.testing.assert_close(logits, module(batch["image"]))
        expected = aux_loss(aux_logits, annotations()[batch["index"]])
    assert expected > 0
    torch.testing.assert_close(train_loss, val_loss + 0.5 * expected)


def test_aux_head_is_trained_and_the_checkpoint_loads_without_annotations(
        tmp_path: Path) -> None:
    module = aux_module()
    before = module.aux_head.weight.detach().clone()
    trainer = pl.Trainer(accelerator="cpu", max_epochs=2, limit_train_batches=2,
                         enable_checkpointing=False, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         default_root_dir=tmp_path)
    loader = DataLoader(RoiDict(ROIS, seed=1), batch_size=4, shuffle=True)
    val = DataLoader(RoiDict(ROIS, seed=2), batch_size=4)
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=val)
    assert not torch.equal(module.aux_head.weight, before), "frozen stage 1 included"
    assert trainer.callback_metrics["train/aux_loss"] > 0
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    restored = CalcClassifier.load_from_checkpoint(tmp_path / "model.ckpt").eval()
    assert restored.aux_targets is None
    images = RoiDict(3, seed=4).images[:, None]
    with torch.no_grad():
        predicted = restored(images)
        torch.testing.assert_close(predicted, module.eval()(images))
    assert predicted.shape == (3,)


def test_without_a_weight_there_is_no_aux_head() -> None:
    module = CalcClassifier(random_network("alexnet"))
    assert module.aux_head is None
    assert not any(name.startswith("aux") for name, _ in module.named_parameters())


@pytest.mark.parametrize("weight", [0.25, 2.0])
def test_the_aux_gradient_scales_with_its_weight(weight: float) -> None:
    reference, scaled = aux_module(1.0).eval(), aux_module(weight).eval()
    batch = one_batch()
    for module in (reference, scaled):
        module.shared_step(batch, "train").backward()
    torch.testing.assert_close(scaled.aux_head.weight.grad,
                               weight * reference.aux_head.weight.grad)


def test_aux_training_refuses_batches_without_their_cache_rows() -> None:
    batch = one_batch()
    with pytest.raises(ValueError, match="cache rows"):
        aux_module().shared_step((batch["image"], batch["label"]), "train")

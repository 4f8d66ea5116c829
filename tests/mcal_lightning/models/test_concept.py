"""The concept head: malignancy from the predicted calc type, trained on the annotations alone."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mcal_lightning.config import TrainConfig
from mcal_lightning.data.aux_targets import AUX_CLASSES, IGNORE, aux_loss
from mcal_lightning.models.backbones import build_network
from mcal_lightning.models.concept import ConceptLayer, type_rates
from mcal_lightning.models.module import CalcClassifier
from mcal_lightning.models.tta import tta_probabilities
from mcal_lightning.train import make_datamodule, make_module
from tests.mcal_lightning.models.test_module import RoiDict
from tests.mcal_lightning.models.test_module_aux import ROIS, annotations, one_batch
from tests.mcal_lightning.networks_support import HEAD_HIDDEN
from tests.mcal_lightning.sweeps_support import tiny_cache

N_TYPES = AUX_CLASSES[0]


def concept_module(**kwargs: object) -> CalcClassifier:
    torch.manual_seed(0)
    net = build_network("resnet34", weights="none", head_hidden=HEAD_HIDDEN, head="concept")
    net.head[-1].set_rates(np.linspace(0.05, 0.9, N_TYPES))
    return CalcClassifier(net, aux_targets=annotations(), **kwargs)


def test_type_rates_shrink_each_type_towards_the_overall_rate() -> None:
    types = np.array([0, 0, 0, 1, IGNORE, IGNORE])
    labels = np.array([1, 1, 0, 0, 1, 1])
    rates = type_rates(types, labels, prior_weight=1.0)
    overall = 2 / 4  # annotated ROIs only
    assert rates[0] == pytest.approx((2 + overall) / 4)
    assert rates[1] == pytest.approx((0 + overall) / 2)
    assert rates[2:] == pytest.approx([overall] * (N_TYPES - 2))  # types no ROI shows


def test_the_logit_is_the_expected_rate_of_the_predicted_type() -> None:
    layer = ConceptLayer(4)
    rates = np.linspace(0.1, 0.8, N_TYPES)
    layer.set_rates(rates)
    concepts = torch.zeros(3, sum(AUX_CLASSES))
    concepts[0, 2] = 50.0  # sure of type 2
    concepts[2, N_TYPES:] = 9.0  # distributions do not enter the rate
    probs = torch.sigmoid(layer.malignancy(concepts).squeeze(-1)).double()
    assert probs[0].item() == pytest.approx(rates[2], abs=1e-6)
    assert probs[1].item() == pytest.approx(rates.mean(), abs=1e-6)  # uniform over types
    assert probs[2].item() == pytest.approx(rates.mean(), abs=1e-6)


def test_the_offset_of_the_prior_puts_its_rate_at_one_half_and_keeps_the_ranking() -> None:
    offset = np.log(9 / 3)  # log(n_benign / n_malignant) for a prior of 0.25
    layer = ConceptLayer(4)
    rates = np.array([0.25, 0.05, 0.6, *[0.1] * (N_TYPES - 3)])
    concepts = torch.randn(16, sum(AUX_CLASSES)) * 3
    concepts[0, :N_TYPES] = torch.tensor([50.0] + [0.0] * (N_TYPES - 1))  # sure of type 0
    layer.set_rates(rates)
    plain = layer.malignancy(concepts).squeeze(-1)
    layer.set_rates(rates, offset)
    shifted = layer.malignancy(concepts).squeeze(-1)
    torch.testing.assert_close(shifted - plain, torch.full_like(plain, offset))
    assert torch.sigmoid(shifted[0]).item() == pytest.approx(0.5, abs=1e-5)  # the prior's rate
    assert torch.equal(plain.argsort(), shifted.argsort())


def test_training_loss_is_the_concept_loss_whatever_the_labels() -> None:
    module = concept_module().eval()
    batch = one_batch()
    flipped = {**batch, "label": 1 - batch["label"]}
    with torch.no_grad():
        loss = module.shared_step(batch, "train")
        loss_flipped = module.shared_step(flipped, "train")
        logits, concepts = module.forward_with_aux(batch["image"])
        expected = aux_loss(concepts, annotations()[batch["index"]])
        torch.testing.assert_close(logits, module(batch["image"]))
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(loss_flipped, expected)


def test_concept_training_refuses_a_module_without_annotations() -> None:
    module = concept_module()
    module.aux_targets = None
    with pytest.raises(ValueError, match="targets"):
        module.shared_step(one_batch(), "train")


def test_checkpoint_keeps_the_rates_and_the_head(tmp_path: Path) -> None:
    module = concept_module()
    module.net.head[-1].set_rates(np.linspace(0.05, 0.9, N_TYPES), offset=0.7)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=2,
                         enable_checkpointing=False, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         default_root_dir=tmp_path)
    before = module.net.head[-1].concept.weight.detach().clone()
    trainer.fit(module, train_dataloaders=DataLoader(RoiDict(ROIS, seed=1), batch_size=4),
                val_dataloaders=DataLoader(RoiDict(ROIS, seed=2), batch_size=4))
    assert not torch.equal(module.net.head[-1].concept.weight, before)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    restored = CalcClassifier.load_from_checkpoint(tmp_path / "model.ckpt").eval()
    assert restored.hparams.net["head"] == "concept"
    torch.testing.assert_close(restored.net.head[-1].rates, module.net.head[-1].rates)
    assert restored.net.head[-1].offset.item() == pytest.approx(0.7)
    images = RoiDict(3, seed=4).images[:, None]
    with torch.no_grad():
        torch.testing.assert_close(restored(images), module.eval()(images))


def test_a_state_without_the_offset_loads_with_none() -> None:
    source = ConceptLayer(4)
    source.set_rates(np.linspace(0.1, 0.8, N_TYPES), offset=0.0)
    state = {k: v for k, v in source.state_dict().items() if k != "offset"}
    layer = ConceptLayer(4)
    layer.set_rates(np.full(N_TYPES, 0.5), offset=1.5)
    layer.load_state_dict(state)
    assert layer.offset.item() == 0.0
    torch.testing.assert_close(layer.rates, source.rates)


def test_a_concept_head_with_an_aux_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="aux_weight"):
        TrainConfig(cache="c", head="concept", aux_weight=1.0)


def test_tta_scores_evaluation_over_the_views_and_leaves_training_alone() -> None:
    module = concept_module(tta="dihedral").eval()
    batch = one_batch()
    images = batch["image"]
    with torch.no_grad():
        module.shared_step(batch, "val")
        expected = tta_probabilities(module, images, "dihedral")
        plain = torch.sigmoid(module(images))
    kept = module.batch_outputs["val"][-1]
    torch.testing.assert_close(kept["probs"], expected)
    assert not torch.allclose(expected, plain), "an asymmetric random net: TTA changes scores"


def test_tta_waits_for_the_evaluation_after_the_fit(tmp_path: Path) -> None:
    module = concept_module(tta="dihedral")
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=1,
                         enable_checkpointing=False, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         default_root_dir=tmp_path)
    val = DataLoader(RoiDict(ROIS, seed=2), batch_size=ROIS)
    trainer.fit(module, train_dataloaders=DataLoader(RoiDict(ROIS, seed=1), batch_size=4),
                val_dataloaders=val)
    during_fit = module.last_outputs["val"]["probs"]
    trainer.validate(module, dataloaders=val, verbose=False)
    images = next(iter(val))["image"]
    module.eval()
    with torch.no_grad():
        torch.testing.assert_close(during_fit, torch.sigmoid(module(images)))
        torch.testing.assert_close(module.last_outputs["val"]["probs"],
                                   tta_probabilities(module, images, "dihedral"))


@pytest.mark.slow  # draws a small phantom
@pytest.mark.parametrize("balance", ["weights", "none"])
def test_make_module_fills_the_rates_and_the_prior_from_the_train_split(tmp_path: Path,
                                                                         balance: str) -> None:
    tiny_cache(tmp_path, seed=1)
    config = TrainConfig(cache=str(tmp_path / "cache"), weights="none", head="concept",
                         balance=balance, num_workers=0)
    datamodule = make_datamodule(config)
    layer = make_module(config, datamodule).concept_layer
    train_rows = datamodule.rows["train"]
    labels = datamodule.labels_of(train_rows)
    expected = type_rates(datamodule.aux_targets()[train_rows, 0], labels)
    np.testing.assert_allclose(layer.rates.numpy(), expected, rtol=1e-6)
    offset = np.log((labels == 0).sum() / (labels == 1).sum()) if balance == "weights" else 0.0
    assert layer.offset.item() == pytest.approx(offset, abs=1e-6)

"""Morphology pretraining: classes, targets by row, the checkpoint's round trip, a real run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
import torch

from mcal_lightning.backbones import build_network, network_from, torchvision_model
from mcal_lightning.pretrain import (
    OTHER,
    PretrainConfig,
    class_per_row,
    class_weights,
    morphology_classes,
    pretrain,
    torchvision_state,
)
from tests.mcal_lightning.sweeps_support import client


def test_rare_types_join_other_and_common_ones_come_first() -> None:
    types = pd.Series(["PLEOMORPHIC"] * 5 + ["COARSE"] * 3 + ["VASCULAR"] * 1)
    assert morphology_classes(types, min_count=2) == ["PLEOMORPHIC", "COARSE", OTHER]
    assert morphology_classes(types, min_count=1) == ["PLEOMORPHIC", "COARSE", "VASCULAR"]


def test_targets_follow_the_row_column_not_the_table_order() -> None:
    table = pd.DataFrame({"row": [2, 0, 1], "calc_type": ["COARSE", "VASCULAR", "PUNCTATE"]})
    targets = class_per_row(table, ["PUNCTATE", "COARSE", OTHER])
    assert targets.tolist() == [2, 0, 1]  # row 0 VASCULAR -> OTHER, row 1 PUNCTATE, row 2 COARSE


def test_class_weights_are_inverse_frequency_with_mean_one() -> None:
    weights = class_weights(torch.tensor([0, 0, 0, 1]), 2)
    torch.testing.assert_close(weights, torch.tensor([0.5, 1.5]))


@pytest.mark.parametrize("arch", ["alexnet", "resnet34"])
def test_saved_checkpoint_reloads_the_trained_body_exactly(arch: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torchvision_model(arch, "none")
    trained = network_from(model, arch, outputs=3)
    with torch.no_grad():  # stands in for training: every body parameter moves
        for parameter in trained.body.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.01)
    torch.save(torchvision_state(model, trained, arch), tmp_path / f"{arch}.pt")
    reloaded = build_network(arch, weights=tmp_path)
    gray = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(reloaded.eval().features(gray), trained.eval().features(gray),
                                   rtol=1e-4, atol=1e-4)


def test_pretraining_writes_weights_that_train_loads_and_tracks_the_run(workdir: Path) -> None:
    config = PretrainConfig(cache=str(workdir / "cache"), arch="alexnet", epochs=2,
                            batch_size=16, min_count=3, num_workers=0,
                            out=str(workdir / "weights"))
    result = pretrain(config, progress=False)
    assert result.path == workdir / "weights" / "alexnet.pt"
    table = pd.read_csv(workdir / "data" / "phantom_truth.csv")
    assert set(result.classes) - {OTHER} <= set(table["calc_type"])
    assert 0.0 <= result.val_accuracy <= 1.0
    net = build_network("alexnet", weights=workdir / "weights")
    saved = torch.load(result.path, weights_only=True)
    torch.testing.assert_close(net.body[1][0].weight, saved["features.6.weight"])
    run = client(workdir).get_run(result.run_id)
    assert run.data.tags["mcal.weights_sha256"] == hashlib.sha256(
        result.path.read_bytes()).hexdigest()
    assert {"train/loss", "val/balanced_accuracy"} <= set(run.data.metrics)
    assert run.data.params["classes"] == ",".join(result.classes)

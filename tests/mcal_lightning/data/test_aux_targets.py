"""Auxiliary targets: annotations to class ids by cache row, the guard, and the loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from mcal_lightning.data.aux_targets import (
    AUX_CLASSES,
    CALC_DISTRIBUTIONS,
    CALC_TYPES,
    IGNORE,
    NoAuxTargets,
    aux_loss,
    aux_target_table,
    check_annotated,
)
from preprocessing.index.cbis_csv import CALC_CSV_NAMES, read_calc_csv


def test_compound_folded_and_missing_annotations() -> None:
    table = pd.DataFrame({
        "row": [2, 0, 1, 3],
        "calc_type": ["PLEOMORPHIC-FINE_LINEAR_BRANCHING", "LUCENT_CENTERED", "N/A", np.nan],
        "calc_distribution": ["CLUSTERED-SEGMENTAL", "", "diffusely scattered", "LINEAR"],
    })
    targets = aux_target_table(table)
    assert targets.shape == (4, 2)
    assert targets[2].tolist() == [CALC_TYPES.index("PLEOMORPHIC"),
                                   CALC_DISTRIBUTIONS.index("CLUSTERED")]
    assert targets[0].tolist() == [CALC_TYPES.index("LUCENT_CENTER"), IGNORE]
    assert targets[1].tolist() == [IGNORE, CALC_DISTRIBUTIONS.index("DIFFUSELY_SCATTERED")]
    assert targets[3].tolist() == [IGNORE, CALC_DISTRIBUTIONS.index("LINEAR")]


def test_a_cache_without_annotations_is_refused_with_the_way_out() -> None:
    table = pd.DataFrame({"row": [0, 1], "calc_type": ["", ""], "calc_distribution": ["", ""]})
    targets = aux_target_table(table)
    with pytest.raises(NoAuxTargets, match="--aux-weight 0"):
        check_annotated(targets, np.array([0, 1]))
    check_annotated(aux_target_table(table.assign(calc_type=["", "COARSE"])), np.array([1]))


def test_loss_is_both_cross_entropies_over_annotated_rois_only() -> None:
    torch.manual_seed(0)
    logits = torch.randn(4, sum(AUX_CLASSES))
    targets = torch.tensor([[0, 1], [IGNORE, 2], [3, IGNORE], [7, 4]])
    n = AUX_CLASSES[0]
    expected = (F.cross_entropy(logits[[0, 2, 3], :n], targets[[0, 2, 3], 0])
                + F.cross_entropy(logits[[0, 1, 3], n:], targets[[0, 1, 3], 1]))
    assert aux_loss(logits, targets).item() == pytest.approx(expected.item(), rel=1e-6)
    changed = logits.clone()
    changed[1, :n] += 5.0  # the type logits of a ROI without a type do not count
    assert aux_loss(changed, targets).item() == pytest.approx(expected.item(), rel=1e-6)


def test_a_batch_without_any_annotation_adds_nothing_and_no_nan() -> None:
    logits = torch.randn(3, sum(AUX_CLASSES), requires_grad=True)
    loss = aux_loss(logits, torch.full((3, 2), IGNORE))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("split", sorted(CALC_CSV_NAMES))
def test_every_official_annotation_is_in_the_vocabulary(cbis_csv_dir: Path, split: str) -> None:
    rows = read_calc_csv(cbis_csv_dir / CALC_CSV_NAMES[split], split)
    targets = aux_target_table(rows.assign(row=range(len(rows))))
    for column, ids in (("calc_type", targets[:, 0]), ("calc_distribution", targets[:, 1])):
        named = ~rows[column].isin(["NA", "N/A", ""]).to_numpy()
        assert named.mean() > 0.7
        assert (ids[named] != IGNORE).all(), rows.loc[named & (ids == IGNORE), column].unique()
        assert (ids[~named] == IGNORE).all()

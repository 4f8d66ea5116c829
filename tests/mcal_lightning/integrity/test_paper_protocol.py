"""The paper's leaky protocol: 4 rotated copies per ROI, split at random by copy, guard bypassed."""

from pathlib import Path

import numpy as np
import pytest
import torch

from mcal_lightning.config import TrainConfig
from mcal_lightning.data.augment import AugmentConfig
from mcal_lightning.data.datamodule import CacheDataModule
from mcal_lightning.data.splits import LeakageError, assert_no_patient_overlap
from mcal_lightning.integrity.paper_protocol import ROTATIONS, PaperProtocolDataModule
from mcal_lightning.train import make_datamodule
from tests.conftest import REPO_ROOT

PACKAGES = ("mcal", "mcal_lightning", "preprocessing")


def paper_module(cache: Path, **options: object) -> PaperProtocolDataModule:
    options = {"batch_size": 8, "num_workers": 0, **options}
    dm = PaperProtocolDataModule(cache, acknowledge_leakage=True, **options)  # type: ignore[arg-type]
    dm.setup()
    return dm


@pytest.fixture(scope="module")
def paper(workdir: Path) -> PaperProtocolDataModule:
    return paper_module(workdir / "cache", augment=AugmentConfig(enabled=False))


def items(dm: PaperProtocolDataModule, split: str) -> set[tuple[int, int]]:
    return set(zip(dm.rows[split].tolist(), dm.turns[split].tolist(), strict=True))


def test_every_roi_of_the_whole_pool_comes_in_four_rotations(paper: PaperProtocolDataModule):
    table = paper.table
    assert set(table["split"]) == {"train", "test"}  # the pool holds the official test split too
    every = items(paper, "train") | items(paper, "val")
    assert len(paper.rows["train"]) + len(paper.rows["val"]) == ROTATIONS * len(table)
    assert every == {(row, k) for row in table["row"] for k in range(ROTATIONS)}
    assert not items(paper, "train") & items(paper, "val")  # each copy on one side only


def test_split_is_random_by_copy_80_20_and_seeded(workdir: Path, paper: PaperProtocolDataModule):
    n_items = ROTATIONS * len(paper.table)
    assert len(paper.rows["val"]) == round(0.2 * n_items)
    np.testing.assert_array_equal(paper.rows["test"], paper.rows["val"])  # reported on its val
    np.testing.assert_array_equal(paper.turns["test"], paper.turns["val"])
    again = paper_module(workdir / "cache", augment=AugmentConfig(enabled=False))
    assert items(again, "val") == items(paper, "val")
    other = paper_module(workdir / "cache", seed=1, augment=AugmentConfig(enabled=False))
    assert items(other, "val") != items(paper, "val")


def test_rotated_copies_of_one_roi_sit_on_both_sides(paper: PaperProtocolDataModule):
    shared = np.intersect1d(paper.rows["train"], paper.rows["val"])
    assert len(shared) > len(np.unique(paper.rows["val"])) / 2  # most val ROIs were trained on
    described = paper.describe()
    assert described["train_val_shared_rois"] == len(shared)
    assert described["train_items"] + described["val_items"] == ROTATIONS * len(paper.table)
    assert described["train_val_shared_patients"] > 0
    with pytest.raises(LeakageError):
        assert_no_patient_overlap(paper.table, train=paper.rows["train"], val=paper.rows["val"])


def test_items_are_np_rot90_of_the_cached_roi(paper: PaperProtocolDataModule):
    cached = np.load(paper.datasets["val"].store.path, mmap_mode="r")
    images, labels, rows = next(iter(paper.val_dataloader()))
    turns = paper.turns["val"][: len(rows)]
    assert (turns > 0).any()
    for image, row, k in zip(images[:, 0].numpy(), rows.numpy(), turns, strict=True):
        np.testing.assert_array_equal(image, np.rot90(cached[row], k))
    expected = paper.table.set_index("row").loc[rows.numpy(), "label"].to_numpy(np.float32)
    np.testing.assert_array_equal(labels.numpy(), expected)
    assert rows.dtype == torch.int64  # cache rows, not item numbers


def test_train_items_are_rotated_then_augmented(workdir: Path):
    flip_only = AugmentConfig(hflip_p=1.0, vflip_p=0.0, affine_p=0.0, brightness_contrast_p=0.0)
    dm = paper_module(workdir / "cache", augment=flip_only)
    cached = np.load(dm.datasets["train"].store.path, mmap_mode="r")
    positions = list(range(16))
    images, _, rows = dm.datasets["train"].__getitems__(positions)
    turns = dm.turns["train"][positions]
    assert {1, 3} & set(turns.tolist())  # odd turns: flip-then-turn would differ
    for image, row, k in zip(images[:, 0].numpy(), rows.numpy(), turns, strict=True):
        np.testing.assert_array_equal(image, np.fliplr(np.rot90(cached[row], k)))


def test_the_guard_is_bypassed_only_on_purpose(workdir: Path, paper: PaperProtocolDataModule):
    with pytest.raises(ValueError, match="acknowledge_leakage"):
        PaperProtocolDataModule(workdir / "cache")
    with pytest.raises(ValueError, match="folds"):
        PaperProtocolDataModule(workdir / "cache", acknowledge_leakage=True, folds=5)
    honest = CacheDataModule(workdir / "cache", num_workers=0)
    honest.split_rows = lambda table: {name: paper.rows[name] for name in ("train", "val")}
    with pytest.raises(LeakageError):  # the normal DataModule refuses the same split
        honest.setup()
    config = TrainConfig(cache=str(workdir / "cache"), num_workers=0)
    assert type(make_datamodule(config)) is CacheDataModule  # what `mcal train` builds


def test_only_the_replay_imports_the_paper_protocol():
    root = REPO_ROOT
    users = {path.relative_to(root).as_posix()
             for package in PACKAGES for path in (root / package).rglob("*.py")
             if "paper_protocol" in path.read_text() and path.stem != "paper_protocol"}
    assert users == {"mcal_lightning/integrity/replay.py"}

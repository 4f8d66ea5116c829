"""The published protocol this project corrects, rebuilt on purpose for ``mcal replay-paper``.

Leong et al. (2022) added rot90/180/270 copies of every ROI to one pool and then split the
copies at random, 80/20, by ROI copy: copies of one ROI, and the other views of one patient,
sat on both sides, and the 20% served as validation and as the reported result.

``PaperProtocolDataModule`` reproduces that split and therefore BYPASSES THE PATIENT GUARD
(``assert_no_patient_overlap``). It is leaky by construction: only ``integrity.replay``
uses it, ``make_datamodule`` never builds it (no ``TrainConfig`` setting selects it) and it
refuses to start without ``acknowledge_leakage=True``. Its metrics measure leakage, not skill.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcal_lightning.data.augment import Augmenter, make_augmenter
from mcal_lightning.data.datamodule import (
    CacheDataModule,
    CacheDataset,
    ImageStore,
)
from mcal_lightning.data.splits import split_counts

ROTATIONS = 4  # quarter turns k of np.rot90: the original and its 90, 180 and 270 copies
PATIENT_GUARD = "bypassed"  # logged with the data description of every run this module feeds


class RotatedCacheDataset(CacheDataset):
    """CacheDataset whose items are (row, k): the row's ROI turned k quarter turns.

    ``rows`` stays the cache row of every item (a parallel ``turns`` array holds k), so batches
    are still ``(images, labels, rows)`` and predictions join back to the table by row.
    """

    def __init__(self, store: ImageStore, rows: np.ndarray, turns: np.ndarray,
                 labels: np.ndarray, augmenter: Augmenter | None = None) -> None:
        super().__init__(store, rows, labels, augmenter)
        self.turns = np.asarray(turns, dtype=np.int64)
        if self.turns.shape != self.rows.shape:
            raise ValueError("turns needs one quarter-turn count per row")

    def _sources(self, positions: np.ndarray) -> list[np.ndarray]:
        """Each item's ROI turned its k quarter turns (augmented after, when training)."""
        return [np.ascontiguousarray(np.rot90(self.store.array[row], k))
                for row, k in zip(self.rows[positions], self.turns[positions], strict=True)]


def rotated_items(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, turns) of every rotated copy: each row ROTATIONS times, k = 0..ROTATIONS-1."""
    rows = np.asarray(rows, dtype=np.int64)
    return np.repeat(rows, ROTATIONS), np.tile(np.arange(ROTATIONS, dtype=np.int64), len(rows))


def random_item_split(rows: np.ndarray, turns: np.ndarray, val_fraction: float,
                      seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The paper's split: items (not ROIs, not patients) drawn at random into train and val."""
    order = np.random.default_rng(seed).permutation(len(rows))
    n_val = round(val_fraction * len(rows))
    val = np.sort(order[:n_val])  # sorted: evaluation in a fixed order
    train = order[n_val:]
    return {"train": (rows[train], turns[train]), "val": (rows[val], turns[val])}


class PaperProtocolDataModule(CacheDataModule):
    """Every ROI of the cache in 4 rotations, split 80/20 at random by rotated copy. LEAKY.

    Pool: ALL rows, official train and test together. The paper drew its 80/20 from one pool
    of ROIs, so the official test split is not held out here; "test" is the same random 20%
    as "val", as the paper reported its validation set. ``val_fraction`` and ``seed`` set the
    split; ``folds``/``fold`` are refused. Train augmentation is the project's default, as in
    the honest protocol, so the two protocols differ by their split alone.

    The patient guard is not called (see the module docstring): ``acknowledge_leakage=True``
    is required. ``turns[split]`` holds each item's quarter turns beside ``rows[split]``.
    """

    def __init__(self, cache: str | Path, *, acknowledge_leakage: bool = False,
                 **options: Any) -> None:
        if not acknowledge_leakage:
            raise ValueError("PaperProtocolDataModule puts copies of one ROI on both sides of "
                             "its split and bypasses the patient guard; it exists only to "
                             "replay the paper (pass acknowledge_leakage=True to mean that)")
        if options.get("folds") is not None or options.get("fold") is not None:
            raise ValueError("the paper's protocol has one random split: no folds")
        super().__init__(cache, **options)
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must lie in (0, 1), got {self.val_fraction}")
        self.turns: dict[str, np.ndarray] = {}

    def split_rows(self, table: pd.DataFrame) -> dict[str, np.ndarray]:
        """Rows of train, val and test (= val) from the whole pool; their turns in self.turns."""
        rows, turns = rotated_items(np.sort(table["row"].to_numpy(dtype=np.int64)))
        items = random_item_split(rows, turns, self.val_fraction, self.seed)
        items["test"] = items["val"]
        self.turns = {name: item_turns for name, (_, item_turns) in items.items()}
        return {name: item_rows for name, (item_rows, _) in items.items()}

    def guard(self, table: pd.DataFrame, rows: dict[str, np.ndarray]) -> None:
        """No patient guard: the leak is the point (see the class docstring)."""

    def make_dataset(self, store: ImageStore, split: str) -> RotatedCacheDataset:
        augmenter = make_augmenter(self.augment, self.augment_backend) if split == "train" else None
        rows = self.rows[split]
        return RotatedCacheDataset(store, rows, self.turns[split], self.labels_of(rows),
                                   augmenter)

    def describe(self) -> dict[str, Any]:
        """Items, ROIs and patients per split, and how many of them train and val share."""
        self.setup()
        counts: dict[str, Any] = {}
        for name, value in split_counts(self.table, self.rows).items():
            counts[name.replace("_rois", "_items")] = value
        for name, rows in self.rows.items():
            counts[f"{name}_rois"] = len(np.unique(rows))
        patient_of = self.table.set_index("row")["patient_id"]
        train, val = self.rows["train"], self.rows["val"]
        counts["train_val_shared_rois"] = len(np.intersect1d(train, val))
        counts["train_val_shared_patients"] = len(set(patient_of[train]) & set(patient_of[val]))
        counts["patient_guard"] = PATIENT_GUARD
        return counts

"""CacheDataModule: serves the preprocessing cache to Lightning without decoding an image.

Batches are ``(images, labels, rows)``:

* ``images``: (B, 1, S, S) in the cache's own integer dtype (``torch.uint8`` or
  ``torch.uint16``). uint16 tensors collate,
  pin and copy to the GPU, and ``.float()`` works on them, but torch has few other uint16
  kernels: the LightningModule converts first, on the device:
  ``(x.float() / dm.max_value - dm.mean) / dm.std``. Shipping integers keeps the host side
  cheap (2 bytes a pixel instead of 4) and leaves normalisation to the GPU.
* ``labels``: (B,) float32, 0 benign / 1 malignant, ready for BCE.
* ``rows``: (B,) int64 cache row numbers, to join predictions back to ``dm.table``.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.context import BaseContext, ForkServerContext
from pathlib import Path
from typing import Any, Literal

import cv2
import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler, get_worker_info

from mcal_lightning.config import BALANCES
from mcal_lightning.data.augment import (
    BACKENDS,
    AugmentConfig,
    Augmenter,
    augment_config,
    make_augmenter,
)
from mcal_lightning.data.aux_targets import aux_target_table, check_annotated
from mcal_lightning.data.splits import (
    assert_no_patient_overlap,
    grouped_folds,
    official_rows,
    split_counts,
    train_val_split,
)
from preprocessing.cache import open_cache

Balance = Literal["weights", "sampler", "none"]  # config.BALANCES
SPLITS = ("train", "val", "test")


class ImageStore:
    """The cache's ROI array, opened lazily in each process.

    Memory-mapped by default: pickling to a worker sends the path, never the pixels, and every
    worker maps the same page cache. With ``in_memory`` the array is read once into shared
    memory, which workers receive by handle (no copy per worker, whatever the start method).
    """

    def __init__(self, path: Path, in_memory: bool = False) -> None:
        self.path = Path(path)
        self.shared: torch.Tensor | None = None
        if in_memory:
            self.shared = torch.from_numpy(np.load(self.path)).share_memory_()
        self._array: np.ndarray | None = None

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            if self.shared is not None:
                self._array = self.shared.numpy()
            else:
                self._array = np.load(self.path, mmap_mode="r")
        return self._array

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def keep_batch(batch: Batch) -> Batch:
    """collate_fn for datasets whose ``__getitems__`` already returns a whole batch."""
    return batch


class CacheDataset(Dataset):
    """(image (1, S, S) integer tensor, label float32, row int64) for the given cache rows.

    The DataLoader calls ``__getitems__`` with a whole batch of indices (``keep_batch`` is the
    collate_fn): each row is read from the memmap's pages and written, augmented or not, straight
    into one batch tensor that lives in shared memory when in a worker, so no per-item tensors,
    no stacking and no copy when the batch is handed to the main process.
    """

    def __init__(self, store: ImageStore, rows: np.ndarray, labels: np.ndarray,
                 augmenter: Augmenter | None = None) -> None:
        self.store = store
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.float32)
        self.augmenter = augmenter if augmenter is not None and augmenter.config.enabled else None
        self._seeded_for: object = "unseeded"

    def __len__(self) -> int:
        return len(self.rows)

    def _prepare_process(self) -> None:
        """Once per worker (and per epoch for short-lived workers): threads and random state."""
        info = get_worker_info()
        key = None if info is None else info.seed
        if key == self._seeded_for:
            return
        self._seeded_for = key
        if info is not None:
            cv2.setNumThreads(1)  # one worker per core already; cv2 threads only contend
        if self.augmenter is not None:
            seed = torch.initial_seed() if info is None else info.seed
            self.augmenter.reseed(seed % 2**32)

    def _empty_batch(self, size: int) -> torch.Tensor:
        """(size, 1, S, S) tensor to write into; in shared memory inside a worker."""
        dtype = torch.from_numpy(np.empty(0, self.store.array.dtype)).dtype
        batch = torch.empty((size, 1, *self.store.array.shape[1:]), dtype=dtype)
        return batch.share_memory_() if get_worker_info() is not None else batch

    def _sources(self, positions: np.ndarray) -> list[np.ndarray]:
        """The items' pixels as stored (memmap views: nothing is copied yet)."""
        return [self.store.array[row] for row in self.rows[positions]]

    def _fill(self, positions: np.ndarray, target: np.ndarray) -> None:
        """The items' pixels, augmented when training, into target (B, S, S).

        Reads straight from the memmap's pages into the batch: no intermediate copy.
        """
        sources = self._sources(positions)
        if self.augmenter is None:
            for source, out in zip(sources, target, strict=True):
                out[...] = source
        elif target.dtype == sources[0].dtype:
            self.augmenter.augment_batch(sources, target)
        else:
            augmented = np.empty((len(sources), *sources[0].shape), sources[0].dtype)
            self.augmenter.augment_batch(sources, augmented)
            target[...] = augmented

    def __getitems__(self, indices: list[int]) -> Batch:
        self._prepare_process()
        positions = np.asarray(indices, dtype=np.int64)
        rows = self.rows[positions]
        images = self._empty_batch(len(rows))
        self._fill(positions, images.numpy()[:, 0])
        return images, torch.from_numpy(self.labels[positions]), torch.from_numpy(rows)

    def __getitem__(self, index: int) -> Batch:
        images, labels, rows = self.__getitems__([index])
        return images[0], labels[0], rows[0]


def worker_context(method: str | None) -> BaseContext | None:
    """The workers' start method; forkserver by default.

    A worker forked from a process whose OpenCV thread pool has run deadlocks (cv2 in the
    parent: preprocessing, plots); forkserver workers fork from a clean server instead, which
    imports this module (torch, cv2, albumentations) once so that workers start in a blink.
    """
    if method is None:
        return None
    context = multiprocessing.get_context(method)
    if isinstance(context, ForkServerContext):
        context.set_forkserver_preload(["__main__", __name__])  # no effect once it runs
    return context


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def default_workers() -> int:
    """Loader processes: on a CPU-only host they would only steal cores from the training step."""
    return min(8, os.cpu_count() or 1) if torch.cuda.is_available() else 0


def unit_mean_std(images: np.ndarray, rows: np.ndarray, max_value: int) -> tuple[float, float]:
    """Exact mean and std of the rows' pixels in [0, 1] units, from an integer histogram."""
    counts = np.zeros(max_value + 1, dtype=np.int64)
    for start in range(0, len(rows), 256):
        block = images[np.sort(rows[start : start + 256])]
        counts += np.bincount(block.ravel(), minlength=max_value + 1)
    values = np.arange(max_value + 1, dtype=np.float64) / max_value
    total = counts.sum()
    mean = float((counts * values).sum() / total)
    variance = float((counts * (values - mean) ** 2).sum() / total)
    return mean, variance**0.5


class CacheDataModule(L.LightningDataModule):
    """Grouped train/val/test splits of one cache, as integer batches for the GPU to normalise.

    train/val: ``train_val_split(val_fraction, seed)`` of the official train split, or fold
    ``fold`` (default 0) of ``grouped_folds(folds (default 5), seed)`` when either is given.
    test: the official test split. ``assert_no_patient_overlap`` checks every split made.

    After ``setup()`` the LightningModule reads ``max_value``, ``mean``, ``std`` (train split,
    [0, 1] units), ``pos_weight`` (for ``BCEWithLogitsLoss``: n_neg/n_pos under
    ``balance="weights"``, else 1.0) and ``fingerprint`` (the cache dataset's content key).
    Workers start by forkserver (see ``loader``): scripts that train need the usual
    ``if __name__ == "__main__":`` guard.
    """

    def __init__(
        self,
        cache: str | Path,
        batch_size: int = 64,
        num_workers: int | None = None,
        val_fraction: float = 0.2,
        seed: int = 0,
        folds: int | None = None,
        fold: int | None = None,
        balance: Balance = "weights",
        augment: AugmentConfig | dict[str, Any] | str | None = None,
        augment_backend: str = "batch",
        in_memory: bool = False,
        allow_ungrouped: bool = False,
        pin_memory: bool | None = None,
        predict_split: str = "test",
        worker_start: str | None = "forkserver",
    ) -> None:
        super().__init__()
        check_choice("balance", balance, BALANCES)
        check_choice("augment_backend", augment_backend, BACKENDS)
        check_choice("predict_split", predict_split, SPLITS)
        if folds is not None and fold is not None and not 0 <= fold < folds:
            raise ValueError(f"fold must lie in [0, {folds}), got {fold}")
        self.save_hyperparameters(logger=False)
        self.cache = Path(cache)
        self.batch_size = batch_size
        self.num_workers = default_workers() if num_workers is None else num_workers
        self.val_fraction, self.seed = val_fraction, seed
        self.folds, self.fold = folds, fold
        self.balance: Balance = balance
        self.augment = augment_config(augment)  # a config, a dict or a preset name ("paper")
        self.augment_backend = augment_backend
        self.in_memory = in_memory
        self.allow_ungrouped = allow_ungrouped
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.predict_split = predict_split
        self.worker_start = worker_start
        self.rows: dict[str, np.ndarray] = {}
        self.datasets: dict[str, CacheDataset] = {}
        self.table = pd.DataFrame()
        self.fingerprint = ""
        self.max_value = 0
        self.image_size = 0
        self.mean = self.std = float("nan")
        self.pos_weight = 1.0

    def split_rows(self, table: pd.DataFrame) -> dict[str, np.ndarray]:
        """train/val from the official train split (one fold), test = the official test split."""
        if self.folds is not None or self.fold is not None:
            folds = grouped_folds(table, self.folds or 5, self.seed, self.allow_ungrouped)
            train, val = folds[self.fold or 0]
        else:
            train, val = train_val_split(table, self.val_fraction, self.seed,
                                         self.allow_ungrouped)
        return {"train": train, "val": val, "test": official_rows(table, "test")}

    def setup(self, stage: str | None = None) -> None:
        """Open the cache, split, guard, and compute the statistics; once only."""
        if self.datasets:
            return
        cached = open_cache(self.cache)
        self.table, self.fingerprint = cached.table, cached.path.name
        self.max_value = int(np.iinfo(cached.images.dtype).max)
        self.image_size = int(cached.images.shape[-1])
        rows = self.split_rows(cached.table)
        self.guard(cached.table, rows)
        self.mean, self.std = unit_mean_std(cached.images, rows["train"], self.max_value)
        self.pos_weight = self.train_pos_weight(rows["train"]) if self.balance == "weights" else 1.0
        store = ImageStore(cached.path / "rois.npy", self.in_memory)
        self.rows = rows
        self.datasets = {name: self.make_dataset(store, name) for name in SPLITS}

    def guard(self, table: pd.DataFrame, rows: dict[str, np.ndarray]) -> None:
        """Refuse a patient on two sides (splits.LeakageError)."""
        assert_no_patient_overlap(table, allow_ungrouped=self.allow_ungrouped, **rows)

    def labels_of(self, rows: np.ndarray) -> np.ndarray:
        return self.table.set_index("row").loc[rows, "label"].to_numpy(dtype=np.float32)

    def train_pos_weight(self, train_rows: np.ndarray) -> float:
        """n_negative / n_positive of the train split."""
        labels = self.labels_of(train_rows)
        positives = float(labels.sum())
        if positives == 0:
            raise ValueError("the train split has no malignant ROI: pos_weight is undefined")
        return (len(labels) - positives) / positives

    def make_dataset(self, store: ImageStore, split: str) -> CacheDataset:
        augmenter = make_augmenter(self.augment, self.augment_backend) if split == "train" else None
        rows = self.rows[split]
        return CacheDataset(store, rows, self.labels_of(rows), augmenter)

    def aux_targets(self) -> np.ndarray:
        """(n_rows, 2) calc type and distribution ids by cache row; NoAuxTargets when the
        training ROIs have none (``data.aux_targets``)."""
        self.setup()
        targets = aux_target_table(self.table)
        check_annotated(targets, self.rows["train"])
        return targets

    def train_sampler(self) -> Sampler[int] | None:
        """Class-balanced draws with replacement under balance="sampler", else None."""
        if self.balance != "sampler":
            return None
        labels = self.datasets["train"].labels.astype(np.int64)
        per_class = np.bincount(labels, minlength=2).astype(np.float64)
        weights = torch.from_numpy(1.0 / per_class[labels])
        generator = torch.Generator().manual_seed(self.seed)
        return WeightedRandomSampler(weights, len(labels), replacement=True, generator=generator)

    def loader(self, split: str, train: bool = False) -> DataLoader:
        self.setup()
        sampler = self.train_sampler() if train else None
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            drop_last=train and self.drops_last_batch(split),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            collate_fn=keep_batch,
            multiprocessing_context=worker_context(self.worker_start) if self.num_workers else None,
        )

    def drops_last_batch(self, split: str) -> bool:
        """Training drops an epoch's last, partial batch when the split fills more than one:
        a step on a few ROIs gives batch norm nearly no statistics (on one ROI it fails)."""
        return len(self.datasets[split]) > self.batch_size

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self.loader(self.predict_split)

    def describe(self) -> dict[str, int]:
        """ROIs, benign, malignant and patients of each split, flat (e.g. ``train_rois``)."""
        self.setup()
        return split_counts(self.table, self.rows)

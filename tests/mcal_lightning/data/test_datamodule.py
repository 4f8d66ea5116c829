import pickle
from dataclasses import replace
from multiprocessing.context import ForkServerContext
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from mcal_lightning.data import datamodule as datamodule_module
from mcal_lightning.data.augment import AugmentConfig
from mcal_lightning.data.datamodule import CacheDataModule
from mcal_lightning.data.splits import LeakageError, grouped_folds
from preprocessing.cache import build_cache, open_cache
from preprocessing.index import build_index
from preprocessing.pipeline import PreprocessConfig

N_PATIENTS = 40
NO_AUGMENT = AugmentConfig(enabled=False)


def make_folder(root: Path, seed: int = 0) -> Path:
    """2-3 PNGs per patient; every third patient malignant."""
    rng = np.random.default_rng(seed)
    for patient in range(N_PATIENTS):
        label = "malignant" if patient % 3 == 0 else "benign"
        (root / label).mkdir(parents=True, exist_ok=True)
        for view in range(2 + patient % 2):
            pixels = rng.integers(0, 65535, (40, 40), dtype=np.uint16)
            cv2.imwrite(str(root / label / f"P{patient:04d}_{view}.png"), pixels)
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dm")
    index = build_index(make_folder(root / "data"), patient_pattern=r"^(P\d+)_", progress=False)
    build_cache(index, root / "cache", PreprocessConfig(size=32, filter="none"), workers=1,
                progress=False)
    return root / "cache"


def module(cache: Path, **options: object) -> CacheDataModule:
    options = {"batch_size": 8, "num_workers": 0, "augment": NO_AUGMENT, **options}
    dm = CacheDataModule(cache, **options)  # type: ignore[arg-type]
    dm.setup()
    return dm


def collect(loader: torch.utils.data.DataLoader) -> tuple[torch.Tensor, ...]:
    batches = list(loader)
    return tuple(torch.cat([b[i] for b in batches]) for i in range(3))


def full_batches(dm: CacheDataModule) -> int:
    """ROIs in one training epoch: the train split's full batches."""
    return len(dm.rows["train"]) // dm.batch_size * dm.batch_size


def patients(dm: CacheDataModule, split: str) -> set[str]:
    return set(dm.table.set_index("row").loc[dm.rows[split], "patient_id"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_splits_are_grouped_and_cover_the_official_train_split(cache: Path, seed: int):
    dm = module(cache, seed=seed)
    official_train = set(dm.table.loc[dm.table["split"] == "train", "row"])
    assert set(dm.rows["train"]) | set(dm.rows["val"]) == official_train
    assert len(dm.rows["train"]) + len(dm.rows["val"]) == len(official_train)
    assert set(dm.rows["test"]) == set(dm.table.loc[dm.table["split"] == "test", "row"])
    for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
        assert not patients(dm, a) & patients(dm, b)


def test_fold_option_uses_grouped_folds(cache: Path):
    dm = module(cache, folds=3, fold=1, seed=4)
    expected_train, expected_val = grouped_folds(dm.table, 3, 4)[1]
    np.testing.assert_array_equal(dm.rows["val"], expected_val)
    np.testing.assert_array_equal(dm.rows["train"], expected_train)


@pytest.mark.parametrize("split", ["val", "test", "predict"])
def test_eval_loaders_return_the_cache_rows_unaugmented(cache: Path, split: str):
    dm = module(cache, augment=AugmentConfig(affine_p=1.0, brightness_contrast_p=1.0))
    images, labels, rows = collect(getattr(dm, f"{split}_dataloader")())
    cached = open_cache(cache)
    assert images.dtype == torch.uint16 and images.shape[1:] == (1, 32, 32)
    np.testing.assert_array_equal(images[:, 0].numpy(), cached.images[rows.numpy()])
    expected = cached.table.set_index("row").loc[rows.numpy(), "label"].to_numpy()
    np.testing.assert_array_equal(labels.numpy(), expected)
    assert labels.dtype == torch.float32 and rows.dtype == torch.int64
    assert set(rows.tolist()) == set(dm.rows["val" if split == "val" else "test"])


def test_train_loader_ships_the_cache_integers_without_normalising(cache: Path):
    dm = module(cache)
    images, _, rows = collect(dm.train_dataloader())
    cached = open_cache(cache)
    np.testing.assert_array_equal(images[:, 0].numpy(), cached.images[rows.numpy()])
    assert len(set(rows.tolist())) == len(rows) == full_batches(dm)
    assert set(rows.tolist()) <= set(dm.rows["train"].tolist())
    # raw 16-bit values, not [0, 1]; torch has few uint16 kernels, so the module converts first
    assert dm.max_value == 65535 and images.float().max() > 255


def test_training_drops_the_last_partial_batch_but_never_the_only_one(cache: Path):
    dm = module(cache)
    n_train = len(dm.rows["train"])
    assert n_train % 8, "the fixture should leave a partial last batch at batch size 8"
    assert [len(b[0]) for b in dm.train_dataloader()] == [8] * (n_train // 8)
    assert sum(len(b[0]) for b in dm.val_dataloader()) == len(dm.rows["val"])  # scored whole
    only = list(module(cache, batch_size=n_train + 5).train_dataloader())
    assert [len(b[0]) for b in only] == [n_train]


def test_train_loader_augments_and_keeps_dtype(cache: Path):
    dm = module(cache, augment=AugmentConfig(affine_p=1.0))
    images, _, rows = collect(dm.train_dataloader())
    original = open_cache(cache).images[rows.numpy()]
    assert images.dtype == torch.uint16 and images.shape[1:] == (1, 32, 32)
    assert not np.array_equal(images[:, 0].numpy(), original)


def test_augmented_images_stay_with_their_rows_and_labels(cache: Path):
    """Flips only: each image is one of its own row's four flips, under that row's label."""
    dm = module(cache, augment=AugmentConfig(affine_p=0.0, brightness_contrast_p=0.0))
    images, labels, rows = collect(dm.train_dataloader())
    cached = open_cache(cache).images
    flipped = 0
    for image, row in zip(images[:, 0].numpy(), rows.numpy(), strict=True):
        source = np.asarray(cached[row])
        variants = (source, source[:, ::-1], source[::-1], source[::-1, ::-1])
        matches = [np.array_equal(image, v) for v in variants]
        assert any(matches), f"row {row}: not a flip of its own ROI"
        flipped += not matches[0]
    assert flipped > 0
    np.testing.assert_array_equal(labels.numpy(), dm.labels_of(rows.numpy()))


def test_statistics_for_the_module(cache: Path):
    dm = module(cache)
    train = open_cache(cache).images[np.sort(dm.rows["train"])] / 65535.0
    assert dm.mean == pytest.approx(train.mean(), rel=1e-9)
    assert dm.std == pytest.approx(train.std(), rel=1e-9)
    labels = dm.table.set_index("row").loc[dm.rows["train"], "label"]
    assert dm.pos_weight == pytest.approx((labels == 0).sum() / (labels == 1).sum())
    assert dm.image_size == 32
    assert dm.fingerprint == open_cache(cache).path.name
    assert module(cache, balance="none").pos_weight == 1.0


def test_weighted_sampler_draws_classes_roughly_balanced(cache: Path):
    dm = module(cache, balance="sampler")
    sampler = dm.train_sampler()
    assert sampler is not None
    labels = dm.datasets["train"].labels
    draws = [labels[i] for _ in range(20) for i in sampler]
    assert abs(np.mean(draws) - 0.5) < 0.05
    assert labels.mean() < 0.45  # the train split itself is imbalanced
    _, batch_labels, _ = collect(dm.train_dataloader())
    assert len(batch_labels) == full_batches(dm)


def test_setup_is_idempotent_and_describe_counts(cache: Path):
    dm = module(cache)
    datasets = dm.datasets
    dm.setup("fit")
    dm.setup("test")
    assert dm.datasets is datasets
    counts = dm.describe()
    assert sum(counts[f"{s}_rois"] for s in ("train", "val", "test")) == len(dm.table)
    assert counts["train_benign"] + counts["train_malignant"] == counts["train_rois"]
    assert counts["test_patients"] == len(patients(dm, "test"))


def test_setup_runs_the_guard(cache: Path, monkeypatch: pytest.MonkeyPatch):
    def leaky_split(table: pd.DataFrame, *args: object, **kwargs: object) -> tuple:
        rows = table.loc[table["split"] == "train", "row"].to_numpy()
        return rows, rows[:4]

    monkeypatch.setattr(datamodule_module, "train_val_split", leaky_split)
    with pytest.raises(LeakageError, match="'train' and 'val'"):
        module(cache)


def test_empty_patient_ids_are_refused_unless_allowed(cache: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    cached = open_cache(cache)
    table = cached.table.copy()
    table.loc[table.index[:2], "patient_id"] = ""
    monkeypatch.setattr(datamodule_module, "open_cache", lambda _: replace(cached, table=table))
    with pytest.raises(LeakageError, match="no patient id"):
        module(cache)
    with pytest.warns(UserWarning, match="inflated"):
        module(cache, allow_ungrouped=True)


def test_datasets_pickle_without_their_pixels(cache: Path):
    dm = module(cache)
    dataset = dm.datasets["train"]
    assert len(pickle.dumps(dataset)) < open_cache(cache).images.nbytes / 4
    restored = pickle.loads(pickle.dumps(dataset))
    np.testing.assert_array_equal(restored[0][0].numpy(), dataset[0][0].numpy())


def test_the_train_loader_keeps_its_workers_forked_from_a_clean_server(cache: Path):
    dm = module(cache, num_workers=2)
    loader = dm.train_dataloader()  # no batch asked for: no process starts
    assert loader.persistent_workers and loader.num_workers == 2
    assert isinstance(loader.multiprocessing_context, ForkServerContext)


@pytest.mark.slow  # starts a forkserver, which imports torch, lightning and albumentations
def test_worker_processes_load_and_augment_differently_per_epoch(cache: Path):
    dm = module(cache, num_workers=2, augment=AugmentConfig(affine_p=1.0), in_memory=True)
    loader = dm.train_dataloader()
    assert loader.persistent_workers and loader.num_workers == 2
    epochs = []
    for _ in range(2):
        images, _, rows = collect(loader)
        epochs.append(images[rows.argsort()])
    assert epochs[0].dtype == torch.uint16
    assert not torch.equal(epochs[0], epochs[1])


def test_bad_options_are_refused(cache: Path):
    with pytest.raises(ValueError, match="balance"):
        CacheDataModule(cache, balance="oversample")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fold must lie"):
        CacheDataModule(cache, folds=3, fold=3)

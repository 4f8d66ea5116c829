"""Benchmark P3: the cache-backed DataModule loader vs ImageFolder + PIL + torchvision.

Run as ``python bench/p3_loader.py [--rois N]`` (~3 min). Builds a cache from synthetic 300x300
uint16 PNGs (``filter="none"``, size 224; by default as many ROIs as CBIS-DDSM's calcification
set), takes the DataModule's train split, writes those cached 224x224 uint16 ROIs back out as
PNGs in benign/ and malignant/ folders, and loads both with the same augmentations (flips,
rotation + zoom, brightness/contrast, same probabilities and limits), batch 64, on all the
machine's cores. Every loader runs one warm-up epoch (worker start-up, page cache), then whole
epochs for at least --seconds, in interleaved rounds so that other processes on the machine hit
every loader alike; the median round counts. Target: the cache loader >= 10x the ImageFolder
16-bit baseline. Always exits 0: it is a benchmark, not a test.

How each loader uses the cores: the ImageFolder loaders run num_workers = cores persistent
forkserver worker processes, the usual setting. The cache loader runs as ``mcal train`` runs it
on this host: ``CacheDataModule``'s default num_workers, which is 0 on a host without CUDA
(the batch is built in the training process, OpenCV spreading each warp over every core, so no
batch crosses a process boundary) and worker processes on a GPU host; the reference row
"worker processes" forces num_workers = cores on any host.

Rows:
* cache loader: ``CacheDataModule.train_dataloader()`` as training uses it (batch backend).
* ImageFolder 16-bit: PIL decodes the uint16 PNG, torchvision.transforms.v2 augments the float
  tensor (PIL cannot jitter 16-bit images). The baseline the target is judged against.
* ImageFolder 8-bit PIL (reference): the same images cut to 8 bits and augmented as PIL images,
  the usual ImageFolder route; it throws away 8 of the 16 bits.
* cache loader, worker processes (reference): the same with num_workers = cores.
* cache loader, uint8 cache (reference): the same loader on a uint8 cache (half the bytes).
* cache loader, no augment (reference): the ceiling set by reading and handing batches over.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import v2

from mcal_lightning.data.augment import AugmentConfig, make_augmenter
from mcal_lightning.data.datamodule import CacheDataModule, CacheDataset, default_workers
from preprocessing.cache import build_cache, open_cache
from preprocessing.index import build_index
from preprocessing.pipeline import PreprocessConfig

N_ROIS = 1872  # CBIS-DDSM's calcification ROIs (1546 train + 326 test)
SOURCE_SIDE = 300
SIZE = 224
BATCH_SIZE = 64
WORKERS = os.cpu_count() or 1
CACHE = "cache loader (DataModule)"
BASELINE = "ImageFolder 16-bit (baseline)"
TARGET = 10.0
AUGMENT = AugmentConfig(hflip_p=0.5, vflip_p=0.5, rotate_limit=20.0, zoom_limit=0.1,
                        affine_p=0.75, brightness_limit=0.1, contrast_limit=0.1,
                        brightness_contrast_p=0.5)


def synthetic_roi(rng: np.random.Generator) -> np.ndarray:
    """A smooth uint16 texture with a few bright specks, like a calcification ROI."""
    texture = cv2.GaussianBlur(rng.random((SOURCE_SIDE, SOURCE_SIDE), dtype=np.float32), (0, 0), 6)
    texture = (texture - texture.min()) / (np.ptp(texture) + 1e-6)
    image = 8000 + 30000 * texture
    ys, xs = rng.integers(20, SOURCE_SIDE - 20, (2, 12))
    image[ys, xs] = 60000
    return image.astype(np.uint16)


def write_sources(root: Path, count: int, seed: int = 0) -> Path:
    """count PNGs in benign/ and malignant/, 4 per patient."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        label = ("benign", "malignant")[(i // 4) % 2]
        (root / label).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / label / f"P{i // 4:04d}_{i}.png"), synthetic_roi(rng))
    return root


def export_cache_pngs(cache: Path, rows: np.ndarray, out: Path) -> Path:
    """The rows' cached ROIs as uint16 PNGs in class folders: the baseline reads the same pixels."""
    dataset = open_cache(cache)
    labels = dataset.table.set_index("row")["label"]
    for row in rows:
        folder = out / ("benign", "malignant")[int(labels[row])]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{row:05d}.png"), np.asarray(dataset.images[row]))
    return out


def export_8bit(src: Path, out: Path) -> Path:
    """The same PNGs cut to 8 bits (the reference row only)."""
    for png in src.rglob("*.png"):
        (out / png.parent.name).mkdir(parents=True, exist_ok=True)
        image = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(out / png.parent.name / png.name), (image >> 8).astype(np.uint8))
    return out


def load_uint16_tensor(path: str) -> torch.Tensor:
    """PIL decode of a 16-bit PNG to a (1, H, W) float tensor in [0, 1]."""
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 65535.0).unsqueeze(0)


def torchvision_augment(head: list[Callable[..., object]] | None = None,
                        tail: list[Callable[..., object]] | None = None) -> v2.Compose:
    """torchvision's version of AUGMENT (same probabilities and limits)."""
    zoom = (1 - AUGMENT.zoom_limit, 1 + AUGMENT.zoom_limit)
    jitter = v2.ColorJitter(brightness=AUGMENT.brightness_limit, contrast=AUGMENT.contrast_limit)
    return v2.Compose([
        *(head or []),
        v2.RandomHorizontalFlip(AUGMENT.hflip_p),
        v2.RandomVerticalFlip(AUGMENT.vflip_p),
        v2.RandomApply([v2.RandomAffine(degrees=AUGMENT.rotate_limit, scale=zoom)],
                       p=AUGMENT.affine_p),
        v2.RandomApply([jitter], p=AUGMENT.brightness_contrast_p),
        *(tail or []),
    ])


def imagefolder_loader(root: Path, eight_bit: bool) -> DataLoader:
    """ImageFolder + PIL + torchvision transforms: batch 64, num_workers = cores, forkserver."""
    if eight_bit:
        transform = torchvision_augment([v2.Grayscale(1)], [v2.PILToTensor()])
        dataset = datasets.ImageFolder(str(root), transform=transform)
    else:
        dataset = datasets.ImageFolder(str(root), loader=load_uint16_tensor,
                                       transform=torchvision_augment())
    return DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True, num_workers=WORKERS,
                      pin_memory=torch.cuda.is_available(), persistent_workers=True,
                      multiprocessing_context="forkserver")


def cache_module(cache: Path, augment: AugmentConfig,
                 num_workers: int | None = None) -> CacheDataModule:
    """The DataModule; num_workers None is its own default for this host, as in training."""
    module = CacheDataModule(cache, batch_size=BATCH_SIZE, num_workers=num_workers,
                             balance="none", augment=augment)
    module.setup()
    return module


def run_epochs(loader: Iterable[tuple[torch.Tensor, ...]], seconds: float) -> tuple[int, float]:
    """Whole epochs until at least `seconds` have passed: (images, elapsed seconds)."""
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for batch in loader:
            count += len(batch[0])
    return count, time.perf_counter() - start


def batch_kind(loader: Iterable[tuple[torch.Tensor, ...]]) -> str:
    """One warm-up epoch (worker start-up, page cache); the batch's dtype and image shape."""
    kind = ""
    for batch in loader:
        kind = f"{str(batch[0].dtype).removeprefix('torch.')} {tuple(batch[0].shape[1:])}"
    return kind


def measure(loaders: dict[str, DataLoader], rounds: int, seconds: float) -> dict[str, list[float]]:
    """images/s of every loader, in interleaved rounds so that a load spike hits all of them."""
    rates: dict[str, list[float]] = {name: [] for name in loaders}
    for _ in range(rounds):
        for name, loader in loaders.items():
            images, elapsed = run_epochs(loader, seconds)
            rates[name].append(images / elapsed)
    return rates


def print_header(args: argparse.Namespace) -> None:
    cache_workers = default_workers()
    print("Benchmark P3: cache-backed loader vs ImageFolder + PIL + torchvision")
    print(f"date:    {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine: {platform.platform()}, {platform.machine()}, cpu_count={os.cpu_count()}, "
          f"cuda={torch.cuda.is_available()}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
          f"opencv {cv2.__version__}")
    print(f"data:    {args.rois} synthetic {SOURCE_SIDE}x{SOURCE_SIDE} uint16 ROIs, 4 per patient "
          f"-> cache {SIZE}x{SIZE} (filter=none); every loader reads the DataModule's train split")
    print(f"loaders: batch {BATCH_SIZE}, shuffled; ImageFolder with num_workers={WORKERS} "
          f"(persistent forkserver workers); the cache loader with the DataModule's default "
          f"num_workers={cache_workers} on this host; one warm-up epoch, then {args.rounds} "
          f"interleaved rounds of whole epochs >= {args.seconds:.0f} s each; median images/s")
    print(f"augment: {AUGMENT}")


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def build_loaders(root: Path, rois: int) -> tuple[dict[str, DataLoader], int]:
    """Caches, PNG exports and the five loaders; also the number of train-split images."""
    sources = write_sources(root / "sources", rois)
    index = build_index(sources, patient_pattern=r"^(P\d+)_", progress=False)
    for dtype in ("uint16", "uint8"):
        config = PreprocessConfig(size=SIZE, filter="none", dtype=dtype)
        build_cache(index, root / dtype, config, workers=WORKERS, progress=False)
    module = cache_module(root / "uint16", AUGMENT)
    pngs16 = export_cache_pngs(root / "uint16", module.rows["train"], root / "png16")
    pngs8 = export_8bit(pngs16, root / "png8")
    loaders = {
        CACHE: module.train_dataloader(),
        BASELINE: imagefolder_loader(pngs16, eight_bit=False),
        "ImageFolder 8-bit PIL (ref.)": imagefolder_loader(pngs8, eight_bit=True),
        "cache loader, worker processes (ref.)": cache_module(
            root / "uint16", AUGMENT, WORKERS).train_dataloader(),
        "cache loader, uint8 cache (ref.)": cache_module(root / "uint8", AUGMENT)
        .train_dataloader(),
        "cache loader, no augment (ref.)": cache_module(
            root / "uint16", AugmentConfig(enabled=False)).train_dataloader(),
    }
    return loaders, len(module.rows["train"])


def print_results(rates: dict[str, list[float]], kinds: dict[str, str]) -> float:
    """The table; returns the cache loader / baseline ratio of the medians."""
    medians = {name: float(np.median(values)) for name, values in rates.items()}
    baseline = medians[BASELINE]
    print(f"{'loader':<40}{'images/s':>9}{'vs baseline':>13}  {'batch':<22}rounds (images/s)")
    for name, median in medians.items():
        spread = " ".join(f"{v:.0f}" for v in rates[name])
        print(f"{name:<40}{median:>9.0f}{median / baseline:>12.1f}x  {kinds[name]:<22}{spread}")
    return medians[CACHE] / baseline


def microseconds_per_image(work: Callable[[], object], images: int, repeats: int = 5) -> float:
    """Best of repeats, in microseconds per image."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best / images * 1e6


def print_worker_costs(dataset: CacheDataset) -> None:
    """Where one worker's time goes, per image, measured on one core in this process."""
    cv2.setNumThreads(1)
    order = np.random.default_rng(0).permutation(len(dataset)).tolist()
    batches = [order[i : i + BATCH_SIZE] for i in range(0, len(order), BATCH_SIZE)]

    def one_epoch() -> None:
        for batch in batches:
            dataset.__getitems__(batch)

    augmenter = dataset.augmenter
    read = microseconds_per_image(one_epoch, len(order))
    dataset.augmenter = None
    copy = microseconds_per_image(one_epoch, len(order))
    dataset.augmenter = make_augmenter(AUGMENT, "albumentations", seed=0)
    reference = microseconds_per_image(one_epoch, len(order))
    dataset.augmenter = augmenter
    shape = (BATCH_SIZE, 1, SIZE, SIZE)
    shared = microseconds_per_image(
        lambda: torch.empty(shape, dtype=torch.uint16).share_memory_().numpy().fill(1),
        BATCH_SIZE)
    print(f"cost per image, one core: read + copy {copy:.0f} us, read + augment "
          f"{read:.0f} us, fresh shared-memory batch (hand-over to the main process) "
          f"{shared:.0f} us; worker processes pay it, the in-process loader does not")
    print(f"read + augment with the albumentations backend instead: {reference:.0f} us "
          f"({(reference - copy) / max(read - copy, 1e-9):.1f}x the batch backend's augment cost)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rois", type=int, default=N_ROIS, help="synthetic ROIs in the cache")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="least time per measurement")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    torch.set_num_threads(1)
    print_header(args)
    with tempfile.TemporaryDirectory(prefix="p3_") as tmp:
        loaders, n_train = build_loaders(Path(tmp), args.rois)
        print(f"train split: {n_train} images, {-(-n_train // BATCH_SIZE)} batches an epoch")
        print(f"before: {load_note()}\n")
        kinds = {name: batch_kind(loader) for name, loader in loaders.items()}
        rates = measure(loaders, args.rounds, args.seconds)
        ratio = print_results(rates, kinds)
        dataset = loaders[CACHE].dataset
        if isinstance(dataset, CacheDataset):
            print_worker_costs(dataset)
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(f"\nafter: {load_note()} (other processes on the {os.cpu_count()} cores skew every row)")
    print(f"cache loader / ImageFolder 16-bit = {ratio:.1f}x (target >= {TARGET:.0f}x): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

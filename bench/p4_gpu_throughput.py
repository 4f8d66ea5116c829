"""P4: ResNet50 training throughput at 224 px, bf16 autocast, channels_last, on one GPU.

Peers measured in the same run: compute only (synthetic tensors already on the device) and end
to end (the cache-backed DataModule feeding the same training step). Targets: end to end >= 90%
of compute only, and >= 3000 img/s on one H100. Without CUDA it says so and exits 0; --device
cpu --size 64 --steps 3 runs the same code paths as a smoke test.
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from mcal_lightning.data.datamodule import CacheDataModule
from mcal_lightning.models.backbones import build_network
from mcal_lightning.models.module import CalcClassifier
from preprocessing.cache import build_cache
from preprocessing.index import build_index
from preprocessing.pipeline import PreprocessConfig


def make_cache(root: Path, n: int, size: int) -> Path:
    """Synthetic uint16 ROIs through the real index and cache code."""
    rng = np.random.default_rng(0)
    for i in range(n):
        label = ("benign", "malignant")[i % 2]
        (root / "data" / label).mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 65535, (size, size), dtype=np.uint16)
        cv2.imwrite(str(root / "data" / label / f"P{i // 2:05d}_{i}.png"), image)
    index = build_index(root / "data", patient_pattern=r"^(P\d+)_", progress=False)
    build_cache(index, root / "cache", PreprocessConfig(size=size, filter="none",
                                                          artifacts=False), progress=False)
    return root / "cache"


class Step:
    """One optimiser step of the real module: device-side normalisation, bf16, channels_last."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.module = CalcClassifier(build_network("resnet50", "none"), freeze_epochs=0)
        self.module.to(device)
        if device.type == "cuda":
            self.module.net.to(memory_format=torch.channels_last)
            self.module.channels_last = True
        self.optimizer = torch.optim.AdamW(self.module.parameters(), lr=1e-4)
        self.dtype = torch.bfloat16 if device.type == "cuda" else torch.float32

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        with torch.autocast(self.device.type, dtype=self.dtype,
                            enabled=self.device.type == "cuda"):
            loss = self.module.per_sample_loss(self.module(images), labels).mean()
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(step: Step, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], steps: int,
         batch_size: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        step(*next(batches))
    synchronize(step.device)
    start = time.perf_counter()
    for _ in range(steps):
        step(*next(batches))
    synchronize(step.device)
    return steps * batch_size / (time.perf_counter() - start)


def synthetic(device: torch.device, batch: int, size: int) -> Iterator[tuple[torch.Tensor, ...]]:
    images = torch.randint(0, 65535, (batch, 1, size, size), dtype=torch.int32, device=device)
    images = images.to(torch.uint16) if device.type == "cuda" else images.float() / 65535
    labels = torch.randint(0, 2, (batch,), device=device).float()
    while True:
        yield images, labels


def from_loader(datamodule: CacheDataModule, device: torch.device) -> Iterator[tuple]:
    while True:
        for images, labels, _rows in datamodule.train_dataloader():
            yield (images.to(device, non_blocking=True), labels.to(device, non_blocking=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rois", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("P4 needs a CUDA GPU and none is visible: skipped "
              "(use --device cpu --size 64 --steps 3 for a smoke test)")
        return
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"P4 ResNet50 {args.size}px batch {args.batch_size}  {datetime.date.today()}  "
          f"device: {name}, torch {torch.__version__}")
    torch.backends.cudnn.benchmark = True
    step = Step(device)
    compute = rate(step, synthetic(device, args.batch_size, args.size), args.steps,
                   args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        cache = make_cache(Path(tmp), args.rois, args.size)
        datamodule = CacheDataModule(cache, batch_size=args.batch_size,
                                     num_workers=args.workers, balance="none")
        end_to_end = rate(step, from_loader(datamodule, device), args.steps, args.batch_size)
    ratio = end_to_end / compute
    print(f"  compute only (synthetic, on device): {compute:9.1f} img/s")
    print(f"  end to end (cache loader + step):    {end_to_end:9.1f} img/s")
    print(f"ratio end to end / compute only: {ratio:.2f} (target >= 0.90: "
          f"{'PASS' if ratio >= 0.9 else 'FAIL'})")
    if device.type == "cuda":
        verdict = "PASS" if end_to_end >= 3000 else "FAIL"
        print(f"end to end >= 3000 img/s (H100 target): {verdict} on {name}")


if __name__ == "__main__":
    main()

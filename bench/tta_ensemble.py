"""Test-time augmentation and a top-k soft-vote ensemble on the phantom, against the best model.

Generates a phantom, builds the cache, trains --members models with `mcal train`'s code (the
same settings, seeds 0, 1, ...; tracked in MLflow under the experiment 'tta-ensemble'), picks
the single best by val MCC, and scores on the test split, each with patient-bootstrap 95% CIs:
the best model, the best with flips and with dihedral TTA, and the soft vote of the top --top-k
models by val MCC (plain and with dihedral TTA). Probabilities are calibrated by each model's
own val temperature, as the logged pyfunc serves them.

Run: python bench/tta_ensemble.py [--patients N] [--size N] [--epochs N] [--members N] ...
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from mcal_lightning.config import TrainConfig
from mcal_lightning.evaluation.bootstrap import BootstrapResult, bootstrap_ci
from mcal_lightning.evaluation.uncertainty import patients_of
from mcal_lightning.models.ensemble import soft_vote_classifier
from mcal_lightning.models.tta import tta_probabilities
from mcal_lightning.train import TrainResult, train
from preprocessing.cache import build_cache, open_cache
from preprocessing.index import build_index
from preprocessing.phantom import generate_phantom
from preprocessing.pipeline import PreprocessConfig

BATCH = 128


def temperature(result: TrainResult) -> float:
    return result.uncertainty.temperature if result.uncertainty is not None else 1.0


@torch.no_grad()
def test_probabilities(module: torch.nn.Module, images: np.ndarray, mode: str,
                       calibration: float) -> np.ndarray:
    """P(malignant) of each cached test ROI, averaged over the TTA mode's views."""
    module.eval()
    parts = [tta_probabilities(module, torch.from_numpy(images[start : start + BATCH])[:, None],
                               mode, calibration)
             for start in range(0, len(images), BATCH)]
    return torch.cat(parts).numpy()


def row(name: str, result: BootstrapResult) -> str:
    cells = [f"{result.intervals[m][0]:.3f} ({result.intervals[m][1]:.3f}-"
             f"{result.intervals[m][2]:.3f})" for m in ("auroc", "mcc")]
    return f"{name:<28}{cells[0]:>24}{cells[1]:>24}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, help="[default: demo/tta/<patients>p-seed<seed>]")
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--arch", default="alexnet")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--members", type=int, default=3, help="models trained (seeds 0..N-1)")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    workdir = args.workdir or Path(f"demo/tta/{args.patients}p-seed{args.seed}")
    data, cache = workdir / "data", workdir / f"cache{args.size}"
    if not (data / "phantom_truth.csv").is_file():
        generate_phantom(data, patients=args.patients, seed=args.seed, scale=args.scale)
    build_cache(build_index(data), cache, PreprocessConfig(size=args.size))
    base = TrainConfig(cache=str(cache), arch=args.arch, weights="none", epochs=args.epochs,
                       freeze_epochs=0, batch_size=args.batch_size, experiment="tta-ensemble")
    results = [train(replace(base, seed=seed)) for seed in range(args.members)]
    trained = time.perf_counter()
    ranked = sorted(results, key=lambda r: r.metrics("val").get("mcc", float("-inf")),
                    reverse=True)
    datamodule = ranked[0].datamodule
    rows = np.sort(datamodule.rows["test"])
    images = open_cache(cache).images[rows]
    labels = datamodule.table.set_index("row").loc[rows, "label"].to_numpy()
    patients = patients_of(datamodule.table, rows)
    best, top = ranked[0], ranked[: args.top_k]
    ensemble = soft_vote_classifier([r.module for r in top], [temperature(r) for r in top])
    scored = {
        "best model": (best.module, "none", temperature(best)),
        "best + flips TTA": (best.module, "flips", temperature(best)),
        "best + dihedral TTA": (best.module, "dihedral", temperature(best)),
        f"top-{len(top)} soft vote": (ensemble, "none", 1.0),
        f"top-{len(top)} soft vote + dihedral": (ensemble, "dihedral", 1.0),
    }
    print(f"\nTTA and ensemble  {datetime.date.today()}  {platform.platform()}")
    val_mccs = ", ".join(f"{r.metrics('val').get('mcc', float('nan')):.3f}" for r in ranked)
    print(f"{args.patients} patients, scale {args.scale}, {args.size}px, {args.members} x "
          f"{args.arch} from random init, {args.epochs} epochs; members' val MCC {val_mccs}; "
          f"training {trained - started:.0f} s")
    print(f"test split: {len(rows)} ROIs, {len(set(patients))} patients; "
          "patient-bootstrap 95% CIs")
    print(f"{'':<28}{'AUC':>24}{'MCC':>24}")
    for name, (module, mode, calibration) in scored.items():
        probs = test_probabilities(module, images, mode, calibration)
        print(row(name, bootstrap_ci(labels, probs, patients, seed=args.seed)))


if __name__ == "__main__":
    main()

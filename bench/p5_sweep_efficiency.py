"""Benchmark P5: TPE + Hyperband pruning against the paper's full grid, in training epochs.

Run as ``python bench/p5_sweep_efficiency.py`` (~15 min on 2 cores). On one phantom cache, at a
scale that trains on a CPU (64 px, random init, the grid's 15/30 epochs scaled down by
--epoch-divisor), it runs ``sweeps/paper_grid.yaml``'s 24 tests, then a TPE study with Hyperband
pruning over the same choices, one trial at a time, until a trial reaches the grid's best val MCC
or --tpe-trials are spent. Epochs consumed = epochs each trial actually trained (a pruned trial
counts the epochs it ran). Prints TPE's epochs to reach the grid's best / the grid's epochs.
Target: <= 1/3. Always exits 0: it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from mcal_lightning.sweep import run_sweep
from mcal_lightning.sweep_config import load_sweep
from preprocessing.cache import build_cache
from preprocessing.index import build_index
from preprocessing.phantom import generate_phantom
from preprocessing.pipeline import PreprocessConfig

GRID = Path(__file__).parents[1] / "sweeps" / "paper_grid.yaml"
TARGET = 1 / 3
TRAIN = {"weights": "none", "freeze_epochs": 0, "log_model": False, "top_losses": 0}


def scaled(epochs: int, divisor: float) -> int:
    return max(1, round(epochs / divisor))


def grid_file(root: Path, cache: Path, divisor: float) -> Path:
    """paper_grid.yaml with epochs scaled down, random init, no registration."""
    raw = yaml.safe_load(GRID.read_text())
    for point in raw["sampler"]["points"]:
        point["epochs"] = scaled(point["epochs"], divisor)
    raw["space"]["epochs"]["choices"] = sorted({scaled(e, divisor)
                                                for e in raw["space"]["epochs"]["choices"]})
    raw.update(study="p5-grid", experiment="p5-bench", register=False,
               data={**raw["data"], "cache": str(cache), "num_workers": 0},
               train={**raw["train"], **TRAIN})
    path = root / "grid.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def tpe_file(root: Path, grid: Path, seed: int) -> Path:
    """The same choices searched by TPE with Hyperband pruning."""
    raw = yaml.safe_load(grid.read_text())
    epochs = raw["space"]["epochs"]["choices"]
    raw.update(study="p5-tpe", sampler={"type": "tpe", "seed": seed, "n_startup_trials": 4},
               pruner={"type": "hyperband", "min_resource": 1, "max_resource": max(epochs),
                       "reduction_factor": 3}, n_trials=1)
    path = root / "tpe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def epochs_trained(trial: FrozenTrial) -> int:
    return len(trial.intermediate_values)


def run_tpe(path: Path, target: float, budget: int) -> tuple[int | None, list[FrozenTrial]]:
    """Trials one at a time until one reaches target: (epochs consumed then, trials)."""
    sweep = load_sweep(path)
    used = 0
    study = None
    for n in range(1, budget + 1):
        study = run_sweep(sweep, n_trials=n, end=False).study
        trial = study.trials[-1]
        used += epochs_trained(trial)
        if trial.state == TrialState.COMPLETE and trial.value is not None \
                and trial.value >= target:
            return used, study.trials
    return None, [] if study is None else study.trials


def make_cache(root: Path, args: argparse.Namespace) -> Path:
    generate_phantom(root / "data", patients=args.patients, seed=args.seed, scale=args.scale,
                     workers=1, progress=False)
    index = build_index(root / "data", progress=False)
    build_cache(index, root / "cache", PreprocessConfig(size=args.size), workers=2,
                progress=False)
    return root / "cache"


def summary(trials: list[FrozenTrial]) -> dict[str, Any]:
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    return {"trials": len(trials), "complete": len(done),
            "pruned": sum(t.state == TrialState.PRUNED for t in trials),
            "epochs": sum(epochs_trained(t) for t in trials)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=60)
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epoch-divisor", type=float, default=7.5,
                        help="the grid's 15 and 30 epochs become 2 and 4 by default")
    parser.add_argument("--tpe-trials", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    print("Benchmark P5: TPE + Hyperband pruning vs the paper's 24-test grid")
    print(f"date:    {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine: {platform.platform()}, cpu_count={os.cpu_count()}")
    print(f"data:    phantom, {args.patients} patients, scale {args.scale}, {args.size} px cache; "
          f"random init; grid epochs 15/30 -> {scaled(15, args.epoch_divisor)}/"
          f"{scaled(30, args.epoch_divisor)}")
    with tempfile.TemporaryDirectory(prefix="p5_") as tmp:
        root = Path(tmp)
        os.chdir(root)  # its own ./mlruns
        cache = make_cache(root, args)
        grid_path = grid_file(root, cache, args.epoch_divisor)
        grid = run_sweep(load_sweep(grid_path), end=False).study
        grid_stats = summary(grid.trials)
        best = grid.best_trial
        in_order = sum(epochs_trained(t) for t in grid.trials if t.number <= best.number)
        print(f"grid:    {grid_stats}; best val MCC {best.value:.4f} (trial {best.number}, "
              f"{best.params}) after {in_order} epochs in grid order")
        used, tpe_trials = run_tpe(tpe_file(root, grid_path, args.seed), best.value,
                                   args.tpe_trials)
        print(f"tpe:     {summary(tpe_trials)}")
    if used is None:
        print(f"TPE did not reach the grid's best val MCC {best.value:.4f} within "
              f"{args.tpe_trials} trials: FAIL")
        return 0
    ratio = used / grid_stats["epochs"]
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"TPE reached the grid's best val MCC after {used} epochs; the grid trained "
          f"{grid_stats['epochs']} ({in_order} until its best in grid order)")
    print(f"TPE epochs / grid epochs = {ratio:.2f} (target <= {TARGET:.2f}): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

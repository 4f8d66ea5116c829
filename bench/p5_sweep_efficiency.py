"""Benchmark P5: TPE + Hyperband pruning against the paper's full grid, in training epochs.

Run as ``python bench/p5_sweep_efficiency.py`` (~50 min on a core). On one phantom cache, at a
scale that trains on a CPU (the demo's recipe: scale 0.5, 48 px at 0.1 mm with a top-hat, the
concept head; the grid's 15/30 epochs scaled down by --epoch-divisor), it runs
``sweeps/paper_grid.yaml``'s 24 tests, then TPE studies with Hyperband pruning over the same
choices (one per --tpe-seeds), one trial at a time, until a trial reaches the grid's best val
--metric or --tpe-trials are spent. The metric is val AUROC by default: on a val split of under
100 ROIs, MCC at a fixed 0.5 threshold is 0 for every model whose calls all fall on one side,
which ties weak settings instead of ranking them. Epochs consumed = epochs each trial actually
trained (a pruned trial counts the epochs it ran). Prints TPE's epochs to reach the grid's best
/ the grid's epochs per seed and their median (a seed that never reaches it counts as worse than
any). Target: <= 1/3.

--workdir DIR keeps the phantom, the cache and the studies there: a rerun reuses them and runs
only what is missing (a finished grid is not trained again; TPE studies start afresh).

Weights: random init by default (the head is then trained with the body from the start);
--weights imagenet or FOLDER (one checkpoint per arch) keeps the paper's frozen first epoch.
Always exits 0: it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import math
import os
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from mcal_lightning.config import HEADS
from mcal_lightning.sweep.config import load_sweep
from mcal_lightning.sweep.run import run_sweep
from mcal_lightning.sweep.study import default_storage
from preprocessing.cache import build_cache
from preprocessing.index import build_index
from preprocessing.phantom import generate_phantom
from preprocessing.pipeline import PreprocessConfig

GRID = Path(__file__).parents[1] / "sweeps" / "paper_grid.yaml"
TARGET = 1 / 3
METRICS = ("val/auroc", "val/mcc")
FAST = {"log_model": False, "top_losses": 0, "cam_samples": 0}


def scaled(epochs: int, divisor: float) -> int:
    return max(1, round(epochs / divisor))


def train_settings(weights: str, head: str) -> dict[str, Any]:
    """Random init trains everything from the start; pretrained weights keep the frozen epoch."""
    fast = {**FAST, "head": head}
    if weights == "none":
        return {**fast, "weights": "none", "freeze_epochs": 0}
    if weights == "imagenet":
        return {**fast, "weights": weights}
    return {**fast, "weights": str(Path(weights).resolve())}  # the bench runs in a temp dir


def grid_file(root: Path, cache: Path, args: argparse.Namespace) -> Path:
    """paper_grid.yaml with epochs scaled down, the chosen weights, no registration."""
    raw = yaml.safe_load(GRID.read_text())
    for point in raw["sampler"]["points"]:
        point["epochs"] = scaled(point["epochs"], args.epoch_divisor)
    raw["space"]["epochs"]["choices"] = sorted({scaled(e, args.epoch_divisor)
                                                for e in raw["space"]["epochs"]["choices"]})
    raw.update(study="p5-grid", experiment="p5-bench", register=False,
               objective={"metric": args.metric, "direction": "maximize"},
               data={**raw["data"], "cache": str(cache), "num_workers": 0,
                     "val_fraction": args.val_fraction},
               train={**raw["train"], **train_settings(args.weights, args.head)})
    path = root / "grid.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def tpe_file(root: Path, grid: Path, seed: int) -> Path:
    """The same choices searched by TPE with Hyperband pruning."""
    raw = yaml.safe_load(grid.read_text())
    epochs = raw["space"]["epochs"]["choices"]
    raw.update(study=f"p5-tpe-{seed}", sampler={"type": "tpe", "seed": seed,
                                                "n_startup_trials": 4},
               pruner={"type": "hyperband", "min_resource": 1, "max_resource": max(epochs),
                       "reduction_factor": 3}, n_trials=1)
    path = root / f"tpe-{seed}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def epochs_trained(trial: FrozenTrial) -> int:
    return len(trial.intermediate_values)


def run_tpe(path: Path, target: float, budget: int) -> tuple[int | None, list[FrozenTrial]]:
    """Trials one at a time until one reaches target: (epochs consumed then, trials)."""
    sweep = load_sweep(path)
    if sweep.study in optuna.study.get_all_study_names(default_storage()):
        optuna.delete_study(study_name=sweep.study, storage=default_storage())  # an earlier run's
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
    if (root / "cache" / "LATEST").is_file():  # --workdir of an earlier run
        return root / "cache"
    generate_phantom(root / "data", patients=args.patients, seed=args.seed, scale=args.scale,
                     workers=1, progress=False, full_images="none")
    index = build_index(root / "data", progress=False)
    preprocess = PreprocessConfig(size=args.size, spacing_mm=args.spacing_mm or None,
                                  enhance=args.enhance, tophat_mm=args.tophat_mm)
    build_cache(index, root / "cache", preprocess, workers=2, progress=False)
    return root / "cache"


def summary(trials: list[FrozenTrial]) -> dict[str, Any]:
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    return {"trials": len(trials), "complete": len(done),
            "pruned": sum(t.state == TrialState.PRUNED for t in trials),
            "epochs": sum(epochs_trained(t) for t in trials)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--spacing-mm", type=float, default=0.1,
                        help="the cache's fixed spacing (0: the paper's stretch to --size)")
    parser.add_argument("--enhance", choices=("none", "tophat"), default="tophat")
    parser.add_argument("--tophat-mm", type=float, default=1.0)
    parser.add_argument("--head", choices=HEADS, default="concept",
                        help="the network's head (concept: the recipe that learns on the phantom)")
    parser.add_argument("--epoch-divisor", type=float, default=5,
                        help="the grid's 15 and 30 epochs become 3 and 6 by default")
    parser.add_argument("--metric", choices=METRICS, default="val/auroc",
                        help="the objective both searches maximise (the paper grid's is val/mcc)")
    parser.add_argument("--val-fraction", type=float, default=0.2,
                        help="share of the train patients validated on (the metric's noise)")
    parser.add_argument("--weights", default="none",
                        help="none (random init), imagenet, or a folder of one torchvision "
                             "checkpoint per arch")
    parser.add_argument("--tpe-trials", type=int, default=12)
    parser.add_argument("--tpe-seeds", default="0,1,2", help="comma-separated TPE sampler seeds")
    parser.add_argument("--seed", type=int, default=0, help="the phantom's seed")
    parser.add_argument("--workdir", type=Path,
                        help="keep phantom, cache and studies here, and reuse them [a temp dir]")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    print("Benchmark P5: TPE + Hyperband pruning vs the paper's 24-test grid")
    print(f"date:    {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine: {platform.platform()}, cpu_count={os.cpu_count()}")
    resize = f"{args.spacing_mm:g} mm/px" if args.spacing_mm else "stretch"
    print(f"data:    phantom, {args.patients} patients, scale {args.scale}, {args.size} px cache "
          f"({resize}, enhance {args.enhance}); weights {args.weights}, head {args.head}; "
          f"val fraction {args.val_fraction}; objective {args.metric}; grid epochs 15/30 -> "
          f"{scaled(15, args.epoch_divisor)}/{scaled(30, args.epoch_divisor)}")
    with tempfile.TemporaryDirectory(prefix="p5_") as tmp:
        root = Path(tmp) if args.workdir is None else args.workdir.resolve()
        root.mkdir(parents=True, exist_ok=True)
        os.chdir(root)  # its own ./mlruns
        cache = make_cache(root, args)
        grid_path = grid_file(root, cache, args)
        grid = run_sweep(load_sweep(grid_path), end=False).study
        grid_stats = summary(grid.trials)
        best = grid.best_trial
        in_order = sum(epochs_trained(t) for t in grid.trials if t.number <= best.number)
        print(f"grid:    {grid_stats}; best {args.metric} {best.value:.4f} (trial {best.number}, "
              f"{best.params}) after {in_order} epochs in grid order")
        ratios = [tpe_ratio(root, grid_path, seed, best.value, grid_stats["epochs"], args)
                  for seed in (int(s) for s in args.tpe_seeds.split(","))]
    ratio = statistics.median(ratios)  # a seed that never got there counts as inf: slowest
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"median TPE epochs / grid epochs over {len(ratios)} seed(s) = {ratio:.2f} "
          f"(target <= {TARGET:.2f}): {verdict}")
    return 0


def tpe_ratio(root: Path, grid_path: Path, seed: int, target: float, grid_epochs: int,
              args: argparse.Namespace) -> float:
    """One TPE seed's epochs to reach the grid's best, over the grid's epochs (inf: never)."""
    used, trials = run_tpe(tpe_file(root, grid_path, seed), target, args.tpe_trials)
    print(f"tpe seed {seed}: {summary(trials)}", end="; ")
    if used is None:
        print(f"did not reach {target:.4f} within {args.tpe_trials} trials")
        return math.inf
    print(f"reached it after {used} epochs: ratio {used / grid_epochs:.2f}")
    return used / grid_epochs


if __name__ == "__main__":
    raise SystemExit(main())

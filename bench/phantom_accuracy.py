"""Accuracy on the phantom against its Bayes ceiling (the AUC of the true P(malignant)).

For each phantom seed: generates the phantom, builds the cache, trains one model with `mcal
train`'s code (tracked in MLflow under the experiment 'phantom-accuracy'), and prints the model's
val and test AUC next to the ceiling on the same ROIs. The defaults are the recipe that learned
best on the phantom (README, "Accuracy"): scale 0.5, 64 px at a fixed 0.1 mm/px after a 1 mm
top-hat, ResNet34 from random init with the concept head, 10 epochs of AdamW one-cycle at
2e-3, dihedral augmentation and test-time augmentation. Target (issue 13, A): the median test
AUC >= 90% of the ceiling over three seeds, every test AUC's lower 95% CI > 0.5, all four
backbones reported, in 30 minutes on 2 cores; the last lines say PASS or FAIL.

Data is prepared first on every core; then --jobs processes train the seeds (and, on the first
seed, the other backbones for --other-epochs) side by side, each on its share of the cores:
on a 2-core CPU two 1-thread trainings do more work per minute than one 2-thread training.
Each job's own output goes to a log in the seed's workdir (job.log, ARCH.log).

Two more columns say where a shortfall comes from. The morphology oracle scores each ROI with
the malignant rate of its true calcification type on the train split: what a model that read
every ROI's morphology perfectly, and nothing else, would reach. The floor beside them is `mcal
baseline` (handcrafted features + gradient boosting) on the same cache and the same split rows;
--no-baseline skips it. Each AUC comes with its patient-bootstrap 95% CI.

Run: python bench/phantom_accuracy.py [--seeds 11,21,31] [--patients N] [--arch A] ...
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import matplotlib.pyplot as plt
import mlflow
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from mcal_lightning.config import AUDIT_MODES, HEADS, KEEPS, TTA_MODES, TrainConfig
from mcal_lightning.models.baseline import BaselineConfig, BaselineResult, run_baseline
from mcal_lightning.quiet import quiet_libraries
from mcal_lightning.tracking.store import experiment_id, tracking_uri
from mcal_lightning.train import TrainResult, train
from preprocessing.cache import build_cache, open_cache
from preprocessing.index import build_index
from preprocessing.phantom import generate_phantom
from preprocessing.pipeline import PreprocessConfig

DIHEDRAL = {"affine_p": 0.0, "brightness_contrast_p": 0.0, "transpose_p": 0.5}
TARGET_RATIO = 0.90
TARGET_MINUTES = 30
T = TypeVar("T")


@dataclass
class SeedResult:
    seed: int
    ceiling: float
    model: float
    low: float  # the model's test AUC, lower end of its 95% CI
    baseline: str

    @property
    def ratio(self) -> float:
        return self.model / self.ceiling


def morphology_rates(result: TrainResult, truth: pd.DataFrame) -> pd.Series:
    """Malignant rate of each true calcification type among the train split's ROIs."""
    table = result.datamodule.table.set_index("row")
    train_ids = table.loc[result.datamodule.rows["train"], "roi_id"]
    train = truth.set_index("roi_id").loc[train_ids]
    return train.groupby("calc_type")["label"].mean()


def stage_aucs(result: TrainResult, truth: pd.DataFrame, rates: pd.Series,
               stage: str) -> tuple[int, float, float, float]:
    """(ROIs, model AUC, morphology-oracle AUC, Bayes-ceiling AUC) on one split."""
    outputs = result.module.last_outputs[stage]
    table = result.datamodule.table.set_index("row")
    roi_ids = table.loc[outputs["indices"].numpy(), "roi_id"].to_numpy()
    rows = truth.set_index("roi_id").loc[roi_ids]
    oracle = rows["calc_type"].map(rates).fillna(rates.mean()).to_numpy()
    labels = outputs["labels"].numpy()
    return (len(labels), roc_auc_score(labels, outputs["probs"].numpy()),
            roc_auc_score(labels, oracle), roc_auc_score(labels, rows["p_malignant"].to_numpy()))


def auc_text(auc: float, interval: tuple[float, float, float]) -> str:
    return f"{auc:.3f} ({interval[1]:.2f}-{interval[2]:.2f})"


def baseline_text(baseline: BaselineResult | None, stage: str) -> str:
    if baseline is None:
        return "-"
    return auc_text(baseline.metrics(stage)["auroc"], baseline.intervals[stage].intervals["auroc"])


def last_train_auc(run_id: str) -> float:
    history = mlflow.MlflowClient(tracking_uri()).get_metric_history(run_id, "train/auroc")
    return max(history, key=lambda m: m.step).value if history else float("nan")


def type_grid(result: TrainResult, truth: pd.DataFrame, path: Path, per_type: int = 8) -> None:
    """The first cached ROIs of each true calcification type, a row a type, with its rate."""
    table = result.datamodule.table
    types = truth.set_index("roi_id").loc[table["roi_id"], ["calc_type", "label"]]
    names = sorted(types["calc_type"].unique())
    images = open_cache(Path(result.datamodule.cache)).images
    fig, axes = plt.subplots(len(names), per_type, figsize=(per_type * 1.2, len(names) * 1.3),
                             squeeze=False)
    for ax_row, name in zip(axes, names, strict=True):
        rows = table["row"].to_numpy()[(types["calc_type"] == name).to_numpy()][:per_type]
        rate = types.loc[types["calc_type"] == name, "label"].mean()
        ax_row[0].set_title(f"{name.lower()} (malignant {rate:.0%})", loc="left", fontsize=8)
        for ax, row in zip(ax_row, [*rows, *[None] * (per_type - len(rows))], strict=True):
            ax.axis("off")
            if row is not None:
                ax.imshow(images[row], cmap="gray")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"ROIs by type: {path}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path,
                        help="[default: demo/accuracy/<patients>p-seed<seed>-scale<scale>]; "
                             "with several seeds, one subfolder per seed")
    parser.add_argument("--patients", type=int, default=600)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--seeds", default="11,21,31", help="phantom seeds, comma-separated")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--spacing-mm", type=float, default=0.1,
                        help="the cache's fixed spacing; 0: the paper's stretch to --size")
    parser.add_argument("--arch", default="resnet34")
    parser.add_argument("--others", default="resnet50,alexnet,vgg16",
                        help="backbones also trained once, on the first seed ('' for none)")
    parser.add_argument("--other-epochs", type=int, default=2,
                        help="their epochs (VGG16 trains at a fifth of ResNet34's speed)")
    parser.add_argument("--weights", default="none",
                        help="none (random init), imagenet, or a torchvision checkpoint "
                             "FILE or FOLDER")
    parser.add_argument("--freeze-epochs", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", default="2e-3,2e-3", help="lr_min,lr_max")
    parser.add_argument("--augment", type=json.loads, default=DIHEDRAL,
                        help='[default: the dihedral group, %(default)s]; \'{}\' is mcal\'s '
                             'default, \'{"enabled": false}\' none')
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--head", choices=HEADS, default="concept")
    parser.add_argument("--tta", choices=TTA_MODES, default="dihedral")
    parser.add_argument("--val-fraction", type=float, default=0.05,
                        help="patients held out of the train CSV for validation (the last "
                             "epoch's weights are kept, so val only reports)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="training processes side by side, each on cores/jobs threads")
    parser.add_argument("--aux-weight", type=float, default=0.0,
                        help="auxiliary calc type + distribution loss (0 = off; direct head)")
    parser.add_argument("--enhance", choices=("none", "tophat"), default="tophat")
    parser.add_argument("--tophat-mm", type=float, default=1.0)
    parser.add_argument("--keep", choices=KEEPS, default="last",
                        help="the weights kept: best val MCC's epoch, or the last")
    parser.add_argument("--audit", choices=AUDIT_MODES, default="warn",
                        help="the leakage audit before training [%(default)s: the phantom's "
                             "patients are independent draws, and top-hat ROIs, dark with sparse "
                             "dots, can pass its near-duplicate test]")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline's row")
    parser.add_argument("--grid", type=Path, help="PNG of cached ROIs, one row per true type")
    return parser.parse_args()


def seed_workdir(args: argparse.Namespace, seed: int, several: bool) -> Path:
    default = Path(f"demo/accuracy/{args.patients}p-seed{seed}-scale{args.scale}")
    if args.workdir is None:
        return default
    return args.workdir / default.name if several else args.workdir


def prepare(args: argparse.Namespace, seed: int, workdir: Path) -> tuple[Path, Path]:
    """The seed's phantom (generated once, kept in workdir) and its cache dataset."""
    data = workdir / "data"
    if not (data / "phantom_truth.csv").is_file():
        generate_phantom(data, patients=args.patients, seed=seed, scale=args.scale,
                         full_images="none")
    preprocess = PreprocessConfig(size=args.size, enhance=args.enhance, tophat_mm=args.tophat_mm,
                                  spacing_mm=args.spacing_mm or None)
    return data, build_cache(build_index(data), workdir / f"cache{args.size}",
                             preprocess).dataset_dir


def train_config(args: argparse.Namespace, cache: Path, arch: str, epochs: int,
                 seed: int) -> TrainConfig:
    lr_min, lr_max = (float(x) for x in args.lr.split(","))
    return TrainConfig(cache=str(cache), arch=arch, weights=args.weights, epochs=epochs,
                       freeze_epochs=args.freeze_epochs, batch_size=args.batch_size,
                       lr_min=lr_min, lr_max=lr_max, weight_decay=args.weight_decay,
                       dropout=args.dropout, aux_weight=args.aux_weight, head=args.head,
                       tta=args.tta, val_fraction=args.val_fraction,
                       experiment="phantom-accuracy", augment=args.augment, audit=args.audit,
                       keep=args.keep, run_name=f"{arch}-seed{seed}")


def recipe(args: argparse.Namespace) -> str:
    resize = f"{args.spacing_mm:g} mm/px" if args.spacing_mm else "stretch"
    init = "random init" if args.weights == "none" else f"weights {args.weights}"
    return (f"{args.patients} patients, scale {args.scale}, {args.size}px at {resize} (enhance "
            f"{args.enhance}), from {init}, head {args.head}, lr {args.lr}, wd "
            f"{args.weight_decay:g}, dropout {args.dropout:g}, aux weight {args.aux_weight:g}, "
            f"keep {args.keep}, tta {args.tta}")


def seed_lines(args: argparse.Namespace, seed: int, data: Path, cache: Path,
               grid: Path | None) -> tuple[SeedResult, list[str]]:
    """One trained model and the baseline on a prepared seed: its result and its table."""
    started = time.perf_counter()
    result = train(train_config(args, cache, args.arch, args.epochs, seed))
    trained = time.perf_counter()
    baseline = None if args.no_baseline else run_baseline(
        BaselineConfig(cache=cache, experiment="phantom-accuracy"))
    truth = pd.read_csv(data / "phantom_truth.csv", dtype={"roi_id": str})
    if grid:
        type_grid(result, truth, grid)
    lines = [f"\nseed {seed}: {args.arch}, {args.epochs} epochs, training "
             f"{trained - started:.0f} s; MLflow run {result.run_id}",
             f"{'split':<6}{'ROIs':>6}{'model AUC (95% CI)':>21}{'baseline (95% CI)':>21}"
             f"{'morphology oracle':>19}{'Bayes ceiling':>15}{'ratio':>8}"]
    rates = morphology_rates(result, truth)
    for stage in ("val", "test"):
        n, model, oracle, ceiling = stage_aucs(result, truth, rates, stage)
        interval = result.uncertainty.intervals[stage].intervals["auroc"]
        lines.append(f"{stage:<6}{n:>6}{auc_text(model, interval):>21}"
                     f"{baseline_text(baseline, stage):>21}{oracle:>19.3f}{ceiling:>15.3f}"
                     f"{model / ceiling:>8.2f}")
    lines.append(f"model AUC on its own training ROIs (augment {json.dumps(args.augment)}), "
                 f"last epoch: {last_train_auc(result.run_id):.3f}")
    return SeedResult(seed, ceiling, model, interval[1], baseline_text(baseline, "test")), lines


def other_row(args: argparse.Namespace, seed: int, data: Path, cache: Path, arch: str) -> str:
    """Another backbone once, on one seed's cache: its row of test AUC against the ceiling."""
    truth = pd.read_csv(data / "phantom_truth.csv", dtype={"roi_id": str})
    started = time.perf_counter()
    result = train(train_config(args, cache, arch, args.other_epochs, seed))
    _, model, _, ceiling = stage_aucs(result, truth, morphology_rates(result, truth), "test")
    interval = result.uncertainty.intervals["test"].intervals["auroc"]
    return (f"{arch:<10}{time.perf_counter() - started:>8.0f}{auc_text(model, interval):>21}"
            f"{ceiling:>15.3f}{model / ceiling:>8.2f}")


def others(args: argparse.Namespace) -> list[str]:
    return [arch for arch in args.others.split(",") if arch]


def job(threads: int, log: Path, task: Callable[..., T], *task_args: object) -> T:
    """Run task in this worker process on `threads` cores, its output into log."""
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    quiet_libraries()
    with (log.open("w") as out, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out),
          threadpool_limits(threads)):
        return task(*task_args)


def run_jobs(args: argparse.Namespace, seeds: list[int], prepared: list[tuple[Path, Path]],
             workdirs: list[Path]) -> list[SeedResult]:
    """Train every seed, and each other backbone, in args.jobs processes; print as they end."""
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    experiment_id("phantom-accuracy")  # created once, before the workers race to create it
    print(f"\ntraining in {args.jobs} process(es) of {threads} thread(s); their output: "
          f"{workdirs[0].parent}/*/*.log", flush=True)
    results: list[SeedResult] = []
    rows: dict[str, str] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        # longest first: the seeds, then the other backbones fill the idle process
        futures = {pool.submit(job, threads, workdir / "job.log", seed_lines, args, seed, *prep,
                               args.grid if i == 0 else None): None
                   for i, (seed, prep, workdir) in enumerate(zip(seeds, prepared, workdirs,
                                                                 strict=True))}
        futures.update({pool.submit(job, threads, workdirs[0] / f"{arch}.log", other_row, args,
                                    seeds[0], *prepared[0], arch): arch for arch in others(args)})
        for future in as_completed(futures):
            if futures[future] is not None:
                rows[futures[future]] = future.result()
                continue
            result, lines = future.result()
            results.append(result)
            print("\n".join(lines), flush=True)
    if rows:
        print(f"\nthe other backbones on seed {seeds[0]}, {args.other_epochs} epochs each")
        print(f"{'arch':<10}{'seconds':>8}{'test AUC (95% CI)':>21}{'Bayes ceiling':>15}"
              f"{'ratio':>8}")
        print("\n".join(rows[arch] for arch in others(args)))
    return sorted(results, key=lambda r: seeds.index(r.seed))


def print_summary(results: list[SeedResult], minutes: float) -> None:
    """One row per seed, the median ratio, and the verdict against Target A."""
    print(f"\n{'seed':<6}{'test ceiling':>13}{'baseline (95% CI)':>21}{'model':>8}"
          f"{'CI low':>8}{'ratio':>8}")
    for r in results:
        print(f"{r.seed:<6}{r.ceiling:>13.3f}{r.baseline:>21}{r.model:>8.3f}{r.low:>8.2f}"
              f"{r.ratio:>8.2f}")
    median = statistics.median(r.ratio for r in results)
    above_chance = all(r.low > 0.5 for r in results)
    print(f"median ratio {median:.2f} (target >= {TARGET_RATIO:.2f}): "
          f"{'PASS' if median >= TARGET_RATIO else 'FAIL'}")
    print(f"every test AUC's lower 95% CI > 0.5: {'PASS' if above_chance else 'FAIL'}")
    print(f"{minutes:.1f} min in all (target <= {TARGET_MINUTES}): "
          f"{'PASS' if minutes <= TARGET_MINUTES else 'FAIL'}")


def main() -> None:
    args = parse_args()
    quiet_libraries()
    started = time.perf_counter()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    print(f"phantom accuracy  {datetime.date.today()}  {platform.platform()}")
    print(recipe(args), flush=True)
    workdirs = [seed_workdir(args, seed, len(seeds) > 1) for seed in seeds]
    prepared = [prepare(args, seed, workdir) for seed, workdir in zip(seeds, workdirs, strict=True)]
    print(f"data for {len(seeds)} seed(s): {time.perf_counter() - started:.0f} s", flush=True)
    results = run_jobs(args, seeds, prepared, workdirs)
    print_summary(results, (time.perf_counter() - started) / 60)


if __name__ == "__main__":
    main()

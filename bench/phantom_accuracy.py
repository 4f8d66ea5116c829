"""Accuracy on the phantom against its Bayes ceiling (the AUC of the true P(malignant)).

For each phantom seed: generates the phantom, builds the cache, trains one model with `mcal
train`'s code (tracked in MLflow under the experiment 'phantom-accuracy'), and prints the model's
val and test AUC next to the ceiling on the same ROIs. The defaults are the recipe that learned
best on the phantom (top-hat cache, auxiliary morphology loss, lossless dihedral augmentation,
30 epochs of AdamW one-cycle at 2e-3, weight decay 0.05) on three seeds. Target (issue 13, A):
the median test AUC >= 90% of the ceiling, every test AUC's lower 95% CI > 0.5, in 30 minutes
on 2 cores; the last lines say PASS or FAIL.

Two more rows say where a shortfall comes from. The morphology oracle scores each ROI with the
malignant rate of its true calcification type on the train split: what a model that read every
ROI's morphology perfectly, and nothing else, would reach. The model's AUC on its own training
ROIs (last epoch) says whether it fitted them at all. The floor beside them is `mcal
baseline` (handcrafted features + gradient boosting) on the same cache and the same split rows;
--no-baseline skips it. Each AUC comes with its patient-bootstrap 95% CI.

--augment sets the train augmentation (JSON, as `augment:` in a training config); --aux-weight
the auxiliary calc type/distribution loss; --enhance tophat the cache's top-hat; --grid FILE
draws the first seed's cached ROIs by true type.

Run: python bench/phantom_accuracy.py [--seeds 11,21,31] [--patients N] [--arch A] ...
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from sklearn.metrics import roc_auc_score

from mcal_lightning.config import AUDIT_MODES, KEEPS, TrainConfig
from mcal_lightning.models.baseline import BaselineConfig, BaselineResult, run_baseline
from mcal_lightning.quiet import quiet_libraries
from mcal_lightning.tracking.store import tracking_uri
from mcal_lightning.train import TrainResult, train
from preprocessing.cache import build_cache, open_cache
from preprocessing.index import build_index
from preprocessing.phantom import generate_phantom
from preprocessing.pipeline import PreprocessConfig

DIHEDRAL = {"affine_p": 0.0, "brightness_contrast_p": 0.0, "transpose_p": 0.5}
TARGET_RATIO = 0.90
TARGET_MINUTES = 30


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
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--seeds", default="11,21,31", help="phantom seeds, comma-separated")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--arch", default="resnet34")
    parser.add_argument("--weights", default="none",
                        help="none (random init), imagenet, or a torchvision checkpoint "
                             "FILE or FOLDER")
    parser.add_argument("--freeze-epochs", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", default="2e-3,2e-3", help="lr_min,lr_max")
    parser.add_argument("--augment", type=json.loads, default=DIHEDRAL,
                        help='[default: the dihedral group, %(default)s]; \'{}\' is mcal\'s '
                             'default, \'{"enabled": false}\' none')
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--dropout", type=float, default=TrainConfig.dropout)
    parser.add_argument("--aux-weight", type=float, default=1.0,
                        help="auxiliary calc type + distribution loss (0 = off)")
    parser.add_argument("--enhance", choices=("none", "tophat"), default="tophat")
    parser.add_argument("--tophat-mm", type=float, default=1.0)
    parser.add_argument("--keep", choices=KEEPS, default=TrainConfig.keep,
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


def run_seed(args: argparse.Namespace, seed: int, workdir: Path, grid: Path | None) -> SeedResult:
    """One phantom, its cache, one trained model and the baseline; prints the seed's table."""
    started = time.perf_counter()
    data, cache = workdir / "data", workdir / f"cache{args.size}"
    if not (data / "phantom_truth.csv").is_file():
        generate_phantom(data, patients=args.patients, seed=seed, scale=args.scale,
                         full_images="none")
    preprocess = PreprocessConfig(size=args.size, enhance=args.enhance, tophat_mm=args.tophat_mm)
    cache = build_cache(build_index(data), cache, preprocess).dataset_dir
    prepared = time.perf_counter()
    lr_min, lr_max = (float(x) for x in args.lr.split(","))
    config = TrainConfig(cache=str(cache), arch=args.arch, weights=args.weights,
                         epochs=args.epochs, freeze_epochs=args.freeze_epochs,
                         batch_size=args.batch_size, lr_min=lr_min, lr_max=lr_max,
                         weight_decay=args.weight_decay, dropout=args.dropout,
                         aux_weight=args.aux_weight, experiment="phantom-accuracy",
                         augment=args.augment, audit=args.audit, keep=args.keep,
                         run_name=f"{args.arch}-seed{seed}")
    result = train(config)
    trained = time.perf_counter()
    baseline = None if args.no_baseline else run_baseline(
        BaselineConfig(cache=cache, experiment="phantom-accuracy"))
    truth = pd.read_csv(data / "phantom_truth.csv", dtype={"roi_id": str})
    if grid:
        type_grid(result, truth, grid)
    init = "random init" if args.weights == "none" else f"weights {args.weights}"
    print(f"\nseed {seed}: {args.patients} patients, scale {args.scale}, {args.size}px (enhance "
          f"{args.enhance}), {args.arch} from {init}, {args.epochs} epochs, lr {args.lr}, "
          f"aux weight {args.aux_weight:g}, keep {args.keep}; data {prepared - started:.0f} s, "
          f"training {trained - prepared:.0f} s; MLflow run {result.run_id}")
    rates = morphology_rates(result, truth)
    print(f"{'split':<6}{'ROIs':>6}{'model AUC (95% CI)':>21}{'baseline (95% CI)':>21}"
          f"{'morphology oracle':>19}{'Bayes ceiling':>15}{'ratio':>8}")
    for stage in ("val", "test"):
        n, model, oracle, ceiling = stage_aucs(result, truth, rates, stage)
        interval = result.uncertainty.intervals[stage].intervals["auroc"]
        print(f"{stage:<6}{n:>6}{auc_text(model, interval):>21}"
              f"{baseline_text(baseline, stage):>21}{oracle:>19.3f}{ceiling:>15.3f}"
              f"{model / ceiling:>8.2f}")
    print(f"model AUC on its own training ROIs (augment {json.dumps(args.augment)}), "
          f"last epoch: {last_train_auc(result.run_id):.3f}", flush=True)
    return SeedResult(seed, ceiling, model, interval[1], baseline_text(baseline, "test"))


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
    results = [run_seed(args, seed, seed_workdir(args, seed, len(seeds) > 1),
                        args.grid if i == 0 else None) for i, seed in enumerate(seeds)]
    print_summary(results, (time.perf_counter() - started) / 60)


if __name__ == "__main__":
    main()

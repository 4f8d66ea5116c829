"""Integrity commands: `mcal audit` (leakage between a cache's splits) and `mcal replay-paper`.

The mcal_lightning imports sit inside the commands, so that `mcal --help` never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mcal.commands_train import config_from, training_options
from mcal.console import console, print_frame
from mcal_lightning.config import TrainConfig

DEFAULT_THRESHOLD = 6  # a copy of audit.DEFAULT_THRESHOLD, so --help never imports the audit
DEFAULT_MIN_CORRELATION = 0.7  # a copy of audit.DEFAULT_MIN_CORRELATION, likewise
SHOWN_PAIRS = 10
REPLAY_EXPERIMENT = "replay"
PAIR_COLUMNS = ["kind", "side_a", "roi_a", "patient_a", "side_b", "roi_b", "patient_b",
                "distance", "detail"]


def datamodule_splits(cache: Path, **split_options: Any) -> Any:
    """The set-up CacheDataModule (its .rows and .table), or a clear error without traceback."""
    from mcal_lightning.data.datamodule import CacheDataModule
    from mcal_lightning.data.splits import LeakageError

    datamodule = CacheDataModule(cache, num_workers=0, **split_options)
    try:
        datamodule.setup()
    except LeakageError as exc:
        console.print(f"leakage: {exc}", markup=False, highlight=False)
        console.print("verdict: LEAKAGE (the splits themselves put a patient on two sides)")
        raise SystemExit(1) from exc
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    return datamodule


def print_findings(report: Any) -> None:
    """Counts per kind, then the first pairs."""
    import pandas as pd

    counts = pd.DataFrame(list(report.counts().items()), columns=["kind", "pairs"])
    print_frame(counts, "leakage audit")
    if report.leaky:
        frame = report.to_frame()[PAIR_COLUMNS].head(SHOWN_PAIRS).fillna("")
        title = f"first {len(frame)} of {len(report.findings)} leaking pairs"
        print_frame(frame.astype(str), title)


@click.command()
@click.option("--cache", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Cache root or dataset folder.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=TrainConfig.val_fraction, show_default=True,
              help="As in training: the validation share.")
@click.option("--seed", type=int, default=TrainConfig.seed, show_default=True,
              help="As in training.")
@click.option("--folds", type=click.IntRange(2), help="K-fold splits, as in training.")
@click.option("--fold", type=click.IntRange(0), help="Which fold [default: 0].")
@click.option("--threshold", type=click.IntRange(0, 64), default=DEFAULT_THRESHOLD,
              show_default=True, help="Near-duplicate when the perceptual hashes differ in at "
                                      "most this many of 64 bits.")
@click.option("--min-correlation", type=click.FloatRange(-1, 1), default=DEFAULT_MIN_CORRELATION,
              show_default=True, help="...and their pixels, turned the way the hashes matched, "
                                      "correlate at least this much (-1: no pixel check).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("audit"), show_default=True,
              help="Where report.html, pairs.png and findings.csv go.")
@click.option("--allow-ungrouped", is_flag=True,
              help="Accept rows without patient ids (each is a patient of its own).")
def audit(cache: Path, threshold: int, min_correlation: float, out_dir: Path,
          **split_options: Any) -> None:
    """Look for leakage between train, val and test: exits 1 when there is some.

    Builds the splits training would (same --val-fraction, --seed, --folds, --fold), then
    looks for byte-identical and near-duplicate images (perceptual hashes, under any rotation
    or flip, confirmed on the pixels), patients and lesions (CC and MLO views) on two sides.
    """
    from mcal_lightning.integrity.audit import audit_splits
    from mcal_lightning.integrity.audit_report import write_report
    from preprocessing.cache import open_cache

    datamodule = datamodule_splits(cache, **split_options)
    images = open_cache(cache).images
    report = audit_splits(datamodule.table, images, datamodule.rows, threshold=threshold,
                          min_correlation=min_correlation)
    print_findings(report)
    paths = write_report(report, images, out_dir)
    written = ", ".join(str(path) for path in paths.values())
    console.print(f"near-duplicates: within {report.threshold} of 64 bits, pixels r >= "
                  f"{report.min_correlation:g}; report: {written}")
    if report.leaky:
        console.print(f"verdict: LEAKAGE ({len(report.findings)} leaking pair(s))")
        raise SystemExit(1)
    console.print("verdict: clean (no leakage found)")


@click.command("replay-paper")
@training_options(REPLAY_EXPERIMENT)
def replay_paper(config_file: Path | None, lr_range: str | None, **options: Any) -> None:
    """Train one model twice: the paper's leaky protocol and the honest one, side by side.

    (a) paper: rot90/180/270 copies of every ROI, then a random 80/20 split of the copies,
    scored on that 20%. (b) honest: patient-grouped train/val, scored on the official test
    split. Both train with the paper's augmentation (fastai v1's get_transforms) unless the
    config file sets `augment`. Prints both protocols' metrics, the inflation in points and
    what the paper printed for the same backbone (its Table 9), with F1 by the paper's formula
    beside the real F1; both runs are children of one MLflow parent run that holds the
    comparison (replay/comparison.*).
    """
    from mcal_lightning.data.splits import LeakageError
    from mcal_lightning.integrity.replay import replay_paper as run_replay
    from mcal_lightning.integrity.replay_report import PRINTED
    from mcal_lightning.models.backbones import WeightsUnavailable
    from mcal_lightning.tracking.store import DEFAULT_EXPERIMENT, tracking_uri

    config = config_from(config_file, lr_range, **options)
    if options.get("experiment") is None and config.experiment == DEFAULT_EXPERIMENT:
        config.experiment = REPLAY_EXPERIMENT  # unless the command line or the file says
    try:
        replay = run_replay(config)
    except (WeightsUnavailable, FileNotFoundError, LeakageError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    scale = replay.scale
    print_frame(replay.table.reset_index(),
                f"paper vs honest protocol ({scale['arch']}, {scale['epochs']} epochs, "
                f"{scale['image_px']} px, {scale['weights']} init; {scale['patients']} patients, "
                f"{scale['rois']} ROIs, {scale['paper_items']} rotated copies)")
    console.print(f"'{PRINTED}': what the paper printed for {scale['arch']} (Table 9, its "
                  "benign-positive naming turned to mcal's malignant-positive; no AUC). "
                  "f1_paper: the paper's Equation (15), 2·recall/(2·recall+FP+FN), which is "
                  "what it printed as F1; f1 is 2TP/(2TP+FP+FN).")
    if replay.memoriser is not None:
        print_frame(replay.memoriser.reset_index(), "the same two splits, scored by a pure "
                    "memoriser (1-nearest-neighbour on pixels, no training): what the split leaks")
    reference = ", ".join(f"{name} {value:.4f}" for name, value in replay.honest_val.items())
    console.print(f"honest protocol on its patient-grouped val split (reference): {reference}")
    console.print(f"parent run {replay.parent_run_id} in experiment '{config.experiment}' at "
                  f"{tracking_uri()}; runs: paper {replay.run_ids['paper']}, "
                  f"honest {replay.run_ids['honest']}")

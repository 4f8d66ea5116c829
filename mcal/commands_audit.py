"""`mcal audit`: look for leakage between the splits training would make of a cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mcal.report import console, print_frame

DEFAULT_THRESHOLD = 6  # a copy of audit.DEFAULT_THRESHOLD, so --help never imports the audit
DEFAULT_MIN_CORRELATION = 0.7  # a copy of audit.DEFAULT_MIN_CORRELATION, likewise
SHOWN_PAIRS = 10
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
              default=0.2, show_default=True, help="As in training: the validation share.")
@click.option("--seed", type=int, default=0, show_default=True, help="As in training.")
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

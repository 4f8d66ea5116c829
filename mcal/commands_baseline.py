"""`mcal baseline`: a non-deep floor (handcrafted features + gradient boosting) beside the CNNs.

The heavy imports sit inside the commands, so that `mcal --help` never imports torch.
"""

from __future__ import annotations

from pathlib import Path

import click

from mcal.console import console, print_frame

FEATURE_GROUPS = ("intensity", "spots", "log", "texture", "hog")  # baseline_features.FEATURE_GROUPS


def parse_features(text: str) -> tuple[str, ...]:
    groups = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [group for group in groups if group not in FEATURE_GROUPS]
    if unknown or not groups:
        raise click.BadParameter(f"choose among {', '.join(FEATURE_GROUPS)}; got {text!r}",
                                 param_hint="--features")
    return groups


@click.command()
@click.option("--cache", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Cache root or dataset folder (as for mcal train).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.2, show_default=True,
              help="As in training: the validation share of the official train split.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="As in training: the same seed makes the same patient-grouped split.")
@click.option("--experiment", default="mcal", show_default=True, help="MLflow experiment.")
@click.option("--max-iter", type=click.IntRange(1), default=300, show_default=True,
              help="Boosting iterations tried; the val split picks how many are kept.")
@click.option("--learning-rate", type=click.FloatRange(0, 1, min_open=True), default=0.03,
              show_default=True)
@click.option("--features", "features_text", default=",".join(FEATURE_GROUPS),
              show_default=True, help="Comma-separated feature groups to use.")
@click.option("--run-name", help="MLflow run name [default: baseline-hgb].")
def baseline(cache: Path, val_fraction: float, seed: int, experiment: str, max_iter: int,
             learning_rate: float, features_text: str, run_name: str | None) -> None:
    """Handcrafted features + gradient boosting: the floor every CNN should clear.

    Features of each ROI (scikit-image / scipy): intensity percentiles; bright spots found by
    white top-hats at two scales (count, size, contrast, elongation, rings, clustering and the
    spread and elongation of the set); Laplacian-of-Gaussian blob responses at four scales;
    grey-level co-occurrence texture; HOG pooled over position and angle. A class-balanced
    HistGradientBoostingClassifier is fitted on the train rows of the very patient-grouped
    split `mcal train` makes with the same --val-fraction and --seed, its number of iterations
    is chosen on val (log loss), and it is scored on val and the official test split.

    Logs one MLflow run (tag mcal.model=baseline-hgb) with a CNN run's metric names
    (val/mcc, test/auroc, test/tp, ...), patient-bootstrap 95% CIs (test/auroc_ci_low, ...),
    calibration, and the confusion matrix, ROC and PR plots. It logs no model: `mcal register`
    has nothing to register from it.
    """
    from mcal_lightning.data.splits import LeakageError
    from mcal_lightning.models.baseline import BaselineConfig, run_baseline
    from mcal_lightning.tracking.store import tracking_uri

    config = BaselineConfig(cache=cache, val_fraction=val_fraction, seed=seed,
                            experiment=experiment, max_iter=max_iter,
                            learning_rate=learning_rate, features=parse_features(features_text),
                            run_name=run_name)
    try:
        result = run_baseline(config)
    except (FileNotFoundError, LeakageError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    print_frame(result.summary(), f"baseline-hgb: {len(result.feature_names)} features, "
                f"{result.n_iter} of {max_iter} boosting iterations (chosen on val), "
                "patient-bootstrap 95% CIs")
    console.print(f"features took {result.seconds_features:.1f} s for "
                  f"{sum(len(rows) for rows in result.rows.values())} ROIs")
    console.print(f"run {result.run_id} in experiment '{experiment}' at {tracking_uri()}")

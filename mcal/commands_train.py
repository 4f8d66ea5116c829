"""Training commands: train (one run, or k folds) and lr-find; the options they share.

The heavy mcal_lightning imports sit inside the commands, so that `mcal --help` never imports
torch; the settings' choices and defaults come from mcal_lightning.config, which imports none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mcal.console import console, print_frame
from mcal_lightning.config import (
    ARCHS,
    BALANCES,
    HEADS,
    KEEPS,
    TTA_MODES,
    TrainConfig,
    load_config,
    parse_lr_range,
    short_float,
)

DEFAULT_LR = f"{short_float(TrainConfig.lr_min)},{short_float(TrainConfig.lr_max)}"


def training_options(experiment: str = TrainConfig.experiment) -> Any:
    """Options shared by train, lr-find and replay-paper; unset ones fall back to --config,
    then defaults. ``experiment``: the default the help names."""
    return lambda command: add_training_options(command, experiment)


def add_training_options(command: Any, experiment: str) -> Any:
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="YAML file of settings (keys as in TrainConfig)."),
        click.option("--cache", type=click.Path(file_okay=False), help="Cache root or dataset."),
        click.option("--arch", type=click.Choice(ARCHS),
                     help=f"Backbone [default: {TrainConfig.arch}]."),
        click.option("--weights", help="imagenet (download), none (random init), a local "
                                       "torchvision checkpoint FILE, or a FOLDER of them, one "
                                       f"per arch (ARCH.pt) [default: {TrainConfig.weights}]."),
        click.option("--epochs", type=click.IntRange(1),
                     help=f"[default: {TrainConfig.epochs}]"),
        click.option("--freeze-epochs", type=click.IntRange(0),
                     help="Epochs training the head alone "
                          f"[default: {TrainConfig.freeze_epochs}]."),
        click.option("--batch-size", type=click.IntRange(1),
                     help=f"[default: {TrainConfig.batch_size}]"),
        click.option("--lr", "lr_range", help="lr_min,lr_max across layer groups, first to head "
                                              f"[default: {DEFAULT_LR}, the paper's]."),
        click.option("--aux-weight", type=click.FloatRange(0),
                     help="Weight of an auxiliary loss on each training ROI's annotated calc "
                          "type and distribution (0 = off; predictions never use them) "
                          f"[default: {TrainConfig.aux_weight:g}]."),
        click.option("--head", type=click.Choice(HEADS),
                     help="direct: one logit, as the paper; concept: predict the calc type and "
                          "distribution from their annotations and read malignancy from the "
                          "type's malignant rate on the train split (a concept bottleneck) "
                          f"[default: {TrainConfig.head}]."),
        click.option("--tta", type=click.Choice(TTA_MODES),
                     help="Score val and test over flipped (flips) or rotated and flipped "
                          f"(dihedral) copies of each ROI [default: {TrainConfig.tta}]."),
        click.option("--keep", type=click.Choice(KEEPS),
                     help="The weights a run keeps: its best epoch by val MCC, or the last "
                          f"[default: {TrainConfig.keep}]."),
        click.option("--balance", type=click.Choice(BALANCES),
                     help="BCE pos_weight, a class-balanced sampler, or none "
                          f"[default: {TrainConfig.balance}]."),
        click.option("--seed", type=int, help=f"[default: {TrainConfig.seed}]"),
        click.option("--num-workers", type=click.IntRange(0)),
        click.option("--devices", type=click.IntRange(1),
                     help="GPUs for DDP during fit (spawned processes); 1 trains without DDP "
                          f"[default: {TrainConfig.devices}]."),
        click.option("--experiment", help=f"MLflow experiment [default: {experiment}]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


train_options = training_options()


def lr_options(text: str | None) -> dict[str, float]:
    """--lr as lr_min and lr_max (none when not given)."""
    if text is None:
        return {}
    try:
        low, high = parse_lr_range(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--lr") from exc
    return {"lr_min": low, "lr_max": high}


def config_from(config_file: Path | None, lr_range: str | None, **options: Any) -> TrainConfig:
    try:
        return load_config(config_file, **options, **lr_options(lr_range))
    except (ValueError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@train_options
@click.option("--lr-find", is_flag=True, default=None, help="Run the LR finder first; use its "
                                                            "suggestion as lr_max.")
@click.option("--run-name", help="MLflow run name.")
@click.option("--folds", type=click.IntRange(2), help="Grouped k-fold cross-validation of the "
              "official train split: K runs under one parent, metrics as mean ± sd.")
@click.option("--fold", type=click.IntRange(0), help="Train only this fold of --folds.")
def train(config_file: Path | None, lr_range: str | None, **options: Any) -> None:
    """Train one model on a cache; one MLflow run with metrics, plots and the model.

    With --folds K: K models, one per patient-grouped fold, under one parent run.
    """
    from mcal_lightning.crossval import cross_validate, fold_report, is_cross_validation
    from mcal_lightning.data.aux_targets import NoAuxTargets
    from mcal_lightning.data.splits import LeakageError
    from mcal_lightning.models.backbones import WeightsUnavailable
    from mcal_lightning.tracking.store import tracking_uri
    from mcal_lightning.train import train as run_training

    config = config_from(config_file, lr_range, **options)
    if config.fold is not None and config.folds is None:
        raise click.BadParameter("--fold needs --folds", param_hint="--fold")
    try:
        if is_cross_validation(config):
            result = cross_validate(config)
            run_id = result.run_id
            for stage in ("val", "test") if config.evaluate_test else ("val",):
                print_frame(fold_report(result, stage), f"{stage} metrics, {config.folds} folds")
            console.print(f"best fold: {result.best_fold} (its model is the parent run's model)")
        else:
            run_id = run_training(config).run_id
    except (WeightsUnavailable, FileNotFoundError, LeakageError, NoAuxTargets) as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(f"run {run_id} in experiment '{config.experiment}' at {tracking_uri()}")
    console.print(f"register it: mcal register --run {run_id} --alias champion")


@click.command("lr-find")
@train_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("lr_find.png"), show_default=True)
def lr_find(config_file: Path | None, lr_range: str | None, out: Path, **options: Any) -> None:
    """Lightning's LR range test: saves the plot and prints the suggested learning rate."""
    import tempfile

    from mcal_lightning.train import find_lr, make_datamodule

    config = config_from(config_file, lr_range, **options)
    with tempfile.TemporaryDirectory() as tmp:
        figure, suggestion = find_lr(config, make_datamodule(config), Path(tmp))
    figure.savefig(out, dpi=120)
    console.print(f"suggested lr_max: {suggestion:.3g} (plot: {out})")

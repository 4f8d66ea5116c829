"""Evaluation commands: replay-paper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mcal.commands_train import ARCHS, config_from
from mcal.report import console, print_frame

REPLAY_EXPERIMENT = "replay"


def replay_options(command: Any) -> Any:
    """The training settings both protocols share; unset ones fall back to --config, defaults."""
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="YAML file of settings (keys as in TrainConfig)."),
        click.option("--cache", type=click.Path(file_okay=False), help="Cache root or dataset."),
        click.option("--arch", type=click.Choice(ARCHS), help="Backbone [default: resnet34]."),
        click.option("--weights", help="imagenet (download), none (random init) or a local "
                                       "torchvision checkpoint FILE [default: imagenet]."),
        click.option("--epochs", type=click.IntRange(1), help="[default: 10]"),
        click.option("--freeze-epochs", type=click.IntRange(0),
                     help="Epochs training the head alone [default: 1]."),
        click.option("--batch-size", type=click.IntRange(1), help="[default: 32]"),
        click.option("--lr", "lr_range", help="lr_min,lr_max across layer groups [default: "
                                              "2e-6,1e-3]."),
        click.option("--seed", type=int, help="Seeds the weights and both splits [default: 0]."),
        click.option("--num-workers", type=click.IntRange(0)),
        click.option("--experiment", default=REPLAY_EXPERIMENT, show_default=True,
                     help="MLflow experiment."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("replay-paper")
@replay_options
def replay_paper(config_file: Path | None, lr_range: str | None, **options: Any) -> None:
    """Train one model twice: the paper's leaky protocol and the honest one, side by side.

    (a) paper: rot90/180/270 copies of every ROI, then a random 80/20 split of the copies,
    scored on that 20%. (b) honest: patient-grouped train/val, scored on the official test
    split. Prints accuracy, MCC and AUC of both and the inflation in points; both runs are
    children of one MLflow parent run that holds the comparison (replay/comparison.*).
    """
    from mcal_lightning.backbones import WeightsUnavailable
    from mcal_lightning.replay import replay_paper as run_replay
    from mcal_lightning.splits import LeakageError
    from mcal_lightning.tracking import tracking_uri

    config = config_from(config_file, lr_range, **options)
    try:
        replay = run_replay(config)
    except (WeightsUnavailable, FileNotFoundError, LeakageError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    scale = replay.scale
    print_frame(replay.table.reset_index(),
                f"paper vs honest protocol ({scale['arch']}, {scale['epochs']} epochs, "
                f"{scale['image_px']} px, {scale['weights']} init; {scale['patients']} patients, "
                f"{scale['rois']} ROIs, {scale['paper_items']} rotated copies)")
    if replay.memoriser is not None:
        print_frame(replay.memoriser.reset_index(), "the same two splits, scored by a pure "
                    "memoriser (1-nearest-neighbour on pixels, no training): what the split leaks")
    reference = ", ".join(f"{name} {value:.4f}" for name, value in replay.honest_val.items())
    console.print(f"honest protocol on its patient-grouped val split (reference): {reference}")
    console.print(f"parent run {replay.parent_run_id} in experiment '{config.experiment}' at "
                  f"{tracking_uri()}; runs: paper {replay.run_ids['paper']}, "
                  f"honest {replay.run_ids['honest']}")

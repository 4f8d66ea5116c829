"""Evaluation commands: replay-paper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mcal.commands_train import config_from, training_options
from mcal.report import console, print_frame

REPLAY_EXPERIMENT = "replay"


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

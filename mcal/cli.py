"""`mcal`: one command line for the whole pipeline. Heavy imports happen inside commands."""

from __future__ import annotations

import click

from mcal import __version__
from mcal.commands_baseline import baseline
from mcal.commands_data import filters, index, phantom, preprocess
from mcal.commands_integrity import audit, replay_paper
from mcal.commands_model import champion, predict, register
from mcal.commands_sweep import leaderboard, sweep
from mcal.commands_train import lr_find, train
from mcal.commands_ui import dashboard, ui
from mcal_lightning.quiet import quiet_libraries


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mcal")
def main() -> None:
    """Benign vs malignant microcalcification classification, evaluated without leakage.

    The data path: phantom (or your CBIS-DDSM download) -> index -> filters -> preprocess;
    then train -> register -> predict, or sweep -> leaderboard -> predict.
    """
    quiet_libraries()


for command in (phantom, index, filters, preprocess, train, lr_find, register, champion, predict,
                sweep, leaderboard, replay_paper, audit, ui, dashboard, baseline):
    main.add_command(command)


if __name__ == "__main__":
    main()

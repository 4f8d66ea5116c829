"""Sweep commands: sweep and leaderboard.

The heavy imports sit inside the commands, so that `mcal --help` never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mcal.console import console, print_frame

METRIC_NAMES = {"mcc": "MCC", "auroc": "AUC", "f1": "F1", "recall": "sensitivity"}


def scored(side: dict[str, Any], metric: str) -> str:
    """A model's test value and its patient-bootstrap 95% CI when recorded: 0.01 (95% CI ...)."""
    name = metric.split("/", 1)[-1]
    bounds = ((side.get("ci_95") or {}).get("metrics") or {}).get(name) or {}
    low, high = bounds.get("low"), bounds.get("high")
    ci = f" (95% CI {low:.2f} to {high:.2f})" if low is not None and high is not None else ""
    return f"{side['value']:.2f}{ci}"


def champion_decision(record: dict[str, Any]) -> str:
    """The record's own decision sentence when it has one, else one built from the record."""
    return str(record.get("decision") or champion_summary(record))


def champion_summary(record: dict[str, Any]) -> str:
    """The champion step in words: who holds the alias now, on what test value, and why."""
    metric = record["metric"]
    label = f"test {METRIC_NAMES.get(metric.split('/', 1)[-1], metric)}"
    challenger, champion = record["challenger"], record["champion"]
    unaliased = f"version {challenger['version']} is registered without the alias"
    if champion is None:
        return (f"first champion: version {challenger['version']}, {label} "
                f"{scored(challenger, metric)}")
    if isinstance(champion, str):
        return f"{record['reason']}; {unaliased} ({label} {scored(challenger, metric)})"
    if record["alias_moved"]:
        return (f"new champion: version {challenger['version']}, {label} "
                f"{scored(challenger, metric)}, beats version {champion['version']}'s "
                f"{scored(champion, metric)}")
    return (f"champion kept: version {champion['version']}, {label} {scored(champion, metric)}, "
            f"holds against version {challenger['version']}'s {scored(challenger, metric)}; "
            f"{unaliased}")


WARN_AFTER_HELP = ("Warn when the test split has made more decisions than this "
                   "[default: $MCAL_TEST_LOOKS_WARN_AFTER, else 20].")


def print_test_split_decisions(study: Any, warn_after: int | None) -> None:
    """The test-split ledger's count for the study's cache dataset, and a warning past the limit
    (studies made before the data fingerprint was recorded print nothing)."""
    from mcal_lightning.tracking.test_ledger import STUDY_FINGERPRINT, decisions_report

    fingerprint = study.user_attrs.get(STUDY_FINGERPRINT)
    if fingerprint:
        for line in decisions_report(fingerprint, warn_after):
            console.print(line)


STORAGE_HELP = ("Optuna storage URL shared by every worker, e.g. postgresql://user:pw@host/db "
                "[default: sqlite:///mlruns/optuna.db].")


@click.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--storage", help=STORAGE_HELP)
@click.option("--study", "study_name", help="Study name [default: the file's `study:`].")
@click.option("--n-trials", type=click.IntRange(1), help="Trials in the whole study, all "
                                                         "workers together.")
@click.option("--cache", type=click.Path(file_okay=False), help="Override data.cache.")
def sweep(sweep_file: Path, storage: str | None, study_name: str | None, n_trials: int | None,
          cache: str | None) -> None:
    """Run or resume an Optuna sweep; every trial is a nested MLflow run.

    Run the same command again to resume, or on several hosts with one --storage to share the
    study. Each trial this process runs prints one line as it ends. The process that finishes
    the last trial prints the leaderboard, logs the Optuna plots and moves the 'champion' alias
    only if the best trial beats it on the test split, and says why it did or did not.
    """
    import optuna

    from mcal_lightning.data.aux_targets import NoAuxTargets
    from mcal_lightning.data.splits import LeakageError
    from mcal_lightning.models.backbones import WeightsUnavailable
    from mcal_lightning.sweep.config import SweepFileError, load_sweep
    from mcal_lightning.sweep.leaderboard import leaderboard
    from mcal_lightning.sweep.run import StudyMismatch, run_sweep
    from mcal_lightning.sweep.study import redact, trial_states
    from mcal_lightning.sweep.trial_line import trial_line

    try:
        plan = load_sweep(sweep_file, cache=cache)
    except SweepFileError as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(f"sweep {plan.study if study_name is None else study_name}: "
                  f"{plan.sampler['type']} sampler, {plan.pruner['type']} pruner, "
                  f"{n_trials or plan.trial_budget() or 'no limit on'} trials, "
                  f"{plan.direction} {plan.metric}")

    def print_trial(trial: optuna.trial.FrozenTrial) -> None:
        line = trial_line(trial, plan.metric)
        if line is not None:
            console.print(line, markup=False, highlight=False)

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its per-trial lines: print_trial's
    try:
        outcome = run_sweep(plan, storage, study_name, n_trials, on_trial=print_trial)
    except (WeightsUnavailable, FileNotFoundError, StudyMismatch, LeakageError,
            NoAuxTargets) as exc:
        raise click.ClickException(str(exc)) from exc
    study = outcome.study
    states = ", ".join(f"{n} {state}" for state, n in trial_states(study).items())
    print_frame(leaderboard(study), f"leaderboard of study '{study.study_name}' ({states})")
    console.print(f"MLflow parent run {outcome.parent_run_id}; study storage "
                  f"{redact(storage or 'sqlite:///mlruns/optuna.db')}")
    if not outcome.ended_here:
        console.print("other workers still hold trials (or ended the sweep): the champion is "
                      "decided by the worker that finishes last")
    print_test_split_decisions(study, plan.test_split_warn_after)
    if outcome.ended_here and outcome.champion is not None:  # last: the log ends with the decision
        if "ensemble" in outcome.champion:  # the top-k soft vote, judged after the best trial
            console.print(f"ensemble: {champion_decision(outcome.champion['ensemble'])}",
                          markup=False, highlight=False)
        console.print(champion_decision(outcome.champion), markup=False, highlight=False)


@click.command()
@click.option("--study", "study_name", help="Study name [default: the only one, or the newest].")
@click.option("--storage", help=STORAGE_HELP)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write a CSV.")
@click.option("--warn-after", type=click.IntRange(0), help=WARN_AFTER_HELP)
def leaderboard(study_name: str | None, storage: str | None, out: Path | None,
                warn_after: int | None) -> None:
    """Reprint a sweep's leaderboard: arch, batch, LR range, epochs, val MCC/F1/AUC, state;
    then how many decisions the test split of its cache has made."""
    import optuna

    from mcal_lightning.sweep.leaderboard import leaderboard as table_of
    from mcal_lightning.sweep.study import default_storage, study_names

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage or default_storage()
    names = study_names(optuna.storages.RDBStorage(url))
    if not names:
        raise click.ClickException(f"no study in {url}; run mcal sweep first")
    name = study_name or names[-1]
    if name not in names:
        raise click.ClickException(f"no study '{name}'; the storage holds {names}")
    study = optuna.load_study(study_name=name, storage=url)
    table = table_of(study)
    print_frame(table, f"leaderboard of study '{name}'")
    print_test_split_decisions(study, warn_after)
    if out is not None:
        table.to_csv(out, index=False)
        console.print(f"wrote {out}")

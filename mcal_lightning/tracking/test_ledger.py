"""The ledger of looks at the official test split: who scored it, with which model, and why.

A split consulted for every sweep's champion slowly becomes a selection set. Each evaluation
on it is one entry against the cache dataset's fingerprint; past a count (``warn_after``) the
entries come with a warning to choose on k-fold of the train split or a fresh held-out set.

An entry is one run of the MLflow experiment ``mcal-test-ledger``, tagged ``ledger.*``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from mcal_lightning.data.splits import official_rows
from mcal_lightning.tracking.store import (
    LOCAL_STORE,
    experiment_id,
    use_tracking,
    uses_local_store,
)

# MLflow, not a file beside the cache: every worker of a sweep shares the tracking store (not
# always the cache's disk), `mcal leaderboard` finds it from the study's fingerprint alone, and
# the SQL store inserts a run with its tags in one transaction, so an entry is whole or absent.
EXPERIMENT = "mcal-test-ledger"
TAG = "ledger."
WARN_AFTER_ENV = "MCAL_TEST_LOOKS_WARN_AFTER"
DEFAULT_WARN_AFTER = 20
STUDY_FINGERPRINT = "data_fingerprint"  # sweep.run.DATA, named here so the leaderboard needn't
# import the sweep's runner (and torch) to find a study's cache dataset
REASONS = ("train", "baseline", "end of sweep", "champion scoring", "register",
           "predict --evaluate with the same ROIs")


class SplitReuseWarning(UserWarning):
    """The test split has been looked at more often than ``warn_after``."""


@dataclass(frozen=True)
class Look:
    """One entry: no patient ids, only the split's fingerprint and what scored it."""

    fingerprint: str
    reason: str
    run_id: str = ""  # the run whose model was scored
    model_version: str = ""  # its registered version, when there is one
    rois: int | None = None  # test ROIs scored

    def tags(self) -> dict[str, str]:
        found = {"fingerprint": self.fingerprint, "reason": self.reason, "run_id": self.run_id,
                 "model_version": self.model_version,
                 "rois": "" if self.rois is None else str(self.rois)}
        return {f"{TAG}{name}": value for name, value in found.items()}


def official_test_rois(table: pd.DataFrame, test_rows: np.ndarray) -> int | None:
    """How many ROIs a "test" stage scores when it is the official test split, else None
    (the paper replay's "test" is its random validation set, no look at the split)."""
    official = official_rows(table, "test")
    return len(official) if np.array_equal(np.sort(test_rows), official) else None


def default_warn_after() -> int:
    """MCAL_TEST_LOOKS_WARN_AFTER when set, else 20."""
    return int(os.environ.get(WARN_AFTER_ENV, DEFAULT_WARN_AFTER))


def ledger_client() -> tuple[MlflowClient, str]:
    return MlflowClient(use_tracking()), experiment_id(EXPERIMENT)


def looks(fingerprint: str) -> list[Look]:
    """The entries against this fingerprint, oldest first (none without a tracking store)."""
    if uses_local_store() and not (LOCAL_STORE / "mlflow.db").is_file():
        return []  # reading must not create a store
    client = MlflowClient(use_tracking())
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is None:
        return []
    runs = client.search_runs([found.experiment_id],
                              f"tags.`{TAG}fingerprint` = '{fingerprint}'",
                              order_by=["attributes.start_time ASC"], max_results=50000)
    return [look_of(run.data.tags) for run in runs]


def look_of(tags: dict[str, str]) -> Look:
    rois = tags.get(f"{TAG}rois", "")
    return Look(tags[f"{TAG}fingerprint"], tags.get(f"{TAG}reason", ""),
                tags.get(f"{TAG}run_id", ""), tags.get(f"{TAG}model_version", ""),
                int(rois) if rois else None)


def count_looks(fingerprint: str) -> int:
    return len(looks(fingerprint))


def reuse_warning(count: int, warn_after: int) -> str | None:
    """The warning for a split looked at count times, None while count <= warn_after."""
    if count <= warn_after:
        return None
    return (f"the official test split has made {count} decisions (more than {warn_after}): it "
            "is being reused for selection. Choose on k-fold of the train split "
            "(`mcal train --folds K`) or on a fresh held-out set, and keep the test split for "
            "a final report")


def decisions_report(fingerprint: str, warn_after: int | None = None) -> list[str]:
    """What `mcal sweep` and `mcal leaderboard` print: the split's count of decisions, then the
    reuse warning when past warn_after (default_warn_after() when None)."""
    count = count_looks(fingerprint)
    lines = [f"the test split of cache dataset {fingerprint} has made {count} decisions"]
    message = reuse_warning(count, default_warn_after() if warn_after is None else warn_after)
    return lines if message is None else [*lines, f"warning: {message}"]


def record_look(look: Look) -> int:
    """Add the entry (a finished ledger run); the split's count of looks, this one included."""
    if look.reason not in REASONS:
        raise ValueError(f"unknown reason {look.reason!r}; expected one of {REASONS}")
    client, experiment = ledger_client()
    run = client.create_run(experiment, tags=look.tags(), run_name=f"test look: {look.reason}")
    client.set_terminated(run.info.run_id)
    return count_looks(look.fingerprint)


def warn_if_reused(count: int, warn_after: int | None = None) -> str | None:
    """Warn (SplitReuseWarning) past warn_after, default_warn_after() when None; the message."""
    message = reuse_warning(count, default_warn_after() if warn_after is None else warn_after)
    if message is not None:
        warnings.warn(message, SplitReuseWarning, stacklevel=2)
    return message

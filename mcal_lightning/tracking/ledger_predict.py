"""Whether ``mcal predict --evaluate`` scored test ROIs of the cache its model learned from.

Such files are found by content: a cache row's ``source_sha1`` is the SHA-1 of its source
file's bytes. The cache comes from the model's run (its ``cache`` and ``data.fingerprint``
params); a model without a run, or whose cache is not on this machine, records no look.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mcal_lightning.tracking.store import use_tracking
from mcal_lightning.tracking.test_ledger import REASONS, Look, record_look
from preprocessing.cache import resolve_dataset

REASON = REASONS[-1]  # "predict --evaluate with the same ROIs"


def model_run_id(model: Any) -> str | None:
    """The run that logged a loaded pyfunc (None for a model without MLflow metadata)."""
    return getattr(getattr(model, "metadata", None), "run_id", None)


def model_version(model_uri: str) -> str:
    """The registered version a models:/NAME/N or models:/NAME@ALIAS URI names, else ""."""
    if not model_uri.startswith("models:/"):
        return ""
    name = model_uri.removeprefix("models:/")
    try:
        if "@" in name:
            registered, alias = name.split("@", 1)
            return str(MlflowClient(use_tracking()).get_model_version_by_alias(registered, alias)
                       .version)
    except MlflowException:
        return ""
    registered, _, version = name.partition("/")
    return version if version.isdigit() else ""


def training_dataset(cache: str, fingerprint: str) -> Path | None:
    """The cache dataset folder named fingerprint, found from the run's cache path."""
    try:
        resolved = resolve_dataset(Path(cache))
    except (FileNotFoundError, OSError):
        return None
    found = resolved if resolved.name == fingerprint else resolved.parent / fingerprint
    return found if (found / "index.csv").is_file() else None


def official_test_sources(dataset: Path) -> set[str]:
    """The SHA-1 of each official test ROI's source file."""
    table = pd.read_csv(dataset / "index.csv", usecols=["split", "source_sha1"], dtype=str)
    return set(table.loc[table["split"] == "test", "source_sha1"])


def file_sha1(path: Path) -> str | None:
    try:
        return hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError:
        return None


def record_predict_look(run_id: str | None, model_uri: str, files: Iterable[Path]) -> int | None:
    """Record the evaluation when some files are the model's cache's test ROIs; the split's
    count of looks then, or None when no look was recorded."""
    if not run_id:
        return None
    try:
        params = MlflowClient(use_tracking()).get_run(run_id).data.params
    except MlflowException:
        return None
    fingerprint, cache = params.get("data.fingerprint", ""), params.get("cache", "")
    dataset = training_dataset(cache, fingerprint) if fingerprint and cache else None
    if dataset is None:
        return None
    tests = official_test_sources(dataset)
    matched = sum(file_sha1(Path(f)) in tests for f in files)
    if not matched:
        return None
    return record_look(Look(fingerprint, REASON, run_id, model_version(model_uri), matched))

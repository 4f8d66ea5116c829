"""The model registry: register a run's logged model as a new version, under an alias."""

from __future__ import annotations

import mlflow
from mlflow import MlflowClient

from mcal_lightning.tracking.store import (
    BASELINE_MODEL,
    DEFAULT_EXPERIMENT,
    MODEL_TAG,
    REGISTERED_MODEL,
    model_uri,
    tracking_uri,
    use_tracking,
)


def latest_run(experiment: str = DEFAULT_EXPERIMENT) -> str:
    """The id of the newest finished run of the experiment that logs a model (not a baseline)."""
    use_tracking()
    runs = mlflow.search_runs(experiment_names=[experiment], filter_string="status = 'FINISHED'",
                              order_by=["start_time DESC"], max_results=50, output_format="list")
    models = [run for run in runs if run.data.tags.get(MODEL_TAG) != BASELINE_MODEL]
    if not models:
        raise LookupError(f"no finished run with a model in experiment '{experiment}' at "
                          f"{tracking_uri()}")
    return models[0].info.run_id


DECISION_TAG = "mcal.champion_decision"  # on a model version: the promotion rule's sentence


def champion_holder(name: str = REGISTERED_MODEL, alias: str = "champion") -> str:
    """Who holds the alias and why, in words; LookupError when nobody does."""
    use_tracking()
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException as exc:
        raise LookupError(f"no '{alias}' in registered model '{name}' at {tracking_uri()}: "
                          "run a sweep (mcal sweep) or mcal register --run ID") from exc
    run = client.get_run(version.run_id)
    arch = run.data.params.get("arch", "?")
    decision = version.tags.get(DECISION_TAG, "moved by mcal register (no sweep decision)")
    return (f"{alias}: {name} version {version.version} ({arch}, run {version.run_id}); "
            f"why: {decision}")


def register(run_id: str, alias: str | None = "champion", name: str = REGISTERED_MODEL) -> str:
    """Register runs:/RUN_ID/model as a new version of `name`; move `alias` to it."""
    use_tracking()
    version = mlflow.register_model(model_uri(run_id), name)
    if alias:
        MlflowClient().set_registered_model_alias(name, alias, version.version)
    return str(version.version)

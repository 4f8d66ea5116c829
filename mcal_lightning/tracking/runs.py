"""Parent and child MLflow runs (cross-validation, the paper replay, sweeps): made, then ended.

The run is created with MlflowClient and only its id is handed on: training logs into it by
id (``train(run_id=...)``), so several child runs can follow one another under one parent
without MLflow's fluent API holding any of them active.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from mlflow import MlflowClient
from mlflow.entities import RunStatus

from mcal_lightning.tracking.store import experiment_id

PARENT_TAG = "mlflow.parentRunId"  # what nests a run under its parent in the MLflow UI


def create_run(experiment: str, name: str, tags: Mapping[str, str]) -> str:
    """A new run of the experiment (created first if need be); its id."""
    experiment_key = experiment_id(experiment)  # also points MLflow at tracking_uri()
    return MlflowClient().create_run(experiment_key, tags=dict(tags), run_name=name).info.run_id


def still_running(run_id: str) -> bool:
    return MlflowClient().get_run(run_id).info.status == RunStatus.to_string(RunStatus.RUNNING)


@contextmanager
def parent_run(experiment: str, name: str, tags: Mapping[str, str],
               run_id: str | None = None, end: bool = True) -> Iterator[str]:
    """A parent run's id, for its children to name; FAILED if the block raises.

    run_id: an existing run to be the parent instead (a sweep trial's own run under
    cross-validation): its owner ends it, so nothing here marks it. end=False leaves a run made
    here open when the block ends (a sweep's parent, ended by whichever worker ends the sweep);
    it is still marked FAILED if the block raises.
    """
    created = run_id is None
    parent = create_run(experiment, name, tags) if created else str(run_id)
    try:
        yield parent
    except BaseException:
        if created:
            MlflowClient().set_terminated(parent, status="FAILED")
        raise
    if created and end:
        MlflowClient().set_terminated(parent, status="FINISHED")


@contextmanager
def child_run(parent_id: str, experiment: str, name: str,
              tags: Mapping[str, str] | None = None) -> Iterator[str]:
    """A new run nested under parent_id; marked FAILED if the block raises while it still runs.

    The block ends the run itself (training logs into it and finishes it; a sweep trial sets
    its Optuna state), so a run the block already ended (a pruned trial: FINISHED) keeps its
    status.
    """
    run_id = create_run(experiment, name, {PARENT_TAG: parent_id, **(tags or {})})
    try:
        yield run_id
    except BaseException:
        if still_running(run_id):
            MlflowClient().set_terminated(run_id, status="FAILED")
        raise

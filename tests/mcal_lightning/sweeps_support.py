"""Helpers for the sweep tests: sweep files over the tiny cache, the MLflow client."""

from pathlib import Path

import yaml
from mlflow import MlflowClient

FAST = {"weights": "none", "freeze_epochs": 0, "top_losses": 4, "epochs": 1}


def sweep_file(root: Path, name: str, **content: object) -> Path:
    """A sweep file over the tiny cache; train defaults that the space searches are left out."""
    train = content.pop("train", {**FAST, "batch_size": 16})
    searched = set(content.get("space", {}))
    content["train"] = {k: v for k, v in train.items() if k not in searched}
    data = {"study": name, "experiment": "sweep-test",
            "data": {"cache": str(root / "cache"), "num_workers": 0},
            "heartbeat": {"interval": 1, "grace_period": 3},
            **content}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def client(root: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")


def child_runs(root: Path, parent_run_id: str) -> list:
    experiment = client(root).get_experiment_by_name("sweep-test")
    return client(root).search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=100)

"""Where MLflow runs go and what every run records besides metrics."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
from matplotlib.figure import Figure

LOCAL_STORE = Path("mlruns")  # relative to the working directory, as `mlflow ui` expects
DEFAULT_EXPERIMENT = "mcal"
REGISTERED_MODEL = "mcal-calc"
MODEL_TAG = "mcal.model"  # set on runs whose model is not the CNN
BASELINE_MODEL = "baseline-hgb"  # its value on the handcrafted baseline's runs
MODEL_URI_TAG = "mcal.model_uri"  # a run's logged model (MLflow 3 keeps models beside runs)
PACKAGES = ("mcal", "torch", "torchvision", "lightning", "torchmetrics", "mlflow", "optuna",
            "numpy", "opencv-python-headless", "scikit-image", "pydicom", "albumentations")


def uses_local_store() -> bool:
    return not os.environ.get("MLFLOW_TRACKING_URI")


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set, else the sqlite store in ./mlruns.

    The local path is made absolute: MLflow caches stores by URI, so a relative one would keep
    pointing at the first working directory it was used from.
    """
    if not uses_local_store():
        return os.environ["MLFLOW_TRACKING_URI"]
    store = LOCAL_STORE.resolve()
    store.mkdir(exist_ok=True)
    return f"sqlite:///{store.as_posix()}/mlflow.db"


def use_tracking() -> str:
    """Point MLflow's fluent API at tracking_uri()."""
    local = uses_local_store()
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    if local:  # MLflow exports the URI to the environment; the local store follows the cwd
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    return uri


def experiment_id(name: str = DEFAULT_EXPERIMENT) -> str:
    """The experiment's id; a new one on the local store keeps its artifacts in ./mlruns/NAME."""
    client = mlflow.MlflowClient(use_tracking())
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    folder = LOCAL_STORE / re.sub(r"[^A-Za-z0-9._-]+", "-", name)  # one folder per experiment
    location = folder.resolve().as_uri() if uses_local_store() else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:  # another worker created it first
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def model_uri(run_id: str) -> str:
    """The URI of the model a run logged; runs:/ID/model for runs without the tag."""
    tags = mlflow.MlflowClient(use_tracking()).get_run(run_id).data.tags
    return tags.get(MODEL_URI_TAG, f"runs:/{run_id}/model")


def git_commit() -> str:
    """The checkout's commit; else MCAL_GIT_COMMIT (set by the Docker image, which has no .git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True, cwd=Path(__file__).parent)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("MCAL_GIT_COMMIT") or "unknown"


def package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[f"version.{name}"] = version(name)
        except PackageNotFoundError:
            found[f"version.{name}"] = "absent"
    return found


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def run_params(config: Mapping[str, Any], fingerprint: str) -> dict[str, str]:
    """The full config, the data fingerprint, the commit and package versions."""
    return {**flatten(config), "data.fingerprint": fingerprint, "git.commit": git_commit(),
            **package_versions()}


def log_figure(fig: Figure, name: str) -> None:
    import matplotlib.pyplot as plt  # here: the plotting modules choose the Agg backend first

    mlflow.log_figure(fig, name)
    plt.close(fig)

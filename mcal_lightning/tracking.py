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

LOCAL_STORE = Path("mlruns")
DEFAULT_TRACKING_URI = f"sqlite:///{LOCAL_STORE.as_posix()}/mlflow.db"
DEFAULT_EXPERIMENT = "mcal"
REGISTERED_MODEL = "mcal-calc"
PACKAGES = ("mcal", "torch", "torchvision", "lightning", "torchmetrics", "mlflow", "optuna",
            "numpy", "opencv-python-headless", "scikit-image", "pydicom", "albumentations")


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set, else the local store in ./mlruns."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)
    if uri == DEFAULT_TRACKING_URI:
        LOCAL_STORE.mkdir(exist_ok=True)
    return uri


def use_tracking() -> str:
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    return uri


def experiment_id(name: str = DEFAULT_EXPERIMENT) -> str:
    """The experiment's id; a new one on the local store keeps its artifacts in ./mlruns/NAME."""
    use_tracking()
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    local = tracking_uri() == DEFAULT_TRACKING_URI
    folder = LOCAL_STORE / re.sub(r"[^A-Za-z0-9._-]+", "-", name)  # one folder per experiment
    location = folder.resolve().as_uri() if local else None
    return mlflow.create_experiment(name, artifact_location=location)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True, cwd=Path(__file__).parent)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


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
    import matplotlib.pyplot as plt

    mlflow.log_figure(fig, name)
    plt.close(fig)

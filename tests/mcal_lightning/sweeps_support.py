"""Helpers for the training-side tests: the tiny phantom cache, sweep files over it, MLflow.

Both the cache and an empty MLflow store are made once per test process and copied where a test
wants one (the phantom behind the cache is linked): a phantom takes seconds to draw and a new
sqlite store seconds of schema migrations, while a copy is the same bytes (the phantom is
deterministic by seed) in a fraction of a second.
"""

import atexit
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from functools import cache
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient

from preprocessing.cache import build_cache
from preprocessing.index import build_index
from preprocessing.phantom import generate_phantom
from preprocessing.pipeline import PreprocessConfig

FAST = {"weights": "none", "freeze_epochs": 0, "top_losses": 4, "epochs": 1}


@cache
def templates() -> Path:
    """A folder for this process's templates, removed when it exits."""
    folder = Path(tempfile.mkdtemp(prefix="mcal-test-templates-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@cache
def tiny_cache_template(seed: int, patients: int) -> Path:
    # no full-field images: the index and cache read only crops and masks (the same rows with
    # or without them), and writing the full images was half of drawing the phantom
    root = templates() / f"phantom-{seed}-{patients}"
    generate_phantom(root / "data", patients=patients, seed=seed, scale=0.08, workers=1,
                     progress=False, full_images="none")
    index = build_index(root / "data", progress=False)
    build_cache(index, root / "cache", PreprocessConfig(size=64), workers=1, progress=False)
    return root


def tiny_cache(root: Path, seed: int, patients: int = 28) -> None:
    """A small phantom (28 patients, no full images) at root/data, its 64 px cache in root/cache.

    root/data links to the template's phantom, which tests only read (as mcal does a data
    folder): a copy would be some 200 nested folders to write and to delete for each test.
    """
    template = tiny_cache_template(seed, patients)
    (root / "data").symlink_to(template / "data", target_is_directory=True)
    shutil.copytree(template / "cache", root / "cache")


@cache
def empty_store_template() -> Path:
    """An MLflow sqlite store with its tables but no experiment, not even Default.

    MLflow adds Default when it opens a store without one, with the artifact root of that moment,
    so a copy opens as a new store would.
    """
    path = templates() / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("DELETE FROM experiments")
    return path


def seed_store(path: Path) -> Path:
    """An empty MLflow sqlite store at path (a copy of the template), unless one is there."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with (closing(sqlite3.connect(empty_store_template())) as source,
              closing(sqlite3.connect(path)) as copy):
            source.backup(copy)
    return path


@contextmanager
def local_tracking(root: Path) -> Iterator[Path]:
    """root as the working directory, MLflow on its default local store there (./mlruns)."""
    seed_store(root / "mlruns" / "mlflow.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield root
        mlflow.set_tracking_uri(None)


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

from pathlib import Path

import mlflow
import pytest

from mcal_lightning.tracking import store
from mcal_lightning.tracking.store import experiment_id, flatten, tracking_uri, use_tracking
from tests.mcal_lightning.sweeps_support import seed_store


@pytest.fixture(autouse=True)
def no_user_uri(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield
    mlflow.set_tracking_uri(None)


def test_local_store_follows_the_working_directory(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_tracking()
    seed_store(tmp_path / "other" / "mlruns" / "mlflow.db")
    monkeypatch.chdir(tmp_path / "other")
    assert tracking_uri() == f"sqlite:///{tmp_path}/other/mlruns/mlflow.db"
    found = mlflow.MlflowClient(tracking_uri()).get_experiment(experiment_id("my exp"))
    assert found.artifact_location == (tmp_path / "other" / "mlruns" / "my-exp").as_uri()


def test_a_user_uri_wins(tmp_path: Path, monkeypatch):
    uri = f"sqlite:///{seed_store(tmp_path / 'elsewhere.db')}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert tracking_uri() == uri
    monkeypatch.chdir(tmp_path)
    experiment_id("x")
    assert not (tmp_path / "mlruns").exists()


def test_flatten_nested_config():
    assert flatten({"a": 1, "augment": {"hflip_p": 0.5}}) == {"a": "1", "augment.hflip_p": "0.5"}


def test_git_commit_falls_back_to_the_image_variable(monkeypatch):
    def no_git(*args, **kwargs):
        raise OSError("git: not found")

    monkeypatch.setattr(store.subprocess, "run", no_git)
    monkeypatch.setenv("MCAL_GIT_COMMIT", "abc123")
    assert store.git_commit() == "abc123"
    monkeypatch.delenv("MCAL_GIT_COMMIT")
    assert store.git_commit() == "unknown"

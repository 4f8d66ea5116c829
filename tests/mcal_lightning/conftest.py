"""Fixtures of the training-side tests."""

import mlflow
import pytest

from tests.mcal_lightning.sweeps_support import tiny_cache


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory):
    """A tiny 64 px phantom cache (one per test module); the working directory, so ./mlruns."""
    root = tmp_path_factory.mktemp("sweep")
    tiny_cache(root, seed=5)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield root
        mlflow.set_tracking_uri(None)

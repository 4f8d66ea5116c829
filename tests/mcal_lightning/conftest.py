"""Fixtures of the training-side tests."""

import mlflow
import pytest

from preprocessing.cache import build_cache
from preprocessing.index import build_index
from preprocessing.phantom import generate_phantom
from preprocessing.pipeline import PreprocessConfig


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory):
    """A tiny 64 px phantom cache (one per test module); the working directory, so ./mlruns."""
    root = tmp_path_factory.mktemp("sweep")
    generate_phantom(root / "data", patients=28, seed=5, scale=0.08, workers=1, progress=False)
    index = build_index(root / "data", progress=False)
    build_cache(index, root / "cache", PreprocessConfig(size=64), workers=1, progress=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield root
        mlflow.set_tracking_uri(None)

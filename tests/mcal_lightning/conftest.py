"""Fixtures of the training-side tests."""

import pytest

from tests.mcal_lightning.sweeps_support import local_tracking, tiny_cache


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory):
    """A tiny 64 px phantom cache (one per test module); the working directory, so ./mlruns."""
    root = tmp_path_factory.mktemp("sweep")
    tiny_cache(root, seed=5)
    with local_tracking(root):
        yield root

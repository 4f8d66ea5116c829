"""Fixtures of the index tests: one phantom's cases, drawn once in the TCIA layout."""

from pathlib import Path

import pytest

from preprocessing.phantom import PhantomResult, generate_phantom

# 24 patients and the 6 corrupt kinds: the cases the CBIS and Kaggle index tests both read
PHANTOM = dict(patients=24, seed=3, scale=0.08, workers=1, progress=False)
CORRUPT = 6


@pytest.fixture(scope="package")
def tcia_phantom(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PhantomResult]:
    """PHANTOM in the TCIA layout, for tests that only read it: (its folder, the result)."""
    out = tmp_path_factory.mktemp("tcia")
    return out, generate_phantom(out, corrupt=CORRUPT, **PHANTOM)

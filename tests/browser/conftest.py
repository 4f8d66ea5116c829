"""Fixtures of the browser tests: headless Chromium, a real tiny sweep, `mcal ui` over it.

Under CI=true these tests must run; elsewhere they skip when Chromium, chromedriver or selenium
is missing (Debian: apt-get install chromium chromium-driver; pip install selenium).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcal_lightning.sweep.config import load_sweep
from mcal_lightning.sweep.run import SweepOutcome, run_sweep
from tests.browser.servers import Server, start_mcal, stop, wait_for_json
from tests.mcal_lightning.sweeps_support import local_tracking, sweep_file, tiny_cache

WINDOW = "1400,900"


def browser_binaries() -> tuple[str, str]:
    """(chromium, chromedriver); skips when one is missing, or fails under CI=true."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver))
               if path is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        reason = (f"{', '.join(missing)} not found: apt-get install chromium chromium-driver; "
                  "pip install selenium")
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires the browser tests: {reason}")
        pytest.skip(reason)
    return chromium, driver


@pytest.fixture(scope="module")
def binaries() -> tuple[str, str]:
    return browser_binaries()


@pytest.fixture(scope="module")
def driver(binaries: tuple[str, str]) -> Iterator[Any]:
    """Headless Chromium from the system packages (nothing is downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = binaries
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     f"--window-size={WINDOW}"):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(chromedriver))
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def sweep_root(binaries: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Path]:
    """A directory with a tiny phantom cache (both classes in its test split) and ./mlruns.

    The browser is checked first, so a missing one skips before anything trains.
    """
    root = tmp_path_factory.mktemp("browser")
    tiny_cache(root, seed=1)  # seed 1: both classes in the test split
    with local_tracking(root):
        yield root


@pytest.fixture(scope="module")
def sweep(sweep_root: Path) -> SweepOutcome:
    """A real two-trial grid sweep (one epoch each); its end registers the champion."""
    path = sweep_file(sweep_root, "quickstart", experiment="mcal-sweep",
                      sampler={"type": "grid"}, pruner={"type": "none"},
                      space={"arch": {"type": "categorical", "choices": ["alexnet", "resnet34"]}})
    outcome = run_sweep(load_sweep(path))
    states = [trial.state.name for trial in outcome.study.trials]
    assert states == ["COMPLETE", "COMPLETE"], f"the sweep's trials did not all complete: {states}"
    return outcome


@pytest.fixture(scope="module")
def mlflow_ui(sweep: SweepOutcome, sweep_root: Path) -> Iterator[Server]:
    """`mcal ui` on the sweep's store (mlflow ui --workers 1 underneath), stopped by PID."""
    server = start_mcal("ui", sweep_root)
    try:
        wait_for_json(server, "/api/2.0/mlflow/experiments/search?max_results=100")
        yield server
    finally:
        stop(server)


@pytest.fixture(scope="module")
def screenshots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Path:
    """MCAL_SCREENSHOTS when set (docs/screenshots for the README), else a temporary folder.

    A relative MCAL_SCREENSHOTS is taken from where pytest was started: the sweep changes the
    working directory.
    """
    chosen = os.environ.get("MCAL_SCREENSHOTS")
    folder = (request.config.invocation_params.dir / chosen if chosen
              else tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder

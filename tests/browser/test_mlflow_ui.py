"""The MLflow UI in a real browser, over a real tiny sweep served by `mcal ui`.

Screenshots go to MCAL_SCREENSHOTS (the README's come from MCAL_SCREENSHOTS=docs/screenshots).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from matplotlib.image import imread
from mlflow import MlflowClient

from mcal_lightning.sweep.run import SweepOutcome
from mcal_lightning.sweep.study import RUN_ID
from mcal_lightning.tracking.store import REGISTERED_MODEL
from tests.browser.servers import Server

CONFUSION_MATRIX = "plots/test_confusion_matrix.png"
pytestmark = pytest.mark.slow  # a real sweep, a real server, a real browser: about a minute


@pytest.fixture(scope="module")
def pages(binaries: tuple[str, str]) -> ModuleType:
    """The page helpers; imported after the browser check, as they import selenium."""
    from tests.browser import mlflow_pages

    return mlflow_pages


@pytest.fixture(scope="module")
def client(sweep_root: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{sweep_root}/mlruns/mlflow.db")


def trial_runs(client: MlflowClient, sweep: SweepOutcome) -> dict[str, Any]:
    """The sweep's trial runs by run id."""
    parent = client.get_run(sweep.parent_run_id)
    found = client.search_runs([parent.info.experiment_id],
                               f"tags.mlflow.parentRunId = '{sweep.parent_run_id}'")
    return {run.info.run_id: run for run in found}


def test_experiment_page_lists_the_trial_runs_with_their_mcc(driver, pages, mlflow_ui: Server,
                                                             sweep, client, screenshots):
    runs = trial_runs(client, sweep)
    assert len(runs) == len(sweep.study.trials) == 2
    experiment_id = client.get_run(sweep.parent_run_id).info.experiment_id
    pages.open_runs_table(driver, mlflow_ui.url, experiment_id, sweep.parent_run_id,
                          ["Dataset", "Source", "val/mcc", "test/mcc"])
    header = pages.visible(driver, "[role=columnheader][col-id='metrics.`val/mcc`']")
    assert header.text == "val/mcc"
    for run_id, run in runs.items():
        name = pages.visible(driver, f"{pages.row(run_id)} [col-id='attributes.`Run Name`']")
        assert run.info.run_name in name.text.splitlines()  # after its colour's hex code
        shown = pages.visible(driver, pages.metric_cell(run_id, "val/mcc")).text
        assert float(shown) == pytest.approx(run.data.metrics["val/mcc"], abs=5e-3)
    driver.save_screenshot(str(screenshots / "experiment.png"))


def test_run_page_shows_the_confusion_matrix(driver, pages, mlflow_ui: Server, sweep, client,
                                             screenshots, tmp_path):
    best = sweep.study.best_trial.user_attrs[RUN_ID]
    experiment_id = client.get_run(best).info.experiment_id
    shown = pages.open_artifact(driver, mlflow_ui.url, experiment_id, best, CONFUSION_MATRIX)
    logged = imread(client.download_artifacts(best, CONFUSION_MATRIX, str(tmp_path)))
    assert shown == (logged.shape[1], logged.shape[0])  # the logged PNG, at its own size
    driver.save_screenshot(str(screenshots / "run_confusion_matrix.png"))


def test_registered_model_shows_the_champion_alias(driver, pages, mlflow_ui: Server, sweep,
                                                   client, screenshots):
    champion = client.get_model_version_by_alias(REGISTERED_MODEL, "champion")
    assert champion.run_id == sweep.study.best_trial.user_attrs[RUN_ID]
    version_row = pages.alias_row(driver, mlflow_ui.url, REGISTERED_MODEL, "champion")
    assert f"Version {champion.version}" in version_row.text
    driver.save_screenshot(str(screenshots / "model_champion.png"))

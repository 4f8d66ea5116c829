"""Driving the pages of the MLflow 3 UI (a React app: every wait is on what it renders)."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

WAIT_S = 60
ASSISTANT_CLOSE = "[data-component-id='mlflow.assistant.chat_panel.close']"
COLUMNS_MENU = "[data-testid=column-selection-dropdown]"
TRAINING = "workflowType=machine_learning"  # the model-training view, not the GenAI one


def wait(driver: Any) -> WebDriverWait:
    return WebDriverWait(driver, WAIT_S)


def visible(driver: Any, css: str) -> WebElement:
    return wait(driver).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def close_assistant(driver: Any) -> None:
    """A fresh browser opens the AI assistant panel; it would hide half of every screenshot."""
    for button in driver.find_elements(By.CSS_SELECTOR, ASSISTANT_CLOSE):
        button.click()
    wait(driver).until(EC.invisibility_of_element_located((By.CSS_SELECTOR, ASSISTANT_CLOSE)))


def row(run_id: str) -> str:
    """The runs table's row of a run (its id is the row id)."""
    return f".ag-row[row-id='{run_id}']"


def metric_cell(run_id: str, metric: str) -> str:
    return f"{row(run_id)} [col-id='metrics.`{metric}`']"


def toggle_columns(driver: Any, titles: list[str]) -> None:
    """Tick or untick columns in the Columns menu (MLflow 3 shows no metric by default)."""
    visible(driver, COLUMNS_MENU).click()
    for title in titles:
        entry = (By.XPATH, f"//span[contains(@class, 'tree-title') and text()='{title}']")
        wait(driver).until(EC.element_to_be_clickable(entry)).click()
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)


def open_runs_table(driver: Any, base: str, experiment_id: str, parent_run_id: str,
                    columns: list[str]) -> None:
    """The experiment's runs table (model-training view), the sweep's parent run expanded."""
    driver.get(f"{base}/#/experiments/{experiment_id}/runs?{TRAINING}")
    visible(driver, row(parent_run_id))
    close_assistant(driver)
    toggle_columns(driver, columns)
    expand = f"{row(parent_run_id)} [col-id='attributes.`Run Name`'] button"
    wait(driver).until(EC.element_to_be_clickable((By.CSS_SELECTOR, expand))).click()


def image_loaded(driver: Any, image: WebElement) -> tuple[int, int] | None:
    """(width, height) of a loaded image, None while it loads."""
    size = driver.execute_script(
        "const i = arguments[0]; return i.complete ? [i.naturalWidth, i.naturalHeight] : null;",
        image)
    return tuple(size) if size and size[0] > 0 else None


def open_artifact(driver: Any, base: str, experiment_id: str, run_id: str,
                  path: str) -> tuple[int, int]:
    """A run's Artifacts tab on an image: (width, height) of the image it rendered."""
    driver.get(f"{base}/#/experiments/{experiment_id}/runs/{run_id}/artifacts/{path}?{TRAINING}")
    image = visible(driver, f"img[alt='{path}']")
    close_assistant(driver)
    return wait(driver).until(lambda d: image_loaded(d, image))


def alias_row(driver: Any, base: str, model: str, alias: str) -> WebElement:
    """The registered model's page: the version row that carries the alias tag."""
    driver.get(f"{base}/#/models/{model}?{TRAINING}")
    tag = (By.XPATH, f"//*[@role='row'][.//*[@role='status' and @title='{alias}']]")
    found = wait(driver).until(EC.visibility_of_element_located(tag))
    close_assistant(driver)
    return found

"""Library output that tells an mcal user nothing, silenced in one place.

Kept: Lightning's device lines, progress bars and model summary, MLflow's and Optuna's own
messages, and every warning not named here. Dropped: an advertisement Lightning prints per fit,
MLflow's download bars (three per logged model), MLflow's notes on pyfunc type hints and input
examples (mcal logs an explicit signature), and a deprecation inside Lightning's own code.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LIGHTNING_LOGGER = "lightning.pytorch.utilities.rank_zero"
ADVERT = "litlogger"
MLFLOW_NOTES = ("type hints", "input example was not provided")
LIGHTNING_DEPRECATION = r".*isinstance\(treespec, LeafSpec\)"


class DropAdvert(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return ADVERT not in record.getMessage()


def quiet_libraries() -> None:
    """Install the filters; idempotent, and the environment variable stays the user's to set."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    lightning_log = logging.getLogger(LIGHTNING_LOGGER)
    if not any(isinstance(f, DropAdvert) for f in lightning_log.filters):
        lightning_log.addFilter(DropAdvert())
    warnings.filterwarnings("ignore", message=LIGHTNING_DEPRECATION)


@contextmanager
def hide_warnings(*fragments: str) -> Iterator[None]:
    """Hide warnings whose text holds any fragment, even those a library forces on.

    MLflow re-enables its pyfunc notes inside its own code, so a warnings filter cannot reach
    them; only the function that shows warnings can.
    """
    with warnings.catch_warnings():
        show = warnings.showwarning

        def show_others(message: Any, *args: Any, **kwargs: Any) -> None:
            if not any(fragment in str(message) for fragment in fragments):
                show(message, *args, **kwargs)

        warnings.showwarning = show_others
        yield

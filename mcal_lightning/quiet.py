"""Library output that tells an mcal user nothing, silenced in one place.

Kept: Lightning's progress, MLflow's and Optuna's own messages, and every warning not named
here (Lightning's "GPU available but not used" is a warning, and stays). Dropped: Lightning's
per-fit info lines that say nothing about the run (an advertisement, "GPU available: False",
"TPU available: False", the batches-per-epoch notes, the planned end of a fit at max_epochs and
the reload of its best checkpoint from a temporary folder, which mcal's own trial and run lines
report), MLflow's download bars (three per logged
model) and its notes on creating a new store's tables, MLflow's notes on pyfunc type hints and
input examples (mcal logs an explicit signature), Optuna's note that heartbeats are
experimental (mcal's sweeps rely on them by design), and a deprecation inside Lightning's own
code.
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
LIGHTNING_NOISE = (ADVERT, "GPU available: ", "TPU available: ", "HPU available: ",
                   "was configured so 100% of the batches",
                   "Loading `train_dataloader` to estimate number of stepping batches",
                   "Skipping setting a default `ModelSummary` callback",
                   "`Trainer.fit` stopped: `max_epochs=", "Restoring states from the checkpoint",
                   "Loaded model weights from the checkpoint")
MLFLOW_STORE_LOGGER = "mlflow.store.db.utils"  # "Creating initial MLflow database tables..."
OPTUNA_HEARTBEAT = r"Argument ``heartbeat_interval`` is an experimental feature"
MLFLOW_NOTES = ("type hints", "input example was not provided")
LIGHTNING_DEPRECATION = r".*isinstance\(treespec, LeafSpec\)"


class DropNoise(logging.Filter):
    """Drops info lines that hold a noise fragment; a warning or error always passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        message = record.getMessage()
        return not any(fragment in message for fragment in LIGHTNING_NOISE)


def quiet_libraries() -> None:
    """Install the filters; idempotent, and the environment variable stays the user's to set."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    lightning_log = logging.getLogger(LIGHTNING_LOGGER)
    if not any(isinstance(f, DropNoise) for f in lightning_log.filters):
        lightning_log.addFilter(DropNoise())
    store_log = logging.getLogger(MLFLOW_STORE_LOGGER)
    if store_log.level == logging.NOTSET:  # a level the user set stays
        store_log.setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=LIGHTNING_DEPRECATION)
    warnings.filterwarnings("ignore", message=OPTUNA_HEARTBEAT)


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

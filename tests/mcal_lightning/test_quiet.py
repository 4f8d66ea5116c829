"""The library chatter filters drop exactly what they name."""

from __future__ import annotations

import logging
import os
import warnings

import pytest

from mcal_lightning.quiet import LIGHTNING_LOGGER, DropNoise, hide_warnings, quiet_libraries


@pytest.fixture
def lightning_log():
    log = logging.getLogger(LIGHTNING_LOGGER)
    before = list(log.filters)
    yield log
    log.filters[:] = before


def test_noise_dropped_other_lightning_lines_and_warnings_kept(lightning_log, caplog,
                                                               monkeypatch):
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    quiet_libraries()
    quiet_libraries()
    assert sum(isinstance(f, DropNoise) for f in lightning_log.filters) == 1
    with caplog.at_level(logging.INFO, logger=LIGHTNING_LOGGER):
        lightning_log.info("💡 Tip: try installing [litlogger](https://pypi.org/project/litlogger/)")
        lightning_log.info("GPU available: False, used: False")
        lightning_log.info("TPU available: False, using: 0 TPU cores")
        lightning_log.info("`Trainer(limit_train_batches=1.0)` was configured so 100% of the "
                           "batches per epoch will be used..")
        lightning_log.info("Loading `train_dataloader` to estimate number of stepping batches.")
        lightning_log.info("`Trainer.fit` stopped: `max_epochs=3` reached.")
        lightning_log.info("Restoring states from the checkpoint path at /tmp/x/best.ckpt")
        lightning_log.info("Loaded model weights from the checkpoint at /tmp/x/best.ckpt")
        lightning_log.info("`Trainer.fit` stopped: `max_steps=10` reached.")
        lightning_log.info("Learning rate set to 0.001")
        lightning_log.warning("GPU available: True (cuda), used: False")
    assert [r.getMessage() for r in caplog.records] == [
        "`Trainer.fit` stopped: `max_steps=10` reached.", "Learning rate set to 0.001",
        "GPU available: True (cuda), used: False"]


def test_optuna_heartbeat_note_hidden_other_experimental_warnings_shown():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_libraries()
        warnings.warn("Argument ``heartbeat_interval`` is an experimental feature. The interface "
                      "can change in the future.", UserWarning, stacklevel=1)
        warnings.warn("Argument ``constraints_func`` is an experimental feature.", UserWarning,
                      stacklevel=1)
    assert [str(w.message) for w in caught] == [
        "Argument ``constraints_func`` is an experimental feature."]


def test_progress_bar_setting_stays_the_users(lightning_log, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "true")
    quiet_libraries()
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "true"
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    quiet_libraries()
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"


def test_lightning_deprecation_hidden_others_shown(lightning_log):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_libraries()
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", DeprecationWarning,
                      stacklevel=1)
        warnings.warn("a deprecation of ours", DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["a deprecation of ours"]


def test_hide_warnings_reaches_warnings_a_library_forces_on():
    def library_call():
        with warnings.catch_warnings():
            warnings.simplefilter("always")  # what MLflow does around its pyfunc notes
            warnings.warn("Add type hints to the `predict` method", UserWarning, stacklevel=1)
            warnings.warn("something the user should see", UserWarning, stacklevel=1)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")  # outside, as a filter would: MLflow overrides it
        with hide_warnings("type hints"):
            library_call()
        library_call()
    assert [str(w.message) for w in caught] == [
        "something the user should see",
        "Add type hints to the `predict` method", "something the user should see",
    ]

"""The test-split ledger: one entry per look, counted by fingerprint, a warning past the limit."""

import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mcal_lightning.sweep.run import DATA
from mcal_lightning.tracking import test_ledger
from mcal_lightning.tracking.test_ledger import (
    REASONS,
    STUDY_FINGERPRINT,
    Look,
    SplitReuseWarning,
    count_looks,
    decisions_report,
    looks,
    record_look,
    warn_if_reused,
)
from mcal_lightning.train import record_test_look
from tests.mcal_lightning.sweeps_support import local_tracking


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(test_ledger.WARN_AFTER_ENV, raising=False)
    with local_tracking(tmp_path):
        yield tmp_path


def split_table() -> pd.DataFrame:
    """Six ROIs of four pseudonymous patients; rows 3..5 are the official test split."""
    return pd.DataFrame({"row": range(6), "patient_id": ["P_00011", "P_00011", "P_00012",
                                                         "P_00013", "P_00013", "P_00014"],
                         "split": ["train"] * 3 + ["test"] * 3})


def test_the_count_grows_by_one_per_look_of_each_kind(store):
    counts = [record_look(Look("abc", reason, f"run-{i}", rois=3))
              for i, reason in enumerate(REASONS)]
    assert counts == list(range(1, len(REASONS) + 1))
    assert [look.reason for look in looks("abc")] == list(REASONS)
    assert looks("abc")[0] == Look("abc", REASONS[0], "run-0", "", 3)
    assert count_looks("other") == 0


def test_the_training_run_records_a_look_only_on_the_official_test_split(store):
    table = split_table()
    official = SimpleNamespace(table=table, rows={"test": np.array([3, 4, 5])}, fingerprint="fp")
    record_test_look(official, "run-a")
    record_test_look(official, "run-b")
    assert [(look.reason, look.run_id, look.rois) for look in looks("fp")] == [
        ("train", "run-a", 3), ("train", "run-b", 3)]
    replay = SimpleNamespace(table=table, rows={"test": np.array([0, 4])}, fingerprint="fp")
    record_test_look(replay, "run-c")  # the paper replay's "test" is its random val set
    assert count_looks("fp") == 2


def test_the_ledger_holds_no_patient_ids(store):
    table = split_table()
    record_test_look(SimpleNamespace(table=table, rows={"test": np.array([3, 4, 5])},
                                     fingerprint="fp"), "run-a")
    record_look(Look("fp", "champion scoring", "run-b", "4", 3))
    client = MlflowClient(f"sqlite:///{store}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name(test_ledger.EXPERIMENT).experiment_id
    runs = client.search_runs([experiment])
    recorded = [v for run in runs for v in (*run.data.tags.values(), *run.data.params.values(),
                                            run.info.run_name)]
    assert len(runs) == 2 and recorded
    assert not [v for v in recorded for patient in table["patient_id"] if patient in v]


def test_the_warning_comes_past_the_limit_and_not_before(store):
    for expected in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert warn_if_reused(record_look(Look("abc", "train")), warn_after=2) is None
        assert count_looks("abc") == expected
    with pytest.warns(SplitReuseWarning, match=r"3 decisions .*mcal train --folds"):
        warn_if_reused(record_look(Look("abc", "train")), warn_after=2)


def test_the_limit_defaults_to_the_environment_then_20(store, monkeypatch):
    assert test_ledger.default_warn_after() == 20
    assert warn_if_reused(20) is None
    monkeypatch.setenv(test_ledger.WARN_AFTER_ENV, "1")
    with pytest.warns(SplitReuseWarning):
        warn_if_reused(2)


def test_the_report_counts_decisions_and_warns_past_the_limit(store):
    record_look(Look("abc", "end of sweep"))
    assert decisions_report("abc", warn_after=1) == [
        "the test split of cache dataset abc has made 1 decisions"]
    record_look(Look("abc", "champion scoring"))
    lines = decisions_report("abc", warn_after=1)
    assert len(lines) == 2 and lines[1].startswith("warning: the official test split has made 2")


def test_an_unknown_reason_is_refused(store):
    with pytest.raises(ValueError, match="unknown reason"):
        record_look(Look("abc", "curiosity"))


def test_reading_without_a_store_creates_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert count_looks("abc") == 0
    assert not (tmp_path / "mlruns").exists()


def test_the_study_attribute_is_the_sweeps():
    assert STUDY_FINGERPRINT == DATA

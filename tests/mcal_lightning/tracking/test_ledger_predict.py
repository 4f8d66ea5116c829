"""`mcal predict --evaluate` on the test ROIs of its model's cache is a look at the test split."""

from pathlib import Path
from types import SimpleNamespace

import mlflow
import pandas as pd
import pytest
from click.testing import CliRunner

from mcal.cli import main
from mcal_lightning.tracking.ledger_predict import (
    model_version,
    official_test_sources,
    record_predict_look,
)
from mcal_lightning.tracking.test_ledger import count_looks, looks
from preprocessing.cache import resolve_dataset
from tests.mcal_lightning.tracking.fake_pyfunc import use_fixed_model


class ConstantModel:
    """A stand-in pyfunc that logged by a run: P(malignant) 0.6 for every image."""

    def __init__(self, run_id: str) -> None:
        self.metadata = SimpleNamespace(run_id=run_id)

    def predict(self, frame: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        n = len(frame)
        return pd.DataFrame({"p_malignant": [0.6] * n, "label": [1] * n, "error": [""] * n,
                             "warning": [""] * n})


@pytest.fixture(scope="module")
def trained_on_cache(workdir: Path):
    """A run that records the tiny cache as its data, as train() does; (run id, fingerprint)."""
    fingerprint = resolve_dataset(workdir / "cache").name
    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlruns/mlflow.db")
    with mlflow.start_run() as run:
        mlflow.log_params({"cache": str(workdir / "cache"), "data.fingerprint": fingerprint})
    return run.info.run_id, fingerprint


def split_files(workdir: Path, split: str) -> pd.DataFrame:
    table = pd.read_csv(resolve_dataset(workdir / "cache") / "index.csv", dtype=str)
    rows = table[table["split"] == split].head(6)
    return rows.assign(file=[str(workdir / "data" / p) for p in rows["crop_path"]])


def test_test_rois_are_a_look_and_train_rois_are_not(workdir, trained_on_cache):
    run_id, fingerprint = trained_on_cache
    before = count_looks(fingerprint)
    tests = split_files(workdir, "test")
    assert set(tests["source_sha1"]) <= official_test_sources(resolve_dataset(workdir / "cache"))
    files = [Path(f) for f in tests["file"]]
    assert record_predict_look(run_id, "runs:/x/model", files) == before + 1
    assert record_predict_look(run_id, "runs:/x/model", files[:2]) == before + 2
    trains = [Path(f) for f in split_files(workdir, "train")["file"]]
    assert record_predict_look(run_id, "runs:/x/model", trains) is None
    assert record_predict_look(None, "runs:/x/model", files) is None
    last = looks(fingerprint)[-1]
    assert (last.reason, last.run_id, last.rois) == (
        "predict --evaluate with the same ROIs", run_id, 2)


def test_predict_evaluate_prints_the_count(workdir, trained_on_cache, monkeypatch, tmp_path):
    run_id, fingerprint = trained_on_cache
    use_fixed_model(monkeypatch, ConstantModel(run_id))
    tests = split_files(workdir, "test")
    labels = tmp_path / "labels.csv"
    tests[["file", "label", "patient_id"]].to_csv(labels, index=False)
    before = count_looks(fingerprint)
    result = CliRunner().invoke(main, ["predict", "--model", "runs:/x/model", *tests["file"],
                                       "--evaluate", "--labels", str(labels)])
    assert result.exit_code == 0, result.output
    assert f"the test split has made {before + 1} decisions" in result.output
    assert count_looks(fingerprint) == before + 1


def test_model_version_of_a_uri():
    assert model_version("models:/mcal-calc/3") == "3"
    assert model_version("runs:/abc/model") == ""

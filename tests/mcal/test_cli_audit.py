"""`mcal audit` on the phantom cache: clean exits 0; a planted copy or shared patient exits 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mcal.cli import main
from mcal_lightning.data.datamodule import CacheDataModule
from preprocessing.cache import resolve_dataset
from tests.mcal_lightning.sweeps_support import tiny_cache


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny 64 px phantom cache at workdir / "cache" (seed 1, as the baseline tests')."""
    root = tmp_path_factory.mktemp("audit")
    tiny_cache(root, seed=1)
    return root


def copy_cache(workdir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the phantom cache to spoil: (cache root, dataset folder)."""
    cache = tmp_path / "cache"
    shutil.copytree(workdir / "cache", cache)
    return cache, resolve_dataset(cache)


def first_train_and_test_rows(cache: Path) -> tuple[int, int, pd.DataFrame]:
    datamodule = CacheDataModule(cache, num_workers=0)
    datamodule.setup()
    rows = datamodule.rows
    return int(rows["train"][0]), int(rows["test"][0]), datamodule.table.set_index("row")


def test_the_clean_phantom_cache_passes_and_gets_a_report(workdir: Path, tmp_path: Path):
    out = tmp_path / "audit"
    result = CliRunner().invoke(main, ["audit", "--cache", str(workdir / "cache"),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "verdict: clean" in result.output
    assert "No leakage found" in (out / "report.html").read_text()
    assert (out / "pairs.png").stat().st_size > 0
    assert pd.read_csv(out / "findings.csv").empty


def test_a_rotated_train_roi_in_test_fails_and_is_named(workdir: Path, tmp_path: Path):
    cache, dataset = copy_cache(workdir, tmp_path)
    train_row, test_row, table = first_train_and_test_rows(cache)
    rois = np.load(dataset / "rois.npy", mmap_mode="r+")
    rois[test_row] = np.rot90(rois[train_row])
    rois.flush()
    del rois
    out = tmp_path / "audit"
    result = CliRunner().invoke(main, ["audit", "--cache", str(cache), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "verdict: LEAKAGE" in result.output
    findings = pd.read_csv(out / "findings.csv")
    assert findings[["kind", "row_a", "row_b"]].values.tolist() == [["near", train_row, test_row]]
    page = (out / "report.html").read_text()
    for roi in table.loc[[train_row, test_row], "roi_id"]:
        assert roi in page


def test_a_patient_on_two_sides_is_reported_without_a_traceback(workdir: Path, tmp_path: Path):
    cache, dataset = copy_cache(workdir, tmp_path)
    train_row, test_row, table = first_train_and_test_rows(cache)
    index = pd.read_csv(dataset / "index.csv", dtype=str, keep_default_na=False)
    shared = table.at[train_row, "patient_id"]
    index.loc[index["row"] == str(test_row), "patient_id"] = shared
    index.to_csv(dataset / "index.csv", index=False)
    result = CliRunner().invoke(main, ["audit", "--cache", str(cache), "--out",
                                       str(tmp_path / "audit")])
    assert result.exit_code == 1
    assert shared in result.output and "Traceback" not in result.output


def test_a_missing_cache_is_a_clear_error(tmp_path: Path):
    result = CliRunner().invoke(main, ["audit", "--cache", str(tmp_path / "nothing")])
    assert result.exit_code == 1 and "mcal preprocess" in result.output


def test_cli_defaults_match_the_audit():
    from mcal import commands_integrity
    from mcal_lightning.integrity import audit

    # the CLI keeps its own copies for a light --help
    assert commands_integrity.DEFAULT_THRESHOLD == audit.DEFAULT_THRESHOLD
    assert commands_integrity.DEFAULT_MIN_CORRELATION == audit.DEFAULT_MIN_CORRELATION

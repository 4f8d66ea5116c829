"""A folder in the Kaggle edition's layout (8-bit JPEGs) indexes, trains and predicts."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mcal.cli import main
from tests.mcal_lightning.sweeps_support import local_tracking

TRAIN = ["--arch", "alexnet", "--weights", "none", "--epochs", "1", "--freeze-epochs", "0",
         "--batch-size", "8", "--num-workers", "0", "--experiment", "kaggle-jpeg"]


@pytest.mark.slow  # trains a model
def test_kaggle_layout_indexes_trains_and_predicts(tmp_path: Path):
    runner, data, cache = CliRunner(), tmp_path / "data", tmp_path / "cache"
    with local_tracking(tmp_path):
        out = runner.invoke(main, ["phantom", "--out", str(data), "--patients", "12",
                                   "--scale", "0.08", "--corrupt", "2", "--workers", "1",
                                   "--layout", "kaggle-jpeg"])
        assert out.exit_code == 0, out.output
        out = runner.invoke(main, ["preprocess", "--data", str(data), "--cache", str(cache),
                                   "--size", "32", "--workers", "1"])
        assert out.exit_code == 0, out.output
        assert "(kaggle-jpeg layout)" in " ".join(out.output.split())
        assert "quarantine: 2 bad rows" in " ".join(out.output.split())
        dataset = cache / (cache / "LATEST").read_text().strip()
        rows = pd.read_csv(dataset / "index.csv", dtype={"patient_id": str})
        stats = json.loads((dataset / "source_stats.json").read_text())
        assert stats["encodings"] == {"8-bit lossy JPEG": len(rows)}

        out = runner.invoke(main, ["train", "--cache", str(cache), *TRAIN])
        assert out.exit_code == 0, out.output
        run_id = re.search(r"run ([0-9a-f]{32}) in experiment", out.output).group(1)

        crops = [data / rel for rel in rows.loc[rows["split"] == "test", "crop_path"]]
        assert crops and all(c.suffix == ".jpg" for c in crops)
        predictions = tmp_path / "predictions.csv"
        out = runner.invoke(main, ["predict", "--model", f"runs:/{run_id}/model",
                                   "--out", str(predictions), *map(str, crops)])
        assert out.exit_code == 0, out.output
    table = pd.read_csv(predictions, keep_default_na=False)
    assert list(table["file"]) == [str(c) for c in crops]
    assert table["p_malignant"].between(0, 1).all() and (table["error"] == "").all()
    assert (table["warning"] == "").all(), "JPEG crops are like the JPEGs the model learned from"

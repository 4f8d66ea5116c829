"""``mcal predict`` on a folder streams: each chunk's rows reach --out before the next is read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mcal import predict_output
from mcal.cli import main
from mcal_lightning.tracking.predict import predict_files
from tests.mcal_lightning.tracking.fake_pyfunc import (
    UNREADABLE,
    WARNING,
    FixedModel,
    fake_content,
    use_fixed_model,
)

PROBS = {"a.png": 0.9, "b.png": 0.2, "c.png": 0.6, "MR_d.dcm": 0.4}  # broken.dcm: no answer


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the local MLflow store predict points at
    rois = tmp_path / "rois"
    rois.mkdir()
    for name in [*PROBS, "broken.dcm"]:
        (rois / name).write_bytes(fake_content(name))
    return rois


def predict(*args: str) -> object:
    return CliRunner().invoke(main, ["predict", "--model", "runs:/x/model", *args])


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_rows_reach_the_csv_a_chunk_at_a_time(folder: Path, tmp_path: Path, monkeypatch):
    out = tmp_path / "predictions.csv"
    seen: list[int] = []  # the CSV's lines whenever the model is asked for a chunk
    model = FixedModel(PROBS, on_predict=lambda names: seen.append(lines(out)))
    use_fixed_model(monkeypatch, model)
    result = predict(str(folder), str(tmp_path / "gone.png"), "--out", str(out), "--chunk", "2")
    assert result.exit_code == 0, result.output
    # 6 files in chunks of 2: the header and each chunk's rows are written before the next
    # chunk is predicted (the last chunk has one readable file, gone.png is never sent)
    assert seen == [0, 3, 5]
    assert lines(out) == 7
    whole = predict_files("runs:/x/model", [folder, tmp_path / "gone.png"], model=model)
    assert out.read_text() == whole.to_csv(index=False)


def test_per_file_errors_and_warnings_survive_the_stream(folder: Path, tmp_path: Path,
                                                         monkeypatch):
    use_fixed_model(monkeypatch, FixedModel(PROBS))
    out = tmp_path / "predictions.csv"
    result = predict(str(folder), str(tmp_path / "gone.png"), "--out", str(out), "--chunk", "2")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, keep_default_na=False).set_index("file")
    by_name = {Path(f).name: row for f, row in table.iterrows()}
    assert by_name["broken.dcm"]["error"] == UNREADABLE
    assert by_name["gone.png"]["error"].startswith("cannot read file")
    assert by_name["MR_d.dcm"]["warning"] == WARNING and by_name["MR_d.dcm"]["error"] == ""
    assert float(by_name["MR_d.dcm"]["p_malignant"]) == pytest.approx(0.4)
    assert by_name["a.png"]["label"] == "malignant" and by_name["b.png"]["label"] == "benign"
    assert by_name["broken.dcm"]["p_malignant"] == "" and by_name["broken.dcm"]["label"] == ""


def test_strict_refuses_the_warned_row_in_the_csv(folder: Path, tmp_path: Path, monkeypatch):
    use_fixed_model(monkeypatch, FixedModel(PROBS))
    out = tmp_path / "strict.csv"
    result = predict(str(folder), "--out", str(out), "--chunk", "2", "--strict")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, keep_default_na=False)
    refused = table[table["file"].str.endswith("MR_d.dcm")].iloc[0]
    assert refused["error"] == f"refused (strict): {WARNING}" and refused["p_malignant"] == ""


def test_a_long_table_is_summed_up_when_it_went_to_the_csv(folder: Path, tmp_path: Path,
                                                          monkeypatch):
    use_fixed_model(monkeypatch, FixedModel(PROBS))
    monkeypatch.setattr(predict_output, "PRINTED_ROWS", 3)
    result = predict(str(folder), "--out", str(tmp_path / "p.csv"))
    assert result.exit_code == 0, result.output
    assert "5 files: 4 predicted, 1 with an error, 1 with a warning" in result.output
    assert "a.png" not in result.output
    shown = predict(str(folder))  # no CSV: every row is printed
    assert shown.exit_code == 0 and "a.png" in shown.output and "broken.dcm" in shown.output


def test_an_unwritable_out_is_a_clear_error(folder: Path, tmp_path: Path, monkeypatch):
    use_fixed_model(monkeypatch, FixedModel(PROBS))
    result = predict(str(folder), "--out", str(tmp_path / "no" / "such" / "p.csv"))
    assert result.exit_code == 1 and "cannot write" in result.output
    assert "Traceback" not in result.output


def test_an_empty_folder_writes_the_header_alone(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_fixed_model(monkeypatch, FixedModel(PROBS))
    (tmp_path / "empty").mkdir()
    out = tmp_path / "p.csv"
    result = predict(str(tmp_path / "empty"), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text().strip() == "file,p_malignant,label,error,warning"


def test_a_folders_non_image_files_are_skipped_and_named(folder: Path, tmp_path: Path,
                                                         monkeypatch):
    (folder / "notes.txt").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")
    use_fixed_model(monkeypatch, FixedModel(PROBS))
    out = tmp_path / "predictions.csv"
    result = predict(str(folder), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "skipped 1 file under the folders given, not named as images" in result.output
    assert "notes.txt" in result.output
    table = pd.read_csv(out, keep_default_na=False)
    names = [Path(f).name for f in table["file"]]
    assert "notes.txt" not in names and len(names) == len(PROBS) + 2  # + broken.dcm, empty.png
    assert table.loc[names.index("empty.png"), "error"] == "empty file (0 bytes)"

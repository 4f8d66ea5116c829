"""The data-path commands end to end through the `mcal` entry point."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mcal.cli import main

COMMANDS = ["phantom", "index", "filters", "preprocess"]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(runner: CliRunner, command: str):
    result = runner.invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_phantom_index_filters_preprocess(runner: CliRunner, tmp_path: Path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    out = runner.invoke(main, ["phantom", "--out", str(data), "--patients", "12", "--scale",
                               "0.08", "--corrupt", "2", "--workers", "1"])
    assert out.exit_code == 0, out.output
    ceiling = re.search(r"Bayes-ceiling AUC .*: (0\.\d+|1\.0+)", out.output)
    assert ceiling, out.output

    out = runner.invoke(main, ["index", "--data", str(data), "--cache", str(cache)])
    assert out.exit_code == 0, out.output
    assert "quarantine: 2 bad rows" in out.output
    said = " ".join(out.output.split())  # rich wraps long paths
    assert f"to {(cache / 'mcal_index').resolve()} (the data folder is only read)" in said
    assert (cache / "mcal_index" / "index.csv").is_file() and not (data / "mcal_index").exists()

    out = runner.invoke(main, ["filters", "--data", str(data), "--cache", str(cache),
                               "--sample", "6"])
    assert out.exit_code == 0, out.output
    choice = json.loads((cache / "filter_choice.json").read_text())
    assert choice["filter"] in out.output and (cache / "filter_table.csv").is_file()

    out = runner.invoke(main, ["preprocess", "--data", str(data), "--cache", str(cache),
                               "--size", "32", "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert f"filter: {choice['filter']} (best PSNR" in out.output
    config = json.loads(next(cache.glob("*/config.json")).read_text())
    assert config["filter"] == choice["filter"] and "filter table" in config["filter_reason"]


def test_filters_paper_protocol_leaves_the_default_filter_alone(runner: CliRunner,
                                                                tmp_path: Path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    out = runner.invoke(main, ["phantom", "--out", str(data), "--patients", "8", "--scale",
                               "0.06", "--workers", "1"])
    assert out.exit_code == 0, out.output
    paper = ["filters", "--data", str(data), "--cache", str(cache), "--sample", "4",
             "--protocol", "paper"]

    out = runner.invoke(main, paper)
    assert out.exit_code == 0, out.output
    assert "against its own input" in out.output and "NOT changed" in out.output
    table = pd.read_csv(cache / "filter_table_paper.csv")
    assert table.iloc[0]["filter"] == "none" and table.iloc[0]["mse_mean"] == 0
    assert not (cache / "filter_choice.json").exists()
    assert not (cache / "filter_table.csv").exists()

    out = runner.invoke(main, paper[:-2])  # the mcal protocol: sets the default filter
    assert out.exit_code == 0, out.output
    choice, ours = (cache / "filter_choice.json").read_bytes(), cache / "filter_table.csv"
    assert json.loads(choice)["filter"] != "none"
    ours_before = ours.read_bytes()
    out = runner.invoke(main, paper)
    assert out.exit_code == 0, out.output
    assert (cache / "filter_choice.json").read_bytes() == choice
    assert ours.read_bytes() == ours_before
    assert f"NOT changed (this protocol cannot choose one): {json.loads(choice)['filter']}" in (
        " ".join(out.output.split()))


def test_filters_protocol_choices_match_the_library():
    from mcal.commands_data import filters
    from preprocessing.filter_table import PROTOCOLS

    option = next(p for p in filters.params if p.name == "protocol")
    assert tuple(option.type.choices) == PROTOCOLS and option.default == "mcal"


def test_index_fails_only_when_nothing_usable_remains(runner: CliRunner, tmp_path: Path):
    (tmp_path / "benign").mkdir()
    (tmp_path / "benign" / "P1_a.png").write_bytes(b"not a png")
    out = runner.invoke(main, ["index", "--data", str(tmp_path), "--patient-pattern", "^(P1)"])
    assert out.exit_code != 0
    assert "nothing usable remains" in out.output


def test_folder_without_patient_ids_is_refused(runner: CliRunner, tmp_path: Path):
    (tmp_path / "malignant").mkdir()
    out = runner.invoke(main, ["index", "--data", str(tmp_path)])
    assert out.exit_code != 0 and "--allow-ungrouped" in out.output


def test_preprocess_fixed_spacing_mode(runner: CliRunner, tmp_path: Path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    out = runner.invoke(main, ["phantom", "--out", str(data), "--patients", "4", "--scale",
                               "0.1", "--full-images", "none", "--workers", "1"])
    assert out.exit_code == 0, out.output
    common = ["preprocess", "--data", str(data), "--cache", str(cache), "--size", "32",
              "--filter", "none", "--workers", "1"]
    out = runner.invoke(main, [*common, "--spacing-mm", "1.0"])  # phantom: 0.5 mm/px here
    assert out.exit_code == 0, out.output
    assert "resize: spacing 1 mm/px" in out.output
    out = runner.invoke(main, common)
    assert out.exit_code == 0, out.output
    configs = {json.loads(p.read_text())["resize_mode"]: p.parent.name
               for p in cache.glob("*/config.json")}
    assert set(configs) == {"spacing 1 mm/px", "stretch"}, "one config folder per mode"
    spaced = json.loads((cache / configs["spacing 1 mm/px"] / "config.json").read_text())
    assert spaced["spacing_mm"] == 1.0 and spaced["spacing_fallback_mm"] is None

    out = runner.invoke(main, [*common, "--spacing-mm", "0.1", "--aspect", "pad"])
    assert out.exit_code != 0 and "--aspect does not apply" in out.output
    out = runner.invoke(main, [*common, "--assume-spacing-mm", "0.05"])
    assert out.exit_code != 0 and "needs --spacing-mm" in out.output


def test_preprocess_fixed_spacing_refuses_files_without_spacing(runner: CliRunner,
                                                                tmp_path: Path):
    import cv2
    import numpy as np

    data, cache = tmp_path / "data", tmp_path / "cache"
    rng = np.random.default_rng(0)
    for i in range(4):
        (data / ("benign", "malignant")[i % 2]).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(data / ("benign", "malignant")[i % 2] / f"P{i:03d}_{i}.png"),
                    rng.integers(0, 65535, (40, 40), dtype=np.uint16))
    common = ["preprocess", "--data", str(data), "--cache", str(cache), "--size", "16",
              "--filter", "none", "--workers", "1", "--patient-pattern", r"^(P\d+)_",
              "--spacing-mm", "0.1"]
    out = runner.invoke(main, common)
    assert out.exit_code != 0 and "no ROI could be preprocessed" in out.output
    assert "no PixelSpacing" in out.output
    out = runner.invoke(main, [*common, "--assume-spacing-mm", "0.05"])
    assert out.exit_code == 0, out.output


def test_phantom_layout_choices_match_the_library():
    from mcal.commands_data import phantom
    from preprocessing.phantom.kaggle_writer import LAYOUTS, TCIA_LAYOUT

    option = next(p for p in phantom.params if p.name == "layout")
    assert tuple(option.type.choices) == LAYOUTS and option.default == TCIA_LAYOUT


def test_kaggle_layout_phantom_index_preprocess(runner: CliRunner, tmp_path: Path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    out = runner.invoke(main, ["phantom", "--out", str(data), "--patients", "6", "--scale",
                               "0.06", "--corrupt", "6", "--workers", "1", "--layout",
                               "kaggle-jpeg"])
    assert out.exit_code == 0, out.output
    assert "layout: Kaggle edition" in out.output
    assert (data / "csv" / "dicom_info.csv").is_file() and not list(data.rglob("*.dcm"))

    out = runner.invoke(main, ["index", "--data", str(data), "--cache", str(cache)])
    assert out.exit_code == 0, out.output
    said = " ".join(out.output.split())  # rich wraps long lines
    assert "(kaggle-jpeg layout)" in said and "quarantine: 6 bad rows" in said
    assert "not in dicom_info.csv" in said and "truncated JPEG" in said
    rows = pd.read_csv(cache / "mcal_index" / "index.csv")
    assert rows["crop_path"].str.fullmatch(r"jpeg/[\d.]+/1-[12]\.jpg").all()

    common = ["preprocess", "--data", str(data), "--cache", str(cache), "--size", "16",
              "--filter", "none", "--workers", "1"]
    out = runner.invoke(main, [*common, "--spacing-mm", "0.1"])
    assert out.exit_code != 0 and "--assume-spacing-mm" in out.output
    assert "carry none" in " ".join(out.output.split()) and not list(cache.glob("*/datasets"))

    out = runner.invoke(main, common)
    assert out.exit_code == 0, out.output
    assert f"sources: {len(rows)} 8-bit lossy JPEG" in " ".join(out.output.split())
    stats = json.loads(next(cache.glob("*/datasets/*/source_stats.json")).read_text())
    assert stats["encodings"] == {"8-bit lossy JPEG": len(rows)}
    assert stats["pixel_spacing_mm"] is None

    out = runner.invoke(main, [*common, "--spacing-mm", "0.5", "--assume-spacing-mm", "0.05"])
    assert out.exit_code == 0, out.output

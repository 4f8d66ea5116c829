"""Paths from a CSV or a folder walk stay inside the data folder: an escape is quarantined
with its reason and never opened, and the rest of the run goes on."""

from __future__ import annotations

import builtins
import io
import shutil
from pathlib import Path

import pandas as pd
import pytest

from preprocessing.index import build_index
from preprocessing.index.cbis_csv import CALC_CSV_NAMES
from preprocessing.index.paths import LEAVES_DATA_FOLDER, OutsideDataFolder, inside_data_folder
from preprocessing.phantom import generate_phantom
from tests.conftest import write_dicom
from tests.preprocessing.test_input_checks import ROI

TINY = dict(patients=2, seed=1, scale=0.03, workers=1, progress=False)
TRAIN_CSV = CALC_CSV_NAMES["train"]


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file opened through Python's open (pathlib's and pydicom's too), resolved;
    a test clears it once its own files are written."""
    seen: list[Path] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(file, str | Path):
            seen.append(Path(file).resolve())
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    return seen


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A valid DICOM crop beside the data folder, not in it."""
    return write_dicom(tmp_path / "outside" / "canary.dcm", ROI)


def test_a_path_inside_is_resolved_and_an_escape_is_refused(tmp_path: Path, canary: Path):
    root = (tmp_path / "data").resolve()
    (root / "case").mkdir(parents=True)
    (root / "case" / "in.dcm").write_bytes(b"x")
    (root / "case" / "alias.dcm").symlink_to(root / "case" / "in.dcm")
    (root / "case" / "out.dcm").symlink_to(canary)
    assert inside_data_folder(root, "case/alias.dcm") == root / "case" / "in.dcm"
    assert inside_data_folder(root, "case/../case/in.dcm") == root / "case" / "in.dcm"
    for escape in ("../outside/canary.dcm", str(canary), "case/out.dcm", "/etc/passwd"):
        with pytest.raises(OutsideDataFolder, match=LEAVES_DATA_FOLDER):
            inside_data_folder(root, escape)


def cbis_with_rows(data: Path, crop_paths: list[str]) -> list[str]:
    """Add a train CSV row per crop path (copies of the first row, new abnormality ids);
    returns their roi_ids."""
    csv_path = data / TRAIN_CSV
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    template = table.iloc[0]
    added = [template.copy() for _ in crop_paths]
    for number, (row, crop) in enumerate(zip(added, crop_paths, strict=True), start=90):
        row["abnormality id"], row["cropped image file path"] = str(number), crop
    pd.concat([table, pd.DataFrame(added)]).to_csv(csv_path, index=False)
    prefix = f"Calc-Training_{template['patient_id']}_{template['left or right breast']}_"
    return [f"{prefix}{template['image view']}_{n}" for n in range(90, 90 + len(crop_paths))]


def test_cbis_rows_that_leave_the_data_folder_are_quarantined_unopened(
        tmp_path: Path, canary: Path, opened: list[Path]):
    data = tmp_path / "data" / "cbis"
    generate_phantom(data, **TINY)
    case = next(p for p in data.iterdir() if p.name.startswith("Calc-Training_"))
    (case / "link.dcm").symlink_to(canary)  # found by its path, or by the case-folder walk
    walked = f"{case.name}/not-there/000000.dcm"
    escapes = ["../../outside/canary.dcm", str(canary), "../../../../../../../../etc/passwd",
               f"{case.name}/link.dcm", walked]
    hostile = cbis_with_rows(data, escapes)
    opened.clear()  # the setup's own files
    index = build_index(data, progress=False)
    reasons = index.quarantine.set_index("roi_id")["reason"]
    assert set(hostile) <= set(reasons.index)
    assert (reasons[hostile] == LEAVES_DATA_FOLDER).all()
    assert len(index.rows) == 6 and not set(hostile) & set(index.rows["roi_id"])
    assert canary.resolve() not in opened and Path("/etc/passwd").resolve() not in opened
    assert all(p.is_relative_to(data.resolve()) for p in opened if p.suffix == ".dcm")


def test_folder_files_that_link_out_are_quarantined_unopened(tmp_path: Path, canary: Path,
                                                             opened: list[Path]):
    data = tmp_path / "data"
    for label in ("benign", "malignant"):
        write_dicom(data / label / f"P1_{label}.dcm", ROI)
    (data / "benign" / "P2_link.dcm").symlink_to(canary)
    opened.clear()
    index = build_index(data, progress=False, patient_pattern=r"^(P\d+)_")
    assert list(index.rows["crop_path"]) == ["benign/P1_benign.dcm", "malignant/P1_malignant.dcm"]
    assert index.quarantine.to_dict("records") == [
        {"roi_id": "benign/P2_link", "path": "benign/P2_link.dcm", "reason": LEAVES_DATA_FOLDER}]
    assert canary.resolve() not in opened


def test_kaggle_images_listed_outside_the_data_folder_are_quarantined_unopened(
        tmp_path: Path, opened: list[Path]):
    data = tmp_path / "data" / "kaggle"
    generate_phantom(data, layout="kaggle-jpeg", **TINY)
    info_path = data / "csv" / "dicom_info.csv"
    info = pd.read_csv(info_path, dtype=str, keep_default_na=False)
    crop = info.index[info["SeriesDescription"] != "full mammogram images"][0]
    outside = tmp_path / "outside" / "stolen.jpg"
    outside.parent.mkdir()
    shutil.copy(data / "jpeg" / Path(info.at[crop, "image_path"]).relative_to("CBIS-DDSM/jpeg"),
                outside)
    info.at[crop, "image_path"] = "CBIS-DDSM/jpeg/../../../outside/stolen.jpg"
    info.to_csv(info_path, index=False)
    opened.clear()
    index = build_index(data, progress=False)
    assert list(index.quarantine["reason"]) == [LEAVES_DATA_FOLDER]
    assert len(index.rows) == 5
    assert outside.resolve() not in opened

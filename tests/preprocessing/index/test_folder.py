from pathlib import Path

import cv2
import numpy as np
import pytest

from preprocessing.index import NoPatientIds, build_index
from tests.conftest import write_dicom


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for label in ("benign", "malignant"):
        for patient in range(12):
            for view in ("CC", "MLO"):
                pixels = rng.integers(0, 255, (40, 30), dtype=np.uint8)
                (tmp_path / label).mkdir(exist_ok=True)
                name = f"{label[0].upper()}{patient:03d}_{view}"
                if view == "CC":
                    cv2.imwrite(str(tmp_path / label / f"{name}.png"), pixels)
                else:
                    write_dicom(tmp_path / label / f"{name}.dcm", pixels.astype(np.uint16) * 16)
    (tmp_path / "benign" / "B999_CC.png").write_bytes(b"broken")
    return tmp_path


def test_patient_pattern_gives_a_grouped_split(folder: Path):
    index = build_index(folder, patient_pattern=r"^(?P<patient>[BM]\d{3})_", progress=False)
    rows = index.rows
    assert len(rows) == 48
    assert set(rows["label"]) == {0, 1}
    sides = rows.groupby("patient_id")["split"].nunique()
    assert (sides == 1).all(), "a patient must never sit on two sides"
    assert set(rows["split"]) == {"train", "test"}
    assert list(index.quarantine["path"]) == ["benign/B999_CC.png"]


def test_split_is_stable_when_data_grows(folder: Path):
    pattern = r"^([BM]\d{3})_"
    before = build_index(folder, patient_pattern=pattern, progress=False).rows
    cv2.imwrite(str(folder / "malignant" / "M500_CC.png"), np.eye(20, dtype=np.uint8) * 200)
    after = build_index(folder, patient_pattern=pattern, progress=False).rows
    merged = before.merge(after, on="roi_id", suffixes=("_before", "_after"))
    assert len(merged) == len(before)
    assert (merged["split_before"] == merged["split_after"]).all()


def test_patient_csv(folder: Path, tmp_path: Path):
    lines = ["file,patient_id"] + [
        f"{p.parent.name}/{p.name},{p.name[:4]}" for p in sorted(folder.rglob("*_*.*"))
    ]
    csv = tmp_path / "patients.csv"
    csv.write_text("\n".join(lines))
    rows = build_index(folder, patient_csv=csv, progress=False).rows
    assert rows["patient_id"].str.match(r"^[BM]\d{3}$").all()


def test_no_patient_ids_is_refused_with_the_reason(folder: Path):
    with pytest.raises(NoPatientIds, match="both sides"):
        build_index(folder, progress=False)


def test_ungrouped_override_warns(folder: Path):
    with pytest.warns(UserWarning, match="inflated"):
        rows = build_index(folder, allow_ungrouped=True, progress=False).rows
    assert rows["patient_id"].is_unique


def test_unknown_layout_is_explained(tmp_path: Path):
    with pytest.raises(ValueError, match="neither CBIS-DDSM"):
        build_index(tmp_path)


def test_empty_files_are_quarantined_by_name_and_the_run_goes_on(folder: Path):
    (folder / "benign" / "B998_CC.png").write_bytes(b"")
    (folder / "malignant" / "M998_CC.dcm").write_bytes(b"")
    index = build_index(folder, patient_pattern=r"^([BM]\d{3})_", progress=False)
    assert len(index.rows) == 48
    reasons = dict(zip(index.quarantine["path"], index.quarantine["reason"], strict=True))
    assert reasons["benign/B998_CC.png"] == reasons["malignant/M998_CC.dcm"] == \
        "empty file (0 bytes)"

"""The CBIS index and the cache on phantom data: layout, swapped paths, quarantine, no PHI."""

from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from preprocessing.cache import build_cache, open_cache
from preprocessing.images import UnreadableImage, decode_bytes
from preprocessing.index import build_index
from preprocessing.index.cbis import split_crop_and_mask
from preprocessing.index.cbis_csv import CALC_CSV_NAMES
from preprocessing.phantom import generate_phantom
from preprocessing.pipeline import PreprocessConfig


@pytest.fixture(scope="module")
def index(tcia_phantom):
    return build_index(tcia_phantom[0], progress=False)


def csv_roi_ids(data: Path) -> set[str]:
    ids = set()
    for split, name in (("train", "Calc-Training"), ("test", "Calc-Test")):
        frame = pd.read_csv(data / f"calc_case_description_{split}_set.csv", dtype=str)
        ids |= {"_".join([name, *r]) for r in frame[["patient_id", "left or right breast",
                                                    "image view", "abnormality id"]].values}
    return ids


def test_good_cases_survive_and_every_corrupt_case_is_quarantined(tcia_phantom, index):
    data, result = tcia_phantom
    truth = pd.read_csv(result.truth_csv, dtype=str)
    assert set(index.rows["roi_id"]) == set(truth["roi_id"])
    corrupt = csv_roi_ids(data) - set(truth["roi_id"])
    assert len(corrupt) == 6
    assert set(index.quarantine["roi_id"]) == corrupt
    reasons = " | ".join(index.quarantine["reason"])
    for expected in ("truncated pixel data (", "unknown pathology", "missing file", "DICOM",
                     "blank", "ends inside its encapsulated frames"):
        assert expected in reasons


def test_crop_is_told_from_mask_by_content_even_when_the_csv_swaps_them(tcia_phantom, index):
    data, _ = tcia_phantom
    frames = [pd.read_csv(data / f"calc_case_description_{s}_set.csv", dtype=str)
              for s in ("train", "test")]
    listed = pd.concat(frames)["cropped image file path"].str.strip()
    swapped = set(listed) - set(index.rows["crop_path"])
    assert swapped, "the phantom swaps crop and mask paths in some rows"
    for rel in index.rows["crop_path"]:
        ds = pydicom.dcmread(data / rel)
        full = pydicom.dcmread(data / index.rows.set_index("crop_path").at[rel, "image_path"],
                               stop_before_pixels=True)
        assert (ds.Rows, ds.Columns) != (full.Rows, full.Columns)


def test_index_keeps_the_fields_and_official_split(index):
    rows = index.rows
    assert set(rows["split"]) == {"train", "test"}
    assert rows.groupby("patient_id")["split"].nunique().max() == 1
    assert set(rows["label"]) == {0, 1}
    for column in ("side", "view", "abnormality_id", "calc_type", "subtlety", "assessment"):
        assert (rows[column] != "").any(), column


def test_no_phi_in_the_cache(tcia_phantom, index, tmp_path: Path):
    data, _ = tcia_phantom
    ds = pydicom.dcmread(data / index.rows["crop_path"].iloc[0])
    phi = [str(ds.PatientName), str(ds.PatientBirthDate)]
    assert all(phi), "the phantom carries fake PHI to exercise this path"
    build_cache(index, tmp_path, PreprocessConfig(size=16), workers=1, progress=False)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            for value in phi:
                assert value.encode() not in blob, f"{value!r} leaked into {path}"
    assert open_cache(tmp_path).table["patient_id"].str.fullmatch(r"P_\d{5}").all()


@pytest.mark.parametrize("emptied", ["train", "test"])
def test_an_empty_calc_csv_is_named_and_the_other_split_goes_on(tmp_path: Path, emptied: str):
    generate_phantom(tmp_path, patients=4, seed=2, scale=0.03, workers=1, progress=False)
    whole = build_index(tmp_path, progress=False).rows
    assert set(whole["split"]) == {"train", "test"}
    name = CALC_CSV_NAMES[emptied]
    (tmp_path / name).write_bytes(b"")
    index = build_index(tmp_path, progress=False)
    kept = whole[whole["split"] != emptied].reset_index(drop=True)
    pd.testing.assert_frame_equal(index.rows, kept)
    assert index.quarantine.to_dict("records") == [{
        "roi_id": f"({emptied} split)", "path": name,
        "reason": f"{name} is empty (no header, no rows): the {emptied} split is left out"}]


def test_a_calc_csv_pandas_cannot_parse_stops_the_index_naming_it(tmp_path: Path):
    generate_phantom(tmp_path, patients=2, seed=1, scale=0.03, workers=1, progress=False)
    (tmp_path / CALC_CSV_NAMES["test"]).write_bytes(b"\xff\xfe\x00garbage\x81\n")
    with pytest.raises(ValueError, match=r"calc_case_description_test_set\.csv: not a readable"):
        build_index(tmp_path, progress=False)


def test_indexing_decodes_each_crop_once_and_no_mask(tmp_path: Path, monkeypatch) -> None:
    """Without full images the crop is told from the mask by its pixels, then checked: one read."""
    generate_phantom(tmp_path, patients=3, seed=2, scale=0.03, workers=1, progress=False,
                     full_images="none")
    decoded: list[str] = []

    def counting_decode(data: bytes, name: str) -> np.ndarray:
        decoded.append(Path(name).relative_to(tmp_path).as_posix())
        return decode_bytes(data, name)

    monkeypatch.setattr("preprocessing.images.decode_bytes", counting_decode)
    rows = build_index(tmp_path, progress=False).rows
    assert len(rows) > 0
    assert sorted(decoded) == sorted(rows["crop_path"])


def test_without_the_full_image_the_mask_is_never_decoded() -> None:
    crop, mask = Path("crop.dcm"), Path("mask.dcm")
    shapes = {crop: (90, 70), mask: (2000, 1300)}
    pixels = {crop: np.arange(6).reshape(2, 3), mask: np.array([[0, 1]])}
    decoded: list[Path] = []

    def read(path: Path) -> np.ndarray:
        decoded.append(path)
        return pixels[path]

    assert split_crop_and_mask([mask, crop], None, shapes.get, read=read) == (crop, mask)
    assert decoded == [crop]
    pixels[crop] = np.array([[0, 1], [1, 0]])  # a binary smaller file: decided by content
    with pytest.raises(UnreadableImage, match="0 crops, 2 masks"):
        split_crop_and_mask([mask, crop], None, shapes.get, read=read)

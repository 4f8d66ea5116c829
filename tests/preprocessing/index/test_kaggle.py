"""The Kaggle edition's index: CSV rows to JPEGs through series UIDs, crop told from mask,
what cannot be resolved quarantined with the reason."""

import csv
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pydicom
import pytest

from preprocessing.cache import build_cache, open_cache
from preprocessing.index import build_index
from preprocessing.index.cbis_csv import CALC_COLUMNS, CALC_CSV_NAMES
from preprocessing.index.kaggle import local_rel, nearly_binary, series_of
from preprocessing.phantom import generate_phantom
from preprocessing.phantom.dicom_writer import FAKE_PATIENT_NAME_PREFIX
from preprocessing.phantom.kaggle_writer import DICOM_INFO_COLUMNS
from preprocessing.pipeline import PreprocessConfig
from tests.preprocessing.index.conftest import CORRUPT, PHANTOM


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("kaggle")
    result = generate_phantom(out, corrupt=CORRUPT, layout="kaggle-jpeg", **PHANTOM)
    return out, result, build_index(out, progress=False)


def read_case_csvs(data: Path) -> pd.DataFrame:
    frames = [pd.read_csv(data / "csv" / name, dtype=str) for name in CALC_CSV_NAMES.values()]
    return pd.concat(frames, ignore_index=True)


def test_good_cases_survive_and_every_corrupt_case_is_quarantined(kaggle):
    _, result, index = kaggle
    truth = pd.read_csv(result.truth_csv, dtype=str)
    assert index.layout == "kaggle-jpeg"
    assert set(index.rows["roi_id"]) == set(truth["roi_id"])
    assert (index.rows["source_format"] == "kaggle-jpeg").all()
    assert len(index.quarantine) == 6 and not set(index.quarantine["roi_id"]) & set(truth["roi_id"])
    reasons = " | ".join(index.quarantine["reason"])
    for expected in ("truncated JPEG", "unknown pathology", "missing file: jpeg/",
                     "not a decodable .jpg", "blank", "not in dicom_info.csv"):
        assert expected in reasons


def test_rows_reach_the_jpegs_of_their_csv_series(kaggle):
    data, _, index = kaggle
    listed = read_case_csvs(data)
    series = dict(zip(listed["patient_id"] + listed["left or right breast"]
                      + listed["image view"] + listed["abnormality id"],
                      listed["cropped image file path"].str.strip().map(series_of), strict=True))
    for row in index.rows.itertuples():
        key = row.patient_id + row.side + row.view + row.abnormality_id
        assert row.crop_path.startswith(f"jpeg/{series[key]}/1-")
        assert row.mask_path.startswith(f"jpeg/{series[key]}/1-")
        assert row.image_path.startswith("jpeg/") and (data / row.image_path).is_file()


def test_crop_is_told_from_mask_whatever_their_numbers(kaggle):
    data, _, index = kaggle
    numbers = set()
    for row in index.rows.itertuples():
        crop, mask, full = (cv2.imread(str(data / p), cv2.IMREAD_GRAYSCALE)
                            for p in (row.crop_path, row.mask_path, row.image_path))
        assert mask.shape == full.shape and crop.shape != full.shape
        assert nearly_binary(mask.astype(np.float32)) and not nearly_binary(crop.astype(np.float32))
        numbers.add(Path(row.crop_path).name)
    assert numbers == {"1-1.jpg", "1-2.jpg"}, "the phantom numbers crop and mask either way"


def test_the_same_rois_as_the_tcia_download_of_the_same_cases(kaggle, tcia_phantom):
    _, _, index = kaggle
    tcia_dir, _ = tcia_phantom
    tcia = build_index(tcia_dir, progress=False)
    columns = ["roi_id", "patient_id", "label", "split", "calc_type", "subtlety"]
    pd.testing.assert_frame_equal(index.rows[columns], tcia.rows[columns])
    for kaggle_crop, tcia_crop in zip(index.rows["crop_path"], tcia.rows["crop_path"],
                                      strict=True):
        header = pydicom.dcmread(tcia_dir / tcia_crop, stop_before_pixels=True)
        jpeg = cv2.imread(str(kaggle[0] / kaggle_crop), cv2.IMREAD_GRAYSCALE)
        assert jpeg.shape == (header.Rows, header.Columns)


def test_without_full_images_the_content_tells_crop_from_mask(kaggle, tmp_path: Path):
    _, _, index = kaggle
    generate_phantom(tmp_path, full_images="none", layout="kaggle-jpeg",
                     **{**PHANTOM, "patients": 8})
    info = pd.read_csv(tmp_path / "csv" / "dicom_info.csv", dtype=str)
    assert "full mammogram images" not in set(info["SeriesDescription"])
    rows = build_index(tmp_path, progress=False).rows
    same = index.rows[index.rows["patient_id"] <= "P_00008"]
    assert list(rows["crop_path"]) == list(same["crop_path"])
    assert (rows["image_path"].str.endswith(".dcm")).all(), "the CSV's path where none is listed"


def test_no_phi_from_dicom_info_in_the_index_or_cache(kaggle, tmp_path: Path):
    data, _, index = kaggle
    info = pd.read_csv(data / "csv" / "dicom_info.csv", dtype=str)
    phi = {*info["PatientName"], *info["PatientBirthDate"]}
    assert all(v.startswith(FAKE_PATIENT_NAME_PREFIX) for v in info["PatientName"])
    index.save(tmp_path / "index")
    build_cache(index, tmp_path / "cache", PreprocessConfig(size=16), workers=1, progress=False)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            assert not [v for v in phi if v.encode() in blob], path
    assert open_cache(tmp_path / "cache").table["patient_id"].str.fullmatch(r"P_\d{5}").all()


@pytest.mark.parametrize(("image_path", "expected"), [
    ("CBIS-DDSM/jpeg/1.2.3/1-1.jpg", "jpeg/1.2.3/1-1.jpg"),
    ("jpeg/1.2.3/1-2.jpg", "jpeg/1.2.3/1-2.jpg"),
    ("/kaggle/input/cbis-ddsm/jpeg/1.2.3/1-1.jpg", "jpeg/1.2.3/1-1.jpg"),
])
def test_dicom_info_paths_are_read_from_their_jpeg_folder_on(image_path: str, expected: str):
    assert local_rel(image_path) == expected


def test_the_series_is_the_folder_holding_the_csv_file():
    assert series_of("Calc-Test_P_1_LEFT_CC_1/1.2.study/1.2.series/000000.dcm") == "1.2.series"
    assert series_of("Calc-Test_P_1_LEFT_CC_1/1.2.study/1.2.series") == "1.2.series"


# A hand-made download: one row per case, its images listed as given.
FULL, CROP, MASK = "full mammogram images", "cropped images", "ROI mask images"


def write_download(root: Path, cases: list[dict[str, object]]) -> Path:
    """cases: {'series': {'crop': uid, 'mask': uid}, 'images': [(uid, name, kind)], ...}."""
    rng = np.random.default_rng(0)
    pixels = {FULL: lambda: rng.integers(30, 220, (60, 40), dtype=np.uint8),
              CROP: lambda: rng.integers(30, 220, (20, 16), dtype=np.uint8),
              MASK: lambda: np.pad(np.full((10, 8), 255, np.uint8), ((20, 30), (12, 20)))}
    (root / "csv").mkdir(parents=True)
    info, rows = [], []
    for number, case in enumerate(cases, start=1):
        for uid, name, kind in case["images"]:
            image = pixels[kind]()
            (root / "jpeg" / uid).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "jpeg" / uid / name), image)
            info.append({"image_path": f"CBIS-DDSM/jpeg/{uid}/{name}", "SeriesInstanceUID": uid,
                         "SeriesDescription": kind, "Rows": image.shape[0],
                         "Columns": image.shape[1], "PatientName": "FAKE^NAME"})
        folder = f"Calc-Training_P_{number:05d}_LEFT_CC_1"
        series = case["series"]
        rows.append({**dict.fromkeys(CALC_COLUMNS, "1"), "patient_id": f"P_{number:05d}",
                     "left or right breast": "LEFT", "image view": "CC",
                     "pathology": "MALIGNANT",
                     "image file path": f"Calc-Training_P_{number:05d}_LEFT_CC/s/{case['full']}"
                                        "/000000.dcm",
                     "cropped image file path": f"{folder}/s/{series['crop']}/000000.dcm\n",
                     "ROI mask file path": f"{folder}/s/{series['mask']}/000001.dcm"})
    columns = [c for c in DICOM_INFO_COLUMNS if c in info[0]]
    pd.DataFrame(info)[columns].to_csv(root / "csv" / "dicom_info.csv", index=False)
    with (root / "csv" / CALC_CSV_NAMES["train"]).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CALC_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_crop_and_mask_in_two_series_are_found_through_each_csv_path(tmp_path: Path):
    data = write_download(tmp_path, [{
        "full": "9.1", "series": {"crop": "9.2", "mask": "9.3"},
        "images": [("9.1", "1-1.jpg", FULL), ("9.2", "1-1.jpg", CROP),
                   ("9.3", "1-1.jpg", MASK)]}])
    rows = build_index(data, progress=False).rows
    assert list(rows[["crop_path", "mask_path", "image_path"]].iloc[0]) == [
        "jpeg/9.2/1-1.jpg", "jpeg/9.3/1-1.jpg", "jpeg/9.1/1-1.jpg"]


def test_what_cannot_be_resolved_is_quarantined_with_the_reason(tmp_path: Path):
    data = write_download(tmp_path, [
        {"full": "1.1", "series": {"crop": "1.2", "mask": "1.2"},  # fine
         "images": [("1.1", "1-1.jpg", FULL), ("1.2", "1-1.jpg", MASK), ("1.2", "1-2.jpg", CROP)]},
        {"full": "2.1", "series": {"crop": "2.9", "mask": "2.9"},  # series not listed
         "images": [("2.1", "1-1.jpg", FULL), ("2.2", "1-1.jpg", CROP)]},
        {"full": "3.1", "series": {"crop": "3.2", "mask": "3.2"},  # three images in it
         "images": [("3.1", "1-1.jpg", FULL), ("3.2", "1-1.jpg", CROP), ("3.2", "1-2.jpg", MASK),
                    ("3.2", "1-3.jpg", CROP)]},
        {"full": "4.1", "series": {"crop": "4.2", "mask": "4.2"},  # only a crop
         "images": [("4.1", "1-1.jpg", FULL), ("4.2", "1-1.jpg", CROP)]},
        {"full": "5.1", "series": {"crop": "5.2", "mask": "5.2"},  # two crops, no full image
         "images": [("5.2", "1-1.jpg", CROP), ("5.2", "1-2.jpg", CROP)]},
    ])
    (data / "jpeg" / "1.1" / "1-1.jpg").unlink()  # a full image may be absent: still indexed
    index = build_index(data, progress=False)
    assert list(index.rows["patient_id"]) == ["P_00001"]
    reasons = dict(zip(index.quarantine["roi_id"].str[14:21], index.quarantine["reason"],
                       strict=True))
    assert reasons == {
        "P_00002": "the series of the crop and mask paths is not in dicom_info.csv",
        "P_00003": "dicom_info.csv lists 3 images for the crop and mask series, not a crop and "
                   "a mask",
        "P_00004": "dicom_info.csv lists 1 image for the crop and mask series, not a crop and "
                   "a mask",
        "P_00005": "cannot tell crop from mask (2 crops, 0 masks)",
    }
    assert (index.quarantine["path"].str.endswith(".dcm")).all()


def test_a_csv_folder_without_dicom_info_is_a_clear_error(tmp_path: Path):
    data = write_download(tmp_path, [{"full": "1.1", "series": {"crop": "1.2", "mask": "1.2"},
                                      "images": [("1.2", "1-1.jpg", CROP)]}])
    (data / "csv" / "dicom_info.csv").unlink()
    with pytest.raises(ValueError, match=r"not dicom_info\.csv"):
        build_index(data, progress=False)


def test_a_dicom_info_without_the_needed_columns_is_a_clear_error(tmp_path: Path):
    data = write_download(tmp_path, [{"full": "1.1", "series": {"crop": "1.2", "mask": "1.2"},
                                      "images": [("1.2", "1-1.jpg", CROP)]}])
    info = pd.read_csv(data / "csv" / "dicom_info.csv")
    info.drop(columns=["SeriesInstanceUID"]).to_csv(data / "csv" / "dicom_info.csv", index=False)
    with pytest.raises(ValueError, match="SeriesInstanceUID"):
        build_index(data, progress=False)

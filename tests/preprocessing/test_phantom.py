"""The phantom CBIS-DDSM generator: layout, CSVs, DICOM, labels, determinism, corrupt cases."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut
from pydicom.uid import DigitalMammographyXRayImageStorageForPresentation, ExplicitVRLittleEndian
from sklearn.metrics import roc_auc_score

from preprocessing.cbis_csv import CALC_COLUMNS, CALC_CSV_NAMES, read_calc_csv
from preprocessing.phantom import PhantomResult, generate_phantom

PATIENTS = 120
CORRUPT = 5


def _generate(root: Path, patients: int, seed: int, workers: int) -> PhantomResult:
    return generate_phantom(root, patients=patients, seed=seed, scale=0.05, corrupt=CORRUPT,
                            workers=workers, progress=False)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomResult:
    return _generate(tmp_path_factory.mktemp("phantom"), PATIENTS, seed=0, workers=2)


@pytest.fixture(scope="module")
def table(phantom: PhantomResult) -> pd.DataFrame:
    """Both official CSVs through the project's reader, with the patient number added."""
    frame = pd.concat([read_calc_csv(phantom.out_dir / name, split)
                       for split, name in CALC_CSV_NAMES.items()], ignore_index=True)
    frame["patient_number"] = frame["patient_id"].str[2:].astype(int)
    return frame


@pytest.fixture(scope="module")
def regular(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["patient_number"] <= PATIENTS]


@pytest.fixture(scope="module")
def truth(phantom: PhantomResult) -> pd.DataFrame:
    return pd.read_csv(phantom.truth_csv, dtype=str, keep_default_na=False)


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _pixels(path: Path) -> np.ndarray:
    """Modality values, bright = dense whatever the photometric interpretation."""
    ds = pydicom.dcmread(path)
    values = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
    return 4095 - values if ds.PhotometricInterpretation == "MONOCHROME1" else values


def _crop_and_mask(out_dir: Path, row: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Tell crop from mask by content, as consumers must (some rows swap the two cells)."""
    first, second = (_pixels(out_dir / row[c]) for c in ("crop_path", "mask_path"))
    return (second, first) if np.unique(first).size <= 2 else (first, second)


def test_same_seed_gives_the_same_bytes_whatever_the_worker_count(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    one = _generate(tmp_path_factory.mktemp("w1"), 10, seed=3, workers=1)
    two = _generate(tmp_path_factory.mktemp("w2"), 10, seed=3, workers=2)
    other = _generate(tmp_path_factory.mktemp("s4"), 10, seed=4, workers=1)
    assert _hashes(one.out_dir) == _hashes(two.out_dir)
    assert one.bayes_auc == two.bayes_auc or np.isnan(one.bayes_auc)
    other_hashes = _hashes(other.out_dir)
    for name in [*CALC_CSV_NAMES.values(), "phantom_truth.csv"]:
        assert other_hashes[name] != _hashes(one.out_dir)[name]


def test_csvs_have_the_official_header_and_relative_paths(phantom: PhantomResult,
                                                          table: pd.DataFrame) -> None:
    for name in CALC_CSV_NAMES.values():
        with (phantom.out_dir / name).open(newline="") as handle:
            assert tuple(next(csv.reader(handle))) == CALC_COLUMNS
    assert set(table["split"]) == {"train", "test"}
    for column in ("image_path", "crop_path", "mask_path"):
        assert table[column].str.match(r"^Calc-(Training|Test)_P_\d{5}_(LEFT|RIGHT)_(CC|MLO)").all()
        assert not table[column].str.contains("\\\\").any()
    assert (table["abnormality_type"] == "calcification").all()


def test_sidecar_has_one_row_per_regular_roi(phantom: PhantomResult, regular: pd.DataFrame,
                                             truth: pd.DataFrame) -> None:
    assert list(truth.columns) == ["roi_id", "patient_id", "side", "view", "abnormality_id",
                                   "split", "lesion_id", "calc_type", "calc_distribution",
                                   "subtlety", "p_malignant", "label"]
    csv_rois = set(regular["crop_path"].str.split("/").str[0])
    assert set(truth["roi_id"]) == csv_rois
    assert len(truth) == phantom.n_rois == len(regular)


def test_about_a_third_malignant_with_both_benign_kinds(phantom: PhantomResult,
                                                        regular: pd.DataFrame) -> None:
    malignant = (regular["pathology"] == "MALIGNANT").mean()
    assert 0.25 <= malignant <= 0.45
    assert phantom.n_malignant == (regular["pathology"] == "MALIGNANT").sum()
    assert {"BENIGN", "BENIGN_WITHOUT_CALLBACK", "MALIGNANT"} == set(regular["pathology"])
    assert phantom.n_rois > 250


def test_most_lesions_are_seen_in_cc_and_mlo(regular: pd.DataFrame, truth: pd.DataFrame) -> None:
    views = truth.groupby("lesion_id")["view"].apply(lambda v: "+".join(sorted(v)))
    assert 0.6 < (views == "CC+MLO").mean() < 0.95
    for _, rows in truth.groupby("lesion_id"):
        assert rows[["patient_id", "side", "abnormality_id", "calc_type"]].nunique().max() == 1
    by_roi = regular.groupby(["patient_id", "side", "abnormality_id"])["view"].nunique()
    assert (by_roi == 2).mean() > 0.6


def test_several_rois_share_one_full_image(regular: pd.DataFrame) -> None:
    per_image = regular.groupby("image_path")["abnormality_id"].apply(sorted)
    shared = per_image[per_image.str.len() > 1]
    assert len(shared) > 0
    assert all(ids == [str(i) for i in range(1, len(ids) + 1)] for ids in shared)


def test_train_and_test_are_split_by_patient(table: pd.DataFrame) -> None:
    train = set(table.loc[table["split"] == "train", "patient_id"])
    test = set(table.loc[table["split"] == "test", "patient_id"])
    assert train and test and not train & test
    assert 0.05 < len(test) / (len(train) + len(test)) < 0.35
    prefixes = table["image_path"].str.split("_").str[0]
    assert (prefixes == table["split"].map({"train": "Calc-Training", "test": "Calc-Test"})).all()


def test_dicom_headers_look_like_cbis_mg_with_fake_phi(phantom: PhantomResult,
                                                       regular: pd.DataFrame) -> None:
    photometric = set()
    for _, row in regular.head(40).iterrows():
        for column in ("image_path", "crop_path", "mask_path"):
            ds = pydicom.dcmread(phantom.out_dir / row[column])
            assert ds.Modality == "MG"
            assert ds.SOPClassUID == DigitalMammographyXRayImageStorageForPresentation
            assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
            assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 12, 11)
            assert int(ds.pixel_array.max()) <= 4095
            assert ds.PatientID == row["patient_id"] and re.fullmatch(r"P_\d{5}", ds.PatientID)
            assert str(ds.PatientName).startswith("PHANTOM^SYNTHETIC")
            assert ds.PatientBirthDate == "19000101"
            photometric.add(ds.PhotometricInterpretation)
    assert photometric == {"MONOCHROME1", "MONOCHROME2"}


def test_crop_is_smaller_and_mask_is_binary_full_size(phantom: PhantomResult,
                                                      regular: pd.DataFrame) -> None:
    for _, row in regular.head(30).iterrows():
        full = _pixels(phantom.out_dir / row["image_path"])
        crop, mask = _crop_and_mask(phantom.out_dir, row)
        assert mask.shape == full.shape
        assert set(np.unique(mask)) == {0.0, 255.0}
        assert crop.shape[0] < full.shape[0] and crop.shape[1] < full.shape[1]
        assert np.unique(crop).size > 2


def test_some_rows_swap_crop_and_mask(phantom: PhantomResult, regular: pd.DataFrame) -> None:
    swapped = regular[regular["crop_path"].str.endswith("000000.dcm")]
    assert 0 < len(swapped) < 0.25 * len(regular)
    for _, row in swapped.head(5).iterrows():
        named_crop = _pixels(phantom.out_dir / row["crop_path"])
        assert np.unique(named_crop).size == 2  # the "crop" cell points at the mask


def test_bayes_ceiling_matches_the_sidecar(phantom: PhantomResult, truth: pd.DataFrame) -> None:
    assert 0.6 < phantom.bayes_auc < 1.0
    recomputed = roc_auc_score(truth["label"].astype(int), truth["p_malignant"].astype(float))
    assert phantom.bayes_auc == pytest.approx(recomputed, abs=1e-12)


def test_corrupt_cases_cover_the_five_kinds(phantom: PhantomResult, table: pd.DataFrame,
                                            truth: pd.DataFrame) -> None:
    broken = table[table["patient_number"] > PATIENTS].sort_values("patient_number")
    assert phantom.n_corrupt == CORRUPT == len(broken)
    assert (broken["split"] == "train").all()
    assert not set(broken["patient_id"]) & set(truth["patient_id"])
    truncated, unknown, missing, not_dicom, blank = (
        phantom.out_dir / p for p in broken["crop_path"])
    cut = pydicom.dcmread(truncated)  # the header is intact, half the pixel data is missing
    assert len(cut.PixelData) < cut.Rows * cut.Columns * 2
    assert broken["pathology"].tolist()[1] == "UNKNOWN"
    assert _pixels(unknown).size > 0
    assert not missing.exists()
    assert not_dicom.read_bytes()[128:132] != b"DICM"
    assert np.unique(pydicom.dcmread(blank).pixel_array).size == 1

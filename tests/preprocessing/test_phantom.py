"""The phantom CBIS-DDSM generator: layout, CSVs, DICOM, labels, determinism, corrupt cases."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut
from pydicom.uid import (
    DigitalMammographyXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEGLSLossless,
    RLELossless,
)
from sklearn.metrics import roc_auc_score

from preprocessing.images import read_image
from preprocessing.index import build_index
from preprocessing.index.cbis_csv import CALC_COLUMNS, CALC_CSV_NAMES, read_calc_csv
from preprocessing.phantom import PhantomResult, generate_phantom, generator
from preprocessing.phantom.generator import CALC_SIGNAL_DIR, calc_signal_path

PATIENTS = 120
CORRUPT = 6


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
            is_mask = ds.SeriesDescription == "ROI mask images"  # cells may be swapped
            assert ds.file_meta.TransferSyntaxUID == (RLELossless if is_mask
                                                      else ExplicitVRLittleEndian)
            assert [float(v) for v in ds.PixelSpacing] == [1.0, 1.0]  # 0.05 mm / scale 0.05
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


def test_corrupt_cases_cover_the_six_kinds(phantom: PhantomResult, table: pd.DataFrame,
                                            truth: pd.DataFrame) -> None:
    broken = table[table["patient_number"] > PATIENTS].sort_values("patient_number")
    assert phantom.n_corrupt == CORRUPT == len(broken)
    assert (broken["split"] == "train").all()
    assert not set(broken["patient_id"]) & set(truth["patient_id"])
    truncated, unknown, missing, not_dicom, blank, cut_jpeg_ls = (
        phantom.out_dir / p for p in broken["crop_path"])
    cut = pydicom.dcmread(truncated)  # the header is intact, half the pixel data is missing
    assert len(cut.PixelData) < cut.Rows * cut.Columns * 2
    assert broken["pathology"].tolist()[1] == "UNKNOWN"
    assert _pixels(unknown).size > 0
    assert not missing.exists()
    assert not_dicom.read_bytes()[128:132] != b"DICM"
    assert np.unique(pydicom.dcmread(blank).pixel_array).size == 1
    header = pydicom.dcmread(cut_jpeg_ls, stop_before_pixels=True)
    assert header.file_meta.TransferSyntaxUID == JPEGLSLossless and header.Rows > 0
    with pytest.warns(UserWarning, match="End of file"):
        assert "PixelData" not in pydicom.dcmread(cut_jpeg_ls)



# --- storage: RLE masks, full-field images full / reduced / none, same crops and labels ------

MODES = ("full", "reduced", "none")
MODE_SCALE, REDUCTION = 0.06, 4


@pytest.fixture(scope="module")
def by_mode(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PhantomResult]:
    """One small phantom per full-images mode, same seed, corrupt cases included."""
    return {mode: generate_phantom(tmp_path_factory.mktemp(mode), patients=14, seed=11,
                                   scale=MODE_SCALE, corrupt=CORRUPT, workers=1, progress=False,
                                   full_images=mode, reduction=REDUCTION)
            for mode in MODES}


def _csv_table(out_dir: Path) -> pd.DataFrame:
    return pd.concat([read_calc_csv(out_dir / name, split)
                      for split, name in CALC_CSV_NAMES.items()], ignore_index=True)


def _is_full_image(rel: str) -> bool:
    """Full-field images live in case folders without an abnormality id (..._LEFT_CC)."""
    return rel.split("/")[0].rsplit("_", 1)[-1] in ("CC", "MLO")


def _masks_with_full_image(out_dir: Path) -> list[tuple[Path, Path]]:
    """(mask, its full-field image) of every regular ROI, told apart by series description."""
    pairs = []
    for _, row in _csv_table(out_dir).iterrows():
        for cell in ("crop_path", "mask_path"):
            path = out_dir / row[cell]
            if path.is_file() and path.read_bytes()[128:132] == b"DICM" and pydicom.dcmread(
                    path, stop_before_pixels=True).SeriesDescription == "ROI mask images":
                pairs.append((path, out_dir / row["image_path"]))
    return pairs


def test_masks_are_rle_lossless_and_decode_to_the_uncompressed_pixels(
        tmp_path: Path, by_mode: dict[str, PhantomResult]) -> None:
    from preprocessing.phantom.dicom_writer import DicomHeader, Presentation, write_mg_dicom

    pairs = _masks_with_full_image(by_mode["full"].out_dir)
    assert len(pairs) == by_mode["full"].n_rois + CORRUPT  # corrupt cases keep their masks
    header = DicomHeader("P_00001", "LEFT", "CC", "1.2.3", "1.2.3.4", "1.2.3.4.5", "x", 1)
    for mask, full in pairs[:15]:
        ds = pydicom.dcmread(mask)
        assert ds.file_meta.TransferSyntaxUID == RLELossless
        assert ds["PixelData"].is_undefined_length  # encapsulated, as compressed data must be
        pixels = ds.pixel_array
        assert set(np.unique(pixels)) == {0, 255}
        assert pixels.shape == pydicom.dcmread(full).pixel_array.shape
        assert mask.stat().st_size < pixels.nbytes / 2
        # the same pixels written uncompressed read back identically, through pydicom and
        # through the project's reader
        plain = tmp_path / "plain.dcm"
        write_mg_dicom(plain, pixels, header, Presentation())
        assert pydicom.dcmread(plain).file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert np.array_equal(pydicom.dcmread(plain).pixel_array, pixels)
        assert np.array_equal(read_image(mask), read_image(plain))


def test_rle_encoder_writes_what_pydicoms_own_encoder_writes() -> None:
    from pydicom.dataset import Dataset

    from preprocessing.phantom.rle import encode_frame

    rng = np.random.default_rng(0)
    cases = [np.zeros((5, 1), np.uint16), np.full((3, 300), 4095, np.uint16),
             rng.integers(0, 4096, (9, 37)).astype(np.uint16),  # literal runs, no repeats
             np.repeat(rng.integers(0, 3, (7, 40)), 9, axis=1).astype(np.uint8)[:, :333]]
    blob = np.zeros((60, 700), np.uint16)
    blob[10:50, 100:530] = 255
    blob[20:25, 140] = 0  # one-pixel runs inside long runs
    cases.append(blob)
    for image in cases:
        ds = Dataset()
        ds.Rows, ds.Columns = image.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 8 * image.itemsize
        ds.HighBit, ds.PixelRepresentation = ds.BitsStored - 1, 0
        ds.compress(RLELossless, image, encoding_plugin="pydicom")
        frame = encode_frame(image)
        assert pydicom.encaps.encapsulate([frame]) == ds.PixelData
        ds.PixelData = pydicom.encaps.encapsulate([frame])
        assert np.array_equal(ds.pixel_array, image)


def test_crops_masks_and_labels_do_not_depend_on_full_images(
        by_mode: dict[str, PhantomResult]) -> None:
    """Every file but the full-field images is byte-identical whatever full_images says."""
    hashes = {mode: _hashes(result.out_dir) for mode, result in by_mode.items()}
    rest = {mode: {rel: h for rel, h in found.items() if not _is_full_image(rel)}
            for mode, found in hashes.items()}
    assert len(rest["full"]) > 2 * by_mode["full"].n_rois  # crops, masks, the CSVs
    assert rest["full"] == rest["reduced"] == rest["none"]
    assert len({r.bayes_auc for r in by_mode.values()}) == 1
    full_images = [rel for rel in hashes["full"] if _is_full_image(rel)]
    assert full_images and set(full_images) == {r for r in hashes["reduced"] if _is_full_image(r)}
    assert not [rel for rel in hashes["none"] if _is_full_image(rel)]
    listed = set(_csv_table(by_mode["none"].out_dir)["image_path"])
    assert listed == set(full_images)  # the CSVs still name them; the files are absent


def test_reduced_full_images_have_scaled_spacing_and_size(
        by_mode: dict[str, PhantomResult]) -> None:
    full_dir, reduced_dir = by_mode["full"].out_dir, by_mode["reduced"].out_dir
    images = sorted(set(_csv_table(full_dir)["image_path"]))
    assert len(images) > 10
    compared = 0
    for rel in images:
        full, reduced = pydicom.dcmread(full_dir / rel), pydicom.dcmread(reduced_dir / rel)
        spacing = [float(v) for v in full.PixelSpacing]
        assert spacing == pytest.approx([0.05 / MODE_SCALE] * 2)
        assert [float(v) for v in reduced.PixelSpacing] == pytest.approx(
            [s * REDUCTION for s in spacing])
        rows, cols = full.Rows // REDUCTION, full.Columns // REDUCTION
        assert (reduced.Rows, reduced.Columns) == (rows, cols)
        assert reduced.PhotometricInterpretation == full.PhotometricInterpretation
        if float(full.get("RescaleIntercept", 0)) != 0:
            continue  # a nonzero intercept clips impulses: their modality value is not the drawn
        compared += 1
        blocks = _pixels(full_dir / rel)[: rows * REDUCTION, : cols * REDUCTION]
        means = blocks.reshape(rows, REDUCTION, cols, REDUCTION).mean(axis=(1, 3))
        assert np.abs(_pixels(reduced_dir / rel) - means).max() <= 0.5  # rounded block means
    assert compared >= 5


def test_reduce_image_rounds_block_means_and_never_takes_a_crop_shape() -> None:
    from preprocessing.phantom.render import reduce_image

    values = np.random.default_rng(1).integers(0, 4096, (403, 262)).astype(np.uint16)
    for factor in (2, 3, 4, 8):
        reduced = reduce_image(values, factor)
        rows, cols = 403 // factor, 262 // factor
        assert reduced.shape == (rows, cols) and reduced.dtype == np.uint16
        blocks = values[: rows * factor, : cols * factor].astype(np.float64)
        means = blocks.reshape(rows, factor, cols, factor).mean(axis=(1, 3))
        assert np.abs(reduced - means).max() <= 0.5
    assert reduce_image(values, 4, ((100, 65), (99, 65))).shape == (98, 65)


def test_index_finds_the_same_rois_without_full_images(by_mode: dict[str, PhantomResult]) -> None:
    """The indexer tells crop from mask by content when no full image gives it the mask size;
    nothing is quarantined for a full image it cannot find."""
    indexes = {mode: build_index(result.out_dir, progress=False)
               for mode, result in by_mode.items()}
    full = indexes["full"]
    assert len(full.rows) == by_mode["full"].n_rois and len(full.quarantine) == CORRUPT
    for mode in ("reduced", "none"):
        pd.testing.assert_frame_equal(indexes[mode].rows, full.rows)
        pd.testing.assert_frame_equal(indexes[mode].quarantine, full.quarantine)


def test_cli_none_indexes_and_preprocesses_the_same_rois(tmp_path: Path,
                                                         by_mode: dict[str, PhantomResult]):
    from click.testing import CliRunner

    from mcal.cli import main

    runner, data, cache = CliRunner(), tmp_path / "data", tmp_path / "cache"
    out = runner.invoke(main, ["phantom", "--out", str(data), "--patients", "14", "--seed", "11",
                               "--scale", str(MODE_SCALE), "--corrupt", str(CORRUPT),
                               "--workers", "1", "--full-images", "none"])
    assert out.exit_code == 0, out.output
    assert "not written" in out.output
    assert _hashes(data) == _hashes(by_mode["none"].out_dir)
    out = runner.invoke(main, ["index", "--data", str(data), "--out", str(tmp_path / "index")])
    assert out.exit_code == 0, out.output
    rows = pd.read_csv(tmp_path / "index" / "index.csv")
    assert len(rows) == by_mode["full"].n_rois
    out = runner.invoke(main, ["preprocess", "--data", str(data), "--cache", str(cache),
                               "--size", "16", "--filter", "none", "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert f"({len(rows)} ROIs;" in out.output


def test_faster_steps_match_the_old_formulas_bit_for_bit() -> None:
    """The in-place and windowed rewrites of the costly steps give the very same floats as the
    expressions they replaced (copied here), so crops stay what they were. (The noise, now drawn
    per tile, has its own tests in phantom/test_noise.py.)"""
    import cv2

    from preprocessing.phantom import anatomy
    from preprocessing.phantom.dicom_writer import Presentation, stored_values
    from preprocessing.phantom.render import crop_box
    from preprocessing.phantom.scene import quantise

    def old_pectoral(rng: np.random.Generator, geom: anatomy.BreastGeometry) -> np.ndarray:
        height = rng.uniform(0.35, 0.55) * geom.rows
        width = rng.uniform(0.22, 0.38) * geom.cols
        wall = 0.0 if geom.chest_wall_left else geom.cols - 1.0
        tip = wall + width if geom.chest_wall_left else wall - width
        triangle = np.array([[wall, 0.0], [tip, 0.0], [wall, height]], dtype=np.float32)
        mask = np.zeros((geom.rows, geom.cols), np.float32)
        cv2.fillConvexPoly(mask, np.round(triangle).astype(np.int32), 1.0)
        return cv2.GaussianBlur(mask, (0, 0), max(0.7, 0.004 * geom.cols))

    for k, (rows, cols) in enumerate([(4000, 2600), (1230, 777), (211, 131), (64, 64)]):
        geom = anatomy.draw_geometry(np.random.default_rng(k), (rows, cols), k % 2 == 0, "MLO")
        whole = slice(0, rows), slice(0, cols)
        assert np.array_equal(anatomy.draw_pectoral(np.random.default_rng(k), geom).window(*whole),
                              old_pectoral(np.random.default_rng(k), geom))
        radius2 = anatomy.elliptic_radius2(geom)
        inside = np.clip((1.0 - radius2) / 0.4, 0.0, 1.0)
        thickness = anatomy.thickness_profile(radius2)
        assert np.array_equal(thickness, inside * (2.0 - inside))
        values = (3000.0 * thickness + 50.0).astype(np.float32) * 1.4 - 100.0
        assert np.array_equal(quantise(values.copy()),
                              np.clip(np.rint(values), 0, 4095).astype(np.uint16))
        mask = np.zeros((rows, cols), np.uint8)
        for top, left, height, width in [(rows // 3, cols // 5, 9, 30), (0, 0, 5, 3),
                                         (rows - 7, cols - 4, 7, 4)]:
            mask[:] = 0
            mask[top:top + height, left:left + width] = 1
            mask[top + height // 2, max(left - 2, 0)] = 1  # a stray pixel beside
            assert crop_box(mask, 0.1) == old_crop_box(mask, 0.1)
            stored = mask.astype(np.uint16) * np.uint16(255)
            for presentation in (Presentation(), Presentation(False, 0, (2000.0, 4000.0))):
                assert np.array_equal(stored_values(stored, presentation),
                                      np.clip(stored.astype(np.int32), 0, 4095).astype(np.uint16))


def old_crop_box(mask: np.ndarray, margin_frac: float) -> tuple[slice, slice]:
    """render.crop_box as it was, before it stopped listing every mask pixel."""
    rows, cols = np.nonzero(mask)
    pad = max(2, round(margin_frac * max(np.ptp(rows), np.ptp(cols))))
    r0, r1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, mask.shape[0])
    c0, c1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, mask.shape[1])
    if (r1 - r0, c1 - c0) == mask.shape:
        r1 -= 1
    return slice(int(r0), int(r1)), slice(int(c0), int(c1))


# --- calcification-only signal sidecar ------------------------------------------------------

# sha256 over (path, sha256) of every file but phantom_truth/ of generate_phantom(patients=4,
# seed=7, scale=0.1, corrupt=1, full_images="none"): writing the sidecar must change no random
# draw and no written byte. First made by the code before the calc sidecar existed; remade when
# the noise moved to per-tile generators (crops rendered alone), an intended change of every
# pixel. (Any intended change to the phantom's pixels changes it: recompute it with
# _tree_digest.)
DIGEST_BEFORE_CALC_SIDECAR = "9e16d26251033067f4b8bc34c852bacc924e2ab5be8b80de859d426837e2ad60"
# sha256 of phantom_truth.csv of that phantom, made before the crops were rendered alone: how
# the pixels are drawn must not change which lesions, descriptors and labels a seed gives.
TRUTH_DIGEST = "dffc217f0f6d3ed42907f5939e736fde8ef9f269f19580f2763ff39e682824ea"


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(f"{CALC_SIGNAL_DIR}/"):
            digest.update(rel.encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _small(root: Path, **kwargs: object) -> PhantomResult:
    return generate_phantom(root, patients=4, seed=7, scale=0.1, corrupt=1, workers=1,
                            progress=False, full_images="none", **kwargs)


def test_calc_sidecar_changes_no_written_byte(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with_sidecar = _small(tmp_path / "with")
    assert _tree_digest(with_sidecar.out_dir) == DIGEST_BEFORE_CALC_SIDECAR
    monkeypatch.setattr(generator, "_write_calc_signals",
                        lambda out_dir, output: output.calc_signals.clear())
    without = _small(tmp_path / "without")
    assert not (without.out_dir / CALC_SIGNAL_DIR).exists()
    assert _hashes(without.out_dir) == {rel: h for rel, h in _hashes(with_sidecar.out_dir).items()
                                        if not rel.startswith(f"{CALC_SIGNAL_DIR}/")}


def test_rendering_changes_no_label(tmp_path: Path) -> None:
    result = _small(tmp_path)
    assert hashlib.sha256(result.truth_csv.read_bytes()).hexdigest() == TRUTH_DIGEST


def test_calc_sidecar_exists_per_regular_roi_in_the_crop_frame(phantom: PhantomResult,
                                                               regular: pd.DataFrame,
                                                               truth: pd.DataFrame) -> None:
    written = sorted((phantom.out_dir / CALC_SIGNAL_DIR).glob("*_calc.npy"))
    assert len(written) == len(truth) == phantom.n_rois  # none for the corrupt cases
    for roi_id in truth["roi_id"]:
        assert calc_signal_path(phantom.out_dir, roi_id).is_file()
    by_roi = regular.assign(roi_id=regular["crop_path"].str.split("/").str[0])
    for _, row in by_roi.head(40).iterrows():
        crop, _ = _crop_and_mask(phantom.out_dir, row)
        signal = np.load(calc_signal_path(phantom.out_dir, row["roi_id"]))
        assert signal.dtype == np.uint16 and signal.shape == crop.shape
        assert signal.max() > 0


def test_calc_sidecar_marks_the_calcification_pixels(tmp_path: Path) -> None:
    """The crop minus the signal is the tissue: the bright specks go, the tissue stays."""
    result = generate_phantom(tmp_path, patients=4, seed=5, scale=0.25, workers=1,
                              progress=False, full_images="none")
    truth = pd.read_csv(result.truth_csv, dtype=str)
    kept, left = [], []
    for roi_id in truth["roi_id"]:
        crop = _pixels(next((tmp_path / roi_id).glob("*/*/000001.dcm")))
        signal = np.load(calc_signal_path(tmp_path, roi_id)).astype(np.float32)
        calcs = signal >= 0.25 * signal.max()
        high_pass = crop - cv2.GaussianBlur(crop, (0, 0), 6)
        tissue = crop - signal
        tissue_high_pass = tissue - cv2.GaussianBlur(tissue, (0, 0), 6)
        kept.append(high_pass[calcs].mean() / signal[calcs].mean())
        left.append(tissue_high_pass[calcs].mean() / signal[calcs].mean())
    assert np.mean(kept) > 0.3, "calcifications stand out of the crop where the mask says"
    assert abs(np.mean(left)) < 0.1, "and nothing stands out once the signal is taken away"


def test_kaggle_layout_holds_the_same_cases_as_8bit_jpegs(tmp_path: Path,
                                                         by_mode: dict[str, PhantomResult]):
    """Same CSVs and sidecar; each DICOM of the TCIA layout becomes an 8-bit JPEG of its
    modality values, listed in dicom_info.csv under its series."""
    from preprocessing.phantom.kaggle_writer import DICOM_INFO_COLUMNS, to_8bit

    tcia = by_mode["full"]
    kaggle = generate_phantom(tmp_path, patients=14, seed=11, scale=MODE_SCALE, corrupt=CORRUPT,
                              workers=1, progress=False, layout="kaggle-jpeg")
    assert (kaggle.n_rois, kaggle.bayes_auc) == (tcia.n_rois, tcia.bayes_auc)
    for name in CALC_CSV_NAMES.values():
        assert (tmp_path / "csv" / name).read_bytes() == (tcia.out_dir / name).read_bytes()
    assert kaggle.truth_csv.read_bytes() == tcia.truth_csv.read_bytes()
    assert not list(tmp_path.rglob("*.dcm"))

    info = pd.read_csv(tmp_path / "csv" / "dicom_info.csv", dtype=str)
    assert tuple(info.columns) == DICOM_INFO_COLUMNS
    images = len(set(_csv_table(tcia.out_dir)["image_path"]))
    assert len(info) == images + 2 * (tcia.n_rois + CORRUPT) - 2  # one ROI's series unlisted
    assert info["image_path"].str.fullmatch(r"CBIS-DDSM/jpeg/[\d.]+/1-[12]\.jpg").all()
    assert (info["image_path"].str.split("/").str[2] == info["SeriesInstanceUID"]).all()

    dicoms = {}
    for path in tcia.out_dir.rglob("*.dcm"):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError:
            continue  # a corrupt case
        dicoms[(ds.SeriesInstanceUID, ds.SeriesDescription)] = path
    compared = 0
    for row in info.itertuples():
        if int(row.PatientID[2:]) > 14:
            continue  # a corrupt case: its crop is altered
        jpeg = cv2.imread(str(tmp_path / row.image_path.removeprefix("CBIS-DDSM/")),
                          cv2.IMREAD_UNCHANGED)
        assert jpeg.dtype == np.uint8 and jpeg.shape == (int(row.Rows), int(row.Columns))
        if row.SeriesDescription != "cropped images":
            continue  # masks and full images: shape only
        values = _pixels(dicoms[(row.SeriesInstanceUID, row.SeriesDescription)])
        error = np.abs(jpeg.astype(np.float32) - to_8bit(values).astype(np.float32))
        assert error.mean() < 4, "quality 90 keeps the 8-bit values to a few grey levels"
        compared += 1
    assert compared == tcia.n_rois

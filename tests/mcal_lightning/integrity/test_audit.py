"""The leakage audit: planted duplicates, patients and lesions are found; a clean split is clean."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mcal_lightning.data.datamodule import CacheDataModule
from mcal_lightning.integrity.audit import (
    DEFAULT_MIN_CORRELATION,
    DEFAULT_THRESHOLD,
    AuditReport,
    LeakageFound,
    audit_splits,
    dihedral_hashes,
    enforce,
    pixel_correlation,
    popcount,
    roi_hashes,
)
from mcal_lightning.integrity.audit_report import write_report
from preprocessing.cache import open_cache

PLANTS = {  # name -> what the test side receives, made from one train ROI
    "rot90_brighter_noisy": "near",
    "fliplr": "near",
    "transpose": "near",
    "exact": "exact",
}


@dataclass
class Phantom:
    table: pd.DataFrame
    images: np.ndarray
    splits: dict[str, np.ndarray]


@pytest.fixture(scope="module")
def phantom(workdir: Path) -> Phantom:
    """The phantom cache's table, ROIs (in memory) and the splits training makes of it."""
    datamodule = CacheDataModule(workdir / "cache", num_workers=0)
    datamodule.setup()
    images = np.asarray(open_cache(workdir / "cache").images).copy()
    return Phantom(datamodule.table, images, datamodule.rows)


def plant(source: np.ndarray, how: str) -> np.ndarray:
    """A copy of the ROI: rotated, flipped, transposed, or as is; rot90 also brighter and noisy."""
    if how == "exact":
        return source.copy()
    if how == "fliplr":
        return np.fliplr(source).copy()
    if how == "transpose":
        return source.T.copy()
    return rotated_brighter_noisy(source)


def rotated_brighter_noisy(source: np.ndarray, seed: int = 0) -> np.ndarray:
    """rot90, contrast -10%, brightness +8% and noise of 1% of the full range."""
    top = np.iinfo(source.dtype).max
    noise = np.random.default_rng(seed).normal(0, 0.01 * top, source.shape)
    changed = np.rot90(source).astype(np.float64) * 0.9 + 0.08 * top + noise
    return np.clip(changed, 0, top).astype(source.dtype)


def add_to_test(phantom: Phantom, sources: np.ndarray, copies: list[np.ndarray],
                names: list[str]) -> tuple[Phantom, list[int]]:
    """The phantom plus the copies as new test-side rows of new patients; their row numbers."""
    table, images = phantom.table, phantom.images
    rows = list(range(len(images), len(images) + len(copies)))
    records = []
    for k, (source, pixels, name, row) in enumerate(zip(sources, copies, names, rows,
                                                        strict=True)):
        record = table.loc[table["row"] == source].iloc[0].copy()
        record[["row", "roi_id", "patient_id"]] = [row, f"PLANTED_{name}", f"PLANTED_{k}"]
        record["source_sha1"] = f"planted-source-{k}"
        record["pixel_sha1"] = hashlib.sha1(pixels.tobytes()).hexdigest()
        records.append(record)
    planted = pd.DataFrame(records).astype(table.dtypes.to_dict())
    splits = {**phantom.splits, "test": np.concatenate([phantom.splits["test"], rows])}
    return Phantom(pd.concat([table, planted], ignore_index=True),
                   np.concatenate([images, np.stack(copies)]), splits), rows


def with_planted(phantom: Phantom) -> tuple[Phantom, dict[str, tuple[int, int]]]:
    """The phantom plus one new test-side row per plant; name -> (train row, planted row)."""
    sources = phantom.splits["train"][: len(PLANTS)]
    copies = [plant(phantom.images[row], how) for how, row in zip(PLANTS, sources, strict=True)]
    leaky, rows = add_to_test(phantom, sources, copies, list(PLANTS))
    return leaky, {how: (int(a), b) for how, a, b in zip(PLANTS, sources, rows, strict=True)}


def found_pairs(report: AuditReport, kind: str) -> set[tuple[str, int, str, int]]:
    return {(f.side_a, f.row_a, f.side_b, f.row_b) for f in report.findings if f.kind == kind}


def test_planted_rotated_flipped_and_exact_copies_are_found(phantom: Phantom):
    leaky, pairs = with_planted(phantom)
    report = audit_splits(leaky.table, leaky.images, leaky.splits)
    for how, kind in PLANTS.items():
        source, planted = pairs[how]
        assert ("train", source, "test", planted) in found_pairs(report, kind), how
    assert len(found_pairs(report, "near")) == 3 and len(found_pairs(report, "exact")) == 1
    assert report.counts() == {"exact": 1, "near": 3, "patient": 0, "lesion": 0}
    exact = next(f for f in report.findings if f.kind == "exact")
    assert "sha256" in exact.detail and "pixel_sha1" in exact.detail
    rotated = next(f for f in report.findings if f.row_b == pairs["rot90_brighter_noisy"][1])
    assert rotated.roi_b == "PLANTED_rot90_brighter_noisy" and "rotated 90" in rotated.detail
    assert report.leaky


def test_pure_rotations_and_flips_hash_exactly_alike(phantom: Phantom):
    roi = phantom.images[phantom.splits["test"][0]]
    plain = dihedral_hashes(roi)
    for copy in (np.rot90(roi), np.rot90(roi, 2), np.flipud(roi), np.rot90(roi.T, 2)):
        assert int(popcount(plain ^ dihedral_hashes(np.ascontiguousarray(copy))[0]).min()) == 0


def test_the_clean_grouped_phantom_split_has_no_findings(phantom: Phantom):
    report = audit_splits(phantom.table, phantom.images, phantom.splits)
    assert report.counts() == {"exact": 0, "near": 0, "patient": 0, "lesion": 0}
    assert not report.leaky and report.to_frame().empty
    assert report.sizes == {side: len(rows) for side, rows in phantom.splits.items()}


def test_the_threshold_decides_what_is_near(phantom: Phantom):
    """Noisy copies are found at the default, not all at 0; everything is near at 64 bits."""
    sources = phantom.splits["train"][:8]
    copies = [rotated_brighter_noisy(phantom.images[row], seed=int(row)) for row in sources]
    leaky, rows = add_to_test(phantom, sources, copies, [str(row) for row in sources])
    splits = {"train": sources, "test": np.array(rows)}
    expected = {("train", int(a), "test", b) for a, b in zip(sources, rows, strict=True)}
    assert found_pairs(audit_splits(leaky.table, leaky.images, splits), "near") == expected
    strict = audit_splits(leaky.table, leaky.images, splits, threshold=0)
    assert len(found_pairs(strict, "near")) < len(expected)
    everything = audit_splits(leaky.table, leaky.images, splits, threshold=64,
                              min_correlation=-1)
    assert len(found_pairs(everything, "near")) == len(sources) * len(rows)
    checked = audit_splits(leaky.table, leaky.images, splits, threshold=64)
    assert found_pairs(checked, "near") == expected  # the pixels tell copies from the rest
    distinct = [f.distance for f in everything.findings
                if (f.side_a, f.row_a, f.side_b, f.row_b) not in expected]
    assert min(distinct) > DEFAULT_THRESHOLD


def moved_view(phantom: Phantom) -> tuple[dict[str, np.ndarray], int, int]:
    """Splits with one train ROI moved to test whose other view (same lesion) stays in train."""
    train = phantom.table.set_index("row").loc[phantom.splits["train"]]
    lesions = train.groupby(["patient_id", "side", "abnormality_id"])
    twin_views = next(group for _, group in lesions if set(group["view"]) >= {"CC", "MLO"})
    moved, kept = int(twin_views.index[0]), int(twin_views.index[1])
    splits = {**phantom.splits, "train": phantom.splits["train"][phantom.splits["train"] != moved],
              "test": np.append(phantom.splits["test"], moved)}
    return splits, moved, kept


def test_a_patient_and_a_lesion_on_two_sides_are_found(phantom: Phantom):
    splits, moved, kept = moved_view(phantom)
    report = audit_splits(phantom.table, phantom.images, splits)
    patient = phantom.table.set_index("row").at[moved, "patient_id"]
    assert [f.patient_a for f in report.findings if f.kind == "patient"] == [patient]
    assert ("train", kept, "test", moved) in found_pairs(report, "lesion")
    assert not found_pairs(report, "near") and not found_pairs(report, "exact")


def test_lesions_are_skipped_without_their_columns_and_patients_without_ids(phantom: Phantom):
    splits, _, _ = moved_view(phantom)
    no_lesion = phantom.table.drop(columns=["abnormality_id"])
    report = audit_splits(no_lesion, phantom.images, splits)
    assert report.counts()["lesion"] == 0 and report.counts()["patient"] == 1
    no_ids = phantom.table.assign(patient_id="")
    report = audit_splits(no_ids, phantom.images, splits)
    assert report.counts() == {"exact": 0, "near": 0, "patient": 0, "lesion": 0}


def test_enforce_fails_warns_or_stays_quiet(phantom: Phantom):
    leaky, _ = with_planted(phantom)
    report = audit_splits(leaky.table, leaky.images, leaky.splits)
    with pytest.raises(LeakageFound, match="1 exact, 3 near") as raised:
        enforce(report, "fail")
    assert "PLANTED_fliplr" in str(raised.value) and "PLANTED_0" in str(raised.value)
    with pytest.warns(UserWarning, match="leakage audit: 4 findings"):
        enforce(report, "warn")
    enforce(report, "off")
    enforce(audit_splits(phantom.table, phantom.images, phantom.splits), "fail")
    with pytest.raises(ValueError, match="audit mode"):
        enforce(report, "strict")


def test_hashes_of_a_cache_file_are_remembered(workdir: Path):
    images = open_cache(workdir / "cache").images
    assert roi_hashes(images) is roi_hashes(open_cache(workdir / "cache").images)
    in_memory = np.asarray(images).copy()
    assert roi_hashes(in_memory) is not roi_hashes(in_memory)


def test_report_files_show_the_pairs(phantom: Phantom, tmp_path: Path):
    leaky, _ = with_planted(phantom)
    report = audit_splits(leaky.table, leaky.images, leaky.splits)
    paths = write_report(report, leaky.images, tmp_path / "leaky")
    page = paths["html"].read_text()
    assert page.count("data:image/png;base64,") == 2 * len(report.findings)
    assert "PLANTED_transpose" in page and "Leakage found" in page
    assert len(pd.read_csv(paths["csv"])) == len(report.findings)
    with Image.open(paths["png"]) as sheet:
        assert sheet.height > sheet.width  # one line per pair
    clean = audit_splits(phantom.table, phantom.images, phantom.splits)
    page = write_report(clean, phantom.images, tmp_path / "clean")["html"].read_text()
    assert "No leakage found" in page and "data:image/png" not in page


def shared_layout_own_texture(seed: int, size: int = 64) -> np.ndarray:
    """One coarse layout of bright and dark areas (what the hash sees) for every seed, and a
    fine texture of the seed's own on top (what tells two ROIs apart)."""
    coarse = np.random.default_rng(0).normal(0.0, 1.0, (8, 8))
    layout = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    noise = np.kron(np.random.default_rng(seed).normal(0.0, 1.0, (size // 2, size // 2)),
                    np.ones((2, 2)))
    unit = layout + (noise - cv2.GaussianBlur(noise, (0, 0), 1.5))
    unit = (unit - unit.min()) / np.ptp(unit)
    return np.rint(unit * 65535).astype(np.uint16)


def test_distinct_rois_whose_hashes_agree_are_not_near(phantom: Phantom):
    """Two ROIs of one coarse layout hash alike; their pixels say they are not one image."""
    first, second = shared_layout_own_texture(1), shared_layout_own_texture(2)
    bits = int(popcount(dihedral_hashes(first) ^ dihedral_hashes(second)[0]).min())
    assert bits <= DEFAULT_THRESHOLD  # the hashes alone would call them a copy
    assert pixel_correlation(first, second, 0) < DEFAULT_MIN_CORRELATION
    source = phantom.splits["train"][:1]
    pair, rows = add_to_test(phantom, source, [second], ["blob"])
    pair.images[source[0]] = first
    splits = {"train": source, "test": np.array(rows)}
    assert not audit_splits(pair.table, pair.images, splits).leaky
    hashes_only = audit_splits(pair.table, pair.images, splits, min_correlation=-1)
    assert found_pairs(hashes_only, "near") == {("train", int(source[0]), "test", rows[0])}


def test_pixel_correlation_undoes_the_matched_transform(phantom: Phantom):
    roi = phantom.images[phantom.splits["train"][0]]
    turned = np.ascontiguousarray(np.rot90(roi))  # PIL's ROTATE_90 turns counter-clockwise too
    assert pixel_correlation(roi, turned, 1) > 0.99
    assert pixel_correlation(roi, turned, 0) < 0.99

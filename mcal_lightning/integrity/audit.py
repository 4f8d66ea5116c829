"""Leakage audit: the same image, patient or lesion on two sides of a split.

The patient guard in ``splits`` trusts the index's patient ids. This audit also looks at pixels:

* ``exact``: byte-identical ROIs (sha256 of the array), or rows sharing the index's
  ``source_sha1`` / ``pixel_sha1``, on two sides.
* ``near``: perceptual hashes (``imagehash.phash``) within ``threshold`` bits, whatever the
  rotation or flip: each ROI is hashed under the 8 dihedral transforms, and the closest of the
  8 is compared with the other ROI's plain hash. A pair the hashes propose is then checked on
  its pixels: turned the way the hashes matched, the two must correlate (Pearson, at the hash's
  32 px working size) by at least ``min_correlation``. Catches re-exported, rotated, mirrored,
  slightly noisy or brightened copies; the pixel check drops distinct ROIs whose coarse layout
  happens to hash alike (a bright calcification in the middle of each), which a data set of a
  few thousand ROIs produces by chance.
* ``patient``: a patient id on two sides (rows without one are patients of their own).
* ``lesion``: the same patient, breast side and abnormality id on two sides (CC vs MLO views).

``side`` in a finding is the split side (train/val/test), not the breast side.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Literal

import cv2
import imagehash
import numpy as np
import pandas as pd
from PIL import Image

from mcal_lightning.config import AUDIT_MODES
from mcal_lightning.data.splits import LeakageError, group_ids

Kind = Literal["exact", "near", "patient", "lesion"]
KINDS: tuple[Kind, ...] = ("exact", "near", "patient", "lesion")
# Bits of 64. A rotated or flipped copy is at 0, with a brightness change within 2, with mild
# noise within 4 to 6; distinct ROIs of different patients mostly lie beyond 10, but a few
# thousand ROIs hold pairs closer than 6 (hence the pixel check).
DEFAULT_THRESHOLD = 6
# Pearson r of a proposed pair's pixels; bench/audit_pixel_check.py measures both sides of it.
DEFAULT_MIN_CORRELATION = 0.7
HASH_SIZE = 8  # 64-bit hashes, one uint64 each
HASH_INPUT = HASH_SIZE * 4  # phash's own working size (highfreq_factor 4)
# The 8 dihedral transforms: identity first, then PIL's 7 rotations and flips.
DIHEDRAL = (
    None,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
)
DIHEDRAL_NAMES = ("", "rotated 90", "rotated 180", "rotated 270", "flipped left-right",
                  "flipped top-bottom", "transposed", "anti-transposed")
INDEX_HASH_COLUMNS = ("source_sha1", "pixel_sha1")
LESION_COLUMNS = ("patient_id", "side", "abnormality_id")
COMPARE_BLOCK = 1 << 22  # hash pairs compared at once (uint64: 32 MiB)
SHOWN_FINDINGS = 5  # findings named in a summary
MEMO_SIZE = 4  # cache arrays whose hashes are kept per process


class LeakageFound(LeakageError):
    """The audit found leakage and the mode is "fail"."""


@dataclass(frozen=True)
class Finding:
    """One leak: row_a on side_a and row_b on side_b (cache row numbers)."""

    kind: Kind
    side_a: str
    row_a: int
    side_b: str
    row_b: int
    roi_a: str = ""
    roi_b: str = ""
    patient_a: str = ""
    patient_b: str = ""
    distance: int | None = None  # Hamming bits, for near (0 for exact)
    detail: str = ""


@dataclass
class AuditReport:
    findings: list[Finding] = field(default_factory=list)
    threshold: int = DEFAULT_THRESHOLD
    sizes: dict[str, int] = field(default_factory=dict)  # ROIs per side
    min_correlation: float = DEFAULT_MIN_CORRELATION

    @property
    def leaky(self) -> bool:
        return bool(self.findings)

    def counts(self) -> dict[str, int]:
        """Findings per kind, every kind present."""
        return {kind: sum(f.kind == kind for f in self.findings) for kind in KINDS}

    def to_frame(self) -> pd.DataFrame:
        columns = list(Finding.__dataclass_fields__)
        return pd.DataFrame([asdict(f) for f in self.findings], columns=columns)


@dataclass(frozen=True)
class RoiHashes:
    """Per cache row: 8 dihedral phashes (N, 8) uint64 and the sha256 of the pixels."""

    dihedral: np.ndarray
    sha256: list[str]


_memo: dict[tuple[object, ...], RoiHashes] = {}


def phash_input(roi: np.ndarray) -> Image.Image:
    """The ROI stretched to 8 bits (its min to 0, max to 255) at phash's working size.

    Shrinking in float, before rounding, keeps the hash of a rotated ROI equal to the rotated
    hash of the ROI: PIL's own two-pass shrink rounds in between, which flips a few bits.
    """
    unit = cv2.normalize(np.asarray(roi, dtype=np.float32), None, 0, 255, cv2.NORM_MINMAX)
    small = cv2.resize(unit, (HASH_INPUT, HASH_INPUT), interpolation=cv2.INTER_AREA)
    return Image.fromarray(np.rint(small).astype(np.uint8))


def hash_bits(value: imagehash.ImageHash) -> np.uint64:
    return np.frombuffer(np.packbits(value.hash.ravel()).tobytes(), dtype=">u8")[0]


def dihedral_hashes(roi: np.ndarray) -> np.ndarray:
    """(8,) uint64 phashes of the ROI under each dihedral transform; [0] is the plain one."""
    small = phash_input(roi)
    images = [small if op is None else small.transpose(op) for op in DIHEDRAL]
    return np.array([hash_bits(imagehash.phash(im, HASH_SIZE)) for im in images], np.uint64)


def pixel_correlation(roi_a: np.ndarray, roi_b: np.ndarray, transform: int) -> float:
    """Pearson r of roi_a, turned by DIHEDRAL[transform], and roi_b, at the hash's input size."""
    small_a, small_b = phash_input(roi_a), phash_input(roi_b)
    if DIHEDRAL[transform] is not None:
        small_a = small_a.transpose(DIHEDRAL[transform])
    a = np.asarray(small_a, np.float64).ravel()
    b = np.asarray(small_b, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    scale = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / scale) if scale else 0.0


def memo_key(images: np.ndarray) -> tuple[object, ...] | None:
    """A key for a memory-mapped cache array (file, change time, shape, dtype); else None."""
    filename = getattr(images, "filename", None)
    if filename is None:
        return None
    return (str(filename), os.stat(filename).st_mtime_ns, images.shape, str(images.dtype))


def roi_hashes(images: np.ndarray) -> RoiHashes:
    """Hashes of every ROI of the array; remembered for memory-mapped cache arrays."""
    key = memo_key(images)
    if key is not None and key in _memo:
        return _memo[key]
    dihedral = np.stack([dihedral_hashes(roi) for roi in images]) if len(images) else (
        np.zeros((0, len(DIHEDRAL)), np.uint64))
    hashes = RoiHashes(dihedral, [hashlib.sha256(np.ascontiguousarray(roi)).hexdigest()
                                  for roi in images])
    if key is not None:
        while len(_memo) >= MEMO_SIZE:
            _memo.pop(next(iter(_memo)))
        _memo[key] = hashes
    return hashes


def popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(values)
    return np.unpackbits(values.view(np.uint8), axis=-1).reshape(*values.shape, 64).sum(-1)


def near_pairs(dihedral_a: np.ndarray, plain_b: np.ndarray,
               threshold: int) -> list[tuple[int, int, int, int]]:
    """(i, j, bits, transform): the closest of a[i]'s 8 hashes to plain b[j], within threshold."""
    pairs: list[tuple[int, int, int, int]] = []
    block = max(1, COMPARE_BLOCK // max(1, dihedral_a.shape[1] * len(plain_b)))
    for start in range(0, len(dihedral_a), block):
        counts = popcount(dihedral_a[start : start + block, :, None] ^ plain_b[None, None, :])
        closest = counts.argmin(axis=1)
        bits = np.take_along_axis(counts, closest[:, None, :], axis=1)[:, 0]
        for i, j in zip(*np.nonzero(bits <= threshold), strict=True):
            pairs.append((start + int(i), int(j), int(bits[i, j]), int(closest[i, j])))
    return pairs


def side_of_rows(splits: dict[str, np.ndarray]) -> list[tuple[str, int]]:
    return [(side, int(row)) for side, rows in splits.items() for row in rows]


class FindingMaker:
    """Builds findings with the rows' roi and patient ids looked up in the table."""

    def __init__(self, table: pd.DataFrame) -> None:
        by_row = table.set_index("row", drop=False)
        self.roi = by_row["roi_id"].astype(str) if "roi_id" in by_row else None
        self.patient = by_row["patient_id"].astype(str) if "patient_id" in by_row else None

    def __call__(self, kind: Kind, a: tuple[str, int], b: tuple[str, int],
                 distance: int | None = None, detail: str = "") -> Finding:
        def lookup(ids: pd.Series | None, row: int) -> str:
            return "" if ids is None else str(ids.loc[row])

        return Finding(kind, a[0], a[1], b[0], b[1], lookup(self.roi, a[1]),
                       lookup(self.roi, b[1]), lookup(self.patient, a[1]),
                       lookup(self.patient, b[1]), distance, detail)


def exact_findings(table: pd.DataFrame, hashes: RoiHashes, splits: dict[str, np.ndarray],
                   make: FindingMaker) -> list[Finding]:
    """Rows on two sides with the same pixel sha256, source_sha1 or pixel_sha1."""
    by_row = table.set_index("row", drop=False)
    members = side_of_rows(splits)
    rows = [row for _, row in members]
    keys = {"sha256": [hashes.sha256[row] for row in rows]}
    for column in INDEX_HASH_COLUMNS:
        if column in by_row:
            keys[column] = by_row.loc[rows, column].astype(str).tolist()
    matched: dict[tuple[int, int], list[str]] = {}
    for name, values in keys.items():
        frame = pd.DataFrame({"key": values, "at": range(len(members))})
        frame = frame[(frame["key"].str.strip() != "") & frame["key"].duplicated(keep=False)]
        for _, group in frame.groupby("key"):
            for i, j in combinations(group["at"], 2):
                if members[i][0] != members[j][0]:
                    matched.setdefault((i, j), []).append(name)
    return [make("exact", members[i], members[j], 0, "same " + ", ".join(names))
            for (i, j), names in sorted(matched.items())]


SideRow = tuple[str, int]


def hash_candidates(hashes: RoiHashes, splits: dict[str, np.ndarray],
                    threshold: int) -> Iterator[tuple[SideRow, SideRow, int, int]]:
    """(a, b, bits, transform) of each pair on two sides the hashes propose; a, b: (side, row)."""
    for side_a, side_b in combinations(splits, 2):
        rows_a, rows_b = np.asarray(splits[side_a]), np.asarray(splits[side_b])
        plain_b = hashes.dihedral[rows_b, 0]
        for i, j, bits, transform in near_pairs(hashes.dihedral[rows_a], plain_b, threshold):
            yield (side_a, int(rows_a[i])), (side_b, int(rows_b[j])), bits, transform


def near_findings(images: np.ndarray, hashes: RoiHashes, splits: dict[str, np.ndarray],
                  threshold: int, min_correlation: float,
                  exact: set[frozenset[tuple[str, int]]], make: FindingMaker) -> list[Finding]:
    """Near-duplicate pairs on each two sides whose pixels agree, leaving out exact pairs."""
    findings = []
    for a, b, bits, transform in hash_candidates(hashes, splits, threshold):
        if frozenset((a, b)) in exact:
            continue
        r = pixel_correlation(images[a[1]], images[b[1]], transform)
        if r >= min_correlation:
            detail = f"phash {bits} bits apart, pixels r = {r:.2f}" + (
                f" with the first {DIHEDRAL_NAMES[transform]}" if transform else "")
            findings.append(make("near", a, b, bits, detail))
    return findings


def side_frames(table: pd.DataFrame, splits: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    by_row = table.set_index("row", drop=False)
    return {side: by_row.loc[np.asarray(rows, dtype=np.int64)] for side, rows in splits.items()}


def patient_findings(frames: dict[str, pd.DataFrame], make: FindingMaker) -> list[Finding]:
    """One finding per patient per two sides, at the patient's first row on each."""
    findings = []
    for side_a, side_b in combinations(frames, 2):
        first_a = frames[side_a].groupby(group_ids(frames[side_a]).to_numpy())["row"].min()
        first_b = frames[side_b].groupby(group_ids(frames[side_b]).to_numpy())["row"].min()
        for patient in sorted(set(first_a.index) & set(first_b.index)):
            findings.append(make("patient", (side_a, int(first_a[patient])),
                                 (side_b, int(first_b[patient])), detail=f"patient {patient}"))
    return findings


def lesion_findings(frames: dict[str, pd.DataFrame], make: FindingMaker) -> list[Finding]:
    """Rows with the same patient, breast side and abnormality id on two sides."""
    if not all(column in frame for frame in frames.values() for column in LESION_COLUMNS):
        return []
    keyed = {}
    for name, frame in frames.items():
        columns = frame[list(LESION_COLUMNS)]
        keys = columns.astype(str).apply(lambda c: c.str.strip())
        known = columns.notna().all(axis=1) & (keys != "").all(axis=1)
        key = keys["patient_id"] + " " + keys["side"] + " " + keys["abnormality_id"]
        keyed[name] = pd.DataFrame({"row": frame.loc[known, "row"], "key": key[known]})
    findings = []
    for side_a, side_b in combinations(keyed, 2):
        pairs = keyed[side_a].merge(keyed[side_b], on="key", suffixes=("_a", "_b"))
        for row_a, row_b, key in pairs[["row_a", "row_b", "key"]].itertuples(index=False):
            findings.append(make("lesion", (side_a, int(row_a)), (side_b, int(row_b)),
                                 detail=f"same lesion {key}"))
    return findings


def audit_splits(table: pd.DataFrame, images: np.ndarray, splits: dict[str, np.ndarray], *,
                 threshold: int = DEFAULT_THRESHOLD,
                 min_correlation: float = DEFAULT_MIN_CORRELATION) -> AuditReport:
    """Every leak between the named sides (cache row numbers, as ``CacheDataModule.rows``).

    min_correlation: the pixel check of near pairs; -1 keeps every pair the hashes propose.
    """
    make = FindingMaker(table)
    hashes = roi_hashes(images)
    exact = exact_findings(table, hashes, splits, make)
    exact_pairs = {frozenset(((f.side_a, f.row_a), (f.side_b, f.row_b))) for f in exact}
    near = near_findings(images, hashes, splits, threshold, min_correlation, exact_pairs, make)
    frames = side_frames(table, splits)
    identity = patient_findings(frames, make) if "patient_id" in table else []
    lesions = lesion_findings(frames, make)
    sizes = {side: len(rows) for side, rows in splits.items()}
    return AuditReport(exact + near + identity + lesions, threshold, sizes, min_correlation)


def describe_row(side: str, row: int, roi: str, patient: str) -> str:
    """'train roi A (patient P)', or by row number where the table has no roi id."""
    who = f"roi {roi}" if roi else f"row {row}"
    return f"{side} {who}" + (f" (patient {patient})" if patient else "")


def describe(finding: Finding) -> str:
    """'near: train roi A (patient P) ~ test roi B (patient Q), phash 2 bits apart, ...'."""
    first = describe_row(finding.side_a, finding.row_a, finding.roi_a, finding.patient_a)
    second = describe_row(finding.side_b, finding.row_b, finding.roi_b, finding.patient_b)
    return f"{finding.kind}: {first} ~ {second}, {finding.detail}"


def summary(report: AuditReport, shown: int = SHOWN_FINDINGS) -> str:
    """Counts per kind and the first few findings, one line each."""
    counts = ", ".join(f"{n} {kind}" for kind, n in report.counts().items())
    if not report.leaky:
        return f"leakage audit: no leakage found ({counts})"
    lines = [f"leakage audit: {len(report.findings)} findings ({counts})"]
    lines += ["  " + describe(f) for f in report.findings[:shown]]
    if len(report.findings) > shown:
        lines.append(f"  ... and {len(report.findings) - shown} more")
    return "\n".join(lines)


def enforce(report: AuditReport, mode: str) -> None:
    """fail: raise LeakageFound; warn: a warning; off: nothing. Silent when nothing leaks."""
    if mode not in AUDIT_MODES:
        raise ValueError(f"audit mode must be one of {AUDIT_MODES}, got {mode!r}")
    if mode == "off" or not report.leaky:
        return
    if mode == "fail":
        raise LeakageFound(summary(report))
    warnings.warn(summary(report), stacklevel=2)

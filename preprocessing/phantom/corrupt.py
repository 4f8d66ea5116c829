"""Broken cases, as real downloads have them, so that readers must quarantine and carry on."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.uid import JPEGLSLossless

from preprocessing.phantom.kaggle_writer import write_jpeg

CORRUPT_KINDS: tuple[str, ...] = (
    "truncated",  # the crop file cut in the middle of its pixel data
    "unknown_pathology",  # the CSV row says "UNKNOWN"
    "missing_file",  # the crop file deleted
    "not_dicom",  # the crop file replaced by text, still named .dcm
    "blank_crop",  # the crop holds one value everywhere
    "truncated_compressed",  # the crop re-encoded JPEG-LS Lossless, then cut inside its frame
)
UNKNOWN_PATHOLOGY = "UNKNOWN"
# In the Kaggle edition (8-bit JPEGs) the same kinds break the JPEG crop instead, except the
# last: a JPEG cut short is already "truncated", so there the ROI's series is left out of
# dicom_info.csv (its files stay on disk), which no CSV path can then be resolved through.
KAGGLE_UNLISTED = "truncated_compressed"


def corrupt_kind(k: int) -> str:
    """The kind of the k-th corrupt case (0-based): the kinds in order, cycling."""
    return CORRUPT_KINDS[k % len(CORRUPT_KINDS)]


def _blank(path: Path) -> None:
    ds = pydicom.dcmread(path)
    blank = np.full((int(ds.Rows), int(ds.Columns)), 1000, dtype="<u2")
    ds.PixelData = blank.tobytes()
    ds.save_as(path, enforce_file_format=True)


def _truncate(path: Path) -> None:
    """Drop the second half of the pixel data; the header stays readable."""
    header = pydicom.dcmread(path, stop_before_pixels=True)
    pixel_bytes = int(header.Rows) * int(header.Columns) * 2
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - pixel_bytes // 2])


def _truncate_compressed(path: Path) -> None:
    """Compress the crop (pydicom's JPEG-LS encoder), then drop the second half of its frame."""
    ds = pydicom.dcmread(path)
    ds.compress(JPEGLSLossless, generate_instance_uid=False)  # the same bytes every run
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - len(ds.PixelData) // 2])


def corrupt_case(kind: str, crop_file: Path, row: dict[str, str]) -> None:
    """Break one case in place: its crop file on disk, or its CSV row."""
    if kind == "truncated":
        _truncate(crop_file)
    elif kind == "unknown_pathology":
        row["pathology"] = UNKNOWN_PATHOLOGY
    elif kind == "missing_file":
        crop_file.unlink()
    elif kind == "not_dicom":
        crop_file.write_text("This is not a DICOM file: phantom corrupt case.\n")
    elif kind == "blank_crop":
        _blank(crop_file)
    elif kind == "truncated_compressed":
        _truncate_compressed(crop_file)
    else:
        raise ValueError(f"unknown corrupt kind {kind!r}")


def _cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt_kaggle_case(kind: str, crop_file: Path, row: dict[str, str],
                        info_rows: list[dict[str, str]]) -> None:
    """Break one case of the Kaggle layout in place: its JPEG crop, its CSV row, or its
    dicom_info rows (info_rows, edited in place)."""
    if kind == "truncated":
        _cut_in_half(crop_file)
    elif kind == "blank_crop":
        shape = cv2.imread(str(crop_file), cv2.IMREAD_GRAYSCALE).shape
        write_jpeg(crop_file, np.full(shape, 128, np.uint8))
    elif kind == KAGGLE_UNLISTED:
        series = crop_file.parent.name
        info_rows[:] = [r for r in info_rows if r["SeriesInstanceUID"] != series]
    else:  # unknown pathology, missing file, text in place of the image: as in TCIA's layout
        corrupt_case(kind, crop_file, row)

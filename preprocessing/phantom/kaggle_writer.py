"""Writing phantom images as CBIS-DDSM's Kaggle edition holds them: 8-bit JPEGs under
jpeg/<SeriesInstanceUID>/1-N.jpg, one csv/dicom_info.csv row each."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from preprocessing.phantom.dicom_writer import (
    FAKE_BIRTH_DATE,
    FAKE_PATIENT_NAME_PREFIX,
    DicomHeader,
)

TCIA_LAYOUT, KAGGLE_LAYOUT = "tcia", "kaggle-jpeg"
LAYOUTS = (TCIA_LAYOUT, KAGGLE_LAYOUT)
CSV_DIR, JPEG_DIR, DICOM_INFO_NAME = "csv", "jpeg", "dicom_info.csv"
PATH_PREFIX = "CBIS-DDSM"  # the Kaggle file's paths start CBIS-DDSM/jpeg/...
JPEG_QUALITY = 90
# The columns the index reads, the ones a reader must never copy (fake PHI), and the file_path.
DICOM_INFO_COLUMNS: tuple[str, ...] = (
    "file_path", "image_path", "PatientID", "PatientName", "PatientBirthDate",
    "StudyInstanceUID", "SeriesInstanceUID", "SeriesDescription", "Rows", "Columns",
)


def jpeg_number(series_uid: str, instance: int, series_size: int) -> int:
    """N of 1-N.jpg (instance from 0): in a two-image series (mask and crop) the order is
    flipped in about half the series, as the Kaggle edition's numbering does not say which
    file is the crop. A hash of the UID decides, so no random draw changes."""
    if series_size != 2:
        return 1 + instance
    return 1 + (instance ^ (hashlib.sha256(series_uid.encode()).digest()[0] & 1))


def jpeg_rel(series_uid: str, number: int) -> str:
    return f"{JPEG_DIR}/{series_uid}/1-{number}.jpg"


def to_8bit(values: np.ndarray) -> np.ndarray:
    """Min-max to 0..255, rounded: the grey levels beyond 256 are gone."""
    low, high = float(values.min()), float(values.max())
    if high == low:
        return np.full(values.shape, min(max(round(low), 0), 255), np.uint8)
    scaled = (values.astype(np.float32) - low) * np.float32(255.0 / (high - low))
    return np.rint(scaled).astype(np.uint8)


def write_jpeg(path: Path, pixels: np.ndarray) -> None:
    """Baseline 8-bit JPEG at JPEG_QUALITY."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"JPEG encoding failed for {path}")
    path.write_bytes(encoded.tobytes())


def write_kaggle_image(out_dir: Path, values: np.ndarray, header: DicomHeader,
                       series_size: int) -> tuple[str, dict[str, str]]:
    """Write one image (modality values, bright = dense) as the Kaggle edition's JPEG; return
    its path relative to out_dir and its dicom_info.csv row."""
    number = jpeg_number(header.series_uid, header.instance_number - 1, series_size)
    rel = jpeg_rel(header.series_uid, number)
    write_jpeg(out_dir / rel, to_8bit(values))
    return rel, {
        "file_path": f"{PATH_PREFIX}/dicom/{header.sop_uid}.dcm",
        "image_path": f"{PATH_PREFIX}/{rel}",
        "PatientID": header.patient_id,
        "PatientName": f"{FAKE_PATIENT_NAME_PREFIX}^{header.patient_id.replace('_', '')}",
        "PatientBirthDate": FAKE_BIRTH_DATE,
        "StudyInstanceUID": header.study_uid,
        "SeriesInstanceUID": header.series_uid,
        "SeriesDescription": header.series_description,
        "Rows": str(values.shape[0]),
        "Columns": str(values.shape[1]),
    }

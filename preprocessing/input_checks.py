"""Decoding images for prediction, with a warning for each way they differ from mammogram ROIs.

Training data goes through images.decode_with_spacing, which refuses colour and multi-frame
files; prediction accepts them (first frame, gray by luminance) and says so, so that a caller can
weigh the answer or, with strict, refuse the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, pixel_array

from preprocessing.images import (
    UnreadableImage,
    check_complete_jpeg,
    check_content,
    check_native_length,
    check_usable,
    decode_failure,
    decode_with_spacing,
    dicom_to_array,
    grayscale_values,
    imdecode,
    looks_like_dicom,
    pixel_spacing,
    raster_kind,
    read_dataset,
)

COLOUR = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"}
PALETTE = "palette colour"
SPACING_FACTOR = 2.0  # warn when the spacing differs from the training images' by more
SMALL_FACTOR = 0.5  # warn when the short side is under this share of the training ROIs'


@dataclass(frozen=True)
class Decoded:
    image: np.ndarray  # 2-D float32
    spacing: tuple[float, float] | None  # (row, column) mm; None: not known
    warnings: tuple[str, ...]


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB image (OpenCV's RGB2GRAY weights), float32."""
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2GRAY)


def header_warnings(ds: pydicom.Dataset) -> list[str]:
    modality = str(ds.get("Modality", "") or "").strip()
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    notes = [] if modality in ("", "MG") else [f"Modality {modality}, not MG (mammography)"]
    if frames > 1:
        notes.append(f"multi-frame ({frames} frames): only the first was read")
    return notes


def dicom_pixels(ds: pydicom.Dataset) -> tuple[np.ndarray, str | None]:
    """The first frame as gray float32, and the colour note when it had to be converted."""
    check_native_length(ds)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric.startswith("MONOCHROME") and int(ds.get("NumberOfFrames", 1) or 1) == 1:
        return dicom_to_array(ds), None
    first = pixel_array(ds, index=0)  # YBR arrives as RGB (pydicom converts)
    if photometric.startswith("MONOCHROME"):
        return grayscale_values(first, ds), None
    if photometric == "PALETTE COLOR":
        return luminance(apply_color_lut(first, ds)), f"{PALETTE} converted to gray by luminance"
    if photometric in COLOUR:
        return luminance(first), f"colour ({photometric}) converted to gray by luminance"
    raise UnreadableImage(f"photometric interpretation {photometric!r} is not supported")


def decode_dicom(data: bytes) -> Decoded:
    try:
        ds = read_dataset(data)
        notes = header_warnings(ds)
        image, colour = dicom_pixels(ds)
        spacing = pixel_spacing(ds)
    except UnreadableImage:
        raise
    except Exception as exc:  # pydicom raises many types on broken files
        raise decode_failure(exc) from exc
    return Decoded(check_usable(image), spacing, tuple(notes + ([colour] if colour else [])))


def decode_raster(data: bytes, name: str) -> Decoded:
    if raster_kind(data, "") == "JPEG":
        check_complete_jpeg(data)  # colour files skip decode_with_spacing, which checks it
    raw = imdecode(data)
    if raw is None or raw.ndim != 3:
        image, spacing = decode_with_spacing(data, name)  # gray, or the reason it is unreadable
        return Decoded(image, spacing, ())
    bgr = raw[..., :3]
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    same = bool((bgr == bgr[..., :1]).all())
    notes = () if same else ("colour (RGB) converted to gray by luminance",)
    return Decoded(check_usable(gray), None, notes)


def decode_for_prediction(data: bytes, name: str = "") -> Decoded:
    """Decode file content as prediction does: colour to gray, first frame, with warnings."""
    check_content(data, name)
    if looks_like_dicom(data):
        return decode_dicom(data)
    return decode_raster(data, name)


def reference_warnings(decoded: Decoded, reference: dict[str, Any]) -> list[str]:
    """Spacing and size against the training images' (source_stats of the cache)."""
    notes = []
    ref_spacing = reference.get("pixel_spacing_mm")
    if decoded.spacing is not None and ref_spacing:
        spacing = float(np.mean(decoded.spacing))
        ratio = spacing / float(ref_spacing)
        if max(ratio, 1 / ratio) > SPACING_FACTOR:
            notes.append(f"pixel spacing {spacing:.3g} mm, the training images' "
                         f"{float(ref_spacing):.3g} mm")
    ref_side = reference.get("short_side_px_p05")
    side = min(decoded.image.shape)
    if ref_side and side < SMALL_FACTOR * float(ref_side):
        notes.append(f"image {decoded.image.shape[0]}x{decoded.image.shape[1]} px, much smaller "
                     f"than the training ROIs (5% of them under {int(ref_side)} px a side)")
    return notes

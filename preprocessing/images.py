"""Decoding ROI files (DICOM, PNG, JPEG, PGM) to float32 at full bit depth."""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLSNearLossless

RASTER_SUFFIXES = {".png", ".jpg", ".jpeg", ".pgm", ".tif", ".tiff"}
DICOM_SUFFIXES = {".dcm", ".dicom"}
IMAGE_SUFFIXES = RASTER_SUFFIXES | DICOM_SUFFIXES
# pydicom's words when a file ends inside an undefined-length element (encapsulated pixel data)
_CUT_SHORT = "End of file reached before delimiter"
# the optional extra whose decoder pydicom names when JPEG Lossless / 12-bit JPEG cannot decode
_LIBJPEG_HINT = "pip install 'mcal[libjpeg]' adds JPEG Lossless and 12-bit JPEG (GPL-3.0)"
# transfer syntaxes that are lossy by definition (JPEG 2000 says so in LossyImageCompression)
LOSSY_SYNTAXES = {JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLSNearLossless}
RASTER_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG": "PNG", b"II*\x00": "TIFF",
                b"MM\x00*": "TIFF", b"P2": "PGM", b"P5": "PGM"}
JPEG_SCAN, JPEG_END = b"\xff\xda", b"\xff\xd9"
# The most pixel data a DICOM header may ask for before decoding (rows x columns x frames x
# bytes per pixel): a full-field mammogram is about 4,000 x 5,000 x 2 bytes.
MAX_PIXEL_BYTES_ENV = "MCAL_MAX_PIXEL_BYTES"
DEFAULT_MAX_PIXEL_BYTES = 8_000 * 8_000 * 2


@dataclass(frozen=True)
class SourceImage:
    """A decoded file: its pixels, its (row, column) spacing in mm, and how it was stored."""

    image: np.ndarray  # 2-D float32
    spacing: tuple[float, float] | None  # None: not known
    encoding: str  # e.g. "12-bit lossless DICOM", "8-bit lossy JPEG"


class UnreadableImage(ValueError):
    """A file that cannot become a usable image; the message is the quarantine reason."""


def looks_like_dicom(data: bytes) -> bool:
    return len(data) >= 132 and data[128:132] == b"DICM"


def read_dataset(data: bytes) -> pydicom.Dataset:
    """Parse DICOM bytes; a file cut short inside its pixel data raises UnreadableImage."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = pydicom.dcmread(io.BytesIO(data))
    if any(_CUT_SHORT in str(w.message) for w in caught):
        raise UnreadableImage("truncated pixel data (the file ends inside its encapsulated frames)")
    if "PixelData" not in ds:
        raise UnreadableImage("no pixel data")
    check_declared_size(ds)
    return ds


def max_pixel_bytes() -> int:
    """The ceiling on decoded pixel data: MCAL_MAX_PIXEL_BYTES, else the default."""
    value = os.environ.get(MAX_PIXEL_BYTES_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_PIXEL_BYTES
    try:
        ceiling = int(value)
    except ValueError:
        ceiling = 0
    if ceiling <= 0:
        raise ValueError(f"{MAX_PIXEL_BYTES_ENV} must be a positive whole number of bytes, "
                         f"got {value!r}")
    return ceiling


def declared_pixel_bytes(ds: pydicom.Dataset) -> int:
    """Rows x Columns x frames x samples x bytes per sample, as the header says."""
    frames = max(int(ds.get("NumberOfFrames", 1) or 1), 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    return int(ds.Rows) * int(ds.Columns) * frames * samples * math.ceil(ds.BitsAllocated / 8)


def check_declared_size(ds: pydicom.Dataset) -> None:
    """A header asking for more pixel data than the ceiling raises UnreadableImage before any
    decoder allocates it: whatever the transfer syntax, a decoder sizes its output from the
    header, so a few KB of RLE or JPEG can ask for gigabytes."""
    needed, ceiling = declared_pixel_bytes(ds), max_pixel_bytes()
    if needed > ceiling:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        shape = f"{ds.Rows} x {ds.Columns} px" + (f" x {frames} frames" if frames > 1 else "")
        raise UnreadableImage(
            f"header asks for {shape} ({byte_size(needed)} of pixel data), over the ceiling "
            f"of {byte_size(ceiling)} (set {MAX_PIXEL_BYTES_ENV}, in bytes, to raise it)")


def byte_size(n: int) -> str:
    """n bytes in GiB, MiB or bytes, whichever reads best."""
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    if n >= 2**20:
        return f"{n / 2**20:.0f} MiB"
    return f"{n:,} bytes"


def check_native_length(ds: pydicom.Dataset) -> None:
    """Uncompressed pixel data shorter than its header says raises UnreadableImage."""
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        return
    expected = get_expected_length(ds, unit="bytes")
    if len(ds.PixelData) < expected:
        raise UnreadableImage(f"truncated pixel data ({len(ds.PixelData)} of {expected} bytes)")


def decode_failure(exc: Exception) -> UnreadableImage:
    """A pydicom error as a one-line reason, with the extra to install if a decoder is missing."""
    reason = re.sub(r"\s+", " ", f"unreadable DICOM: {type(exc).__name__}: {exc}").strip()
    if "pylibjpeg-libjpeg" in reason and "missing dependencies" in reason:
        reason += f" ({_LIBJPEG_HINT})"
    return UnreadableImage(reason)


def dicom_to_array(ds: pydicom.Dataset) -> np.ndarray:
    """Modality LUT, then VOI LUT, then MONOCHROME1 inverted so bright means dense."""
    check_native_length(ds)
    return grayscale_values(ds.pixel_array, ds)


def grayscale_values(pixels: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """Stored pixels (one frame or all) through the modality and VOI LUTs, MONOCHROME1 inverted."""
    values = apply_voi_lut(apply_modality_lut(pixels, ds), ds).astype(np.float32)
    if ds.get("PhotometricInterpretation", "MONOCHROME2") == "MONOCHROME1":
        values = values.max() + values.min() - values
    return values


def pixel_spacing(ds: pydicom.Dataset) -> tuple[float, float] | None:
    """(row, column) spacing in mm: PixelSpacing, else ImagerPixelSpacing, else None.

    A tag that is malformed, not two values or not positive counts as absent.
    """
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        try:
            row, col = (float(v) for v in value)
        except (TypeError, ValueError):
            continue
        if row > 0 and col > 0 and np.isfinite([row, col]).all():
            return row, col
    return None


def dicom_encoding(ds: pydicom.Dataset) -> str:
    """Bits stored, lossy or not (by transfer syntax or LossyImageCompression), "DICOM"."""
    lossy = (ds.file_meta.TransferSyntaxUID in LOSSY_SYNTAXES
             or str(ds.get("LossyImageCompression", "")).strip() == "01")
    bits = ds.get("BitsStored") or ds.get("BitsAllocated") or "?"
    return f"{bits}-bit {'lossy' if lossy else 'lossless'} DICOM"


def raster_kind(data: bytes, suffix: str) -> str:
    """JPEG, PNG, TIFF or PGM by the file's first bytes, else its suffix."""
    found = (kind for magic, kind in RASTER_MAGIC.items() if data.startswith(magic))
    return next(found, suffix.lstrip(".").upper() or "raster")


def check_complete_jpeg(data: bytes) -> None:
    """A JPEG cut short raises UnreadableImage with that reason (some OpenCV builds decode such
    a file, the missing part grey, with only a warning; others refuse it without a reason)."""
    last_scan = data.rfind(JPEG_SCAN)
    if last_scan < 0 or data.find(JPEG_END, last_scan) < 0:
        raise UnreadableImage("truncated JPEG (no end-of-image marker after its last scan)")


def decode_dicom_source(data: bytes) -> SourceImage:
    """Bytes that start like a DICOM (the caller checked the preamble)."""
    try:
        ds = read_dataset(data)
        return SourceImage(check_usable(dicom_to_array(ds)), pixel_spacing(ds),
                           dicom_encoding(ds))
    except UnreadableImage:
        raise
    except Exception as exc:  # pydicom raises many types on broken files
        raise decode_failure(exc) from exc


def imdecode(data: bytes) -> np.ndarray | None:
    """OpenCV's decoding of raster bytes, None where it cannot (it raises on some buffers,
    an empty one among them, instead of returning None)."""
    if not data:
        return None
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None


def decode_raster_source(data: bytes, suffix: str) -> SourceImage:
    kind = raster_kind(data, suffix)
    if kind == "JPEG":
        check_complete_jpeg(data)
    raw = imdecode(data)
    if raw is None:
        what = f"{suffix} file" if suffix else "file"
        raise UnreadableImage(f"not a decodable {what}: expected DICOM, PNG, JPEG or PGM")
    encoding = f"{raw.dtype.itemsize * 8}-bit {'lossy' if kind == 'JPEG' else 'lossless'} {kind}"
    if raw.ndim == 3:
        raw = cv2.cvtColor(raw[..., :3], cv2.COLOR_BGR2GRAY)
    return SourceImage(check_usable(raw.astype(np.float32)), None, encoding)


def check_content(data: bytes, name: str) -> None:
    """What the bytes and the file name alone refuse: an empty file, and a DICOM name
    (.dcm, .dicom) on content without the DICM preamble; raises UnreadableImage."""
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    if Path(name).suffix.lower() in DICOM_SUFFIXES and not looks_like_dicom(data):
        raise UnreadableImage("not a DICOM file (no DICM preamble)")


def decode_source(data: bytes, name: str) -> SourceImage:
    """Decode file content (DICOM or raster, by content and suffix); raise UnreadableImage
    with a reason."""
    check_content(data, name)
    if looks_like_dicom(data):
        return decode_dicom_source(data)
    return decode_raster_source(data, Path(name).suffix.lower())


def decode_bytes(data: bytes, name: str) -> np.ndarray:
    """Decode file content to a 2-D float32 array; raise UnreadableImage with a reason."""
    return decode_source(data, name).image


def decode_with_spacing(data: bytes, name: str) -> tuple[np.ndarray, tuple[float, float] | None]:
    """decode_bytes, plus the DICOM's (row, column) pixel spacing in mm (None: not known)."""
    source = decode_source(data, name)
    return source.image, source.spacing


def check_usable(image: np.ndarray) -> np.ndarray:
    if image.ndim != 2 or min(image.shape) < 2:
        raise UnreadableImage(f"not a 2-D image (shape {image.shape})")
    if not np.isfinite(image).all():
        raise UnreadableImage("non-finite pixel values")
    if float(image.max()) == float(image.min()):
        raise UnreadableImage("blank image (all pixels equal)")
    return image


def read_image(path: Path) -> np.ndarray:
    """Read and decode one file; missing files raise UnreadableImage too."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableImage(f"cannot read file: {exc.strerror or exc}") from exc
    return decode_bytes(data, str(path))


def dicom_shape(path: Path) -> tuple[int, int]:
    """(rows, columns) from the header alone, without decoding pixels."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        return int(ds.Rows), int(ds.Columns)
    except FileNotFoundError as exc:
        raise UnreadableImage("missing file") from exc
    except Exception as exc:
        raise UnreadableImage(f"unreadable DICOM header: {type(exc).__name__}") from exc


def normalise(image: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] float32 (a blank image was refused earlier)."""
    low, high = float(image.min()), float(image.max())
    return ((image - low) / (high - low)).astype(np.float32)

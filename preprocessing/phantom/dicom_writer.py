"""Writing phantom MG images as DICOM files: explicit VR little endian, or RLE Lossless (masks)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    DigitalMammographyXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

from preprocessing.phantom.constants import MAX_PIXEL_VALUE, P_MONOCHROME1
from preprocessing.phantom.rle import encode_frame

# Plainly fake identifying values, present so de-identification can be tested.
FAKE_PATIENT_NAME_PREFIX = "PHANTOM^SYNTHETIC"
FAKE_BIRTH_DATE = "19000101"
FAKE_INSTITUTION = "PHANTOM SYNTHETIC HOSPITAL"
FAKE_REFERRING_PHYSICIAN = "PHANTOM^REFERRER"
_NONZERO_INTERCEPTS = (-32, -16, 16, 32)


def deterministic_uid(*parts: str) -> str:
    """A valid UID that depends only on parts (so runs are byte-identical)."""
    return str(generate_uid(entropy_srcs=list(parts)))


@dataclass(frozen=True)
class Presentation:
    """How pixel values are stored: polarity, modality LUT (rescale) and VOI window."""

    monochrome1: bool = False
    intercept: int | None = None  # with RescaleSlope 1; None: no modality LUT tags at all
    window: tuple[float, float] | None = None  # centre, width


def draw_presentation(rng: np.random.Generator) -> Presentation:
    """About a quarter MONOCHROME1; half carry a rescale, half a window."""
    monochrome1 = bool(rng.random() < P_MONOCHROME1)
    pick = rng.random()
    if pick < 0.5:
        intercept = None
    elif pick < 0.8:
        intercept = 0
    else:
        intercept = _NONZERO_INTERCEPTS[int(rng.integers(len(_NONZERO_INTERCEPTS)))]
    window = None
    if rng.random() < 0.5:
        centre, width = round(rng.uniform(1900.0, 2200.0)), round(rng.uniform(3800.0, 4096.0))
        window = (float(centre), float(width))
    return Presentation(monochrome1, intercept, window)


def stored_values(values: np.ndarray, presentation: Presentation) -> np.ndarray:
    """Stored pixels whose modality value (stored + intercept) is values (integers 0..4095),
    or its inverse 4095 - values for MONOCHROME1."""
    if values.dtype == np.uint16 and not presentation.monochrome1 and not presentation.intercept:
        return values  # already uint16 within 0..4095: nothing to change, nothing to copy
    modality = values.astype(np.int32)
    if presentation.monochrome1:
        modality = MAX_PIXEL_VALUE - modality
    if presentation.intercept:
        modality -= presentation.intercept
    return np.clip(modality, 0, MAX_PIXEL_VALUE).astype(np.uint16)


@dataclass(frozen=True)
class DicomHeader:
    patient_id: str
    side: str
    view: str
    study_uid: str
    series_uid: str
    sop_uid: str
    series_description: str  # as in CBIS-DDSM: full mammogram / ROI mask / cropped images
    instance_number: int


def _file_meta(sop_uid: str, transfer_syntax: UID) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalMammographyXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = transfer_syntax
    return meta


def _identify(ds: FileDataset, header: DicomHeader) -> None:
    ds.SOPClassUID = DigitalMammographyXRayImageStorageForPresentation
    ds.SOPInstanceUID = header.sop_uid
    ds.StudyInstanceUID = header.study_uid
    ds.SeriesInstanceUID = header.series_uid
    ds.Modality = "MG"
    ds.PatientID = header.patient_id
    ds.PatientName = f"{FAKE_PATIENT_NAME_PREFIX}^{header.patient_id.replace('_', '')}"
    ds.PatientBirthDate = FAKE_BIRTH_DATE
    ds.PatientSex = "F"
    ds.InstitutionName = FAKE_INSTITUTION
    ds.ReferringPhysicianName = FAKE_REFERRING_PHYSICIAN
    ds.BodyPartExamined = "BREAST"
    ds.ImageLaterality = header.side[0]
    ds.ViewPosition = header.view
    ds.SeriesDescription = header.series_description
    ds.SeriesNumber = 1
    ds.InstanceNumber = header.instance_number


def _set_pixels(ds: FileDataset, stored: np.ndarray, presentation: Presentation,
                pixel_spacing_mm: float | None, rle: bool) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if presentation.monochrome1 else "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in stored.shape)
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if presentation.intercept is not None:
        ds.RescaleSlope, ds.RescaleIntercept = 1, presentation.intercept
        ds.RescaleType = "US"
    if presentation.window is not None:
        ds.WindowCenter, ds.WindowWidth = presentation.window
    if pixel_spacing_mm is not None:  # row spacing, column spacing (square pixels)
        ds.PixelSpacing = [f"{pixel_spacing_mm:.10g}"] * 2
    pixels = np.ascontiguousarray(stored, dtype="<u2")
    if rle:
        ds.add_new(0x7FE00010, "OB", encapsulate([encode_frame(pixels)]))
        ds["PixelData"].is_undefined_length = True
    else:
        ds.add_new(0x7FE00010, "OW", pixels.tobytes())


def write_mg_dicom(path: Path, stored: np.ndarray, header: DicomHeader,
                   presentation: Presentation, pixel_spacing_mm: float | None = None,
                   rle: bool = False) -> None:
    """Write one MG file (stored: uint16 within 0..4095), uncompressed or RLE Lossless.

    pixel_spacing_mm, when given, becomes PixelSpacing (square pixels, mm in the film plane).
    """
    syntax = RLELossless if rle else ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=_file_meta(header.sop_uid, syntax),
                     preamble=b"\0" * 128)
    _identify(ds, header)
    _set_pixels(ds, stored, presentation, pixel_spacing_mm, rle)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)

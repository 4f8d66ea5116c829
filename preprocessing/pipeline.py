"""One ROI's way from decoded pixels to a cache entry: clean, filter, resize, quantise.

Two resize modes. The paper's (spacing_mm None): stretch (or pad, then scale) every ROI to
size x size, whatever its physical size, so a 1,000 px crop shrinks ten times more than a
100 px one. Fixed spacing (spacing_mm set): resample each crop to spacing_mm mm per pixel
from its DICOM PixelSpacing (ImagerPixelSpacing when PixelSpacing is absent), keeping its
aspect, then centre-crop or zero-pad it to size x size, so every ROI has one physical scale.
A file with neither tag (PNG, JPEG and many DICOMs) uses spacing_fallback_mm when given and
is otherwise refused (MissingSpacing, quarantined with the reason). Downsampling uses
cv2.INTER_AREA (the mean of the covered source pixels: antialiased, no aliasing of fine
calcifications into noise), upsampling cv2.INTER_LINEAR.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from preprocessing.artifacts import remove_artifacts
from preprocessing.filters import FILTERS, apply_filter
from preprocessing.images import UnreadableImage, normalise

PIPELINE_VERSION = 1  # bump when processing changes, so old caches are not reused
ASPECTS = ("stretch", "pad")
ENHANCEMENTS = ("none", "tophat")
DTYPES = {"uint8": np.uint8, "uint16": np.uint16}


class MissingSpacing(UnreadableImage):
    """Fixed-spacing mode met a file without PixelSpacing and no fallback spacing was given."""


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that decides a cache entry's pixels; its hash keys the cache.

    spacing_mm None is the paper's mode (aspect: stretch or pad to size). spacing_mm set is
    fixed spacing: aspect does not apply and must stay "stretch" (the default);
    spacing_fallback_mm is the spacing assumed for files without one (None: refuse them).
    """

    size: int = 224
    filter: str = "adaptive_median"
    aspect: str = "stretch"
    artifacts: bool = True
    dtype: str = "uint16"
    version: int = PIPELINE_VERSION
    spacing_mm: float | None = None
    spacing_fallback_mm: float | None = None
    enhance: str = "none"
    tophat_mm: float = 1.0

    def __post_init__(self) -> None:
        if self.filter not in FILTERS:
            raise ValueError(f"unknown filter {self.filter!r}; choose from {sorted(FILTERS)}")
        if self.aspect not in ASPECTS:
            raise ValueError(f"unknown aspect {self.aspect!r}; choose from {ASPECTS}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; choose from {sorted(DTYPES)}")
        if self.enhance not in ENHANCEMENTS:
            raise ValueError(f"unknown enhance {self.enhance!r}; choose from {ENHANCEMENTS}")
        if not self.tophat_mm > 0:
            raise ValueError(f"tophat_mm must be a positive number of mm, got {self.tophat_mm!r}")
        if self.size < 8:
            raise ValueError(f"size must be at least 8 px, got {self.size}")
        for name in ("spacing_mm", "spacing_fallback_mm"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a positive number of mm, got {value!r}")
        if self.spacing_mm is None and self.spacing_fallback_mm is not None:
            raise ValueError("spacing_fallback_mm applies only with spacing_mm")
        if self.spacing_mm is not None and self.aspect != "stretch":
            raise ValueError("aspect does not apply with spacing_mm (fixed spacing keeps the "
                             "aspect and centre-crops or pads to size)")

    @property
    def resize_mode(self) -> str:
        if self.spacing_mm is None:
            return self.aspect
        return f"spacing {self.spacing_mm:g} mm/px"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def key(self) -> str:
        fields = self.as_dict()
        for name in ("spacing_mm", "spacing_fallback_mm"):  # the paper's mode keeps its old keys
            if fields[name] is None:
                del fields[name]
        if fields["enhance"] == "none":
            del fields["enhance"], fields["tophat_mm"]
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def folder_name(self) -> str:
        mode = self.aspect if self.spacing_mm is None else f"{self.spacing_mm:g}mm"
        enhance = "" if self.enhance == "none" else f"-tophat{self.tophat_mm:g}mm"
        return f"{self.size}px-{self.filter}-{mode}{enhance}-{self.key()[:8]}"


def pad_to_square(image: np.ndarray) -> np.ndarray:
    rows, cols = image.shape
    side = max(rows, cols)
    top, left = (side - rows) // 2, (side - cols) // 2
    return cv2.copyMakeBorder(
        image, top, side - rows - top, left, side - cols - left, cv2.BORDER_CONSTANT, value=0
    )


def resize_square(image: np.ndarray, size: int, aspect: str) -> np.ndarray:
    """Stretch (as the paper does) or pad to a square, then resize to size x size."""
    if aspect == "pad":
        image = pad_to_square(image)
    shrinking = image.shape[0] * image.shape[1] >= size * size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def resample_to_spacing(image: np.ndarray, source_mm: tuple[float, float],
                        target_mm: float) -> np.ndarray:
    """Resample to target_mm per pixel from (row, column) spacing source_mm, aspect kept.

    The content's size in mm is kept: n px at s mm become round(n * s / target_mm) px.
    """
    rows = max(1, round(image.shape[0] * source_mm[0] / target_mm))
    cols = max(1, round(image.shape[1] * source_mm[1] / target_mm))
    if (rows, cols) == image.shape:
        return image
    shrinking = rows <= image.shape[0] and cols <= image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (cols, rows), interpolation=interpolation)


def centre_crop_or_pad(image: np.ndarray, size: int) -> np.ndarray:
    """size x size around the centre: each axis cropped if longer, zero-padded if shorter."""
    out = np.zeros((size, size), image.dtype)
    src, dst = [], []
    for n in image.shape:
        if n >= size:
            start = (n - size) // 2
            src.append(slice(start, start + size))
            dst.append(slice(0, size))
        else:
            start = (size - n) // 2
            src.append(slice(0, n))
            dst.append(slice(start, start + n))
    out[dst[0], dst[1]] = image[src[0], src[1]]
    return out


def source_spacing(config: PreprocessConfig,
                   pixel_spacing_mm: tuple[float, float] | None) -> tuple[float, float]:
    """The file's (row, column) spacing, or the fallback; MissingSpacing when neither."""
    if pixel_spacing_mm is not None:
        return pixel_spacing_mm
    if config.spacing_fallback_mm is None:
        raise MissingSpacing(
            "no PixelSpacing in the file, needed by --spacing-mm (pass --assume-spacing-mm MM "
            "to assume one, e.g. 0.05 for 50 um scans)")
    return config.spacing_fallback_mm, config.spacing_fallback_mm


def resize_roi(image: np.ndarray, config: PreprocessConfig,
               pixel_spacing_mm: tuple[float, float] | None = None) -> np.ndarray:
    """The config's resize mode: the paper's stretch/pad, or fixed spacing then crop/pad."""
    if config.spacing_mm is None:
        return resize_square(image, config.size, config.aspect)
    spacing = source_spacing(config, pixel_spacing_mm)
    return centre_crop_or_pad(resample_to_spacing(image, spacing, config.spacing_mm),
                              config.size)


def white_tophat(image: np.ndarray, radius_mm: float,
                 pixel_spacing_mm: tuple[float, float] | None) -> np.ndarray:
    """What is brighter than its surroundings and narrower than a disk of radius_mm.

    The disk is sized from the file's spacing (2% of the short side when none is known).
    """
    if pixel_spacing_mm is not None:
        radius = radius_mm / min(pixel_spacing_mm)
    else:
        radius = 0.02 * min(image.shape)
    side = 2 * max(1, round(radius)) + 1
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    return cv2.morphologyEx(image.astype(np.float32), cv2.MORPH_TOPHAT, disk)


def quantise(image: np.ndarray, dtype: str) -> np.ndarray:
    top = np.iinfo(DTYPES[dtype]).max
    return np.clip(np.rint(image * top), 0, top).astype(DTYPES[dtype])


def process_roi(image: np.ndarray, config: PreprocessConfig,
                pixel_spacing_mm: tuple[float, float] | None = None) -> np.ndarray:
    """Decoded float image -> size x size array of config.dtype.

    pixel_spacing_mm (row, column) is used by fixed-spacing mode only; None: not known.
    """
    if config.spacing_mm is not None:
        pixel_spacing_mm = source_spacing(config, pixel_spacing_mm)  # refuse before filtering
    unit = normalise(image)
    if config.artifacts:
        unit = remove_artifacts(unit)
    unit = apply_filter(config.filter, unit)
    if config.enhance == "tophat":
        unit = white_tophat(unit, config.tophat_mm, pixel_spacing_mm)
    return quantise(resize_roi(unit, config, pixel_spacing_mm), config.dtype)

"""One ROI's way from decoded pixels to a cache entry: clean, filter, resize, quantise."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from preprocessing.artifacts import remove_artifacts
from preprocessing.filters import FILTERS, apply_filter
from preprocessing.images import normalise

PIPELINE_VERSION = 1  # bump when processing changes, so old caches are not reused
ASPECTS = ("stretch", "pad")
DTYPES = {"uint8": np.uint8, "uint16": np.uint16}


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that decides a cache entry's pixels; its hash keys the cache."""

    size: int = 224
    filter: str = "adaptive_median"
    aspect: str = "stretch"
    artifacts: bool = True
    dtype: str = "uint16"
    version: int = PIPELINE_VERSION

    def __post_init__(self) -> None:
        if self.filter not in FILTERS:
            raise ValueError(f"unknown filter {self.filter!r}; choose from {sorted(FILTERS)}")
        if self.aspect not in ASPECTS:
            raise ValueError(f"unknown aspect {self.aspect!r}; choose from {ASPECTS}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; choose from {sorted(DTYPES)}")
        if self.size < 8:
            raise ValueError(f"size must be at least 8 px, got {self.size}")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def key(self) -> str:
        blob = json.dumps(self.as_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def folder_name(self) -> str:
        return f"{self.size}px-{self.filter}-{self.aspect}-{self.key()[:8]}"


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


def quantise(image: np.ndarray, dtype: str) -> np.ndarray:
    top = np.iinfo(DTYPES[dtype]).max
    return np.clip(np.rint(image * top), 0, top).astype(DTYPES[dtype])


def process_roi(image: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Decoded float image -> size x size array of config.dtype."""
    unit = normalise(image)
    if config.artifacts:
        unit = remove_artifacts(unit)
    unit = apply_filter(config.filter, unit)
    return quantise(resize_square(unit, config.size, config.aspect), config.dtype)

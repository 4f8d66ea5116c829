"""Slow, obviously-correct per-pixel adaptive median: the oracle for tests and benchmarks.

Do not use this in the pipeline (it is a Python loop over every pixel). It follows the
published algorithm line by line and uses the same border rule as ``preprocessing.filters``
(BORDER_REPLICATE: edge pixels repeated), so its output must equal
``preprocessing.filters.adaptive_median`` exactly.
"""

from __future__ import annotations

import numpy as np


def _window(padded: np.ndarray, row: int, col: int, size: int, pad: int) -> np.ndarray:
    """The size x size window centred on image pixel (row, col), flattened and sorted."""
    radius = size // 2
    top, left = row + pad - radius, col + pad - radius
    return np.sort(padded[top : top + size, left : left + size], axis=None)


def _adaptive_median_pixel(
    padded: np.ndarray, row: int, col: int, max_size: int, pad: int
) -> np.generic:
    """The adaptive median output for one pixel."""
    centre = padded[row + pad, col + pad]
    size = 3
    while True:
        values = _window(padded, row, col, size, pad)
        zmin, zmed, zmax = values[0], values[values.size // 2], values[-1]
        if zmin < zmed < zmax:  # stage A passed: the median is not an impulse
            return centre if zmin < centre < zmax else zmed  # stage B
        size += 2
        if size > max_size:
            return zmed


def adaptive_median_reference(image: np.ndarray, max_size: int = 7) -> np.ndarray:
    """Per-pixel adaptive median filter (Gonzalez & Woods; Hwang & Haddad 1995)."""
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    if max_size < 3 or max_size % 2 == 0:
        raise ValueError(f"max_size must be odd and >= 3, got {max_size}")
    pad = max_size // 2
    padded = np.pad(image, pad, mode="edge")
    output = np.empty_like(image)
    for row in range(image.shape[0]):
        for col in range(image.shape[1]):
            output[row, col] = _adaptive_median_pixel(padded, row, col, max_size, pad)
    return output

"""One view's image as a function of the window asked for: a crop is rendered alone.

Tissue, calcifications, the label, the scanner edge and the noise are each computed from the
pixel's own coordinates, so a window's pixels are bit for bit the full-field image's pixels
there; the full-field image is itself rendered window by window, one noise tile each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from preprocessing.phantom.anatomy import Overlay, Tissue
from preprocessing.phantom.constants import MAX_PIXEL_VALUE
from preprocessing.phantom.noise import NOISE_TILE, NoiseField


@dataclass(frozen=True, eq=False)
class AddedSignal:
    """One lesion's calcification signal as pasted: contrast-scaled patch and its corner."""

    signal: np.ndarray
    top: int
    left: int


def paste(image: np.ndarray, patch: np.ndarray, top: int, left: int) -> None:
    """image[top:, left:] += patch, clipped to the image."""
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + patch.shape[0], image.shape[0]), min(left + patch.shape[1], image.shape[1])
    if r1 > r0 and c1 > c0:
        image[r0:r1, c0:c1] += patch[r0 - top:r1 - top, c0 - left:c1 - left]


def quantise(noisy: np.ndarray) -> np.ndarray:
    """Round to integers 0..4095 as uint16 (in place on noisy, which is used up)."""
    np.rint(noisy, out=noisy)
    np.clip(noisy, 0, MAX_PIXEL_VALUE, out=noisy)
    return noisy.astype(np.uint16)


@dataclass(frozen=True, eq=False)
class ViewScene:
    """Everything drawn for one view; pixels are computed only when asked for."""

    tissue: Tissue
    calcs: tuple[AddedSignal, ...]  # added to the tissue in this order
    overlays: tuple[Overlay, ...]  # then painted over it in this order
    noise: NoiseField

    @property
    def shape(self) -> tuple[int, int]:
        return self.tissue.geom.rows, self.tissue.geom.cols

    def clean(self, rows: slice, cols: slice) -> np.ndarray:
        """The window before noise and quantisation (float32, 12-bit units)."""
        image = self.tissue.window(rows, cols)
        for calc in self.calcs:
            paste(image, calc.signal, calc.top - rows.start, calc.left - cols.start)
        for overlay in self.overlays:
            overlay.paint(image, rows, cols)
        return image

    def pixels(self, rows: slice, cols: slice) -> np.ndarray:
        """The window's written values: uint16, 0..4095."""
        return quantise(self.noise.apply(self.clean(rows, cols), rows, cols))

    def full_image(self) -> np.ndarray:
        """Every pixel, rendered one noise tile at a time: each tile's noise is drawn once, and
        a tile's arrays stay in the CPU cache through the dozen passes over them."""
        rows, cols = self.shape
        if self.tissue.pectoral is not None:
            self.tissue.pectoral.blur_all()
        image = np.empty((rows, cols), np.uint16)
        for top in range(0, rows, NOISE_TILE):
            for left in range(0, cols, NOISE_TILE):
                tile = np.s_[top:min(top + NOISE_TILE, rows), left:min(left + NOISE_TILE, cols)]
                image[tile] = self.pixels(*tile)
        return image

"""Everything of a phantom mammogram except the calcifications: silhouette, tissue, artefacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from preprocessing.phantom.upsample import upsample_window


@dataclass(frozen=True)
class BreastGeometry:
    """A half-ellipse breast whose flat side lies on the chest-wall image edge."""

    rows: int
    cols: int
    chest_wall_left: bool  # LEFT breasts sit on the left edge, RIGHT breasts on the right
    centre_row: float
    semi_rows: float  # vertical semi-axis
    semi_depth: float  # chest wall to nipple

    def depth_of_columns(self) -> np.ndarray:
        """Distance of every column from the chest wall, in pixels."""
        cols = np.arange(self.cols, dtype=np.float32)
        return cols if self.chest_wall_left else (self.cols - 1) - cols

    def pixel_of(self, depth_frac: float, vertical_frac: float) -> tuple[float, float]:
        """(row, col) of a point given as fractions of the breast's depth and local half-height."""
        half_height = self.semi_rows * np.sqrt(max(1.0 - depth_frac**2, 0.0))
        row = self.centre_row + vertical_frac * half_height
        depth = depth_frac * self.semi_depth
        col = depth if self.chest_wall_left else (self.cols - 1) - depth
        return float(row), float(col)


def draw_geometry(rng: np.random.Generator, shape: tuple[int, int], chest_wall_left: bool,
                  view: str) -> BreastGeometry:
    """Random silhouette proportions; MLO breasts sit lower and taller."""
    rows, cols = shape
    if view == "MLO":
        centre, semi = rng.uniform(0.50, 0.58) * rows, rng.uniform(0.44, 0.50) * rows
    else:
        centre, semi = rng.uniform(0.46, 0.54) * rows, rng.uniform(0.36, 0.44) * rows
    depth = rng.uniform(0.58, 0.78) * cols
    return BreastGeometry(rows, cols, chest_wall_left, centre, semi, depth)


def elliptic_radius2(geom: BreastGeometry, rows: slice | None = None,
                     cols: slice | None = None) -> np.ndarray:
    """Squared normalised distance from the chest-wall centre (1 on the skin line), over the
    window rows x cols (the whole image by default)."""
    rows, cols = rows or slice(None), cols or slice(None)
    r_rows = (np.arange(geom.rows, dtype=np.float32)[rows] - geom.centre_row) / geom.semi_rows
    r_depth = geom.depth_of_columns()[cols] / geom.semi_depth
    return r_rows[:, None] ** 2 + r_depth[None, :] ** 2


def thickness_profile(radius2: np.ndarray) -> np.ndarray:
    """Compressed-breast thickness in [0, 1]: flat inside, falling off towards the skin line."""
    inside = np.subtract(1.0, radius2)
    inside /= 0.4
    np.clip(inside, 0.0, 1.0, out=inside)
    thickness = np.subtract(2.0, inside)
    thickness *= inside  # inside * (2 - inside): rises steeply at the skin, flat in the middle
    return thickness


def fast_fft_length(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: FFTs of such sizes are several times faster."""
    best = 2 * n
    for p5 in (5**k for k in range(12) if 5**k < best):
        for p3 in (p5 * 3**k for k in range(20) if p5 * 3**k < best):
            p2 = p3
            while p2 < n:
                p2 *= 2
            best = min(best, p2)
    return best


MAX_TEXTURE_SIDE = 1024


def power_law_texture(rng: np.random.Generator, shape: tuple[int, int], beta: float = 3.0,
                      stretch: float = 1.0) -> np.ndarray:
    """Zero-mean, unit-variance 1/f^beta noise, made by filtering white noise in Fourier space.

    stretch > 1 elongates structures along the columns (towards the nipple), like ducts.
    """
    padded = (fast_fft_length(shape[0]), fast_fft_length(shape[1]))
    white = rng.standard_normal(padded, dtype=np.float32)
    freq_r = np.fft.fftfreq(padded[0]).astype(np.float32)[:, None]
    freq_c = np.fft.rfftfreq(padded[1]).astype(np.float32)[None, :] * np.float32(stretch)
    # no structure larger than ~1/6 of the image: gland forms clouds, not half-breast slabs
    freq = np.maximum(np.sqrt(freq_r**2 + freq_c**2), np.float32(6.0 / max(padded)))
    spectrum = np.fft.rfft2(white)
    spectrum *= freq ** np.float32(-beta / 2.0)
    field = np.fft.irfft2(spectrum, s=padded)[: shape[0], : shape[1]].astype(np.float32)
    field -= field.mean()
    return field / max(float(field.std()), 1e-6)


# Threshold on the texture above which tissue counts as fibroglandular, by breast density 1-4.
# (About 15%, 35%, 60% and 80% of the breast is gland for densities 1 to 4.)
_GLAND_THRESHOLD = {1: 1.0, 2: 0.4, 3: -0.25, 4: -0.85}


def texture_factor(geom: BreastGeometry) -> int:
    """The tissue is drawn on every factor-th pixel, so no side exceeds MAX_TEXTURE_SIDE."""
    return -(-max(geom.rows, geom.cols) // MAX_TEXTURE_SIDE)


def coarse_parenchyma(rng: np.random.Generator, geom: BreastGeometry,
                      density: int) -> np.ndarray:
    """Darker fat plus bright fibroglandular clouds, central more than peripheral; denser
    breasts have more gland: unit thickness, on every factor-th pixel of the image.

    Images over MAX_TEXTURE_SIDE get the tissue on such a coarser grid, upsampled by Tissue:
    with beta = 3 the finer frequencies carry almost no power, and full-size FFTs would dominate
    the run time.
    """
    step = slice(None, None, texture_factor(geom))
    coarse_radius2 = elliptic_radius2(geom, step, step)
    texture = power_law_texture(rng, coarse_radius2.shape, stretch=rng.uniform(1.5, 2.5))
    central = 1.2 * (0.55 - np.sqrt(np.minimum(coarse_radius2, 1.0)))
    gland = 1.0 / (1.0 + np.exp(-(texture + central - _GLAND_THRESHOLD[density]) / 0.45))
    fat_level = rng.uniform(750.0, 1050.0)
    gland_level = rng.uniform(900.0, 1400.0)
    return (fat_level + gland_level * gland + 80.0 * texture).astype(np.float32)


def _overlap(box: slice, window: slice) -> tuple[slice, slice] | None:
    """Where box and window overlap, in the box's and in the window's own coordinates."""
    start, stop = max(box.start, window.start), min(box.stop, window.stop)
    if stop <= start:
        return None
    return (slice(start - box.start, stop - box.start),
            slice(start - window.start, stop - window.start))


# Column alignment of the blurred region in Pectoral: OpenCV filters rows in SIMD blocks counted
# from column 0 and the last few columns with scalar code, whose rounding can differ in the last
# bit; a region starting on a multiple of this and ending well past the blur's reach (or at the
# image edge) puts every pixel through the same code as a whole-image blur would.
_BLUR_ALIGN = 64


@dataclass(frozen=True, eq=False)
class Pectoral:
    """The pectoral muscle (MLO only): a triangle in the top chest-wall corner, slightly blurred
    at its edge, times level.

    Only the region around the triangle is blurred, and of it only the rows a window needs plus
    twice the blur's reach either side: everywhere else the blur of zeros is exactly zero, and
    the values kept are bit for bit those of blurring the whole image (kept so by _BLUR_ALIGN
    and checked by the tests), at a fraction of the cost.
    """

    shape: tuple[int, int]
    corners: np.ndarray  # (3, 2) int32 x, y of the triangle
    sigma: float
    level: float
    # the last rows blurred: (first row, blurred rows from there); shared by the windows of a row
    _blurred: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict, init=False,
                                                       repr=False)

    @cached_property
    def _reach(self) -> int:
        return int(np.ceil(4.0 * self.sigma)) + 16  # OpenCV's float kernel radius is ~4 sigma

    @cached_property
    def _filled(self) -> tuple[slice, slice, np.ndarray]:
        """The unblurred triangle over the region: its rows, its columns, its pixels."""
        bottom = min(self.shape[0], int(self.corners[:, 1].max()) + 2 * self._reach)
        left = int(self.corners[:, 0].min()) - 2 * self._reach
        left = max(0, left // _BLUR_ALIGN * _BLUR_ALIGN)
        right = int(self.corners[:, 0].max()) + 2 * self._reach
        right = min(self.shape[1], -(-right // _BLUR_ALIGN) * _BLUR_ALIGN + _BLUR_ALIGN)
        region = np.zeros((bottom, right - left), np.float32)
        cv2.fillConvexPoly(region, self.corners - np.array([left, 0], np.int32), 1.0)
        return slice(0, bottom), slice(left, right), region

    def _blurred_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop of the blurred region (start, stop within it)."""
        first, blurred = self._blurred.get("rows", (0, np.empty((0, 0), np.float32)))
        if not first <= start <= stop <= first + blurred.shape[0]:
            region = self._filled[2]
            first, end = max(0, start - 2 * self._reach), min(len(region), stop + 2 * self._reach)
            blurred = cv2.GaussianBlur(region[first:end], (0, 0), self.sigma)
            self._blurred["rows"] = first, blurred
        return blurred[start - first:stop - first]

    def blur_all(self) -> None:
        """Blur every row of the region at once, for a caller about to ask for all of them."""
        self._blurred_rows(0, self._filled[0].stop)

    def window(self, rows: slice, cols: slice) -> np.ndarray:
        """The blurred triangle (0..1, before level) over the window rows x cols."""
        mask = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.float32)
        region_rows, region_cols, _ = self._filled
        along, across = _overlap(region_rows, rows), _overlap(region_cols, cols)
        if along is not None and across is not None:
            band = self._blurred_rows(along[0].start, along[0].stop)
            mask[along[1], across[1]] = band[:, across[0]]
        return mask


def draw_pectoral(rng: np.random.Generator, geom: BreastGeometry) -> Pectoral:
    """Random size of the muscle triangle, and its brightness."""
    height = rng.uniform(0.35, 0.55) * geom.rows
    width = rng.uniform(0.22, 0.38) * geom.cols
    wall = 0.0 if geom.chest_wall_left else geom.cols - 1.0
    tip = wall + width if geom.chest_wall_left else wall - width
    triangle = np.array([[wall, 0.0], [tip, 0.0], [wall, height]], dtype=np.float32)
    corners = np.round(triangle).astype(np.int32)
    sigma = max(0.7, 0.004 * geom.cols)
    return Pectoral((geom.rows, geom.cols), corners, sigma, rng.uniform(900.0, 1300.0))


@dataclass(frozen=True, eq=False)
class Tissue:
    """A view's image under the calcifications, label and scanner edge, over any window: film
    background, pectoral muscle and parenchyma scaled by the compressed thickness. Every pixel
    is computed from its own coordinates, so a window equals the whole image's pixels there."""

    geom: BreastGeometry
    background: float  # film base plus fog, outside the breast
    pectoral: Pectoral | None
    coarse: np.ndarray  # coarse_parenchyma

    def parenchyma(self, rows: slice, cols: slice) -> np.ndarray:
        """The parenchyma at unit thickness over the window (float32, a fresh array)."""
        factor = texture_factor(self.geom)
        if factor == 1:
            return self.coarse[rows, cols].copy()
        return upsample_window(self.coarse, factor, rows, cols)

    def window(self, rows: slice, cols: slice) -> np.ndarray:
        image = np.full((rows.stop - rows.start, cols.stop - cols.start), self.background,
                        np.float32)
        thickness = thickness_profile(elliptic_radius2(self.geom, rows, cols))
        if self.pectoral is not None:  # the muscle belongs to the body: no background through it
            muscle = self.pectoral.window(rows, cols)
            np.maximum(thickness, muscle, out=thickness)
            muscle *= np.float32(self.pectoral.level)
            image += muscle
        tissue = self.parenchyma(rows, cols)
        tissue *= thickness
        image += tissue
        return image


def draw_tissue(rng: np.random.Generator, geom: BreastGeometry, density: int,
                view: str) -> Tissue:
    background = rng.uniform(40.0, 140.0)
    pectoral = draw_pectoral(rng, geom) if view == "MLO" else None
    return Tissue(geom, background, pectoral, coarse_parenchyma(rng, geom, density))


@dataclass(frozen=True, eq=False)
class Overlay:
    """Values that replace the image's over a box: the burned-in label, the scanner edge."""

    rows: slice
    cols: slice
    values: np.ndarray | np.float32  # one per pixel of the box, or one for all

    def paint(self, image: np.ndarray, rows: slice, cols: slice) -> None:
        """Overwrite what of the box falls in image, the window rows x cols."""
        along, across = _overlap(self.rows, rows), _overlap(self.cols, cols)
        if along is None or across is None:
            return
        if np.ndim(self.values) == 0:
            image[along[1], across[1]] = self.values
        else:
            image[along[1], across[1]] = self.values[along[0], across[0]]


def draw_label_block(rng: np.random.Generator, geom: BreastGeometry, text: str) -> Overlay:
    """A burned-in bright film label with dark text, in a corner away from the breast."""
    rows, cols = geom.rows, geom.cols
    height = max(6, int(rng.uniform(0.035, 0.05) * rows))
    width = max(12, int(rng.uniform(0.16, 0.22) * cols))
    margin_r, margin_c = int(0.02 * rows), int(0.02 * cols)
    top = margin_r if rng.random() < 0.5 else rows - margin_r - height
    left = cols - margin_c - width if geom.chest_wall_left else margin_c
    ink = np.zeros((height, width), np.uint8)  # cv2.putText draws on 8-bit images only
    cv2.putText(ink, text, (max(1, width // 12), int(height * 0.75)), cv2.FONT_HERSHEY_SIMPLEX,
                height / 30.0, (255,), max(1, round(height / 12)), cv2.LINE_AA)
    paper, dark = rng.uniform(3700.0, 4095.0), rng.uniform(150.0, 500.0)
    coverage = ink.astype(np.float32) / 255.0
    return Overlay(slice(top, top + height), slice(left, left + width),
                   paper + (dark - paper) * coverage)


def draw_scanner_edge(rng: np.random.Generator, geom: BreastGeometry) -> Overlay:
    """A bright strip along the top, bottom or nipple-side border, as film digitisers leave."""
    rows, cols = geom.rows, geom.cols
    where = ("top", "bottom", "far")[int(rng.integers(3))]
    level = np.float32(rng.uniform(3000.0, 4095.0))
    if where == "far":
        width = max(2, int(rng.uniform(0.006, 0.015) * cols))
        strip = slice(cols - width, cols) if geom.chest_wall_left else slice(0, width)
        return Overlay(slice(0, rows), strip, level)
    width = max(2, int(rng.uniform(0.006, 0.015) * rows))
    strip = slice(0, width) if where == "top" else slice(rows - width, rows)
    return Overlay(strip, slice(0, cols), level)

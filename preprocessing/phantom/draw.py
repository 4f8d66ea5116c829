"""Render one Lesion3D into a small pixel patch for one view (supersampled, then blurred)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from preprocessing.phantom.calcs import Calc, Lesion3D, project_mm

MIN_SIGMA_PX = 0.7  # the system blur; also what keeps sub-pixel calcs visible at small scales
MIN_RADIUS_PX = 0.8
MIN_LINE_PX = 1.0
_SHIFT = 4  # cv2 fixed-point fraction bits for sub-pixel drawing
_MAX_SUPER_SIDE = 4096
_MLO_OUTLINE_TURN = 0.8  # radians: blob outlines seen obliquely appear turned


@dataclass(frozen=True)
class LesionPatch:
    """Calcification signal (0 = none, ~1 = full contrast) and where it sits."""

    signal: np.ndarray  # (h, w) float32
    top: int  # patch origin relative to the lesion-centre pixel
    left: int
    points: np.ndarray  # (m, 2) row, col of calc centres and segment ends, lesion-centre relative


@dataclass(frozen=True)
class _Canvas:
    sharp: np.ndarray
    hazy: np.ndarray
    ss: int  # supersampling factor
    top: int
    left: int

    def fixed(self, rc: np.ndarray) -> np.ndarray:
        """Lesion-relative (row, col) px to cv2 fixed-point (x, y) on the supersampled canvas."""
        rows = (rc[..., 0] - self.top + 0.5) * self.ss - 0.5
        cols = (rc[..., 1] - self.left + 0.5) * self.ss - 0.5
        return np.round(np.stack([cols, rows], axis=-1) * (1 << _SHIFT)).astype(np.int32)

    def length(self, px: float) -> int:
        return max(1, round(px * self.ss * (1 << _SHIFT)))


def _pixel_points(points_mm: np.ndarray, view: str, px_per_mm: float, depth_sign: float,
                  mlo_angle_deg: float) -> np.ndarray:
    flat = project_mm(points_mm, view, mlo_angle_deg) * px_per_mm
    return flat * np.array([1.0, depth_sign])


def _draw_blob(canvas: _Canvas, calc: Calc, calc_type: str, centre: np.ndarray, angle: float,
               px_per_mm: float) -> None:
    radius = max(calc.size / 2 * px_per_mm, MIN_RADIUS_PX)
    value = (float(calc.brightness),)
    target = canvas.hazy if calc_type == "AMORPHOUS" else canvas.sharp
    if calc_type == "LUCENT_CENTER":
        ring = max(1, round(0.35 * radius * canvas.ss))
        cv2.circle(target, tuple(canvas.fixed(centre)), canvas.length(radius), (-0.25 * value[0],),
                   -1, cv2.LINE_8, _SHIFT)
        inner = canvas.length(max(radius - 0.5 * ring / canvas.ss, 0.3))
        cv2.circle(target, tuple(canvas.fixed(centre)), inner, value, ring, cv2.LINE_8, _SHIFT)
        return
    if calc_type in ("PLEOMORPHIC", "COARSE"):
        k = len(calc.radii)
        theta = angle + np.arange(k) * 2 * np.pi / k
        outline = centre + radius * calc.radii[:, None] * np.column_stack([np.sin(theta),
                                                                          np.cos(theta)])
        cv2.fillPoly(target, [canvas.fixed(outline)], value, cv2.LINE_8, _SHIFT)
        return
    cv2.circle(target, tuple(canvas.fixed(centre)), canvas.length(radius), value, -1, cv2.LINE_8,
               _SHIFT)


def _draw_segments(canvas: _Canvas, calc: Calc, calc_type: str, segments: np.ndarray,
                   px_per_mm: float) -> None:
    """Branching casts as single lines; vascular calcs as two parallel rails (tram tracks)."""
    width = max(calc.size * px_per_mm, MIN_LINE_PX)
    thickness = max(1, round(width * canvas.ss))
    value = (float(calc.brightness),)
    if calc_type == "VASCULAR":
        direction = segments[:, 1] - segments[:, 0]
        normal = np.column_stack([-direction[:, 1], direction[:, 0]])
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
        half_gap = max(3.0 * calc.size * px_per_mm, 1.2)
        offsets = [normal[:, None, :] * half_gap, -normal[:, None, :] * half_gap]
        segments = np.concatenate([segments + off for off in offsets])
    for start, end in canvas.fixed(segments):
        cv2.line(canvas.sharp, tuple(start), tuple(end), value, thickness, cv2.LINE_8, _SHIFT)


def _supersampling(px_per_mm: float, extent_px: float) -> int:
    """Finer drawing grids at small scales, but never a huge canvas."""
    wanted = int(np.clip(np.ceil(20.0 / px_per_mm), 1, 8))
    return max(1, min(wanted, int(_MAX_SUPER_SIDE // max(extent_px, 1.0))))


def render_lesion(lesion: Lesion3D, view: str, px_per_mm: float, depth_sign: float,
                  mlo_angle_deg: float) -> LesionPatch:
    """Project and draw a lesion; depth_sign is +1 when the chest wall is on the left."""
    centres = np.array([c.centre for c in lesion.calcs])
    geometry = (view, px_per_mm, depth_sign, mlo_angle_deg)
    centre_px = _pixel_points(centres, *geometry)
    seg_px = [_pixel_points(c.segments, *geometry) for c in lesion.calcs]
    all_points = np.concatenate([centre_px, *[s.reshape(-1, 2) for s in seg_px]])
    max_size = max(c.size for c in lesion.calcs) * px_per_mm
    pad = 3.5 * max_size + 4.0 * MIN_SIGMA_PX + 2.0
    top, left = np.floor(all_points.min(axis=0) - pad).astype(int)
    bottom, right = np.ceil(all_points.max(axis=0) + pad).astype(int)
    height, width = int(bottom - top + 1), int(right - left + 1)
    ss = _supersampling(px_per_mm, max(height, width))
    canvas = _Canvas(np.zeros((height * ss, width * ss), np.float32),
                     np.zeros((height * ss, width * ss), np.float32), ss, int(top), int(left))
    angle_offset = 0.0 if view == "CC" else _MLO_OUTLINE_TURN
    for calc, centre, segments in zip(lesion.calcs, centre_px, seg_px, strict=True):
        if len(segments):
            _draw_segments(canvas, calc, lesion.calc_type, segments, px_per_mm)
        else:
            _draw_blob(canvas, calc, lesion.calc_type, centre, calc.angle + angle_offset, px_per_mm)
    signal = _downsample_and_blur(canvas, (height, width), px_per_mm)
    return LesionPatch(signal, int(top), int(left), all_points)


def _downsample_and_blur(canvas: _Canvas, shape: tuple[int, int], px_per_mm: float) -> np.ndarray:
    size = (shape[1], shape[0])
    sharp = cv2.resize(canvas.sharp, size, interpolation=cv2.INTER_AREA)
    hazy = cv2.resize(canvas.hazy, size, interpolation=cv2.INTER_AREA)
    sharp = cv2.GaussianBlur(sharp, (0, 0), MIN_SIGMA_PX)
    if hazy.any():
        hazy = cv2.GaussianBlur(hazy, (0, 0), max(MIN_SIGMA_PX, 0.12 * px_per_mm))
        sharp += hazy
    return sharp

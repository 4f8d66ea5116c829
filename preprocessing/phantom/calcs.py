"""Calcification lesions in 3-D (mm, lesion-centred) by BI-RADS morphology and distribution.

Axes: x lateral-medial, y depth (chest wall towards nipple), z cranio-caudal. Rendering the same
Lesion3D in CC and MLO (see render_calcs) projects the same points two ways.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Calc:
    """One calcification: a blob or polygon at centre, or line segments (vascular, branching)."""

    centre: np.ndarray  # (3,) mm
    size: float  # diameter (or line thickness for segment types), mm
    angle: float  # in-plane orientation, radians
    radii: np.ndarray  # relative polygon radii; all ones = circle
    brightness: float  # relative to the lesion contrast
    segments: np.ndarray  # (k, 2, 3) mm line segments; empty for blob types


@dataclass(frozen=True)
class Lesion3D:
    calc_type: str
    distribution: str
    calcs: tuple[Calc, ...]


# Number of calcification centres (low, high) by distribution; spread is in mm.
_COUNTS = {"CLUSTERED": (5, 18), "LINEAR": (5, 14), "SEGMENTAL": (12, 30),
           "REGIONAL": (14, 34), "DIFFUSELY_SCATTERED": (6, 14)}
# Fewer, larger elements for some morphologies.
_COUNT_FACTOR = {"AMORPHOUS": 1.4, "COARSE": 0.3, "LUCENT_CENTER": 0.45, "ROUND_AND_REGULAR": 0.6,
                 "FINE_LINEAR_BRANCHING": 0.45, "VASCULAR": 0.15}


def _unit_ball(rng: np.random.Generator, n: int) -> np.ndarray:
    """n points uniform in the unit 3-D ball."""
    direction = rng.standard_normal((n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return direction * rng.random((n, 1)) ** (1.0 / 3.0)


def distribution_centres(rng: np.random.Generator, distribution: str, n: int) -> np.ndarray:
    """(n, 3) calcification centres in mm around the lesion centre."""
    if distribution == "CLUSTERED":
        return _unit_ball(rng, n) * rng.uniform(1.5, 4.0)
    if distribution == "LINEAR":
        axis = rng.standard_normal(3)
        axis /= np.linalg.norm(axis)
        along = rng.uniform(-0.5, 0.5, (n, 1)) * rng.uniform(8.0, 18.0)
        return along * axis + rng.normal(0.0, 0.35, (n, 3))
    if distribution == "SEGMENTAL":
        # a cone whose apex points to the nipple (+y): the shape of a duct segment
        length = rng.uniform(10.0, 22.0)
        t = np.sqrt(rng.random(n))  # denser towards the wide base
        disc = _unit_ball(rng, n)[:, [0, 2]] * (t * length * 0.4)[:, None]
        return np.column_stack([disc[:, 0], length * (0.5 - t), disc[:, 1]])
    if distribution == "REGIONAL":
        radii = np.array([rng.uniform(9.0, 16.0), rng.uniform(9.0, 16.0), 12.0])
        return _unit_ball(rng, n) * radii
    if distribution == "DIFFUSELY_SCATTERED":
        return _unit_ball(rng, n) * rng.uniform(17.0, 23.0)
    raise ValueError(f"unknown distribution {distribution!r}")


def _random_walk(rng: np.random.Generator, start: np.ndarray, direction: np.ndarray, steps: int,
                 step_mm: float, wiggle: float) -> np.ndarray:
    """(steps + 1, 3) points of a smooth 3-D path."""
    points = [start]
    heading = direction / np.linalg.norm(direction)
    for _ in range(steps):
        heading = heading + rng.normal(0.0, wiggle, 3)
        heading /= np.linalg.norm(heading)
        points.append(points[-1] + heading * step_mm)
    return np.array(points)


def _branching_segments(rng: np.random.Generator, start: np.ndarray,
                        axis: np.ndarray) -> np.ndarray:
    """Segments of a small duct cast: a trunk with side branches (fine linear branching)."""
    segments: list[np.ndarray] = []
    stack = [(start, axis, 0)]
    while stack and len(segments) < 14:
        origin, heading, depth = stack.pop()
        steps = int(rng.integers(2, 4))
        path = _random_walk(rng, origin, heading, steps, rng.uniform(0.4, 0.9), 0.35)
        segments.extend(np.stack([path[:-1], path[1:]], axis=1))
        if depth < 2 and rng.random() < 0.8:
            side = heading + rng.normal(0.0, 0.9, 3)
            stack.append((path[int(rng.integers(1, len(path)))], side, depth + 1))
    return np.array(segments)


def _vessel_segments(rng: np.random.Generator, start: np.ndarray) -> np.ndarray:
    """Dashed segments along a long gently curving vessel (the tram-track's centre line)."""
    direction = rng.standard_normal(3)
    steps = int(rng.integers(8, 20))
    path = _random_walk(rng, start, direction, steps, rng.uniform(0.6, 1.0), 0.12)
    segments = np.stack([path[:-1], path[1:]], axis=1)
    return segments[rng.random(len(segments)) < 0.8]  # calcified in stretches, not throughout


def _blob_size(rng: np.random.Generator, calc_type: str, shared: float) -> float:
    """Diameter in mm; round-and-regular calcs of one lesion share a size."""
    if calc_type == "PUNCTATE":
        return rng.uniform(0.15, 0.4)
    if calc_type == "ROUND_AND_REGULAR":
        return shared * rng.uniform(0.9, 1.1)
    if calc_type == "LUCENT_CENTER":
        return rng.uniform(1.0, 2.5)
    if calc_type == "COARSE":
        return rng.uniform(2.0, 4.5)
    if calc_type == "AMORPHOUS":
        return rng.uniform(0.4, 0.8)
    if calc_type == "PLEOMORPHIC":
        return rng.uniform(0.25, 1.1)
    return rng.uniform(0.1, 0.25)  # line thickness of vascular / branching calcs


def _polygon_radii(rng: np.random.Generator, calc_type: str) -> np.ndarray:
    """Relative radii around the outline: irregular for pleomorphic, lobed for coarse popcorn."""
    if calc_type == "PLEOMORPHIC":
        return rng.uniform(0.45, 1.0, int(rng.integers(3, 7)))
    if calc_type == "COARSE":
        k = 14
        lobes = 1.0 + 0.35 * np.sin(np.arange(k) * 2 * np.pi * rng.integers(3, 6) / k
                                    + rng.uniform(0, 2 * np.pi))
        return lobes * rng.uniform(0.7, 1.0, k)
    return np.ones(12)


_BRIGHTNESS = {"AMORPHOUS": 0.7, "COARSE": 1.3, "VASCULAR": 0.85, "PLEOMORPHIC": 1.15}


def make_lesion(rng: np.random.Generator, calc_type: str, distribution: str) -> Lesion3D:
    """Draw the 3-D calcification set of one lesion."""
    low, high = _COUNTS[distribution]
    n = max(1, round(rng.integers(low, high + 1) * _COUNT_FACTOR.get(calc_type, 1.0)))
    centres = distribution_centres(rng, distribution, n)
    axis = centres[-1] - centres[0] if n > 1 else rng.standard_normal(3)
    axis = axis + np.array([0.0, 1e-3, 0.0])  # never zero
    shared = rng.uniform(0.5, 1.2)
    calcs = []
    for centre in centres:
        if calc_type == "FINE_LINEAR_BRANCHING":
            segments = _branching_segments(rng, centre, axis)
        elif calc_type == "VASCULAR":
            segments = _vessel_segments(rng, centre)
        else:
            segments = np.empty((0, 2, 3))
        variation = rng.uniform(0.6, 1.2) if calc_type == "PLEOMORPHIC" else rng.uniform(0.85, 1.1)
        calcs.append(Calc(centre=centre, size=_blob_size(rng, calc_type, shared),
                          angle=rng.uniform(0.0, 2 * np.pi), radii=_polygon_radii(rng, calc_type),
                          brightness=_BRIGHTNESS.get(calc_type, 1.0) * variation,
                          segments=segments))
    return Lesion3D(calc_type, distribution, tuple(calcs))


def project_mm(points: np.ndarray, view: str, mlo_angle_deg: float) -> np.ndarray:
    """(..., 3) mm points to (..., 2) (vertical, depth) mm in the image plane of a view."""
    if view == "CC":
        vertical = points[..., 0]
    else:  # the MLO plane is tilted about the depth axis
        theta = np.deg2rad(mlo_angle_deg)
        vertical = points[..., 0] * np.cos(theta) + points[..., 2] * np.sin(theta)
    return np.stack([vertical, points[..., 1]], axis=-1)

"""Handcrafted features of calcification ROIs, for the non-deep baseline (``baseline.py``).

Calcifications are small bright spots on a textured background. Each ROI is described by
feature groups (``FEATURE_GROUPS``), all of fixed length whatever the ROI size:

* ``intensity``: brightness and spread, then percentiles, skew and kurtosis of the ROI
  standardised by its own median and IQR (exposure and density drop out);
* ``spots``: bright spots isolated by white top-hats at two scales (a tenth and a third of the
  ROI side): their count, size, contrast, shape (elongation and thinness: fine-linear vs round;
  holes: lucent-centred rings) and clustering (nearest-neighbour distances, the spread and
  elongation of the whole set: clustered vs linear or segmental), where the top-hat's mass lies
  and how oriented it is;
* ``log``: scale-normalised Laplacian-of-Gaussian responses at four scales (how big the spots
  are) and how many local peaks stand out at each;
* ``texture``: grey-level co-occurrence statistics;
* ``hog``: histograms of oriented gradients pooled to be independent of where and at what
  angle the lesion lies (a ROI has no canonical orientation; a spatial 4 x 4-cell HOG, 324
  values, scored lower on a 400-patient phantom and fitted ten times slower).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, stats
from scipy.spatial import cKDTree
from skimage.feature import graycomatrix, graycoprops, hog

FEATURE_GROUPS = ("intensity", "spots", "log", "texture", "hog")
PERCENTILES = (1, 5, 25, 75, 95, 99, 99.9)
LOG_SCALES = (0.012, 0.025, 0.05, 0.1)  # LoG sigmas as fractions of the ROI side
SPOT_SIGMAS = 4.0  # a spot: top-hat above its ROI's median by this many robust sigmas
SPOT_FLOOR = 1.0  # ...and by at least this many IQRs of the ROI (best of 0.75-2 on a phantom)
TOPHAT_SCALES = {"fine": 0.1, "coarse": 0.33}  # top-hat squares as fractions of the ROI side
MIN_SPOT_PIXELS = 2
ELONGATED = 0.9  # eccentricity above which a spot counts as elongated (a line, not a dot)
HOG_CELLS = 8  # cells per side
HOG_BINS = 9
GLCM_LEVELS = 16
EPS = 1e-6


# ---------------------------------------------------------------- features: preparation


def unit_stack(images: np.ndarray) -> np.ndarray:
    """(N, S, S) integer ROIs as float32 in [0, 1] (over the dtype's maximum)."""
    top = np.iinfo(images.dtype).max if np.issubdtype(images.dtype, np.integer) else 1.0
    return np.asarray(images, dtype=np.float32) / np.float32(top)


def robust_standardise(images: np.ndarray) -> np.ndarray:
    """Each ROI minus its median, over its inter-quartile range: exposure and density drop out."""
    low, median, high = np.percentile(images, [25, 50, 75], axis=(1, 2), keepdims=True)
    return ((images - median) / np.maximum(high - low, 1e-3)).astype(np.float32)


def white_tophat_stack(images: np.ndarray, side: int) -> np.ndarray:
    """Grey white top-hat of every ROI with a side x side square: what is brighter than its
    surroundings and smaller than the square (separable min/max filters, the stack at once)."""
    return ndimage.white_tophat(images, size=(1, side, side))


def tophat_side(size: int, fraction: float) -> int:
    """The top-hat square: that fraction of the ROI side, odd, at least 5 px."""
    side = max(5, round(size * fraction))
    return side + 1 - side % 2


def spot_thresholds(tophat: np.ndarray) -> np.ndarray:
    """(N, 1, 1) per-ROI threshold: median + SPOT_SIGMAS robust sigmas (1.4826 MAD) of the
    top-hat, never below SPOT_FLOOR IQRs of the ROI (the top-hat is in IQR units)."""
    median = np.median(tophat, axis=(1, 2), keepdims=True)
    mad = np.median(np.abs(tophat - median), axis=(1, 2), keepdims=True)
    return np.maximum(median + SPOT_SIGMAS * 1.4826 * mad, SPOT_FLOOR)


# ---------------------------------------------------------------- features: groups


def intensity_features(unit: np.ndarray, standard: np.ndarray) -> dict[str, np.ndarray]:
    """Raw brightness and spread, then percentiles, skew and kurtosis of the standardised ROI."""
    flat = standard.reshape(len(standard), -1)
    found = {"mean_raw": unit.mean(axis=(1, 2)), "std_raw": unit.std(axis=(1, 2))}
    for q, values in zip(PERCENTILES, np.percentile(flat, PERCENTILES, axis=1), strict=True):
        found[f"p{q:g}"] = values
    found["max"] = flat.max(axis=1)
    found["skew"] = stats.skew(flat, axis=1)
    found["kurtosis"] = stats.kurtosis(flat, axis=1)
    return found


def mass_moments(weights: np.ndarray) -> dict[str, np.ndarray]:
    """Spread (RMS radius over the ROI side) and elongation (1 - minor/major axis) of where the
    top-hat's mass lies, and its concentration (share in the brightest 1% of pixels)."""
    n, size, _ = weights.shape
    total = weights.sum(axis=(1, 2)) + EPS
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    my = (weights * y).sum(axis=(1, 2)) / total
    mx = (weights * x).sum(axis=(1, 2)) / total
    dy, dx = y[None] - my[:, None, None], x[None] - mx[:, None, None]
    cyy = (weights * dy * dy).sum(axis=(1, 2)) / total
    cxx = (weights * dx * dx).sum(axis=(1, 2)) / total
    cxy = (weights * dx * dy).sum(axis=(1, 2)) / total
    half_gap = np.sqrt(((cyy - cxx) / 2) ** 2 + cxy**2)
    major, minor = (cyy + cxx) / 2 + half_gap, np.maximum((cyy + cxx) / 2 - half_gap, 0)
    flat = weights.reshape(n, -1)
    top = max(1, flat.shape[1] // 100)
    brightest = np.partition(flat, flat.shape[1] - top, axis=1)[:, -top:]
    return {"mass_spread": np.sqrt(cyy + cxx),
            "mass_elongation": 1 - np.sqrt(minor / (major + EPS)),
            "mass_top1pct_share": brightest.sum(axis=1) / total}


def orientation_coherence(images: np.ndarray) -> np.ndarray:
    """(N,) structure-tensor coherence (0: no preferred direction, 1: one direction): lines."""
    gy, gx = np.gradient(images, axis=(1, 2))
    jyy, jxx, jxy = ((g1 * g2).sum(axis=(1, 2)) for g1, g2 in ((gy, gy), (gx, gx), (gx, gy)))
    return np.sqrt((jyy - jxx) ** 2 + 4 * jxy**2) / (jyy + jxx + EPS)


IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
IN_PLANE[1] = True  # 8-connected within a ROI, never across two ROIs of the stack
IN_PLANE_CROSS = ndimage.generate_binary_structure(3, 1) & IN_PLANE


@dataclass
class Spots:
    """Every spot of a stack of ROIs, one entry per spot (sizes in pixels)."""

    owner: np.ndarray  # the ROI it lies in
    area: np.ndarray  # pixels, holes filled
    contrast: np.ndarray  # its top-hat maximum (IQR units)
    eccentricity: np.ndarray  # 0 round ... 1 a line (of the second moments, as skimage's)
    thinness: np.ndarray  # boundary pixels over pixels: ~1 for lines and branches, low for dots
    hole: np.ndarray  # share of its filled area that is a hole: lucent-centred rings
    centre: np.ndarray  # (n, 2) centroid (row, col)


def find_spots(masks: np.ndarray, tophat: np.ndarray) -> Spots:
    """The connected spots of a stack of binary masks, measured all at once (no per-ROI loop,
    and only the spots' own pixels are visited)."""
    filled = ndimage.binary_fill_holes(masks, structure=IN_PLANE_CROSS)
    labels, count = ndimage.label(filled, structure=IN_PLANE)
    boundary = filled & ~ndimage.binary_erosion(filled, structure=IN_PLANE_CROSS)
    roi, y, x = np.nonzero(filled)
    flat = labels[roi, y, x]
    y, x = y.astype(np.float64), x.astype(np.float64)

    def per_spot(weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(flat, weights, minlength=count + 1)[1:]

    area = per_spot()
    safe = np.maximum(area, 1)
    my, mx = per_spot(y) / safe, per_spot(x) / safe
    cyy = per_spot(y * y) / safe - my**2 + 1 / 12  # + a pixel's own extent
    cxx = per_spot(x * x) / safe - mx**2 + 1 / 12
    cxy = per_spot(x * y) / safe - mx * my
    half_gap = np.sqrt(((cyy - cxx) / 2) ** 2 + cxy**2)
    major, minor = (cyy + cxx) / 2 + half_gap, (cyy + cxx) / 2 - half_gap
    contrast = np.zeros(count + 1)
    np.maximum.at(contrast, flat, tophat[roi, y.astype(np.int64), x.astype(np.int64)])
    owner = np.zeros(count + 1, dtype=np.int64)
    owner[flat] = roi
    return Spots(
        owner=owner[1:],
        area=area,
        contrast=contrast[1:],
        eccentricity=np.sqrt(np.clip(1 - minor / major, 0, 1)),
        thinness=per_spot(boundary[filled].astype(np.float64)) / safe,
        hole=per_spot((~masks[filled]).astype(np.float64)) / safe,
        centre=np.column_stack([my, mx]),
    )


def per_roi(values: np.ndarray, owner: np.ndarray, n: int, how: str) -> np.ndarray:
    """(n,) the spots' sum, mean or max for each ROI; 0 for a ROI without spots."""
    total = np.bincount(owner, values, minlength=n)
    if how == "sum":
        return total
    if how == "mean":
        return total / np.maximum(np.bincount(owner, minlength=n), 1)
    found = np.zeros(n)
    np.maximum.at(found, owner, values)
    return found


def spot_layout(centres: np.ndarray) -> tuple[float, float, float, float]:
    """(nearest-neighbour distance mean, its coefficient of variation, RMS spread of the set,
    elongation of the set: 1 - minor/major axis) of one ROI's spot centres (over the side)."""
    if len(centres) < 2:
        return 0.0, 0.0, 0.0, 0.0
    distances, _ = cKDTree(centres).query(centres, k=2)
    nearest = distances[:, 1]
    eigen = np.clip(np.linalg.eigvalsh(np.cov(centres.T)), 0, None)
    return (float(nearest.mean()), float(nearest.std() / (nearest.mean() + EPS)),
            float(np.sqrt(eigen.sum())), float(1 - np.sqrt(eigen[0] / (eigen[1] + EPS))))


def spot_summary(spots: Spots, n: int, size: int) -> dict[str, np.ndarray]:
    """Per ROI: count, size, contrast, shape and clustering of its spots (sizes over the side)."""
    keep = spots.area >= MIN_SPOT_PIXELS
    owner = spots.owner[keep]
    area, contrast = spots.area[keep] / size**2, spots.contrast[keep]
    eccentricity, thinness, hole = spots.eccentricity[keep], spots.thinness[keep], spots.hole[keep]
    count = np.bincount(owner, minlength=n).astype(np.float64)
    contrast_total = per_roi(contrast, owner, n, "sum") + EPS

    def weighted(values: np.ndarray) -> np.ndarray:
        """Contrast-weighted mean: the shape of the bright spots, not of texture bumps."""
        return per_roi(values * contrast, owner, n, "sum") / contrast_total

    mean_area = per_roi(area, owner, n, "mean")
    area_sd = np.sqrt(np.maximum(per_roi(area**2, owner, n, "mean") - mean_area**2, 0))
    centres = spots.centre[keep] / size
    order = np.argsort(owner, kind="stable")
    groups = np.split(centres[order], np.cumsum(np.bincount(owner, minlength=n))[:-1])
    layout = np.array([spot_layout(group) for group in groups]).reshape(n, 4)
    return {
        "count": count,
        "bright_count": np.bincount(owner[contrast > 2 * SPOT_FLOOR], minlength=n).astype(float),
        "area_sum": per_roi(area, owner, n, "sum"),
        "area_mean": mean_area,
        "area_max": per_roi(area, owner, n, "max"),
        "area_cv": area_sd / (mean_area + EPS),
        "contrast_mean": per_roi(contrast, owner, n, "mean"),
        "contrast_max": per_roi(contrast, owner, n, "max"),
        "contrast_x_area": per_roi(contrast * area, owner, n, "sum"),
        "eccentricity_mean": weighted(eccentricity),
        "eccentricity_max": per_roi(eccentricity, owner, n, "max"),
        "elongated_share": weighted((eccentricity > ELONGATED).astype(float)),
        "thinness_mean": weighted(thinness),
        "hole_mean": weighted(hole),
        "ring_share": weighted((hole > 0.1).astype(float)),
        "nn_distance_mean": layout[:, 0],
        "nn_distance_cv": layout[:, 1],
        "set_spread": layout[:, 2],
        "set_elongation": layout[:, 3],
    }


def spot_features(standard: np.ndarray) -> dict[str, np.ndarray]:
    """Bright spots at two scales (white top-hats a tenth and a third of the ROI side, over a
    robust threshold): count, size, contrast, shape and clustering; plus where the fine
    top-hat's mass lies and how oriented it is."""
    n, size, _ = standard.shape
    found: dict[str, np.ndarray] = {}
    for scale, fraction in TOPHAT_SCALES.items():
        tophat = white_tophat_stack(standard, tophat_side(size, fraction))
        spots = find_spots(tophat > spot_thresholds(tophat), tophat)
        found.update({f"{scale}_{name}": values
                      for name, values in spot_summary(spots, n, size).items()})
        if scale == "fine":
            found.update({"fine_tophat_mean": tophat.mean(axis=(1, 2)),
                          "fine_tophat_p99": np.percentile(tophat, 99, axis=(1, 2)),
                          "fine_coherence": orientation_coherence(tophat)})
            found.update({f"fine_{k}": v for k, v in mass_moments(tophat).items()})
    return found


def block_mean(images: np.ndarray, factor: int) -> np.ndarray:
    """Each ROI shrunk by an integer factor, averaging factor x factor blocks (edges cropped)."""
    if factor == 1:
        return images
    n, size, _ = images.shape
    kept = size // factor
    cropped = images[:, : kept * factor, : kept * factor]
    return cropped.reshape(n, kept, factor, kept, factor).mean(axis=(2, 4))


def log_features(standard: np.ndarray) -> dict[str, np.ndarray]:
    """Per LoG scale: the strongest bright-blob response, its 99th percentile and the number of
    local peaks above 1 IQR (scale-normalised, so responses compare across scales). Scales
    above 1.5 px run on the ROI shrunk to keep them near 1.5 px: the same blobs, a fraction of
    the work."""
    size = standard.shape[-1]
    found: dict[str, np.ndarray] = {}
    for fraction in LOG_SCALES:
        sigma = max(0.7, fraction * size)
        factor = max(1, int(sigma // 1.5))
        small, scaled = block_mean(standard, factor), sigma / factor
        response = -scaled**2 * ndimage.gaussian_laplace(small, sigma=(0, scaled, scaled))
        peaks = (response == ndimage.maximum_filter(response, size=(1, 3, 3))) & (response > 1.0)
        name = f"s{fraction:g}"
        found[f"{name}_max"] = response.max(axis=(1, 2))
        found[f"{name}_p99"] = np.percentile(response, 99, axis=(1, 2))
        found[f"{name}_peaks"] = peaks.sum(axis=(1, 2)).astype(np.float64)
    return found


GLCM_PROPS = ("contrast", "homogeneity", "energy", "correlation")


def texture_features(standard: np.ndarray) -> dict[str, np.ndarray]:
    """Grey-level co-occurrence contrast, homogeneity, energy and correlation at 1 and 2 px,
    averaged over four directions, of the ROI quantised to GLCM_LEVELS levels over +-2 IQR."""
    levels = np.clip((standard + 2) / 4 * GLCM_LEVELS, 0, GLCM_LEVELS - 1).astype(np.uint8)
    angles = (0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
    rows = []
    for image in levels:
        matrix = graycomatrix(image, distances=(1, 2), angles=angles, levels=GLCM_LEVELS,
                              symmetric=True, normed=True)
        rows.append([value for prop in GLCM_PROPS
                     for value in graycoprops(matrix, prop).mean(axis=1)])
    names = [f"{prop}_d{d}" for prop in GLCM_PROPS for d in (1, 2)]
    return dict(zip(names, np.nan_to_num(np.array(rows, dtype=np.float64)).T, strict=True))


def hog_blocks(image: np.ndarray) -> np.ndarray:
    """(blocks, 4, HOG_BINS) block-normalised cell histograms of one ROI (skimage's HOG with
    HOG_CELLS x HOG_CELLS cells and 2 x 2 blocks)."""
    cell = image.shape[-1] // HOG_CELLS
    blocks = hog(image, orientations=HOG_BINS, pixels_per_cell=(cell, cell),
                 cells_per_block=(2, 2), feature_vector=False)
    return blocks.reshape(-1, 4, HOG_BINS)


def hog_features(unit: np.ndarray) -> dict[str, np.ndarray]:
    """HOG pooled so that it does not depend on where or at what angle the lesion lies (a ROI has
    no canonical orientation): the ROI's orientation histogram turned to start at its dominant
    orientation (HOG_BINS values), and how peaked the cells' histograms are (mean, max of the
    largest bin's share: high for lines, low for round spots and flat background)."""
    pooled, peaked = [], []
    for image in unit:
        cells = hog_blocks(image).reshape(-1, HOG_BINS)
        histogram = cells.sum(axis=0) / (cells.sum() + EPS)
        pooled.append(np.roll(histogram, -int(np.argmax(histogram))))
        peaked.append(cells.max(axis=1) / (cells.sum(axis=1) + EPS))
    found = {f"orientation_{k}": column for k, column in enumerate(np.array(pooled).T)}
    found["cell_peak_mean"] = np.array([share.mean() for share in peaked])
    found["cell_peak_max"] = np.array([share.max() for share in peaked])
    return found


# ---------------------------------------------------------------- features: all together


def group_features(group: str, unit: np.ndarray, standard: np.ndarray) -> dict[str, np.ndarray]:
    """One feature group of a chunk of ROIs, from its [0, 1] and its standardised pixels."""
    if group == "intensity":
        return intensity_features(unit, standard)
    if group == "spots":
        return spot_features(standard)
    if group == "log":
        return log_features(standard)
    if group == "texture":
        return texture_features(standard)
    return hog_features(unit)


@dataclass
class Features:
    values: np.ndarray  # (N, F) float64
    names: list[str]  # "group.name", F of them


def extract_features(images: np.ndarray, groups: Sequence[str] = FEATURE_GROUPS,
                     chunk: int = 256) -> Features:
    """(N, S, S) ROIs (any integer dtype, or floats in [0, 1]) -> Features, chunk by chunk."""
    unknown = set(groups) - set(FEATURE_GROUPS)
    if unknown or not groups:
        raise ValueError(f"feature groups must be among {FEATURE_GROUPS}, got {list(groups)}")
    parts, names = [], []
    for start in range(0, len(images), chunk):
        unit = unit_stack(images[start : start + chunk])
        standard = robust_standardise(unit)
        columns = {f"{group}.{name}": values for group in groups
                   for name, values in group_features(group, unit, standard).items()}
        parts.append(np.column_stack(list(columns.values())).astype(np.float64))
        names = list(columns)
    return Features(np.nan_to_num(np.concatenate(parts)), names)

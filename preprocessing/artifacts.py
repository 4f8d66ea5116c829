"""Artifact removal: keep the breast, blank burned-in labels, scanner edges and background.

Following Leong et al. (2022): Otsu threshold, morphological opening then closing, keep the
largest connected component (the breast), fill its holes. Labels and edge marks are separate
bright components, so they fall outside the mask and are set to the background value 0.

One refinement: on real films the Otsu threshold lies inside the breast's faint periphery (the
thin tissue near the skin line), so the Otsu component alone cuts the breast short. The largest
Otsu component is therefore only the seed: a second Otsu threshold computed on the dark class
separates true background (zero padding, film base) from that periphery, and the mask is the
component of the smoothed low-threshold mask that overlaps the seed most. Labels stay separate
because black background surrounds them at either threshold.

Guard for crops. The same function runs on ROI crops, which usually lie wholly inside the
breast; there Otsu would split dense from fatty tissue and "largest component" would erase
real tissue and calcifications. So the dark Otsu class is only treated as background when all
of these hold, otherwise the image is returned unchanged (mask all True):

- it covers at least ``MIN_BACKGROUND_FRACTION`` of the image (a meaningful area);
- its mean lies within ``MAX_BACKGROUND_LEVEL`` of the dynamic range above the image minimum
  (film background is near black; fatty tissue is not);
- the kept breast component covers at least ``MIN_BREAST_FRACTION`` of the image (rules out a
  few bright calcifications on flat tissue posing as "the breast").
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from preprocessing.filters import check_image

MIN_BACKGROUND_FRACTION = 0.05
MAX_BACKGROUND_LEVEL = 0.10
MIN_BREAST_FRACTION = 0.10
# Structuring element side as a fraction of the image's short side (the paper's morphology).
KERNEL_FRACTION = 0.015
BACKGROUND_VALUE = 0


def _kernel(shape: tuple[int, ...]) -> np.ndarray:
    """Elliptical structuring element, odd side ~KERNEL_FRACTION of the short side (>= 3)."""
    side = max(3, round(min(shape) * KERNEL_FRACTION) | 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))


def _dark_class_is_background(image: np.ndarray, bright: np.ndarray) -> bool:
    """Whether the dark Otsu class looks like film background (see the module docstring)."""
    dark = ~bright
    if dark.mean() < MIN_BACKGROUND_FRACTION:
        return False
    low, high = float(image.min()), float(image.max())
    dark_level = (float(image[dark].mean()) - low) / (high - low)
    return dark_level <= MAX_BACKGROUND_LEVEL


def _smooth(mask: np.ndarray) -> np.ndarray:
    """Morphological opening (drops specks, thin text) then closing (bridges small gaps)."""
    kernel = _kernel(mask.shape)
    as_u8 = mask.astype(np.uint8)
    opened = cv2.morphologyEx(as_u8, cv2.MORPH_OPEN, kernel)
    return cv2.morphologyEx(opened, cv2.MORPH_CLOSE, kernel).astype(bool)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected True component of mask (all False if mask is empty)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        return np.zeros(mask.shape, dtype=bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def component_overlapping(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The 8-connected True component of mask that shares the most pixels with seed."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    overlap = np.bincount(labels[seed], minlength=count)
    overlap[0] = 0  # label 0 is the False region, never a component
    if overlap.max() == 0:
        return seed
    return labels == int(np.argmax(overlap))


def _grow_to_skin_line(image: np.ndarray, bright: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Extend the Otsu seed into the faint periphery, bounded by a second Otsu on the dark class."""
    periphery_threshold = threshold_otsu(image[~bright])
    tissue = _smooth(image > periphery_threshold)
    return component_overlapping(tissue, seed)


def breast_mask(image: np.ndarray) -> np.ndarray:
    """Boolean mask of the breast: True inside, False on background, labels and edge marks.

    Returns all True when the image has no real background (e.g. a crop inside tissue).
    """
    check_image(image)
    keep_all = np.ones(image.shape, dtype=bool)
    if image.min() == image.max():
        return keep_all
    bright = image > threshold_otsu(image)
    if not _dark_class_is_background(image, bright):
        return keep_all
    seed = largest_component(_smooth(bright))
    breast = ndimage.binary_fill_holes(_grow_to_skin_line(image, bright, seed))
    if breast.mean() < MIN_BREAST_FRACTION:
        return keep_all
    return breast


def remove_artifacts(image: np.ndarray) -> np.ndarray:
    """Copy of image with everything outside breast_mask set to the background value 0."""
    cleaned = image.copy()
    cleaned[~breast_mask(image)] = BACKGROUND_VALUE
    return cleaned

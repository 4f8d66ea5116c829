"""Tests for preprocessing.filters: exactness against the per-pixel reference, dtypes, registry."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from preprocessing.filters import (
    FILTERS,
    adaptive_median,
    apply_filter,
    mean_filter,
    median_filter,
)
from preprocessing.filters_reference import adaptive_median_reference

SHAPE = (23, 31)  # small and non-square so rows and columns cannot be swapped silently


def noisy_image(dtype: type, top: float, density: float, seed: int) -> np.ndarray:
    """Textured image on a coarse grid of levels (many ties) with salt-and-pepper impulses."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(2, 12, SHAPE) * (top / 16)  # ties make min == median common
    draw = rng.random(SHAPE)
    levels[draw < density / 2] = 0
    levels[draw > 1 - density / 2] = top
    return levels.astype(dtype)


CASES = [
    (np.uint8, 255.0),
    (np.uint16, 4095.0),  # 12-bit, like most digitised mammograms
    (np.uint16, 65535.0),
    (np.float32, 1.0),
]


@pytest.mark.parametrize(("dtype", "top"), CASES)
@pytest.mark.parametrize("density", [0.05, 0.3, 0.7])
@pytest.mark.parametrize("max_size", [3, 5, 7, 9])
def test_adaptive_median_equals_reference(
    dtype: type, top: float, density: float, max_size: int
) -> None:
    image = noisy_image(dtype, top, density, seed=int(density * 100) + max_size)
    expected = adaptive_median_reference(image, max_size)
    np.testing.assert_array_equal(adaptive_median(image, max_size), expected)


def patchy_image(dtype: type, top: float) -> np.ndarray:
    """Flat image with one tie-heavy noisy patch and one random patch, larger than a tile.

    Only part of it still needs 7x7 medians, so the tiled and gathered partial-median paths
    run instead of a full-image median.
    """
    rng = np.random.default_rng(11)
    image = np.zeros((130, 200))
    image[20:70, 20:90] = rng.integers(0, 3, (50, 70)) * (top / 2)
    image[90:125, 120:190] = rng.random((35, 70)) * top
    return image.astype(dtype)


@pytest.mark.parametrize(
    ("dtype", "top", "max_size"), [(*case, 7) for case in CASES] + [(np.uint8, 255.0, 9)]
)
def test_adaptive_median_equals_reference_when_only_part_needs_large_windows(
    dtype: type, top: float, max_size: int
) -> None:
    image = patchy_image(dtype, top)
    expected = adaptive_median_reference(image, max_size)
    np.testing.assert_array_equal(adaptive_median(image, max_size), expected)


@pytest.mark.parametrize(("dtype", "top"), CASES)
def test_adaptive_median_keeps_dtype_shape_and_input(dtype: type, top: float) -> None:
    image = noisy_image(dtype, top, 0.2, seed=1)
    before = image.copy()
    result = adaptive_median(image)
    assert result.dtype == image.dtype
    assert result.shape == image.shape
    np.testing.assert_array_equal(image, before)


def test_adaptive_median_replaces_impulses_and_leaves_the_rest() -> None:
    # Smooth texture: a non-impulse pixel is rarely a strict local extreme, so almost all stay.
    rng = np.random.default_rng(3)
    texture = ndimage.gaussian_filter(rng.random((64, 64)), 2)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    clean = np.round(60 + 140 * texture).astype(np.uint8)
    noisy = clean.copy()
    draw = rng.random(clean.shape)
    noisy[draw < 0.05] = 0
    noisy[draw > 0.95] = 255
    impulse = (draw < 0.05) | (draw > 0.95)
    result = adaptive_median(noisy)
    assert not np.isin(result, [0, 255]).any()
    assert (result[~impulse] == clean[~impulse]).mean() > 0.95
    assert np.abs(result[impulse].astype(int) - clean[impulse]).mean() < 10


def test_flat_image_is_unchanged() -> None:
    image = np.full((16, 16), 0.25, dtype=np.float32)
    np.testing.assert_array_equal(adaptive_median(image), image)


@pytest.mark.parametrize(("dtype", "top"), CASES)
@pytest.mark.parametrize("size", [3, 5, 7, 9])
def test_median_filter_matches_scipy(dtype: type, top: float, size: int) -> None:
    image = noisy_image(dtype, top, 0.2, seed=size)
    expected = ndimage.median_filter(image, size=size, mode="nearest")
    np.testing.assert_array_equal(median_filter(image, size), expected)


def test_mean_filter_matches_scipy_on_float() -> None:
    image = noisy_image(np.float32, 1.0, 0.2, seed=5)
    expected = ndimage.uniform_filter(image.astype(np.float64), size=3, mode="nearest")
    np.testing.assert_allclose(mean_filter(image), expected, atol=1e-6)


@pytest.mark.parametrize(("dtype", "top"), CASES)
def test_every_registered_filter_keeps_dtype_and_shape(dtype: type, top: float) -> None:
    image = noisy_image(dtype, top, 0.1, seed=2)
    for name in FILTERS:
        result = apply_filter(name, image)
        assert result.dtype == image.dtype, name
        assert result.shape == image.shape, name


def test_registry_names() -> None:
    assert set(FILTERS) == {"adaptive_median", "median", "mean", "none"}


def test_none_filter_is_identity() -> None:
    image = noisy_image(np.uint16, 4095.0, 0.1, seed=4)
    np.testing.assert_array_equal(apply_filter("none", image), image)


def test_unknown_filter_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown filter 'gauss'.*adaptive_median.*median"):
        apply_filter("gauss", np.zeros((4, 4), dtype=np.uint8))


@pytest.mark.parametrize(
    "image",
    [np.zeros((4, 4, 3), dtype=np.uint8), np.zeros((4, 4), dtype=np.float64)],
    ids=["3-d", "float64"],
)
def test_rejects_unsupported_images(image: np.ndarray) -> None:
    with pytest.raises(ValueError):
        adaptive_median(image)


@pytest.mark.parametrize("max_size", [1, 4])
def test_rejects_bad_window(max_size: int) -> None:
    with pytest.raises(ValueError, match="odd"):
        adaptive_median(np.zeros((8, 8), dtype=np.uint8), max_size)


def test_preprocessing_never_imports_torch() -> None:
    code = (
        "import sys; import preprocessing.filters, preprocessing.artifacts, "
        "preprocessing.filter_table, preprocessing.filters_reference; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

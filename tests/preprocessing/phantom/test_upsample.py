"""Windowed bicubic upsampling: cv2.resize's values, and a window is the whole frame's pixels."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from preprocessing.phantom.anatomy import power_law_texture
from preprocessing.phantom.upsample import upsample_window

# (coarse shape, factor, fine shape): the fine grid drops the last few fine pixels, as
# coarse_parenchyma's grid (every factor-th pixel, rounded up) gives it
CASES = [((50, 33), 4, (200, 130)), ((263, 175), 4, (1051, 699)), ((7, 5), 3, (19, 15)),
         ((40, 30), 2, (80, 59))]


@pytest.mark.parametrize(("coarse_shape", "factor", "fine_shape"), CASES)
def test_the_whole_frame_is_cv2_resize_inter_cubic(coarse_shape: tuple[int, int], factor: int,
                                                   fine_shape: tuple[int, int]) -> None:
    coarse = (1000.0 + 300.0 * np.random.default_rng(0).standard_normal(coarse_shape)).astype(
        np.float32)
    rows, cols = fine_shape
    fine = upsample_window(coarse, factor, slice(0, rows), slice(0, cols))
    expected = cv2.resize(coarse, (coarse_shape[1] * factor, coarse_shape[0] * factor),
                          interpolation=cv2.INTER_CUBIC)[:rows, :cols]
    assert fine.dtype == np.float32 and fine.shape == fine_shape
    assert np.abs(fine - expected).max() < 1e-3  # float rounding only, on values ~1000


@pytest.mark.parametrize(("coarse_shape", "factor", "fine_shape"), CASES)
def test_a_window_is_the_whole_frames_pixels_bit_for_bit(coarse_shape: tuple[int, int],
                                                         factor: int,
                                                         fine_shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    coarse = rng.standard_normal(coarse_shape).astype(np.float32)
    rows, cols = fine_shape
    whole = upsample_window(coarse, factor, slice(0, rows), slice(0, cols))
    for _ in range(20):
        r0, c0 = int(rng.integers(rows)), int(rng.integers(cols))
        r1, c1 = int(rng.integers(r0 + 1, rows + 1)), int(rng.integers(c0 + 1, cols + 1))
        window = upsample_window(coarse, factor, slice(r0, r1), slice(c0, c1))
        assert np.array_equal(window, whole[r0:r1, c0:c1])


def _band_powers(image: np.ndarray, n_bands: int = 6) -> np.ndarray:
    """Mean power of the centred image in octave-wide rings of spatial frequency."""
    power = np.abs(np.fft.rfft2(image - image.mean())) ** 2
    freq = np.hypot(np.fft.fftfreq(image.shape[0])[:, None], np.fft.rfftfreq(image.shape[1]))
    edges = 0.5 / 2.0 ** np.arange(n_bands, -1, -1)
    return np.array([power[(freq >= lo) & (freq < hi)].mean()
                     for lo, hi in itertools.pairwise(edges)])


def test_upsampled_texture_keeps_the_spectrum_and_variance_of_cv2_resize() -> None:
    """The tissue texture's 1/f^3 field, upsampled 4x as at scale 1: its variance and its power
    in every octave of frequency (up to the fine grid's Nyquist) stay within 2% of what the
    whole-image cv2.resize to the image's own size gave before windows were rendered alone."""
    texture = power_law_texture(np.random.default_rng(2), (256, 170), stretch=2.0)
    fine_shape = (1021, 677)  # not 4x the coarse grid: the old resize stretched it to fit
    ours = upsample_window(texture, 4, slice(0, fine_shape[0]), slice(0, fine_shape[1]))
    before = cv2.resize(texture, fine_shape[::-1], interpolation=cv2.INTER_CUBIC)
    assert ours.var() == pytest.approx(before.var(), rel=0.02)
    np.testing.assert_allclose(_band_powers(ours), _band_powers(before), rtol=0.02)

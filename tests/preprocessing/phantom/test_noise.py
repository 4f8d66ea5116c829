"""Tiled phantom noise: any window draws exactly the full image's noise there, at the levels set."""

from __future__ import annotations

import numpy as np
import pytest

from preprocessing.phantom.constants import MAX_PIXEL_VALUE
from preprocessing.phantom.noise import NOISE_TILE, NoiseField

SHAPE = (3 * NOISE_TILE + 37, 2 * NOISE_TILE + 5)  # partial tiles at the bottom and right
WINDOWS = [
    (slice(0, SHAPE[0]), slice(0, SHAPE[1])),
    (slice(NOISE_TILE - 3, NOISE_TILE + 4), slice(2 * NOISE_TILE - 1, 2 * NOISE_TILE + 5)),
    (slice(17, 18), slice(300, 301)),
    (slice(100, 700), slice(1, 2 * NOISE_TILE)),
    (slice(SHAPE[0] - 40, SHAPE[0]), slice(SHAPE[1] - 9, SHAPE[1])),
]


@pytest.fixture(scope="module")
def noise() -> NoiseField:
    return NoiseField.draw(np.random.default_rng(3))


@pytest.mark.parametrize("window", WINDOWS)
def test_a_window_draws_the_full_images_noise_there(noise: NoiseField,
                                                    window: tuple[slice, slice]) -> None:
    image = np.linspace(-50.0, 4000.0, SHAPE[0] * SHAPE[1], dtype=np.float32).reshape(SHAPE)
    whole = noise.apply(image.copy(), slice(0, SHAPE[0]), slice(0, SHAPE[1]))
    alone = noise.apply(image[window].copy(), *window)
    assert np.array_equal(alone, whole[window])


def test_noise_has_the_drawn_levels(noise: NoiseField) -> None:
    """Gaussian with sd sqrt(gain * signal + 16), then impulses at the drawn rate, half each."""
    level = 900.0
    rows, cols = slice(0, 4 * NOISE_TILE), slice(0, 4 * NOISE_TILE)
    noisy = noise.apply(np.full((1024, 1024), level, np.float32), rows, cols)
    dark, bright = noisy == 0.0, noisy == float(MAX_PIXEL_VALUE)
    assert (dark | bright).mean() == pytest.approx(noise.impulse_rate, rel=0.1)
    assert dark.sum() == pytest.approx(bright.sum(), rel=0.2)
    z = (noisy[~(dark | bright)] - level) / np.sqrt(noise.gain * level + 16.0)
    assert abs(z.mean()) < 0.01 and z.std() == pytest.approx(1.0, rel=0.01)


def test_tiles_and_views_draw_independent_noise(noise: NoiseField) -> None:
    first = noise.tile(0, 0)[0]
    beside = noise.tile(0, 1)[0]
    other_view = NoiseField.draw(np.random.default_rng(4)).tile(0, 0)[0]
    for other in (beside, other_view):
        assert abs(np.corrcoef(first.ravel(), other.ravel())[0, 1]) < 0.02
    assert np.array_equal(noise.tile(0, 1)[0], beside)  # and each tile is drawn the same again

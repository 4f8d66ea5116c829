"""Quantum and impulse noise drawn per fixed tile, so any window of an image can be noised alone.

Every NOISE_TILE x NOISE_TILE tile of the image has its own generator, seeded by the view's key
and the tile's position: a crop draws only the tiles it touches, and its noise is exactly the
noise of the same pixels in the full-field image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from preprocessing.phantom.constants import MAX_PIXEL_VALUE

NOISE_TILE = 256


@dataclass(frozen=True)
class NoiseField:
    """Signal-dependent Gaussian noise (~ Poisson) of one view, then salt-and-pepper impulses."""

    key: int  # seeds the generator of every tile
    gain: float  # variance per unit of signal
    impulse_rate: float  # fraction of pixels set to 0 or MAX_PIXEL_VALUE

    @classmethod
    def draw(cls, rng: np.random.Generator) -> NoiseField:
        gain, rate = rng.uniform(0.6, 1.4), rng.uniform(0.002, 0.01)
        return cls(int(rng.integers(2**63)), gain, rate)

    def tile(self, tile_row: int, tile_col: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One whole tile: standard normals (float32), then the flat positions of its impulses
        and their values (0 or MAX_PIXEL_VALUE, float32), a later one winning a repeated place."""
        rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence(
            [self.key, tile_row, tile_col])))
        normal = rng.standard_normal((NOISE_TILE, NOISE_TILE), dtype=np.float32)
        n_impulses = int(rng.binomial(NOISE_TILE * NOISE_TILE, self.impulse_rate))
        where = rng.integers(0, NOISE_TILE * NOISE_TILE, n_impulses)
        values = np.where(rng.random(n_impulses) < 0.5, 0.0, MAX_PIXEL_VALUE).astype(np.float32)
        return normal, where, values

    def draws_in(self, rows: slice, cols: slice) -> tuple[np.ndarray, list[tuple[np.ndarray, ...]]]:
        """The normals of the window rows x cols, from the tiles it touches, and per tile the
        (row, column, value) of its impulses that fall in the window, in window coordinates."""
        normal = np.empty((rows.stop - rows.start, cols.stop - cols.start), np.float32)
        impulses = []
        for tile_row in range(rows.start // NOISE_TILE, -(-rows.stop // NOISE_TILE)):
            top = tile_row * NOISE_TILE
            r0, r1 = max(rows.start, top), min(rows.stop, top + NOISE_TILE)
            for tile_col in range(cols.start // NOISE_TILE, -(-cols.stop // NOISE_TILE)):
                left = tile_col * NOISE_TILE
                c0, c1 = max(cols.start, left), min(cols.stop, left + NOISE_TILE)
                tile_normal, where, values = self.tile(tile_row, tile_col)
                normal[r0 - rows.start:r1 - rows.start, c0 - cols.start:c1 - cols.start] = (
                    tile_normal[r0 - top:r1 - top, c0 - left:c1 - left])
                row, col = np.divmod(where, NOISE_TILE)
                row += top - rows.start
                col += left - cols.start
                inside = ((row >= r0 - rows.start) & (row < r1 - rows.start)
                          & (col >= c0 - cols.start) & (col < c1 - cols.start))
                impulses.append((row[inside], col[inside], values[inside]))
        return normal, impulses

    def apply(self, image: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
        """The noisy window, given the window's clean image (used up: noised in place)."""
        normal, impulses = self.draws_in(rows, cols)
        sigma = np.maximum(image, 0.0)  # sqrt(gain * max(image, 0) + 16), without temporaries
        sigma *= self.gain
        sigma += 16.0
        np.sqrt(sigma, out=sigma)
        normal *= sigma
        image += normal  # image + normal * sigma
        for row, col, values in impulses:  # tile by tile: a later impulse wins a repeated place
            image[row, col] = values
        return image

"""Bicubic upsampling of a coarse field, evaluated over any window of the fine grid.

The geometry and kernel are OpenCV's INTER_CUBIC resize (pixel centres aligned, Keys kernel with
a = -0.75, edge samples repeated), so a whole-frame call matches cv2.resize to float rounding.
Every output pixel is a fixed sequence of float32 products and sums of its own 4 x 4 samples,
so a window's values are bit for bit those of the same pixels in a whole-frame call.
"""

from __future__ import annotations

import numpy as np

_A = -0.75  # OpenCV's bicubic kernel parameter
_OFFSETS = np.arange(-1, 3)


def cubic_taps(n_fine: int, n_coarse: int, window: slice) -> tuple[np.ndarray, np.ndarray]:
    """Coarse sample indices (n, 4) and float32 weights (n, 4) of the fine positions in window."""
    x = (np.arange(window.start, window.stop, dtype=np.float64) + 0.5) * (n_coarse / n_fine)
    x -= 0.5
    base = np.floor(x)
    t = (x - base)[:, None]
    d = np.abs(t - _OFFSETS[None, :])  # distance to each of the 4 samples, in [0, 2)
    near = ((_A + 2.0) * d - (_A + 3.0)) * d * d + 1.0
    far = ((_A * d - 5.0 * _A) * d + 8.0 * _A) * d - 4.0 * _A
    weights = np.where(d <= 1.0, near, far).astype(np.float32)
    indices = np.clip(base.astype(np.int64)[:, None] + _OFFSETS[None, :], 0, n_coarse - 1)
    return indices, weights


def _weighted_sum(samples: list[np.ndarray], weights: list[np.ndarray]) -> np.ndarray:
    total = samples[0] * weights[0]
    for sample, weight in zip(samples[1:], weights[1:], strict=True):
        sample *= weight
        total += sample
    return total


def upsample_window(coarse: np.ndarray, fine_shape: tuple[int, int], rows: slice,
                    cols: slice) -> np.ndarray:
    """The window rows x cols of coarse (float32) resized bicubically to fine_shape."""
    row_idx, row_w = cubic_taps(fine_shape[0], coarse.shape[0], rows)
    col_idx, col_w = cubic_taps(fine_shape[1], coarse.shape[1], cols)
    first = int(row_idx.min())
    band = coarse[first:int(row_idx.max()) + 1]  # the coarse rows this window reads
    across = _weighted_sum([band[:, col_idx[:, k]] for k in range(4)],
                           [col_w[None, :, k] for k in range(4)])
    return _weighted_sum([across[row_idx[:, k] - first] for k in range(4)],
                         [row_w[:, k, None] for k in range(4)])

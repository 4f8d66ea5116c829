"""Bicubic upsampling of a coarse field by an integer factor, evaluated over any window.

Coarse sample k stands for fine pixels factor*k .. factor*k + factor - 1: the window is cut from
OpenCV's INTER_CUBIC resize, to exactly factor times its size, of the coarse samples it reads
plus MARGIN more on every side (edge samples repeated past the field's edges). With an integer
factor OpenCV computes every output pixel from its own 4 x 4 samples with weights set only by
its position modulo factor, so a window's values are bit for bit those of the same pixels in
any other window holding them (checked by the tests), at a tenth of the cost of numpy passes.
"""

from __future__ import annotations

import cv2
import numpy as np

MARGIN = 3  # coarse samples beyond the 2 the cubic kernel reads: the block's edges never show


def _samples(n: int, factor: int, start: int, stop: int) -> tuple[int, np.ndarray]:
    """The first coarse sample read for fine positions start..stop, and the indices of all of
    them with the margin (out-of-range ones repeating the edge sample)."""
    first = start // factor - MARGIN
    return first, np.clip(np.arange(first, (stop - 1) // factor + MARGIN + 1), 0, n - 1)


def upsample_window(coarse: np.ndarray, factor: int, rows: slice, cols: slice) -> np.ndarray:
    """The window rows x cols of coarse (float32) upsampled bicubically by factor."""
    first_row, row_samples = _samples(coarse.shape[0], factor, rows.start, rows.stop)
    first_col, col_samples = _samples(coarse.shape[1], factor, cols.start, cols.stop)
    block = np.ascontiguousarray(coarse[row_samples][:, col_samples])
    fine = cv2.resize(block, (block.shape[1] * factor, block.shape[0] * factor),
                      interpolation=cv2.INTER_CUBIC)
    top, left = rows.start - first_row * factor, cols.start - first_col * factor
    return np.ascontiguousarray(fine[top:top + rows.stop - rows.start,
                                     left:left + cols.stop - cols.start])

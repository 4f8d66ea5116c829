"""DICOM RLE Lossless (PS3.5 Annex G) encoding, fast for images made of long runs (ROI masks).

The output is byte for byte what pydicom's own encoder writes (its "pydicom" plugin: every row
encoded separately, two-byte repeats as replicate runs, odd segments padded with one zero), so
any DICOM reader decodes it; pydicom's pure-Python encoder takes ~0.8 s for one 4000 x 2600
mask, this one tens of milliseconds, because it encodes whole runs instead of single bytes and
encodes a constant row once. Images without long runs (noisy crops) encode correctly but slowly.
"""

from __future__ import annotations

import struct
from functools import lru_cache

import numpy as np

MAX_RUN = 128  # bytes per PackBits packet
HEADER_BYTES = 64  # segment count + 15 offsets, uint32 each
MAX_SEGMENTS = 15


def pack_runs(values: list[int], lengths: list[int]) -> bytes:
    """One row given as runs (byte value, length) as PackBits packets, exactly as pydicom's
    _encode_row: single bytes gather into literal packets, longer runs become replicates."""
    out: list[int] = []
    literal: list[int] = []
    for value, length in zip(values, lengths, strict=True):
        if length == 1:
            literal.append(value)
            continue
        _flush_literal(out, literal)
        literal = []
        full, partial = divmod(length, MAX_RUN)
        out.extend((129, value) * full)
        if partial > 1:
            out.extend((257 - partial, value))
        elif partial == 1:
            out.extend((0, value))
    _flush_literal(out, literal)
    return bytes(out)


def _flush_literal(out: list[int], literal: list[int]) -> None:
    for i in range(0, len(literal), MAX_RUN):
        chunk = literal[i:i + MAX_RUN]
        out.append(len(chunk) - 1)
        out.extend(chunk)


@lru_cache(maxsize=1024)
def _constant_row(value: int, width: int) -> bytes:
    return pack_runs([value], [width])


def _runs(block: np.ndarray) -> tuple[list[int], list[int], list[int]]:
    """Every run of every row of block (rows x columns, uint8): values, lengths, and the index
    of each row's first run (plus the total at the end)."""
    rows, width = block.shape
    change_row, change_col = np.nonzero(block[:, 1:] != block[:, :-1])  # row-major order
    counts = np.bincount(change_row, minlength=rows) + 1
    first = np.zeros(rows + 1, np.int64)
    np.cumsum(counts, out=first[1:])
    starts = np.zeros(int(first[-1]), np.int64)
    later = np.ones(starts.size, bool)
    later[first[:-1]] = False
    starts[later] = change_col + 1
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[first[1:] - 1] = width
    values = block[np.repeat(np.arange(rows), counts), starts]
    return values.tolist(), (ends - starts).tolist(), first.tolist()


def _encode_segment(plane: np.ndarray, constant_rows: np.ndarray) -> bytes:
    """All rows of one byte plane (rows x columns, uint8, may be a strided view)."""
    width = plane.shape[1]
    leading = plane[:, 0].tolist()
    encoded = [_constant_row(leading[r], width) if constant else b""
               for r, constant in enumerate(constant_rows.tolist())]
    busy = np.flatnonzero(~constant_rows)
    if busy.size:
        values, lengths, first = _runs(np.ascontiguousarray(plane[busy]))
        for k, r in enumerate(busy.tolist()):
            a, b = first[k], first[k + 1]
            encoded[r] = (_constant_row(values[a], width) if b - a == 1
                          else pack_runs(values[a:b], lengths[a:b]))
    segment = b"".join(encoded)
    return segment + b"\0" * (len(segment) % 2)


def encode_frame(image: np.ndarray) -> bytes:
    """One RLE Lossless frame of a 2-D uint8 or uint16 image (segments: high byte first)."""
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"need a 2-D uint8 or uint16 image, got {image.dtype} {image.shape}")
    image = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder("<"))
    constant_rows = image.min(axis=1) == image.max(axis=1)
    planes = image.view(np.uint8).reshape(image.shape[0], image.shape[1], image.itemsize)
    segments = [_encode_segment(planes[:, :, k], constant_rows)
                for k in reversed(range(image.itemsize))]  # most significant byte first
    offsets, position = [], HEADER_BYTES
    for segment in segments:
        offsets.append(position)
        position += len(segment)
    header = struct.pack(f"<{1 + MAX_SEGMENTS}L", len(segments),
                         *offsets, *[0] * (MAX_SEGMENTS - len(offsets)))
    return header + b"".join(segments)

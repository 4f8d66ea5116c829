"""The audit's pixel check, both sides of it: copies that must pass, strangers that must not.

On a cache's patient-grouped splits: (1) every pair of different patients' ROIs on two sides
whose perceptual hashes lie within --bits (the audit's threshold plus a margin), with its pixel
correlation; (2) copies of --copies train ROIs (rot90, contrast -10%, brightness +8%, Gaussian
noise of 1% and 3% of the full range) and their correlation with the source. The audit's
default r >= DEFAULT_MIN_CORRELATION should sit between the two.
Run: python bench/audit_pixel_check.py [--cache DIR]
(the default is the cache `python bench/phantom_accuracy.py --patients 1500 --scale 0.25
--spacing-mm 0 --enhance none --seeds 11` built before 2026-12-07).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mcal_lightning.data.datamodule import CacheDataModule
from mcal_lightning.integrity.audit import (
    DEFAULT_MIN_CORRELATION,
    DEFAULT_THRESHOLD,
    dihedral_hashes,
    hash_candidates,
    pixel_correlation,
    popcount,
    roi_hashes,
)
from preprocessing.cache import open_cache

DEFAULT_CACHE = Path("demo/accuracy/1500p-seed11-scale0.25/cache64")
ROTATE_90 = 1  # the DIHEDRAL index that maps a source onto its np.rot90 copy


def stranger_pairs(images: np.ndarray, rows: dict[str, np.ndarray],
                   bits: int) -> list[tuple[int, float]]:
    """(hash bits, pixel r) of every cross-side pair within bits (grouped splits: no patient
    is on two sides, so each pair is two patients)."""
    return [(distance, pixel_correlation(images[a], images[b], transform))
            for (_, a), (_, b), distance, transform
            in hash_candidates(roi_hashes(images), rows, bits)]


def noisy_copy(source: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    top = np.iinfo(source.dtype).max
    changed = np.rot90(source).astype(np.float64) * 0.9 + 0.08 * top
    changed += rng.normal(0.0, noise * top, source.shape)
    return np.clip(changed, 0, top).astype(source.dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--bits", type=int, default=DEFAULT_THRESHOLD + 4)
    parser.add_argument("--copies", type=int, default=200)
    args = parser.parse_args()
    datamodule = CacheDataModule(args.cache, num_workers=0)
    datamodule.setup()
    images = open_cache(args.cache).images
    print(f"{len(images)} ROIs; audit defaults: {DEFAULT_THRESHOLD} bits, "
          f"r >= {DEFAULT_MIN_CORRELATION}")
    strangers = stranger_pairs(images, datamodule.rows, args.bits)
    print(f"different patients, hashes within {args.bits} bits: {len(strangers)} pairs")
    for distance in sorted({d for d, _ in strangers}):
        rs = [r for d, r in strangers if d == distance]
        print(f"  {distance:>2} bits: {len(rs):>4} pairs, highest r {max(rs):.3f}")
    rng = np.random.default_rng(0)
    sources = datamodule.rows["train"][: args.copies]
    for noise in (0.01, 0.03):
        copies = [noisy_copy(np.asarray(images[row]), noise, rng) for row in sources]
        measured = [(int(popcount(dihedral_hashes(images[row]) ^ dihedral_hashes(copy)[0]).min()),
                     pixel_correlation(images[row], copy, ROTATE_90))
                    for row, copy in zip(sources, copies, strict=True)]
        hashed = [r for bits, r in measured if bits <= DEFAULT_THRESHOLD]
        lowest = f"lowest r {min(hashed):.3f}" if hashed else "none"
        print(f"copies with {noise:.0%} noise: {len(measured)}, lowest r "
              f"{min(r for _, r in measured):.3f}; {len(hashed)} within {DEFAULT_THRESHOLD} "
              f"bits, {lowest}; r >= {DEFAULT_MIN_CORRELATION}: "
              f"{sum(r >= DEFAULT_MIN_CORRELATION for r in hashed)} of them")


if __name__ == "__main__":
    main()

"""P2: DICOM -> cache throughput on the phantom at real-like sizes, on all cores.

Peers measured in the same run: the same cache build on one process (parallel scaling) and
decoding alone (what the pipeline adds on top of reading the DICOMs). Target: >= 50 ROIs/s.
Run: python bench/p2_preprocess_throughput.py [--patients N] [--scale F]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from preprocessing.cache import build_cache
from preprocessing.images import read_image
from preprocessing.index import build_index
from preprocessing.phantom import generate_phantom
from preprocessing.pipeline import PreprocessConfig

TARGET_ROIS_PER_S = 50.0


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=80)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: ROIs of 100-1000 px")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"P2 preprocessing throughput  {datetime.date.today()}  {platform.platform()}, "
          f"{cores} cores")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seconds = timed(lambda: generate_phantom(root / "data", patients=args.patients,
                                                 scale=args.scale, seed=1, progress=False))
        index = build_index(root / "data", progress=False)
        rows = index.rows
        sides = [max(read_image(root / "data" / p).shape) for p in rows["crop_path"][:50]]
        print(f"phantom: {len(rows)} ROIs at scale {args.scale} (generated in {seconds:.1f} s), "
              f"ROI long side {min(sides)}-{max(sides)} px (first 50)")
        config = PreprocessConfig(size=args.size)
        decode = timed(lambda: [read_image(root / "data" / p) for p in rows["crop_path"]])
        one = timed(lambda: build_cache(index, root / "c1", config, workers=1, progress=False))
        many = timed(lambda: build_cache(index, root / "cn", config, workers=cores,
                                         progress=False))
    n = len(rows)
    table = [("decode only, 1 process", n / decode), ("cache build, 1 process", n / one),
             (f"cache build, {cores} processes", n / many)]
    for name, rate in table:
        print(f"  {name:<28} {rate:8.1f} ROIs/s")
    print(f"ratio {cores} processes / 1 process: {one / many:.2f}x")
    print(f"ratio cache build / decode only (1 process): {decode / one:.2f}x")
    verdict = "PASS" if n / many >= TARGET_ROIS_PER_S else "FAIL"
    print(f"target >= {TARGET_ROIS_PER_S:.0f} ROIs/s on {cores} cores: {n / many:.1f} -> {verdict}")


if __name__ == "__main__":
    main()

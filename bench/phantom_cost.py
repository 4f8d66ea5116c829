"""Phantom cost: disk bytes per 1,000 ROIs and generation speed, by way of storing full images.

Generates a small phantom at scale 1.0 (CBIS-like 4000 x 2600 px films at 0.05 mm; and also
at --scale F when given) once per --full-images mode: full (the default), reduced (block means
by --reduction) and none (the cheapest). For each it prints the bytes written, split into
full-field images, ROI masks (RLE Lossless) and crops, extrapolated to 1,000 ROIs, and the
generation speed in ROIs/s with all cores (wall clock, spawning the worker processes
included) and in CPU seconds per ROI (the same work measured without the other loads on the
machine). Targets: <= 1.5 GB per 1,000 ROIs and >= 10 ROIs/s on 2 cores; PASS/FAIL each, exit
0 always. It also checks that crops, masks and CSVs are byte-identical whatever the mode, and
measures what RLE-compressing the crops would save and cost (they stay uncompressed).
Run: python bench/phantom_cost.py [--patients N] [--scale F] [--workers W] [--reduction K]
                                [--profile N]
(defaults: 20 patients, about 60 ROIs per mode at scale 1.0; two minutes on 2 cores. --profile
adds a cProfile of N patients of the cheapest mode in one process.)
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom

from preprocessing.images import read_image
from preprocessing.phantom import generate_phantom
from preprocessing.phantom.rle import encode_frame

TARGET_GB_PER_1000 = 1.5
TARGET_ROIS_PER_S = 10.0
MODES = (("full", "default"), ("reduced", ""), ("none", "cheapest"))


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the worker processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _kind(root: Path, path: Path) -> str:
    rel = path.relative_to(root).as_posix()
    if path.suffix != ".dcm":
        return "other"
    if rel.split("/")[0].rsplit("_", 1)[-1] in ("CC", "MLO"):
        return "full"
    description = pydicom.dcmread(path, stop_before_pixels=True).SeriesDescription
    return "mask" if description == "ROI mask images" else "crop"


def measure(root: Path, patients: int, scale: float, mode: str, reduction: int,
            workers: int) -> dict[str, object]:
    cpu, start = _cpu_seconds(), time.perf_counter()
    result = generate_phantom(root, patients=patients, seed=1, scale=scale, workers=workers,
                              progress=False, full_images=mode, reduction=reduction)
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    sizes = {"full": 0, "mask": 0, "crop": 0, "other": 0}
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        kind = _kind(root, path)
        sizes[kind] += path.stat().st_size
        if kind != "full":
            digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    crops = [p for p in root.rglob("000001.dcm") if _kind(root, p) == "crop"]
    return {"rois": result.n_rois, "wall": wall, "cpu": cpu, "sizes": sizes,
            "digest": digest.hexdigest(), "crops": crops}


def crop_compression(crops: list[Path], sample: int) -> str:
    """What RLE Lossless would do to the crops: size, and decode time through read_image."""
    chosen = sorted(crops)[:sample]
    raw = packed = 0
    plain_s = rle_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for k, path in enumerate(chosen):
            ds = pydicom.dcmread(path)
            pixels = ds.pixel_array
            ds.PixelData = pydicom.encaps.encapsulate([encode_frame(pixels)])
            ds["PixelData"].VR, ds["PixelData"].is_undefined_length = "OB", True
            ds.file_meta.TransferSyntaxUID = pydicom.uid.RLELossless
            copy = Path(tmp) / f"{k}.dcm"
            ds.save_as(copy, enforce_file_format=True)
            raw, packed = raw + path.stat().st_size, packed + copy.stat().st_size
            start = time.perf_counter()
            plain = read_image(path)
            plain_s += time.perf_counter() - start
            start = time.perf_counter()
            same = np.array_equal(read_image(copy), plain)
            rle_s += time.perf_counter() - start
            assert same, path
    n = max(len(chosen), 1)
    return (f"crops as RLE Lossless ({len(chosen)} crops): {packed / max(raw, 1):.0%} of the "
            f"uncompressed bytes; decode {1000 * rle_s / n:.1f} ms per crop against "
            f"{1000 * plain_s / n:.1f} ms uncompressed (pydicom's pure-Python RLE decoder)")


def report(scale: float, patients: int, workers: int, reduction: int, sample: int) -> None:
    rows, digests, crops = [], set(), []
    for mode, role in MODES:
        with tempfile.TemporaryDirectory() as tmp:
            found = measure(Path(tmp), patients, scale, mode, reduction, workers)
            if mode == "none" and sample:
                crop_line = crop_compression(found["crops"], sample)
                crops.append(crop_line)
        digests.add(found["digest"])
        rows.append((mode, role, found))
    n = rows[0][2]["rois"]
    print(f"\nscale {scale}: {patients} patients, {n} ROIs per mode, {workers} worker processes"
          f" (reduction {reduction}x for 'reduced')")
    print(f"  {'full images':<20} {'GB/1000 ROIs':>12} {'(full':>7} {'masks':>6} {'crops)':>7}"
          f" {'<= 1.5':>7} {'ROIs/s':>7} {'>= 10':>6} {'CPU s/ROI':>10} {'idle est':>9}")
    for mode, role, found in rows:
        sizes, rois = found["sizes"], found["rois"]
        per = {k: v / rois * 1000 / 1e9 for k, v in sizes.items()}
        total = sum(per.values())
        rate = rois / found["wall"]
        name = f"{mode} ({role})" if role else mode
        print(f"  {name:<20} {total:12.2f} {per['full']:7.2f} {per['mask']:6.2f} "
              f"{per['crop']:7.2f} {'PASS' if total <= TARGET_GB_PER_1000 else 'FAIL':>7} "
              f"{rate:7.1f} {'PASS' if rate >= TARGET_ROIS_PER_S else 'FAIL':>6} "
              f"{found['cpu'] / rois:10.3f} {workers * rois / found['cpu']:9.1f}")
    print(f"  (idle est: ROIs/s that CPU cost allows if {workers} cores were free for it)")
    same = "yes" if len(digests) == 1 else "NO"
    print(f"  crops, masks and CSVs byte-identical across the three modes: {same}")
    for line in crops:
        print(f"  {line}")


def profile(patients: int) -> None:
    """cProfile of the cheapest mode at scale 1.0, in this process: where the time goes."""
    import cProfile
    import pstats

    from preprocessing.phantom.generator import _keep_freed_memory, build_patient

    _keep_freed_memory()  # as in the worker processes
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        profiler.enable()
        for index in range(1, patients + 1):
            build_patient(index, Path(tmp), 1, 1.0, patients, full_images="none")
        profiler.disable()
    print(f"\nprofile: {patients} patients at scale 1.0, full images none, one process")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(14)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--scale", type=float, default=None,
                        help="also measure at this scale (1.0 is always measured)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--reduction", type=int, default=4)
    parser.add_argument("--crop-sample", type=int, default=20,
                        help="crops to RLE-compress for the what-if line (0: skip)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also profile N patients of the cheapest mode (0: skip)")
    args = parser.parse_args()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"Phantom cost  {datetime.date.today()}  {platform.platform()}, {os.cpu_count()} cores"
          f", load average {load} (others' work slows the wall clock, not CPU s/ROI)")
    print(f"targets: <= {TARGET_GB_PER_1000} GB per 1,000 ROIs, >= {TARGET_ROIS_PER_S:.0f} "
          f"ROIs/s on 2 cores")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        generate_phantom(Path(tmp), patients=args.workers, scale=0.02, workers=args.workers,
                         progress=False)
    print(f"worker start-up (a near-empty phantom): {time.perf_counter() - start:.1f} s, "
          "included in every ROIs/s below")
    for scale in dict.fromkeys([1.0, *([args.scale] if args.scale else [])]):
        report(scale, args.patients, args.workers, args.reduction, args.crop_sample)
    if args.profile:
        profile(args.profile)


if __name__ == "__main__":
    main()

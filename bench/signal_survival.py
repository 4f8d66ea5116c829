"""Signal survival: how much calcification contrast each filter and resize mode keeps.

On a phantom (generated here, or an existing one given with --data) every regular ROI has its
calcification-only signal S (phantom_truth/<roi_id>_calc.npy, the crop's 12-bit values before
noise) next to its crop V (the crop's 12-bit values: modality value m, or 4095 - m for
MONOCHROME1, bright = dense). The tissue-only crop is T = V - S: same tissue, same noise.

Per ROI, both are put on the pipeline's unit scale with the SAME min and max (those of V, as
preprocessing.images.normalise does to V), then each goes through one filter
(preprocessing.filters.apply_filter) and one resize mode (preprocessing.pipeline.resize_roi),
and the calcification signal that survives is D = P(V) - P(T). Artifact removal is left out
(it only blanks the background outside the breast, where no calcification is).

Calcification pixels: M = S >= 0.25 * max(S) (the cores of the calcifications, not the blur
tails). After a resize, M becomes the coverage W = R(M) (the same resize applied to the 0/1
mask: the fraction of each output pixel that covers calcification pixels). Contrast:

    C(filter, resize) = sum(D * W) / sum(W)        (W-weighted mean of D over calc pixels)
    C0 = mean of unit(S) over M                      (no filter, full resolution)
    surviving fraction = C / C0

so 1.0 means the calcifications are as bright above their own tissue as in the raw crop, and a
1-px dot shrunk k times (INTER_AREA: a k x k mean) keeps 1/k^2. Downsampling uses
cv2.INTER_AREA, upsampling INTER_LINEAR, as the pipeline does. A ROI whose calcifications all
fall outside a centre crop is left out of that column; a last panel (in_field) gives the
share of calcification pixels each resize keeps inside its output at all (1 for stretch;
less where a fixed-spacing centre crop cuts a large ROI). The table shows, per calcification
type, the mean over its ROIs of the per-ROI fraction; rows are calc types, columns
(filter, resize), printed as one panel per filter.

Run: python bench/signal_survival.py [--patients 60] [--scale 1.0] [--seed 0] [--workers 2]
                                     [--data PHANTOM] [--csv OUT.csv]
(defaults: a 60-patient phantom at scale 1.0, 0.05 mm/px, full images not written; about
3-4 minutes on 2 cores, most of it generating the phantom.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from pydicom.pixels import apply_modality_lut

from preprocessing.filters import apply_filter
from preprocessing.images import pixel_spacing
from preprocessing.phantom import generate_phantom
from preprocessing.phantom.constants import MAX_PIXEL_VALUE
from preprocessing.phantom.generator import TRUTH_CSV_NAME, calc_signal_path
from preprocessing.pipeline import (
    PreprocessConfig,
    centre_crop_or_pad,
    resample_to_spacing,
    resize_roi,
)

FILTER_NAMES = ("none", "adaptive_median", "median", "mean")
RESIZES: dict[str, PreprocessConfig] = {
    "stretch64": PreprocessConfig(size=64, filter="none"),
    "stretch128": PreprocessConfig(size=128, filter="none"),
    "stretch224": PreprocessConfig(size=224, filter="none"),
    "sp0.1@128": PreprocessConfig(size=128, filter="none", spacing_mm=0.1),
    "sp0.1@224": PreprocessConfig(size=224, filter="none", spacing_mm=0.1),
    "sp0.2@128": PreprocessConfig(size=128, filter="none", spacing_mm=0.2),
    "sp0.2@224": PreprocessConfig(size=224, filter="none", spacing_mm=0.2),
}
MASK_FRACTION = 0.25


def crop_values(path: Path) -> tuple[np.ndarray, tuple[float, float]]:
    """The crop's 12-bit values as the phantom drew them (bright = dense) and its spacing."""
    ds = pydicom.dcmread(path)
    modality = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        modality = MAX_PIXEL_VALUE - modality
    spacing = pixel_spacing(ds)
    if spacing is None:
        raise ValueError(f"{path}: no PixelSpacing")
    return modality, spacing


def crop_path(data: Path, roi_id: str) -> Path:
    found = sorted((data / roi_id).glob("*/*/000001.dcm"))
    if len(found) != 1:
        raise FileNotFoundError(f"{data / roi_id}: expected one crop 000001.dcm, found {found}")
    return found[0]


def roi_fractions(values: np.ndarray, signal: np.ndarray,
                  spacing: tuple[float, float]) -> dict[tuple[str, str], float]:
    """Surviving contrast fraction of one ROI for every (filter, resize) pair."""
    low, high = float(values.min()), float(values.max())
    unit_with = (values - low) / (high - low)
    unit_without = (values - signal - low) / (high - low)
    unit_signal = signal / (high - low)
    mask = signal >= MASK_FRACTION * float(signal.max())
    reference = float(unit_signal[mask].mean())
    out: dict[tuple[str, str], float] = {}
    coverage = {name: resize_roi(mask.astype(np.float32), cfg, spacing)
                for name, cfg in RESIZES.items()}
    for name, cfg in RESIZES.items():  # share of the calcification pixels still in the field
        if cfg.spacing_mm is None:
            out[("in_field", name)] = 1.0
        else:
            whole = resample_to_spacing(mask.astype(np.float32), spacing, cfg.spacing_mm)
            out[("in_field", name)] = float(centre_crop_or_pad(whole, cfg.size).sum()
                                            / whole.sum())
    for filter_name in FILTER_NAMES:
        diff = (apply_filter(filter_name, unit_with.astype(np.float32))
                - apply_filter(filter_name, unit_without.astype(np.float32)))
        out[(filter_name, "full")] = float(diff[mask].mean()) / reference
        for name, cfg in RESIZES.items():
            weight = coverage[name]
            if weight.sum() <= 0:
                out[(filter_name, name)] = float("nan")  # all calcifications cropped away
                continue
            resized = resize_roi(diff.astype(np.float32), cfg, spacing)
            out[(filter_name, name)] = float((resized * weight).sum() / weight.sum()) / reference
    return out


def survival_table(data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long table (one row per ROI and pair) and the per-type mean table."""
    truth = pd.read_csv(data / TRUTH_CSV_NAME, dtype={"roi_id": str})
    rows = []
    for roi_id, calc_type in zip(truth["roi_id"], truth["calc_type"], strict=True):
        values, spacing = crop_values(crop_path(data, roi_id))
        signal = np.load(calc_signal_path(data, roi_id)).astype(np.float32)
        if signal.shape != values.shape or signal.max() <= 0:
            raise ValueError(f"{roi_id}: calc signal {signal.shape} does not fit {values.shape}")
        for (filter_name, resize), fraction in roi_fractions(values, signal, spacing).items():
            rows.append({"roi_id": roi_id, "calc_type": calc_type, "filter": filter_name,
                         "resize": resize, "fraction": fraction,
                         "crop_rows": values.shape[0], "crop_cols": values.shape[1]})
    long = pd.DataFrame(rows)
    grouped = long.groupby(["calc_type", "filter", "resize"])["fraction"]
    table = grouped.mean().unstack(["filter", "resize"])
    every = long.groupby(["filter", "resize"])["fraction"].mean()
    table.loc["ALL"] = every
    table.insert(0, ("n", "rois"), truth["calc_type"].value_counts().reindex(table.index)
                 .fillna(len(truth)).astype(int))
    return long, table


def print_table(table: pd.DataFrame) -> None:
    counts = table[("n", "rois")]
    for filter_name in FILTER_NAMES:
        panel = table[filter_name][["full", *RESIZES]].copy()
        panel.insert(0, "n", counts)
        print(f"\nfilter = {filter_name}: surviving calcification contrast fraction")
        print(panel.to_string(float_format=lambda v: f"{v:.2f}"))
    panel = table["in_field"][list(RESIZES)].copy()
    panel.insert(0, "n", counts)
    print("\nshare of calcification pixels inside the output field (centre crop of fixed "
          "spacing; the contrast above is over these only)")
    print(panel.to_string(float_format=lambda v: f"{v:.2f}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="an existing phantom (with its calc sidecar)")
    parser.add_argument("--patients", type=int, default=60)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--csv", type=Path, help="write the per-ROI long table here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="signal_survival_") as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "phantom"
            generate_phantom(data, patients=args.patients, seed=args.seed, scale=args.scale,
                             workers=args.workers, progress=False, full_images="none")
            print(f"phantom: {args.patients} patients, scale {args.scale}, seed {args.seed} "
                  f"({0.05 / args.scale:g} mm/px), {time.perf_counter() - start:.0f} s")
        long, table = survival_table(data)
    shapes = long.drop_duplicates("roi_id")
    print(f"{len(shapes)} ROIs, crops {shapes['crop_rows'].min()}-{shapes['crop_rows'].max()} "
          f"rows x {shapes['crop_cols'].min()}-{shapes['crop_cols'].max()} cols")
    print_table(table)
    if args.csv:
        long.to_csv(args.csv, index=False)
        print(f"\nper-ROI table: {args.csv}")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

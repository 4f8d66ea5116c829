"""CAM mass: does a trained model's Grad-CAM map sit on the calcifications of phantom ROIs?

Every regular phantom ROI has its calcification-only signal S (phantom_truth/<roi_id>_calc.npy,
crop geometry, before preprocessing). Its calcification pixels M = S >= 0.25 * max(S) go through
the cache's own resize (its recorded config: stretch, pad or fixed spacing) as a float 0/1 mask,
giving the coverage W in [0, 1] of each cache pixel. For each ROI of the split, a Grad-CAM map
of the cached image (mcal_lightning.explain.gradcam) scores

    mass inside = sum(cam * W) / sum(cam)        (soft share of the map on the calcifications)

(mcal_lightning.explain.cam_mass). Rows, all on the same ROIs:
  trained (malignant)   the run's model explaining the malignant class
  trained (predicted)   the same model explaining the class it predicts
  untrained (malignant) the same architecture at random init (build_network(weights="none"),
                        seeded), wrapped the same way: what the architecture alone gives
  shuffled maps         the trained malignant maps of other ROIs (a seeded permutation without
                        fixed points), scored against this ROI's W: where maps sit anyway
  uniform map           mean(W), the area fraction: a map that points nowhere
Columns: the mean over ROIs with its patient-bootstrap 95% CI, the ratio to the uniform map
(ratio of means, CI over the same resamples) and the number of all-zero maps (scored as
uniform); ROIs whose calcifications all fall outside a fixed-spacing crop are left out. Below,
the trained malignant row per true calcification type (phantom_truth.csv).
--grid draws 8 ROIs: the cached image, and the malignant CAM overlay with the mask contour.

A map is no finer than the target layer (gradcam.target_layer): a ResNet's last block is S/32
cells a side, 2 x 2 at 64 px, so small caches let a map pick a quadrant at best. --finer N moves
the target N resolution steps back (ResNets: 1 is layer3's last block, S/16; 2 is layer2's, S/8)
for every row: a finer map, from a layer that sees less of the ROI.

Run: python bench/cam_mass.py --run RUN_ID --cache DATASET_DIR --phantom PHANTOM_DIR
                              [--split test] [--limit N] [--seed 0] [--finer 0] [--grid OUT.png]
(run where the run's mlruns/ is, or with MLFLOW_TRACKING_URI set; CPU, seconds per 100 ROIs
at 64 px.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from mcal_lightning.evaluation.plots import CLASS_NAMES
from mcal_lightning.explain.cam_mass import (
    area_fraction,
    calc_mask,
    coverage_map,
    donor_order,
    empty_maps,
    mass_inside,
    point_and_interval,
    resampled_means,
)
from mcal_lightning.explain.gradcam import as_cam_input, cam_maps, overlay
from mcal_lightning.explain.test_grids import sample_positions
from mcal_lightning.models.backbones import build_network
from mcal_lightning.models.module import CalcClassifier
from mcal_lightning.quiet import quiet_libraries
from mcal_lightning.tracking.champion import load_scorable
from mcal_lightning.tracking.pyfunc import preprocess_config
from mcal_lightning.tracking.store import model_uri
from preprocessing.cache import CachedDataset, open_cache
from preprocessing.phantom.generator import TRUTH_CSV_NAME, calc_signal_path
from preprocessing.pipeline import PreprocessConfig

RESAMPLES = 1000
GRID_ROIS = 8
UNIFORM = "uniform map"


def untrained_peer(module: CalcClassifier, seed: int) -> CalcClassifier:
    """The module's architecture and normalisation at a seeded random init."""
    torch.manual_seed(seed)
    net = build_network(**{**module.net.config, "weights": "none"})
    return CalcClassifier(net, mean=module.hparams.mean, std=module.hparams.std).eval()


def checked_config(cache: CachedDataset, model_config: PreprocessConfig) -> PreprocessConfig:
    """The cache's preprocessing; SystemExit when the model learned from another one."""
    config = preprocess_config(cache.config)
    if config != model_config:
        raise SystemExit(f"the run's model learned from {model_config}, the cache holds "
                         f"{config}: pass the cache it was trained on")
    return config


def phantom_rows(cache: CachedDataset, phantom: Path, split: str, limit: int | None,
                 seed: int) -> pd.DataFrame:
    """The split's cache rows that have a calcification signal, at most limit of them (seeded)."""
    table = cache.table[cache.table["split"] == split]
    has_signal = [calc_signal_path(phantom, roi_id).is_file() for roi_id in table["roi_id"]]
    table = table[has_signal].reset_index(drop=True)
    if limit is not None and limit < len(table):
        table = table.iloc[sample_positions(len(table), limit, seed)].reset_index(drop=True)
    if len(table) < 2:
        raise SystemExit(f"{len(table)} ROIs of split {split!r} with a calcification signal "
                         f"under {phantom}: need at least 2")
    return table


def roi_coverage(cache: CachedDataset, row: pd.Series, phantom: Path,
                 config: PreprocessConfig) -> np.ndarray:
    """One ROI's calcification coverage in the cache's geometry."""
    mask = calc_mask(np.load(calc_signal_path(phantom, row["roi_id"])))
    record = cache.item_record(row["source_sha1"])
    if "rows" in record and mask.shape != (record["rows"], record["cols"]):
        raise ValueError(f"{row['roi_id']}: calc signal {mask.shape} does not fit its crop "
                         f"{record['rows']}x{record['cols']}")
    spacing = record.get("spacing")
    return coverage_map(mask, config, tuple(spacing) if spacing else None)


def coverages(cache: CachedDataset, rows: pd.DataFrame, phantom: Path,
              config: PreprocessConfig) -> np.ndarray:
    return np.stack([roi_coverage(cache, row, phantom, config) for _, row in rows.iterrows()])


def in_field(rows: pd.DataFrame, images: np.ndarray,
             cover: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The ROIs whose calcifications are in the cache's field at all (a fixed-spacing centre
    crop can cut them all away), and how many were left out, printed."""
    keep = cover.sum(axis=(1, 2)) > 0
    if not keep.all():
        print(f"{int((~keep).sum())} ROIs left out: their calcifications fall outside the field")
    return rows[keep].reset_index(drop=True), images[keep], cover[keep]


def malignant_maps(module: CalcClassifier, images: np.ndarray, finer: int) -> np.ndarray:
    return cam_maps(module, as_cam_input(images), [1] * len(images), finer)


def scored_maps(trained: CalcClassifier, peer: CalcClassifier, images: np.ndarray,
                cover: np.ndarray, seed: int, finer: int
                ) -> tuple[dict[str, np.ndarray], dict[str, int], dict[str, np.ndarray]]:
    """Per-ROI mass inside of every row, the count of empty maps, and the maps themselves."""
    maps = {"trained (malignant)": malignant_maps(trained, images, finer),
            "trained (predicted)": cam_maps(trained, as_cam_input(images), finer=finer)}
    maps["untrained (malignant)"] = malignant_maps(peer, images, finer)
    maps["shuffled maps"] = maps["trained (malignant)"][donor_order(len(images), seed)]
    masses = {name: mass_inside(found, cover) for name, found in maps.items()}
    masses[UNIFORM] = area_fraction(cover)
    empty = {name: int(empty_maps(found).sum()) for name, found in maps.items()}
    return masses, empty, maps


def summary(masses: dict[str, np.ndarray], patients: pd.Series, seed: int) -> pd.DataFrame:
    """Mean mass inside and its ratio to the uniform map's, each with a patient-bootstrap CI."""
    names = list(masses)
    values = np.stack([masses[name] for name in names])
    resampled = resampled_means(values, patients, RESAMPLES, seed)
    point = values.mean(axis=1)
    uniform = names.index(UNIFORM)
    rows = []
    for k, name in enumerate(names):
        mass = point_and_interval(point[k], resampled[:, k])
        ratio = point_and_interval(point[k] / point[uniform],
                                   resampled[:, k] / resampled[:, uniform])
        rows.append({"row": name, "mass": mass, "ratio": ratio})
    return pd.DataFrame(rows).set_index("row")


def interval_text(found: tuple[float, float, float], digits: int = 3) -> str:
    point, low, high = found
    return f"{point:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def print_summary(table: pd.DataFrame, empty: dict[str, int], n_rois: int) -> None:
    print(f"{'':<24}{'ROIs':>6}{'mass inside (95% CI)':>26}{'x uniform (95% CI)':>22}"
          f"{'empty maps':>12}")
    for name, row in table.iterrows():
        print(f"{name:<24}{n_rois:>6}{interval_text(row['mass']):>26}"
              f"{interval_text(row['ratio'], 2):>22}{empty.get(name, 0):>12}")


def print_by_type(masses: dict[str, np.ndarray], rows: pd.DataFrame, truth: pd.DataFrame,
                  seed: int) -> None:
    """The trained malignant row and the uniform map, per true calcification type."""
    types = truth.set_index("roi_id").loc[rows["roi_id"], "calc_type"].to_numpy()
    print(f"\ntrained (malignant), by true calcification type\n{'calc type':<24}{'ROIs':>6}"
          f"{'mass inside (95% CI)':>26}{'x uniform (95% CI)':>22}{'area fraction':>15}")
    for name in sorted(set(types)):
        keep = types == name
        part = {key: masses[key][keep] for key in ("trained (malignant)", UNIFORM)}
        table = summary(part, rows["patient_id"][keep], seed)
        found = table.loc["trained (malignant)"]
        print(f"{name.lower():<24}{int(keep.sum()):>6}{interval_text(found['mass']):>26}"
              f"{interval_text(found['ratio'], 2):>22}{part[UNIFORM].mean():>15.3f}")


def draw_grid(path: Path, images: np.ndarray, maps: np.ndarray, cover: np.ndarray,
              masses: np.ndarray, labels: np.ndarray, seed: int) -> None:
    """GRID_ROIS seeded ROIs: the image above, its malignant CAM overlay and mask contour below."""
    picks = sample_positions(len(images), GRID_ROIS, seed)
    fig, axes = plt.subplots(2, len(picks), figsize=(1.8 * len(picks), 4.0), squeeze=False)
    for col, i in enumerate(picks):
        top, bottom = axes[0, col], axes[1, col]
        top.imshow(images[i], cmap="gray")
        top.set_title(f"{CLASS_NAMES[int(labels[i])]}\nmass {masses[i]:.2f} / area "
                      f"{cover[i].mean():.2f}", fontsize=7)
        bottom.imshow(overlay(images[i], maps[i]))
        if cover[i].max() > 0:  # the half-coverage line: where a pixel is mostly calcification
            bottom.contour(cover[i], levels=[0.5 * cover[i].max()], colors="white",
                           linewidths=0.6)
        for ax in (top, bottom):
            ax.axis("off")
    fig.suptitle("cached ROI; Grad-CAM (malignant) with the calcification mask contour",
                 fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"\ngrid: {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="MLflow run id of a trained model")
    parser.add_argument("--cache", type=Path, required=True, help="the cache it learned from")
    parser.add_argument("--phantom", type=Path, required=True, help="the phantom behind it")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, help="at most this many ROIs (a seeded sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--finer", type=int, default=0,
                        help="target layer: resolution steps before the last block (0: it)")
    parser.add_argument("--grid", type=Path, help="PNG of 8 ROIs, their CAMs and masks")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    quiet_libraries()
    trained, model_config = load_scorable(model_uri(args.run))
    trained.eval()
    cache = open_cache(args.cache)
    config = checked_config(cache, model_config)
    rows = phantom_rows(cache, args.phantom, args.split, args.limit, args.seed)
    images = np.asarray(cache.images[rows["row"].to_numpy()])
    cover = coverages(cache, rows, args.phantom, config)
    rows, images, cover = in_field(rows, images, cover)
    peer = untrained_peer(trained, args.seed)
    masses, empty, maps = scored_maps(trained, peer, images, cover, args.seed, args.finer)
    print(f"CAM mass inside the calcifications: run {args.run} ({trained.net.config['arch']}), "
          f"cache {config.size}px {config.resize_mode}, split {args.split}: {len(rows)} ROIs "
          f"of {rows['patient_id'].nunique()} patients, seed {args.seed}, target layer "
          f"{args.finer} step(s) before the last block")
    print_summary(summary(masses, rows["patient_id"], args.seed), empty, len(rows))
    truth = pd.read_csv(args.phantom / TRUTH_CSV_NAME, dtype={"roi_id": str})
    print_by_type(masses, rows, truth, args.seed)
    if args.grid:
        draw_grid(args.grid, images, maps["trained (malignant)"], cover,
                  masses["trained (malignant)"], rows["label"].to_numpy(), args.seed)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Filter comparison tables (like Table 4 of Leong et al. 2022): PSNR and MSE per filter.

Two protocols, named in PROTOCOLS:

- "mcal" (the default, and the one that picks the cache's default filter) is a denoising
  benchmark: each sample image x (float in [0, 1]) is the clean reference; salt-and-pepper
  impulse noise of a known density is added (seeded rng); every filter, including "none" as the
  baseline, is applied to the noisy image; PSNR and MSE are measured against x with
  data_range=1, so MSE is on the [0, 1] scale.
- "paper" reproduces the seed paper's scoring (its Figure 2 code, ``psnr(img_gray, img_new1)``):
  each filter is applied to the image itself and scored against that same input, with no noise
  added. This measures how much a filter changes its input, not how well it restores anything:
  the identity ("none") scores MSE 0 and the capped PSNR, and the gentlest filter wins. It is
  kept for comparison with the printed Table 4 (adaptive median 42.3863 dB / MSE 3.7536,
  median 37.5911 / 11.3233, mean 36.9511 / 13.1213), so it uses the paper's scale: images are
  quantised to 8-bit grey levels (0..255, like the paper's JPEG ROIs), filtered as uint8, MSE
  is in grey levels squared and PSNR = 20 log10(255 / sqrt(MSE)), capped at 100 dB where MSE is
  0 exactly as the paper's code returns 100. The paper's text says MAX_f is "the maximum
  signal value that exists in the original image", but its code uses PIXEL_MAX = 255 and every
  row of Table 4 satisfies PSNR = 10 log10(255^2 / MSE) to four decimals, so 255 it is. The
  difference is taken in float64 here, never in uint8 (which would wrap around).

PSNR does not depend on the scale (the data range scales with the error), so the two
protocols' PSNR columns are comparable in dB; their MSE columns are not (x 255^2).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio

from preprocessing.filters import FILTERS, apply_filter

TABLE_COLUMNS = ("filter", "psnr_mean", "psnr_sd", "mse_mean", "mse_sd", "n")
PROTOCOLS = ("mcal", "paper")
# PSNR is infinite when a filter restores an image exactly; cap it so means stay finite.
# 100 dB is also what the paper's psnr() returns for MSE 0.
MAX_PSNR_DB = 100.0
# The paper's PIXEL_MAX: its images are 8-bit grey levels.
PAPER_PIXEL_MAX = 255.0


def as_unit_float(image: np.ndarray) -> np.ndarray:
    """A 2-D image as float32 in [0, 1]: integers scaled by their dtype's maximum."""
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    if np.issubdtype(image.dtype, np.integer):
        return (image / np.iinfo(image.dtype).max).astype(np.float32)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def as_grey_levels(image: np.ndarray) -> np.ndarray:
    """A 2-D image as uint8 grey levels 0..255 (the paper's 8-bit ROIs), rounded."""
    return np.round(as_unit_float(image) * PAPER_PIXEL_MAX).astype(np.uint8)


def add_salt_and_pepper(image: np.ndarray, density: float, rng: np.random.Generator) -> np.ndarray:
    """Copy of a [0, 1] image with a fraction density of pixels set to 0 or 1 (half each)."""
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"noise density must be in [0, 1], got {density}")
    noisy = image.copy()
    draw = rng.random(image.shape)
    noisy[draw < density / 2] = 0.0
    noisy[(draw >= density / 2) & (draw < density)] = 1.0
    return noisy


def _scores(clean: np.ndarray, noisy: np.ndarray) -> list[dict[str, float | str]]:
    """PSNR and MSE of every filter applied to noisy, scored against clean."""
    rows: list[dict[str, float | str]] = []
    for name in FILTERS:
        restored = apply_filter(name, noisy)
        mse = float(mean_squared_error(clean, restored))
        psnr = MAX_PSNR_DB if mse == 0 else peak_signal_noise_ratio(clean, restored, data_range=1)
        rows.append({"filter": name, "psnr": min(float(psnr), MAX_PSNR_DB), "mse": mse})
    return rows


def _paper_scores(grey: np.ndarray) -> list[dict[str, float | str]]:
    """PSNR and MSE of every filter applied to an 8-bit image, scored against that image."""
    reference = grey.astype(np.float64)
    rows: list[dict[str, float | str]] = []
    for name in FILTERS:
        mse = float(np.mean((reference - apply_filter(name, grey).astype(np.float64)) ** 2))
        psnr = MAX_PSNR_DB if mse == 0 else 20 * np.log10(PAPER_PIXEL_MAX / np.sqrt(mse))
        rows.append({"filter": name, "psnr": min(float(psnr), MAX_PSNR_DB), "mse": mse})
    return rows


def _summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per filter: mean and SD of PSNR and MSE, and the sample count."""
    grouped = scores.groupby("filter", sort=False)
    table = pd.DataFrame(
        {
            "psnr_mean": grouped["psnr"].mean(),
            "psnr_sd": grouped["psnr"].std(ddof=1).fillna(0.0),
            "mse_mean": grouped["mse"].mean(),
            "mse_sd": grouped["mse"].std(ddof=1).fillna(0.0),
            "n": grouped.size(),
        }
    ).reset_index()
    table = table.sort_values("psnr_mean", ascending=False, kind="stable")
    return table.reset_index(drop=True)[list(TABLE_COLUMNS)]


def filter_table(
    images: Iterable[np.ndarray],
    noise_density: float = 0.05,
    seed: int = 0,
    protocol: str = "mcal",
) -> pd.DataFrame:
    """PSNR/MSE of each filter in FILTERS under a protocol from PROTOCOLS (module docstring).

    "mcal": restoring images from salt-and-pepper noise of noise_density (seeded by seed),
    scored against the clean image on the [0, 1] scale. "paper": each filter scored against its
    own 8-bit input on the 0..255 scale; noise_density and seed are not used.
    Columns: filter, psnr_mean, psnr_sd, mse_mean, mse_sd, n; sorted by psnr_mean descending.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; valid choices: {', '.join(PROTOCOLS)}")
    rng = np.random.default_rng(seed)
    rows: list[dict[str, float | str]] = []
    for image in images:
        if protocol == "paper":
            rows.extend(_paper_scores(as_grey_levels(image)))
            continue
        clean = as_unit_float(image)
        rows.extend(_scores(clean, add_salt_and_pepper(clean, noise_density, rng)))
    if not rows:
        raise ValueError("filter_table needs at least one image; got an empty input")
    return _summarise(pd.DataFrame(rows))


def best_filter(table: pd.DataFrame) -> str:
    """The filter with the highest mean PSNR in a filter_table result."""
    if table.empty:
        raise ValueError("empty filter table: no best filter")
    return str(table.loc[table["psnr_mean"].idxmax(), "filter"])

"""Both filter-table protocols on real film: mini-MIAS calcification crops and whole films.

Run as ``python bench/filter_protocols.py`` (~1 min); needs ../shared/data/mini-mias. Prints the
mcal protocol (impulse noise added, scored against the clean ROI) and the paper's (each filter
scored against its own input) for the same images, and the share of pixels each filter changes:
the README's filter-protocol tables. The phantom side is ``mcal filters --protocol mcal|paper``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from preprocessing.artifacts import remove_artifacts
from preprocessing.filter_table import PROTOCOLS, as_grey_levels, filter_table
from preprocessing.filters import FILTERS, apply_filter
from preprocessing.images import normalise

MIAS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mini-mias"
SIDE, FILM = 128, 1024  # crop side (25.6 mm at 200 um per pixel), film side


def film(name: str) -> np.ndarray:
    return cv2.imread(str(MIAS / "full_pgm" / f"{name}.pgm"), cv2.IMREAD_UNCHANGED)


def calcification_crops() -> list[np.ndarray]:
    """SIDE x SIDE crops centred on each labelled calcification, 8-bit as stored."""
    labels = pd.read_csv(MIAS / "calc_labels.csv", dtype={"qc_note": str})
    good = labels[labels["qc_note"].isna() & labels["x"].notna()]
    crops = []
    for row in good.itertuples():
        r, c = FILM - int(row.y_bottom_origin), int(row.x)  # MIAS's origin is bottom-left
        top = min(max(r - SIDE // 2, 0), FILM - SIDE)
        left = min(max(c - SIDE // 2, 0), FILM - SIDE)
        crops.append(film(row.mias_ref)[top:top + SIDE, left:left + SIDE])
    return crops


def whole_films() -> list[np.ndarray]:
    return [remove_artifacts(normalise(film(p.stem)))
            for p in sorted((MIAS / "full_pgm").glob("*.pgm"))]


def changed(images: list[np.ndarray]) -> str:
    """Share of 8-bit pixels each filter changes."""
    grey = [as_grey_levels(image) for image in images]
    shares = {name: np.mean([(apply_filter(name, g) != g).mean() for g in grey])
              for name in FILTERS}
    return ", ".join(f"{name} {100 * share:.1f}%" for name, share in shares.items())


def main() -> int:
    if not (MIAS / "calc_labels.csv").is_file():
        print(f"{MIAS} not present: this report reads the shared mini-MIAS films")
        return 0
    for title, images in ((f"calcification crops {SIDE}x{SIDE}", calcification_crops()),
                          ("whole films, normalised, artifacts removed", whole_films())):
        for protocol in PROTOCOLS:
            table = filter_table(images, noise_density=0.05, seed=0, protocol=protocol)
            print(f"\n{len(images)} {title}, protocol {protocol}")
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(f"pixels changed (8-bit): {changed(images)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tests for preprocessing.artifacts on synthetic images and on real mini-MIAS films."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from skimage.filters import threshold_otsu

from preprocessing.artifacts import breast_mask, remove_artifacts

REPO_ROOT = Path(__file__).resolve().parents[2]
MINI_MIAS = REPO_ROOT.parent / "shared" / "data" / "mini-mias"
FILMS = (
    "mdb209", "mdb211", "mdb212", "mdb213", "mdb214", "mdb216",
    "mdb218", "mdb219", "mdb222", "mdb223", "mdb226", "mdb227",
)  # fmt: skip
FILMS_WITH_LABEL_BLOCKS = ("mdb209", "mdb216", "mdb219")  # checked by eye
MIAS_SIZE = 1024

SHAPE = (300, 240)
LABEL = (slice(10, 40), slice(10, 45))
EDGE_STRIP = (slice(0, 300), slice(232, 240))


def ellipse_radius() -> np.ndarray:
    """Normalised elliptical radius of each pixel: < 1 inside the synthetic breast."""
    rows, cols = np.mgrid[: SHAPE[0], : SHAPE[1]]
    return np.hypot((rows - 150) / 110, (cols - 140) / 80)


def synthetic_film(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Float film: textured ellipse with a faint rim, a detached label and a bright edge strip."""
    rng = np.random.default_rng(seed)
    radius = ellipse_radius()
    breast = radius < 1
    image = np.abs(rng.normal(0.02, 0.005, SHAPE))
    thickness = np.sqrt(np.clip(1 - radius**2, 0, 1))  # faint near the skin line
    texture = ndimage.gaussian_filter(rng.random(SHAPE), 2)
    image[breast] = (0.12 + 0.5 * thickness + 0.2 * (texture - 0.5))[breast]
    image[LABEL] = 0.95
    image[EDGE_STRIP] = 0.85
    return image.astype(np.float32), breast


def tissue_crop(seed: int = 0) -> np.ndarray:
    """Textured crop from inside the breast: no background anywhere."""
    texture = ndimage.gaussian_filter(np.random.default_rng(seed).random((128, 128)), 3)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    return (0.3 + 0.5 * texture).astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks."""
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.uint16])
def test_synthetic_film_keeps_breast_and_drops_label_and_strip(dtype: type) -> None:
    image, breast = synthetic_film()
    if dtype != np.float32:
        image = np.round(image * np.iinfo(dtype).max).astype(dtype)
    mask = breast_mask(image)
    cleaned = remove_artifacts(image)
    assert cleaned.dtype == image.dtype
    assert iou(mask, breast) > 0.95
    assert not cleaned[LABEL].any()
    assert not cleaned[EDGE_STRIP].any()
    np.testing.assert_array_equal(cleaned[mask], image[mask])


def test_tissue_crop_is_returned_unchanged() -> None:
    crop = tissue_crop()
    assert breast_mask(crop).all()
    np.testing.assert_array_equal(remove_artifacts(crop), crop)


def test_calcifications_on_flat_tissue_are_not_mistaken_for_a_breast() -> None:
    # Otsu splits flat tissue (dark, near the minimum) from a few bright calcifications; the
    # guard must keep the crop whole instead of keeping one calcification.
    rng = np.random.default_rng(1)
    crop = rng.normal(0.4, 0.01, (128, 128)).astype(np.float32)
    for row, col in rng.integers(8, 120, (12, 2)):
        crop[row - 2 : row + 3, col - 2 : col + 3] = 1.0
    np.testing.assert_array_equal(remove_artifacts(crop), crop)


def test_constant_image_is_returned_unchanged() -> None:
    image = np.full((32, 32), 7, dtype=np.uint8)
    np.testing.assert_array_equal(remove_artifacts(image), image)


def test_rejects_colour_image() -> None:
    with pytest.raises(ValueError, match="2-D"):
        breast_mask(np.zeros((8, 8, 3), dtype=np.uint8))


# --- real films -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini_mias() -> Path:
    """The shared mini-MIAS folder, or skip."""
    if not (MINI_MIAS / "full_pgm").is_dir():
        pytest.skip(
            "../shared/data/mini-mias not present: real-film tests need the shared data folder"
        )
    return MINI_MIAS


@pytest.fixture(scope="module")
def calc_centres(mini_mias: Path) -> pd.DataFrame:
    """Valid calcification centres (mias_ref, row, col); qc-noted or centreless rows skipped."""
    labels = pd.read_csv(mini_mias / "calc_labels.csv", dtype={"qc_note": str})
    valid = labels["qc_note"].isna() & labels["x"].notna() & labels["y_bottom_origin"].notna()
    good = labels[valid]
    return pd.DataFrame(
        {
            "mias_ref": good["mias_ref"],
            "row": MIAS_SIZE - good["y_bottom_origin"].astype(int),  # MIAS origin is bottom-left
            "col": good["x"].astype(int),
        }
    )


def read_film(mini_mias: Path, name: str) -> np.ndarray:
    """One mini-MIAS film at full bit depth."""
    film = cv2.imread(str(mini_mias / "full_pgm" / f"{name}.pgm"), cv2.IMREAD_UNCHANGED)
    assert film is not None, f"cannot read {name}.pgm"
    return film


def label_like_pixels(film: np.ndarray) -> np.ndarray:
    """Pixels of bright blobs well away from the Otsu breast core, found without breast_mask.

    Burned-in labels and edge marks are near-white and separated from the breast by black
    film; bright tissue (pectoral muscle, dense tissue) is part of or touches the core.
    """
    otsu = (film > threshold_otsu(film)).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(otsu, connectivity=8)
    core = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    distance = ndimage.distance_transform_edt(~core)
    bright = (film > 0.8 * film.max()).astype(np.uint8)
    count, blobs, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=8)
    ids = np.arange(1, count)
    gap = np.asarray(ndimage.minimum(distance, blobs, ids))
    label_like = ids[(stats[1:, cv2.CC_STAT_AREA] >= 20) & (gap > 20)]
    return np.isin(blobs, label_like)


@pytest.mark.parametrize("name", FILMS)
def test_real_film_breast_is_whole_and_labels_are_gone(
    mini_mias: Path, calc_centres: pd.DataFrame, name: str
) -> None:
    film = read_film(mini_mias, name)
    mask = breast_mask(film)
    cleaned = remove_artifacts(film)

    assert cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] == 2  # one + bg
    np.testing.assert_array_equal(ndimage.binary_fill_holes(mask), mask)
    assert 0.15 <= mask.mean() <= 0.70
    np.testing.assert_array_equal(cleaned[mask], film[mask])
    assert not cleaned[~mask].any()

    survivors = int(np.count_nonzero(cleaned[label_like_pixels(film)]))
    assert survivors == 0, f"{name}: {survivors} pixels of bright blobs off the breast survived"

    centres = calc_centres[calc_centres["mias_ref"] == name]
    for row, col in zip(centres["row"], centres["col"], strict=True):
        assert mask[row, col], f"{name}: calcification centre (row {row}, col {col}) cut away"


@pytest.mark.parametrize("name", FILMS_WITH_LABEL_BLOCKS)
def test_label_check_is_not_vacuous(mini_mias: Path, name: str) -> None:
    assert label_like_pixels(read_film(mini_mias, name)).sum() > 500  # a text block was found

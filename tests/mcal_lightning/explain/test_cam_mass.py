"""CAM mass: the mask, its coverage in cache geometry, mass inside, shuffles and intervals."""

import numpy as np
import pytest

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
from preprocessing.pipeline import PreprocessConfig

SIZE = 64


def block_mask(shape: tuple[int, int], rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[rows, cols] = True
    return mask


def test_mask_keeps_the_cores_above_a_quarter_of_the_peak():
    signal = np.array([[0.0, 10.0, 24.0], [25.0, 60.0, 100.0]])
    assert calc_mask(signal).tolist() == [[False, False, False], [True, True, True]]
    with pytest.raises(ValueError, match="no calcification"):
        calc_mask(np.zeros((4, 4)))


def test_stretched_coverage_keeps_the_masks_area_fraction():
    """A 256 x 128 crop stretched to 64 x 64: the covered share of the output is the mask's."""
    mask = block_mask((256, 128), slice(40, 120), slice(16, 56))
    cover = coverage_map(mask, PreprocessConfig(size=SIZE, filter="none"))
    assert cover.shape == (SIZE, SIZE) and cover.min() >= 0 and cover.max() <= 1
    assert area_fraction(cover[None])[0] == pytest.approx(mask.mean(), rel=0.02)
    rows, cols = np.nonzero(cover > 0.5)
    assert (rows.min(), rows.max()) == (10, 29) and (cols.min(), cols.max()) == (8, 27)


def test_padded_coverage_shrinks_the_fraction_by_the_padding():
    mask = block_mask((256, 128), slice(0, 256), slice(0, 128))  # the whole crop
    cover = coverage_map(mask, PreprocessConfig(size=SIZE, filter="none", aspect="pad"))
    assert area_fraction(cover[None])[0] == pytest.approx(0.5, abs=0.01)


def test_fixed_spacing_coverage_keeps_the_area_in_mm():
    """0.05 mm pixels to 0.1 mm: 400 mask pixels become 100 output pixels' worth."""
    mask = block_mask((100, 100), slice(30, 50), slice(40, 60))
    cover = coverage_map(mask, PreprocessConfig(size=SIZE, filter="none", spacing_mm=0.1),
                         (0.05, 0.05))
    assert cover.sum() == pytest.approx(mask.sum() / 4, rel=0.01)


def test_a_map_on_the_mask_has_all_its_mass_inside():
    cover = coverage_map(block_mask((SIZE, SIZE), slice(10, 20), slice(30, 44)),
                         PreprocessConfig(size=SIZE, filter="none"))
    cam = np.where(cover > 0, np.random.default_rng(0).random(cover.shape), 0.0)
    outside = np.where(cover > 0, 0.0, 1.0)
    masses = mass_inside(np.stack([cam, outside]), np.stack([cover, cover]))
    assert masses == pytest.approx([1.0, 0.0])


def test_a_uniform_or_empty_map_gets_the_area_fraction():
    cover = np.zeros((2, SIZE, SIZE))
    cover[0, :8, :8] = 1.0
    cover[1, 20:40, :] = 0.5
    uniform = np.full_like(cover, 0.3)
    empty = np.zeros_like(cover)
    assert empty_maps(empty).all() and not empty_maps(uniform).any()
    expected = [64 / SIZE**2, 0.5 * 20 / SIZE]
    assert mass_inside(uniform, cover) == pytest.approx(expected)
    assert mass_inside(empty, cover) == pytest.approx(expected)
    assert area_fraction(cover) == pytest.approx(expected)


def test_mass_inside_refuses_maps_of_another_shape():
    with pytest.raises(ValueError, match="differ in shape"):
        mass_inside(np.ones((2, 8, 8)), np.ones((2, 16, 16)))


def test_donor_order_is_a_seeded_permutation_without_fixed_points():
    for n in (2, 3, 17):
        donor = donor_order(n, seed=5)
        assert sorted(donor.tolist()) == list(range(n))
        assert (donor != np.arange(n)).all()
        assert np.array_equal(donor, donor_order(n, seed=5))
    assert not np.array_equal(donor_order(17, seed=5), donor_order(17, seed=6))
    with pytest.raises(ValueError):
        donor_order(1, seed=0)


def test_patient_resampled_means_move_patients_together():
    """Two patients, each with a constant value: every resample's mean lies between them and
    a patient's ROIs never split (so the means are mixtures of 0 and 1 by ROI count)."""
    values = np.array([[0.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    means = resampled_means(values, ["a", "a", "a", "b"], n_resamples=400, seed=1)
    assert means.shape == (400, 2)
    assert set(np.round(means[:, 0], 6)) <= {0.0, 0.25, 1.0}  # aa, ab/ba, bb
    assert np.allclose(means[:, 1], 2.0)
    point, low, high = point_and_interval(values[0].mean(), means[:, 0])
    assert point == 0.25 and low == 0.0 and high == 1.0

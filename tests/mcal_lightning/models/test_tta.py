"""Test-time augmentation: invariant models are unchanged, others get the mean over the views."""

import numpy as np
import pytest
import torch

from mcal_lightning.models.tta import tta_probabilities, views

RNG = np.random.default_rng(0)
IMAGES = torch.from_numpy(RNG.random((3, 1, 6, 6)).astype(np.float32))
WEIGHTS = torch.from_numpy(RNG.normal(size=(6, 6)).astype(np.float32))


def spatial_mean(images: torch.Tensor) -> torch.Tensor:
    """Exactly dihedral-invariant: a global average, as a CNN's pooling ends."""
    return images.mean(dim=(-3, -2, -1)) * 4 - 2


def weighted_sum(images: torch.Tensor) -> torch.Tensor:
    """Not invariant: each pixel has its own weight."""
    return (images[:, 0] * WEIGHTS).sum(dim=(-2, -1))


def numpy_transforms(mode: str) -> list:
    """The group's transforms written independently of the module, on (H, W) arrays."""
    flips = [lambda a: a, np.fliplr, np.flipud, lambda a: np.flipud(np.fliplr(a))]
    turns = [lambda a, k=k: np.rot90(a, k) for k in range(4)]
    mirrored = [lambda a, k=k: np.rot90(np.fliplr(a), k) for k in range(4)]
    return flips if mode == "flips" else turns + mirrored


@pytest.mark.parametrize("mode", ["flips", "dihedral"])
def test_an_invariant_model_is_unchanged(mode: str):
    plain = torch.sigmoid(spatial_mean(IMAGES) / 1.5)
    augmented = tta_probabilities(spatial_mean, IMAGES, mode, temperature=1.5)
    torch.testing.assert_close(augmented, plain, rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode", ["flips", "dihedral"])
def test_other_models_get_the_mean_of_the_transformed_predictions(mode: str):
    arrays = IMAGES[:, 0].numpy()
    weights = WEIGHTS.numpy()
    expected = np.mean([[1 / (1 + np.exp(-(t(a) * weights).sum() / 2.0)) for a in arrays]
                        for t in numpy_transforms(mode)], axis=0)
    augmented = tta_probabilities(weighted_sum, IMAGES, mode, temperature=2.0)
    np.testing.assert_allclose(augmented.numpy(), expected, rtol=1e-5)
    plain = torch.sigmoid(weighted_sum(IMAGES) / 2.0).numpy()
    assert not np.allclose(augmented.numpy(), plain, atol=1e-3)


@pytest.mark.parametrize(("mode", "count"), [("none", 1), ("flips", 4), ("dihedral", 8)])
def test_each_mode_has_its_number_of_distinct_views(mode: str, count: int):
    found = views(IMAGES, mode)
    assert len(found) == count
    assert len({tuple(view.flatten().tolist()) for view in found}) == count
    torch.testing.assert_close(found[0], IMAGES)


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="dihedral"):
        views(IMAGES, "rotations")

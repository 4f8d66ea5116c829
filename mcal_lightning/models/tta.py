"""Test-time augmentation: a model's probability averaged over flips or the dihedral group.

This is fastai's ``learn.tta()`` for ROIs, whose orientation carries no label: "flips" averages
the identity, the horizontal, the vertical and both flips (a 180-degree turn); "dihedral" the 8
symmetries of the square (4 quarter turns, each with and without a horizontal flip).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from mcal_lightning.config import TTA_MODES

SPATIAL = (-2, -1)


def check_mode(mode: str) -> str:
    """The mode, or ValueError naming the known ones."""
    if mode not in TTA_MODES:
        raise ValueError(f"unknown tta {mode!r}: expected one of {', '.join(TTA_MODES)}")
    return mode


def views(images: Tensor, mode: str) -> list[Tensor]:
    """The (..., H, W) batch under each transform of the mode (the identity first)."""
    check_mode(mode)
    if mode == "none":
        return [images]
    if mode == "flips":
        return [images, images.flip(-1), images.flip(-2), images.flip(SPATIAL)]
    return [torch.rot90(image, k, dims=SPATIAL)
            for image in (images, images.flip(-1)) for k in range(4)]


def tta_probabilities(logits_of: Callable[[Tensor], Tensor], images: Tensor, mode: str,
                      temperature: float = 1.0) -> Tensor:
    """(B,) mean over the mode's views of sigmoid(logits / temperature)."""
    probs = [torch.sigmoid(logits_of(view).float() / temperature) for view in views(images, mode)]
    return torch.stack(probs).mean(dim=0)

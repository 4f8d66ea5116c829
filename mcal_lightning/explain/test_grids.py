"""Grad-CAM grids of a test evaluation as MLflow artifacts: the top losses and a random sample."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor, nn

from mcal_lightning.explain.gradcam import as_cam_input, cam_figure, cam_maps, overlay
from mcal_lightning.tracking.pyfunc import THRESHOLD
from mcal_lightning.tracking.store import log_figure

TOP_LOSSES_ARTIFACT = "plots/test_gradcam_top_losses.png"
SAMPLE_ARTIFACT = "plots/test_gradcam_sample.png"


def top_loss_positions(losses: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest losses, largest first."""
    return np.argsort(-losses, kind="stable")[:k]


def sample_positions(n: int, k: int, seed: int) -> np.ndarray:
    """min(k, n) distinct positions out of n, drawn with the seed, in ascending order."""
    return np.sort(np.random.default_rng(seed).choice(n, size=min(k, n), replace=False))


def cam_grid(module: nn.Module, images: np.ndarray, outputs: dict[str, Tensor],
             positions: np.ndarray, title: str, with_losses: bool) -> Figure:
    """The figure of the evaluated samples at these positions, each explaining its prediction."""
    rows = outputs["indices"].numpy()[positions]
    labels, probs = outputs["labels"].numpy()[positions], outputs["probs"].numpy()[positions]
    rois = np.asarray(images[rows])
    maps = cam_maps(module, as_cam_input(rois), (probs >= THRESHOLD).astype(int).tolist())
    overlays = [overlay(roi, cam) for roi, cam in zip(rois, maps, strict=True)]
    losses = outputs["losses"].numpy()[positions] if with_losses else None
    return cam_figure(overlays, labels, probs, title, losses)


def log_cam_artifacts(module: nn.Module, images: np.ndarray, outputs: dict[str, Tensor],
                      top_k: int, sample: int, seed: int = 0) -> list[str]:
    """Log Grad-CAM grids of the top_k test losses and of `sample` random test ROIs.

    images: the cache's ROI array, indexed by the cache rows in outputs["indices"]; outputs: a
    module's ``last_outputs["test"]``. A count of 0 skips its figure. Returns the logged paths.
    """
    losses = outputs["losses"].numpy()
    figures = [
        (TOP_LOSSES_ARTIFACT, top_loss_positions(losses, top_k), "Grad-CAM, top losses", True),
        (SAMPLE_ARTIFACT, sample_positions(len(losses), sample, seed), "Grad-CAM, random ROIs",
         False),
    ]
    logged = []
    for artifact, positions, title, with_losses in figures:
        if len(positions):
            log_figure(cam_grid(module, images, outputs, positions, title, with_losses), artifact)
            logged.append(artifact)
    return logged

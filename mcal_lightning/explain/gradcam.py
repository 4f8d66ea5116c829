"""Grad-CAM maps for the four backbones (pytorch-grad-cam), overlays and a grid figure.

A map is the last convolutional block's activations weighted by the gradient of the score of
the class it explains: the malignancy logit for malignant, the negated logit for benign
(pytorch-grad-cam's BinaryClassifierOutputTarget), so a map shows the evidence for that class.
By default each image's predicted class is explained.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files and MLflow, never to a window

from collections.abc import Callable, Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget
from torch import Tensor, nn

from mcal_lightning.evaluation.plots import CLASS_NAMES
from mcal_lightning.tracking.pyfunc import THRESHOLD

CAM_BATCH = 32  # images per forward/backward pass: bounded memory for long lists


def flat_layers(modules: Iterable[nn.Module]) -> list[nn.Module]:
    """Sequential containers opened up in forward order; every other module kept whole."""
    layers: list[nn.Module] = []
    for module in modules:
        layers += flat_layers(module) if isinstance(module, nn.Sequential) else [module]
    return layers


def holds_conv(module: nn.Module) -> bool:
    return any(isinstance(layer, nn.Conv2d) for layer in module.modules())


def target_layer(net: nn.Module, finer: int = 0,
                 sides: Sequence[int] | None = None) -> nn.Module:
    """The last convolutional block of a ClassifierNet's backbone, found from its structure.

    ResNets: layer4's last residual block (its output is after the block's ReLU). VGG16 and
    AlexNet: the ReLU after the last Conv2d of ``features``, before the final max-pool.
    finer > 0: the last such block that many resolution steps before it (ResNets: 1 is layer3's
    last block, at twice the map size), which needs ``sides``, each flat layer's output height
    (layer_sides).
    """
    layers = flat_layers(net.backbone_modules())
    convs = [i for i, layer in enumerate(layers) if holds_conv(layer)]
    if finer:
        if sides is None:
            raise ValueError("a finer target layer needs each layer's output size (layer_sides)")
        levels = sorted({sides[i] for i in convs})  # coarsest first
        if finer >= len(levels):
            raise ValueError(f"finer={finer}: the backbone has {len(levels)} map sizes "
                             f"{levels}, so at most finer={len(levels) - 1}")
        convs = [i for i in convs if sides[i] == levels[finer]]
    last = convs[-1]
    after = layers[last + 1] if last + 1 < len(layers) else None
    return after if isinstance(after, nn.ReLU) else layers[last]


def layer_sides(module: nn.Module, image: Tensor) -> list[int]:
    """Each flat backbone layer's output height for one (1, 1, S, S) image through the module.

    Run in eval mode (batch norm's running statistics stay as they are), the mode restored.
    """
    layers = flat_layers(module.net.backbone_modules())
    sides: dict[int, int] = {}

    def record(k: int) -> Callable[..., None]:
        def hook(_layer: nn.Module, _inputs: object, output: Tensor) -> None:
            sides.setdefault(k, output.shape[-2])  # a hook's return value would replace output
        return hook

    hooks = [layer.register_forward_hook(record(k)) for k, layer in enumerate(layers)]
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(image.to(next(module.parameters()).device))
    finally:
        module.train(was_training)
        for hook in hooks:
            hook.remove()
    return [sides[k] for k in range(len(layers))]


def batches(n: int) -> list[slice]:
    return [slice(start, start + CAM_BATCH) for start in range(0, n, CAM_BATCH)]


def predicted_classes(module: nn.Module, images: Tensor) -> list[int]:
    """1 (malignant) where p(malignant) >= THRESHOLD, else 0."""
    with torch.no_grad():
        probs = torch.sigmoid(module(images.to(next(module.parameters()).device)).float())
    return (probs >= THRESHOLD).long().view(-1).tolist()


def cam_maps(module: nn.Module, images: Tensor, classes: Sequence[int] | None = None,
             finer: int = 0) -> np.ndarray:
    """(B, S, S) float32 Grad-CAM maps in [0, 1] for (B, 1, S, S) images in [0, 1].

    module: a CalcClassifier (loader images -> (B,) logits, its ClassifierNet at ``.net``).
    classes: the class each map explains (1 malignant, 0 benign); the predicted ones if None.
    finer: the target layer's resolution steps before the last block (target_layer).
    Safe inside Lightning's no-grad or inference mode and with a frozen backbone; the module's
    train/eval mode is restored and no gradients are left on its parameters.
    """
    was_training = module.training
    with torch.inference_mode(False), torch.enable_grad():
        # a copy, as a tensor made in inference mode cannot take part in autograd; requiring a
        # gradient at the input makes the target layer's output require one under a frozen body
        images = images.detach().clone().requires_grad_(True)
        # GradCAM switches the module to eval mode
        sides = layer_sides(module, images[:1]) if finer else None
        cam = GradCAM(model=module, target_layers=[target_layer(module.net, finer, sides)])
        try:
            classes = predicted_classes(module, images) if classes is None else list(classes)
            maps = [cam(images[batch], [BinaryClassifierOutputTarget(c) for c in classes[batch]])
                    for batch in batches(len(images))]
        finally:
            cam.activations_and_grads.release()
            module.zero_grad(set_to_none=True)
            module.train(was_training)
    return np.concatenate(maps) if maps else np.empty((0, *images.shape[-2:]), np.float32)


def unit_float(images: np.ndarray) -> np.ndarray:
    """float32 in [0, 1]: integer dtypes scaled by their maximum, floats as given."""
    images = np.asarray(images)
    if np.issubdtype(images.dtype, np.integer):
        return images.astype(np.float32) / np.iinfo(images.dtype).max
    return images.astype(np.float32)


def as_cam_input(images: np.ndarray) -> Tensor:
    """(B, S, S) cache or preprocessed ROIs -> the (B, 1, S, S) unit float tensor of cam_maps."""
    return torch.from_numpy(unit_float(images))[:, None]


def overlay(image: np.ndarray, cam: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """(S, S, 3) RGB uint8: the gray (S, S) ROI under the map's jet colours."""
    gray = unit_float(image)
    return show_cam_on_image(np.repeat(gray[..., None], 3, axis=-1), cam, use_rgb=True,
                             image_weight=image_weight)


def cam_figure(overlays: Sequence[np.ndarray], labels: np.ndarray, probs: np.ndarray,
               title: str, losses: np.ndarray | None = None) -> Figure:
    """Overlays in a grid, titled prediction/actual and [loss/]p(malignant) as top losses are."""
    cols = int(np.ceil(np.sqrt(len(overlays)))) or 1
    rows = int(np.ceil(len(overlays) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (ax, picture) in enumerate(zip(axes.ravel(), overlays, strict=False)):
        predicted = CLASS_NAMES[int(probs[i] >= THRESHOLD)]
        numbers = f"{probs[i]:.2f}" if losses is None else f"{losses[i]:.2f}/{probs[i]:.2f}"
        ax.imshow(picture)
        ax.set_title(f"{predicted}/{CLASS_NAMES[int(labels[i])]}\n{numbers}", fontsize=8)
    numbers = "p(malignant)" if losses is None else "loss/p(malignant)"
    fig.suptitle(f"{title}: prediction/actual, {numbers}", fontsize=9)
    fig.tight_layout()
    return fig

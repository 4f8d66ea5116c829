"""The paper's four torchvision backbones, read 1-channel ROIs and end in a new binary head.

``build_network(arch, weights)`` loads the torchvision model (ImageNet weights, a local
torchvision checkpoint, or random init), then folds its first convolution to one input channel
and replaces its classifier by the fastai-style head of Leong et al. 2022. The result splits into
layer groups (fastai's splits) for discriminative learning rates and two-stage fine-tuning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import Tensor, nn
from torch.nn.functional import adaptive_avg_pool2d, adaptive_max_pool2d
from torch.nn.modules.utils import _pair

from mcal_lightning.config import ARCHS, HEADS
from mcal_lightning.models.concept import ConceptLayer


class WeightsUnavailable(RuntimeError):
    """Pretrained weights cannot be had: offline machine, missing or wrong checkpoint file."""


class ClassifierNet(nn.Module):
    """Backbone layer groups followed by a head; (B, 1, H, W) float -> (B,) malignancy logits."""

    def __init__(self, body_groups: list[nn.Module], head: nn.Module,
                 config: Mapping[str, Any]) -> None:
        super().__init__()
        self.body = nn.Sequential(*body_groups)
        self.head = head
        self.config = dict(config)

    def features(self, images: Tensor) -> Tensor:
        """The backbone's feature maps, before the head's pooling."""
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.body(images)).squeeze(-1)

    def hidden(self, images: Tensor) -> Tensor:
        """The head's last hidden layer (what its final linear layer reads); the logits are
        ``self.head[-1](hidden).squeeze(-1)``. Auxiliary heads read it too."""
        return self.head[:-1](self.body(images))

    def layer_groups(self) -> list[nn.Module]:
        """Input side first, head last: one learning rate per group."""
        return [*self.body, self.head]

    def backbone_modules(self) -> list[nn.Module]:
        """Everything but the head: what stage 1 of fine-tuning freezes."""
        return list(self.body)


class ConcatPool2d(nn.Module):
    """Global max and average pooling side by side, flattened (fastai's AdaptiveConcatPool2d)."""

    def forward(self, maps: Tensor) -> Tensor:
        pooled = torch.cat([adaptive_max_pool2d(maps, 1), adaptive_avg_pool2d(maps, 1)], dim=1)
        return pooled.flatten(1)


class CollapseSafeMaxPool2d(nn.MaxPool2d):
    """A max-pool that passes through a map already smaller than its window.

    AlexNet's last pool receives 1x1 maps from 32 px inputs and would fail on an empty output;
    at ImageNet sizes it is exactly the torchvision pool. The head's global pooling follows anyway.
    """

    def forward(self, maps: Tensor) -> Tensor:
        if self.output_would_vanish(maps.shape[-2:]):
            return maps
        return super().forward(maps)

    def output_would_vanish(self, size: torch.Size) -> bool:
        windows = zip(size, _pair(self.kernel_size), _pair(self.padding), _pair(self.dilation),
                      strict=True)
        return any(length + 2 * pad < dilation * (kernel - 1) + 1
                   for length, kernel, pad, dilation in windows)

    @classmethod
    def like(cls, pool: nn.MaxPool2d) -> CollapseSafeMaxPool2d:
        return cls(pool.kernel_size, pool.stride, pool.padding, pool.dilation,
                   ceil_mode=pool.ceil_mode)


def gray_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """The same convolution for 1-channel input, its RGB kernels summed over the channel axis.

    A gray image repeated into 3 channels gives sum_c(W_c * x) = (sum_c W_c) * x, so the summed
    kernel reproduces the pretrained response exactly while reading one channel: a third of the
    first layer's input memory and multiply-adds (timm adapts pretrained weights the same way).
    """
    if conv.groups != 1:
        raise ValueError("only ungrouped first convolutions can be folded to one channel")
    gray = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                     conv.dilation, bias=conv.bias is not None, padding_mode=conv.padding_mode)
    with torch.no_grad():
        gray.weight.copy_(conv.weight.sum(dim=1, keepdim=True))
        if conv.bias is not None:
            gray.bias.copy_(conv.bias)
    return gray


def build_head(in_features: int, hidden: int = 256, dropout: float = 0.5,
               kind: str = "direct") -> nn.Sequential:
    """fastai's create_head for one logit: pool, BN, dropout/2, linear, ReLU, BN, dropout, linear.

    As in fastai, the first dropout is half the second and the linear layers have no bias
    (the batch norm before each one supplies it). kind "concept" ends in a ConceptLayer instead
    of the last linear layer: the logit comes from the predicted calcification type.
    """
    head = nn.Sequential(
        ConcatPool2d(),
        nn.BatchNorm1d(2 * in_features),
        nn.Dropout(dropout / 2),
        nn.Linear(2 * in_features, hidden, bias=False),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(hidden),
        nn.Dropout(dropout),
        ConceptLayer(hidden) if kind == "concept" else nn.Linear(hidden, 1, bias=False),
    )
    for layer in head:
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_normal_(layer.weight)
    return head


def resnet_body(model: nn.Module) -> list[nn.Module]:
    """fastai's resnet split: stem..layer2 | layer3, layer4."""
    stem = [gray_conv(model.conv1), model.bn1, model.relu, model.maxpool]
    return [nn.Sequential(*stem, model.layer1, model.layer2),
            nn.Sequential(model.layer3, model.layer4)]


def features_body(split: int) -> Callable[[nn.Module], list[nn.Module]]:
    """VGG/AlexNet: the `features` stack only (torchvision's classifier is dropped), in two."""

    def body(model: nn.Module) -> list[nn.Module]:
        layers = [gray_conv(model.features[0]), *model.features[1:]]
        layers = [CollapseSafeMaxPool2d.like(layer) if isinstance(layer, nn.MaxPool2d) else layer
                  for layer in layers]
        return [nn.Sequential(*layers[:split]), nn.Sequential(*layers[split:])]

    return body


# vgg16 splits after block 3's pool (the parameters of fastai's vgg16_bn split at 22);
# alexnet after its second pool, as fastai does.
BODY_BUILDERS: dict[str, Callable[[nn.Module], list[nn.Module]]] = {
    "resnet50": resnet_body,
    "resnet34": resnet_body,
    "vgg16": features_body(17),
    "alexnet": features_body(6),
}


def expected_checkpoint_name(arch: str) -> str:
    """The file torchvision downloads for this arch's default ImageNet weights."""
    return Path(torchvision.models.get_model_weights(arch).DEFAULT.url).name


def weights_options(arch: str) -> str:
    """The way out, worded for the command line."""
    return (f"Use --weights none (random init), --weights FILE (a local torchvision "
            f"checkpoint for {arch}, e.g. {expected_checkpoint_name(arch)}) or --weights FOLDER "
            f"(one such file per arch, named {arch}.pt or as torchvision names it). Copying "
            f"that file into {Path(torch.hub.get_dir()) / 'checkpoints'} also makes --weights "
            "imagenet work offline.")


def imagenet_state_dict(arch: str) -> dict[str, Tensor]:
    """torchvision's default ImageNet weights (downloaded once to the torch hub cache)."""
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except Exception as exc:
        raise WeightsUnavailable(
            f"cannot get ImageNet weights for {arch} from {weights.url} "
            f"({type(exc).__name__}: {exc}). {weights_options(arch)}") from exc


def checkpoint_names(arch: str) -> list[str]:
    """The file names a weights folder may hold for arch, in the order they are looked for."""
    return [f"{arch}.pt", f"{arch}.pth", expected_checkpoint_name(arch)]


def checkpoint_in(folder: Path, arch: str) -> Path:
    """arch's checkpoint in a weights folder (one file per arch, as sweeps over arch need)."""
    for name in checkpoint_names(arch):
        if (folder / name).is_file():
            return folder / name
    raise WeightsUnavailable(f"weights folder {folder} has no checkpoint for {arch} (looked for "
                             f"{', '.join(checkpoint_names(arch))}). {weights_options(arch)}")


def local_state_dict(path: Path, arch: str) -> dict[str, Tensor]:
    """A torchvision-format state_dict saved with torch.save: the file, or arch's in a folder."""
    if path.is_dir():
        path = checkpoint_in(path, arch)
    if not path.is_file():
        raise WeightsUnavailable(f"weights file {path} not found. {weights_options(arch)}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsUnavailable(f"cannot read {path} as a state_dict ({exc}). "
                                 f"{weights_options(arch)}") from exc


# From random init each residual block starts as the identity (its last batch norm's scale at 0;
# Goyal et al. 2017, timm's default): on the phantom it learns faster than torchvision's default.
RANDOM_INIT_OPTIONS: dict[str, dict[str, Any]] = {
    "resnet50": {"zero_init_residual": True},
    "resnet34": {"zero_init_residual": True},
}


def torchvision_model(arch: str, weights: str | Path) -> nn.Module:
    """The unmodified 3-channel torchvision model with the requested weights."""
    if str(weights) == "none":
        return torchvision.models.get_model(arch, weights=None,
                                            **RANDOM_INIT_OPTIONS.get(arch, {}))
    if str(weights) == "imagenet":
        state, source = imagenet_state_dict(arch), "ImageNet weights"
    else:
        state, source = local_state_dict(Path(weights), arch), str(weights)
    # on the meta device nothing is initialised only to be overwritten by the checkpoint
    with torch.device("meta"):
        model = torchvision.models.get_model(arch, weights=None)
    try:
        model.load_state_dict(state, assign=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise WeightsUnavailable(f"{source} is not a torchvision {arch} state_dict: {exc}. "
                                 f"{weights_options(arch)}") from exc
    return model.float()


def last_conv_channels(modules: list[nn.Module]) -> int:
    convs = [layer for module in modules for layer in module.modules()
             if isinstance(layer, nn.Conv2d)]
    return convs[-1].out_channels


def build_network(arch: str, weights: str | Path = "none", head_hidden: int = 256,
                  dropout: float = 0.5, head: str = "direct") -> ClassifierNet:
    """One of ARCHS for 1-channel input with a new one-logit head (malignant = positive).

    head: "direct" (the paper's: one linear logit) or "concept" (the logit from the predicted
    calcification type, ``models.concept``).

    weights: "imagenet" (torchvision's default weights; WeightsUnavailable when they cannot be
    downloaded), "none" (random init), the path of a torchvision state_dict file, or a folder
    holding one per arch (``checkpoint_names``). Weights load into the 3-channel torchvision
    model before the first convolution is folded to one channel.
    """
    if arch not in BODY_BUILDERS:
        raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(ARCHS)}")
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose from {', '.join(HEADS)}")
    body = BODY_BUILDERS[arch](torchvision_model(arch, weights))
    config = {"arch": arch, "head_hidden": head_hidden, "dropout": dropout, "head": head}
    return ClassifierNet(body, build_head(last_conv_channels(body), head_hidden, dropout, head),
                         config)

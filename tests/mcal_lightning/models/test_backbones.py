"""The four backbones: 1-channel input, the new head, layer groups, weights from files or not."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from mcal_lightning.models.backbones import (
    ARCHS,
    ClassifierNet,
    CollapseSafeMaxPool2d,
    WeightsUnavailable,
    build_network,
)
from tests.mcal_lightning.networks_support import HEAD_HIDDEN, random_network


@pytest.fixture(scope="module", params=ARCHS)
def arch_and_net(request: pytest.FixtureRequest) -> tuple[str, ClassifierNet]:
    return request.param, random_network(request.param)


def first_conv(net: ClassifierNet) -> nn.Conv2d:
    return next(layer for layer in net.modules() if isinstance(layer, nn.Conv2d))


def reference_features(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The unmodified torchvision model's feature maps, before its pooling and classifier."""
    if hasattr(model, "features"):
        return model.features(images)
    return nn.Sequential(*list(model.children())[:-2])(images)


def test_forward_backward_reaches_first_conv(arch_and_net: tuple[str, ClassifierNet]) -> None:
    _, net = arch_and_net
    net.train()
    net.zero_grad()
    logits = net(torch.rand(2, 1, 64, 64))
    logits.sum().backward()
    assert logits.shape == (2,)
    assert first_conv(net).in_channels == 1
    assert first_conv(net).weight.grad is not None
    assert first_conv(net).weight.grad.abs().sum() > 0


def test_32_px_inputs_do_not_collapse(arch_and_net: tuple[str, ClassifierNet]) -> None:
    # AlexNet's feature maps shrink to 1x1 before its last pool at this size
    _, net = arch_and_net
    with torch.no_grad():
        assert net.eval()(torch.rand(2, 1, 32, 32)).shape == (2,)


def test_head_is_the_papers_extra_layers(arch_and_net: tuple[str, ClassifierNet]) -> None:
    _, net = arch_and_net
    kinds = [type(layer) for layer in net.head][1:]
    assert kinds == [nn.BatchNorm1d, nn.Dropout, nn.Linear, nn.ReLU,
                     nn.BatchNorm1d, nn.Dropout, nn.Linear]
    assert net.head[3].out_features == HEAD_HIDDEN
    assert net.head[-1].out_features == 1
    assert net.head[-2].p == 0.5


def test_layer_groups_cover_every_parameter_once(arch_and_net: tuple[str, ClassifierNet]) -> None:
    _, net = arch_and_net
    groups = net.layer_groups()
    grouped = [id(p) for group in groups for p in group.parameters()]
    assert len(grouped) == len(set(grouped)) == len(list(net.parameters()))
    assert groups[-1] is net.head
    assert net.backbone_modules() == groups[:-1]


@pytest.mark.parametrize("arch", ["resnet34", "resnet50"])
def test_random_init_starts_every_residual_block_as_the_identity(arch: str) -> None:
    blocks = [m for m in build_network(arch).modules()
              if isinstance(m, BasicBlock | Bottleneck)]
    assert blocks
    for block in blocks:
        last_norm = block.bn2 if isinstance(block, BasicBlock) else block.bn3
        assert torch.count_nonzero(last_norm.weight) == 0
        assert torch.count_nonzero(block.bn1.weight) > 0  # the rest keeps its default


SavedModel = Callable[[str], tuple[nn.Module, Path]]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> SavedModel:
    """arch -> torchvision's model from random init and its state_dict file, each made once
    (AlexNet's file is 244 MB, VGG16's 528 MB)."""
    folder = tmp_path_factory.mktemp("torchvision")

    @cache
    def saved(arch: str) -> tuple[nn.Module, Path]:
        torch.manual_seed(1)
        original = torchvision.models.get_model(arch, weights=None).eval()
        torch.save(original.state_dict(), folder / f"{arch}.pth")
        return original, folder / f"{arch}.pth"

    return saved


# VGG16's round trip is slow (seconds to write and read its file); AlexNet's takes the same path
@pytest.mark.parametrize("arch", [pytest.param(arch, marks=pytest.mark.slow) if arch == "vgg16"
                                  else arch for arch in ARCHS])
def test_local_checkpoint_loads_and_summed_kernels_match_repeated_gray(
        arch: str, saved_model: SavedModel) -> None:
    original, path = saved_model(arch)
    net = build_network(arch, weights=path).eval()
    gray = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        expected = reference_features(original, gray.repeat(1, 3, 1, 1))
        torch.testing.assert_close(net.features(gray), expected, rtol=1e-4, atol=1e-4)


def test_unknown_arch_names_the_choices() -> None:
    with pytest.raises(ValueError, match="resnet50, resnet34, vgg16, alexnet"):
        build_network("resnet18")


def test_offline_imagenet_download_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("Name or service not known")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(WeightsUnavailable) as caught:
        build_network("alexnet", weights="imagenet")
    message = str(caught.value)
    assert "--weights none" in message
    assert "--weights FILE" in message
    assert Path(torchvision.models.AlexNet_Weights.DEFAULT.url).name in message
    assert "Name or service not known" in message


def test_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "resnet34-b627a593.pth"
    with pytest.raises(WeightsUnavailable, match=r"not found.*--weights none"):
        build_network("resnet34", weights=missing)


@pytest.mark.parametrize("name", ["alexnet.pt", "alexnet-owt-7be5be79.pth"])
def test_weights_folder_gives_each_arch_its_own_file(tmp_path: Path, name: str,
                                                     saved_model: SavedModel) -> None:
    original, path = saved_model("alexnet")
    (tmp_path / name).hardlink_to(path)
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "resnet34.pt")  # another arch's
    net = build_network("alexnet", weights=tmp_path).eval()
    gray = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        expected = reference_features(original, gray.repeat(1, 3, 1, 1))
        torch.testing.assert_close(net.features(gray), expected, rtol=1e-4, atol=1e-4)


def test_weights_folder_without_the_arch_names_what_it_looked_for(tmp_path: Path) -> None:
    torch.save({}, tmp_path / "resnet34.pt")
    with pytest.raises(WeightsUnavailable) as caught:
        build_network("vgg16", weights=tmp_path)
    message = str(caught.value)
    assert str(tmp_path) in message and "vgg16.pt" in message
    assert Path(torchvision.models.VGG16_Weights.DEFAULT.url).name in message


def test_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(WeightsUnavailable, match="not a torchvision resnet34 state_dict"):
        build_network("resnet34", weights=path)


def test_collapse_safe_pool_is_torchvisions_pool_until_the_map_is_too_small() -> None:
    pool = CollapseSafeMaxPool2d(kernel_size=3, stride=2)
    large = torch.rand(1, 4, 13, 13)
    torch.testing.assert_close(pool(large), nn.MaxPool2d(3, 2)(large))
    tiny = torch.rand(1, 4, 2, 2)
    assert pool(tiny) is tiny

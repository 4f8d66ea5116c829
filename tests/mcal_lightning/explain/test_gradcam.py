"""Grad-CAM: maps for every backbone, a toy net's map on its bright spot, artifacts, CLI."""

import shutil
from pathlib import Path

import cv2
import mlflow
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from mlflow import MlflowClient
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from mcal.cli import main
from mcal_lightning.config import TrainConfig
from mcal_lightning.explain.file_overlays import overlay_names
from mcal_lightning.explain.gradcam import (
    cam_figure,
    cam_maps,
    flat_layers,
    layer_sides,
    overlay,
    target_layer,
)
from mcal_lightning.explain.test_grids import (
    SAMPLE_ARTIFACT,
    TOP_LOSSES_ARTIFACT,
    log_cam_artifacts,
    sample_positions,
)
from mcal_lightning.models.backbones import ARCHS, ClassifierNet
from mcal_lightning.models.module import CalcClassifier
from mcal_lightning.tracking.store import experiment_id, use_tracking
from mcal_lightning.train import train
from preprocessing.cache import resolve_dataset
from tests.mcal_lightning.networks_support import random_network

SIZE = 64
SPOTS = [(10, 12), (40, 20), (52, 50), (22, 45)]


def spot_detector() -> CalcClassifier:
    """A net whose malignancy logit is its strongest response to bright blobs.

    Positive kernels on an unnormalised black background answer only where a spot is bright,
    and a global max-pool with positive weights turns that answer into the logit.
    """
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 4, kernel_size=5, stride=2, padding=2)  # maps at half size: upscaled
    linear = nn.Linear(4, 1)
    for layer in (conv, linear):
        nn.init.uniform_(layer.weight, 0.1, 1.0)
        nn.init.zeros_(layer.bias)
    head = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), linear)
    net = ClassifierNet([nn.Sequential(conv, nn.ReLU())], head, {})
    return CalcClassifier(net, mean=0.0, std=1.0)


def spot_images() -> torch.Tensor:
    images = torch.zeros(len(SPOTS), 1, SIZE, SIZE)
    for i, (row, col) in enumerate(SPOTS):
        images[i, 0, row - 1 : row + 2, col - 1 : col + 2] = 1.0
    return images


def assert_peaks_on_the_spots(maps: np.ndarray) -> None:
    assert maps.shape == (len(SPOTS), SIZE, SIZE)
    for cam, spot in zip(maps, SPOTS, strict=True):
        peak = np.unravel_index(np.argmax(cam), cam.shape)
        assert max(abs(peak[0] - spot[0]), abs(peak[1] - spot[1])) <= 3, (peak, spot)


@pytest.fixture(scope="module", params=ARCHS)
def network(request: pytest.FixtureRequest) -> tuple[str, ClassifierNet]:
    """Each backbone once for the module's tests (random init)."""
    return request.param, random_network(request.param)


def test_every_backbone_gives_one_unit_map_per_image(network):
    _, net = network
    module = CalcClassifier(net)
    module.train()
    maps = cam_maps(module, torch.rand(2, 1, SIZE, SIZE))
    assert maps.shape == (2, SIZE, SIZE) and maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0 and np.isfinite(maps).all()
    assert module.training, "the caller's train mode comes back"
    assert all(p.grad is None for p in module.parameters()), "no gradients left behind"


def test_target_layer_is_the_last_conv_block(network):
    arch, net = network
    layer = target_layer(net)
    if arch.startswith("resnet"):
        assert isinstance(layer, BasicBlock | Bottleneck)
        assert layer is net.body[-1][-1][-1], "layer4's last block"
    else:
        layers = list(net.body[-1])
        convs = [i for i, module in enumerate(layers) if isinstance(module, nn.Conv2d)]
        assert layer is layers[convs[-1] + 1] and isinstance(layer, nn.ReLU)


def test_finer_target_layer_is_one_resolution_step_back(network):
    arch, net = network
    module = CalcClassifier(net)
    module.train()
    sides = layer_sides(module, torch.rand(1, 1, SIZE, SIZE))
    assert module.training, "the probe restores the caller's mode"
    layer = target_layer(net, finer=1, sides=sides)
    if arch.startswith("resnet"):
        assert layer is net.body[-1][0][-1], "layer3's last block"
    else:
        layers = flat_layers(net.backbone_modules())
        convs = [i for i, module in enumerate(layers) if isinstance(module, nn.Conv2d)]
        assert layer is not target_layer(net) and isinstance(layer, nn.ReLU)
        assert layers.index(layer) - 1 in convs[:-1]


def two_stage_spot_detector() -> CalcClassifier:
    """spot_detector's half-size stage, then a positive stage at an eighth of the size."""
    module = spot_detector()
    coarse = nn.Conv2d(4, 4, kernel_size=4, stride=4)  # every half-size pixel feeds a cell
    nn.init.uniform_(coarse.weight, 0.1, 1.0)
    nn.init.zeros_(coarse.bias)
    module.net.body.append(nn.Sequential(coarse, nn.ReLU()))
    return module


def test_finer_map_peaks_on_a_planted_bright_spot():
    module = two_stage_spot_detector()
    sides = layer_sides(module, spot_images()[:1])
    assert target_layer(module.net, 1, sides) is module.net.body[0][1], "the first stage's ReLU"
    assert_peaks_on_the_spots(cam_maps(module, spot_images(), [1] * len(SPOTS), finer=1))


def test_finer_than_the_backbone_has_is_refused():
    module = spot_detector()
    sides = layer_sides(module, spot_images()[:1])
    with pytest.raises(ValueError, match="at most finer=0"):
        target_layer(module.net, finer=1, sides=sides)
    with pytest.raises(ValueError, match="layer_sides"):
        target_layer(random_network("resnet34"), finer=1)


def test_map_peaks_on_a_planted_bright_spot():
    assert_peaks_on_the_spots(cam_maps(spot_detector(), spot_images()))


def test_maps_under_inference_mode_with_a_frozen_backbone():
    """As inside Lightning's test loop after stage 1 of fine-tuning."""
    module = spot_detector()
    for parameter in module.net.body.parameters():
        parameter.requires_grad_(False)
    with torch.inference_mode():
        images = spot_images()
        maps = cam_maps(module, images, classes=[1] * len(SPOTS))
    assert_peaks_on_the_spots(maps)


def test_overlay_is_rgb_and_hot_where_the_map_is():
    image = np.full((SIZE, SIZE), 30000, np.uint16)
    cam = np.zeros((SIZE, SIZE), np.float32)
    cam[:8, :8] = 1.0
    rgb = overlay(image, cam)
    assert rgb.shape == (SIZE, SIZE, 3) and rgb.dtype == np.uint8
    hot, cold = rgb[:8, :8].mean(axis=(0, 1)), rgb[-8:, -8:].mean(axis=(0, 1))
    assert hot[0] > hot[2] and cold[2] > cold[0], "jet: red where the map is high, blue where low"


def test_figure_titles_prediction_actual_and_probability():
    pictures = [np.zeros((8, 8, 3), np.uint8)] * 3
    fig = cam_figure(pictures, np.array([1, 0, 1]), np.array([0.9, 0.7, 0.2]), "sample")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["malignant/malignant\n0.90", "malignant/benign\n0.70",
                      "benign/malignant\n0.20"]


def test_sample_is_seeded_distinct_and_clipped():
    first = sample_positions(50, 8, seed=3)
    assert np.array_equal(first, sample_positions(50, 8, seed=3))
    assert len(set(first.tolist())) == 8 and not np.array_equal(first, sample_positions(50, 8, 4))
    assert sorted(sample_positions(5, 8, seed=0).tolist()) == [0, 1, 2, 3, 4]


def test_overlay_names_stay_unique():
    files = [Path("a/x.dcm"), Path("b/x.dcm"), Path("c/X.png"), Path("d/x_2.dcm")]
    names = overlay_names(files)
    assert names[0] == "x_gradcam.png"
    assert len({name.lower() for name in names}) == len(files)


@pytest.fixture(scope="module")
def cam_run(workdir: Path):
    """One epoch of alexnet on the tiny cache, its model logged; Grad-CAM grids of the test."""
    config = TrainConfig(cache=str(workdir / "cache"), arch="alexnet", weights="none", epochs=1,
                         freeze_epochs=0, batch_size=16, num_workers=0, top_losses=3,
                         cam_samples=4, experiment="cam")
    return workdir, train(config)


@pytest.mark.slow  # trains a model
def test_training_logs_both_gradcam_grids(cam_run):
    root, result = cam_run
    client = MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert {TOP_LOSSES_ARTIFACT, SAMPLE_ARTIFACT} <= artifacts


@pytest.mark.slow  # trains a model
def test_zero_counts_log_no_grid(cam_run):
    root, result = cam_run
    images = np.load(resolve_dataset(root / "cache") / "rois.npy", mmap_mode="r")
    use_tracking()
    with mlflow.start_run(experiment_id=experiment_id("cam")):
        outputs = result.module.last_outputs["test"]
        assert log_cam_artifacts(result.module, images, outputs, 0, 0) == []
        assert log_cam_artifacts(result.module, images, outputs, 0, 2) == [SAMPLE_ARTIFACT]


@pytest.mark.slow  # trains a model
def test_predict_cam_writes_one_overlay_per_readable_file(cam_run, tmp_path: Path):
    root, result = cam_run
    crops = result.datamodule.table["crop_path"].head(2)
    sources = [root / "data" / crop for crop in crops]
    for folder, source in zip("ab", sources, strict=True):  # same name, different folders
        (tmp_path / folder).mkdir()
        shutil.copy(source, tmp_path / folder / "roi.dcm")
    (tmp_path / "a" / "broken.dcm").write_text("not dicom")
    out = tmp_path / "cams"
    command = ["predict", "--model", f"runs:/{result.run_id}/model", "--cam", str(out),
               str(tmp_path / "a"), str(tmp_path / "b")]
    answer = CliRunner().invoke(main, command)
    assert answer.exit_code == 0, answer.output
    written = sorted(out.iterdir())
    assert [p.name for p in written] == ["roi_2_gradcam.png", "roi_gradcam.png"]
    pictures = [cv2.imread(str(p)) for p in written]
    assert all(picture.shape == (SIZE, SIZE, 3) for picture in pictures)
    assert not np.array_equal(*pictures), "each file gets its own overlay"

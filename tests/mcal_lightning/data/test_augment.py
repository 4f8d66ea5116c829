import itertools
from dataclasses import replace
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import pytest
import torch

from mcal_lightning.config import load_config
from mcal_lightning.data.augment import (
    BORDERS,
    PRESETS,
    AugmentConfig,
    BatchAugmenter,
    ImageDraw,
    augment_config,
    build_pipeline,
    logit_lighting,
    make_augmenter,
    preset_name,
    warp_matrices,
    warp_matrix,
)
from mcal_lightning.data.datamodule import CacheDataModule
from mcal_lightning.sweep.config import sweep_from_dict
from preprocessing.cache import build_cache, open_cache
from preprocessing.index import build_index
from preprocessing.pipeline import PreprocessConfig

BACKENDS = ("batch", "albumentations")
FLIPS_ONLY = {"affine_p": 0.0, "brightness_contrast_p": 0.0}


def image_of(dtype: type, side: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max, (side, side), dtype=dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_disabled_is_the_identity(backend: str):
    augmenter = make_augmenter(AugmentConfig(enabled=False), backend, seed=0)
    image = image_of(np.uint16)
    np.testing.assert_array_equal(augmenter(image), image)
    out = np.empty((2, 32, 32), np.uint16)
    augmenter.augment_batch([image, image], out)
    np.testing.assert_array_equal(out[1], image)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_dtype_and_shape_are_kept_and_images_change(backend: str, dtype: type):
    config = AugmentConfig(affine_p=1.0, brightness_contrast_p=1.0)
    augmenter = make_augmenter(config, backend, seed=1)
    image = image_of(dtype)
    out = augmenter(image)
    assert out.dtype == image.dtype and out.shape == image.shape
    assert not np.array_equal(out, image)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("hflip", "vflip"), [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])
def test_flips_flip(backend: str, hflip: float, vflip: float):
    config = AugmentConfig(hflip_p=hflip, vflip_p=vflip, **FLIPS_ONLY)
    image = image_of(np.uint16)
    expected = image[:, ::-1] if hflip else image
    expected = expected[::-1] if vflip else expected
    np.testing.assert_array_equal(make_augmenter(config, backend, seed=0)(image), expected)


@pytest.mark.parametrize("border", sorted(BORDERS))
@pytest.mark.parametrize(("hflip", "vflip"), [(False, False), (True, False), (True, True)])
def test_batch_backend_warps_exactly_like_albumentations(border: str, hflip: bool, vflip: bool):
    config = AugmentConfig(hflip_p=float(hflip), vflip_p=float(vflip), rotate_limit=0,
                           zoom_limit=0, affine_p=1.0, brightness_contrast_p=0.0, border=border)
    image = image_of(np.uint16, side=40)
    reference = build_pipeline(config)
    affine = reference.transforms[2]
    affine.rotate, affine.scale = (15.0, 15.0), {"x": (1.1, 1.1), "y": (1.1, 1.1)}
    expected = reference(image=image)["image"]
    out = np.empty_like(image)
    draw = ImageDraw(hflip, vflip, True, 15.0, 1.1, False, 1.0, 0.0)
    BatchAugmenter(config).augment_into(image, out, draw)
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_batch_brightness_contrast_matches_albumentations(dtype: type):
    config = AugmentConfig(brightness_limit=0.0, contrast_limit=0.0, **FLIPS_ONLY)
    reference = build_pipeline(AugmentConfig(hflip_p=0, vflip_p=0, affine_p=0,
                                             brightness_contrast_p=1.0))
    adjust = reference.transforms[3]
    adjust.brightness_limit, adjust.contrast_limit = (0.05, 0.05), (0.2, 0.2)
    image = image_of(dtype)
    expected = reference(image=image)["image"]
    out = np.empty_like(image)
    BatchAugmenter(config).augment_into(image, out, ImageDraw(
        False, False, False, 0.0, 1.0, True, 1.2, 0.05))
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_reseeding_reproduces_and_seeds_differ(backend: str):
    augmenter = make_augmenter(AugmentConfig(), backend)
    images = np.stack([image_of(np.uint16, seed=s) for s in range(8)])
    runs = []
    for seed in (5, 5, 6):
        augmenter.reseed(seed)
        out = np.empty_like(images)
        augmenter.augment_batch(images, out)
        runs.append(out)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_read_only_inputs_are_fine_and_floats_are_refused():
    image = image_of(np.uint16)
    image.setflags(write=False)
    out = np.empty((1, 32, 32), np.uint16)
    BatchAugmenter(AugmentConfig(affine_p=1.0), seed=0).augment_batch([image], out)
    with pytest.raises(TypeError, match="uint8/uint16"):
        BatchAugmenter().augment_batch([image.astype(np.float32)], out.astype(np.float32))
    with pytest.raises(ValueError, match="backend"):
        make_augmenter(AugmentConfig(), "kornia")


def test_batch_warp_matrices_equal_the_per_image_matrix():
    augmenter = BatchAugmenter(AugmentConfig(rotate_limit=45, zoom_limit=0.3), seed=3)
    draws = augmenter.draw_batch(32)
    assert draws.hflip.any() and not draws.hflip.all()
    matrices = warp_matrices(30, 40, draws)
    for i in range(len(draws)):
        np.testing.assert_allclose(matrices[i], warp_matrix(30, 40, draws.image(i)), atol=1e-9)


# --- the paper's preset (fastai v1 get_transforms) and the laws it needs ---

PAPER = PRESETS["paper"]
STILL = {"rotate_p": 0.0, "zoom_p": 0.0, "brightness_p": 0.0, "contrast_p": 0.0}


def dihedral_images(image: np.ndarray) -> list[np.ndarray]:
    """The 8 symmetries of a square image."""
    turns = [np.rot90(image, k) for k in range(4)]
    return turns + [turn.T for turn in turns]


def dihedral_index(out: np.ndarray, candidates: list[np.ndarray]) -> int:
    matches = [i for i, candidate in enumerate(candidates) if np.array_equal(out, candidate)]
    assert len(matches) == 1, "not one of the 8 dihedral transforms"
    return matches[0]


def tiny_cache(root: Path) -> Path:
    """A 32-px cache of 12 patients, 2 PNGs each, every third malignant."""
    rng = np.random.default_rng(0)
    for patient in range(12):
        folder = root / "data" / ("malignant" if patient % 3 == 0 else "benign")
        folder.mkdir(parents=True, exist_ok=True)
        for view in range(2):
            cv2.imwrite(str(folder / f"P{patient:04d}_{view}.png"),
                        rng.integers(0, 65535, (40, 40), dtype=np.uint16))
    index = build_index(root / "data", patient_pattern=r"^(P\d+)_", progress=False)
    build_cache(index, root / "cache", PreprocessConfig(size=32, filter="none"), workers=1,
                progress=False)
    return root / "cache"


def test_paper_preset_is_fastai_v1_get_transforms():
    # get_transforms(do_flip=True, flip_vert=True): max_rotate=10, max_zoom=1.1,
    # max_lighting=0.2, p_affine=0.75, p_lighting=0.75; no max_warp (not in Table 3)
    assert (PAPER.hflip_p, PAPER.vflip_p, PAPER.transpose_p) == (0.5, 0.5, 0.5)
    assert PAPER.rotate_limit == 10.0 and PAPER.zoom_bounds == (1.0, 1.1)
    assert PAPER.warp_ps == (0.75, 0.75) and PAPER.zoom_focus == "random"
    assert PAPER.lighting == "logit" and PAPER.lighting_ps == (0.75, 0.75)
    np.testing.assert_allclose(PAPER.change_bounds, (0.4, 0.6))
    np.testing.assert_allclose(PAPER.stretch_bounds, (0.8, 1.25))
    assert PAPER.border == "reflect" and PAPER.enabled


def test_mcal_defaults_are_unchanged_and_draw_as_before():
    config = AugmentConfig()
    assert PRESETS["mcal"] == config and augment_config(None) == config == augment_config({})
    assert config.transpose_p == 0 and config.warp_ps is None and config.lighting_ps is None
    assert config.zoom_bounds == (0.9, 1.1) and config.lighting == "linear"
    augmenter = BatchAugmenter(config, seed=7)
    augmenter.draw_batch(300)
    draws = augmenter.draw_batch(500)  # the second batch: the stream stays in step
    rng = np.random.default_rng(7)  # the draws as they were before the paper's laws
    rng.random((4, 300)), rng.uniform(size=(4, 300))
    chance = rng.random((4, 500))
    angles, scales = rng.uniform(-20, 20, 500), rng.uniform(0.9, 1.1, 500)
    gains, offsets = 1 + rng.uniform(-0.1, 0.1, 500), rng.uniform(-0.1, 0.1, 500)
    warp, adjust = chance[2] < 0.75, chance[3] < 0.5
    np.testing.assert_array_equal(draws.hflip, chance[0] < 0.5)
    np.testing.assert_array_equal(draws.warp, warp)
    np.testing.assert_array_equal(draws.adjust, adjust)
    np.testing.assert_array_equal(draws.angle[warp], angles[warp])  # one joint coin
    np.testing.assert_array_equal(draws.scale[warp], scales[warp])
    np.testing.assert_array_equal(draws.gain[adjust], gains[adjust])
    np.testing.assert_array_equal(draws.offset[adjust], offsets[adjust])
    assert not draws.transpose.any() and (draws.focus_x == 0.5).all()


@pytest.mark.parametrize(("backend", "count"), [("batch", 8000), ("albumentations", 2000)])
def test_dihedral_draw_is_uniform_over_the_8_transforms(backend: str, count: int):
    image = np.arange(16, dtype=np.uint16).reshape(4, 4)
    candidates = dihedral_images(image)
    augmenter = make_augmenter(replace(PAPER, **STILL), backend, seed=0)
    out = np.empty((count, 4, 4), np.uint16)
    augmenter.augment_batch([image] * count, out)
    hits = np.bincount([dihedral_index(o, candidates) for o in out], minlength=8)
    chi2 = ((hits - count / 8) ** 2 / (count / 8)).sum()
    assert (hits > 0).all() and chi2 < 24.3, hits  # chi2(7) at p = 0.001


@pytest.mark.parametrize("backend", BACKENDS)
def test_transpose_p_1_transposes_exactly(backend: str):
    config = AugmentConfig(hflip_p=0.0, vflip_p=0.0, transpose_p=1.0, **FLIPS_ONLY)
    image = image_of(np.uint16, side=16)
    np.testing.assert_array_equal(make_augmenter(config, backend, seed=0)(image), image.T)


def test_dihedral_folded_into_the_warp_is_exact():
    image = image_of(np.uint16, side=16)
    augmenter = BatchAugmenter(AugmentConfig())
    for hflip, vflip, transpose in itertools.product((False, True), repeat=3):
        expected, warped = np.empty_like(image), np.empty_like(image)
        exact = ImageDraw(hflip, vflip, False, 0.0, 1.0, False, 1.0, 0.0, transpose)
        augmenter.augment_into(image, expected, exact)
        augmenter.augment_into(image, warped, replace(exact, warp=True))
        np.testing.assert_array_equal(warped, expected)
        flipped = image[:, ::-1] if hflip else image
        flipped = flipped[::-1] if vflip else flipped
        np.testing.assert_array_equal(expected, flipped.T if transpose else flipped)


@pytest.mark.parametrize(("hflip", "vflip"), [(False, False), (True, False), (False, True)])
def test_batch_transpose_in_the_warp_matches_albumentations(hflip: bool, vflip: bool):
    config = AugmentConfig(hflip_p=float(hflip), vflip_p=float(vflip), transpose_p=1.0,
                           rotate_limit=0, zoom_limit=0, affine_p=1.0, brightness_contrast_p=0)
    image = image_of(np.uint16, side=40)
    reference = build_pipeline(config)
    affine = reference.transforms[3]
    affine.rotate, affine.scale = (15.0, 15.0), {"x": (1.1, 1.1), "y": (1.1, 1.1)}
    expected = reference(image=image)["image"]
    out = np.empty_like(image)
    draw = ImageDraw(hflip, vflip, True, 15.0, 1.1, False, 1.0, 0.0, True)
    BatchAugmenter(config).augment_into(image, out, draw)
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_logit_lighting_identity_direction_and_fastai_formula(dtype: type):
    top = np.iinfo(dtype).max
    image = np.linspace(0, top, 256 * 256).round().astype(dtype).reshape(256, 256)
    np.testing.assert_array_equal(logit_lighting(image, 0.5, 1.0), image)
    x = np.clip(image / top, 1e-7, 1 - 1e-7)
    logit = np.log(x / (1 - x))
    mid = (image > 0.01 * top) & (image < 0.99 * top)
    for change, stretch in [(0.6, 1.0), (0.4, 1.0), (0.5, 1.25), (0.5, 0.8), (0.6, 1.25)]:
        out = logit_lighting(image, change, stretch)
        reference = top / (1 + np.exp(-stretch * (logit + np.log(change / (1 - change)))))
        assert np.abs(out - reference).max() <= 1
        assert out.min() >= 0 and out.max() <= top
    brighter = logit_lighting(image, 0.6, 1.0)
    assert (brighter >= image).all() and (brighter[mid] > image[mid]).all()
    assert (logit_lighting(image, 0.4, 1.0)[mid] < image[mid]).all()
    stretched = logit_lighting(image, 0.5, 1.25)
    above, below = mid & (image > 0.55 * top), mid & (image < 0.45 * top)
    assert (stretched[above] > image[above]).all() and (stretched[below] < image[below]).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_both_backends_apply_the_logit_lighting_they_draw(dtype: type):
    config = replace(PAPER, hflip_p=0.0, vflip_p=0.0, transpose_p=0.0, rotate_p=0.0, zoom_p=0.0,
                     brightness_p=1.0, contrast_p=1.0)
    image = image_of(dtype, side=40)
    expected = logit_lighting(image, 0.6, 1.25)
    out = np.empty_like(image)
    BatchAugmenter(config).augment_into(image, out, ImageDraw(
        False, False, False, 0.0, 1.0, True, 1.0, 0.0, change=0.6, stretch=1.25))
    np.testing.assert_array_equal(out, expected)
    reference = build_pipeline(config)
    lighting = reference.transforms[-1]
    lighting.change, lighting.stretch = (0.6, 0.6), (1.25, 1.25)
    np.testing.assert_array_equal(reference(image=image)["image"].reshape(image.shape), expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_focus_zoom_window_stays_inside_the_image(backend: str):
    config = replace(PAPER, hflip_p=0.0, vflip_p=0.0, transpose_p=0.0, rotate_p=0.0,
                     zoom_p=1.0, zoom_range=(1.2, 1.6), brightness_p=0.0, contrast_p=0.0,
                     border="constant")
    rows, cols = np.mgrid[0:48, 0:48]
    ramp = (1000 + 600 * cols + 500 * rows).astype(np.uint16)  # black outside the image
    out = np.empty((200, 48, 48), np.uint16)
    make_augmenter(config, backend, seed=0).augment_batch([ramp] * 200, out)
    assert out.min() >= ramp.min() and out.max() <= ramp.max()
    corners = out[:, 0, 0].astype(float)
    if backend == "batch":  # the focal point moves the window (albumentations: centre only)
        assert corners.min() < ramp[4, 4] and corners.max() > ramp[10, 10]
        assert out[:, -1, -1].max() > ramp[-4, -4]


def test_zoom_focus_at_the_corners_puts_the_window_on_them():
    ramp = (1000 + 600 * np.arange(48)[None] + 500 * np.arange(48)[:, None]).astype(np.uint16)
    augmenter = BatchAugmenter(AugmentConfig(border="constant"))
    for focus in (0.0, 1.0):
        out = np.empty_like(ramp)
        draw = ImageDraw(False, False, True, 0.0, 1.5, False, 1.0, 0.0,
                         focus_x=focus, focus_y=focus)
        augmenter.augment_into(ramp, out, draw)
        corner = 0 if focus == 0 else -1
        assert abs(int(out[corner, corner]) - int(ramp[corner, corner])) <= 1
        assert abs(int(out[-1 - corner, -1 - corner]) - int(ramp[-1 - corner, -1 - corner])) > 100


def test_paper_draw_statistics():
    n = 20_000
    draws = BatchAugmenter(PAPER, seed=0).draw_batch(n)
    rotated, zoomed = draws.angle != 0, draws.scale != 1
    assert np.abs(draws.angle).max() <= 10 and abs(rotated.mean() - 0.75) < 0.015
    assert abs((np.abs(draws.angle[rotated]) < 5).mean() - 0.5) < 0.02  # uniform in +-10
    assert draws.scale.min() >= 1 and draws.scale.max() <= 1.1
    assert abs(zoomed.mean() - 0.75) < 0.015
    assert abs((rotated & zoomed).mean() - 0.75 * 0.75) < 0.015  # independent coins
    np.testing.assert_array_equal(draws.warp, rotated | zoomed)
    assert abs(draws.transpose.mean() - 0.5) < 0.015 and abs(draws.hflip.mean() - 0.5) < 0.015
    assert abs(draws.focus_x.mean() - 0.5) < 0.01 and draws.focus_y.min() >= 0
    brightened, contrasted = draws.change != 0.5, draws.stretch != 1
    assert abs(brightened.mean() - 0.75) < 0.015 and abs(contrasted.mean() - 0.75) < 0.015
    assert abs((brightened & contrasted).mean() - 0.75 * 0.75) < 0.015
    assert draws.change.min() >= 0.4 and draws.change.max() <= 0.6
    log_stretch = np.log(draws.stretch[contrasted])
    assert np.abs(log_stretch).max() <= np.log(1.25) + 1e-12
    assert abs(log_stretch.mean()) < 0.005  # log-uniform: E[log] = 0 (uniform: 0.016)
    assert abs((log_stretch < 0).mean() - 0.5) < 0.02  # uniform in [0.8, 1.25]: 0.44
    np.testing.assert_array_equal(draws.adjust, brightened | contrasted)


def test_default_rotation_and_zoom_share_one_coin():
    draws = BatchAugmenter(AugmentConfig(), seed=0).draw_batch(2000)
    np.testing.assert_array_equal(draws.angle != 0, draws.scale != 1)
    np.testing.assert_array_equal(draws.gain != 1, draws.offset != 0)


def test_albumentations_paper_laws_are_the_independent_coins():
    pipeline = build_pipeline(PAPER, seed=0)
    flips, warps, lighting = pipeline.transforms
    assert isinstance(flips, A.D4)
    weights = dict(zip([(a.rotate != (0.0, 0.0), a.scale["x"] != (1.0, 1.0))
                        for a in warps.transforms], warps.transforms_ps, strict=True))
    assert weights.keys() == {(True, True), (True, False), (False, True)}
    assert warps.p * weights[True, True] == pytest.approx(0.75 * 0.75)
    assert warps.p * weights[True, False] == pytest.approx(0.75 * 0.25)
    assert warps.p * weights[False, True] == pytest.approx(0.25 * 0.75)
    params = [lighting.get_params() for _ in range(20_000)]
    change = np.array([p["change"] for p in params])
    stretch = np.array([p["stretch"] for p in params])
    assert abs((change != 0.5).mean() - 0.75) < 0.015 and abs((stretch != 1).mean() - 0.75) < 0.015
    assert change.min() >= 0.4 and change.max() <= 0.6
    assert abs(np.log(stretch[stretch != 1]).mean()) < 0.005


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_paper_preset_keeps_dtype_and_shape_in_both_backends(backend: str, dtype: type):
    augmenter = make_augmenter(augment_config("paper"), backend, seed=0)
    images = np.stack([image_of(dtype, seed=s) for s in range(6)])
    out = np.empty_like(images)
    augmenter.augment_batch(images, out)
    assert out.dtype == images.dtype and out.shape == images.shape
    assert not np.array_equal(out, images)
    single = augmenter(images[0])
    assert single.dtype == images.dtype and single.shape == images[0].shape


def test_augment_config_takes_presets_dicts_and_configs():
    assert augment_config("paper") is PAPER
    assert augment_config(PAPER) is PAPER
    assert augment_config({"preset": "paper", "zoom_range": [1.0, 1.1]}) == PAPER  # YAML list
    assert augment_config({"preset": "paper", "rotate_limit": 5}) == replace(PAPER,
                                                                            rotate_limit=5)
    assert augment_config({"hflip_p": 0.0}) == AugmentConfig(hflip_p=0.0)
    for value, name in (("paper", "paper"), ({"preset": "paper", "rotate_limit": 5}, "paper"),
                        ({"hflip_p": 0.0}, "mcal"), (None, "mcal")):
        assert preset_name(value) == name
    for bad in ("fastai", {"preset": "fastai"}):
        with pytest.raises(ValueError, match=r"unknown augmentation preset 'fastai'.*mcal.*paper"):
            augment_config(bad)
    with pytest.raises(ValueError, match="rotate_limt"):
        augment_config({"preset": "paper", "rotate_limt": 5})
    with pytest.raises(ValueError, match="preset name"):
        augment_config(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="zoom_focus"):
        AugmentConfig(zoom_focus="edge")
    with pytest.raises(ValueError, match="lighting"):
        AugmentConfig(lighting="gamma")
    with pytest.raises(ValueError, match="transpose needs square"):
        BatchAugmenter(AugmentConfig(transpose_p=1.0, **FLIPS_ONLY))(image_of(np.uint8)[:, :20])


def test_preset_reaches_the_datamodule_from_yaml_and_a_sweep(tmp_path: Path):
    cache = tiny_cache(tmp_path)
    path = tmp_path / "train.yaml"
    path.write_text(f"cache: {cache}\naugment: paper\n")
    config = load_config(path)
    assert config.augment == "paper"
    sweep = sweep_from_dict({"space": {"epochs": {"type": "int", "low": 1, "high": 2}},
                             "n_trials": 1, "data": {"cache": str(cache), "augment": "paper"}},
                            tmp_path / "sweep.yaml")
    assert sweep.train_config({"epochs": 1}).augment == "paper"
    dm = CacheDataModule(config.cache, batch_size=4, num_workers=0, augment=config.augment)
    assert dm.augment == PAPER
    dm.setup()
    images, _, rows = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint16 and images.shape[1:] == (1, 32, 32)
    assert not np.array_equal(images[:, 0].numpy(), open_cache(cache).images[rows.numpy()])
    with pytest.raises(ValueError, match=r"known presets: \['mcal', 'paper'\]"):
        CacheDataModule(cache, augment="fastai")


def test_batch_matrices_with_transpose_and_focus_equal_the_per_image_matrix():
    config = replace(PAPER, rotate_limit=45, zoom_range=(0.7, 1.5))
    draws = BatchAugmenter(config, seed=3).draw_batch(64)
    assert draws.transpose.any() and (draws.focus_x != 0.5).any() and not draws.warp.all()
    matrices = warp_matrices(36, 36, draws)
    for i in range(len(draws)):
        np.testing.assert_allclose(matrices[i], warp_matrix(36, 36, draws.image(i)), atol=1e-9)


def test_separate_coins_for_mcal_linear_lighting_and_warp():
    config = AugmentConfig(rotate_p=0.3, zoom_p=0.6, brightness_p=0.2, contrast_p=1.0)
    draws = BatchAugmenter(config, seed=0).draw_batch(20_000)
    assert abs((draws.angle != 0).mean() - 0.3) < 0.015
    assert abs((draws.scale != 1).mean() - 0.6) < 0.015
    assert abs((draws.offset != 0).mean() - 0.2) < 0.015 and (draws.gain != 1).all()
    warps, lights = build_pipeline(config).transforms[2:]
    assert warps.p == pytest.approx(1 - 0.7 * 0.4) and lights.p == pytest.approx(1.0)
    assert len(lights.transforms) == 2  # contrast is always on: no brightness-only choice
    assert lights.transforms_ps == pytest.approx([0.2, 0.8])


@pytest.mark.parametrize("reseed", [False, True])
def test_seeded_albumentations_coins_are_independent(reseed: bool):
    augmenter = make_augmenter(AugmentConfig(**FLIPS_ONLY), "albumentations", seed=0)
    if reseed:
        augmenter.reseed(5)  # what each DataLoader worker does
    image = np.arange(16, dtype=np.uint16).reshape(4, 4)
    corners = np.array([augmenter(image)[0, 0] for _ in range(800)])
    counts = [(corners == corner).sum() for corner in (0, 3, 12, 15)]  # none, h, v, both
    assert min(counts) > 150, counts

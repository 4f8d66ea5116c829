import numpy as np
import pytest

from mcal_lightning.augment import (
    BORDERS,
    AugmentConfig,
    BatchAugmenter,
    ImageDraw,
    build_pipeline,
    make_augmenter,
    warp_matrices,
    warp_matrix,
)

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

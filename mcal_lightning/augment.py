"""Training augmentation (the paper's Table 3 set) on the cache's integer ROIs.

Horizontal and vertical flips, a rotation and zoom (one affine warp, so one interpolation) and
brightness/contrast, configured by one ``AugmentConfig``, in two interchangeable backends:

* ``"albumentations"``: the reference ``A.Compose``, one call per image. albumentations 2.0 runs
  on uint8 and uint16 natively and returns the same dtype, faster than a round trip through
  float32 (0.59 vs 0.70 ms per 224x224 ROI).
* ``"batch"`` (the DataModule's default): the same operations with the same parameter laws and
  the same geometry as albumentations, written straight onto a batch with OpenCV: the flips are
  folded into the warp matrix, brightness/contrast is one saturating ``cv2.addWeighted``, and
  there is no per-call bookkeeping: about 2.5x cheaper (176 vs 442 us per 224x224 uint16 ROI,
  default config, one core). Benchmark P3 needs it; the bilinear warp itself is most of it.

Both take (S, S) uint8/uint16 arrays and give back the same dtype and shape. Validation and test
data are never augmented.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import cv2
import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network check on import
import albumentations as A

BORDERS = {"reflect": cv2.BORDER_REFLECT_101, "constant": cv2.BORDER_CONSTANT}
BACKENDS = ("batch", "albumentations")
SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and limits of each augmentation; ``enabled=False`` is the identity.

    The defaults are common practice for mammogram ROIs; check them against the paper's Table 3.
    """

    enabled: bool = True
    hflip_p: float = 0.5
    vflip_p: float = 0.5
    rotate_limit: float = 20.0  # degrees, drawn from [-limit, limit]
    zoom_limit: float = 0.1  # one scale for both axes, drawn from [1 - limit, 1 + limit]
    affine_p: float = 0.75  # probability of the rotation + zoom warp
    brightness_limit: float = 0.1  # offset, as a fraction of the dtype's full range
    contrast_limit: float = 0.1  # gain drawn from [1 - limit, 1 + limit]
    brightness_contrast_p: float = 0.5
    border: str = "reflect"  # how the warp fills corners: "reflect" or "constant" (black)

    def __post_init__(self) -> None:
        if self.border not in BORDERS:
            raise ValueError(f"border must be one of {sorted(BORDERS)}, got {self.border!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Augmenter(Protocol):
    """What the dataset needs from a backend."""

    config: AugmentConfig

    def reseed(self, seed: int) -> None: ...

    def __call__(self, image: np.ndarray) -> np.ndarray: ...

    def augment_batch(self, images: Sequence[np.ndarray], out: np.ndarray) -> None: ...


def check_image(image: np.ndarray) -> None:
    if image.dtype not in SUPPORTED_DTYPES or image.ndim != 2:
        raise TypeError(f"expected a 2-D uint8/uint16 array, got {image.dtype} {image.shape}")


def build_pipeline(config: AugmentConfig, seed: int | None = None) -> A.Compose:
    """The albumentations Compose for config (the reference backend)."""
    zoom = (1 - config.zoom_limit, 1 + config.zoom_limit)
    rotate = (-config.rotate_limit, config.rotate_limit)
    brightness = (-config.brightness_limit, config.brightness_limit)
    contrast = (-config.contrast_limit, config.contrast_limit)
    return A.Compose(
        [
            A.HorizontalFlip(p=config.hflip_p),
            A.VerticalFlip(p=config.vflip_p),
            A.Affine(scale=zoom, rotate=rotate, keep_ratio=True, interpolation=cv2.INTER_LINEAR,
                     border_mode=BORDERS[config.border], fill=0, p=config.affine_p),
            A.RandomBrightnessContrast(brightness_limit=brightness, contrast_limit=contrast,
                                       brightness_by_max=True, p=config.brightness_contrast_p),
        ],
        seed=seed,
    )


class AlbumentationsAugmenter:
    """The albumentations pipeline, one image at a time.

    albumentations keeps its own random state, which forked DataLoader workers would copy;
    the dataset calls ``reseed`` in each worker so that workers and epochs differ.
    """

    def __init__(self, config: AugmentConfig | None = None, seed: int | None = None) -> None:
        self.config = config or AugmentConfig()
        self.pipeline = build_pipeline(self.config, seed)

    def reseed(self, seed: int) -> None:
        self.pipeline.set_random_seed(seed)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        check_image(image)
        if not self.config.enabled:
            return image
        out = self.pipeline(image=np.ascontiguousarray(image))["image"]
        return np.ascontiguousarray(out.reshape(image.shape).astype(image.dtype, copy=False))

    def augment_batch(self, images: Sequence[np.ndarray], out: np.ndarray) -> None:
        for image, target in zip(images, out, strict=True):
            target[...] = self(image)


@dataclass(frozen=True)
class ImageDraw:
    """The random choices for one image."""

    hflip: bool
    vflip: bool
    warp: bool
    angle: float
    scale: float
    adjust: bool
    gain: float
    offset: float  # fraction of the dtype's full range


@dataclass(frozen=True)
class BatchDraws:
    """The random choices for a batch, one array per kind (row i is image i)."""

    hflip: np.ndarray
    vflip: np.ndarray
    warp: np.ndarray
    angle: np.ndarray
    scale: np.ndarray
    adjust: np.ndarray
    gain: np.ndarray
    offset: np.ndarray

    def __len__(self) -> int:
        return len(self.hflip)

    def image(self, i: int) -> ImageDraw:
        return ImageDraw(bool(self.hflip[i]), bool(self.vflip[i]), bool(self.warp[i]),
                         float(self.angle[i]), float(self.scale[i]), bool(self.adjust[i]),
                         float(self.gain[i]), float(self.offset[i]))


def flip_matrix(height: int, width: int, hflip: bool, vflip: bool) -> np.ndarray:
    """3x3 pixel-exact flips: x -> width - 1 - x, y -> height - 1 - y."""
    return np.array([[-1.0 if hflip else 1.0, 0.0, width - 1.0 if hflip else 0.0],
                     [0.0, -1.0 if vflip else 1.0, height - 1.0 if vflip else 0.0],
                     [0.0, 0.0, 1.0]])


def warp_matrix(height: int, width: int, draw: ImageDraw) -> np.ndarray:
    """2x3 forward map: flips, then rotation + zoom about albumentations' centre (w/2-0.5)."""
    centre = (width / 2 - 0.5, height / 2 - 0.5)
    rotate = np.vstack([cv2.getRotationMatrix2D(centre, draw.angle, draw.scale), [0, 0, 1]])
    return (rotate @ flip_matrix(height, width, draw.hflip, draw.vflip))[:2]


def warp_matrices(height: int, width: int, draws: BatchDraws) -> np.ndarray:
    """``warp_matrix`` for every image of a batch at once: (B, 2, 3).

    The rotation is cv2.getRotationMatrix2D's, written out so that numpy does the batch in one
    go; per image, the matrix products cost as much as a quarter of the warp itself.
    """
    cx, cy = width / 2 - 0.5, height / 2 - 0.5
    radians = np.deg2rad(draws.angle)
    alpha, beta = draws.scale * np.cos(radians), draws.scale * np.sin(radians)
    fx, fy = np.where(draws.hflip, -1.0, 1.0), np.where(draws.vflip, -1.0, 1.0)
    tx, ty = np.where(draws.hflip, width - 1.0, 0.0), np.where(draws.vflip, height - 1.0, 0.0)
    shift_x = (1 - alpha) * cx - beta * cy
    shift_y = beta * cx + (1 - alpha) * cy
    return np.stack([
        np.stack([alpha * fx, beta * fy, alpha * tx + beta * ty + shift_x], axis=-1),
        np.stack([-beta * fx, alpha * fy, -beta * tx + alpha * ty + shift_y], axis=-1),
    ], axis=1)


def flip_code(hflip: bool, vflip: bool) -> int:
    """cv2.flip's code: 1 horizontal, 0 vertical, -1 both."""
    return -1 if hflip and vflip else (1 if hflip else 0)


class BatchAugmenter:
    """The same augmentations written straight into a batch with OpenCV (the fast backend)."""

    def __init__(self, config: AugmentConfig | None = None, seed: int | None = None) -> None:
        self.config = config or AugmentConfig()
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def draw_batch(self, count: int) -> BatchDraws:
        """Random choices for count images, one generator call per kind."""
        c, r = self.config, self.rng
        chance = r.random((4, count))
        angles = r.uniform(-c.rotate_limit, c.rotate_limit, count)
        scales = r.uniform(1 - c.zoom_limit, 1 + c.zoom_limit, count)
        gains = 1 + r.uniform(-c.contrast_limit, c.contrast_limit, count)
        offsets = r.uniform(-c.brightness_limit, c.brightness_limit, count)
        return BatchDraws(chance[0] < c.hflip_p, chance[1] < c.vflip_p, chance[2] < c.affine_p,
                          angles, scales, chance[3] < c.brightness_contrast_p, gains, offsets)

    def draw(self, count: int) -> list[ImageDraw]:
        draws = self.draw_batch(count)
        return [draws.image(i) for i in range(count)]

    def augment_into(self, image: np.ndarray, out: np.ndarray, draw: ImageDraw,
                     matrix: np.ndarray | None = None) -> None:
        """One image into out (same shape and dtype, another buffer).

        matrix: draw's ``warp_matrix``, when the caller has it already.
        """
        height, width = image.shape
        if draw.warp:
            if matrix is None:
                matrix = warp_matrix(height, width, draw)
            cv2.warpAffine(image, matrix, (width, height), dst=out, flags=cv2.INTER_LINEAR,
                           borderMode=BORDERS[self.config.border], borderValue=0)
        elif draw.hflip or draw.vflip:
            cv2.flip(image, flip_code(draw.hflip, draw.vflip), dst=out)
        else:
            out[...] = image
        if draw.adjust:
            top = float(np.iinfo(out.dtype).max)
            # saturating gain * x + offset * max in the image's own dtype, as albumentations does
            cv2.addWeighted(out, draw.gain, out, 0.0, draw.offset * top, dst=out)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        check_image(image)
        if not self.config.enabled:
            return image
        out = np.empty_like(image)
        self.augment_into(np.ascontiguousarray(image), out, self.draw(1)[0])
        return out

    def augment_batch(self, images: Sequence[np.ndarray], out: np.ndarray) -> None:
        """B (S, S) images (an array or a list of views) into out (B, S, S), same dtype.

        out must not share memory with the images; they may be read-only (memmap rows).
        """
        draws = self.draw_batch(len(out))
        matrices = warp_matrices(*out.shape[1:], draws)
        for i, (image, target) in enumerate(zip(images, out, strict=True)):
            check_image(image)
            if self.config.enabled:
                self.augment_into(image, target, draws.image(i), matrices[i])
            else:
                target[...] = image


def make_augmenter(config: AugmentConfig | None = None, backend: str = "batch",
                   seed: int | None = None) -> Augmenter:
    """The augmenter of a backend: "batch" (fast, default) or "albumentations" (reference)."""
    if backend == "batch":
        return BatchAugmenter(config, seed)
    if backend == "albumentations":
        return AlbumentationsAugmenter(config, seed)
    raise ValueError(f"unknown augmentation backend {backend!r}; choose from {BACKENDS}")

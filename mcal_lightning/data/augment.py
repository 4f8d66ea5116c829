"""Training augmentation on the cache's integer ROIs: mcal's defaults and the paper's preset.

Flips (and the transpose, for the full dihedral group), a rotation and zoom (one affine warp,
so one interpolation) and brightness/contrast, configured by one ``AugmentConfig``, in two
interchangeable backends:

* ``"albumentations"``: the reference ``A.Compose``, one call per image. albumentations 2.0 runs
  on uint8 and uint16 natively and returns the same dtype, faster than a round trip through
  float32 (0.59 vs 0.70 ms per 224x224 ROI).
* ``"batch"`` (the DataModule's default): the same operations with the same parameter laws and
  the same geometry as albumentations, written straight onto a batch with OpenCV: the flips
  and the transpose are folded into the warp matrix, linear brightness/contrast is one
  saturating ``cv2.addWeighted``, and there is no per-call bookkeeping: about 2.5x cheaper (176
  vs 442 us per 224x224 uint16 ROI, default config, one core). Benchmark P3 needs it; the
  bilinear warp itself is most of it.

``PRESETS["paper"]`` is fastai v1's ``get_transforms(do_flip=True, flip_vert=True)`` as the
seed paper (Leong et al. 2022, Table 3) used it, without the perspective warp the paper does not
list: a uniform draw of the 8 dihedral transforms, rotation within +-10 degrees and an inward
zoom in [1, 1.1] at a random focal point, each at p 0.75, and brightness and contrast in logit
space, each at p 0.75. ``augment_config`` turns a preset name, a dict (optionally with a
``"preset"`` key) or a config into an ``AugmentConfig``. One law differs between the backends:
albumentations' zoom is always about the centre (``zoom_focus="random"`` is batch-only).

Both take (S, S) uint8/uint16 arrays and give back the same dtype and shape. Validation and test
data are never augmented.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import cv2
import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network check on import
import albumentations as A

BORDERS = {"reflect": cv2.BORDER_REFLECT_101, "constant": cv2.BORDER_CONSTANT}
BACKENDS = ("batch", "albumentations")
SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))
ZOOM_FOCI = ("centre", "random")
LIGHTINGS = ("linear", "logit")
LOGIT_EPS = 1e-7  # fastai v1 clamps x to [eps, 1 - eps] before its logit


def part_ps(joint: float, first: float | None, second: float | None) -> tuple[float, float] | None:
    """Independent probabilities of two parts, or None when both ride on one joint coin.

    A part whose own probability is None takes the joint one.
    """
    if first is None and second is None:
        return None
    return (joint if first is None else first), (joint if second is None else second)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and limits of each augmentation; ``enabled=False`` is the identity.

    The defaults are mcal's own, common practice for mammogram ROIs; ``PRESETS["paper"]`` is the
    seed paper's fastai v1 set. ``rotate_p``/``zoom_p`` (and ``brightness_p``/``contrast_p``)
    left None share one coin at ``affine_p`` (``brightness_contrast_p``); set either and each
    part gets its own independent coin.
    """

    enabled: bool = True
    hflip_p: float = 0.5
    vflip_p: float = 0.5
    rotate_limit: float = 20.0  # degrees, drawn from [-limit, limit]
    zoom_limit: float = 0.1  # one scale for both axes, drawn from [1 - limit, 1 + limit]
    affine_p: float = 0.75  # probability of the rotation + zoom warp
    brightness_limit: float = 0.1  # linear: offset, fraction of full range; logit: see lighting
    contrast_limit: float = 0.1  # linear: gain drawn from [1 - limit, 1 + limit]; logit: ditto
    brightness_contrast_p: float = 0.5
    border: str = "reflect"  # how the warp fills corners: "reflect" or "constant" (black)
    transpose_p: float = 0.0  # swap rows and columns (after the flips); square images only
    rotate_p: float | None = None  # own coin for the rotation; None: the joint affine_p coin
    zoom_p: float | None = None  # own coin for the zoom; None: the joint affine_p coin
    zoom_range: tuple[float, float] | None = None  # scale drawn from [low, high]; None: limit
    zoom_focus: str = "centre"  # "random": the zoomed window anywhere inside the image
    # "logit" (fastai v1): sigmoid(scale * (logit(x) + logit(change))) with x in [0, 1], change
    # uniform in 0.5 * (1 +- brightness_limit), scale log-uniform in
    # [1 - contrast_limit, 1 / (1 - contrast_limit)]
    lighting: str = "linear"
    brightness_p: float | None = None  # own coin for brightness; None: brightness_contrast_p
    contrast_p: float | None = None  # own coin for contrast; None: brightness_contrast_p

    def __post_init__(self) -> None:
        if self.border not in BORDERS:
            raise ValueError(f"border must be one of {sorted(BORDERS)}, got {self.border!r}")
        if self.zoom_focus not in ZOOM_FOCI:
            raise ValueError(f"zoom_focus must be one of {ZOOM_FOCI}, got {self.zoom_focus!r}")
        if self.lighting not in LIGHTINGS:
            raise ValueError(f"lighting must be one of {LIGHTINGS}, got {self.lighting!r}")
        if self.zoom_range is not None:
            low, high = (float(v) for v in self.zoom_range)  # a YAML list becomes a tuple
            if not 0 < low <= high:
                raise ValueError(f"zoom_range needs 0 < low <= high, got {self.zoom_range!r}")
            object.__setattr__(self, "zoom_range", (low, high))
        if self.lighting == "logit" and not (0 <= self.brightness_limit < 1
                                             and 0 <= self.contrast_limit < 1):
            raise ValueError("logit lighting needs brightness_limit and contrast_limit in [0, 1)")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def zoom_bounds(self) -> tuple[float, float]:
        """The zoom scale's uniform law."""
        return self.zoom_range or (1 - self.zoom_limit, 1 + self.zoom_limit)

    @property
    def change_bounds(self) -> tuple[float, float]:
        """Logit lighting: brightness change, uniform (0.5 is the identity)."""
        return 0.5 * (1 - self.brightness_limit), 0.5 * (1 + self.brightness_limit)

    @property
    def stretch_bounds(self) -> tuple[float, float]:
        """Logit lighting: contrast scale, log-uniform (1 is the identity)."""
        return 1 - self.contrast_limit, 1 / (1 - self.contrast_limit)

    @property
    def warp_ps(self) -> tuple[float, float] | None:
        """(rotation, zoom) probabilities, or None for one joint coin at affine_p."""
        return part_ps(self.affine_p, self.rotate_p, self.zoom_p)

    @property
    def lighting_ps(self) -> tuple[float, float] | None:
        """(brightness, contrast) probabilities, or None for one joint coin."""
        return part_ps(self.brightness_contrast_p, self.brightness_p, self.contrast_p)


PRESETS: dict[str, AugmentConfig] = {
    "mcal": AugmentConfig(),
    # fastai v1 get_transforms(do_flip=True, flip_vert=True) with its defaults max_rotate=10,
    # max_zoom=1.1, max_lighting=0.2, p_affine=0.75, p_lighting=0.75, minus max_warp (not in the
    # paper's Table 3); rand_crop at the same size is a no-op
    "paper": AugmentConfig(
        hflip_p=0.5, vflip_p=0.5, transpose_p=0.5,  # dihedral_affine: k uniform in 0..7
        rotate_limit=10.0, rotate_p=0.75,
        zoom_range=(1.0, 1.1), zoom_p=0.75, zoom_focus="random", affine_p=0.75,
        lighting="logit", brightness_limit=0.2, contrast_limit=0.2, brightness_p=0.75,
        contrast_p=0.75, brightness_contrast_p=0.75, border="reflect"),
}


def augment_config(value: AugmentConfig | Mapping[str, Any] | str | None) -> AugmentConfig:
    """An AugmentConfig from a config, a preset name, or a dict of fields.

    A dict may name a preset under ``"preset"``; its other keys override the preset's fields.
    None or an empty dict is mcal's default.
    """
    if value is None:
        return AugmentConfig()
    if isinstance(value, AugmentConfig):
        return value
    if isinstance(value, str):
        return preset(value)
    if not isinstance(value, Mapping):
        raise ValueError(f"augment: expected a preset name {sorted(PRESETS)} or a mapping of "
                         f"settings, got {type(value).__name__} {value!r}")
    fields = dict(value)
    base = preset(fields.pop("preset")) if "preset" in fields else AugmentConfig()
    known = {f.name for f in dataclasses.fields(AugmentConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"augment: unknown setting(s) {unknown}; known: {sorted(known)} "
                         f"and 'preset'")
    return dataclasses.replace(base, **fields)


def preset_name(value: AugmentConfig | Mapping[str, Any] | str | None) -> str:
    """The preset ``augment_config(value)`` starts from: a named one, else "mcal" (the defaults)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "preset" in value:
        return str(value["preset"])
    return "mcal"


def preset(name: str) -> AugmentConfig:
    """The named preset; a ValueError lists the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown augmentation preset {name!r}; known presets: {sorted(PRESETS)}")
    return PRESETS[name]


class Augmenter(Protocol):
    """What the dataset needs from a backend."""

    config: AugmentConfig

    def reseed(self, seed: int) -> None: ...

    def __call__(self, image: np.ndarray) -> np.ndarray: ...

    def augment_batch(self, images: Sequence[np.ndarray], out: np.ndarray) -> None: ...


def check_image(image: np.ndarray) -> None:
    if image.dtype not in SUPPORTED_DTYPES or image.ndim != 2:
        raise TypeError(f"expected a 2-D uint8/uint16 array, got {image.dtype} {image.shape}")


def logit_lighting(image: np.ndarray, change: float, stretch: float) -> np.ndarray:
    """fastai v1's brightness then contrast: sigmoid(stretch * (logit(x) + logit(change))).

    x is the image over its dtype's maximum, clamped to [1e-7, 1 - 1e-7] as fastai does. In
    float32, as top / (1 + exp(-stretch * logit(change)) * ((1 - x) / x) ** stretch); the
    result, rounded, lies in [0, top] (saturated); same shape, dtype float32.
    """
    top = float(np.iinfo(image.dtype).max)
    odds = image.astype(np.float32)
    np.clip(odds, LOGIT_EPS * top, (1 - LOGIT_EPS) * top, out=odds)
    np.divide(top, odds, out=odds)
    odds -= 1  # (1 - x) / x
    if stretch != 1:
        cv2.pow(odds, stretch, dst=odds)  # 4x np.power's speed on float32
    odds *= math.exp(-stretch * math.log(change / (1 - change)))
    odds += 1
    np.divide(top, odds, out=odds)
    return np.rint(odds, out=odds)


class LogitLighting(A.ImageOnlyTransform):
    """fastai v1's logit brightness and contrast, each at its own probability.

    albumentations has no lighting in logit space. change is uniform (0.5 is the identity),
    stretch log-uniform (1 is the identity); see ``logit_lighting``.
    """

    def __init__(self, change: tuple[float, float], stretch: tuple[float, float],
                 brightness_p: float = 1.0, contrast_p: float = 1.0, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.change, self.stretch = change, stretch
        self.brightness_p, self.contrast_p = brightness_p, contrast_p

    def get_params(self) -> dict[str, float]:
        r = self.py_random
        change = r.uniform(*self.change) if r.random() < self.brightness_p else 0.5
        log_low, log_high = (math.log(v) for v in self.stretch)
        stretch = math.exp(r.uniform(log_low, log_high)) if r.random() < self.contrast_p else 1.0
        return {"change": change, "stretch": stretch}

    def apply(self, img: np.ndarray, change: float = 0.5, stretch: float = 1.0,
              **params: Any) -> np.ndarray:
        if change == 0.5 and stretch == 1.0:
            return img
        return logit_lighting(img, change, stretch).astype(img.dtype)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return "change", "stretch", "brightness_p", "contrast_p"


def independent(make: Callable[[bool, bool, float], A.BasicTransform], first_p: float,
                second_p: float) -> list[A.BasicTransform]:
    """Two parts at independent probabilities in one transform (so one pass, one interpolation).

    ``A.OneOf`` of make(both), make(first only), make(second only), weighted by their chances
    and applied with the chance that either part is on: the same law as two coins.
    """
    options = [(True, True, first_p * second_p), (True, False, first_p * (1 - second_p)),
               (False, True, (1 - first_p) * second_p)]
    children = [make(first, second, weight) for first, second, weight in options if weight > 0]
    if not children:
        return []
    return [A.OneOf(children, p=1 - (1 - first_p) * (1 - second_p))]


def flip_transforms(config: AugmentConfig) -> list[A.BasicTransform]:
    """Flips, then the transpose; three fair coins are exactly ``A.D4``'s uniform law."""
    if config.hflip_p == config.vflip_p == config.transpose_p == 0.5:
        return [A.D4(p=1.0)]
    flips: list[A.BasicTransform] = [A.HorizontalFlip(p=config.hflip_p),
                                     A.VerticalFlip(p=config.vflip_p)]
    return flips + ([A.Transpose(p=config.transpose_p)] if config.transpose_p > 0 else [])


def build_pipeline(config: AugmentConfig, seed: int | None = None) -> A.Compose:
    """The albumentations Compose for config (the reference backend).

    The zoom is about the centre whatever ``zoom_focus`` says: ``A.Affine`` draws its translation
    independently of its scale, so it can't keep a random window inside the image as the batch
    backend does. The focal shift left out is at most (scale - 1) / 2 of the side (5% at 1.1).
    """
    rotate = (-config.rotate_limit, config.rotate_limit)

    def affine(rotates: bool, zooms: bool, p: float) -> A.Affine:
        return A.Affine(scale=config.zoom_bounds if zooms else (1.0, 1.0),
                        rotate=rotate if rotates else (0.0, 0.0), keep_ratio=True,
                        interpolation=cv2.INTER_LINEAR, border_mode=BORDERS[config.border],
                        fill=0, p=p)

    def linear(brightens: bool, contrasts: bool, p: float) -> A.RandomBrightnessContrast:
        brightness = (-config.brightness_limit, config.brightness_limit) if brightens else (0, 0)
        contrast = (-config.contrast_limit, config.contrast_limit) if contrasts else (0, 0)
        return A.RandomBrightnessContrast(brightness_limit=brightness, contrast_limit=contrast,
                                          brightness_by_max=True, p=p)

    warp_ps, lighting_ps = config.warp_ps, config.lighting_ps
    warps = [affine(True, True, config.affine_p)] if warp_ps is None else independent(
        affine, *warp_ps)
    if config.lighting == "logit":
        light_p, (brightness_p, contrast_p) = ((config.brightness_contrast_p, (1.0, 1.0))
                                               if lighting_ps is None else (1.0, lighting_ps))
        lights: list[A.BasicTransform] = [LogitLighting(
            config.change_bounds, config.stretch_bounds, brightness_p, contrast_p, p=light_p)]
    else:
        lights = [linear(True, True, config.brightness_contrast_p)] if lighting_ps is None \
            else independent(linear, *lighting_ps)
    pipeline = A.Compose(flip_transforms(config) + warps + lights)
    seed_pipeline(pipeline, seed)
    return pipeline


def seed_pipeline(pipeline: A.Compose, seed: int | None) -> None:
    """Seed pipeline so that all its transforms draw from one shared stream.

    albumentations 2.0's ``Compose.set_random_seed`` gives each transform its own generators,
    all seeded alike, so their draws coincide: seeded, HorizontalFlip(0.5) and VerticalFlip(0.5)
    fire together (identity or 180 degrees, never one flip alone).
    """
    pipeline.set_random_seed(seed)
    pipeline.set_random_state(pipeline.random_generator, pipeline.py_random)


class AlbumentationsAugmenter:
    """The albumentations pipeline, one image at a time.

    albumentations keeps its own random state, which forked DataLoader workers would copy;
    the dataset calls ``reseed`` in each worker so that workers and epochs differ.
    """

    def __init__(self, config: AugmentConfig | None = None, seed: int | None = None) -> None:
        self.config = config or AugmentConfig()
        self.pipeline = build_pipeline(self.config, seed)

    def reseed(self, seed: int) -> None:
        seed_pipeline(self.pipeline, seed)

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
    """The random choices for one image.

    A part that is off has its identity value: angle 0, scale 1, gain 1, offset 0, change 0.5,
    stretch 1; ``warp`` and ``adjust`` say whether any warp or lighting is on.
    """

    hflip: bool
    vflip: bool
    warp: bool
    angle: float
    scale: float
    adjust: bool
    gain: float
    offset: float  # fraction of the dtype's full range
    transpose: bool = False  # after the flips
    focus_x: float = 0.5  # zoom focal point, fraction of the width (fastai's col_pct)
    focus_y: float = 0.5  # ... of the height (row_pct)
    change: float = 0.5  # logit lighting's brightness change
    stretch: float = 1.0  # logit lighting's contrast scale


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
    transpose: np.ndarray
    focus_x: np.ndarray
    focus_y: np.ndarray
    change: np.ndarray
    stretch: np.ndarray

    def __len__(self) -> int:
        return len(self.hflip)

    def image(self, i: int) -> ImageDraw:
        return ImageDraw(bool(self.hflip[i]), bool(self.vflip[i]), bool(self.warp[i]),
                         float(self.angle[i]), float(self.scale[i]), bool(self.adjust[i]),
                         float(self.gain[i]), float(self.offset[i]), bool(self.transpose[i]),
                         float(self.focus_x[i]), float(self.focus_y[i]), float(self.change[i]),
                         float(self.stretch[i]))


def flip_matrix(height: int, width: int, hflip: bool, vflip: bool) -> np.ndarray:
    """3x3 pixel-exact flips: x -> width - 1 - x, y -> height - 1 - y."""
    return np.array([[-1.0 if hflip else 1.0, 0.0, width - 1.0 if hflip else 0.0],
                     [0.0, -1.0 if vflip else 1.0, height - 1.0 if vflip else 0.0],
                     [0.0, 0.0, 1.0]])


def focus_shift(height: int, width: int, scale: Any, focus_x: Any,
                focus_y: Any) -> tuple[Any, Any]:
    """Translation that moves the zoomed window onto the focal point (fastai's ``_zoom``).

    Focus 0 puts the window's first pixel centre on the image's, 1 its last on the image's
    last, so the window is inside the image for every focus in [0, 1] when scale >= 1.
    """
    half_x, half_y = width / 2 - 0.5, height / 2 - 0.5
    return ((1 - scale) * (2 * focus_x - 1) * half_x, (1 - scale) * (2 * focus_y - 1) * half_y)


def warp_matrix(height: int, width: int, draw: ImageDraw) -> np.ndarray:
    """2x3 forward map: flips, transpose, then rotation + zoom about albumentations' centre
    (w/2-0.5), then the zoom's focal shift."""
    centre = (width / 2 - 0.5, height / 2 - 0.5)
    rotate = np.vstack([cv2.getRotationMatrix2D(centre, draw.angle, draw.scale), [0, 0, 1]])
    rotate[:2, 2] += focus_shift(height, width, draw.scale, draw.focus_x, draw.focus_y)
    dihedral = flip_matrix(height, width, draw.hflip, draw.vflip)
    return (rotate @ (dihedral[[1, 0, 2]] if draw.transpose else dihedral))[:2]


def warp_matrices(height: int, width: int, draws: BatchDraws) -> np.ndarray:
    """``warp_matrix`` for every image of a batch at once: (B, 2, 3).

    The rotation is cv2.getRotationMatrix2D's, written out so that numpy does the batch in one
    go; per image, the matrix products cost as much as a quarter of the warp itself.
    """
    count = len(draws)
    cx, cy = width / 2 - 0.5, height / 2 - 0.5
    radians = np.deg2rad(draws.angle)
    alpha, beta = draws.scale * np.cos(radians), draws.scale * np.sin(radians)
    focus_x, focus_y = focus_shift(height, width, draws.scale, draws.focus_x, draws.focus_y)
    shift_x = (1 - alpha) * cx - beta * cy + focus_x
    shift_y = beta * cx + (1 - alpha) * cy + focus_y
    rotate = np.stack([np.stack([alpha, beta, shift_x], axis=-1),
                       np.stack([-beta, alpha, shift_y], axis=-1)], axis=1)
    dihedral = np.zeros((count, 3, 3))
    dihedral[:, 0, 0], dihedral[:, 0, 2] = np.where(draws.hflip, -1.0, 1.0), np.where(
        draws.hflip, width - 1.0, 0.0)
    dihedral[:, 1, 1], dihedral[:, 1, 2] = np.where(draws.vflip, -1.0, 1.0), np.where(
        draws.vflip, height - 1.0, 0.0)
    dihedral[:, 2, 2] = 1.0
    dihedral = np.where(draws.transpose[:, None, None], dihedral[:, [1, 0, 2]], dihedral)
    return rotate @ dihedral


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

    def coins(self, chance: np.ndarray, ps: tuple[float, float] | None,
              joint_p: float) -> tuple[np.ndarray, np.ndarray]:
        """Two parts' coins: the joint one twice, or chance and a fresh draw at their own ps."""
        if ps is None:
            on = chance < joint_p
            return on, on
        return chance < ps[0], self.rng.random(len(chance)) < ps[1]

    def draw_batch(self, count: int) -> BatchDraws:
        """Random choices for count images, one generator call per kind.

        mcal's default config draws exactly what it always did; the other parts draw only
        when they are on.
        """
        c, r = self.config, self.rng
        chance = r.random((4, count))
        angles = r.uniform(-c.rotate_limit, c.rotate_limit, count)
        scales = r.uniform(*c.zoom_bounds, count)
        gains = 1 + r.uniform(-c.contrast_limit, c.contrast_limit, count)
        offsets = r.uniform(-c.brightness_limit, c.brightness_limit, count)
        transpose = r.random(count) < c.transpose_p if c.transpose_p > 0 else np.zeros(count, bool)
        rotates, zooms = self.coins(chance[2], c.warp_ps, c.affine_p)
        brightens, contrasts = self.coins(chance[3], c.lighting_ps, c.brightness_contrast_p)
        focus = r.random((2, count)) if c.zoom_focus == "random" else np.full((2, count), 0.5)
        changes, stretches = np.full(count, 0.5), np.ones(count)
        if c.lighting == "logit":
            changes = np.where(brightens, r.uniform(*c.change_bounds, count), 0.5)
            log_stretch = r.uniform(*np.log(c.stretch_bounds), count)
            stretches = np.where(contrasts, np.exp(log_stretch), 1.0)
            gains, offsets = np.ones(count), np.zeros(count)
        else:
            gains, offsets = np.where(contrasts, gains, 1.0), np.where(brightens, offsets, 0.0)
        return BatchDraws(chance[0] < c.hflip_p, chance[1] < c.vflip_p, rotates | zooms,
                          np.where(rotates, angles, 0.0), np.where(zooms, scales, 1.0),
                          brightens | contrasts, gains, offsets, transpose, focus[0], focus[1],
                          changes, stretches)

    def draw(self, count: int) -> list[ImageDraw]:
        draws = self.draw_batch(count)
        return [draws.image(i) for i in range(count)]

    def augment_into(self, image: np.ndarray, out: np.ndarray, draw: ImageDraw,
                     matrix: np.ndarray | None = None) -> None:
        """One image into out (same shape and dtype, another buffer).

        matrix: draw's ``warp_matrix``, when the caller has it already.
        """
        height, width = image.shape
        if draw.transpose and height != width:
            raise ValueError(f"the transpose needs square images, got {image.shape}")
        flips = draw.hflip or draw.vflip
        if draw.warp:
            if matrix is None:
                matrix = warp_matrix(height, width, draw)
            cv2.warpAffine(image, matrix, (width, height), dst=out, flags=cv2.INTER_LINEAR,
                           borderMode=BORDERS[self.config.border], borderValue=0)
        elif draw.transpose:
            cv2.transpose(cv2.flip(image, flip_code(draw.hflip, draw.vflip)) if flips else image,
                          dst=out)
        elif flips:
            cv2.flip(image, flip_code(draw.hflip, draw.vflip), dst=out)
        else:
            out[...] = image
        if not draw.adjust:
            return
        if self.config.lighting == "logit":
            out[...] = logit_lighting(out, draw.change, draw.stretch)
        else:
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

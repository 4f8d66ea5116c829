"""One training run's settings, as data: defaults here, overrides from YAML and the CLI.

Also the settings' choices and the ``lr_min,lr_max`` parser, which the command line and sweep
files share. Nothing here imports torch: ``mcal --help`` builds its help texts from this module.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ARCHS = ("resnet50", "resnet34", "vgg16", "alexnet")  # the paper's backbones (models.backbones)
NAMED_WEIGHTS = ("imagenet", "none")  # besides a torchvision checkpoint file or a folder of them
BALANCES = ("weights", "sampler", "none")
AUDIT_MODES = ("fail", "warn", "off")
KEEPS = ("best", "last")  # the weights a run keeps: its best val MCC's epoch, or the last
# the malignancy logit: one linear unit (the paper's), or read from the predicted calc type
HEADS = ("direct", "concept")
TTA_MODES = ("none", "flips", "dihedral")  # test-time augmentation (models.tta)
PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true",
              "32", "bf16", "16", "64")  # "auto" is mcal's; the others are Lightning's
CHOICES = {"arch": ARCHS, "balance": BALANCES, "audit": AUDIT_MODES, "precision": PRECISIONS,
           "keep": KEEPS, "head": HEADS, "tta": TTA_MODES}
AT_LEAST = {"epochs": 1, "freeze_epochs": 0, "batch_size": 1, "devices": 1, "top_losses": 0,
            "cam_samples": 0, "folds": 2, "aux_weight": 0}
# what the DataModule takes from a TrainConfig (train.make_datamodule, the paper replay's)
DATAMODULE_SETTINGS = ("cache", "batch_size", "num_workers", "val_fraction", "seed", "folds",
                       "fold", "balance", "augment")
LR_RANGE_EXAMPLE = "2e-6,1e-3"


def parse_lr_range(text: Any) -> tuple[float, float]:
    """``"lr_min,lr_max"`` (first layer group .. head) as two floats; ValueError saying why."""
    try:
        low, high = (float(part) for part in str(text).split(","))
    except ValueError as exc:
        raise ValueError(f"expected two numbers lr_min,lr_max such as '{LR_RANGE_EXAMPLE}', "
                         f"got {text!r}") from exc
    if not 0 < low <= high:
        raise ValueError(f"need 0 < lr_min <= lr_max, got {text!r}")
    return low, high


def short_float(value: float) -> str:
    """2e-06 as "2e-6", 0.001 as "1e-3": how the paper and the help write learning rates."""
    mantissa, exponent = f"{value:e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def setting_problem(name: str, value: Any) -> str | None:
    """What is wrong with one setting on its own (its choices, its bounds), or None.

    TrainConfig checks every field with it, sweep files every fixed value and searched choice.
    """
    if name in CHOICES:
        shown = str(value) if name == "precision" else value  # Lightning also takes 16, 32
        if shown not in CHOICES[name]:
            return f"unknown {value!r}; choose from {', '.join(CHOICES[name])}"
    elif name in AT_LEAST or name in ("lr_min", "lr_max"):
        if value is None and name == "folds":
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {value!r}"
        low = AT_LEAST.get(name)
        if low is not None and value < low:
            return f"must be >= {low}, got {value!r}"
        if low is None and not value > 0:
            return f"must be > 0, got {value!r}"
    elif name == "weights":
        # a name or a path: whether a checkpoint file exists is asked where the network is
        # built, since a sweep file may name files that only its workers' machines hold
        shown = str(value)
        path_like = "/" in shown or shown.endswith((".pt", ".pth")) or Path(shown).exists()
        if shown not in NAMED_WEIGHTS and not path_like:
            return (f"expected {' or '.join(NAMED_WEIGHTS)}, a torchvision checkpoint file or a "
                    f"folder of them (ARCH.pt), got {value!r}")
    elif name == "augment" and not isinstance(value, dict | str):
        return f"expected a mapping of augmentation settings or a preset name, got {value!r}"
    return None


@dataclass
class TrainConfig:
    cache: str = ""
    arch: str = "resnet34"
    weights: str = "imagenet"  # "imagenet", "none", a torchvision checkpoint or a folder of them
    epochs: int = 10
    freeze_epochs: int = 1  # head only, then the whole net with discriminative LRs
    batch_size: int = 32
    lr_min: float = 2e-6  # the paper's "2e-6,1e-3": first layer group .. head
    lr_max: float = 1e-3
    weight_decay: float = 0.01
    head_hidden: int = 256
    dropout: float = 0.5
    aux_weight: float = 0.0  # > 0: also predict calc type and distribution (training only)
    head: str = "direct"  # "concept": malignancy read from the predicted calc type (models.concept)
    tta: str = "none"  # val/test scored over "flips" or the "dihedral" group of each ROI
    keep: str = "best"  # the weights kept: the best val MCC's epoch, or "last" (fastai's one-cycle)
    val_fraction: float = 0.2
    folds: int | None = None
    fold: int | None = None
    seed: int = 0
    balance: str = "weights"  # "weights" (BCE pos_weight), "sampler" or "none"
    augment: dict[str, Any] | str = field(default_factory=dict)  # or a preset: "paper"
    num_workers: int | None = None
    accelerator: str = "auto"
    devices: int = 1  # > 1: DDP across that many GPUs (or CPU processes) for the fit
    precision: str = "auto"  # bf16-mixed on a GPU that has it, else 32-true
    lr_find: bool = False
    top_losses: int = 16
    cam_samples: int = 8  # Grad-CAM grid of random test ROIs (0 = off); top losses too
    limit_train_batches: float = 1.0
    audit: str = "fail"  # leakage audit before training: "fail", "warn" or "off"
    evaluate_test: bool = True  # sweeps choose on val and test only the best trial
    log_model: bool = True
    experiment: str = "mcal"
    run_name: str | None = None

    def __post_init__(self) -> None:
        """Refuse a setting no run could use, before any cache is opened or model built."""
        for name in (f.name for f in dataclasses.fields(self)):
            problem = setting_problem(name, getattr(self, name))
            if problem:
                raise ValueError(f"{name}: {problem}")
        if self.lr_min > self.lr_max:
            raise ValueError(f"lr_min, lr_max: need lr_min <= lr_max, got {self.lr_min!r}, "
                             f"{self.lr_max!r}")
        if self.head == "concept" and self.aux_weight:
            raise ValueError("aux_weight: the concept head already learns calc type and "
                             "distribution (its whole loss); set aux_weight to 0 with head concept")
        folds = self.folds or 5  # a fold without folds is one of 5, as in the DataModule
        if self.fold is not None and not 0 <= self.fold < folds:
            raise ValueError(f"fold: must lie in [0, {folds}), got {self.fold!r}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def datamodule_settings(self) -> dict[str, Any]:
        """The DataModule's keyword arguments: the one mapping of a config to its data."""
        return {name: getattr(self, name) for name in DATAMODULE_SETTINGS}


def field_names() -> set[str]:
    return {f.name for f in dataclasses.fields(TrainConfig)}


def check_keys(values: dict[str, Any], source: str) -> None:
    unknown = sorted(set(values) - field_names())
    if unknown:
        raise ValueError(f"{source}: unknown setting(s) {unknown}; known: {sorted(field_names())}")


def load_config(path: Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the YAML file, then overrides that are not None."""
    values: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}")
        check_keys(loaded, str(path))
        values.update(loaded)
    given = {k: v for k, v in overrides.items() if v is not None}
    check_keys(given, "command line")
    values.update(given)
    config = TrainConfig(**values)
    if not config.cache:
        raise ValueError("no cache given: pass --cache DIR or set `cache:` in the config file")
    return config

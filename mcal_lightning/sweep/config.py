"""A sweep file, as data: search space, sampler, pruner, budget, objective, data and trainer.

``load_sweep(path)`` reads the YAML and checks every key and type, naming the offending key in
``SweepFileError``. See ``sweeps/README.md`` for the format.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mcal_lightning.config import (
    DATAMODULE_SETTINGS,
    TrainConfig,
    field_names,
    parse_lr_range,
    setting_problem,
)

TOP_KEYS = {"study", "experiment", "objective", "sampler", "pruner", "n_trials", "timeout",
            "space", "data", "train", "heartbeat", "register", "test_split", "promotion",
            "ensemble"}
# the data: block: what the DataModule takes but batch_size (a trainer setting, often searched),
# and the leakage audit of its splits
DATA_KEYS = (set(DATAMODULE_SETTINGS) - {"batch_size"}) | {"audit"}
SAMPLERS = {"tpe": {"seed", "n_startup_trials", "enqueue"}, "random": {"seed", "enqueue"},
            "grid": {"seed", "points"}}
PRUNERS = {"median": {"n_startup_trials", "n_warmup_steps"},
           "hyperband": {"min_resource", "max_resource", "reduction_factor"}, "none": set()}
PARAM_TYPES = {"categorical": {"choices"}, "int": {"low", "high", "step", "log"},
               "float": {"low", "high", "step", "log"}}
LR_RANGE = "lr_range"  # a categorical of "lr_min,lr_max" strings, the paper's way to name an LR
POINT_TAGS = "tags"  # a grid point's labels (not searched), e.g. the paper's test number
DIRECTIONS = ("maximize", "minimize")
OBJECTIVE_METRICS = ("mcc", "f1", "auroc", "accuracy", "recall", "precision", "specificity",
                     "loss")


class SweepFileError(ValueError):
    """A sweep file that can't be run; the message names the key."""


@dataclass(frozen=True)
class Param:
    """One searched setting: categorical choices, or an int/float range."""

    name: str
    type: str
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False

    def contains(self, value: Any) -> bool:
        if self.type == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return self.low <= value <= self.high and (self.type == "float" or value == int(value))


@dataclass
class Sweep:
    """A validated sweep file."""

    path: Path
    study: str
    experiment: str = "mcal-sweep"
    metric: str = "val/mcc"
    direction: str = "maximize"
    sampler: dict[str, Any] = field(default_factory=lambda: {"type": "tpe"})
    pruner: dict[str, Any] = field(default_factory=lambda: {"type": "median"})
    n_trials: int | None = None
    timeout: float | None = None
    space: dict[str, Param] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    heartbeat_interval: int = 30
    grace_period: int = 90
    register: bool = True
    test_split_warn_after: int | None = None  # None: MCAL_TEST_LOOKS_WARN_AFTER, else 20
    min_delta: float = 0.0  # promotion: the paired difference's CI must clear this margin
    confidence: float = 0.95  # promotion: that CI's confidence level
    ensemble_top_k: int | None = None  # register the top-k trials' soft vote too

    def grid_points(self) -> list[dict[str, Any]]:
        """The grid sampler's points: the listed ones, else every combination of choices."""
        listed = self.sampler.get("points")
        if listed:
            return [{k: v for k, v in point.items() if k != POINT_TAGS} for point in listed]
        names = list(self.space)
        combos = itertools.product(*(self.space[name].choices for name in names))
        return [dict(zip(names, combo, strict=True)) for combo in combos]

    def grid_tags(self) -> list[dict[str, Any]]:
        """Each grid point's tags, in grid_points' order ({} for a point without)."""
        listed = self.sampler.get("points") or [{}] * len(self.grid_points())
        return [dict(point.get(POINT_TAGS, {})) for point in listed]

    def trial_budget(self) -> int | None:
        """n_trials, or for a grid the number of points when n_trials is not given."""
        if self.n_trials is None and self.sampler["type"] == "grid":
            return len(self.grid_points())
        return self.n_trials

    def train_config(self, values: dict[str, Any], **extra: Any) -> TrainConfig:
        """The trial's TrainConfig: trainer settings, data settings, then the searched values."""
        settings = {**self.train, **self.data, **extra}
        for name, value in values.items():
            if name == LR_RANGE:
                settings["lr_min"], settings["lr_max"] = lr_range(value, LR_RANGE)
            else:
                settings[name] = value
        return TrainConfig(**settings)


def fail(key: str, message: str) -> SweepFileError:
    return SweepFileError(f"{key}: {message}")


def expect_mapping(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(key, f"expected a mapping, got {type(value).__name__} {value!r}")
    return value


def check_known(values: dict[str, Any], known: set[str], key: str) -> None:
    unknown = sorted(set(values) - known)
    if unknown:
        where = f"{key}.{unknown[0]}" if key else unknown[0]
        raise fail(where, f"unknown key; expected one of {sorted(known)}")


def expect_number(value: Any, key: str, integer: bool = False, positive: bool = False) -> float:
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an integer" if integer else "a number"
        raise fail(key, f"expected {kind}, got {type(value).__name__} {value!r}")
    if positive and value <= 0:
        raise fail(key, f"must be > 0, got {value!r}")
    return value


def lr_range(value: Any, key: str) -> tuple[float, float]:
    """config.parse_lr_range, its complaint naming the sweep file's key."""
    try:
        return parse_lr_range(value)
    except ValueError as exc:
        raise fail(key, str(exc)) from exc


def parse_param(name: str, spec: Any) -> Param:
    key = f"space.{name}"
    if name not in field_names() | {LR_RANGE}:
        raise fail(key, f"not a training setting; expected one of {sorted(field_names())} or "
                        f"{LR_RANGE!r}")
    spec = expect_mapping(spec, key)
    kind = spec.get("type")
    if kind not in PARAM_TYPES:
        raise fail(f"{key}.type", f"expected one of {sorted(PARAM_TYPES)}, got {kind!r}")
    check_known({k: v for k, v in spec.items() if k != "type"}, PARAM_TYPES[kind], key)
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise fail(f"{key}.choices", f"expected a non-empty list, got {choices!r}")
        for choice in choices:
            if name == LR_RANGE:
                lr_range(choice, f"{key}.choices")
            elif problem := setting_problem(name, choice):
                raise fail(f"{key}.choices", problem)
        return Param(name, kind, choices=tuple(choices))
    if name == LR_RANGE:
        raise fail(f"{key}.type", "lr_range is searched as a categorical of 'lr_min,lr_max'")
    integer = kind == "int"
    for bound in ("low", "high"):
        if bound not in spec:
            raise fail(f"{key}.{bound}", "missing")
    low = expect_number(spec["low"], f"{key}.low", integer)
    high = expect_number(spec["high"], f"{key}.high", integer)
    if low >= high:
        raise fail(key, f"need low < high, got low={low!r} high={high!r}")
    for bound, value in (("low", low), ("high", high)):
        if problem := setting_problem(name, value):
            raise fail(f"{key}.{bound}", problem)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise fail(f"{key}.log", f"expected true or false, got {log!r}")
    if log and low <= 0:
        raise fail(f"{key}.low", "must be > 0 when log is true")
    step = spec.get("step")
    if step is not None:
        step = expect_number(step, f"{key}.step", integer, positive=True)
        if log:
            raise fail(f"{key}.step", "step and log can't be combined")
    return Param(name, kind, low=low, high=high, step=step, log=log)


def parse_space(value: Any) -> dict[str, Param]:
    space = expect_mapping(value, "space")
    if not space:
        raise fail("space", "empty; name at least one setting to search")
    return {name: parse_param(str(name), spec) for name, spec in space.items()}


def parse_objective(value: Any) -> tuple[str, str]:
    objective = expect_mapping(value, "objective")
    check_known(objective, {"metric", "direction"}, "objective")
    metric = objective.get("metric", "val/mcc")
    if not isinstance(metric, str) or metric.removeprefix("val/") not in OBJECTIVE_METRICS \
            or not metric.startswith("val/"):
        raise fail("objective.metric",
                   f"expected val/<metric> with metric in {OBJECTIVE_METRICS}, got {metric!r} "
                   "(the test split is never used to choose)")
    direction = objective.get("direction", "minimize" if metric == "val/loss" else "maximize")
    if direction not in DIRECTIONS:
        raise fail("objective.direction", f"expected one of {DIRECTIONS}, got {direction!r}")
    return metric, direction


def parse_choice_block(value: Any, key: str, kinds: dict[str, set[str]]) -> dict[str, Any]:
    block = expect_mapping(value, key)
    kind = block.get("type")
    if kind not in kinds:
        raise fail(f"{key}.type", f"expected one of {sorted(kinds)}, got {kind!r}")
    check_known({k: v for k, v in block.items() if k != "type"}, kinds[kind], key)
    for name, number in block.items():
        if name not in ("type", "points", "enqueue") and \
                not (name == "max_resource" and number == "auto"):
            expect_number(number, f"{key}.{name}", integer=True)
    return dict(block)


def check_grid(sweep: Sweep) -> None:
    """Grid sweeps search categoricals only; listed points must lie in the space."""
    for name, param in sweep.space.items():
        if param.type != "categorical":
            raise fail(f"space.{name}.type", "a grid sampler needs categorical choices")
    points = sweep.sampler.get("points")
    if points is None:
        return
    if not isinstance(points, list) or not points:
        raise fail("sampler.points", f"expected a non-empty list of settings, got {points!r}")
    seen = set()
    for i, point in enumerate(points):
        point = expect_mapping(point, f"sampler.points[{i}]")
        check_point_tags(point.get(POINT_TAGS, {}), f"sampler.points[{i}].{POINT_TAGS}")
        point = {k: v for k, v in point.items() if k != POINT_TAGS}
        if set(point) != set(sweep.space):
            raise fail(f"sampler.points[{i}]", f"expected exactly the keys {sorted(sweep.space)}, "
                                               f"got {sorted(point)}")
        for name, value in point.items():
            if not sweep.space[name].contains(value):
                raise fail(f"sampler.points[{i}].{name}",
                           f"{value!r} is not among space.{name}.choices")
        frozen = tuple(sorted(point.items()))
        if frozen in seen:
            raise fail(f"sampler.points[{i}]", "listed twice")
        seen.add(frozen)


def check_point_tags(tags: Any, key: str) -> None:
    """A grid point's tags: names to numbers or strings, never a searched setting."""
    tags = expect_mapping(tags, key)
    for name, value in tags.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise fail(key, f"tag names are identifiers such as paper_test, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise fail(f"{key}.{name}", f"expected a number or a string, got {value!r}")


def check_enqueued(sweep: Sweep) -> None:
    """sampler.enqueue: settings to try first (each may fix only some searched keys)."""
    listed = sweep.sampler.get("enqueue")
    if listed is None:
        return
    if not isinstance(listed, list) or not listed:
        raise fail("sampler.enqueue", f"expected a non-empty list of settings, got {listed!r}")
    for i, point in enumerate(listed):
        point = expect_mapping(point, f"sampler.enqueue[{i}]")
        for name, value in point.items():
            if name not in sweep.space:
                raise fail(f"sampler.enqueue[{i}].{name}", "not a searched setting")
            if not sweep.space[name].contains(value):
                raise fail(f"sampler.enqueue[{i}].{name}", f"{value!r} is outside the space")


def check_settings(values: dict[str, Any], key: str, known: set[str]) -> dict[str, Any]:
    """A block of TrainConfig settings: known names, values TrainConfig accepts."""
    values = expect_mapping(values, key)
    check_known(values, known, key)
    for name, value in values.items():
        default = getattr(TrainConfig, name, None)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise fail(f"{key}.{name}", f"expected true or false, got {value!r}")
        if isinstance(default, int | float) and not isinstance(default, bool):
            expect_number(value, f"{key}.{name}", integer=isinstance(default, int))
        if isinstance(default, str) and not isinstance(value, str):
            raise fail(f"{key}.{name}", f"expected a string, got {value!r}")
        if problem := setting_problem(name, value):
            raise fail(f"{key}.{name}", problem)
    return dict(values)


def parse_budget(raw: dict[str, Any]) -> tuple[int | None, float | None]:
    n_trials, timeout = raw.get("n_trials"), raw.get("timeout")
    if n_trials is not None:
        n_trials = int(expect_number(n_trials, "n_trials", integer=True, positive=True))
    if timeout is not None:
        timeout = float(expect_number(timeout, "timeout", positive=True))
    return n_trials, timeout


def parse_heartbeat(value: Any) -> tuple[int, int]:
    block = expect_mapping(value, "heartbeat")
    check_known(block, {"interval", "grace_period"}, "heartbeat")
    interval = int(expect_number(block.get("interval", 30), "heartbeat.interval", True, True))
    grace = int(expect_number(block.get("grace_period", 3 * interval), "heartbeat.grace_period",
                              True, True))
    if grace <= interval:
        raise fail("heartbeat.grace_period", f"must exceed heartbeat.interval ({interval})")
    return interval, grace


def parse_test_split(value: Any) -> int | None:
    """test_split.warn_after: the looks at the test split past which the sweep warns."""
    block = expect_mapping(value, "test_split")
    check_known(block, {"warn_after"}, "test_split")
    found = block.get("warn_after")
    return None if found is None else int(expect_number(found, "test_split.warn_after", True,
                                                        True))


def parse_promotion(value: Any) -> tuple[float, float]:
    """(min_delta, confidence) of the promotion: block."""
    block = expect_mapping(value, "promotion")
    check_known(block, {"min_delta", "confidence"}, "promotion")
    min_delta = float(expect_number(block.get("min_delta", 0.0), "promotion.min_delta"))
    confidence = float(expect_number(block.get("confidence", 0.95), "promotion.confidence"))
    if min_delta < 0:
        raise fail("promotion.min_delta", f"must be 0 or more, got {min_delta}")
    if not 0 < confidence < 1:
        raise fail("promotion.confidence", f"must lie between 0 and 1, got {confidence}")
    return min_delta, confidence


def parse_ensemble(value: Any) -> int | None:
    """ensemble: {top_k: K}, K >= 2 (None: no ensemble)."""
    if value is None:
        return None
    block = expect_mapping(value, "ensemble")
    check_known(block, {"top_k"}, "ensemble")
    if "top_k" not in block:
        raise fail("ensemble.top_k", "missing; how many of the best trials vote")
    top_k = int(expect_number(block["top_k"], "ensemble.top_k", integer=True, positive=True))
    if top_k < 2:
        raise fail("ensemble.top_k", f"an ensemble needs 2 or more trials, got {top_k}")
    return top_k


def sweep_from_dict(raw: Any, path: Path) -> Sweep:
    raw = expect_mapping(raw, "sweep file")
    check_known(raw, TOP_KEYS, "")
    if "space" not in raw:
        raise fail("space", "missing; a sweep needs a search space")
    space = parse_space(raw["space"])
    metric, direction = parse_objective(raw.get("objective", {}))
    n_trials, timeout = parse_budget(raw)
    searched = set(space) | ({"lr_min", "lr_max"} if LR_RANGE in space else set())
    fixed = field_names() - DATA_KEYS - {"experiment", "run_name"}
    interval, grace = parse_heartbeat(raw.get("heartbeat", {}))
    min_delta, confidence = parse_promotion(raw.get("promotion", {}))
    sweep = Sweep(
        path=path,
        study=str(raw.get("study", path.stem)),
        experiment=str(raw.get("experiment", "mcal-sweep")),
        metric=metric, direction=direction,
        sampler=parse_choice_block(raw.get("sampler", {"type": "tpe"}), "sampler", SAMPLERS),
        pruner=parse_choice_block(raw.get("pruner", {"type": "median"}), "pruner", PRUNERS),
        n_trials=n_trials, timeout=timeout, space=space,
        data=check_settings(raw.get("data", {}), "data", DATA_KEYS),
        train=check_settings(raw.get("train", {}), "train", fixed),
        heartbeat_interval=interval, grace_period=grace,
        register=bool(raw.get("register", True)),
        test_split_warn_after=parse_test_split(raw.get("test_split", {})),
        min_delta=min_delta, confidence=confidence,
        ensemble_top_k=parse_ensemble(raw.get("ensemble")),
    )
    clash = sorted(searched & (set(sweep.train) | set(sweep.data)))
    if clash:
        raise fail(f"train.{clash[0]}", "also searched in space; set it in one place only")
    if not sweep.data.get("cache"):
        raise fail("data.cache", "missing; the preprocessed cache to train on (mcal preprocess)")
    check_enqueued(sweep)
    if sweep.sampler["type"] == "grid":
        check_grid(sweep)
    elif n_trials is None and timeout is None:
        raise fail("n_trials", "missing; give n_trials and/or timeout (seconds)")
    budget = sweep.trial_budget()
    if sweep.sampler["type"] == "grid" and budget is not None and \
            budget > len(sweep.grid_points()):
        raise fail("n_trials", f"{budget} exceeds the grid's {len(sweep.grid_points())} points")
    return sweep


def load_sweep(path: str | Path, cache: str | None = None) -> Sweep:
    """The sweep file at path, checked; cache overrides data.cache."""
    path = Path(path)
    if not path.is_file():
        raise SweepFileError(f"{path}: no such sweep file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SweepFileError(f"{path}: not valid YAML: {exc}") from exc
    if cache is not None and isinstance(raw, dict):
        raw.setdefault("data", {})
        if isinstance(raw["data"], dict):
            raw["data"]["cache"] = cache
    try:
        return sweep_from_dict(raw, path)
    except SweepFileError as exc:
        raise SweepFileError(f"{path}: {exc}") from exc


def resolved_epochs(sweep: Sweep) -> int:
    """The most epochs a trial can run (hyperband's max_resource)."""
    param = sweep.space.get("epochs")
    if param is None:
        return int(sweep.train.get("epochs", TrainConfig.epochs))
    if param.type == "categorical":
        return int(max(param.choices))
    return math.floor(param.high)

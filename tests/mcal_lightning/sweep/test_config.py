"""Sweep files: the shipped ones load, bad ones fail naming the key."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from mcal_lightning.sweep.config import SweepFileError, load_sweep
from tests.conftest import REPO_ROOT

SWEEPS = REPO_ROOT / "sweeps"
GOOD = {
    "study": "t",
    "n_trials": 3,
    "space": {"arch": {"type": "categorical", "choices": ["resnet34", "alexnet"]},
              "lr_max": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
    "data": {"cache": "somewhere"},
}


def write(tmp_path: Path, content: dict) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def with_change(key: str, value: object) -> dict:
    content = yaml.safe_load(yaml.safe_dump(GOOD))
    *parents, last = key.split(".")
    target = content
    for parent in parents:
        target = target.setdefault(parent, {})
    target[last] = value
    return content


@pytest.mark.parametrize(("name", "metric"), [("quickstart", "val/auroc"),
                                              ("paper_grid", "val/mcc"), ("tpe", "val/mcc")])
def test_shipped_sweeps_load(name: str, metric: str):
    sweep = load_sweep(SWEEPS / f"{name}.yaml")
    assert sweep.trial_budget() is not None and sweep.metric == metric


def test_quickstart_trains_the_phantom_recipe_from_random_init():
    sweep = load_sweep(SWEEPS / "quickstart.yaml")
    assert set(sweep.space["arch"].choices) == {"resnet50", "resnet34", "vgg16", "alexnet"}
    assert sweep.train["weights"] == "none" and sweep.trial_budget() == 1
    assert [p["arch"] for p in sweep.sampler["enqueue"]] == ["resnet34"]
    config = sweep.train_config(sweep.sampler["enqueue"][0], cache="c")
    assert (config.head, config.tta, config.keep, config.lr_min) == ("concept", "dihedral",
                                                                     "last", config.lr_max)


def test_paper_grid_is_the_papers_24_tests():
    sweep = load_sweep(SWEEPS / "paper_grid.yaml")
    points = sweep.grid_points()
    assert len(points) == 24 == sweep.trial_budget()
    for arch in ("resnet50", "resnet34", "vgg16", "alexnet"):
        assert sum(p["arch"] == arch for p in points) == 6
    assert not [p for p in points if p["batch_size"] == 32 and p["epochs"] == 30]
    config = sweep.train_config(points[0], cache="c")
    assert (config.lr_min, config.lr_max) == (8e-6, 1e-4)
    assert sweep.data["augment"] == "paper"


def grid_of(sweep) -> dict[int, tuple]:
    """The sweep's points keyed by their paper_test tag: (arch, batch, lr_min, lr_max, epochs)."""
    keyed = {}
    for point, tags in zip(sweep.grid_points(), sweep.grid_tags(), strict=True):
        config = sweep.train_config(point, cache="c")
        keyed[tags["paper_test"]] = (config.arch, config.batch_size, config.lr_min,
                                     config.lr_max, config.epochs)
    return keyed


def test_paper_grid_points_are_exactly_tables_5_to_8(paper_tables_dir: Path):
    table = pd.read_csv(paper_tables_dir / "table5to8_grid.csv")
    sweep = load_sweep(SWEEPS / "paper_grid.yaml")
    expected = {int(r.test): (r.arch, int(r.batch_size), float(r.lr_min), float(r.lr_max),
                              int(r.epochs)) for r in table.itertuples()}
    assert grid_of(sweep) == expected
    printed = {int(r.test): r.accuracy / 100 for r in table.itertuples()}
    tagged = {tags["paper_test"]: tags["paper_accuracy"] for tags in sweep.grid_tags()}
    assert tagged == pytest.approx(printed, abs=1e-6)


def test_grid_point_tags_are_checked(tmp_path):
    space = {"arch": {"type": "categorical", "choices": ["resnet34", "alexnet"]}}
    for tags, named in (({"paper test": 1}, "tags: tag names are identifiers"),
                        ({"paper_test": [1]}, r"tags.paper_test: expected a number"),
                        ("seven", "tags: expected a mapping")):
        content = with_change("sampler", {"type": "grid", "points": [
            {"arch": "resnet34", "tags": tags}]})
        content["space"] = space
        with pytest.raises(SweepFileError, match=rf"sampler.points\[0\].{named}"):
            load_sweep(write(tmp_path, content))


def test_grid_without_points_is_the_product_of_choices(tmp_path):
    content = with_change("sampler", {"type": "grid"})
    content["space"] = {"arch": {"type": "categorical",
                                 "choices": ["resnet34", "alexnet", "vgg16"]},
                        "batch_size": {"type": "categorical", "choices": [16, 32]}}
    del content["n_trials"]
    sweep = load_sweep(write(tmp_path, content))
    assert len(sweep.grid_points()) == 6 == sweep.trial_budget()


@pytest.mark.parametrize(("key", "value", "named"), [
    ("colour", "blue", "colour: unknown key"),
    ("space", {}, "space: empty"),
    ("space.lr_max.low", "small", "space.lr_max.low: expected a number"),
    ("space.lr_max.log", "yes", "space.lr_max.log: expected true or false"),
    ("space.lr_max.type", "real", "space.lr_max.type: expected one of"),
    ("space.arch.choices", [], "space.arch.choices: expected a non-empty list"),
    ("space.arch.values", [1], "space.arch.values: unknown key"),
    ("space.colour", {"type": "int", "low": 1, "high": 2}, "space.colour: not a training"),
    ("n_trials", "eight", "n_trials: expected an integer"),
    ("sampler", {"type": "cmaes"}, "sampler.type: expected one of"),
    ("pruner", {"type": "median", "patience": 3}, "pruner.patience: unknown key"),
    ("objective.metric", "test/mcc", "objective.metric: expected val/<metric>"),
    ("train.epochs", "ten", "train.epochs: expected an integer"),
    ("train.arch", "resnet50", "train.arch: also searched"),
    ("train.colour", 1, "train.colour: unknown key"),
    ("data.cache", "", "data.cache: missing"),
    ("space.arch.choices", ["resnet34", "resnet18"], "space.arch.choices: unknown 'resnet18'"),
    ("space.epochs", {"type": "int", "low": 0, "high": 5}, "space.epochs.low: must be >= 1"),
    ("train.precision", "fp8", "train.precision: unknown 'fp8'"),
    ("train.weights", "imagenet1k", "train.weights: expected imagenet or none"),
    ("data.balance", "oversample", "data.balance: unknown 'oversample'"),
    ("data.audit", "strict", "data.audit: unknown 'strict'"),
    ("test_split.warn_after", "many", "test_split.warn_after: expected an integer"),
    ("test_split.limit", 5, "test_split.limit: unknown key"),
    ("sampler", {"type": "tpe", "enqueue": [{"arch": "vgg11"}]},
     "sampler.enqueue[0].arch: 'vgg11' is outside"),
])
def test_bad_sweep_files_name_the_key(tmp_path, key: str, value: object, named: str):
    with pytest.raises(SweepFileError, match=named.replace("[", r"\[")):
        load_sweep(write(tmp_path, with_change(key, value)))


def test_grid_points_must_lie_in_the_space(tmp_path):
    content = with_change("sampler", {"type": "grid", "points": [{"arch": "vgg11"}]})
    content["space"] = {"arch": {"type": "categorical", "choices": ["resnet34", "alexnet"]}}
    with pytest.raises(SweepFileError, match=r"sampler.points\[0\].arch: 'vgg11' is not among"):
        load_sweep(write(tmp_path, content))


def test_missing_file_and_bad_yaml_are_clear(tmp_path):
    with pytest.raises(SweepFileError, match="no such sweep file"):
        load_sweep(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("space: [unclosed")
    with pytest.raises(SweepFileError, match="not valid YAML"):
        load_sweep(bad)


def test_cache_override_and_lr_range_resolution(tmp_path):
    content = with_change("space.lr_range", {"type": "categorical", "choices": ["1e-5,1e-3"]})
    del content["space"]["lr_max"]
    sweep = load_sweep(write(tmp_path, content), cache="other")
    config = sweep.train_config({"arch": "alexnet", "lr_range": "1e-5,1e-3"})
    assert config.cache == "other" and (config.lr_min, config.lr_max) == (1e-5, 1e-3)


def test_test_split_warn_after_is_read(tmp_path):
    assert load_sweep(write(tmp_path, GOOD)).test_split_warn_after is None
    sweep = load_sweep(write(tmp_path, with_change("test_split.warn_after", 5)))
    assert sweep.test_split_warn_after == 5


def test_promotion_defaults_and_settings(tmp_path):
    default = load_sweep(write(tmp_path, GOOD))
    assert (default.min_delta, default.confidence) == (0.0, 0.95)
    set_here = load_sweep(write(tmp_path, with_change("promotion",
                                                      {"min_delta": 0.05, "confidence": 0.9})))
    assert (set_here.min_delta, set_here.confidence) == (0.05, 0.9)


@pytest.mark.parametrize(("value", "named"), [
    ({"margin": 0.1}, "promotion.margin: unknown key"),
    ({"min_delta": -0.1}, "promotion.min_delta: must be 0 or more"),
    ({"confidence": 1.5}, "promotion.confidence: must lie between 0 and 1"),
    ({"confidence": "high"}, "promotion.confidence: expected a number"),
])
def test_bad_promotion_names_the_key(tmp_path, value: object, named: str):
    with pytest.raises(SweepFileError, match=named):
        load_sweep(write(tmp_path, with_change("promotion", value)))
def test_ensemble_is_off_unless_asked(tmp_path):
    assert load_sweep(write(tmp_path, GOOD)).ensemble_top_k is None
    asked = load_sweep(write(tmp_path, with_change("ensemble", {"top_k": 3})))
    assert asked.ensemble_top_k == 3


@pytest.mark.parametrize(("value", "named"), [
    ({"top_k": 1}, "ensemble.top_k: an ensemble needs 2"),
    ({"top_k": 2.5}, "ensemble.top_k: expected an integer"),
    ({}, "ensemble.top_k: missing"),
    ({"top_k": 3, "vote": "hard"}, "ensemble.vote: unknown key"),
    (3, "ensemble: expected a mapping"),
])
def test_bad_ensemble_blocks_name_the_key(tmp_path, value: object, named: str):
    with pytest.raises(SweepFileError, match=named):
        load_sweep(write(tmp_path, with_change("ensemble", value)))

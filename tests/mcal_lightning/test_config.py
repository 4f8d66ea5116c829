from pathlib import Path

import pytest

from mcal_lightning.config import TrainConfig, load_config, parse_lr_range, short_float


def test_yaml_then_command_line(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text("cache: /data/cache\narch: vgg16\nepochs: 30\naugment:\n  hflip_p: 0.0\n")
    config = load_config(path, epochs=15, batch_size=None)
    assert (config.arch, config.epochs, config.batch_size) == ("vgg16", 15, TrainConfig.batch_size)
    assert config.augment == {"hflip_p": 0.0}


def test_unknown_setting_is_named(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text("cache: c\nlearning_rate: 0.1\n")
    with pytest.raises(ValueError, match="learning_rate"):
        load_config(path)


def test_a_cache_is_required():
    with pytest.raises(ValueError, match="--cache"):
        load_config(None, arch="resnet34")


def test_yaml_must_be_a_mapping(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text("- resnet34\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config(path)


@pytest.mark.parametrize(("setting", "named"), [
    ({"arch": "resnet18"}, "arch: unknown 'resnet18'; choose from resnet50"),
    ({"weights": "imagenet1k"}, "weights: expected imagenet or none"),
    ({"balance": "oversample"}, "balance: unknown"),
    ({"audit": "strict"}, "audit: unknown"),
    ({"keep": "first"}, "keep: unknown 'first'; choose from best, last"),
    ({"precision": "fp8"}, "precision: unknown"),
    ({"epochs": 0}, "epochs: must be >= 1"),
    ({"batch_size": "32"}, "batch_size: expected a number"),
    ({"lr_min": 1e-2}, "need lr_min <= lr_max"),
    ({"folds": 1}, "folds: must be >= 2"),
    ({"folds": 3, "fold": 3}, r"fold: must lie in \[0, 3\)"),
    ({"augment": ["hflip"]}, "augment: expected a mapping"),
])
def test_a_setting_no_run_could_use_is_refused(setting: dict, named: str):
    with pytest.raises(ValueError, match=named):
        TrainConfig(cache="c", **setting)


def test_what_lightning_and_the_backbones_accept_passes(tmp_path: Path):
    checkpoints = tmp_path / "weights"
    checkpoints.mkdir()
    for setting in ({"precision": 32}, {"precision": "bf16-mixed"}, {"weights": "none"},
                    {"weights": str(checkpoints)}, {"augment": "paper"}, {"fold": 4}):
        TrainConfig(cache="c", **setting)


def test_lr_range_text_both_ways():
    assert parse_lr_range("2e-6,1e-3") == (2e-6, 1e-3)
    assert f"{short_float(TrainConfig.lr_min)},{short_float(TrainConfig.lr_max)}" == "2e-6,1e-3"
    for bad in ("1e-3", "a,b", "1e-3,1e-6", "0,1e-3"):
        with pytest.raises(ValueError, match="lr_min"):
            parse_lr_range(bad)

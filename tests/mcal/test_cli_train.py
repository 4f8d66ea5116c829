import pytest
from click.testing import CliRunner

from mcal.cli import main
from tests.mcal_lightning.sweeps_support import local_tracking, tiny_cache


@pytest.mark.parametrize("command", ["train", "lr-find", "register", "predict"])
def test_every_command_has_help(command: str):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


@pytest.mark.parametrize("value", ["1e-3", "a,b", "1e-3,1e-5", "0,1e-3"])
def test_bad_lr_range_is_refused(value: str, tmp_path):
    result = CliRunner().invoke(main, ["train", "--cache", str(tmp_path), "--lr", value])
    assert result.exit_code != 0 and "--lr" in result.output


def test_missing_cache_is_explained(tmp_path):
    result = CliRunner().invoke(main, ["train", "--cache", str(tmp_path / "nothing"),
                                       "--weights", "none"])
    assert result.exit_code != 0 and "mcal preprocess" in result.output


def test_weights_folder_without_the_arch_is_a_clear_error(tmp_path):
    tiny_cache(tmp_path, seed=1)  # as the audit and baseline tests: one phantom to draw
    (tmp_path / "weights").mkdir()
    with local_tracking(tmp_path):
        result = CliRunner().invoke(main, ["train", "--cache", str(tmp_path / "cache"), "--arch",
                                           "alexnet", "--weights", str(tmp_path / "weights")])
    assert result.exit_code == 1 and "alexnet.pt" in result.output
    assert "Traceback" not in result.output


def test_unknown_model_and_run_are_clear_errors(tmp_path):
    runner = CliRunner()
    with local_tracking(tmp_path):
        out = runner.invoke(main, ["predict", "--model", "models:/nope@champion", str(tmp_path)])
        assert out.exit_code == 1 and "nope" in out.output and "Traceback" not in out.output
        out = runner.invoke(main, ["register", "--run", "0123456789abcdef"])
        assert out.exit_code == 1 and "not found" in out.output
        out = runner.invoke(main, ["register", "--run", "latest", "--experiment", "empty"])
        assert out.exit_code == 1


def test_cli_arch_choices_are_the_backbones():
    from mcal.commands_train import train
    from mcal_lightning.config import ARCHS
    from mcal_lightning.models.backbones import BODY_BUILDERS

    arch = next(param for param in train.params if param.name == "arch")
    assert tuple(arch.type.choices) == ARCHS  # config.ARCHS: --help imports no torch
    assert set(BODY_BUILDERS) == set(ARCHS)  # and each of them is built


def test_a_bad_arch_in_the_config_file_fails_before_the_cache_is_opened(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(f"cache: {tmp_path / 'absent'}\narch: resnet18\n")
    result = CliRunner().invoke(main, ["train", "--config", str(config)])
    assert result.exit_code == 1 and "arch: unknown 'resnet18'" in result.output
    assert "no cache here" not in result.output and "Traceback" not in result.output

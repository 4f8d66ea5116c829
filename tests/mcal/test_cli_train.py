import pytest
from click.testing import CliRunner

from mcal.cli import main


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

from click.testing import CliRunner

from mcal.cli import main


def test_replay_paper_has_help_naming_both_protocols():
    result = CliRunner().invoke(main, ["replay-paper", "--help"])
    assert result.exit_code == 0
    assert "paper" in result.output and "honest" in result.output and "[default: replay]" in (
        result.output)


def test_replay_paper_refuses_a_bad_lr_range(tmp_path):
    result = CliRunner().invoke(main, ["replay-paper", "--cache", str(tmp_path), "--lr", "1e-3"])
    assert result.exit_code != 0 and "--lr" in result.output


def test_replay_paper_explains_a_missing_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = CliRunner().invoke(main, ["replay-paper", "--cache", str(tmp_path / "nothing"),
                                       "--weights", "none"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "mcal preprocess" in result.output
    assert not (tmp_path / "mlruns").exists()  # refused before any MLflow run was made

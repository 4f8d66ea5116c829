import optuna
import pytest
import yaml
from click.testing import CliRunner

from mcal.cli import main
from mcal.commands_sweep import champion_decision, champion_summary
from mcal_lightning.sweep.run import StudyMismatch, check_data
from tests.mcal_lightning.sweeps_support import client, local_tracking, sweep_file, tiny_cache


@pytest.mark.parametrize("command", ["sweep", "leaderboard"])
def test_sweep_commands_have_help(command: str):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_bad_sweep_file_is_a_clear_error_naming_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"n_trials": 2, "data": {"cache": "c"},
                                    "space": {"epochs": {"type": "int", "low": "one",
                                                         "high": 3}}}))
    result = CliRunner().invoke(main, ["sweep", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "space.epochs.low: expected an integer" in result.output


def test_sweep_without_a_cache_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"n_trials": 1, "data": {"cache": str(tmp_path / "none")},
                                    "space": {"arch": {"type": "categorical",
                                                       "choices": ["alexnet"]}}}))
    result = CliRunner().invoke(main, ["sweep", str(path)])
    assert result.exit_code == 1 and "mcal preprocess" in result.output


def test_champion_without_one_says_how_to_get_one(tmp_path):
    with local_tracking(tmp_path):
        result = CliRunner().invoke(main, ["champion"])
    assert result.exit_code == 1
    assert "no 'champion' in registered model 'mcal-calc'" in result.output
    assert "mcal sweep" in result.output


def test_leaderboard_reprints_a_study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    for number, mcc in enumerate((0.2, 0.5)):
        trial = study.ask()
        trial.suggest_categorical("arch", ["alexnet", "vgg16"])
        for key, value in {"arch": "vgg16", "batch_size": 32, "lr_min": 2e-6, "lr_max": 1e-3,
                           "epochs": 15 + number, "val/mcc": mcc, "val/f1": 0.6,
                           "val/auroc": 0.7}.items():
            trial.set_user_attr(key, value)
        study.tell(trial, mcc)
    result = CliRunner().invoke(main, ["leaderboard", "--storage", storage,
                                       "--out", str(tmp_path / "lb.csv")])
    assert result.exit_code == 0, result.output
    assert "2e-06..0.001" in result.output and "COMPLETE" in result.output
    lines = (tmp_path / "lb.csv").read_text().splitlines()
    assert lines[1].startswith("1,vgg16,32") and lines[2].startswith("0,")  # best first
    missing = CliRunner().invoke(main, ["leaderboard", "--storage", storage, "--study", "x"])
    assert missing.exit_code == 1 and "no study 'x'" in missing.output


def test_a_study_refuses_another_cache(tmp_path):
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/o.db")
    check_data(study, True, "aaaa")
    check_data(study, False, "aaaa")
    with pytest.raises(StudyMismatch, match="--study NEW_NAME"):
        check_data(study, False, "bbbb")


def side(version: str, value: float, ci: tuple[float, float] | None = None) -> dict:
    intervals = None if ci is None else {"metrics": {"mcc": {"point": value, "low": ci[0],
                                                             "high": ci[1]}}}
    return {"run_id": "r", "version": version, "value": value, "ci_95": intervals}


@pytest.mark.parametrize(("champion", "moved", "reason", "expected"), [
    (None, True, "no champion yet",
     "first champion: version 1, test MCC 0.01 (95% CI -0.27 to 0.25)"),
    (side("1", 0.01, (-0.27, 0.25)), True, "challenger 0.4000 beats champion 0.0100",
     "new champion: version 2, test MCC 0.40, beats version 1's 0.01 (95% CI -0.27 to 0.25)"),
    (side("1", 0.5), False, "champion 0.5000 holds against challenger 0.4000",
     "champion kept: version 1, test MCC 0.50, holds against version 2's 0.40; version 2 is "
     "registered without the alias"),
    ("the champion (version 1) expects preprocessing ...", False,
     "kept the champion: the champion (version 1) expects preprocessing ...",
     "kept the champion: the champion (version 1) expects preprocessing ...; version 2 is "
     "registered without the alias (test MCC 0.40)"),
])
def test_the_champion_step_is_said_in_words(champion, moved: bool, reason: str, expected: str):
    challenger = side("1", 0.01, (-0.27, 0.25)) if champion is None else side("2", 0.4)
    record = {"metric": "test/mcc", "challenger": challenger, "champion": champion,
              "alias_moved": moved, "reason": reason}
    assert champion_summary(record) == expected


def test_leaderboard_prints_the_test_splits_decisions_and_warns_past_the_limit(tmp_path):
    from mcal_lightning.tracking.test_ledger import Look, record_look
    from tests.mcal_lightning.sweeps_support import local_tracking

    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.set_user_attr("data_fingerprint", "fp")
    with local_tracking(tmp_path):
        for reason in ("end of sweep", "champion scoring"):
            record_look(Look("fp", reason))
        quiet = CliRunner().invoke(main, ["leaderboard", "--storage", storage])
        loud = CliRunner().invoke(main, ["leaderboard", "--storage", storage, "--warn-after", "1"])
    assert quiet.exit_code == 0 == loud.exit_code, quiet.output
    said = "the test split of cache dataset fp has made 2 decisions"
    assert said in quiet.output and "reused for selection" not in quiet.output
    assert said in loud.output and "reused for selection" in " ".join(loud.output.split())


def test_the_records_own_decision_is_said_when_it_has_one():
    record = {"metric": "test/mcc", "challenger": side("2", 0.4), "champion": side("1", 0.5),
              "alias_moved": False, "reason": "champion 0.5000 holds against challenger 0.4000"}
    assert champion_decision(record) == champion_summary(record)
    decision = "challenger 0.40 (0.21-0.58) vs champion 0.50: difference -0.10, not promoted"
    assert champion_decision({**record, "decision": decision}) == decision


@pytest.mark.slow  # a real two-trial sweep
def test_a_sweep_prints_one_line_per_trial_no_summary_tables_and_ends_with_the_decision(
        tmp_path, capfd):
    tiny_cache(tmp_path, seed=5)
    path = sweep_file(tmp_path, "lines", n_trials=2,
                      sampler={"type": "random", "seed": 0,
                               "enqueue": [{"arch": "alexnet"}, {"arch": "alexnet"}]},
                      space={"arch": {"type": "categorical", "choices": ["alexnet"]},
                             "lr_max": {"type": "float", "low": 1e-3, "high": 1e-2}})
    with local_tracking(tmp_path):
        result = CliRunner().invoke(main, ["sweep", str(path)])
        assert result.exit_code == 0, result.output
        parent = next(line.split()[3].rstrip(";") for line in result.output.splitlines()
                      if line.startswith("MLflow parent run"))
        summaries = [a.path for a in client(tmp_path).list_artifacts(parent, "model_summary")]
        holder = CliRunner().invoke(main, ["champion"])
    lines = result.output.splitlines()
    trial_lines = [line for line in lines if line.startswith("trial ")]
    assert [line.split(":")[0] for line in trial_lines] == ["trial 0", "trial 1"]
    assert all("alexnet (" in line and "val/mcc" in line for line in trial_lines)
    said = result.stdout.splitlines()[-1]  # MLflow's registry notes go to stderr, unordered
    assert said.startswith("challenger ") and said.endswith(": no champion yet, promoted")
    assert holder.exit_code == 0, holder.output
    assert holder.output.startswith("champion: mcal-calc version 1 (alexnet, run ")
    assert holder.output.strip().endswith(f"why: {said}")
    assert summaries == ["model_summary/alexnet.txt"]  # once, though both trials are alexnet
    captured = capfd.readouterr()
    for noise in ("Total params", "GPU available:", "TPU available:", "Trial 0 finished",
                  "`Trainer.fit` stopped", "Restoring states from the checkpoint"):
        assert noise not in result.output + captured.out + captured.err

"""The leaderboard: a grid's tags beside the honest number, CI and lesion-level columns."""

from pathlib import Path

import optuna
import yaml

from mcal_lightning.sweep.config import load_sweep
from mcal_lightning.sweep.leaderboard import leaderboard
from mcal_lightning.sweep.study import make_storage, open_study

POINTS = [
    {"arch": "resnet34", "batch_size": 32, "tags": {"paper_test": 7, "paper_accuracy": 0.7859}},
    {"arch": "alexnet", "batch_size": 64, "tags": {"paper_test": 17, "paper_accuracy": 0.7799}},
]
HONEST = {"resnet34": 0.61, "alexnet": 0.55}  # val accuracy each trial "scores"


def tagged_grid(tmp_path: Path):
    content = {"study": "tagged", "sampler": {"type": "grid", "points": POINTS},
               "space": {"arch": {"type": "categorical", "choices": ["resnet34", "alexnet"]},
                         "batch_size": {"type": "categorical", "choices": [32, 64]}},
               "data": {"cache": "c"}, "pruner": {"type": "none"}}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(content))
    return load_sweep(path)


def test_grid_tags_reach_the_trials_and_the_leaderboard(tmp_path: Path):
    sweep = tagged_grid(tmp_path)
    storage = make_storage(f"sqlite:///{tmp_path}/optuna.db", sweep)
    study, created = open_study(sweep, storage, "tagged")
    assert created

    def objective(trial: optuna.Trial) -> float:
        arch = trial.suggest_categorical("arch", ["resnet34", "alexnet"])
        trial.suggest_categorical("batch_size", [32, 64])
        trial.set_user_attr("val/accuracy", HONEST[arch])
        return HONEST[arch]

    study.optimize(objective, n_trials=2)
    table = leaderboard(study)
    columns = list(table.columns)
    assert set(columns[-2:]) == {"paper test", "paper accuracy"}
    assert columns.index("val acc") < columns.index("paper accuracy")
    by_trial = {t.number: t.params["arch"] for t in study.trials}
    rows = {by_trial[r["trial"]]: r for r in table.to_dict("records")}
    assert rows["resnet34"]["paper test"] == 7 and rows["alexnet"]["paper test"] == 17
    assert rows["resnet34"]["paper accuracy"] == 0.7859
    assert rows["resnet34"]["val acc"] == 0.61 and rows["alexnet"]["val acc"] == 0.55


def test_an_untagged_study_has_no_extra_columns():
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.set_user_attr("val/mcc", 0.2)
    study.tell(trial, 0.2)
    assert list(leaderboard(study).columns)[-2:] == ["val acc", "state"]


def study_of(trials: list[dict[str, float]]) -> optuna.Study:
    """A finished study whose trials carry these user attrs; the value is each one's val/mcc."""
    study = optuna.create_study(direction="maximize")
    for attrs in trials:
        trial = study.ask()
        for name, value in attrs.items():
            trial.set_user_attr(name, value)
        study.tell(trial, attrs["val/mcc"])
    return study


def test_leaderboard_shows_each_trials_val_mcc_ci():
    # the second trial is from before CIs were recorded
    table = leaderboard(study_of([{"val/mcc": 0.5, "val/mcc_ci_low": 0.414,
                                   "val/mcc_ci_high": 0.657}, {"val/mcc": 0.3}]))
    assert list(table.columns).index("val mcc 95% ci") == list(table.columns).index("val mcc") + 1
    assert table["val mcc 95% ci"].tolist() == ["0.41..0.66", ""]


def test_lesion_metrics_get_columns_before_the_state():
    # the second trial ran on data without lesion ids
    table = leaderboard(study_of([{"val/mcc": 0.4, "val/lesion/mcc": 0.5,
                                   "val/lesion/auroc": 0.8}, {"val/mcc": 0.3}]))
    assert list(table.columns)[-4:] == ["val acc", "val lesion mcc", "val lesion auc", "state"]
    assert table.loc[0, ["val lesion mcc", "val lesion auc"]].tolist() == [0.5, 0.8]
    assert table.loc[1, ["val lesion mcc", "val lesion auc"]].isna().all()

"""The leaderboard's val MCC 95% CI column, from the interval each trial records."""

import optuna

from mcal_lightning.sweep.leaderboard import leaderboard


def test_leaderboard_shows_each_trials_val_mcc_ci():
    study = optuna.create_study(direction="maximize")
    for mcc, interval in ((0.5, (0.414, 0.657)), (0.3, None)):
        trial = study.ask()
        trial.set_user_attr("val/mcc", mcc)
        if interval is not None:  # trials from before CIs were recorded have none
            trial.set_user_attr("val/mcc_ci_low", interval[0])
            trial.set_user_attr("val/mcc_ci_high", interval[1])
        study.tell(trial, mcc)
    table = leaderboard(study)
    assert list(table.columns).index("val mcc 95% ci") == list(table.columns).index("val mcc") + 1
    assert table["val mcc 95% ci"].tolist() == ["0.41..0.66", ""]

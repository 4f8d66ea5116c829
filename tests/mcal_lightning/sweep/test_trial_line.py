"""One console line per trial: what it tried, what it scored, how long, how it ended."""

from datetime import datetime, timedelta

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from mcal_lightning.sweep.run import take_trials
from mcal_lightning.sweep.study import SURPLUS
from mcal_lightning.sweep.trial_line import trial_line

START = datetime(2026, 1, 1, 12, 0, 0)
DISTRIBUTIONS = {"arch": CategoricalDistribution(["resnet34", "alexnet"]),
                 "lr_max": FloatDistribution(5e-4, 5e-3, log=True),
                 "epochs": IntDistribution(2, 4)}


def finished(state: TrialState, seconds: float, value: float | None = None,
             reports: dict[int, float] | None = None, **attrs: object):
    trial = create_trial(state=state, value=value, intermediate_values=reports or {},
                         params={"arch": "resnet34", "lr_max": 0.00231, "epochs": 4},
                         distributions=DISTRIBUTIONS,
                         user_attrs={"arch": "resnet34", "epochs": 4, **attrs})
    trial.number = 3
    trial.datetime_start, trial.datetime_complete = START, START + timedelta(seconds=seconds)
    return trial


def test_a_complete_trial_says_its_model_settings_score_with_ci_epochs_time_and_state():
    trial = finished(TrialState.COMPLETE, 41.2, 0.4123, parameters=21_284_672,
                     **{"val/mcc_ci_low": 0.118, "val/mcc_ci_high": 0.664})
    assert trial_line(trial, "val/mcc") == (
        "trial 3: resnet34 (21.3 M params), lr_max 0.00231: val/mcc 0.41 (95% CI 0.12 to 0.66), "
        "4 epochs, 41 s, COMPLETE")


def test_a_pruned_trial_says_its_last_report_and_the_epochs_it_ran():
    trial = finished(TrialState.PRUNED, 125, reports={0: 0.05, 1: -0.02})
    assert trial_line(trial, "val/mcc") == (
        "trial 3: resnet34, lr_max 0.00231: last val/mcc -0.02, 2/4 epochs, 2 min 05 s, PRUNED")


def test_a_failed_trial_says_so_and_a_surplus_one_prints_nothing():
    assert trial_line(finished(TrialState.FAIL, 3), "val/mcc") == (
        "trial 3: resnet34, lr_max 0.00231: 4 epochs, 3 s, FAIL")
    assert trial_line(finished(TrialState.FAIL, 0, **{SURPLUS: True}), "val/mcc") is None


def test_a_sweep_loop_hands_each_trial_to_its_hook_once_as_it_ends():
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("arch", trial.suggest_categorical("arch", ["resnet34", "alexnet"]))
        if trial.number == 1:
            raise RuntimeError("out of memory")
        return trial.suggest_float("lr_max", 5e-4, 5e-3, log=True)

    lines: list[str] = []
    take_trials(study, objective, budget=3, timeout=None, patience=0.0,
                on_trial=lambda trial: lines.append(trial_line(trial, "val/mcc")))
    assert [line.split(":")[0] for line in lines] == ["trial 0", "trial 1", "trial 2"]
    assert lines[1].endswith("FAIL") and lines[2].endswith("COMPLETE")

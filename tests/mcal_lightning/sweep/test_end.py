"""The sweep's Optuna plots: only those the completed trials can fill."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import mlflow
import optuna
import pytest

from mcal_lightning.sweep.end import COMPARING, log_plots
from tests.mcal_lightning.sweeps_support import local_tracking


def study_of(values: list[float]) -> optuna.Study:
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for value in values:
        trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
                           "batch": optuna.distributions.CategoricalDistribution([16, 32])})
        study.tell(trial, value)
    return study


@pytest.mark.parametrize(("values", "expected"), [
    ([0.6], {"history"}),
    ([0.6, 0.7, 0.65], {"history", *COMPARING}),
])
def test_plots_that_compare_trials_wait_for_two(tmp_path, values, expected) -> None:
    with local_tracking(tmp_path), warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # Optuna's "too small" would fail here
        with mlflow.start_run():
            logged = log_plots(study_of(values))
    plt.close("all")
    assert set(logged) == expected

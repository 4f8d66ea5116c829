"""The sweep's trial budget on hand-made trials (a killed trial's retry holds its place), and
the seeded sampler of a process that joins a study."""

import warnings
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import FloatDistribution
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from mcal_lightning.sweep.config import Sweep, load_sweep
from mcal_lightning.sweep.study import (
    SURPLUS,
    counts,
    is_surplus,
    make_storage,
    open_study,
    pending_retries,
)

LR = {"lr_max": FloatDistribution(1e-4, 1e-2, log=True)}


def add(study: optuna.Study, state: TrialState, lr: float, **user_attrs: object) -> FrozenTrial:
    value = 0.5 if state == TrialState.COMPLETE else None
    study.add_trial(optuna.trial.create_trial(state=state, value=value, params={"lr_max": lr},
                                              distributions=LR, user_attrs=user_attrs))
    return study.trials[-1]


def retry(study: optuna.Study, killed: FrozenTrial) -> None:
    """What the heartbeat does to a trial whose worker died: FAIL, then a WAITING copy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        RetryHeartbeatStaleTrialCallback(max_retry=3)(study, killed)


@pytest.fixture
def killed_late() -> optuna.Study:
    """The measured case, budget 4: trial 1 killed, trials 2 and 3 ran before its retry, 4."""
    study = optuna.create_study(direction="maximize")
    add(study, TrialState.COMPLETE, 1e-3)
    killed = add(study, TrialState.FAIL, 2e-3)
    add(study, TrialState.COMPLETE, 3e-3)
    add(study, TrialState.PRUNED, 4e-3)
    retry(study, killed)
    return study


def test_a_queued_retry_takes_its_place_and_is_not_surplus(killed_late: optuna.Study):
    assert counts(killed_late) == (3, 1)
    assert pending_retries(killed_late) == 1
    trial = killed_late.ask()
    assert trial.number == 4 and trial.params == {"lr_max": 2e-3}
    assert not is_surplus(trial, budget=4, grid=False)
    killed_late.tell(trial, 0.6)
    assert counts(killed_late) == (4, 0)
    finished = [t for t in killed_late.trials
                if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 4
    assert [t.number for t in finished if t.params == {"lr_max": 2e-3}] == [4]


def test_a_new_trial_is_surplus_while_the_retry_holds_the_last_place(killed_late: optuna.Study):
    retry_trial = killed_late.ask()  # the retry, now running
    new = killed_late.ask(fixed_distributions=LR)
    assert new.number == 5
    assert is_surplus(new, budget=4, grid=False)
    new.set_user_attr(SURPLUS, True)  # what the objective does before raising
    killed_late.tell(new, state=TrialState.FAIL)
    assert counts(killed_late) == (3, 1), "the retry running holds the killed trial's place"
    assert is_surplus(retry_trial, budget=4, grid=False) is False


def test_a_retry_whose_place_has_finished_is_surplus(killed_late: optuna.Study):
    first = killed_late.ask()
    killed_late.tell(first, 0.6)
    twin = killed_late.trials[first.number]
    retry(killed_late, twin)  # a second retry of the same place, with a finished twin
    second = killed_late.ask()
    assert second.params == {"lr_max": 2e-3}
    assert is_surplus(second, budget=4, grid=False)


def test_exceptions_spend_their_place_surplus_and_queued_points_do_not():
    study = optuna.create_study()
    add(study, TrialState.COMPLETE, 1e-3)
    add(study, TrialState.FAIL, 2e-3)  # an exception inside the trial, not retried
    add(study, TrialState.FAIL, 3e-3, **{SURPLUS: True})
    study.enqueue_trial({"lr_max": 4e-3})  # a queued point, not a retry
    add(study, TrialState.RUNNING, 5e-3)
    assert counts(study) == (2, 1)
    assert pending_retries(study) == 0
    assert counts(study, before=2) == (2, 0)


def seeded_sweep(tmp_path: Path, sampler: str) -> Sweep:
    content = {"study": "seeded", "sampler": {"type": sampler, "seed": 3},
               "space": {"lr_max": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
               "data": {"cache": "c"}, "pruner": {"type": "none"}, "n_trials": 4}
    path = tmp_path / f"{sampler}.yaml"
    path.write_text(yaml.safe_dump(content))
    return load_sweep(path)


def draw_two(study: optuna.Study) -> None:
    study.optimize(lambda trial: trial.suggest_float("lr_max", 1e-4, 1e-2, log=True), n_trials=2)


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_process_joining_a_seeded_study_draws_points_of_its_own(tmp_path: Path, sampler: str):
    """A resume or a second worker once drew the first process's random points again."""
    sweep = seeded_sweep(tmp_path, sampler)
    storage = make_storage(f"sqlite:///{tmp_path}/shared.db", sweep)
    first, created = open_study(sweep, storage, "seeded")
    draw_two(first)
    joined, joined_created = open_study(sweep, storage, "seeded")
    draw_two(joined)
    assert created and not joined_created
    assert len({trial.params["lr_max"] for trial in joined.trials}) == 4

    alone, _ = open_study(sweep, make_storage(f"sqlite:///{tmp_path}/alone.db", sweep), "seeded")
    draw_two(alone)
    assert [t.params for t in alone.trials] == [t.params for t in joined.trials[:2]], \
        "one process still reproduces a seeded sweep"

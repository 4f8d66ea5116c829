"""Real sweeps on tiny phantom data: study and MLflow agree, grids, failures, pruning, champion."""

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from mcal_lightning.sweep.config import load_sweep
from mcal_lightning.sweep.leaderboard import leaderboard
from mcal_lightning.sweep.objective import Objective
from mcal_lightning.sweep.run import run_sweep, sweep_parent
from mcal_lightning.sweep.study import RUN_ID, make_storage, open_study
from mcal_lightning.tracking.test_ledger import looks
from tests.mcal_lightning.sweeps_support import FAST, child_runs, client, sweep_file

pytestmark = pytest.mark.slow  # real sweeps: a training run per trial


@pytest.fixture(scope="module")
def tiny_sweep(workdir: Path):
    path = sweep_file(workdir, "tiny", n_trials=3,
                      sampler={"type": "tpe", "seed": 3, "n_startup_trials": 2,
                               "enqueue": [{"arch": "alexnet", "epochs": 2}]},
                      pruner={"type": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
                      space={"arch": {"type": "categorical", "choices": ["resnet34", "alexnet"]},
                             "lr_max": {"type": "float", "low": 1e-3, "high": 1e-2,
                                        "log": True},
                             "epochs": {"type": "int", "low": 1, "high": 2}})
    return run_sweep(load_sweep(path))


def test_tiny_sweep_study_and_mlflow_agree(workdir, tiny_sweep):
    study = tiny_sweep.study
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == 3 == len(study.trials)
    runs = {int(r.data.tags["optuna.trial"]): r for r in child_runs(workdir,
                                                                    tiny_sweep.parent_run_id)}
    assert sorted(runs) == [t.number for t in study.trials]
    assert (study.trials[0].params["arch"], study.trials[0].params["epochs"]) == ("alexnet", 2)
    for trial in finished:
        run = runs[trial.number]
        assert run.info.run_id == trial.user_attrs[RUN_ID]
        assert run.data.tags["optuna.state"] == trial.state.name
        assert run.info.status == "FINISHED"
        assert run.data.params["arch"] == trial.params["arch"]
        if trial.state == TrialState.COMPLETE:
            assert run.data.metrics["val/mcc"] == pytest.approx(trial.value, abs=1e-6)
            assert "test/mcc" not in run.data.metrics or trial == study.best_trial
            assert trial.user_attrs["val/lesion/mcc"] == pytest.approx(
                run.data.metrics["val/lesion/mcc"])  # the phantom's index knows its lesions
    assert "val lesion mcc" in leaderboard(study).columns


def test_sweep_end_logs_leaderboard_plots_and_champion(workdir, tiny_sweep):
    assert tiny_sweep.ended_here
    parent = tiny_sweep.parent_run_id
    artifacts = {a.path for a in client(workdir).list_artifacts(parent)}
    assert {"leaderboard.csv", "champion", "optuna", "sweep"} <= artifacts
    plots = {a.path for a in client(workdir).list_artifacts(parent, "optuna")}
    assert "optuna/history.png" in plots
    record = tiny_sweep.champion
    best = tiny_sweep.study.best_trial
    assert record["challenger"]["run_id"] == best.user_attrs[RUN_ID]
    assert [(look.reason, look.run_id) for look in looks(record["test_split"]["cache"])] == [
        ("end of sweep", best.user_attrs[RUN_ID])]  # the first champion: no one else to score
    assert record["alias_moved"] and record["reason"] == "no champion yet"
    champion = client(workdir).get_model_version_by_alias("mcal-calc", "champion")
    assert champion.run_id == best.user_attrs[RUN_ID]
    best_run = client(workdir).get_run(best.user_attrs[RUN_ID])
    assert best_run.data.metrics["test/mcc"] == pytest.approx(record["challenger"]["value"])
    best_plots = {a.path for a in client(workdir).list_artifacts(best.user_attrs[RUN_ID], "plots")}
    assert {"plots/test_top_losses.png", "plots/test_gradcam_top_losses.png",
            "plots/test_gradcam_sample.png"} <= best_plots


def test_alias_moves_only_on_a_paired_difference_on_the_same_split(workdir, tiny_sweep):
    before = client(workdir).get_model_version_by_alias("mcal-calc", "champion")
    path = sweep_file(workdir, "challenger", n_trials=1, sampler={"type": "random", "seed": 9},
                      space={"arch": {"type": "categorical", "choices": ["alexnet"]}})
    fingerprint = tiny_sweep.champion["test_split"]["cache"]
    seen = len(looks(fingerprint))
    record = run_sweep(load_sweep(path)).champion
    added = [(look.reason, look.run_id, look.model_version)
             for look in looks(fingerprint)[seen:]]
    assert added == [("end of sweep", record["challenger"]["run_id"], ""),
                     ("champion scoring", before.run_id, str(before.version))]
    assert record["champion"]["version"] == before.version
    assert record["test_split"] == tiny_sweep.champion["test_split"]
    comparison = record["comparison"]
    assert comparison["n_rois"] == record["test_split"]["rois"]
    low = comparison["low"]  # None: the tiny test split may hold one class, no CI, no move
    wins = low is not None and low > comparison["margin"]
    assert record["alias_moved"] == wins
    assert record["decision"].endswith("promoted")
    after = client(workdir).get_model_version_by_alias("mcal-calc", "champion")
    expected = record["challenger"]["version"] if wins else before.version
    assert after.version == expected


def test_grid_covers_each_point_once_and_a_rerun_adds_nothing(workdir):
    space = {"arch": {"type": "categorical", "choices": ["resnet34", "alexnet"]},
             "batch_size": {"type": "categorical", "choices": [8, 16]}}
    path = sweep_file(workdir, "grid", sampler={"type": "grid"}, pruner={"type": "none"},
                      space=space, register=False, train={**FAST, "log_model": False})
    study = run_sweep(load_sweep(path)).study
    points = sorted((t.params["arch"], t.params["batch_size"]) for t in study.trials)
    assert points == sorted((a, b) for a in ("resnet34", "alexnet") for b in (8, 16))
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    again = run_sweep(load_sweep(path)).study
    assert len(again.trials) == 4


def test_an_exception_fails_its_trial_and_the_sweep_goes_on(workdir):
    space = {"weights": {"type": "categorical",
                         "choices": ["none", str(workdir / "missing-weights.pth")]}}
    train = {k: v for k, v in FAST.items() if k != "weights"}
    path = sweep_file(workdir, "faulty", sampler={"type": "grid"}, pruner={"type": "none"},
                      space=space, register=False,
                      train={**train, "batch_size": 16, "log_model": False})
    outcome = run_sweep(load_sweep(path))
    states = {t.params["weights"]: t for t in outcome.study.trials}
    assert states["none"].state == TrialState.COMPLETE
    failed = states[str(workdir / "missing-weights.pth")]
    assert failed.state == TrialState.FAIL
    run = client(workdir).get_run(failed.user_attrs[RUN_ID])
    assert run.info.status == "FAILED" and run.data.tags["optuna.state"] == "FAIL"
    assert "missing-weights.pth" in run.data.tags["mlflow.note.content"]


def test_a_pruned_trial_is_tagged_pruned_with_a_note(workdir):
    path = sweep_file(workdir, "pruned", n_trials=1, sampler={"type": "random"},
                      space={"arch": {"type": "categorical", "choices": ["alexnet"]}},
                      train={**FAST, "epochs": 2, "batch_size": 16})
    sweep = load_sweep(path)
    storage = make_storage(f"sqlite:///{workdir}/mlruns/optuna.db", sweep)
    study, _ = open_study(sweep, storage, "pruned")
    study.pruner = optuna.pruners.ThresholdPruner(lower=2.0)  # no MCC reaches 2: always prune
    objective = Objective(sweep, sweep_parent(sweep, study, True, "sqlite://"), budget=1)
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    run = client(workdir).get_run(trial.user_attrs[RUN_ID])
    assert run.data.tags["optuna.state"] == "PRUNED" and run.info.status == "FINISHED"
    assert "Pruned by" in run.data.tags["mlflow.note.content"]


def test_pruner_hears_one_report_per_fitted_epoch(tiny_sweep):
    for trial in tiny_sweep.study.trials:
        if trial.state == TrialState.COMPLETE:
            assert sorted(trial.intermediate_values) == list(range(trial.user_attrs["epochs"]))

"""A real tiny sweep with ensemble: {top_k: 2}: the soft vote is one more judged challenger."""

from pathlib import Path

import pytest

from mcal_lightning.sweep.config import load_sweep
from mcal_lightning.sweep.ensemble import top_trials
from mcal_lightning.sweep.run import run_sweep
from mcal_lightning.sweep.study import RUN_ID, completed
from mcal_lightning.tracking.ensemble import ENSEMBLE_TAG
from tests.mcal_lightning.sweeps_support import client, sweep_file

pytestmark = pytest.mark.slow  # a real sweep: a training run per trial


def test_the_top_k_soft_vote_is_registered_and_judged(workdir: Path):
    path = sweep_file(workdir, "voted", n_trials=2, sampler={"type": "random", "seed": 4},
                      pruner={"type": "none"}, ensemble={"top_k": 2},
                      space={"arch": {"type": "categorical", "choices": ["alexnet"]},
                             "lr_max": {"type": "float", "low": 1e-3, "high": 1e-2}})
    outcome = run_sweep(load_sweep(path))
    record, study = outcome.champion, outcome.study
    assert len(completed(study)) == 2
    ensemble = record["ensemble"]
    members = [trial.user_attrs[RUN_ID] for trial in top_trials(study, 2)]
    run = client(workdir).get_run(ensemble["challenger"]["run_id"])
    assert run.data.tags[ENSEMBLE_TAG] == ",".join(members)
    assert run.data.tags["mlflow.parentRunId"] == outcome.parent_run_id
    # judged against the champion the best trial just became, on the same test split
    best_version = str(record["challenger"]["version"])
    assert record["alias_moved"] and str(ensemble["champion"]["version"]) == best_version
    assert ensemble["test_split"] == record["test_split"]
    assert str(ensemble["challenger"]["version"]) not in ("None", best_version)
    holder = client(workdir).get_model_version_by_alias("mcal-calc", "champion")
    expected = ensemble["challenger"]["version"] if ensemble["alias_moved"] else best_version
    assert str(holder.version) == str(expected)
    own = {a.path for a in client(workdir).list_artifacts(run.info.run_id, "champion")}
    assert own == {"champion/comparison.json"}
    parent = client(workdir).get_run(outcome.parent_run_id).data.tags
    assert parent["champion.version"] == best_version  # not overwritten by the ensemble's

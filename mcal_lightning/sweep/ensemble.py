"""The end of a sweep, optionally: the top-k trials' soft vote as one more challenger."""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from mcal_lightning.config import TrainConfig
from mcal_lightning.sweep.config import Sweep
from mcal_lightning.sweep.study import RUN_ID, completed
from mcal_lightning.tracking.champion import crown
from mcal_lightning.tracking.ensemble import log_ensemble_run
from mcal_lightning.tracking.promotion import Promotion

log = logging.getLogger(__name__)


def top_trials(study: optuna.Study, k: int) -> list[FrozenTrial]:
    """The k best COMPLETE trials that logged a run, best first."""
    done = [trial for trial in completed(study) if RUN_ID in trial.user_attrs]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(done, key=lambda trial: trial.value, reverse=maximize)[:k]


def crown_ensemble(sweep: Sweep, study: optuna.Study, config: TrainConfig,
                   parent_run_id: str) -> dict[str, Any] | None:
    """Register the top-k soft vote and judge it like any challenger; None when off or < 2."""
    if not sweep.ensemble_top_k:
        return None
    trials = top_trials(study, sweep.ensemble_top_k)
    if len(trials) < 2:
        log.info("no ensemble: %d COMPLETE trial(s), it needs 2", len(trials))
        return None
    run_id = log_ensemble_run([trial.user_attrs[RUN_ID] for trial in trials], parent_run_id)
    # its comparison is recorded on its own run: the parent keeps the best trial's
    return crown(run_id, config, sweep.metric, sweep.direction == "maximize", run_id,
                 rule=Promotion(sweep.min_delta, sweep.confidence))

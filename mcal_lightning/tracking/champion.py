"""A sweep's best trial: tested on the held-out split, registered, champion only if it wins.

The challenger and the current ``champion`` are scored on the same test split of the same
cache; the alias moves only when the CI of the paired difference (challenger - champion) of the
sweep's metric (its test-split twin, e.g. val/mcc -> test/mcc) clears the promotion margin
(``promotion.py``). A champion whose preprocessing differs from the
cache's can't be scored on that split: it keeps the alias, and the record says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mcal_lightning.config import TrainConfig
from mcal_lightning.data.datamodule import CacheDataModule
from mcal_lightning.evaluation.evaluate import log_evaluation
from mcal_lightning.evaluation.uncertainty import patients_of, stage_bootstrap, stage_probs
from mcal_lightning.models.module import CalcClassifier, trainer_precision
from mcal_lightning.tracking.promotion import (
    DEFAULT_RULE,
    Predictions,
    Promotion,
    compared_metric,
    comparison_json,
    decision_sentence,
    first_sentence,
    paired_difference,
    promoted,
)
from mcal_lightning.tracking.pyfunc import load_model, preprocess_config
from mcal_lightning.tracking.registry import DECISION_TAG, register
from mcal_lightning.tracking.store import REGISTERED_MODEL, model_uri
from mcal_lightning.tracking.test_ledger import Look, record_look
from mcal_lightning.train import make_datamodule
from preprocessing.cache import open_cache
from preprocessing.pipeline import PreprocessConfig

ALIAS = "champion"


@dataclass
class Scored:
    """A model scored on the test split."""

    run_id: str
    version: str | None
    value: float
    metrics: dict[str, float]
    intervals: dict[str, Any] | None = None  # patient-bootstrap 95% CIs (BootstrapResult.as_dict)
    predictions: Predictions | None = None  # per test ROI, for the paired comparison

    def interval(self, metric: str) -> tuple[float, float] | None:
        found = ((self.intervals or {}).get("metrics") or {}).get(metric) or {}
        return (found["low"], found["high"]) if "low" in found else None


def load_scorable(model_uri: str) -> tuple[CalcClassifier, PreprocessConfig]:
    """The Lightning module inside a logged mcal model, and the preprocessing it expects."""
    python_model = load_model(model_uri).unwrap_python_model()
    return python_model.module, python_model.preprocess


def test_metrics(module: CalcClassifier, datamodule: CacheDataModule,
                 config: TrainConfig) -> dict[str, float]:
    """The module's metrics on the datamodule's test split (outputs kept on the module)."""
    precision = trainer_precision() if config.precision == "auto" else config.precision
    trainer = pl.Trainer(accelerator=config.accelerator, devices=1, precision=precision,
                         logger=False, enable_checkpointing=False, enable_model_summary=False,
                         enable_progress_bar=False)
    trainer.test(module, datamodule=datamodule, verbose=False)
    found = module.last_metrics["test"]
    return {name: float(value) for name, value in found.items() if name != "confmat"}


def logged_temperature(run_id: str) -> float:
    """The calibration temperature the run's training fitted on val (1 if it logged none)."""
    return float(MlflowClient().get_run(run_id).data.metrics.get("temperature", 1.0))


def current_champion(name: str) -> Any | None:
    try:
        return MlflowClient().get_model_version_by_alias(name, ALIAS)
    except MlflowException:
        return None


def test_predictions(module: CalcClassifier, datamodule: CacheDataModule) -> Predictions:
    """The module's last test outputs as Predictions (after ``test_metrics``)."""
    labels, probs, rows = stage_probs(module, "test")
    return Predictions(rows, labels, probs, patients_of(datamodule.table, rows))


def score_champion(version: Any, datamodule: CacheDataModule, config: TrainConfig,
                   expected: PreprocessConfig, metric: str) -> Scored | str:
    """The current champion on the same test split, or why it can't be scored there."""
    module, preprocess = load_scorable(f"models:/{version.name}/{version.version}")
    if preprocess != expected:
        return (f"the champion (version {version.version}) expects preprocessing {preprocess}, "
                f"the sweep's cache holds {expected}: no common test split")
    metrics = test_metrics(module, datamodule, config)
    record_look(Look(datamodule.fingerprint, "champion scoring", version.run_id,
                     str(version.version), len(datamodule.rows["test"])))
    intervals = stage_bootstrap(module, datamodule.table, "test", config.seed).as_dict()
    return Scored(version.run_id, version.version, metrics[metric], metrics, intervals,
                  test_predictions(module, datamodule))


@dataclass
class Decision:
    """Whether the alias moves, why (reason, sentence), and the comparison behind it."""

    moved: bool
    reason: str
    sentence: str
    comparison: dict[str, Any] | None = None


def decide(challenger: Scored, champion: Scored | str | None, metric: str, maximize: bool,
           rule: Promotion = DEFAULT_RULE, seed: int = 0) -> Decision:
    """The promotion rule applied to a scored challenger and champion."""
    challenger_ci = challenger.interval(compared_metric(metric))
    if champion is None:
        return Decision(True, "no champion yet", first_sentence(challenger.value, challenger_ci))
    if isinstance(champion, str):
        return Decision(False, f"kept the champion: {champion}",
                        f"kept the champion: {champion}; challenger not promoted")
    assert challenger.predictions is not None and champion.predictions is not None
    difference = paired_difference(challenger.predictions, champion.predictions, metric, rule,
                                   seed)
    moved = promoted(difference, rule, maximize)
    sentence = decision_sentence(difference, moved, challenger_ci)
    return Decision(moved, sentence, sentence, comparison_json(difference, rule, moved, maximize))


def crown(best_run_id: str, config: TrainConfig, metric: str, maximize: bool,
          parent_run_id: str, name: str = REGISTERED_MODEL,
          rule: Promotion = DEFAULT_RULE) -> dict[str, Any]:
    """Test the best trial's model, register it, move the alias if it wins; the record."""
    test_metric = metric.replace("val/", "", 1)
    datamodule = make_datamodule(config)
    cached = open_cache(Path(config.cache))
    module, _ = load_scorable(model_uri(best_run_id))
    challenger_metrics = test_metrics(module, datamodule, config)
    record_look(Look(datamodule.fingerprint, "end of sweep", best_run_id,
                     rois=len(datamodule.rows["test"])))
    with mlflow.start_run(run_id=best_run_id):
        mlflow.log_metrics({f"test/{k}": v for k, v in challenger_metrics.items()})
        evaluated = log_evaluation(module, datamodule.table, cached.images, ("test",),
                                   config.top_losses, config.cam_samples, config.seed,
                                   temperature=logged_temperature(best_run_id))
    challenger_ci = evaluated.intervals["test"]
    holder = current_champion(name)
    champion = None if holder is None else score_champion(
        holder, datamodule, config, preprocess_config(cached.config), test_metric)
    challenger = Scored(best_run_id, None, challenger_metrics[test_metric], challenger_metrics,
                        challenger_ci.as_dict(), test_predictions(module, datamodule))
    decision = decide(challenger, champion, test_metric, maximize, rule, config.seed)
    moved, reason = decision.moved, decision.reason
    version = challenger.version = register(best_run_id, ALIAS if moved else None, name)
    record = comparison_record(challenger, champion, decision, test_metric, datamodule)
    MlflowClient().set_model_version_tag(name, version, DECISION_TAG, decision.sentence)
    with mlflow.start_run(run_id=parent_run_id):
        mlflow.log_dict({**(decision.comparison or {}), **record}, "champion/comparison.json")
        mlflow.log_metrics({f"best_test/{k}": v for k, v in challenger_metrics.items()})
        mlflow.log_metrics(challenger_ci.as_metrics("best_test/"))
        mlflow.set_tags({"champion.moved": str(moved), "champion.reason": reason,
                         "champion.version": version if moved else
                         (holder.version if holder else "")})
    return record


def comparison_record(challenger: Scored, champion: Scored | str | None, decision: Decision,
                      metric: str, datamodule: CacheDataModule) -> dict[str, Any]:
    counts = datamodule.describe()
    split = {"cache": datamodule.fingerprint, "rois": counts.get("test_rois"),
             "patients": counts.get("test_patients")}

    def side(scored: Scored | str | None) -> Any:
        if scored is None or isinstance(scored, str):
            return scored
        return {"run_id": scored.run_id, "version": scored.version, "value": scored.value,
                "metrics": scored.metrics, "ci_95": scored.intervals}

    return {"metric": f"test/{metric}", "test_split": split, "challenger": side(challenger),
            "champion": side(champion), "alias_moved": decision.moved, "reason": decision.reason,
            "decision": decision.sentence, "comparison": decision.comparison}


DATA_PARAMS = {"seed": int, "val_fraction": float, "folds": int, "fold": int}


def run_data_config(run_id: str, cache: str | None = None) -> TrainConfig:
    """A config that rebuilds the run's splits from its logged params (cache overridable)."""
    params = MlflowClient().get_run(run_id).data.params
    settings = {name: kind(params[name]) for name, kind in DATA_PARAMS.items()
                if params.get(name) not in (None, "", "None")}
    return TrainConfig(cache=cache or params.get("cache", ""), num_workers=0, top_losses=0,
                       cam_samples=0, **settings)


def challenge(run_id: str, config: TrainConfig, metric: str, maximize: bool,
              rule: Promotion = DEFAULT_RULE, name: str = REGISTERED_MODEL) -> Decision:
    """The promotion rule for a run's model against the current champion, as crown applies it,
    on the test split of the config's cache; nothing is registered, the looks are recorded."""
    datamodule = make_datamodule(config)
    module, _ = load_scorable(model_uri(run_id))
    metrics = test_metrics(module, datamodule, config)
    record_look(Look(datamodule.fingerprint, "register", run_id, rois=len(datamodule.rows["test"])))
    intervals = stage_bootstrap(module, datamodule.table, "test", config.seed).as_dict()
    challenger = Scored(run_id, None, metrics[metric], metrics, intervals,
                        test_predictions(module, datamodule))
    holder = current_champion(name)
    expected = preprocess_config(open_cache(Path(config.cache)).config)
    champion = None if holder is None else score_champion(holder, datamodule, config, expected,
                                                          metric)
    return decide(challenger, champion, metric, maximize, rule, config.seed)

"""Grouped k-fold cross-validation: one MLflow parent run, one nested run per fold, mean ± sd.

Fold i trains on the other folds of the official train split and validates on fold i (patients
grouped, labels stratified: ``splits.grouped_folds``); the official test split is never a fold.
The parent run records each metric's mean under its usual name (``val/mcc``) and its spread as
``val/mcc_sd``, so the MLflow UI sorts cross-validated and single runs alike. Its model is the
fold model with the best validation score; its test score is that model's, on the untouched
test split.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import lightning.pytorch as pl
import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from mcal_lightning.config import TrainConfig
from mcal_lightning.evaluation.plots import fold_metrics_figure
from mcal_lightning.tracking.runs import child_run, parent_run
from mcal_lightning.tracking.store import MODEL_URI_TAG, log_figure, run_params
from mcal_lightning.train import MONITOR, TrainResult, train

SUMMARY_METRICS = ("mcc", "auroc", "f1", "accuracy", "recall", "specificity", "precision")


def is_cross_validation(config: TrainConfig) -> bool:
    """``folds`` given without ``fold``: every fold is trained (with ``fold``: that one only)."""
    return config.folds is not None and config.fold is None


@dataclass
class CrossValResult:
    run_id: str  # the parent run
    folds: list[TrainResult]
    monitor: str = MONITOR

    @property
    def best_fold(self) -> int:
        name = self.monitor.split("/", 1)[1]
        scores = [fold.metrics("val").get(name, -math.inf) for fold in self.folds]
        return int(np.argmax(scores))

    @property
    def best(self) -> TrainResult:
        return self.folds[self.best_fold]

    def table(self, stage: str) -> pd.DataFrame:
        """One row per fold, one column per metric, on "val" or "test"."""
        rows = [fold.metrics(stage) for fold in self.folds]
        return pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="fold"))

    def summary(self, stage: str) -> pd.DataFrame:
        """mean and sd (ddof=1) of each metric over the folds."""
        table = self.table(stage)
        return pd.DataFrame({"mean": table.mean(), "sd": table.std(ddof=1)})

    def metrics(self, stage: str) -> dict[str, float]:
        """Mean over the folds of each metric (what a sweep's objective reads)."""
        return {name: float(value) for name, value in self.table(stage).mean().items()}


def summary_metrics(result: CrossValResult, stages: tuple[str, ...]) -> dict[str, float]:
    """``val/mcc`` (mean), ``val/mcc_sd`` ... for every stage evaluated."""
    logged: dict[str, float] = {}
    for stage in stages:
        for name, row in result.summary(stage).iterrows():
            logged[f"{stage}/{name}"] = float(row["mean"])
            if not math.isnan(row["sd"]):
                logged[f"{stage}/{name}_sd"] = float(row["sd"])
    return logged


def log_summary(result: CrossValResult, config: TrainConfig, stages: tuple[str, ...]) -> None:
    best = result.best
    with mlflow.start_run(run_id=result.run_id):
        mlflow.log_params(run_params(config.as_dict(), best.datamodule.fingerprint))
        mlflow.log_metrics(summary_metrics(result, stages))
        mlflow.log_metric("cv/best_fold", result.best_fold)
        for stage in stages:
            mlflow.log_table(result.table(stage).reset_index(), f"cv/{stage}_folds.json")
            log_figure(fold_metrics_figure(result.table(stage), SUMMARY_METRICS,
                                           f"{stage} metrics over {len(result.folds)} folds"),
                       f"plots/cv_{stage}_folds.png")
        best_tags = MlflowClient().get_run(best.run_id).data.tags
        if MODEL_URI_TAG in best_tags:
            mlflow.set_tag(MODEL_URI_TAG, best_tags[MODEL_URI_TAG])
        mlflow.set_tag("mcal.best_fold_run", best.run_id)


def cross_validate(config: TrainConfig, run_id: str | None = None,
                   first_fold_callbacks: list[pl.Callback] | None = None) -> CrossValResult:
    """Train every fold of ``config.folds`` under one parent run (``run_id``, or a new one).

    first_fold_callbacks go to fold 0 only: a sweep's pruner judges a trial by its first fold's
    curve (Optuna takes one report per epoch), the objective by the mean over all folds.
    """
    if config.folds is None or config.folds < 2:
        raise ValueError(f"cross-validation needs folds >= 2, got {config.folds}")
    name = config.run_name or "cv"
    tags = {"mcal.cross_validation": f"{config.folds} folds"}
    with parent_run(config.experiment, config.run_name or f"cv-{config.arch}", tags,
                    run_id=run_id) as parent:
        results: list[TrainResult] = []
        for fold in range(config.folds):
            fold_config = dataclasses.replace(config, fold=fold, run_name=f"{name}-fold-{fold}")
            callbacks = first_fold_callbacks if fold == 0 else None
            fold_tags = {"mcal.fold": str(fold), "mcal.folds": str(config.folds)}
            with child_run(parent, config.experiment, fold_config.run_name,
                           fold_tags) as fold_run:
                results.append(train(fold_config, run_id=fold_run, callbacks=callbacks))
        result = CrossValResult(parent, results)
        stages = ("val", "test") if config.evaluate_test else ("val",)
        log_summary(result, config, stages)
    return result


def fold_report(result: CrossValResult, stage: str) -> pd.DataFrame:
    """Metrics as rows, folds and "mean ± sd" as columns, for printing."""
    table = result.table(stage)
    shown = [name for name in SUMMARY_METRICS if name in table]
    report = table[shown].T.rename(columns=lambda fold: f"fold {fold}")
    summary = result.summary(stage).loc[shown]
    report["mean ± sd"] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(summary["mean"], summary["sd"],
                                                                   strict=True)]
    return report.rename_axis(stage).reset_index()


"""A non-deep floor beside every CNN: handcrafted features (``baseline_features``), then boosting.

A HistGradientBoostingClassifier (class-balanced, as a CNN's ``balance="weights"``) is fitted on
the train rows of the very split a CNN run makes (CacheDataModule), its number of boosting
iterations is chosen on val (log loss), and it is scored on val and the official test split.
The run is logged to MLflow with the CNN's metric names (``val/mcc``, ``test/auroc``,
``test/tp``...), plots, calibration and patient-bootstrap 95% CIs, by the CNN's own code.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_sample_weight
from threadpoolctl import threadpool_limits

from mcal_lightning.data.datamodule import CacheDataModule
from mcal_lightning.evaluation.evaluate import log_evaluation
from mcal_lightning.evaluation.metrics import binary_metrics
from mcal_lightning.models.baseline_features import FEATURE_GROUPS, Features, extract_features
from mcal_lightning.tracking.store import (
    BASELINE_MODEL,
    MODEL_TAG,
    experiment_id,
    run_params,
    use_tracking,
)
from mcal_lightning.tracking.test_ledger import Look, record_look, warn_if_reused
from preprocessing.cache import open_cache

STAGES = ("val", "test")


@dataclass
class BaselineConfig:
    cache: str | Path
    val_fraction: float = 0.2
    seed: int = 0
    experiment: str = "mcal"
    max_iter: int = 300  # boosting iterations tried; val picks how many are kept
    learning_rate: float = 0.03
    max_leaf_nodes: int = 7  # small trees and large leaves: a few hundred ROIs, ~90 features
    min_samples_leaf: int = 20
    l2_regularization: float = 1.0
    features: tuple[str, ...] = FEATURE_GROUPS
    run_name: str | None = None
    top_losses: int = 16

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["cache"], found["features"] = str(self.cache), ",".join(self.features)
        return found


def make_classifier(config: BaselineConfig, max_iter: int) -> Any:
    return HistGradientBoostingClassifier(
        max_iter=max_iter, learning_rate=config.learning_rate,
        max_leaf_nodes=config.max_leaf_nodes, min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization, class_weight="balanced",
        early_stopping=False, random_state=config.seed)


def balanced_log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Log loss with each class weighing half, as the class-balanced fit sees it."""
    return float(log_loss(labels, probs, sample_weight=compute_sample_weight("balanced", labels),
                          labels=[0, 1]))


def best_iteration(model: Any, values: np.ndarray, labels: np.ndarray) -> tuple[int, list[float]]:
    """(1-based iteration with the lowest balanced val log loss, the loss after each one)."""
    losses = [balanced_log_loss(labels, probs[:, 1])
              for probs in model.staged_predict_proba(values)]
    return int(np.argmin(losses)) + 1, losses


@dataclass
class Boosted:
    """A fit of max_iter iterations, of which val chose the first n_iter."""

    model: Any  # HistGradientBoostingClassifier
    n_iter: int
    val_losses: list[float]  # balanced val log loss after each iteration

    def logits(self, values: np.ndarray) -> np.ndarray:
        """(N,) raw scores after n_iter iterations: the model val chose, without a refit (no
        subsampling, so a refit with max_iter=n_iter would be this very model)."""
        for iteration, scores in enumerate(self.model.staged_decision_function(values), 1):
            if iteration == self.n_iter:
                return np.asarray(scores, dtype=np.float64).reshape(-1)
        raise ValueError(f"the model has fewer than {self.n_iter} iterations")


def fit_boosting(config: BaselineConfig, train: tuple[np.ndarray, np.ndarray],
                 val: tuple[np.ndarray, np.ndarray]) -> Boosted:
    """Fit max_iter iterations on train; keep as many as val's balanced log loss likes best.

    One OpenMP thread: on a few hundred ROIs threads only wait for each other, and next to
    torch's own OpenMP runtime they can slow the fit several-fold on a busy machine.
    """
    with threadpool_limits(1, user_api="openmp"):
        model = make_classifier(config, config.max_iter).fit(*train)
        if len(set(val[1].tolist())) < 2:  # one class in val: nothing to choose by
            return Boosted(model, config.max_iter, [])
        n_iter, losses = best_iteration(model, *val)
    return Boosted(model, n_iter, losses)


# ---------------------------------------------------------------- scoring and logging


@dataclass
class ScoredStages:
    """Predictions and metrics by stage, shaped as CalcClassifier keeps them (``last_outputs``,
    ``last_metrics``), so evaluate.log_evaluation logs them exactly as it logs a CNN's."""

    last_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, stage: str, logits: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> None:
        """Score one stage with the CNN's torchmetrics collection (threshold 0.5)."""
        logits_t = torch.as_tensor(logits, dtype=torch.float32)
        labels_t = torch.as_tensor(labels, dtype=torch.float32)
        probs = torch.sigmoid(logits_t)
        losses = torch.nn.functional.binary_cross_entropy_with_logits(logits_t, labels_t,
                                                                      reduction="none")
        self.last_outputs[stage] = {"probs": probs, "logits": logits_t, "labels": labels_t,
                                    "losses": losses, "indices": torch.as_tensor(rows)}
        collection = binary_metrics()
        collection.update(probs, labels_t.long())
        values = collection.compute()
        self.last_metrics[stage] = {name: value.cpu() if name == "confmat" else value.item()
                                    for name, value in values.items()}

    def logged_metrics(self, stage: str) -> dict[str, float]:
        """``{stage}/accuracy`` ... ``{stage}/auroc`` and ``{stage}/tn|fp|fn|tp``, as a CNN's."""
        found = {f"{stage}/{k}": float(v) for k, v in self.last_metrics[stage].items()
                 if k != "confmat"}
        (tn, fp), (fn, tp) = self.last_metrics[stage]["confmat"].tolist()
        found.update({f"{stage}/tn": tn, f"{stage}/fp": fp, f"{stage}/fn": fn, f"{stage}/tp": tp})
        return found


@dataclass
class BaselineResult:
    run_id: str
    scored: ScoredStages
    intervals: dict[str, Any]  # stage -> bootstrap.BootstrapResult
    n_iter: int
    feature_names: list[str]
    rows: dict[str, np.ndarray]  # the CacheDataModule's split rows
    seconds_features: float

    def metrics(self, stage: str) -> dict[str, float]:
        return {k: float(v) for k, v in self.scored.last_metrics[stage].items() if k != "confmat"}

    def summary(self) -> Any:
        """A frame: per stage, ROIs, AUC with its 95% CI, MCC with its CI, accuracy."""
        lines = []
        for stage in STAGES:
            metrics, ci = self.metrics(stage), self.intervals[stage].intervals
            lines.append({"split": stage, "rois": len(self.rows[stage]),
                          "auroc": metrics["auroc"], "auroc_95ci": interval_text(ci["auroc"]),
                          "mcc": metrics["mcc"], "mcc_95ci": interval_text(ci["mcc"]),
                          "accuracy": metrics["accuracy"]})
        return pd.DataFrame(lines)


def interval_text(interval: tuple[float, float, float]) -> str:
    return f"[{interval[1]:.3f}, {interval[2]:.3f}]"


def baseline_datamodule(config: BaselineConfig) -> Any:
    """The set-up CacheDataModule of a CNN run with the same cache, val_fraction and seed."""
    datamodule = CacheDataModule(config.cache, num_workers=0, val_fraction=config.val_fraction,
                                 seed=config.seed, augment={"enabled": False})
    datamodule.setup()
    return datamodule


def split_features(features: Features, rows: dict[str, np.ndarray],
                   all_rows: np.ndarray) -> dict[str, np.ndarray]:
    """The feature rows of each split, looked up by cache row number."""
    position = {int(row): i for i, row in enumerate(all_rows)}
    return {split: features.values[[position[int(r)] for r in split_rows]]
            for split, split_rows in rows.items()}


def predictions_frame(table: Any, rows: dict[str, np.ndarray],
                      probs: dict[str, np.ndarray]) -> Any:
    """One line per ROI of every split: row, roi_id, patient_id, split, label, p_malignant
    (train's in-sample), to pair the baseline with a CNN ROI by ROI."""
    by_row = table.set_index("row", drop=False)
    parts = []
    for split, split_rows in rows.items():
        part = by_row.loc[split_rows, ["row", "roi_id", "patient_id", "label"]].copy()
        part.insert(3, "split", split)
        part["p_malignant"] = probs[split]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def log_baseline_artifacts(features: Features, boosted: Boosted, predictions: Any) -> None:
    """baseline/features.json (names, chosen iterations, val loss curve), predictions.csv."""
    mlflow.log_dict({"groups": sorted({name.split(".", 1)[0] for name in features.names}),
                     "names": features.names, "chosen_iterations": boosted.n_iter,
                     "max_iter": int(boosted.model.max_iter),
                     "val_balanced_log_loss": boosted.val_losses}, "baseline/features.json")
    mlflow.log_text(predictions.to_csv(index=False), "baseline/predictions.csv")


def run_baseline(config: BaselineConfig) -> BaselineResult:
    """Features of every ROI of the CNN's split, boosting fitted on train, chosen on val, scored
    on val and test, all logged as one FINISHED MLflow run tagged ``mcal.model=baseline-hgb``."""
    datamodule = baseline_datamodule(config)
    images = open_cache(Path(config.cache)).images
    all_rows = np.unique(np.concatenate(list(datamodule.rows.values())))
    started = time.perf_counter()
    features = extract_features(images[all_rows], config.features)
    seconds = time.perf_counter() - started
    values = split_features(features, datamodule.rows, all_rows)
    labels = {split: datamodule.labels_of(rows).astype(np.int64)
              for split, rows in datamodule.rows.items()}
    boosted = fit_boosting(config, (values["train"], labels["train"]),
                           (values["val"], labels["val"]))
    logits = {split: boosted.logits(split_values) for split, split_values in values.items()}
    scored = ScoredStages()
    for stage in STAGES:
        scored.add(stage, logits[stage], labels[stage], datamodule.rows[stage])
    predictions = predictions_frame(datamodule.table, datamodule.rows,
                                    {split: expit(z) for split, z in logits.items()})

    use_tracking()
    with mlflow.start_run(experiment_id=experiment_id(config.experiment),
                          run_name=config.run_name or BASELINE_MODEL) as run:
        mlflow.set_tags({MODEL_TAG: BASELINE_MODEL, "mcal.features": ",".join(config.features)})
        mlflow.log_params(run_params({**config.as_dict(), "model": BASELINE_MODEL,
                                      "n_features": len(features.names)},
                                     datamodule.fingerprint))
        mlflow.log_params({f"data.{k}": v for k, v in datamodule.describe().items()})
        mlflow.log_metrics({"chosen_iterations": boosted.n_iter, "feature_seconds": seconds})
        for stage in STAGES:
            mlflow.log_metrics(scored.logged_metrics(stage))
        log_baseline_artifacts(features, boosted, predictions)
        uncertainty = log_evaluation(scored, datamodule.table, images,  # type: ignore[arg-type]
                                     STAGES, config.top_losses, 0, config.seed, gradcam=False)
    warn_if_reused(record_look(Look(datamodule.fingerprint, "baseline", run.info.run_id,
                                    rois=len(datamodule.rows["test"]))))
    return BaselineResult(run.info.run_id, scored, uncertainty.intervals, boosted.n_iter,
                          features.names, datamodule.rows, seconds)

"""What a run logs of each split a model was scored on: plots, calibration, CIs, Grad-CAMs.

One sequence for every scorer: ``train()`` logs the val and test splits of the model it
fitted, the sweep's champion step the test split of the best trial's model, and the handcrafted
baseline its val and test splits (without Grad-CAM, which needs a network). The scorer's
``last_outputs`` and ``last_metrics`` hold each split's evaluation (``CalcClassifier``'s).
"""

from __future__ import annotations

from collections.abc import Iterable

import mlflow
import numpy as np
import pandas as pd

from mcal_lightning.evaluation.plots import (
    confusion_matrix_figure,
    pr_figure,
    roc_figure,
    top_losses_figure,
)
from mcal_lightning.evaluation.uncertainty import (
    Uncertainty,
    log_bootstrap,
    log_calibration,
    log_lesions,
    stage_bootstrap,
    stage_lesions,
    stage_temperature,
)
from mcal_lightning.explain.test_grids import log_cam_artifacts
from mcal_lightning.models.module import CalcClassifier
from mcal_lightning.tracking.store import log_figure


def log_stage_artifacts(module: CalcClassifier, stage: str, images: np.ndarray,
                        top_k: int) -> None:
    """Confusion matrix (PNG + JSON), ROC and PR curves; top losses for the test split."""
    outputs, metrics = module.last_outputs[stage], module.last_metrics[stage]
    labels, probs = outputs["labels"].numpy(), outputs["probs"].numpy()
    matrix = metrics["confmat"].numpy()
    log_figure(confusion_matrix_figure(matrix, f"{stage} confusion matrix"),
               f"plots/{stage}_confusion_matrix.png")
    (tn, fp), (fn, tp) = matrix.tolist()
    scalars = {k: v for k, v in metrics.items() if k != "confmat"}
    mlflow.log_dict({"rows": "actual", "columns": "predicted", "classes": ["benign", "malignant"],
                     "matrix": matrix.tolist(), "tn": tn, "fp": fp, "fn": fn, "tp": tp,
                     "metrics": scalars}, f"metrics/{stage}_confusion_matrix.json")
    if len(set(labels.tolist())) == 2:
        log_figure(roc_figure(labels, probs, f"{stage} ROC"), f"plots/{stage}_roc.png")
        log_figure(pr_figure(labels, probs, f"{stage} precision-recall"), f"plots/{stage}_pr.png")
    if top_k and stage == "test":
        rows = outputs["indices"].numpy()
        figure = top_losses_figure(images[rows], labels, probs, outputs["losses"].numpy(), top_k)
        log_figure(figure, "plots/test_top_losses.png")


def log_evaluation(module: CalcClassifier, table: pd.DataFrame, images: np.ndarray,
                   stages: Iterable[str], top_losses: int, cam_samples: int, seed: int = 0,
                   temperature: float | None = None, gradcam: bool = True) -> Uncertainty:
    """Log each evaluated split into the active run; the temperature and CIs it found.

    Per stage: confusion matrix, ROC and PR curves (``log_stage_artifacts``), calibration under
    the temperature and patient-bootstrap 95% CIs, per ROI and, where the table knows lesions,
    per lesion (``{stage}/lesion/...``); on "test" also the Grad-CAM grids of the
    top losses and of ``cam_samples`` random ROIs (``gradcam=False``: none). images: the
    cache's ROI array. temperature: a T fitted earlier (the champion step reads the one its
    training run fitted); None fits it on val here and logs it as ``temperature``.
    """
    if temperature is None:
        temperature = stage_temperature(module)
        mlflow.log_metric("temperature", temperature)
    found = Uncertainty(temperature)
    for stage in stages:
        log_stage_artifacts(module, stage, images, top_losses)
        log_calibration(module, stage, temperature)
        found.intervals[stage] = stage_bootstrap(module, table, stage, seed)
        log_bootstrap(found.intervals[stage], stage)
        lesions = stage_lesions(module, table, stage, seed)
        if lesions is not None:
            found.lesions[stage] = lesions
            log_lesions(lesions, stage)
        if stage == "test" and gradcam:
            log_cam_artifacts(module, images, module.last_outputs["test"], top_losses,
                              cam_samples, seed)
    return found

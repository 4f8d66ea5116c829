"""The leakage audit as every training run and sweep meets it: before fitting, then in MLflow."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np

from mcal_lightning.data.datamodule import CacheDataModule
from mcal_lightning.integrity.audit import AUDIT_MODES, AuditReport, audit_splits, enforce
from mcal_lightning.integrity.audit_report import write_report
from preprocessing.cache import open_cache


def check_mode(mode: str) -> None:
    if mode not in AUDIT_MODES:
        raise ValueError(f"audit must be one of {AUDIT_MODES}, got {mode!r}")


def audit_datamodule(datamodule: CacheDataModule, mode: str) -> AuditReport | None:
    """Audit the datamodule's train/val/test rows; "fail" raises LeakageFound, "off" skips."""
    check_mode(mode)
    if mode == "off":
        return None
    datamodule.setup()
    report = audit_splits(datamodule.table, open_cache(datamodule.cache).images, datamodule.rows)
    enforce(report, mode)
    return report


def log_audit(report: AuditReport | None, images: np.ndarray) -> None:
    """Counts as metrics (``audit/near`` ...), and the report files when something was found."""
    if report is None:
        mlflow.set_tag("mcal.audit", "off")
        return
    mlflow.log_metrics({f"audit/{kind}": n for kind, n in report.counts().items()})
    mlflow.set_tag("mcal.audit", "leaky" if report.leaky else "clean")
    if report.leaky:
        with tempfile.TemporaryDirectory() as tmp:
            write_report(report, images, Path(tmp))
            mlflow.log_artifacts(tmp, "audit")

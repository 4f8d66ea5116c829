"""Scoring a model: metrics, patient-bootstrap CIs (per ROI and per lesion), calibration, plots."""

from mcal_lightning.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "metrics": ("binary_metrics", "metrics_from_confusion"),
    "bootstrap": ("BootstrapResult", "bootstrap_ci"),
    "calibration": ("brier_score", "expected_calibration_error", "fit_temperature"),
    "lesions": ("LesionResult", "aggregate_lesions", "lesion_result"),
    "uncertainty": ("Uncertainty",),
    "evaluate": ("log_evaluation", "log_stage_artifacts"),
    "plots": ("confusion_matrix_figure", "pr_figure", "roc_figure"),
    "labelled_files": ("attach_truth", "evaluate_predictions", "metrics_frame"),
})

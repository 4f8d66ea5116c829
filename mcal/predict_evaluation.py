"""``mcal predict --evaluate``: score the predictions against labels, print and save the metrics."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import pandas as pd

from mcal.console import console, print_frame


def metrics_path(out: Path | None, metrics_out: Path | None) -> Path | None:
    """--metrics-out, else --out's sibling NAME_metrics.json, else None (print only)."""
    if metrics_out is not None:
        return metrics_out
    return None if out is None else out.with_name(f"{out.stem}_metrics.json")


def evaluate_table(table: pd.DataFrame, paths: Iterable[Path], labels_csv: Path | None,
                   patient_pattern: str | None) -> dict[str, Any]:
    """The evaluation record; the library's warnings are printed, its errors made CLI errors."""
    from mcal_lightning.evaluation.labelled_files import attach_truth, evaluate_predictions

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            truth, source = attach_truth(table, paths, labels_csv, patient_pattern)
            evaluation = evaluate_predictions(truth, source)
        except (ValueError, OSError, KeyError) as exc:
            raise click.ClickException(str(exc)) from exc
    for warning in caught:
        console.print(f"[yellow]warning:[/yellow] {warning.message}")
    return evaluation


def report_evaluation(table: pd.DataFrame, paths: Iterable[Path], labels_csv: Path | None,
                      patient_pattern: str | None, out: Path | None) -> None:
    """Print the metrics with patient-bootstrap 95% CIs, per file and, where lesion ids are
    known, per lesion; write them to ``out`` when given."""
    from mcal_lightning.evaluation.labelled_files import metrics_frame

    evaluation = evaluate_table(table, paths, labels_csv, patient_pattern)
    print_frame(metrics_frame(evaluation), f"metrics on {evaluation['n_rois']} files")
    console.print(f"95% CIs: {evaluation['n_used']}/{evaluation['n_resamples']} resamples of "
                  f"{evaluation['n_patients']} patients (ids from {evaluation['patients_from']})")
    if "lesion" in evaluation:
        report_lesions(evaluation["lesion"])
    reference = evaluation.get("reference")
    if reference is not None:
        auc, model = reference["auroc"], evaluation["metrics"]["auroc"]
        console.print(f"AUC {model['point']:.3f} (95% CI {model['low']:.3f}..{model['high']:.3f})"
                      f" against the labels CSV's reference score on the same files: "
                      f"{auc['point']:.3f} ({auc['low']:.3f}..{auc['high']:.3f})")
    console.print(f"ECE {evaluation['ece']:.4f}, Brier score {evaluation['brier']:.4f}; "
                  f"skipped {evaluation['skipped']['no_label']} files without a label, "
                  f"{evaluation['skipped']['no_prediction']} without a prediction")
    if out is not None:
        out.write_text(json.dumps(evaluation, indent=2))
        console.print(f"wrote {out}")


def report_lesions(lesion: dict[str, Any]) -> None:
    """The lesion-level table: each lesion's views averaged, CIs by patient."""
    from mcal_lightning.evaluation.labelled_files import metrics_frame

    print_frame(metrics_frame(lesion), f"metrics on {lesion['n_lesions']} lesions "
                                       f"(the mean of their {lesion['n_rois']} files)")
    discordant = lesion["n_discordant"]
    note = (f"; {discordant} lesions whose views disagree on the label counted malignant"
            if discordant else "")
    console.print(f"{lesion['n_multi_view']} lesions seen in more than one file; 95% CIs: "
                  f"{lesion['n_used']}/{lesion['n_resamples']} resamples of "
                  f"{lesion['n_patients']} patients{note}")


def report_test_look(model: Any, model_uri: str, table: pd.DataFrame) -> None:
    """When the scored files are test ROIs of the model's cache: a look in the test-split
    ledger, the split's count of decisions, and a warning past the limit."""
    from mcal_lightning.tracking.ledger_predict import model_run_id, record_predict_look
    from mcal_lightning.tracking.test_ledger import default_warn_after, reuse_warning

    scored = [Path(f) for f in table.loc[table["p_malignant"].notna(), "file"]]
    count = record_predict_look(model_run_id(model), model_uri, scored)
    if count is None:
        return
    console.print(f"these files include test ROIs of the model's cache: the test split has made "
                  f"{count} decisions")
    message = reuse_warning(count, default_warn_after())
    if message is not None:
        console.print(f"[yellow]warning:[/yellow] {message}")

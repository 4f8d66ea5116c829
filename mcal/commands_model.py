"""Model commands: register a run's model, predict files with a registered one (and score them).

The mcal_lightning imports sit inside the commands, so that `mcal --help` never imports torch.
"""

from __future__ import annotations

from pathlib import Path

import click

from mcal.console import console


@click.command()
@click.option("--run", "run_id", required=True,
              help="MLflow run id (printed by mcal train), or 'latest'.")
@click.option("--alias", default="champion", show_default=True)
@click.option("--experiment", default="mcal", show_default=True, help="Where 'latest' looks.")
@click.option("--force", is_flag=True, help="Move the champion alias without the promotion rule.")
@click.option("--metric", default="mcc", show_default=True,
              type=click.Choice(["mcc", "auroc", "f1", "accuracy", "recall", "precision",
                                 "specificity"]), help="The test metric the rule compares.")
@click.option("--min-delta", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="The margin the difference's CI lower bound must clear.")
@click.option("--confidence", default=0.95, show_default=True,
              type=click.FloatRange(0, 1, min_open=True, max_open=True))
@click.option("--cache", type=click.Path(file_okay=False),
              help="The cache whose test split scores both [default: the run's own].")
def register(run_id: str, alias: str, experiment: str, force: bool, metric: str,
             min_delta: float, confidence: float, cache: str | None) -> None:
    """Register a run's model as a new version of 'mcal-calc' and point the alias at it.

    The 'champion' alias moves only when the run's model beats the current champion on the
    cache's test split by the promotion rule (see README), unless --force.
    """
    from mlflow.exceptions import MlflowException

    from mcal_lightning.tracking.registry import latest_run
    from mcal_lightning.tracking.registry import register as register_run
    from mcal_lightning.tracking.store import REGISTERED_MODEL, use_tracking

    try:
        run_id = latest_run(experiment) if run_id == "latest" else run_id
        if alias == "champion" and not force:
            use_tracking()
            alias = promotion_alias(run_id, metric, min_delta, confidence, cache)
        version = register_run(run_id, alias or None)
    except (LookupError, MlflowException, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not alias:
        console.print(f"{REGISTERED_MODEL} version {version}, without the champion alias "
                      f"(--force moves it anyway)")
        return
    console.print(f"{REGISTERED_MODEL} version {version}, alias '{alias}': "
                  f"models:/{REGISTERED_MODEL}@{alias}")


@click.command()
@click.option("--alias", default="champion", show_default=True)
def champion(alias: str) -> None:
    """Who holds the champion alias, and why: version, arch, run, the promotion decision."""
    from mcal_lightning.tracking.registry import champion_holder

    try:
        console.print(champion_holder(alias=alias), markup=False, highlight=False)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc


def promotion_alias(run_id: str, metric: str, min_delta: float, confidence: float,
                    cache: str | None) -> str:
    """'champion' when the run wins by the promotion rule, else ''; prints the decision."""
    from mcal_lightning.tracking.champion import ALIAS, challenge, run_data_config
    from mcal_lightning.tracking.promotion import Promotion

    config = run_data_config(run_id, cache)
    decision = challenge(run_id, config, metric, True, Promotion(min_delta, confidence))
    console.print(decision.sentence)
    return ALIAS if decision.moved else ""


SKIPPED_NAMES_SHOWN = 5


def skipped_note(skipped: list[Path]) -> str:
    """One line naming the folder files that were not predicted because of their suffix."""
    names = ", ".join(p.name for p in skipped[:SKIPPED_NAMES_SHOWN])
    more = len(skipped) - SKIPPED_NAMES_SHOWN
    tail = f" and {more} more" if more > 0 else ""
    files = "file" if len(skipped) == 1 else "files"
    return (f"skipped {len(skipped)} {files} under the folders given, not named as images "
            f"(.dcm, .png, .jpg, .pgm, .tif): {names}{tail}")


@click.command()
@click.option("--model", "model_uri", default="models:/mcal-calc@champion", show_default=True)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write a CSV.")
@click.option("--cam", "cam_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write a Grad-CAM overlay PNG of each readable file into this folder.")
@click.option("--evaluate", is_flag=True, help="Score the predictions against labels (a parent "
              "folder benign/ or malignant/, or --labels): metrics with patient-bootstrap 95% CIs.")
@click.option("--labels", "labels_csv", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="With --evaluate: CSV of file,label[,patient_id][,reference] "
                                     "(reference: another P(malignant), scored beside the model).")
@click.option("--patient-pattern", help="With --evaluate: regex finding the patient id in a file "
                                        "name (its group 'patient', or group 1).")
@click.option("--metrics-out", type=click.Path(dir_okay=False, path_type=Path),
              help="With --evaluate: the metrics JSON [default: beside --out, NAME_metrics.json].")
@click.option("--strict", is_flag=True, help="Refuse every row with a warning (not MG, colour, "
              "multi-frame, spacing or size unlike the training ROIs) instead of predicting it.")
@click.option("--tta", type=click.Choice(["none", "flips", "dihedral"]), default="none",
              show_default=True, help="Test-time augmentation: average P(malignant) over each "
              "ROI's 4 flips or its 8 dihedral transforms (quarter turns and flips).")
@click.option("--chunk", default=64, show_default=True, type=click.IntRange(min=1),
              help="Files read, predicted and written to --out together.")
def predict(model_uri: str, paths: tuple[Path, ...], out: Path | None,
            cam_dir: Path | None, evaluate: bool, labels_csv: Path | None,
            patient_pattern: str | None, metrics_out: Path | None, strict: bool,
            tta: str, chunk: int) -> None:
    """P(malignant) for ROI files or folders (DICOM, PNG, JPEG, PGM) with a registered model.

    The warning column names what differs from the images the model learned from: a Modality
    other than MG, colour converted to gray, a multi-frame file, pixel spacing more than 2x off
    the cache's, an image much smaller than the cache's ROIs. --strict refuses such rows.

    Files are predicted a chunk at a time and each chunk's rows are written to --out as soon as
    they are done, so a folder of any size runs in bounded memory. Every file named on the
    command line gets a row (an error when it is not an image); under a folder, files not named
    as images (.txt, .csv, ...) are skipped, and the count and names of those are printed.
    """
    from mlflow.exceptions import MlflowException

    from mcal.predict_output import report_predictions, write_streamed
    from mcal_lightning.tracking.predict import COLUMNS, found_files, predict_chunks
    from mcal_lightning.tracking.pyfunc import UnsupportedModel, accepts_param, load_model
    from mcal_lightning.tracking.store import use_tracking

    try:
        use_tracking()
        model = load_model(model_uri)  # once, for the predictions and the overlays
        if tta != "none" and not accepts_param(model, "tta"):
            raise click.ClickException(f"{model_uri} was logged before --tta: predict it "
                                       "without --tta, or log it again with this mcal")
        files, skipped = found_files(paths)
        if skipped:
            console.print(skipped_note(skipped))
        table = write_streamed(predict_chunks(model, files, chunk, strict, tta), COLUMNS, out)
    except (UnsupportedModel, MlflowException) as exc:
        raise click.ClickException(str(exc)) from exc
    report_predictions(table, f"predictions of {model_uri}", out)
    if evaluate:
        from mcal.predict_evaluation import metrics_path, report_evaluation, report_test_look

        report_evaluation(table, paths, labels_csv, patient_pattern,
                          metrics_path(out, metrics_out))
        report_test_look(model, model_uri, table)
    if cam_dir is not None:
        from mcal_lightning.explain.file_overlays import write_cam_overlays

        written = write_cam_overlays(model, files, cam_dir)
        console.print(f"wrote {len(written)} Grad-CAM overlays to {cam_dir}")

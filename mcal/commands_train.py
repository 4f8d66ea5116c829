"""Training-side commands: train, lr-find, register, predict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mcal.report import console, print_frame

ARCHS = ["resnet50", "resnet34", "vgg16", "alexnet"]


def training_options(experiment: str = "mcal") -> Any:
    """Options shared by train, lr-find and replay-paper; unset ones fall back to --config,
    then defaults. ``experiment``: the default the help names."""
    return lambda command: add_training_options(command, experiment)


def add_training_options(command: Any, experiment: str) -> Any:
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="YAML file of settings (keys as in TrainConfig)."),
        click.option("--cache", type=click.Path(file_okay=False), help="Cache root or dataset."),
        click.option("--arch", type=click.Choice(ARCHS), help="Backbone [default: resnet34]."),
        click.option("--weights", help="imagenet (download), none (random init), a local "
                                       "torchvision checkpoint FILE, or a FOLDER of them, one "
                                       "per arch (ARCH.pt) [default: imagenet]."),
        click.option("--epochs", type=click.IntRange(1), help="[default: 10]"),
        click.option("--freeze-epochs", type=click.IntRange(0),
                     help="Epochs training the head alone [default: 1]."),
        click.option("--batch-size", type=click.IntRange(1), help="[default: 32]"),
        click.option("--lr", "lr_range", help="lr_min,lr_max across layer groups, as the paper's "
                                              "'2e-6,1e-3' [default]."),
        click.option("--balance", type=click.Choice(["weights", "sampler", "none"])),
        click.option("--seed", type=int),
        click.option("--num-workers", type=click.IntRange(0)),
        click.option("--devices", type=click.IntRange(1),
                     help="GPUs for DDP during fit (spawned processes) [default: 1, no DDP]."),
        click.option("--experiment", help=f"MLflow experiment [default: {experiment}]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


train_options = training_options()


def parse_lr_range(text: str | None) -> dict[str, float]:
    if text is None:
        return {}
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError as exc:
        raise click.BadParameter("expected two numbers: lr_min,lr_max", param_hint="--lr") from exc
    if not 0 < low <= high:
        raise click.BadParameter("need 0 < lr_min <= lr_max", param_hint="--lr")
    return {"lr_min": low, "lr_max": high}


def config_from(config_file: Path | None, lr_range: str | None, **options: Any) -> Any:
    from mcal_lightning.config import load_config

    try:
        return load_config(config_file, **options, **parse_lr_range(lr_range))
    except (ValueError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@train_options
@click.option("--lr-find", is_flag=True, default=None, help="Run the LR finder first; use its "
                                                            "suggestion as lr_max.")
@click.option("--run-name", help="MLflow run name.")
@click.option("--folds", type=click.IntRange(2), help="Grouped k-fold cross-validation of the "
              "official train split: K runs under one parent, metrics as mean ± sd.")
@click.option("--fold", type=click.IntRange(0), help="Train only this fold of --folds.")
def train(config_file: Path | None, lr_range: str | None, **options: Any) -> None:
    """Train one model on a cache; one MLflow run with metrics, plots and the model.

    With --folds K: K models, one per patient-grouped fold, under one parent run.
    """
    from mcal_lightning.crossval import cross_validate, fold_report, is_cross_validation
    from mcal_lightning.data.splits import LeakageError
    from mcal_lightning.models.backbones import WeightsUnavailable
    from mcal_lightning.tracking.store import tracking_uri
    from mcal_lightning.train import train as run_training

    config = config_from(config_file, lr_range, **options)
    if config.fold is not None and config.folds is None:
        raise click.BadParameter("--fold needs --folds", param_hint="--fold")
    try:
        if is_cross_validation(config):
            result = cross_validate(config)
            run_id = result.run_id
            for stage in ("val", "test") if config.evaluate_test else ("val",):
                print_frame(fold_report(result, stage), f"{stage} metrics, {config.folds} folds")
            console.print(f"best fold: {result.best_fold} (its model is the parent run's model)")
        else:
            run_id = run_training(config).run_id
    except (WeightsUnavailable, FileNotFoundError, LeakageError) as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(f"run {run_id} in experiment '{config.experiment}' at {tracking_uri()}")
    console.print(f"register it: mcal register --run {run_id} --alias champion")


@click.command("lr-find")
@train_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("lr_find.png"), show_default=True)
def lr_find(config_file: Path | None, lr_range: str | None, out: Path, **options: Any) -> None:
    """Lightning's LR range test: saves the plot and prints the suggested learning rate."""
    import tempfile

    from mcal_lightning.train import find_lr, make_datamodule

    config = config_from(config_file, lr_range, **options)
    with tempfile.TemporaryDirectory() as tmp:
        figure, suggestion = find_lr(config, make_datamodule(config), Path(tmp))
    figure.savefig(out, dpi=120)
    console.print(f"suggested lr_max: {suggestion:.3g} (plot: {out})")


@click.command()
@click.option("--run", "run_id", required=True,
              help="MLflow run id (printed by mcal train), or 'latest'.")
@click.option("--alias", default="champion", show_default=True)
@click.option("--experiment", default="mcal", show_default=True, help="Where 'latest' looks.")
def register(run_id: str, alias: str, experiment: str) -> None:
    """Register a run's model as a new version of 'mcal-calc' and point the alias at it."""
    from mlflow.exceptions import MlflowException

    from mcal_lightning.tracking.registry import latest_run
    from mcal_lightning.tracking.registry import register as register_run
    from mcal_lightning.tracking.store import REGISTERED_MODEL

    try:
        run_id = latest_run(experiment) if run_id == "latest" else run_id
        version = register_run(run_id, alias)
    except (LookupError, MlflowException) as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(f"{REGISTERED_MODEL} version {version}, alias '{alias}': "
                  f"models:/{REGISTERED_MODEL}@{alias}")


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
def predict(model_uri: str, paths: tuple[Path, ...], out: Path | None,
            cam_dir: Path | None, evaluate: bool, labels_csv: Path | None,
            patient_pattern: str | None, metrics_out: Path | None) -> None:
    """P(malignant) for ROI files or folders (DICOM, PNG, JPEG, PGM) with a registered model."""
    from mlflow.exceptions import MlflowException

    from mcal_lightning.tracking.predict import predict_files
    from mcal_lightning.tracking.pyfunc import UnsupportedModel, load_model
    from mcal_lightning.tracking.store import use_tracking

    try:
        use_tracking()
        model = load_model(model_uri) if cam_dir is not None else None  # loaded once for both
        table = predict_files(model_uri, paths, model=model)
    except (UnsupportedModel, MlflowException) as exc:
        raise click.ClickException(str(exc)) from exc
    print_frame(table, f"predictions of {model_uri}")
    if out is not None:
        table.to_csv(out, index=False)
        console.print(f"wrote {out}")
    if evaluate:
        from mcal.predict_evaluation import metrics_path, report_evaluation

        report_evaluation(table, paths, labels_csv, patient_pattern,
                          metrics_path(out, metrics_out))
    if cam_dir is not None:
        from mcal_lightning.explain.file_overlays import write_cam_overlays
        from mcal_lightning.tracking.predict import image_paths

        written = write_cam_overlays(model, image_paths(paths), cam_dir)
        console.print(f"wrote {len(written)} Grad-CAM overlays to {cam_dir}")

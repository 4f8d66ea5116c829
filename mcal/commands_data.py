"""Data-path commands: phantom, index, filters, preprocess.

The heavy imports sit inside the commands, so that `mcal --help` never imports torch.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mcal.console import console, print_frame, print_quarantine

DATA = click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False,
                    path_type=Path), help="CBIS-DDSM download (or phantom) or benign/+malignant/.")
CACHE = click.option("--cache", "cache_dir", required=True,
                     type=click.Path(file_okay=False, path_type=Path), help="Cache root folder.")
WORKERS = click.option("--workers", type=int, default=None, help="Processes (default: all cores).")


def folder_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options that matter only for a benign/ + malignant/ folder of images."""
    options = [
        click.option("--patient-pattern", help="Regex on file names; group 'patient' or group 1."),
        click.option("--patient-csv", type=click.Path(dir_okay=False, path_type=Path),
                     help="CSV with columns file, patient_id."),
        click.option("--allow-ungrouped", is_flag=True,
                     help="Accept data without patient ids (metrics may be inflated)."),
        click.option("--test-fraction", type=click.FloatRange(0, 1), default=0.2,
                     show_default=True, help="Share of patients held out as test (folders only)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_index(data_dir: Path, **folder: Any) -> Any:
    """Index the data, print the summary and quarantine, stop if nothing usable remains."""
    from preprocessing.index import NoPatientIds, build_index

    try:
        index = build_index(data_dir, **folder)
    except (NoPatientIds, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    print_frame(index.summary(), f"index of {data_dir} ({index.layout} layout)")
    print_quarantine(index.quarantine)
    if index.rows.empty:
        raise click.ClickException("nothing usable remains after quarantine")
    return index


@click.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--patients", type=click.IntRange(1), default=200, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--scale", type=click.FloatRange(0.01, 1.0), default=1.0, show_default=True,
              help="Shrink every size (1.0 = CBIS-like 4000 px films).")
@click.option("--corrupt", type=click.IntRange(0), default=0, show_default=True,
              help="Add K broken cases (truncated, bad label, missing, non-DICOM, blank, "
                   "cut-short JPEG-LS).")
@click.option("--full-images", type=click.Choice(["full", "reduced", "none"]), default="full",
              show_default=True,
              help="How the full-field images are stored. full: uncompressed at full size, as "
                   "in CBIS-DDSM (about 21 MB each at scale 1). reduced: block-averaged by "
                   "--reduction, PixelSpacing scaled to match; lost: the fine detail (at 4x a "
                   "pixel is 0.2 mm at scale 1, most calcifications blur away) and masks the "
                   "size of their full image, so `mcal index` tells crop from mask by their "
                   "pixels instead (slower). none: not "
                   "written; the CSVs still name them, as CBIS-DDSM's do, but the files are "
                   "absent, so nothing can look at whole breasts. Crops, masks and labels are "
                   "identical in all three (training uses only crops).")
@click.option("--reduction", type=click.IntRange(2, 16), default=4, show_default=True,
              help="Integer downsampling factor of --full-images reduced.")
@click.option("--layout", type=click.Choice(["tcia", "kaggle-jpeg"]), default="tcia",
              show_default=True,
              help="tcia: DICOM in the TCIA folder layout, the CSVs at the top. kaggle-jpeg: the "
                   "same cases as CBIS-DDSM's Kaggle edition holds them: csv/ (the CSVs and "
                   "dicom_info.csv) and jpeg/<SeriesInstanceUID>/1-N.jpg, 8-bit lossy JPEGs "
                   "without pixel spacing.")
@WORKERS
def phantom(out_dir: Path, patients: int, seed: int, scale: float, corrupt: int,
            full_images: str, reduction: int, layout: str, workers: int | None) -> None:
    """Generate a phantom CBIS-DDSM calcification set (TCIA layout, official CSVs).

    ROI masks are written RLE Lossless (they are mostly zeros), crops and full-field images
    uncompressed; every DICOM carries PixelSpacing (0.05 mm / scale, times --reduction for
    reduced full images). --layout kaggle-jpeg writes the Kaggle edition's JPEGs instead.
    """
    from preprocessing.phantom import generate_phantom

    result = generate_phantom(out_dir, patients=patients, seed=seed, scale=scale,
                              corrupt=corrupt, workers=workers, full_images=full_images,
                              reduction=reduction, layout=layout)
    console.print(
        f"phantom: {result.n_rois} ROIs from {result.n_patients} patients in {out_dir}, "
        f"{result.n_malignant / max(result.n_rois, 1):.1%} malignant, "
        f"{result.n_corrupt} corrupt cases added"
    )
    if layout == "kaggle-jpeg":
        console.print("layout: Kaggle edition (csv/ with dicom_info.csv, jpeg/<series>/1-N.jpg;"
                      " 8-bit lossy JPEG, no pixel spacing)")
    if full_images == "reduced":
        spacing = " (PixelSpacing scaled to match)" if layout == "tcia" else ""
        console.print(f"full-field images reduced {reduction}x{spacing}")
    elif full_images == "none":
        console.print("full-field images not written: the CSVs name files that are absent")
    console.print(f"Bayes-ceiling AUC (true P(malignant) vs labels): {result.bayes_auc:.4f}")
    console.print(f"ground truth sidecar: {result.truth_csv}")


INDEX_FOLDER = "mcal_index"
KAGGLE_NO_SPACING = (
    "--spacing-mm needs each file's pixel spacing, and the Kaggle edition's JPEGs carry none: "
    "pass --assume-spacing-mm MM as well (the DDSM films were digitised at 0.042 to 0.05 mm "
    "per pixel, by scanner), or use the DICOM download from TCIA")


def index_out_dir(out_dir: Path | None, cache_dir: Path | None) -> Path:
    """--out, else CACHE/mcal_index, else ./mcal_index: never inside the data folder."""
    if out_dir is not None:
        return out_dir
    return (cache_dir if cache_dir is not None else Path.cwd()) / INDEX_FOLDER


@click.command()
@DATA
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Cache root folder: the index goes to CACHE/mcal_index.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where index.csv and quarantine.csv go [default: CACHE/mcal_index with "
                   "--cache, else ./mcal_index; the data folder is only read].")
@folder_options
def index(data_dir: Path, cache_dir: Path | None, out_dir: Path | None, **folder: Any) -> None:
    """Index CBIS-DDSM or a benign/ + malignant/ folder; quarantine bad rows and files."""
    result = load_index(data_dir, **folder)
    target = index_out_dir(out_dir, cache_dir).resolve()
    rows_path, quarantine_path = result.save(target)
    console.print(f"wrote {rows_path.name} ({len(result.rows)} ROIs) and "
                  f"{quarantine_path.name} to {target} (the data folder is only read)")


@click.command()
@DATA
@CACHE
@click.option("--sample", type=click.IntRange(1), default=64, show_default=True,
              help="ROIs from the train split to score the filters on.")
@click.option("--noise", type=click.FloatRange(0, 0.5), default=0.05, show_default=True,
              help="Density of the impulse noise the filters must remove (mcal protocol).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--protocol", type=click.Choice(["mcal", "paper"]), default="mcal",
              show_default=True,
              help="mcal: denoise added impulse noise, scored against the clean ROI; sets the "
                   "cache's default filter. paper: the paper's Table 4 scoring, each filter "
                   "against its own input (the identity wins); writes filter_table_paper.csv "
                   "and leaves the default filter alone.")
@folder_options
def filters(data_dir: Path, cache_dir: Path, sample: int, noise: float, seed: int,
            protocol: str, **folder: Any) -> None:
    """PSNR/MSE table of the filters (the paper's Table 4).

    With --protocol mcal (default) each filter removes added salt-and-pepper noise and is scored
    against the clean ROI; the best becomes the cache's default filter (filter_choice.json).
    With --protocol paper each filter is scored against the very ROI it filtered, as the paper
    did (8-bit grey levels, PSNR with MAX 255): that measures how much a filter changes its
    input, so it is printed for comparison only and never changes the default filter.
    """
    from preprocessing.artifacts import remove_artifacts
    from preprocessing.filter_table import best_filter, filter_table
    from preprocessing.images import normalise, read_image

    rows = load_index(data_dir, **folder).rows
    paths = list(rows.loc[rows["split"] == "train", "crop_path"])
    chosen = random.Random(seed).sample(paths, min(sample, len(paths)))
    images = [remove_artifacts(normalise(read_image(data_dir / p))) for p in chosen]
    table = filter_table(images, noise_density=noise, seed=seed, protocol=protocol)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if protocol == "paper":
        print_frame(table, f"paper protocol on {len(images)} ROIs: each filter scored against "
                    "its own input, no noise added (MSE in 8-bit grey levels, PSNR with MAX 255)")
        table_path = cache_dir / "filter_table_paper.csv"
        table.to_csv(table_path, index=False)
        paper_three = table[table["filter"] != "none"]
        least_mse = paper_three.loc[paper_three["mse_mean"].idxmin(), "filter"]
        default, reason = chosen_filter(cache_dir, "auto")
        console.print(
            f"the identity ('none') tops this table: it changes nothing, so it scores MSE 0. "
            f"Of the paper's three filters, the one that changes its input least: "
            f"{best_filter(paper_three)} by PSNR, {least_mse} by MSE.\n"
            f"default filter NOT changed (this protocol cannot choose one): {default} ({reason})"
            f"; table in {table_path}"
        )
        return
    print_frame(table, f"filters on {len(images)} ROIs with {noise:.0%} impulse noise")
    table.to_csv(cache_dir / "filter_table.csv", index=False)
    best = best_filter(table)
    choice = {"filter": best, "psnr_mean": float(table.iloc[0]["psnr_mean"]),
              "noise_density": noise, "n": len(images)}
    (cache_dir / "filter_choice.json").write_text(json.dumps(choice, indent=2))
    console.print(f"default filter for this cache: {best} (best PSNR); table in "
                  f"{cache_dir / 'filter_table.csv'}")


def print_sources(stats: dict[str, Any]) -> None:
    """How the source images were stored, with what 8-bit or lossy sources cost."""
    encodings: dict[str, int] = stats.get("encodings") or {}
    if not encodings:
        return
    console.print("sources: " + ", ".join(f"{n} {kind}" for kind, n in encodings.items())
                  + " (in the dataset's source_stats.json)")
    if any("lossy" in kind or kind.startswith("8-bit") for kind in encodings):
        console.print("note: 8-bit or lossy sources hold fewer grey levels than 12-16-bit "
                      "DICOMs, and lossy ones JPEG's block artefacts (README: Your data)")


def chosen_filter(cache_dir: Path, requested: str) -> tuple[str, str]:
    """The filter to use and why: explicit, or the filter table's best, or the paper's choice."""
    if requested != "auto":
        return requested, "chosen on the command line"
    choice_file = cache_dir / "filter_choice.json"
    if choice_file.is_file():
        choice = json.loads(choice_file.read_text())
        return choice["filter"], f"best PSNR in the filter table ({choice['psnr_mean']:.2f} dB)"
    return "adaptive_median", "no filter table yet (run `mcal filters`): the paper's choice"


@click.command()
@DATA
@CACHE
@click.option("--size", type=click.IntRange(8), default=224, show_default=True)
@click.option("--filter", "filter_name", default="auto", show_default=True,
              type=click.Choice(["auto", "adaptive_median", "median", "mean", "none"]))
@click.option("--aspect", type=click.Choice(["stretch", "pad"]), default=None,
              help="stretch as the paper does [default], or pad to a square first; not with "
                   "--spacing-mm.")
@click.option("--spacing-mm", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Fixed spacing: resample every crop to this many mm per pixel from its "
                   "DICOM PixelSpacing (cv2.INTER_AREA when shrinking), then centre-crop or "
                   "zero-pad to --size; every ROI keeps one physical scale. Default: none, the "
                   "paper's stretch of every ROI to --size.")
@click.option("--assume-spacing-mm", type=click.FloatRange(min=0, min_open=True), default=None,
              help="With --spacing-mm: the spacing of files without PixelSpacing (e.g. 0.05). "
                   "Default: none, such files are quarantined with the reason.")
@click.option("--no-artifacts", is_flag=True, help="Skip Otsu + morphology artifact removal.")
@click.option("--enhance", type=click.Choice(["none", "tophat"]), default="none",
              show_default=True,
              help="tophat: keep only what is brighter than its surroundings and narrower than "
                   "a disk of --tophat-mm (a white top-hat, after the filter, before resizing).")
@click.option("--tophat-mm", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Radius of the top-hat's disk in mm.")
@click.option("--dtype", type=click.Choice(["uint16", "uint8"]), default="uint16",
              show_default=True)
@WORKERS
@folder_options
def preprocess(data_dir: Path, cache_dir: Path, size: int, filter_name: str, aspect: str | None,
               spacing_mm: float | None, assume_spacing_mm: float | None, no_artifacts: bool,
               dtype: str, workers: int | None, enhance: str, tophat_mm: float,
               **folder: Any) -> None:
    """Clean, filter, resize and cache every ROI (reuses earlier work).

    Resize: the paper's stretch to --size (default), --aspect pad, or --spacing-mm MM (fixed
    physical spacing, then centre-crop/pad to --size). The mode is in the cache's config.json
    (resize_mode, spacing_mm) and its key, so each mode gets its own dataset.
    """
    from preprocessing.cache import build_cache
    from preprocessing.pipeline import PreprocessConfig

    if spacing_mm is not None and aspect is not None:
        raise click.UsageError("--aspect does not apply with --spacing-mm (fixed spacing keeps "
                               "the aspect and centre-crops or pads to --size)")
    if assume_spacing_mm is not None and spacing_mm is None:
        raise click.UsageError("--assume-spacing-mm needs --spacing-mm")
    name, reason = chosen_filter(cache_dir, filter_name)
    console.print(f"filter: {name} ({reason})")
    config = PreprocessConfig(size=size, filter=name, aspect=aspect or "stretch",
                              artifacts=not no_artifacts, dtype=dtype, spacing_mm=spacing_mm,
                              spacing_fallback_mm=assume_spacing_mm, enhance=enhance,
                              tophat_mm=tophat_mm)
    console.print(f"resize: {config.resize_mode} to {size} x {size} px")
    index = load_index(data_dir, **folder)
    if index.layout == "kaggle-jpeg" and spacing_mm is not None and assume_spacing_mm is None:
        raise click.UsageError(KAGGLE_NO_SPACING)
    result = build_cache(index, cache_dir, config, workers=workers,
                         notes={"filter_reason": reason})
    if result.stale_removed:
        console.print(f"removed {result.stale_removed} temporary files or folders left by an "
                      "interrupted earlier run")
    print_sources(result.source_stats)
    if not result.quarantine.empty:
        print_quarantine(result.quarantine, "preprocess")
    if result.n_rois == 0:
        raise click.ClickException("no ROI could be preprocessed (see the quarantine above)")
    state = "reused as is" if result.reused_dataset else "written"
    console.print(
        f"cache {state}: {result.dataset_dir} ({result.n_rois} ROIs; "
        f"{result.n_processed} processed, {result.n_reused} reused)"
    )

"""Streaming `mcal predict` over a large folder: files/s and peak memory against decoding alone.

Writes N phantom DICOM ROIs (the crops of a small phantom, copied round-robin under new names)
and logs a random-init model into a temporary MLflow store (or uses --model, e.g. the demo's
champion, from the current folder's store). Each measurement runs in a fresh process, on all N
files and on N/4 of them:
  - `mcal predict FOLDER --out CSV` (streamed: read, predicted and written --chunk files at a time)
  - the floor: `pydicom.dcmread(path).pixel_array` over the same files, nothing else
Prints files/s of each (end to end, and marginal: the N/4 run's start-up cost subtracted), the
ratio predict / floor, and each process's peak RSS: bounded memory shows as a peak that does not
grow from N/4 to N files.
Run: python bench/predict_stream.py [--files N] [--model URI] [--chunk C]   (--files 10000: a
large folder)
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from preprocessing.index import build_index
from preprocessing.phantom import generate_phantom


@dataclass(frozen=True)
class Measured:
    files: int
    seconds: float
    peak_rss_mb: float


def peak_rss_mb() -> float:
    """This process's peak RSS since its exec (VmHWM; ru_maxrss would carry the parent's)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def phantom_pool(root: Path, patients: int, scale: float) -> list[Path]:
    """The crops of a small phantom, the ROIs every written file is a copy of."""
    generate_phantom(root, patients=patients, scale=scale, seed=1, workers=1, progress=False,
                     full_images="none")
    return [root / p for p in build_index(root, progress=False).rows["crop_path"]]


def write_rois(pool: list[Path], folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True)
    written = [folder / f"roi_{i:05d}.dcm" for i in range(n)]
    for i, path in enumerate(written):
        shutil.copyfile(pool[i % len(pool)], path)
    return written


def link_first(files: list[Path], folder: Path, n: int) -> None:
    """The first n files in another folder, as hard links (no extra disk)."""
    folder.mkdir(parents=True)
    for path in files[:n]:
        os.link(path, folder / path.name)


def log_random_model(store: Path, arch: str, size: int) -> str:
    """A random-init classifier logged as mcal logs its models; its URI (store: the cwd to use)."""
    import lightning
    import mlflow
    import torch

    from mcal_lightning.models.backbones import build_network
    from mcal_lightning.models.module import CalcClassifier
    from mcal_lightning.quiet import MLFLOW_NOTES, hide_warnings, quiet_libraries
    from mcal_lightning.tracking.pyfunc import log_pyfunc
    from mcal_lightning.tracking.store import use_tracking
    from preprocessing.pipeline import PreprocessConfig

    quiet_libraries()
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # the new store's table notes
    torch.manual_seed(0)
    module = CalcClassifier(build_network(arch, weights="none", head_hidden=8))
    checkpoint = store / "checkpoint.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": lightning.__version__}, checkpoint)
    here = Path.cwd()
    os.chdir(store)
    try:
        use_tracking()
        with mlflow.start_run(), hide_warnings(*MLFLOW_NOTES):
            return log_pyfunc(checkpoint, PreprocessConfig(size=size).as_dict()).model_uri
    finally:
        os.chdir(here)


def measure_predict(folder: Path, model: str, chunk: int, out: Path) -> None:
    from mcal.cli import main

    main(["predict", "--model", model, str(folder), "--out", str(out), "--chunk", str(chunk)],
         standalone_mode=False)


def measure_floor(folder: Path) -> None:
    import pydicom

    for path in sorted(folder.iterdir()):
        pydicom.dcmread(path).pixel_array  # noqa: B018 - decoding is what is measured


def worker(args: argparse.Namespace) -> None:
    """One measurement in this process; its result as JSON in args.result."""
    start = time.perf_counter()
    if args.measure == "predict":
        measure_predict(args.folder, args.model, args.chunk, args.out)
    else:
        measure_floor(args.folder)
    seconds = time.perf_counter() - start
    files = sum(1 for _ in args.folder.iterdir())
    args.result.write_text(json.dumps({"files": files, "seconds": seconds,
                                       "peak_rss_mb": peak_rss_mb()}))


def run_worker(kind: str, folder: Path, model: str, chunk: int, cwd: Path,
               scratch: Path) -> Measured:
    result, out = scratch / f"{kind}_{folder.name}.json", scratch / f"{folder.name}.csv"
    command = [sys.executable, __file__, "--measure", kind, "--folder", str(folder),
               "--model", model, "--chunk", str(chunk), "--out", str(out), "--result", str(result)]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} on {folder} failed:\n{done.stderr[-3000:]}")
    if kind == "predict":
        check_predictions(out, folder)
    return Measured(**json.loads(result.read_text()))


def check_predictions(out: Path, folder: Path) -> None:
    import pandas as pd

    table = pd.read_csv(out, keep_default_na=False)
    expected = sum(1 for _ in folder.iterdir())
    if len(table) != expected or (table["error"] != "").any():
        raise SystemExit(f"{out}: {len(table)} rows for {expected} files, "
                         f"{(table['error'] != '').sum()} with an error")


def report(name: str, full: Measured, quarter: Measured) -> tuple[float, float]:
    """Print one peer's line; its files/s end to end and marginal."""
    end_to_end = full.files / full.seconds
    marginal = (full.files - quarter.files) / max(full.seconds - quarter.seconds, 1e-9)
    print(f"  {name:<30} {end_to_end:8.1f} files/s end to end, "
          f"{marginal:8.1f} marginal; peak RSS {quarter.peak_rss_mb:7.1f} MB at "
          f"{quarter.files} files, {full.peak_rss_mb:7.1f} MB at {full.files} "
          f"({full.peak_rss_mb - quarter.peak_rss_mb:+.1f} MB)")
    return end_to_end, marginal


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--model", help="a logged model's URI [default: a random-init one]")
    parser.add_argument("--arch", default="alexnet", help="of the random-init model")
    parser.add_argument("--size", type=int, default=64, help="the random-init model's input px")
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument("--patients", type=int, default=8, help="phantom patients of the pool")
    parser.add_argument("--scale", type=float, default=0.5, help="phantom scale of the pool")
    # one measurement in a fresh process (the bench calls itself)
    parser.add_argument("--measure", choices=["predict", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse()
    if args.measure:
        worker(args)
        return
    print(f"predict streaming  {datetime.date.today()}  {platform.platform()}, "
          f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pool = phantom_pool(root / "phantom", args.patients, args.scale)
        files = write_rois(pool, root / "all", args.files)
        quarter_n = max(1, args.files // 4)
        link_first(files, root / "quarter", quarter_n)
        size_mb = sum(p.stat().st_size for p in pool) / len(pool) / 1e6
        print(f"{args.files} DICOM ROIs, copies of {len(pool)} phantom crops at scale "
              f"{args.scale} ({size_mb:.3f} MB each on average); chunk {args.chunk}")
        cwd = Path.cwd()
        if args.model is None:
            args.model, cwd = log_random_model(root, args.arch, args.size), root
            print(f"model: random-init {args.arch}, {args.size} px (logged in a temporary store)")
        else:
            print(f"model: {args.model}")
        rates = {}
        for kind, name in (("predict", "mcal predict --out (streamed)"),
                           ("floor", "pydicom dcmread + pixel_array")):
            quarter, full = (run_worker(kind, root / folder, args.model, args.chunk, cwd, root)
                             for folder in ("quarter", "all"))
            rates[kind] = report(name, full, quarter)
    (predict_end, predict_marginal), (floor_end, floor_marginal) = rates["predict"], rates["floor"]
    print(f"ratio predict / floor, files/s: {predict_end / floor_end:.3f} end to end, "
          f"{predict_marginal / floor_marginal:.3f} marginal")


if __name__ == "__main__":
    main()

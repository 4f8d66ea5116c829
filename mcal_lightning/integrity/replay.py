"""``mcal replay-paper``: one model, trained under the paper's protocol and under the honest one.

(a) paper: rot90/180/270 copies of every ROI, then a random 80/20 split of the copies
    (``PaperProtocolDataModule``), scored on that 20%, which is what the paper reported;
(b) honest: the normal ``train()``, patient-grouped train/val, scored on the official test split
    (its grouped val is kept for reference).

Same TrainConfig for both (arch, weights, epochs, seed, learning rates, train augmentation), so
the split is the only difference that is meant. Both are child MLflow runs of one parent run,
which holds the comparison (``replay/comparison.{json,csv,png}``). Neither logs a model: a
model from (a) has seen its own evaluation set and must never be registered. The leakage audit
runs on (a) in "warn" mode: it finds the leak (that is the point) and its findings are logged
into (a)'s run instead of stopping it; (b) keeps the configured audit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from mcal_lightning.config import TrainConfig
from mcal_lightning.evaluation.metrics import paper_f1
from mcal_lightning.integrity.memoriser import MEMORISER_METRICS, all_turns, memoriser_scores
from mcal_lightning.integrity.paper_protocol import PaperProtocolDataModule
from mcal_lightning.integrity.paper_reference import SOURCE, reference_scores
from mcal_lightning.integrity.replay_report import (
    INFLATION,
    METRICS,
    comparison_table,
    log_comparison,
)
from mcal_lightning.tracking.runs import child_run, parent_run
from mcal_lightning.train import TrainResult, train
from preprocessing.cache import open_cache, resolve_dataset

PROTOCOL_TAG = "mcal.replay.protocol"
REPLAY_TAG = "mcal.replay"
EVALUATED_ON = {
    "paper": "the random 20% of rotated copies (its val set, as the paper reported)",
    "honest": "the official test split (patients never seen in training)",
}
PRINTED_NOTE = (f"{SOURCE}, for the same architecture, in mcal's naming (malignant = positive; "
                "the paper's positive was benign): recall and specificity swapped, precision "
                "and F1 from the confusion matrix behind its ratios, f1_paper and MCC as "
                "printed; it reported no AUC")
NOTES = {
    "paper": "Paper's protocol (LEAKY on purpose): rot90/180/270 copies of every ROI added "
             "before a random 80/20 split by copy; copies of one ROI and views of one patient "
             "sit in train and in val; the patient guard is bypassed.",
    "honest": "Honest protocol: patient-grouped train/val of the official train split, train "
              "augmentation only, scored on the official test split.",
}


PAPER_AUGMENT = "paper"  # fastai v1's get_transforms(flip_vert=True), unless the config sets one


@dataclass
class Replay:
    parent_run_id: str
    table: pd.DataFrame  # a row per METRICS; paper, honest, inflation in points, paper as printed
    run_ids: dict[str, str]  # "paper" / "honest" -> child run id
    honest_val: dict[str, float]  # (b) on its patient-grouped val split, for reference
    scale: dict[str, Any]  # what was trained on: patients, ROIs, items, arch, epochs, px, init
    memoriser: pd.DataFrame | None = None  # 1-NN on pixels under both splits: the leak itself


def paper_datamodule(config: TrainConfig) -> PaperProtocolDataModule:
    """The paper's data for this config; set up (its split is made here)."""
    datamodule = PaperProtocolDataModule(acknowledge_leakage=True,
                                         **config.datamodule_settings())
    datamodule.setup()
    return datamodule


def run_protocol(config: TrainConfig, parent_id: str, protocol: str, name: str) -> TrainResult:
    """Train one arm into its child run; the run is marked FAILED if training raises."""
    tags = {PROTOCOL_TAG: protocol, "mlflow.note.content": NOTES[protocol]}
    with child_run(parent_id, config.experiment, f"{name}-{protocol}", tags) as run_id:
        if protocol == "honest":
            return train(config, run_id=run_id)
        # the audit's findings in (a) are the evidence, not an error
        return train(replace(config, audit="warn"), run_id=run_id,
                     datamodule=paper_datamodule(config))


def describe_scale(config: TrainConfig, paper: TrainResult) -> dict[str, Any]:
    """The data and training scale, stated beside every result."""
    table, data = paper.datamodule.table, paper.datamodule.describe()
    per_split = table.groupby("split")["row"].size()
    return {"patients": int(table["patient_id"].nunique()), "rois": len(table),
            "rois_official_train": int(per_split.get("train", 0)),
            "rois_official_test": int(per_split.get("test", 0)),
            "paper_items": data["train_items"] + data["val_items"],
            "paper_train_items": data["train_items"], "paper_val_items": data["val_items"],
            "paper_shared_rois": data["train_val_shared_rois"],
            "arch": config.arch, "weights": config.weights, "epochs": config.epochs,
            "image_px": paper.datamodule.image_size, "seed": config.seed,
            "lr_min": config.lr_min, "lr_max": config.lr_max}


def scores(result: TrainResult, stage: str) -> dict[str, float]:
    """METRICS of a split, with F1 by the paper's Equation (15) from the confusion counts."""
    found = result.metrics(stage)
    _, fp, fn, _ = result.module.last_metrics[stage]["confmat"].flatten().tolist()
    found["f1_paper"] = paper_f1(found["recall"], fp, fn)
    return {metric: found[metric] for metric in METRICS}


def replay_paper(config: TrainConfig) -> Replay:
    """Train both protocols as child runs of one parent; log and return the comparison."""
    if config.folds is not None or config.fold is not None:
        raise ValueError("the replay compares single splits: leave folds/fold unset")
    config = replace(config, evaluate_test=True, log_model=False,
                     augment=config.augment or PAPER_AUGMENT)
    resolve_dataset(Path(config.cache))  # no cache: fail before any run exists
    name = config.run_name or "replay-paper"
    with parent_run(config.experiment, name, {REPLAY_TAG: "paper-vs-honest"}) as parent_id:
        honest = run_protocol(config, parent_id, "honest", name)
        paper = run_protocol(config, parent_id, "paper", name)
        replay = Replay(parent_id, comparison(paper, honest, config.arch),
                        {"paper": paper.run_id, "honest": honest.run_id},
                        scores(honest, "val"), describe_scale(config, paper),
                        memoriser_comparison(paper, honest))
        log_parent(replay, paper.datamodule.fingerprint)
    return replay


def comparison(paper: TrainResult, honest: TrainResult, arch: str) -> pd.DataFrame:
    """(a) on its random 20% ("test" there is that same val set), (b) on the official test,
    and what the paper printed for arch."""
    return comparison_table(scores(paper, "test"), scores(honest, "test"),
                            printed=reference_scores(arch))


def memoriser_comparison(paper: TrainResult, honest: TrainResult) -> pd.DataFrame:
    """The 1-NN memoriser under (a) (its train copies vs its 20%) and (b) (train vs test)."""
    images = open_cache(paper.datamodule.cache).images
    leaky, fair = paper.datamodule, honest.datamodule
    leaky_sides = [(leaky.rows[s], leaky.turns[s], leaky.labels_of(leaky.rows[s]))
                   for s in ("train", "test")]
    train_rows, train_turns = all_turns(fair.rows["train"])
    test_rows = fair.rows["test"]
    fair_sides = [(train_rows, train_turns, fair.labels_of(train_rows)),
                  (test_rows, np.zeros(len(test_rows), np.int64), fair.labels_of(test_rows))]
    return comparison_table(memoriser_scores(images, *leaky_sides),
                            memoriser_scores(images, *fair_sides), metrics=MEMORISER_METRICS)


def log_parent(replay: Replay, fingerprint: str) -> None:
    """The parent's params, tags and comparison artifacts."""
    with mlflow.start_run(run_id=replay.parent_run_id):
        mlflow.log_params({**{f"scale.{k}": v for k, v in replay.scale.items()},
                           "data.fingerprint": fingerprint,
                           **{f"evaluated_on.{k}": v for k, v in EVALUATED_ON.items()}})
        mlflow.set_tags({f"{REPLAY_TAG}.{protocol}_run": run_id
                         for protocol, run_id in replay.run_ids.items()})
        for metric, row in replay.table.iterrows():
            mlflow.log_metric(f"inflation_points/{metric}", float(row[INFLATION]))
        details = {"runs": replay.run_ids, "evaluated_on": EVALUATED_ON, "notes": NOTES,
                   "scale": replay.scale, "paper_as_printed": PRINTED_NOTE}
        scale = replay.scale
        title = (f"paper vs honest protocol: {scale['arch']}, {scale['epochs']} epochs, "
                 f"{scale['image_px']} px, {scale['weights']} init, "
                 f"{scale['patients']} patients")
        log_comparison(replay.table, replay.honest_val, details, title)
        if replay.memoriser is not None:
            mlflow.log_text(replay.memoriser.to_csv(), "replay/memoriser.csv")
            for metric, row in replay.memoriser.iterrows():
                mlflow.log_metric(f"memoriser_inflation_points/{metric}", float(row[INFLATION]))

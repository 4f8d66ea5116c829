"""Log trained runs' models as one soft-vote pyfunc (its class is in ensemble_model.py).

Each member is loaded from its run's logged model, the way a user would reload it, and stored
in the ensemble as a weights-only Lightning checkpoint with its calibration temperature.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning
import mlflow
import torch

from mcal_lightning.models.module import CalcClassifier
from mcal_lightning.quiet import MLFLOW_NOTES, hide_warnings
from mcal_lightning.tracking.pyfunc import SIGNATURE, load_model
from mcal_lightning.tracking.store import MODEL_URI_TAG, model_uri

ENSEMBLE_TAG = "mcal.ensemble_members"  # the member run ids, comma-separated


@dataclass(frozen=True)
class Member:
    """One run's model, ready to join an ensemble."""

    run_id: str
    checkpoint: Path
    temperature: float
    preprocess: dict[str, Any]


def save_weights(module: CalcClassifier, path: Path) -> Path:
    """A checkpoint that CalcClassifier.load_from_checkpoint rebuilds (no optimizer state)."""
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": lightning.__version__}, path)
    return path


def load_member(run_id: str, folder: Path) -> Member:
    """The run's logged model as a member: weights under folder, temperature, preprocessing."""
    python_model = load_model(model_uri(run_id)).unwrap_python_model()
    checkpoint = save_weights(python_model.module, folder / f"{run_id}.ckpt")
    preprocess = {**python_model.preprocess.as_dict(), "source_stats": python_model.reference}
    return Member(run_id, checkpoint, float(python_model.temperature), preprocess)


def common_preprocess(members: Sequence[Member]) -> dict[str, Any]:
    """The members' one preprocessing config; ValueError if they learned from different ones."""
    first = members[0].preprocess
    for member in members[1:]:
        if member.preprocess != first:
            raise ValueError(f"run {member.run_id} learned from other preprocessing than run "
                             f"{members[0].run_id}: an ensemble needs one input")
    return first


def log_ensemble(members: Sequence[Member], name: str = "model") -> Any:
    """Log the members' soft vote as a pyfunc into the active run; returns MLflow's ModelInfo."""
    if len(members) < 2:
        raise ValueError(f"an ensemble needs 2 or more members, got {len(members)}")
    with tempfile.TemporaryDirectory(prefix="mcal-ensemble-") as tmp:
        described = Path(tmp, "members.json")
        described.write_text(json.dumps({"members": [
            {"run_id": m.run_id, "temperature": m.temperature} for m in members]}, indent=2))
        preprocess = Path(tmp, "preprocess.json")
        preprocess.write_text(json.dumps(common_preprocess(members), indent=2))
        artifacts = {"members": str(described), "preprocess": str(preprocess),
                     **{f"member_{i}": str(m.checkpoint) for i, m in enumerate(members)}}
        with hide_warnings(*MLFLOW_NOTES):
            return mlflow.pyfunc.log_model(
                name=name, python_model=str(Path(__file__).with_name("ensemble_model.py")),
                signature=SIGNATURE, artifacts=artifacts,
            )


def log_ensemble_run(run_ids: Sequence[str], parent_run_id: str) -> str:
    """A child run of the parent holding the runs' soft-vote model; returns its run id."""
    with tempfile.TemporaryDirectory(prefix="mcal-members-") as tmp:
        members = [load_member(run_id, Path(tmp)) for run_id in run_ids]
        with mlflow.start_run(run_id=parent_run_id), \
                mlflow.start_run(run_name=f"ensemble-top{len(members)}", nested=True) as run:
            mlflow.set_tag(ENSEMBLE_TAG, ",".join(run_ids))
            info = log_ensemble(members)
            mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    return run.info.run_id

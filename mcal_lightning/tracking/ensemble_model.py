"""The soft-vote ensemble's pyfunc class, loaded by MLflow as models-from-code (no pickle).

Artifacts: ``members.json`` (each member's run id and calibration temperature), one checkpoint
per member (``member_0``, ``member_1``, ...) and the members' common ``preprocess`` config. Input,
output and parameters are the single model's (``tracking.pyfunc``); p_malignant is the mean of
the members' calibrated probabilities, so the ensemble itself records no temperature.
"""

import json
from pathlib import Path
from typing import Any

import mlflow

from mcal_lightning.models.ensemble import soft_vote_classifier
from mcal_lightning.models.module import CalcClassifier
from mcal_lightning.tracking.pyfunc_model import CalcPyfunc


class EnsemblePyfunc(CalcPyfunc):
    """CalcPyfunc whose module is the members' soft vote."""

    def load_context(self, context: Any) -> None:
        self.load_preprocess(context)
        members = json.loads(Path(context.artifacts["members"]).read_text())["members"]
        modules = [CalcClassifier.load_from_checkpoint(context.artifacts[f"member_{i}"],
                                                       map_location="cpu")
                   for i in range(len(members))]
        self.module = soft_vote_classifier(modules, [m["temperature"] for m in members])
        self.module.eval()
        self.temperature = 1.0


# importing CalcPyfunc set the single model's class: this file's model is the ensemble
mlflow.models.set_model(EnsemblePyfunc())

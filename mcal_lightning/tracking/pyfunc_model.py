"""The pyfunc class, loaded by MLflow as models-from-code (no pickle).

Defined here rather than in pyfunc.py because MLflow warns about predict's type hints whenever
the class is defined; training imports pyfunc.py and so never pays for it.
"""

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch

from mcal_lightning.models.module import CalcClassifier
from mcal_lightning.models.tta import check_mode, tta_probabilities
from mcal_lightning.tracking.pyfunc import (
    STRICT_REFUSAL,
    THRESHOLD,
    inspect_input,
    preprocess_config,
    rows_of,
    temperature_of,
)
from preprocessing.images import UnreadableImage
from preprocessing.pipeline import process_roi

BATCH = 64


class CalcPyfunc(mlflow.pyfunc.PythonModel):
    """Raw ROI images in; calibrated p_malignant, label, a per-row error and warning out."""

    def load_context(self, context: Any) -> None:
        self.load_preprocess(context)
        self.module = CalcClassifier.load_from_checkpoint(context.artifacts["checkpoint"],
                                                          map_location="cpu")
        self.module.eval()
        self.temperature = temperature_of(context.artifacts)

    def load_preprocess(self, context: Any) -> None:
        """The recorded cache config and the source statistics that inputs are checked against."""
        recorded = json.loads(Path(context.artifacts["preprocess"]).read_text())
        self.preprocess = preprocess_config(recorded)
        self.reference = recorded.get("source_stats") or {}

    def prepared(self, value: Any, strict: bool) -> tuple[np.ndarray, str]:
        """The model's input array and the row's warning (refused under strict)."""
        decoded = inspect_input(value, self.reference)
        warning = "; ".join(decoded.warnings)
        if strict and warning:
            raise UnreadableImage(STRICT_REFUSAL + warning)
        spacing = decoded.spacing  # for a fixed-spacing cache's model
        return process_roi(decoded.image, self.preprocess, pixel_spacing_mm=spacing), warning

    # no type hints: MLflow would read them as a second, conflicting input schema
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        strict = bool((params or {}).get("strict", False))
        tta = check_mode(str((params or {}).get("tta", "none")))
        ready, errors, warnings = {}, {}, {}
        for i, value in enumerate(rows_of(model_input)):
            try:
                ready[i], warnings[i] = self.prepared(value, strict)
            except UnreadableImage as exc:
                errors[i] = str(exc)
        probs = self.probabilities(list(ready.values()), tta)
        n = len(ready) + len(errors)
        result = pd.DataFrame({"p_malignant": np.full(n, np.nan), "label": np.full(n, -1),
                               "error": [errors.get(i, "") for i in range(n)],
                               "warning": [warnings.get(i, "") for i in range(n)]})
        keys = list(ready)
        result.loc[keys, "p_malignant"] = probs
        result.loc[keys, "label"] = (probs >= THRESHOLD).astype(int)
        return result

    @torch.no_grad()
    def probabilities(self, arrays: list[np.ndarray], tta: str = "none") -> np.ndarray:
        if not arrays:
            return np.empty(0)
        scale = np.iinfo(arrays[0].dtype).max
        probs = []
        for start in range(0, len(arrays), BATCH):  # bounded memory for large requests
            unit = np.stack(arrays[start : start + BATCH]).astype(np.float32) / scale
            batch = torch.from_numpy(unit)[:, None]
            found = tta_probabilities(self.module, batch, tta, self.temperature)
            probs.append(found.numpy().astype(float))
        return np.concatenate(probs)


mlflow.models.set_model(CalcPyfunc())

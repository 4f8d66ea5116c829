"""The logged model's schema, input handling and logging (the class is in pyfunc_model.py).

The logged model is an MLflow pyfunc that takes raw images and applies its recorded preprocessing.

Artifacts: the Lightning checkpoint (``checkpoint.ckpt``, which can be trained further with
``CalcClassifier.load_from_checkpoint``), the preprocessing config of the cache it learned from
and ``calibration.json`` ({"temperature": T}, fitted on val; models logged without it use T = 1).
Input: a DataFrame with an ``image`` column holding file bytes (DICOM, PNG, JPEG, PGM) or 2-D
arrays. Output: p_malignant = sigmoid(logit / T), label (1 = malignant), error (empty when the
row worked) and warning (empty when the image looks like what the model learned from: an MG
ROI, grayscale, one frame, spacing and size like the cache's). The parameter strict (default
false) turns every warning into a refusal of its row. The parameter tta ("none", "flips" or
"dihedral"; ``models.tta``) averages the probability over flipped or rotated copies of each ROI.
Models logged before the warning column return the first three columns only, and ignore strict;
models logged before tta do not accept it (``accepts_param`` says which do).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from mcal_lightning.quiet import MLFLOW_NOTES, hide_warnings
from preprocessing.images import UnreadableImage, check_usable, decode_with_spacing
from preprocessing.input_checks import Decoded, decode_for_prediction, reference_warnings
from preprocessing.pipeline import PIPELINE_VERSION, PreprocessConfig

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("binary", "image")]),
    outputs=Schema([ColSpec("double", "p_malignant"), ColSpec("long", "label"),
                    ColSpec("string", "error"), ColSpec("string", "warning")]),
    params=ParamSchema([ParamSpec("strict", "boolean", False), ParamSpec("tta", "string", "none")]),
)
THRESHOLD = 0.5
STRICT_REFUSAL = "refused (strict): "


class UnsupportedModel(ValueError):
    """A model whose preprocessing this installation cannot reproduce."""


def preprocess_config(recorded: dict[str, Any]) -> PreprocessConfig:
    """The recorded cache config, or UnsupportedModel saying why it cannot be reproduced."""
    fields = {f: recorded[f] for f in PreprocessConfig.__dataclass_fields__ if f in recorded}
    if fields.get("version") != PIPELINE_VERSION:
        raise UnsupportedModel(
            f"the model was trained on preprocessing version {fields.get('version')!r}, this "
            f"mcal reproduces version {PIPELINE_VERSION}: install the mcal release it came from"
        )
    try:
        return PreprocessConfig(**fields)
    except (TypeError, ValueError) as exc:
        raise UnsupportedModel(f"the model's preprocessing cannot be reproduced: {exc}") from exc


def as_image(value: Any) -> tuple[np.ndarray, tuple[float, float] | None]:
    """The image and its pixel spacing in mm (a DICOM's; None for arrays and other formats)."""
    if isinstance(value, bytes | bytearray):
        return decode_with_spacing(bytes(value), "")
    array = np.asarray(value)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise UnreadableImage(f"expected file bytes or a 2-D numeric array, got {array.shape}")
    return check_usable(array.astype(np.float32)), None


def inspect_input(value: Any, reference: Mapping[str, Any]) -> Decoded:
    """as_image for prediction: colour and multi-frame converted, every difference a warning."""
    if isinstance(value, bytes | bytearray):
        decoded = decode_for_prediction(bytes(value))
    else:
        decoded = Decoded(*as_image(value), ())
    notes = reference_warnings(decoded, reference)
    return Decoded(decoded.image, decoded.spacing, (*decoded.warnings, *notes))


def rows_of(model_input: Any) -> list[Any]:
    if isinstance(model_input, pd.DataFrame):
        return list(model_input["image"])
    if isinstance(model_input, np.ndarray) and model_input.ndim == 2:
        return [model_input]
    return list(model_input)


def load_model(model_uri: str) -> Any:
    """mlflow.pyfunc.load_model without MLflow's note on predict's type hints (SIGNATURE rules).

    The artifacts are downloaded into a temporary folder that is removed once the model is
    loaded (load_context reads them all): MLflow's own default leaves a copy of the checkpoint
    in the temp dir on every load.
    """
    with hide_warnings(*MLFLOW_NOTES), tempfile.TemporaryDirectory(prefix="mcal-model-") as tmp:
        return mlflow.pyfunc.load_model(model_uri, dst_path=tmp)


def accepts_param(model: Any, name: str) -> bool:
    """Whether the loaded pyfunc's signature takes the parameter (MLflow drops unknown ones)."""
    schema = model.metadata.get_params_schema()
    return schema is not None and name in {param.name for param in schema.params}


def temperature_of(artifacts: Mapping[str, str]) -> float:
    """The recorded calibration temperature; 1 (no rescaling) for models logged without one."""
    if "calibration" not in artifacts:
        return 1.0
    return float(json.loads(Path(artifacts["calibration"]).read_text())["temperature"])


def log_pyfunc(checkpoint: Path, preprocess: dict[str, Any], name: str = "model",
               temperature: float | None = None) -> Any:
    """Log the pyfunc into the active run; returns MLflow's ModelInfo.

    temperature: the calibration T to record with the model (None records none: T = 1).
    """
    with mlflow.utils.file_utils.TempDir() as tmp:
        config_path = Path(tmp.path("preprocess.json"))
        config_path.write_text(json.dumps(preprocess, indent=2))
        artifacts = {"checkpoint": str(checkpoint), "preprocess": str(config_path)}
        if temperature is not None:
            calibration = Path(tmp.path("calibration.json"))
            calibration.write_text(json.dumps({"temperature": temperature, "fitted_on": "val"}))
            artifacts["calibration"] = str(calibration)
        with hide_warnings(*MLFLOW_NOTES):
            return mlflow.pyfunc.log_model(
                name=name, python_model=str(Path(__file__).with_name("pyfunc_model.py")),
                signature=SIGNATURE, artifacts=artifacts,
            )

"""A model logged before the subpackage move still loads from the registry and predicts.

A logged model keeps its own copy of ``pyfunc_model.py``; one logged before the move imports
``mcal_lightning.pyfunc`` and ``mcal_lightning.module``. The fixture is that file exactly as mcal
logged it then (commit a82970e), so the old names must stay importable.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import lightning
import mlflow
import numpy as np
import pandas as pd
import torch

from mcal_lightning.models.module import CalcClassifier
from mcal_lightning.quiet import MLFLOW_NOTES, hide_warnings
from mcal_lightning.tracking.pyfunc import SIGNATURE, load_model
from mcal_lightning.tracking.pyfunc_model import CalcPyfunc
from mcal_lightning.tracking.store import use_tracking
from preprocessing.pipeline import PreprocessConfig
from tests.mcal_lightning.networks_support import random_network
from tests.mcal_lightning.sweeps_support import local_tracking

OLD_CODE = Path(__file__).with_name("fixtures") / "pyfunc_model_before_subpackages.py.txt"
NAME = "mcal-calc-before-move"


def tiny_checkpoint(path: Path) -> Path:
    """A Lightning checkpoint of an untrained AlexNet-bodied classifier (a few MB)."""
    module = CalcClassifier(random_network("alexnet"))
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": lightning.__version__}, path)
    return path


def test_old_imports_are_in_the_fixture():
    code = OLD_CODE.read_text()
    assert "from mcal_lightning.pyfunc import" in code
    assert "from mcal_lightning.module import CalcClassifier" in code


def test_a_model_registered_before_the_move_loads_and_predicts(tmp_path: Path):
    checkpoint = tiny_checkpoint(tmp_path / "checkpoint.ckpt")
    preprocess = tmp_path / "preprocess.json"
    preprocess.write_text(json.dumps(PreprocessConfig(size=32).as_dict()))
    old_code = tmp_path / "pyfunc_model.py"
    old_code.write_text(OLD_CODE.read_text())
    images = [np.random.default_rng(i).integers(0, 4096, (40, 48)).astype(np.float32)
              for i in range(3)]
    artifacts = {"checkpoint": str(checkpoint), "preprocess": str(preprocess)}
    with local_tracking(tmp_path), hide_warnings(*MLFLOW_NOTES):
        use_tracking()  # ./mlruns, where mcal logged it
        with mlflow.start_run():
            mlflow.pyfunc.log_model(name="model", python_model=str(old_code), signature=SIGNATURE,
                                    artifacts=artifacts, pip_requirements=["mcal"],
                                    registered_model_name=NAME)
        old = load_model(f"models:/{NAME}/1").predict(pd.DataFrame({"image": images}))
    today = CalcPyfunc()
    today.load_context(SimpleNamespace(artifacts=artifacts))
    new = today.predict(None, pd.DataFrame({"image": images}))
    assert list(old["error"]) == ["", "", ""]
    assert old["p_malignant"].between(0, 1).all()
    assert list(new["warning"]) == ["", "", ""]  # arrays of a usual size: nothing to flag
    # the same weights, read and scored the same way; today's model adds the warning column
    pd.testing.assert_frame_equal(old, new.drop(columns="warning"))

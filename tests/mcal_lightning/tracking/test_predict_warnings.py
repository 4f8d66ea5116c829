"""The warning column: input unlike what the model learned from is flagged, or refused (strict)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
from pydicom.data import get_testdata_file

from mcal_lightning.quiet import MLFLOW_NOTES, hide_warnings
from mcal_lightning.tracking.predict import predict_files
from mcal_lightning.tracking.pyfunc import SIGNATURE, load_model, log_pyfunc
from mcal_lightning.tracking.pyfunc_model import CalcPyfunc
from mcal_lightning.tracking.store import use_tracking
from preprocessing.pipeline import PreprocessConfig
from tests.conftest import write_dicom
from tests.mcal_lightning.sweeps_support import local_tracking
from tests.mcal_lightning.tracking.test_logged_before_move import tiny_checkpoint

BEFORE_WARNINGS = Path(__file__).with_name("fixtures") / "pyfunc_model_before_warnings.py.txt"
STATS = {"n": 10, "pixel_spacing_mm": 0.05, "short_side_px_p05": 40.0}
ROI = (np.random.default_rng(0).integers(0, 4096, (48, 56))).astype(np.uint16)


def corpus(name: str) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Path(get_testdata_file(name, download=False)).read_bytes()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("model")
    preprocess = root / "preprocess.json"
    preprocess.write_text(json.dumps({**PreprocessConfig(size=32).as_dict(),
                                      "source_stats": STATS}))
    return {"checkpoint": str(tiny_checkpoint(root / "checkpoint.ckpt")),
            "preprocess": str(preprocess)}


@pytest.fixture(scope="module")
def model(artifacts: dict[str, str]) -> CalcPyfunc:
    loaded = CalcPyfunc()
    loaded.load_context(SimpleNamespace(artifacts=artifacts))
    return loaded


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("inputs")
    return {
        "mg": write_dicom(root / "mg.dcm", ROI, PixelSpacing=[0.05, 0.05]).read_bytes(),
        "coarse": write_dicom(root / "coarse.dcm", ROI, PixelSpacing=[0.5, 0.5]).read_bytes(),
        "mr": corpus("MR_small.dcm"),
        "rgb": corpus("SC_rgb_rle_2frame.dcm"),
        "palette": corpus("examples_palette.dcm"),
        "tiny": ROI[:12, :12].astype(np.float32),
    }


EXPECTED = {
    "mg": [],
    "coarse": ["pixel spacing 0.5 mm, the training images' 0.05 mm"],
    "mr": ["Modality MR, not MG"],
    "rgb": ["Modality OT", "multi-frame (2 frames)", "colour (RGB) converted to gray by luminance"],
    "palette": ["Modality US", "palette colour converted to gray by luminance"],
    "tiny": ["image 12x12 px, much smaller than the training ROIs"],
}


def test_each_kind_of_unfamiliar_input_gets_its_warning(model: CalcPyfunc, inputs: dict):
    out = model.predict(None, pd.DataFrame({"image": list(inputs.values())}))
    assert list(out.columns) == ["p_malignant", "label", "error", "warning"]
    assert (out["error"] == "").all() and out["p_malignant"].between(0, 1).all()
    for (name, expected), warning in zip(EXPECTED.items(), out["warning"], strict=True):
        assert all(e in warning for e in expected), (name, warning)
        assert (warning == "") == (not expected), (name, warning)


def test_strict_refuses_every_warned_row(model: CalcPyfunc, inputs: dict):
    out = model.predict(None, pd.DataFrame({"image": list(inputs.values())}),
                        params={"strict": True})
    clean = out.index == 0
    assert out.loc[clean, "p_malignant"].notna().all() and out.loc[clean, "error"].eq("").all()
    refused = out.loc[~clean]
    assert refused["p_malignant"].isna().all() and (refused["label"] == -1).all()
    assert refused["error"].str.startswith("refused (strict): ").all()


def test_the_signature_documents_the_warning_column_and_strict():
    outputs = [c.name for c in SIGNATURE.outputs.inputs]
    assert outputs == ["p_malignant", "label", "error", "warning"]
    params = {p.name: p.default for p in SIGNATURE.params.params}
    assert params["strict"] is False


def test_a_logged_model_returns_warnings_through_mlflow(tmp_path: Path, artifacts: dict,
                                                        inputs: dict,
                                                        monkeypatch: pytest.MonkeyPatch):
    # MLflow's requirement inference loads the model again in a new interpreter (seconds of
    # imports); it is MLflow's job, and the training tests log with it. Here: its fallback.
    monkeypatch.setattr(mlflow.models, "infer_pip_requirements",
                        lambda path, flavor, fallback=None, **kwargs: fallback)
    files = []
    for name in ("mg", "mr"):
        files.append(tmp_path / f"{name}.dcm")
        files[-1].write_bytes(inputs[name])
    with local_tracking(tmp_path):
        use_tracking()  # the store predict_files reads
        with mlflow.start_run():
            recorded = json.loads(Path(artifacts["preprocess"]).read_text())
            info = log_pyfunc(Path(artifacts["checkpoint"]), recorded)
        table = predict_files(info.model_uri, files)
        strict = predict_files(info.model_uri, files, strict=True)
    assert table.loc[0, "warning"] == ""
    assert table.loc[1, "warning"] == ("Modality MR, not MG (mammography); pixel spacing "
                                       "0.312 mm, the training images' 0.05 mm")
    assert table["p_malignant"].notna().all()
    assert strict.loc[1, "error"].startswith("refused (strict)")
    assert np.isnan(strict.loc[1, "p_malignant"]) and strict.loc[1, "label"] == ""


def test_a_model_logged_before_the_warning_column_still_loads_and_predicts(
        tmp_path: Path, artifacts: dict, inputs: dict):
    old_code = tmp_path / "pyfunc_model.py"
    old_code.write_text(BEFORE_WARNINGS.read_text())
    old_signature = mlflow.models.ModelSignature(
        inputs=SIGNATURE.inputs,
        outputs=mlflow.types.Schema(SIGNATURE.outputs.inputs[:3]))
    (tmp_path / "mr.dcm").write_bytes(inputs["mr"])
    with local_tracking(tmp_path), hide_warnings(*MLFLOW_NOTES):
        use_tracking()  # the store predict_files reads
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(name="model", python_model=str(old_code),
                                           signature=old_signature, artifacts=artifacts,
                                           pip_requirements=["mcal"])
        model = load_model(info.model_uri)
        for strict in (False, True):
            table = predict_files(info.model_uri, [tmp_path / "mr.dcm"], model=model,
                                  strict=strict)
            assert list(table["warning"]) == [""] and list(table["error"]) == [""]
            assert table["p_malignant"].between(0, 1).all()

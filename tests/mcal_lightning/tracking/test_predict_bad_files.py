"""Bad files never stop a prediction: each gets its own error row, the good ones are predicted."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pandas as pd
import pytest

from mcal_lightning.tracking.predict import found_files, predict_chunks
from mcal_lightning.tracking.pyfunc_model import CalcPyfunc
from preprocessing.pipeline import PreprocessConfig
from tests.conftest import write_dicom
from tests.mcal_lightning.tracking.test_logged_before_move import tiny_checkpoint

ROI = np.random.default_rng(0).integers(0, 4096, (40, 48)).astype(np.uint16)
EMPTY = "empty file (0 bytes)"


@pytest.fixture(scope="module")
def pyfunc(tmp_path_factory: pytest.TempPathFactory) -> CalcPyfunc:
    root = tmp_path_factory.mktemp("model")
    preprocess = root / "preprocess.json"
    preprocess.write_text(json.dumps(PreprocessConfig(size=32).as_dict()))
    loaded = CalcPyfunc()
    loaded.load_context(SimpleNamespace(artifacts={
        "checkpoint": str(tiny_checkpoint(root / "checkpoint.ckpt")),
        "preprocess": str(preprocess)}))
    return loaded


def as_loaded(pyfunc: CalcPyfunc) -> SimpleNamespace:
    """The pyfunc as mlflow.pyfunc.load_model hands it out: predict(frame, params)."""
    return SimpleNamespace(predict=lambda frame, params=None: pyfunc.predict(None, frame, params))


def one_pixel_png() -> bytes:
    ok, encoded = cv2.imencode(".png", np.full((1, 1), 128, np.uint8))
    assert ok
    return encoded.tobytes()


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "rois"
    write_dicom(folder / "good_a.dcm", ROI)
    write_dicom(folder / "sub" / "good_b.dcm", 4095 - ROI)
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    (folder / "one_pixel.png").write_bytes(one_pixel_png())
    return folder


def test_a_mixed_folder_predicts_the_good_files_and_errs_each_bad_one(
        pyfunc: CalcPyfunc, mixed_folder: Path):
    files, skipped = found_files([mixed_folder])
    assert skipped == [mixed_folder / "notes.txt"]  # not named as an image: not a row
    table = pd.concat(predict_chunks(as_loaded(pyfunc), files, chunk=2), ignore_index=True)
    by_name = table.assign(name=table["file"].map(lambda f: Path(f).name)).set_index("name")
    assert sorted(by_name.index) == ["empty.dcm", "empty.png", "good_a.dcm", "good_b.dcm",
                                     "one_pixel.png"]
    good = by_name.loc[["good_a.dcm", "good_b.dcm"]]
    assert (good["error"] == "").all() and good["p_malignant"].between(0, 1).all()
    assert by_name.at["empty.dcm", "error"] == EMPTY == by_name.at["empty.png", "error"]
    assert by_name.at["one_pixel.png", "error"] == "not a 2-D image (shape (1, 1))"
    bad = by_name.drop(good.index)
    assert bad["p_malignant"].isna().all() and (bad["label"] == "").all()


def test_the_model_itself_answers_empty_and_undecodable_bytes_with_an_error(
        pyfunc: CalcPyfunc):
    png = cv2.imencode(".png", (ROI >> 4).astype(np.uint8))[1].tobytes()
    out = pyfunc.predict(None, pd.DataFrame({"image": [b"", b"\x89PNG broken", png]}))
    assert list(out["error"][:2]) == [EMPTY, "not a decodable file: expected DICOM, PNG, "
                                             "JPEG or PGM"]
    assert out.loc[2, "error"] == "" and 0 <= out.loc[2, "p_malignant"] <= 1

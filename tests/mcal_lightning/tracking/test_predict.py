"""predict_chunks: files read and predicted one chunk at a time, only when the caller asks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mcal_lightning.tracking.predict import COLUMNS, predict_chunks, predict_files
from tests.mcal_lightning.tracking.fake_pyfunc import FixedModel

NAMES = [f"roi_{i}.png" for i in range(5)]


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / name for name in NAMES]
    for path in paths:
        path.write_bytes(path.name.encode())
    return paths


def test_each_chunk_is_read_only_when_the_previous_one_was_taken(files: list[Path]):
    asked: list[list[str]] = []
    model = FixedModel({n: 0.1 * i for i, n in enumerate(NAMES)}, on_predict=asked.append)
    chunks = predict_chunks(model, files, chunk=2)
    assert asked == []  # nothing read before the first chunk is wanted
    first = next(chunks)
    assert asked == [NAMES[:2]] and list(first.columns) == COLUMNS
    rest = list(chunks)
    assert asked == [NAMES[:2], NAMES[2:4], NAMES[4:]]
    assert [len(part) for part in [first, *rest]] == [2, 2, 1]


def test_the_chunks_together_are_the_whole_table(files: list[Path], tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # predict_files points MLflow at ./mlruns
    model = FixedModel({n: 0.2 for n in NAMES[1:]})  # roi_0 has no answer: an error row
    streamed = pd.concat(predict_chunks(model, files, chunk=2), ignore_index=True)
    whole = predict_files("runs:/x/model", files, chunk=64, model=model)
    pd.testing.assert_frame_equal(streamed, whole)
    assert streamed.loc[0, "error"] != "" and pd.isna(streamed.loc[0, "p_malignant"])
    assert (streamed.loc[1:, "label"] == "benign").all()


@pytest.mark.parametrize(("strict", "tta", "sent"), [
    (False, "none", [None]), (False, "dihedral", [{"tta": "dihedral"}]),
    (True, "flips", [{"strict": True, "tta": "flips"}]),
])
def test_strict_and_tta_reach_the_model_only_when_asked(files: list[Path], strict: bool,
                                                        tta: str, sent: list):
    class Recording(FixedModel):
        def predict(self, frame: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
            received.append(params)
            return super().predict(frame, params)

    received: list = []
    list(predict_chunks(Recording({n: 0.5 for n in NAMES}), files, chunk=5, strict=strict,
                        tta=tta))
    assert received == sent

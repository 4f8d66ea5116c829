"""A stand-in for the logged pyfunc in ``mcal predict``'s tests: each file holds its own answer.

A file's bytes are its name (after a DICOM preamble for a .dcm, which prediction checks by
name); the model looks the name up in a table of P(malignant), so the CLI's real path (file
discovery, chunks, errors, the CSV) runs without a network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import pytest

from mcal_lightning.tracking import pyfunc

UNREADABLE = "unreadable image: expected DICOM"  # the answer for a name not in the table
WARNING = "Modality MR, not MG (mammography)"  # for names starting with "MR_"
PREAMBLE = b"\0" * 128 + b"DICM"


def fake_content(name: str) -> bytes:
    """What a fake file named name holds: its name, after the DICOM preamble for a .dcm."""
    return (PREAMBLE if Path(name).suffix == ".dcm" else b"") + name.encode()


class FixedModel:
    """predict(frame) as the pyfunc's, answering from probs by the file's content."""

    def __init__(self, probs: Mapping[str, float],
                 on_predict: Callable[[list[str]], None] | None = None) -> None:
        self.probs, self.on_predict = dict(probs), on_predict

    def predict(self, frame: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        names = [bytes(value).removeprefix(PREAMBLE).decode() for value in frame["image"]]
        if self.on_predict is not None:
            self.on_predict(names)
        probs = [self.probs.get(n, float("nan")) for n in names]
        return pd.DataFrame({
            "p_malignant": probs,
            "label": [int(p >= 0.5) if n in self.probs else -1
                      for n, p in zip(names, probs, strict=True)],
            "error": ["" if n in self.probs else UNREADABLE for n in names],
            "warning": [WARNING if n.startswith("MR_") else "" for n in names],
        })


def use_fixed_model(monkeypatch: pytest.MonkeyPatch, model: FixedModel) -> None:
    monkeypatch.setattr(pyfunc, "load_model", lambda uri: model)

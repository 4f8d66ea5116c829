"""Shared fixtures: the ../shared data folder (skipped when absent) and tiny DICOM files."""

from __future__ import annotations

import os
from pathlib import Path

# Before torch is imported (here and in the subprocesses tests start): the tests' tensors are tiny,
# so a second intra-op thread only adds barrier waits, and on a busy machine a starved thread
# makes every op wait for it (a ResNet-50 step at 64 px went from 0.3 s to 7 s on 2 shared cores).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"


def shared_folder(name: str, root: Path = SHARED_DATA) -> Path:
    folder = root / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not present: this test reads the shared data folder beside the repo")
    return folder


@pytest.fixture
def paper_tables_dir() -> Path:
    """The seed paper's tables as CSVs (../shared/paper/tables)."""
    return shared_folder("tables", SHARED / "paper")


@pytest.fixture
def cbis_csv_dir() -> Path:
    return shared_folder("cbis-ddsm-csv")


@pytest.fixture
def mini_mias_dir() -> Path:
    return shared_folder("mini-mias")


def write_dicom(path: Path, pixels: np.ndarray, photometric: str = "MONOCHROME2",
                **tags: object) -> Path:
    """A minimal uncompressed 16-bit MG DICOM; extra tags are set as given."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "MG", "P_00001"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for name, value in tags.items():
        setattr(ds, name, value)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path

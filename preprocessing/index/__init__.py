"""The index of a data folder: one row per usable ROI, one quarantine record per bad one."""

from preprocessing.index.build import build_index
from preprocessing.index.table import Index, NoPatientIds, Quarantine

__all__ = ["Index", "NoPatientIds", "Quarantine", "build_index"]

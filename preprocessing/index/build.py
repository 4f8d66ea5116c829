"""Which index a data folder gets: CBIS-DDSM's (TCIA or Kaggle edition) or a class-folder
layout's."""

from __future__ import annotations

from pathlib import Path

from preprocessing.index.cbis import index_cbis
from preprocessing.index.cbis_csv import find_calc_csvs
from preprocessing.index.folder import find_class_folders, index_folder
from preprocessing.index.kaggle import find_kaggle_csvs, index_kaggle
from preprocessing.index.table import Index


def build_index(data_dir: Path, progress: bool = True, **folder_options: object) -> Index:
    """Index CBIS-DDSM (official CSVs + TCIA layout, or the Kaggle edition's csv/ + jpeg/)
    or a benign/ + malignant/ folder."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder not found: {data_dir}")
    if find_calc_csvs(data_dir):
        return index_cbis(data_dir, progress=progress)
    if find_kaggle_csvs(data_dir):
        return index_kaggle(data_dir, progress=progress)
    if find_class_folders(data_dir):
        return index_folder(data_dir, progress=progress, **folder_options)  # type: ignore[arg-type]
    raise ValueError(
        f"{data_dir}: found neither CBIS-DDSM calc CSVs (calc_case_description_*_set.csv, "
        "at the top or in csv/ as in the Kaggle edition) nor benign/ and malignant/ image "
        "folders"
    )

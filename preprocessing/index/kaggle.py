"""Index CBIS-DDSM's Kaggle edition: csv/ (the calc CSVs and dicom_info.csv) + jpeg/.

The case CSVs keep TCIA's paths (case/StudyInstanceUID/SeriesInstanceUID/000000.dcm); the
images are 8-bit JPEGs at jpeg/<SeriesInstanceUID>/1-N.jpg, one dicom_info.csv row each. A
CSV row reaches its crop and mask through the series folder of its crop and mask paths; which
JPEG is the crop is told as for DICOM (by shape against the full image, else by content),
never from the file's number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from preprocessing.images import UnreadableImage, normalise, read_image
from preprocessing.index.cbis import index_table, read_calc_tables, roi_id_of, split_crop_and_mask
from preprocessing.index.cbis_csv import PATHOLOGY_TO_LABEL, find_calc_csvs
from preprocessing.index.csv_files import read_csv_named
from preprocessing.index.paths import inside_data_folder
from preprocessing.index.table import Index, Quarantine

KAGGLE_CSV_DIR, DICOM_INFO_NAME, JPEG_DIR = "csv", "dicom_info.csv", "jpeg"
LAYOUT = "kaggle-jpeg"
# Only these columns are read: dicom_info.csv also carries PatientName, PatientBirthDate etc.
INFO_COLUMNS = ("image_path", "SeriesInstanceUID", "SeriesDescription", "Rows", "Columns")
FULL_DESCRIPTION = "full mammogram images"
# A mask after lossy JPEG: not two values, but nearly every pixel near the darkest or brightest.
MASK_EDGE, MASK_SHARE = 0.1, 0.98


@dataclass(frozen=True)
class ListedImage:
    """One dicom_info.csv row: the JPEG's path in the data folder, its series description
    and (rows, columns) as listed (None: not given)."""

    rel: str
    description: str
    shape: tuple[int, int] | None


def find_kaggle_csvs(data_dir: Path) -> dict[str, Path]:
    """The official calc CSVs in data_dir/csv, as the Kaggle edition ships them."""
    return find_calc_csvs(data_dir / KAGGLE_CSV_DIR)


def local_rel(image_path: str) -> str:
    """dicom_info's image_path (CBIS-DDSM/jpeg/<series>/1-1.jpg) from its jpeg/ folder on."""
    parts = PurePosixPath(image_path.strip().replace("\\", "/")).parts
    starts = [i for i, part in enumerate(parts) if part == JPEG_DIR]
    return "/".join(parts[starts[-1]:] if starts else parts)


def listed_shape(rows: str, cols: str) -> tuple[int, int] | None:
    try:
        return int(float(rows)), int(float(cols))
    except ValueError:
        return None


def read_dicom_info(path: Path) -> dict[str, list[ListedImage]]:
    """The images of each SeriesInstanceUID, in file order."""
    header = read_csv_named(path, nrows=0).columns
    missing = [c for c in INFO_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}: not the Kaggle edition's dicom_info.csv, missing columns "
                         f"{missing}")
    frame = read_csv_named(path, usecols=list(INFO_COLUMNS), dtype=str, keep_default_na=False)
    by_series: dict[str, list[ListedImage]] = {}
    for row in frame.itertuples(index=False):
        image = ListedImage(local_rel(row.image_path), row.SeriesDescription.strip(),
                            listed_shape(row.Rows, row.Columns))
        by_series.setdefault(row.SeriesInstanceUID.strip(), []).append(image)
    return by_series


def series_of(csv_path: str) -> str:
    """The SeriesInstanceUID a CSV path names: the folder holding its .dcm file."""
    parts = PurePosixPath(csv_path.replace("\\", "/")).parts
    if parts and parts[-1].lower().endswith(".dcm"):
        parts = parts[:-1]
    return parts[-1] if parts else ""


def nearly_binary(image: np.ndarray) -> bool:
    """Nearly every pixel near the darkest or brightest value: a mask, JPEG ringing and all."""
    unit = normalise(image)
    return float(((unit <= MASK_EDGE) | (unit >= 1 - MASK_EDGE)).mean()) >= MASK_SHARE


@dataclass
class SeriesLookup:
    data_dir: Path
    by_series: dict[str, list[ListedImage]]

    def roi_images(self, row: pd.Series) -> list[ListedImage]:
        """The crops and masks listed for the series of the row's crop and mask paths."""
        series = dict.fromkeys(series_of(row[c]) for c in ("crop_path", "mask_path"))
        return [image for uid in series for image in self.by_series.get(uid, [])
                if image.description != FULL_DESCRIPTION]

    def full_image(self, row: pd.Series) -> ListedImage | None:
        listed = self.by_series.get(series_of(row["image_path"]), [])
        return listed[0] if len(listed) == 1 else None

    def path(self, image: ListedImage) -> Path:
        """The listed JPEG's file, resolved; OutsideDataFolder when it leaves the data folder."""
        return inside_data_folder(self.data_dir.resolve(), image.rel)


def index_kaggle_row(row: pd.Series, lookup: SeriesLookup) -> dict[str, object]:
    """One CSV row to one index record; raises UnreadableImage naming the reason."""
    if row["pathology"] not in PATHOLOGY_TO_LABEL:
        raise UnreadableImage(f"unknown pathology {row['pathology']!r}")
    listed = lookup.roi_images(row)
    if not listed:
        raise UnreadableImage(f"the series of the crop and mask paths is not in "
                              f"{DICOM_INFO_NAME}")
    paths = [lookup.path(image) for image in listed]
    absent = [image.rel for image, path in zip(listed, paths, strict=True) if not path.is_file()]
    if absent:
        raise UnreadableImage(f"missing file: {absent[0]}")
    if len(listed) != 2:
        images = f"{len(listed)} image" + ("s" if len(listed) > 1 else "")
        raise UnreadableImage(f"{DICOM_INFO_NAME} lists {images} for the crop and mask series, "
                              "not a crop and a mask")
    by_path = dict(zip(paths, listed, strict=True))
    full = lookup.full_image(row)
    crop, mask = split_crop_and_mask(list(by_path), full.shape if full else None,
                                     shape_of=lambda f: by_path[f].shape,
                                     looks_binary=nearly_binary)
    read_image(crop)  # truncated, non-image and blank crops fail here, not in the cache
    record = row.to_dict()
    record.update(
        roi_id=roi_id_of(row), label=PATHOLOGY_TO_LABEL[row["pathology"]],
        crop_path=by_path[crop].rel, mask_path=by_path[mask].rel,
        image_path=full.rel if full else row["image_path"], source_format=LAYOUT,
    )
    return record


def index_kaggle(data_dir: Path, progress: bool = True) -> Index:
    info = data_dir / KAGGLE_CSV_DIR / DICOM_INFO_NAME
    if not info.is_file():
        raise ValueError(f"{data_dir / KAGGLE_CSV_DIR}: the calc CSVs are there but not "
                         f"{DICOM_INFO_NAME}, the Kaggle edition's list of its JPEGs, through "
                         "which the CSV paths are resolved")
    lookup, quarantine = SeriesLookup(data_dir, read_dicom_info(info)), Quarantine()
    rows = index_table(read_calc_tables(data_dir / KAGGLE_CSV_DIR, quarantine),
                       lambda row: index_kaggle_row(row, lookup), progress, quarantine)
    return Index(rows, quarantine.frame(), data_dir, LAYOUT)

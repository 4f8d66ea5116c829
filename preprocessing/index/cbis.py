"""Index CBIS-DDSM: official calc CSVs + the TCIA folder layout, crop told from mask by content."""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from preprocessing.images import UnreadableImage, dicom_shape, read_image
from preprocessing.index.cbis_csv import PATHOLOGY_TO_LABEL, find_calc_csvs, read_calc_csv
from preprocessing.index.csv_files import EmptyCsv
from preprocessing.index.paths import inside_data_folder
from preprocessing.index.table import Index, Quarantine, finish_rows


def case_folder_files(data_dir: Path) -> dict[str, list[Path]]:
    """DICOM files under each case folder, for downloads whose inner folders differ from the CSV."""
    found: dict[str, list[Path]] = defaultdict(list)
    for root, _dirs, files in os.walk(data_dir):
        dcms = [f for f in files if f.lower().endswith(".dcm")]
        if not dcms:
            continue
        rel = Path(root).relative_to(data_dir).parts
        case = next((p for p in rel if p.startswith(("Calc-Training_", "Calc-Test_"))), None)
        if case:
            found[case].extend(Path(root) / f for f in sorted(dcms))
    return found


class PathResolver:
    """CSV paths to files of the data folder, resolved; a path that leaves it is refused."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.root = data_dir.resolve()
        self._by_case: dict[str, list[Path]] | None = None

    def candidates(self, rel: str) -> list[Path]:
        """The file the CSV names, else every DICOM of its case folder (OutsideDataFolder
        when either leaves the data folder)."""
        if not rel:
            return []
        exact = inside_data_folder(self.root, rel)
        if exact.is_file():
            return [exact]
        if self._by_case is None:
            self._by_case = case_folder_files(self.data_dir)
        found = self._by_case.get(Path(rel).parts[0], [])
        return [inside_data_folder(self.root, path) for path in found]

    def rel(self, path: Path) -> str:
        """A resolved candidate's path in the data folder."""
        return path.relative_to(self.root).as_posix()


def short_path(rel: str) -> str:
    """The case folder and the file name of a CSV path, or that the cell is empty."""
    parts = Path(rel).parts
    return f"{parts[0]}/.../{parts[-1]}" if parts else "(empty path cell)"


def is_binary(image: np.ndarray) -> bool:
    return np.unique(image).size <= 2


def split_crop_and_mask(
    files: list[Path], full_shape: tuple[int, int] | None,
    shape_of: Callable[[Path], tuple[int, int] | None] = dicom_shape,
    looks_binary: Callable[[np.ndarray], bool] = is_binary,
    read: Callable[[Path], np.ndarray] = read_image,
) -> tuple[Path, Path]:
    """The mask is binary and as large as the full image; the crop is neither.

    By shape when the full image's is known and exactly one file has it (shape_of: from the
    header, no pixels read). Without the full image, the smaller of two files is the crop when
    its pixels are not binary: the mask, full-image sized, is never decoded. Else by content
    (looks_binary on the decoded pixels of both).
    """
    shapes = {f: shape_of(f) for f in files}
    if full_shape is not None:
        masks = [f for f in files if shapes[f] == full_shape]
        crops = [f for f in files if shapes[f] != full_shape]
        if len(masks) == 1 and len(crops) == 1:
            return crops[0], masks[0]
    elif len(files) == 2 and all(shapes.values()):
        small, large = sorted(files, key=lambda f: np.prod(shapes[f]))
        if np.prod(shapes[small]) < np.prod(shapes[large]) and not looks_binary(read(small)):
            return small, large
    binary = {f: looks_binary(read(f)) for f in files}
    masks = [f for f in files if binary[f]]
    crops = [f for f in files if not binary[f]]
    if len(crops) != 1 or len(masks) != 1:
        found = f"{len(crops)} crops, {len(masks)} masks"
        raise UnreadableImage(f"cannot tell crop from mask ({found})")
    return crops[0], masks[0]


def roi_id_of(row: pd.Series) -> str:
    prefix = "Calc-Training" if row["split"] == "train" else "Calc-Test"
    parts = (prefix, row["patient_id"], row["side"], row["view"], row["abnormality_id"])
    return "_".join(parts)


def index_row(row: pd.Series, resolver: PathResolver) -> dict[str, object]:
    """One CSV row to one index record; raises UnreadableImage naming the reason."""
    if row["pathology"] not in PATHOLOGY_TO_LABEL:
        raise UnreadableImage(f"unknown pathology {row['pathology']!r}")
    fulls = resolver.candidates(row["image_path"])
    full_shape = dicom_shape(fulls[0]) if len(fulls) == 1 else None
    listed = [row["crop_path"], row["mask_path"]]
    files = sorted({f for rel in listed for f in resolver.candidates(rel)})
    if len(files) < 2:
        missing = [rel for rel in listed if not rel or not (resolver.data_dir / rel).is_file()]
        raise UnreadableImage(f"missing file: {short_path((missing or listed)[0])}")
    read_once = functools.cache(read_image)  # the crop's pixels may tell it from the mask
    crop, mask = split_crop_and_mask(files, full_shape, read=read_once)
    read_once(crop)  # truncated, non-image and blank crops fail here, not in the cache
    record = row.to_dict()
    record.update(
        roi_id=roi_id_of(row), label=PATHOLOGY_TO_LABEL[row["pathology"]],
        crop_path=resolver.rel(crop), mask_path=resolver.rel(mask),
        image_path=resolver.rel(fulls[0]) if fulls else row["image_path"], source_format="cbis",
    )
    return record


def read_calc_tables(csv_dir: Path, quarantine: Quarantine) -> pd.DataFrame:
    """Both official calc CSVs in csv_dir as one table (column split: train or test).

    An empty CSV is read as no rows, as if absent: the other split goes on, and a quarantine
    record names the file and the split left out.
    """
    frames = []
    for split, path in find_calc_csvs(csv_dir).items():
        try:
            frames.append(read_calc_csv(path, split))
        except EmptyCsv:
            quarantine.add(f"({split} split)", path.name,
                           f"{path.name} is empty (no header, no rows): the {split} split "
                           "is left out")
    return pd.concat(frames) if frames else pd.DataFrame()


def index_table(table: pd.DataFrame, to_record: Callable[[pd.Series], dict[str, object]],
                progress: bool, quarantine: Quarantine) -> pd.DataFrame:
    """Each CSV row through to_record; a row it refuses (UnreadableImage) joins quarantine."""
    records = []
    for _, row in tqdm(table.iterrows(), total=len(table), desc="index", disable=not progress):
        try:
            records.append(to_record(row))
        except UnreadableImage as exc:
            quarantine.add(roi_id_of(row), row["crop_path"], str(exc))
    return finish_rows(records)


def index_cbis(data_dir: Path, progress: bool = True) -> Index:
    resolver, quarantine = PathResolver(data_dir), Quarantine()
    rows = index_table(read_calc_tables(data_dir, quarantine),
                       lambda row: index_row(row, resolver), progress, quarantine)
    return Index(rows, quarantine.frame(), data_dir, "cbis")

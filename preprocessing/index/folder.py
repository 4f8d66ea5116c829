"""Index a folder of images held the way the paper's users hold data: benign/ and malignant/."""

from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path

from tqdm import tqdm

from preprocessing.images import IMAGE_SUFFIXES, UnreadableImage, read_image
from preprocessing.index.csv_files import read_csv_named
from preprocessing.index.paths import inside_data_folder
from preprocessing.index.table import Index, NoPatientIds, Quarantine, finish_rows

CLASS_FOLDERS = {"benign": 0, "malignant": 1}
UNGROUPED_WARNING = (
    "No patient ids: every image is treated as its own patient. If one patient has several "
    "images (CC and MLO views, several ROIs), copies of that patient can sit on both sides of "
    "the split and the test metrics will be inflated."
)


def find_class_folders(data_dir: Path) -> dict[int, Path]:
    found = {p.name.lower(): p for p in data_dir.iterdir() if p.is_dir()}
    return {label: found[name] for name, label in CLASS_FOLDERS.items() if name in found}


def image_files(folder: Path) -> list[Path]:
    found = (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return sorted(p for p in found if p.is_file())


def patient_from_pattern(pattern: re.Pattern[str], name: str) -> str:
    match = pattern.search(name)
    if match is None:
        return ""
    return match.groupdict().get("patient") or match.group(1 if pattern.groups else 0)


def read_patient_csv(path: Path) -> dict[str, str]:
    """A CSV with columns `file` (name or relative path) and `patient_id`."""
    table = read_csv_named(path, dtype=str, keep_default_na=False)
    if not {"file", "patient_id"} <= set(table.columns):
        raise ValueError(f"{path}: the patient CSV needs the columns 'file' and 'patient_id'")
    return dict(zip(table["file"].str.strip(), table["patient_id"].str.strip(), strict=True))


def split_of(patient_id: str, test_fraction: float) -> str:
    """Grouped and stable: a patient's side depends on its id alone, so new data never moves it."""
    digest = hashlib.sha256(patient_id.encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


def assign_patients(
    rel_paths: list[str], pattern: str | None, patient_csv: Path | None
) -> list[str]:
    if patient_csv is not None:
        lookup = read_patient_csv(patient_csv)
        return [lookup.get(rel, lookup.get(Path(rel).name, "")) for rel in rel_paths]
    if pattern is not None:
        compiled = re.compile(pattern)
        return [patient_from_pattern(compiled, Path(rel).name) for rel in rel_paths]
    return ["" for _ in rel_paths]


def index_folder(
    data_dir: Path,
    patient_pattern: str | None = None,
    patient_csv: Path | None = None,
    allow_ungrouped: bool = False,
    test_fraction: float = 0.2,
    progress: bool = True,
) -> Index:
    files = [(f, label) for label, folder in find_class_folders(data_dir).items()
             for f in image_files(folder)]
    rels = [f.relative_to(data_dir).as_posix() for f, _ in files]
    patients = assign_patients(rels, patient_pattern, patient_csv)
    if not any(patients):
        if not allow_ungrouped:
            raise NoPatientIds(
                "no patient ids: a split by row can put one patient on both sides and inflate "
                "every metric. Give --patient-pattern REGEX or --patient-csv FILE, or accept the "
                "risk explicitly with --allow-ungrouped."
            )
        warnings.warn(UNGROUPED_WARNING, stacklevel=2)
        patients = [f"IMG_{Path(rel).with_suffix('').as_posix()}" for rel in rels]
    quarantine, records, root = Quarantine(), [], data_dir.resolve()
    iterator = zip(files, rels, patients, strict=True)
    for (_, label), rel, patient in tqdm(iterator, total=len(files), desc="index",
                                         disable=not progress):
        roi_id = Path(rel).with_suffix("").as_posix()
        try:
            check_file(root, rel, patient)
        except UnreadableImage as exc:
            quarantine.add(roi_id, rel, str(exc))
            continue
        records.append({
            "roi_id": roi_id, "patient_id": patient, "label": label, "crop_path": rel,
            "pathology": "MALIGNANT" if label else "BENIGN", "source_format": "folder",
            "split": split_of(patient, test_fraction),
        })
    return Index(finish_rows(records), quarantine.frame(), data_dir, "folder")


def check_file(root: Path, rel: str, patient: str) -> None:
    """UnreadableImage unless the file stays in the data folder, has a patient and decodes."""
    path = inside_data_folder(root, rel)  # a symlink out of the data folder is never opened
    if not patient:
        raise UnreadableImage("no patient id for this file")
    read_image(path)

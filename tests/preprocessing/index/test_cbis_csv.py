from pathlib import Path

import pytest

from preprocessing.index.cbis_csv import CALC_COLUMNS, PATHOLOGY_TO_LABEL, read_calc_csv


@pytest.mark.parametrize(
    ("name", "split", "rows", "patients"),
    [("calc_case_description_train_set.csv", "train", 1546, 602),
     ("calc_case_description_test_set.csv", "test", 326, 151)],
)
def test_real_csv_counts(cbis_csv_dir: Path, name: str, split: str, rows: int, patients: int):
    frame = read_calc_csv(cbis_csv_dir / name, split)
    assert len(frame) == rows
    assert frame["patient_id"].nunique() == patients
    assert set(frame["split"]) == {split}
    assert set(frame["pathology"]) <= set(PATHOLOGY_TO_LABEL)


def test_embedded_newlines_are_stripped(cbis_csv_dir: Path):
    raw = (cbis_csv_dir / "calc_case_description_train_set.csv").read_text()
    assert '.dcm\n"' in raw, "the official file carries newlines inside quoted path cells"
    frame = read_calc_csv(cbis_csv_dir / "calc_case_description_train_set.csv", "train")
    for column in ("image_path", "crop_path", "mask_path"):
        assert not frame[column].str.contains("\n").any()
        assert frame[column].str.endswith(".dcm").all()


def test_official_patients_do_not_cross_splits(cbis_csv_dir: Path):
    train = read_calc_csv(cbis_csv_dir / "calc_case_description_train_set.csv", "train")
    test = read_calc_csv(cbis_csv_dir / "calc_case_description_test_set.csv", "test")
    assert not set(train["patient_id"]) & set(test["patient_id"])


def test_mass_csv_is_refused_with_the_missing_columns(cbis_csv_dir: Path):
    with pytest.raises(ValueError, match="calc type"):
        read_calc_csv(cbis_csv_dir / "mass_case_description_train_set.csv", "train")


def test_header_constant_matches_the_official_file(cbis_csv_dir: Path):
    header = (cbis_csv_dir / "calc_case_description_test_set.csv").read_text().splitlines()[0]
    assert tuple(header.split(",")) == CALC_COLUMNS

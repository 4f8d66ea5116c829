import numpy as np
import pandas as pd
import pytest

from mcal_lightning.data.splits import (
    LeakageError,
    assert_no_patient_overlap,
    grouped_folds,
    official_rows,
    split_counts,
    train_val_split,
)

SEEDS = (0, 1, 2, 7, 42)


def make_table(n_patients: int = 80, seed: int = 0) -> pd.DataFrame:
    """1-4 ROIs per patient, ~35% malignant patients, ~20% of patients in the official test."""
    rng = np.random.default_rng(seed)
    records = []
    for p in range(n_patients):
        label = int(rng.random() < 0.35)
        split = "test" if rng.random() < 0.2 else "train"
        for _ in range(rng.integers(1, 5)):
            records.append({"patient_id": f"P{p:04d}", "label": label, "split": split})
    table = pd.DataFrame(records)
    table.insert(0, "row", range(len(table)))
    return table


def patients_of(table: pd.DataFrame, rows: np.ndarray) -> set[str]:
    return set(table.set_index("row").loc[rows, "patient_id"])


def malignant_fraction(table: pd.DataFrame, rows: np.ndarray) -> float:
    return float(table.set_index("row").loc[rows, "label"].mean())


@pytest.mark.parametrize("seed", SEEDS)
def test_train_val_split_is_grouped_and_covers_the_official_train_split(seed: int):
    table = make_table()
    train, val = train_val_split(table, 0.2, seed)
    test = official_rows(table, "test")
    assert not patients_of(table, train) & patients_of(table, val)
    assert not (patients_of(table, train) | patients_of(table, val)) & patients_of(table, test)
    combined = np.concatenate([train, val])
    assert len(combined) == len(set(combined))  # every row exactly once
    assert set(combined) == set(official_rows(table, "train"))
    assert 0.1 < len(val) / len(combined) < 0.3
    assert_no_patient_overlap(table, train=train, val=val, test=test)


def test_seeds_give_different_validation_sets():
    table = make_table()
    vals = {tuple(train_val_split(table, 0.2, seed)[1]) for seed in SEEDS}
    assert len(vals) > 1


@pytest.mark.parametrize("seed", SEEDS)
def test_stratification_keeps_the_malignant_fraction_of_val_near_train(seed: int):
    table = make_table(n_patients=150, seed=seed)
    train, val = train_val_split(table, 0.2, seed)
    assert abs(malignant_fraction(table, val) - malignant_fraction(table, train)) < 0.1


@pytest.mark.parametrize("k", [3, 5])
def test_grouped_folds_partition_the_train_split_by_patient(k: int):
    table = make_table()
    folds = grouped_folds(table, k, seed=3)
    train_rows = set(official_rows(table, "train"))
    assert len(folds) == k
    held_out = np.concatenate([val for _, val in folds])
    assert len(held_out) == len(set(held_out)) and set(held_out) == train_rows
    for fit, val in folds:
        assert set(fit) | set(val) == train_rows and not set(fit) & set(val)
        assert not patients_of(table, fit) & patients_of(table, val)
        assert_no_patient_overlap(table, train=fit, val=val, test=official_rows(table, "test"))


def test_too_few_patients_for_the_folds_is_an_error():
    table = make_table(n_patients=3)
    with pytest.raises(ValueError, match="too few"):
        grouped_folds(table, 10, seed=0)


def test_the_guard_names_the_patient_and_both_sides():
    table = make_table()
    train, val = train_val_split(table, 0.2, 0)
    leaked_row = int(val[0])
    leaked_patient = table.loc[table["row"] == leaked_row, "patient_id"].item()
    with pytest.raises(LeakageError) as error:
        assert_no_patient_overlap(table, train=np.append(train, leaked_row), val=val)
    message = str(error.value)
    assert leaked_patient in message and "'train'" in message and "'val'" in message


def test_the_guard_names_a_few_patients_then_counts():
    table = make_table()
    train = official_rows(table, "train")
    with pytest.raises(LeakageError, match=r"and \d+ more \(\d+ in all\)"):
        assert_no_patient_overlap(table, train=train, val=train[: len(train) // 2])


def test_the_guard_accepts_frames_and_checks_every_pair():
    table = make_table()
    train = table[table["split"] == "train"]
    test = table[table["split"] == "test"]
    assert_no_patient_overlap(train=train, test=test)
    with pytest.raises(LeakageError, match="'test' and 'extra'"):
        assert_no_patient_overlap(train=train.iloc[:0], test=test, extra=test.iloc[:1])


def test_rows_without_patient_ids_are_refused_unless_allowed():
    table = make_table()
    table.loc[table.index[:3], "patient_id"] = ""
    train, test = official_rows(table, "train"), official_rows(table, "test")
    with pytest.raises(LeakageError, match="no patient id"):
        assert_no_patient_overlap(table, train=train, test=test)
    with pytest.raises(LeakageError, match="no patient id"):
        train_val_split(table)
    with pytest.warns(UserWarning, match="inflated"):
        assert_no_patient_overlap(table, allow_ungrouped=True, train=train, test=test)
    with pytest.warns(UserWarning, match="inflated"):
        fit, val = train_val_split(table, allow_ungrouped=True)
    assert set(fit) | set(val) == set(train)


def test_an_ungrouped_row_on_two_sides_is_still_a_leak():
    table = make_table()
    table.loc[table.index[0], "patient_id"] = ""
    row = int(table["row"].iloc[0])
    with (pytest.warns(UserWarning), pytest.raises(LeakageError, match=f"row-{row}")):
        assert_no_patient_overlap(table, allow_ungrouped=True, a=[row], b=[row])


def test_split_counts_add_up():
    table = make_table()
    train, val = train_val_split(table)
    counts = split_counts(table, {"train": train, "val": val})
    assert counts["train_rois"] == len(train)
    assert counts["train_benign"] + counts["train_malignant"] == len(train)
    assert counts["val_patients"] == len(patients_of(table, val))

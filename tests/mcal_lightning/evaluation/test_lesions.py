"""Lesion-level results: views averaged per (patient, side, abnormality id), CIs by patient."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import matthews_corrcoef, roc_auc_score

from mcal_lightning.evaluation.bootstrap import CI_METRICS, bootstrap_ci
from mcal_lightning.evaluation.lesions import aggregate_lesions, lesion_keys, lesion_result

# P1 has one lesion in two views and one seen in CC only; P2's two views disagree on the label.
VIEWS = pd.DataFrame({
    "patient_id": ["P1", "P1", "P1", "P2", "P2", "P3", "P4", "P4", "P5"],
    "side": ["LEFT", "LEFT", "RIGHT", "LEFT", "LEFT", "RIGHT", "LEFT", "LEFT", "LEFT"],
    "abnormality_id": [1, 1, 1, 2, 2, 1, 1, 1, 1],
    "label": [1, 1, 0, 0, 1, 1, 0, 0, 0],
    "prob": [0.9, 0.5, 0.2, 0.3, 0.6, 0.4, 0.1, 0.7, 0.45],
})


def test_views_of_one_lesion_are_averaged_and_single_views_kept():
    keys = lesion_keys(VIEWS)
    lesions = aggregate_lesions(VIEWS["label"], VIEWS["prob"], VIEWS["patient_id"], keys)
    by_key = lesions.set_index("lesion")
    assert len(lesions) == 6
    assert by_key.loc["P1 LEFT 1", "prob"] == pytest.approx(0.7)
    assert by_key.loc["P1 LEFT 1", "views"] == 2
    assert by_key.loc["P1 RIGHT 1", ["prob", "views", "label"]].tolist() == [0.2, 1, 0]
    assert by_key.loc["P4 LEFT 1", "prob"] == pytest.approx(0.4)
    assert by_key.loc["P2 LEFT 2", ["label", "discordant"]].tolist() == [1, True]
    assert by_key["discordant"].sum() == 1


def test_lesion_metrics_are_the_roi_metrics_of_the_averaged_table():
    keys = lesion_keys(VIEWS)
    result = lesion_result(VIEWS["label"], VIEWS["prob"], VIEWS["patient_id"], keys,
                           n_resamples=200)
    lesions = aggregate_lesions(VIEWS["label"], VIEWS["prob"], VIEWS["patient_id"], keys)
    assert (result.n_rois, result.n_lesions, result.n_multi_view, result.n_discordant) == \
        (9, 6, 3, 1)
    assert result.point["auroc"] == pytest.approx(roc_auc_score(lesions["label"],
                                                                 lesions["prob"]))
    assert result.point["mcc"] == pytest.approx(
        matthews_corrcoef(lesions["label"], lesions["prob"] > 0.5))
    flat = result.as_metrics("test/lesion/")
    assert flat["test/lesion/accuracy"] == pytest.approx(4 / 6)
    assert {f"test/lesion/{name}_ci_low" for name in CI_METRICS} <= set(flat)
    record = result.as_dict()
    assert (record["level"], record["n_lesions"], record["n_rois"]) == ("lesion", 6, 9)


def test_lesion_bootstrap_resamples_patients_not_lesions():
    """P1's two lesions move together: the CIs equal a bootstrap of the lesions by patient."""
    keys = lesion_keys(VIEWS)
    result = lesion_result(VIEWS["label"], VIEWS["prob"], VIEWS["patient_id"], keys,
                           n_resamples=300, seed=3)
    lesions = aggregate_lesions(VIEWS["label"], VIEWS["prob"], VIEWS["patient_id"], keys)
    by_patient = bootstrap_ci(lesions["label"], lesions["prob"], lesions["patient"], 300, 3)
    assert (result.bootstrap.n_patients, result.bootstrap.n_rois) == (5, 6)
    assert result.bootstrap.intervals == by_patient.intervals
    assert result.bootstrap.n_used == by_patient.n_used


def test_rows_without_ids_are_lesions_of_their_own_and_folders_have_no_lesion_level():
    partial = VIEWS.assign(side=["LEFT", "", *VIEWS["side"][2:]])
    keys = lesion_keys(partial)
    assert keys[1] == "roi 1" and keys[0] == "P1 LEFT 1"
    assert lesion_keys(VIEWS.assign(side="", abnormality_id=np.nan)) is None
    assert lesion_keys(VIEWS.drop(columns="side")) is None
    assert lesion_result([0, 1], [0.2, 0.8], ["a", "b"], None) is None

"""``mcal predict --evaluate``: labels from folders or a CSV, patients, CIs printed and saved.

The model is replaced by a fixed table of probabilities (the logged model's own predictions are
tested in tests/mcal_lightning); the file discovery and the chunked prediction are the real ones.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sklearn.metrics import matthews_corrcoef, roc_auc_score

from mcal.cli import main
from tests.mcal_lightning.tracking.fake_pyfunc import FixedModel, use_fixed_model

# file name -> P(malignant); names carry the patient as P<number>_
PROBS = {f"P{p}_{view}.png": prob for p, view, prob in [
    (1, "CC", 0.9), (1, "MLO", 0.8), (2, "CC", 0.3), (2, "MLO", 0.6), (3, "CC", 0.7),
    (4, "CC", 0.2), (4, "MLO", 0.1), (5, "CC", 0.4), (6, "CC", 0.55), (6, "MLO", 0.35),
]}
MALIGNANT = {"P1_CC.png", "P1_MLO.png", "P3_CC.png", "P6_CC.png", "P6_MLO.png"}


@pytest.fixture
def fake_model(monkeypatch):
    use_fixed_model(monkeypatch, FixedModel(PROBS))


def class_folders(root: Path) -> Path:
    """Files under Benign/ and malignant/ (folder names in any case)."""
    for name in PROBS:
        folder = root / ("malignant" if name in MALIGNANT else "Benign")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(name.encode())
    return root


def flat_folder(tmp_path: Path) -> Path:
    """Every file of PROBS in one folder, no class folders: labels must come from a CSV."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in PROBS:
        (flat / name).write_bytes(name.encode())
    return flat


def evaluate_with_csv(flat: Path, labels: Path, metrics_out: Path):
    return CliRunner().invoke(main, ["predict", "--model", "runs:/x/model", str(flat),
                                     "--evaluate", "--labels", str(labels),
                                     "--metrics-out", str(metrics_out)])


def evaluate_with_table(root: Path, labels: pd.DataFrame, tmp_path: Path,
                        name: str = "labels.csv") -> tuple[Result, dict]:
    """Write the labels CSV, predict --evaluate with it; the CLI result and the metrics record."""
    labels.to_csv(tmp_path / name, index=False)
    result = evaluate_with_csv(root, tmp_path / name, tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    return result, json.loads((tmp_path / "m.json").read_text())


def expected(names: list[str]) -> tuple[float, float]:
    labels = [int(n in MALIGNANT) for n in names]
    probs = [PROBS[n] for n in names]
    return roc_auc_score(labels, probs), matthews_corrcoef(labels, np.array(probs) > 0.5)


def test_labels_from_folders_patients_from_pattern(fake_model, tmp_path):
    data = class_folders(tmp_path / "rois")
    out = tmp_path / "predictions.csv"
    result = CliRunner().invoke(main, ["predict", "--model", "runs:/x/model", str(data),
                                       "--out", str(out), "--evaluate",
                                       "--patient-pattern", r"(P\d+)_"])
    assert result.exit_code == 0, result.output
    assert "95% ci" in result.output and "own patient" not in result.output
    record = json.loads((tmp_path / "predictions_metrics.json").read_text())
    assert (record["n_rois"], record["n_patients"]) == (10, 6)
    assert record["patients_from"] == "--patient-pattern"
    auroc, mcc = expected(list(PROBS))
    assert record["metrics"]["auroc"]["point"] == pytest.approx(auroc)
    assert record["metrics"]["mcc"]["point"] == pytest.approx(mcc)
    low, high = record["metrics"]["auroc"]["low"], record["metrics"]["auroc"]["high"]
    assert low <= auroc <= high
    assert 0 <= record["ece"] <= 1 and 0 <= record["brier"] <= 1


def test_labels_and_patients_from_a_csv(fake_model, tmp_path):
    flat = flat_folder(tmp_path)
    kept = [n for n in PROBS if not n.startswith("P5")]  # P5 is not in the CSV: no label
    labels = pd.DataFrame({"file": kept,
                           "label": ["malignant" if n in MALIGNANT else "0" for n in kept],
                           "patient_id": [n.split("_")[0] for n in kept]})
    result, record = evaluate_with_table(flat, labels, tmp_path)
    assert (record["n_rois"], record["n_patients"]) == (9, 5)
    assert record["skipped"]["no_label"] == 1 and record["patients_from"] == "labels CSV"
    assert record["metrics"]["auroc"]["point"] == pytest.approx(expected(kept)[0])
    assert "lesion" not in record and "lesions" not in result.output  # no lesion ids given


def test_a_reference_column_is_scored_on_the_same_files(fake_model, tmp_path):
    """A reference P(malignant) per file (a reader's, or the phantom's true one): its AUC too."""
    flat, names = flat_folder(tmp_path), list(PROBS)
    truth = [int(n in MALIGNANT) for n in names]
    assert truth[-1] == 1
    reference = [0.9 if t else 0.1 for t in truth[:-1]] + [0.05]  # one malignant ranked last
    labels = pd.DataFrame({"file": names, "label": truth, "reference": reference,
                           "patient_id": [n.split("_")[0] for n in names]})
    result, record = evaluate_with_table(flat, labels, tmp_path)
    assert record["reference"]["auroc"]["point"] == pytest.approx(roc_auc_score(truth, reference))
    assert record["reference"]["auroc"]["point"] < 1
    assert record["reference"]["auroc"]["low"] <= record["reference"]["auroc"]["point"]
    assert record["metrics"]["auroc"]["point"] == pytest.approx(expected(names)[0])
    assert "reference score on the same files" in " ".join(result.output.split())


def test_without_patient_ids_each_file_is_a_patient_and_a_warning_says_so(fake_model, tmp_path):
    data = class_folders(tmp_path / "rois")
    metrics_out = tmp_path / "m.json"
    result = CliRunner().invoke(main, ["predict", "--model", "runs:/x/model", str(data),
                                       "--evaluate", "--metrics-out", str(metrics_out)])
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "own patient" in result.output
    assert json.loads(metrics_out.read_text())["n_patients"] == 10


def test_evaluate_without_any_label_is_a_clear_error(fake_model, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "P1_CC.png").write_bytes(b"P1_CC.png")
    result = CliRunner().invoke(main, ["predict", "--model", "runs:/x/model", str(flat),
                                       "--evaluate"])
    assert result.exit_code == 1 and "no file has both" in result.output
    assert "Traceback" not in result.output


def lesion_table(names: list[str]) -> pd.DataFrame:
    """Each patient's views show one lesion (left breast, abnormality 1), as in an index."""
    return pd.DataFrame({"label": [int(n in MALIGNANT) for n in names],
                         "patient_id": [n.split("_")[0] for n in names],
                         "side": "LEFT", "abnormality_id": 1, "split": "test"})


def expected_per_lesion(names: list[str]) -> float:
    """AUC of each patient's mean probability (here a patient is one lesion)."""
    frame = lesion_table(names).assign(prob=[PROBS[n] for n in names])
    lesions = frame.groupby("patient_id").agg(label=("label", "max"), prob=("prob", "mean"))
    return roc_auc_score(lesions["label"], lesions["prob"])


def test_lesion_ids_in_the_labels_csv_add_the_lesion_level(fake_model, tmp_path):
    flat, names = flat_folder(tmp_path), list(PROBS)
    result, record = evaluate_with_table(flat, lesion_table(names).assign(file=names), tmp_path)
    assert "metrics on 10 files" in result.output and "metrics on 6 lesions" in result.output
    assert record["metrics"]["auroc"]["point"] == pytest.approx(expected(names)[0])
    lesion = record["lesion"]
    assert (lesion["n_lesions"], lesion["n_rois"], lesion["n_multi_view"]) == (6, 10, 4)
    assert lesion["metrics"]["auroc"]["point"] == pytest.approx(expected_per_lesion(names))
    assert lesion["n_patients"] == 6


def test_a_cache_index_serves_as_the_labels_csv(fake_model, tmp_path):
    """The index's crop_path (relative to the folder given) names the file."""
    flat_folder(tmp_path)
    names = list(PROBS)
    index = lesion_table(names).assign(crop_path=[f"flat/{n}" for n in names])
    _, record = evaluate_with_table(tmp_path, index, tmp_path, "index.csv")
    assert (record["n_rois"], record["n_patients"]) == (10, 6)
    assert record["lesion"]["n_lesions"] == 6

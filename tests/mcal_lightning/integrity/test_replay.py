"""`mcal replay-paper` end to end on the tiny phantom: two child runs, one parent, comparison."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from mlflow import MlflowClient

from mcal.cli import main
from mcal_lightning.evaluation.metrics import paper_f1
from mcal_lightning.integrity.paper_reference import reference_scores
from mcal_lightning.integrity.replay import PROTOCOL_TAG
from mcal_lightning.integrity.replay_report import HONEST, INFLATION, METRICS, PAPER, PRINTED

pytestmark = pytest.mark.slow  # the replay trains two models

LOGGED = [m for m in METRICS if m != "f1_paper"]  # f1_paper lives in the comparison alone

EXPERIMENT = "replay-test"


@pytest.fixture(scope="module")
def replayed(workdir: Path) -> tuple[MlflowClient, str, str]:
    """One tiny replay through the CLI: (client, parent run id, printed output)."""
    settings = workdir / "replay.yaml"
    settings.write_text(yaml.safe_dump({"top_losses": 0, "freeze_epochs": 0,
                                             "limit_train_batches": 0.25}))
    result = CliRunner().invoke(main, [
        "replay-paper", "--config", str(settings), "--cache", str(workdir / "cache"),
        "--arch", "resnet34", "--weights", "none", "--epochs", "1", "--batch-size", "16",
        "--num-workers", "0", "--experiment", EXPERIMENT])
    assert result.exit_code == 0, result.output + repr(result.exception)
    parent = re.search(r"parent run (\w+)", result.output)
    assert parent is not None, result.output
    client = MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    return client, parent.group(1), result.output


def children(client: MlflowClient, parent_id: str) -> dict[str, object]:
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent_id}'")
    return {run.data.tags[PROTOCOL_TAG]: run for run in runs}


def test_parent_holds_two_finished_children(replayed):
    client, parent_id, _ = replayed
    runs = children(client, parent_id)
    assert set(runs) == {"paper", "honest"}
    assert client.get_run(parent_id).info.status == "FINISHED"
    for run in runs.values():
        assert run.info.status == "FINISHED"
        assert run.data.params["arch"] == "resnet34" and run.data.params["epochs"] == "1"
    paper, honest = runs["paper"].data.params, runs["honest"].data.params
    assert paper["data.patient_guard"] == "bypassed" and "data.patient_guard" not in honest
    assert int(paper["data.train_val_shared_rois"]) > 0
    assert runs["paper"].data.tags["mcal.audit"] == "leaky"  # the audit sees it, and only warns
    assert runs["paper"].data.metrics["audit/exact"] > 0
    assert int(paper["data.train_items"]) + int(paper["data.val_items"]) == 4 * (
        int(honest["data.train_rois"]) + int(honest["data.val_rois"])
        + int(honest["data.test_rois"]))


def test_comparison_artifacts_match_the_child_runs(replayed, tmp_path: Path):
    client, parent_id, _ = replayed
    names = {a.path for a in client.list_artifacts(parent_id, "replay")}
    assert names == {*(f"replay/comparison.{ext}" for ext in ("json", "csv", "png")),
                     "replay/memoriser.csv"}
    record = json.loads(Path(client.download_artifacts(parent_id, "replay/comparison.json",
                                                       str(tmp_path))).read_text())
    runs = children(client, parent_id)
    assert record["runs"] == {name: run.info.run_id for name, run in runs.items()}
    for metric in LOGGED:
        row = record["metrics"][metric]
        assert row["paper"] == pytest.approx(runs["paper"].data.metrics[f"test/{metric}"])
        assert row["honest"] == pytest.approx(runs["honest"].data.metrics[f"test/{metric}"])
        assert row["inflation_points"] == pytest.approx((row["paper"] - row["honest"]) * 100)
        assert record["honest_val_reference"][metric] == pytest.approx(
            runs["honest"].data.metrics[f"val/{metric}"])
    table = pd.read_csv(client.download_artifacts(parent_id, "replay/comparison.csv",
                                                  str(tmp_path)), index_col="metric")
    assert list(table.index) == list(METRICS)
    assert list(table.columns) == [PAPER, HONEST, INFLATION, PRINTED]
    assert table.at["mcc", INFLATION] == pytest.approx(record["metrics"]["mcc"]
                                                       ["inflation_points"])


def test_the_paper_run_is_scored_on_its_own_random_split(replayed):
    client, parent_id, _ = replayed
    runs = children(client, parent_id)
    paper, honest = runs["paper"].data.metrics, runs["honest"].data.metrics
    for metric in LOGGED:  # the paper's "test" is its val set
        assert paper[f"test/{metric}"] == pytest.approx(paper[f"val/{metric}"])
    assert honest["test/accuracy"] != pytest.approx(honest["val/accuracy"]) or (
        honest["test/auroc"] != pytest.approx(honest["val/auroc"]))  # (b): two other splits
    params = client.get_run(parent_id).data.params
    assert params["scale.epochs"] == "1" and params["scale.weights"] == "none"


def test_f1_by_the_papers_formula_sits_beside_the_real_f1(replayed, tmp_path: Path):
    client, parent_id, _ = replayed
    record = json.loads(Path(client.download_artifacts(parent_id, "replay/comparison.json",
                                                       str(tmp_path))).read_text())
    for protocol, run in children(client, parent_id).items():
        logged = run.data.metrics
        expected = paper_f1(logged["test/recall"], logged["test/fp"], logged["test/fn"])
        assert record["metrics"]["f1_paper"][protocol] == pytest.approx(expected)
        assert record["metrics"]["f1"][protocol] == pytest.approx(logged["test/f1"])


def test_the_papers_printed_table9_is_the_reference_column(replayed, tmp_path: Path):
    client, parent_id, output = replayed
    record = json.loads(Path(client.download_artifacts(parent_id, "replay/comparison.json",
                                                       str(tmp_path))).read_text())
    printed = reference_scores("resnet34")
    assert printed["accuracy"] == 0.9932 and printed["mcc"] == 0.8950
    for metric in METRICS:
        assert record["metrics"][metric]["paper_as_printed"] == (
            None if metric == "auroc" else pytest.approx(printed[metric]))
    assert "Table 9" in record["paper_as_printed"] and PRINTED in output


def test_both_protocols_train_with_the_papers_augmentation(replayed):
    client, parent_id, _ = replayed
    for run in children(client, parent_id).values():
        params = run.data.params
        assert params["augment.preset"] == "paper" and params["augment.lighting"] == "logit"
        assert params["augment.transpose_p"] == "0.5"


def test_table_is_printed_with_the_scale(replayed):
    _, _, output = replayed
    assert INFLATION in output and "auroc" in output
    assert "resnet34, 1 epochs, 64 px, none init" in output
    assert "honest protocol on its patient-grouped val split" in output


def test_the_memoriser_finds_the_leak_the_split_holds(replayed, tmp_path: Path):
    client, parent_id, output = replayed
    table = pd.read_csv(client.download_artifacts(parent_id, "replay/memoriser.csv",
                                                  str(tmp_path)), index_col="metric")
    assert table.at["accuracy", PAPER] == pytest.approx(1.0)  # every 20% copy has its twin
    assert table.at["mcc", PAPER] == pytest.approx(1.0)
    assert table.at["mcc", HONEST] < 0.5  # other patients: nothing to recall
    metrics = client.get_run(parent_id).data.metrics
    assert metrics["memoriser_inflation_points/accuracy"] == pytest.approx(
        table.at["accuracy", INFLATION])
    assert "pure memoriser" in output

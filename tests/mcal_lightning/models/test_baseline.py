"""mcal baseline: handcrafted features + gradient boosting on the CNN's own split."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from mcal.cli import main
from mcal.commands_baseline import FEATURE_GROUPS as CLI_GROUPS
from mcal_lightning.config import TrainConfig
from mcal_lightning.data.splits import assert_no_patient_overlap
from mcal_lightning.models.baseline import (
    BASELINE_MODEL,
    MODEL_TAG,
    BaselineConfig,
    fit_boosting,
    make_classifier,
)
from mcal_lightning.models.baseline_features import FEATURE_GROUPS, extract_features
from mcal_lightning.train import make_datamodule
from tests.mcal_lightning.sweeps_support import local_tracking, tiny_cache

SIZE = 64


def background(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """Smooth tissue-like texture around 0.4, in [0, 1]."""
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 3)
    return 0.4 + 0.05 * texture / texture.std()


def add_disk(image: np.ndarray, centre: tuple[float, float], radius: float,
             contrast: float) -> None:
    y, x = np.ogrid[: image.shape[0], : image.shape[1]]
    image[(y - centre[0]) ** 2 + (x - centre[1]) ** 2 <= radius**2] += contrast


def add_line(image: np.ndarray, start: np.ndarray, angle: float, length: float,
             contrast: float) -> None:
    for t in np.linspace(0, length, int(4 * length)):
        y, x = np.round(start + t * np.array([np.sin(angle), np.cos(angle)])).astype(int)
        if 0 <= y < image.shape[0] and 0 <= x < image.shape[1]:
            image[y, x] = image[y, x] + contrast if image[y, x] < 0.6 else image[y, x]


def as_uint16(images: list[np.ndarray]) -> np.ndarray:
    return (np.clip(np.array(images), 0, 1) * 65535).astype(np.uint16)


def grid_centres(rng: np.random.Generator, n: int, size: int = SIZE,
                 step: int = 12) -> list[tuple[float, float]]:
    """n distinct cells of a grid (no two spots touch), jittered by a pixel."""
    cells = [(y, x) for y in range(step, size - step + 1, step)
             for x in range(step, size - step + 1, step)]
    chosen = rng.choice(len(cells), n, replace=False)
    return [(cells[i][0] + rng.uniform(-1, 1), cells[i][1] + rng.uniform(-1, 1)) for i in chosen]


def small_dots(rng: np.random.Generator, n: int) -> np.ndarray:
    image = background(rng)
    for centre in grid_centres(rng, n):
        add_disk(image, centre, 1.2, 0.3)
    return image


def large_blobs(rng: np.random.Generator, n: int) -> np.ndarray:
    image = background(rng)
    for centre in grid_centres(rng, n, step=20):
        add_disk(image, centre, rng.uniform(4, 6), 0.3)
    return image


def lines(rng: np.random.Generator, n: int) -> np.ndarray:
    image = background(rng)
    for centre in grid_centres(rng, n, step=20):
        add_line(image, np.array(centre) - 5, rng.uniform(0, np.pi), 12, 0.3)
    return image


def feature(features, name: str) -> np.ndarray:
    return features.values[:, features.names.index(name)]


def test_bright_spot_count_is_the_number_of_dots_and_spot_count_grows_with_it():
    rng = np.random.default_rng(0)
    counts = [2, 5, 9, 14]
    features = extract_features(as_uint16([small_dots(rng, n) for n in counts]), ["spots"])
    assert feature(features, "spots.fine_bright_count").tolist() == counts
    assert np.all(np.diff(feature(features, "spots.fine_count")) > 0)  # plus texture bumps


def test_features_separate_many_small_dots_from_few_large_blobs_on_held_out_rois():
    rng = np.random.default_rng(1)
    images, labels = [], []
    for i in range(120):
        malignant = i % 2
        images.append(small_dots(rng, int(rng.integers(8, 16))) if malignant
                      else large_blobs(rng, int(rng.integers(1, 4))))
        labels.append(malignant)
    features, labels = extract_features(as_uint16(images)), np.array(labels)
    model = make_classifier(BaselineConfig(cache="unused"), 100).fit(features.values[:80],
                                                                    labels[:80])
    auc = roc_auc_score(labels[80:], model.predict_proba(features.values[80:])[:, 1])
    assert auc > 0.95


def test_elongation_tells_lines_from_round_dots():
    rng = np.random.default_rng(2)
    dots = extract_features(as_uint16([small_dots(rng, 6) for _ in range(8)]), ["spots"])
    segments = extract_features(as_uint16([lines(rng, 3) for _ in range(8)]), ["spots"])
    assert feature(segments, "spots.fine_elongated_share").min() > 0.5
    assert feature(dots, "spots.fine_elongated_share").max() < 0.2
    assert (feature(segments, "spots.fine_eccentricity_mean").min()
            > feature(dots, "spots.fine_eccentricity_mean").max())


def test_features_have_the_same_names_at_every_roi_size_and_are_finite():
    rng = np.random.default_rng(3)
    small = extract_features(as_uint16([small_dots(rng, 4)]))
    large = extract_features(np.repeat(np.repeat(as_uint16([small_dots(rng, 4)]), 2, 1), 2, 2))
    assert small.names == large.names
    assert {name.split(".")[0] for name in small.names} == set(FEATURE_GROUPS)
    assert np.isfinite(small.values).all() and np.isfinite(large.values).all()
    blank = extract_features(np.full((2, SIZE, SIZE), 1000, np.uint16))  # no spot at all
    assert np.isfinite(blank.values).all() and feature(blank, "spots.fine_count").max() == 0
    with pytest.raises(ValueError, match="feature groups"):
        extract_features(as_uint16([small_dots(rng, 4)]), ["hog", "radiomics"])


def test_the_iterations_val_keeps_are_the_model_a_refit_would_make():
    rng = np.random.default_rng(4)
    values = rng.normal(size=(160, 6))
    labels = (values[:, 0] + rng.normal(0, 1.5, 160) > 0).astype(int)
    config = BaselineConfig(cache="unused", max_iter=80, learning_rate=0.2)
    boosted = fit_boosting(config, (values[:100], labels[:100]), (values[100:], labels[100:]))
    assert 1 <= boosted.n_iter < config.max_iter  # noisy labels: val stops it early
    assert boosted.n_iter == int(np.argmin(boosted.val_losses)) + 1
    refit = make_classifier(config, boosted.n_iter).fit(values[:100], labels[:100])
    np.testing.assert_allclose(boosted.logits(values[100:]), refit.decision_function(values[100:]))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory):
    """A tiny phantom cache whose official test split holds both classes (seed 5's is all benign:
    no AUC); the working directory, so ./mlruns."""
    root = tmp_path_factory.mktemp("baseline")
    tiny_cache(root, seed=1)
    with local_tracking(root):
        yield root


@pytest.fixture(scope="module")
def cli_run(workdir):
    """One `mcal baseline` on the phantom cache: (CLI output, its MLflow run, a client)."""
    result = CliRunner().invoke(main, ["baseline", "--cache", str(workdir / "cache"),
                                       "--max-iter", "40", "--seed", "3",
                                       "--experiment", "baseline-test"])
    assert result.exit_code == 0, result.output
    run_id = re.search(r"run ([0-9a-f]{32}) in experiment 'baseline-test'", result.output)
    assert run_id, result.output
    client = MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    return result.output, client.get_run(run_id.group(1)), client


def test_cli_logs_a_finished_run_with_a_cnn_runs_metrics_and_cis(cli_run):
    output, run, _ = cli_run
    assert run.info.status == "FINISHED"
    assert run.data.tags[MODEL_TAG] == BASELINE_MODEL
    metrics = run.data.metrics
    for stage in ("val", "test"):
        for name in ("auroc", "mcc", "accuracy", "f1", "recall", "specificity", "tp", "fn"):
            assert f"{stage}/{name}" in metrics
        for name in ("auroc", "mcc"):
            low, high = metrics[f"{stage}/{name}_ci_low"], metrics[f"{stage}/{name}_ci_high"]
            assert low <= metrics[f"{stage}/{name}"] <= high
    confusion = sum(metrics[f"test/{cell}"] for cell in ("tn", "fp", "fn", "tp"))
    assert confusion == float(run.data.params["data.test_rois"])
    assert "data.fingerprint" in run.data.params and run.data.params["model"] == BASELINE_MODEL
    assert "test" in output and "auroc_95ci" in output


def test_register_latest_passes_over_a_baseline_run(cli_run):
    """A baseline run logs no model: `mcal register --run latest` must not pick it."""
    from mcal_lightning.tracking.registry import latest_run

    with pytest.raises(LookupError, match="no finished run with a model"):
        latest_run("baseline-test")


def test_the_run_scores_exactly_the_rows_of_a_cnn_runs_split(cli_run, workdir):
    _, run, client = cli_run
    cnn = make_datamodule(TrainConfig(cache=str(workdir / "cache"), seed=3, num_workers=0))
    path = client.download_artifacts(run.info.run_id, "baseline/predictions.csv", str(workdir))
    predictions = pd.read_csv(path, dtype={"patient_id": str})
    for split in ("train", "val", "test"):
        logged = predictions.loc[predictions["split"] == split, "row"].to_numpy()
        np.testing.assert_array_equal(logged, cnn.rows[split])
        assert run.data.params[f"data.{split}_rois"] == str(len(cnn.rows[split]))
    by_split = predictions.groupby("split")["patient_id"].apply(set)
    assert not (by_split["train"] & by_split["val"] or by_split["train"] & by_split["test"]
                or by_split["val"] & by_split["test"])
    assert_no_patient_overlap(cnn.table, **cnn.rows)
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/test_confusion_matrix.png", "plots/test_roc.png"} <= artifacts


def test_the_cli_knows_the_feature_groups_without_importing_them():
    assert CLI_GROUPS == FEATURE_GROUPS


def test_cli_help_names_the_options():
    result = CliRunner().invoke(main, ["baseline", "--help"])
    assert result.exit_code == 0
    for option in ("--cache", "--val-fraction", "--seed", "--experiment", "--max-iter"):
        assert option in result.output


def test_cli_refuses_an_unknown_feature_group(workdir):
    result = CliRunner().invoke(main, ["baseline", "--cache", str(workdir / "cache"),
                                       "--features", "spots,radiomics"])
    assert result.exit_code == 2 and "radiomics" in result.output

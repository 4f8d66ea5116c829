"""The logged soft-vote ensemble: its p_malignant is the mean of its members'."""

from pathlib import Path

import lightning
import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

from mcal_lightning.models.module import CalcClassifier
from mcal_lightning.tracking.ensemble import ENSEMBLE_TAG, log_ensemble_run
from mcal_lightning.tracking.pyfunc import load_model, log_pyfunc
from mcal_lightning.tracking.store import MODEL_URI_TAG, model_uri, use_tracking
from preprocessing.pipeline import PreprocessConfig
from tests.mcal_lightning.networks_support import random_network
from tests.mcal_lightning.sweeps_support import local_tracking

PREPROCESS = PreprocessConfig(size=32).as_dict()


def member_checkpoint(path: Path, seed: int) -> Path:
    """An untrained AlexNet-bodied classifier, its weights nudged by the seed (a few MB)."""
    module = CalcClassifier(random_network("alexnet"))
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": lightning.__version__}, path)
    return path


def logged_member(tmp_path: Path, seed: int, temperature: float) -> str:
    checkpoint = member_checkpoint(tmp_path / f"member{seed}.ckpt", seed)
    with mlflow.start_run() as run:
        info = log_pyfunc(checkpoint, PREPROCESS, temperature=temperature)
        mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    return run.info.run_id


@pytest.fixture
def images() -> pd.DataFrame:
    return pd.DataFrame({"image": [np.random.default_rng(i).integers(0, 4096, (32, 32))
                                   .astype(np.float32) for i in range(4)]})


@pytest.mark.slow  # logs three models to MLflow and loads them back: minutes on a small CPU
def test_the_ensemble_pyfunc_predicts_the_mean_of_its_members(tmp_path: Path, images):
    with local_tracking(tmp_path):
        use_tracking()
        run_ids = [logged_member(tmp_path, 1, 1.0), logged_member(tmp_path, 2, 2.5)]
        with mlflow.start_run() as parent:
            pass
        ensemble_run = log_ensemble_run(run_ids, parent.info.run_id)
        members = [load_model(model_uri(run_id)) for run_id in run_ids]
        ensemble = load_model(model_uri(ensemble_run))
        tags = mlflow.get_run(ensemble_run).data.tags
        for params in (None, {"tta": "dihedral"}):
            own = [m.predict(images, params=params)["p_malignant"] for m in members]
            voted = ensemble.predict(images, params=params)
            np.testing.assert_allclose(voted["p_malignant"], np.mean(own, axis=0), rtol=1e-5)
            assert list(voted["label"]) == [int(p >= 0.5) for p in voted["p_malignant"]]
        assert not np.allclose(own[0], own[1], atol=1e-4)  # the members do differ
    assert tags[ENSEMBLE_TAG] == ",".join(run_ids)
    assert tags["mlflow.parentRunId"] == parent.info.run_id

"""parent_run and child_run: nesting tags, who ends which run, FAILED when the block raises."""

from pathlib import Path

import pytest
from mlflow import MlflowClient

from mcal_lightning.tracking.runs import PARENT_TAG, child_run, create_run, parent_run
from tests.mcal_lightning.sweeps_support import local_tracking


@pytest.fixture(autouse=True)
def local_store(tmp_path: Path):
    with local_tracking(tmp_path):
        yield


def status(run_id: str) -> str:
    return MlflowClient().get_run(run_id).info.status


def test_a_parent_and_its_children_finish_nested_and_tagged():
    with parent_run("runs-test", "cv", {"mcal.kind": "parent"}) as parent:
        assert status(parent) == "RUNNING"
        with child_run(parent, "runs-test", "cv-fold-0", {"mcal.fold": "0"}) as child:
            MlflowClient().set_terminated(child, status="FINISHED")  # as training does
    run = MlflowClient().get_run(child)
    assert run.data.tags[PARENT_TAG] == parent and run.data.tags["mcal.fold"] == "0"
    assert run.info.run_name == "cv-fold-0"
    parent_info = MlflowClient().get_run(parent)
    assert parent_info.info.status == "FINISHED" and parent_info.info.run_name == "cv"
    assert parent_info.data.tags["mcal.kind"] == "parent"


def test_an_exception_fails_the_parent_and_the_running_child():
    with (pytest.raises(RuntimeError), parent_run("runs-test", "cv", {}) as parent,
          child_run(parent, "runs-test", "fold") as child):
        raise RuntimeError("training broke")
    assert status(parent) == "FAILED" and status(child) == "FAILED"


def test_a_child_the_block_ended_keeps_its_status():
    with (parent_run("runs-test", "sweep", {}) as parent, pytest.raises(KeyError),
          child_run(parent, "runs-test", "trial") as child):
        MlflowClient().set_terminated(child, status="FINISHED")  # a pruned trial
        raise KeyError("pruned")
    assert status(child) == "FINISHED"


def test_a_given_parent_is_left_to_its_owner():
    owner = create_run("runs-test", "trial", {})  # a sweep trial's run, its objective's to end
    with pytest.raises(RuntimeError), parent_run("runs-test", "unused", {}, run_id=owner) as p:
        assert p == owner
        raise RuntimeError("a fold broke")
    assert status(owner) == "RUNNING"
    with parent_run("runs-test", "unused", {}, run_id=owner):
        pass
    assert status(owner) == "RUNNING"


def test_an_open_parent_stays_running_unless_the_block_raises():
    with parent_run("runs-test", "sweep", {}, end=False) as parent:
        pass
    assert status(parent) == "RUNNING"
    with pytest.raises(RuntimeError), parent_run("runs-test", "sweep", {}, end=False) as failed:
        raise RuntimeError("could not log the sweep file")
    assert status(failed) == "FAILED"

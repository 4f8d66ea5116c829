"""`mcal ui` and `mcal dashboard`: real servers over a small store, stopped by PID; refusals."""

import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

import mcal.commands_ui as commands_ui
from mcal.cli import main
from mcal.commands_ui import is_loopback
from tests.browser.servers import (
    fetch_json,
    group_alive,
    port_closed,
    start_mcal,
    stop,
    wait_for_json,
)
from tests.mcal_lightning.sweeps_support import seed_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose ./mlruns holds one run logging val/mcc and one two-trial study."""
    root = tmp_path_factory.mktemp("store")
    client = MlflowClient(f"sqlite:///{seed_store(root / 'mlruns' / 'mlflow.db')}")
    experiment = client.create_experiment(
        "ui-test", artifact_location=(root / "mlruns" / "ui-test").as_uri())
    run = client.create_run(experiment, run_name="trial-0")
    client.log_metric(run.info.run_id, "val/mcc", 0.42)
    client.set_terminated(run.info.run_id)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="ui-study", direction="maximize",
                                storage=f"sqlite:///{root}/mlruns/optuna.db")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    return root


@pytest.fixture
def exec_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, str]]]:
    """Record what `mcal ui` would exec instead of replacing the test process."""
    calls: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(commands_ui, "flush_and_exec",
                        lambda command, env: calls.append((command, env)))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return calls


@pytest.mark.slow
def test_mcal_ui_serves_the_local_store_until_stopped_by_pid(store: Path):
    server = start_mcal("ui", store)
    try:
        found = wait_for_json(server, "/api/2.0/mlflow/experiments/search?max_results=100")
        experiment = next(e for e in found["experiments"] if e["name"] == "ui-test")
        runs = fetch_json(f"{server.url}/api/2.0/mlflow/runs/search",
                          {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    finally:
        stop(server)
    assert [r["info"]["run_name"] for r in runs] == ["trial-0"]
    metrics = {m["key"]: m["value"] for m in runs[0]["data"]["metrics"]}
    assert metrics == {"val/mcc": pytest.approx(0.42)}
    assert server.url in server.output()
    assert server.process.returncode is not None and not group_alive(server.process.pid)
    assert port_closed(server.port)


@pytest.mark.slow
def test_mcal_dashboard_serves_the_study_until_stopped_by_pid(store: Path):
    server = start_mcal("dashboard", store)
    try:
        studies = wait_for_json(server, "/api/studies")["study_summaries"]
        study = next(s for s in studies if s["study_name"] == "ui-study")
        detail = fetch_json(f"{server.url}/api/studies/{study['study_id']}?after=0")
    finally:
        stop(server)
    assert [t["state"] for t in detail["trials"]] == ["Complete", "Complete"]
    assert server.url in server.output()
    assert server.process.returncode is not None and not group_alive(server.process.pid)
    assert port_closed(server.port)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("example.org", False)])
def test_is_loopback(host: str, loopback: bool):
    assert is_loopback(host) == loopback


@pytest.mark.parametrize("command", ["ui", "dashboard"])
def test_a_non_loopback_host_is_refused_without_the_flag(store, exec_calls, monkeypatch, command):
    monkeypatch.chdir(store)
    result = CliRunner().invoke(main, [command, "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--allow-remote" in result.output
    assert exec_calls == []


def test_ui_execs_mlflow_ui_with_one_worker_on_the_local_store(store, exec_calls, monkeypatch):
    monkeypatch.chdir(store)
    result = CliRunner().invoke(main, ["ui", "--host", "0.0.0.0", "--allow-remote",
                                       "--port", "5123"])
    assert result.exit_code == 0, result.output
    [(command, env)] = exec_calls
    assert command[1:] == ["-m", "mlflow", "ui", "--workers", "1", "--host", "0.0.0.0",
                           "--port", "5123", "--backend-store-uri",
                           f"sqlite:///{store}/mlruns/mlflow.db", "--default-artifact-root",
                           "./mlruns"]
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert "http://0.0.0.0:5123" in result.output


def test_ui_on_another_database_redacts_its_password(tmp_path, exec_calls, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://mcal:s3cret@db/mlflow")
    result = CliRunner().invoke(main, ["ui"])
    assert result.exit_code == 0, result.output
    assert exec_calls[0][0][exec_calls[0][0].index("--backend-store-uri") + 1] == \
        "postgresql://mcal:s3cret@db/mlflow"
    assert "postgresql://mcal:***@db/mlflow" in result.output and "s3cret" not in result.output


def test_ui_points_at_a_tracking_server_instead_of_starting_one(tmp_path, exec_calls,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mcal:s3cret@mlflow.example.org")
    result = CliRunner().invoke(main, ["ui"])
    assert result.exit_code == 0 and exec_calls == []
    assert "https://mcal:***@mlflow.example.org" in result.output
    assert "s3cret" not in result.output


@pytest.mark.parametrize(("command", "advice"), [("ui", "mcal train or mcal sweep"),
                                                 ("dashboard", "mcal sweep")])
def test_an_empty_directory_says_what_to_run_first(tmp_path, exec_calls, monkeypatch, command,
                                                   advice):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [command])
    assert result.exit_code == 1 and advice in result.output
    assert exec_calls == [] and not (tmp_path / "mlruns").exists()


def test_dashboard_serves_the_given_storage_and_redacts_its_password(tmp_path, monkeypatch):
    import optuna_dashboard

    served: list[tuple[str, str, int]] = []
    monkeypatch.setattr(optuna_dashboard, "run_server",
                        lambda url, host, port: served.append((url, host, port)))
    monkeypatch.chdir(tmp_path)
    url = "postgresql://mcal:s3cret@db/optuna"
    result = CliRunner().invoke(main, ["dashboard", "--storage", url, "--port", "8181"])
    assert result.exit_code == 0, result.output
    assert served == [(url, "127.0.0.1", 8181)]
    assert "postgresql://mcal:***@db/optuna" in result.output and "s3cret" not in result.output


def test_dashboard_without_the_package_names_it(store, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)
    monkeypatch.chdir(store)
    result = CliRunner().invoke(main, ["dashboard"])
    assert result.exit_code == 1 and "pip install optuna-dashboard" in result.output

"""docker/compose.yaml: postgres, the MLflow server and GPU sweep workers wired to one study.

The file is read the way Compose reads it (YAML first, then ${VAR} interpolation) with the
values of docker/.env.example, i.e. as the stack runs on its main host.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
COMPOSE = DOCKER_DIR / "compose.yaml"
ENV_EXAMPLE = DOCKER_DIR / ".env.example"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $${...} is escaped
VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
SECRET = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)


class MissingVariable(KeyError):
    pass


def read_env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR} substitution, applied to every string of the parsed file."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        found = env.get(match["name"])
        unset = found is None or (found == "" and match["op"] and match["op"][0] == ":")
        if unset and match["op"] and match["op"].endswith("?"):
            raise MissingVariable(f"{match['name']}: {match['arg']}")
        if unset and match["op"]:
            return match["arg"]
        return found or ""

    return VARIABLE.sub(substitute, value)


def load_stack(env: dict[str, str]) -> dict:
    return interpolate(yaml.safe_load(COMPOSE.read_text()), env)


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def services(env_example: dict[str, str]) -> dict[str, dict]:
    return load_stack(env_example)["services"]


@pytest.fixture(scope="module")
def workers(services: dict[str, dict]) -> dict[str, dict]:
    found = {name: service for name, service in services.items()
             if service.get("command", [None])[0] == "sweep"}
    assert found, "no `mcal sweep` worker service"
    return found


def option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def mounts(service: dict) -> list[tuple[str, str, str]]:
    """Short-syntax volumes as (source, target, mode)."""
    parts = [entry.split(":") for entry in service.get("volumes", [])]
    return [(part[0], part[1], part[2] if len(part) > 2 else "rw") for part in parts]


def named_volume_at(stack_volumes: dict, service: dict, path: str) -> str | None:
    """The named volume mounted at path or one of its parents, if any."""
    for source, target, _ in mounts(service):
        if source in stack_volumes and (path == target or path.startswith(target + "/")):
            return source
    return None


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET}-${EMPTY:-d}-${UNSET:-d}-${EMPTY-d}-$${SET}", env) == "x-d-d--$${SET}"
    with pytest.raises(MissingVariable, match="UNSET: say so"):
        interpolate(["${UNSET:?say so}"], env)


def test_every_variable_is_in_env_example(env_example: dict[str, str]) -> None:
    used = {match["name"] for match in VARIABLE.finditer(COMPOSE.read_text())}
    assert used - env_example.keys() == set()


def test_secrets_are_required_and_only_placeholders(env_example: dict[str, str]) -> None:
    secrets = [match for match in VARIABLE.finditer(COMPOSE.read_text())
               if SECRET.search(match["name"])]
    assert secrets
    for match in secrets:
        assert match["op"] == ":?", f"{match[0]}: a secret needs ${{NAME:?message}}, no default"
        with pytest.raises(MissingVariable, match=match["name"]):
            load_stack({k: v for k, v in env_example.items() if k != match["name"]})
    for name, value in env_example.items():
        if SECRET.search(name):
            assert value in ("", "change-me"), f"{name} in .env.example: use a placeholder"


def test_local_env_file_is_git_ignored() -> None:
    result = subprocess.run(["git", "check-ignore", "--quiet", "--no-index", "docker/.env"],
                            cwd=REPO_ROOT, capture_output=True, timeout=30)
    if result.returncode == 128:
        pytest.skip("not a git checkout")
    assert result.returncode == 0, "docker/.env must be in .gitignore"


def test_postgres_has_a_healthcheck_and_a_named_volume(services: dict[str, dict]) -> None:
    stack_volumes = yaml.safe_load(COMPOSE.read_text())["volumes"]
    postgres = services["postgres"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert named_volume_at(stack_volumes, postgres, "/var/lib/postgresql/data")


def test_optuna_and_mlflow_get_separate_databases(services: dict[str, dict],
                                                   workers: dict[str, dict]) -> None:
    """Both keep an alembic_version table: one database would mix their schemas."""
    postgres = services["postgres"]
    mlflow_db = urlparse(option(services["mlflow"]["command"], "--backend-store-uri")).path
    assert mlflow_db == f"/{postgres['environment']['POSTGRES_DB']}"
    created = set()
    for source, target, _ in mounts(postgres):
        if target == "/docker-entrypoint-initdb.d":
            for script in sorted((DOCKER_DIR / source).glob("*.sql")):
                created |= set(re.findall(r"CREATE DATABASE (\w+)", script.read_text()))
    for worker in workers.values():
        optuna_db = urlparse(option(worker["command"], "--storage")).path
        assert optuna_db != mlflow_db
        assert optuna_db.lstrip("/") in created


def test_mlflow_keeps_runs_in_postgres_and_artifacts_on_a_volume(
        services: dict[str, dict]) -> None:
    stack_volumes = yaml.safe_load(COMPOSE.read_text())["volumes"]
    mlflow = services["mlflow"]
    backend = urlparse(option(mlflow["command"], "--backend-store-uri"))
    assert backend.scheme.startswith("postgresql")
    assert backend.hostname in services and backend.port == 5432
    assert "--serve-artifacts" in mlflow["command"]
    destination = option(mlflow["command"], "--artifacts-destination")
    assert named_volume_at(stack_volumes, mlflow, destination)


def test_mlflow_healthcheck_probes_its_health_endpoint(services: dict[str, dict]) -> None:
    mlflow = services["mlflow"]
    probe = " ".join(mlflow["healthcheck"]["test"])
    assert f":{option(mlflow['command'], '--port')}/health" in probe


def test_published_ports_bind_loopback_only(services: dict[str, dict]) -> None:
    published = [(name, port) for name, service in services.items()
                 for port in service.get("ports", [])]
    assert any(name == "mlflow" for name, _ in published), "the UI is not published"
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_passwords_reach_libpq_by_environment_not_urls(services: dict[str, dict],
                                                       workers: dict[str, dict]) -> None:
    """URLs show up in process lists and logs; libpq reads PGPASSWORD instead."""
    password = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    clients = {"mlflow": "--backend-store-uri"} | dict.fromkeys(workers, "--storage")
    for name, flag in clients.items():
        assert urlparse(option(services[name]["command"], flag)).password is None
        assert services[name]["environment"]["PGPASSWORD"] == password


def test_each_worker_reserves_its_own_gpu(workers: dict[str, dict]) -> None:
    claimed: list[str] = []
    for name, worker in workers.items():
        devices = worker["deploy"]["resources"]["reservations"]["devices"]
        assert devices, name
        for device in devices:
            assert "gpu" in device["capabilities"]
            assert "count" not in device, f"{name}: count would hand every worker GPU 0"
            claimed += device["device_ids"]
    assert len(claimed) == len(set(claimed)), f"a GPU is reserved twice: {claimed}"


def test_workers_wait_for_healthy_postgres_and_mlflow(services: dict[str, dict],
                                                      workers: dict[str, dict]) -> None:
    for worker in workers.values():
        for dependency in ("postgres", "mlflow"):
            assert worker["depends_on"][dependency]["condition"] == "service_healthy"
            assert services[dependency]["healthcheck"]["test"]


def test_workers_share_one_storage_study_and_sweep(services: dict[str, dict],
                                                   workers: dict[str, dict]) -> None:
    shared = {(command[1], option(command, "--storage"), option(command, "--study"))
              for command in (worker["command"] for worker in workers.values())}
    assert len(shared) == 1
    _, storage, _ = shared.pop()
    url = urlparse(storage)
    assert url.scheme.startswith("postgresql")
    assert url.hostname == "postgres" and url.port == 5432
    assert url.username == services["postgres"]["environment"]["POSTGRES_USER"]


def test_workers_log_to_the_mlflow_service(services: dict[str, dict],
                                           workers: dict[str, dict]) -> None:
    command = services["mlflow"]["command"]
    allowed = option(command, "--allowed-hosts").split(",")
    for worker in workers.values():
        tracking = urlparse(worker["environment"]["MLFLOW_TRACKING_URI"])
        assert tracking.hostname == "mlflow" and tracking.port == int(option(command, "--port"))
        # the server rejects requests whose Host header it does not list (MLflow 3)
        assert any(fnmatch.fnmatch(tracking.netloc, pattern) for pattern in allowed)


def test_workers_read_the_cache_read_only(workers: dict[str, dict]) -> None:
    for name, worker in workers.items():
        cache = option(worker["command"], "--cache")
        assert [mode for _, target, mode in mounts(worker) if target == cache] == ["ro"], name


def compose_config(binary: str, env_file: Path, home: Path) -> subprocess.CompletedProcess:
    """`docker-compose config`: the Compose CLI's own schema check and rendering (no engine)."""
    command = [binary, "--env-file", str(env_file), "-f", str(COMPOSE),
               "config", "--format", "json"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(home)})


def test_compose_cli_accepts_the_stack(linter, tmp_path: Path) -> None:
    result = compose_config(linter("docker-compose"), ENV_EXAMPLE, tmp_path)
    assert result.returncode == 0, result.stderr
    rendered = json.loads(result.stdout)["services"]
    assert {port["host_ip"] for port in rendered["mlflow"]["ports"]} == {"127.0.0.1"}
    assert rendered["worker-gpu0"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_compose_cli_refuses_to_start_without_a_password(linter, tmp_path: Path,
                                                         env_example: dict[str, str]) -> None:
    env_file = tmp_path / "no-password.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in env_example.items()
                                if name != "POSTGRES_PASSWORD"))
    result = compose_config(linter("docker-compose"), env_file, tmp_path)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr

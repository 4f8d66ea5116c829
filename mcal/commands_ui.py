"""Browsing commands: ui (the MLflow UI on the local store) and dashboard (optuna-dashboard).

The heavy imports sit inside the commands, so that `mcal --help` never imports torch.
"""

from __future__ import annotations

import ipaddress
import os
import sys

import click

from mcal.console import console

ALLOW_REMOTE_HELP = ("Serve on a non-loopback HOST. The server has no authentication: anyone "
                     "who can reach the port can read (and change) every run and study.")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        return False


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse to expose an unauthenticated server beyond this machine unless asked to."""
    if not allow_remote and not is_loopback(host):
        raise click.UsageError(f"--host {host} is not a loopback address and the server has no "
                               "authentication; pass --allow-remote to serve it there anyway")


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def flush_and_exec(command: list[str], env: dict[str, str]) -> None:
    """Become the server: Ctrl-C and kill then reach it directly, with no wrapper in between."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)


def mlflow_ui_command(backend: str, host: str, port: int) -> list[str]:
    """`mlflow ui` with one worker on BACKEND; new experiments keep artifacts in ./mlruns."""
    return [sys.executable, "-m", "mlflow", "ui", "--workers", "1", "--host", host,
            "--port", str(port), "--backend-store-uri", backend,
            "--default-artifact-root", "./mlruns"]


def mlflow_env() -> dict[str, str]:
    """This environment, without MLflow's job runner: it serves GenAI jobs (judges, trace
    rollups) that mcal never runs, at the cost of eight more processes."""
    return {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}


def local_store_uri() -> str:
    """The local store's URI; a clear error where nothing was tracked in this directory."""
    from mcal_lightning.tracking.store import LOCAL_STORE, tracking_uri

    if not (LOCAL_STORE / "mlflow.db").is_file():
        raise click.ClickException(f"no MLflow store at {(LOCAL_STORE / 'mlflow.db').resolve()}: "
                                   "run mcal train or mcal sweep in this directory first")
    return tracking_uri()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--allow-remote", is_flag=True, help=ALLOW_REMOTE_HELP)
def ui(host: str, port: int, allow_remote: bool) -> None:
    """Browse runs, sweeps and the model registry: the MLflow UI on this directory's store.

    The store is ./mlruns/mlflow.db, or MLFLOW_TRACKING_URI when set; a tracking server
    (http/https) serves its own UI, so there is nothing to start for it. Beyond loopback
    (--allow-remote) MLflow answers private-network addresses only; list other names in
    MLFLOW_SERVER_ALLOWED_HOSTS.
    """
    from mcal_lightning.sweep.study import redact
    from mcal_lightning.tracking.store import uses_local_store

    check_host(host, allow_remote)
    backend = local_store_uri() if uses_local_store() else os.environ["MLFLOW_TRACKING_URI"]
    if backend.startswith(("http://", "https://")):
        console.print(f"MLFLOW_TRACKING_URI is the tracking server {redact(backend)}: it serves "
                      "the MLflow UI itself, open that address (unset MLFLOW_TRACKING_URI to "
                      "browse the local store instead)", soft_wrap=True)
        return
    console.print(f"MLflow UI on {redact(backend)}: {url_of(host, port)}  (Ctrl-C stops it)",
                  soft_wrap=True)
    flush_and_exec(mlflow_ui_command(backend, host, port), mlflow_env())


def default_study_storage() -> str:
    from mcal_lightning.sweep.study import default_storage
    from mcal_lightning.tracking.store import LOCAL_STORE

    if not (LOCAL_STORE / "optuna.db").is_file():
        raise click.ClickException(f"no study storage at {(LOCAL_STORE / 'optuna.db').resolve()}:"
                                   " run mcal sweep in this directory first, or pass --storage")
    return default_storage()


@click.command()
@click.option("--storage", help="Optuna storage URL of the sweep, e.g. postgresql://user:pw@host/"
                                "db [default: sqlite:///mlruns/optuna.db].")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--allow-remote", is_flag=True, help=ALLOW_REMOTE_HELP)
def dashboard(storage: str | None, host: str, port: int, allow_remote: bool) -> None:
    """Watch sweeps live: optuna-dashboard on the study storage (history, importances, ...)."""
    from mcal_lightning.sweep.study import redact

    check_host(host, allow_remote)
    try:
        from optuna_dashboard import run_server
    except ImportError as exc:
        raise click.ClickException("mcal dashboard needs the optuna-dashboard package: "
                                   "pip install optuna-dashboard") from exc
    url = storage or default_study_storage()
    console.print(f"optuna-dashboard on {redact(url)}: {url_of(host, port)}  (Ctrl-C stops it)",
                  soft_wrap=True)
    run_server(url, host=host, port=port)  # until Ctrl-C


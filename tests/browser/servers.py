"""Run `mcal ui` / `mcal dashboard` as real servers in a test, and stop them by process group."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 180  # mlflow ui starts in ~15 s alone; much slower on a loaded machine


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_mcal(command: str, cwd: Path, *options: str) -> Server:
    """`mcal COMMAND --port FREE OPTIONS` in CWD, leading its own process group."""
    port = free_port()
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = cwd / f"{command}-{port}.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "mcal.cli", command, "--port", str(port), *options],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Server(process, port, log)


def fetch_json(url: str, body: dict | None = None) -> Any:
    """GET url, or POST body as JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_for_json(server: Server, path: str) -> Any:
    """The server's first JSON answer at path; fails with its log if it exits or never answers."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited ({server.process.returncode}):\n"
                                 f"{server.output()}")
        try:
            return fetch_json(server.url + path)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)  # not listening yet
    raise AssertionError(f"no answer at {path} in {START_TIMEOUT_S} s:\n{server.output()}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(server: Server) -> None:
    """SIGTERM to the server's whole process group (its workers too); SIGKILL after 60 s."""
    pgid = server.process.pid  # start_new_session: the group is named after its leader
    if group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
    try:
        server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, signal.SIGKILL)
        server.process.wait()
    deadline = time.monotonic() + 30
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)  # workers still closing


def port_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False

"""docker/Dockerfile: pinned CUDA base, the lock's Python, the project's install, non-root mcal."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
EXACT_TAG = re.compile(r"^[^:@\s]+:\d+\.\d+\.\d+(-[\w.-]+)?$")  # name:MAJOR.MINOR.PATCH[-variant]


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order, continuation lines joined, comments and blank lines dropped."""
    found: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        if line.strip().startswith("#") or (not pending and not line.strip()):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1]
            continue
        keyword, _, args = (pending + line).strip().partition(" ")
        found.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    return found


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def of_kind(instructions: list[Instruction], keyword: str) -> list[Instruction]:
    return [step for step in instructions if step.keyword == keyword]


def pip_installs(instructions: list[Instruction]) -> list[list[str]]:
    """The argument lists of every `pip install` in the RUN steps."""
    commands = []
    for step in of_kind(instructions, "RUN"):
        for part in step.args.split("&&"):
            words = shlex.split(part)
            if any(words[i:i + 2] == ["pip", "install"] for i in range(len(words))):
                commands.append(words)
    return commands


def constraint_file(words: list[str]) -> str | None:
    return words[words.index("-c") + 1] if "-c" in words else None


def makefile_install() -> list[str]:
    """The Makefile's install of the project (`pip install ... -e '.[dev]'`)."""
    for line in (REPO_ROOT / "Makefile").read_text().splitlines():
        if "pip install" in line and "-e" in line.split():
            return shlex.split(line)
    raise AssertionError("no editable pip install in the Makefile")


def copied_sources(instructions: list[Instruction]) -> set[str]:
    sources = set()
    for step in of_kind(instructions, "COPY"):
        words = [word for word in step.args.split() if not word.startswith("--")]
        sources.update(word.rstrip("/") for word in words[:-1])
    return sources


def test_parser_joins_continuations_and_drops_comments() -> None:
    text = "FROM a:1.0.0\n# note\nRUN one \\\n  # inside\n  && two\n\nUSER 1\n"
    assert parse_dockerfile(text) == [Instruction("FROM", "a:1.0.0"),
                                      Instruction("RUN", "one   && two"), Instruction("USER", "1")]


def test_every_base_image_has_an_exact_tag(dockerfile: list[Instruction]) -> None:
    images = [step.args.split()[0] for step in of_kind(dockerfile, "FROM")]
    assert images
    for image in images:
        assert EXACT_TAG.match(image), f"{image}: pin an exact version tag"


def test_runtime_image_is_cuda_of_the_locked_torch(dockerfile: list[Instruction]) -> None:
    final = of_kind(dockerfile, "FROM")[-1].args.split()[0]
    base = re.fullmatch(r"nvidia/cuda:(\d+\.\d+)\.\d+-runtime-ubuntu[\d.]+", final)
    assert base, f"{final}: the final stage should be an nvidia/cuda runtime image"
    lock = (REPO_ROOT / "constraints.txt").read_text()
    cuda = re.search(r"^nvidia-cuda-runtime(?:-cu\d+)?==(\d+\.\d+)\.", lock, re.MULTILINE)
    assert cuda, "constraints.txt pins no nvidia-cuda-runtime"
    assert base.group(1) == cuda.group(1)


def test_python_is_the_one_the_lock_is_installed_with(dockerfile: list[Instruction]) -> None:
    """`make test` installs constraints.txt into the interpreter running this suite."""
    versions = [step.args.partition("=")[2] for step in of_kind(dockerfile, "ARG")
                if step.args.startswith("PYTHON_VERSION=")]
    assert len(versions) == 1
    assert re.fullmatch(r"\d+\.\d+\.\d+", versions[0]), "pin an exact Python version"
    assert versions[0].rsplit(".", 1)[0] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert any("$PYTHON_VERSION" in step.args for step in of_kind(dockerfile, "RUN"))


def test_installs_are_constrained_like_the_makefiles(dockerfile: list[Instruction]) -> None:
    expected = constraint_file(makefile_install())
    assert expected
    installs = pip_installs(dockerfile)
    assert installs
    for words in installs:
        assert constraint_file(words) == expected, f"{shlex.join(words)}: use -c {expected}"


def test_installs_the_project_with_postgres_and_without_dev(dockerfile: list[Instruction],
                                                            pyproject: dict) -> None:
    project = [words for words in pip_installs(dockerfile)
               if any(word.startswith(".[") or word == "." for word in words)]
    assert len(project) == 1
    words = project[0]
    assert ".[postgres]" in words and "postgres" in pyproject["project"]["optional-dependencies"]
    assert "-e" not in words and "--editable" not in words
    assert not any(re.search(r"\[.*dev.*\]", word) for word in words)


def test_copies_what_the_install_needs_before_it(dockerfile: list[Instruction],
                                                 pyproject: dict) -> None:
    packages = {pattern.rstrip("*").rstrip(".")
                for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    needed = packages | {"pyproject.toml", "constraints.txt", pyproject["project"]["readme"]}
    install = next(i for i, step in enumerate(dockerfile)
                   if step.keyword == "RUN" and ".[postgres]" in step.args)
    assert needed <= copied_sources(dockerfile[:install])


def test_ends_as_the_non_root_user_it_creates(dockerfile: list[Instruction]) -> None:
    users = of_kind(dockerfile, "USER")
    assert users, "no USER: the container would run as root"
    uid = users[-1].args.split(":")[0]
    assert uid not in ("root", "0")
    created = re.search(r"useradd\b.*--uid (\d+)",
                        " ".join(step.args for step in of_kind(dockerfile, "RUN")))
    assert created and created.group(1) == uid


def test_entrypoint_is_the_mcal_command(dockerfile: list[Instruction], pyproject: dict) -> None:
    entrypoint = json.loads(of_kind(dockerfile, "ENTRYPOINT")[-1].args)
    assert entrypoint == ["mcal"]
    assert "mcal" in pyproject["project"]["scripts"]


def test_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()}
    assert {"docker/.env", ".venv", ".git", "mlruns"} <= ignored


def test_hadolint_passes(linter) -> None:
    result = subprocess.run([linter("hadolint"), "--no-color", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr

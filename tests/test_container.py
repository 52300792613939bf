"""The Dockerfile and compose.yaml agree with the package (no container engine needed).

The image is built only where a container engine exists; these checks catch the drift a
build would find late: a Python the package does not support, an entrypoint or command that
is not the package's, a health check on a path the server does not serve, a COPY of a path
that is not in the repository, root, or a compose file that points at the wrong database.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from typer.main import get_command

from bot.serving.cli import cli
from bot.serving.server import PROBES

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def only(name: str) -> str:
    found = [args for word, args in instructions() if word == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def test_the_base_image_runs_a_python_the_package_supports() -> None:
    image = only("FROM")
    found = re.fullmatch(r"python:(\d+\.\d+)-slim(?:-\w+)?", image)
    assert found, f"expected an official slim Python image, got {image}"
    version = Version(found.group(1))
    assert version in SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert str(version) == PYPROJECT["tool"]["mypy"]["python_version"]
    assert f"py{version.major}{version.minor}" == PYPROJECT["tool"]["ruff"]["target-version"]


def test_entrypoint_and_command_are_the_packages_serve() -> None:
    entrypoint = json.loads(only("ENTRYPOINT"))
    command = json.loads(only("CMD"))  # exec form: the bot is PID 1 and gets SIGTERM
    assert entrypoint == ["taskforce"]
    assert PYPROJECT["project"]["scripts"]["taskforce"] == "bot.serving.cli:main"
    assert command == ["serve"]
    commands = get_command(cli).commands  # type: ignore[attr-defined]
    assert "serve" in commands


def test_runs_as_a_user_with_a_readiness_health_check_on_the_served_port() -> None:
    user = only("USER")
    assert user not in ("root", "0") and not user.startswith("0:")
    env = dict(
        pair.split("=", 1)
        for word, args in instructions()
        if word == "ENV"
        for pair in shlex.split(args)
    )
    assert only("EXPOSE") == env["TASKFORCE_PORT"]
    assert env["TASKFORCE_HOST"] == "0.0.0.0"  # reachable from outside the container
    check = only("HEALTHCHECK")
    assert "/readyz" in check and "/readyz" in PROBES
    assert "TASKFORCE_PORT" in check


def test_every_copied_path_exists_and_secrets_stay_out() -> None:
    for word, args in instructions():
        if word == "COPY":
            *sources, _dest = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for secret in (".env", ".git", ".venv", "data"):
        assert secret in ignored
    # The package carries its migrations: the image installs it like a wheel, not in place.
    assert "pip install /src" in only("RUN") and "-e" not in only("RUN").split()


def test_compose_runs_the_image_on_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    bot, db = services["taskforce"], services["db"]
    assert bot["build"] == "."
    url = bot["environment"]["TASKFORCE_DATABASE_URL"]
    assert url.startswith("postgresql://") and "@db:5432/" in url
    assert db["image"].startswith("postgres:")
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["ports"] == ["127.0.0.1:8000:8000"]  # behind the TLS proxy, never bare
    assert "command" not in bot and "entrypoint" not in bot  # the image's one process


def test_compose_rotates_logs_and_limits_resources() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        logging = service["logging"]
        assert logging["driver"] == "json-file", name
        assert logging["options"]["max-size"] and int(logging["options"]["max-file"]) > 1, name
        limits = service["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0 and limits["memory"], name

"""Any install works: a wheel built from the source, installed in a fresh virtualenv outside
the repository, gives a `taskforce` that migrates, checks and opens the console; an install
missing its migrations says so in one sentence. `make run` installs only what running needs.

No network: the wheel is built from a copy of the source, and the fresh virtualenv borrows
the test environment's installed dependencies (a path file), so pip installs the wheel alone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of what the repository tracks for the package."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "bot", src / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (found,) = out.glob("taskforce-*.whl")
    return found


def install(wheel: Path, where: Path) -> Path:
    """A fresh virtualenv at `where` with `wheel` installed; its bin directory."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120
    )
    python = where / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # The dependencies come from the test environment, after the venv's own packages.
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
         "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return where / "bin"


def run(
    bin_dir: Path, *args: str, cwd: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """`taskforce ARGS` from the virtualenv, in `cwd`, with only the given settings."""
    return subprocess.run(
        [bin_dir / "taskforce", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8", **env},
        timeout=120,
        umask=0o022,
    )


def test_the_installed_wheel_migrates_checks_and_opens_the_console(
    wheel: Path, tmp_path: Path
) -> None:
    bin_dir = install(wheel, tmp_path / "venv")
    here = tmp_path / "elsewhere"  # not the repository: nothing found beside the source
    here.mkdir()
    where = subprocess.run(
        [bin_dir / "python", "-c", "import bot.store.engine as s; print(s.MIGRATIONS_DIR)"],
        capture_output=True, text=True, cwd=here, check=True,
    ).stdout.strip()  # fmt: skip
    assert where.startswith(str(tmp_path / "venv"))  # the installed copy, not the source

    assert run(bin_dir, "--version", cwd=here).stdout == f"taskforce {version('taskforce')}\n"

    upgraded = run(bin_dir, "db", "upgrade", cwd=here)
    assert (upgraded.returncode, upgraded.stdout) == (0, "Database is at the newest migration.\n")
    assert (here / "data" / "taskforce.db").exists()

    checked = run(bin_dir, "check", cwd=here)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rows = {line.split()[0]: line.split()[1] for line in checked.stdout.splitlines()[1:-1]}
    assert (rows["database"], rows["migrations"]) == ("ok", "ok")

    shell = run(
        bin_dir, "shell", "--as", "ana", cwd=here,
        stdin='op new "Night Harbour"\n', TASKFORCE_ADMINS="console:ana",
    )  # fmt: skip
    assert shell.returncode == 0, shell.stderr
    assert "OP-NIGHT-HARBOUR created" in shell.stdout
    assert "Traceback" not in upgraded.stderr + checked.stderr + shell.stderr


def test_an_install_without_its_migrations_says_so_in_one_sentence(
    wheel: Path, tmp_path: Path
) -> None:
    bin_dir = install(wheel, tmp_path / "venv")
    (installed,) = (tmp_path / "venv").glob("lib/python*/site-packages/bot/store/migrations")
    shutil.rmtree(installed)  # a packaging that dropped them
    here = tmp_path / "elsewhere"
    here.mkdir()
    sentence = (
        f"Taskforce is installed without its database migrations ({installed} is missing or "
        "empty): reinstall it from the wheel or the source tree, which carry them."
    )
    for command in (["db", "upgrade"], ["serve"]):
        done = run(bin_dir, *command, cwd=here, TASKFORCE_PORT="0")
        assert (done.returncode, done.stderr.strip()) == (1, sentence), command
    checked = run(bin_dir, "check", cwd=here)
    assert checked.returncode == 1
    assert f"migrations     FAIL    {sentence}" in checked.stdout
    assert checked.stderr.strip() == "1 check failed: migrations."
    assert not (here / "data").exists()  # refused before anything was written


def make_dry_run(target: str, venv: Path) -> str:
    """What `make TARGET` would run, on a virtualenv that does not exist yet."""
    return subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, f"VENV={venv}"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip


@pytest.mark.parametrize("target", ["run", "serve"])
def test_make_run_and_serve_install_only_the_runtime(target: str, tmp_path: Path) -> None:
    planned = make_dry_run(target, tmp_path / "venv")
    assert "pip install -q -e .\n" in planned
    assert "[dev]" not in planned


def test_make_test_installs_the_dev_tools(tmp_path: Path) -> None:
    assert "pip install -q -e '.[dev]'" in make_dry_run("test", tmp_path / "venv")


def test_the_wheel_carries_the_situation_rooms_map(wheel: Path) -> None:
    """The vendored map library, its licences and the basemap are package data: an install
    from the wheel serves the room's map with nothing fetched at run time."""
    import zipfile

    static = ROOT / "bot" / "room" / "static"
    tracked = {
        f"bot/room/static/{p.relative_to(static).as_posix()}"
        for p in static.rglob("*")
        if p.is_file()
    }
    assert "bot/room/static/vendor/leaflet/leaflet.js" in tracked
    assert "bot/room/static/vendor/world-atlas/countries-50m.json" in tracked
    with zipfile.ZipFile(wheel) as built:
        carried = {n for n in built.namelist() if n.startswith("bot/room/static/")}
    assert tracked <= carried, sorted(tracked - carried)

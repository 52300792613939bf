"""Files only the bot's user can read: the data folder 0700, the SQLite database with its WAL
and shared-memory files 0600, evidence 0600 in 0700 folders, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.evidence import file_store
from tests.conftest import AppFactory


def mode(path: Path) -> int:
    """The permission bits of `path`."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, which leaves new files readable by everyone on the host."""
    old = os.umask(0o022)
    yield
    os.umask(old)


async def test_the_data_folder_database_and_wal_are_private(
    make_app: AppFactory, tmp_path: Path, umask_022: None
) -> None:
    data = tmp_path / "data"
    db = data / "taskforce.db"
    app = await make_app(f"sqlite:///{db}")
    assert (await app.console.push('op new "Night Harbour"', as_="admin")).ok
    wal, shm = db.with_name("taskforce.db-wal"), db.with_name("taskforce.db-shm")
    assert wal.exists() and shm.exists()  # open: SQLite keeps them while connected
    assert mode(data) == 0o700
    assert {p.name: mode(p) for p in (db, wal, shm)} == {
        "taskforce.db": 0o600,
        "taskforce.db-wal": 0o600,
        "taskforce.db-shm": 0o600,
    }


async def test_files_an_earlier_version_left_readable_are_made_private(
    make_app: AppFactory, tmp_path: Path, umask_022: None
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    db = data / "taskforce.db"
    for path in (db, db.with_name("taskforce.db-wal")):
        path.touch(mode=0o644)  # an empty database and WAL are valid to SQLite
    app = await make_app(f"sqlite:///{db}")
    assert (await app.console.push("whoami", as_="admin")).ok
    assert mode(data) == 0o700
    assert [mode(p) for p in data.iterdir()] == [0o600] * len(list(data.iterdir()))


def test_evidence_files_and_their_folders_are_private(tmp_path: Path, umask_022: None) -> None:
    photos = file_store(tmp_path / "data")
    key = photos.put(b"\xff\xd8 not really a photo", "jpg")
    path = photos.path(key)
    assert (mode(path), mode(path.parent), mode(photos.root)) == (0o600, 0o700, 0o700)

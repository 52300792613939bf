"""Files only the bot's own user can read (README "Security"): the data folder 0700, the
SQLite database with its WAL and shared-memory files 0600, whatever the umask.

The modes are set outright, not asked of `mkdir`/`open` (which the umask trims), and also on
folders and files an earlier version left readable by anyone on the host.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")  # SQLite's files beside the database


def private_dir(path: Path) -> Path:
    """Make `path` (and any missing parents) a folder only its owner can enter."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)
    return path


def private_sqlite_file(path: Path) -> None:
    """Create the SQLite database `path` empty and 0600 if missing (SQLite gives its WAL and
    shared-memory files the database's mode), and make it and those files 0600 if present."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
    os.close(fd)
    for file in (path, *(path.with_name(path.name + end) for end in SQLITE_COMPANIONS)):
        if file.exists():
            os.chmod(file, PRIVATE_FILE)

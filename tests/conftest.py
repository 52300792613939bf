"""Shared fixtures: fresh databases (SQLite and PostgreSQL), a manual clock, a wired App.

PostgreSQL tests run when `TASKFORCE_TEST_POSTGRES_URL` is set (`.ci/run` sets it): every
test gets its own database, copied from a migrated template, dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command

from bot.base.clock import ManualClock
from bot.base.config import Settings
from bot.serving.app import App, build_app
from bot.store.engine import alembic_config
from tests.synapse import Synapse

PG_URL = os.environ.get("TASKFORCE_TEST_POSTGRES_URL")
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _pg_admin_dsn() -> str:
    assert PG_URL
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


def _pg_url_for(dbname: str) -> str:
    assert PG_URL
    base = PG_URL.rsplit("/", 1)[0]
    if base.startswith("postgresql://"):
        base = "postgresql+psycopg://" + base[len("postgresql://") :]
    return f"{base}/{dbname}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per test session."""
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    command.upgrade(alembic_config(f"sqlite:///{path}"), "head")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A PostgreSQL database migrated to head once per session (None without PostgreSQL)."""
    if not PG_URL:
        yield None
        return
    name = f"tf_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    command.upgrade(alembic_config(_pg_url_for(name)), "head")
    yield name
    with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_pg_database(template: str | None = None) -> tuple[str, Callable[[], None]]:
    """Create an empty (or template-copied) PostgreSQL database; return its URL and a dropper."""
    name = f"tf_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
        if template:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return _pg_url_for(name), drop


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite database of this test alone."""
    path = tmp_path / "taskforce.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def pg_url(pg_template: str | None) -> Iterator[str]:
    """A migrated PostgreSQL database of this test alone (skips without PostgreSQL)."""
    if not pg_template:
        pytest.skip("TASKFORCE_TEST_POSTGRES_URL is not set")
    url, drop = fresh_pg_database(pg_template)
    yield url
    drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each store test runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each store, as a synchronous URL (migration and schema tests;
    PostgreSQL skipped when not configured)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not PG_URL:
        pytest.skip("TASKFORCE_TEST_POSTGRES_URL is not set")
    url, drop = fresh_pg_database()
    yield url
    drop()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says so."""
    return ManualClock(START)


def make_settings(db: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test: no .env file, the given database, fast outbox retries."""
    values: dict[str, Any] = {
        "TASKFORCE_DATABASE_URL": db,
        "TASKFORCE_DATA_DIR": str(tmp_path / "data"),
        "TASKFORCE_EXPORT_DIR": str(tmp_path / "exports"),
        "TASKFORCE_ADMINS": "console:admin",
        "TASKFORCE_OUTBOX_BASE_BACKOFF": 1.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


AppFactory = Callable[..., Awaitable[App]]


@pytest.fixture
async def make_app(tmp_path: Path, clock: ManualClock) -> AsyncIterator[AppFactory]:
    """Build (and later close) Apps on a given database URL with the test clock."""
    apps: list[App] = []

    async def factory(db: str, **overrides: Any) -> App:
        app = build_app(make_settings(db, tmp_path, **overrides), clock=clock)
        await app.prepare()
        apps.append(app)
        return app

    yield factory
    for app in apps:
        await app.close()


@pytest.fixture
async def app(make_app: AppFactory, sqlite_url: str) -> App:
    """An App on SQLite, admin `admin` on the console."""
    return await make_app(sqlite_url)


@pytest.fixture
async def any_app(make_app: AppFactory, db_url: str) -> App:
    """An App on SQLite and on PostgreSQL (the test runs twice)."""
    return await make_app(db_url)


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    """One real Synapse for the session (tests/synapse.py); each test registers its own
    users and rooms (tests/test_matrix_synapse.py, tests/test_matrix_e2e.py)."""
    server = Synapse.start(tmp_path_factory.mktemp("synapse"))
    try:
        yield server
    finally:
        server.stop()

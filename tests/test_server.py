"""The served app over real HTTP (uvicorn on port 0): health, readiness, metrics."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import psycopg
import pytest

from bot.base.clock import ManualClock
from bot.serving.app import build_app
from bot.serving.preflight import run_checks, shown_url
from bot.serving.server import NOT_INSTALLED, create_app
from bot.store import engine as store
from tests.conftest import PG_URL, AppFactory, fresh_pg_database, make_settings
from tests.serving import captured_logs, sample, serving, wait_until

OP = "OP-NIGHT-HARBOUR"


async def test_health_readiness_and_metrics_move_with_commands_and_posts(
    make_app: AppFactory, sqlite_url: str
) -> None:
    # The worker is left idle (no wake-up, a long poll) so the test decides when posts go.
    app = await make_app(sqlite_url, TASKFORCE_OUTBOX_POLL_SECONDS=3600)
    app.core.on_outbox = lambda: None
    async with (
        serving(create_app(app.settings, app=app)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        health = await http.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok")
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        # SQLite is one process: its scheduler always leads.
        assert ready.json() == {"ready": True, "problems": {}, "scheduler": "leader"}

        before = (await http.get("/metrics")).text
        for line, channel in [
            ('op new "Night Harbour" --countries ES,PT', "hq"),
            ("op link --max-tlp green", "room"),
            ("op status active", "room"),
        ]:
            reply = await app.console.push(line, as_="admin", channel=channel)
            assert reply.ok, reply.message.plain_text()
        refused = await app.console.push("op frobnicate", as_="admin")
        assert not refused.ok

        scrape = await http.get("/metrics")
        assert scrape.status_code == 200
        assert scrape.headers["content-type"].startswith("text/plain")
        after = scrape.text

        def moved(name: str, **labels: str) -> float:
            return sample(after, name, **labels) - sample(before, name, **labels)

        assert moved("taskforce_commands_total", command="op new", outcome="ok") == 1
        assert moved("taskforce_commands_total", command="op status", outcome="ok") == 1
        assert moved("taskforce_commands_total", command="?", outcome="refused") == 1
        assert moved("taskforce_command_seconds_count", command="op link") == 1
        assert sample(after, "taskforce_outbox_rows", platform="console", status="pending") == 1
        assert sample(after, "taskforce_outbox_rows", platform="console", status="sent") == 0
        assert sample(after, "taskforce_scheduler_leader") == 1

        assert await app.worker.drain() == 1
        delivered = (await http.get("/metrics")).text
        assert sample(delivered, "taskforce_outbox_rows", platform="console", status="pending") == 0
        assert sample(delivered, "taskforce_outbox_rows", platform="console", status="sent") == 1
        assert (
            sample(delivered, "taskforce_outbox_total", platform="console", result="sent")
            - sample(before, "taskforce_outbox_total", platform="console", result="sent")
            == 1
        )
        assert [p.channel for p in await app.console.pop_posts()] == ["room"]


async def test_readiness_names_migrations_behind_while_health_stays_ok(
    make_app: AppFactory, sqlite_url: str
) -> None:
    app = await make_app(sqlite_url)
    path = sqlite_url.split(":///", 1)[1]
    async with (
        serving(create_app(app.settings, app=app)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        assert (await http.get("/readyz")).status_code == 200
        with sqlite3.connect(path) as db:
            (head,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
            db.execute("UPDATE alembic_version SET version_num = 'older'")
        behind = await http.get("/readyz")
        assert behind.status_code == 503
        assert behind.json()["problems"] == {"database": "migrations not at head"}
        assert (await http.get("/healthz")).status_code == 200
        with sqlite3.connect(path) as db:
            db.execute("UPDATE alembic_version SET version_num = ?", (head,))
        assert (await http.get("/readyz")).status_code == 200


def _pg_admin(sql: str) -> None:
    assert PG_URL
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


async def test_database_lost_then_back_on_postgresql(make_app: AppFactory, pg_url: str) -> None:
    app = await make_app(pg_url)
    name = pg_url.rsplit("/", 1)[1]
    async with (
        serving(create_app(app.settings, app=app)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        assert (await http.get("/readyz")).status_code == 200
        _pg_admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        _pg_admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        try:
            lost = await http.get("/readyz")
            assert lost.status_code == 503
            assert lost.json()["problems"] == {"database": "unreachable: OperationalError"}
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/metrics")).status_code == 200
        finally:
            _pg_admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        back = await http.get("/readyz")
        assert back.status_code == 200, back.text


async def test_starts_without_its_database_and_becomes_ready_when_it_appears(
    tmp_path: Path, clock: ManualClock
) -> None:
    if not PG_URL:
        pytest.skip("TASKFORCE_TEST_POSTGRES_URL is not set")
    url, drop = fresh_pg_database()
    drop()  # a database that does not exist (yet)
    name = url.rsplit("/", 1)[1]
    app = build_app(make_settings(url, tmp_path), clock=clock)
    try:
        with captured_logs() as events:
            async with (
                serving(create_app(app.settings, app=app)) as base,
                httpx.AsyncClient(base_url=base) as http,
            ):
                assert (await http.get("/healthz")).status_code == 200
                early = await http.get("/readyz")
                assert early.status_code == 503
                problems = early.json()["problems"]
                assert problems["server"] == "start-up failed: OperationalError"
                assert problems["database"] == "unreachable: OperationalError"
                # The log names the database (no password) and why: `taskforce check`'s sentence.
                checked = {r.check: r for r in await run_checks(app.settings)}["database"]
                assert checked.detail.startswith(shown_url(app.settings.effective_database_url))
                assert f'database "{name}" does not exist' in checked.detail
                failed = [e for e in events if e["event"] == "server.start_failed"]
                assert failed and failed[0]["reason"] == checked.detail
                gated = await http.post("/slack/events", content=b"{}")
                assert gated.status_code == 503
                assert gated.headers["retry-after"] == "5"
                assert "Taskforce is starting" in gated.text

                _pg_admin(f'CREATE DATABASE "{name}"')

                async def ready() -> bool:
                    return (await http.get("/readyz")).status_code == 200

                await wait_until(ready, timeout=20)
                # Start-up finished behind the probe: migrated, admin bootstrapped, gate open.
                reply = await app.console.push("whoami", as_="admin")
                assert reply.ok, reply.message.plain_text()
                assert (await http.post("/nowhere", content=b"{}")).status_code == 404
    finally:
        drop()


async def test_an_install_without_its_migrations_is_refused_not_retried(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database is fine, the package is not: no waiting mends that, so start-up stops
    with one sentence instead of retrying and calling the database unreachable."""
    app = build_app(make_settings(f"sqlite:///{tmp_path / 'tf.db'}", tmp_path), clock=clock)
    monkeypatch.setattr(store, "MIGRATIONS_DIR", tmp_path / "site-packages" / "bot" / "migrations")
    with captured_logs() as events:
        async with (
            serving(create_app(app.settings, app=app)) as base,
            httpx.AsyncClient(base_url=base) as http,
        ):
            ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["problems"] == {
        "server": f"start-up refused: {NOT_INSTALLED}",
        "database": NOT_INSTALLED,
    }
    (refused,) = [e for e in events if e["event"] == "server.start_refused"]
    assert refused["reason"].startswith("Taskforce is installed without its database migrations")
    assert not [e for e in events if e["event"] == "server.start_failed"]

"""`taskforce outbox`: list the posts waiting and the dead ones; `outbox retry` puts dead back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import text
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.base.clock import ManualClock
from bot.contracts import SendError
from bot.serving.app import App
from bot.serving.cli import cli
from bot.store.models import OutboxMessage
from tests.conftest import AppFactory


async def taskforce(app: App, *args: str) -> Result:
    """Run the real CLI (in a thread: it runs its own event loop) against the app's database."""
    env = {
        "TASKFORCE_DATABASE_URL": app.settings.effective_database_url,
        "TASKFORCE_DATA_DIR": str(app.settings.data_dir),
    }
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env)


async def rows(app: App) -> dict[int, OutboxMessage]:
    """Every outbox row by id."""
    async with app.store.transaction() as session:
        found = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    return {r.id or 0: r for r in found}


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty directory: no `.env` of the developer's is read."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def test_outbox_lists_waiting_and_dead_posts_and_retry_sends_dead_ones_again(
    make_app: AppFactory, sqlite_url: str, here: Path, clock: ManualClock
) -> None:
    app = await make_app(sqlite_url)
    console = app.console
    assert (await console.push('op new "Night Harbour"', as_="admin", channel="hq")).ok
    for room in ("room-a", "room-b"):
        assert (await console.push("op link", as_="admin", channel=room)).ok
    empty = await taskforce(app, "outbox")
    assert (empty.exit_code, empty.output.strip()) == (
        0,
        "The outbox is empty: every post has been sent.",
    )

    assert (await console.push("op status active", as_="admin", channel="hq")).ok
    console.sender.fail_next = [SendError("channel_not_found", permanent=True)]
    await app.worker.drain()
    settled = await rows(app)
    (dead_id,) = [i for i, r in settled.items() if r.status == "dead"]
    (sent_id,) = [i for i, r in settled.items() if r.status == "sent"]
    assert (await console.push("op status suspended", as_="admin", channel="hq")).ok

    listed = await taskforce(app, "outbox")
    assert listed.exit_code == 0, listed.output
    out = listed.output.splitlines()
    assert out[0].split() == [
        "id", "status", "platform", "channel", "kind", "tries", "next", "attempt", "(UTC)",
        "last", "error",
    ]  # fmt: skip
    dead_line = next(line for line in out if line.split()[0] == str(dead_id))
    assert dead_line.split()[1:3] == ["dead", "console"]
    assert dead_line.rstrip().endswith("channel_not_found")
    assert not any(line.split()[0] == str(sent_id) for line in out[1:-1])
    pending = [line.split() for line in out[1:-1] if line.split()[1] == "pending"]
    assert sorted(p[3] for p in pending) == ["room-a", "room-b"]
    assert out[-1] == "2 waiting, 1 dead (put them back with `taskforce outbox retry [ID...]`)."
    # `outbox list` (the README's name) is the same table; no post's text is ever shown.
    assert (await taskforce(app, "outbox", "list")).output == listed.output
    assert "suspended" not in listed.output and "Night Harbour" not in listed.output

    wrong = await taskforce(app, "outbox", "retry", str(sent_id))
    assert wrong.exit_code == 1
    assert f"Not dead (sent, waiting or no such post): {sent_id}." in wrong.output
    assert (await rows(app))[sent_id].status == "sent"

    retried = await taskforce(app, "outbox", "retry", str(dead_id))
    assert retried.exit_code == 0, retried.output
    assert retried.output.strip() == "1 dead post put back in the queue."
    again = (await rows(app))[dead_id]
    assert (again.status, again.attempts, again.last_error) == ("pending", 0, None)

    clock.set(datetime.now(UTC) + timedelta(seconds=1))  # the CLI put it back "now", real time
    await app.worker.drain()
    assert {r.status for r in (await rows(app)).values()} == {"sent"}
    # Each room got both posts: the one that died came through after the retry.
    posts = await console.pop_posts()
    assert sorted(p.channel for p in posts) == ["room-a", "room-a", "room-b", "room-b"]


async def test_outbox_list_reads_only(
    make_app: AppFactory, sqlite_url: str, here: Path, tmp_path: Path
) -> None:
    """Listing never creates or migrates a database: it says what is missing instead."""
    nowhere = tmp_path / "nowhere" / "tf.db"
    env = {"TASKFORCE_DATABASE_URL": f"sqlite:///{nowhere}", "TASKFORCE_DATA_DIR": str(here)}
    missing = await asyncio.to_thread(CliRunner().invoke, cli, ["outbox", "list"], env=env)
    assert missing.exit_code == 1
    assert missing.output.strip() == f"There is no database at {nowhere} yet: the outbox is empty."
    assert not nowhere.parent.exists()

    app = await make_app(sqlite_url)
    async with app.store.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0009'"))
    behind = await taskforce(app, "outbox", "list")
    assert behind.exit_code == 1
    assert behind.output.strip() == (
        "The database is not at the newest migration: run `taskforce db upgrade` first."
    )
    assert not await app.store.migrations_at_head()  # left as it was

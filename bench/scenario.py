"""The operation every benchmark works in, set up through the core before the run.

The bench admin is a Slack identity (`TBENCH/UBENCH`); the operation, its status and its
subject are made with real commands (dispatch with a Slack invocation); the many linked
channels of the fan-out benchmark are written straight to the store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import select

from bench.common import CHANNEL, OUT, TEAM, USER
from bot.base.config import Settings
from bot.commands.dispatch import dispatch
from bot.contracts import Actor, Channel, Invocation
from bot.serving.app import App, build_app
from bot.store.models import ChannelLink, Operation

OP_CODE = "OP-BENCH"
ADMIN_KEY = f"{TEAM}/{USER}"
SIGHTING = 'sighting S-1 at "Algeciras port, quay {i}" --grade B2 --note "bench {run}-{i}"'


def settings_env(db_url: str, **extra: str) -> dict[str, str]:
    """The environment of a Taskforce process for the bench (no `.env`, no rate limit)."""
    env = {
        "TASKFORCE_DATABASE_URL": db_url,
        "TASKFORCE_DATA_DIR": str(OUT / "data"),
        "TASKFORCE_ADMINS": f"slack:{ADMIN_KEY}",
        # One bench user sends thousands of commands a minute: the per-member limit is off.
        "TASKFORCE_RATE_LIMIT_PER_MINUTE": "0",
        "TASKFORCE_LOG_JSON": "1",
    }
    env.update(extra)
    return env


def bench_settings(db_url: str, **extra: Any) -> Settings:
    """Settings for an in-process App, read from `settings_env` only (never `.env`)."""
    values: dict[str, Any] = dict(settings_env(db_url))
    values.update(extra)
    return Settings(_env_file=None, **values)


def slack_invocation(text: str, channel: str = CHANNEL, event_key: str | None = None) -> Invocation:
    """A command from the bench admin in a Slack channel."""
    return Invocation(
        actor=Actor("slack", ADMIN_KEY, "bench"),
        channel=Channel("slack", channel, channel.lower()),
        text=text,
        event_key=event_key,
    )


async def command(app: App, text: str, channel: str = CHANNEL) -> str:
    """Dispatch one command as the bench admin; raise if it was refused."""
    reply = await dispatch(app.core, slack_invocation(text, channel))
    body = reply.message.plain_text()
    if not reply.ok:
        raise RuntimeError(f"bench set-up command {text!r} refused: {body}")
    return body


async def prepare_operation(app: App, *, link_channel: bool = True) -> None:
    """OP-BENCH (active), a suspect subject S-1, and the bench Slack channel linked."""
    await command(app, f'op new "Bench" --code {OP_CODE} --countries ES,PT --tlp amber')
    if link_channel:
        await command(app, f"op link {OP_CODE} --max-tlp amber")
    await command(app, f"op status {OP_CODE} active")
    await command(
        app, f'subject add {OP_CODE} person "Ivan Petrov" --category suspect --nationality RU'
    )


async def link_many(app: App, slack: int, telegram: int) -> list[tuple[str, str]]:
    """Link `slack` Slack channels and `telegram` Telegram groups to OP-BENCH, in the store."""
    now = datetime.now(UTC)
    keys = [("slack", f"CFAN{i:04d}") for i in range(slack)]
    keys += [("telegram", str(-1_000_000_000 - i)) for i in range(telegram)]
    async with app.store.transaction() as session:
        op = (await session.exec(select(Operation).where(Operation.code == OP_CODE))).one()
        for platform, key in keys:
            session.add(
                ChannelLink(
                    operation_id=op.id or 0,
                    platform=platform,
                    channel_key=key,
                    channel_name=f"fan-{key}",
                    is_group=True,
                    max_tlp="amber",
                    linked_at=now,
                )
            )
    return keys


async def prepared_app(db_url: str, *, link_channel: bool = True, **extra: Any) -> App:
    """A migrated App with OP-BENCH set up (the caller closes it)."""
    app = build_app(bench_settings(db_url, **extra))
    await app.prepare()
    await prepare_operation(app, link_channel=link_channel)
    return app


def sqlite_path(name: str) -> Path:
    """A fresh SQLite file under bench/out/ (removed if it was there)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path

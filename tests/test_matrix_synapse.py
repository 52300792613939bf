"""Matrix against a real homeserver: Synapse on loopback (tests/synapse.py), the bot's real
matrix-nio client, and a second real matrix-nio client as the officer.

What the fake homeserver cannot show: that a burst larger than a sync's timeline is taken
whole and in order (issue 30), that kill -9 in such a burst loses nothing, and that a room
the officer's client marks `is_direct` with a third person in it gets no private answer
(issue 25, finding 7). Faults Synapse cannot be made to produce stay in tests/test_matrix.py.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    InviteMemberEvent,
    JoinedMembersResponse,
    MessageDirection,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
)

from bot.adapters.matrix import MatrixAdapter
from bot.serving.app import App
from bot.serving.server import create_app
from tests.conftest import AppFactory
from tests.crashing import Database
from tests.serving import ServerProcess, replica_env, serving, wait_until
from tests.synapse import Synapse, User

BURST = 200
SIGHTING = re.compile(r"^Recorded Sighting SG-\d+ — .*\nSeen: .*\nWhere: (Pier \d+)", re.M)


@asynccontextmanager
async def person(server: Synapse, user: User) -> AsyncIterator[AsyncClient]:
    """A real matrix-nio client signed in as `user`."""
    client = AsyncClient(server.url, user.user_id)
    client.restore_login(user.user_id, user.device_id, user.access_token)
    try:
        yield client
    finally:
        await client.close()


def bot_settings(server: Synapse, bot: User, admin: User) -> dict[str, Any]:
    return {
        "MATRIX_HOMESERVER": server.url,
        "MATRIX_ACCESS_TOKEN": bot.access_token,
        "MATRIX_POST_INTERVAL": 0,
        "MATRIX_SYNC_TIMEOUT_MS": 1000,
        "TASKFORCE_ADMINS": f"matrix:{admin.user_id},console:admin",
        "TASKFORCE_RATE_LIMIT_PER_MINUTE": 100_000,
    }


@dataclass
class Served:
    app: App
    adapter: MatrixAdapter


@asynccontextmanager
async def bot_on(
    make_app: AppFactory, db_url: str, server: Synapse, bot: User, admin: User, **extra: Any
) -> AsyncIterator[Served]:
    """The bot served in this process on `db_url`, syncing with Synapse (`extra`: more
    settings)."""
    app = await make_app(db_url, **{**bot_settings(server, bot, admin), **extra})
    app.extras.pop("scheduler", None)
    asgi = create_app(app.settings, app=app)
    [adapter] = asgi.state.adapters
    assert isinstance(adapter, MatrixAdapter)
    async with serving(asgi):
        await wait_until(lambda: adapter.position is not None, 30)
        yield Served(app, adapter)


async def say(client: AsyncClient, room: str, text: str) -> str:
    """Send `text` as an `m.text` message; its event id."""
    resp = await client.room_send(room, "m.room.message", {"msgtype": "m.text", "body": text})
    assert isinstance(resp, RoomSendResponse), resp
    return str(resp.event_id)


async def joined(client: AsyncClient, room: str) -> set[str]:
    resp = await client.joined_members(room)
    assert isinstance(resp, JoinedMembersResponse), resp
    return {m.user_id for m in resp.members}


async def room_with(client: AsyncClient, bot: User, **create: Any) -> str:
    """A room `client` creates inviting the bot; returned once the bot has joined."""
    resp = await client.room_create(invite=[bot.user_id], **create)
    assert isinstance(resp, RoomCreateResponse), resp
    await wait_until(lambda: _has(client, resp.room_id, bot.user_id), 30)
    return str(resp.room_id)


async def _has(client: AsyncClient, room: str, user: str) -> bool:
    return user in await joined(client, room)


async def said_by(client: AsyncClient, room: str, sender: str) -> list[str]:
    """Every message body `sender` wrote in the room, oldest first (the room's history)."""
    sync = await client.sync(timeout=0, sync_filter={"room": {"timeline": {"limit": 1}}})
    assert isinstance(sync, SyncResponse), sync
    found: list[str] = []
    start: str | None = sync.next_batch
    while start:
        page = await client.room_messages(room, start, None, MessageDirection.back, 1000)
        assert isinstance(page, RoomMessagesResponse), page
        found += [
            str(e.source["content"].get("body", ""))
            for e in page.chunk
            if e.source.get("sender") == sender and e.source.get("type") == "m.room.message"
        ]
        if not page.chunk or page.end in (None, start):
            break
        start = page.end
    return found[::-1]


async def setup_operation(client: AsyncClient, room: str, bot: User) -> None:
    """An operation and its subject S-1, created from `room`."""
    await say(client, room, '!tf op new "Night Harbour" --code OP-NH')
    await say(client, room, '!tf subject add person "Viktor Test" --category suspect')

    async def both() -> bool:
        said = "\n".join(await said_by(client, room, bot.user_id))
        return "OP-NH" in said and "Viktor Test" in said

    await wait_until(both, 30, step=0.2)


def answered(bodies: list[str]) -> Counter[str]:
    """How many answers each place got."""
    return Counter(m.group(1) for b in bodies for m in [SIGHTING.search(b)] if m)


# ---------------------------------------------------------------- bursts


async def test_a_burst_of_200_commands_is_stored_and_answered_once_each(
    make_app: AppFactory, sqlite_url: str, synapse: Synapse
) -> None:
    bot, officer = synapse.register("bot"), synapse.register("officer")
    async with (
        bot_on(make_app, sqlite_url, synapse, bot, officer) as served,
        person(synapse, officer) as client,
    ):
        room = await room_with(client, bot, name="Harbour")
        await setup_operation(client, room, bot)
        places = [f"Pier {i}" for i in range(BURST)]
        for place in places:  # as fast as the officer's client sends
            await say(client, room, f'!tf sighting S-1 at "{place}"')

        async def all_answered() -> bool:
            return sum(answered(await said_by(client, room, bot.user_id)).values()) >= BURST

        await wait_until(all_answered, 120, step=0.5)
        assert answered(await said_by(client, room, bot.user_id)) == dict.fromkeys(places, 1)
        async with served.app.store.transaction() as session:
            conn = await session.connection()
            rows = (await conn.exec_driver_sql("SELECT location FROM sighting ORDER BY id")).all()
        assert [r[0] for r in rows] == places  # every one, once, in the order typed


async def test_kill_9_in_a_burst_loses_no_command(
    tmp_path: Path, synapse: Synapse, db_url: str
) -> None:
    bot, officer = synapse.register("bot"), synapse.register("officer")
    db = (
        Database(db_url) if db_url.startswith("postgresql") else Database.sqlite(tmp_path / "tf.db")
    )
    env = replica_env(
        db.serve_url,
        tmp_path,
        TASKFORCE_INBOX_LEASE_SECONDS="2",
        **{k: str(v) for k, v in bot_settings(synapse, bot, officer).items()},
    )
    first = await ServerProcess(env).start()
    second: ServerProcess | None = None
    try:
        async with person(synapse, officer) as client:
            await first.wait_for_line("matrix.started")
            await wait_until(lambda: _synced(first), 30)
            room = await room_with(client, bot, name="Harbour")
            await setup_operation(client, room, bot)
            places = [f"Pier {i}" for i in range(BURST)]

            async def officer_types() -> None:
                for place in places:
                    await say(client, room, f'!tf sighting S-1 at "{place}"')

            typing = asyncio.create_task(officer_types())
            await wait_until(lambda: _stored_at_least(db, 30), 60, step=0.05)
            first.signal(signal.SIGKILL)  # in the middle of the burst
            assert await first.wait() == -signal.SIGKILL
            stored_at_kill = sum((await db.sightings()).values())
            await typing
            assert stored_at_kill < BURST  # the kill really fell inside the burst
            second = await ServerProcess(env).start()

            async def everything() -> bool:
                return sum((await db.sightings()).values()) >= BURST and (
                    await db.inbox_depth() == 0
                )

            await wait_until(everything, 120, step=0.5)
            assert await db.sightings() == dict.fromkeys(places, 1)
            said = answered(await said_by(client, room, bot.user_id))
            assert set(said) == set(places)  # each answered…
            # …once: a reply sent again after the kill is the same transaction.
            assert said == dict.fromkeys(places, 1)
    finally:
        for proc in (first, second):
            if proc is not None and proc.proc is not None and proc.proc.returncode is None:
                proc.signal(signal.SIGKILL)
                await proc.wait()


def _synced(server: ServerProcess) -> bool:
    return any("server.started" in line for line in server.lines)


async def _stored_at_least(db: Database, n: int) -> bool:
    try:
        return sum((await db.sightings()).values()) >= n
    except Exception:  # the table exists once the first process has migrated
        return False


# ---------------------------------------------------------------- private means private


async def test_a_direct_room_with_a_third_person_gets_no_private_answer(
    make_app: AppFactory, sqlite_url: str, synapse: Synapse
) -> None:
    bot, ana, eve = synapse.register("bot"), synapse.register("ana"), synapse.register("eve")
    async with (
        bot_on(make_app, sqlite_url, synapse, bot, ana),
        person(synapse, ana) as a,
        person(synapse, eve) as e,
    ):
        # Ana's client marks the room `is_direct`; Eve is invited and joins too.
        shared = await room_with(a, bot, is_direct=True)
        await a.room_invite(shared, eve.user_id)
        await e.join(shared)
        assert await joined(a, shared) == {ana.user_id, bot.user_id, eve.user_id}
        await say(a, shared, "!tf whoami")

        async def pointer() -> bool:
            return any("accept my invitation" in b for b in await said_by(e, shared, bot.user_id))

        await wait_until(pointer, 30, step=0.2)
        assert not any(
            ana.user_id in b and "Admin" in b for b in await said_by(e, shared, bot.user_id)
        )
        # The bot invited Ana to a DM room of its own; nothing is in it before she accepts.
        dm = await invitation(a, bot)
        await a.join(dm)
        assert await joined(a, dm) == {ana.user_id, bot.user_id}
        assert await said_by(a, dm, bot.user_id) == []
        await say(a, shared, "!tf whoami")

        async def in_dm() -> bool:  # the answer, encrypted (the bot's DM rooms are: README)
            sync = await a.sync(timeout=0, sync_filter={"room": {"timeline": {"limit": 1}}})
            assert isinstance(sync, SyncResponse), sync
            page = await a.room_messages(dm, sync.next_batch, None, MessageDirection.back, 100)
            assert isinstance(page, RoomMessagesResponse), page
            return any(
                e.source.get("sender") == bot.user_id
                and e.source.get("type") == "m.room.encrypted"
                for e in page.chunk
            )

        await wait_until(in_dm, 30, step=0.2)
        assert not any("Admin: yes" in b for b in await said_by(e, shared, bot.user_id))


async def invitation(client: AsyncClient, bot: User) -> str:
    """The room the bot invited `client`'s user to (waits for it)."""
    found: list[str] = []

    async def invited() -> bool:
        sync = await client.sync(timeout=0)
        assert isinstance(sync, SyncResponse), sync
        for room_id, info in sync.rooms.invite.items():
            if any(
                isinstance(ev, InviteMemberEvent) and ev.sender == bot.user_id
                for ev in info.invite_state
            ):
                found.append(room_id)
        return bool(found)

    await wait_until(invited, 30, step=0.2)
    return found[0]

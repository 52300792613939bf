"""End-to-end encrypted Matrix rooms against a real Synapse (tests/synapse.py): the bot's
real matrix-nio client with its durable key store, and an officer's real matrix-nio client
with its own Olm/Megolm machine (nio's `e2e` extra), as Element would be.

What they show (issue 30): the bot joins an encrypted room, decrypts a command, answers
encrypted (nothing readable on the server), the officer decrypts the answer; a restart
keeps the device and its sessions (same device, same identity key, the officer's old room
key still opens new commands); the store is private on disk; a message the bot cannot
decrypt gets one private sentence; under `MATRIX_TRUST=verified` a device not listed gets
nothing run and no room key.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    MatrixRoom,
    MegolmEvent,
    RoomCreateResponse,
    RoomMessageNotice,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
)
from nio.store import SqliteStore

from bot.adapters import matrix as matrix_adapter
from tests.conftest import AppFactory
from tests.crashing import Database
from tests.serving import ServerProcess, replica_env, wait_until
from tests.synapse import Synapse, User
from tests.test_matrix_synapse import _stored_at_least, answered, bot_on, bot_settings, person

E2E_BURST = 40
ENCRYPTED = [
    {
        "type": "m.room.encryption",
        "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
    }
]


@dataclass
class Officer:
    """An E2E matrix-nio client syncing in the background; what it could and could not read."""

    client: AsyncClient
    read: list[tuple[str, str, str]] = field(default_factory=list)  # (room, sender, body)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (room, sender)

    def said(self, room: str, sender: str) -> list[str]:
        """What `sender` wrote in `room` that this officer could decrypt, oldest first."""
        return [b for r, s, b in self.read if r == room and s == sender]

    async def say(self, room: str, text: str) -> str:
        """Send `text` encrypted (the officer's client trusts the bot's device as Element
        does by default: unverified but not blocked)."""
        await wait_until(lambda: room in self.client.rooms, 30)
        resp = await self.client.room_send(
            room,
            "m.room.message",
            {"msgtype": "m.text", "body": text},
            ignore_unverified_devices=True,
        )
        assert isinstance(resp, RoomSendResponse), resp
        return str(resp.event_id)


@asynccontextmanager
async def officer(server: Synapse, user: User, store: Path) -> AsyncIterator[Officer]:
    """`user`'s client with end-to-end encryption, keys uploaded, syncing in the background."""
    store.mkdir(parents=True, exist_ok=True)
    config = AsyncClientConfig(encryption_enabled=True, store=SqliteStore, store_sync_tokens=True)
    client = AsyncClient(server.url, user.user_id, store_path=str(store), config=config)
    client.restore_login(user.user_id, user.device_id, user.access_token)
    me = Officer(client)

    async def notice(room: MatrixRoom, event: RoomMessageNotice) -> None:
        me.read.append((room.room_id, event.sender, event.body))

    async def undecrypted(room: MatrixRoom, event: MegolmEvent) -> None:
        me.unreadable.append((room.room_id, event.sender))

    client.add_event_callback(notice, RoomMessageNotice)  # type: ignore[arg-type]
    client.add_event_callback(undecrypted, MegolmEvent)  # type: ignore[arg-type]
    await client.keys_upload()
    syncing = asyncio.create_task(client.sync_forever(timeout=500, full_state=True))
    try:
        yield me
    finally:
        syncing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await syncing
        await client.close()


async def encrypted_room(client: AsyncClient, bot: User, **create: Any) -> str:
    """An encrypted room `client` creates inviting the bot; returned once the bot joined."""
    resp = await client.room_create(invite=[bot.user_id], initial_state=ENCRYPTED, **create)
    assert isinstance(resp, RoomCreateResponse), resp
    room = str(resp.room_id)

    async def in_room() -> bool:  # as the officer's own client has synced it
        known = client.rooms.get(room)
        return known is not None and bot.user_id in known.users

    await wait_until(in_room, 30, step=0.2)
    return room


async def raw_types(server: Synapse, reader: User, room: str, sender: str) -> list[str]:
    """The event types `sender` put in the room, as the homeserver keeps them (read by a
    client without crypto, which decrypts nothing)."""
    async with person(server, reader) as plain:
        sync = await plain.sync(timeout=0, sync_filter={"room": {"timeline": {"limit": 1}}})
        assert isinstance(sync, SyncResponse), sync
        resp = await plain.room_messages(room, sync.next_batch, limit=200)
    assert isinstance(resp, RoomMessagesResponse), resp
    return [e.source.get("type") for e in resp.chunk if e.source.get("sender") == sender]


def devices(server: Synapse, reader: User, user: User) -> dict[str, str]:
    """`user`'s devices as the homeserver publishes them: device id → Ed25519 key."""
    resp = httpx.post(
        f"{server.url}/_matrix/client/v3/keys/query",
        json={"device_keys": {user.user_id: []}},
        headers={"Authorization": f"Bearer {reader.access_token}"},
        timeout=30,
    )
    resp.raise_for_status()
    published = resp.json()["device_keys"].get(user.user_id, {})
    return {d: keys["keys"][f"ed25519:{d}"] for d, keys in published.items()}


def people(server: Synapse) -> tuple[User, User]:
    """The bot and an officer, each on a device id of its own (nio shares no room key with a
    device whose id is its own device's, whoever's it is: README "Matrix")."""
    return server.register("bot", device_id="TASKFORCE"), server.register(
        "ana", device_id="ANAPHONE"
    )


def e2e_settings(server: Synapse, bot: User, admin: User, store: Path, **extra: Any) -> dict:
    return {**bot_settings(server, bot, admin), "MATRIX_STORE_DIR": str(store), **extra}


async def test_an_encrypted_room_is_answered_encrypted_and_a_restart_keeps_the_device(
    make_app: AppFactory, sqlite_url: str, synapse: Synapse, tmp_path: Path
) -> None:
    bot, ana = people(synapse)
    store = tmp_path / "bot-keys"
    settings = e2e_settings(synapse, bot, ana, store)
    async with officer(synapse, ana, tmp_path / "ana-keys") as a:
        async with bot_on(make_app, sqlite_url, synapse, bot, ana, **settings):
            room = await encrypted_room(a.client, bot, name="Harbour")
            await a.say(room, '!tf op new "Night Harbour" --code OP-NH')
            await wait_until(lambda: any("OP-NH" in b for b in a.said(room, bot.user_id)), 60)
        # On the server, the bot wrote only ciphertext.
        types = await raw_types(synapse, ana, room, bot.user_id)
        assert "m.room.encrypted" in types and "m.room.message" not in types
        # The keys are on disk, readable by the bot's user alone.
        assert stat.S_IMODE(store.stat().st_mode) == 0o700
        [database] = store.glob("*.db")
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
        before = devices(synapse, ana, bot)
        assert list(before) == [bot.device_id]

        # Restarted: the same device and keys; the officer's room key (sent to the bot
        # before the restart) still opens what she types now.
        async with bot_on(make_app, sqlite_url, synapse, bot, ana, **settings):
            await a.say(room, '!tf subject add person "Viktor Test" --category suspect')
            await wait_until(lambda: any("Viktor Test" in b for b in a.said(room, bot.user_id)), 60)
        assert devices(synapse, ana, bot) == before
        assert a.unreadable == []  # every answer of the bot opened


async def test_a_message_the_bot_cannot_decrypt_gets_one_private_sentence(
    make_app: AppFactory,
    sqlite_url: str,
    synapse: Synapse,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(matrix_adapter, "DECRYPT_WAIT", 1.0)
    bot, ana = people(synapse)
    settings = e2e_settings(synapse, bot, ana, tmp_path / "bot-keys")
    async with (
        officer(synapse, ana, tmp_path / "ana-keys") as a,
        bot_on(make_app, sqlite_url, synapse, bot, ana, **settings),
    ):
        room = await encrypted_room(a.client, bot, name="Harbour")
        await a.say(room, "!tf whoami")
        await wait_until(lambda: any("Admin" in b for b in a.said(room, bot.user_id)), 60)
        # An encrypted event whose room key the bot never gets (a session it was not sent).
        bogus = {
            "algorithm": "m.megolm.v1.aes-sha2",
            "sender_key": a.client.olm.account.identity_keys["curve25519"],  # type: ignore[union-attr]
            "ciphertext": "AwgAEpAB" + "A" * 40,
            "session_id": "never-shared-session",
            "device_id": ana.device_id,
        }
        async with person(synapse, ana) as plain:  # no crypto: sent as it is
            raw = await plain.room_send(room, "m.room.encrypted", bogus)
        assert isinstance(raw, RoomSendResponse), raw

        def told() -> bool:
            return any("could not read your message" in b for b in a.said(room, bot.user_id))

        await wait_until(told, 60, step=0.2)
        sentences = [b for b in a.said(room, bot.user_id) if "could not read" in b]
        assert sentences == ["I could not read your message; please send it again."]


async def test_verified_trust_runs_and_answers_only_the_listed_device(
    make_app: AppFactory, sqlite_url: str, synapse: Synapse, tmp_path: Path
) -> None:
    bot, phone = people(synapse)
    tablet = synapse.login(phone.user_id, phone.password, "ANATABLET")  # Ana's second device
    async with (
        officer(synapse, phone, tmp_path / "phone-keys") as p,
        officer(synapse, tablet, tmp_path / "tablet-keys") as t,
    ):
        assert p.client.olm is not None
        listed = (
            f"{phone.user_id} {phone.device_id} {p.client.olm.account.identity_keys['ed25519']}"
        )
        settings = e2e_settings(
            synapse,
            bot,
            phone,
            tmp_path / "bot-keys",
            MATRIX_TRUST="verified",
            MATRIX_VERIFIED_DEVICES=listed,
        )
        async with bot_on(make_app, sqlite_url, synapse, bot, phone, **settings) as served:
            room = await encrypted_room(p.client, bot, name="Harbour")
            await p.say(room, '!tf op new "Night Harbour" --code OP-NH')
            await wait_until(lambda: any("OP-NH" in b for b in p.said(room, bot.user_id)), 60)
            await wait_until(lambda: room in t.client.rooms, 30)
            await t.say(room, '!tf subject add person "Eve Tablet" --category suspect')

            def refused() -> bool:
                return any("did not run your command" in b for b in p.said(room, bot.user_id))

            await wait_until(refused, 60, step=0.2)
            await p.say(room, "!tf whoami")
            await wait_until(lambda: any("Admin" in b for b in p.said(room, bot.user_id)), 60)
            async with served.app.store.transaction() as session:
                conn = await session.connection()
                names = (await conn.exec_driver_sql("SELECT name FROM subject")).all()
            assert names == []  # the tablet's command was not run
        # The tablet never got a room key of the bot's: it read nothing the bot wrote.
        assert t.said(room, bot.user_id) == []
        assert any(sender == bot.user_id for _, sender in t.unreadable)


async def test_kill_9_in_an_encrypted_burst_loses_nothing_and_answers_once(
    tmp_path: Path, synapse: Synapse, db_url: str
) -> None:
    bot, ana = people(synapse)
    db = (
        Database(db_url) if db_url.startswith("postgresql") else Database.sqlite(tmp_path / "tf.db")
    )
    settings = e2e_settings(synapse, bot, ana, tmp_path / "bot-keys")
    env = replica_env(
        db.serve_url,
        tmp_path,
        TASKFORCE_INBOX_LEASE_SECONDS="2",
        **{k: str(v) for k, v in settings.items()},
    )
    first = await ServerProcess(env).start()
    second: ServerProcess | None = None
    try:
        async with officer(synapse, ana, tmp_path / "ana-keys") as a:
            await first.wait_for_line("matrix.started")
            room = await encrypted_room(a.client, bot, name="Harbour")
            await a.say(room, '!tf op new "Night Harbour" --code OP-NH')
            await a.say(room, '!tf subject add person "Viktor Test" --category suspect')
            await wait_until(lambda: any("Viktor Test" in b for b in a.said(room, bot.user_id)), 60)
            places = [f"Pier {i}" for i in range(E2E_BURST)]

            async def officer_types() -> None:
                for place in places:
                    await a.say(room, f'!tf sighting S-1 at "{place}"')

            typing = asyncio.create_task(officer_types())
            await wait_until(lambda: _stored_at_least(db, 10), 60, step=0.05)
            first.signal(signal.SIGKILL)  # in the middle of the burst
            assert await first.wait() == -signal.SIGKILL
            stored_at_kill = sum((await db.sightings()).values())
            await typing
            assert stored_at_kill < E2E_BURST
            second = await ServerProcess(env).start()  # the same device, from its store

            async def everything() -> bool:
                return sum((await db.sightings()).values()) >= E2E_BURST and (
                    await db.inbox_depth() == 0
                )

            await wait_until(everything, 120, step=0.5)
            assert await db.sightings() == dict.fromkeys(places, 1)

            def all_read() -> bool:
                return sum(answered(a.said(room, bot.user_id)).values()) >= E2E_BURST

            await wait_until(all_read, 60, step=0.2)
            assert answered(a.said(room, bot.user_id)) == dict.fromkeys(places, 1)
    finally:
        for proc in (first, second):
            if proc is not None and proc.proc is not None and proc.proc.returncode is None:
                proc.signal(signal.SIGKILL)
                await proc.wait()

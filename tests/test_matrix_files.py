"""Files on Matrix against a real Synapse (issue 30): an image with a sighting's caption is
evidence, in a plain room and as an encrypted attachment in an encrypted room; a file the
sender's client declares over the limit is refused without being fetched; an export goes
to the member's DM room, encrypted, and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
from nio import MatrixRoom, RoomEncryptedFile, RoomMessageFile
from nio.crypto import decrypt_attachment, encrypt_attachment
from sqlmodel import select

from bot.store.models import Evidence
from tests.conftest import AppFactory
from tests.photos import has_exif, jpeg
from tests.serving import wait_until
from tests.synapse import Synapse, User
from tests.test_matrix_e2e import e2e_settings, encrypted_room, officer, people
from tests.test_matrix_synapse import (
    bot_on,
    person,
    room_with,
    said_by,
    setup_operation,
)

CAPTION = 'S-1 at "Pier 9"'


def upload(server: Synapse, user: User, data: bytes, mime: str = "image/jpeg") -> str:
    """Put `data` in Synapse's media repository as `user`; its mxc:// URL."""
    resp = httpx.post(
        f"{server.url}/_matrix/media/v3/upload?filename=IMG_7.jpg",
        content=data,
        headers={"Authorization": f"Bearer {user.access_token}", "Content-Type": mime},
        timeout=30,
    )
    resp.raise_for_status()
    return str(resp.json()["content_uri"])


def image(caption: str, size: int, **where: Any) -> dict[str, Any]:
    """An `m.image` as Element sends a captioned photo (`url`, or `file` when encrypted)."""
    return {
        "msgtype": "m.image",
        "body": caption,
        "filename": "IMG_7.jpg",
        "info": {"mimetype": "image/jpeg", "size": size},
        **where,
    }


async def kept(make_app_store: Any) -> list[Evidence]:
    async with make_app_store.transaction() as session:
        return list((await session.exec(select(Evidence))).all())


async def test_an_image_with_a_sightings_caption_is_evidence_and_an_oversize_one_is_not_fetched(
    make_app: AppFactory, sqlite_url: str, synapse: Synapse, tmp_path: Path
) -> None:
    bot, ana = people(synapse)
    photo = jpeg()
    sha = hashlib.sha256(photo).hexdigest()
    settings = e2e_settings(synapse, bot, ana, tmp_path / "bot-keys")
    async with (
        bot_on(make_app, sqlite_url, synapse, bot, ana, **settings) as served,
        person(synapse, ana) as a,
    ):
        room = await room_with(a, bot, name="Harbour")
        await setup_operation(a, room, bot)
        # Declared over the limit, at a URL that holds nothing: refused before any fetch.
        big = image(CAPTION, 30 * 1024 * 1024, url="mxc://synapse.test/nothing-here")
        await a.room_send(room, "m.room.message", big)

        async def refused() -> bool:
            return any("too large (30 MB)" in b for b in await said_by(a, room, bot.user_id))

        await wait_until(refused, 60, step=0.2)
        assert await kept(served.app.store) == []
        # A photo with a caption that is no sighting's is chat: nothing said, nothing kept.
        mxc = upload(synapse, ana, photo)
        await a.room_send(room, "m.room.message", image("Lunch at the pier", len(photo), url=mxc))
        await a.room_send(room, "m.room.message", image(CAPTION, len(photo), url=mxc))

        async def answered() -> bool:
            return any(sha in b for b in await said_by(a, room, bot.user_id))

        await wait_until(answered, 60, step=0.2)
        [evidence] = await kept(served.app.store)
        assert (evidence.sha256, evidence.filename) == (sha, "IMG_7.jpg")
        said = await said_by(a, room, bot.user_id)
        assert not any("Lunch" in b for b in said)
        assert f"Photo kept: SHA-256 {sha}" in "\n".join(said)


async def test_an_encrypted_image_in_an_encrypted_room_is_decrypted_into_evidence(
    make_app: AppFactory, sqlite_url: str, synapse: Synapse, tmp_path: Path
) -> None:
    bot, ana = people(synapse)
    photo = jpeg()
    sha = hashlib.sha256(photo).hexdigest()
    settings = e2e_settings(synapse, bot, ana, tmp_path / "bot-keys")
    async with (
        officer(synapse, ana, tmp_path / "ana-keys") as a,
        bot_on(make_app, sqlite_url, synapse, bot, ana, **settings) as served,
    ):
        room = await encrypted_room(a.client, bot, name="Harbour")
        await a.say(room, '!tf op new "Night Harbour" --code OP-NH')
        await a.say(room, '!tf subject add person "Viktor Test" --category suspect')
        await wait_until(lambda: any("Viktor" in b for b in a.said(room, bot.user_id)), 60)
        ciphertext, keys = encrypt_attachment(photo)
        mxc = upload(synapse, ana, ciphertext, "application/octet-stream")
        content = image(CAPTION, len(photo), file={**keys, "url": mxc, "mimetype": "image/jpeg"})
        await wait_until(lambda: room in a.client.rooms, 30)
        sent = await a.client.room_send(
            room, "m.room.message", content, ignore_unverified_devices=True
        )
        assert getattr(sent, "event_id", None), sent
        await wait_until(lambda: any(sha in b for b in a.said(room, bot.user_id)), 60)
        [evidence] = await kept(served.app.store)
        assert evidence.sha256 == sha  # the plaintext's hash: decrypted, hash-checked
        assert has_exif(photo)


async def test_an_export_goes_encrypted_to_the_members_dm_room_and_nowhere_else(
    make_app: AppFactory, sqlite_url: str, synapse: Synapse, tmp_path: Path
) -> None:
    bot, ana = people(synapse)
    eve = synapse.register("eve", device_id="EVEPHONE")
    settings = e2e_settings(synapse, bot, ana, tmp_path / "bot-keys")
    files: list[tuple[str, str, dict[str, Any]]] = []
    async with (
        officer(synapse, ana, tmp_path / "ana-keys") as a,
        person(synapse, eve) as e,
        bot_on(make_app, sqlite_url, synapse, bot, ana, **settings),
    ):

        async def on_file(room: MatrixRoom, event: Any) -> None:
            files.append((room.room_id, event.sender, event.source))

        a.client.add_event_callback(on_file, (RoomEncryptedFile, RoomMessageFile))  # type: ignore[arg-type]
        group = await encrypted_room(a.client, bot, name="Harbour")
        await a.say(group, '!tf op new "Night Harbour" --code OP-NH')
        await wait_until(lambda: any("OP-NH" in b for b in a.said(group, bot.user_id)), 60)
        await a.client.room_invite(group, eve.user_id)  # a group now: nothing private here
        await e.join(group)
        await a.say(group, "!tf export OP-NH")
        await wait_until(
            lambda: any("accept my invitation" in b for b in a.said(group, bot.user_id)), 60
        )
        dm = await invited_to(a.client, bot)
        await a.client.join(dm)
        await wait_until(lambda: dm in a.client.rooms, 30)
        await a.say(group, "!tf export OP-NH")
        await wait_until(lambda: len([f for f in files if f[0] == dm]) >= 2, 60)
        assert {r for r, _, _ in files} == {dm}  # nothing in the group
        names = set()
        for _, sender, source in files:
            assert sender == bot.user_id
            content = source["content"]
            assert "url" not in content  # encrypted: the key travels only inside the event
            blob = httpx.get(
                f"{synapse.url}/_matrix/client/v1/media/download/"
                + content["file"]["url"].removeprefix("mxc://"),
                headers={"Authorization": f"Bearer {ana.access_token}"},
                timeout=30,
            ).content
            clear = decrypt_attachment(
                blob,
                content["file"]["key"]["k"],
                content["file"]["hashes"]["sha256"],
                content["file"]["iv"],
            )
            names.add(content["filename"])
            if content["filename"].endswith(".json"):
                assert json.loads(clear)["operation"]["code"] == "OP-NH"
        assert len(names) == 2
        assert not any(".json" in b for b in await said_by(e, group, bot.user_id))


async def invited_to(client: Any, bot: User) -> str:
    """The room the bot invited the client's user to (from the client's own syncs)."""
    await wait_until(
        lambda: any(r.inviter == bot.user_id for r in client.invited_rooms.values()), 30
    )
    return next(rid for rid, r in client.invited_rooms.items() if r.inviter == bot.user_id)

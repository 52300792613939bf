# ruff: noqa: F811  (each test takes the `both` fixture imported below)
"""Issue 16 on Telegram: a location pin in a linked group becomes a sighting on Slack too.

The served app (uvicorn, real python-telegram-bot and slack-bolt) against the fake Bot API
and the fake Slack Web API; posts go through the outbox and its worker.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import select

from bot.store.models import Evidence, FieldPending, OutboxMessage, Sighting
from tests.dbstate import changed_tables, snapshot
from tests.fakes.slack_api import text_of
from tests.fakes.telegram_api import post_update, tg_user
from tests.photos import has_exif, jpeg, png_bomb
from tests.serving import wait_until
from tests.test_fanout_cross_platform import (
    ANA,
    ANA_DM,
    FIELD,
    OP,
    SECRET,
    Both,
    _join_ana,
    both,  # noqa: F401  (the fixture)
)

STRANGER = tg_user(3003, "Stranger")
VENUE = ("Cais da Ribeira", "Porto")


async def _setup(b: Both) -> None:
    assert "Linked to" not in await b.on_slack(f'op new "Nightjar" --code {OP}')
    assert f"Linked to {OP}" in await b.on_slack(f"op link {OP}")
    await _join_ana(b, OP)
    assert f"Linked to {OP}" in await b.telegram(f"/op link {OP}", FIELD)
    assert "Added S-1" in await b.telegram(
        '/subject add person "Ivan Petrov" --category suspect', ANA_DM
    )


async def _send(b: Both, update: dict[str, Any]) -> None:
    assert (await post_update(b.client, update, SECRET)).status_code == 200
    await b.adapter.idle()


async def _rows(b: Both, model: Any) -> list[Any]:
    async with b.slack.app.store.transaction() as session:
        return list((await session.exec(select(model))).all())


async def _posted_to_slack(b: Both, n: int = 1) -> None:
    async def sent() -> bool:
        rows = [r for r in await _rows(b, OutboxMessage) if r.platform == "slack"]
        mine = [r for r in rows if r.kind == "sighting"]
        return len(mine) == n and {r.status for r in mine} == {"sent"}

    await wait_until(sent)


async def test_a_pin_in_a_linked_group_becomes_a_sighting_on_slack(both: Both) -> None:
    b = both
    await _setup(b)
    pin = b.updates.location(41.1406, -8.6132, user=ANA, chat=FIELD, venue=VENUE)
    await _send(b, pin)
    [prompt] = [m for m in b.tg.sent(FIELD["id"]) if "Whom did you see" in m.plain]
    assert "Whom did you see at Cais da Ribeira, Porto?" in prompt.plain
    assert prompt.reply_to == pin["message"]["message_id"]
    (label, data), (other, _) = prompt.buttons
    assert (label, other) == ("S-1 Ivan Petrov", "Something else")

    # Telegram redelivers the pin: nothing is kept or said twice.
    before = await snapshot(b.slack.app.store)
    await _send(b, pin)
    assert changed_tables(before, await snapshot(b.slack.app.store)) == {}
    assert len([m for m in b.tg.sent(FIELD["id"]) if "Whom did you see" in m.plain]) == 1

    press = b.updates.callback(data, user=ANA, chat=FIELD, message_id=prompt.message_id)
    await _send(b, press)
    await _posted_to_slack(b)
    [on_slack] = [p for p in b.slack.fake.posts("C1") if "SG-1" in json.dumps(p)]
    shown = text_of(on_slack["blocks"])
    assert on_slack["text"] == "Sighting SG-1 — S-1 Ivan Petrov"
    assert "41.14060, -8.61320" in shown and "Cais da Ribeira, Porto" in shown
    [stored] = await _rows(b, Sighting)
    assert (stored.lat, stored.lon, stored.location) == (41.1406, -8.6132, "Cais da Ribeira, Porto")
    [pending] = await _rows(b, FieldPending)
    assert pending.sighting_id == stored.id and pending.closed_at is not None


async def test_a_live_location_something_else_and_a_reply(both: Both) -> None:
    b = both
    await _setup(b)
    await _send(b, b.updates.location(41.15, -8.61, user=ANA, chat=FIELD, live_period=900))
    [prompt] = [m for m in b.tg.sent(FIELD["id"]) if "Whom did you see" in m.plain]
    assert "live location: I record its first point only" in prompt.plain
    _, (_, data) = prompt.buttons
    await _send(b, b.updates.callback(data, user=ANA, chat=FIELD, message_id=prompt.message_id))
    [asked] = [m for m in b.tg.sent(FIELD["id"]) if "What did you see?" in m.plain]
    answer = b.updates.reply(
        'grey "Audi" A4, 12-AB-34',
        to={"message_id": asked.message_id, "from": b.tg.bot},
        user=ANA,
        chat=FIELD,
    )
    await _send(b, answer)
    await _posted_to_slack(b)
    [stored] = await _rows(b, Sighting)
    assert stored.description == 'grey "Audi" A4, 12-AB-34'  # as typed, quotes and all
    assert (stored.lat, stored.lon) == (41.15, -8.61)


async def test_a_pin_replying_to_where_finishes_a_typed_sighting(both: Both) -> None:
    b = both
    await _setup(b)
    said = await b.telegram("/sighting S-1 --grade B2", FIELD)
    assert "Where was S-1 seen?" in said
    [asked] = [m for m in b.tg.sent(FIELD["id"]) if "Where was S-1 seen?" in m.plain]
    pin = b.updates.location(41.2, -8.7, user=ANA, chat=FIELD)
    pin["message"]["reply_to_message"] = {
        "message_id": asked.message_id,
        "date": pin["message"]["date"],
        "chat": FIELD,
        "from": b.tg.bot,
        "text": asked.plain,
    }
    await _send(b, pin)
    await _posted_to_slack(b)
    [stored] = await _rows(b, Sighting)
    assert (stored.lat, stored.lon, stored.reporter_grade) == (41.2, -8.7, "B2")


async def test_a_strangers_pin_and_chatter_replying_to_the_bot_get_no_answer(both: Both) -> None:
    b = both
    await _setup(b)
    said = len(b.tg.sent())
    await _send(b, b.updates.location(41.1, -8.6, user=STRANGER, chat=FIELD))
    chatter = b.updates.reply(
        "thanks!", to={"message_id": 1, "from": b.tg.bot}, user=ANA, chat=FIELD
    )
    await _send(b, chatter)
    assert b.tg.sent()[said:] == []
    assert await _rows(b, FieldPending) == []


# ------------------------------------------------------------------------- photos


async def _photo_posts_sent(b: Both, n: int) -> None:
    async def sent() -> bool:
        rows = [r for r in await _rows(b, OutboxMessage) if r.kind == "photo"]
        return len(rows) == n and {r.status for r in rows} == {"sent"}

    await wait_until(sent)


async def test_a_captioned_photo_is_kept_once_and_reaches_slack_without_exif(
    both: Both,
) -> None:
    b = both
    await _setup(b)
    photo = jpeg()
    b.tg.add_file("PHOTO1", photo)
    update = b.updates.photo(
        "PHOTO1", len(photo), user=ANA, chat=FIELD, caption='S-1 at "Huelva marina"'
    )
    await _send(b, update)
    await _send(b, update)  # Telegram redelivers: not downloaded or stored again
    assert len(b.tg.calls("getFile")) == 1
    sha = hashlib.sha256(photo).hexdigest()
    [row] = await _rows(b, Evidence)
    assert row.sha256 == sha
    await _photo_posts_sent(b, 2)  # the Slack channel and the Telegram group
    [uploaded] = [f for f in b.slack.fake.files if f.channel == "C1"]
    assert uploaded.content[:2] == b"\xff\xd8" and not has_exif(uploaded.content)
    assert "Photo for sighting SG-1" in (uploaded.initial_comment or "")
    [in_group] = b.tg.photos(FIELD["id"])
    assert not has_exif(in_group.files["photo"][1])
    shown = await b.telegram("/sighting show SG-1", ANA_DM)
    assert f"SHA-256 {sha}" in shown


async def test_a_photo_over_the_limit_is_refused_without_downloading_it(
    both: Both,
) -> None:
    b = both
    await _setup(b)
    b.tg.add_file("HUGE", b"\xff\xd8" + b"0" * 64)
    before = await snapshot(b.slack.app.store)
    await _send(
        b,
        b.updates.photo(
            "HUGE", 25 * 1024 * 1024, user=ANA, chat=FIELD, caption='S-1 at "Huelva marina"'
        ),
    )
    assert b.tg.calls("getFile") == []
    [answer] = [m for m in b.tg.sent(FIELD["id"]) if "too large" in m.plain]
    assert "That file is too large (25 MB); the limit is 10 MB. Nothing was stored." in answer.plain
    changed = changed_tables(before, await snapshot(b.slack.app.store))
    assert set(changed) <= {"processedevent"}
    assert not (b.slack.app.settings.data_dir / "evidence").exists()


async def test_a_photo_without_a_sighting_caption_is_left_alone(both: Both) -> None:
    b = both
    await _setup(b)
    b.tg.add_file("CAT", jpeg())
    before = await snapshot(b.slack.app.store)
    said = len(b.tg.sent())
    await _send(b, b.updates.photo("CAT", 900, user=ANA, chat=FIELD, caption="look at this cat"))
    await _send(b, b.updates.photo("CAT", 900, user=STRANGER, chat=FIELD))
    assert changed_tables(before, await snapshot(b.slack.app.store)) == {}
    assert b.tg.sent()[said:] == [] and b.tg.calls("getFile") == []


async def test_a_photo_answering_a_sightings_post_is_attached_to_it(both: Both) -> None:
    b = both
    await _setup(b)
    await b.telegram('/sighting S-1 at "Porto"', FIELD)
    await _posted_to_slack(b)
    [post] = [m for m in b.tg.sent(FIELD["id"]) if "SG-1" in m.plain and m.reply_to is None]
    photo = jpeg(gps=False)
    b.tg.add_file("REPLY1", photo)
    update = b.updates.photo("REPLY1", len(photo), user=ANA, chat=FIELD)
    update["message"]["reply_to_message"] = {
        "message_id": post.message_id,
        "date": update["message"]["date"],
        "chat": FIELD,
        "from": b.tg.bot,
        "text": post.plain,
    }
    await _send(b, update)
    [row] = await _rows(b, Evidence)
    [sighting] = await _rows(b, Sighting)
    assert row.sighting_id == sighting.id and row.sha256 == hashlib.sha256(photo).hexdigest()


async def test_a_strangers_captioned_photo_is_not_downloaded(both: Both) -> None:
    """Who may post is checked before the file is fetched (issue 32): nothing of a sender
    who is not registered reaches the server."""
    b = both
    await _setup(b)
    b.tg.add_file("STRANGE", jpeg())
    before = await snapshot(b.slack.app.store)
    await _send(
        b, b.updates.photo("STRANGE", 900, user=STRANGER, chat=FIELD, caption='S-1 at "M0"')
    )
    assert b.tg.calls("getFile") == []
    changed = changed_tables(before, await snapshot(b.slack.app.store))
    assert set(changed) <= {"processedevent", "auditentry", "auditchain"}
    assert await _rows(b, Evidence) == []
    assert not (b.slack.app.settings.data_dir / "evidence").exists()


async def test_a_decompression_bomb_sent_as_a_document_gets_one_sentence(both: Both) -> None:
    """The report's bomb: a 1-bit PNG of 1×59,000,000 pixels (112 KB), sent as a file."""
    b = both
    await _setup(b)
    bomb = png_bomb(1, 59_000_000)
    b.tg.add_file("BOMB", bomb)
    before = await snapshot(b.slack.app.store)
    update = b.updates.photo(
        "BOMB", len(bomb), user=ANA, chat=FIELD, caption='S-1 at "M0"', as_document="image/png"
    )
    await _send(b, update)
    [answer] = [m for m in b.tg.sent(FIELD["id"]) if "too large to read" in m.plain]
    assert answer.plain == (
        "That photo is too large to read (1×59000000 pixels). Nothing was stored."
    )
    assert set(changed_tables(before, await snapshot(b.slack.app.store))) <= {"processedevent"}
    assert await _rows(b, Evidence) == [] and await _rows(b, Sighting) == []

"""Issue 16 on Slack: an image shared in the app's DM (or with a mention in a linked
channel) with a sighting's caption is evidence: real slack-bolt against the fake Web API."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import select

from bot.store.models import Evidence, OutboxMessage, Sighting
from tests.conftest import AppFactory
from tests.dbstate import changed_tables, snapshot
from tests.fakes.slack_api import SlackStack, slack_stack, text_of
from tests.photos import has_exif, jpeg
from tests.serving import wait_until

CAPTION = 'S-1 at "Huelva marina"'


@pytest.fixture
async def slack(make_app: AppFactory, db_url: str) -> AsyncIterator[SlackStack]:
    async with slack_stack(make_app, db_url) as stack:
        yield stack


async def _setup(slack: SlackStack) -> str:
    for line in (
        'op new "Night Harbour" --code OP-NIGHT-HARBOUR',
        "op link",
        "subject add person Ivan Petrov --category suspect",
    ):
        resp = await slack.inbound.command(line)
        assert resp.status_code == 200, resp.text
    return slack.fake.add_im("UADMIN")


def _shared(dm: str, text: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "file_share",
        "channel_type": "im",
        "channel": dm,
        "user": "UADMIN",
        "text": text,
        "files": files,
        "ts": "1700000100.000100",
    }


async def _rows(slack: SlackStack, model: Any) -> list[Any]:
    async with slack.app.store.transaction() as session:
        return list((await session.exec(select(model))).all())


async def test_a_photo_in_the_dm_is_evidence_and_reaches_the_channel_without_exif(
    slack: SlackStack,
) -> None:
    dm = await _setup(slack)
    photo = jpeg()
    event = _shared(dm, CAPTION, [slack.fake.share_file("F1", "IMG_7.jpg", photo, "image/jpeg")])
    assert (await slack.inbound.event(event, event_id="EvP1")).status_code == 200
    await slack.fake.wait_for_posts(1, dm)
    await slack.adapter.drain()
    sha = hashlib.sha256(photo).hexdigest()
    assert f"Photo kept: SHA-256 {sha}" in text_of(slack.fake.posts(dm)[0])
    retry = await slack.inbound.event(event, event_id="EvP1", retry_num=1)
    assert retry.status_code == 200
    await slack.adapter.drain()
    assert slack.fake.downloads() == ["F1"]
    [row] = await _rows(slack, Evidence)
    assert (row.sha256, row.filename) == (sha, "IMG_7.jpg")
    assert len(await _rows(slack, Sighting)) == 1

    async def posted() -> bool:
        rows = [r for r in await _rows(slack, OutboxMessage) if r.kind == "photo"]
        return len(rows) == 1 and rows[0].status == "sent"

    await wait_until(posted)
    [upload] = [f for f in slack.fake.files if f.channel == "C1"]
    assert not has_exif(upload.content) and has_exif(photo)


async def test_over_the_limit_or_not_a_sighting_caption_stores_nothing(slack: SlackStack) -> None:
    dm = await _setup(slack)
    before = await snapshot(slack.app.store)
    big = slack.fake.share_file("F2", "big.jpg", jpeg(), "image/jpeg", size=30 * 1024 * 1024)
    await slack.inbound.event(_shared(dm, CAPTION, [big]), event_id="EvP2")
    await slack.fake.wait_for_posts(1, dm)
    await slack.adapter.drain()
    assert "That file is too large (30 MB); the limit is 10 MB. Nothing was stored." in (
        text_of(slack.fake.posts(dm)[0])
    )
    cat = slack.fake.share_file("F3", "cat.jpg", jpeg(), "image/jpeg")
    await slack.inbound.event(_shared(dm, "my cat", [cat]), event_id="EvP3")
    await slack.adapter.drain()
    assert slack.fake.downloads() == []
    assert set(changed_tables(before, await snapshot(slack.app.store))) <= {"processedevent"}
    assert await _rows(slack, Evidence) == []


async def test_a_photo_shared_with_a_mention_in_the_linked_channel(slack: SlackStack) -> None:
    await _setup(slack)
    photo = jpeg(gps=False)
    event = {
        "type": "app_mention",
        "channel": "C1",
        "user": "UADMIN",
        "text": f"<@UBOT> {CAPTION}",
        "files": [slack.fake.share_file("F4", "dock.jpg", photo, "image/jpeg")],
        "ts": "1700000200.000100",
    }
    assert (await slack.inbound.event(event, event_id="EvP4")).status_code == 200
    await slack.fake.wait_for(lambda: len(slack.fake.ephemerals("C1")) == 1)
    assert "Photo kept: SHA-256" in text_of(slack.fake.ephemerals("C1")[0])
    [row] = await _rows(slack, Evidence)
    assert row.sha256 == hashlib.sha256(photo).hexdigest()


async def test_a_photo_from_someone_who_may_not_post_is_not_downloaded(slack: SlackStack) -> None:
    """Who may post is checked before the file is fetched (issue 32): an unregistered user
    in the DM, and one in the linked channel, get their sentence; no byte is fetched."""
    await _setup(slack)
    before = await snapshot(slack.app.store)
    dm = slack.fake.add_im("USTRANGER")
    file = slack.fake.share_file("F9", "a.jpg", jpeg(), "image/jpeg")
    shared = _shared(dm, 'S-1 at "M0"', [file])
    shared["user"] = "USTRANGER"
    await slack.inbound.event(shared, event_id="EvP9")
    await slack.fake.wait_for_posts(1, dm)
    mention = {
        "type": "app_mention",
        "channel": "C1",
        "user": "USTRANGER",
        "text": '<@UBOT> S-1 at "M0"',
        "files": [slack.fake.share_file("F10", "b.jpg", jpeg(), "image/jpeg")],
        "ts": "1700000300.000100",
    }
    await slack.inbound.event(mention, event_id="EvP10")
    await slack.adapter.drain()
    assert "You are not registered with Taskforce yet" in text_of(slack.fake.posts(dm)[0])
    assert slack.fake.downloads() == []
    changed = changed_tables(before, await snapshot(slack.app.store))
    assert set(changed) <= {"processedevent", "auditentry", "auditchain"}
    assert await _rows(slack, Evidence) == []

"""Photos as evidence (issue 16), through the core: kept once, hashed, stripped onward."""

from __future__ import annotations

import asyncio
import hashlib
import json
import stat
import threading
from pathlib import Path

import pytest

from bot.commands.dispatch import dispatch
from bot.contracts import Actor, Channel, Invocation, Reply
from bot.core import evidence
from bot.core.evidence import Upload
from bot.serving.app import App
from bot.store.models import Evidence, Sighting
from tests.conftest import AppFactory
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import fetch, ok, operation, text
from tests.photos import TAKEN, has_exif, jpeg

CAPTION = 'S-1 at "Huelva marina" --grade B2'


async def send_photo(
    app: App,
    caption: str,
    content: bytes,
    *,
    who: str = "mia",
    channel: str = "room",
    key: str | None = None,
    filename: str = "IMG_0042.jpg",
    mime: str = "image/jpeg",
    size: int | None = None,
) -> Reply:
    """What an adapter does with a photo and its caption."""
    upload = Upload(filename, mime, len(content) if size is None else size, content)
    inv = Invocation(
        Actor("console", who, who),
        Channel("console", channel, channel),
        f"photo {caption}",
        key,
        uploads=(upload,),
    )
    return await dispatch(app.core, inv)


def stored_files(app: App) -> list[Path]:
    root = app.settings.data_dir / "evidence"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def _setup(app: App) -> None:
    await operation(app)  # room: up to AMBER, lobby: up to GREEN
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await app.console.pop_posts()


async def test_a_captioned_photo_is_kept_once_hashed_shown_and_posted_without_exif(
    any_app: App,
) -> None:
    app = any_app
    await _setup(app)
    photo = jpeg()
    sha = hashlib.sha256(photo).hexdigest()
    reply = await send_photo(app, CAPTION, photo, key="photo-1")
    assert reply.ok, text(reply)
    assert reply.message.title.startswith("Recorded Sighting SG-1")
    shown = text(reply)
    assert f"Photo kept: SHA-256 {sha}" in shown
    assert f"taken {TAKEN} (camera clock), at 37.25000,-6.95000" in shown  # offered, not used
    [sighting] = await fetch(app, Sighting)
    assert sighting.location == "Huelva marina" and sighting.lat is None
    [row] = await fetch(app, Evidence)
    assert (row.sha256, row.size, row.sighting_id) == (sha, len(photo), sighting.id)
    original = app.settings.data_dir / "evidence" / row.stored_key
    assert original.read_bytes() == photo  # the original, unchanged
    assert len(stored_files(app)) == 2  # the original and the copy without EXIF

    # The redelivered update: the first answer, nothing stored twice.
    before = await snapshot(app.store)
    again = await send_photo(app, CAPTION, photo, key="photo-1")
    assert again.duplicate
    assert changed_tables(before, await snapshot(app.store)) == {}
    assert len(stored_files(app)) == 2

    # Onward: the AMBER channel gets the copy without EXIF; the GREEN one gets nothing.
    posts = await app.console.pop_posts()
    photo_posts = [p for p in posts if p.message.images]
    assert [p.channel for p in photo_posts] == ["room"]
    [key] = photo_posts[0].message.images
    onward = (app.settings.data_dir / "evidence" / key).read_bytes()
    assert has_exif(photo) and not has_exif(onward)
    assert not [p for p in posts if p.channel == "lobby"]

    # `sighting show` and the export name the photo and its hash.
    assert f"SHA-256 {sha}" in text(await ok(app, "sighting show SG-1", who="mia"))
    exported = await ok(app, "export --out " + str(app.settings.data_dir / "out"))
    [json_file] = [a for a in exported.message.attachments if a.filename.endswith(".json")]
    data = json.loads(json_file.content)
    assert data["sightings"][0]["photos"][0]["sha256"] == sha
    [md_file] = [a for a in exported.message.attachments if a.filename.endswith(".md")]
    assert f"SHA-256 {sha}" in md_file.content.decode()


async def test_too_large_or_not_a_photo_is_one_sentence_and_nothing_is_stored(
    make_app: AppFactory, sqlite_url: str
) -> None:
    app = await make_app(sqlite_url, TASKFORCE_PHOTO_MAX_BYTES=600)
    await _setup(app)
    big = jpeg()
    assert len(big) > 600
    cases = [
        (big, len(big), "That file is too large (917 bytes); the limit is 600 bytes."),
        (None, 30_000_000, "That file is too large (29 MB); the limit is 600 bytes."),
        (b"%PDF-1.7 not a photo", 20, "Only photos can be evidence: JPEG, PNG or WebP."),
    ]
    for content, size, sentence in cases:
        before = await snapshot(app.store)
        upload = Upload("x.jpg", "image/jpeg", size, content)
        inv = Invocation(
            Actor("console", "mia", "mia"),
            Channel("console", "room", "room"),
            f"photo {CAPTION}",
            uploads=(upload,),
        )
        reply = await dispatch(app.core, inv)
        assert not reply.ok and reply.message.lines[0].startswith(sentence), text(reply)
        assert len(reply.message.lines) == 1 and reply.message.lines[0].endswith(
            "Nothing was stored."
        )
        assert changed_tables(before, await snapshot(app.store)) == {}
        assert stored_files(app) == []


async def test_a_photo_for_a_sighting_is_attached_once(app: App) -> None:
    await _setup(app)
    await ok(app, "sighting S-1 at Huelva", who="mia")
    photo = jpeg(gps=False)
    first = await send_photo(app, "SG-1", photo)
    assert first.message.title == "Photo added to SG-1", text(first)
    again = await send_photo(app, "SG-1", photo)  # sent again, as a new message
    assert "This photo is already attached" in text(again)
    assert len(await fetch(app, Evidence)) == 1
    other = await send_photo(app, "SG-1", jpeg(gps=False, colour=(0, 0, 255)))
    assert "Photo kept" in text(other)
    assert len(await fetch(app, Evidence)) == 2


async def test_a_caption_without_a_place_takes_the_photos_own(app: App) -> None:
    await _setup(app)
    reply = await send_photo(app, "S-1", jpeg())
    assert "The place is the photo's own location (EXIF GPS)." in text(reply)
    [sighting] = await fetch(app, Sighting)
    assert (sighting.lat, sighting.lon) == (37.25, -6.95)
    refused = await send_photo(app, "S-1", jpeg(gps=False))
    assert refused.message.lines[0].startswith("Say where in the caption")
    assert len(await fetch(app, Evidence)) == 1


async def test_a_red_or_protected_sighting_photo_reaches_no_channel(app: App) -> None:
    await _setup(app)
    await ok(app, "subject add person Lena --category victim --sex f --dob 2009")
    await app.console.pop_posts()
    await send_photo(app, "S-1 at Huelva --tlp red", jpeg())
    await send_photo(app, "S-2 at Huelva", jpeg(colour=(0, 90, 0)))
    posts = await app.console.pop_posts()
    group_posts = [p for p in posts if p.channel in ("room", "lobby")]
    assert [p for p in group_posts if p.message.images] == []
    assert any("A protected person was sighted" in p.text for p in group_posts)


async def test_observers_cannot_and_outsiders_learn_nothing(app: App) -> None:
    await _setup(app)
    before = await snapshot(app.store)
    reply = await send_photo(app, CAPTION, jpeg(), who="obe")
    assert reply.message.lines[0] == "As observer in OP-NIGHTJAR you cannot post sightings."
    reply = await send_photo(app, CAPTION, jpeg(), who="stranger", channel="dm-x")
    assert not reply.ok and "OP-NIGHTJAR" not in text(reply)
    changed = changed_tables(before, await snapshot(app.store))
    assert set(changed) <= {"auditentry", "auditchain"} and stored_files(app) == []


async def test_erasure_takes_the_photos_with_it_but_not_a_copy_another_sighting_holds(
    any_app: App,
) -> None:
    app = any_app
    await _setup(app)
    await ok(app, "subject add person Marko Vidal --category suspect")  # S-2
    photo, other = jpeg(), jpeg(colour=(20, 120, 30))
    assert (await send_photo(app, CAPTION, photo, key="p-1")).ok  # SG-1, S-1
    assert (await send_photo(app, 'S-2 at "Vigo"', photo, key="p-2")).ok  # SG-2: same bytes
    assert (await send_photo(app, 'S-2 at "Vigo"', other, key="p-3")).ok  # SG-3
    assert len(stored_files(app)) == 4  # two originals, two onward copies

    await ok(app, 'sighting erase SG-1 --reason "recorded in error"')
    held = await fetch(app, Evidence)
    assert sorted(r.sighting_id for r in held) == [2, 3]  # SG-1's photo row is gone…
    assert len(stored_files(app)) == 4  # …but its files stay: SG-2 holds the same photo

    await ok(app, 'subject erase S-2 --reason "not the person sought"')
    assert await fetch(app, Evidence) == []
    assert stored_files(app) == []  # nothing of the erased photos is left on disk
    dump = json.dumps([e.model_dump(mode="json") for e in await fetch(app, Sighting)])
    assert hashlib.sha256(photo).hexdigest() not in dump


async def test_no_transaction_is_open_while_a_photo_is_read(
    any_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoding and hashing hold no writer: another member's sighting is recorded while a
    photo is still being read (issue 32: a bomb stalled everyone's sightings)."""
    app = any_app
    await _setup(app)
    reading, release = threading.Event(), threading.Event()
    check = evidence.check

    def slow_check(upload: Upload, max_bytes: int = evidence.MAX_BYTES) -> evidence.Photo:
        reading.set()
        assert release.wait(30), "the test never released the photo"
        return check(upload, max_bytes)

    monkeypatch.setattr(evidence, "check", slow_check)
    photo = asyncio.create_task(send_photo(app, CAPTION, jpeg(), key="slow-photo"))
    try:
        assert await asyncio.to_thread(reading.wait, 30)
        other = await asyncio.wait_for(
            app.console.push("sighting S-1 at Vigo", as_="admin", channel="hq"), 10
        )
        assert other.ok, text(other)
    finally:
        release.set()
    reply = await photo
    assert reply.ok, text(reply)
    assert len(await fetch(app, Sighting)) == 2


async def test_the_evidence_folders_are_the_services_alone(app: App) -> None:
    await _setup(app)
    root = app.settings.data_dir / "evidence"
    root.mkdir(mode=0o755)  # made by an earlier version, or under a loose umask
    root.chmod(0o755)
    assert (await send_photo(app, CAPTION, jpeg())).ok
    folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
    assert {stat.S_IMODE(p.stat().st_mode) for p in folders} == {0o700}
    assert {stat.S_IMODE(p.stat().st_mode) for p in stored_files(app)} == {0o600}

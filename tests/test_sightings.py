"""Sightings: posted at once to every linked channel, MATCH against notices, bad input, paging."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.serving.app import App
from bot.store.audit import Action
from bot.store.models import AuditEntry, OutboxMessage, Sighting
from tests.conftest import START
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import OP, fetch, ok, operation, refused, text


async def _petrov(app: App) -> None:
    await operation(app, channels={"room": "amber", "annex": "amber"})
    await ok(app, "subject add person Ivan Petrov --category suspect --nationality BG")


async def test_match_on_every_linked_channel_until_the_notice_is_cancelled(any_app: App) -> None:
    app = any_app
    await _petrov(app)
    await ok(
        app,
        'notice record red S-1 --charges "trafficking in human beings" --ref 2026/4411 '
        "--requested-by PT --warrant W/1 --warrant-country PT",
    )
    await app.console.pop_posts()

    reply = await ok(app, 'sighting S-1 at "Porto, Cais da Ribeira" --grade B2', who="mia")
    assert reply.message.mark == "MATCH"
    posts = await app.console.pop_posts()
    assert sorted(p.channel for p in posts) == ["annex", "room"]
    for post in posts:
        assert post.message.mark == "MATCH"
        assert post.message.title.startswith("Red notice N-1 — sighting SG-1")
        assert post.text.startswith("[MATCH] Red notice N-1")
        assert "S-1 Ivan Petrov" in post.message.title
        assert post.message.context == f"{OP}/SG-1 · TLP:AMBER · reporter's assessment B2"
        assert "Charges: trafficking in human beings" in post.text
    [stored] = await fetch(app, Sighting)
    assert stored.match_notice_id is not None

    await ok(app, 'notice cancel N-1 --reason "arrested in Porto on 28 Nov"')
    await app.console.pop_posts()
    reply = await ok(app, "sighting S-1 at Braga", who="mia")
    assert reply.message.mark is None
    posts = await app.console.pop_posts()
    assert sorted(p.channel for p in posts) == ["annex", "room"]
    assert all(p.message.mark is None and "MATCH" not in p.text for p in posts)
    assert (await fetch(app, Sighting))[1].match_notice_id is None


async def test_yellow_notice_matches_and_other_colours_do_not(app: App) -> None:
    await operation(app)
    await ok(app, "subject add person Lena --category victim --sex f --dob 2009")
    await ok(app, "subject add person Kurt --category suspect")
    await ok(app, "notice record yellow S-1 --requested-by PT --ref A-1/2026")
    await ok(app, "notice record blue S-2 --requested-by PT --ref A-1/2026")
    assert (await ok(app, "sighting S-1 at Vigo")).message.mark == "MATCH"
    assert (await ok(app, "sighting S-2 at Vigo")).message.mark is None


async def test_observed_and_reported_times_are_kept_apart(app: App) -> None:
    await _petrov(app)
    await ok(app, 'sighting S-1 at Porto --when "20m ago" --coords 41.1406,-8.6132 --note x')
    [s] = await fetch(app, Sighting)
    assert s.reported_at == START
    assert s.observed_at == START - timedelta(minutes=20)
    assert (s.lat, s.lon) == (41.1406, -8.6132)
    await ok(app, f"sighting S-1 at Porto --when {START.isoformat()}")
    # Up to 5 minutes ahead is clock drift, not the future.
    await ok(app, "sighting S-1 at Porto --when 'in 4m'")


async def test_a_described_sighting_and_a_second_hand_report(app: App) -> None:
    await _petrov(app)
    reply = await ok(
        app,
        'sighting "grey Audi A4, PT plates" at "A-3 exit 12" --observer "toll booth staff"',
        who="pat",
    )
    assert "Observed by: toll booth staff (second-hand, reported by pat)" in text(reply)
    [s] = await fetch(app, Sighting)
    assert s.subject_id is None and s.description == "grey Audi A4, PT plates"
    assert s.location == "A-3 exit 12" and s.observer == "toll booth staff"


BAD = [
    ("sighting S-9 at Porto", "There is no subject S-9 in OP-NIGHTJAR."),
    ("sighting S-1 at Porto --coords 91,10", "Coordinates 91,10 are out of range"),
    ("sighting S-1 at Porto --coords 41.1,-181", "out of range"),
    ("sighting S-1 at Porto --coords north", "is not a pair of coordinates"),
    ("sighting S-1 at Porto --when 'in 2h'", "in the future"),
    ("sighting S-1 at Porto --when 'tomorrow 05:30'", "in the future"),
    ("sighting S-1 at Porto --when yesterdayish", "I can't read 'yesterdayish' as a time"),
    ("sighting S-1 at Porto --grade G7", "'G7' is not an Admiralty grade"),
    ("sighting S-1 at Porto --grade B9", "'B9' is not an Admiralty grade"),
    ("sighting S-1 at Porto --tlp purple", "'purple' is not a TLP label"),
    ("sighting S-1 Porto", "Say where it was seen with `at <location>`"),
    ("sighting S-1 at", "Say where it was seen after `at`"),
    ("sighting SG-1 at Porto", "'SG-1' is a sighting reference; this needs a subject (S-n)."),
    ("sighting S-1 running north at Porto", "After S-1 comes `at <location>`"),
    (
        "sighting OP-ELSEWHERE/S-1 at Porto",
        "There is no operation OP-ELSEWHERE that you belong to.",
    ),
]


@pytest.mark.parametrize(("line", "sentence"), BAD)
async def test_bad_input_is_one_sentence_and_stores_nothing(
    app: App, line: str, sentence: str
) -> None:
    await _petrov(app)
    before = await snapshot(app.store)
    said = await refused(app, line, who="mia")
    assert sentence in said
    assert said.count(". ") <= 1 and "Traceback" not in said
    changed = changed_tables(before, await snapshot(app.store))
    assert changed == {}, changed


async def test_bad_input_on_postgresql_too(any_app: App) -> None:
    await _petrov(any_app)
    for line, sentence in BAD[:8]:
        assert sentence in await refused(any_app, line, who="mia")
    assert await fetch(any_app, Sighting) == []
    assert await fetch(any_app, OutboxMessage) == []


async def test_observers_cannot_post_sightings(app: App) -> None:
    await _petrov(app)
    said = await refused(app, "sighting S-1 at Porto", who="obe")
    assert said == "As observer in OP-NIGHTJAR you cannot post sightings."


async def test_sightings_newest_first_paged_and_filtered(any_app: App) -> None:
    app = any_app
    await _petrov(app)
    await ok(app, "subject add vehicle white Transit van")
    for i in range(12):
        await ok(app, f"sighting S-1 at 'Place {i}' --when '{12 - i}m ago'")
    await ok(app, "sighting S-2 at Depot --when '2h ago'")
    first = await ok(app, "sightings --subject S-1")
    lines = first.message.lines
    assert first.message.title == f"{OP} sightings of S-1 Ivan Petrov (page 1 of 2)"
    assert lines[0] == "12 sightings, newest first"
    shown = [ln.split(" ")[0] for ln in lines if ln.startswith("SG-")]
    assert shown == [f"SG-{n}" for n in range(12, 2, -1)]
    assert lines[-1] == f"more: `sightings {OP} --subject S-1 --page 2`"
    assert first.message.buttons[0].command == f"sightings {OP} --subject S-1 --page 2"
    second = await ok(app, first.message.buttons[0].command)
    assert [ln.split(" ")[0] for ln in second.message.lines if ln.startswith("SG-")] == [
        "SG-2",
        "SG-1",
    ]
    assert not second.message.buttons
    recent = await ok(app, "sightings --since 1h")
    assert "SG-13" not in text(recent) and "SG-12" in text(recent)
    everything = await ok(app, "sightings --page 2")
    assert "SG-13" in text(everything)  # the oldest observed comes last
    assert "There are only 2 pages." in await refused(app, "sightings --page 3")
    assert every_item_shows_ref_and_tlp(text(first))


def every_item_shows_ref_and_tlp(body: str) -> bool:
    """Each list line names its reference and its TLP label."""
    items = [ln for ln in body.splitlines() if ln.startswith("SG-")]
    return bool(items) and all("TLP:" in ln for ln in items)


async def test_audit_log_has_collect_consult_and_disclose_entries(any_app: App) -> None:
    app = any_app
    await _petrov(app)
    await ok(app, "sighting S-1 at Porto", who="mia")
    await app.console.pop_posts()
    await ok(app, "sightings", who="mia")
    await ok(app, "subject show S-1", who="mia")
    await ok(app, "sighting show OP-NIGHTJAR/SG-1", who="mia")
    entries = await fetch(app, AuditEntry)
    by = [(e.action, e.command, e.object_ref, e.channel) for e in entries]
    assert (Action.COLLECT, "sighting", f"{OP}/SG-1", "console:hq") in by
    disclosed = {(e.object_ref, e.channel) for e in entries if e.action == Action.DISCLOSE}
    assert disclosed == {(f"{OP}/SG-1", "console:room"), (f"{OP}/SG-1", "console:annex")}
    consults = [(e.command, e.object_ref) for e in entries if e.action == Action.CONSULT]
    assert ("sightings", f"{OP}/SG-1") in consults
    assert ("subject show", f"{OP}/S-1,SG-1") in consults
    assert ("sighting show", f"{OP}/SG-1,S-1") in consults
    assert all("mia" in e.actor for e in entries if e.action == Action.CONSULT)
    assert "intact" in text(await ok(app, "audit verify"))

"""Sightings begun from a location pin (issue 16), through the console: the core alone."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.store.models import FieldPending, Sighting
from tests.conftest import AppFactory
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import fetch, ok, operation, refused, text

PIN = 'pin 41.140600,-8.613200 --place "Cais da Ribeira, Porto"'


async def _setup(app: App) -> None:
    await operation(app, channels={"room": "amber"})
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, "subject add person Lena --category victim --sex f --dob 2009")
    await ok(app, "subject add vehicle White Transit")


async def test_a_pin_offers_recent_subjects_and_a_button_finishes_it(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await _setup(app)
    await ok(app, "sighting S-3 at Vigo", who="mia")  # S-3 is the most recently sighted
    await app.console.pop_posts()
    pinned_at = clock()
    reply = await ok(app, PIN, who="mia", channel="room")
    assert reply.message.lines[0] == "Whom did you see at Cais da Ribeira, Porto?"
    labels = [b.label for b in reply.message.buttons]
    # Recently sighted first, then newest; a protected person (Lena) is never on a button.
    assert labels == ["S-3 White Transit", "S-1 Ivan Petrov", "Something else"]
    press = reply.message.buttons[1].command
    assert press == "pin use OP-NIGHTJAR 1 S-1"

    clock.advance(minutes=3)  # choosing takes a moment: the time seen is the pin's
    done = await ok(app, press, who="mia", channel="room")
    assert done.message.title.startswith("Recorded Sighting SG-2")
    [_, stored] = await fetch(app, Sighting)
    assert (stored.lat, stored.lon) == (41.1406, -8.6132)
    assert stored.location == "Cais da Ribeira, Porto"
    assert stored.observed_at == pinned_at and stored.reported_at == clock()
    [pending] = await fetch(app, FieldPending)
    assert pending.closed_at == clock() and pending.sighting_id == stored.id
    [post] = await app.console.pop_posts("room")
    assert "41.14060, -8.61320" in post.text and "Ivan Petrov" in post.text

    # A second press (a double tap) records nothing more.
    before = await snapshot(app.store)
    again = await refused(app, press, who="mia", channel="room")
    assert again == "That pin is already recorded; see `sightings`."
    assert changed_tables(before, await snapshot(app.store)) == {}


async def test_only_the_member_who_pinned_may_finish_it(app: App) -> None:
    await _setup(app)
    reply = await ok(app, PIN, who="mia", channel="room")
    press = reply.message.buttons[0].command
    before = await snapshot(app.store)
    assert await refused(app, press, who="admin", channel="room") == (
        "There is no location pin 1 of yours here."
    )
    assert await refused(app, "pin use 99 S-1", who="mia", channel="room") == (
        "There is no location pin 99 of yours here."
    )
    assert changed_tables(before, await snapshot(app.store)) == {}


async def test_something_else_then_a_reply_describes_it(app: App) -> None:
    await _setup(app)
    reply = await ok(app, PIN + " --live", who="mia", channel="room")
    assert "live location: I record its first point only" in text(reply)
    other = reply.message.buttons[-1]
    assert other.label == "Something else"
    asked = await ok(app, other.command, who="mia", channel="room")
    assert asked.message.lines[0].startswith("What did you see? Reply to this message")
    done = await ok(app, 'pin text white Transit van, "ES" plates', who="mia", channel="room")
    assert "live location" in text(done)
    [stored] = await fetch(app, Sighting)
    assert stored.description == "white Transit van, ES plates"
    assert stored.subject_id is None and stored.lat == 41.1406


async def test_a_sighting_without_a_place_is_finished_by_a_pin(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await _setup(app)
    before = await snapshot(app.store)
    asked = await ok(app, "sighting S-1 --grade B2 --when 20m ago", who="mia", channel="room")
    assert asked.message.lines == [
        "Where was S-1 seen? Share a location as a reply to this message, or type "
        "`sighting S-1 at <place>`."
    ]
    assert set(changed_tables(before, await snapshot(app.store))) <= {
        "fieldpending",
        "auditentry",
        "auditchain",
        "processedevent",
    }
    assert await fetch(app, Sighting) == []
    seen = clock() - timedelta(minutes=20)
    clock.advance(minutes=2)
    done = await ok(app, "pin 41.1,-8.6", who="mia", channel="room")
    assert done.message.title.startswith("Recorded Sighting SG-1")
    [stored] = await fetch(app, Sighting)
    assert (stored.reporter_grade, stored.lat, stored.lon) == ("B2", 41.1, -8.6)
    assert stored.observed_at == seen and stored.location == "41.10000,-8.60000"

    # A text answer is the place.
    await ok(app, 'sighting "grey Audi"', who="mia", channel="room")
    await ok(app, "pin text Porto harbour", who="mia", channel="room")
    assert (await fetch(app, Sighting))[1].location == "Porto harbour"


async def test_bad_input_and_refusals_write_nothing(app: App) -> None:
    await _setup(app)
    for who, line, sentence in [
        ("obe", PIN, "As observer in OP-NIGHTJAR you cannot post sightings."),
        ("mia", "pin 91,10", "Coordinates 91,10 are out of range"),
        ("mia", "pin text a van", "Nothing of yours is waiting for an answer here"),
        ("mia", "sighting S-9", "There is no subject S-9 in OP-NIGHTJAR."),
        ("mia", "sighting S-1 --grade Z9", "'Z9' is not an Admiralty grade"),
    ]:
        before = await snapshot(app.store)
        assert (await refused(app, line, who=who, channel="room")).startswith(sentence)
        changed = changed_tables(before, await snapshot(app.store))
        assert set(changed) <= {"auditentry", "auditchain"}, (line, changed)


async def test_a_pin_waits_an_hour(app: App, clock: ManualClock) -> None:
    await _setup(app)
    reply = await ok(app, PIN, who="mia", channel="room")
    clock.advance(minutes=61)
    assert await refused(app, reply.message.buttons[0].command, who="mia", channel="room") == (
        "That pin is more than an hour old; share the location again."
    )


async def test_a_redelivered_pin_is_kept_once_and_survives_a_restart(
    make_app: AppFactory, sqlite_url: str
) -> None:
    app = await make_app(sqlite_url)
    await _setup(app)
    first = await app.console.push(PIN, as_="mia", channel="room", event_key="pin-1")
    again = await app.console.push(PIN, as_="mia", channel="room", event_key="pin-1")
    assert again.duplicate and text(again) == text(first)
    assert len(await fetch(app, FieldPending)) == 1
    await app.close()

    restarted = await make_app(sqlite_url)
    await ok(restarted, first.message.buttons[0].command, who="mia", channel="room")
    assert len(await fetch(restarted, Sighting)) == 1


async def test_a_pin_in_a_private_chat_of_a_member_of_two_operations(app: App) -> None:
    await _setup(app)
    await operation(app, "OP-OTHER", channels={"other-room": "amber"})
    await ok(app, "subject add OP-OTHER person Zed --category suspect")
    dm = {"who": "mia", "channel": "dm-mia", "is_group": False}
    asked = await ok(app, 'pin 41.1,-8.6 --place Cais\\ \\"Novo\\"', **dm)
    assert asked.message.lines == ["Which operation is this location for?"]
    assert [b.label for b in asked.message.buttons] == ["OP-NIGHTJAR", "OP-OTHER"]
    whom = await ok(app, asked.message.buttons[1].command, **dm)
    assert whom.message.lines[0] == 'Whom did you see at Cais "Novo"?'
    assert [b.label for b in whom.message.buttons] == ["S-1 Zed", "Something else"]
    await ok(app, whom.message.buttons[-1].command, **dm)
    await ok(app, "pin text grey Audi", **dm)  # no operation named: the pin's
    [stored] = await fetch(app, Sighting)
    assert (stored.description, stored.location) == ("grey Audi", 'Cais "Novo"')
    [pending] = await fetch(app, FieldPending)
    assert pending.sighting_id == stored.id

    # `sighting OP-NIGHTJAR/S-1` asks where; a pin in the same chat answers it there.
    await ok(app, "sighting OP-NIGHTJAR/S-1", **dm)
    done = await ok(app, "pin 41.2,-8.7", **dm)
    assert "OP-NIGHTJAR/SG-1" in text(done)

    # An observer of both is not asked which: neither lets them post.
    before = await snapshot(app.store)
    reply = await app.console.push("pin 41.1,-8.6", as_="obe", channel="dm-obe", is_group=False)
    assert reply.message.lines == [
        "You are not in any active operation where you may post sightings."
    ]
    assert changed_tables(before, await snapshot(app.store)) == {}


async def test_a_question_too_sensitive_for_the_group_is_answered_in_private(app: App) -> None:
    await _setup(app)
    await ok(app, "op link --max-tlp green", channel="lobby")
    asked = await ok(app, PIN, who="mia", channel="lobby")
    assert asked.confidential  # AMBER subjects on the buttons: not for a GREEN group
    dm = {"who": "mia", "channel": "dm-mia", "is_group": False}
    await ok(app, asked.message.buttons[-1].command, **dm)  # pressed in the private chat
    await ok(app, "pin text white van", **dm)
    [stored] = await fetch(app, Sighting)
    assert (stored.description, stored.location) == ("white van", "Cais da Ribeira, Porto")


async def test_two_presses_at_once_record_one_sighting(any_app: App) -> None:
    app = any_app
    await _setup(app)
    press = (await ok(app, PIN, who="mia", channel="room")).message.buttons[0].command
    replies = await asyncio.gather(
        *(app.console.push(press, as_="mia", channel="room", event_key=f"tap-{i}") for i in (1, 2))
    )
    assert sorted(r.ok for r in replies) == [False, True]
    refused_reply = next(r for r in replies if not r.ok)
    assert refused_reply.message.lines == ["That pin is already recorded; see `sightings`."]
    assert len(await fetch(app, Sighting)) == 1


async def test_erasing_a_sighting_forgets_its_pin_and_old_pins_are_not_kept(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await _setup(app)
    reply = await ok(app, PIN, who="mia", channel="room")
    await ok(app, reply.message.buttons[1].command, who="mia", channel="room")  # SG-1
    await ok(app, 'sighting erase SG-1 --reason "recorded in error"')
    assert await fetch(app, FieldPending) == []  # the pin held the place and coordinates
    assert "Cais da Ribeira" not in repr(await snapshot(app.store))

    await ok(app, 'pin 42.2,-8.7 --place "Vigo port"', who="mia", channel="room")  # unused
    clock.advance(timedelta(hours=1, seconds=1))
    await ok(app, PIN, who="mia", channel="room")
    [left] = await fetch(app, FieldPending)
    assert left.place == "Cais da Ribeira, Porto"  # the expired pin went when a new one came


async def test_erasing_a_subject_forgets_a_sighting_of_it_still_waiting_for_a_place(
    any_app: App,
) -> None:
    app = any_app
    await _setup(app)
    await ok(app, 'sighting S-1 --note "with the tall courier" --when 20m ago', who="mia")
    await ok(app, "sighting S-3", who="mia")  # another subject's wait stays
    await ok(app, 'subject erase S-1 --reason "court order 44/2026"')
    [left] = await fetch(app, FieldPending)
    assert left.what == "S-3"
    assert "tall courier" not in repr(await snapshot(app.store))

"""Briefings: IIMARCH order, TLP per channel, news since the last briefing, `brief` commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.base.clock import ManualClock
from bot.base.messages import Message
from bot.jobs.scheduler import FireResult
from bot.serving.app import App
from bot.store.models import BriefSchedule, OutboxMessage
from tests.dbstate import changed_tables, denied_only, snapshot
from tests.fieldintel import OP, RED, fetch, ok, operation, refused, text
from tests.scheduling import fire_due

SECTIONS = [
    "INFORMATION",
    "INTENT",
    "METHOD",
    "ADMINISTRATION",
    "RISK",
    "COMMUNICATIONS",
    "HUMANITARIAN",
]
FIRST_FIRE = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)


async def posted(app: App, channel: str) -> list[Message]:
    """Briefings delivered to a console channel since the last look (other posts dropped)."""
    posts = await app.console.pop_posts(channel)
    return [p.message for p in posts if p.message.title.startswith("Briefing")]


def body(message: Message) -> str:
    return message.plain_text()


async def intel(app: App) -> None:
    """A suspect (AMBER) under a red notice, a victim (GREEN), sightings at three labels."""
    await ok(app, 'subject add person "Viktor Kral" --category suspect')  # S-1, AMBER
    await ok(app, 'subject add person "Ana V" --category victim --tlp green')  # S-2
    await ok(app, 'sighting S-1 at "Vigo port"')  # SG-1, AMBER
    await ok(app, 'sighting S-1 at "Porto safe house" --tlp red')  # SG-2, RED
    await ok(app, 'sighting S-2 at "Shelter gate" --tlp green')  # SG-3
    await ok(app, f'notice record red S-1 {RED} --charges "trafficking in human beings"')  # N-1


async def test_scheduled_briefings_follow_iimarch_and_each_channels_ceiling(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await operation(app)
    await intel(app)
    await ok(app, 'raid plan "Dock 4" --at "2026-12-01 05:00"')
    for channel in ("room", "lobby"):
        await ok(app, "brief schedule 07:00 --tz UTC", channel=channel)
    await app.console.pop_posts()
    clock.set(FIRST_FIRE + timedelta(seconds=5))
    assert await fire_due(app, "brief") == [FireResult.SENT, FireResult.SENT]

    (room,) = await posted(app, "room")
    shown = body(room)
    positions = [shown.index(s) for s in SECTIONS]
    assert positions == sorted(positions), "IIMARCH order"
    assert room.tlp == "amber" and room.mark is None
    assert "New sightings: 2" in shown  # the RED one is never in a group
    assert "S-1 Viktor Kral (person, suspect): 1 sighting, last SG-1 at Vigo port" in shown
    assert "Porto" not in shown
    assert "N-1 RED — S-1 Viktor Kral" in shown
    assert "R-1 Dock 4 — Tue 01 Dec 2026 05:00 UTC — planned, 0/32 done" in shown
    assert "1 active red or orange notice: a wanted person or an imminent threat" in shown
    assert "Victims identified: 1 (1 new)" in shown
    assert "console room (up to TLP:AMBER)" in shown

    (lobby,) = await posted(app, "lobby")
    shown = body(lobby)
    assert lobby.tlp == "green"
    assert "New sightings: 1" in shown
    # A victim is counted, never named nor placed, in a group channel (issue 13).
    assert "A protected person: 1 sighting" in shown
    for secret in ("Viktor", "Vigo", "Porto", "N-1", "Dock 4", "Ana V", "Shelter"):
        assert secret not in shown, secret
    assert "Active notices: 0" in shown

    # The next briefing of each schedule reports only what is new since the previous one.
    clock.advance(hours=3)
    await ok(app, 'sighting S-1 at "Bus station"')
    clock.set(FIRST_FIRE + timedelta(days=1, seconds=5))
    assert await fire_due(app, "brief") == [FireResult.SENT, FireResult.SENT]
    (room,) = await posted(app, "room")
    assert "New sightings: 1 (1 match a notice)" in body(room)
    assert "last SG-4 at Bus station" in body(room) and "Vigo" not in body(room)
    (lobby,) = await posted(app, "lobby")
    assert "New sightings: 0" in body(lobby)


async def test_brief_now_follows_the_channel_and_the_role_of_who_asks(app: App) -> None:
    await operation(app)
    await intel(app)
    direct = text(await ok(app, "brief", channel="dm-admin", is_group=False))
    # TLP:RED is for its named recipients, read one by one, never summarised in a briefing
    # (issue 13); one-to-one, a lead sees the victim by name.
    assert "New sightings: 2" in direct and "Porto" not in direct
    assert "S-2 Ana V (person, victim, protected): 1 sighting" in direct
    assert "Porto safe house" in text(await ok(app, "sighting show SG-2"))  # its author
    in_room = await ok(app, "brief", channel="room")
    assert "New sightings: 2" in text(in_room) and "Porto" not in text(in_room)
    assert "Ana V" not in text(in_room) and "A protected person: 1 sighting" in text(in_room)
    assert not in_room.confidential
    partner = text(await ok(app, "brief", who="pat", channel="dm-pat", is_group=False))
    # A partner reads a protected person only by grant, and a briefing tells nothing that
    # `sighting show` denies them (issue 25): not even that the person was sighted.
    assert "Ana V" not in partner and "Viktor" not in partner and "N-1" not in partner
    assert "A protected person" not in partner and "New sightings: 0" in partner
    observer = text(await ok(app, "brief", who="obe", channel="dm-obe", is_group=False))
    # Up to AMBER, the protected person only by grant: SG-1 alone, as `sightings` lists.
    assert "New sightings: 1" in observer and "Porto" not in observer
    assert "SG-1" in text(await ok(app, "sightings", who="obe"))
    await ok(app, "subject grant S-2 obe")
    observer = text(await ok(app, "brief", who="obe", channel="dm-obe", is_group=False))
    assert "New sightings: 2" in observer and "S-2 Ana V" in observer


async def test_long_sections_are_summarised_with_counts(app: App) -> None:
    await operation(app, people=False)
    for n in range(1, 9):
        await ok(app, f'subject add vehicle "Van {n}"')
        for _ in range(n):
            await ok(app, f'sighting S-{n} at "Road {n}"')
    shown = text(await ok(app, "brief", channel="room"))
    assert "New sightings: 36" in shown
    assert "S-8 Van 8 (vehicle): 8 sightings" in shown  # busiest first
    assert "S-3 Van 3" not in shown
    assert "… and 3 more subjects" in shown
    assert len(shown.splitlines()) < 40


async def test_brief_schedule_list_and_stop(app: App, clock: ManualClock) -> None:
    await operation(app)
    made = await ok(app, "brief schedule 7:00 --days Mon-Fri --tz Europe/Madrid", channel="room")
    assert made.message.title == "Briefing #1 scheduled"
    fields = dict(made.message.fields)
    assert fields["When"] == "07:00 Europe/Madrid, mon-fri"
    assert fields["Next"] == "Mon 30 Nov 2026 07:00 CET (06:00 UTC)"
    assert "already runs here" in await refused(
        app, "brief schedule 07:00 --days mon-fri --tz Europe/Madrid", channel="room"
    )
    listing = text(await ok(app, "brief list", who="obe"))
    assert "#1 console room — 07:00 Europe/Madrid, mon-fri — next Mon 30 Nov 2026 06:00 UTC" in (
        listing
    )
    assert "you cannot schedule briefings" in await refused(app, "brief stop 1", who="mia")
    await ok(app, "brief stop 1")
    assert "None scheduled" in text(await ok(app, "brief list"))
    (row,) = await fetch(app, BriefSchedule)
    assert not row.active
    clock.set(datetime(2026, 11, 30, 6, 0, 5, tzinfo=UTC))
    assert await fire_due(app, "brief") == []
    assert [m.kind for m in await fetch(app, OutboxMessage) if m.kind == "briefing"] == []


@pytest.mark.parametrize(
    ("line", "who", "channel", "sentence"),
    [
        (
            "brief schedule 07:00 --days funday",
            "admin",
            "room",
            "'funday' is not a set of days; use daily, mon-fri, weekends, or a list like "
            "mon,wed,fri.",
        ),
        (
            "brief schedule 07:00 --days mon-xyz",
            "admin",
            "room",
            "'mon-xyz' is not a set of days; use daily, mon-fri, weekends, or a list like "
            "mon,wed,fri.",
        ),
        (
            "brief schedule 07:00 --tz Europe/Atlantis",
            "admin",
            "room",
            "'Europe/Atlantis' is not a time zone I know; use an Area/City name like "
            "Europe/Madrid.",
        ),
        (
            "brief schedule 25:00",
            "admin",
            "room",
            "'25:00' is not a time of day; use HH:MM, like 07:00.",
        ),
        (
            "brief schedule 07:00",
            "admin",
            "hq",
            f"This channel is not linked to {OP}; `op link` it first, then schedule here.",
        ),
        (
            "brief schedule 07:00",
            "mia",
            "room",
            f"As member in {OP} you cannot schedule briefings.",
        ),
        (
            "brief stop 42",
            "admin",
            "room",
            f"There is no running briefing #42 in {OP}; see `brief list`.",
        ),
        (
            "brief stop soon",
            "admin",
            "room",
            "'soon' is not a briefing number; `brief list` shows them.",
        ),
    ],
)
async def test_bad_brief_input_gets_one_sentence_and_stores_nothing(
    app: App, line: str, who: str, channel: str, sentence: str
) -> None:
    await operation(app)
    before = await snapshot(app.store)
    assert await refused(app, line, who=who, channel=channel) == sentence
    if sentence.startswith("As member"):  # a refused access: audited for the leads
        [entry] = denied_only(before, await snapshot(app.store))
        assert (entry["actor"], entry["reason"]) == ("mia (console:mia)", sentence)
    else:
        assert changed_tables(before, await snapshot(app.store)) == {}


async def test_iimarch_intent_method_risk_and_communications(app: App) -> None:
    """Issue 15: the operation's intent; the raids' risk scores and open risk items; their
    radio channel and call signs; counts in words ("4 (1 agency)")."""
    await operation(app)
    assert "Not set: a lead states it with `op intent" in text(await ok(app, "brief"))
    assert "you cannot manage the operation" in await refused(app, 'op intent "x"', who="mia")
    await ok(app, 'op intent "Dismantle the Vigo network; identify and protect its victims"')
    await ok(app, 'raid plan "Dock 4" --at "2026-11-29 05:00"')  # R-1, TLP:AMBER+STRICT
    await ok(app, 'check R-1 4 --note "high: armed guard reported"')
    await ok(app, 'check R-1 8 --note "channel 4, call signs Alpha and Bravo"')
    direct = text(await ok(app, "brief", channel="dm-admin", is_group=False))
    positions = [direct.index(s) for s in SECTIONS]
    assert positions == sorted(positions), "IIMARCH order"
    intent = direct[direct.index("INTENT") : direct.index("METHOD")]
    assert "Dismantle the Vigo network; identify and protect its victims" in intent
    method = direct[direct.index("METHOD") : direct.index("ADMINISTRATION")]
    assert "R-1 Dock 4 —" in method
    assert "Members: 4 (1 agency) — no agency (4)" in direct
    risk = direct[direct.index("RISK") : direct.index("COMMUNICATIONS")]
    assert "R-1 risk assessment: high: armed guard reported" in risk
    assert "R-1: 4 open risk items (1, 2, 6, 10)" in risk
    comms = direct[direct.index("COMMUNICATIONS") : direct.index("HUMANITARIAN")]
    assert "COMMUNICATIONS — 2 linked channels" in comms
    assert "R-1 radio: channel 4, call signs Alpha and Bravo" in comms
    # In the AMBER room the raid's details (AMBER+STRICT) are only said to be set.
    room = text(await ok(app, "brief", channel="room"))
    assert "R-1 risk assessment: scored" in room and "armed guard" not in room
    assert "R-1 radio channel and call signs: set" in room and "Alpha" not in room

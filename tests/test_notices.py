"""Notices: every colour with its checks, amber → yellow, expiry, cancellation, posting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import App
from bot.clock import ManualClock
from bot.models import Notice, OutboxMessage
from tests.dbstate import changed_tables, denied_only, snapshot
from tests.fieldintel import OP, fetch, ok, operation, refused, text

SUBJECTS = [
    "subject add person Ivan Petrov --category suspect",  # S-1
    "subject add person Lena --category victim",  # S-2
    "subject add person 'unknown male' --category victim",  # S-3
    "subject add vessel Sea Breeze",  # S-4
    "subject add organisation Petrov Logistics",  # S-5
]
# Victims: their notices reach channels only as a neutral line, without the name.
PROTECTED = {"S-2": "Lena", "S-3": "unknown male"}
# colour → a subject it may be about, and one it may not (None: any kind will do).
FITS = {
    "red": ("S-1", "S-4"),
    "yellow": ("S-2", "S-5"),
    "blue": ("S-1", "S-4"),
    "green": ("S-1", "S-5"),
    "orange": ("S-4", None),
    "black": ("S-3", "S-4"),
    "purple": ("S-5", None),
    "silver": ("S-4", "S-1"),
    "un": ("S-5", "S-4"),
}


async def _setup(app: App) -> None:
    await operation(app)
    for line in SUBJECTS:
        await ok(app, line)


@pytest.mark.parametrize("colour", list(FITS))
async def test_every_colour_is_issued_and_posted(app: App, colour: str) -> None:
    await _setup(app)
    good, bad = FITS[colour]
    charges = ' --charges "trafficking in human beings"' if colour == "red" else ""
    reply = await ok(app, f"notice issue {colour} {good}{charges} --ref X/2026/1", who="mia")
    assert f"notice N-1 — {good} " in reply.message.title
    assert "Posted to 1 linked channel" in text(reply)
    [notice] = await fetch(app, Notice)
    assert notice.colour == colour and notice.external_ref == "X/2026/1"
    assert notice.expires_at.year == notice.issued_at.year + 5
    posts = await app.console.pop_posts()
    [post] = [p for p in posts if not p.channel.startswith("@")]
    assert post.channel == "room"
    if good in PROTECTED:
        # A victim (here presumed a child): the channel gets a neutral line, the lead the
        # notice privately (issue 13).
        assert post.message.title == "A notice about a protected person was recorded"
        assert PROTECTED[good] not in post.text
        assert f"notice show {OP}/N-1" in post.text
        [private] = [p for p in posts if p.channel.startswith("@")]
        assert private.channel == "@admin" and f"about {good}" in private.text
    else:
        assert f"{OP}/N-1 · TLP:AMBER · about {good}" in post.text
        assert len(posts) == 1
    if bad is not None:
        before = await snapshot(app.store)
        said = await refused(app, f"notice issue {colour} {bad}{charges}")
        assert "notice is about" in said and f"{bad} is a" in said
        assert changed_tables(before, await snapshot(app.store)) == {}


async def test_red_needs_charges_and_a_wanted_person(any_app: App) -> None:
    app = any_app
    await _setup(app)
    before = await snapshot(app.store)
    said = await refused(app, "notice issue red S-1")
    assert said.startswith('A red notice needs --charges "…"')
    assert "not itself an arrest warrant" in said
    said = await refused(app, 'notice issue red S-2 --charges "x"')
    assert said == (
        "S-2 is recorded as a victim; a red notice is for a wanted person "
        "(victims are not treated as offenders)."
    )
    assert "'magenta' is not a notice colour" in await refused(app, "notice issue magenta S-1")
    assert "There is no subject S-9" in await refused(app, "notice issue blue S-9")
    assert changed_tables(before, await snapshot(app.store)) == {}
    help_text = text(await ok(app, "help notice issue"))
    assert (
        "not itself an arrest warrant" in help_text and "amber is recorded as yellow" in help_text
    )


async def test_amber_is_recorded_as_yellow_and_the_reply_says_why(app: App) -> None:
    await _setup(app)
    reply = await ok(app, "notice issue amber S-2")
    assert reply.message.title.startswith("Issued Yellow notice N-1")
    assert (
        "Recorded as a Yellow notice: AMBER is a national child-abduction alert, not an "
        "INTERPOL colour; INTERPOL's missing-person notice is Yellow."
    ) in reply.message.lines
    assert "also has: sex, year of birth, description" in text(reply)
    assert [n.colour for n in await fetch(app, Notice)] == ["yellow"]


async def test_one_active_notice_of_a_colour_per_subject(app: App) -> None:
    await _setup(app)
    await ok(app, "notice issue blue S-1")
    said = await refused(app, "notice issue blue S-1")
    assert said == "S-1 already has an active Blue notice N-1; cancel it before issuing another."


async def test_notices_expire_after_five_years_unless_renewed(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await _setup(app)
    await ok(app, 'notice issue red S-1 --charges "trafficking"')
    await ok(app, "notice issue purple S-5")
    clock.advance(timedelta(days=5 * 365 + 2))
    assert "No active notices" in text(await ok(app, "notice list"))
    assert "N-1 Red — S-1 Ivan Petrov · expired" in text(await ok(app, "notice list --all"))
    assert (await ok(app, "sighting S-1 at Porto")).message.mark is None
    await ok(app, 'notice renew N-1 --reason "still wanted: warrant re-issued"')
    assert "N-1 Red" in text(await ok(app, "notice list"))
    assert (await ok(app, "sighting S-1 at Porto")).message.mark == "MATCH"


async def test_cancel_needs_a_reason_and_a_lead(any_app: App) -> None:
    app = any_app
    await _setup(app)
    await ok(app, 'notice issue red S-1 --charges "trafficking"')
    await app.console.pop_posts()
    before = await snapshot(app.store)
    assert await refused(app, "notice cancel N-1 --reason 'arrested'", who="mia") == (
        f"As member in {OP} you cannot cancel notices."
    )
    [entry] = denied_only(before, await snapshot(app.store))
    assert (entry["command"], entry["actor"]) == ("notice cancel", "mia (console:mia)")
    before = await snapshot(app.store)
    said = await refused(app, "notice cancel N-1")
    assert said.startswith('Say why with --reason "…"')
    assert changed_tables(before, await snapshot(app.store)) == {}
    reply = await ok(app, 'notice cancel N-1 --reason "arrested in Porto"')
    assert "Red notice N-1 on S-1 Ivan Petrov is cancelled." in text(reply)
    [post] = await app.console.pop_posts()
    assert post.message.title == "Red notice N-1 cancelled — S-1 Ivan Petrov"
    assert "Reason: arrested in Porto" in post.text
    [notice] = await fetch(app, Notice)
    assert (notice.status, notice.cancel_reason) == ("cancelled", "arrested in Porto")
    assert "already cancelled" in await refused(app, "notice cancel N-1 --reason again")
    shown = text(await ok(app, "notice show N-1", who="mia"))
    assert "Status: cancelled" in shown and "arrested in Porto" in shown
    assert "No active notices" in text(await ok(app, "notice list"))


async def test_notice_show_names_its_matching_sightings(app: App) -> None:
    await _setup(app)
    await ok(app, 'notice issue red S-1 --charges "trafficking" --summary "controller"')
    await ok(app, "sighting S-1 at Porto")
    await ok(app, "sighting S-2 at Porto")
    await ok(app, "sighting S-1 at Braga")
    shown = await ok(app, "notice show OP-NIGHTJAR/N-1", who="obe")
    assert "Matching sightings: SG-1, SG-3" in text(shown)
    assert shown.message.context == f"{OP}/N-1 · TLP:AMBER · about S-1"
    assert len([r for r in await fetch(app, OutboxMessage) if r.kind == "match"]) == 2

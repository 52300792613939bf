"""Notices tell the right story (issue 28): publication date, diffusions marked, the
strongest notice cited, UN committees, country and reference checks, earlier sightings of
a new red notice's subject, historic sightings never a live MATCH. Through the console,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.store.models import Notice, Sighting
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import RED, fetch, ok, operation, refused, text

SUBJECT = "subject add person Ivan Petrov --category suspect"  # S-1
RED_ON_S1 = f'notice record red S-1 {RED} --charges "trafficking in human beings"'


async def test_expiry_counts_from_interpol_publication(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, SUBJECT)
    reply = text(await ok(app, f"{RED_ON_S1} --published 2023-03-14"))
    assert "Published by INTERPOL: " in reply
    [notice] = await fetch(app, Notice)
    assert notice.published_at == datetime(2023, 3, 14, tzinfo=UTC)
    assert notice.expires_at == datetime(2028, 3, 14, tzinfo=UTC)
    assert "active until " in text(await ok(app, "notice list"))
    before = await snapshot(app.store)
    for line, said in (
        (
            "notice record blue S-1 --ref A-2/2026 --requested-by PT --published 2020-01-02",
            "Published on 02 Jan 2020, it expired on 02 Jan 2025 (5 years on); record a notice "
            "INTERPOL still has in force.",
        ),
        (
            "notice record blue S-1 --ref A-2/2026 --requested-by PT --published 14/03/2023",
            "'14/03/2023' is not a publication date; give it as YYYY-MM-DD.",
        ),
        (
            "notice record blue S-1 --ref A-2/2026 --requested-by PT --published 2027-01-01",
            "'2027-01-01' is in the future; a notice is recorded once published.",
        ),
    ):
        assert await refused(app, line) == said
    assert changed_tables(before, await snapshot(app.store)) == {}


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (
            "--ref A-2/2026 --requested-by Portugal",
            "'Portugal' is not a country code or an NCB's name; give --requested-by as the ISO "
            "3166 code (PT) or the NCB's name (NCB Lisbon).",
        ),
        (
            "--ref A-2/2026 --requested-by XX",
            "'XX' is not a country code or an NCB's name; give --requested-by as the ISO 3166 "
            "code (PT) or the NCB's name (NCB Lisbon).",
        ),
        (
            "--ref BADREF --requested-by PT",
            "'BADREF' is not a notice reference; give it as printed on the notice, like "
            "A-4411/11-2026.",
        ),
        (
            "--ref A-2/2026 --requested-by PT --committee 1267",
            "--committee is for UN Special Notices; give --requested-by COUNTRY instead.",
        ),
    ],
)
async def test_countries_and_references_are_checked(app: App, flags: str, said: str) -> None:
    await operation(app)
    await ok(app, SUBJECT)
    before = await snapshot(app.store)
    assert await refused(app, f"notice record blue S-1 {flags}") == said
    assert changed_tables(before, await snapshot(app.store)) == {}


async def test_ncb_names_un_committees_and_diffusion_countries(app: App) -> None:
    await operation(app)
    await ok(app, SUBJECT)
    await ok(app, "subject add organisation Black Sea Shipping")  # S-2
    shown = text(await ok(app, 'notice record blue S-1 --ref A-2/2026 --requested-by "NCB Lisbon"'))
    assert "Requested by: NCB Lisbon" in shown
    said = await refused(app, "notice record un S-2 --ref UN-7/2026 --requested-by US")
    assert said.startswith("A UN Special Notice is issued at the request of a UN Security Council")
    shown = text(await ok(app, "notice record un S-2 --ref UN-7/2026 --committee 1718"))
    assert "UN Security Council sanctions committee: 1718" in shown
    assert "Requested by" not in shown
    assert "'XX' is not an ISO 3166 country code" in await refused(
        app, "notice diffusion yellow S-1 --requested-by PT --countries ES,XX"
    )
    assert "'Spain' is not an ISO 3166 country code" in await refused(
        app, f"{RED_ON_S1.replace('--warrant-country PT', '--warrant-country Spain')}"
    )


async def test_diffusions_are_marked_and_a_match_cites_the_red_notice(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, SUBJECT)
    await ok(app, RED_ON_S1)  # N-1, the notice
    await ok(
        app,
        'notice diffusion red S-1 --requested-by ES --countries PT,FR --charges "trafficking" '
        "--warrant W/2 --warrant-country ES",
    )  # N-2, newer
    listed = text(await ok(app, "notice list", who="mia"))
    assert "N-2 Red diffusion — S-1 Ivan Petrov" in listed
    assert "N-1 Red — S-1 Ivan Petrov" in listed
    briefing = text(await ok(app, "brief", who="mia", channel="room"))
    assert "N-1 RED — S-1 Ivan Petrov" in briefing
    assert "N-2 RED diffusion — S-1 Ivan Petrov" in briefing
    await app.console.pop_posts()
    reply = await ok(app, 'sighting S-1 at "Vigo port"', who="mia")
    assert reply.message.mark == "MATCH"
    assert reply.message.title == "Red notice N-1 — sighting SG-1 of S-1 Ivan Petrov"
    [post] = await app.console.pop_posts("room")
    assert post.message.title.startswith("Red notice N-1 — ")
    [sighting] = await fetch(app, Sighting)
    assert sighting.match_notice_id == min(n.id or 0 for n in await fetch(app, Notice))


async def test_a_new_red_notice_lists_earlier_sightings_and_old_sightings_are_historic(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await operation(app)
    await ok(app, SUBJECT)
    await ok(app, 'sighting S-1 at "Vigo port"', who="mia")  # SG-1
    await ok(app, 'sighting S-1 at "Porto quay" --tlp red', who="mia")  # SG-2: mia's only
    clock.advance(timedelta(hours=3))
    reply = text(await ok(app, RED_ON_S1))
    assert "S-1 was seen before this notice: 1 earlier sighting, newest first:" in reply
    assert "SG-1 " in reply and "Vigo port" in reply and "SG-2" not in reply

    # A sighting seen in April, reported now: a historic sighting, never a live MATCH.
    await app.console.pop_posts()
    now = clock()
    old = (now - timedelta(days=40)).strftime("%Y-%m-%d %H:%M")
    reply = await ok(app, f'sighting S-1 at "Faro marina" --when "{old}"', who="mia")
    assert reply.message.mark is None
    assert reply.message.title == "Recorded Historic sighting SG-3 — S-1 Ivan Petrov"
    assert "a historic sighting, not a live one." in text(reply)
    [post] = await app.console.pop_posts("room")
    assert post.message.mark is None and "[MATCH]" not in post.text
    assert post.message.title == "Historic sighting SG-3 — S-1 Ivan Petrov"
    assert "S-1 Ivan Petrov is under Red notice N-1" in post.text
    listed = text(await ok(app, "sightings", who="mia"))
    [line] = [x for x in listed.splitlines() if x.startswith("SG-3 ")]
    assert line.endswith("historic") and "MATCH" not in line
    # Seen 20 hours ago: still a live MATCH.
    recent = (now - timedelta(hours=20)).strftime("%Y-%m-%d %H:%M")
    reply = await ok(app, f'sighting S-1 at "Faro marina" --when "{recent}"', who="mia")
    assert reply.message.mark == "MATCH"

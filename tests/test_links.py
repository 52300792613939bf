"""`links`: co-sightings by distance and time, labels, access, confirm and dismiss."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.core import links
from bot.core.links import (
    cells_around,
    distance_m,
    grid_cell,
    near_cells,
    parse_distance,
    parse_window,
)
from bot.serving.app import App
from bot.store.models import AuditEntry, Sighting
from tests.fieldintel import OP, fetch, ok, operation, refused, text

PORTO = (41.1406, -8.6132)
NORTH_100M = (41.1415, -8.6132)  # 0.0009° of latitude: 100 m
NORTH_5KM = (41.1856, -8.6132)
DAYS = ("2026-11-20", "2026-11-22", "2026-11-25")


async def _seen(app: App, ref: str, where: tuple[float, float], when: str, **kw: str) -> None:
    flags = " ".join(f"--{k} {v}" for k, v in kw.items())
    await ok(
        app,
        f'sighting {ref} at "Porto" --coords {where[0]},{where[1]} --when "{when}" {flags}',
    )


async def _story(app: App) -> None:
    """S-1 and S-2 sighted 100 m and 10 min apart on three days; S-3 5 km away each time."""
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, "subject add person Marko Horvat --category associate")
    await ok(app, "subject add person Lena Kos --category associate")
    for day in DAYS:
        await _seen(app, "S-1", PORTO, f"{day} 10:00")
        await _seen(app, "S-2", NORTH_100M, f"{day} 10:10")
        await _seen(app, "S-3", NORTH_5KM, f"{day} 10:05")


def _link_lines(reply_text: str) -> list[str]:
    return [line for line in reply_text.splitlines() if line.startswith("S-")]


async def test_three_co_sightings_make_a_strong_link_and_5_km_none(any_app: App) -> None:
    app = any_app
    await _story(app)
    reply = await ok(app, "links S-1", who="mia")
    said = text(reply)
    [line] = _link_lines(said)
    assert line.startswith("S-2 Marko Horvat — seen together 3 times (strong), closest 100 m")
    assert "TLP:AMBER · analytic inference, not a fact" in line
    assert "sightings: SG-1+SG-2, SG-4+SG-5, SG-7+SG-8" in said
    assert "Lena" not in said
    assert reply.message.title == "Seen with S-1 Ivan Petrov"
    # The same, seen from S-2; and in the operation's strongest pairs.
    assert _link_lines(text(await ok(app, "links S-2", who="mia")))[0].startswith(
        "S-1 Ivan Petrov — seen together 3 times"
    )
    [pair] = _link_lines(text(await ok(app, "links --since 30d", who="mia")))
    assert pair.startswith("S-1 Ivan Petrov + S-2 Marko Horvat — seen together 3 times")


async def test_distance_and_window_flags(app: App) -> None:
    await _story(app)
    wide = _link_lines(text(await ok(app, "links S-1 --distance 6km", who="mia")))
    assert [line.split(" —")[0] for line in wide] == ["S-2 Marko Horvat", "S-3 Lena Kos"]
    assert not _link_lines(text(await ok(app, "links S-1 --window 5m", who="mia")))
    assert "is not a distance" in await refused(app, "links S-1 --distance far", who="mia")
    assert "between 1 minute and 7 days" in await refused(app, "links S-1 --window 30d", who="mia")


async def test_a_red_supporting_sighting_raises_the_label_for_its_readers_only(
    any_app: App,
) -> None:
    app = any_app
    await _story(app)
    await _seen(app, "S-2", PORTO, "2026-11-27 10:05", tlp="red")  # admin's own RED sighting
    await _seen(app, "S-1", PORTO, "2026-11-27 10:00")
    reply = await ok(app, "links S-1")
    [line] = _link_lines(text(reply))
    assert "seen together 4 times" in line and "TLP:RED" in line
    assert reply.message.tlp == "red"
    # mia may not read the RED sighting: it does not count for her, and the label stays.
    reply = await ok(app, "links S-1", who="mia")
    [line] = _link_lines(text(reply))
    assert "seen together 3 times" in line and "TLP:AMBER ·" in line
    assert reply.message.tlp == "amber"


async def test_a_dismissed_link_is_not_suggested_again(any_app: App) -> None:
    app = any_app
    await _story(app)
    assert "As member in OP-NIGHTJAR you cannot confirm or dismiss links" in await refused(
        app, 'links dismiss S-1 S-2 --reason "cousins, same street"', who="mia"
    )
    reply = await ok(app, 'links dismiss S-2 S-1 --reason "neighbours, same street"')
    assert reply.message.title == "Link S-1 Ivan Petrov + S-2 Marko Horvat dismissed"
    assert not _link_lines(text(await ok(app, "links S-1", who="mia")))
    assert not _link_lines(text(await ok(app, "links", who="mia")))
    # More co-sightings later do not bring it back.
    await _seen(app, "S-1", PORTO, "2026-11-27 10:00")
    await _seen(app, "S-2", PORTO, "2026-11-27 10:01")
    assert not _link_lines(text(await ok(app, "links S-1", who="mia")))


async def test_a_confirmed_link_shows_on_subject_show(app: App) -> None:
    await _story(app)
    assert "Confirmed associations" not in text(await ok(app, "subject show S-1", who="mia"))
    await ok(app, 'links confirm S-1 S-2 --reason "same vehicle, border crossing 20 Nov"')
    show = text(await ok(app, "subject show S-1", who="mia"))
    assert "Confirmed associations:" in show
    assert "S-2 Marko Horvat — confirmed by " in show
    assert "same vehicle, border crossing 20 Nov · TLP:AMBER" in show
    assert "S-1 Ivan Petrov — confirmed by" in text(await ok(app, "subject show S-2"))
    [line] = _link_lines(text(await ok(app, "links S-1", who="mia")))
    assert "confirmed by a lead" in line and "inference" not in line
    # An observer reads S-2 but not an AMBER+STRICT subject it is confirmed with.
    await ok(app, "subject add person Ana Dvor --category associate --tlp amber+strict")
    await ok(app, 'links confirm S-2 S-4 --reason "same flat"')
    assert "S-4 Ana Dvor" in text(await ok(app, "subject show S-2", who="mia"))
    shown = text(await ok(app, "subject show S-2", who="obe"))
    assert "S-1 Ivan Petrov — confirmed" in shown and "Ana Dvor" not in shown


async def test_partners_and_observers_see_only_what_they_may_read(app: App) -> None:
    await _story(app)
    # A partner reads no suspects: S-1 does not exist for them.
    assert "There is no subject S-1" in await refused(app, "links S-1", who="pat")
    assert not _link_lines(text(await ok(app, "links", who="pat")))
    # An observer reads up to AMBER: an AMBER+STRICT sighting does not count.
    await _seen(app, "S-1", PORTO, "2026-11-27 10:00", tlp="amber+strict")
    await _seen(app, "S-2", PORTO, "2026-11-27 10:01")
    [line] = _link_lines(text(await ok(app, "links S-1", who="obe")))
    assert "seen together 3 times" in line
    [line] = _link_lines(text(await ok(app, "links S-1", who="mia")))
    assert "seen together 4 times" in line and "TLP:AMBER+STRICT" in line


async def test_a_protected_person_s_link_is_red_for_disclosure(app: App) -> None:
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, "subject add person Nadia K --category victim --dob 2001")
    await _seen(app, "S-1", PORTO, "2026-11-27 10:00")
    await _seen(app, "S-2", PORTO, "2026-11-27 10:03")
    reply = await ok(app, "links S-1", who="mia")
    assert "S-2 Nadia K" in text(reply) and reply.message.tlp == "red"


async def test_links_are_combine_entries_naming_what_was_combined(app: App) -> None:
    await _story(app)
    await ok(app, "links S-1", who="mia")
    async with app.store.transaction() as session:
        entry = (
            await session.exec(
                select(AuditEntry)
                .where(AuditEntry.command == "links")
                .order_by(col(AuditEntry.id).desc())
            )
        ).first()
    assert entry is not None
    assert entry.action == "combine"
    assert entry.object_ref == f"{OP}/S-1,S-2,SG-1,SG-2,SG-4,SG-5,SG-7,SG-8"


async def test_sightings_carry_their_grid_cell(app: App) -> None:
    await _story(app)
    cells = {s.seq: s.cell for s in await fetch(app, Sighting)}
    assert cells[1] == grid_cell(*PORTO) and cells[2] == grid_cell(*NORTH_100M)
    await ok(app, 'sighting S-1 at "somewhere in Porto"')
    assert (await fetch(app, Sighting))[-1].cell is None


def test_geometry() -> None:
    assert round(distance_m(*PORTO, *NORTH_100M)) == 100
    cells = near_cells(*PORTO, 200.0)
    assert cells is not None and grid_cell(*NORTH_100M) in cells and len(cells) == 9
    assert near_cells(*PORTO, 20_000.0) is None  # too wide: searched by time and a box
    home = grid_cell(*PORTO)
    assert home is not None
    around = cells_around(home, 200.0)
    assert around is not None and set(cells) <= set(around)
    assert parse_distance("1.5km") == 1500 and parse_distance("200") == 200
    assert parse_window("45min") == timedelta(minutes=45) and parse_window("2h") == timedelta(
        hours=2
    )


async def test_a_wide_distance_is_searched_by_time_and_box(app: App) -> None:
    await _story(app)
    lines = _link_lines(text(await ok(app, "links S-1 --distance 40km", who="mia")))
    assert [line.split(" —")[0] for line in lines] == ["S-2 Marko Horvat", "S-3 Lena Kos"]
    pairs = _link_lines(text(await ok(app, "links --distance 40km", who="mia")))
    assert len(pairs) == 3


async def test_links_alone_refuses_a_period_too_long_to_go_through(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _story(app)
    monkeypatch.setattr(links, "MAX_PERIOD", 5)
    monkeypatch.setattr(
        links,
        "_SINCE",
        links._SINCE.limit(links.MAX_PERIOD + 1),  # rebuilt with the new cap
    )
    said = await refused(app, "links --since 30d", who="mia")
    assert said.startswith("More than 5 sightings with coordinates in that period")

"""The situation room's board over plain HTTP (real uvicorn): the map's files served from
the package under the room's headers, raids on the map only for readers of their address,
ticks by checkbox (refusals beside the item, as one sentence to the page's script), the
IIMARCH briefing in sections that print, and `raid plan --coords`."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest

from bot.base.i18n import _, use_language
from bot.room.web import STATIC_DIR
from bot.serving.app import App
from bot.store.models import Raid, RaidItem
from tests.conftest import AppFactory
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import OP, fetch, ok, operation, refused
from tests.room_helpers import PUBLIC_URL, csrf_of, served, sign_in


@pytest.fixture
async def room_app(make_app: AppFactory, db_url: str) -> App:
    """An App on SQLite and PostgreSQL with the room's public URL set."""
    return await make_app(db_url, TASKFORCE_PUBLIC_URL=PUBLIC_URL)


@pytest.fixture
async def url(room_app: App) -> AsyncIterator[str]:
    async with served(room_app) as base:
        yield base


async def _raid(app: App) -> None:
    await operation(app, channels={"room": "amber"})
    await ok(
        app,
        'raid plan "Harbour warehouse" --at "tomorrow 05:30" --location "Calle Mar 4" '
        "--coords 36.131,-5.447",
    )


def _data(html: str) -> dict[str, object]:
    block = html.split('<script type="application/json" id="room-data">', 1)[1]
    found: dict[str, object] = json.loads(block.split("</script>", 1)[0])
    return found


async def test_the_map_is_served_from_the_package_under_the_rooms_headers(
    room_app: App, url: str
) -> None:
    await _raid(room_app)
    async with sign_in(url, room_app, "mia") as browser:
        page = await browser.get(f"/room/op/{OP}")
        scripts = re.findall(r'<script src="([^"]+)"', page.text)
        styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text)
        assert "/room/static/vendor/leaflet/leaflet.js" in scripts
        assert all(src.startswith("/room/static/") for src in scripts + styles)
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "img-src 'self' data:;" in policy
        assert "connect-src 'self';" in policy and "style-src 'self';" in policy
        for path in (
            *scripts,
            *styles,
            "/room/static/vendor/world-atlas/countries-50m.json",
            "/room/static/vendor/leaflet/LICENSE",
            "/room/static/vendor/leaflet/images/layers.png",
        ):
            served_file = await browser.get(path)
            assert served_file.status_code == 200, path
            assert served_file.headers["content-security-policy"] == policy
            assert served_file.headers["x-content-type-options"] == "nosniff"
        atlas = (await browser.get("/room/static/vendor/world-atlas/countries-50m.json")).json()
        assert atlas["type"] == "Topology" and {"countries", "land"} <= set(atlas["objects"])
    for name, version in (("leaflet", "1.9.4"), ("world-atlas", "2.0.2")):
        pinned = (STATIC_DIR / "vendor" / name / "VERSION").read_text()
        assert pinned.startswith(f"{name} {version} sha512-")


@pytest.mark.parametrize(("who", "drawn"), [("admin", True), ("mia", True), ("pat", False)])
async def test_a_raid_is_on_the_map_only_for_readers_of_its_address(
    room_app: App, url: str, who: str, drawn: bool
) -> None:
    await _raid(room_app)
    async with sign_in(url, room_app, who) as browser:
        html = (await browser.get(f"/room/op/{OP}")).text
    pins = _data(html)["pins"]
    assert isinstance(pins, list)
    assert bool(pins) is drawn
    # The coordinates and the address are one: neither reaches a reader of neither.
    assert ("36.131" in html) is drawn and ("Calle Mar 4" in html) is drawn
    if drawn:
        assert pins == [
            {
                "ref": "R-1",
                "title": "Harbour warehouse",
                "status": "planned",
                "location": "Calle Mar 4",
                "lat": 36.131,
                "lon": -5.447,
            }
        ]
        assert '<ul id="raid-pins"' in html  # the map's content as a list too
    # Everyone who sees the raid sees its checklist.
    assert 'id="R-1"' in html


async def test_raid_coordinates_are_checked_and_nothing_is_written_on_refusal(
    room_app: App,
) -> None:
    await operation(room_app)
    before = await snapshot(room_app.store)
    said = await refused(room_app, 'raid plan "X" --at "tomorrow 05:30" --coords 95,-5.4')
    assert said.startswith("Coordinates 95,-5.4 are out of range")
    assert set(changed_tables(before, await snapshot(room_app.store))) <= {
        "auditentry",
        "auditchain",
    }
    assert await fetch(room_app, Raid) == []


async def test_a_refused_tick_says_why_beside_its_item(room_app: App, url: str) -> None:
    app = room_app
    await _raid(app)
    async with sign_in(url, app, "admin") as browser:
        html = (await browser.get(f"/room/op/{OP}")).text
        csrf = csrf_of(html)
        assert 'id="R-1-2-box"' in html
        await ok(app, "check R-1 2")  # ticked meanwhile, in chat
        before = await snapshot(app.store)
        # Without script: the form posts, the page comes back with the reason at the item.
        page = await browser.post(f"/room/op/{OP}/raid/1/check", data={"csrf": csrf, "item": "2"})
        assert page.status_code == 400
        beside = re.search(
            r'<span class="why" id="R-1-2-why" role="alert">([^<]*)</span>', page.text
        )
        assert beside is not None and "already ticked" in beside.group(1)
        assert '<p class="alert" role="alert">' not in page.text  # said once, at its item
        # The page's script gets the same sentence, and no page.
        answer = await browser.post(
            f"/room/op/{OP}/raid/1/check",
            data={"csrf": csrf, "item": "2"},
            headers={"x-room-fetch": "1"},
        )
        assert answer.status_code == 400 and answer.json()["ok"] is False
        assert "already ticked" in answer.json()["said"]
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")
        assert set(changed_tables(before, await snapshot(app.store))) <= {
            "auditentry",
            "auditchain",
        }
        # A tick the script sends is answered in one line, and done.
        done = await browser.post(
            f"/room/op/{OP}/raid/1/check",
            data={"csrf": csrf, "item": "3"},
            headers={"x-room-fetch": "1"},
        )
        assert done.status_code == 200 and done.json()["ok"] is True
        # Without the CSRF token the script's tick is refused like any other.
        forged = await browser.post(
            f"/room/op/{OP}/raid/1/check", data={"item": "4"}, headers={"x-room-fetch": "1"}
        )
        assert forged.status_code == 403
    ticked = {i.position for i in await fetch(app, RaidItem) if i.done_at is not None}
    assert ticked == {2, 3}


async def test_each_item_is_a_checkbox_on_its_own_line(room_app: App, url: str) -> None:
    await _raid(room_app)
    await ok(room_app, "check R-1 1")
    async with sign_in(url, room_app, "admin") as browser:
        html = (await browser.get(f"/room/op/{OP}")).text
    items = await fetch(room_app, RaidItem)
    lines = re.findall(r'<li class="item[^"]*" id="R-1-(\d+)">(.*?)</li>', html)
    assert [int(n) for n, _ in lines] == sorted(i.position for i in items)
    for n, line in lines:
        assert line.count('type="checkbox"') == 1
        assert f'action="/room/op/{OP}/raid/1/{"uncheck" if n == "1" else "check"}"' in line
        assert f'<label for="R-1-{n}-box">' in line
    assert 'id="R-1-1-box" name="done" value="1" title="Untick item 1 of R-1" checked' in html


async def test_the_briefing_is_in_iimarch_sections_that_print(room_app: App, url: str) -> None:
    await _raid(room_app)
    await ok(room_app, "me lang ar", who="mia")
    async with sign_in(url, room_app, "admin") as browser:
        html = (await browser.get(f"/room/op/{OP}")).text
        css = (await browser.get("/room/static/room.css")).text
    brief = html.split('<section id="briefing"', 1)[1].split('<section id="people"', 1)[0]
    heads = re.findall(
        r'<section class="iimarch" aria-labelledby="ii-\d"><h4 id="ii-\d">([^<]+)', brief
    )
    assert [h.split(" —")[0] for h in heads] == [
        "INFORMATION",
        "INTENT",
        "METHOD",
        "ADMINISTRATION",
        "RISK",
        "COMMUNICATIONS",
        "HUMANITARIAN",
    ]
    assert "R-1 Harbour warehouse" in brief
    # Printing prints the briefing alone, on A4.
    assert "@page { size: A4;" in css
    printed = css.split("@media print", 1)[1]
    assert ".board" in printed and "display: none" in printed
    # In the reader's language and direction.
    async with sign_in(url, room_app, "mia") as browser:
        arabic = (await browser.get(f"/room/op/{OP}")).text
    with use_language("ar"):
        intent, risk = _("INTENT"), _("RISK")
    assert intent != "INTENT" and '<html lang="ar" dir="rtl">' in arabic
    assert f'">{intent}</h4>' in arabic and f'">{risk}</h4>' in arabic

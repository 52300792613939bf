"""The situation room as a command post uses it, in Debian's Chromium (the driver set-up of
tests/test_room_browser.py): the map draws its own geography with no request leaving this
machine, a marker per sighting, a partner never sees a protected person nor a raid's
address, a checkbox ticks an item and a refused tick says why beside it, the screen is one
board on a wide display and a stack on a phone (the checklist first during a raid), and an
Arabic reader gets the layout mirrored.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.serving.app import App
from tests.conftest import AppFactory
from tests.fieldintel import RED, ok, operation
from tests.room_helpers import PUBLIC_URL, ask_link, served
from tests.test_room_browser import Browser, pytestmark  # noqa: F401  (skip without chromium)

WIDE = (1400, 1000)
PHONE = (390, 844)


@pytest.fixture
def wide() -> Iterator[Browser]:
    b = Browser(*WIDE)
    try:
        yield b
    finally:
        b.driver.quit()


@pytest.fixture
async def room(make_app: AppFactory, sqlite_url: str) -> App:
    """OP-NIGHTJAR on the Strait: a suspect under a red notice, a victim (protected), three
    sightings of the suspect around Algeciras, one of the victim at a shelter, a raid."""
    app = await make_app(
        sqlite_url, TASKFORCE_PUBLIC_URL=PUBLIC_URL, TASKFORCE_ROOM_POLL_SECONDS=1.0
    )
    await operation(app, channels={"room": "amber"})
    await ok(app, "subject add person Ivan Petrov --category suspect")  # S-1
    await ok(app, "subject add person Lena Roth --category victim --tlp green")  # S-2
    await ok(app, f'notice record red S-1 {RED} --charges "trafficking in human beings"')
    for place, coords in (
        ("Algeciras port", "36.128,-5.440"),
        ("Tarifa", "36.013,-5.604"),
        ("La Línea", "36.168,-5.347"),
    ):
        await ok(app, f'sighting S-1 at "{place}" --coords {coords}', who="mia")
    await ok(app, 'sighting "grey van" at "Los Barrios" --coords 36.184,-5.491 --tlp green')
    await ok(app, 'sighting S-2 at "Shelter" --coords 36.140,-5.456', who="mia")  # SG-5
    await ok(
        app,
        'raid plan "Harbour warehouse" --at "tomorrow 05:30" --location "Calle Mar 4, '
        'Algeciras" --coords 36.131,-5.447',
    )
    return app


@pytest.fixture
async def url(room: App) -> AsyncIterator[str]:
    async with served(room) as base:
        yield base


async def _enter(browser: Browser, app: App, url: str, who: str) -> None:
    """`who` asks `room` in chat, opens the link in the browser and the operation's page."""
    token = await ask_link(app, who)
    await asyncio.to_thread(browser.driver.get, f"{url}/room/login?t={token}")
    await asyncio.to_thread(browser.click_css, "#sign-in")
    await asyncio.to_thread(browser.click_css, "a", "OP-NIGHTJAR")
    await asyncio.to_thread(browser.wait_css, "#map[data-basemap=drawn]")


def _rect(browser: Browser, selector: str) -> dict[str, float]:
    rect: dict[str, float] = browser.driver.execute_script(
        "var r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {x: r.left, y: r.top + window.scrollY, w: r.width, h: r.height};",
        selector,
    )
    return rect


def _pixel(png: bytes, x: float, y: float) -> tuple[int, ...]:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    found: tuple[int, ...] = image.getpixel((int(x), int(y)))  # type: ignore[assignment]
    return found


def _only_here(urls: list[str], base: str) -> None:
    """Every request went to the room's own server (nothing to a CDN or a tile host)."""
    assert urls, "the performance log recorded no request"
    away = [u for u in urls if not (u.startswith(base + "/") or u.startswith("data:"))]
    assert away == [], away


async def test_the_map_draws_geography_offline_on_one_screen(
    room: App, url: str, wide: Browser
) -> None:
    d = wide.driver
    await _enter(wide, room, url, "admin")
    # Natural Earth land and borders, drawn from the package: the coast on the map.
    land = d.find_elements("css selector", "#map path.land")
    assert land and land[0].get_attribute("d").count("L") >= 10  # a coast, clipped to the view
    assert d.find_elements("css selector", "#map path.border")
    # A marker per sighting (close ones clustered: the clusters count them), the raid's pin
    # with its address for a lead, a scale bar, the view fitted to the data.
    await asyncio.to_thread(wide.wait_css, '#map .raid-pin[data-ref="R-1"]')
    pin = d.find_element("css selector", '#map .raid-pin[data-ref="R-1"]')
    assert "Calle Mar 4" in pin.get_attribute("aria-label")
    counted = d.execute_script(
        "var n = document.querySelectorAll('#map .spot').length;"
        "document.querySelectorAll('#map .cluster span').forEach("
        "  function (s) { n += +s.textContent; }); return n;"
    )
    assert counted == 5
    # Fitted to the data: every marker inside the map, at the scale of a town (the bar
    # reads metres or a few kilometres, not a continent's thousands).
    scale = d.find_element("css selector", ".leaflet-control-scale-line").text.split()
    assert scale[1] == "m" or (scale[1] == "km" and int(scale[0]) <= 10), scale
    box = _rect(wide, "#map")
    for marker in d.find_elements("css selector", "#map .spot, #map .cluster, #map .raid-pin"):
        r = marker.rect
        assert box["x"] <= r["x"] <= box["x"] + box["w"]
        assert box["y"] <= r["y"] <= box["y"] + box["h"]
    # Land and sea differ on screen: Spain north of Algeciras, the sea south of Tarifa.
    png = d.get_screenshot_as_png()
    spot = d.execute_script(
        "var r = document.querySelector('#map .raid-pin').getBoundingClientRect();"
        "return [r.left + r.width / 2, r.top + r.height / 2];"
    )
    map_top = d.execute_script("return document.getElementById('map').getBoundingClientRect().top")
    land_px = _pixel(png, spot[0] + 40, max(map_top + 5, spot[1] - 120))
    sea_px = _pixel(png, spot[0], spot[1] + 160)
    assert land_px != sea_px, (land_px, sea_px)
    # One screen: map, timeline and checklist side by side, tops level.
    panes = [_rect(wide, s) for s in ("#map-section", "#timeline", "#raids")]
    assert panes[0]["x"] < panes[1]["x"] < panes[2]["x"]
    assert max(p["y"] for p in panes) - min(p["y"] for p in panes) < 2
    assert all(p["y"] < WIDE[1] for p in panes)
    # The map's content as a list too.
    listed = d.find_elements("css selector", "#sightings li[data-ref]")
    assert {li.get_attribute("data-ref") for li in listed} == {f"SG-{n}" for n in range(1, 6)}
    _only_here(wide.requested(), url)
    await asyncio.to_thread(wide.shot, "map-wide")

    # On a phone: stacked; once the raid has the go, the checklist comes first.
    await ok(room, "check R-1 1")
    await ok(room, 'raid go R-1 --force --reason "victims at risk tonight"')
    await asyncio.to_thread(d.set_window_size, *PHONE)
    await asyncio.to_thread(d.refresh)
    await asyncio.to_thread(wide.wait_css, "#map[data-basemap=drawn]")
    assert d.execute_script("return window.innerWidth") <= PHONE[0]
    raids, where, when = (_rect(wide, s) for s in ("#raids", "#map-section", "#timeline"))
    assert raids["y"] < where["y"] < when["y"]
    assert abs(raids["x"] - where["x"]) < 2 and raids["w"] <= PHONE[0]
    # Nothing is wider than the phone (no sideways scrolling).
    assert d.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    _only_here(wide.requested(), url)
    await asyncio.to_thread(wide.shot, "map-phone")


async def test_a_partner_is_never_drawn_a_protected_person_nor_a_raid_address(
    room: App, url: str, wide: Browser
) -> None:
    d = wide.driver
    await _enter(wide, room, url, "pat")
    # The partner reads the green sighting of no one; not the suspect, not the victim.
    await asyncio.to_thread(wide.wait_css, '#map .spot[data-ref="SG-4"]')
    html = d.page_source
    assert "Lena Roth" not in html and "Shelter" not in html and "SG-5" not in html
    assert "Ivan Petrov" not in html
    assert not d.find_elements("css selector", '#map [data-ref="SG-5"]')
    # The raid is on the checklist (time and status) but not on the map: its place is its
    # address, which a partner does not read.
    assert d.find_elements("css selector", "#R-1")
    assert not d.find_elements("css selector", "#map .raid-pin")
    assert "Calle Mar" not in html
    _only_here(wide.requested(), url)


async def test_a_checkbox_ticks_and_a_refused_tick_says_why_beside_the_item(
    room: App, url: str, wide: Browser
) -> None:
    d = wide.driver
    await _enter(wide, room, url, "admin")
    # Ticked by its checkbox: through the core (the same `check`), the page follows.
    await asyncio.to_thread(wide.click_css, "#R-1-1-box")
    await asyncio.to_thread(wide.wait_css, "#R-1-1", "by admin")
    assert d.find_element("css selector", "#R-1-1-box").is_selected()
    # A phone outside the warehouse loses its live updates; meanwhile item 2 is ticked in
    # chat. The stale checkbox is refused, and the reason stands beside that item.
    d.execute_cdp_cmd("Network.enable", {})
    d.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/events*"]})
    await asyncio.to_thread(d.refresh)
    await asyncio.to_thread(wide.wait_css, "#map[data-basemap=drawn]")
    await ok(room, "check R-1 2")
    assert not d.find_element("css selector", "#R-1-2-box").is_selected()
    await asyncio.to_thread(wide.click_css, "#R-1-2-box")
    await asyncio.to_thread(wide.wait_css, "#R-1-2-why", "already ticked")
    # Read from the node the page holds now (the checklist may be redrawn meanwhile).
    role, shown = d.execute_script(
        "var e = document.querySelector('#R-1-2-why');"
        "return [e.getAttribute('role'), e.getClientRects().length > 0];"
    )
    assert role == "alert"
    assert shown
    # Beside its item: inside the item's line, right of its checkbox.
    item = _rect(wide, "#R-1-2")
    said = _rect(wide, "#R-1-2-why")
    assert item["y"] <= said["y"] < item["y"] + item["h"]
    # The page now shows the item as it is: ticked, by admin in chat.
    await asyncio.to_thread(wide.wait_css, "#R-1-2", "by admin")
    await asyncio.to_thread(wide.shot, "tick-refused")


async def test_an_arabic_reader_gets_the_board_mirrored(room: App, url: str, wide: Browser) -> None:
    d = wide.driver
    await ok(room, "me lang ar")
    await _enter(wide, room, url, "admin")
    assert d.execute_script("return document.documentElement.dir") == "rtl"
    panes = [_rect(wide, s) for s in ("#map-section", "#timeline", "#raids")]
    # Right to left: the map on the right, the checklist on the left.
    assert panes[0]["x"] > panes[1]["x"] > panes[2]["x"]
    # An item's checkbox stands at the start of its line: on the right.
    box, label = _rect(wide, "#R-1-1-box"), _rect(wide, 'label[for="R-1-1-box"]')
    assert box["x"] > label["x"]
    # The page's words are Arabic, the map's too.
    assert "خريطة المشاهدات" in d.page_source
    map_label: Any = d.find_element("css selector", "#map").get_attribute("aria-label")
    assert map_label.startswith("خريطة المشاهدات والمداهمات")
    _only_here(wide.requested(), url)
    await asyncio.to_thread(wide.shot, "rtl")
    # The briefing prints alone, right to left, on one or two A4 pages.
    pdf = base64.b64decode(
        d.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True})["data"]
    )
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 1 <= pages <= 2, pages
    assert (
        d.execute_script("return getComputedStyle(document.getElementById('briefing')).direction")
        == "rtl"
    )

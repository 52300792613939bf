"""The situation room in a real browser: headless Debian Chromium driven by Selenium
(/usr/bin/chromedriver; never a downloaded browser build), the app served by uvicorn,
Telegram through real python-telegram-bot against the local fake Bot API.

A lead asks `room` on Telegram, opens the link, sees the sighting on the map and in the
timeline, ticks a checklist item (the tick reaches the Telegram group), and a second
member's sighting appears without reloading. Screenshots are kept in tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.telegram import TelegramAdapter
from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.serving.server import create_app
from tests.conftest import AppFactory
from tests.fakes.telegram_api import (
    FakeBotAPI,
    UpdateFactory,
    group_chat,
    post_update,
    private_chat,
    tg_user,
)
from tests.serving import serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
)
ARTIFACTS = Path(__file__).parent / "artifacts"
SECRET = "s3cret-Token_1"
ANA = tg_user(1001, "Ana", "ana")
BOB = tg_user(3003, "Bob", "bob")
GROUP_ID = -100555
GROUP = group_chat(GROUP_ID, "Night Harbour")
WAIT = 20.0


class Browser:
    """A headless Chromium (Selenium); its blocking calls run in a thread."""

    def __init__(self, width: int = 1400, height: int = 1000) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--window-size={width},{height}",
            "--force-device-scale-factor=1",
        ):
            options.add_argument(arg)
        # Every request the page makes is logged (tests assert none leaves this machine).
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))

    def requested(self) -> list[str]:
        """The URLs of every request the browser sent since the last call."""
        import json

        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"room-{name}.png"
        self.driver.save_screenshot(str(path))
        print(f"screenshot: {path}")
        return path

    def wait_css(self, selector: str, text: str | None = None) -> Any:
        """The first element matching `selector` (and holding `text`), once there. A page
        that replaces itself meanwhile (a redirect, a live re-fetch) leaves stale nodes:
        those are looked for again, not failed on."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        def found(driver: Any) -> Any:
            for node in driver.find_elements(By.CSS_SELECTOR, selector):
                if text is None or text in (node.text or node.get_attribute("textContent")):
                    return node
            return False

        wait = WebDriverWait(
            self.driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)
        )
        return wait.until(found)

    def click_css(self, selector: str, text: str | None = None) -> None:
        """Click the element once there; again if the page replaced it under the click."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        def clicked(driver: Any) -> bool:
            self.wait_css(selector, text).click()
            return True

        WebDriverWait(
            self.driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)
        ).until(clicked)


@pytest.fixture
def browser() -> Iterator[Browser]:
    b = Browser()
    try:
        yield b
    finally:
        b.driver.quit()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api


async def test_room_in_a_real_browser(
    make_app: AppFactory,
    sqlite_url: str,
    fake: FakeBotAPI,
    browser: Browser,
    clock: ManualClock,
) -> None:
    app: App = await make_app(
        sqlite_url,
        **fake.settings(SECRET, TASKFORCE_ADMINS="telegram:1001", TASKFORCE_ROOM_POLL_SECONDS=1.0),
    )
    app.extras.pop("scheduler", None)
    starlette = create_app(app.settings, app=app)
    updates = UpdateFactory()
    async with (
        serving(starlette, timeout_graceful_shutdown=2) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        app.settings.public_url = url  # the port is known only now
        adapter = next(a for a in starlette.state.adapters if a.platform == "telegram")
        assert isinstance(adapter, TelegramAdapter)

        async def say(text: str, user: dict[str, Any], chat: dict[str, Any]) -> str:
            update = updates.command(text, user=user, chat=chat)
            assert (await post_update(client, update, SECRET)).status_code == 200
            await adapter.idle()
            return fake.sent(chat["id"])[-1].plain

        ana_dm, bob_dm = private_chat(ANA), private_chat(BOB)
        await say("/start", ANA, ana_dm)
        await say('/op new "Night Harbour" --code OP-NH', ANA, ana_dm)
        await say("/op link --max-tlp amber", ANA, GROUP)
        invite = await say("/op invite --role member", ANA, ana_dm)
        code = re.search(r"Code: (\S+)", invite)
        assert code is not None, invite
        await say(f"/join {code.group(1)}", BOB, bob_dm)
        await say('/sighting "grey van" at "Porto harbour" --coords 41.14,-8.61', ANA, ana_dm)
        await say('/raid plan "Harbour warehouse" --at "tomorrow 05:30"', ANA, ana_dm)

        answer = await say("/room", ANA, ana_dm)
        link = re.search(r"(http://\S+/room/login\?t=\S+)", answer)
        assert link is not None, answer

        d = browser.driver
        await asyncio.to_thread(d.get, link.group(1))
        await asyncio.to_thread(browser.click_css, "#sign-in")
        await asyncio.to_thread(browser.click_css, "a", "OP-NH")
        # The sighting on the map (a focusable marker) and in the timeline.
        marker = await asyncio.to_thread(browser.wait_css, '#map .spot[data-ref="SG-1"]')
        assert "Porto harbour" in marker.get_attribute("aria-label")
        # The script's own words come from the page, in the reader's language.
        drawn = await asyncio.to_thread(browser.wait_css, "#map.leaflet-container")
        assert drawn.get_attribute("aria-label") == "Map of sightings and raids: 1"
        await asyncio.to_thread(browser.wait_css, ".timeline li", "SG-1")
        await asyncio.to_thread(browser.shot, "1-map")

        # Tick item 1 of R-1 by its checkbox: recorded through the core, it reaches the group.
        await asyncio.to_thread(browser.click_css, "#R-1-1-box")
        await asyncio.to_thread(browser.wait_css, "#R-1-1", "by Ana")
        assert d.find_element("css selector", "#R-1-1-box").is_selected()
        await fake.wait_for(
            lambda: any("ticked by Ana" in m.plain for m in fake.sent(GROUP_ID)), WAIT
        )
        await asyncio.to_thread(browser.shot, "2-ticked")

        # Bob's sighting appears without a reload (server-sent events, then a re-fetch).
        d.execute_script("window.__same_page = true")
        clock.advance(timedelta(hours=1))
        await say('/sighting "white Transit" at "Vigo port" --coords 42.24,-8.72', BOB, bob_dm)
        await asyncio.to_thread(browser.wait_css, '#map .spot[data-ref="SG-2"]')
        await asyncio.to_thread(browser.wait_css, ".timeline li", "white Transit")
        assert d.execute_script("return window.__same_page === true")  # never reloaded
        d.execute_script("document.getElementById('map-section').scrollIntoView()")
        await asyncio.to_thread(browser.shot, "3-live")

        # Close sightings are clustered; the time slider hides the later ones.
        await say('/sighting "grey van" at "Porto quay" --coords 41.143,-8.6101', ANA, ana_dm)
        cluster = await asyncio.to_thread(browser.wait_css, "#map .cluster", "2")
        label = cluster.get_attribute("aria-label")
        assert "SG-1" in label and "SG-3" in label
        # Keyboard: Enter on the cluster zooms in to its markers; "Whole map" zooms out.
        from selenium.webdriver.common.keys import Keys

        await asyncio.to_thread(cluster.send_keys, Keys.ENTER)
        await asyncio.to_thread(browser.wait_css, '#map .spot[data-ref="SG-3"]')
        await asyncio.to_thread(browser.click_css, "#map-reset")
        await asyncio.to_thread(browser.wait_css, "#map .cluster", "2")
        d.execute_script(
            "var s = document.getElementById('until'); s.value = 0;"
            "s.dispatchEvent(new Event('input'));"
        )
        await asyncio.to_thread(browser.wait_css, "#until-text", "(1/3)")
        assert not d.find_elements("css selector", '#map .spot[data-ref="SG-2"]')
        # The timeline follows the slider: Bob's later sighting is hidden there too.
        later = d.find_element("xpath", "//ol[@class='timeline']/li[contains(., 'white Transit')]")
        assert not later.is_displayed()
        assert d.execute_script("return window.__same_page === true")

        # A phone's screen.
        await asyncio.to_thread(d.set_window_size, 390, 844)
        d.execute_script("document.getElementById('map-section').scrollIntoView()")
        await asyncio.to_thread(browser.shot, "4-phone")
        await asyncio.to_thread(d.get, "about:blank")  # closes the event stream

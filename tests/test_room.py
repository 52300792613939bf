"""The situation room over HTTP (real uvicorn): sign-in links, sessions, CSRF, what each
member sees, audit of page views, ticks through the command core."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlmodel import col, select

from bot.base.clock import ManualClock
from bot.base.messages import SECRET_NOT_REPEATED
from bot.core.room_tokens import SignedIn, digest, open_session, redeem_link
from bot.room.view import load_view
from bot.serving.app import App
from bot.store.models import AuditEntry, Member, RaidItem
from bot.store.room_models import RoomLink, RoomSession
from tests.conftest import AppFactory
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import OP, RED, fetch, ok, operation, refused
from tests.room_helpers import PUBLIC_URL, ask_link, csrf_of, open_link, served, sign_in


@pytest.fixture
async def room_app(make_app: AppFactory, db_url: str) -> App:
    """An App on SQLite and PostgreSQL with the room's public URL set."""
    return await make_app(db_url, TASKFORCE_PUBLIC_URL=PUBLIC_URL)


@pytest.fixture
async def url(room_app: App) -> AsyncIterator[str]:
    async with served(room_app) as base:
        yield base


async def _intel(app: App) -> None:
    """OP-NIGHTJAR with a suspect, a victim, and sightings at every label."""
    await operation(app, channels={"room": "amber", "lobby": "green"})
    await ok(app, "subject add person Ivan Petrov --category suspect")  # S-1 amber
    await ok(app, "subject add person Lena Roth --category victim --tlp green")  # S-2
    await ok(app, f'notice record red S-1 {RED} --charges "trafficking in human beings"')
    await ok(app, 'sighting S-1 at "Porto harbour" --coords 41.14,-8.61', who="mia")  # SG-1
    await ok(app, 'sighting S-2 at "Vigo shelter" --coords 42.24,-8.72', who="mia")  # SG-2
    await ok(app, 'sighting "grey van" at Braga --coords 41.55,-8.42 --tlp green')  # SG-3
    await ok(app, 'sighting "Red van" at "Safe flat" --tlp red', who="mia")  # SG-4, mia only


# ------------------------------------------------------------------- sign-in links


async def test_link_works_once_and_only_in_the_browser_that_opened_it(
    room_app: App, url: str
) -> None:
    app = room_app
    await operation(app)
    token = await ask_link(app, "mia")
    [link] = await fetch(app, RoomLink)
    assert link.token_hash == digest(token) and token not in link.token_hash  # hash only

    async with httpx.AsyncClient(base_url=url) as a, httpx.AsyncClient(base_url=url) as b:
        # Opening the link (a preview, a scanner) uses nothing.
        page = await a.get("/room/login", params={"t": token})
        assert page.status_code == 200 and "Sign in" in page.text
        # Another browser completing a's sign-in: refused, and the link is still unused.
        nonce = page.text.split('name="nonce" value="', 1)[1].split('"', 1)[0]
        other = await b.post("/room/login", data={"t": token, "nonce": nonce})
        assert other.status_code == 403 and "did not start in this browser" in other.text
        assert (await fetch(app, RoomLink))[0].used_at is None
        assert await fetch(app, RoomSession) == []

        first = await open_link(a, token)
        assert first.status_code == 303
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie
        assert "Secure" not in cookie  # plain http in this test; https sets Secure and __Host-
        home = await a.get("/room/")
        assert home.status_code == 200 and OP in home.text and "mia" in home.text

        # Used twice: refused, in the same browser and in another; no second session.
        assert (await open_link(a, token)).status_code == 400
        again = await open_link(b, token)
        assert again.status_code == 400 and "used, expired or unknown" in again.text
        assert len(await fetch(app, RoomSession)) == 1
        assert (await b.get("/room/")).status_code == 401


async def test_the_confirm_page_names_whom_the_link_signs_in(room_app: App, url: str) -> None:
    """An attacker's own link sent to a victim (login CSRF) shows the attacker's name and
    identity before anything happens; what members typed is escaped."""
    app = room_app
    await operation(app)
    token = await ask_link(app, "mia")
    hostile = 'Mia <script>alert(1)</script> & "Co"'
    async with app.store.transaction() as session:
        [mia] = (await session.exec(select(Member).where(Member.name == "mia"))).all()
        mia.name = hostile
        session.add(mia)
    async with httpx.AsyncClient(base_url=url) as browser:
        page = await browser.get("/room/login", params={"t": token})
        assert page.status_code == 200
        assert (
            "Sign in as Mia &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot; "
            "(console:mia)?" in page.text
        )
        assert "<script>alert" not in page.text
        # Opening it used nothing; an unknown link is refused on the confirm page already.
        assert (await fetch(app, RoomLink))[0].used_at is None
        unknown = await browser.get("/room/login", params={"t": token[:-2] + "xx"})
        assert unknown.status_code == 400 and "used, expired or unknown" in unknown.text
        assert "Sign in as" not in unknown.text


async def test_the_database_never_holds_the_link(room_app: App) -> None:
    app = room_app
    await operation(app)
    first = await app.console.push(
        "room", as_="mia", channel="dm-mia", is_group=False, event_key="ev-1"
    )
    [url] = [line for line in first.message.lines if line.startswith(PUBLIC_URL)]
    token = url.split("?t=", 1)[1]
    assert token not in repr(await snapshot(app.store))  # not in the stored first answer
    again = await app.console.push(
        "room", as_="mia", channel="dm-mia", is_group=False, event_key="ev-1"
    )
    assert again.duplicate and again.message.lines == [SECRET_NOT_REPEATED]
    assert len(await fetch(app, RoomLink)) == 1


async def test_expired_link_is_refused(room_app: App, url: str, clock: ManualClock) -> None:
    await operation(room_app)
    token = await ask_link(room_app, "mia")
    clock.advance(timedelta(minutes=10, seconds=1))
    async with httpx.AsyncClient(base_url=url) as browser:
        response = await open_link(browser, token)
        assert response.status_code == 400 and "used, expired or unknown" in response.text
        assert (await browser.get("/room/")).status_code == 401
    assert await fetch(room_app, RoomSession) == []


async def test_room_needs_a_public_url(app: App) -> None:
    await operation(app)
    sentence = await refused(app, "room", who="mia")
    assert "TASKFORCE_PUBLIC_URL" in sentence
    assert await fetch(app, RoomLink) == []


# ------------------------------------------------------------------------ sessions


async def test_removed_member_session_stops_at_the_next_request(room_app: App, url: str) -> None:
    app = room_app
    await _intel(app)
    async with sign_in(url, app, "mia") as browser:
        assert (await browser.get(f"/room/op/{OP}")).status_code == 200
        await ok(app, f"op remove {OP} mia")
        gone = await browser.get(f"/room/op/{OP}")
        assert gone.status_code == 404 and "Porto" not in gone.text
        assert OP not in (await browser.get("/room/")).text
        # The event stream ends too.
        stream = await browser.get(f"/room/op/{OP}/events")
        assert "event: gone" in stream.text


async def test_session_expires_after_a_shift_and_room_logout_ends_every_browser(
    room_app: App, url: str, clock: ManualClock
) -> None:
    app = room_app
    await operation(app)
    async with sign_in(url, app, "mia") as first, sign_in(url, app, "mia") as second:
        assert (await first.get("/room/")).status_code == 200
        await ok(app, "room logout", who="mia")
        assert (await first.get("/room/")).status_code == 401
        assert (await second.get(f"/room/op/{OP}")).status_code == 401
    async with sign_in(url, app, "mia") as third:
        assert (await third.get("/room/")).status_code == 200
        clock.advance(timedelta(hours=12, seconds=1))
        assert (await third.get("/room/")).status_code == 401


async def test_sign_out_in_the_browser_needs_the_csrf_token(room_app: App, url: str) -> None:
    await operation(room_app)
    async with sign_in(url, room_app, "mia") as browser:
        token = csrf_of((await browser.get("/room/")).text)
        assert (await browser.post("/room/logout", data={"csrf": "forged"})).status_code == 403
        assert (await browser.get("/room/")).status_code == 200
        assert (await browser.post("/room/logout", data={"csrf": token})).status_code == 200
        assert (await browser.get("/room/")).status_code == 401


# -------------------------------------------------------------- what each one sees


async def _shown(browser: httpx.AsyncClient) -> str:
    response = await browser.get(f"/room/op/{OP}")
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize("who", ["admin", "mia", "pat", "obe"])
async def test_the_room_shows_no_more_than_sighting_show(room_app: App, url: str, who: str) -> None:
    app = room_app
    await _intel(app)
    async with sign_in(url, app, who) as browser:
        html = await _shown(browser)
    for seq in (1, 2, 3, 4):
        readable = (await app.console.push(f"sighting show SG-{seq}", as_=who)).ok
        assert (f"SG-{seq} " in html) is readable, (who, seq)
    # The partner sees no suspect (nor his notice); nobody but its reader sees the RED one.
    assert ("Ivan Petrov" in html) is (who in ("admin", "mia", "obe"))
    assert ("Safe flat" in html) is (who == "mia")
    assert ("Red van" in html) is (who == "mia")
    if who == "pat":
        assert "N-1" not in html and "trafficking" not in html
        assert "Lena Roth" not in html  # a victim: partners read one only by a lead's grant


async def test_the_map_marks_a_match(room_app: App, url: str) -> None:
    await _intel(room_app)
    async with sign_in(url, room_app, "mia") as browser:
        html = await _shown(browser)
    data = html.split('<script type="application/json" id="room-data">', 1)[1]
    assert '"ref": "SG-1"' in data and '"match": true' in data and '"lat": 41.14' in data
    assert "<strong>MATCH</strong> SG-1" in html


async def test_page_views_are_audited_as_consults(room_app: App, url: str) -> None:
    app = room_app
    await _intel(app)
    async with sign_in(url, app, "obe") as browser:
        await _shown(browser)
    async with app.store.transaction() as session:
        entries = (
            await session.exec(
                select(AuditEntry).where(AuditEntry.command == "room").order_by(col(AuditEntry.id))
            )
        ).all()
    views = [e for e in entries if e.action == "consult"]
    assert len(views) == 1
    [view] = views
    assert view.object_ref == f"{OP}/room" and view.channel == "room:web"
    assert view.actor.startswith("obe (console:obe)")
    assert view.reason is not None and "SG-1" in view.reason and "SG-4" not in view.reason
    # Issuing the link is recorded too (an alteration, not a read).
    assert [e.object_ref for e in entries if e.action == "alter"] == ["room/link"]


# ------------------------------------------------------------------- ticks, CSRF


def _box(html: str, raid: int, item: int) -> str:
    """The checkbox of one checklist item: `open` (may tick), `ticked` or `locked`."""
    found = re.search(rf'<input type="checkbox" id="R-{raid}-{item}-box"[^>]*>', html)
    assert found is not None, (raid, item)
    tag = found.group(0)
    return "locked" if " disabled" in tag else "ticked" if " checked" in tag else "open"


async def _raid(app: App) -> None:
    await operation(app, channels={"room": "amber"})
    await ok(app, 'raid plan "Harbour warehouse" --at "tomorrow 05:30"')
    await app.console.pop_posts()


async def test_tick_from_the_room_goes_through_the_core_and_reaches_the_channel(
    room_app: App, url: str
) -> None:
    app = room_app
    await _raid(app)
    await ok(app, "raid assign R-1 site-commander mia")  # items 4-6 are mia's duty now
    async with sign_in(url, app, "mia") as browser:
        html = await _shown(browser)
        # Exactly what `check` allows her: her duty's items, not the lead's warrant item.
        assert _box(html, 1, 4) == "open" and _box(html, 1, 1) == "locked"
        # Why she may not tick the warrant item is beside it, in `check`'s words.
        assert "Item 1 of R-1 falls to the" in html
        done = await browser.post(
            f"/room/op/{OP}/raid/1/check", data={"csrf": csrf_of(html), "item": "4"}
        )
        assert done.status_code == 303
        after = await _shown(browser)
    item = next(i for i in await fetch(app, RaidItem) if i.position == 4)
    assert item.done_at is not None
    assert "ticked by mia" in after
    posts = await app.console.pop_posts("room")
    assert any("R-1" in p.text and "ticked by mia" in p.text for p in posts)
    async with app.store.transaction() as session:
        alter = (
            await session.exec(
                select(AuditEntry).where(
                    AuditEntry.command == "check", AuditEntry.action == "alter"
                )
            )
        ).one()
    assert alter.channel == "room:web" and alter.object_ref == f"{OP}/R-1#4"


async def test_observer_cannot_tick_and_is_told_why(room_app: App, url: str) -> None:
    app = room_app
    await _raid(app)
    async with sign_in(url, app, "obe") as browser:
        html = await _shown(browser)
        assert 'type="checkbox"' not in html  # nothing to tick
        before = await snapshot(app.store)
        refused_tick = await browser.post(
            f"/room/op/{OP}/raid/1/check", data={"csrf": csrf_of(html), "item": "1"}
        )
    assert refused_tick.status_code == 400
    assert "As observer in OP-NIGHTJAR you cannot tick checklist items." in refused_tick.text
    changed = changed_tables(before, await snapshot(app.store))
    assert set(changed) <= {"auditentry", "auditchain"}  # the refusal and the page view


async def test_state_changes_need_the_cookie_and_the_csrf_token(room_app: App, url: str) -> None:
    app = room_app
    await _raid(app)
    async with sign_in(url, app, "mia") as browser, httpx.AsyncClient(base_url=url) as stranger:
        html = await _shown(browser)
        path = f"/room/op/{OP}/raid/1/check"
        before = await snapshot(app.store)
        assert (await browser.post(path, data={"item": "1"})).status_code == 403
        assert (await browser.post(path, data={"item": "1", "csrf": "x" * 64})).status_code == 403
        no_cookie = await stranger.post(path, data={"item": "1", "csrf": csrf_of(html)})
        assert no_cookie.status_code == 401
        assert (await stranger.get(f"/room/op/{OP}")).status_code == 401
        assert (await stranger.get(f"/room/op/{OP}/events")).status_code == 401
        assert (
            await browser.post(
                f"/room/op/{OP}/raid/1/op", data={"item": "1", "csrf": csrf_of(html)}
            )
        ).status_code == 404
        assert changed_tables(before, await snapshot(app.store)) == {}
        assert all(i.done_at is None for i in await fetch(app, RaidItem))


async def test_pages_forbid_other_origins_and_caching(room_app: App, url: str) -> None:
    await operation(room_app)
    async with sign_in(url, room_app, "mia") as browser:
        response = await browser.get(f"/room/op/{OP}")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert (await browser.get("/room/static/room.js")).status_code == 200


# ------------------------------------------------------------------------ live events


async def test_events_say_changed_and_carry_no_data(make_app: AppFactory, sqlite_url: str) -> None:
    # Streams wake on this process's commits; the poll is long so only those wake them.
    app = await make_app(
        sqlite_url, TASKFORCE_PUBLIC_URL=PUBLIC_URL, TASKFORCE_ROOM_POLL_SECONDS=600
    )
    await operation(app, channels={"room": "amber", "lobby": "green"})
    async with served(app) as url, sign_in(url, app, "pat") as browser:
        html = await _shown(browser)
        since = html.split('"fingerprint": "', 1)[1].split('"', 1)[0]
        async with browser.stream(
            "GET", f"/room/op/{OP}/events", params={"since": since}
        ) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            seen: list[str] = []

            async def next_event() -> str:
                while True:
                    line = await anext(lines)
                    seen.append(line)
                    if line.startswith((":", "event:")):
                        return line

            assert await next_event() == ": still here"  # the page is up to date
            await ok(app, 'sighting "grey van" at Braga --tlp green', channel="room")
            while (event := await next_event()) == ": still here":
                pass
            assert event == "event: changed"
            assert await anext(lines) == "data: -"
        assert not any("grey van" in line or "Braga" in line for line in seen)


@pytest.mark.parametrize("who", ["mia", "pat"])
async def test_what_a_member_may_not_see_does_not_change_their_view(
    room_app: App, who: str
) -> None:
    # A stream says `changed` only when the fingerprint of the member's own view changes:
    # records they may not read must leave it as it was (no "something happened" signal).
    app = room_app
    await operation(app, channels={"room": "amber", "lobby": "green"})
    await ok(app, "subject add person Ivan Petrov --category suspect")
    signed = await _signed(app, who)
    before = await load_view(app.core, signed, OP, audit_it=False)
    assert before is not None
    await ok(app, 'sighting "Red van" at "Safe flat" --tlp red')  # the author's alone
    if who == "pat":  # nothing about a suspect reaches a partner
        await ok(app, f'notice record red S-1 {RED} --charges "trafficking in human beings"')
        await ok(app, 'sighting S-1 at "Porto harbour"')
    after = await load_view(app.core, signed, OP, audit_it=False)
    assert after is not None and after.fingerprint() == before.fingerprint()
    await ok(app, 'sighting "grey van" at Braga --tlp green')
    changed = await load_view(app.core, signed, OP, audit_it=False)
    assert changed is not None and changed.fingerprint() != before.fingerprint()


async def _signed(app: App, who: str) -> SignedIn:
    token = await ask_link(app, who)
    async with app.store.transaction() as session:
        secret = await redeem_link(session, token, app.clock(), 1.0)
    assert secret is not None
    async with app.store.transaction() as session:
        signed = await open_session(session, secret, app.clock())
    assert signed is not None
    return signed


async def test_a_tile_server_is_the_only_other_origin(
    make_app: AppFactory, sqlite_url: str
) -> None:
    tiles = "https://tiles.police.example/osm/{z}/{x}/{y}.png"
    app = await make_app(sqlite_url, TASKFORCE_PUBLIC_URL=PUBLIC_URL, TASKFORCE_ROOM_TILES=tiles)
    await operation(app)
    async with served(app) as url, sign_in(url, app, "mia") as browser:
        response = await browser.get(f"/room/op/{OP}")
    policy = response.headers["content-security-policy"]
    assert "img-src 'self' data: https://tiles.police.example;" in policy
    assert "connect-src 'self';" in policy and "script-src 'self';" in policy
    assert '"tiles": "https://tiles.police.example/osm/{z}/{x}/{y}.png"' in response.text


async def test_behind_tls_the_cookies_are_secure_and_host_only(
    make_app: AppFactory, sqlite_url: str
) -> None:
    app = await make_app(sqlite_url, TASKFORCE_PUBLIC_URL="https://room.example")
    await operation(app)
    reply = await ok(app, "room", who="mia", channel="dm-mia", is_group=False)
    token = next(x for x in reply.message.lines if "?t=" in x).split("?t=", 1)[1]
    async with served(app) as url, httpx.AsyncClient(base_url=url) as browser:
        shown = await browser.get("/room/login", params={"t": token})
        login_cookie = shown.headers["set-cookie"]
        assert login_cookie.startswith("__Host-tf_room_login=") and "Secure" in login_cookie
        nonce = login_cookie.split("=", 1)[1].split(";", 1)[0]
        done = await browser.post(
            "/room/login",
            data={"t": token, "nonce": nonce},
            headers={"cookie": f"__Host-tf_room_login={nonce}"},
        )
    assert done.status_code == 303
    session_cookie = next(
        c for c in done.headers.get_list("set-cookie") if c.startswith("__Host-tf_room=")
    )
    for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert attribute in session_cookie


async def test_an_arabic_reader_gets_a_right_to_left_page(room_app: App, url: str) -> None:
    app = room_app
    await operation(app)
    await ok(app, "me lang ar", who="mia")
    async with sign_in(url, app, "mia") as browser:
        home = await browser.get("/room/")
        page = await browser.get(f"/room/op/{OP}")
    assert home.status_code == 200 and '<html lang="ar" dir="rtl">' in home.text
    # The pages' own words too, not only their direction (the map's labels for the script).
    assert "تسجيل الخروج" in home.text and "Sign out" not in home.text
    for words in (
        "خريطة المشاهدات",
        'data-label="خريطة المشاهدات والمداهمات: {n}"',
        "حُدِّث في {time}",
    ):
        assert words in page.text
    assert "Map of sightings" not in page.text
    async with sign_in(url, app, "admin") as browser:
        english = await browser.get("/room/")
        english_page = await browser.get(f"/room/op/{OP}")
    assert '<html lang="en" dir="ltr">' in english.text
    assert "Map of sightings" in english_page.text
    assert 'data-updated="Updated {time}"' in english_page.text


async def test_an_open_event_stream_ends_when_its_session_does(
    make_app: AppFactory, db_url: str
) -> None:
    """The stream checks the session at every look, not once when it opens: signing out
    (`room logout`, every browser) ends a stream already open with `gone`."""
    app = await make_app(db_url, TASKFORCE_PUBLIC_URL=PUBLIC_URL, TASKFORCE_ROOM_POLL_SECONDS=0.2)
    await operation(app)
    async with served(app) as url, sign_in(url, app, "mia") as browser:
        seen: list[str] = []
        async with asyncio.timeout(10), browser.stream("GET", f"/room/op/{OP}/events") as events:
            lines = events.aiter_lines()
            async for line in lines:
                seen.append(line)
                if line.startswith(": still here"):  # the stream is open and has looked
                    break
            await ok(app, "room logout", who="mia")
            async for line in lines:
                seen.append(line)
                if line == "event: gone":
                    break
        assert seen[-1] == "event: gone", seen

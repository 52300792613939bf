"""Raids through the console: plan, tick (command and button), go, reminders, move, abort."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from bot.base.clock import ManualClock, system_clock
from bot.jobs.scheduler import FireResult, Scheduler
from bot.serving.app import App, build_app
from bot.serving.server import create_app
from bot.store.models import AuditEntry, Member, Raid, RaidItem
from tests.conftest import AppFactory, make_settings
from tests.dbstate import changed_tables, denied_only, snapshot
from tests.fakes.telegram_api import (
    FakeBotAPI,
    UpdateFactory,
    group_chat,
    post_update,
    private_chat,
    tg_user,
)
from tests.fieldintel import OP, fetch, ok, operation, refused, text
from tests.scheduling import fire_due, scheduler
from tests.serving import serving, wait_until

PLAN = 'raid plan "Warehouse on Calle Mar" --at "2026-11-29 12:00" --tz Europe/Madrid'
T0 = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)  # 12:00 in Madrid (CET)
BEFORE_MANDATORY = [*range(1, 16), 18, 19]  # 16 (labour inspectorate) and 17 are advisory


async def titles(app: App, channel: str) -> list[str]:
    """Titles of the posts delivered to a console channel since the last look."""
    return [p.message.title for p in await app.console.pop_posts(channel)]


async def test_the_full_raid_story(any_app: App, clock: ManualClock) -> None:
    app = any_app
    await operation(app)
    # Plan from the built-in template; the time is read in Madrid and stored in UTC.
    planned = text(await ok(app, PLAN + ' --location "Vigo port"', channel="room"))
    assert "When: Sun 29 Nov 2026 12:00 CET (11:00 UTC)" in planned
    assert "trafficking-raid: 32 items, 29 mandatory" in planned
    assert "T−24 h (Sat 28 Nov 2026 12:00 CET (11:00 UTC))" in planned
    (raid,) = await fetch(app, Raid)
    assert raid.at == T0 and raid.status == "planned" and raid.timezone == "Europe/Madrid"
    # Posted to the AMBER room, withheld from the GREEN lobby (the raid is TLP:AMBER).
    assert await titles(app, "room") == ["R-1 planned: Warehouse on Calle Mar"]
    assert await titles(app, "lobby") == []

    # The card: a button per open item, each a command line for whoever presses it.
    card = (await ok(app, "raid show R-1", channel="room")).message
    assert len(card.buttons) == 24  # at most 24 buttons (MAX_BUTTONS)
    assert (card.buttons[0].label, card.buttons[0].command) == ("✓ 1", f"check {OP}/R-1 1")
    partner_card = (await ok(app, "raid show R-1", who="pat", channel="room")).message
    assert [b.label for b in partner_card.buttons] == ["✓ 13", "✓ 22", "✓ 27"]
    # Duties are held by named members; mia holds three of them for this raid.
    for duty in ("operation-lead", "site-commander", "victim-liaison"):
        assert f"holds the {duty.replace('-', ' ')} duty of R-1" in text(
            await ok(app, f"raid assign R-1 {duty} mia")
        )

    # Tick by command (member), by button (partner, own role only); observers cannot.
    clock.advance(minutes=5)
    ticked = text(await ok(app, 'check R-1 1 --note "warrant W-22 seen"', who="mia"))
    assert "ticked by mia" in ticked and "1/32 done, 16 mandatory open" in ticked
    assert await refused(app, "check R-1 2", who="pat") == (
        "As partner you can tick only partner items; item 2 falls to the operation lead."
    )
    await ok(app, partner_card.buttons[0].command, who="pat", channel="room")
    assert await refused(app, "check R-1 3", who="obe") == (
        f"As observer in {OP} you cannot tick checklist items."
    )
    items = {i.position: i for i in await fetch(app, RaidItem)}
    mia = next(m for m in await fetch(app, Member) if m.name == "mia")
    assert (items[1].done_by, items[1].done_at, items[1].note) == (
        mia.id,
        clock.now,
        "warrant W-22 seen",
    )
    shown = text(await ok(app, "raid show R-1"))
    assert "✓ 1. Warrant / legal authority checked" in shown and "(by mia, " in shown
    assert "already ticked" in await refused(app, "check R-1 1")

    # The go is refused while mandatory items are open, and only the lead may give it.
    sentence = await refused(app, "raid go R-1")
    assert sentence.startswith("R-1 cannot go: 15 mandatory item(s) before the raid are open")
    assert "2. Deconfliction done" in sentence
    assert await refused(app, "raid go R-1", who="mia") == (
        f"As member in {OP} you cannot give the raid go or abort."
    )

    # T−24 h: a reminder into the linked channels listing the open mandatory items.
    clock.set(T0 - timedelta(hours=24, seconds=-20))
    assert await fire_due(app, "reminder") == [FireResult.SENT]
    (post,) = await app.console.pop_posts("room")
    assert post.message.title == "T−24 h: R-1 Warehouse on Calle Mar"
    assert "15 mandatory item(s) still open:" in post.text
    assert "4. Threat and risk assessment scored — site commander" in post.text
    assert "1. Warrant" not in post.text  # ticked
    assert await app.console.pop_posts("lobby") == []
    assert await fire_due(app, "reminder") == []  # claimed: never twice

    # Moved by two hours: the reminders move with it.
    await ok(app, 'raid move R-1 --at "2026-11-29 14:00" --tz Europe/Madrid')
    assert await titles(app, "room") == ["R-1 moved: Warehouse on Calle Mar"]
    clock.set(T0 - timedelta(hours=22) + timedelta(seconds=5))  # the new T−24 h
    assert await fire_due(app, "reminder") == [FireResult.SENT]
    assert await titles(app, "room") == ["T−24 h: R-1 Warehouse on Calle Mar"]
    clock.set(T0 - timedelta(hours=2) + timedelta(seconds=5))  # the old T−2 h: nothing
    assert await fire_due(app, "reminder") == []
    assert await titles(app, "room") == []
    clock.set(T0 + timedelta(seconds=5))  # the new T−2 h
    assert await fire_due(app, "reminder") == [FireResult.SENT]
    assert await titles(app, "room") == ["T−2 h: R-1 Warehouse on Calle Mar"]

    # Everything ticked: the go is given without force.
    for n in [n for n in BEFORE_MANDATORY if n not in (1, 13)]:
        await ok(app, f"check R-1 {n}", who="mia")
    went = await ok(app, "raid go R-1", channel="room")
    assert text(went).startswith("R-1 has the go.")
    assert await titles(app, "room") == ["GO: R-1 Warehouse on Calle Mar"]
    clock.set(T0 + timedelta(hours=1, minutes=30, seconds=5))  # the new T−30 min
    assert await fire_due(app, "reminder") == [FireResult.SENT]
    (post,) = await app.console.pop_posts("room")
    assert post.message.title == "T−30 min: R-1 Warehouse on Calle Mar"
    assert "Every mandatory item before the raid is ticked." in post.text
    clock.set(T0 + timedelta(hours=2, seconds=5))  # the raid (moved to 14:00) has started
    done = text(await ok(app, "raid done R-1"))
    assert "R-1 is done." in done and "20. Suspected victims separated" in done


async def test_forced_go_is_audited_and_an_aborted_raid_gets_no_reminders(
    app: App, clock: ManualClock
) -> None:
    await operation(app)
    await ok(app, PLAN)
    await ok(app, 'raid plan "Second site" --at "2026-11-29 13:00" --tz Europe/Madrid')
    assert await refused(app, "raid go R-2 --force") == (
        '--force needs --reason "…": say why the raid goes with items open.'
    )
    await ok(app, "check R-2 1")  # the legal authority: never forced past
    forced = await ok(app, 'raid go R-2 --force --reason "victims moved tonight"', channel="room")
    assert "FORCED with 16 mandatory item(s) open: victims moved tonight" in text(forced)
    async with app.store.transaction() as session:
        entry = (
            await session.exec(
                select(AuditEntry)
                .where(AuditEntry.command == "raid go")
                .order_by(col(AuditEntry.id).desc())
            )
        ).first()
    assert entry is not None and entry.object_ref == f"{OP}/R-2"
    assert entry.reason is not None
    assert entry.reason.startswith("forced with open items 2, 3, 4")
    assert entry.reason.endswith(": victims moved tonight")
    posts = await app.console.pop_posts("room")
    assert [p.message.mark for p in posts if p.message.title.startswith("GO")] == ["FORCED"]

    assert await refused(app, "raid abort R-1") == "--reason is required."
    await ok(app, 'raid abort R-1 --reason "target left the building"')
    assert await refused(app, "check R-1 2") == "R-1 was aborted; its checklist is closed."
    assert await titles(app, "room") == ["ABORTED: R-1 Warehouse on Calle Mar"]
    t2 = T0 + timedelta(hours=1)
    fired: list[tuple[int, FireResult]] = []
    times = sorted(
        at - off
        for at in (T0, t2)
        for off in (timedelta(hours=24), timedelta(hours=2), timedelta(minutes=30))
    )
    for when in times:
        clock.set(when + timedelta(seconds=1))
        fired += [(ref, r) for kind, ref, r in await scheduler(app).run_due() if kind == "reminder"]
    (r1,) = [r for r in await fetch(app, Raid) if r.seq == 1]
    (r2,) = [r for r in await fetch(app, Raid) if r.seq == 2]
    assert fired == [(r2.id, FireResult.SENT)] * 3  # the aborted R-1: nothing at all
    titles_seen = [p.message.title for p in await app.console.pop_posts("room")]
    assert [t.split(":")[0] for t in titles_seen] == ["T−24 h", "T−2 h", "T−30 min"]
    assert all("R-2 Second site" in t for t in titles_seen)
    assert r1.status == "aborted"


async def test_a_raid_planned_less_than_24_hours_ahead_gets_only_the_reminders_ahead(
    app: App, clock: ManualClock
) -> None:
    await operation(app)
    clock.set(T0 - timedelta(hours=3))
    reply = text(await ok(app, PLAN))
    assert "Reminders to the linked channels: T−2 h" in reply and "T−24 h" not in reply
    assert await titles(app, "room") == ["R-1 planned: Warehouse on Calle Mar"]
    clock.set(T0 - timedelta(minutes=29, seconds=30))  # T−2 h missed 90 min ago, T−30 min now
    results = await fire_due(app, "reminder")
    assert results == [FireResult.LATE, FireResult.SENT]
    posts = await app.console.pop_posts("room")
    assert [p.message.title.split(":")[0] for p in posts] == ["T−2 h", "T−30 min"]
    assert [p.message.mark for p in posts] == ["LATE", None]
    assert "Sent late" in posts[0].text


@pytest.mark.parametrize(
    ("line", "sentence"),
    [
        (
            'raid plan "Dock" --at "2026-11-30 05:00" --template nope',
            "There is no template 'nope'; known: trafficking-raid.",
        ),
        (
            'raid plan "Dock" --at "2026-11-27 05:00"',
            "Fri 27 Nov 2026 05:00 UTC is in the past; a raid needs a time ahead, like "
            "`--at tomorrow 05:30`.",
        ),
        (
            'raid plan "Dock" --at "2026-11-30 05:00" --tz Mars/Olympus',
            "'Mars/Olympus' is not a time zone I know; use an Area/City name like Europe/Madrid.",
        ),
        (
            'raid plan "Dock" --at "next blue moon"',
            "I can't read 'next blue moon' as a time; use 2026-11-28 14:30, 14:30, 5pm, 17h, "
            "yesterday 23:30, 30/11/2026 06:00, 20m ago or in 2h.",
        ),
        ('raid plan "Dock"', "--at is required."),
        ("raid show R-9", f"There is no raid R-9 in {OP}; see `raid list`."),
        ("raid move R-1 --at 2026-11-30", f"There is no raid R-1 in {OP}; see `raid list`."),
        ("check S-1 1", "'S-1' is a subject reference; this needs a raid (R-n)."),
    ],
)
async def test_bad_input_gets_one_sentence_and_stores_nothing(
    app: App, line: str, sentence: str
) -> None:
    await operation(app)
    before = await snapshot(app.store)
    assert await refused(app, line) == sentence
    assert changed_tables(before, await snapshot(app.store)) == {}


async def test_observers_and_partners_cannot_plan_and_members_cannot_abort(app: App) -> None:
    await operation(app)
    await ok(app, PLAN)
    before = await snapshot(app.store)
    for who in ("pat", "obe"):
        assert "you cannot plan raids" in await refused(app, PLAN, who=who)
    assert "you cannot give the raid go or abort" in await refused(
        app, 'raid abort R-1 --reason "x"', who="mia"
    )
    entries = denied_only(before, await snapshot(app.store))  # each attempt, for the leads
    assert [(e["command"], e["actor"].split()[0]) for e in entries] == [
        ("raid plan", "pat"),
        ("raid plan", "obe"),
        ("raid abort", "mia"),
    ]


async def test_the_real_scheduler_registers_moves_cancels_and_fires_reminders(
    tmp_path: Path, sqlite_url: str
) -> None:
    app = build_app(make_settings(sqlite_url, tmp_path), clock=system_clock)
    await app.prepare()
    sched = scheduler(app)
    try:
        await sched.start()
        assert sched.is_leader and sched.ready() is None
        await operation(app, people=False)
        at = (datetime.now(UTC) + timedelta(hours=26)).replace(microsecond=0)
        await ok(app, f'raid plan "Far" --at {at.isoformat()}')
        await sched.settle()
        (raid,) = await fetch(app, Raid)
        jobs = sched.job_times()
        assert {k: v for k, v in jobs.items() if k.startswith("reminder:")} == {
            f"reminder:{raid.id}:1440": at - timedelta(hours=24),
            f"reminder:{raid.id}:120": at - timedelta(hours=2),
            f"reminder:{raid.id}:30": at - timedelta(minutes=30),
        }
        later = at + timedelta(hours=3)
        await ok(app, f"raid move R-1 --at {later.isoformat()}")
        await sched.settle()
        assert sched.job_times()[f"reminder:{raid.id}:120"] == later - timedelta(hours=2)
        await ok(app, 'raid abort R-1 --reason "called off"')
        await sched.settle()
        assert not [k for k in sched.job_times() if k.startswith("reminder:")]

        # A raid whose T−30 min reminder is a second away: APScheduler itself fires it.
        await app.console.pop_posts()
        soon = datetime.now(UTC) + timedelta(minutes=30, seconds=2)
        await ok(app, f'raid plan "Soon" --at {soon.isoformat()}', channel="room")
        await sched.settle()
        # Only the T−30 min job (the others are past), unless a loaded machine took the two
        # seconds already and APScheduler has fired and dropped it: the wait below decides.
        registered = {k.rsplit(":", 1)[1] for k in sched.job_times() if k.startswith("reminder:")}
        assert registered <= {"30"}
        seen: list[str] = []

        def reminded() -> bool:
            seen.extend(p.message.title for p in app.console.sender.posts)
            app.console.sender.posts.clear()
            return any(t.startswith("T−30 min: R-2") for t in seen)

        app.worker.start()
        await wait_until(reminded)
    finally:
        await app.close()


# ------------------------------------------------------------------ on Telegram

TG_SECRET = "s3cret-Token_1"
ANA = tg_user(1001, "Ana", "ana")
EVA = tg_user(3003, "Eva", "eva")
GROUP = group_chat(-100777, "Harbour room")


async def test_a_raid_on_telegram_ticked_from_a_button_by_another_member(
    make_app: AppFactory, sqlite_url: str, clock: ManualClock
) -> None:
    async with FakeBotAPI() as fake:
        app = await make_app(
            sqlite_url, **fake.settings(TG_SECRET, TASKFORCE_ADMINS="telegram:1001")
        )
        app.extras.pop("scheduler", None)  # driven by run_due below, not by the lifespan
        sched = Scheduler(app.core)
        starlette = create_app(app.settings, app=app)
        updates = UpdateFactory()
        async with serving(starlette) as url, httpx.AsyncClient(base_url=url) as client:
            adapter = next(a for a in starlette.state.adapters if a.platform == "telegram")

            async def say(line: str, user: dict[str, Any], chat: dict[str, Any]) -> str:
                update = updates.command(line, user=user, chat=chat)
                assert (await post_update(client, update, TG_SECRET)).status_code == 200
                await adapter.idle()
                return fake.sent(chat["id"])[-1].plain

            await say('/op new "Night Harbour" --code OP-NH', ANA, private_chat(ANA))
            await say("/op link --max-tlp amber", ANA, GROUP)
            invite = await say("/op invite --role member", ANA, private_chat(ANA))
            code = re.search(r"Code: (\w+)", invite)
            assert code is not None
            await say(f"/join {code.group(1)}", EVA, private_chat(EVA))
            planned = await say('/raid plan "Dock 4" --at "2026-11-30 05:00"', ANA, GROUP)
            assert "R-1 planned: Dock 4" in planned
            await say("/raid show R-1", ANA, GROUP)
            card = fake.sent(GROUP["id"])[-1]
            labels = dict(card.buttons)
            assert len(labels) == 24
            assigned = await say("/raid assign R-1 operation-lead Eva", ANA, GROUP)
            assert "Eva (M-2) holds the operation lead duty of R-1." in assigned
            press = updates.callback(
                labels["✓ 1"], user=EVA, chat=GROUP, message_id=card.message_id
            )
            assert (await post_update(client, press, TG_SECRET)).status_code == 200
            await adapter.idle()
            assert "ticked by Eva" in fake.sent(GROUP["id"])[-1].plain
            items = {i.position: i for i in await fetch(app, RaidItem)}
            eva = next(m for m in await fetch(app, Member) if m.name == "Eva")
            assert (items[1].done_by, items[1].done_at) == (eva.id, clock.now)
            refusal = await say("/raid go R-1", ANA, GROUP)
            assert "R-1 cannot go: 16 mandatory item(s)" in refusal
            # The T−24 h reminder reaches the Telegram group through the outbox.
            clock.set(datetime(2026, 11, 29, 5, 0, 10, tzinfo=UTC))
            assert [r for k, _, r in await sched.run_due() if k == "reminder"] == [FireResult.SENT]
            app.core.on_outbox()
            await wait_until(
                lambda: any(
                    m.plain.startswith("T−24 h: R-1 Dock 4") for m in fake.sent(GROUP["id"])
                )
            )

"""Tasks and hand-overs (issue 28), through the console on SQLite and PostgreSQL.

OP-NIGHTJAR (tests/fieldintel.py): lead `admin`, member `mia`, partner `pat`, observer
`obe`; `room` linked up to AMBER, `lobby` up to GREEN. Private posts land in `@name`.
"""

from __future__ import annotations

from datetime import timedelta

from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.store.models import ScheduledFire
from bot.store.models_victims import Task
from tests.conftest import START, AppFactory
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import fetch, ok, operation, refused, text
from tests.scheduling import fire_due, scheduler

TOMORROW_10 = START.replace(hour=10) + timedelta(days=1)


async def _private(app: App, who: str) -> list[str]:
    return [p.text for p in await app.console.pop_posts() if p.channel == f"@{who}"]


async def test_a_task_reaches_its_member_in_private_and_is_reminded_once(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await operation(app)
    await app.console.pop_posts()
    reply = await ok(app, 'task add "Call the PT NCB about N-1" --to mia --by "tomorrow 10:00"')
    shown = text(reply)
    assert "T-1 Call the PT NCB about N-1 — mia (M-2), by Sun 29 Nov 2026 10:00 UTC" in shown
    assert "Reminder to mia in private on Sun 29 Nov 2026 09:00 UTC." in shown
    [told] = await _private(app, "mia")
    assert "a task for you from admin" in told and "Call the PT NCB" in told
    [task] = await fetch(app, Task)
    assert task.due_at == TOMORROW_10

    # Not before its time; then once, to the member alone, in private.
    clock.set(TOMORROW_10 - timedelta(hours=1, seconds=1))
    assert await fire_due(app, "task") == []
    clock.set(TOMORROW_10 - timedelta(minutes=59))
    assert len(await fire_due(app, "task")) == 1
    posts = await app.console.pop_posts()
    assert [p.channel for p in posts] == ["@mia"]
    assert "Reminder: OP-NIGHTJAR/T-1 is due" in posts[0].text
    assert await fire_due(app, "task") == []
    assert len(await fetch(app, ScheduledFire)) == 1


async def test_a_task_done_is_not_reminded_and_only_its_people_close_it(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await operation(app)
    await ok(app, 'task add "Photograph the van" --to mia --by "tomorrow 10:00"')
    said = await refused(app, "task done T-1", who="pat")
    assert said == "There is no task T-1 in OP-NIGHTJAR; see `tasks all`."  # not hers to read
    await ok(app, "task done T-1", who="mia")
    assert "T-1 was done on" in await refused(app, "task done T-1", who="mia")
    await app.console.pop_posts()
    clock.set(TOMORROW_10 - timedelta(minutes=30))
    assert await fire_due(app, "task") == []
    assert await app.console.pop_posts() == []


async def test_bad_tasks_are_refused_with_one_sentence_and_nothing_written(any_app: App) -> None:
    app = any_app
    await operation(app)
    before = await snapshot(app.store)
    assert "in the past" in await refused(app, 'task add "x" --to mia --by "today 08:00"')
    assert await refused(app, 'task add "x" --to obe --by "tomorrow 10:00"') == (
        "obe is an observer in OP-NIGHTJAR; observers are given no tasks."
    )
    assert "No member 'zed'" in await refused(app, 'task add "x" --to zed --by "tomorrow 10:00"')
    assert "cannot plan raids" in await refused(
        app, 'task add "x" --to mia --by "tomorrow 10:00"', who="pat"
    )
    assert set(changed_tables(before, await snapshot(app.store))) <= {"auditentry", "auditchain"}


async def test_tasks_lists_mine_and_all_as_the_role_may_read(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, 'task add "Brief the shelter staff" --to pat --by "tomorrow 10:00"')
    await ok(app, 'task add "Check the port CCTV" --to mia --by "tomorrow 12:00"')
    mine = text(await ok(app, "tasks", who="pat"))
    assert "Brief the shelter staff" in mine and "CCTV" not in mine
    every = text(await ok(app, "tasks all", who="pat"))
    assert "CCTV" not in every  # a partner reads the tasks given to or by them
    every = text(await ok(app, "tasks all", who="mia"))
    assert "Brief the shelter staff" in every and "Check the port CCTV" in every
    assert text(await ok(app, "tasks", who="admin")).endswith("None.")


async def test_the_reminder_survives_a_restart_on_the_real_scheduler(
    any_app: App, make_app: AppFactory, clock: ManualClock
) -> None:
    await operation(any_app)
    await ok(any_app, 'task add "Call the NCB" --to mia --by "tomorrow 10:00"')
    [task] = await fetch(any_app, Task)
    url = any_app.settings.effective_database_url
    first = await make_app(url)
    await scheduler(first).start()  # before the reminder's time: nothing yet
    await scheduler(first).stop()
    assert not [p for p in await first.console.pop_posts() if "Reminder:" in p.text]
    assert task.id is not None
    # Down across the reminder's time, back before the deadline: sent once, marked late.
    clock.set(TOMORROW_10 - timedelta(minutes=20))
    again = await make_app(url)
    await scheduler(again).start()
    await scheduler(again).stop()
    posts = [p for p in await again.console.pop_posts() if "Reminder:" in p.text]
    assert len(posts) == 1 and "Reminder: OP-NIGHTJAR/T-1" in posts[0].text
    assert posts[0].message.mark == "LATE"


async def test_briefing_method_and_administration_carry_tasks_duties_and_shifts(
    any_app: App,
) -> None:
    app = any_app
    await operation(app)
    await ok(app, 'raid plan "Dock 4" --at "tomorrow 05:00"')
    await ok(app, "raid assign R-1 site-commander mia")
    await ok(app, 'task add "Check the port CCTV" --to mia --by "tomorrow 12:00"')
    await ok(app, "handover", channel="dm-admin", is_group=False)
    brief = text(await ok(app, "brief", channel="dm-admin", is_group=False))
    method = brief[brief.index("METHOD") : brief.index("ADMINISTRATION")]
    assert "R-1 Dock 4" in method
    assert "Tasks open: 1 (0 overdue)" in method and "T-1 Check the port CCTV — mia" in method
    admin = brief[brief.index("ADMINISTRATION") : brief.index("RISK")]
    assert "Open tasks by member: mia (1)" in admin
    assert "R-1 duties: " in admin and "site commander mia" in admin
    assert "Last hand-over: Sat 28 Nov 2026 09:00 UTC by admin" in admin
    # The partner's channel: no task beyond GREEN, no raid duties.
    lobby = text(await ok(app, "brief", channel="lobby"))
    assert "CCTV" not in lobby and "duties" not in lobby


async def test_handover_summarises_the_shift_through_the_disclosure_rule(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await operation(app)
    await ok(app, 'subject add person "Ana V" --category victim')
    await ok(app, 'subject add person "Viktor Kral" --category suspect')
    await ok(app, 'sighting S-2 at "Vigo port"')
    await ok(app, 'victim refer S-1 nrm --agency "ES NRM" --ref NRM-1 --consent given')
    await ok(app, 'task add "Check the port CCTV" --to mia --by "tomorrow 12:00"')
    await ok(app, 'raid plan "Dock 4" --at "tomorrow 05:00"')
    clock.advance(timedelta(hours=1))
    direct = text(await ok(app, "handover", channel="dm-admin", is_group=False))
    assert "2 subjects, 1 sightings, 0 notices, 1 victim referrals" in direct
    assert "Open tasks: 1" in direct and "T-1 Check the port CCTV" in direct
    assert "Raids in the next 24 h: 1" in direct and "R-1 Dock 4" in direct
    # The next hand-over starts where that one ended.
    clock.advance(timedelta(hours=1))
    await ok(app, "task done T-1", who="mia")
    again = text(await ok(app, "handover", channel="room"))
    assert "0 subjects, 0 sightings, 0 notices, 0 victim referrals" in again
    assert "Tasks done this shift: 1" in again and "Open tasks: 0" in again
    # The partner: no suspect, no sighting of one, no referral of a victim not granted.
    clock.advance(timedelta(hours=1))
    await ok(app, 'subject add person "Ivo K" --category suspect')
    partner = text(await ok(app, "handover", who="pat", channel="dm-pat", is_group=False))
    assert "0 subjects, 0 sightings, 0 notices, 0 victim referrals" in partner
    assert "Ana" not in partner and "Ivo" not in partner

"""A red notice's re-justification reminder, 6 months before it expires (issue 15): posted
once per expiry, by reference only, through the scheduler (APScheduler job and catch-up).
On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.base.clock import ManualClock
from bot.jobs.scheduler import FireResult
from bot.serving.app import App
from bot.store.models import Notice
from tests.fieldintel import OP, RED, fetch, ok, operation
from tests.scheduling import fire_due, scheduler

FIRST = datetime(2031, 5, 28, 9, 0, tzinfo=UTC)  # recorded 28 Nov 2026: expires 28 Nov 2031


async def test_six_months_before_expiry_the_leads_are_asked_to_rejustify(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, "subject add person Marko --category suspect")
    await ok(app, f'notice record red S-1 {RED} --charges "trafficking"')  # N-1
    await ok(app, "notice record blue S-2 --ref B/1 --requested-by PT")  # N-2: no reminder
    await ok(app, f'notice record red S-2 {RED} --charges "fraud"')  # N-3: cancelled
    await ok(app, 'notice cancel N-3 --reason "withdrawn"')
    [n1] = [n for n in await fetch(app, Notice) if n.seq == 1]
    sched = scheduler(app)
    await sched.sync()  # one dated APScheduler job per active red notice
    jobs = {j.id: j.trigger.run_date for j in sched.aps.get_jobs() if j.id.startswith("rej")}
    assert jobs == {f"rejustify:{n1.id}": FIRST}
    await app.console.pop_posts()

    clock.set(FIRST - timedelta(seconds=5))
    assert await fire_due(app, "rejustify") == []
    clock.set(FIRST + timedelta(seconds=5))
    assert await fire_due(app, "rejustify") == [FireResult.SENT]
    assert await fire_due(app, "rejustify") == []  # claimed: never twice
    posts = await app.console.pop_posts()
    assert sorted(p.channel for p in posts) == ["lobby", "room"]  # TLP:GREEN, refs only
    for post in posts:
        assert post.message.title == (
            f"For the leads of {OP}: Red notice N-1 expires on 28 Nov 2031"
        )
        assert '`notice renew N-1 --reason "…"`' in post.text
        assert "Petrov" not in post.text and "trafficking" not in post.text

    # Renewed: a new expiry, a new reminder 6 months before it.
    await ok(app, 'notice renew N-1 --reason "NCB re-justified: warrant still in force"')
    await sched.sync()
    second = datetime(2035, 11, 28, 9, 0, 5, tzinfo=UTC)  # renewed at FIRST + 5 s, for 5 years
    jobs = {j.id: j.trigger.run_date for j in sched.aps.get_jobs() if j.id.startswith("rej")}
    assert jobs == {f"rejustify:{n1.id}": second}
    clock.set(second + timedelta(seconds=5))
    assert await fire_due(app, "rejustify") == [FireResult.SENT]
    # Cancelled: no job, nothing due.
    await ok(app, 'notice cancel N-1 --reason "arrested"')
    await sched.sync()
    assert not [j for j in sched.aps.get_jobs() if j.id.startswith("rej")]

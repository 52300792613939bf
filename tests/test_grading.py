"""Sightings as SALUTE records and graded by a lead or analyst (issue 15): the reporter's
own grade is kept apart as "reporter's assessment"; `sighting grade` is audited with the
reason and the grade it replaced. Through the console, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlmodel import col, select

from bot.serving.app import App
from bot.store.models import AuditEntry, Sighting
from tests.dbstate import changed_tables, denied_only, snapshot
from tests.fieldintel import OP, fetch, join, ok, operation, refused, text


async def _setup(app: App) -> None:
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")  # S-1


async def test_what_was_seen_is_recorded_in_its_own_fields(any_app: App) -> None:
    app = any_app
    await _setup(app)
    await app.console.pop_posts()
    reply = await ok(
        app,
        'sighting S-1 at "Vigo port" --activity "loading boxes into a van" '
        '--direction "north on the A-55" --count "3 adults, 2 possibly minors" '
        '--equipment "white Transit, ES plates"',
        who="mia",
    )
    shown = text(reply)
    for line in (
        "Activity: loading boxes into a van",
        "Direction: north on the A-55",
        "How many: 3 adults, 2 possibly minors",
        "Vehicles / equipment: white Transit, ES plates",
    ):
        assert line in shown
    [post] = await app.console.pop_posts("room")
    assert "Direction: north on the A-55" in post.text
    [stored] = await fetch(app, Sighting)
    assert (stored.activity, stored.count, stored.note) == (
        "loading boxes into a van",
        "3 adults, 2 possibly minors",
        None,
    )
    before = await snapshot(app.store)
    said = await refused(app, f'sighting S-1 at Vigo --count "{"9" * 101}"', who="mia")
    assert said == "--count is too long; the limit is 100 characters."
    assert changed_tables(before, await snapshot(app.store)) == {}


async def test_a_reporter_does_not_grade_their_own_report(any_app: App) -> None:
    app = any_app
    await _setup(app)
    # An NGO partner reports and gives itself A1: kept as its own assessment.
    reply = await ok(
        app, 'sighting "two women led to a van" at "Shelter gate" --grade A1 --tlp green', who="pat"
    )
    shown = text(reply)
    assert "Grade: not graded" in shown
    assert "Reporter's assessment: A1 (source completely reliable" in shown
    [stored] = await fetch(app, Sighting)
    assert (stored.grade, stored.reporter_grade) == (None, "A1")

    # Only a lead or an analyst grades; members and partners are refused (and audited).
    before = await snapshot(app.store)
    for who, role in (("mia", "member"), ("pat", "partner")):
        assert await refused(app, 'sighting grade SG-1 C3 --reason "x"', who=who) == (
            f"As {role} in {OP} you cannot grade intelligence."
        )
    assert [e["actor"].split(" ")[0] for e in denied_only(before, await snapshot(app.store))] == [
        "mia",
        "pat",
    ]
    before = await snapshot(app.store)
    assert await refused(app, "sighting grade SG-1 C3") == (
        'Say why with --reason "…": a grade is given with its reason.'
    )
    assert "is not an Admiralty grade" in await refused(app, "sighting grade SG-1 G9 --reason x")
    assert changed_tables(before, await snapshot(app.store)) == {}

    graded = text(await ok(app, 'sighting grade SG-1 C3 --reason "single NGO source, unconfirmed"'))
    assert "SG-1 graded C3 (source fairly reliable; information possibly true)." in graded
    assert "The reporter's assessment (A1) stays on record apart." in graded
    shown = text(await ok(app, "sighting show SG-1"))
    assert "Grade: C3" in shown and "Reporter's assessment: A1" in shown
    assert f"{OP}/SG-1 · TLP:GREEN · grade C3" in shown

    # An analyst grades too, and the audit keeps the grade it replaced and why.
    await join(app, OP, "ana", "analyst")
    await ok(app, 'sighting grade SG-1 B2 --reason "confirmed by the shelter log"', who="ana")
    async with app.store.transaction() as session:
        reasons = (
            await session.exec(
                select(AuditEntry.reason)
                .where(AuditEntry.command == "sighting grade", AuditEntry.outcome == "ok")
                .order_by(col(AuditEntry.id))
            )
        ).all()
    assert reasons == [
        "graded C3 (was ungraded): single NGO source, unconfirmed",
        "graded B2 (was C3): confirmed by the shelter log",
    ]
    [stored] = await fetch(app, Sighting)
    assert (stored.grade, stored.reporter_grade) == ("B2", "A1")

"""The data's life cycle (issue 15): rectification, erasure, review dates on every record,
reviews in closed operations, retention after closing. Through the console, on SQLite and
PostgreSQL where the store matters."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import col, select

from bot.base.clock import ManualClock
from bot.jobs.scheduler import FireResult
from bot.serving.app import App
from bot.store.models import AuditEntry, Notice, Sighting, Subject, SubjectRevision
from tests.dbstate import changed_tables, denied_only, snapshot
from tests.fieldintel import OP, RED, fetch, ok, operation, refused, text
from tests.scheduling import fire_due

NAME, ALIAS, PLACE = "Ivan Petrov", "Vanya", "Cais da Ribeira"


async def _intel(app: App) -> None:
    await operation(app)
    await ok(app, f"subject add person {NAME} --category suspect --alias {ALIAS} --dob 1985")
    await ok(app, f'sighting S-1 at "{PLACE}" --activity "loading a van"', who="mia")
    await ok(app, f'notice record red S-1 {RED} --charges "trafficking"')
    await ok(app, 'subject add vehicle "Blue Transit"')  # S-2: stays


async def _audit(app: App) -> list[AuditEntry]:
    async with app.store.transaction() as session:
        return list((await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all())


async def test_rectification_keeps_the_previous_values_with_the_audit_entry(
    any_app: App,
) -> None:
    app = any_app
    await _intel(app)
    before = await snapshot(app.store)
    assert await refused(app, "subject edit S-1") == (
        "Nothing to change on S-1: give a new value with --name, --alias, --nationality, "
        "--dob, --sex, --desc or --category."
    )
    assert "you cannot add subjects" in await refused(
        app, 'subject edit S-1 --name "Ivan Petrof"', who="obe"
    )
    assert await refused(app, "subject edit S-2 --dob 1990") == (
        "--dob is for persons only; this subject is a vehicle."
    )
    assert changed_tables(before, await snapshot(app.store)).keys() <= {"auditentry", "auditchain"}
    reply = await ok(
        app, 'subject edit S-1 --name "Ivan Petroff" --dob 1986 --reason "passport seen"', who="mia"
    )
    assert "S-1 rectified: name, dob." in text(reply)
    shown = text(await ok(app, "subject show S-1"))
    assert "Ivan Petroff" in shown and "1986" in shown
    revisions = await fetch(app, SubjectRevision)
    assert [(r.field, r.old_value) for r in revisions] == [("name", NAME), ("dob", "1985")]
    entry = [e for e in await _audit(app) if e.command == "subject edit" and e.outcome == "ok"][-1]
    ids = ", ".join(f"#{r.id}" for r in revisions)
    assert entry.reason == f"rectified name, dob; previous values in revision {ids}: passport seen"
    assert entry.action == "alter" and entry.object_ref == f"{OP}/S-1"
    # The search follows the rectified name.
    assert "S-1 Ivan Petroff" in text(await ok(app, "subject find Petroff"))


async def test_erasure_leaves_nothing_of_the_subject_but_the_fact(any_app: App) -> None:
    app = any_app
    await _intel(app)
    await ok(app, 'subject edit S-1 --desc "scar on the left hand" --reason "photo seen"')
    # Only a lead erases; nothing is stored on a refusal.
    before = await snapshot(app.store)
    assert await refused(app, 'subject erase S-1 --reason "x"', who="mia") == (
        f"As member in {OP} you cannot erase records or keep them past review."
    )
    assert [e["command"] for e in denied_only(before, await snapshot(app.store))] == [
        "subject erase"
    ]
    before = await snapshot(app.store)
    assert await refused(app, "subject erase S-1") == (
        'Say why with --reason "…": an erasure is recorded with its reason.'
    )
    assert changed_tables(before, await snapshot(app.store)) == {}

    reply = await ok(app, 'subject erase S-1 --reason "court order 44/2026: wrongly identified"')
    assert text(reply) == (
        "S-1 is erased, with 1 sighting and 1 notice: SG-1, N-1. The audit log keeps who "
        "erased them, when and why."
    )
    # No command shows the data.
    for line in ("subject show S-1", "sighting show SG-1", "notice show N-1"):
        said = await refused(app, line)
        assert said.endswith(
            "was erased on 28 Nov 2026; the audit log keeps who erased it and why."
        )
    for line in ("subject list", "sightings", "notice list --all"):
        shown = text(await ok(app, line))
        assert NAME not in shown and ALIAS not in shown and PLACE not in shown, line
    assert "No subject you may read matches" in text(await ok(app, f"subject find {ALIAS}"))
    assert "S-2 Blue Transit" in text(await ok(app, "subject list"))
    # Nothing more is recorded about it.
    assert (await refused(app, "sighting S-1 at Braga")).startswith("S-1 was erased on")
    # No briefing, no export.
    brief = text(await ok(app, "brief", channel="dm-admin", is_group=False))
    assert NAME not in brief and PLACE not in brief and "N-1" not in brief
    exported = await ok(app, f"export {OP}")
    for attachment in exported.message.attachments:
        content = attachment.content.decode()
        assert NAME not in content and ALIAS not in content and PLACE not in content
        assert "scar" not in content and "loading a van" not in content
    [file] = [a for a in exported.message.attachments if a.filename.endswith(".json")]
    data = json.loads(file.content)
    assert [s["ref"] for s in data["subjects"]] == ["S-2"] and data["sightings"] == []
    # Nowhere in the store: not in the records, the search keys, the rectification history,
    # the stored posts, nor the audit chain.
    everything = repr(await snapshot(app.store))
    for secret in (NAME, "Petrov", ALIAS, PLACE, "scar on the left hand", "loading a van"):
        assert secret not in everything, secret
    [subject] = [s for s in await fetch(app, Subject) if s.seq == 1]
    assert subject.erased_at is not None and subject.erase_reason.startswith("court order")
    assert [n.status for n in await fetch(app, Notice)] == ["erased"]
    assert all(s.erased_at is not None for s in await fetch(app, Sighting))
    # The audit chain still verifies, and says who erased what, when and why.
    assert "Audit chain intact" in text(await ok(app, "audit verify"))
    [erase] = [e for e in await _audit(app) if e.action == "erase"]
    assert (erase.actor.split(" ")[0], erase.object_ref) == ("admin", f"{OP}/S-1,SG-1,N-1")
    assert erase.reason == "court order 44/2026: wrongly identified"
    trail = text(await ok(app, "audit OP-NIGHTJAR --limit 50"))
    assert "erase subject erase OP-NIGHTJAR/S-1,SG-1,N-1" in trail


async def test_a_sighting_or_a_notice_is_erased_alone(app: App) -> None:
    await _intel(app)
    await ok(app, 'sighting erase SG-1 --reason "duplicate of a report in another case"')
    await ok(app, 'notice erase N-1 --reason "withdrawn by INTERPOL"')
    assert "was erased" in await refused(app, "sighting show SG-1")
    assert (await ok(app, "sighting S-1 at Braga")).message.mark is None  # no notice to match
    shown = text(await ok(app, "subject show S-1"))
    assert NAME in shown and PLACE not in shown
    assert "N-1 Red — S-1 Ivan Petrov · erased" in shown and "trafficking" not in shown
    assert "Audit chain intact" in text(await ok(app, "audit verify"))


async def test_closed_operations_keep_their_records_under_review(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await _intel(app)
    await ok(app, "op retention 6")
    await ok(app, f"op status {OP} closed")
    assert "it takes no more changes" in await refused(app, f'subject add {OP} vehicle "Red van"')
    # Six months after closing, every record comes up for review, in the closed operation.
    clock.advance(timedelta(days=200))
    monday = clock.now + timedelta(days=(7 - clock.now.weekday()) % 7)
    clock.set(monday.replace(hour=8, minute=0, second=5))  # the weekly review
    await app.console.pop_posts()
    assert await fire_due(app, "review") == [FireResult.SENT]
    posts = [p for p in await app.console.pop_posts() if p.channel == "room"]
    assert posts and f"For the leads of {OP}: 4 record(s) due for review" in posts[0].text
    assert "Past their review date: S-1, S-2, N-1, SG-1." in posts[0].text
    # Kept with a reason, or erased: they leave the list.
    assert await refused(app, f'review keep {OP}/S-2 --reason "x"', who="mia") == (
        f"As member in {OP} you cannot erase records or keep them past review."
    )
    await ok(app, f'review keep {OP}/S-2 --reason "evidence in the ongoing trial"')
    await ok(app, f'subject erase {OP}/S-1 --reason "retention period over"')
    # The room that got its sighting and notice is told they were withdrawn (issue 28).
    withdrawn = [p.message.title for p in await app.console.pop_posts() if p.channel == "room"]
    assert withdrawn == ["Withdrawn: SG-1, N-1"]
    clock.advance(timedelta(days=7))
    assert await fire_due(app, "review") == [FireResult.SENT]  # it ran, and had nothing due
    assert [p for p in await app.console.pop_posts() if p.channel == "room"] == []
    kept = [e for e in await _audit(app) if e.command == "review keep"][-1]
    assert kept.reason == "kept: evidence in the ongoing trial"


async def test_briefings_write_a_combine_entry(any_app: App, clock: ManualClock) -> None:
    app = any_app
    await _intel(app)
    await ok(app, "brief", channel="room")
    await ok(app, "brief schedule 07:00 --tz UTC", channel="room")
    clock.set(clock.now.replace(hour=7, minute=0, second=5) + timedelta(days=1))
    assert await fire_due(app, "brief") == [FireResult.SENT]
    combined = [e for e in await _audit(app) if e.action == "combine"]
    assert [(e.command, e.actor.split(" ")[0], e.object_ref) for e in combined] == [
        ("brief", "admin", f"{OP}/briefing"),
        ("brief", "scheduler", f"{OP}/briefing"),
    ]
    assert all(e.reason is not None and e.reason.startswith("combined sightings") for e in combined)
    assert "Audit chain intact" in text(await ok(app, "audit verify"))


async def test_erasure_forgets_the_answers_kept_for_redelivered_events(any_app: App) -> None:
    """A platform's command is remembered with its first answer (for a redelivery); that
    answer quotes the record, so erasure takes it too — the redelivery still runs nothing."""
    app = any_app
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    line = 'sighting S-1 at "Calle Almirante 7, Huelva"'
    first = await app.console.push(line, as_="mia", channel="room", event_key="tg-101")
    assert first.ok and "Almirante" in text(first)
    await ok(app, 'subject erase S-1 --reason "court order 44/2026"')
    dump = repr(await snapshot(app.store))
    assert "Almirante" not in dump and "Petrov" not in dump
    again = await app.console.push(line, as_="mia", channel="room", event_key="tg-101")
    assert again.duplicate and "Almirante" not in text(again)
    assert [s.location for s in await fetch(app, Sighting)] == ["[erased]"]  # not run again

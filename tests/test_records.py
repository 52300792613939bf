"""Records that stay true (issue 28): independent grading with its history, corrections
and retractions posted where the original went, late ticks marked, merges that keep what
they merge. Through the console, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.store.models import AuditEntry, Sighting, Subject, SubjectLink
from bot.store.models_records import SightingGrade, SightingRevision
from tests.conftest import START
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import OP, fetch, join, ok, operation, refused, text


async def _setup(app: App) -> None:
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")  # S-1


async def test_grading_is_independent_and_its_history_is_shown(any_app: App) -> None:
    app = any_app
    await _setup(app)
    await join(app, OP, "ana", "analyst")
    await ok(app, 'sighting S-1 at "Vigo port" --grade A1', who="ana")  # SG-1, by the analyst
    await ok(app, 'sighting S-1 at "Vigo port"')  # SG-2, by the lead
    await ok(app, 'sighting S-1 at "Vigo port" --observer "Ana"', who="mia")  # SG-3, ana saw it
    before = await snapshot(app.store)
    independent = (
        "its grade is given by another lead or analyst, so that grading stays independent."
    )
    said = await refused(app, 'sighting grade SG-1 A1 --reason "own obs"', who="ana")
    assert said == f"You reported or observed SG-1; {independent}"
    said = await refused(app, 'sighting grade SG-2 A1 --reason "mine"')
    assert said == f"You reported or observed SG-2; {independent}"
    said = await refused(app, 'sighting grade SG-3 A1 --reason "I saw it"', who="ana")
    assert said == f"You reported or observed SG-3; {independent}"
    assert changed_tables(before, await snapshot(app.store)) == {}

    await ok(app, 'sighting grade SG-1 C3 --reason "single source"')
    await ok(app, 'sighting grade SG-2 B2 --reason "CCTV confirms"', who="ana")
    await ok(app, 'sighting grade SG-1 B2 --reason "confirmed by CCTV"')
    shown = text(await ok(app, "sighting show SG-1", who="mia"))
    assert "Grade history:" in shown
    assert "C3 (was ungraded) by admin, " in shown and ": single source" in shown
    assert "B2 (was C3) by admin, " in shown and ": confirmed by CCTV" in shown
    assert shown.index("single source") < shown.index("confirmed by CCTV")
    rows = await fetch(app, SightingGrade)
    assert [(r.grade, r.was, r.reason) for r in rows] == [
        ("C3", None, "single source"),
        ("B2", None, "CCTV confirms"),
        ("B2", "C3", "confirmed by CCTV"),
    ]
    # Erasing the sighting erases how it was graded.
    await ok(app, 'sighting erase SG-1 --reason "duplicate"')
    assert [r.sighting_id for r in await fetch(app, SightingGrade)] == [
        s.id for s in await fetch(app, Sighting) if s.seq == 2
    ]


RAID_AT = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)  # 12:00 in Madrid (CET)
BEFORE_MANDATORY = [*range(1, 16), 18, 19]  # the built-in template's mandatory before items
INSPECTORATE = 16  # an advisory before item
SEPARATED = 20  # the first on-site item


async def test_the_record_of_a_raid_cannot_be_ticked_into_shape_after_the_go(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await operation(app)
    await ok(app, 'raid plan "Warehouse" --at "2026-11-29 12:00" --tz Europe/Madrid')
    for n in BEFORE_MANDATORY:
        await ok(app, f"check R-1 {n}")
    clock.set(RAID_AT - timedelta(hours=21))
    await ok(app, "raid go R-1")

    # A before item, after the go: not by a member, and a lead says why.
    before = await snapshot(app.store)
    assert await refused(app, f"check R-1 {INSPECTORATE}", who="mia") == (
        f"Item {INSPECTORATE} of R-1 was due before the raid, which has had the go; only a lead "
        'ticks it now, with --reason "…", and it is marked as ticked after the go.'
    )
    assert await refused(app, f"check R-1 {INSPECTORATE}") == (
        f"Item {INSPECTORATE} of R-1 was due before the raid, which has had the go; say why it is "
        'ticked now with --reason "…" (it is marked as ticked after the go).'
    )
    # Nor is a before tick taken back after the go without a lead's reason.
    assert "only a lead takes its tick back now" in await refused(app, "uncheck R-1 2")
    # `raid done` 21 hours before the raid's start: refused without a reason.
    assert await refused(app, "raid done R-1") == (
        "R-1 is set for Sun 29 Nov 2026 11:00 UTC, still ahead; a raid is done after its "
        'start. If it really is over, say why with --reason "…".'
    )
    assert changed_tables(before, await snapshot(app.store)).keys() <= {"auditentry", "auditchain"}

    await ok(app, f'check R-1 {INSPECTORATE} --reason "inspectorate called at the door"')
    await ok(app, f"check R-1 {SEPARATED}")  # on site, in time
    await ok(app, 'raid done R-1 --reason "target fled; site searched early"')
    await ok(app, "check R-1 21")  # on site, after the raid was done
    shown = text(await ok(app, "raid show R-1"))
    [late] = [line for line in shown.splitlines() if f"{INSPECTORATE}." in line]
    assert late.endswith("— after the go")
    [in_time] = [line for line in shown.splitlines() if f"{SEPARATED}." in line and "✓" in line]
    assert "after the" not in in_time
    [after_done] = [line for line in shown.splitlines() if " 21." in line]
    assert after_done.endswith("— after the raid was done")
    async with app.store.transaction() as session:
        reasons = (
            await session.exec(
                select(AuditEntry.reason)
                .where(col(AuditEntry.command).in_(["raid done", "check"]))
                .where(AuditEntry.outcome == "ok")
                .order_by(col(AuditEntry.id))
            )
        ).all()
    assert "ticked after the go: inspectorate called at the door" in reasons
    assert "done before its time: target fled; site searched early" in reasons

    # The case file says so too.
    files = {a.filename.rsplit(".", 1)[1]: a for a in (await ok(app, "export")).message.attachments}
    data = json.loads(files["json"].content)
    late_items = {i["position"]: i["late"] for i in data["raids"][0]["checklist"] if i["late"]}
    assert late_items == {INSPECTORATE: "after-go", 21: "after-done"}
    assert "(after the go)" in files["md"].content.decode()


async def _posts(app: App) -> dict[str, list[str]]:
    """The titles delivered to each console channel since the last look."""
    out: dict[str, list[str]] = {}
    for post in await app.console.pop_posts():
        out.setdefault(post.channel, []).append(post.message.title)
    return out


async def test_corrections_and_withdrawals_reach_only_the_channels_that_got_the_original(
    any_app: App,
) -> None:
    app = any_app
    await _setup(app)  # room: up to AMBER, lobby: up to GREEN
    await ok(app, 'sighting S-1 at "Vigo port" --when "20m ago"', who="mia")  # SG-1, AMBER
    await ok(app, 'sighting "grey Audi" at "Vigo toll" --tlp green', who="mia")  # SG-2, GREEN
    await ok(app, 'sighting "white van" at "Tui bridge" --tlp green')  # SG-3, GREEN
    assert sorted(await _posts(app)) == ["lobby", "room"]
    await ok(app, f"op link {OP} --max-tlp amber", channel="late")  # linked after the posts

    # A correction needs a reason and its reporter (or a lead); nothing is written otherwise.
    before = await snapshot(app.store)
    assert await refused(app, 'sighting edit SG-1 --at "Vigo, pier 3"', who="mia") == (
        'Say why with --reason "…": a correction is recorded with its reason.'
    )
    assert await refused(app, 'sighting edit SG-3 --at "Tui" --reason "x"', who="mia") == (
        "SG-3 was reported by someone else; only its reporter or a lead corrects it."
    )
    assert await refused(app, 'subject edit S-1 --name "Ivan Petroff"') == (
        'Say why with --reason "…": a rectification is recorded with its reason.'
    )
    assert changed_tables(before, await snapshot(app.store)).keys() <= {"auditentry", "auditchain"}

    reply = text(
        await ok(
            app,
            'sighting edit SG-1 --at "Vigo, pier 3" --when "30m ago" --reason "wrong pier"',
            who="mia",
        )
    )
    assert "SG-1 corrected: place, time seen." in reply
    posts = await app.console.pop_posts()
    assert [(p.channel, p.message.title) for p in posts] == [("room", "Corrected: SG-1")]
    assert posts[0].message.lines[0] == "SG-1 was corrected by mia (place, time seen): wrong pier"
    assert "Vigo" not in posts[0].text  # the values are read with `sighting show`
    assert "Where: Vigo, pier 3" in text(await ok(app, "sighting show SG-1"))
    [revision, _when] = await fetch(app, SightingRevision)
    assert (revision.field, revision.old_value, revision.reason) == (
        "location",
        "Vigo port",
        "wrong pier",
    )

    # A renamed subject: every channel that was sent a post naming it is told.
    await ok(app, 'subject edit S-1 --name "Ivan Petroff" --reason "passport seen"')
    assert await _posts(app) == {"room": ["Corrected: S-1"]}

    # Withdrawn: where it went, not where it was withheld or not yet linked.
    await ok(app, 'sighting erase SG-2 --reason "duplicate of SG-3"')
    posts = await app.console.pop_posts()
    assert sorted(p.channel for p in posts) == ["lobby", "room"]
    assert {p.message.lines[0] for p in posts} == {
        "SG-2 was withdrawn by the lead: duplicate of SG-3"
    }
    # A channel whose ceiling was lowered since may no longer read the original: not told.
    await ok(app, f"op link {OP} --max-tlp green", channel="room")
    await ok(app, 'subject erase S-1 --reason "court order 44/2026"')
    assert await _posts(app) == {}


async def test_merging_a_duplicate_keeps_its_notices_sightings_and_links(any_app: App) -> None:
    app = any_app
    await _setup(app)  # S-1 Ivan Petrov
    await ok(app, "subject add person Vanya Petrov --category suspect --new")  # S-2, the same man
    await ok(app, "subject add person Marko Horvat --category suspect")  # S-3
    await ok(app, "subject add person Lena --category victim")  # S-4
    await ok(
        app,
        'notice diffusion red S-2 --requested-by ES --countries PT --charges "trafficking" '
        "--warrant W/2 --warrant-country ES",
    )  # N-1, on the duplicate
    await ok(app, 'sighting S-2 at "Vigo port"', who="mia")  # SG-1
    await ok(app, 'links confirm S-2 S-3 --reason "same van, 20 Nov"')
    await ok(app, 'links confirm S-1 S-2 --reason "same phone"')
    await app.console.pop_posts()

    before = await snapshot(app.store)
    assert await refused(app, "subject merge S-2 into S-1") == (
        'Say why with --reason "…": a merge is recorded with its reason.'
    )
    assert "you cannot erase records" in await refused(
        app, 'subject merge S-2 into S-1 --reason "x"', who="mia"
    )
    assert await refused(app, 'subject merge S-4 into S-1 --reason "x"') == (
        "S-4 and S-1 are recorded differently (person victim, person suspect); rectify one with "
        '`subject edit … --reason "…"` before merging.'
    )
    assert changed_tables(before, await snapshot(app.store)).keys() <= {"auditentry", "auditchain"}

    said = text(await ok(app, 'subject merge S-2 into S-1 --reason "same passport number"'))
    assert said.startswith("S-2 is merged into S-1: SG-1, N-1 moved")
    shown = text(await ok(app, "subject show S-1"))
    assert "Vanya Petrov" in shown  # the duplicate's name, now an alias
    assert "N-1" in shown and "SG-1" in shown and "S-3 Marko Horvat" in shown
    assert "N-1 Red diffusion — S-1 Ivan Petrov" in text(await ok(app, "notice list"))
    assert await refused(app, "subject show S-2") == (
        f"S-2 was merged into S-1 on {START:%d %b %Y}; see `subject show S-1`."
    )
    assert "S-1 Ivan Petrov" in text(await ok(app, "subject find Vanya"))
    links = await fetch(app, SubjectLink)
    ids = {s.seq: s.id for s in await fetch(app, Subject)}
    assert [(link.subject_a, link.subject_b) for link in links] == [(ids[1], ids[3])]
    # A sighting of S-1 now matches the diffusion that was recorded against S-2.
    assert (await ok(app, 'sighting S-1 at "Tui"', who="mia")).message.mark == "MATCH"
    # The channel that was sent posts naming S-2 is told.
    titles = [p.message.title for p in await app.console.pop_posts("room")]
    assert "Merged: S-2 into S-1" in titles


async def test_a_protected_persons_correction_is_not_told_to_channels(app: App) -> None:
    await _setup(app)
    await ok(app, "subject add person Lena --category victim")  # S-2, protected
    await ok(app, 'sighting S-2 at "Vigo port"', who="mia")  # the room gets a neutral line
    posts = await app.console.pop_posts("room")
    assert posts and "Lena" not in posts[0].text
    await ok(app, 'subject edit S-2 --name "Lena K." --reason "spelling"')
    assert await app.console.pop_posts("room") == []

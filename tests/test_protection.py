"""Victim safety and need-to-know (issue 13), through the console on SQLite and PostgreSQL.

OP-NIGHTJAR (see tests/fieldintel.py): lead `admin`, member `mia`, partner `pat`, observer
`obe`; console channel `room` linked up to AMBER and `lobby` up to GREEN. A second lead
`lea` joins where the test needs one. Private posts to a console member land in `@name`.
"""

from __future__ import annotations

import json
from datetime import timedelta

from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.store.models import Agency, AuditEntry, BreakGlass, ChannelLink, Recipient, Sighting
from tests.conftest import START
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import OP, fetch, join, ok, operation, refused, text
from tests.scheduling import fire_due

MARIA = "subject add person Maria X --category victim --dob 2009 --alias Mari --sex f"
SHELTER = 'sighting S-1 at "Shelter Casa Luz, Rua 5" --coords 41.1500,-8.6100'


async def _maria(app: App) -> None:
    await operation(app)
    await join(app, OP, "lea", "lead")
    await ok(app, MARIA)
    await ok(app, "notice record yellow S-1 --requested-by PT --ref A-1/2026")
    await app.console.pop_posts()


def _leaks(post_text: str) -> list[str]:
    return [
        w
        for w in ("Maria", "Mari", "2009", "Shelter", "Casa Luz", "41.15", "-8.61")
        if w in post_text
    ]


async def test_the_shelter_sighting_reaches_channels_only_as_a_neutral_line(any_app: App) -> None:
    app = any_app
    await _maria(app)
    reply = await ok(app, SHELTER, who="mia")
    # The reporter sees the record (privately: console replies are the reporter's own).
    assert "Shelter Casa Luz" in text(reply) and "Maria X" in text(reply)
    assert reply.message.tlp == "red"  # a group reply showing it would be sent privately
    posts = await app.console.pop_posts()
    channel_posts = [p for p in posts if not p.channel.startswith("@")]
    assert sorted(p.channel for p in channel_posts) == ["room"]  # lobby: GREEN ceiling
    for post in channel_posts:
        assert _leaks(post.text) == [], post.text
        assert post.message.title == "A protected person was sighted"
        assert f"sighting show {OP}/SG-1" in post.text
        assert post.message.mark == "MATCH"
    # The leads (not the reporter again) get it privately, in full.
    private = {p.channel: p for p in posts if p.channel.startswith("@")}
    assert sorted(private) == ["@admin", "@lea"]
    assert "Shelter Casa Luz" in private["@lea"].text and "Maria X" in private["@lea"].text
    # The child flag is shown.
    assert "CHILD, protected" in text(await ok(app, "subject show S-1"))


async def test_lifting_protection_is_audited_and_only_then_channels_get_the_name(
    any_app: App,
) -> None:
    app = any_app
    await _maria(app)
    before = await snapshot(app.store)
    assert (
        await refused(app, "subject unprotect S-1", who="admin")
        == 'Say why with --reason "…"; lifting protection is audited.'
    )
    assert await refused(app, 'subject unprotect S-1 --reason "x"', who="mia") == (
        "As member in OP-NIGHTJAR you cannot manage the operation."
    )
    assert set(changed_tables(before, await snapshot(app.store))) <= {"auditentry", "auditchain"}
    await ok(app, 'subject unprotect S-1 --reason "family reunited, consented to publicity"')
    [entry] = [
        e
        for e in await fetch(app, AuditEntry)
        if e.command == "subject unprotect" and e.outcome == "ok"
    ]
    assert entry.reason and "family reunited" in entry.reason
    await ok(app, SHELTER, who="mia")
    posts = [p for p in await app.console.pop_posts() if p.channel == "room"]
    [post] = posts
    assert "Maria X" in post.text  # the rule above is what kept it out


async def test_briefing_counts_victims_without_naming_and_the_export_is_red(any_app: App) -> None:
    app = any_app
    await _maria(app)
    await ok(app, SHELTER, who="mia")
    brief = await ok(app, "brief", channel="room")
    assert _leaks(text(brief)) == []
    assert "A protected person: 1 sighting" in text(brief)
    assert "Victims identified: 1" in text(brief)
    assert "N-1 YELLOW — a protected person" in text(brief)
    # One-to-one, a lead sees the names.
    assert "Maria X" in text(await ok(app, "brief", channel="dm-admin", is_group=False))
    exported = await ok(app, "export")
    assert exported.message.tlp == "red"
    data = json.loads(exported.message.attachments[0].content)
    assert data["tlp"] == "TLP:RED"
    [maria] = data["subjects"]
    assert maria["name"] == "Maria X" and maria["child"] and maria["protected"]
    assert await refused(app, "export", who="mia") == (
        "As member in OP-NIGHTJAR you cannot export the case file."
    )


async def test_partners_and_observers_read_a_protected_person_only_by_grant(any_app: App) -> None:
    app = any_app
    await _maria(app)
    await ok(app, SHELTER, who="mia")
    for who in ("pat", "obe"):
        assert (
            await refused(app, "subject show S-1", who=who) == f"There is no subject S-1 in {OP}."
        )
        assert await refused(app, "sighting show SG-1", who=who) == (
            f"There is no sighting SG-1 in {OP}."
        )
        assert "1 hidden by your role." in text(await ok(app, "subject list", who=who))
    await ok(app, "subject grant S-1 pat")
    assert "Maria X" in text(await ok(app, "subject show S-1", who="pat"))
    assert "Shelter" in text(await ok(app, "sighting show SG-1", who="pat"))
    assert await refused(app, "subject show S-1", who="obe") == f"There is no subject S-1 in {OP}."
    await ok(app, "subject revoke S-1 pat")
    assert await refused(app, "subject show S-1", who="pat") == f"There is no subject S-1 in {OP}."


async def _agencies(app: App) -> None:
    async with app.store.transaction() as session:
        session.add(Agency(code="ES-PN", name="Policía Nacional", country="ES"))
        session.add(Agency(code="PT-PJ", name="Polícia Judiciária", country="PT"))


async def test_amber_strict_reaches_a_single_agency_channel_and_no_shared_one(
    any_app: App,
) -> None:
    app = any_app
    await operation(app, channels={"room": "amber"})
    await _agencies(app)
    before = await snapshot(app.store)
    assert await refused(app, f"op link {OP} --max-tlp red", who="admin") == (
        "TLP:RED is for named recipients only and is never posted to a channel; link with "
        "--max-tlp amber+strict at most, and send RED items with --tlp red --to M-3,M-7."
    )
    assert (await refused(app, f"op link {OP} --max-tlp amber+strict", channel="es")).startswith(
        "TLP:AMBER+STRICT is for one organisation only"
    )
    assert (
        await refused(app, f"op link {OP} --max-tlp amber+strict --agencies NOPE", channel="es")
    ) == "There is no agency NOPE; an admin adds it with `admin add-agency`."
    assert set(changed_tables(before, await snapshot(app.store))) <= {"auditentry", "auditchain"}
    await ok(app, f"op link {OP} --max-tlp amber+strict --agencies ES-PN", channel="es")
    await ok(app, f"op link {OP} --max-tlp amber --agencies es-pn,PT-PJ", channel="joint")
    [joint] = [c for c in await fetch(app, ChannelLink) if c.channel_key == "joint"]
    assert joint.agencies == "ES-PN,PT-PJ"
    await ok(app, "subject add person Ivan Petrov --category suspect")
    reply = await ok(app, "sighting S-1 at Vigo --tlp amber+strict", who="mia")
    assert "TLP:AMBER+STRICT goes only to a single-agency channel" in text(reply)
    assert sorted(p.channel for p in await app.console.pop_posts()) == ["es"]  # not joint, room


async def test_red_reaches_only_its_named_recipients_privately(any_app: App) -> None:
    app = any_app
    await operation(app)
    await join(app, OP, "lea", "lead")
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await app.console.pop_posts()
    members = text(await ok(app, "op members"))
    obe_ref = next(
        w
        for line in members.splitlines()
        if "obe" in line
        for w in line.split()
        if w.startswith("M-")
    )
    before = await snapshot(app.store)
    assert (await refused(app, f"sighting S-1 at Vigo --to {obe_ref}", who="mia")).startswith(
        "--to names the recipients of a TLP:RED item"
    )
    assert set(changed_tables(before, await snapshot(app.store))) <= {"auditentry", "auditchain"}
    reply = await ok(app, f"sighting S-1 at Vigo --tlp red --to {obe_ref}", who="mia")
    assert "sent privately to obe" in text(reply)
    posts = await app.console.pop_posts()
    assert [p.channel for p in posts] == ["@obe"]
    assert "Vigo" in posts[0].text
    [row] = await fetch(app, Recipient)
    assert row.kind == "sighting"
    # The author and the named recipient read it; a lead and a member not named do not.
    assert "Vigo" in text(await ok(app, "sighting show SG-1", who="mia"))
    assert "Vigo" in text(await ok(app, "sighting show SG-1", who="obe"))
    for who in ("admin", "lea", "pat"):
        assert await refused(app, "sighting show SG-1", who=who) == (
            f"There is no sighting SG-1 in {OP}."
        )
        assert "1 hidden by your role." in text(await ok(app, "sightings", who=who))
    # The case file is complete for the lead who asks (issue 28): both TLP:RED items are in
    # it, and the reply (and the audit) name those not addressed to that lead.
    [lea_ref] = [line.split()[0] for line in members.splitlines() if " lea (" in line]
    await ok(app, f"sighting S-1 at Braga --tlp red --to {lea_ref}", who="mia")  # SG-2
    for lead, beyond in (("admin", "SG-1, SG-2"), ("lea", "SG-1")):
        reply = await ok(app, f"export {OP}", who=lead)
        data = json.loads(reply.message.attachments[0].content)
        assert [s["location"] for s in data["sightings"]] == ["Vigo", "Braga"]
        assert f"It includes {beyond}, restricted to others" in text(reply)


async def test_a_raid_with_an_amber_strict_address_gives_shared_channels_code_name_and_time(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await operation(app, channels={"room": "amber"})
    await _agencies(app)
    await ok(app, f"op link {OP} --max-tlp amber+strict --agencies ES-PN", channel="es")
    await ok(app, 'raid plan "NIGHT HERON" --at "2026-11-30 05:30" --location "Calle Mar 4, Vigo"')
    [raid_room] = await app.console.pop_posts("room")
    assert "NIGHT HERON" in raid_room.text
    clock.set(START.replace(day=29, hour=5, minute=31))
    await fire_due(app, "reminder")
    posts = await app.console.pop_posts()
    room = [p for p in posts if p.channel == "room"]
    es = [p for p in posts if p.channel == "es"]
    assert room and es
    for post in room:
        assert "NIGHT HERON" in post.text and "When" in post.text
        assert "Calle Mar" not in post.text
    assert any("Calle Mar 4, Vigo" in p.text for p in es)
    # An observer reads the raid's time and status, not its address.
    shown = text(await ok(app, "raid show R-1", who="obe"))
    assert "NIGHT HERON" in shown and "Calle Mar" not in shown
    assert "Calle Mar 4, Vigo" in text(await ok(app, "raid show R-1", who="mia"))
    assert (await refused(app, 'raid plan "X" --at "2026-11-30 06:00" --tlp red')).startswith(
        "A raid's target details go to the teams that act on them"
    )


async def test_an_admin_who_is_not_a_member_reads_only_through_break_glass(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    # `root` is an admin (made one below) but not a member of OP-NIGHTJAR.
    await operation(app)
    await ok(app, MARIA)
    await join(app, OP, "root", "member")
    await ok(app, "op remove root")
    async with app.store.transaction() as session:
        from sqlmodel import select

        from bot.store.models import Identity, Member

        ident = (await session.exec(select(Identity).where(Identity.key == "root"))).one()
        member = await session.get(Member, ident.member_id)
        assert member is not None
        member.is_admin = True
        session.add(member)
    await app.console.pop_posts()
    answer = (
        f"You are not a member of {OP}; an admin reads an operation only through "
        f'`op access {OP} --reason "…"` (audited and announced to its leads).'
    )
    assert await refused(app, f"subject list {OP}", who="root") == answer
    assert await refused(app, f"op show {OP}", who="root") == answer
    assert await refused(app, f"op access {OP}", who="root") == (
        'Say why with --reason "…"; break-glass access is audited.'
    )
    assert await refused(app, f'op access {OP} --reason "x"', who="mia") == (
        "Only Taskforce admins can `op access`."
    )
    reply = await ok(
        app, f'op access {OP} --reason "lead unreachable, child at risk" --for 1h', who="root"
    )
    assert "Announced to the leads: sent privately to admin" in text(reply)
    [announced] = await app.console.pop_posts("@admin")
    assert "root" in announced.text and "child at risk" in announced.text
    assert "Maria X" in text(await ok(app, f"subject list {OP}", who="root"))
    assert await refused(app, f"subject add {OP} person Z --category suspect", who="root") == (
        f"Your break-glass access to {OP} is read-only."
    )
    [grant] = await fetch(app, BreakGlass)
    assert grant.reason == "lead unreachable, child at risk"
    entries = [
        e for e in await fetch(app, AuditEntry) if e.command == "op access" and e.outcome == "ok"
    ]
    assert entries and entries[0].operation_id == grant.operation_id
    clock.set(START + timedelta(hours=1, seconds=1))
    assert await refused(app, f"subject list {OP}", who="root") == answer


async def test_denied_attempts_are_audit_entries_for_the_leads_not_the_prober(
    any_app: App,
) -> None:
    app = any_app
    await operation(app)
    await ok(app, MARIA)
    await ok(app, 'op new "Other" --code OP-OTHER')
    await join(app, "OP-OTHER", "eve", "lead")
    nowhere = await refused(app, "subject show OP-NOPE/S-1", who="eve")
    probe = await refused(app, f"subject show {OP}/S-1", who="eve")
    assert probe == f"There is no operation {OP} that you belong to."
    assert nowhere == "There is no operation OP-NOPE that you belong to."  # same answer
    hidden = await refused(app, "subject show S-1", who="pat")
    assert hidden == f"There is no subject S-1 in {OP}."
    assert await refused(app, "audit", who="pat") == (
        "As partner in OP-NIGHTJAR you cannot read the audit log."
    )
    listed = text(await ok(app, f"audit {OP} --denied"))
    assert "eve" in listed and f"There is no operation {OP}" in listed
    assert "pat" in listed and "There is no subject S-1" in listed
    assert "DENIED" in listed
    # Only refusals, and the typo-free "not found" of a record that does not exist is not one.
    await refused(app, "subject show S-9", who="mia")
    assert "S-9" not in text(await ok(app, f"audit {OP} --denied"))
    # The prober's own operation shows them nothing of it.
    assert "Maria" not in text(await ok(app, "audit OP-OTHER", who="eve"))
    denied = [e for e in await fetch(app, AuditEntry) if e.outcome == "denied"]
    assert {e.command for e in denied} >= {"subject show", "audit"}
    assert not [s for s in await fetch(app, Sighting)]

"""Victim care (issue 28): age assessment and the presumption of childhood, referrals, the
reflection period's reminder, and HUMANITARIAN in the briefing; SQLite and PostgreSQL.

OP-NIGHTJAR (tests/fieldintel.py): lead `admin`, member `mia`, partner `pat`, observer
`obe`; `room` linked up to AMBER, `lobby` up to GREEN. Private posts land in `@name`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.store.models import Subject
from bot.store.models_victims import AgeAssessment, VictimReferral
from tests.conftest import START
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import OP, fetch, join, ok, operation, refused, text
from tests.scheduling import fire_due
from tests.test_export import DOCS

ANA = 'subject add person "Ana V" --category victim'


async def test_no_date_of_birth_alone_makes_no_child_a_recorded_reason_does(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, ANA)
    shown = text(await ok(app, "subject show S-1"))
    assert "CHILD" not in shown and "protected" in shown  # a victim, protected as such
    before = await snapshot(app.store)
    assert await refused(app, "victim age S-1 --apparent 15-17") == (
        "An apparent or stated age under 18 is a reason to believe S-1 is a child; "
        'record it with --minor-reason "…".'
    )
    assert await refused(app, "victim age S-1 --apparent 25 --stated 16") == (
        "An apparent or stated age under 18 is a reason to believe S-1 is a child; "
        'record it with --minor-reason "…".'
    )
    assert "takes an age or a range" in await refused(app, "victim age S-1 --apparent 17-15")
    assert set(changed_tables(before, await snapshot(app.store))) <= {"auditentry", "auditchain"}

    reply = await ok(
        app,
        'victim age S-1 --apparent 15-17 --stated 19 --disputed --minor-reason "no papers, '
        'looks young, school-age sister"',
        who="mia",
    )
    assert "S-1 is treated as a child until the age is established." in text(reply)
    assert reply.message.tlp == "red"
    assert "CHILD, protected" in text(await ok(app, "subject show S-1"))
    shown = text(await ok(app, "victim show S-1"))
    assert "apparent age 15-17; states 19; age disputed; reason to believe under 18: no papers" in (
        shown
    )
    assert "assessed by mia, Sat 28 Nov 2026 09:00 UTC" in shown
    # A later assessment without a reason ends the presumption; both stay on record.
    await ok(app, "victim age S-1 --apparent 24-28")
    assert "CHILD" not in text(await ok(app, "subject show S-1"))
    assert len(await fetch(app, AgeAssessment)) == 2
    [ana] = await fetch(app, Subject)
    assert ana.child_presumed is False


async def test_referrals_nrm_child_protection_and_ngo(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, ANA)
    before = await snapshot(app.store)
    assert await refused(app, 'victim refer S-1 nrm --agency "ES NRM"') == (
        "An adult's NRM referral records their consent: add --consent given or --consent refused."
    )
    assert "is not recorded as a child" in await refused(
        app, 'victim refer S-1 child-protection --agency "Servicio de Menores"'
    )
    assert "'police' is not a referral" in await refused(app, "victim refer S-1 police --agency X")
    assert "ahead" in await refused(
        app, "victim refer S-1 nrm --agency X --consent given --on 2026-12-24"
    )
    await ok(app, 'subject add person "Viktor Kral" --category suspect')
    assert await refused(app, "victim refer S-2 ngo --agency X") == (
        "S-2 is not recorded as a victim; victim records are kept for victims."
    )
    assert set(changed_tables(before, await snapshot(app.store))) <= {
        "auditentry",
        "auditchain",
        "subject",
        "subjectkey",
        "operation",
    }

    reply = await ok(
        app,
        'victim refer S-1 nrm --agency "ES NRM (CITCO)" --ref NRM-2026-77 --consent refused '
        "--on 2026-11-27",
    )
    assert (
        "National Referral Mechanism: ES NRM (CITCO) (NRM-2026-77), referred 2026-11-27, "
        "consent refused" in text(reply)
    )
    await ok(app, 'victim age S-1 --apparent 16 --minor-reason "looks 16"')
    await ok(app, 'victim refer S-1 child-protection --agency "Servicio de Menores" --ref SM-4')
    # The hand-over to a named NGO partner: a lead's decision, since it lets them read her.
    assert "a lead records it" in await refused(
        app, "victim refer S-1 ngo --agency NGO-HOPE --to pat", who="mia"
    )
    assert "a hand-over goes to a partner" in await refused(
        app, "victim refer S-1 ngo --agency NGO-HOPE --to obe"
    )
    assert "There is no subject S-1" in await refused(app, "victim show S-1", who="pat")
    await app.console.pop_posts()
    reply = await ok(
        app, 'victim refer S-1 ngo --agency NGO-HOPE --to pat --note "shelter place from tonight"'
    )
    assert "pat (M-3) may now read S-1." in text(reply)
    [told] = [p for p in await app.console.pop_posts() if p.channel == "@pat"]
    assert "admin handed S-1 Ana V over to NGO-HOPE" in told.text
    assert "hand-over to NGO: NGO-HOPE" in text(await ok(app, "victim show S-1", who="pat"))
    shown = text(await ok(app, "victim show S-1"))
    assert "child protection: Servicio de Menores (SM-4), referred 2026-11-28" in shown
    assert "hand-over to NGO: NGO-HOPE, referred 2026-11-28" in shown
    assert "Open:" not in shown
    assert len(await fetch(app, VictimReferral)) == 3


async def test_the_reflection_period_is_reminded_a_week_before_it_ends_once(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await operation(app)
    await join(app, OP, "lea", "lead")
    await ok(app, ANA)
    reply = await ok(
        app, 'victim refer S-1 nrm --agency "PT NRM" --consent given --reflection 30', who="mia"
    )
    ends = datetime(2026, 12, 28, tzinfo=UTC)
    assert "reflection period until Mon 28 Dec 2026 00:00 UTC" in text(reply)
    assert "You and the leads are reminded in private on Mon 21 Dec 2026 00:00 UTC." in text(reply)
    await app.console.pop_posts()
    clock.set(ends - timedelta(days=7, seconds=1))
    assert await fire_due(app, "reflection") == []
    clock.set(ends - timedelta(days=7) + timedelta(minutes=5))
    assert len(await fire_due(app, "reflection")) == 1
    posts = await app.console.pop_posts()
    assert sorted(p.channel for p in posts) == ["@admin", "@lea", "@mia"]  # never a channel
    assert all("the reflection period of S-1 ends on 2026-12-28" in p.text for p in posts)
    assert all(p.message.tlp == "red" for p in posts)
    assert await fire_due(app, "reflection") == []


async def test_humanitarian_lists_every_open_safeguarding_item_and_referral(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await operation(app)
    await ok(app, 'raid plan "Dock 4" --at "today 12:00"')
    await ok(app, "check R-1 1")  # the warrant: the go is never forced past it
    await ok(app, 'raid go R-1 --force --reason "they are moving"')
    clock.set(START + timedelta(hours=4))
    await ok(app, "raid done R-1")
    clock.set(START + timedelta(days=6))  # long after the raid
    await ok(app, ANA)
    await ok(app, 'victim age S-1 --apparent 16 --minor-reason "looks 16"')
    direct = text(await ok(app, "brief", channel="dm-admin", is_group=False))
    human = direct[direct.index("HUMANITARIAN") :]
    assert "Anyone under 18 referred" in human  # a finished raid's open item
    assert "S-1 Ana V: NRM referral open, child-protection referral open" in human
    assert "Safeguarding items open: 0" not in human
    # In a shared channel: counted, never named.
    room = text(await ok(app, "brief", channel="room"))
    assert "A protected person: NRM referral open, child-protection referral open" in room
    assert "Ana V" not in room
    # Referred: no longer open; the reflection period is listed.
    await ok(app, 'victim refer S-1 nrm --agency "ES NRM" --reflection 30')
    await ok(app, 'victim refer S-1 child-protection --agency "Servicio de Menores"')
    direct = text(await ok(app, "brief", channel="dm-admin", is_group=False))
    assert "referral open" not in direct
    assert "S-1 Ana V: reflection period until" in direct
    assert "Referrals recorded: NRM 1, child protection 1, NGO hand-over 0" in direct
    # A partner without a grant to read her: nothing of her, not even a count.
    partner = text(await ok(app, "brief", who="pat", channel="dm-pat", is_group=False))
    assert "Ana V" not in partner and "reflection period until" not in partner
    assert "protected person" not in partner
    assert "Referrals recorded: NRM 0, child protection 0, NGO hand-over 0" in partner
    assert "There is no subject S-1" in await refused(app, "victim show S-1", who="pat")


async def test_the_case_file_carries_victim_care_and_tasks_each_field_documented(
    any_app: App,
) -> None:
    app = any_app
    await operation(app)
    await ok(app, ANA)
    await ok(app, 'subject add person "Rosa T" --category victim --tlp red', who="mia")
    await ok(app, 'victim age S-1 --apparent 16 --minor-reason "looks 16"', who="mia")
    await ok(app, 'victim refer S-1 nrm --agency "ES NRM" --ref NRM-9 --reflection 30')
    await ok(app, "victim age S-2 --apparent 30", who="mia")
    await ok(app, 'task add "Check the port CCTV" --to mia --by "tomorrow 12:00"')
    exported = await ok(app, "export")
    data = json.loads(exported.message.attachments[0].content)
    # The lead's case file is complete: S-2 (TLP:RED, by mia) included, its disclosure audited.
    care, red = data["victim_care"]
    assert care["subject"] == "S-1" and red["subject"] == "S-2"
    [age] = care["age_assessments"]
    assert age["apparent_age"] == [16, 16] and age["reason_to_believe_minor"] == "looks 16"
    assert age["assessed_by"]["name"] == "mia"
    [nrm] = care["referrals"]
    assert (nrm["kind"], nrm["reference"], nrm["consent"]) == ("nrm", "NRM-9", None)
    assert nrm["reflection_ends"] == "2026-12-28T00:00:00Z"
    [task] = data["tasks"]
    assert task["ref"] == "T-1" and task["assignee"]["name"] == "mia"
    documented = set(re.findall(r"`([a-z_]+)`", DOCS.read_text()))
    keys = set(care) | set(age) | set(nrm) | set(task) | {"victim_care", "tasks"}
    assert keys - documented == set()

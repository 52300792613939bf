"""Every surface agrees with the disclosure rule (issue 25), generated.

One world per reader: an operation with three agencies, channels with AMBER, GREEN and
AMBER+STRICT (ES-PN alone) ceilings, and one record of each class, each carrying a marker
word in its name or place. For every reader (lead, a member of each agency, analyst,
partner, observer, an admin without and with break-glass, an outsider) × record class ×
surface reachable in-process (the `show` reply, the channel posts, the briefing, the hint,
search, links, the room page, the export), the test asserts that no surface shows a marker
the rule denies the reader, and that no count exceeds what `sightings` lists to them.

The expectations are written out by hand below (`EXPECTED`), not read from the rule: take a
clause out of `bot.core.disclosure` and some cell here fails.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.base.clock import ManualClock
from bot.core.room_tokens import SignedIn
from bot.jobs.scheduler import FireResult
from bot.room.view import load_view
from bot.serving.app import App
from bot.store.models import Identity, Member
from tests.fieldintel import OP, join, ok, operation, text
from tests.scheduling import fire_due
from tests.test_disclosure import count_after, in_agency

F, N, X = "full", "neutral", "none"  # what the reader may see of a record

# reader → (console name, role in OP, agency); None: not a member.
READERS: dict[str, tuple[str, str | None, str]] = {
    "lead": ("admin", "lead", "ES-PN"),
    "member-es": ("mia", "member", "ES-PN"),
    "member-pt": ("rui", "member", "PT-PJ"),
    "analyst": ("ana", "analyst", "ES-PN"),
    "partner": ("pat", "partner", "NGO-HOPE"),
    "observer": ("obe", "observer", "EU-POL"),
    "admin": ("root", None, "EU-ADM"),
    "admin-breakglass": ("root", None, "EU-ADM"),
    "outsider": ("out", None, "FR-PN"),
}

# Record class → (the command that records it, who records it, the marker in its place).
RECORDS: dict[str, tuple[str, str, str]] = {
    "suspect": ("sighting S-1 at SUSPECTPLACE --coords 42.2400,-8.7200", "eve", "SUSPECTPLACE"),
    "victim": ("sighting S-2 at VICTIMPLACE --coords 42.2400,-8.7200", "eve", "VICTIMPLACE"),
    "child": ("sighting S-3 at CHILDPLACE --coords 42.2400,-8.7200", "eve", "CHILDPLACE"),
    "witness": ("sighting S-4 at WITNESSPLACE --coords 42.2400,-8.7200", "eve", "WITNESSPLACE"),
    "place": (
        'sighting "grey van" at SHELTERPLACE --coords 42.2400,-8.7200 --tlp green '
        "--place-kind shelter",
        "eve",
        "SHELTERPLACE",
    ),
    "red-named": (
        'sighting "red van" at REDNAMEDPLACE --tlp red --to {reader}',
        "eve",
        "REDNAMEDPLACE",
    ),
    "red-other": ('sighting "red car" at REDOTHERPLACE --tlp red', "eve", "REDOTHERPLACE"),
    "strict-es": (
        'sighting "blue car" at STRICTESPLACE --tlp amber+strict',
        "mia",
        "STRICTESPLACE",
    ),
    "strict-pt": (
        'sighting "green car" at STRICTPTPLACE --tlp amber+strict',
        "rui",
        "STRICTPTPLACE",
    ),
}
SUBJECTS = {  # the subjects S-1…S-4 and the marker in their names
    "suspect": ("person SUSPECTNAME Kral --category suspect", "SUSPECTNAME"),
    "victim": ("person VICTIMNAME Vera --category victim --dob 1990", "VICTIMNAME"),
    "child": ("person CHILDNAME Cai --category victim --dob 2014", "CHILDNAME"),
    "witness": ("person WITNESSNAME Wes --category witness --dob 1980", "WITNESSNAME"),
}

# Victim care (clause 11): a referral of each protected class, carrying a marker; it is read
# as the victim is.
CARE = {
    "victim": ("victim refer {op}/S-2 nrm --agency VICTIMAGENCY --consent given", "VICTIMAGENCY"),
    "child": ("victim refer {op}/S-3 child-protection --agency CHILDAGENCY", "CHILDAGENCY"),
}
# A task (clause 12), TLP:AMBER, given by eve to mia: officers read it, partners and
# observers only their own; channels within their ceiling.
TASK = ('task add {op} "TASKMARK call the NCB" --to mia --by "tomorrow 10:00"', "TASKMARK")

_ALL_OFFICERS = {"lead": F, "member-es": F, "member-pt": F, "analyst": F}
_NOBODY = {"admin": X, "outsider": X}
EXPECTED: dict[str, dict[str, str]] = {
    "suspect": {**_ALL_OFFICERS, "partner": X, "observer": F, "admin-breakglass": F, **_NOBODY},
    "victim": {**_ALL_OFFICERS, "partner": X, "observer": X, "admin-breakglass": F, **_NOBODY},
    "child": {**_ALL_OFFICERS, "partner": X, "observer": X, "admin-breakglass": F, **_NOBODY},
    "witness": {**_ALL_OFFICERS, "partner": X, "observer": X, "admin-breakglass": F, **_NOBODY},
    "place": {**_ALL_OFFICERS, "partner": N, "observer": N, "admin-breakglass": F, **_NOBODY},
    # Named: the reader is a recipient (an admin outside cannot be named).
    "red-named": {**_ALL_OFFICERS, "partner": F, "observer": F, "admin-breakglass": X, **_NOBODY},
    "red-other": {r: X for r in READERS},
    "strict-es": {
        **{r: X for r in READERS},
        "lead": F,
        "member-es": F,
        "analyst": F,
    },
    "strict-pt": {**{r: X for r in READERS}, "member-pt": F},
}
# Exhibits (clause 9): one seized with each record, read in full by whoever reads its
# record in full, except partners and observers, who never read evidence.
EXHIBIT_EXPECTED: dict[str, dict[str, str]] = {
    cls: {
        r: X if r in ("partner", "observer") or level != F else F for r, level in expected.items()
    }
    for cls, expected in EXPECTED.items()
}
# What each linked channel may show (a channel as a reader).
CHANNELS = {"room": "amber", "lobby": "green", "es": "amber+strict"}
TASK_EXPECTED = {**{r: X for r in READERS}, **_ALL_OFFICERS, "admin-breakglass": F}
TASK_CHANNELS = {"room": True, "lobby": False, "es": True}
CHANNEL_EXPECTED: dict[str, dict[str, str]] = {
    "room": {"suspect": F, "victim": N, "child": N, "witness": N, "place": N},
    "lobby": {"place": N},
    "es": {"suspect": F, "victim": N, "child": N, "witness": N, "place": N, "strict-es": F},
}


async def _world(app: App, reader: str) -> dict[str, str]:
    """Build the operation for `reader`; return the sighting reference of each class."""
    await operation(app, channels={"lobby": "green"}, people=False)
    for name, role, _agency in READERS.values():
        if role is not None and name != "admin":  # the admin made it: its lead
            await join(app, OP, name, role)
    await join(app, OP, "eve", "member")  # the author of most records, never a reader here
    await join(app, OP, "root", "member")
    await ok(app, "op remove root")
    await ok(app, 'op new "Elsewhere" --code OP-ELSE')
    await join(app, "OP-ELSE", "out", "lead")
    await ok(app, "op link OP-ELSE --max-tlp amber", channel="else")
    for name, _role, agency in READERS.values():
        await in_agency(app, name, agency)
    await in_agency(app, "eve", "ES-PN")
    async with app.store.transaction() as session:
        ident = (await session.exec(select(Identity).where(Identity.key == "root"))).one()
        member = await session.get(Member, ident.member_id)
        assert member is not None
        member.is_admin = True
        session.add(member)
    await ok(app, f"op link {OP} --max-tlp amber+strict --agencies ES-PN", channel="es")
    await ok(app, f"op link {OP} --max-tlp amber --agencies ES-PN,PT-PJ", channel="room")
    for _cls, (line, _mark) in SUBJECTS.items():
        await ok(app, f"subject add {OP} {line} --new")
    members = text(await ok(app, f"op members {OP}"))
    name = READERS[reader][0]
    ref = next((ln.split()[0] for ln in members.splitlines() if f" {name} (" in ln), None)
    refs: dict[str, str] = {}
    for seq, (cls, (line, author, _m)) in enumerate(RECORDS.items(), start=1):
        if cls == "red-named":  # an admin outside or an outsider cannot be named
            line = line.format(reader=ref) if ref else line.split(" --to")[0]
        await ok(app, f"{line.replace('sighting ', f'sighting {OP} ', 1)}", who=author)
        refs[cls] = f"SG-{seq}"
        await ok(
            app,
            f'exhibit add {OP} "{_exhibit_mark(cls)} phone" --number X/{seq} --found hall '
            f"--sighting SG-{seq}",
            who=author,
        )
    for line, _mark in CARE.values():
        await ok(app, line.format(op=OP), who="eve")
    await ok(app, TASK[0].format(op=OP), who="eve")
    if reader == "admin-breakglass":
        await ok(app, f'op access {OP} --reason "lead unreachable" --for 4h', who="root")
    return refs


def _exhibit_mark(cls: str) -> str:
    """The marker word of the exhibit seized with a record of class `cls`."""
    return "EXHIBIT" + cls.replace("-", "").upper()


def _marks(cls: str) -> list[str]:
    """The marker words of a record class: its place, and its subject's name."""
    out = [RECORDS[cls][2]]
    if cls in SUBJECTS:
        out.append(SUBJECTS[cls][1])
    if cls in CARE:
        out.append(CARE[cls][1])
    return out


def _check(surface: str, shown: str, allowed: dict[str, str]) -> None:
    """No marker of a class the reader may not see in full appears on this surface."""
    for cls in RECORDS:
        if allowed.get(cls, X) == F:
            continue
        for mark in _marks(cls):
            assert mark not in shown, f"{surface} shows {mark} ({cls}: {allowed.get(cls, X)})"


@pytest.mark.parametrize("reader", list(READERS))
async def test_every_surface_agrees_with_the_rule(app: App, reader: str) -> None:
    refs = await _world(app, reader)
    name, role, _agency = READERS[reader]
    allowed = {cls: EXPECTED[cls][reader] for cls in RECORDS}

    # Channel posts: each channel as a reader.
    posts = await app.console.pop_posts()
    for channel, expected in CHANNEL_EXPECTED.items():
        shown = "\n".join(p.text for p in posts if p.channel == channel)
        _check(f"post to {channel}", shown, expected)
        assert TASK[1] not in shown  # a task goes to its member alone
        for cls, level in expected.items():
            if level == F:
                assert RECORDS[cls][2] in shown, (channel, cls)

    # The reply: `sighting show` of each record.
    for cls, ref in refs.items():
        reply = await app.console.push(f"sighting show {OP}/{ref}", as_=name)
        shown = text(reply)
        level = allowed[cls]
        if level == X:
            assert not reply.ok, (cls, shown)
        else:
            assert reply.ok, (cls, shown)
            assert (RECORDS[cls][2] in shown) == (level == F), (cls, level, shown)
    # Exhibits: `exhibit show` of each, and the list (clause 9).
    for seq, cls in enumerate(RECORDS, start=1):
        reply = await app.console.push(f"exhibit show {OP} E-{seq}", as_=name)
        level = EXHIBIT_EXPECTED[cls][reader]
        assert reply.ok == (level == F), (cls, level, text(reply))
        assert (_exhibit_mark(cls) in text(reply)) == (level == F), (cls, text(reply))
    listed_exhibits = text(await app.console.push(f"exhibits {OP}", as_=name))
    for cls in RECORDS:
        level = EXHIBIT_EXPECTED[cls][reader]
        assert (_exhibit_mark(cls) in listed_exhibits) == (level == F), (cls, listed_exhibits)
    # The victim's care record, read as the victim is (clause 11).
    for cls, (_line, mark) in CARE.items():
        seq = list(SUBJECTS).index(cls) + 1
        reply = await app.console.push(f"victim show {OP}/S-{seq}", as_=name)
        if allowed[cls] == X:
            assert not reply.ok and mark not in text(reply), (cls, text(reply))
        else:
            assert reply.ok and (mark in text(reply)) == (allowed[cls] == F), (cls, text(reply))
    tasks = await app.console.push(f"tasks {OP} all", as_=name)
    assert (TASK[1] in text(tasks)) == (TASK_EXPECTED[reader] == F), text(tasks)
    if role is None and reader != "admin-breakglass":
        return  # nothing else is theirs to read: every surface below refuses them

    # The list, and the count every other surface must stay within.
    listed = text(await ok(app, f"sightings {OP}", who=name))
    _check("sightings", listed, allowed)
    readable = sum(1 for level in allowed.values() if level != X)
    hidden = len(RECORDS) - readable
    if hidden:
        assert f"{hidden} hidden by your role." in listed
    # The briefing, one-to-one and in a shared channel: never more than `sightings` lists.
    for channel, group in ((f"dm-{name}", False), ("room", True), ("lobby", True)):
        reply = await app.console.push(f"brief {OP}", as_=name, channel=channel, is_group=group)
        if not reply.ok:
            continue
        brief = text(reply)
        # In a channel: what both the reader and the channel may see in full.
        here = CHANNEL_EXPECTED.get(channel, {})
        both = {c: v if here.get(c) == F or not group else X for c, v in allowed.items()}
        _check(f"brief in {channel}", brief, both)
        if group:
            for cls in ("victim", "child", "witness"):
                assert SUBJECTS[cls][1] not in brief, (channel, cls)
        assert count_after(brief, "New sightings:") <= readable
        task_ok = TASK_EXPECTED[reader] == F and (not group or TASK_CHANNELS[channel])
        assert (TASK[1] in brief) == task_ok, (channel, brief)
        # The hand-over: the same rule, here.
        given = await app.console.push(f"handover {OP}", as_=name, channel=channel, is_group=group)
        if given.ok:
            _check(f"handover in {channel}", text(given), both)
            assert (TASK[1] in text(given)) == task_ok, (channel, text(given))
    # Search and the subject list.
    for cls, (line, mark) in SUBJECTS.items():
        word = line.split()[2]  # the other half of the name: the query is echoed
        found = text(await app.console.push(f"subject find {OP} {word}", as_=name))
        assert (mark in found) == (allowed[cls] == F), (cls, found)
    _check("subject list", text(await ok(app, f"subject list {OP}", who=name)), allowed)
    # Links: co-sightings at the same spot.
    links = await app.console.push(f"links {OP}", as_=name)
    _check("links", text(links), allowed)
    # A hint written in a channel of another operation names this one's record in full.
    if role in ("lead", "member", "analyst"):
        add = f"subject add {OP} vehicle HINTVAN --new"
        hint = text(await ok(app, add, who=name, channel="else"))
        assert f"`sighting {OP}/S-" in hint and "`sighting S-" not in hint
    # The room page (members only: a break-glass admin reads through chat).
    if role is not None:
        async with app.store.transaction() as session:
            ident = (await session.exec(select(Identity).where(Identity.key == name))).one()
            member = await session.get(Member, ident.member_id)
            assert member is not None
        view = await load_view(app.core, SignedIn(0, member, ident), OP, audit_it=False)
        assert view is not None
        page = json.dumps(asdict(view), ensure_ascii=False)
        _check("room page", page, allowed)
        assert len(view.spots) <= readable
    # The export: leads only, and complete for them (clause 10): every record and exhibit,
    # TLP:RED and AMBER+STRICT of others included (the audit records that disclosure).
    exported = await app.console.push(f"export {OP}", as_=name)
    if role == "lead":
        assert exported.ok
        content = exported.message.attachments[0].content
        data = json.loads(content)
        places = " ".join(s["location"] for s in data["sightings"])
        seized = " ".join(e["description"] for e in data["exhibits"])
        for cls in RECORDS:
            assert RECORDS[cls][2] in places, cls
            assert _exhibit_mark(cls) in seized, cls
    else:
        assert not exported.ok and not exported.message.attachments


async def test_scheduled_briefings_and_the_audit_view_agree_with_the_rule(
    app: App, clock: ManualClock
) -> None:
    """The scheduled fire (no reader typed anything: each channel is the reader) and the
    lead's audit view show no more than the rule gives them."""
    await _world(app, "lead")
    for channel in CHANNEL_EXPECTED:
        await ok(app, f"brief schedule {OP} 07:00 --tz UTC", channel=channel)
    await app.console.pop_posts()
    now = clock()
    next_fire = (now + timedelta(days=1)).replace(hour=7, minute=0, second=5, microsecond=0)
    clock.set(next_fire)
    fired = await fire_due(app, "brief")
    assert fired == [FireResult.SENT] * len(CHANNEL_EXPECTED)
    posts = await app.console.pop_posts()
    for channel, expected in CHANNEL_EXPECTED.items():
        shown = "\n".join(p.text for p in posts if p.channel == channel)
        assert shown, channel
        _check(f"scheduled briefing in {channel}", shown, expected)
        for cls in ("victim", "child", "witness"):
            assert SUBJECTS[cls][1] not in shown, (channel, cls)
    # The audit view names records by reference, never by what they hold.
    audit = text(await ok(app, f"audit {OP} --limit 200", who=READERS["lead"][0]))
    _check("audit view", audit, {cls: X for cls in RECORDS})

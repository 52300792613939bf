"""Issue 20 through the console (SQLite and PostgreSQL): compartments hold on every path, and
hostile input finds no crack.

OP-NIGHTJAR (tests/fieldintel.py: lead `admin`, member `mia`, partner `pat`, observer `obe`;
`room` linked up to AMBER, `lobby` up to GREEN) and OP-OTHER (lead `admin`, member `mia`;
`other-room` linked up to AMBER).
"""

from __future__ import annotations

import pytest

from bot.commands.dispatch import dispatch
from bot.contracts import Actor, Channel, Invocation, Visibility
from bot.serving.app import App
from bot.store.models import (
    Identity,
    Member,
    Operation,
    OutboxMessage,
    Raid,
    RaidItem,
    Sighting,
    Subject,
)
from tests.dbstate import changed_tables, snapshot
from tests.fieldintel import OP, RED, fetch, join, ok, operation, refused, text

OTHER = "OP-OTHER"


async def _two_operations(app: App) -> None:
    await operation(app)
    await operation(app, OTHER, channels={"other-room": "amber"}, people=False)
    await join(app, OTHER, "mia", "member")
    await app.console.pop_posts()


async def _op_id(app: App, code: str) -> int:
    [op] = [o for o in await fetch(app, Operation) if o.code == code]
    assert op.id is not None
    return op.id


# ------------------------------------------------ 1. replies stay in their operation


async def test_a_reply_about_another_operation_goes_to_the_actor_alone(any_app: App) -> None:
    app = any_app
    await _two_operations(app)
    plan = 'raid plan OP-NIGHTJAR "Dawn" --at "tomorrow 05:30" --location "Calle Mayor 3"'
    reply = await ok(app, plan, channel="other-room")
    assert "Calle Mayor 3" in text(reply)  # the actor sees it…
    assert reply.visibility is Visibility.PRIVATE and reply.confidential  # …nobody else
    [raid] = await fetch(app, Raid)
    assert raid.operation_id == await _op_id(app, OP)  # stored where it belongs
    for line in (
        f"raid show {OP}/R-1",
        f'raid move {OP}/R-1 --at "tomorrow 06:00"',
        f"check {OP}/R-1 1",
        f"uncheck {OP}/R-1 1",
    ):
        reply = await ok(app, line, channel="other-room")
        assert reply.visibility is Visibility.PRIVATE and reply.confidential, line
        assert reply.message.tlp, f"{line}: no label"
    # In its own channel the same replies are the channel's, with their label.
    for line in ("check R-1 1", "uncheck R-1 1"):
        reply = await ok(app, line, channel="room")
        assert reply.visibility is Visibility.CHANNEL and not reply.confidential, line
        assert reply.message.tlp == "amber", line
    # A channel linked to nothing is no operation's either.
    reply = await ok(app, "raid show OP-NIGHTJAR/R-1", channel="corridor")
    assert reply.visibility is Visibility.PRIVATE and reply.confidential
    # Linking makes it the operation's channel in the same command.
    reply = await ok(app, f"op link {OTHER}", channel="fresh-room")
    assert reply.visibility is Visibility.CHANNEL and not reply.confidential
    # Nothing about the raid was posted to OP-OTHER's channel.
    posts = await app.console.pop_posts()
    assert [p for p in posts if p.channel == "other-room" and "Dawn" in p.text] == []


async def test_check_and_uncheck_carry_the_raids_label(any_app: App) -> None:
    app = any_app
    await _two_operations(app)
    await ok(app, 'raid plan "Dawn" --at "tomorrow 05:30" --tlp amber+strict', channel="room")
    checked = await ok(app, "check R-1 1", channel="room")
    assert checked.message.tlp == "amber"  # the raid's time label (the operation's)
    [item] = [i for i in await fetch(app, RaidItem) if i.position == 1]
    assert item.done_at is not None
    # In a GREEN channel an AMBER reply is the actor's alone.
    unchecked = await ok(app, "uncheck R-1 1", channel="lobby")
    assert unchecked.message.tlp == "amber" and unchecked.confidential
    assert unchecked.visibility is Visibility.PRIVATE


# ------------------------------------------- 2. free text never chooses the operation


@pytest.mark.parametrize(
    "line",
    [
        'sighting S-1 at "Porto quay" --note "OP-OTHER/S-1"',
        "sighting S-1 at Vigo dock OP-OTHER/S-1",
        'sighting S-1 at "Porto quay" --observer OP-OTHER/S-1',
    ],
)
async def test_a_reference_in_free_text_does_not_move_a_sighting(any_app: App, line: str) -> None:
    app = any_app
    await _two_operations(app)
    await ok(app, "subject add person Ivan Petrov --category suspect", who="mia", channel="room")
    await ok(app, f"subject add {OTHER} person Other Man --category suspect", who="mia")
    await app.console.pop_posts()
    await ok(app, line, who="mia", channel="room")
    [sighting] = await fetch(app, Sighting)
    nightjar = await _op_id(app, OP)
    assert sighting.operation_id == nightjar
    [subject] = [s for s in await fetch(app, Subject) if s.id == sighting.subject_id]
    assert subject.name == "Ivan Petrov"
    posts = await app.console.pop_posts()
    assert posts and {p.channel for p in posts} <= {"room", "lobby", "@admin", "@mia"}
    assert all(p.channel != "other-room" for p in posts)


async def test_a_reference_in_a_description_does_not_move_a_subject(any_app: App) -> None:
    app = any_app
    await _two_operations(app)
    await ok(app, f"subject add {OTHER} person Other Man --category suspect", who="mia")
    audi_line = 'subject add vehicle "blue Audi" --desc "OP-OTHER/S-1"'
    await ok(app, audi_line, who="mia", channel="room")
    audi = [s for s in await fetch(app, Subject) if s.name == "blue Audi"]
    assert [s.operation_id for s in audi] == [await _op_id(app, OP)]
    # A declared reference still names its operation from anywhere.
    reply = await ok(app, f"subject show {OTHER}/S-1", who="mia", channel="room")
    assert "Other Man" in text(reply) and reply.visibility is Visibility.PRIVATE


# ------------------------------------ 3. counts filtered exactly as the items they count


async def test_a_partners_briefing_counts_only_what_the_partner_may_read(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect --tlp green")
    await ok(app, f'notice record red S-1 {RED} --charges "trafficking" --tlp green')
    lead = text(await ok(app, "brief", channel="dm-admin", is_group=False))
    assert "Active notices: 1" in lead and "1 active red or orange notice" in lead
    before = await snapshot(app.store)
    partner = text(await ok(app, "brief", who="pat", channel="dm-pat", is_group=False))
    assert "Active notices: 0" in partner
    assert "red or orange" not in partner and "RISK\n  nothing flagged" in partner
    assert set(changed_tables(before, await snapshot(app.store))) == {"auditentry", "auditchain"}


# --------------------------------------------------- 7. numbers and times, one parser


CRASHERS = [
    ("me tz " + "C" * 300, "is not a time zone I know"),
    ("sightings --page ²", "--page must be a whole number from 1."),
    ("audit --limit ²", "--limit must be a whole number from 1 to 200."),
    ("op invite --uses ²", "--uses must be a whole number from 1 to 100."),
    ("op invite --uses ٣", "--uses must be a whole number from 1 to 100."),
    ("check R-1 ²", "'²' is not an item number"),
    ("check R-1 99999999999999999999", "is not an item number"),
    ("brief stop ²", "'²' is not a briefing number"),
    ("brief stop 99999999999999999999", "A briefing number must be a whole number from 1."),
    ('sighting S-1 at Porto --when "99999999d ago"', "too long a duration"),
    ('raid plan Dawn --at "in 99999999999999999999d"', "is not a duration"),
    ('raid plan Dawn --at "in 99999999d"', "too long a duration"),
    ('raid plan Dawn --at "0001-01-01 00:30"', "too far from today"),
    ('sightings --since "99999999d ago"', "neither a duration nor a time"),
    ("op invite --expires ²h", "is not a duration"),
    ("subject show S-١", "'S-١' is not a reference S-n."),
]


async def test_the_crash_inputs_get_a_sentence_and_write_nothing(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, 'raid plan "Dawn" --at "tomorrow 05:30"', channel="room")
    await ok(app, "brief schedule 07:00 --days daily", channel="room")
    wrong = []
    for line, expected in CRASHERS:
        before = await snapshot(app.store)
        reply = await app.console.push(line, as_="admin", channel="dm-admin", is_group=False)
        said = text(reply)
        if reply.ok or "Something went wrong" in said or expected not in said:
            wrong.append(f"{line[:50]!r}: {said[:120]!r}")
        if changed_tables(before, await snapshot(app.store)):
            wrong.append(f"{line[:50]!r} wrote {changed_tables(before, await snapshot(app.store))}")
    assert wrong == []


# -------------------------------------------------------- 6. text at the boundary


@pytest.mark.parametrize(
    "line",
    [
        "\ud800",
        "join ABC\ud800",
        "link \udfff",
        "sighting S-1 at Porto\ud83d",
        "op new Bell\x07",
        "op new Esc\x1b[31m",
        "op new Trojan\u202eevil",
        "op new C1\x85x",
    ],
)
async def test_broken_unicode_and_control_characters_are_refused_with_a_sentence(
    any_app: App, line: str
) -> None:
    app = any_app
    await operation(app)
    before = await snapshot(app.store)
    reply = await app.console.push(line, as_="admin", channel="room")
    assert not reply.ok
    assert text(reply) == (
        "That message contains characters I cannot accept (control characters or broken "
        "Unicode); please type it again."
    )
    text(reply).encode("utf-8")  # the answer itself can always be sent
    assert changed_tables(before, await snapshot(app.store)) == {}


async def test_text_is_stored_in_one_normal_form(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Jose\u0301 Nun\u0303ez --category suspect")
    [subject] = await fetch(app, Subject)
    assert subject.name == "José Nuñez"  # NFC: one code point each
    assert subject.name == "Jos\u00e9 Nu\u00f1ez"
    assert "José Nuñez" in text(await ok(app, "subject show S-1"))


# Invisible directional marks a reply carries or a phone inserts: LRM, RLM, ALM, LRI … PDI.
MARKS = ("\u200e", "\u200f", "\u061c", "\u2066", "\u2069")


@pytest.mark.parametrize("mark", MARKS)
async def test_directional_marks_are_dropped_from_stored_names(any_app: App, mark: str) -> None:
    app = any_app
    await operation(app)
    await ok(app, f"subject add person {mark}Ivan{mark} Petrov --category suspect")
    [subject] = await fetch(app, Subject)
    assert subject.name == "Ivan Petrov"


@pytest.mark.parametrize("mark", MARKS)
async def test_directional_marks_are_dropped_from_platform_names(any_app: App, mark: str) -> None:
    app = any_app
    await ok(app, 'op new "Night Harbour"')
    code = dict((await ok(app, "op invite --role member")).message.fields)["Code"]
    reply = await app.gateway.dispatch(
        Invocation(
            actor=Actor("console", "layla", f"{mark}Layla{mark} Haddad"),
            channel=Channel("console", "dm-layla", is_group=False),
            text=f"join {code}",
        )
    )
    assert reply.ok, text(reply)
    [identity] = [i for i in await fetch(app, Identity) if i.key == "layla"]
    assert identity.display_name == "Layla Haddad"


async def test_a_failed_post_records_no_user_text(any_app: App) -> None:
    app = any_app
    await operation(app)
    await app.console.pop_posts()
    app.console.sender.fail_next.append(RuntimeError("could not send 'Calle Mayor 3, 2º'"))
    await ok(app, 'sighting "grey van" at "Calle Mayor 3, 2º"', channel="room")
    await app.console.pop_posts()
    failed = [r for r in await fetch(app, OutboxMessage) if r.last_error]
    assert [r.last_error for r in failed] == ["RuntimeError"]


# ------------------------------------------------ 10. audit verify tells a lead only theirs


async def test_a_leads_audit_verify_counts_only_the_operations_they_lead(any_app: App) -> None:
    app = any_app
    await _two_operations(app)
    await join(app, OTHER, "lea", "lead")
    for _ in range(3):
        await ok(app, "op show", channel="room")
    from bot.store.models import AuditEntry

    entries = await fetch(app, AuditEntry)
    other = await _op_id(app, OTHER)
    mine = sum(1 for e in entries if e.chain == other)
    reply = await ok(app, "audit verify", who="lea", channel="dm-lea", is_group=False)
    assert text(reply).startswith(f"Audit chain intact: {mine} entries verified in 1 chain.")
    everything = text(await ok(app, "audit verify", channel="dm-admin", is_group=False))
    assert f"{len(entries) + 1} entries verified in 3 chains" in everything  # + lea's verify
    assert await refused(app, "audit verify", who="mia", channel="dm-mia") == (
        "Only leads and admins can verify the audit log."
    )


# --------------------------------------------- 11. the reading rules, each one tested


async def test_a_partner_never_reads_a_red_victim_even_by_grant(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Lena --category victim --tlp red")
    await ok(app, "subject add person Rosa --category victim --tlp amber")
    await ok(app, "subject grant S-1 pat")
    await ok(app, "subject grant S-2 pat")
    assert "Rosa" in text(await ok(app, "subject show S-2", who="pat"))  # the grant works…
    assert await refused(app, "subject show S-1", who="pat") == f"There is no subject S-1 in {OP}."
    listing = text(await ok(app, "subject list", who="pat"))
    assert "Rosa" in listing and "Lena" not in listing  # …but not for RED


async def test_a_partner_never_reads_a_witness(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Wanda Witt --category witness --tlp green")
    await ok(app, 'subject unprotect S-1 --reason "she testifies in open court"')
    await ok(app, "sighting S-1 at Porto --tlp green")
    assert "Wanda" in text(await ok(app, "subject show S-1", who="obe"))  # not protected now
    assert await refused(app, "subject show S-1", who="pat") == f"There is no subject S-1 in {OP}."
    assert "There is no sighting SG-1" in await refused(app, "sighting show SG-1", who="pat")
    assert "Wanda" not in text(await ok(app, "subject list", who="pat"))


def test_the_reading_rule_role_by_label_by_category() -> None:
    """`role_reads`, the role clause every reader goes through, cell by cell
    (README, "Victim safety and need-to-know").

    Through the app a RED item is decided before this rule (its author and named recipients
    only), so this table is what fails if a partner were let read a RED victim here."""
    from bot.core.access import TLP_ORDER, Role
    from bot.core.disclosure import role_reads as may_read_item

    categories = [None, "victim", "witness", "suspect", "associate"]
    allowed = {
        (role, tlp, category)
        for role in Role
        for tlp in TLP_ORDER
        for category in categories
        if may_read_item(role, tlp, category)
    }
    expected = set()
    for tlp in TLP_ORDER:
        for category in categories:
            expected |= {(r, tlp, category) for r in (Role.LEAD, Role.MEMBER, Role.ANALYST)}
            if tlp in ("clear", "green", "amber"):
                expected.add((Role.OBSERVER, tlp, category))
            if category == "victim" and tlp != "red":
                expected.add((Role.PARTNER, tlp, category))
            if category is None and tlp in ("clear", "green"):
                expected.add((Role.PARTNER, tlp, category))
    assert allowed == expected


def _probes() -> list[tuple[str, str]]:
    """For every command about an operation: a line naming OP-OTHER (which exists) and the
    same line naming OP-NOWHERE (which does not)."""
    from bot.commands.registry import REGISTRY, OpMode

    out: list[tuple[str, str]] = []
    for cmd in REGISTRY.all():
        if cmd.op is OpMode.NONE:
            continue
        takes_ref = any(a.ref for a in cmd.args)
        out.append((f"{cmd.name} OP-OTHER", f"{cmd.name} OP-NOWHERE"))
        if takes_ref:
            for ref in ("S-1", "SG-1", "R-1", "N-1"):
                out.append((f"{cmd.name} OP-OTHER/{ref} 1", f"{cmd.name} OP-NOWHERE/{ref} 1"))
    return out


async def test_another_operation_answers_exactly_as_one_that_does_not_exist(
    any_app: App,
) -> None:
    """Every command × (an operation the actor is not in, one that does not exist), as a
    member, a partner and an observer of OP-NIGHTJAR: the same sentence, and nothing written
    but the denied-access entry for the leads of the operation that exists."""
    from tests.dbstate import denied_only

    app = any_app
    await operation(app)
    await operation(app, OTHER, channels={"other-room": "amber"}, people=False)
    await ok(app, f"subject add {OTHER} person Ivan Petrov --category suspect")
    await ok(app, f'sighting {OTHER}/S-1 at "Vigo dock"')
    await ok(app, f'raid plan {OTHER} "Dawn" --at "tomorrow 05:30"')
    await ok(app, f'notice record red {OTHER}/S-1 {RED} --charges "trafficking"')
    await app.console.pop_posts()
    different = []
    for who in ("mia", "pat", "obe"):
        for other, nowhere in _probes():
            answers = []
            for line in (other, nowhere):
                before = await snapshot(app.store)
                reply = await app.console.push(line, as_=who, channel="room")
                denied_only(before, await snapshot(app.store))
                assert not reply.ok or "OP-" not in line, f"{who}: {line!r} was accepted"
                answers.append(
                    text(reply).replace("OP-OTHER", "OP-X").replace("OP-NOWHERE", "OP-X")
                )
            if answers[0] != answers[1]:
                different.append(f"{who}: {other!r}: {answers[0]!r} vs {answers[1]!r}")
    assert different == []


async def test_a_hostile_display_name_is_cleaned_before_it_is_stored_or_shown(
    any_app: App,
) -> None:
    """The name a platform shows is not typed by the member, so it is never refused: its
    control and direction-override characters are dropped and it is stored in NFC, as the
    member and as the identity, and shown so to everyone."""
    app = any_app
    await operation(app)
    invite = dict((await ok(app, f"op invite {OP} --role member")).message.fields)["Code"]
    shown = "Eve\u202e\x1b[31m\x07 Jose\u0301\u2066"
    where = Channel("console", "dm-eve", is_group=False)
    inv = Invocation(Actor("console", "eve", shown), where, f"join {invite}")
    assert (await dispatch(app.core, inv)).ok
    members = {m.name for m in await fetch(app, Member)}
    assert "Eve[31m José" in members
    identities = {i.display_name for i in await fetch(app, Identity) if i.key == "eve"}
    assert identities == {"Eve[31m José"}
    listed = text(await ok(app, f"op members {OP}"))
    assert "Eve[31m José" in listed and "\u202e" not in listed and "\x1b" not in listed

"""One disclosure rule for every surface (issue 25), through the console on SQLite and
PostgreSQL: each finding of the issue reproduced by a command in and the replies and posts
out.

OP-NIGHTJAR (tests/fieldintel.py): lead `admin`, member `mia`, partner `pat`, observer
`obe`; console channel `room` linked up to AMBER, `lobby` up to GREEN. Private posts to a
console member land in `@name`.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select

from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.store.models import Agency, AuditEntry, Identity, Member
from tests.conftest import START
from tests.fieldintel import OP, fetch, join, ok, operation, refused, text


async def in_agency(app: App, who: str, code: str) -> None:
    """Make console member `who` a member of agency `code` (created if new)."""
    async with app.store.transaction() as session:
        agency = (await session.exec(select(Agency).where(Agency.code == code))).first()
        if agency is None:
            agency = Agency(code=code, name=code, country=code[:2])
            session.add(agency)
            await session.flush()
        ident = (await session.exec(select(Identity).where(Identity.key == who))).one()
        member = await session.get(Member, ident.member_id)
        assert member is not None
        member.agency_id = agency.id
        session.add(member)


def count_after(shown: str, words: str) -> int:
    """The number after `words` in a reply: `New sightings: 2` → 2."""
    line = next(x for x in shown.splitlines() if words in x)
    return int(line.split(words, 1)[1].split()[0].strip("(),"))


# ------------------------------------------------------------------ finding 1


async def test_a_partners_briefing_tells_nothing_that_show_denies(any_app: App) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Maria X --category victim --dob 2009")  # S-1
    await ok(app, "notice record yellow S-1 --requested-by PT --ref A-1/2026")  # N-1
    await ok(app, 'sighting S-1 at "Rua 5, Porto"', who="mia")  # SG-1, a MATCH
    for who in ("pat", "obe"):
        assert await refused(app, "notice show N-1", who=who) == f"There is no notice N-1 in {OP}."
        assert await refused(app, "sighting show SG-1", who=who) == (
            f"There is no sighting SG-1 in {OP}."
        )
        brief = text(await ok(app, "brief", who=who, channel=f"dm-{who}", is_group=False))
        assert "protected person" not in brief and "N-1" not in brief, brief
        assert "matches an active notice" not in brief
        assert count_after(brief, "New sightings:") == 0
        assert count_after(brief, "Active notices:") == 0
        assert count_after(brief, "Victims identified:") == 0
    # Granted by name, the partner reads the person, and the briefing counts what they read.
    await ok(app, "subject grant S-1 pat")
    assert "Maria X" in text(await ok(app, "sighting show SG-1", who="pat"))
    brief = text(await ok(app, "brief", who="pat", channel="dm-pat", is_group=False))
    assert count_after(brief, "New sightings:") == 1
    assert count_after(brief, "Victims identified:") == 1


# ------------------------------------------------------------------ finding 2


async def _raid_with_notes(app: App) -> None:
    await operation(app, channels={"room": "amber"})
    await ok(app, 'raid plan "NIGHT HERON" --at "2026-11-30 05:30" --location "Calle Mar 4"')
    await ok(app, 'check R-1 1 --note "warrant W/7781-B"')
    await ok(app, 'check R-1 2 --note "deconfliction: GC unit also watching"')
    await ok(app, 'check R-1 4 --note "high: armed guards reported"')
    await ok(app, 'check R-1 8 --note "ch 4, call signs Alpha/Bravo"')
    await ok(app, "raid assign R-1 site-commander mia")
    await app.console.pop_posts()


TACTICAL = ("W/7781", "GC unit", "armed guards", "Alpha/Bravo", "Calle Mar", "Site commander")


async def test_partners_and_observers_see_a_raids_time_and_their_items_nothing_tactical(
    any_app: App,
) -> None:
    app = any_app
    await _raid_with_notes(app)
    full = text(await ok(app, "raid show R-1", who="mia"))
    for secret in TACTICAL:
        assert secret.lower() in full.lower(), secret
    for who in ("pat", "obe"):
        shown = text(await ok(app, "raid show R-1", who=who))
        assert "NIGHT HERON" in shown and "When" in shown
        for secret in TACTICAL:
            assert secret.lower() not in shown.lower(), (who, secret)
    partner = text(await ok(app, "raid show R-1", who="pat"))
    assert "NGO / victim-support staff and shelter places on standby" in partner  # theirs
    assert "Warrant / legal authority" not in partner  # not theirs
    observer = text(await ok(app, "raid show R-1", who="obe"))
    assert "Warrant / legal authority" not in observer
    # The briefing says that the risk and radio are set, never what they are.
    for who in ("pat", "obe"):
        brief = text(await ok(app, "brief", who=who, channel=f"dm-{who}", is_group=False))
        assert "NIGHT HERON" in brief
        for secret in TACTICAL:
            assert secret.lower() not in brief.lower(), (who, secret)


# ------------------------------------------------------------------ finding 3


async def test_amber_strict_belongs_to_the_sharers_agency(any_app: App) -> None:
    app = any_app
    await operation(app, channels={"room": "amber"})
    await join(app, OP, "rui", "member")
    await join(app, OP, "yas", "member")
    await in_agency(app, "rui", "PT-PJ")
    await in_agency(app, "yas", "MA-DGSN")
    await in_agency(app, "mia", "ES-PN")
    await ok(app, f"op link {OP} --max-tlp amber+strict --agencies ES-PN", channel="es")
    await ok(app, f"op link {OP} --max-tlp amber+strict --agencies PT-PJ", channel="pt")
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await app.console.pop_posts()
    reply = await ok(
        app, 'sighting S-1 at "informant meeting, Braga" --tlp amber+strict', who="rui"
    )
    assert "TLP:AMBER+STRICT stays inside PT-PJ" in text(reply)
    assert [p.channel for p in await app.console.pop_posts()] == ["pt"]  # not es, not room
    assert "Braga" in text(await ok(app, "sighting show SG-1", who="rui"))
    for who in ("yas", "mia"):  # members of other agencies
        assert await refused(app, "sighting show SG-1", who=who) == (
            f"There is no sighting SG-1 in {OP}."
        )
        listed = text(await ok(app, "sightings", who=who))
        assert "Braga" not in listed and "1 hidden by your role." in listed
        brief = text(await ok(app, "brief", who=who, channel=f"dm-{who}", is_group=False))
        assert "Braga" not in brief and count_after(brief, "New sightings:") == 0


# ------------------------------------------------------------------ finding 5


async def test_a_hint_in_another_operations_channel_carries_the_full_reference(
    any_app: App,
) -> None:
    app = any_app
    await operation(app, channels={"room": "amber"})
    await ok(app, "subject add person Ivan Petrov --category suspect")  # OP-NIGHTJAR/S-1
    await ok(app, 'op new "Second" --code OP-2')
    reply = await ok(
        app, 'subject add OP-2 person "Xavier Young" --category suspect', channel="room"
    )
    shown = text(reply)
    assert "`sighting OP-2/S-1 at <location>`" in shown
    assert "`sighting S-1 at" not in shown
    # Typed as suggested in that channel, it is Xavier's sighting, in OP-2.
    reply = await ok(app, "sighting OP-2/S-1 at Vigo", channel="room")
    assert "Xavier Young" in text(reply) and "Ivan" not in text(reply)
    # In a channel of its own operation the hint stays short.
    own = text(await ok(app, "subject add person Ana Lobo --category suspect", channel="room"))
    assert "`sighting S-2 at <location>`" in own


# ------------------------------------------------------------------ finding 6


async def test_break_glass_is_shown_and_every_read_under_it_is_audited_so(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await join(app, OP, "root", "member")
    await ok(app, "op remove root")
    async with app.store.transaction() as session:
        ident = (await session.exec(select(Identity).where(Identity.key == "root"))).one()
        member = await session.get(Member, ident.member_id)
        assert member is not None
        member.is_admin = True
        session.add(member)
    await ok(app, f'op access {OP} --reason "lead unreachable" --for 1h', who="root")
    shown = text(await ok(app, f"op show {OP}", who="root"))
    assert "Your role: break-glass until 10:00 (lead unreachable)" in shown
    assert "Your role: member" not in shown
    await ok(app, f"subject show {OP}/S-1", who="root")
    [read] = [
        e
        for e in await fetch(app, AuditEntry)
        if e.command == "subject show" and e.actor.startswith("root")
    ]
    assert read.action == "consult"
    assert read.reason is not None and read.reason.startswith("break-glass (lead unreachable)")
    # A member's consultation carries the command that caused it as its justification.
    await ok(app, "subject show S-1", who="mia")
    [mine] = [
        e
        for e in await fetch(app, AuditEntry)
        if e.command == "subject show" and e.actor_id and not e.actor.startswith("root")
    ]
    assert mine.reason == "command: subject show S-1"
    # Free text is not copied: a searched name would outlive its erasure in the chain.
    await ok(app, "subject find Petrov", who="mia")
    [found] = [e for e in await fetch(app, AuditEntry) if e.command == "subject find"]
    assert found.reason is not None and "Petrov" not in found.reason
    assert "Your role: member" in text(await ok(app, f"op show {OP}", who="mia"))
    clock.set(START + timedelta(hours=1, seconds=1))
    assert (await refused(app, f"op show {OP}", who="root")).startswith("You are not a member")


# ------------------------------------------------------------ protected places (finding 4)


async def test_a_shelter_is_never_named_or_located_in_a_channel_nor_to_observers(
    any_app: App,
) -> None:
    app = any_app
    await operation(app)
    await join(app, OP, "lea", "lead")
    reply = await ok(
        app,
        'sighting "white van" at "Casa Refugio Lyon" --coords 45.7600,4.8400 --tlp green '
        '--note "6 places, C/ Secreta 5" --place-kind shelter',
        who="mia",
    )
    assert "Casa Refugio" in text(reply)  # the reporter's own
    assert reply.message.tlp == "red"  # in a group it would be sent privately
    posts = await app.console.pop_posts()
    channel = [p for p in posts if not p.channel.startswith("@")]
    assert sorted(p.channel for p in channel) == ["lobby", "room"]
    for post in channel:
        for secret in ("Casa Refugio", "Secreta", "45.76", "4.84"):
            assert secret not in post.text, (post.channel, secret)
        assert "a protected place" in post.text and "white van" in post.text
    private = {p.channel: p.text for p in posts if p.channel.startswith("@")}
    assert sorted(private) == ["@admin", "@lea"] and "Casa Refugio" in private["@lea"]
    for who in ("obe", "pat"):
        shown = text(await ok(app, "sighting show SG-1", who=who))
        assert "Casa Refugio" not in shown and "Secreta" not in shown, who
        assert "a protected place" in shown
        assert "Casa Refugio" not in text(await ok(app, "sightings", who=who))
        brief = text(await ok(app, "brief", who=who, channel=f"dm-{who}", is_group=False))
        assert "Casa Refugio" not in brief
    assert "Casa Refugio" in text(await ok(app, "sighting show SG-1", who="lea"))
    exported = await ok(app, "export")
    assert exported.message.tlp == "red"
    data = json.loads(exported.message.attachments[0].content)
    assert data["sightings"][0]["location"] == "Casa Refugio Lyon"  # the lead's own file
    assert await refused(app, 'sighting "van" at Lyon --place-kind hotel', who="mia") == (
        "'hotel' is not a kind of protected place; use one of shelter, safe-house, victim-care."
    )


async def test_a_place_subject_marked_a_safe_house_is_protected_like_a_victim(
    any_app: App,
) -> None:
    app = any_app
    await operation(app)
    await ok(app, 'subject add place "Casa Luz" --place-kind safe-house --tlp green')
    await app.console.pop_posts()
    for who in ("pat", "obe"):
        assert (
            await refused(app, "subject show S-1", who=who) == f"There is no subject S-1 in {OP}."
        )
    await ok(app, 'sighting S-1 at "Rua 9"', who="mia")
    posts = await app.console.pop_posts()
    channel = [p for p in posts if not p.channel.startswith("@")]
    assert [p.channel for p in channel] == ["room"]  # AMBER, the operation's label
    for post in channel:
        assert "Casa Luz" not in post.text and "Rua 9" not in post.text
        assert post.message.title == "A sighting at a protected place"
    assert await refused(
        app, 'subject add person "Bo" --category suspect --place-kind shelter'
    ) == ("--place-kind marks a place: add it with `subject add place <name> --place-kind …`.")


async def test_seen_together_at_a_shelter_is_not_told_to_an_observer(any_app: App) -> None:
    # "Seen together, closest 0 m" would locate the pair at the shelter.
    app = any_app
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await ok(app, "subject add person Oleg Sokol --category suspect")
    await ok(app, 'sighting S-1 at "Casa Refugio" --coords 45.7600,4.8400 --place-kind shelter')
    await ok(app, 'sighting S-2 at "Casa Refugio" --coords 45.7600,4.8400 --place-kind shelter')
    await ok(app, "sighting S-1 at Quay --coords 42.2400,-8.7200")
    await ok(app, "sighting S-2 at Quay --coords 42.2400,-8.7200")
    lead = text(await ok(app, "links"))
    assert "seen together 2 times" in lead and "SG-1+SG-2" in lead
    observer = text(await ok(app, "links", who="obe"))
    assert "seen together 1 time" in observer and "SG-3+SG-4" in observer
    assert "SG-1+SG-2" not in observer

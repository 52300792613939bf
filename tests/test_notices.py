"""Notices as recorded: every colour with its checks, diffusions, amber → yellow, expiry,
renewal and cancellation by leads, posting, the NCB check on a match."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.store.models import AuditEntry, Notice, OutboxMessage
from tests.dbstate import changed_tables, denied_only, snapshot
from tests.fieldintel import OP, fetch, ok, operation, refused, text

SUBJECTS = [
    "subject add person Ivan Petrov --category suspect",  # S-1
    "subject add person Lena --category victim",  # S-2
    "subject add person 'unknown male' --category victim",  # S-3
    "subject add vessel Sea Breeze",  # S-4
    "subject add organisation Petrov Logistics",  # S-5
]
# Victims: their notices reach channels only as a neutral line, without the name.
PROTECTED = {"S-2": "Lena", "S-3": "unknown male"}
# colour → a subject it may be about, and one it may not (None: any kind will do).
FITS = {
    "red": ("S-1", "S-4"),
    "yellow": ("S-2", "S-5"),
    "blue": ("S-1", "S-4"),
    "green": ("S-1", "S-5"),
    "orange": ("S-4", None),
    "black": ("S-3", "S-4"),
    "purple": ("S-5", None),
    "silver": ("S-4", "S-1"),
    "un": ("S-5", "S-4"),
}


async def _setup(app: App) -> None:
    await operation(app)
    for line in SUBJECTS:
        await ok(app, line)


def _line(colour: str, subject: str, extra: str = "") -> str:
    """A `notice record` line with what every colour needs (and a red's judicial data)."""
    judicial = ' --charges "trafficking in human beings" --warrant W/1 --warrant-country PT'
    # A UN Special Notice is requested by a Security Council committee, not a country.
    by = "--committee 1267" if colour == "un" else "--requested-by PT"
    return (
        f"notice record {colour} {subject} --ref X/2026/1 {by}"
        + (judicial if colour == "red" else "")
        + extra
    )


@pytest.mark.parametrize("colour", list(FITS))
async def test_every_colour_is_recorded_and_posted(app: App, colour: str) -> None:
    await _setup(app)
    good, bad = FITS[colour]
    reply = await ok(app, _line(colour, good), who="mia")
    assert reply.message.title.startswith("Recorded ")
    assert f"notice N-1 — {good} " in reply.message.title
    assert "Posted to 1 linked channel" in text(reply)
    assert "INTERPOL reference: X/2026/1" in text(reply)
    requester = "1267" if colour == "un" else "PT"
    if colour == "un":
        assert "UN Security Council sanctions committee: 1267" in text(reply)
        assert "Requested by" not in text(reply)
    else:
        assert "Requested by: PT" in text(reply)
    assert "Issued" not in text(reply)
    [notice] = await fetch(app, Notice)
    assert notice.colour == colour and notice.external_ref == "X/2026/1"
    assert (notice.kind, notice.requested_by) == ("notice", requester)
    assert notice.expires_at.year == notice.recorded_at.year + 5
    posts = await app.console.pop_posts()
    [post] = [p for p in posts if not p.channel.startswith("@")]
    assert post.channel == "room"
    if good in PROTECTED:
        # A victim (here presumed a child): the channel gets a neutral line, the lead the
        # notice privately (issue 13).
        assert post.message.title == "A notice about a protected person was recorded"
        assert PROTECTED[good] not in post.text
        assert f"notice show {OP}/N-1" in post.text
        [private] = [p for p in posts if p.channel.startswith("@")]
        assert private.channel == "@admin" and f"about {good}" in private.text
    else:
        assert f"{OP}/N-1 · TLP:AMBER · about {good}" in post.text
        assert len(posts) == 1
    if bad is not None:
        before = await snapshot(app.store)
        said = await refused(app, _line(colour, bad))
        assert "notices are about" in said and f"{bad} is a" in said
        assert changed_tables(before, await snapshot(app.store)) == {}


async def test_red_needs_its_judicial_data_and_a_wanted_person(any_app: App) -> None:
    app = any_app
    await _setup(app)
    before = await snapshot(app.store)
    base = "notice record red S-1 --ref X/2026/1 --requested-by PT"
    said = await refused(app, base)
    assert said.startswith('A red notice needs --charges "…"')
    assert "not itself an arrest warrant" in said
    said = await refused(app, f'{base} --charges "trafficking"')
    assert said == (
        'A red notice needs --warrant "…": the reference of the arrest warrant or judgment '
        "it rests on."
    )
    said = await refused(app, f'{base} --charges "trafficking" --warrant W/1')
    assert said == (
        "A red notice needs --warrant-country: the country whose authority issued the warrant."
    )
    said = await refused(app, _line("red", "S-2"))
    assert said == (
        "S-2 is recorded as a victim; a red notice is for a wanted person "
        "(victims are not treated as offenders)."
    )
    assert "'magenta' is not a notice colour" in await refused(app, _line("magenta", "S-1"))
    assert "There is no subject S-9" in await refused(app, _line("blue", "S-9"))
    assert changed_tables(before, await snapshot(app.store)) == {}
    reply = await ok(app, _line("red", "S-1"))
    assert "Warrant: W/1, issued in PT" in text(reply)
    [notice] = await fetch(app, Notice)
    assert (notice.warrant_ref, notice.warrant_country) == ("W/1", "PT")
    help_text = text(await ok(app, "help notice record"))
    assert "not itself an arrest warrant" in help_text
    assert "amber is recorded as yellow" in help_text


async def test_a_notice_needs_interpols_reference_and_the_requesting_country(
    any_app: App,
) -> None:
    app = any_app
    await _setup(app)
    before = await snapshot(app.store)
    assert await refused(app, "notice record blue S-1 --requested-by PT") == (
        "Give INTERPOL's reference with --ref: a task force records a notice INTERPOL published."
    )
    assert await refused(app, "notice record blue S-1 --ref X/1") == (
        "Say which country's National Central Bureau requested it with --requested-by COUNTRY."
    )
    assert "--requested-by is too long" in await refused(
        app, f"notice record blue S-1 --ref X/1 --requested-by {'P' * 101}"
    )
    assert changed_tables(before, await snapshot(app.store)) == {}


async def test_the_old_command_word_points_to_notice_record(any_app: App) -> None:
    app = any_app
    await _setup(app)
    before = await snapshot(app.store)
    reply = await app.console.push(
        'notice issue red S-1 --charges "trafficking"', as_="admin", channel="hq"
    )
    assert not reply.ok
    assert reply.message.lines[0] == (
        "A task force does not issue notices (a National Central Bureau requests them and "
        "INTERPOL publishes them): record one with `notice record <colour> S-n --ref … "
        "--requested-by …`."
    )
    assert await fetch(app, Notice) == []
    assert changed_tables(before, await snapshot(app.store)).keys() <= {"auditentry", "auditchain"}


async def test_black_is_never_about_a_named_living_person(any_app: App) -> None:
    app = any_app
    await _setup(app)
    await ok(app, "subject add person Marko --category witness")  # S-6
    before = await snapshot(app.store)
    for ref, category in (("S-1", "suspect"), ("S-6", "witness")):
        assert await refused(app, _line("black", ref)) == (
            f"{ref} is recorded as a {category}; a black notice is for an unidentified body, "
            "never a named living person."
        )
    assert changed_tables(before, await snapshot(app.store)) == {}
    await ok(app, _line("black", "S-3"))


async def test_a_yellow_over_a_red_needs_a_reason(any_app: App) -> None:
    app = any_app
    await _setup(app)
    await ok(app, _line("red", "S-1"))
    before = await snapshot(app.store)
    assert await refused(app, _line("yellow", "S-1")) == (
        'S-1 is under Red notice N-1; say why a yellow notice is needed as well with --reason "…".'
    )
    assert changed_tables(before, await snapshot(app.store)) == {}
    await ok(app, _line("yellow", "S-1", ' --reason "reported missing by family in Braga"'))
    [*_, entry] = await _audit(app, "notice record")
    assert entry["reason"] == "yellow notice on S-1; reported missing by family in Braga"


async def test_a_diffusion_is_a_direct_request_not_reviewed_by_interpol(any_app: App) -> None:
    app = any_app
    await _setup(app)
    before = await snapshot(app.store)
    assert (
        await refused(app, 'notice diffusion blue S-1 --requested-by PT --summary "whereabouts"')
        == "Say which countries the diffusion was sent to with --countries FR,DE,…"
    )
    assert "needs --charges" in await refused(
        app, "notice diffusion red S-1 --requested-by PT --countries ES,FR"
    )
    assert changed_tables(before, await snapshot(app.store)) == {}
    reply = await ok(
        app,
        'notice diffusion red S-1 --requested-by PT --countries ES,FR --charges "trafficking" '
        "--warrant W/9 --warrant-country PT",
    )
    assert reply.message.title.startswith("Recorded Red diffusion N-1")
    assert "Sent to: ES,FR" in text(reply)
    assert "INTERPOL has not reviewed it" in text(reply)
    [notice] = await fetch(app, Notice)
    assert (notice.kind, notice.colour, notice.countries) == ("diffusion", "red", "ES,FR")
    # A diffusion to arrest makes sightings matches too; a red notice may still be recorded.
    assert (await ok(app, "sighting S-1 at Porto")).message.mark == "MATCH"
    await ok(app, _line("red", "S-1"))


async def test_a_match_asks_to_confirm_the_notice_with_the_ncb(app: App) -> None:
    await _setup(app)
    await ok(app, _line("red", "S-1"))
    await app.console.pop_posts()
    await ok(app, "sighting S-1 at Porto", who="mia")
    [post] = await app.console.pop_posts()
    assert post.message.mark == "MATCH"
    assert "Confirm the notice's validity with your NCB before acting." in post.text


async def _audit(app: App, command: str) -> list[dict[str, object]]:
    """The audit entries `command` wrote about its record (not its posts), oldest first."""
    async with app.store.transaction() as session:
        rows = (
            await session.exec(
                select(AuditEntry)
                .where(AuditEntry.command == command, AuditEntry.outcome == "ok")
                .where(col(AuditEntry.action).in_(["collect", "alter"]))
                .order_by(col(AuditEntry.id))
            )
        ).all()
    return [r.model_dump() for r in rows]


async def test_amber_is_recorded_as_yellow_and_the_reply_says_why(app: App) -> None:
    await _setup(app)
    reply = await ok(app, _line("amber", "S-2"))
    assert reply.message.title.startswith("Recorded Yellow notice N-1")
    assert (
        "Recorded as a Yellow notice: AMBER is a national child-abduction alert, not an "
        "INTERPOL colour; INTERPOL's missing-person notice is Yellow."
    ) in reply.message.lines
    assert "also has: sex, year of birth, description" in text(reply)
    assert [n.colour for n in await fetch(app, Notice)] == ["yellow"]


async def test_one_active_notice_of_a_colour_per_subject(app: App) -> None:
    await _setup(app)
    await ok(app, _line("blue", "S-1"))
    said = await refused(app, _line("blue", "S-1"))
    assert said == "S-1 already has an active Blue notice N-1; cancel it before recording another."


async def test_notices_expire_after_five_years_unless_renewed(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await _setup(app)
    await ok(app, _line("red", "S-1"))
    await ok(app, _line("purple", "S-5"))
    clock.advance(timedelta(days=5 * 365 + 2))
    assert "No active notices" in text(await ok(app, "notice list"))
    assert "N-1 Red — S-1 Ivan Petrov · expired" in text(await ok(app, "notice list --all"))
    assert (await ok(app, "sighting S-1 at Porto")).message.mark is None
    await ok(app, 'notice renew N-1 --reason "still wanted: warrant re-issued"')
    assert "N-1 Red" in text(await ok(app, "notice list"))
    assert (await ok(app, "sighting S-1 at Porto")).message.mark == "MATCH"


async def test_cancel_needs_a_reason_and_a_lead(any_app: App) -> None:
    app = any_app
    await _setup(app)
    await ok(app, _line("red", "S-1"))
    await app.console.pop_posts()
    before = await snapshot(app.store)
    assert await refused(app, "notice cancel N-1 --reason 'arrested'", who="mia") == (
        f"As member in {OP} you cannot renew or cancel notices."
    )
    [entry] = denied_only(before, await snapshot(app.store))
    assert (entry["command"], entry["actor"]) == ("notice cancel", "mia (console:mia)")
    before = await snapshot(app.store)
    said = await refused(app, "notice cancel N-1")
    assert said.startswith('Say why with --reason "…"')
    assert changed_tables(before, await snapshot(app.store)) == {}
    reply = await ok(app, 'notice cancel N-1 --reason "arrested in Porto"')
    assert "Red notice N-1 on S-1 Ivan Petrov is cancelled." in text(reply)
    [post] = await app.console.pop_posts()
    assert post.message.title == "Red notice N-1 cancelled — S-1 Ivan Petrov"
    assert "Reason: arrested in Porto" in post.text
    [notice] = await fetch(app, Notice)
    assert (notice.status, notice.cancel_reason) == ("cancelled", "arrested in Porto")
    assert "already cancelled" in await refused(app, "notice cancel N-1 --reason again")
    shown = text(await ok(app, "notice show N-1", who="mia"))
    assert "Status: cancelled" in shown and "arrested in Porto" in shown
    assert "No active notices" in text(await ok(app, "notice list"))


async def test_notice_show_names_its_matching_sightings(app: App) -> None:
    await _setup(app)
    await ok(app, _line("red", "S-1", ' --summary "controller"'))
    await ok(app, "sighting S-1 at Porto")
    await ok(app, "sighting S-2 at Porto")
    await ok(app, "sighting S-1 at Braga")
    shown = await ok(app, "notice show OP-NIGHTJAR/N-1", who="obe")
    assert "Matching sightings: SG-1, SG-3" in text(shown)
    assert shown.message.context == f"{OP}/N-1 · TLP:AMBER · about S-1"
    assert len([r for r in await fetch(app, OutboxMessage) if r.kind == "match"]) == 2


async def test_only_a_lead_renews_and_another_leads_renewal_is_on_record(any_app: App) -> None:
    app = any_app
    await _setup(app)
    await ok(app, _line("red", "S-1"), who="mia")  # recorded by a member
    before = await snapshot(app.store)
    assert await refused(app, 'notice renew N-1 --reason "still wanted"', who="mia") == (
        f"As member in {OP} you cannot renew or cancel notices."
    )
    assert [e["command"] for e in denied_only(before, await snapshot(app.store))] == [
        "notice renew"
    ]
    await ok(app, 'notice renew N-1 --reason "still wanted"')
    [entry] = await _audit(app, "notice renew")
    assert entry["reason"] == (
        "renewed (active): still wanted [by a lead other than its recorder mia]"
    )
    await ok(app, _line("blue", "S-1"))  # recorded by the lead herself
    await ok(app, 'notice cancel N-2 --reason "located"')
    [entry] = await _audit(app, "notice cancel")
    assert entry["reason"] == "cancelled: located"


async def test_a_purple_notice_needs_no_subject(any_app: App) -> None:
    app = any_app
    await _setup(app)
    await app.console.pop_posts()
    before = await snapshot(app.store)
    assert await refused(app, "notice record red --ref X/1 --requested-by PT") == (
        "Red notices are about a subject: give its S-n (only purple needs none)."
    )
    assert changed_tables(before, await snapshot(app.store)) == {}
    reply = await ok(
        app,
        "notice record purple --ref P/2026/7 --requested-by ES "
        '--summary "victims hidden behind a false wall in lorries"',
        who="mia",
    )
    assert reply.message.title == "Recorded Purple notice N-1 — modus operandi"
    [post] = await app.console.pop_posts()
    assert post.channel == "room" and "victims hidden behind a false wall" in post.text
    assert post.message.context == f"{OP}/N-1 · TLP:AMBER"
    [notice] = await fetch(app, Notice)
    assert notice.subject_id is None and notice.colour == "purple"
    assert "N-1 Purple — modus operandi · active until" in text(await ok(app, "notice list"))
    assert "Summary: victims hidden" in text(await ok(app, "notice show N-1", who="obe"))
    assert "There is no notice N-1" in await refused(app, "notice show N-1", who="pat")
    brief = text(await ok(app, "brief", channel="dm-admin", is_group=False))
    assert "N-1 PURPLE — modus operandi" in brief
    await ok(app, 'notice cancel N-1 --reason "superseded by P/2026/9"')
    [post] = await app.console.pop_posts()
    assert post.message.title == "Purple notice N-1 cancelled — modus operandi"


async def test_the_kind_refusal_names_kinds_with_their_articles_in_the_members_language(
    app: App,
) -> None:
    await _setup(app)
    said = await refused(app, _line("un", "S-4"), who="mia")
    assert said == (
        "INTERPOL–UN Security Council Special notices are about a person or an organisation; "
        "S-4 is a vessel."
    )
    await ok(app, "me lang es", who="mia")
    dicho = await refused(app, _line("red", "S-5"), who="mia")
    assert dicho == "Las notificaciones Red tratan de una persona; S-5 es una organización."

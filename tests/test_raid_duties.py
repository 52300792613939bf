"""Raids as practitioners run them (issue 15): duties held by named members, the legal
authority never forced past, on-site items only after the go, after-items only once done,
another's tick taken back only by a lead with a reason, and the cross-border item mandatory
when the operation spans countries. Through the console, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from bot.base.clock import ManualClock
from bot.serving.app import App
from bot.serving.bootstrap import add_agency, add_member
from bot.store.models import AuditEntry, RaidDuty, RaidItem
from tests.dbstate import changed_tables, denied_only, snapshot
from tests.fieldintel import OP, fetch, join, ok, operation, refused, text

PLAN = 'raid plan "Warehouse" --at "2026-11-29 12:00" --tz Europe/Madrid'
RAID_AT = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)  # 12:00 in Madrid (CET)
# Positions in the built-in template (bot/core/templates/trafficking-raid.toml).
WARRANT, THREAT, INTERPRETERS, CROSS_BORDER = 1, 4, 11, 17
SEPARATED, DEBRIEF = 20, 31
BEFORE_MANDATORY = [*range(1, 16), 18, 19]


async def _reasons(app: App, command: str) -> list[str | None]:
    async with app.store.transaction() as session:
        rows = (
            await session.exec(
                select(AuditEntry)
                .where(AuditEntry.command == command, AuditEntry.outcome == "ok")
                .order_by(col(AuditEntry.id))
            )
        ).all()
    return [r.reason for r in rows if r.action == "alter"]


async def test_the_raid_story_with_named_duties(any_app: App, clock: ManualClock) -> None:
    app = any_app
    await operation(app)
    await join(app, OP, "vic", "member")
    await ok(app, PLAN)

    # A duty nobody holds: only a lead ticks its items.
    before = await snapshot(app.store)
    assert await refused(app, f"check R-1 {THREAT}", who="mia") == (
        f"Item {THREAT} of R-1 falls to the site commander, a duty nobody holds yet; a lead "
        "names the holder with `raid assign R-1 site-commander M-n`."
    )
    # Only a lead names the holders.
    assert await refused(app, "raid assign R-1 site-commander mia", who="mia") == (
        f"As member in {OP} you cannot assign raid duties."
    )
    assert [e["command"] for e in denied_only(before, await snapshot(app.store))] == [
        "check",
        "raid assign",
    ]
    before = await snapshot(app.store)
    assert "'chef' is not a raid duty" in await refused(app, "raid assign R-1 chef mia")
    assert await refused(app, "raid assign R-1 site-commander obe") == (
        f"obe is an observer in {OP}; observers hold no raid duty."
    )
    assert await refused(app, "raid assign R-1 site-commander pat") == (
        f"pat is a partner in {OP}; the site commander duty is an officer's."
    )
    assert changed_tables(before, await snapshot(app.store)) == {}
    assigned = text(await ok(app, "raid assign R-1 site-commander mia"))
    assert assigned.startswith("mia (M-") and "holds the site commander duty of R-1." in assigned
    await ok(app, "raid assign R-1 victim-liaison vic")
    shown = text(await ok(app, "raid show R-1", who="mia"))
    assert "site commander mia (M-" in shown and "victim liaison vic (M-" in shown
    assert "evidence officer —" in shown

    # The holder ticks their duty's items; another member cannot.
    await ok(app, f"check R-1 {THREAT}", who="mia")
    assert await refused(app, f"check R-1 {INTERPRETERS}", who="mia") == (
        f"Item {INTERPRETERS} of R-1 falls to the victim liaison, held by vic; only they or a "
        "lead tick it."
    )
    await ok(app, f"check R-1 {INTERPRETERS}", who="vic")

    # On-site items open with the go, after-items once the raid is done.
    assert await refused(app, f"check R-1 {SEPARATED}", who="mia") == (
        f"Item {SEPARATED} of R-1 is an on-site item; it opens when the raid has the go."
    )
    assert await refused(app, f"check R-1 {DEBRIEF}") == (
        f"Item {DEBRIEF} of R-1 is for after the raid; it opens when the raid is done."
    )
    assert "Give the go first" in await refused(app, "raid done R-1")

    # The legal authority is never forced past.
    before = await snapshot(app.store)
    assert await refused(app, 'raid go R-1 --force --reason "they are moving tonight"') == (
        "R-1 cannot go: item 1 (Warrant / legal authority checked: right form, signed, in date) "
        "is the legal authority, which --force never overrides; tick it with `check R-1 1` "
        "once it is checked."
    )
    assert changed_tables(before, await snapshot(app.store)).keys() <= {"auditentry", "auditchain"}
    await ok(app, f"check R-1 {WARRANT}")  # the lead holds every duty's pen

    # A tick is taken back by its author; another's only by a lead, with a reason.
    assert await refused(app, f"uncheck R-1 {WARRANT}", who="mia") == (
        f"Item {WARRANT} of R-1 was ticked by admin; only a lead takes back another member's tick."
    )
    assert await refused(app, f"uncheck R-1 {THREAT}") == (
        f'Item {THREAT} of R-1 was ticked by mia; say why you take it back with --reason "…".'
    )
    await ok(app, f'uncheck R-1 {THREAT} --reason "scored against the old site plan"')
    assert (await _reasons(app, "uncheck"))[-1] == (
        "unticked (ticked by mia): scored against the old site plan"
    )
    await ok(app, f"check R-1 {THREAT}", who="mia")
    await ok(app, f"uncheck R-1 {THREAT}", who="mia")  # one's own tick: no reason needed
    await ok(app, f"check R-1 {THREAT}", who="mia")

    # With the rest ticked by the lead, the go; then on-site items open to their holders.
    for n in BEFORE_MANDATORY:
        if n not in (WARRANT, THREAT, INTERPRETERS):
            await ok(app, f"check R-1 {n}")
    await ok(app, "raid go R-1")
    await ok(app, f"check R-1 {SEPARATED}", who="mia")
    assert "for after the raid" in await refused(app, f"check R-1 {DEBRIEF}")
    clock.set(RAID_AT)  # a raid is done once it has started
    await ok(app, "raid done R-1")
    await ok(app, f"check R-1 {DEBRIEF}")
    items = {i.position: i for i in await fetch(app, RaidItem)}
    assert items[SEPARATED].done_at is not None and items[DEBRIEF].done_at is not None
    duties = {d.duty for d in await fetch(app, RaidDuty)}
    assert duties == {"site-commander", "victim-liaison"}
    assert "raid assign" in {e for e in await _commands(app)}


async def _commands(app: App) -> set[str]:
    async with app.store.transaction() as session:
        return set((await session.exec(select(AuditEntry.command))).all())


async def test_a_partner_holds_the_partner_duty(app: App) -> None:
    await operation(app)
    await ok(app, PLAN)
    await ok(app, "raid assign R-1 partner pat")
    assert await refused(app, "raid assign R-1 partner mia") == (
        f"mia is a member in {OP}; the partner duty is for a partner (NGO / victim support)."
    )
    await ok(app, "check R-1 13", who="pat")


async def test_informing_other_countries_is_mandatory_when_the_operation_spans_them(
    any_app: App, clock: ManualClock
) -> None:
    app = any_app
    await operation(app, people=False)
    await ok(app, PLAN)  # one country (nobody's agency differs)
    for code, country, who in (("ES-PN", "ES", "esme"), ("PT-PJ", "PT", "paulo")):
        await add_agency(app.store, clock.now, code=code, name=code, country=country)
        await add_member(app.store, clock.now, name=who, identities=[f"console:{who}"], agency=code)
        await join(app, OP, who, "member")
    await ok(app, PLAN.replace("Warehouse", "Second"))  # Spain and Portugal
    by_raid = {
        (i.raid_id, i.position): i for i in await fetch(app, RaidItem) if i.position == CROSS_BORDER
    }
    [(one, _), (two, _)] = sorted(by_raid)
    assert by_raid[(one, CROSS_BORDER)].mandatory is False
    assert by_raid[(two, CROSS_BORDER)].mandatory is True
    said = await refused(app, 'raid go R-2 --force --reason "x"')
    assert "legal authority" in said  # legal first; the cross-border item is mandatory too
    await ok(app, "check R-2 1")
    forced = text(await ok(app, 'raid go R-2 --force --reason "tonight"'))
    assert "FORCED with 17 mandatory item(s) open" in forced


async def test_an_operation_declared_across_countries_makes_the_item_mandatory(app: App) -> None:
    await ok(app, 'op new "Delta" --code OP-DELTA --countries ES,PT --tlp amber')
    await ok(app, 'raid plan OP-DELTA "Dock" --at "2026-11-29 12:00"')
    [item] = [i for i in await fetch(app, RaidItem) if i.position == CROSS_BORDER]
    assert item.mandatory is True and item.rule == "cross-border"

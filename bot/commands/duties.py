"""Raid duties held by named members (`raid assign`), and who may tick or untick an item.

A raid's checklist items fall to duties (operation lead, site commander, evidence officer,
victim liaison, partner). A lead names the member who holds each duty for one raid; only
the holder or a lead ticks that duty's items. An unassigned duty's items are ticked by a
lead (partner items also by any partner, as before). On-site items open when the raid has
the go, after-items when it is done. A tick is taken back by whoever made it; another's
tick only by a lead, with a reason (the audit entry keeps both names).
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import N_, _
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, Denied, UsageError
from bot.commands.operations import find_member_in_op, member_ref
from bot.commands.registry import Arg, OpMode, command
from bot.contracts import Reply, Visibility
from bot.core import raidview
from bot.core.access import Perm, Role
from bot.core.checklists import ITEM_ROLES, role_title
from bot.core.raid_duties import holders
from bot.core.vocabulary import term
from bot.store.audit import Action
from bot.store.models import Agency, Member, Membership, Operation, Raid, RaidDuty, RaidItem

# Which raid status opens the items of each phase.
PHASE_OPENS = {"on-site": ("go", "done"), "after": ("done",)}


async def spans_countries(session: AsyncSession, op: Operation) -> bool:
    """Whether the operation spans countries: by its declared countries (`op new
    --countries ES,PT`) or by its members' agencies."""
    declared = {c.strip().upper() for c in (op.countries or "").split(",") if c.strip()}
    if len(declared) > 1:
        return True
    countries = (
        await session.exec(
            select(Agency.country)
            .join(Member, col(Member.agency_id) == col(Agency.id))
            .join(Membership, col(Membership.member_id) == col(Member.id))
            .where(Membership.operation_id == op.id)
            .distinct()
        )
    ).all()
    return len(declared | {c.upper() for c in countries if c}) > 1


# A raid's states once it has had the go: its before items were due already.
AFTER_THE_GO = ("go", "done")


def late_mark(raid: Raid, item: RaidItem) -> str | None:
    """How late a tick made now is: `after-go` for a before item once the raid had the go,
    `after-done` for an on-site item once it is done; None when in time."""
    if item.phase == "before" and raid.status in AFTER_THE_GO:
        return "after-go"
    if item.phase == "on-site" and raid.status == "done":
        return "after-done"
    return None


def tick_refusal(
    role: Role | None, me: int | None, raid: Raid, item: RaidItem, held: dict[str, Member]
) -> CommandError | None:
    """Why this member may not tick `item` now (None: they may). One rule for `check` and
    for the tick buttons the situation room shows: the item's phase must have opened, and
    a duty's item falls to its holder (or a lead); partners tick unheld partner items."""
    ref = raidview.raid_ref(raid)
    opens = PHASE_OPENS.get(item.phase)
    if opens is not None and raid.status not in opens:
        sentence = (
            _("Item {n} of {ref} is an on-site item; it opens when the raid has the go.")
            if item.phase == "on-site"
            else _("Item {n} of {ref} is for after the raid; it opens when the raid is done.")
        )
        return CommandError(sentence.format(n=item.position, ref=ref))
    if item.phase == "before" and raid.status in AFTER_THE_GO and role is not Role.LEAD:
        return Denied(
            _(
                "Item {n} of {ref} was due before the raid, which has had the go; only a lead "
                'ticks it now, with --reason "…", and it is marked as ticked after the go.'
            ).format(n=item.position, ref=ref)
        )
    if item.role is None or role is Role.LEAD:
        return None
    holder = held.get(item.role)
    if holder is not None:
        if holder.id == me:
            return None
        return Denied(
            _(
                "Item {n} of {ref} falls to the {duty}, held by {name}; only they or a lead "
                "tick it."
            ).format(n=item.position, ref=ref, duty=role_title(item.role), name=holder.name)
        )
    if item.role == "partner" and role is Role.PARTNER:
        return None
    return Denied(
        _(
            "Item {n} of {ref} falls to the {duty}, a duty nobody holds yet; a lead names the "
            "holder with `raid assign {ref} {duty_word} M-n`."
        ).format(n=item.position, ref=ref, duty=role_title(item.role), duty_word=item.role)
    )


async def require_open_and_held(ctx: CommandContext, raid: Raid, item: RaidItem) -> None:
    """Refuse a tick of an item whose phase has not opened, or whose duty is another's."""
    refusal = tick_refusal(ctx.role, ctx.member().id, raid, item, await holders(ctx.session, raid))
    if refusal is not None:
        raise refusal


async def require_untick(ctx: CommandContext, item: RaidItem, ref: str) -> str:
    """Who may take a tick back: its author, or a lead with a reason. Returns the audit note."""
    if item.done_by is None or item.done_by == ctx.member().id:
        return ""
    ticker = await ctx.session.get(Member, item.done_by)
    name = ticker.name if ticker else _("unknown")
    if ctx.role is not Role.LEAD:
        raise Denied(
            _(
                "Item {n} of {ref} was ticked by {name}; only a lead takes back another "
                "member's tick."
            ).format(n=item.position, ref=ref, name=name)
        )
    reason = str(ctx.args.get("reason") or "").strip()
    if not reason:
        raise UsageError(
            _(
                "Item {n} of {ref} was ticked by {name}; say why you take it back with "
                '--reason "…".'
            ).format(n=item.position, ref=ref, name=name)
        )
    return f" (ticked by {name}): {reason[:900]}"


async def duty_lines(session: AsyncSession, raid: Raid) -> list[str]:
    """`Duties: site commander mia (M-2); victim liaison —`, for `raid show`."""
    held = await holders(session, raid)
    parts = [
        f"{role_title(d)} {held[d].name} ({member_ref(held[d])})"
        if d in held
        else f"{role_title(d)} —"
        for d in ITEM_ROLES
    ]
    return [_("Duties: {duties}").format(duties="; ".join(parts))]


async def tickable(ctx: CommandContext, raid: Raid) -> frozenset[str | None] | None:
    """The duties whose items the actor may tick (None: every item)."""
    if ctx.role is Role.LEAD:
        return None
    if not ctx.allowed(Perm.TICK_ITEM):
        return frozenset()
    held = await holders(ctx.session, raid)
    mine: set[str | None] = {d for d, m in held.items() if m.id == ctx.member().id}
    if ctx.role is Role.PARTNER:
        if "partner" not in held:
            mine.add("partner")
        return frozenset(mine)
    return frozenset({*mine, None})


@command(
    "raid assign",
    "raid assign <R-n> <duty> <M-n|name>",
    N_("Name the member who holds a raid duty (lead); only they or a lead tick its items."),
    args=(Arg("raid", ref=True), Arg("duty"), Arg("member")),
    op=OpMode.REQUIRED,
    perm=Perm.ASSIGN_DUTY,
    writes=True,
    action=Action.ALTER,
    visibility=Visibility.CHANNEL,
    details=N_(
        "Duties: operation-lead, site-commander, evidence-officer, victim-liaison, partner. "
        "Assigning a duty again hands it to the new holder."
    ),
)
async def raid_assign(ctx: CommandContext) -> Reply:
    """Give a duty of one raid to a named member of the operation."""
    from bot.commands.raids import find_raid  # raids imports this module

    op = ctx.operation()
    raid = await find_raid(ctx, ctx.args["raid"])
    ref = raidview.raid_ref(raid)
    duty = str(ctx.args["duty"]).strip().lower().replace("_", "-")
    if duty not in ITEM_ROLES:
        raise UsageError(
            _("'{duty}' is not a raid duty; use one of {duties}.").format(
                duty=ctx.args["duty"], duties=", ".join(ITEM_ROLES)
            )
        )
    if raid.status not in raidview.ACTIVE_STATUSES:
        raise CommandError(
            _("{ref} is {status}; its duties are closed.").format(ref=ref, status=raid.status)
        )
    member, membership = await find_member_in_op(ctx, str(ctx.args["member"]))
    if membership.role == Role.OBSERVER.value:
        raise CommandError(
            _("{name} is an observer in {op}; observers hold no raid duty.").format(
                name=member.name, op=op.code
            )
        )
    if (membership.role == Role.PARTNER.value) != (duty == "partner"):
        sentence = (
            _(
                "{name} is a {role} in {op}; the partner duty is for a partner "
                "(NGO / victim support)."
            )
            if duty == "partner"
            else _("{name} is a partner in {op}; the {duty} duty is an officer's.")
        )
        raise CommandError(
            sentence.format(
                name=member.name, role=term(membership.role), op=op.code, duty=role_title(duty)
            )
        )
    row = (
        await ctx.session.exec(
            select(RaidDuty).where(RaidDuty.raid_id == raid.id, RaidDuty.duty == duty)
        )
    ).first()
    was = await ctx.session.get(Member, row.member_id) if row is not None else None
    if row is None:
        row = RaidDuty(
            raid_id=raid.id or 0, duty=duty, member_id=member.id or 0, assigned_at=ctx.now
        )
    row.member_id, row.assigned_by, row.assigned_at = member.id or 0, ctx.member().id, ctx.now
    ctx.session.add(row)
    ctx.audit(
        Action.ALTER,
        object_ref=f"{op.code}/{ref}",
        reason=f"{duty}: {member_ref(member)}" + (f" (was {member_ref(was)})" if was else ""),
    )
    return Reply(
        Message(
            lines=[
                _("{name} ({mref}) holds the {duty} duty of {ref}.").format(
                    name=member.name, mref=member_ref(member), duty=role_title(duty), ref=ref
                )
            ],
            tlp=raidview.time_label(op, raid).value,
        ),
        Visibility.CHANNEL,
    )

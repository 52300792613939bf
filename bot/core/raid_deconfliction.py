"""Raid deconfliction across operations (issue 27): two raids on one door.

A raid planned at an address (its `--location`, read as an address: `bot.core.entities`)
is checked against the raids other operations plan or run within 24 hours of it at the
same address — one read of the raids' time index, the addresses compared after. Raids
carry no coordinates, so "the same place" is the same address, not a distance. The leads
of both operations are told privately, each of their own raid only (the disclosure rule,
clause 10), and `raid go` then needs the deconfliction item ticked: `--force` never skips
it while the clash stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import CHANNEL_LANGUAGE, _, use_language
from bot.base.messages import Message
from bot.core import protection
from bot.core.access import TLP
from bot.core.deconfliction import SYSTEM_ACTOR, Told, notice_readers
from bot.core.entities import EntityError, address
from bot.store import audit
from bot.store.models import Operation, Raid, RaidItem

WINDOW = timedelta(hours=24)
LIVE = ("planned", "go")
ITEM_PREFIX = "Deconfliction"  # the built-in checklist's item (`trafficking-raid`)


def _key(location: str | None) -> str | None:
    if not location:
        return None
    try:
        return address(location).key
    except EntityError:
        return None


async def clashes(session: AsyncSession, op: Operation, raid: Raid) -> list[tuple[Raid, Operation]]:
    """Live raids of other open operations at the same address within 24 hours of `raid`."""
    key = _key(raid.location)
    if key is None:
        return []
    rows = (
        await session.exec(
            select(Raid, Operation)
            .join(Operation, col(Operation.id) == col(Raid.operation_id))
            .where(
                col(Raid.at) >= raid.at - WINDOW,
                col(Raid.at) <= raid.at + WINDOW,
                col(Raid.operation_id) != op.id,
                col(Raid.status).in_(LIVE),
                Operation.status != "closed",
            )
        )
    ).all()
    return [(r, o) for r, o in rows if _key(r.location) == key]


def _notice(op: Operation, raid: Raid) -> Message:
    with use_language(CHANNEL_LANGUAGE):  # posted to the leads (README "Languages")
        return Message(
            title=_("Raid deconfliction: {code}/R-{seq}").format(code=op.code, seq=raid.seq),
            lines=[
                _(
                    "{code}'s R-{seq} is at the same address as a raid another operation plans "
                    "within 24 hours; its lead has been told. Agree before acting, and tick the "
                    "deconfliction item: `raid go` needs it."
                ).format(code=op.code, seq=raid.seq),
                _("Contact goes through a Taskforce admin: quote {ref}.").format(
                    ref=f"{op.code}/R-{raid.seq}"
                ),
            ],
            context=_("{code} · deconfliction · for the leads").format(code=op.code),
            tlp=TLP.RED.value,
        )


async def tell(
    session: AsyncSession,
    *,
    now: datetime,
    op: Operation,
    raid: Raid,
    found: Sequence[tuple[Raid, Operation]],
    actor_id: int | None,
    actor_label: str,
    command: str,
) -> Told:
    """Tell the leads of both sides of each clash, privately; the audit entries."""
    told = Told()
    for other, other_op in found:
        for side, side_raid in ((op, raid), (other_op, other)):
            readers = [
                m.id for m, _a in await notice_readers(session, side, now) if m.id is not None
            ]
            sent = await protection.deliver_private(
                session,
                now=now,
                op=side,
                member_ids=readers,
                message=_notice(side, side_raid),
                kind="deconfliction",
                object_ref=f"R-{side_raid.seq}",
                tlp=TLP.RED,
            )
            told.posts += len(sent.reached)
            mine = side.id == op.id
            told.entries.append(
                audit.Entry(
                    at=now,
                    actor=actor_label if mine else SYSTEM_ACTOR,
                    actor_id=actor_id if mine else None,
                    action=audit.Action.COMBINE,
                    command=command if mine else "deconfliction",
                    operation_id=side.id,
                    object_ref=f"{side.code}/R-{side_raid.seq}",
                    reason="raid deconfliction: same address within 24 h as another "
                    "operation's raid; leads told",
                )
            )
    return told


def deconfliction_item(items: Sequence[RaidItem]) -> RaidItem | None:
    """The checklist's deconfliction item (before the raid), if it has one."""
    return next((i for i in items if i.phase == "before" and i.text.startswith(ITEM_PREFIX)), None)

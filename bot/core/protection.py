"""Victim safety and need-to-know: rules of the core that no command or post can skip.

- **Protected persons.** A person recorded as victim or witness, or a child (under 18, or
  a person of uncertain age with a recorded reason to believe they are under 18: presumed a
  child, Directive 2011/36/EU Art. 13(2)),
  is TLP:RED-equivalent for names and places: a message that shows them carries TLP:RED
  (`disclosure_label`), so fan-out never posts it to any channel and a reply that shows it
  in a group is sent privately. Channels get a neutral line instead; the reporter and the
  leads get the record privately. A lead can lift protection for one subject, with a reason.
- **Need-to-know readers.** Partners and observers read a protected subject only where a
  lead granted it to them by name; a TLP:RED item is read only by its named recipients and
  its author. The rule is `bot.core.disclosure` (its `Reader` is re-exported here).
- **Private delivery.** Posts to one member (`deliver_private`) go to their one-to-one chat
  with the bot through the outbox, like every other post.
- **Break-glass.** An admin who is not a member reads an operation only through an
  explicit, time-limited, audited `op access` (`active_breakglass`).
- **Denied attempts** are audit entries (`record_denied`), visible to the leads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import CHANNEL_LANGUAGE, N_, _, use_language
from bot.base.messages import Button, Message
from bot.base.platforms import platform as platform_line
from bot.base.platforms import platform_names
from bot.core.access import TLP, Role
from bot.core.disclosure import ADULT_AGE as ADULT_AGE
from bot.core.disclosure import PROTECTED_CATEGORIES as PROTECTED_CATEGORIES
from bot.core.disclosure import Reader as Reader
from bot.core.disclosure import is_child as is_child
from bot.core.disclosure import is_protected as is_protected
from bot.core.disclosure import load_reader as load_reader
from bot.store import audit
from bot.store.audit import Action
from bot.store.models import (
    BreakGlass,
    Identity,
    Member,
    Membership,
    Notice,
    Operation,
    Recipient,
    Sighting,
    Subject,
)
from bot.store.outbox import enqueue

# Console "direct chats" are channels named after the person: `@alice`.
CONSOLE_DM_PREFIX = "@"


# ------------------------------------------------------------------ who is protected
# The rule itself lives in `bot.core.disclosure`; these names are its, re-exported.


def protection_words(subject: Subject, now: datetime) -> str | None:
    """How a subject's protection is shown: `CHILD, protected`, `protected`, or None."""
    child = is_child(subject, now)
    if subject.protection_lifted_at is not None:
        return _("CHILD, protection lifted") if child else _("protection lifted")
    if not is_protected(subject, now):
        return None
    return _("CHILD, protected") if child else _("protected")


def disclosure_label(label: TLP, *subjects: Subject | None, now: datetime) -> TLP:
    """The label a message showing `subjects` carries: TLP:RED if any is protected."""
    return TLP.RED if any(is_protected(s, now) for s in subjects) else label


# -------------------------------------------------------------------- neutral lines


def neutral_sighting(
    op: Operation, sighting: Sighting, notice: Notice | None, *, place: bool = False
) -> Message:
    """What a group channel gets for a sighting of a protected person (or at a protected
    place, `place`): no name, no place."""
    ref = f"{op.code}/SG-{sighting.seq}"
    with use_language(CHANNEL_LANGUAGE):  # posted to the channels (README "Languages")
        return Message(
            title=_("A sighting at a protected place")
            if place
            else _("A protected person was sighted"),
            lines=[_("See `{command}` in private.").format(command=f"sighting show {ref}")]
            + (
                [_("It matches an active notice; the leads have been told privately.")]
                if notice
                else []
            ),
            context=_("{ref} · protected person · details withheld from channels").format(ref=ref),
            buttons=[
                Button(_("Sighting {ref}").format(ref=f"SG-{sighting.seq}"), f"sighting show {ref}")
            ],
            mark="MATCH" if notice else None,
        )


def neutral_notice(op: Operation, notice: Notice, what: str) -> Message:
    """What a group channel gets for a notice about a protected person (`what`: recorded,
    cancelled, renewed)."""
    ref = f"{op.code}/N-{notice.seq}"
    titles = {
        "recorded": N_("A notice about a protected person was recorded"),
        "cancelled": N_("A notice about a protected person was cancelled"),
        "renewed": N_("A notice about a protected person was renewed"),
    }
    with use_language(CHANNEL_LANGUAGE):  # posted to the channels (README "Languages")
        return Message(
            title=_(titles[what])
            if what in titles
            else _("A notice about a protected person was {what}").format(what=what),
            lines=[_("See `{command}` in private.").format(command=f"notice show {ref}")],
            context=_("{ref} · protected person · details withheld from channels").format(ref=ref),
            buttons=[Button(_("Notice {ref}").format(ref=f"N-{notice.seq}"), f"notice show {ref}")],
        )


# ----------------------------------------------------------------- need to know


async def add_recipients(
    session: AsyncSession, op: Operation, kind: str, item_id: int, member_ids: Iterable[int]
) -> None:
    """Record the named recipients of a TLP:RED item."""
    for member_id in sorted(set(member_ids)):
        session.add(
            Recipient(operation_id=op.id or 0, kind=kind, item_id=item_id, member_id=member_id)
        )


async def recipients_of(session: AsyncSession, kind: str, item_id: int | None) -> set[int]:
    """The named recipients of one TLP:RED item."""
    return set(
        (
            await session.exec(
                select(Recipient.member_id).where(
                    Recipient.kind == kind, Recipient.item_id == item_id
                )
            )
        ).all()
    )


async def lead_ids(session: AsyncSession, op: Operation) -> list[int]:
    """The operation's leads."""
    return list(
        (
            await session.exec(
                select(Membership.member_id)
                .where(Membership.operation_id == op.id, Membership.role == Role.LEAD.value)
                .order_by(col(Membership.member_id))
            )
        ).all()
    )


# ------------------------------------------------------------------ private delivery


def dm_channel(identity: Identity) -> str | None:
    """The one-to-one chat with the bot for one identity, or None if the bot cannot write.

    Slack: the user id (`chat.postMessage` to a user id lands in the bot's DM with them).
    Telegram: the user id, once the member has started a private chat with the bot.
    Console: `@name`.
    """
    if identity.platform == "console":
        return f"{CONSOLE_DM_PREFIX}{identity.key}"
    line = platform_line(identity.platform)  # the platform table says where
    return line.private_chat(identity.key, identity.can_dm) if line is not None else None


@dataclass
class PrivateResult:
    """Who a private post reached, and who could not be reached privately."""

    reached: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)

    def summary(self, what: str) -> str | None:
        """`Sent privately to Ana, Bo.` plus who could not be reached; None if nobody."""
        out = []
        if self.reached:
            out.append(
                _("{what} sent privately to {names}.").format(
                    what=what, names=", ".join(self.reached)
                )
            )
        if self.unreachable:
            out.append(
                _(
                    "Could not reach {names} privately (no private chat with the bot yet: on "
                    "Telegram, press Start in a private chat with it)."
                ).format(names=", ".join(self.unreachable))
            )
        return " ".join(out) or None


async def deliver_private(
    session: AsyncSession,
    *,
    now: datetime,
    op: Operation,
    member_ids: Iterable[int],
    message: Message,
    kind: str,
    object_ref: str,
    tlp: TLP,
) -> PrivateResult:
    """Queue `message` to each member's private chat with the bot (one platform each)."""
    result = PrivateResult()
    wanted = sorted(set(member_ids))
    if not wanted:
        return result
    members = {
        m.id: m
        for m in (await session.exec(select(Member).where(col(Member.id).in_(wanted)))).all()
    }
    idents = (
        await session.exec(
            select(Identity).where(col(Identity.member_id).in_(wanted)).order_by(col(Identity.id))
        )
    ).all()
    order = {name: i for i, name in enumerate(platform_names())}
    for member_id in wanted:
        member = members.get(member_id)
        if member is None:
            continue
        own = sorted(
            (i for i in idents if i.member_id == member_id),
            key=lambda i: order.get(i.platform, 9),
        )
        target = next(((i.platform, c) for i in own if (c := dm_channel(i)) is not None), None)
        if target is None:
            result.unreachable.append(member.name)
            continue
        enqueue(
            session,
            now=now,
            platform=target[0],
            channel_key=target[1],
            message=Message.from_json(message.to_json()),
            operation_id=op.id,
            tlp=tlp.value,
            kind=kind,
            object_ref=f"{op.code}/{object_ref}",
        )
        result.reached.append(member.name)
    return result


# ---------------------------------------------------------------------- break-glass


async def active_breakglass(
    session: AsyncSession, member_id: int | None, op_id: int | None, now: datetime
) -> BreakGlass | None:
    """The admin's break-glass access to the operation that is still running, if any."""
    if member_id is None or op_id is None:
        return None
    return (
        await session.exec(
            select(BreakGlass)
            .where(
                BreakGlass.member_id == member_id,
                BreakGlass.operation_id == op_id,
                col(BreakGlass.expires_at) > now,
            )
            .order_by(col(BreakGlass.expires_at).desc())
        )
    ).first()


# ------------------------------------------------------------------- denied access

DENIED = "denied"


async def record_denied(
    session: AsyncSession,
    *,
    now: datetime,
    actor: str,
    actor_id: int | None,
    operation_id: int | None,
    command: str,
    channel: str,
    sentence: str,
) -> None:
    """Append a `denied` audit entry for a refused access (in the caller's transaction,
    which must hold the audit chain's lock). The prober's answer is not changed."""
    await audit.append(
        session,
        at=now,
        actor=actor,
        actor_id=actor_id,
        action=Action.CONSULT,
        command=command,
        operation_id=operation_id,
        channel=channel,
        reason=sentence,
        outcome=DENIED,
    )

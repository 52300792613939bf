"""Raids as people read them: checklist progress, open items, reminder times and posts.

Platform-free and shared by the raid commands, the scheduler's reminders and briefings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.base.i18n import CHANNEL_LANGUAGE, LANGUAGES, N_, _, ngettext, translations, use_language
from bot.base.localtime import format_time
from bot.base.messages import Button, Message
from bot.core.access import TLP
from bot.core.checklists import PHASES, item_text, phase_title, role_title
from bot.core.disclosure import Level, RaidPart, Reader, owner_if_strict
from bot.core.fanout import FanoutResult, fanout
from bot.core.vocabulary import term
from bot.store.models import Member, Operation, Raid, RaidItem

# Reminders before a raid: (offset before the raid time, how it is written).
REMINDERS: tuple[tuple[timedelta, str], ...] = (
    (timedelta(hours=24), "T−24 h"),
    (timedelta(hours=2), "T−2 h"),
    (timedelta(minutes=30), "T−30 min"),
)
REMINDER_LABELS = {int(off.total_seconds() // 60): label for off, label in REMINDERS}
ACTIVE_STATUSES = ("planned", "go")  # raids that still get reminders
MAX_BUTTONS = 24
MAX_LISTED = 8


#: How `raid go --force` records its reason (one form, in the store, for every reader).
_FORCED = re.compile(r"^forced with items (?P<numbers>[0-9, ]+) open: (?P<reason>.*)$", re.DOTALL)


def reason_text(stored: str) -> str:
    """A raid's recorded reason in the reader's language: the forced go's own words are
    translated, the lead's reason is shown as typed."""
    m = _FORCED.match(stored)
    if m is None:
        return stored
    return _("forced with items {numbers} open: {reason}").format(
        numbers=m.group("numbers"), reason=m.group("reason")
    )


def raid_ref(raid: Raid) -> str:
    """`R-3`."""
    return f"R-{raid.seq}"


async def load_items(session: AsyncSession, raid_id: int | None) -> list[RaidItem]:
    """The checklist items of one raid in order."""
    return list(
        (
            await session.exec(
                select(RaidItem).where(RaidItem.raid_id == raid_id).order_by(col(RaidItem.position))
            )
        ).all()
    )


def open_mandatory(items: Sequence[RaidItem], phase: str | None = "before") -> list[RaidItem]:
    """Mandatory items not yet ticked (of `phase`, or of every phase when None)."""
    return [i for i in items if i.mandatory and i.done_at is None and phase in (None, i.phase)]


def progress(items: Sequence[RaidItem]) -> str:
    """`5/22 done, 3 mandatory open before the raid`."""
    done = sum(1 for i in items if i.done_at is not None)
    before = len(open_mandatory(items))
    text = _("{done}/{total} done").format(done=done, total=len(items))
    if before:
        text += _(", {n} mandatory open before the raid").format(n=before)
    return text


LATE_MARKS = {"after-go": N_("after the go"), "after-done": N_("after the raid was done")}


def late_text(late: str | None) -> str:
    """` — after the go` for an item ticked late, else nothing."""
    return f" — {_(LATE_MARKS[late])}" if late in LATE_MARKS else ""


def item_line(item: RaidItem) -> str:
    """`3. Drive-by done and site plan drawn — site commander`."""
    optional = "" if item.mandatory else " " + _("(optional)")
    return f"{item.position}. {item_text(item.text)} — {role_title(item.role)}{optional}"


def listed(items: Sequence[RaidItem], limit: int = MAX_LISTED) -> list[str]:
    """Item lines, at most `limit`, then `… and N more` (stays readable on a phone)."""
    lines = [f"  {item_line(i)}" for i in items[:limit]]
    if len(items) > limit:
        lines.append(
            "  " + _("… and {n} more (`raid show` lists them all)").format(n=len(items) - limit)
        )
    return lines


def reminder_times(at: datetime, since: datetime) -> list[tuple[datetime, str]]:
    """The reminders of a raid at `at` still ahead of `since`: (fire time, label)."""
    return [(at - off, label) for off, label in REMINDERS if at - off > since]


def time_label(op: Operation, raid: Raid) -> TLP:
    """The label of a raid's code name and time: the operation's, never above the raid's."""
    return min(TLP(op.tlp), TLP(raid.tlp), key=lambda t: t.rank)


LOCATION = N_("Location")  # the field that holds the target's address


def _location_labels() -> frozenset[str]:
    """The address field's label in every language: a card built in the reader's language
    loses its address on the way to a channel just as an English one does."""
    return frozenset({LOCATION} | {translations(c).gettext(LOCATION) for c in LANGUAGES})


def shows_target(message: Message) -> bool:
    """Whether a raid message shows the target details (the address)."""
    labels = _location_labels()
    return any(k in labels for k, _v in message.fields)


def label_of(op: Operation, raid: Raid, *, with_target: bool) -> TLP:
    """The label of a raid message: the raid's own where it shows the address, else the
    label of its code name and time (`time_label`)."""
    return TLP(raid.tlp) if with_target and raid.location else time_label(op, raid)


def without_target(message: Message) -> Message:
    """The channel form of a raid post: code name and time, no address (target details)."""
    copy = Message.from_json(message.to_json())
    labels = _location_labels()
    copy.fields = [(k, v) for k, v in copy.fields if k not in labels]
    copy.tlp = None  # labelled by whoever posts it (`time_label`)
    return copy


async def post_raid(
    session: AsyncSession,
    *,
    now: datetime,
    op: Operation,
    raid: Raid,
    message: Message,
    kind: str,
) -> FanoutResult:
    """Post a raid message: with its address only where the raid's label allows; elsewhere
    the code name and time only (`without_target`), at the operation's label."""
    with_target = shows_target(message)
    message.tlp = label_of(op, raid, with_target=with_target).value
    return await fanout(
        session,
        now=now,
        op=op,
        message=message,
        tlp=message.tlp,
        kind=kind,
        object_ref=raid_ref(raid),
        fallback=(without_target(message), time_label(op, raid)) if with_target else None,
        owner=await owner_if_strict(session, message.tlp, raid.created_by),
    )


def when(raid: Raid, tz: str | None = None) -> str:
    """The raid time in `tz` (default: the raid's own zone) with UTC beside it."""
    return format_time(raid.at, tz or raid.timezone)


async def card(
    session: AsyncSession,
    op: Operation,
    raid: Raid,
    items: Sequence[RaidItem],
    *,
    reader_tz: str,
    can_tick: frozenset[str | None] | None = None,
    reader: Reader | None = None,
) -> Message:
    """`raid show`: the raid, its checklist by phase (who ticked, when) and tick buttons.

    `can_tick` limits the buttons to items of these roles (partners); None: every open item.
    `reader` (None: in full) is asked for each part (`bot.core.disclosure.RaidPart`): the
    address, the reason and the notes only where it reads them, the items it may see.
    """
    address = reason = Level.FULL
    if reader is not None:
        address = reader.raid(op, raid, RaidPart.ADDRESS)
        reason = reader.raid(op, raid, RaidPart.TACTICAL)
        held = frozenset(r for r in (can_tick or ()) if r is not None)
        levels = {i.position: reader.raid_item(op, raid, i, set(held)) for i in items}
        items = [i for i in items if levels[i.position] is not Level.NONE]
    ticker_ids = {i.done_by for i in items if i.done_by is not None}
    names: dict[int, str] = {}
    if ticker_ids:
        rows = (await session.exec(select(Member).where(col(Member.id).in_(ticker_ids)))).all()
        names = {m.id or 0: m.name for m in rows}
    fields = [(_("When"), when(raid, reader_tz)), (_("Status"), term(raid.status))]
    if raid.timezone != reader_tz:
        fields.append((_("Local time on site"), when(raid)))
    if raid.location and address is Level.FULL:
        fields.append((_(LOCATION), raid.location))
    fields.append((_("Checklist"), progress(items)))
    tactical = bool(raid.reason and reason is Level.FULL)  # notes carry the raid's label
    if tactical:
        fields.append((_("Reason"), reason_text(raid.reason or "")))
    lines: list[str] = []
    for phase in PHASES:
        of_phase = [i for i in items if i.phase == phase]
        if not of_phase:
            continue
        lines.append(f"{phase_title(phase)}:")
        for i in of_phase:
            if i.done_at is not None:
                who = names.get(i.done_by or 0) or _("someone")
                noted = reader is None or levels[i.position] is Level.FULL
                note = f" — {i.note}" if i.note and noted else ""
                tactical = tactical or bool(note)
                ticked = format_time(i.done_at, reader_tz)
                lines.append(
                    "  ✓ "
                    + _("{item} (by {who}, {time})").format(item=item_line(i), who=who, time=ticked)
                    + late_text(i.late)
                    + note
                )
            else:
                lines.append(f"  ☐ {item_line(i)}")
    buttons = []
    if raid.status not in ("aborted",):
        buttons = [
            Button(
                label=f"✓ {i.position}", command=f"check {op.code}/{raid_ref(raid)} {i.position}"
            )
            for i in items
            if i.done_at is None and (can_tick is None or i.role in can_tick)
        ][:MAX_BUTTONS]
    return Message(
        title=f"{raid_ref(raid)} {raid.title}",
        fields=fields,
        lines=lines,
        context=_("{ref} · template {name}").format(
            ref=f"{op.code}/{raid_ref(raid)}", name=raid.template_name or "—"
        ),
        buttons=buttons,
        tlp=(
            TLP(raid.tlp) if tactical else label_of(op, raid, with_target=address is Level.FULL)
        ).value,
    )


def reminder(
    op: Operation, raid: Raid, items: Sequence[RaidItem], label: str, *, late: bool
) -> Message:
    """A reminder post: the raid, its time, and the open mandatory items before it."""
    with use_language(CHANNEL_LANGUAGE):  # a post to the channels (README "Languages")
        return _reminder(op, raid, items, label, late=late)


def _reminder(
    op: Operation, raid: Raid, items: Sequence[RaidItem], label: str, *, late: bool
) -> Message:
    still_open = open_mandatory(items)
    # English keeps its "item(s)"; each language writes its own plural forms.
    heading = ngettext(
        "{n} mandatory item(s) still open:", "{n} mandatory item(s) still open:", len(still_open)
    )
    lines = [heading.format(n=len(still_open)), *listed(still_open)]
    if not still_open:
        lines = [_("Every mandatory item before the raid is ticked.")]
    if late:
        lines.insert(0, _("Sent late: the bot was down when this reminder was due."))
    fields = [
        (_("When"), when(raid)),
        (_("Status"), term(raid.status)),
        (_("Checklist"), progress(items)),
    ]
    if raid.location:
        fields.insert(1, (_(LOCATION), raid.location))
    ref = raid_ref(raid)
    return Message(
        title=f"{label}: {ref} {raid.title}",
        fields=fields,
        lines=lines,
        context=_("{ref} · `raid show {raid}` to tick items").format(
            ref=f"{op.code}/{ref}", raid=ref
        ),
        mark="LATE" if late else None,
        tlp=label_of(op, raid, with_target=True).value,
    )

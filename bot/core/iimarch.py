"""What issue 15 adds to the IIMARCH briefing (`bot.core.briefing`): the operation's Intent,
the raids' risk assessments and open risk items, and their radio channels and call signs.

The risk score and the radio details are what the responsible duty wrote when ticking the
item (`check R-1 4 --note "high: armed guard reported"`, `check R-1 8 --note "ch 4, call
signs Alpha/Bravo"`). They are the raid's tactical part (`bot.core.disclosure.RaidPart`):
a reader or channel that may not read it is told only that they are set, never what.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.base.i18n import _, ngettext
from bot.core.access import TLP
from bot.core.raidview import open_mandatory, raid_ref
from bot.store.models import Operation, Raid, RaidItem

RISK_ITEM = "threat and risk assessment"
RADIO_ITEM = "radio channel and call signs"
# Items whose being open is itself a risk of the raid.
RISK_WORDS = ("risk", "legal authority", "deconfliction", "contingency", "hospital")


def _item(items: Sequence[RaidItem], words: str) -> RaidItem | None:
    return next((i for i in items if words in i.text.lower()), None)


def intent_lines(op: Operation, may: Callable[[str | TLP], bool]) -> list[str]:
    """The operation's aim and objectives (`op intent "…"`), at the operation's label."""
    if not op.intent:
        return ["  " + _('Not set: a lead states it with `op intent "…"`.')]
    if not may(op.tlp):
        return ["  " + _("Set, above this channel's label.")]
    return [f"  {op.intent}"]


def risk_lines(
    raids: Sequence[tuple[Raid, list[RaidItem]]], tactical: Callable[[Raid], bool]
) -> list[str]:
    """Each raid's risk assessment (score as ticked) and its open risk items."""
    out: list[str] = []
    for raid, items in raids:
        ref = raid_ref(raid)
        scored = _item(items, RISK_ITEM)
        if scored is not None and scored.done_at is not None:
            if scored.note and tactical(raid):
                out.append(_("{ref} risk assessment: {score}").format(ref=ref, score=scored.note))
            else:
                out.append(_("{ref} risk assessment: scored").format(ref=ref))
        elif scored is not None:
            out.append(_("{ref} risk assessment: not yet scored").format(ref=ref))
        risky = [
            i
            for i in open_mandatory(items)
            if any(w in i.text.lower() for w in RISK_WORDS) and i is not scored
        ]
        if risky:
            out.append(
                ngettext(
                    "{ref}: {n} open risk item ({items})",
                    "{ref}: {n} open risk items ({items})",
                    len(risky),
                ).format(ref=ref, n=len(risky), items=", ".join(str(i.position) for i in risky))
            )
    return out


def radio_lines(
    raids: Sequence[tuple[Raid, list[RaidItem]]], tactical: Callable[[Raid], bool]
) -> list[str]:
    """Each raid's radio channel and call signs, as the site commander recorded them."""
    out: list[str] = []
    for raid, items in raids:
        ref = raid_ref(raid)
        radio = _item(items, RADIO_ITEM)
        if radio is None:
            continue
        if radio.done_at is None:
            out.append(_("{ref} radio channel and call signs: not set yet").format(ref=ref))
        elif radio.note and tactical(raid):
            out.append(_("{ref} radio: {radio}").format(ref=ref, radio=radio.note))
        else:
            out.append(_("{ref} radio channel and call signs: set").format(ref=ref))
    return out


def members_line(members: int, agencies: int, listed: str) -> str:
    """`Members: 4 (1 agency) — ES-PN (4)`."""
    where = ngettext("{n} agency", "{n} agencies", agencies).format(n=agencies)
    return _("Members: {n} ({where}) — {listed}").format(n=members, where=where, listed=listed)

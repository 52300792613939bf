"""Rendering of field-intelligence items into neutral messages.

Every rendered item carries its reference and TLP label: in list lines, and in the
message context (`OP-NIGHTJAR/SG-15 · TLP:AMBER · grade B2`). Text stays plain here; each
platform's renderer escapes it once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from bot.base.i18n import CHANNEL_LANGUAGE, N_, _, ngettext, use_language
from bot.base.localtime import format_date, format_time
from bot.base.messages import Button, Message
from bot.commands.intel import COLOURS, Page, hidden_line, notice_state, notice_tlp, sighting_tlp
from bot.core.access import TLP
from bot.core.disclosure import is_protected_place
from bot.core.protection import disclosure_label, protection_words
from bot.core.vocabulary import kind_text
from bot.store.models import Notice, Operation, Sighting, Subject

RELIABILITY = {
    "A": N_("completely reliable"),
    "B": N_("usually reliable"),
    "C": N_("fairly reliable"),
    "D": N_("not usually reliable"),
    "E": N_("unreliable"),
    "F": N_("reliability cannot be judged"),
}
CREDIBILITY = {
    "1": N_("confirmed by other sources"),
    "2": N_("probably true"),
    "3": N_("possibly true"),
    "4": N_("doubtful"),
    "5": N_("improbable"),
    "6": N_("truth cannot be judged"),
}
SEXES = {"m": N_("male"), "f": N_("female"), "x": N_("unknown or other")}
# Notice colours as a notice's name is written in each language, and its states.
NOTICE_TITLES = {
    "red": N_("Red notice {ref}"),
    "yellow": N_("Yellow notice {ref}"),
    "blue": N_("Blue notice {ref}"),
    "green": N_("Green notice {ref}"),
    "orange": N_("Orange notice {ref}"),
    "black": N_("Black notice {ref}"),
    "purple": N_("Purple notice {ref}"),
    "silver": N_("Silver notice {ref}"),
    "un": N_("INTERPOL–UN Security Council Special notice {ref}"),
}
COLOUR_NAMES = {
    "red": N_("Red"),
    "yellow": N_("Yellow"),
    "blue": N_("Blue"),
    "green": N_("Green"),
    "orange": N_("Orange"),
    "black": N_("Black"),
    "purple": N_("Purple"),
    "silver": N_("Silver"),
    "un": N_("INTERPOL–UN Security Council Special"),
}
NOTICE_STATES = {"active": N_("active"), "cancelled": N_("cancelled"), "expired": N_("expired")}

_P = ParamSpec("_P")
_R = TypeVar("_R")


def in_channel_language(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Build the message in the channels' language when called with `for_channel=True`
    (a post is read by everyone in the channel; README "Languages")."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if kwargs.get("for_channel"):
            with use_language(CHANNEL_LANGUAGE):
                return fn(*args, **kwargs)
        return fn(*args, **kwargs)

    return wrapper


def context_line(op: Operation, ref: str, tlp: str | TLP, *extra: str) -> str:
    """`OP-NIGHTJAR/SG-15 · TLP:AMBER · grade B2`."""
    return " · ".join([f"{op.code}/{ref}", TLP(tlp).label, *extra])


def grade_text(grade: str | None) -> str:
    """`B2 (source usually reliable; information probably true)`."""
    if not grade:
        return _("not graded")
    return _("{grade} (source {reliability}; information {credibility})").format(
        grade=grade,
        reliability=_(RELIABILITY[grade[0]]),
        credibility=_(CREDIBILITY[grade[1]]),
    )


def subject_ref(subject: Subject) -> str:
    """`S-3`."""
    return f"S-{subject.seq}"


def notice_ref(notice: Notice) -> str:
    """`N-2`."""
    return f"N-{notice.seq}"


def sighting_ref(sighting: Sighting) -> str:
    """`SG-15`."""
    return f"SG-{sighting.seq}"


def subject_name(subject: Subject) -> str:
    """`S-3 Ivan Petrov`."""
    return f"{subject_ref(subject)} {subject.name}"


def notice_title(notice: Notice) -> str:
    """`Red notice N-2`, `Red diffusion N-3`."""
    if notice.kind == "diffusion":
        return _("{colour} diffusion {ref}").format(
            colour=_(COLOUR_NAMES[notice.colour]), ref=notice_ref(notice)
        )
    return _(NOTICE_TITLES[notice.colour]).format(ref=notice_ref(notice))


def sighting_what(sighting: Sighting, subject: Subject | None) -> str:
    """The subject it is of, or what was described."""
    return subject_name(subject) if subject is not None else f"“{sighting.description}”"


def _kind_text(subject: Subject, now: datetime) -> str:
    """`person, victim, CHILD, protected`: a child and a protected person are shown as such."""
    text = kind_text(subject.kind, subject.category)
    words = protection_words(subject, now)
    return f"{text}, {words}" if words else text


def paged_message(
    op: Operation,
    *,
    title: str,
    lines: list[str],
    page: Page[Any],
    hidden: int,
    more: str,
    labels: Sequence[TLP],
) -> Message:
    """One page of a list: hidden count, a `more:` line and button, the highest label shown.

    `more` is the command that lists the same again, without `--page`.
    """
    out = [*lines, *hidden_line(hidden)]
    buttons = []
    if page.has_more:
        command = f"{more} --page {page.number + 1}"
        out.append(_("more: `{command}`").format(command=command))
        buttons.append(Button(_("More"), command))
    page_note = _(" (page {number} of {pages})").format(number=page.number, pages=page.pages)
    return Message(
        title=title + (page_note if page.pages > 1 else ""),
        lines=out,
        context=op.code,
        buttons=buttons,
        tlp=max(labels, key=lambda t: t.rank).value if labels else None,
    )


# ----------------------------------------------------------------------- subjects


def subject_line(subject: Subject, now: datetime) -> str:
    """One list line: ref, name, kind and category, nationality, TLP, review due."""
    parts = [f"{subject_name(subject)} — {_kind_text(subject, now)}"]
    if subject.nationality:
        parts.append(subject.nationality)
    parts.append(TLP(subject.tlp).label)
    if subject.review_at <= now:
        parts.append(_("review due"))
    return " · ".join(parts)


def subject_fields(subject: Subject, tz: ZoneInfo, now: datetime) -> list[tuple[str, str]]:
    """The subject's own data as labelled fields."""
    fields = [(_("Kind"), _kind_text(subject, now))]
    if subject.protection_lifted_at is not None:
        fields.append((_("Protection lifted"), f"{subject.protection_reason or ''}".strip()))
    if subject.aliases:
        fields.append((_("Aliases"), ", ".join(subject.aliases)))
    if subject.nationality:
        fields.append((_("Nationality"), subject.nationality))
    if subject.dob:
        fields.append((_("Date of birth"), subject.dob))
    if subject.sex:
        fields.append((_("Sex"), _(SEXES[subject.sex]) if subject.sex in SEXES else subject.sex))
    if subject.description:
        fields.append((_("Description"), subject.description))
    due = format_time(subject.review_at, tz)
    fields.append(
        (_("Review"), _("{time} (due now)").format(time=due) if subject.review_at <= now else due)
    )
    return fields


def subject_message(
    op: Operation,
    subject: Subject,
    *,
    tz: ZoneInfo,
    now: datetime,
    notices: Sequence[Notice],
    sightings: Sequence[Sighting],
    hidden: int,
    added_by: str | None,
) -> Message:
    """`subject show`: the subject, its notices and its latest sightings."""
    fields = subject_fields(subject, tz, now)
    fields.append(
        (
            _("Added"),
            _("{time} by {name}").format(
                time=format_time(subject.created_at, tz), name=added_by or _("unknown")
            ),
        )
    )
    lines = [_("Notices:")] + (
        [f"  {notice_line(n, subject, now)}" for n in notices] or ["  " + _("no notices")]
    )
    lines += [_("Latest sightings:")] + (
        [f"  {sighting_line(s, subject, tz)}" for s in sightings] or ["  " + _("no sightings")]
    )
    if hidden:
        lines.append(
            ngettext("{n} hidden by your role.", "{n} hidden by your role.", hidden).format(
                n=hidden
            )
        )
    shown = [TLP(subject.tlp)]
    shown += [notice_tlp(n, subject) for n in notices]
    shown += [sighting_tlp(s, subject) for s in sightings]
    return Message(
        title=subject_name(subject),
        fields=fields,
        lines=lines,
        context=context_line(op, subject_ref(subject), subject.tlp),
        tlp=disclosure_label(max(shown, key=lambda t: t.rank), subject, now=now).value,
    )


# ------------------------------------------------------------------------ notices


def notice_about(subject: Subject | None) -> str:
    """`S-3 Ivan Petrov`, or what a notice without a subject is about."""
    return subject_name(subject) if subject is not None else _("modus operandi")


def notice_line(notice: Notice, subject: Subject | None, now: datetime) -> str:
    """One list line: ref and colour, subject, state, TLP."""
    state = notice_state(notice, now)
    shown = _(NOTICE_STATES.get(state, state))
    if state == "active":
        shown = _("active until {date}").format(date=format_date(notice.expires_at))
    colour = _(COLOUR_NAMES[notice.colour])
    if notice.kind == "diffusion":
        colour = _("{colour} diffusion").format(colour=colour)
    return (
        f"{notice_ref(notice)} {colour} — {notice_about(subject)} · "
        f"{shown} · {notice_tlp(notice, subject).label}"
    )


@in_channel_language
def notice_message(
    op: Operation,
    notice: Notice,
    subject: Subject | None,
    *,
    tz: ZoneInfo,
    now: datetime,
    recorded_by: str | None,
    matches: Sequence[Sighting] | None = None,
    for_channel: bool = False,
) -> Message:
    """A notice as posted to the channels (`for_channel`) or shown by `notice show`."""
    colour = COLOURS[notice.colour]
    fields = (
        [(_("Subject"), f"{subject_name(subject)} ({_kind_text(subject, now)})")]
        if subject is not None
        else []
    )
    fields.append((_("Purpose"), _(colour.purpose)))
    if notice.charges:
        fields.append((_("Charges"), notice.charges))
    if notice.summary:
        fields.append((_("Summary"), notice.summary))
    if notice.external_ref:
        fields.append(
            (
                _("Diffusion reference") if notice.kind == "diffusion" else _("INTERPOL reference"),
                notice.external_ref,
            )
        )
    if notice.requested_by and notice.colour == "un":
        # Issued at the request of a Security Council sanctions committee, not a country.
        fields.append((_("UN Security Council sanctions committee"), notice.requested_by))
    elif notice.requested_by:
        fields.append((_("Requested by"), notice.requested_by))
    if notice.published_at:
        fields.append((_("Published by INTERPOL"), format_date(notice.published_at)))
    if notice.warrant_ref:
        fields.append(
            (
                _("Warrant"),
                _("{ref}, issued in {country}").format(
                    ref=notice.warrant_ref, country=notice.warrant_country or _("unknown country")
                ),
            )
        )
    if notice.countries:
        fields.append((_("Sent to"), notice.countries))
    fields.append(
        (
            _("Recorded"),
            _("{when} by {who}").format(
                when=format_time(notice.recorded_at, tz), who=recorded_by or _("unknown")
            ),
        )
    )
    state = notice_state(notice, now)
    if state == "cancelled" and notice.cancelled_at:
        status = _("cancelled {time}: {reason}").format(
            time=format_time(notice.cancelled_at, tz), reason=notice.cancel_reason
        )
    elif state == "active":
        status = _("active; expires {time}").format(time=format_time(notice.expires_at, tz))
    else:
        status = _("{state}; expired {time}").format(
            state=_(NOTICE_STATES.get(state, state)), time=format_time(notice.expires_at, tz)
        )
    fields.append((_("Status"), status))
    if notice.renewed_at:
        fields.append((_("Renewed"), format_time(notice.renewed_at, tz)))
    lines: list[str] = []
    if notice.kind == "diffusion":
        lines.append(
            _(
                "A diffusion is a country's direct request to chosen countries; INTERPOL has "
                "not reviewed it."
            )
        )
    if colour.matches and state == "active":
        lines.append(_("Any sighting of this subject is posted as a MATCH."))
    if matches is not None:
        lines.append(
            _("Matching sightings: {refs}").format(
                refs=", ".join(sighting_ref(s) for s in matches) if matches else _("no sightings")
            )
        )
    label = notice_tlp(notice, subject)
    about = [_("about {ref}").format(ref=subject_ref(subject))] if subject is not None else []
    return Message(
        title=f"{notice_title(notice)} — {notice_about(subject)}",
        fields=fields,
        lines=lines,
        context=context_line(op, notice_ref(notice), label, *about),
        buttons=[
            Button(
                _("Subject {ref}").format(ref=subject_ref(subject)),
                f"subject show {op.code}/{subject_ref(subject)}",
            )
        ]
        if for_channel and subject is not None
        else [],
        tlp=disclosure_label(label, subject, now=now).value,
    )


# ---------------------------------------------------------------------- sightings


def sighting_line(sighting: Sighting, subject: Subject | None, tz: ZoneInfo) -> str:
    """One list line: ref, observed time, what, where, grade, TLP, match."""
    parts = [
        f"{sighting_ref(sighting)} {format_time(sighting.observed_at, tz)} — "
        + _("{what} at {place}").format(
            what=sighting_what(sighting, subject), place=sighting.location
        )
    ]
    if sighting.grade:
        parts.append(sighting.grade)
    parts.append(sighting_tlp(sighting, subject).label)
    if is_historic(sighting):
        parts.append(_("historic"))
    elif sighting.match_notice_id is not None:
        parts.append("MATCH")  # i18n: keep (the mark every platform shows)
    return " · ".join(parts)


# A sighting seen more than this before it was reported is posted as historic, never as a
# live MATCH (issue 28): the subject has long moved on.
HISTORIC_AFTER = timedelta(days=1)


def is_historic(sighting: Sighting) -> bool:
    """Whether it was seen more than a day before it was reported."""
    return sighting.reported_at - sighting.observed_at > HISTORIC_AFTER


@in_channel_language
def sighting_message(
    op: Operation,
    sighting: Sighting,
    subject: Subject | None,
    *,
    tz: ZoneInfo,
    reporter: str | None,
    notice: Notice | None = None,
    for_channel: bool = False,
) -> Message:
    """A sighting as posted to the channels (`for_channel`) or shown; a match stands out."""
    ref = sighting_ref(sighting)
    fields = [
        (_("Seen"), format_time(sighting.observed_at, tz)),
        (_("Where"), sighting.location),
    ]
    if sighting.lat is not None and sighting.lon is not None:
        fields.append(
            (
                _("Coordinates"),
                f"{sighting.lat:.5f}, {sighting.lon:.5f} "  # i18n: keep (a link)
                f"(https://www.openstreetmap.org/?mlat={sighting.lat:.5f}&mlon={sighting.lon:.5f})",
            )
        )
    if subject is not None and sighting.description:
        fields.append((_("What"), sighting.description))
    for label, value in (
        (_("Activity"), sighting.activity),
        (_("Direction"), sighting.direction),
        (_("How many"), sighting.count),
        (_("Vehicles / equipment"), sighting.equipment),
    ):
        if value:
            fields.append((label, value))
    fields.append((_("Grade"), grade_text(sighting.grade)))
    if sighting.reporter_grade:
        fields.append((_("Reporter's assessment"), grade_text(sighting.reporter_grade)))
    who = reporter or _("unknown")
    if sighting.observer:
        fields.append(
            (
                _("Observed by"),
                _("{observer} (second-hand, reported by {name})").format(
                    observer=sighting.observer, name=who
                ),
            )
        )
    else:
        fields.append((_("Observed by"), _("{name} (first-hand)").format(name=who)))
    fields.append((_("Reported"), format_time(sighting.reported_at, tz)))
    if sighting.note:
        fields.append((_("Note"), sighting.note))
    title = _("Sighting {ref} — {what}").format(ref=ref, what=sighting_what(sighting, subject))
    lines: list[str] = []
    buttons: list[Button] = []
    mark = None
    historic = is_historic(sighting)
    if historic:
        title = _("Historic sighting {ref} — {what}").format(
            ref=ref, what=sighting_what(sighting, subject)
        )
        lines.append(
            _(
                "Seen {time}, more than a day before it was reported: a historic sighting, "
                "not a live one."
            ).format(time=format_time(sighting.observed_at, tz))
        )
    if notice is not None and not historic:
        mark = "MATCH"
        # Adapters put the mark in front: "MATCH — Red notice N-2 — sighting SG-15 of …".
        title = _("{notice} — sighting {ref} of {what}").format(
            notice=notice_title(notice), ref=ref, what=sighting_what(sighting, subject)
        )
    if notice is not None:
        colour = COLOURS[notice.colour]
        line = _("{what} is under {notice}: {purpose}.").format(
            what=sighting_what(sighting, subject),
            notice=notice_title(notice),
            purpose=_(colour.purpose),
        )
        lines.append(line)
        if notice.charges:
            lines.append(_("Charges: {charges}").format(charges=notice.charges))
        if notice.external_ref:
            lines.append(_("Reference: {ref}").format(ref=notice.external_ref))
        lines.append(_("Confirm the notice's validity with your NCB before acting."))
        if for_channel:
            buttons.append(
                Button(
                    _("Notice {ref}").format(ref=notice_ref(notice)),
                    f"notice show {op.code}/{notice_ref(notice)}",
                )
            )
    if for_channel and subject is not None:
        buttons.append(
            Button(
                _("Subject {ref}").format(ref=subject_ref(subject)),
                f"subject show {op.code}/{subject_ref(subject)}",
            )
        )
    label = sighting_tlp(sighting, subject)
    extra = [_("grade {grade}").format(grade=sighting.grade)] if sighting.grade else []
    if not sighting.grade and sighting.reporter_grade:
        extra = [_("reporter's assessment {grade}").format(grade=sighting.reporter_grade)]
    return Message(
        title=title,
        fields=fields,
        lines=lines,
        context=context_line(op, ref, label, *extra),
        buttons=buttons,
        mark=mark,
        tlp=(
            TLP.RED  # a shelter, safe house or victim-care location (README)
            if is_protected_place(sighting.place_kind)
            else disclosure_label(label, subject, now=sighting.reported_at)
        ).value,
    )

"""`subject find` (alias `subject search`) and `links`: finding people and their connections.

- `subject find <text>` looks through the names and aliases of the operation's subjects:
  exact, word prefix, transliterated (Cyrillic, Greek, Arabic → Latin), by sound and by
  spelling (`bot.core.search`), and says why each one matched. Only subjects the actor may
  read are shown, and no count of the others: a hidden match would tell that a suspect by
  that name exists.
- `links [S-n]` suggests associations from co-sightings (`bot.core.links`): analytic inferences,
  never facts, each labelled with the highest TLP of the sightings behind it. Only sightings
  the actor may read count. `links confirm|dismiss` record a lead's decision; a dismissed
  pair is not suggested again, a confirmed one shows on `subject show`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, or_, select

from bot.base.i18n import N_, _, ngettext
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import CommandError, UsageError
from bot.commands.intel import (
    audit_consult,
    find_subject,
    may_read_subject,
    member_names,
    paginate,
    parse_page,
    reader,
)
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.relations import relation_lines
from bot.commands.render import context_line, paged_message, subject_line, subject_ref
from bot.commands.sightings import parse_since
from bot.contracts import Reply
from bot.core import entities, search
from bot.core import links as co
from bot.core.access import TLP, Perm, tlp_max
from bot.core.disclosure import Level
from bot.core.protection import Reader, disclosure_label
from bot.store.audit import Action
from bot.store.models import Operation, Subject, SubjectLink

FIND_PAGE = 10
LINKS_PAGE = 10
MAX_CANDIDATES = 500  # best-ranked matches whose access is checked
SUPPORT_SHOWN = 4
DEFAULT_SINCE = "7d"
INFERENCE = N_("analytic inference, not a fact")


def regions(op: Operation) -> list[str]:
    """The operation's countries: the default regions of a phone number written without
    its country code."""
    return [c.strip() for c in op.countries.split(",") if c.strip()]


def _query(ctx: CommandContext) -> str:
    text = " ".join(ctx.args["text"]).strip()
    if not search.fold(text):
        raise UsageError(_("Give a name, alias or plate to look for (letters or digits)."))
    return text


FIND_USAGE = "subject find [OP] <name, alias, plate, phone, account…> [--page N]"
FIND_DETAILS = N_(
    "Looks through names and aliases: exact, partial (the start of a word), accents and\n"
    "case ignored, other scripts transliterated (Петров finds Petrov, محمد finds Mohamed),\n"
    "alike-sounding and close spellings (Petrow, Muhammad). Plates match with or without\n"
    "spaces and dashes. Each result says why it matched; best matches first."
)


async def _find(ctx: CommandContext) -> Reply:
    op = ctx.operation()
    query = _query(ctx)
    number = parse_page(ctx.args.get("page"))
    # A phone, account, handset, advert, address or plate in any written form: its
    # normalised key, looked up exactly (`bot.core.entities`), first; then the name words.
    keyed = await search.find_keys(
        ctx.session, op.id or 0, entities.query_keys(query, regions(op))
    )
    named = await search.find(ctx.session, op.id or 0, query)
    ids = {f.subject_id for f in keyed}
    found = (keyed + [f for f in named if f.subject_id not in ids])[:MAX_CANDIDATES]
    subjects = {
        s.id: s
        for s in (
            await ctx.session.exec(
                select(Subject).where(col(Subject.id).in_([f.subject_id for f in found]))
            )
        ).all()
    }
    who = await reader(ctx)
    readable = [
        (subjects[f.subject_id], f)
        for f in found
        if f.subject_id in subjects and may_read_subject(who, subjects[f.subject_id])
    ]
    page = paginate(readable, number, FIND_PAGE)
    audit_consult(ctx, [subject_ref(s) for s, _ in page.items], "find")
    labels = [disclosure_label(TLP(s.tlp), s, now=ctx.now) for s, _ in page.items]
    lines = [f"{subject_line(s, ctx.now)} — {f.reason(query)}" for s, f in page.items]
    message = paged_message(
        op,
        title=_("{code}: subjects matching “{query}”").format(code=op.code, query=query),
        lines=lines or [_("No subject you may read matches “{query}”.").format(query=query)],
        page=page,
        hidden=0,
        more=" ".join(["subject find", op.code, *ctx.args["text"]]),
        labels=labels,
    )
    return Reply(message)


for _name in ("subject find", "subject search"):
    command(
        _name,
        FIND_USAGE.replace("subject find", _name),
        N_("Find subjects by name, alias or plate, whatever the spelling or script."),
        args=(Arg("text", rest=True),),
        flags=(Flag("page", kind="int"),),
        op=OpMode.REQUIRED,
        perm=Perm.READ_INTEL,
        details=FIND_DETAILS,
    )(_find)


# --------------------------------------------------------------------------- links


@dataclass
class Shown:
    """A link as the actor may see it."""

    link: co.Link
    a: Subject
    b: Subject
    label: TLP
    confirmed: bool

    def closest(self) -> tuple[float, timedelta]:
        """The nearest supporting pair: metres and time apart."""
        return min(
            (
                co.distance_m(x.lat, x.lon, y.lat, y.lon),
                timedelta(seconds=abs(x.t - y.t)),
            )
            for x, y in self.link.support
        )


def strength(count: int) -> str:
    """`strong` (3 occasions or more), `moderate` (2), `weak` (1)."""
    return N_("strong") if count >= 3 else N_("moderate") if count == 2 else N_("weak")


async def _decisions(ctx: CommandContext) -> dict[tuple[int, int], SubjectLink]:
    op = ctx.operation()
    rows = (
        await ctx.session.exec(select(SubjectLink).where(SubjectLink.operation_id == op.id))
    ).all()
    return {(r.subject_a, r.subject_b): r for r in rows}


async def _visible(ctx: CommandContext, found: Sequence[co.Link]) -> list[Shown]:
    """The links the actor may see: only sightings the actor may read (which includes
    reading their subjects) as support, dismissed pairs left out; strongest first."""
    if not found:
        return []
    ids = {i for link in found for i in (link.a, link.b)}
    subjects = {
        s.id: s
        for s in (await ctx.session.exec(select(Subject).where(col(Subject.id).in_(ids)))).all()
    }
    who: Reader = await reader(ctx)
    decided = await _decisions(ctx)
    out: list[Shown] = []
    for link in found:
        a, b = subjects.get(link.a), subjects.get(link.b)
        decision = decided.get((link.a, link.b))
        if a is None or b is None or (decision is not None and decision.status == "dismissed"):
            continue
        # Only pairs the reader reads in full: "seen together" tells where, and a
        # protected place is not located to a neutral reader (`bot.core.disclosure`).
        support = [
            (x, y)
            for x, y in link.support
            if who.item("sighting", x.id, x.reporter_id, x.tlp, a, x.place_kind) is Level.FULL
            and who.item("sighting", y.id, y.reporter_id, y.tlp, b, y.place_kind) is Level.FULL
        ]
        if not support:
            continue
        support.sort(key=lambda pair: (pair[0].seq, pair[1].seq))
        kept = co.Link(link.a, link.b, support)
        label = tlp_max(
            a.tlp, b.tlp, *(x.tlp for x, _ in support), *(y.tlp for _, y in support)
        ) or TLP(a.tlp)
        label = disclosure_label(label, a, b, now=ctx.now)
        out.append(Shown(kept, a, b, label, decision is not None))
    out.sort(key=lambda s: (-s.link.count, s.closest(), s.link.a, s.link.b))
    return out


def _link_lines(shown: Shown, *, about: Subject | None) -> list[str]:
    count = shown.link.count
    metres, apart = shown.closest()
    if about is not None:
        other = shown.b if about.id == shown.a.id else shown.a
        head = f"{subject_ref(other)} {other.name}"
    else:
        head = f"{subject_ref(shown.a)} {shown.a.name} + {subject_ref(shown.b)} {shown.b.name}"
    what = _("confirmed by a lead") if shown.confirmed else _(INFERENCE)
    pairs = [f"SG-{x.seq}+SG-{y.seq}" for x, y in shown.link.support[:SUPPORT_SHOWN]]
    if len(shown.link.support) > SUPPORT_SHOWN:
        pairs.append(_("… {n} more").format(n=len(shown.link.support) - SUPPORT_SHOWN))
    together = ngettext(
        "seen together {n} time ({strength}), closest {metres} m, {minutes} min apart",
        "seen together {n} times ({strength}), closest {metres} m, {minutes} min apart",
        count,
    ).format(
        n=count,
        strength=_(strength(count)),
        metres=f"{metres:.0f}",
        minutes=int(apart.total_seconds() // 60),
    )
    return [
        f"{head} — {together} · {shown.label.label} · {what}",
        "  " + _("sightings: {refs}").format(refs=", ".join(pairs)),
    ]


def _windows(ctx: CommandContext) -> tuple[float, timedelta]:
    try:
        metres = (
            co.parse_distance(ctx.args["distance"])
            if ctx.args.get("distance")
            else co.DEFAULT_DISTANCE_M
        )
        window = (
            co.parse_window(ctx.args["window"]) if ctx.args.get("window") else co.DEFAULT_WINDOW
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return metres, window


def _refs(shown: Sequence[Shown]) -> list[str]:
    refs: dict[str, None] = {}
    for s in shown:
        refs.setdefault(subject_ref(s.a))
        refs.setdefault(subject_ref(s.b))
        for x, y in s.link.support:
            refs.setdefault(f"SG-{x.seq}")
            refs.setdefault(f"SG-{y.seq}")
    return list(refs)


@command(
    "links",
    "links [OP] [S-n] [--distance 200m] [--window 30m] [--since 7d] [--page N]",
    N_("Subjects seen together: co-sightings of one subject, or the strongest pairs."),
    args=(Arg("ref", required=False),),
    flags=(Flag("distance"), Flag("window"), Flag("since", kind="time"), Flag("page", kind="int")),
    op=OpMode.REQUIRED,
    perm=Perm.READ_INTEL,
    action=Action.COMBINE,
    details=N_(
        "Two subjects are linked when they are sighted within --distance (default 200m) and\n"
        "--window (default 30m) of each other. `links S-1`: everyone seen with S-1, around its\n"
        "newest 1,000 sightings with coordinates. `links`: the strongest pairs of the\n"
        "operation over --since (default 7d). Each link is an analytic inference, not a\n"
        "fact; it carries the highest TLP of the sightings behind it, and only sightings you\n"
        "may read count. A lead confirms or\n"
        'dismisses one with `links confirm S-1 S-4 --reason "…"` / `links dismiss …`.'
    ),
)
async def links_cmd(ctx: CommandContext) -> Reply:
    """Co-sighting links of one subject, or the operation's strongest pairs."""
    op = ctx.operation()
    number = parse_page(ctx.args.get("page"))
    metres, window = _windows(ctx)
    tz = await ctx.tz()
    about: Subject | None = None
    if ctx.args.get("ref"):
        if ctx.args.get("since"):
            raise UsageError(
                _("--since is for `links` alone; `links S-n` reads the whole history.")
            )
        about = await find_subject(ctx, ctx.args["ref"])
        found = await co.links_of(
            ctx.session, op.id or 0, about.id or 0, metres=metres, window=window
        )
        title = _("Seen with {subject}").format(subject=f"{subject_ref(about)} {about.name}")
        more = f"links {op.code} {subject_ref(about)}"
    else:
        since_raw = str(ctx.args.get("since") or DEFAULT_SINCE)
        since = parse_since(since_raw, ctx, tz)
        try:
            found = await co.strongest(ctx.session, op.id or 0, since, metres=metres, window=window)
        except co.PeriodTooLong as exc:
            raise CommandError(str(exc)) from None
        title = _("{code}: strongest links since {time}").format(
            code=op.code, time=format_time(since, tz)
        )
        more = f'links {op.code} --since "{since_raw}"'
    if ctx.args.get("distance"):
        more += f" --distance {ctx.args['distance']}"
    if ctx.args.get("window"):
        more += f" --window {ctx.args['window']}"
    shown = await _visible(ctx, found)
    page = paginate(shown, number, LINKS_PAGE)
    lines = [
        _(
            "Sighted within {metres} m and {minutes} min of each other; each link is an "
            "analytic inference, not a fact."
        ).format(metres=f"{metres:.0f}", minutes=int(window.total_seconds() // 60))
    ]
    for item in page.items:
        lines += _link_lines(item, about=about)
    if not page.items:
        lines.append(_("No co-sightings you may read."))
    labels = [s.label for s in page.items]
    if about is not None:
        labels.append(disclosure_label(TLP(about.tlp), about, now=ctx.now))
    # Typed links (`link S-1 S-4 --as …`): reported facts, kept apart from the inferences.
    typed, typed_labels, typed_refs = await relation_lines(
        ctx, about, limit=LINKS_PAGE if about is None else 50
    )
    lines += typed
    labels += typed_labels
    refs = _refs(page.items)
    audit_consult(
        ctx, refs + [r for r in typed_refs if r not in refs], "links", action=Action.COMBINE
    )
    message = paged_message(
        op, title=title, lines=lines, page=page, hidden=0, more=more, labels=labels
    )
    if page.items:
        first = page.items[0]
        message.lines.append(
            _("A lead can `{command}` or `links dismiss …`.").format(
                command=f'links confirm {subject_ref(first.a)} {subject_ref(first.b)} --reason "…"'
            )
        )
    return Reply(message)


async def _pair(ctx: CommandContext) -> tuple[Subject, Subject]:
    one = await find_subject(ctx, ctx.args["first"])
    two = await find_subject(ctx, ctx.args["second"])
    if one.id == two.id:
        raise UsageError(_("Give two different subjects."))
    return (one, two) if (one.id or 0) < (two.id or 0) else (two, one)


async def _decide(ctx: CommandContext, status: str) -> Reply:
    op = ctx.operation()
    a, b = await _pair(ctx)
    reason = str(ctx.args["reason"]).strip()
    if not reason:
        raise UsageError(_("--reason needs a few words: why."))
    found = await co.links_of(ctx.session, op.id or 0, a.id or 0)
    shown = [s for s in await _visible(ctx, found) if s.link.b == b.id]
    label = tlp_max(a.tlp, b.tlp, *(s.label for s in shown)) or TLP(a.tlp)
    row = (
        await ctx.session.exec(
            select(SubjectLink).where(
                SubjectLink.operation_id == op.id,
                SubjectLink.subject_a == a.id,
                SubjectLink.subject_b == b.id,
            )
        )
    ).first()
    if row is None:
        row = SubjectLink(
            operation_id=op.id or 0,
            subject_a=a.id or 0,
            subject_b=b.id or 0,
            status=status,
            reason=reason[:1000],
            tlp=label.value,
            decided_by=ctx.member().id,
            decided_at=ctx.now,
        )
    else:
        row.status, row.reason, row.tlp = status, reason[:1000], label.value
        row.decided_by, row.decided_at = ctx.member().id, ctx.now
    ctx.session.add(row)
    pair = f"{subject_ref(a)}+{subject_ref(b)}"
    ctx.audit(Action.ALTER, object_ref=f"{op.code}/{pair}", reason=f"{status}: {reason}"[:1000])
    shown_label = disclosure_label(label, a, b, now=ctx.now)
    said = (
        _("Confirmed: shown on `subject show` of both.")
        if status == "confirmed"
        else _("Dismissed: it will not be suggested again.")
    )
    pair_names = f"{subject_ref(a)} {a.name} + {subject_ref(b)} {b.name}"
    return Reply(
        Message(
            title=(
                _("Link {pair} confirmed") if status == "confirmed" else _("Link {pair} dismissed")
            ).format(pair=pair_names),
            lines=[said, _("Reason: {reason}").format(reason=reason)],
            context=context_line(op, pair, shown_label),
            tlp=shown_label.value,
        )
    )


_DECIDE_ARGS = (Arg("first"), Arg("second"))


@command(
    "links confirm",
    'links confirm <S-n> <S-n> --reason "…"',
    N_("Confirm an association of two subjects (lead)."),
    args=_DECIDE_ARGS,
    flags=(Flag("reason", required=True),),
    op=OpMode.REQUIRED,
    perm=Perm.DECIDE_LINK,
    writes=True,
    action=Action.ALTER,
)
async def links_confirm(ctx: CommandContext) -> Reply:
    """Record that two subjects are associated: it shows on `subject show`."""
    return await _decide(ctx, "confirmed")


@command(
    "links dismiss",
    'links dismiss <S-n> <S-n> --reason "…"',
    N_("Dismiss a suggested association: it is not suggested again (lead)."),
    args=_DECIDE_ARGS,
    flags=(Flag("reason", required=True),),
    op=OpMode.REQUIRED,
    perm=Perm.DECIDE_LINK,
    writes=True,
    action=Action.ALTER,
)
async def links_dismiss(ctx: CommandContext) -> Reply:
    """Record that a suggested association is wrong."""
    return await _decide(ctx, "dismissed")


async def confirmed_lines(
    ctx: CommandContext, subject: Subject, who: Reader
) -> tuple[list[str], list[TLP], list[str]]:
    """`subject show`: the subject's confirmed associations the actor may read (lines,
    labels, references)."""
    rows = (
        await ctx.session.exec(
            select(SubjectLink).where(
                SubjectLink.status == "confirmed",
                or_(SubjectLink.subject_a == subject.id, SubjectLink.subject_b == subject.id),
            )
        )
    ).all()
    if not rows:
        return [], [], []
    others = {
        s.id: s
        for s in (
            await ctx.session.exec(
                select(Subject).where(
                    col(Subject.id).in_(
                        [r.subject_b if r.subject_a == subject.id else r.subject_a for r in rows]
                    )
                )
            )
        ).all()
    }
    names = await member_names(ctx, [r.decided_by for r in rows])
    lines, labels, refs = [], [], []
    for r in rows:
        other = others.get(r.subject_b if r.subject_a == subject.id else r.subject_a)
        if other is None or not who.may_item("link", r.id, r.decided_by, r.tlp, other):
            continue
        lines.append(
            f"  {subject_ref(other)} {other.name} — "
            + _("confirmed by {name}: {reason}").format(
                name=names.get(r.decided_by or 0) or _("a lead"), reason=r.reason
            )
            + f" · {TLP(r.tlp).label}"
        )
        labels.append(disclosure_label(TLP(r.tlp), other, now=ctx.now))
        refs.append(subject_ref(other))
    return lines, labels, refs

"""`subject add|list|show`: people, vehicles, vessels, organisations, places, assets (`S-n`).

Persons are kept apart by category (suspect, victim, witness, associate), as the Law
Enforcement Directive asks; every subject carries a TLP and a review date 12 months on.
"""

from __future__ import annotations

from sqlmodel import col, select

from bot.base.clock import add_months
from bot.base.i18n import N_, _
from bot.base.messages import Button, Message
from bot.commands.context import CommandContext
from bot.commands.deconflict import deconflict
from bot.commands.errors import UsageError
from bot.commands.finder import confirmed_lines, regions
from bot.commands.intel import (
    PERSON_CATEGORIES,
    REVIEW_MONTHS,
    SUBJECT_KINDS,
    audit_consult,
    find_subject,
    load_sightings,
    may_read_notice,
    may_read_subject,
    member_names,
    paginate,
    parse_page,
    parse_place_kind,
    readable_sightings,
    reader,
)
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.relations import relation_lines
from bot.commands.render import (
    context_line,
    notice_ref,
    paged_message,
    sighting_ref,
    subject_fields,
    subject_line,
    subject_message,
    subject_name,
    subject_ref,
)
from bot.commands.values import parse_country, parse_dob, parse_tlp
from bot.contracts import Reply
from bot.core import entities, search
from bot.core.access import TLP, Perm
from bot.core.entities import DOC_TYPES, ENTITY_KINDS, strong_keys
from bot.core.protection import disclosure_label
from bot.core.search import subject_keys
from bot.store.audit import Action
from bot.store.models import Notice, Sighting, Subject

PAGE_SIZE = 20
LATEST_SIGHTINGS = 5
MAX_ALIASES = 20
SEX_WORDS = {"m": "m", "male": "m", "f": "f", "female": "f", "x": "x", "unknown": "x", "other": "x"}


def parse_kind(raw: str) -> str:
    """A subject kind."""
    kind = raw.strip().lower()
    if kind == "organization":
        kind = "organisation"
    if kind not in SUBJECT_KINDS:
        raise UsageError(
            _("'{raw}' is not a subject kind; use one of {kinds}.").format(
                raw=raw, kinds=", ".join(SUBJECT_KINDS)
            )
        )
    return kind


def parse_category(kind: str, raw: str | None) -> str | None:
    """A person's category (required for persons, refused for anything else)."""
    if kind != "person":
        if raw:
            raise UsageError(
                _("--category is for persons only; a {kind} has none.").format(kind=kind)
            )
        return None
    if not raw:
        raise UsageError(
            _(
                "A person must be recorded as a suspect, victim, witness or associate "
                "(the categories are kept apart): add --category."
            )
        )
    category = raw.strip().lower()
    if category not in PERSON_CATEGORIES:
        raise UsageError(
            _("'{raw}' is not a category; use one of {categories}.").format(
                raw=raw, categories=", ".join(PERSON_CATEGORIES)
            )
        )
    return category


def parse_sex(raw: str) -> str:
    """`m`, `f` or `x` (unknown or other)."""
    value = SEX_WORDS.get(raw.strip().lower())
    if value is None:
        raise UsageError(
            _("'{raw}' is not a sex; use m, f or x (unknown or other).").format(raw=raw)
        )
    return value


def parse_aliases(raw: list[str]) -> list[str]:
    """The `--alias` values, stripped, without repeats, each checked (at most MAX_ALIASES)."""
    out = list(dict.fromkeys(a.strip() for a in raw if a.strip()))
    if len(out) > MAX_ALIASES:
        raise UsageError(_("Give at most {n} aliases.").format(n=MAX_ALIASES))
    for alias in out:
        if len(alias) > 200:
            raise UsageError(_("An alias is too long; the limit is 200 characters."))
    return out


def _person_only(kind: str, flag: str, value: object) -> None:
    if value and kind != "person":
        raise UsageError(
            _("--{flag} is for persons only; this subject is a {kind}.").format(
                flag=flag, kind=kind
            )
        )


def _entity(ctx: CommandContext, kind: str, name: str) -> tuple[str, str | None, list[str]]:
    """The name, nationality (a document's issuing country) and aliases of a new subject:
    an entity's value read and normalised (`bot.core.entities`), or one sentence."""
    op = ctx.operation()
    aliases = parse_aliases(ctx.args.get("alias", []))
    raw_country = ctx.args.get("country") or ctx.args.get("nationality")
    nationality = parse_country(raw_country) if raw_country else None
    for flag, only in (("country", "document"), ("doc-type", "document"), ("bic", "account")):
        if ctx.args.get(flag) and kind != only:
            raise UsageError(
                _("--{flag} is for a {only}; this subject is a {kind}.").format(
                    flag=flag, only=only, kind=kind
                )
            )
    if kind not in ENTITY_KINDS:
        return name, nationality, aliases
    doc_type = str(ctx.args.get("doc-type") or "passport").strip().lower()
    if doc_type not in DOC_TYPES:
        raise UsageError(
            _("'{value}' is not a document type; use one of {types}.").format(
                value=ctx.args.get("doc-type"), types=", ".join(DOC_TYPES)
            )
        )
    try:
        normal = entities.read(
            kind, name, regions=regions(op), country=nationality, doc_type=doc_type
        )
        if ctx.args.get("bic"):
            aliases = [*aliases, f"BIC {entities.bic(str(ctx.args['bic']))}"]
    except entities.EntityError as exc:
        raise UsageError(str(exc)) from None
    return normal.display, nationality, aliases


DUPLICATES_SHOWN = 5


async def _duplicates(
    ctx: CommandContext, subject: Subject, tokens: list[str]
) -> Reply | None:
    """The refusal of a subject whose name or an alias is alike one of an existing subject
    of the same kind that the actor may read, or that holds the same normalised key (a
    phone, an account, …) (`--new` records it anyway); None if none.

    The refusal names existing subjects, so it is a `consult` entry naming them."""
    op = ctx.operation()
    names = [subject.name, *subject.aliases]
    candidates: dict[int, None] = {}
    same_key = {f.subject_id for f in await search.find_keys(ctx.session, op.id or 0, tokens)}
    for sid in same_key:
        candidates.setdefault(sid)
    for given in names if subject.kind not in ENTITY_KINDS else []:
        for hit in await search.find(ctx.session, op.id or 0, given, prefix=False):
            candidates.setdefault(hit.subject_id)
    if not candidates:
        return None
    rows = (
        await ctx.session.exec(
            select(Subject)
            .where(col(Subject.id).in_(list(candidates)), Subject.kind == subject.kind)
            .order_by(col(Subject.seq))
        )
    ).all()
    who = await reader(ctx)
    twins = [
        (s, why)
        for s in rows
        if may_read_subject(who, s)
        and (
            why := (
                _("same {kind} as '{source}'").format(kind=s.kind, source=s.name)
                if s.id in same_key
                else None
            )
            or search.alike(names, s)
        )
        is not None
    ]
    if not twins:
        return None
    shown = twins[:DUPLICATES_SHOWN]
    names_shown = "; ".join(f"{subject_name(s)} ({why})" for s, why in shown)
    more = (
        _(" and {n} more").format(n=len(twins) - DUPLICATES_SHOWN)
        if len(twins) > DUPLICATES_SHOWN
        else ""
    )
    audit_consult(ctx, [subject_ref(s) for s, _why in shown], "subjects")
    ctx.audit_reason = "possible duplicate: nothing recorded"
    labels = [disclosure_label(TLP(s.tlp), s, now=ctx.now) for s, _why in shown]
    return Reply(
        Message(
            lines=[
                _(
                    "Possibly the same as {names}{more}. Nothing was recorded: check with "
                    "`subject show {ref}`, or repeat the command with --new if this is a "
                    "different subject."
                ).format(names=names_shown, more=more, ref=ctx.here(subject_ref(twins[0][0])))
            ],
            tlp=max(labels, key=lambda t: t.rank).value,
        ),
        ok=False,
    )


@command(
    "subject add",
    "subject add [OP] <person|vehicle|vessel|organisation|place|asset|phone|account|handset|"
    "document|advert|address> <name or value> "
    "[--category suspect|victim|witness|associate] [--alias A]... [--nationality XX] "
    '[--dob YYYY[-MM-DD]] [--sex m|f|x] [--desc "…"] [--tlp …] [--new] '
    "[--place-kind shelter|safe-house|victim-care] [--country XX] "
    "[--doc-type passport|id|residence|other] [--bic BIC]",
    N_("Add a subject: a person, vehicle, vessel, organisation, place or asset of interest."),
    args=(Arg("kind"), Arg("name", rest=True)),
    flags=(
        Flag("category"),
        Flag("alias", multi=True),
        Flag("nationality"),
        Flag("dob"),
        Flag("sex"),
        Flag("desc"),
        Flag("tlp"),
        Flag("new", kind="bool"),
        Flag("place-kind"),
        Flag("country"),
        Flag("doc-type"),
        Flag("bic"),
    ),
    op=OpMode.REQUIRED,
    perm=Perm.ADD_SUBJECT,
    writes=True,
    action=Action.COLLECT,
    details=N_(
        "A person needs --category: suspect, victim, witness or associate, kept apart.\n"
        "--nationality is an ISO 3166 code (ES, PT; for a vessel its flag state).\n"
        "--dob is a year (1985) or a full date (1985-04-02); --sex m, f or x.\n"
        "--tlp defaults to the operation's. The record is due for review 12 months on.\n"
        "A name or alias alike an existing subject's (spelling, transliteration) is refused "
        "with the likely twin; --new records it anyway."
    ),
)
async def subject_add(ctx: CommandContext) -> Reply:
    """Record a new subject of the operation."""
    op = ctx.operation()
    kind = parse_kind(ctx.args["kind"])
    name = " ".join(ctx.args["name"]).strip()
    if not name:
        raise UsageError(
            _("The subject needs a name (for an unknown person, say so: “unknown male”).")
        )
    if len(name) > 200:
        raise UsageError(_("The name is too long; the limit is 200 characters."))
    category = parse_category(kind, ctx.args.get("category"))
    for flag in ("dob", "sex"):
        _person_only(kind, flag, ctx.args.get(flag))
    name, nationality, aliases = _entity(ctx, kind, name)
    place_kind = parse_place_kind(ctx.args.get("place-kind"))
    if place_kind is not None and kind != "place":
        raise UsageError(
            _("--place-kind marks a place: add it with `subject add place <name> --place-kind …`.")
        )
    subject = Subject(
        operation_id=op.id or 0,
        seq=0,
        kind=kind,
        name=name,
        category=category,
        aliases=aliases,
        nationality=nationality,
        dob=parse_dob(ctx.args["dob"]) if ctx.args.get("dob") else None,
        sex=parse_sex(ctx.args["sex"]) if ctx.args.get("sex") else None,
        description=(ctx.args.get("desc") or "").strip() or None,
        tlp=(parse_tlp(ctx.args["tlp"]) if ctx.args.get("tlp") else TLP(op.tlp)).value,
        review_at=add_months(ctx.now, REVIEW_MONTHS),
        created_by=ctx.member().id,
        created_at=ctx.now,
        place_kind=place_kind,
    )
    strong = strong_keys(subject)
    tokens = [t for _part, t in strong]
    if not ctx.args.get("new"):
        refusal = await _duplicates(ctx, subject, tokens if kind in ENTITY_KINDS else [])
        if refusal is not None:
            return refusal
    subject.seq = await ctx.next_seq("subject_seq")
    ctx.session.add(subject)
    await ctx.session.flush()
    ctx.session.add_all(subject_keys(subject, strong))
    await deconflict(ctx, subject, tokens)
    ref = subject_ref(subject)
    ctx.audit(Action.COLLECT, object_ref=f"{op.code}/{ref}", reason=category or kind)
    tz = await ctx.tz()
    return Reply(
        Message(
            title=_("Added {name}").format(name=subject_name(subject)),
            fields=subject_fields(subject, tz, ctx.now),
            lines=[
                _(
                    "Next: `sighting {ref} at <location>`, "
                    "`notice record <colour> {ref} --ref … --requested-by …`."
                ).format(ref=ctx.here(ref))
            ],
            context=context_line(op, ref, subject.tlp),
            tlp=subject.tlp,
        )
    )


@command(
    "subject list",
    "subject list [OP] [--kind K] [--category C] [--page N]",
    N_("List the operation's subjects you may read."),
    flags=(Flag("kind"), Flag("category"), Flag("page", kind="int")),
    op=OpMode.REQUIRED,
    perm=Perm.READ_INTEL,
)
async def subject_list(ctx: CommandContext) -> Reply:
    """Subjects by reference, filtered by kind or category, paged."""
    op = ctx.operation()
    number = parse_page(ctx.args.get("page"))
    query = (
        select(Subject)
        .where(Subject.operation_id == op.id, col(Subject.erased_at).is_(None))
        .order_by(col(Subject.seq))
    )
    filters = []
    if ctx.args.get("kind"):
        kind = parse_kind(ctx.args["kind"])
        query = query.where(Subject.kind == kind)
        filters.append(f"--kind {kind}")
    if ctx.args.get("category"):
        category = parse_category("person", ctx.args["category"])
        query = query.where(Subject.category == category)
        filters.append(f"--category {category}")
    rows = (await ctx.session.exec(query)).all()
    role = await reader(ctx)
    readable = [s for s in rows if may_read_subject(role, s)]
    page = paginate(readable, number, PAGE_SIZE)
    audit_consult(ctx, [subject_ref(s) for s in page.items], "subjects")
    return Reply(
        paged_message(
            op,
            title=_("{op} subjects").format(op=op.code),
            lines=[subject_line(s, ctx.now) for s in page.items] or [_("No subjects.")],
            page=page,
            hidden=len(rows) - len(readable),
            more=" ".join(["subject list", op.code, *filters]),
            labels=[TLP(s.tlp) for s in page.items],
        )
    )


@command(
    "subject show",
    "subject show <S-n>",
    N_("Show a subject with its notices and latest sightings."),
    args=(Arg("ref", ref=True),),
    op=OpMode.REQUIRED,
    perm=Perm.READ_INTEL,
)
async def subject_show(ctx: CommandContext) -> Reply:
    """One subject in full, with what the actor may read of its notices and sightings."""
    op = ctx.operation()
    subject = await find_subject(ctx, ctx.args["ref"])
    role = await reader(ctx)
    notices = (
        await ctx.session.exec(
            select(Notice).where(Notice.subject_id == subject.id).order_by(col(Notice.seq).desc())
        )
    ).all()
    readable_ids, hidden_s = await readable_sightings(ctx, Sighting.subject_id == subject.id)
    shown_n = [n for n in notices if may_read_notice(role, n, subject)]
    shown_s = [sg for sg, _s in await load_sightings(ctx, readable_ids[:LATEST_SIGHTINGS])]
    hidden = len(notices) - len(shown_n) + hidden_s
    names = await member_names(ctx, [subject.created_by])
    linked, link_labels, link_refs = await confirmed_lines(ctx, subject, role)
    typed, typed_labels, typed_refs = await relation_lines(ctx, subject)
    link_labels += typed_labels
    link_refs += [r for r in typed_refs if r != subject_ref(subject)]
    audit_consult(
        ctx,
        [subject_ref(subject)]
        + [notice_ref(n) for n in shown_n]
        + [sighting_ref(s) for s in shown_s]
        + link_refs,
        subject_ref(subject),
    )
    message = subject_message(
        op,
        subject,
        tz=await ctx.tz(),
        now=ctx.now,
        notices=shown_n,
        sightings=shown_s,
        hidden=hidden,
        added_by=names.get(subject.created_by or 0),
    )
    if linked:
        message.lines += [_("Confirmed associations:"), *linked]
    message.lines += typed
    if link_labels:
        message.tlp = max([TLP(message.tlp or subject.tlp), *link_labels], key=lambda t: t.rank)
    if len(readable_ids) > LATEST_SIGHTINGS:
        more = f"sightings {op.code} --subject {subject_ref(subject)}"
        message.lines.append(_("more: `{command}`").format(command=more))
        message.buttons.append(Button(_("All sightings"), more))
    return Reply(message)

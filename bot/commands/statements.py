"""Statements in the language they were made in, with translations attached (issue 28):
`statement add`, `statement translate`, `statement show`.

A statement (`ST-n`) keeps the words as made, in their language (ISO 639 code, `fr`); a
translation is attached beside it, never in its place, naming its translator. Statements
are read by leads, members and analysts only and never posted (disclosure rule, clause 9).
"""

from __future__ import annotations

import re

from babel import Locale, localedata
from sqlmodel import func, select

from bot.base.i18n import N_, _
from bot.base.localtime import format_time
from bot.base.messages import Message
from bot.commands.context import CommandContext
from bot.commands.errors import NotFound, UsageError
from bot.commands.exhibits import past_time
from bot.commands.intel import audit_consult, find_subject, member_names, reader, with_floor
from bot.commands.refs import looks_like_ref
from bot.commands.registry import Arg, Flag, OpMode, command
from bot.commands.values import parse_tlp
from bot.contracts import Reply
from bot.core.access import TLP, Perm
from bot.core.evidence_reads import StatementView, readable_statements
from bot.store.audit import Action
from bot.store.models import Operation
from bot.store.models_casefile import Statement, StatementTranslation

_STATEMENT = re.compile(r"^(?:(OP-[A-Z0-9][A-Z0-9-]*)/)?ST-([0-9]{1,9})$", re.IGNORECASE | re.ASCII)
MAX_TEXT = 20000
MAX_NAME = 200


def statement_ref(statement: Statement) -> str:
    """`ST-2`."""
    return f"ST-{statement.seq}"


def language_name(code: str) -> str:
    """`French (fr)`."""
    return f"{Locale.parse(code).english_name} ({code})"


def parse_language(raw: object) -> str:
    """An ISO 639 language code Babel knows (`fr`, `ro`, `ti`); one sentence otherwise."""
    code = str(raw or "").strip().lower().replace("_", "-")
    if not re.fullmatch(r"[a-z]{2,3}", code) or not localedata.exists(code):
        raise UsageError(
            _("'{value}' is not a language code like fr, ro or ti (ISO 639).").format(value=raw)
        )
    return code


def _words(ctx: CommandContext, words: list[str]) -> str:
    text = " ".join(words).strip()
    if not text:
        raise UsageError(_("Give the words of the statement, as made or as translated."))
    if len(text) > MAX_TEXT:
        raise UsageError(_("The text is too long; the limit is {n} characters.").format(n=MAX_TEXT))
    return text


async def find_statement(ctx: CommandContext, raw: str) -> StatementView:
    """A statement of the operation the actor may read; otherwise one NotFound."""
    m = _STATEMENT.match(raw.strip())
    if not m:
        raise UsageError(_("'{value}' is not a statement reference like ST-2.").format(value=raw))
    op = ctx.operation()
    if m.group(1) and m.group(1).upper() != op.code:
        raise UsageError(
            _("{ref} belongs to {owner}, not {code}; use one command per operation.").format(
                ref=raw, owner=m.group(1).upper(), code=op.code
            )
        )
    seq = int(m.group(2))
    views, hidden = await readable_statements(ctx.session, op, await reader(ctx), seq=seq)
    if not views:
        raise NotFound(
            _("There is no statement {ref} in {code}.").format(ref=f"ST-{seq}", code=op.code),
            denied=hidden > 0,
            operation_id=op.id,
        )
    return views[0]


@command(
    "statement add",
    'statement add <S-n|"maker"> --lang fr [--at TIME] [--tlp …] "<the statement as made>"',
    N_("Record a statement in the language it was made in."),
    args=(Arg("maker", ref=True), Arg("text", rest=True)),
    flags=(Flag("lang", required=True), Flag("at", kind="time"), Flag("tlp")),
    op=OpMode.REQUIRED,
    perm=Perm.RECORD_EVIDENCE,
    writes=True,
    action=Action.COLLECT,
    details=N_(
        "The maker is a subject (S-2) or a name. --lang is the language it was made in (ISO "
        "639: fr, ro, ti); attach a translation with `statement translate`. The label is "
        "never below the maker's; statements are read by leads, members and analysts only."
    ),
)
async def statement_add(ctx: CommandContext) -> Reply:
    """Record the statement as made."""
    op = ctx.operation()
    language = parse_language(ctx.args["lang"])
    maker_raw = str(ctx.args["maker"]).strip()
    subject = await find_subject(ctx, maker_raw) if looks_like_ref(maker_raw) else None
    if subject is None and len(maker_raw) > MAX_NAME:
        raise UsageError(_("The maker's name is too long; the limit is 200 characters."))
    text = _words(ctx, list(ctx.args["text"]))
    tz = await ctx.tz()
    taken = past_time(ctx, ctx.args.get("at"), tz)
    requested = parse_tlp(ctx.args["tlp"]) if ctx.args.get("tlp") else None
    floor = [(f"S-{subject.seq}", subject.tlp)] if subject else []
    label, raised = with_floor(requested, TLP(op.tlp), floor)
    await ctx.session.exec(select(Operation.id).where(Operation.id == op.id).with_for_update())
    top = (
        await ctx.session.exec(
            select(func.max(Statement.seq)).where(Statement.operation_id == op.id)
        )
    ).one()
    statement = Statement(
        operation_id=op.id or 0,
        seq=int(top or 0) + 1,
        subject_id=subject.id if subject else None,
        maker=None if subject else maker_raw,
        language=language,
        text=text,
        taken_at=taken,
        tlp=label.value,
        taken_by=ctx.member().id,
        created_at=ctx.now,
    )
    ctx.session.add(statement)
    ref = statement_ref(statement)
    ctx.audit(Action.COLLECT, object_ref=f"{op.code}/{ref}", reason=f"language {language}")
    line = _("Recorded statement {ref} in {language}.").format(
        ref=ref, language=language_name(language)
    )
    return Reply(
        Message(
            lines=[line] + ([raised] if raised else []),
            context=f"{ref} · {label.label}",
            tlp=label.value,
        )
    )


@command(
    "statement translate",
    'statement translate <ST-n> --lang en --by "translator" "<the translation>"',
    N_("Attach a translation to a statement (the original stays as made)."),
    args=(Arg("ref"), Arg("text", rest=True)),
    flags=(Flag("lang", required=True), Flag("by", required=True)),
    op=OpMode.REQUIRED,
    perm=Perm.RECORD_EVIDENCE,
    writes=True,
    action=Action.ALTER,
    details=N_(
        "One translation per language; --by names the translator or interpreter (and their "
        "accreditation, if any)."
    ),
)
async def statement_translate(ctx: CommandContext) -> Reply:
    """Attach one translation beside the statement."""
    op = ctx.operation()
    view = await find_statement(ctx, ctx.args["ref"])
    statement = view.statement
    language = parse_language(ctx.args["lang"])
    ref = statement_ref(statement)
    if language == statement.language:
        raise UsageError(
            _("{ref} was made in {language}; a translation is into another language.").format(
                ref=ref, language=language_name(language)
            )
        )
    if any(t.language == language for t in view.translations):
        raise UsageError(
            _("{ref} already has a translation into {language}.").format(
                ref=ref, language=language_name(language)
            )
        )
    translator = " ".join(str(ctx.args["by"]).split())
    if not translator or len(translator) > MAX_NAME:
        raise UsageError(_("Name the translator with --by (at most 200 characters)."))
    text = _words(ctx, list(ctx.args["text"]))
    ctx.session.add(
        StatementTranslation(
            statement_id=statement.id or 0,
            language=language,
            text=text,
            translator=translator,
            added_by=ctx.member().id,
            added_at=ctx.now,
        )
    )
    ctx.audit(
        Action.ALTER,
        object_ref=f"{op.code}/{ref}",
        reason=f"translation into {language} by {translator}"[:1000],
    )
    return Reply(
        Message(
            lines=[
                _("Attached a translation of {ref} into {language}.").format(
                    ref=ref, language=language_name(language)
                )
            ],
            context=f"{ref} · {TLP(statement.tlp).label}",
            tlp=statement.tlp,
        )
    )


@command(
    "statement show",
    "statement show <ST-n>",
    N_("Show a statement as made, with its translations."),
    args=(Arg("ref"),),
    op=OpMode.REQUIRED,
    perm=Perm.READ_INTEL,
)
async def statement_show(ctx: CommandContext) -> Reply:
    """The statement as made, then each translation with its translator."""
    view = await find_statement(ctx, ctx.args["ref"])
    s = view.statement
    names = await member_names(ctx, [s.taken_by])
    tz = await ctx.tz()
    maker = f"{view.subject.name} (S-{view.subject.seq})" if view.subject else s.maker or "—"
    lines = [f"[{s.language}] {s.text}"]
    for t in view.translations:
        lines.append(
            _("Translation into {language} by {translator}:").format(
                language=language_name(t.language), translator=t.translator
            )
        )
        lines.append(f"[{t.language}] {t.text}")
    refs = [statement_ref(s)] + ([f"S-{view.subject.seq}"] if view.subject else [])
    audit_consult(ctx, refs, "statements")
    return Reply(
        Message(
            title=_("Statement {ref}").format(ref=statement_ref(s)),
            fields=[
                (_("Made by"), maker),
                (_("Language"), language_name(s.language)),
                (_("Taken"), f"{format_time(s.taken_at, tz)}, {names.get(s.taken_by or 0, '—')}"),
            ],
            lines=lines,
            context=f"{statement_ref(s)} · {TLP(s.tlp).label}",
            tlp=s.tlp,
        )
    )
